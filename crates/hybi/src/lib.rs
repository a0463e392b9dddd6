//! # hybi: WebSocket for tokio, every HyBi-era handshake, RFC 6455 first
//!
//! ```no_run
//! # async fn demo() -> Result<(), hybi::Error> {
//! use futures_util::{SinkExt, StreamExt};
//! use hybi::{Message, Variant};
//!
//! // client
//! let mut ws = hybi::connect("ws://127.0.0.1:9001/", Variant::Rfc6455).await?;
//! ws.send(Message::Text("hello".into())).await?;
//! while let Some(msg) = ws.next().await {
//!     println!("{:?}", msg?);
//! }
//!
//! // server: one port, the variants the policy enables
//! let server = hybi::Server::new(hybi::ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9002").await?;
//! let (tcp, _) = listener.accept().await?;
//! let mut ws = server.accept(tcp).await?;
//! while let Some(Ok(msg)) = ws.next().await {
//!     if matches!(msg, Message::Text(_) | Message::Binary(_)) {
//!         ws.send(msg).await?;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The protocol itself lives in [`hybi_proto`] (sans-IO); this crate moves its bytes over
//! tokio streams. Design points:
//!
//! * **No buffer while idle.** Reads go into a per-thread scratch buffer; the connection
//!   keeps only an incomplete frame head or the message being assembled.
//! * **One write per burst.** Every frame queued before a flush leaves in one `write`.
//! * **Compression.** permessage-deflate (RFC 7692) when `ServerConfig::deflate` /
//!   `ClientOptions::deflate` is set: inflated sizes count against the message limit as
//!   they are produced, and compressor state is allocated on first use
//!   ([`hybi_proto::extensions::deflate`] has the memory figures).
//! * **Backpressure.** A connection that holds more than
//!   [`WebSocketConfig::max_write_buffer`] unsent bytes stops accepting messages and stops
//!   reading until the peer reads.
//! * **Deadlines.** Handshake timeout, idle timeout, keepalive pings with a pong
//!   deadline, and a close timeout after which a half-closed connection is dropped; they
//!   also run while a write waits on a peer that never reads.
//! * **Connection limit.** [`Server::with_max_connections`] answers 503 past the limit.
//!
//! `docs/security.md` lists every limit with its default and the threat it answers.
//!
//! Around the core: `wss://` and TLS servers ([`tls`], feature `tls`), proxies for
//! clients ([`proxy`]: HTTP CONNECT, SOCKS5), pages and WebSockets on one port
//! ([`Server::accept_or_http`]), and upgrades of requests served by hyper or axum
//! (`upgrade`, feature `hyper`; `axum::WebSocketUpgrade`, feature `axum`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod client;
mod config;
mod error;
pub mod http;
mod idle;
pub mod proxy;
pub mod reactor;
mod server;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "hyper")]
pub mod upgrade;
mod websocket;

pub use client::{connect, connect_with, handshake_client};
pub use config::WebSocketConfig;
pub use error::Error;
pub use http::{Accepted, HttpRequest};
pub use idle::drive_idle_timers;
pub use server::Server;
pub use stream::ClientStream;
pub use websocket::WebSocket;

pub use hybi_proto as proto;
pub use hybi_proto::close::{CloseCode, CloseFrame};
pub use hybi_proto::extensions::DeflateConfig;
pub use hybi_proto::handshake::{ClientOptions, OriginPolicy, ServerConfig, Session};
pub use hybi_proto::{Limits, Message, Variant};

/// Fresh OS randomness for a client handshake's seed.
pub(crate) fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the OS random number generator failed");
    seed
}
