use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use hybi_proto::connection::{ConnectionState, Event};
use hybi_proto::framing::OpCode;
use hybi_proto::{CloseCode, CloseFrame, Connection, DataRef, Message, Variant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Instant, Sleep};

use crate::idle::IdleTimer;
use crate::{Error, WebSocketConfig};

/// Size of the per-thread buffer every connection reads into.
///
/// 256 KiB rather than 64 KiB: a 64 KiB message (65 550 bytes on the wire) then arrives
/// whole in one read, is unmasked in place and lent without being copied into a message
/// buffer, and costs one `recv` instead of two (docs/benchmarks.md, "large messages").
/// One buffer per thread, not per connection.
const SCRATCH_SIZE: usize = 256 * 1024;

thread_local! {
    /// Shared by every connection polled on this thread: a connection holds no read
    /// buffer of its own between reads (the lever behind uWebSockets' 0.25 KiB per idle
    /// connection, bench/README.md).
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_SIZE]);
}

/// Reads once from `io` into this thread's scratch buffer (at most `max` bytes) and hands
/// the bytes (empty at end of stream) to `f`. The handshake reads through this rather than
/// a 4 KiB buffer of its own per connection (docs/benchmarks.md, "handshakes").
pub(crate) fn poll_read_scratch<S, R>(
    io: &mut S,
    cx: &mut Context<'_>,
    max: usize,
    f: impl FnOnce(&[u8]) -> R,
) -> Poll<io::Result<R>>
where
    S: AsyncRead + Unpin,
{
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let len = max.min(scratch.len());
        let mut buf = ReadBuf::new(&mut scratch[..len]);
        ready!(Pin::new(io).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(f(buf.filled())))
    })
}

/// The idle timeout is checked this many times per `idle_timeout` (see `WebSocket::idle`).
const IDLE_CHECKS: u32 = 4;
/// `quiet_checks` once the idle timeout has fired.
const IDLE_DONE: u8 = u8::MAX;

/// What the handshake agreed, kept for the application.
#[derive(Clone, Debug)]
pub(crate) struct Info {
    pub(crate) variant: Variant,
    /// `/`, by far the most common path, costs no allocation (idle memory,
    /// docs/benchmarks.md).
    pub(crate) path: std::borrow::Cow<'static, str>,
    pub(crate) subprotocol: Option<Box<str>>,
    /// The agreed `Sec-WebSocket-Extensions` value.
    pub(crate) extensions: Option<String>,
}

/// The resource path as kept by a connection: `/` without an allocation.
pub(crate) fn path_cow(path: &str) -> std::borrow::Cow<'static, str> {
    if path == "/" {
        std::borrow::Cow::Borrowed("/")
    } else {
        std::borrow::Cow::Owned(path.to_owned())
    }
}

/// A WebSocket connection over `S`: a [`Stream`] of received [`Message`]s and a
/// [`Sink`] of messages to send. Pings are answered automatically (and also delivered);
/// a close frame is delivered as [`Message::Close`], after which the stream ends once
/// the closing handshake is done.
///
/// Use `futures_util::StreamExt::split` to read and write from different tasks.
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    /// Shared by every connection of a server: a per-connection copy cost 112 bytes of
    /// each idle connection (docs/benchmarks.md, "idle memory").
    config: Arc<WebSocketConfig>,
    /// Boxed: read rarely, and inline it put an idle connection's task over tokio's
    /// 512-byte size class (docs/benchmarks.md, "idle memory"). `None` for the common
    /// case, path `/` with no subprotocol or extension: no allocation at all.
    info: Option<Box<Info>>,
    read_eof: bool,
    ended: bool,
    shutdown: bool,
    close_deadline: Option<Pin<Box<Sleep>>>,
    keepalive: Option<Pin<Box<Sleep>>>,
    awaiting_pong: bool,
    /// The idle check: fires every quarter of `idle_timeout`; four quiet quarters in a row
    /// (no read in between) close the connection, so it closes between 1 and 1.25 times
    /// `idle_timeout` after the last byte received. Resetting a deadline on every read
    /// cost ~150 instructions per echoed message (timer wheel, clock read;
    /// docs/benchmarks.md, "idle timer"); a read now only sets `read_since_check`.
    /// A slot in the process's shared idle wheel ([`crate::idle`]), armed at the first
    /// poll; a tokio timer of its own only if that wheel could not start (`idle_fallback`).
    idle: Option<IdleTimer>,
    idle_fallback: Option<Pin<Box<Sleep>>>,
    read_since_check: bool,
    /// Quiet quarters in a row; [`IDLE_DONE`] once the timeout has fired.
    quiet_checks: u8,
    /// Runs while queued output cannot be written at all: a peer that trickles bytes in
    /// (so it is never idle) but reads nothing is dropped when it fires.
    write_stall: Option<Pin<Box<Sleep>>>,
    /// The server's connection slot (released when the connection is dropped).
    _slot: Option<Slot>,
    /// The first error [`WebSocket::poll_for_each_message`] saw, reported at the end.
    first_error: Option<Box<Error>>,
}

/// One permit of a server's connection semaphore, given back on drop: the semaphore alone,
/// 8 bytes where an `OwnedSemaphorePermit` takes 16; those 8 bytes kept an idle
/// connection's task in tokio's 512-byte class (docs/benchmarks.md, "idle memory").
pub(crate) struct Slot(pub(crate) Arc<tokio::sync::Semaphore>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("variant", &self.conn.variant())
            .field("state", &self.conn.state())
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps an established sans-IO connection. `leftover` are bytes that arrived with
    /// the end of the handshake.
    pub(crate) fn new(
        io: S,
        mut conn: Connection,
        leftover: &[u8],
        config: Arc<WebSocketConfig>,
        info: Info,
    ) -> Self {
        conn.receive_data(leftover);
        let keepalive = config.ping_interval.map(|d| Box::pin(sleep(d)));
        debug_assert_eq!(info.variant, conn.variant());
        let info = (info.path != "/" || info.subprotocol.is_some() || info.extensions.is_some())
            .then(|| Box::new(info));
        WebSocket {
            io,
            conn,
            config,
            info,
            read_eof: false,
            ended: false,
            shutdown: false,
            close_deadline: None,
            keepalive,
            awaiting_pong: false,
            idle: None,
            idle_fallback: None,
            read_since_check: false,
            quiet_checks: 0,
            write_stall: None,
            _slot: None,
            first_error: None,
        }
    }

    /// Ties a server connection slot to this connection's lifetime.
    pub(crate) fn hold_slot(&mut self, slot: Option<tokio::sync::OwnedSemaphorePermit>) {
        self._slot = slot.map(|permit| {
            let semaphore = permit.semaphore().clone();
            permit.forget();
            Slot(semaphore)
        });
    }

    /// The handshake variant this connection speaks.
    pub fn variant(&self) -> Variant {
        self.conn.variant()
    }

    /// The resource path the client asked for (for CONNECT proposals, from the
    /// metadata).
    pub fn path(&self) -> &str {
        self.info.as_ref().map_or("/", |info| &info.path)
    }

    /// The subprotocol selected during the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.info.as_ref()?.subprotocol.as_deref()
    }

    /// The extensions agreed in the handshake (the response's `Sec-WebSocket-Extensions`
    /// value), e.g. `permessage-deflate; server_no_context_takeover`.
    pub fn extensions(&self) -> Option<&str> {
        self.info.as_ref()?.extensions.as_deref()
    }

    /// True when messages are compressed with permessage-deflate.
    pub fn is_compressed(&self) -> bool {
        self.conn.deflate().is_some()
    }

    /// The underlying transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The sans-IO connection (state, codec).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// True when received messages are already decoded and waiting: a caller echoing
    /// messages can `feed` replies while this holds and `flush` once, so a burst of
    /// frames costs one write.
    pub fn has_buffered_messages(&self) -> bool {
        self.conn.has_events()
    }

    /// Queues a message without writing (use `flush`, or the `Sink` methods).
    pub fn queue(&mut self, msg: Message) -> Result<(), Error> {
        self.start_send_inner(msg)
    }

    /// Queues a message split into frames of at most `fragment_size` payload bytes.
    pub fn queue_fragmented(
        &mut self,
        text: bool,
        data: &[u8],
        fragment_size: usize,
    ) -> Result<(), Error> {
        let size = fragment_size.max(1);
        let first = if text { OpCode::Text } else { OpCode::Binary };
        if data.len() <= size {
            self.conn.send_frame(first, true, data)?;
            return Ok(());
        }
        let mut chunks = data.chunks(size).peekable();
        let mut opcode = first;
        while let Some(chunk) = chunks.next() {
            self.conn
                .send_frame(opcode, chunks.peek().is_none(), chunk)?;
            opcode = OpCode::Continuation;
        }
        Ok(())
    }

    fn start_send_inner(&mut self, msg: Message) -> Result<(), Error> {
        match msg {
            Message::Text(t) => self.conn.send_text(&t)?,
            Message::Binary(b) => self.conn.send_binary(&b)?,
            Message::Ping(p) => self.conn.send_ping(&p)?,
            Message::Pong(p) => self.conn.send_pong(&p)?,
            Message::Close(frame) => {
                if self.conn.state() == ConnectionState::Open {
                    let frame = frame.unwrap_or_else(|| CloseFrame::new(CloseCode::NORMAL, ""));
                    self.conn.send_close(frame)?;
                }
            }
        }
        Ok(())
    }

    fn poll_write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.conn.pending_output().is_empty() {
            let n = match Pin::new(&mut self.io).poll_write(cx, self.conn.pending_output()) {
                Poll::Ready(r) => r?,
                Poll::Pending => {
                    // The peer reads nothing: start the write-stall clock (idle timeout).
                    if self.write_stall.is_none() {
                        if let Some(timeout) = self.config.idle_timeout {
                            self.write_stall = Some(Box::pin(sleep(timeout)));
                        }
                    }
                    return Poll::Pending;
                }
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            // `if`: assigning `None` unconditionally ran the `Option<Box<Sleep>>` drop
            // glue twice per echoed message (docs/benchmarks.md, "idle timer").
            if self.write_stall.is_some() {
                self.write_stall = None;
            }
            self.conn.advance_output(n);
        }
        if self.write_stall.is_some() {
            self.write_stall = None;
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Reads once into the shared scratch buffer and feeds the connection; with `lend`,
    /// messages that arrived whole are lent to it, and its replies written at once
    /// ([`Connection::receive_data_lending`]).
    fn poll_read_once<F>(
        &mut self,
        cx: &mut Context<'_>,
        lend: Option<&mut F>,
    ) -> Poll<io::Result<usize>>
    where
        F: FnMut(&mut Connection, DataRef<'_>),
    {
        let io = &mut self.io;
        let conn = &mut self.conn;
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut buf = ReadBuf::new(&mut scratch[..]);
            ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
            let n = buf.filled().len();
            if n == 0 {
                conn.receive_eof();
            } else if let Some(f) = lend {
                if io.is_write_vectored() {
                    // Replies go out now, large payloads echoed from lent messages
                    // straight from the read buffer (one vectored write, no copy into
                    // the output buffer); what the socket does not take is queued.
                    let write = |bufs: &[io::IoSlice<'_>]| match Pin::new(&mut *io)
                        .poll_write_vectored(cx, bufs)
                    {
                        Poll::Ready(r) => r,
                        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                    };
                    conn.receive_data_lending(&mut scratch[..n], f, write)?;
                } else {
                    conn.receive_data_with(&mut scratch[..n], f);
                }
            } else {
                conn.receive_data(&scratch[..n]);
            }
            Poll::Ready(Ok(n))
        })
    }

    /// Runs the connection to its end, lending every text and binary message to
    /// `on_message` together with the connection, on which it may queue replies
    /// ([`Connection::send_text`], [`Connection::send_binary`], …). Pings are answered,
    /// the closing handshake is completed, and replies queued during one read leave in
    /// one write. Returns the first protocol or I/O error, once the connection is over.
    ///
    /// A message that arrived whole in one read is lent straight from the read buffer,
    /// unmasked in place: no allocation and no copy; a reply of 8 KiB or more sent from it
    /// goes out from the read buffer too, in one vectored write with what precedes it
    /// (on streams that write vectored, `TcpStream` among them). This is the fast path of an echo
    /// server (docs/benchmarks.md, "borrowed messages": the `Stream` + `Sink` round trip
    /// costs an allocation, a queue push and pop and a `Message` per echoed message).
    /// Unlike the `Stream`, it stops reading while `max_write_buffer` bytes wait to be
    /// written.
    pub async fn for_each_message<F>(&mut self, mut on_message: F) -> Result<(), Error>
    where
        F: FnMut(&mut Connection, DataRef<'_>),
    {
        std::future::poll_fn(|cx| self.poll_for_each_message(cx, &mut on_message)).await
    }

    /// The poll step of [`WebSocket::for_each_message`], for hand-written futures (an
    /// `async` block around it costs every idle connection a few hundred bytes of state).
    pub fn poll_for_each_message<F>(
        &mut self,
        cx: &mut Context<'_>,
        on_message: &mut F,
    ) -> Poll<Result<(), Error>>
    where
        F: FnMut(&mut Connection, DataRef<'_>),
    {
        loop {
            match ready!(self.poll_next_inner(cx, Some(&mut *on_message))) {
                None => {
                    return Poll::Ready(match self.first_error.take() {
                        Some(e) => Err(*e),
                        None => Ok(()),
                    })
                }
                // A message that spanned reads or frames.
                Some(Ok(Message::Text(t))) => on_message(&mut self.conn, DataRef::Text(&t)),
                Some(Ok(Message::Binary(b))) => on_message(&mut self.conn, DataRef::Binary(&b)),
                // Pings are answered by the connection; the close handshake goes on.
                Some(Ok(_)) => {}
                // The close frame for a protocol error is written before the stream ends.
                Some(Err(e)) => {
                    if self.first_error.is_none() {
                        self.first_error = Some(Box::new(e));
                    }
                }
            }
        }
    }

    /// The end of the stream: our FIN goes out now, unless the peer's has arrived already.
    /// Then neither side has anything left to send and we have read everything, so
    /// dropping the `WebSocket` closes the socket with a FIN (never a reset), and the
    /// `shutdown` call would only cost a system call per connection (docs/benchmarks.md,
    /// "handshakes": a client that closes first is the common end of a connection).
    fn finish(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if !self.shutdown && !self.read_eof {
            // Best effort: the peer may be gone already.
            match Pin::new(&mut self.io).poll_shutdown(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => self.shutdown = true,
            }
        }
        self.ended = true;
        Poll::Ready(None)
    }

    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        if let Some(stall) = self.write_stall.as_mut() {
            if stall.as_mut().poll(cx).is_ready() {
                return Err(Error::Timeout("peer not reading"));
            }
        }
        if let Some(timeout) = self.config.idle_timeout {
            if self.quiet_checks != IDLE_DONE {
                self.poll_idle(cx, timeout / IDLE_CHECKS);
            }
        }
        if self.conn.state() != ConnectionState::Open && self.close_deadline.is_none() {
            self.close_deadline = Some(Box::pin(sleep(self.config.close_timeout)));
        }
        if let Some(deadline) = self.close_deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Err(Error::Timeout("closing handshake"));
            }
        }
        if let Some(keepalive) = self.keepalive.as_mut() {
            if self.conn.state() == ConnectionState::Open && keepalive.as_mut().poll(cx).is_ready()
            {
                if self.awaiting_pong {
                    return Err(Error::Timeout("keepalive pong"));
                }
                self.awaiting_pong = true;
                // Families without ping (Hixie) keep the deadline only.
                let _ = self.conn.send_ping(b"hybi-keepalive");
                let next = Instant::now() + self.config.ping_timeout;
                keepalive.as_mut().reset(next);
                let _ = keepalive.as_mut().poll(cx);
            }
        }
        Ok(())
    }

    /// The idle check (see the `idle` field): counts quiet quarters, closes with 1001
    /// after [`IDLE_CHECKS`] of them in a row.
    fn poll_idle(&mut self, cx: &mut Context<'_>, quarter: std::time::Duration) {
        loop {
            let due = match (&mut self.idle, &mut self.idle_fallback) {
                (Some(timer), _) => timer.is_due(cx.waker()),
                (None, Some(fallback)) => fallback.as_mut().poll(cx).is_ready(),
                (None, None) => {
                    match IdleTimer::arm(quarter, cx.waker()) {
                        Some(timer) => self.idle = Some(timer),
                        None => {
                            let mut fallback = Box::pin(sleep(quarter));
                            let _ = fallback.as_mut().poll(cx);
                            self.idle_fallback = Some(fallback);
                        }
                    }
                    return;
                }
            };
            if !due {
                return;
            }
            if std::mem::take(&mut self.read_since_check) {
                self.quiet_checks = 0;
            } else {
                self.quiet_checks += 1;
            }
            if u32::from(self.quiet_checks) < IDLE_CHECKS {
                match (&mut self.idle, &mut self.idle_fallback) {
                    (Some(timer), _) => timer.rearm(quarter, cx.waker()),
                    (None, Some(fallback)) => fallback.as_mut().reset(Instant::now() + quarter),
                    (None, None) => unreachable!("due implies armed"),
                }
                continue;
            }
            self.idle = None;
            self.idle_fallback = None;
            self.quiet_checks = IDLE_DONE;
            if self.conn.state() == ConnectionState::Open {
                // Starts the closing handshake; the close deadline bounds it.
                let _ = self
                    .conn
                    .send_close(CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout"));
            }
            return;
        }
    }

    fn note_activity(&mut self) {
        self.read_since_check = true;
        if let (Some(keepalive), Some(interval)) =
            (self.keepalive.as_mut(), self.config.ping_interval)
        {
            self.awaiting_pong = false;
            keepalive.as_mut().reset(Instant::now() + interval);
        }
    }
}

use std::future::Future;

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_next_inner(cx, None::<&mut fn(&mut Connection, DataRef<'_>)>)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// The `Stream` step; with `lend`, whole messages go to it as they are read
    /// ([`WebSocket::for_each_message`]).
    fn poll_next_inner<F>(
        &mut self,
        cx: &mut Context<'_>,
        mut lend: Option<&mut F>,
    ) -> Poll<Option<Result<Message, Error>>>
    where
        F: FnMut(&mut Connection, DataRef<'_>),
    {
        let this = self;
        loop {
            // `has_events` inlines; `next_event` is a call (34 instructions per echoed
            // message when the queue is empty, as it is on the lent path).
            if let Some(event) = this
                .conn
                .has_events()
                .then(|| this.conn.next_event())
                .flatten()
            {
                let msg = match event {
                    Event::Text(t) => Message::Text(t),
                    Event::Binary(b) => Message::Binary(b),
                    Event::Ping(p) => Message::Ping(p),
                    Event::Pong(p) => Message::Pong(p),
                    Event::Close(frame) => Message::Close(Some(frame)),
                    Event::Failed(e) => {
                        let _ = this.poll_write_pending(cx);
                        return Poll::Ready(Some(Err(Error::Protocol(e))));
                    }
                };
                return Poll::Ready(Some(Ok(msg)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            // Replies (pongs, close) go out before we wait for more input.
            if let Poll::Ready(Err(e)) = this.poll_write_pending(cx) {
                this.ended = true;
                return Poll::Ready(Some(Err(Error::Io(e))));
            }
            if this.conn.wants_transport_closed() && this.conn.pending_output().is_empty() {
                // RFC 6455 §7.1.1: the server closes TCP first; a client waits for it
                // (bounded by the close timeout). Hixie clients do not wait.
                if !this.conn.waits_for_peer_close() || this.read_eof {
                    return this.finish(cx);
                }
            }
            if this.conn.wants_write_shutdown()
                && this.conn.pending_output().is_empty()
                && !this.shutdown
            {
                // Hixie-75 closes by TCP: send our FIN, read on until the peer's.
                match Pin::new(&mut this.io).poll_shutdown(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(_) => this.shutdown = true,
                }
            }
            if this.read_eof {
                if this.conn.pending_output().is_empty() {
                    return this.finish(cx);
                }
                // A half-closed peer may still read: what it is owed goes out first. The
                // write above registered the wakeup; the close deadline bounds the wait.
                if this.close_deadline.is_none() {
                    this.close_deadline = Some(Box::pin(sleep(this.config.close_timeout)));
                }
                return this.wait_with_deadlines(cx);
            }
            if this.conn.pending_output().len() >= this.config.max_write_buffer {
                // The peer does not read what we owe it (echoes, pongs): stop reading
                // until it does, so replies to a flood cannot grow without bound. The
                // write above registered the wakeup; deadlines still run.
                return this.wait_with_deadlines(cx);
            }
            match this.poll_read_once(cx, lend.as_deref_mut()) {
                Poll::Ready(Ok(0)) => this.read_eof = true,
                Poll::Ready(Ok(_)) => this.note_activity(),
                Poll::Ready(Err(e)) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(Error::Io(e))));
                }
                Poll::Pending => {
                    if let Err(e) = this.poll_timers(cx) {
                        if matches!(e, Error::Timeout("closing handshake")) {
                            return this.finish(cx);
                        }
                        // Keepalive timeout: stop, reporting it once.
                        this.ended = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    // a keepalive ping may have been queued
                    if !this.conn.pending_output().is_empty() {
                        if let Poll::Ready(Err(e)) = this.poll_write_pending(cx) {
                            this.ended = true;
                            return Poll::Ready(Some(Err(Error::Io(e))));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Waits on the peer (to read what we owe it) with the deadlines running: a closing
    /// handshake that runs out ends the stream; any other deadline ends it with its error.
    fn wait_with_deadlines(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        if let Err(e) = self.poll_timers(cx) {
            if matches!(e, Error::Timeout("closing handshake")) {
                return self.finish(cx);
            }
            self.ended = true;
            return Poll::Ready(Some(Err(e)));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.conn.pending_output().len() >= this.config.max_write_buffer {
            ready!(this.poll_write_bounded(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, msg: Message) -> Result<(), Error> {
        self.get_mut().start_send_inner(msg)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_write_bounded(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.conn.state() == ConnectionState::Open {
            this.conn
                .send_close(CloseFrame::new(CloseCode::NORMAL, ""))?;
        }
        this.poll_write_bounded(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Writes the pending output; while the peer does not read, the deadlines (idle,
    /// keepalive, close) still run, so a writer blocked on a peer that never reads
    /// gives up instead of holding its connection forever.
    fn poll_write_bounded(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.poll_write_pending(cx) {
            Poll::Ready(r) => Poll::Ready(r.map_err(Error::Io)),
            Poll::Pending => {
                self.poll_timers(cx)?;
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// An idle server connection is a tokio task whose future is about a `WebSocket`;
    /// tokio's task cell is that plus ~104 bytes, in 128-byte steps: at most 280 bytes
    /// keep it at 384 (docs/benchmarks.md, "idle memory").
    #[test]
    fn websocket_fits_tokios_384_byte_task_cell() {
        let size = std::mem::size_of::<super::WebSocket<tokio::net::TcpStream>>();
        eprintln!(
            "WebSocket<TcpStream> {size} B, Connection {} B",
            std::mem::size_of::<hybi_proto::Connection>()
        );
        assert!(size <= 280, "WebSocket<TcpStream> is {size} bytes");
    }
}
