//! An axum app whose WebSocket route is served by hybi: `/ws` echoes every message, `/`
//! is a page saying so.
//!
//! ```text
//! cargo run -p hybi --features axum --example axum_echo -- 127.0.0.1:3000
//! hybi connect ws://127.0.0.1:3000/ws
//! ```
//!
//! The handler takes [`hybi::axum::WebSocketUpgrade`] the way axum's own WebSocket
//! extractor is used; the request is checked by hybi's handshake code under a
//! [`hybi::Server`] policy, here one that also offers the `echo` subprotocol.

use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::{SinkExt, StreamExt};
use hybi::axum::WebSocketUpgrade;
use hybi::upgrade::UpgradedIo;
use hybi::{Message, Server, ServerConfig, WebSocket};
use tokio::net::TcpListener;

/// The routes: `/` (a page) and `/ws` (the echo WebSocket).
pub fn app() -> Router {
    let policy = Server::new(ServerConfig {
        subprotocols: vec!["echo".into()],
        ..ServerConfig::default()
    });
    Router::new()
        .route("/", get(index))
        .route("/ws", get(websocket))
        .layer(Extension(policy))
}

async fn index() -> Html<&'static str> {
    Html("<!DOCTYPE html><title>axum + hybi</title><p>WebSocket echo at <code>/ws</code>.</p>")
}

async fn websocket(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(echo)
}

/// Sends every text and binary message back; pings are answered by hybi itself.
async fn echo(mut socket: WebSocket<UpgradedIo>) {
    while let Some(msg) = socket.next().await {
        match msg {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if socket.send(msg).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

/// Serves [`app`] on `listener` until the process ends.
pub async fn run(listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app()).await
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    run(listener).await
}
