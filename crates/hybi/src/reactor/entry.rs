//! One connection of a reactor: its opening handshake, its open life, or an answer being
//! written before it is closed. The same steps as the tokio engine's `Server::accept` and
//! `WebSocket::poll_for_each_message`, driven by readiness events and sweep times instead
//! of wakers and timers.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use hybi_proto::connection::{ConnectionState, Event};
use hybi_proto::handshake::{HandshakeStatus, ServerHandshake, Session};
use hybi_proto::{CloseCode, CloseFrame, Connection, DataRef, Message};
use mio::net::TcpStream;

use super::sender::Command;
use super::{millis, passed, ConnId, Delivery, Handler, Opened};
use crate::websocket::Slot;
use crate::{Error, Server, WebSocketConfig};

/// What the reactor does with a connection after driving it.
pub(super) enum Step {
    Continue,
    /// Remove and close it; `Ok` for a clean end.
    Close(Result<(), Box<Error>>),
}

impl Step {
    fn fail(e: Error) -> Step {
        Step::Close(Err(Box::new(e)))
    }
}

/// Most bytes read and thrown away from a connection being refused or answered (then it
/// is closed even if the client still sends).
const DRAIN_LIMIT: usize = 64 * 1024;

pub(super) struct Entry {
    stream: TcpStream,
    /// Tells this connection from earlier ones in the same slab slot ([`ConnId`]).
    generation: u32,
    /// epoll reported the peer's FIN (EPOLLRDHUP): from then on every read goes on to
    /// the end of stream. With edge-triggered readiness a FIN that arrived together with
    /// the last bytes raises no event of its own, so a short read is not proof of an
    /// empty socket any more.
    peer_closed: bool,
    /// The server's connection slot, released when the entry is dropped.
    _slot: Option<Slot>,
    state: State,
}

// `Open` is what nearly every entry is, for most of its life; boxing it would add an
// allocation per connection and a pointer chase per event. The others are boxed.
#[allow(clippy::large_enum_variant)]
enum State {
    Opening(Box<Opening>),
    Open(Open),
    Answering(Box<Answering>),
    /// Only while the opening turns into `Open` (no allocation for the switch).
    Switching,
}

/// The opening handshake in progress.
struct Opening {
    hs: Option<ServerHandshake>,
    /// The handshake's answer, written as soon as there is one (Hixie-76's 101 goes out
    /// before key3 arrives: proxies hold key3 until they see it).
    out: Vec<u8>,
    written: usize,
    started: u32,
    peer: SocketAddr,
    /// The handshake is complete; the connection opens once `out` is written.
    done: bool,
}

/// An HTTP answer (a refusal, a 503, a page) being written; then our FIN, then whatever
/// the client still sends is drained briefly, so that closing with its request unread
/// does not reset the connection before the answer is read.
struct Answering {
    out: Vec<u8>,
    written: usize,
    /// Writing the answer, then draining, must end by then.
    deadline_from: u32,
    deadline_ms: u32,
    shut: bool,
    drained: usize,
    /// Reported when the entry closes (`None`: a page answered, a clean end).
    error: Option<Box<Error>>,
}

/// An open WebSocket: the sans-IO connection and the few facts its deadlines need.
struct Open {
    conn: Connection,
    /// When the last bytes arrived (idle timeout, keepalive).
    last_read: u32,
    /// When the closing handshake was first seen under way (close timeout).
    closing_since: Option<u32>,
    /// Since when queued output could not be written at all (write stall).
    stalled_since: Option<u32>,
    /// When a keepalive ping went out with nothing received since.
    ping_sent: Option<u32>,
    read_eof: bool,
    shutdown: bool,
    idle_fired: bool,
    /// Reading stopped at `max_write_buffer`; with edge-triggered readiness the socket
    /// must be read again once the output drains, without waiting for an event.
    read_paused: bool,
    /// The first protocol error, reported at the end.
    error: Option<Box<Error>>,
}

impl Entry {
    pub(super) fn opening(
        stream: TcpStream,
        peer: SocketAddr,
        slot: Option<Slot>,
        server: &Server,
        now: u32,
        generation: u32,
    ) -> Entry {
        Entry {
            stream,
            generation,
            peer_closed: false,
            _slot: slot,
            state: State::Opening(Box::new(Opening {
                hs: Some(ServerHandshake::new(server.config_arc())),
                out: Vec::new(),
                written: 0,
                started: now,
                peer,
                done: false,
            })),
        }
    }

    /// A connection over the server's limit: 503, then closed.
    pub(super) fn refusing(stream: TcpStream, now: u32, generation: u32) -> Entry {
        Entry {
            stream,
            generation,
            peer_closed: false,
            _slot: None,
            state: State::Answering(Box::new(Answering {
                out: crate::server::BUSY_ANSWER.to_vec(),
                written: 0,
                deadline_from: now,
                deadline_ms: millis(crate::server::BUSY_LINGER),
                shut: false,
                drained: 0,
                error: Some(Box::new(Error::Busy)),
            })),
        }
    }

    pub(super) fn generation(&self) -> u32 {
        self.generation
    }

    /// Queues a [`Sender`](super::Sender)'s message (the caller writes it).
    pub(super) fn deliver(&mut self, command: &Command, max_write_buffer: usize) -> Delivery {
        let State::Open(open) = &mut self.state else {
            return Delivery::Refused;
        };
        let conn = &mut open.conn;
        if conn.state() != ConnectionState::Open {
            return Delivery::Refused;
        }
        let sent = match command {
            Command::Close(_, frame) => conn.send_close(frame.clone()),
            Command::Send(_, message) | Command::Broadcast(message) => {
                if !matches!(message, Message::Close(_))
                    && conn.pending_output().len() >= max_write_buffer
                {
                    return Delivery::Dropped;
                }
                match message {
                    Message::Text(t) => conn.send_text(t),
                    Message::Binary(b) => conn.send_binary(b),
                    Message::Ping(p) => conn.send_ping(p),
                    Message::Pong(p) => conn.send_pong(p),
                    Message::Close(frame) => conn.send_close(
                        frame
                            .clone()
                            .unwrap_or_else(|| CloseFrame::new(CloseCode::NORMAL, "")),
                    ),
                }
            }
        };
        match sent {
            Ok(()) => Delivery::Queued,
            // Binary or ping on Hixie, a control payload over 125 bytes.
            Err(e) => {
                tracing::debug!("message not sent: {e}");
                Delivery::Refused
            }
        }
    }

    /// True once the opening handshake is done (the handler knows this connection).
    pub(super) fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// Closes the socket. Where we sent our FIN, or the peer sent theirs, this is a
    /// clean close; dropping the stream is the `close`.
    pub(super) fn close(self) {
        drop(self);
    }

    /// Runs the connection as far as it can go without blocking.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn drive<H: Handler>(
        &mut self,
        id: ConnId,
        buf: &mut [u8],
        server: &Server,
        readable: bool,
        read_closed: bool,
        now: u32,
        handler: &mut H,
    ) -> Step {
        self.peer_closed |= read_closed;
        let to_end = self.peer_closed;
        let mut readable = readable;
        loop {
            match &mut self.state {
                State::Opening(opening) => {
                    match opening.drive(&mut self.stream, buf, readable, to_end, handler) {
                        OpeningStep::Wait => return Step::Continue,
                        OpeningStep::Close(step) => return step,
                        OpeningStep::Answer(out, error) => {
                            let timeout = millis(server.transport().handshake_timeout);
                            self.state = State::Answering(Box::new(Answering {
                                out,
                                written: 0,
                                deadline_from: now,
                                deadline_ms: timeout,
                                shut: false,
                                drained: 0,
                                error,
                            }));
                            readable = true;
                        }
                        OpeningStep::Opened { more_to_read } => {
                            let opening = match std::mem::replace(&mut self.state, State::Switching)
                            {
                                State::Opening(opening) => opening,
                                _ => unreachable!(),
                            };
                            let peer = opening.peer;
                            let hs = opening.hs.expect("a completed handshake");
                            let (session, leftover) = hs.into_session();
                            let mut open = Open::new(session, server, peer, id, now, handler);
                            let mut leftover = leftover;
                            // The socket is written once the connection is open.
                            let _ = open.receive(id, &mut leftover, None, handler);
                            self.state = State::Open(open);
                            readable = more_to_read || to_end;
                        }
                    }
                }
                State::Open(open) => {
                    return open.drive(
                        id,
                        &mut self.stream,
                        buf,
                        server.transport(),
                        readable,
                        to_end,
                        now,
                        handler,
                    )
                }
                State::Answering(answering) => {
                    return answering.drive(&mut self.stream, buf, readable, to_end, now)
                }
                State::Switching => unreachable!("a connection is never left switching"),
            }
        }
    }

    /// The deadlines of this connection at `now`: `None` when none passed, `Continue`
    /// when one queued output to write, `Close` when it ends the connection.
    pub(super) fn check_deadlines(&mut self, config: &WebSocketConfig, now: u32) -> Option<Step> {
        match &mut self.state {
            State::Opening(opening) => {
                passed(now, opening.started, millis(config.handshake_timeout))
                    .then(|| Step::fail(Error::Timeout("opening handshake")))
            }
            State::Answering(answering) => {
                passed(now, answering.deadline_from, answering.deadline_ms)
                    .then(|| Step::Close(answering.error.take().map_or(Ok(()), Err)))
            }
            State::Open(open) => open.check_deadlines(config, now),
            State::Switching => None,
        }
    }
}

enum OpeningStep {
    Wait,
    Close(Step),
    /// Send this answer (a refusal or a page), then close.
    Answer(Vec<u8>, Option<Box<Error>>),
    /// The handshake is done and its answer written; `more_to_read` when the last read
    /// filled the buffer.
    Opened {
        more_to_read: bool,
    },
}

impl Opening {
    fn drive<H: Handler>(
        &mut self,
        stream: &mut TcpStream,
        buf: &mut [u8],
        readable: bool,
        to_end: bool,
        handler: &mut H,
    ) -> OpeningStep {
        let mut more_to_read = false;
        if readable && !self.done {
            loop {
                let hs = self.hs.as_mut().expect("handshake present until opened");
                let n = match stream.read(buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return OpeningStep::Close(Step::fail(Error::Io(e))),
                };
                let status = if n == 0 {
                    Err(hs.receive_eof())
                } else {
                    hs.receive_data(&buf[..n])
                };
                match status {
                    Ok(HandshakeStatus::InProgress) => {
                        self.take_output();
                        if n < buf.len() && !to_end {
                            break;
                        }
                    }
                    Ok(HandshakeStatus::Done) => {
                        self.take_output();
                        self.done = true;
                        more_to_read = n == buf.len();
                        break;
                    }
                    Err(e) => {
                        let refusal = hs.take_output();
                        let error = Error::Handshake(e);
                        if let Some(request) = hs.take_plain_http_request() {
                            return match handler.on_http(&request) {
                                Some(page) => OpeningStep::Answer(page, None),
                                None => OpeningStep::Answer(refusal, Some(Box::new(error))),
                            };
                        }
                        if refusal.is_empty() {
                            return OpeningStep::Close(Step::fail(error));
                        }
                        let mut out = std::mem::take(&mut self.out);
                        out.drain(..self.written);
                        out.extend_from_slice(&refusal);
                        return OpeningStep::Answer(out, Some(Box::new(error)));
                    }
                }
            }
        }
        match write_out(stream, &self.out, &mut self.written) {
            Ok(true) => {
                self.out = Vec::new();
                self.written = 0;
                if self.done {
                    return OpeningStep::Opened { more_to_read };
                }
                OpeningStep::Wait
            }
            Ok(false) => OpeningStep::Wait,
            Err(e) => OpeningStep::Close(Step::fail(Error::Io(e))),
        }
    }

    fn take_output(&mut self) {
        let hs = self.hs.as_mut().expect("handshake present until opened");
        if hs.pending_output().is_empty() {
            return;
        }
        if self.out.is_empty() {
            self.out = hs.take_output();
        } else {
            self.out.extend_from_slice(hs.pending_output());
            hs.take_output();
        }
    }
}

/// Writes `out[*written..]` as far as the socket takes it. `Ok(true)` once all of it is
/// written.
fn write_out(stream: &mut TcpStream, out: &[u8], written: &mut usize) -> io::Result<bool> {
    while *written < out.len() {
        match stream.write(&out[*written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl Answering {
    fn drive(
        &mut self,
        stream: &mut TcpStream,
        buf: &mut [u8],
        readable: bool,
        to_end: bool,
        now: u32,
    ) -> Step {
        if !self.shut {
            match write_out(stream, &self.out, &mut self.written) {
                Ok(true) => {
                    self.out = Vec::new();
                    let _ = stream.shutdown(Shutdown::Write);
                    self.shut = true;
                    // From here on, only the linger: a client that keeps its side open
                    // is not waited for long.
                    self.deadline_from = now;
                    self.deadline_ms = self.deadline_ms.min(millis(crate::server::BUSY_LINGER));
                }
                Ok(false) => return Step::Continue,
                Err(_) => return self.end(),
            }
        }
        if readable || self.shut {
            loop {
                match stream.read(buf) {
                    Ok(0) => return self.end(),
                    Ok(n) => {
                        self.drained += n;
                        if self.drained >= DRAIN_LIMIT {
                            return self.end();
                        }
                        if n < buf.len() && !to_end {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return self.end(),
                }
            }
        }
        Step::Continue
    }

    fn end(&mut self) -> Step {
        Step::Close(self.error.take().map_or(Ok(()), Err))
    }
}

impl Open {
    fn new<H: Handler>(
        session: Session,
        server: &Server,
        peer: SocketAddr,
        id: ConnId,
        now: u32,
        handler: &mut H,
    ) -> Open {
        let subprotocol = session.subprotocol.clone();
        let extensions = session.extensions.as_ref().map(|e| e.header.clone());
        let path = session.path.clone();
        let variant = session.variant;
        let mut conn = session.into_connection(server.transport().limits.clone());
        handler.on_open(
            id,
            &mut conn,
            &Opened {
                variant,
                path: &path,
                subprotocol: subprotocol.as_deref(),
                extensions: extensions.as_deref(),
                peer,
            },
        );
        Open {
            conn,
            last_read: now,
            closing_since: None,
            stalled_since: None,
            ping_sent: None,
            read_eof: false,
            shutdown: false,
            idle_fired: false,
            read_paused: false,
            error: None,
        }
    }

    /// Feeds bytes read from the socket (or left over from the handshake): whole messages
    /// are lent to the handler, the others come out of the event queue. With `stream`,
    /// what the handler sent goes out at once, large payloads it sent from its lent
    /// messages straight from `data` (one vectored write, no copy:
    /// `Connection::receive_data_lending`); returns the bytes written.
    fn receive<H: Handler>(
        &mut self,
        id: ConnId,
        data: &mut [u8],
        stream: Option<&mut TcpStream>,
        handler: &mut H,
    ) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let on_message =
            |conn: &mut Connection, msg: DataRef<'_>| handler.on_message(id, conn, msg);
        let written = match stream {
            Some(stream) => self
                .conn
                .receive_data_lending(data, on_message, |bufs| stream.write_vectored(bufs)),
            None => {
                self.conn.receive_data_with(data, on_message);
                Ok(0)
            }
        };
        self.take_events(id, handler);
        written
    }

    fn take_events<H: Handler>(&mut self, id: ConnId, handler: &mut H) {
        // `has_events` inlines; `next_event` is a call.
        while self.conn.has_events() {
            match self.conn.next_event() {
                // A message that spanned reads or frames.
                Some(Event::Text(t)) => handler.on_message(id, &mut self.conn, DataRef::Text(&t)),
                Some(Event::Binary(b)) => {
                    handler.on_message(id, &mut self.conn, DataRef::Binary(&b))
                }
                // Taking it queued the close frame with the matching code.
                Some(Event::Failed(e)) => {
                    if self.error.is_none() {
                        self.error = Some(Box::new(Error::Protocol(e)));
                    }
                }
                // Pings are answered by the connection; the close handshake goes on.
                Some(Event::Ping(_) | Event::Pong(_) | Event::Close(_)) => {}
                None => break,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn drive<H: Handler>(
        &mut self,
        id: ConnId,
        stream: &mut TcpStream,
        buf: &mut [u8],
        config: &WebSocketConfig,
        readable: bool,
        to_end: bool,
        now: u32,
        handler: &mut H,
    ) -> Step {
        let mut readable = readable || self.read_paused;
        loop {
            // Output written while reading (lent payloads): progress for the stall clock.
            let mut progressed = false;
            if readable && !self.read_eof {
                self.read_paused = false;
                loop {
                    if self.conn.pending_output().len() >= config.max_write_buffer {
                        // The peer does not read what we owe it: stop reading until it
                        // does, so replies to a flood cannot grow without bound.
                        self.read_paused = true;
                        break;
                    }
                    match stream.read(buf) {
                        Ok(0) => {
                            self.read_eof = true;
                            self.conn.receive_eof();
                            self.take_events(id, handler);
                            break;
                        }
                        Ok(n) => {
                            self.last_read = now;
                            self.ping_sent = None;
                            match self.receive(id, &mut buf[..n], Some(stream), handler) {
                                Ok(written) => progressed |= written > 0,
                                Err(e) => return self.end(Error::Io(e)),
                            }
                            // A short read emptied the socket: the next bytes raise a new
                            // event (edge-triggered), so no `recv` is spent on EAGAIN.
                            // Unless the peer's FIN is known to be there (`to_end`): it
                            // raises no event after the one that brought it.
                            if n < buf.len() && !to_end {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return self.end(Error::Io(e)),
                    }
                }
            }
            // Replies (echoes, pongs, close) go out before anything else.
            while !self.conn.pending_output().is_empty() {
                match stream.write(self.conn.pending_output()) {
                    Ok(0) => return self.end(Error::Io(io::ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        self.conn.advance_output(n);
                        progressed = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return self.end(Error::Io(e)),
                }
            }
            if self.conn.pending_output().is_empty() || progressed {
                self.stalled_since = None;
            }
            if !self.conn.pending_output().is_empty() && self.stalled_since.is_none() {
                // The peer reads nothing: the write-stall clock starts (idle timeout).
                self.stalled_since = Some(now);
            }
            if self.conn.state() != ConnectionState::Open && self.closing_since.is_none() {
                self.closing_since = Some(now);
            }
            let drained = self.conn.pending_output().is_empty();
            if self.conn.wants_transport_closed() && drained {
                // RFC 6455 §7.1.1: the server closes TCP first. Hixie clients do not wait.
                if !self.conn.waits_for_peer_close() || self.read_eof {
                    return self.finish(stream);
                }
            }
            if self.conn.wants_write_shutdown() && drained && !self.shutdown {
                // Hixie-75 closes by TCP: send our FIN, read on until the peer's.
                let _ = stream.shutdown(Shutdown::Write);
                self.shutdown = true;
            }
            if self.read_eof {
                if drained {
                    return self.finish(stream);
                }
                // A half-closed peer may still read: what it is owed goes out first, on
                // the next writable event, bounded by the close timeout.
                self.closing_since.get_or_insert(now);
                return Step::Continue;
            }
            if self.read_paused && self.conn.pending_output().len() < config.max_write_buffer {
                // The output drained below the limit: read what waited meanwhile.
                readable = true;
                continue;
            }
            return Step::Continue;
        }
    }

    /// The end of the connection: our FIN goes out now, unless the peer's arrived
    /// already (then dropping the socket closes it with a FIN, never a reset, and the
    /// `shutdown` call would only cost a system call).
    fn finish(&mut self, stream: &mut TcpStream) -> Step {
        if !self.shutdown && !self.read_eof {
            let _ = stream.shutdown(Shutdown::Write);
            self.shutdown = true;
        }
        Step::Close(self.error.take().map_or(Ok(()), Err))
    }

    fn end(&mut self, e: Error) -> Step {
        Step::Close(Err(self.error.take().unwrap_or_else(|| Box::new(e))))
    }

    fn check_deadlines(&mut self, config: &WebSocketConfig, now: u32) -> Option<Step> {
        if let (Some(since), Some(idle)) = (self.stalled_since, config.idle_timeout) {
            if passed(now, since, millis(idle)) {
                return Some(self.end(Error::Timeout("peer not reading")));
            }
        }
        if let Some(since) = self.closing_since {
            if passed(now, since, millis(config.close_timeout)) {
                // As the tokio engine: a closing handshake that does not finish ends the
                // connection, reporting only an earlier error.
                return Some(Step::Close(self.error.take().map_or(Ok(()), Err)));
            }
        }
        if self.conn.state() != ConnectionState::Open {
            if self.closing_since.is_none() {
                self.closing_since = Some(now);
            }
            return None;
        }
        if let Some(idle) = config.idle_timeout {
            if !self.idle_fired && passed(now, self.last_read, millis(idle)) {
                self.idle_fired = true;
                // Starts the closing handshake; the close timeout bounds it.
                let _ = self
                    .conn
                    .send_close(CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout"));
                self.closing_since = Some(now);
                return Some(Step::Continue);
            }
        }
        if let Some(interval) = config.ping_interval {
            match self.ping_sent {
                Some(sent) if passed(now, sent, millis(config.ping_timeout)) => {
                    return Some(self.end(Error::Timeout("keepalive pong")));
                }
                Some(_) => {}
                None if passed(now, self.last_read, millis(interval)) => {
                    self.ping_sent = Some(now);
                    // Families without ping (Hixie) keep the deadline only.
                    if self.conn.send_ping(b"hybi-keepalive").is_ok() {
                        return Some(Step::Continue);
                    }
                }
                None => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    /// An open connection is one slab slot (an `Entry`, `Open` inline) plus what its
    /// `Connection` allocates: the slot is most of the reactor's 0.49 KiB per idle
    /// connection (docs/benchmarks.md, session 5). Printed with --nocapture.
    #[test]
    fn an_entry_stays_small() {
        let entry = std::mem::size_of::<super::Entry>();
        let open = std::mem::size_of::<super::Open>();
        let conn = std::mem::size_of::<hybi_proto::Connection>();
        println!("Entry {entry} B (Open {open} B, Connection {conn} B)");
        assert!(entry <= conn + 64, "Entry is {entry} bytes");
    }
}
