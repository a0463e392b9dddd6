//! hybi's own handshakes as lab [`Subject`]s: one [`HybiSubject`] per [`Variant`].
//!
//! * Client side: the real tokio client, [`hybi::handshake_client`], over the stream the lab hands it, wrapped in
//!   a [`Tape`] that records every byte written and read. `request` is everything the client wrote before the
//!   handshake completed (Hixie-76: head **and** key3; HELLO: the GET and the client's HELLO frames),
//!   `response` everything it read until then. The payload then goes out as one text message (binary if it is
//!   not UTF-8) through the `Sink`: the variant's framing and masking decide what reaches the wire, recorded as
//!   `wire_payload`.
//! * Server side: a one-port server with every variant enabled (`ServerConfig::variants = Variant::ALL`),
//!   driven through the sans-IO [`ServerHandshake`] one read at a time, writing whatever it produces at once
//!   (Hixie-76's 101 head goes out before key3 is read). It stops at the end of the handshake and hands back
//!   the bytes it read beyond it as `leftover`, and the negotiated [`Session`] as `Upgraded::state`.
//! * Echo: the session becomes a [`Connection`]; every text/binary message is sent back.
//!
//! A variant hybi does not implement yet makes `ClientHandshake::new` fail with
//! [`HandshakeError::VariantDisabled`]: [`implementation`] reports that, and the lab never runs such a subject.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hybi::proto::handshake::{ClientHandshake, HandshakeStatus, ServerHandshake};
use hybi::proto::{Connection, Event, HandshakeError, Limits};
use hybi::{ClientOptions, Error, Message, ServerConfig, Session, Variant, WebSocketConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::http::find;
use crate::subject::*;
use crate::util::lock;

/// How long the server side waits for a complete handshake.
pub const SERVER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes a [`Taped`] stream saw.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    /// Bytes written (accepted by the inner stream), in order.
    pub written: Vec<u8>,
    /// Bytes read, in order.
    pub read: Vec<u8>,
    /// The first write error, if any.
    pub write_error: Option<String>,
}

/// A stream that records what goes through it into a shared [`Tape`].
pub struct Taped<S> {
    inner: S,
    tape: Arc<Mutex<Tape>>,
}

impl<S> Taped<S> {
    /// Wraps `inner`; the tape is shared with the caller.
    pub fn new(inner: S, tape: Arc<Mutex<Tape>>) -> Self {
        Taped { inner, tape }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Taped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                lock(&self.tape).read.extend_from_slice(new);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Taped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        match &r {
            Poll::Ready(Ok(n)) => lock(&self.tape).written.extend_from_slice(&buf[..*n]),
            Poll::Ready(Err(e)) => {
                let mut t = lock(&self.tape);
                if t.write_error.is_none() {
                    t.write_error = Some(e.to_string());
                }
            }
            Poll::Pending => {}
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Whether hybi implements a variant (both roles), as found by trying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// The client produced a request and the all-variant server answered it without `VariantDisabled`.
    Implemented,
    /// Not (yet) implemented: why.
    Missing(String),
}

/// The one-port server configuration of the lab: every variant enabled, no host or origin checks.
pub fn server_config() -> ServerConfig {
    ServerConfig {
        variants: Variant::ALL.to_vec(),
        ..ServerConfig::default()
    }
}

/// Client options the lab uses for `target` (`ws://host/path`, port 80 so `Host` carries no port).
pub fn client_options(variant: Variant, target: &Target) -> Result<ClientOptions, HandshakeError> {
    let mut opts = ClientOptions::from_url(&target.url(), variant)?;
    opts.origin = Some(target.origin.clone());
    Ok(opts)
}

/// Tries `variant` in memory: client request, then the all-variant server on it.
pub fn implementation(variant: Variant) -> Implementation {
    let target = Target::new("server.example", "/chat");
    let opts = match client_options(variant, &target) {
        Ok(o) => o,
        Err(e) => return Implementation::Missing(format!("client options: {e}")),
    };
    let mut client = match ClientHandshake::new(&opts, [7; 32]) {
        Ok(c) => c,
        Err(HandshakeError::VariantDisabled(_)) => {
            return Implementation::Missing("client: not implemented (VariantDisabled)".into())
        }
        Err(e) => return Implementation::Missing(format!("client: {e}")),
    };
    let request = client.take_output();
    let mut server = ServerHandshake::new(Arc::new(server_config()));
    match server.receive_data(&request) {
        Err(HandshakeError::VariantDisabled(_)) => {
            Implementation::Missing("server: not implemented (VariantDisabled)".into())
        }
        _ => Implementation::Implemented,
    }
}

/// One hybi variant as a lab subject.
pub struct HybiSubject {
    variant: Variant,
    server: Arc<ServerConfig>,
    limits: Limits,
}

impl HybiSubject {
    /// The subject for `variant`, served by the all-variant one-port server.
    pub fn new(variant: Variant) -> Self {
        let cfg = server_config();
        HybiSubject {
            variant,
            limits: cfg.limits.clone(),
            server: Arc::new(cfg),
        }
    }

    /// The variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    async fn client(&self, io: BoxIo, t: &Target, payload: &[u8]) -> ClientOutcome {
        let tape: Arc<Mutex<Tape>> = Arc::default();
        let io = Taped::new(io, tape.clone());
        let opts = match client_options(self.variant, t) {
            Ok(o) => o,
            Err(e) => {
                return ClientOutcome::failed(Stage::WriteRequest, e.to_string(), vec![], vec![])
            }
        };
        let cfg = WebSocketConfig {
            handshake_timeout: t.handshake_timeout,
            close_timeout: Duration::from_millis(500),
            limits: self.limits.clone(),
            ..WebSocketConfig::default()
        };
        let start = Instant::now();
        let result = hybi::handshake_client(io, &opts, cfg).await;
        let handshake_time = start.elapsed();
        let (request, response, write_error) = {
            let mut tp = lock(&tape);
            (
                std::mem::take(&mut tp.written),
                std::mem::take(&mut tp.read),
                tp.write_error.clone(),
            )
        };
        let mut ws = match result {
            Ok(ws) => ws,
            Err(e) => return handshake_failure(e, request, response, write_error),
        };
        let mut out = ClientOutcome {
            handshake: Handshake::Completed,
            request,
            response,
            handshake_time: Some(handshake_time),
            payload_sent: false,
            wire_payload: Vec::new(),
            messages: Vec::new(),
            raw_after: Vec::new(),
            end: End::StillOpen,
        };
        let msg = match std::str::from_utf8(payload) {
            Ok(s) => Message::Text(s.to_string()),
            Err(_) => Message::Binary(payload.to_vec()),
        };
        match tokio::time::timeout(t.handshake_timeout, ws.send(msg)).await {
            Ok(Ok(())) => {
                out.payload_sent = true;
                out.wire_payload = std::mem::take(&mut lock(&tape).written);
            }
            Ok(Err(e)) => {
                out.end = end_of(&e);
                out.raw_after = std::mem::take(&mut lock(&tape).read);
                return out;
            }
            Err(_) => {
                out.end = End::Error("payload write timed out".into());
                return out;
            }
        }
        let deadline = tokio::time::Instant::now() + t.linger;
        loop {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => break,
                Ok(None) => {
                    if out.end == End::StillOpen {
                        out.end = End::Closed;
                    }
                    break;
                }
                Ok(Some(Ok(m))) => match m {
                    Message::Text(s) => out.messages.push(s.into_bytes()),
                    Message::Binary(b) => out.messages.push(b),
                    Message::Close(_) => out.end = End::Closed,
                    Message::Ping(_) | Message::Pong(_) => {}
                },
                Ok(Some(Err(e))) => {
                    out.end = end_of(&e);
                    break;
                }
            }
            if t.stop_after_messages
                .is_some_and(|n| out.messages.len() >= n)
            {
                break;
            }
        }
        out.raw_after = std::mem::take(&mut lock(&tape).read);
        out
    }

    async fn server(&self, mut io: BoxIo) -> Accepted {
        let mut hs = ServerHandshake::new(self.server.clone());
        let mut request = Vec::new();
        let mut response = Vec::new();
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + SERVER_HANDSHAKE_TIMEOUT;
        loop {
            let n = match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
                Err(_) => {
                    return Accepted::Failed {
                        request,
                        error: "timed out waiting for the handshake".into(),
                    }
                }
                Ok(Err(e)) => {
                    return Accepted::Failed {
                        request,
                        error: crate::strawman::io_error(&e),
                    }
                }
                Ok(Ok(0)) => {
                    let e = hs.receive_eof();
                    return Accepted::Failed {
                        request,
                        error: e.to_string(),
                    };
                }
                Ok(Ok(n)) => n,
            };
            request.extend_from_slice(&buf[..n]);
            let status = hs.receive_data(&buf[..n]);
            let answer = hs.take_output();
            if !answer.is_empty() {
                if let Err(e) = io.write_all(&answer).await {
                    return Accepted::Failed {
                        request,
                        error: crate::strawman::io_error(&e),
                    };
                }
                let _ = io.flush().await;
                response.extend_from_slice(&answer);
            }
            match status {
                Ok(HandshakeStatus::InProgress) => {}
                Ok(HandshakeStatus::Done) => {
                    let (session, leftover) = hs.into_session();
                    request.truncate(request.len() - leftover.len().min(request.len()));
                    return Accepted::Open(Upgraded {
                        io,
                        leftover,
                        request,
                        response,
                        state: Some(Box::new(session)),
                    });
                }
                Err(e) => {
                    let _ = io.shutdown().await;
                    return match status_of(&response) {
                        Some(status) => Accepted::Refused {
                            request,
                            status,
                            reason: e.to_string(),
                        },
                        None => Accepted::Failed {
                            request,
                            error: e.to_string(),
                        },
                    };
                }
            }
        }
    }

    async fn echo_inner(&self, conn: Upgraded, idle: Duration) -> EchoReport {
        let Upgraded {
            mut io,
            leftover,
            state,
            ..
        } = conn;
        let mut messages = Vec::new();
        let Some(session) = state.and_then(|s| s.downcast::<Session>().ok()) else {
            return EchoReport {
                messages,
                end: End::Error("no session from accept".into()),
            };
        };
        let mut c: Connection = session.into_connection(self.limits.clone());
        c.receive_data(&leftover);
        let mut buf = vec![0u8; 16384];
        let mut end = None;
        loop {
            while let Some(ev) = c.next_event() {
                match ev {
                    Event::Text(s) => {
                        messages.push(s.as_bytes().to_vec());
                        let _ = c.send_text(&s);
                    }
                    Event::Binary(b) => {
                        let _ = c.send_binary(&b);
                        messages.push(b);
                    }
                    Event::Close(_) => end = end.or(Some(End::Closed)),
                    Event::Failed(e) => end = Some(End::ProtocolError(e.to_string())),
                    Event::Ping(_) | Event::Pong(_) => {}
                }
            }
            let out = c.take_output();
            if !out.is_empty() && io.write_all(&out).await.is_err() {
                return EchoReport {
                    messages,
                    end: end.unwrap_or(End::Error("write failed".into())),
                };
            }
            if c.wants_transport_closed() || end.is_some() {
                let _ = io.shutdown().await;
                return EchoReport {
                    messages,
                    end: end.unwrap_or(End::Closed),
                };
            }
            match tokio::time::timeout(idle, io.read(&mut buf)).await {
                Err(_) => {
                    return EchoReport {
                        messages,
                        end: End::StillOpen,
                    }
                }
                Ok(Ok(0)) => c.receive_eof(),
                Ok(Ok(n)) => c.receive_data(&buf[..n]),
                Ok(Err(e)) => {
                    return EchoReport {
                        messages,
                        end: if e.kind() == io::ErrorKind::ConnectionReset {
                            End::Reset
                        } else {
                            End::Error(crate::strawman::io_error(&e))
                        },
                    }
                }
            }
        }
    }
}

/// The status code of an HTTP status line at the start of `bytes`.
pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let line = &bytes[..find(bytes, b"\r\n").unwrap_or(bytes.len())];
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

fn end_of(e: &Error) -> End {
    match e {
        Error::Protocol(p) => End::ProtocolError(p.to_string()),
        Error::Io(e) if e.kind() == io::ErrorKind::ConnectionReset => End::Reset,
        Error::Io(e) => End::Error(crate::strawman::io_error(e)),
        other => End::Error(other.to_string()),
    }
}

fn handshake_failure(
    e: Error,
    request: Vec<u8>,
    response: Vec<u8>,
    write_error: Option<String>,
) -> ClientOutcome {
    let stage = if response.is_empty() {
        if write_error.is_some() || request.is_empty() {
            Stage::WriteRequest
        } else {
            Stage::ReadResponse
        }
    } else if find(&response, b"\r\n\r\n").is_some() {
        Stage::ReadExtra
    } else {
        Stage::ReadResponse
    };
    let failed =
        |error: String, request, response| ClientOutcome::failed(stage, error, request, response);
    match e {
        Error::Handshake(HandshakeError::UnexpectedEof) => {
            failed("closed".into(), request, response)
        }
        Error::Handshake(HandshakeError::VariantDisabled(v)) => {
            failed(format!("{v} not implemented"), request, response)
        }
        Error::Handshake(h) => {
            let status = status_of(&response);
            let reason = match (&h, status) {
                (HandshakeError::MalformedHead(_), None) => format!("not an HTTP response: {h}"),
                _ => h.to_string(),
            };
            let mut o = ClientOutcome::failed(Stage::Validate, "", request, response);
            o.handshake = Handshake::Rejected { status, reason };
            o.end = End::Error("handshake rejected".into());
            o
        }
        Error::Io(io) => failed(crate::strawman::io_error(&io), request, response),
        Error::Timeout(_) => failed("timed out".into(), request, response),
        other => failed(other.to_string(), request, response),
    }
}

impl Subject for HybiSubject {
    fn name(&self) -> &str {
        self.variant.name()
    }

    fn run_client<'a>(
        &'a self,
        io: BoxIo,
        target: &'a Target,
        payload: &'a [u8],
    ) -> BoxFuture<'a, ClientOutcome> {
        Box::pin(self.client(io, target, payload))
    }

    fn accept<'a>(&'a self, io: BoxIo) -> BoxFuture<'a, Accepted> {
        Box::pin(self.server(io))
    }

    fn echo<'a>(&'a self, conn: Upgraded, idle: Duration) -> BoxFuture<'a, EchoReport> {
        Box::pin(self.echo_inner(conn, idle))
    }

    /// The one-port server's own rule: a head is a handshake iff [`Variant::detect`] names a variant.
    fn recognizes(&self, head: &[u8]) -> bool {
        match hybi::proto::http::parse_request(head, &self.limits) {
            Ok((req, _)) => Variant::detect(&req).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::start_ws_server;

    #[test]
    fn rfc6455_is_implemented() {
        assert_eq!(
            implementation(Variant::Rfc6455),
            Implementation::Implemented
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 101 Switching\r\n"), Some(101));
        assert_eq!(status_of(b"220 smtp\r\n"), None);
    }

    #[tokio::test]
    async fn rfc6455_direct_echo_records_the_exchange() {
        let s: Arc<dyn Subject> = Arc::new(HybiSubject::new(Variant::Rfc6455));
        let server = start_ws_server(s.clone()).await.unwrap();
        let io = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let mut t = Target::new("attacker.example", "/ws");
        t.stop_after_messages = Some(1);
        let out = s.run_client(Box::new(io), &t, b"hello lab").await;
        assert!(out.completed(), "{:?}", out.handshake);
        assert_eq!(out.messages, vec![b"hello lab".to_vec()]);
        assert!(out.request.starts_with(b"GET /ws HTTP/1.1\r\n"));
        assert!(out.response.starts_with(b"HTTP/1.1 101"));
        // masked: the plaintext is not on the wire, and the frame is 2 + 4 + 9 bytes
        assert_eq!(out.wire_payload.len(), 15);
        assert!(find(&out.wire_payload, b"hello lab").is_none());
    }
}
