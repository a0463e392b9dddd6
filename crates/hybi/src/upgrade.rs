//! Upgrading a request that hyper (or a framework on hyper) already parsed: the request is
//! checked by the same [`ServerHandshake`] that [`Server::accept`] runs (method, version,
//! `Host`, `Upgrade`, `Connection`, key, origin and host policy, hook, subprotocol choice),
//! answered `101 Switching Protocols` through hyper's upgrade mechanism, and the
//! connection hyper hands over becomes a [`WebSocket`]. Feature `hyper` (the axum
//! extractor, feature `axum`, is [`crate::axum::WebSocketUpgrade`]).
//!
//! ```no_run
//! # async fn demo(mut req: http::Request<hyper::body::Incoming>, server: hybi::Server)
//! # -> http::Response<String> {
//! use futures_util::{SinkExt, StreamExt};
//! match hybi::upgrade::upgrade(&mut req, &server) {
//!     Ok((response, websocket)) => {
//!         tokio::spawn(async move {
//!             let Ok(mut ws) = websocket.await else { return };
//!             while let Some(Ok(msg)) = ws.next().await {
//!                 if matches!(msg, hybi::Message::Text(_) | hybi::Message::Binary(_)) {
//!                     let _ = ws.send(msg).await;
//!                 }
//!             }
//!         });
//!         response
//!     }
//!     Err(refused) => refused.response,
//! }
//! # }
//! ```
//!
//! Only the HTTP/1.1 variants that finish with the `101` answer (RFC 6455, HyBi-08,
//! HyBi-07) go this way, whatever else the server's policy enables; WebSockets over
//! HTTP/2 (RFC 8441) are refused.

// A refusal carries its whole HTTP answer; it is the cold path.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri, Version};
use hybi_proto::handshake::{HandshakeStatus, ServerHandshake};
use hybi_proto::{HandshakeError, Session, Variant};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;

use crate::websocket::Info;
use crate::{Error, Server, WebSocket};

/// The connection type of an upgraded WebSocket.
pub type UpgradedIo = TokioIo<Upgraded>;

/// A refused upgrade: why, and the answer to send (400, 403, 426, with a text body).
#[derive(Debug)]
pub struct Refused {
    /// What was wrong with the request.
    pub error: HandshakeError,
    /// The HTTP answer.
    pub response: Response<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.error, self.response.status())
    }
}

impl std::error::Error for Refused {}

/// The WebSocket of an accepted upgrade, once hyper has sent the `101` and handed over the
/// connection. Spawn it (awaiting it inside the request handler would wait for the
/// handler's own response to be sent).
pub struct PendingWebSocket(
    Pin<Box<dyn Future<Output = Result<WebSocket<UpgradedIo>, Error>> + Send + 'static>>,
);

impl Future for PendingWebSocket {
    type Output = Result<WebSocket<UpgradedIo>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for PendingWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingWebSocket")
    }
}

/// Whether the request asks for a WebSocket (`Upgrade: websocket`), to route it to
/// [`upgrade`] rather than to a page.
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get_all(http::header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
}

/// Checks `req` against `server`'s policy. On success, returns the `101` answer to send
/// and a future that resolves to the WebSocket once hyper has sent the answer and handed
/// over the connection (spawn it; the connection must be served with upgrades enabled,
/// as `hyper::server::conn::http1::Builder::serve_connection(..).with_upgrades()` does).
pub fn upgrade<B>(
    req: &mut http::Request<B>,
    server: &Server,
) -> Result<(Response<String>, PendingWebSocket), Refused> {
    let on_upgrade = req.extensions_mut().remove::<OnUpgrade>();
    let (method, uri, version) = (req.method().clone(), req.uri().clone(), req.version());
    upgrade_parts(&method, &uri, version, req.headers(), on_upgrade, server)
}

/// [`upgrade`] on the pieces of a request (for extractors that see only its parts).
pub(crate) fn upgrade_parts(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
    on_upgrade: Option<OnUpgrade>,
    server: &Server,
) -> Result<(Response<String>, PendingWebSocket), Refused> {
    let (response, session) = check(method, uri, version, headers, server)?;
    let Some(on_upgrade) = on_upgrade else {
        return Err(refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            HandshakeError::Refused(
                "this connection cannot be upgraded (hyper served it without upgrades)".into(),
            ),
        ));
    };
    let transport = server.parts().1.clone();
    let websocket = async move {
        let upgraded = on_upgrade
            .await
            .map_err(|e| Error::Io(std::io::Error::other(format!("HTTP upgrade failed: {e}"))))?;
        let info = Info {
            variant: session.variant,
            path: crate::websocket::path_cow(&session.path),
            subprotocol: session.subprotocol.as_deref().map(Into::into),
            extensions: session.extensions.as_ref().map(|e| e.header.clone()),
        };
        let conn = session.into_connection(transport.limits.clone());
        Ok(WebSocket::new(
            TokioIo::new(upgraded),
            conn,
            &[],
            transport,
            info,
        ))
    };
    Ok((response, PendingWebSocket(Box::pin(websocket))))
}

fn refused(status: StatusCode, error: HandshakeError) -> Refused {
    let mut response = Response::new(format!("{error}\n"));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Refused { error, response }
}

/// Runs the server handshake on the request head, rebuilt as bytes.
pub(crate) fn check(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
    server: &Server,
) -> Result<(Response<String>, Session), Refused> {
    let minor = match version {
        Version::HTTP_11 => 1,
        Version::HTTP_10 => 0,
        other => {
            return Err(refused(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                HandshakeError::MalformedHead(format!(
                    "{other:?}: WebSocket upgrades need HTTP/1.1"
                )),
            ))
        }
    };
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(format!("{method} {target} HTTP/1.{minor}\r\n").as_bytes());
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");

    // Only the variants whose handshake ends with the 101 answer fit hyper's upgrade.
    let (config, _) = server.parts();
    let mut config = (**config).clone();
    config
        .variants
        .retain(|v| matches!(v, Variant::Rfc6455 | Variant::Hybi08 | Variant::Hybi07));
    let mut hs = ServerHandshake::new(Arc::new(config));
    let status = hs.receive_data(&head);
    let answer = hs.take_output();
    match status {
        Ok(HandshakeStatus::Done) => {
            let response = to_response(&answer, &server.parts().0.limits)
                .map_err(|e| refused(StatusCode::INTERNAL_SERVER_ERROR, e))?;
            Ok((response, hs.into_session().0))
        }
        Ok(HandshakeStatus::InProgress) => Err(refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            HandshakeError::Protocol("the handshake wants more than the request head".into()),
        )),
        Err(error) => {
            let mut refusal = match to_response(&answer, &server.parts().0.limits) {
                Ok(response) => Refused { error, response },
                Err(_) => refused(StatusCode::BAD_REQUEST, error),
            };
            // hyper writes its own framing headers.
            refusal
                .response
                .headers_mut()
                .remove(http::header::CONTENT_LENGTH);
            refusal
                .response
                .headers_mut()
                .remove(http::header::CONNECTION);
            Err(refusal)
        }
    }
}

/// The handshake's answer bytes as an `http` response.
fn to_response(
    bytes: &[u8],
    limits: &hybi_proto::Limits,
) -> Result<Response<String>, HandshakeError> {
    let (head, used) = hybi_proto::http::parse_response(bytes, limits)?;
    let body = String::from_utf8_lossy(&bytes[used..]).into_owned();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(head.code)
        .map_err(|_| HandshakeError::MalformedHead(format!("status {}", head.code)))?;
    for (name, value) in head.headers.iter() {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| HandshakeError::MalformedHead(e.to_string()))?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|e| HandshakeError::MalformedHead(e.to_string()))?;
        response.headers_mut().append(name, value);
    }
    Ok(response)
}
