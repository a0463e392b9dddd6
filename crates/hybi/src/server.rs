use std::sync::Arc;

use hybi_proto::handshake::{HandshakeStatus, ServerConfig, ServerHandshake};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::http::{Accepted, HttpRequest};
use crate::websocket::Info;
use crate::{Error, WebSocket, WebSocketConfig};

/// A WebSocket server policy: which variants one port answers, limits, origin and host
/// checks, subprotocols. Cheap to clone; share one across connections.
#[derive(Clone, Debug)]
pub struct Server {
    config: Arc<ServerConfig>,
    ws: WebSocketConfig,
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
            ws,
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
        io: S,
    ) -> Result<WebSocket<S>, Error> {
        match self.accept_inner(io, false).await? {
            Accepted::WebSocket(ws) => Ok(ws),
            Accepted::Http(_) => unreachable!("plain HTTP is only handed over when asked for"),
        }
    }

    /// Like [`Server::accept`], but an ordinary HTTP request (a browser fetching a page on
    /// the same port: `GET` or `HEAD` with no WebSocket field at all) is handed back
    /// unanswered for the caller to serve. Every malformed or refused handshake is still
    /// answered and returned as an error.
    pub async fn accept_or_http<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: S,
    ) -> Result<Accepted<S>, Error> {
        self.accept_inner(io, true).await
    }

    async fn accept_inner<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut io: S,
        http: bool,
    ) -> Result<Accepted<S>, Error> {
        let mut hs = ServerHandshake::new(self.config.clone());
        let work = async {
            let mut buf = vec![0u8; 4096];
            loop {
                let n = io.read(&mut buf).await?;
                if n == 0 {
                    return Err(Error::Handshake(hs.receive_eof()));
                }
                let status = hs.receive_data(&buf[..n]);
                if http && status.is_err() {
                    if let Some(request) = hs.take_plain_http_request() {
                        return Ok(Err(request));
                    }
                }
                // Write whatever is ready right away: Hixie-76's 101 head goes out before
                // key3 arrives (proxies hold key3 until they see it), error answers too.
                let out = hs.take_output();
                if !out.is_empty() {
                    io.write_all(&out).await?;
                    io.flush().await?;
                }
                match status {
                    Ok(HandshakeStatus::Done) => return Ok(Ok(hs.into_session())),
                    Ok(HandshakeStatus::InProgress) => {}
                    Err(e) => {
                        let _ = io.shutdown().await;
                        return Err(Error::Handshake(e));
                    }
                }
            }
        };
        let outcome = tokio::time::timeout(self.ws.handshake_timeout, work)
            .await
            .map_err(|_| Error::Timeout("opening handshake"))??;
        let (session, leftover) = match outcome {
            Ok(done) => done,
            Err(request) => return Ok(Accepted::Http(HttpRequest::new(request, io))),
        };
        let info = Info {
            variant: session.variant,
            path: session.path.clone(),
            subprotocol: session.subprotocol.clone(),
        };
        let conn = session.into_connection(self.ws.limits.clone());
        Ok(Accepted::WebSocket(WebSocket::new(
            io,
            conn,
            &leftover,
            self.ws.clone(),
            info,
        )))
    }

    /// The policy and transport settings, for the upgrade paths outside this module.
    #[allow(dead_code)]
    pub(crate) fn parts(&self) -> (&Arc<ServerConfig>, &WebSocketConfig) {
        (&self.config, &self.ws)
    }
}
