//! # hybi-proto: the sans-IO core of hybi
//!
//! A deterministic implementation of every WebSocket opening handshake the IETF HyBi
//! working group weighed in 2010–2011, and of every framing family they used. There is no
//! networking code, no async runtime and no clock in this crate: bytes go in, events and
//! bytes come out, in the shape of quinn-proto, rustls and Python websockets' `Protocol`.
//!
//! ```text
//!             +--------------------+  Session  +------------------+
//!  bytes ---> | ServerHandshake /  | --------> |    Connection    | ---> Event::Text / Binary /
//!  <--- bytes | ClientHandshake    | leftover  | (framing codec,  |      Ping / Pong / Close
//!             +--------------------+  bytes    |  message layer)  | <--- send_text / send_binary
//!                                              +------------------+
//! ```
//!
//! * [`Variant`] lists every proposal; [`Variant::detect`] tells them apart on one server
//!   port from the request head alone (Hixie-76's eight key bytes are read afterwards).
//! * [`handshake`] has one module per proposal, each implementing the same two small
//!   state-machine traits ([`handshake::ServerVariant`], [`handshake::ClientVariant`]).
//! * [`framing`] has one module per framing family behind the [`framing::Codec`] trait.
//! * [`Connection`] is the message layer shared by all of them: fragmentation, control
//!   frames, the closing handshake, streaming UTF-8 validation and limits.
//!
//! Randomness (client keys, masking keys) comes from a seed the caller passes in, so a
//! whole exchange can be replayed byte for byte in tests.
// Two audited exceptions, each `#[allow]`ed where it stands: `utf8` (a validated buffer
// turned into `&str`) and `mask::wide` (calling the AVX2 / AVX-512 builds of the safe
// masking loop once the CPU has reported the feature).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod close;
pub mod connection;
mod entropy;
pub mod error;
pub mod extensions;
pub mod framing;
pub mod handshake;
pub mod http;
pub mod limits;
pub mod mask;
pub mod utf8;
pub mod variant;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use close::{CloseCode, CloseFrame};
pub use connection::{Connection, ConnectionState, DataRef, Event, Message};
pub use error::{HandshakeError, ProtocolError};
pub use handshake::{
    ClientHandshake, ClientOptions, HandshakeStatus, ServerConfig, ServerHandshake, Session,
};
pub use limits::Limits;
pub use variant::Variant;

/// Which end of the connection this state machine plays.
///
/// One implementation serves both roles (as in quinn-proto); the few rules that differ
/// per role (who masks, who closes TCP first) look at this value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The end that sent the opening handshake request.
    Client,
    /// The end that answered it.
    Server,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// The GUID of RFC 6455 §1.3 (also used by HyBi-04..-17 and, as the HMAC message, by the
/// CONNECT proposals).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
