use std::fmt;

use hybi_proto::connection::SendError;
use hybi_proto::{HandshakeError, ProtocolError};

/// Everything that can go wrong on a hybi connection.
#[derive(Debug)]
pub enum Error {
    /// The transport failed.
    Io(std::io::Error),
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// The peer broke the framing rules; a close frame with the matching code was sent.
    Protocol(ProtocolError),
    /// A message could not be sent.
    Send(SendError),
    /// A deadline passed (handshake, keepalive pong, close).
    Timeout(&'static str),
    /// The server was at its connection limit: the client was answered 503.
    Busy,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Timeout(what) => write!(f, "timed out: {what}"),
            Error::Busy => write!(f, "connection limit reached: answered 503"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Timeout(_) | Error::Busy => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}
