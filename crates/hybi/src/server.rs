use std::sync::Arc;
use std::time::Duration;

use hybi_proto::handshake::{HandshakeStatus, ServerConfig, ServerHandshake};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::http::{Accepted, HttpRequest};
use crate::websocket::Info;
use crate::{Error, WebSocket, WebSocketConfig};

/// A WebSocket server policy: which variants one port answers, limits, origin and host
/// checks, subprotocols. Cheap to clone; share one across connections.
#[derive(Clone, Debug)]
pub struct Server {
    config: Arc<ServerConfig>,
    ws: Arc<WebSocketConfig>,
    /// Connection slots (handshaking or open), when limited.
    slots: Option<(Arc<Semaphore>, usize)>,
}

/// What an over-the-limit connection is answered before it is closed.
pub(crate) const BUSY_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n\
Connection: close\r\nRetry-After: 5\r\n\r\nserver busy\n";

/// How long an over-the-limit connection is drained after its 503, so that closing it
/// with its request unread does not reset the connection before the answer is read.
pub(crate) const BUSY_LINGER: Duration = Duration::from_millis(500);

impl Server {
    /// A server with `config`, default transport settings, and `config.limits` applied to
    /// connections.
    pub fn new(config: ServerConfig) -> Self {
        let ws = WebSocketConfig {
            limits: config.limits.clone(),
            idle_timeout: Some(crate::config::SERVER_IDLE_TIMEOUT),
            ..WebSocketConfig::default()
        };
        Server::with_transport(config, ws)
    }

    /// A server with explicit transport settings (timeouts, keepalive, backpressure).
    pub fn with_transport(config: ServerConfig, ws: WebSocketConfig) -> Self {
        for v in &config.variants {
            if v.attacker_controls_wire_bytes() {
                tracing::warn!(
                    variant = %v,
                    "unmasked legacy handshake enabled: a page can choose the bytes this \
                     connection puts on the wire (cross-protocol attacks, Huang et al. 2011)"
                );
            } else if v.is_legacy() {
                tracing::warn!(
                    variant = %v,
                    "legacy handshake enabled: weaker against cross-protocol attacks"
                );
            }
        }
        Server {
            config: Arc::new(config),
            ws: Arc::new(ws),
            slots: None,
        }
    }

    /// Limits the connections this server (and its clones) holds at once, counting
    /// those still in their opening handshake. A connection over the limit is answered
    /// `503 Service Unavailable` and closed ([`Error::Busy`]).
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.slots = Some((Arc::new(Semaphore::new(max)), max));
        self
    }

    /// Connections currently held (handshaking or open), when limited.
    pub fn connections(&self) -> Option<usize> {
        self.slots
            .as_ref()
            .map(|(sem, max)| max - sem.available_permits())
    }

    /// The transport settings applied to accepted connections.
    pub fn transport(&self) -> &WebSocketConfig {
        &self.ws
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
        // The slot is held from the first byte of the handshake to the end of the
        // connection (a plain HTTP request releases it when handed back).
        let slot = match &self.slots {
            None => None,
            Some((sem, _)) => match sem.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    // Boxed: its drain buffer would size every connection's future.
                    Box::pin(refuse_busy(&mut io)).await;
                    return Err(Error::Busy);
                }
            },
        };
        // Boxed: the handshake's state (request, session, entropy) is most of this
        // future, and a task's future is copied by value when spawned and when it
        // completes (docs/benchmarks.md, "handshakes").
        let mut hs = Box::new(ServerHandshake::new(self.config.clone()));
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
            path: crate::websocket::path_cow(&session.path),
            subprotocol: session.subprotocol.as_deref().map(Into::into),
            extensions: session.extensions.as_ref().map(|e| e.header.clone()),
        };
        let conn = session.into_connection(self.ws.limits.clone());
        let mut ws = WebSocket::new(io, conn, &leftover, self.ws.clone(), info);
        ws.hold_slot(slot);
        Ok(Accepted::WebSocket(ws))
    }

    /// A connection slot for the reactor engine: `Ok(None)` when connections are not
    /// limited, `Err(())` at the limit (the caller answers 503).
    pub(crate) fn try_slot(&self) -> Result<Option<crate::websocket::Slot>, ()> {
        match &self.slots {
            None => Ok(None),
            Some((sem, _)) => match sem.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    Ok(Some(crate::websocket::Slot(sem.clone())))
                }
                Err(_) => Err(()),
            },
        }
    }

    /// The handshake policy, shared.
    pub(crate) fn config_arc(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The policy and transport settings, for the upgrade paths outside this module.
    #[allow(dead_code)]
    pub(crate) fn parts(&self) -> (&Arc<ServerConfig>, &Arc<WebSocketConfig>) {
        (&self.config, &self.ws)
    }
}

/// Answers 503 and closes, draining (briefly, and at most a little) what the client
/// sent so that the close does not reset the connection before the answer is read.
async fn refuse_busy<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) {
    let work = async {
        io.write_all(BUSY_ANSWER).await?;
        io.flush().await?;
        io.shutdown().await?;
        let mut sink = [0u8; 1024];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match io.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(BUSY_LINGER, work).await;
}
