//! Errors as types: what went wrong in an opening handshake, and what a peer did wrong
//! after it (each protocol error maps to the close code RFC 6455 §7.4.1 prescribes).

use std::fmt;

use crate::close::CloseCode;

/// Why an opening handshake failed. Every variant carries enough to tell an operator
/// what to fix; the server side also knows which HTTP status it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The request or response head is not valid HTTP/1.x.
    MalformedHead(String),
    /// The head grew past [`crate::Limits::max_head_size`] or had too many header fields.
    HeadTooLarge,
    /// A header the variant requires is missing.
    MissingHeader(&'static str),
    /// A header has a value the variant forbids.
    InvalidHeader {
        /// Header name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A header that must appear once appeared more than once.
    DuplicateHeader(&'static str),
    /// The request did not match any variant this server recognises.
    UnknownVariant(String),
    /// The request is a variant this server's policy does not enable.
    VariantDisabled(crate::Variant),
    /// The `Origin` (or `Sec-WebSocket-Origin`) is not allowed by the server's policy.
    OriginRejected(String),
    /// A policy hook refused the request.
    Refused(String),
    /// The server answered with a status other than the one the variant requires.
    UnexpectedStatus {
        /// Status code seen.
        code: u16,
        /// The status line, for the error message.
        line: String,
    },
    /// The server's proof of having understood the handshake is wrong (Accept header,
    /// Hixie-76's MD5 answer, an HMAC).
    BadProof(String),
    /// The server selected a subprotocol or extension the client did not offer.
    UnrequestedNegotiation(String),
    /// A Key1/Key2 value of Hixie-76 that the draft says to reject.
    BadKey(String),
    /// The peer closed the connection before the handshake finished.
    UnexpectedEof,
    /// Bytes followed the handshake where the variant allows none, or a handshake frame
    /// (HELLO) was malformed.
    Protocol(String),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::MalformedHead(why) => write!(f, "malformed HTTP head: {why}"),
            HandshakeError::HeadTooLarge => write!(f, "HTTP head too large"),
            HandshakeError::MissingHeader(h) => write!(f, "missing header {h}"),
            HandshakeError::InvalidHeader { name, reason } => {
                write!(f, "invalid header {name}: {reason}")
            }
            HandshakeError::DuplicateHeader(h) => write!(f, "header {h} appears more than once"),
            HandshakeError::UnknownVariant(why) => {
                write!(f, "not a WebSocket handshake this server knows: {why}")
            }
            HandshakeError::VariantDisabled(v) => write!(f, "handshake variant {v} is disabled"),
            HandshakeError::OriginRejected(o) => write!(f, "origin {o:?} is not allowed"),
            HandshakeError::Refused(why) => write!(f, "refused: {why}"),
            HandshakeError::UnexpectedStatus { code, line } => {
                write!(f, "unexpected status {code}: {line:?}")
            }
            HandshakeError::BadProof(why) => write!(f, "bad handshake proof: {why}"),
            HandshakeError::UnrequestedNegotiation(why) => {
                write!(f, "server selected something not offered: {why}")
            }
            HandshakeError::BadKey(why) => write!(f, "bad Sec-WebSocket-Key1/Key2: {why}"),
            HandshakeError::UnexpectedEof => write!(f, "connection closed during the handshake"),
            HandshakeError::Protocol(why) => write!(f, "handshake protocol error: {why}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// A violation of the framing or message rules by the peer (or a local limit hit).
/// The connection is failed with [`ProtocolError::close_code`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// A reserved bit was set that no extension negotiated (RFC 6455 §5.2).
    ReservedBits,
    /// An opcode the framing family does not define.
    UnknownOpcode(u8),
    /// A client frame arrived unmasked at a server, or a masked one at a client (§5.1).
    BadMasking,
    /// A control frame was fragmented or longer than 125 bytes (§5.5).
    BadControlFrame,
    /// A length used more bytes than needed, or a 64-bit length had its top bit set (§5.2).
    NonMinimalLength,
    /// Continuation frame without a message to continue, or a new data frame while a
    /// fragmented message is open (§5.4).
    BadFragmentation,
    /// A text message (or close reason) is not valid UTF-8 (§8.1).
    InvalidUtf8,
    /// A close frame with a 1-byte body or a code that must not be sent (§7.4).
    BadCloseFrame(String),
    /// A frame exceeded [`crate::Limits::max_frame_size`].
    FrameTooLarge,
    /// A message exceeded [`crate::Limits::max_message_size`] or had more fragments
    /// than [`crate::Limits::max_fragments`].
    MessageTooLarge,
    /// A compressed message could not be inflated (permessage-deflate).
    BadCompression(String),
    /// Anything else a framing family forbids.
    Other(String),
}

impl ProtocolError {
    /// The close code that reports this error to the peer (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge | ProtocolError::MessageTooLarge => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits => write!(f, "reserved bits set"),
            ProtocolError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            ProtocolError::BadMasking => write!(f, "frame masking violates the role's rule"),
            ProtocolError::BadControlFrame => {
                write!(f, "control frame fragmented or longer than 125 bytes")
            }
            ProtocolError::NonMinimalLength => write!(f, "payload length not minimally encoded"),
            ProtocolError::BadFragmentation => write!(f, "invalid fragmentation"),
            ProtocolError::InvalidUtf8 => write!(f, "invalid UTF-8 in text"),
            ProtocolError::BadCloseFrame(why) => write!(f, "invalid close frame: {why}"),
            ProtocolError::FrameTooLarge => write!(f, "frame too large"),
            ProtocolError::MessageTooLarge => write!(f, "message too large"),
            ProtocolError::BadCompression(why) => write!(f, "bad compressed data: {why}"),
            ProtocolError::Other(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for ProtocolError {}
