//! An axum extractor that upgrades the request to a hybi [`WebSocket`]. Feature `axum`.
//!
//! ```no_run
//! use axum::{routing::get, Router, response::Response};
//! use futures_util::{SinkExt, StreamExt};
//! use hybi::axum::WebSocketUpgrade;
//! use hybi::Message;
//!
//! async fn echo(ws: WebSocketUpgrade) -> Response {
//!     ws.on_upgrade(|mut socket| async move {
//!         while let Some(Ok(msg)) = socket.next().await {
//!             if matches!(msg, Message::Text(_) | Message::Binary(_)) {
//!                 if socket.send(msg).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!     })
//! }
//!
//! let app: Router = Router::new().route("/ws", get(echo));
//! ```
//!
//! The request is checked by hybi's own handshake code ([`crate::upgrade`]) under a
//! [`Server`] policy: the one given to [`WebSocketUpgrade::server`], else one put in the
//! request extensions (`.layer(axum::Extension(server))`), else the default policy
//! (RFC 6455, HyBi-08, HyBi-07; any origin). Refusals answer `400`, `403` or `426` with
//! the reason, as [`Server::accept`] does.

use std::future::Future;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, Method, Uri, Version};
use hyper::upgrade::OnUpgrade;

use crate::upgrade::{check, upgrade_parts, Refused, UpgradedIo};
use crate::{Server, ServerConfig, WebSocket};

/// Extractor for a WebSocket upgrade, backed by hybi. Finish it with
/// [`WebSocketUpgrade::on_upgrade`], whose return value is the handler's response.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    on_upgrade: Option<OnUpgrade>,
    server: Server,
}

/// Why the extractor refused a request (its response: 400, 403 or 426 with the reason).
#[derive(Debug)]
pub struct UpgradeRejection(pub Refused);

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        self.0.response.into_response()
    }
}

impl std::fmt::Display for UpgradeRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for UpgradeRejection {}

impl<St: Send + Sync> FromRequestParts<St> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let server = parts
            .extensions
            .get::<Server>()
            .cloned()
            .unwrap_or_else(|| Server::new(ServerConfig::default()));
        let upgrade = WebSocketUpgrade {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
            on_upgrade: None,
            server,
        };
        // Refuse bad requests here (the handler does not run), with the policy known now.
        check(
            &upgrade.method,
            &upgrade.uri,
            upgrade.version,
            &upgrade.headers,
            &upgrade.server,
        )
        .map_err(UpgradeRejection)?;
        Ok(WebSocketUpgrade {
            on_upgrade: parts.extensions.remove::<OnUpgrade>(),
            ..upgrade
        })
    }
}

impl WebSocketUpgrade {
    /// Uses this policy (variants among RFC 6455/HyBi-08/HyBi-07, origins, hosts,
    /// subprotocols, limits, transport settings) instead of the one found at extraction.
    pub fn server(mut self, server: Server) -> Self {
        self.server = server;
        self
    }

    /// The request's `Sec-WebSocket-Protocol` offers, in order.
    pub fn offered_protocols(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Answers `101 Switching Protocols` and, once hyper hands over the connection, runs
    /// `callback` with the WebSocket (on a task of its own). A request the policy refuses
    /// gets its error answer instead, and `callback` does not run.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket<UpgradedIo>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        match upgrade_parts(
            &self.method,
            &self.uri,
            self.version,
            &self.headers,
            self.on_upgrade,
            &self.server,
        ) {
            Ok((response, websocket)) => {
                tokio::spawn(async move {
                    match websocket.await {
                        Ok(ws) => callback(ws).await,
                        Err(e) => tracing::debug!("WebSocket upgrade failed: {e}"),
                    }
                });
                response.into_response()
            }
            Err(refused) => refused.response.into_response(),
        }
    }
}
