//! The reactor engine: one thread, one `epoll` (kqueue on the BSDs, through `mio`), every
//! connection driven straight from readiness events, without a tokio task per connection.
//!
//! The tokio engine ([`crate::Server::accept`] and [`crate::WebSocket`]) gives each
//! connection a task. That costs a task wake, a poll and readiness bookkeeping per
//! message, which at 16-byte echoes is about half of hybi's user-space time
//! (docs/benchmarks.md, "where the remaining gap is"). The reactor is uWebSockets' shape
//! instead: the sans-IO [`Connection`] is the whole per-connection state, the loop reads
//! into one buffer shared by every connection, hands whole messages to a [`Handler`]
//! straight from that buffer, and writes every reply queued during one read in one
//! `send` (a `writev` when a reply of 8 KiB or more echoes a lent payload: that payload
//! goes out from the read buffer, never copied; `Connection::receive_data_lending`).
//! Deadlines are not timers: each connection keeps the time of its last read
//! and a sweep visits every connection a few times per shortest timeout (uWebSockets
//! sweeps every 4 s the same way), so a message costs no timer work at all.
//!
//! What it keeps from the tokio engine: the same [`Server`] policy (variants, origins,
//! hosts, subprotocols, permessage-deflate, limits, the connection limit and its 503), the
//! same [`WebSocketConfig`] deadlines (handshake, idle, keepalive, close, write stall) and
//! backpressure (`max_write_buffer`), and plain HTTP on the same port ([`Handler::on_http`]).
//! What it does not do: TLS, and anything that needs `async` in a callback. A handler
//! runs on the loop thread; one that blocks stalls every connection of that loop.
//!
//! ```no_run
//! use hybi::reactor::{ConnId, Handler, Reactor};
//! use hybi::proto::{Connection, DataRef};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn on_message(&mut self, _id: ConnId, conn: &mut Connection, msg: DataRef<'_>) {
//!         let _ = match msg {
//!             DataRef::Text(t) => conn.send_text(t),
//!             DataRef::Binary(b) => conn.send_binary(b),
//!         };
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let listener = std::net::TcpListener::bind("127.0.0.1:9002")?;
//! let server = hybi::Server::new(hybi::ServerConfig::default());
//! let mut reactor = Reactor::new(listener, server)?;
//! reactor.run(&mut Echo)?; // until a `StopHandle` stops it
//! # Ok(()) }
//! ```
//!
//! Messages for other connections than the one at hand (a chat room, a broadcast) and
//! from other threads go through a [`Sender`] ([`Reactor::sender`]): queued, then written
//! by the loop at its next turn, and dropped for a connection whose peer does not read
//! (`max_write_buffer`, as uWebSockets does).
//!
//! One reactor uses one core. For more, run one per thread on clones of the listener
//! (`TcpListener::try_clone`): the kernel hands each new connection to one of them.

mod entry;
mod sender;

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hybi_proto::http::Request;
use hybi_proto::{Connection, DataRef};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::{Error, Server, WebSocketConfig};
use entry::{Entry, Step};
pub use sender::Sender;
use sender::{Command, Shared};

/// What a reactor calls back. Every method runs on the loop thread.
pub trait Handler {
    /// A connection finished its opening handshake. Messages that arrived with the
    /// handshake follow at once.
    fn on_open(&mut self, id: ConnId, conn: &mut Connection, info: &Opened<'_>) {
        let _ = (id, conn, info);
    }

    /// A whole text or binary message. It is lent: a message that arrived whole in one
    /// read borrows the reactor's read buffer, unmasked in place, so it costs no
    /// allocation and no copy. Replies queued on `conn` ([`Connection::send_text`],
    /// [`Connection::send_binary`], …) leave together with every other reply to the same
    /// read, in one write. Pings are answered and the closing handshake is completed
    /// without the handler.
    fn on_message(&mut self, id: ConnId, conn: &mut Connection, msg: DataRef<'_>);

    /// The connection is gone. `Err` holds the first protocol, I/O or deadline error
    /// (keepalive pong, write stall) that ended it; `Ok` means none did: a completed
    /// closing handshake, one that ran out of its close timeout, or the peer's end of
    /// stream (even without a close frame), as [`crate::WebSocket::for_each_message`]
    /// reports them. Called once for every connection that was opened; its [`ConnId`]
    /// may be reused afterwards.
    fn on_close(&mut self, id: ConnId, outcome: Result<(), &Error>) {
        let _ = (id, outcome);
    }

    /// A [`Sender`]'s message for `id` was dropped: the connection already held
    /// `max_write_buffer` unsent bytes (its peer reads slower than it is sent to).
    /// Messages to connections that have closed are dropped without a call.
    fn on_send_dropped(&mut self, id: ConnId) {
        let _ = id;
    }

    /// An ordinary HTTP request (a `GET` or `HEAD` without any WebSocket field) arrived
    /// instead of a handshake. Return a whole response to send before the connection is
    /// closed (with `Connection: close`; [`crate::http::response`] writes one), or `None`
    /// to answer it as the tokio engine's [`Server::accept`] does: `400 Bad Request`.
    fn on_http(&mut self, request: &Request) -> Option<Vec<u8>> {
        let _ = request;
        None
    }
}

/// A connection of one reactor: for the [`Handler`]'s bookkeeping, and to address a
/// [`Sender`]'s messages. Never reused: an id names one connection for the reactor's life
/// (a slot index plus a generation), so a message sent to a connection that has closed is
/// dropped rather than delivered to its slot's next occupant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// What the opening handshake agreed, lent to [`Handler::on_open`].
#[derive(Debug)]
pub struct Opened<'a> {
    /// The handshake variant.
    pub variant: hybi_proto::Variant,
    /// The resource path the client asked for.
    pub path: &'a str,
    /// The subprotocol selected, if any.
    pub subprotocol: Option<&'a str>,
    /// The agreed `Sec-WebSocket-Extensions` value, if any.
    pub extensions: Option<&'a str>,
    /// The client's address.
    pub peer: std::net::SocketAddr,
}

/// Stops a running [`Reactor`] from another thread: its loop returns after the events at
/// hand, closing every connection (without a closing handshake).
#[derive(Clone, Debug)]
pub struct StopHandle {
    shared: Arc<Shared>,
}

impl StopHandle {
    /// Asks the reactor to stop.
    pub fn stop(&self) -> io::Result<()> {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.waker.wake()
    }
}

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);

/// The read buffer every connection of a reactor reads into. 256 KiB, as the tokio
/// engine's per-thread buffer: a 64 KiB message arrives whole in one read and is lent
/// unmasked in place (docs/benchmarks.md, "large messages").
const READ_BUFFER: usize = 256 * 1024;

/// Connections accepted per turn of the loop before the others get their events.
const ACCEPTS_PER_TURN: usize = 128;

/// How often an accept that failed for lack of descriptors (EMFILE) is tried again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// A single-threaded event loop serving WebSockets (see the [module](self) docs).
pub struct Reactor {
    poll: Poll,
    listener: TcpListener,
    server: Server,
    conns: Slab<Entry>,
    read_buf: Box<[u8]>,
    clock: Clock,
    sweep: Sweep,
    /// What other threads (and handlers) hand the loop: stop, messages to send.
    shared: Arc<Shared>,
    /// Generation of the next connection (see [`ConnId`]).
    next_generation: u32,
    /// Reused between turns: commands taken from `shared`.
    commands: Vec<Command>,
    /// The listener may hold connections not yet accepted (edge-triggered: no new event
    /// will say so).
    accept_pending: bool,
    /// When to try accepting again after running out of descriptors.
    accept_retry_at: Option<u32>,
    /// Reused between sweeps: connections whose deadline passed.
    expired: Vec<(usize, Step)>,
    /// Accepted sockets have TCP_NODELAY from the listener.
    nodelay_inherited: bool,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("listener", &self.listener)
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl Reactor {
    /// A reactor accepting on `listener` (made non-blocking here) and answering
    /// handshakes by `server`'s policy, transport settings and connection limit.
    pub fn new(listener: std::net::TcpListener, server: Server) -> io::Result<Reactor> {
        listener.set_nonblocking(true)?;
        // Replies go out at once, without Nagle's delay. Linux copies TCP_NODELAY from the
        // listener to every socket it accepts (`tcp_create_openreq_child` clones the
        // socket), which saves a `setsockopt` per connection; elsewhere each accepted
        // socket gets it.
        let nodelay_inherited = cfg!(any(target_os = "linux", target_os = "android"))
            && socket2::SockRef::from(&listener)
                .set_tcp_nodelay(true)
                .is_ok();
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let sweep = Sweep::for_config(server.transport());
        Ok(Reactor {
            poll,
            listener,
            server,
            conns: Slab::new(),
            read_buf: vec![0; READ_BUFFER].into_boxed_slice(),
            clock: Clock::new(),
            sweep,
            shared: Arc::new(Shared::new(waker)),
            next_generation: 0,
            commands: Vec::new(),
            accept_pending: false,
            accept_retry_at: None,
            expired: Vec::new(),
            nodelay_inherited,
        })
    }

    /// The address the reactor accepts on.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops [`Reactor::run`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            shared: self.shared.clone(),
        }
    }

    /// A handle that sends messages to this reactor's connections, from any thread or
    /// from a [`Handler`] (to reach connections other than the one at hand).
    pub fn sender(&self) -> Sender {
        Sender::new(self.shared.clone())
    }

    /// Connections held (handshaking, open, or being refused).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Runs the loop until [`StopHandle::stop`]. Errors of single connections go to
    /// [`Handler::on_close`]; this returns only the loop's own failures (`epoll_wait`).
    pub fn run<H: Handler>(&mut self, handler: &mut H) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut now = self.clock.now();
        let mut next_sweep = now.wrapping_add(self.sweep.every_ms);
        self.shared.enter_loop();
        while !self.shared.stop.load(Ordering::Acquire) {
            // `now` is from just after the last wait: one clock read per turn (the turn's
            // own work only makes the next sweep that much later).
            let mut wait = if due(now, next_sweep) {
                0
            } else {
                next_sweep.wrapping_sub(now)
            };
            // More to accept, or messages a handler sent after this turn's delivery (from
            // a sweep, or from a delivery's own callbacks): no sleeping on them.
            if self.accept_pending || self.shared.has_pending() {
                wait = 0;
            }
            if let Some(at) = self.accept_retry_at {
                wait = wait.min(if due(now, at) {
                    0
                } else {
                    at.wrapping_sub(now)
                });
            }
            match self
                .poll
                .poll(&mut events, Some(Duration::from_millis(u64::from(wait))))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            now = self.clock.now();
            let mut accept = std::mem::take(&mut self.accept_pending);
            for event in events.iter() {
                match event.token() {
                    LISTENER => accept = true,
                    WAKER => {}
                    Token(id) => {
                        // The peer's FIN may come in the same event as its last bytes: then
                        // the socket is read to its end, not just until a short read.
                        let read_closed = event.is_read_closed();
                        let readable = event.is_readable() || read_closed || event.is_error();
                        self.drive(id, readable, read_closed, now, handler);
                    }
                }
            }
            if let Some(at) = self.accept_retry_at {
                if due(now, at) {
                    self.accept_retry_at = None;
                    accept = true;
                }
            }
            if accept {
                self.accept(now);
            }
            // After the events: what handlers sent during them goes out in this turn.
            if self.shared.take_commands(&mut self.commands) {
                self.apply_commands(now, handler);
            }
            if due(now, next_sweep) {
                self.sweep(now, handler);
                next_sweep = now.wrapping_add(self.sweep.every_ms);
            }
        }
        // Dropping the entries closes their sockets.
        let stopped = Error::Io(io::Error::other("reactor stopped"));
        let ids: Vec<usize> = self.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            let entry = self.conns.remove(id);
            if entry.is_open() {
                handler.on_close(conn_id(id, &entry), Err(&stopped));
            }
        }
        self.shared.leave_loop();
        Ok(())
    }

    fn accept(&mut self, now: u32) {
        for _ in 0..ACCEPTS_PER_TURN {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE and friends: try again a little later instead of spinning.
                    tracing::warn!("accept: {e}");
                    self.accept_retry_at = Some(now.wrapping_add(ACCEPT_RETRY.as_millis() as u32));
                    return;
                }
            };
            if !self.nodelay_inherited {
                let _ = stream.set_nodelay(true);
            }
            let vacant = self.conns.vacant_entry();
            let id = vacant.key();
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                tracing::warn!("register: {e}");
                continue;
            }
            let generation = self.next_generation;
            self.next_generation = generation.wrapping_add(1);
            let entry = match self.server.try_slot() {
                Ok(slot) => Entry::opening(stream, peer, slot, &self.server, now, generation),
                Err(()) => Entry::refusing(stream, now, generation),
            };
            vacant.insert(entry);
            // Edge-triggered: the registration reports the request if it is already
            // there, so nothing is read here.
        }
        // More may be waiting: come back after the other events.
        self.accept_pending = true;
    }

    /// Runs one connection after a readiness event (or a sweep that queued output).
    /// Writable events need no flag: every step writes whatever is pending.
    fn drive<H: Handler>(
        &mut self,
        id: usize,
        readable: bool,
        read_closed: bool,
        now: u32,
        handler: &mut H,
    ) {
        let Some(entry) = self.conns.get_mut(id) else {
            return; // an event for a connection closed earlier in this turn
        };
        let step = entry.drive(
            conn_id(id, entry),
            &mut self.read_buf,
            &self.server,
            readable,
            read_closed,
            now,
            handler,
        );
        self.finish(id, step, handler);
    }

    #[inline]
    fn finish<H: Handler>(&mut self, id: usize, step: Step, handler: &mut H) {
        match step {
            Step::Continue => {}
            Step::Close(outcome) => {
                let entry = self.conns.remove(id);
                if entry.is_open() {
                    let outcome = outcome.as_ref().map(|_| ()).map_err(|e| &**e);
                    handler.on_close(conn_id(id, &entry), outcome);
                } else if let Err(e) = &outcome {
                    tracing::debug!("connection ended during its opening: {e}");
                }
                entry.close();
            }
        }
    }

    /// Visits every connection for its deadlines.
    fn sweep<H: Handler>(&mut self, now: u32, handler: &mut H) {
        let config = self.server.transport();
        let mut expired = std::mem::take(&mut self.expired);
        for (id, entry) in self.conns.iter_mut() {
            if let Some(step) = entry.check_deadlines(config, now) {
                expired.push((id, step));
            }
        }
        for (id, step) in expired.drain(..) {
            match step {
                // A deadline queued output (an idle close, a keepalive ping): write it.
                Step::Continue => self.drive(id, false, false, now, handler),
                close => self.finish(id, close, handler),
            }
        }
        self.expired = expired;
    }
}

impl Reactor {
    /// Delivers what [`Sender`]s queued: each message is queued on its connection (if it
    /// is still open and has room) and written at once.
    fn apply_commands<H: Handler>(&mut self, now: u32, handler: &mut H) {
        let max_write_buffer = self.server.transport().max_write_buffer;
        let mut commands = std::mem::take(&mut self.commands);
        for command in commands.drain(..) {
            let targets: Vec<usize> = match &command {
                Command::Send(id, _) | Command::Close(id, _) => {
                    match self.conns.get(id.index as usize) {
                        Some(entry) if entry.generation() == id.generation => {
                            vec![id.index as usize]
                        }
                        // Closed meanwhile: nothing to deliver to.
                        _ => Vec::new(),
                    }
                }
                Command::Broadcast(_) => self
                    .conns
                    .iter()
                    .filter(|(_, e)| e.is_open())
                    .map(|(i, _)| i)
                    .collect(),
            };
            for index in targets {
                let entry = &mut self.conns[index];
                let id = conn_id(index, entry);
                match entry.deliver(&command, max_write_buffer) {
                    Delivery::Queued => self.drive(index, false, false, now, handler),
                    Delivery::Dropped => handler.on_send_dropped(id),
                    Delivery::Refused => {}
                }
            }
        }
        self.commands = commands;
    }
}

/// What became of a [`Sender`]'s message for one connection.
pub(crate) enum Delivery {
    /// Queued for writing.
    Queued,
    /// The connection holds `max_write_buffer` unsent bytes already (a slow reader).
    Dropped,
    /// Not open (still in its handshake, or closing), or the variant cannot carry it.
    Refused,
}

fn conn_id(index: usize, entry: &Entry) -> ConnId {
    ConnId {
        index: index as u32,
        generation: entry.generation(),
    }
}

/// Milliseconds since the reactor started, wrapping after 49 days (deadlines compare by
/// wrapping differences and are far shorter).
struct Clock {
    start: Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    fn now(&self) -> u32 {
        self.start.elapsed().as_millis() as u32
    }
}

/// How often deadlines are checked: a quarter of the shortest one, between 5 ms and 1 s.
/// A deadline therefore fires between 1 and 1.25 times its duration (at most 1 s late).
struct Sweep {
    every_ms: u32,
}

impl Sweep {
    fn for_config(config: &WebSocketConfig) -> Sweep {
        let shortest = [
            Some(config.handshake_timeout),
            config.idle_timeout,
            Some(config.close_timeout),
            config.ping_interval,
            config.ping_interval.map(|_| config.ping_timeout),
            Some(crate::server::BUSY_LINGER),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Duration::from_secs(1));
        let every = (shortest / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        Sweep {
            every_ms: every.as_millis() as u32,
        }
    }
}

/// Milliseconds in `d`, saturating (deadlines are compared as `u32` wrapping differences).
fn millis(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX / 4)) as u32
}

/// True once `duration` ms have passed since `since`.
fn passed(now: u32, since: u32, duration: u32) -> bool {
    now.wrapping_sub(since) >= duration
}

/// True once the time `at` has come.
fn due(now: u32, at: u32) -> bool {
    now.wrapping_sub(at) < u32::MAX / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepted sockets get TCP_NODELAY from the listener the reactor was given, even one
    /// the caller bound without it (Linux copies it at accept).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn accepted_sockets_have_tcp_nodelay() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server::new(crate::ServerConfig::default());
        let _reactor = Reactor::new(listener.try_clone().unwrap(), server).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // The reactor made the listener non-blocking; the connection is queued already.
        let accepted = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        assert!(socket2::SockRef::from(&accepted).tcp_nodelay().unwrap());
    }

    /// Deadlines compare wrapping millisecond stamps: right across the wrap of `u32`.
    #[test]
    fn deadlines_hold_across_the_clock_wrap() {
        let since = u32::MAX - 10;
        assert!(!passed(since.wrapping_add(99), since, 100));
        assert!(passed(since.wrapping_add(100), since, 100));
        assert!(due(5, u32::MAX - 5));
        assert!(!due(u32::MAX - 5, 5));
    }

    /// The sweep runs four times per shortest deadline, between 5 ms and 1 s.
    #[test]
    fn sweep_interval_follows_the_shortest_deadline() {
        let mut config = WebSocketConfig::default();
        // Defaults: the shortest is the 503 linger (500 ms).
        assert_eq!(Sweep::for_config(&config).every_ms, 125);
        config.handshake_timeout = Duration::from_millis(200);
        assert_eq!(Sweep::for_config(&config).every_ms, 50);
        config.close_timeout = Duration::from_millis(1);
        assert_eq!(Sweep::for_config(&config).every_ms, 5);
    }
}
