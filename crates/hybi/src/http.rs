//! Plain HTTP on a WebSocket port: what [`Server::accept_or_http`](crate::Server::accept_or_http)
//! hands back when a browser asks for a page instead of a WebSocket.

use std::io;

use hybi_proto::http::Request;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::WebSocket;

/// What arrived on a connection: a WebSocket (handshake done), or an ordinary HTTP
/// request for the caller to answer.
#[derive(Debug)]
// Made once per connection and matched at once: boxing the WebSocket would cost an
// allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Accepted<S> {
    /// The opening handshake succeeded.
    WebSocket(WebSocket<S>),
    /// A `GET` or `HEAD` without any WebSocket field, not yet answered.
    Http(HttpRequest<S>),
}

/// An ordinary HTTP request read from a connection, with the connection to answer it on.
/// Answers close the connection afterwards (`Connection: close`).
#[derive(Debug)]
pub struct HttpRequest<S> {
    request: Request,
    io: S,
}

impl<S> HttpRequest<S> {
    pub(crate) fn new(request: Request, io: S) -> Self {
        HttpRequest { request, io }
    }

    /// The request head.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// `GET` or `HEAD`.
    pub fn method(&self) -> &str {
        &self.request.method
    }

    /// The target's path and query (`/index.html?x=1`).
    pub fn path(&self) -> &str {
        self.request.path()
    }

    /// The request head and the connection, for callers that answer it themselves.
    pub fn into_parts(self) -> (Request, S) {
        (self.request, self.io)
    }
}

impl<S: AsyncWrite + Unpin> HttpRequest<S> {
    /// Sends a complete response and closes the connection: the status line, `headers`,
    /// `Content-Length`, `Connection: close`, then `body` (not for `HEAD`).
    pub async fn respond(
        mut self,
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let out = response(&self.request.method, status, reason, headers, body);
        self.io.write_all(&out).await?;
        self.io.flush().await?;
        self.io.shutdown().await
    }
}

/// A complete HTTP/1.1 response to a request with `method`: the status line, `headers`,
/// `Content-Length`, `Connection: close`, then `body` (not for `HEAD`). What
/// [`HttpRequest::respond`] sends, and what a [`crate::reactor::Handler::on_http`]
/// returns.
pub fn response(
    method: &str,
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let len = body.len().to_string();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("Content-Length", &len));
    all.push(("Connection", "close"));
    let mut out = Vec::with_capacity(256 + body.len());
    hybi_proto::http::write_response(&mut out, status, reason, &all);
    if method != "HEAD" {
        out.extend_from_slice(body);
    }
    out
}
