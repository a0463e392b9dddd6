use std::sync::Arc;

use hybi_proto::handshake::{HandshakeStatus, ServerConfig, ServerHandshake};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::websocket::Info;
use crate::{Error, WebSocket, WebSocketConfig};

/// A WebSocket server policy: which variants one port answers, limits, origin and host
/// checks, subprotocols. Cheap to clone; share one across connections.
#[derive(Clone, Debug)]
pub struct Server {
    config: Arc<ServerConfig>,
    ws: Arc<WebSocketConfig>,
}

impl Server {
    /// A server with `config`, default transport settings, and `config.limits` applied to
    /// connections.
    pub fn new(config: ServerConfig) -> Self {
        let ws = WebSocketConfig {
            limits: config.limits.clone(),
            ..WebSocketConfig::default()
        };
        Server::with_transport(config, ws)
    }

    /// A server with explicit transport settings (timeouts, keepalive, backpressure).
    pub fn with_transport(config: ServerConfig, ws: WebSocketConfig) -> Self {
        for v in &config.variants {
            if v.is_legacy() {
                tracing::warn!(
                    variant = %v,
                    "legacy handshake enabled: weaker against cross-protocol attacks"
                );
            }
        }
        Server {
            config: Arc::new(config),
            ws: Arc::new(ws),
        }
    }

    /// The handshake policy.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Answers the opening handshake on `io` (whatever variant the policy enables) and
    /// returns the connection. A refused handshake gets its HTTP error answer before the
    /// error is returned.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut io: S,
    ) -> Result<WebSocket<S>, Error> {
        let mut hs = ServerHandshake::new(self.config.clone());
        let work = async {
            loop {
                let status = std::future::poll_fn(|cx| {
                    crate::websocket::poll_read_scratch(&mut io, cx, 4096, |data| {
                        if data.is_empty() {
                            Err(hs.receive_eof())
                        } else {
                            Ok(hs.receive_data(data))
                        }
                    })
                })
                .await?
                .map_err(Error::Handshake)?;
                // Write whatever is ready right away: Hixie-76's 101 head goes out before
                // key3 arrives (proxies hold key3 until they see it), error answers too.
                let out = hs.take_output();
                if !out.is_empty() {
                    io.write_all(&out).await?;
                    io.flush().await?;
                }
                match status {
                    Ok(HandshakeStatus::Done) => return Ok(hs.into_session()),
                    Ok(HandshakeStatus::InProgress) => {}
                    Err(e) => {
                        let _ = io.shutdown().await;
                        return Err(Error::Handshake(e));
                    }
                }
            }
        };
        let (session, leftover) = tokio::time::timeout(self.ws.handshake_timeout, work)
            .await
            .map_err(|_| Error::Timeout("opening handshake"))??;
        let info = Info {
            variant: session.variant,
            path: crate::websocket::path_cow(&session.path),
            subprotocol: session.subprotocol.as_deref().map(Into::into),
        };
        let conn = session.into_connection(self.ws.limits.clone());
        Ok(WebSocket::new(io, conn, &leftover, self.ws.clone(), info))
    }
}
