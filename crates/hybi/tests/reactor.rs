//! The reactor engine (`hybi::reactor`) over real loopback sockets: it must behave as the
//! tokio engine (`Server::accept` + `WebSocket`, tested in limits.rs, transport.rs and
//! proposals_roundtrip.rs) does. Every test runs its own reactor on a std thread, on its
//! own 127.0.0.1:0 listener, with a `Handler` that records every callback; clients are
//! hybi's own (tokio) or raw sockets. At the end of each test the reactor is stopped with
//! its `StopHandle` and the record is checked: every opened connection got exactly one
//! `on_close`. Every wait is bounded, so no test can hang.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hybi::proto::{Connection, DataRef};
use hybi::reactor::{ConnId, Handler, Opened, Reactor, Sender, StopHandle};
use hybi::{
    CloseCode, CloseFrame, Error, Limits, Message, Server, ServerConfig, Variant, WebSocketConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

mod common;
use common::{
    close_and_drain, connect_greeted, expect_101, handshake, large_echoes_to_a_slow_reader,
    masked_frame, next_data, options, round_trip, HIXIE76_REQUEST_WITHOUT_KEY3, REQUEST,
};

/// Bounds a whole test (a guard against hangs, not a speed requirement).
const LIMIT: Duration = Duration::from_secs(20);
/// Bounds one wait for something the reactor should do.
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// What the handler saw
// ---------------------------------------------------------------------------------------

/// How a connection ended, as `on_close` reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// A protocol error, by the close code it maps to (RFC 6455 §7.4.1).
    Protocol(u16),
    Timeout(&'static str),
    Io(String),
    Other(String),
}

impl Outcome {
    fn of(outcome: Result<(), &Error>) -> Outcome {
        match outcome {
            Ok(()) => Outcome::Ok,
            Err(Error::Protocol(e)) => Outcome::Protocol(e.close_code().0),
            Err(Error::Timeout(what)) => Outcome::Timeout(what),
            Err(Error::Io(e)) => Outcome::Io(e.to_string()),
            Err(other) => Outcome::Other(other.to_string()),
        }
    }
}

#[derive(Clone, Debug)]
enum Ev {
    Open {
        id: ConnId,
        variant: Variant,
        path: String,
        subprotocol: Option<String>,
        peer: SocketAddr,
    },
    Message {
        id: ConnId,
    },
    Close {
        id: ConnId,
        outcome: Outcome,
    },
    Http {
        method: String,
        path: String,
    },
    /// The handler is about to block the loop (see [`Gate`]).
    Blocked {
        id: ConnId,
    },
    /// A `Sender`'s message for `id` was dropped (slow reader).
    SendDropped {
        id: ConnId,
    },
}

#[derive(Debug, Default)]
struct Log {
    events: Vec<Ev>,
    /// The largest output queue seen after queuing an echo.
    high_water: usize,
}

impl Log {
    fn opens(&self) -> Vec<(ConnId, Variant, String, Option<String>, SocketAddr)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Open {
                    id,
                    variant,
                    path,
                    subprotocol,
                    peer,
                } => Some((*id, *variant, path.clone(), subprotocol.clone(), *peer)),
                _ => None,
            })
            .collect()
    }

    fn closes(&self) -> Vec<(ConnId, Outcome)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Close { id, outcome } => Some((*id, outcome.clone())),
                _ => None,
            })
            .collect()
    }

    fn messages(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Ev::Message { .. }))
            .count()
    }

    /// Whether a handler has blocked its loop at the gate.
    fn blocked(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Ev::Blocked { .. }))
    }

    fn http(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Http { method, path } => Some((method.clone(), path.clone())),
                _ => None,
            })
            .collect()
    }

    /// `Handler::on_close` is "called once for every connection that was opened" (and
    /// only for those): walking the record in order, every close matches one earlier open
    /// of the same id, and every open is closed once. Ids are never reused.
    fn check_open_close_pairing(&self) {
        let mut open = HashSet::new();
        let mut opened = HashSet::new();
        for e in &self.events {
            match e {
                Ev::Open { id, .. } => {
                    assert!(
                        opened.insert(*id) && open.insert(*id),
                        "{id:?} opened twice: {:#?}",
                        self.events
                    )
                }
                Ev::Close { id, .. } => assert!(
                    open.remove(id),
                    "on_close for {id:?}, which is not open: {:#?}",
                    self.events
                ),
                Ev::Message { id } | Ev::Blocked { id } | Ev::SendDropped { id } => assert!(
                    open.contains(id),
                    "a message on {id:?}, which is not open: {:#?}",
                    self.events
                ),
                Ev::Http { .. } => {}
            }
        }
        assert!(
            open.is_empty(),
            "opened but never closed: {open:?}: {:#?}",
            self.events
        );
    }
}

/// Lets a test block a reactor's loop from inside its handler, and release it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let guard = self.open.lock().unwrap();
        // Bounded: a failing test must not leave a reactor blocked forever.
        let _ = self
            .cv
            .wait_timeout_while(guard, WAIT, |open| !*open)
            .unwrap();
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

/// An echo handler that records every callback.
#[derive(Clone, Default)]
struct Recorder {
    log: Arc<Mutex<Log>>,
    /// Send "<variant> <path>" from `on_open` (tells the client what the server saw).
    greet: bool,
    /// What `on_http` answers (`None`: the default 400).
    page: Option<Vec<u8>>,
    /// A text message "block" blocks the loop at this gate until it is released.
    gate: Option<Arc<Gate>>,
    /// A text message "bye" makes the handler start the closing handshake.
    close_on_bye: bool,
    /// A chat room: every text message goes to every open connection through the
    /// reactor's `Sender` (set by `start_on`) instead of being echoed.
    chat: bool,
    sender: Option<Sender>,
}

impl Recorder {
    /// A recorder whose handler blocks its loop on a text message "block" until `gate`
    /// is released.
    fn gated(gate: &Arc<Gate>) -> Recorder {
        Recorder {
            gate: Some(gate.clone()),
            ..Recorder::default()
        }
    }

    fn push(&self, e: Ev) {
        self.log.lock().unwrap().events.push(e);
    }
}

impl Handler for Recorder {
    fn on_open(&mut self, id: ConnId, conn: &mut Connection, info: &Opened<'_>) {
        self.push(Ev::Open {
            id,
            variant: info.variant,
            path: info.path.to_owned(),
            subprotocol: info.subprotocol.map(str::to_owned),
            peer: info.peer,
        });
        if self.greet {
            conn.send_text(&format!("{} {}", info.variant, info.path))
                .unwrap();
        }
    }

    fn on_message(&mut self, id: ConnId, conn: &mut Connection, msg: DataRef<'_>) {
        self.push(Ev::Message { id });
        if let (DataRef::Text("block"), Some(gate)) = (msg, &self.gate) {
            self.push(Ev::Blocked { id });
            gate.wait();
        }
        if self.close_on_bye && msg == DataRef::Text("bye") {
            conn.send_close(CloseFrame::new(CloseCode::NORMAL, "handler says bye"))
                .unwrap();
            return;
        }
        if let (true, Some(sender), DataRef::Text(t)) = (self.chat, &self.sender, msg) {
            sender.broadcast(Message::Text(t.to_owned())).unwrap();
            return;
        }
        let _ = match msg {
            DataRef::Text(t) => conn.send_text(t),
            DataRef::Binary(b) => conn.send_binary(b),
        };
        let queued = conn.pending_output().len();
        let mut log = self.log.lock().unwrap();
        log.high_water = log.high_water.max(queued);
    }

    fn on_close(&mut self, id: ConnId, outcome: Result<(), &Error>) {
        self.push(Ev::Close {
            id,
            outcome: Outcome::of(outcome),
        });
    }

    fn on_send_dropped(&mut self, id: ConnId) {
        self.push(Ev::SendDropped { id });
    }

    fn on_http(&mut self, request: &hybi::proto::http::Request) -> Option<Vec<u8>> {
        self.push(Ev::Http {
            method: request.method.clone(),
            path: request.path().to_owned(),
        });
        self.page.clone()
    }
}

// ---------------------------------------------------------------------------------------
// A reactor on a thread
// ---------------------------------------------------------------------------------------

struct Running {
    addr: SocketAddr,
    stop: StopHandle,
    sender: Sender,
    log: Arc<Mutex<Log>>,
    /// `run`'s result and `Reactor::connections()` after it returned.
    thread: Option<JoinHandle<(io::Result<()>, usize)>>,
}

fn start(server: Server, handler: Recorder) -> Running {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    start_on(listener, server, handler)
}

fn start_on(listener: std::net::TcpListener, server: Server, mut handler: Recorder) -> Running {
    let log = handler.log.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = Reactor::new(listener, server).expect("Reactor::new");
        handler.sender = Some(reactor.sender());
        tx.send((
            reactor.local_addr().unwrap(),
            reactor.stop_handle(),
            reactor.sender(),
        ))
        .unwrap();
        let result = reactor.run(&mut handler);
        (result, reactor.connections())
    });
    let (addr, stop, sender) = rx.recv().expect("the reactor thread did not start");
    Running {
        addr,
        stop,
        sender,
        log,
        thread: Some(thread),
    }
}

impl Running {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    /// Polls the record until `f` finds what it looks for.
    async fn wait_for<T>(&self, what: &str, f: impl Fn(&Log) -> Option<T>) -> T {
        poll_for(
            what,
            || f(&self.log()),
            || format!("{:#?}", self.log().events),
        )
        .await
    }

    /// Waits for the `on_close` of the `n`th connection opened (0-based). Ids are reused
    /// once closed, so the close is found by position: the first for its id after the open.
    async fn close_of(&self, n: usize) -> Outcome {
        self.wait_for(&format!("on_close of connection #{n}"), |log| {
            let (at, id) = log
                .events
                .iter()
                .enumerate()
                .filter_map(|(i, e)| match e {
                    Ev::Open { id, .. } => Some((i, *id)),
                    _ => None,
                })
                .nth(n)?;
            log.events[at + 1..].iter().find_map(|e| match e {
                Ev::Close { id: c, outcome } if *c == id => Some(outcome.clone()),
                _ => None,
            })
        })
        .await
    }

    /// Waits for the `n`th `on_open` (0-based) and returns its id.
    async fn opened(&self, n: usize) -> ConnId {
        self.wait_for(&format!("on_open #{n}"), |log| {
            log.opens().get(n).map(|o| o.0)
        })
        .await
    }

    /// Stops the reactor, waits (bounded) for `run` to return, and checks that it
    /// returned `Ok`, dropped every connection, and paired every open with one close.
    fn finish(mut self) -> Log {
        let (result, held) = self.stop_and_join();
        result.expect("Reactor::run failed");
        assert_eq!(held, 0, "connections still held after run returned");
        let log = std::mem::take(&mut *self.log.lock().unwrap());
        log.check_open_close_pairing();
        log
    }

    fn stop_and_join(&mut self) -> (io::Result<()>, usize) {
        self.stop.stop().expect("StopHandle::stop");
        let thread = self.thread.take().expect("stopped twice");
        let deadline = Instant::now() + WAIT;
        while !thread.is_finished() {
            assert!(
                Instant::now() < deadline,
                "Reactor::run did not return after stop()"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.join().expect("the reactor thread panicked")
    }
}

/// Polls `f` every 5 ms until it finds what it looks for; fails after [`WAIT`], saying
/// `what` it waited for and what `context` shows.
async fn poll_for<T>(
    what: &str,
    mut f: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed half-way still stops its reactor.
        if let Some(thread) = self.thread.take() {
            let _ = self.stop.stop();
            let _ = thread.join();
        }
    }
}

/// Short deadlines for tests; no idle timeout, no keepalive.
fn transport() -> WebSocketConfig {
    WebSocketConfig {
        handshake_timeout: Duration::from_secs(2),
        close_timeout: Duration::from_secs(1),
        ..WebSocketConfig::default()
    }
}

/// A server with `config`'s limits applied to connections too (as `Server::new` does;
/// `with_transport` takes the connection limits from the transport settings).
fn server(config: ServerConfig, ws: WebSocketConfig) -> Server {
    let ws = WebSocketConfig {
        limits: config.limits.clone(),
        ..ws
    };
    Server::with_transport(config, ws)
}

/// A reactor with the default server settings and `ws`'s deadlines; its handler echoes
/// and records, nothing more.
fn start_with(ws: WebSocketConfig) -> Running {
    start(server(ServerConfig::default(), ws), Recorder::default())
}

/// A reactor with the default server settings whose handler blocks its loop on a text
/// message "block" until the gate returned is released.
fn start_gated() -> (Running, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let run = start(
        server(ServerConfig::default(), transport()),
        Recorder::gated(&gate),
    );
    (run, gate)
}

/// Runs the client side of a test, bounded by [`LIMIT`].
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    timeout(LIMIT, test).await.expect("timed out")
}

// ---------------------------------------------------------------------------------------
// Raw clients
// ---------------------------------------------------------------------------------------

/// The RFC 6455 §5.3 masking key of the §5.7 examples.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame; `b0` is FIN | RSV | opcode.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    masked_frame(b0, MASK, payload)
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// Connects and writes `wire` (a request, perhaps followed by frames).
async fn send_raw(addr: SocketAddr, wire: &[u8]) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(wire).await.unwrap();
    tcp
}

/// Connects, writes `request` and reads the answer until the server closes.
async fn answer_to(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    read_until_closed(&mut send_raw(addr, request).await).await
}

fn assert_starts_with(got: &[u8], prefix: &[u8]) {
    assert!(
        got.starts_with(prefix),
        "{:?}",
        String::from_utf8_lossy(got)
    );
}

/// Sends a close frame with `code` and `reason`.
async fn send_close(tcp: &mut TcpStream, code: u16, reason: &str) {
    tcp.write_all(&frame(0x88, &close_payload(code, reason)))
        .await
        .unwrap();
}

/// Sends a close 1000 and checks that the next frame from the server is a close frame.
async fn close_1000_and_expect_reply(tcp: &mut TcpStream) {
    send_close(tcp, 1000, "").await;
    assert_eq!(read_frame(tcp).await.0, 0x88);
}

/// Reads one server frame and checks that it is a close frame with `code`; returns the
/// reason.
async fn expect_close(tcp: &mut TcpStream, code: u16) -> Vec<u8> {
    let (b0, payload) = read_frame(tcp).await;
    assert_eq!(b0, 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code);
    payload[2..].to_vec()
}

/// Checks that the server failed connection #`n` with a protocol error: a close frame
/// with `code` (RFC 6455 §7.4.1), then it closes TCP (§7.1.1), and `on_close` has the
/// error.
async fn expect_failed(run: &Running, n: usize, tcp: &mut TcpStream, code: u16) {
    expect_close(tcp, code).await;
    assert!(read_until_closed(tcp).await.is_empty());
    assert_eq!(run.close_of(n).await, Outcome::Protocol(code));
}

/// Reads to a clean end of stream (not a reset), which must come within [`WAIT`]
/// (`what` says what it follows) with nothing before it.
async fn expect_clean_eof(tcp: &mut TcpStream, what: &str) {
    let mut rest = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut rest))
        .await
        .expect(what)
        .expect("a clean close, not a reset");
    assert!(rest.is_empty(), "{rest:?}");
}

/// Answers the server's close frame with one of `code`: the closing handshake is then
/// complete, the server closes TCP (§7.1.1) and reports the first connection closed
/// without error.
async fn answer_close(run: &Running, tcp: &mut TcpStream, code: u16) {
    send_close(tcp, code, "").await;
    expect_clean_eof(tcp, "no EOF after the close reply").await;
    assert_eq!(run.close_of(0).await, Outcome::Ok);
}

/// Reads one server frame (unmasked, RFC 6455 §5.1); returns its first byte and payload.
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let read = async {
        let mut h = [0u8; 2];
        tcp.read_exact(&mut h).await?;
        assert_eq!(h[1] & 0x80, 0, "a server frame must not be masked (§5.1)");
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                tcp.read_exact(&mut l).await?;
                u16::from_be_bytes(l) as usize
            }
            127 => {
                let mut l = [0u8; 8];
                tcp.read_exact(&mut l).await?;
                u64::from_be_bytes(l) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await?;
        Ok::<_, io::Error>((h[0], payload))
    };
    timeout(WAIT, read)
        .await
        .expect("no frame from the server")
        .expect("reading a frame")
}

/// Reads until the server closes the connection (a FIN, or a reset after it dropped
/// the socket); returns what arrived before.
async fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!("read: {e}"),
            }
        }
    };
    timeout(WAIT, read)
        .await
        .expect("the server never closed the connection");
    got
}

/// True when nothing arrives and the connection stays open for `quiet`.
async fn stays_quiet(tcp: &mut TcpStream, quiet: Duration) -> bool {
    let mut b = [0u8; 1];
    timeout(quiet, tcp.read(&mut b)).await.is_err()
}

// ---------------------------------------------------------------------------------------
// 1. Echo on every variant
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn echoes_text_and_binary_on_every_variant() {
    let config = ServerConfig {
        variants: Variant::ALL.to_vec(),
        ..ServerConfig::default()
    };
    let run = start(
        Server::new(config),
        Recorder {
            greet: true,
            ..Recorder::default()
        },
    );
    let addr = run.addr;
    bounded(async {
        for (n, variant) in Variant::ALL.into_iter().enumerate() {
            // Hixie-75/76 frame text only, with sentinels: no binary, no fragments.
            let sentinel = matches!(variant, Variant::Hixie75 | Variant::Hixie76);
            // Queued in on_open: the server detected the variant and saw the real path.
            let mut ws = connect_greeted(addr, variant, &format!("/echo/{variant}")).await;

            // Small unfragmented messages arrive whole in one read: the lent path.
            round_trip(&mut ws, Message::Text("héllo, wörld".into()), variant).await;
            if !sentinel {
                round_trip(&mut ws, Message::Binary(vec![0, 1, 2, 0xff]), variant).await;
            }

            // A burst written at once: every reply to one read, in order.
            for i in 0..20 {
                ws.queue(Message::Text(format!("burst {i}"))).unwrap();
            }
            ws.flush().await.unwrap();
            for i in 0..20 {
                assert_eq!(
                    next_data(&mut ws).await,
                    Message::Text(format!("burst {i}")),
                    "{variant}"
                );
            }

            if !sentinel {
                // Fragmented: the event path. 7-byte fragments split the two-byte
                // characters across frames (streaming UTF-8 validation).
                let text = "κόσμε ".repeat(200);
                ws.queue_fragmented(true, text.as_bytes(), 7).unwrap();
                ws.flush().await.unwrap();
                assert_eq!(next_data(&mut ws).await, Message::Text(text), "{variant}");
                let data: Vec<u8> = (0..3000u32).map(|i| (i % 253) as u8).collect();
                ws.queue_fragmented(false, &data, 1000).unwrap();
                ws.flush().await.unwrap();
                assert_eq!(next_data(&mut ws).await, Message::Binary(data), "{variant}");
            }

            // 1 MiB: spans many reads of the reactor's 256 KiB buffer, and its echo
            // cannot be written at once.
            let big = if sentinel {
                Message::Text("wörld ".repeat((1 << 20) / 7 + 1))
            } else {
                Message::Binary((0..1usize << 20).map(|i| (i * 31 + 7) as u8).collect())
            };
            ws.send(big.clone()).await.unwrap();
            assert!(
                next_data(&mut ws).await == big,
                "{variant}: 1 MiB echo differs"
            );

            let closed = close_and_drain(&mut ws).await;
            match variant {
                // Sentinel framing: Hixie-76's close frame has no body, Hixie-75 none.
                Variant::Hixie75 | Variant::Hixie76 => {}
                // Close frames before HyBi-06 carry no status code (1005, "no status").
                Variant::Hybi03 | Variant::Hybi04 | Variant::Hybi05 => {
                    assert_eq!(
                        closed.map(|f| f.code),
                        Some(CloseCode::NO_STATUS),
                        "{variant}"
                    )
                }
                // RFC 6455 §5.5.1: the close reply echoes the status code.
                _ => assert_eq!(closed.map(|f| f.code), Some(CloseCode::NORMAL), "{variant}"),
            }
            assert_eq!(run.close_of(n).await, Outcome::Ok, "{variant}");
        }
    })
    .await;
    let log = run.finish();
    let opens = log.opens();
    assert_eq!(opens.len(), Variant::ALL.len());
    for (open, variant) in opens.iter().zip(Variant::ALL) {
        assert_eq!(open.1, variant);
        assert_eq!(open.2, format!("/echo/{variant}"));
    }
    assert!(
        log.closes().iter().all(|(_, o)| *o == Outcome::Ok),
        "{:?}",
        log.closes()
    );
}

// ---------------------------------------------------------------------------------------
// 2. on_open's facts, on_close once
// ---------------------------------------------------------------------------------------

/// Connects from a socket of our own to `path`, offering `subprotocols`; returns the
/// client and its local address (the server's peer).
async fn connect_from(
    addr: SocketAddr,
    variant: Variant,
    path: &str,
    subprotocols: &[&str],
) -> (hybi::WebSocket<TcpStream>, SocketAddr) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let peer = tcp.local_addr().unwrap();
    let mut opts = options(addr, variant, path);
    opts.subprotocols = subprotocols.iter().map(|&s| s.into()).collect();
    let ws = hybi::handshake_client(tcp, &opts, WebSocketConfig::default())
        .await
        .unwrap();
    (ws, peer)
}

#[tokio::test]
async fn on_open_reports_path_variant_subprotocol_and_peer_and_on_close_runs_once() {
    let config = ServerConfig {
        subprotocols: vec!["chat.v2".into(), "chat.v1".into()],
        ..ServerConfig::default()
    };
    let run = start(server(config, transport()), Recorder::default());
    bounded(async {
        // RFC 6455, with a query and subprotocols offered (one unknown to the server).
        let (mut ws1, peer1) = connect_from(
            run.addr,
            Variant::Rfc6455,
            "/room/42?user=7",
            &["x-unknown", "chat.v1"],
        )
        .await;
        assert_eq!(ws1.subprotocol(), Some("chat.v1"));

        // HyBi-07, no subprotocol offered.
        let (mut ws2, peer2) = connect_from(run.addr, Variant::Hybi07, "/", &[]).await;
        assert_eq!(ws2.subprotocol(), None);

        run.opened(1).await;
        let opens = run.log().opens();
        let (id1, variant, path, sub, peer) = opens[0].clone();
        assert_eq!(variant, Variant::Rfc6455);
        assert_eq!(path, "/room/42?user=7");
        assert_eq!(sub.as_deref(), Some("chat.v1"));
        assert_eq!(peer, peer1);
        let (id2, variant, path, sub, peer) = opens[1].clone();
        assert_ne!(id1, id2);
        assert_eq!(variant, Variant::Hybi07);
        assert_eq!(path, "/");
        assert_eq!(sub, None);
        assert_eq!(peer, peer2);

        for (n, ws) in [&mut ws1, &mut ws2].into_iter().enumerate() {
            round_trip(ws, Message::Text("ping?".into()), n).await;
            let closed = close_and_drain(ws).await;
            assert_eq!(closed.map(|f| f.code), Some(CloseCode::NORMAL));
            assert_eq!(run.close_of(n).await, Outcome::Ok);
        }
        // Nothing more comes for them (a second on_close would show in the pairing
        // check below, which runs after stop() closed whatever was still held).
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    let log = run.finish();
    assert_eq!(log.closes().len(), 2, "{:?}", log.closes());
}

// ---------------------------------------------------------------------------------------
// 3. Protocol errors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_utf8_text_gets_close_1007() {
    let run = start_with(transport());
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        // "κ" then bytes that are never UTF-8.
        tcp.write_all(&frame(0x81, &[0xce, 0xba, 0xff, 0xfe]))
            .await
            .unwrap();
        // RFC 6455 §8.1 / §7.4.1: invalid UTF-8 in a text message fails the connection
        // with 1007; the server then closes TCP (§7.1.1).
        expect_failed(&run, 0, &mut tcp, 1007).await;
        assert_eq!(run.log().messages(), 0, "the bad message was delivered");
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn oversized_message_gets_close_1009() {
    let config = ServerConfig {
        limits: Limits {
            max_message_size: 1000,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let run = start(server(config, transport()), Recorder::default());
    bounded(async {
        // At the limit: echoed.
        let mut tcp = handshake(run.addr).await;
        tcp.write_all(&frame(0x82, &[9; 1000])).await.unwrap();
        let (b0, payload) = read_frame(&mut tcp).await;
        assert_eq!((b0, payload.len()), (0x82, 1000));
        drop(tcp);

        // One byte over, in one frame, then in two fragments: RFC 6455 §7.4.1, 1009
        // "a message that is too big for it to process".
        let one_frame = frame(0x82, &[9; 1001]);
        let mut fragments = frame(0x02, &[9; 600]);
        fragments.extend(frame(0x80, &[9; 401]));
        for (n, wire) in [(1, one_frame), (2, fragments)] {
            let mut tcp = handshake(run.addr).await;
            tcp.write_all(&wire).await.unwrap();
            expect_failed(&run, n, &mut tcp, 1009).await;
        }
    })
    .await;
    let log = run.finish();
    assert_eq!(
        log.messages(),
        1,
        "only the message at the limit was delivered"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Backpressure
// ---------------------------------------------------------------------------------------

/// The server's output limit in the flood tests.
const WRITE_LIMIT: usize = 256 * 1024;

/// A bounded output queue, and an idle timeout to end a stalled connection.
fn never_reads() -> WebSocketConfig {
    WebSocketConfig {
        max_write_buffer: WRITE_LIMIT,
        idle_timeout: Some(Duration::from_millis(500)),
        // Longer than the idle timeout: should the idle close (1001) be queued first,
        // the write stall still decides before the closing handshake gives up.
        close_timeout: Duration::from_secs(3),
        ..transport()
    }
}

/// Writes `wire` over and over, never reading, until a write blocks for 300 ms (the
/// server stopped reading), fails, or `cap` bytes went out; returns the bytes written.
async fn flood(tcp: &mut TcpStream, wire: &[u8], cap: usize) -> usize {
    let mut sent = 0;
    while sent < cap {
        match timeout(Duration::from_millis(300), tcp.write_all(wire)).await {
            Ok(Ok(())) => sent += wire.len(),
            _ => break,
        }
    }
    sent
}

/// Floods a new connection with `wire` (`what`), never reading, and checks that the
/// server stopped reading before `cap` bytes and then dropped the connection as a peer
/// that does not read.
async fn flood_until_dropped(run: &Running, wire: &[u8], what: &str, cap: usize) {
    let mut tcp = handshake(run.addr).await;
    let sent = flood(&mut tcp, wire, cap).await;
    // The socket stays open (and unread) until the server gives up on it.
    let outcome = run.close_of(0).await;
    eprintln!("sent {sent} bytes of {what}");
    assert!(
        sent < cap,
        "the server kept reading from a peer that never reads"
    );
    assert_eq!(outcome, Outcome::Timeout("peer not reading"));
    drop(tcp);
}

#[tokio::test]
async fn echo_flood_from_a_peer_that_never_reads_is_bounded_and_dropped() {
    let run = start_with(never_reads());
    bounded(async {
        let burst: Vec<u8> = (0..16).flat_map(|_| frame(0x82, &[7; 16 * 1024])).collect();
        flood_until_dropped(&run, &burst, "messages", 64 << 20).await;
        let high = run.log().high_water;
        eprintln!("server output queue high-water {high}");
        // One read (the reactor's 256 KiB buffer) of echoes past the limit, at most.
        assert!(
            high <= WRITE_LIMIT + 256 * 1024 + 4096,
            "output queue grew to {high}"
        );
        assert!(run.log().messages() > 0);
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn ping_flood_from_a_peer_that_never_reads_is_bounded_and_dropped() {
    let run = start_with(never_reads());
    bounded(async {
        // 125-byte pings, each owed a 127-byte pong (RFC 6455 §5.5.2).
        let pings: Vec<u8> = (0..1000).flat_map(|_| frame(0x89, &[b'p'; 125])).collect();
        flood_until_dropped(&run, &pings, "pings", 40 << 20).await;
    })
    .await;
    run.finish();
}

// ---------------------------------------------------------------------------------------
// 5. Connection limit
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn connection_limit_answers_503_and_frees_the_slot() {
    let server = server(ServerConfig::default(), transport()).with_max_connections(1);
    let run = start(server.clone(), Recorder::default());
    let url = format!("ws://{}/", run.addr);
    bounded(async {
        let mut a = hybi::connect(&url, Variant::Rfc6455).await.unwrap();
        assert_eq!(server.connections(), Some(1));

        assert_starts_with(&answer_to(run.addr, REQUEST).await, b"HTTP/1.1 503");

        // The first connection is still served.
        round_trip(&mut a, Message::Text("still here".into()), "the first").await;
        close_and_drain(&mut a).await;
        assert_eq!(run.close_of(0).await, Outcome::Ok);
        poll_for(
            "the slot to be released",
            || (server.connections() == Some(0)).then_some(()),
            String::new,
        )
        .await;

        let mut c = hybi::connect(&url, Variant::Rfc6455)
            .await
            .expect("a new connection after the first closed");
        round_trip(&mut c, Message::Text("third".into()), "the third").await;
        close_and_drain(&mut c).await;
    })
    .await;
    let log = run.finish();
    // The refused connection never opened.
    assert_eq!(log.opens().len(), 2);
}

// ---------------------------------------------------------------------------------------
// 6. Handshake timeout
// ---------------------------------------------------------------------------------------

fn short_handshake() -> WebSocketConfig {
    WebSocketConfig {
        handshake_timeout: Duration::from_millis(300),
        ..transport()
    }
}

/// Connects, then writes `request` (which the server cannot complete); returns what the
/// server sent before it closed the connection, and when the write began.
async fn cut_off(addr: SocketAddr, request: &[u8]) -> (Vec<u8>, Instant) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    tcp.write_all(request).await.unwrap();
    (read_until_closed(&mut tcp).await, started)
}

#[tokio::test]
async fn half_a_request_head_is_cut_off_by_the_handshake_timeout() {
    let run = start_with(short_handshake());
    bounded(async {
        let request = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n";
        let (got, started) = cut_off(run.addr, request).await;
        let took = started.elapsed();
        assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
        // Not before the deadline (the clock rounds to milliseconds).
        assert!(took >= Duration::from_millis(280), "cut off after {took:?}");
    })
    .await;
    let log = run.finish();
    assert!(log.events.is_empty(), "{:?}", log.events);
}

#[tokio::test]
async fn hixie76_without_key3_is_cut_off_by_the_handshake_timeout() {
    let config = ServerConfig {
        variants: vec![Variant::Hixie76],
        subprotocols: vec!["sample".into()],
        ..ServerConfig::default()
    };
    let run = start(server(config, short_handshake()), Recorder::default());
    bounded(async {
        let (got, started) = cut_off(run.addr, HIXIE76_REQUEST_WITHOUT_KEY3).await;
        // The 101 head went out before key3 (as -76 requires), then the deadline.
        assert_starts_with(&got, b"HTTP/1.1 101");
        assert!(got.ends_with(b"\r\n\r\n"), "more than the head: {got:?}");
        assert!(started.elapsed() >= Duration::from_millis(280));
    })
    .await;
    let log = run.finish();
    assert!(log.opens().is_empty(), "{:?}", log.events);
}

// ---------------------------------------------------------------------------------------
// 7. Idle timeout
// ---------------------------------------------------------------------------------------

fn short_idle() -> WebSocketConfig {
    WebSocketConfig {
        idle_timeout: Some(Duration::from_millis(300)),
        close_timeout: Duration::from_millis(300),
        ..transport()
    }
}

/// Reads the idle close: RFC 6455 §7.4.1 1001 "going away", with the reason.
async fn expect_idle_close(tcp: &mut TcpStream) {
    let started = Instant::now();
    assert_eq!(expect_close(tcp, 1001).await, b"idle timeout");
    // Not long before the deadline (measured from after the 101 arrived, so a little
    // after the server's clock started).
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn idle_connection_gets_1001_and_ends_when_the_client_answers() {
    let run = start_with(short_idle());
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        expect_idle_close(&mut tcp).await;
        answer_close(&run, &mut tcp, 1001).await;
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn idle_connection_that_ignores_the_1001_is_dropped_after_the_close_timeout() {
    let run = start_with(short_idle());
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        expect_idle_close(&mut tcp).await;
        let started = Instant::now();
        // Never answered: the close timeout ends it.
        assert!(read_until_closed(&mut tcp).await.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(200));
        // As the tokio engine: a closing handshake that does not finish reports only an
        // earlier error, here none.
        assert_eq!(run.close_of(0).await, Outcome::Ok);
    })
    .await;
    run.finish();
}

// ---------------------------------------------------------------------------------------
// 8. Keepalive
// ---------------------------------------------------------------------------------------

fn keepalive() -> WebSocketConfig {
    WebSocketConfig {
        ping_interval: Some(Duration::from_millis(100)),
        ping_timeout: Duration::from_millis(200),
        ..transport()
    }
}

#[tokio::test]
async fn keepalive_pings_and_drops_a_peer_that_never_answers() {
    let run = start_with(keepalive());
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        let (b0, payload) = read_frame(&mut tcp).await;
        assert_eq!(b0, 0x89, "a ping");
        assert_eq!(payload, b"hybi-keepalive");
        // Never answered: after the ping timeout the connection ends.
        let sent = Instant::now();
        read_until_closed(&mut tcp).await;
        assert!(sent.elapsed() >= Duration::from_millis(150));
        assert_eq!(run.close_of(0).await, Outcome::Timeout("keepalive pong"));
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn keepalive_pongs_keep_a_silent_client_open() {
    let run = start_with(keepalive());
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        // Four ping timeouts long, answering every ping (RFC 6455 §5.5.3: the pong
        // carries the ping's data).
        let until = Instant::now() + Duration::from_millis(800);
        let mut pings = 0;
        while Instant::now() < until {
            let (b0, payload) = read_frame(&mut tcp).await;
            assert_eq!(b0, 0x89, "only pings arrive: {payload:?}");
            pings += 1;
            tcp.write_all(&frame(0x8a, &payload)).await.unwrap();
        }
        assert!(pings >= 2, "{pings} pings");
        assert!(run.log().closes().is_empty());
        send_close(&mut tcp, 1000, "").await;
        loop {
            let (b0, _) = read_frame(&mut tcp).await;
            if b0 == 0x88 {
                break;
            }
        }
        assert_eq!(run.close_of(0).await, Outcome::Ok);
    })
    .await;
    run.finish();
}

// ---------------------------------------------------------------------------------------
// 9. Plain HTTP
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn plain_http_gets_the_handlers_page() {
    let page = hybi::http::response(
        "GET",
        200,
        "OK",
        &[("Content-Type", "text/plain")],
        b"hello from the reactor\n",
    );
    let run = start(
        server(ServerConfig::default(), transport()),
        Recorder {
            page: Some(page.clone()),
            ..Recorder::default()
        },
    );
    bounded(async {
        let request = b"GET /index.html?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let got = answer_to(run.addr, request).await;
        assert_eq!(got, page, "{:?}", String::from_utf8_lossy(&got));
        assert!(got.ends_with(b"hello from the reactor\n"));
    })
    .await;
    let log = run.finish();
    assert_eq!(
        log.http(),
        vec![("GET".to_owned(), "/index.html?x=1".to_owned())]
    );
    assert!(log.opens().is_empty());
}

#[tokio::test]
async fn plain_http_gets_400_when_the_handler_declines() {
    let run = start_with(transport());
    bounded(async {
        let got = answer_to(run.addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        // What the tokio engine's Server::accept answers.
        assert_starts_with(&got, b"HTTP/1.1 400 ");
    })
    .await;
    let log = run.finish();
    assert_eq!(log.http().len(), 1, "on_http was asked first");
    assert!(log.opens().is_empty());
}

// ---------------------------------------------------------------------------------------
// 10. Closing handshake
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn server_closes_tcp_after_the_closing_handshake() {
    let run = start_with(transport());
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        tcp.write_all(&frame(0x81, b"hi")).await.unwrap();
        assert_eq!(read_frame(&mut tcp).await, (0x81, b"hi".to_vec()));
        send_close(&mut tcp, 1000, "done").await;
        // §5.5.1: the reply echoes the status code; §7.1.1: then the server closes the
        // TCP connection first, so the client sees a clean EOF right after it.
        expect_close(&mut tcp, 1000).await;
        expect_clean_eof(&mut tcp, "no EOF after the close reply").await;
        assert_eq!(run.close_of(0).await, Outcome::Ok);
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn handler_started_close_completes_when_the_client_answers() {
    let run = start(
        server(ServerConfig::default(), transport()),
        Recorder {
            close_on_bye: true,
            ..Recorder::default()
        },
    );
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        tcp.write_all(&frame(0x81, b"bye")).await.unwrap();
        assert_eq!(expect_close(&mut tcp, 1000).await, b"handler says bye");
        // The server waits for our reply (§5.5.1) before it closes TCP.
        assert!(stays_quiet(&mut tcp, Duration::from_millis(100)).await);
        answer_close(&run, &mut tcp, 1000).await;
    })
    .await;
    run.finish();
}

fn hixie75_only() -> ServerConfig {
    ServerConfig {
        variants: vec![Variant::Hixie75],
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn hixie75_connection_ends_when_the_client_closes_tcp() {
    let run = start(server(hixie75_only(), transport()), Recorder::default());
    bounded(async {
        let opts = options(run.addr, Variant::Hixie75, "/");
        let mut ws = hybi::connect_with(&opts, WebSocketConfig::default())
            .await
            .unwrap();
        round_trip(&mut ws, Message::Text("seventy-five".into()), "hixie-75").await;
        assert!(run.log().closes().is_empty());
        // Hixie-75 has no close frame: the client's close is its FIN; the server reads
        // the end of stream as a normal close and closes its side too.
        ws.close().await.unwrap();
        let drained = async { while ws.next().await.is_some() {} };
        timeout(WAIT, drained)
            .await
            .expect("the server never closed its side");
        assert_eq!(run.close_of(0).await, Outcome::Ok);
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn hixie75_server_close_is_a_fin_then_waits_for_the_clients() {
    let ws_config = WebSocketConfig {
        idle_timeout: Some(Duration::from_millis(300)),
        close_timeout: Duration::from_secs(2),
        ..transport()
    };
    let run = start(server(hixie75_only(), ws_config), Recorder::default());
    bounded(async {
        let mut tcp = send_raw(
            run.addr,
            b"GET /demo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
Host: example.com\r\nOrigin: http://example.com\r\n\r\n",
        )
        .await;
        expect_101(&mut tcp).await;
        // The idle timeout closes it the Hixie-75 way: no frame, only our FIN.
        expect_clean_eof(&mut tcp, "no FIN after the idle timeout").await;
        // The server still reads: it waits for our end of stream (not its close timeout).
        run.opened(0).await;
        assert!(run.log().closes().is_empty());
        tcp.shutdown().await.unwrap();
        assert_eq!(run.close_of(0).await, Outcome::Ok);
    })
    .await;
    run.finish();
}

// ---------------------------------------------------------------------------------------
// 11. StopHandle
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn stop_returns_ok_and_closes_every_open_connection() {
    let run = start_with(transport());
    let (mut a, mut b, mut half) = bounded(async {
        let a = handshake(run.addr).await;
        let b = handshake(run.addr).await;
        // And one still in its opening handshake: not open, so no on_close for it.
        let half = send_raw(run.addr, b"GET / HTTP/1.1\r\n").await;
        run.opened(1).await;
        (a, b, half)
    })
    .await;
    // `run` returns Ok after stop(), holding nothing, each open paired with one close.
    let log = run.finish();
    let closes = log.closes();
    assert_eq!(closes.len(), 2, "{closes:?}");
    for (_, outcome) in closes {
        assert!(matches!(outcome, Outcome::Io(_)), "{outcome:?}");
    }
    // Every socket was closed.
    bounded(async {
        for tcp in [&mut a, &mut b, &mut half] {
            read_until_closed(tcp).await;
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 12. Reactors on clones of one listener
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn two_reactors_on_clones_of_one_listener_both_serve() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let clone = listener.try_clone().unwrap();
    let gate = Arc::new(Gate::default());
    let server = server(ServerConfig::default(), transport());
    let one = start_on(listener, server.clone(), Recorder::gated(&gate));
    let two = start_on(clone, server, Recorder::gated(&gate));
    assert_eq!(one.addr, two.addr);
    let addr = one.addr;
    let url = format!("ws://{addr}/");
    bounded(async {
        // Which reactor takes a connection is the kernel's choice. To make it certain
        // that both serve one, the first connection's handler blocks its reactor's
        // loop; the second connection can then only complete its handshake on the
        // other reactor.
        let mut first = hybi::connect(&url, Variant::Rfc6455).await.unwrap();
        first.send(Message::Text("block".into())).await.unwrap();
        poll_for(
            "a reactor to get the message",
            || (one.log().blocked() || two.log().blocked()).then_some(()),
            String::new,
        )
        .await;
        let mut second = timeout(
            Duration::from_secs(3),
            hybi::connect(&url, Variant::Rfc6455),
        )
        .await
        .expect("the other reactor did not accept while one was blocked")
        .unwrap();
        round_trip(&mut second, Message::Text("two".into()), "the second").await;
        gate.release();
        assert_eq!(next_data(&mut first).await, Message::Text("block".into()));
        // More connections, to whichever reactor.
        for i in 0..6 {
            let mut ws = hybi::connect(&url, Variant::Rfc6455).await.unwrap();
            round_trip(&mut ws, Message::Text(format!("more {i}")), i).await;
            close_and_drain(&mut ws).await;
        }
        close_and_drain(&mut first).await;
        close_and_drain(&mut second).await;
        poll_for(
            "every connection to close",
            || (one.log().closes().len() + two.log().closes().len() >= 8).then_some(()),
            String::new,
        )
        .await;
    })
    .await;
    let (one, two) = (one.finish(), two.finish());
    let (n1, n2) = (one.opens().len(), two.opens().len());
    assert!(n1 >= 1 && n2 >= 1, "connections per reactor: {n1} and {n2}");
    assert_eq!(n1 + n2, 8);
}

// ---------------------------------------------------------------------------------------
// More of the reactor's own paths
// ---------------------------------------------------------------------------------------

/// The opening request followed by `frames`, for one write.
fn request_and(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = REQUEST.to_vec();
    wire.extend(frames.concat());
    wire
}

#[tokio::test]
async fn messages_sent_with_the_handshake_are_delivered() {
    let run = start_with(transport());
    bounded(async {
        // The request and two frames in one write: the frames are the handshake's
        // leftover, delivered right after on_open.
        let wire = request_and(&[frame(0x81, b"early"), frame(0x82, &[1, 2, 3])]);
        let mut tcp = send_raw(run.addr, &wire).await;
        expect_101(&mut tcp).await;
        assert_eq!(read_frame(&mut tcp).await, (0x81, b"early".to_vec()));
        assert_eq!(read_frame(&mut tcp).await, (0x82, vec![1, 2, 3]));
        close_1000_and_expect_reply(&mut tcp).await;
        assert_eq!(run.close_of(0).await, Outcome::Ok);
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn fragmented_and_whole_messages_in_one_read_keep_their_order() {
    let run = start_with(transport());
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        // One write: a whole message, a fragmented one with a ping between its
        // fragments (§5.4: control frames may be injected), then two whole ones. The
        // fragmented message goes through the event queue, the others could be lent:
        // the echoes must still come in the order sent.
        let wire = [
            frame(0x81, b"one"),
            frame(0x01, b"tw"),
            frame(0x89, b"beat"),
            frame(0x80, b"o"),
            frame(0x82, b"three"),
            frame(0x81, b"four"),
        ]
        .concat();
        tcp.write_all(&wire).await.unwrap();
        let mut data = Vec::new();
        let mut pong = None;
        while data.len() < 4 {
            match read_frame(&mut tcp).await {
                (0x8a, p) => pong = Some(p),
                other => data.push(other),
            }
        }
        assert_eq!(
            data,
            vec![
                (0x81, b"one".to_vec()),
                (0x81, b"two".to_vec()),
                (0x82, b"three".to_vec()),
                (0x81, b"four".to_vec()),
            ]
        );
        // §5.5.3: the pong carries the ping's application data.
        if pong.is_none() {
            let (b0, p) = read_frame(&mut tcp).await;
            assert_eq!(b0, 0x8a);
            pong = Some(p);
        }
        assert_eq!(pong.unwrap(), b"beat");
    })
    .await;
    run.finish();
}

/// Large echoes leave straight from the read buffer (`Connection::receive_data_lending`)
/// and whatever the socket does not take is kept. A client that writes large and small
/// messages without pause while reading slowly (the server's writes come up short, or
/// would block) still gets every echo whole and in order.
#[tokio::test]
async fn large_echoes_to_a_slow_reader_arrive_whole_and_in_order() {
    let run = start_with(transport());
    bounded(async {
        let mut tcp = large_echoes_to_a_slow_reader(handshake(run.addr).await).await;
        close_1000_and_expect_reply(&mut tcp).await;
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn refused_handshakes_are_answered_and_never_opened() {
    let config = ServerConfig {
        origin: hybi::OriginPolicy::AllowList(vec!["http://good.example".into()]),
        ..ServerConfig::default()
    };
    let run = start(server(config, transport()), Recorder::default());
    bounded(async {
        let request = |version: &str, origin: &str| {
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: {version}\r\nOrigin: {origin}\r\n\r\n"
            )
        };
        // RFC 6455 §4.4: an unsupported version gets 426 with the versions spoken;
        // §4.2.2 / §10.2: an origin the server does not accept gets 403.
        let cases = [
            (request("99", "http://good.example"), "HTTP/1.1 426 "),
            (request("13", "http://evil.example"), "HTTP/1.1 403 "),
        ];
        for (request, status) in cases {
            let got = answer_to(run.addr, request.as_bytes()).await;
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with(status), "{text}");
            if status.contains("426") {
                assert!(
                    text.contains("Sec-WebSocket-Version: 13, 8, 7\r\n"),
                    "{text}"
                );
            }
        }
        // The allowed origin is served.
        let mut tcp = send_raw(run.addr, request("13", "http://good.example").as_bytes()).await;
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 101");
    })
    .await;
    let log = run.finish();
    assert_eq!(log.opens().len(), 1, "{:?}", log.events);
}

// ---------------------------------------------------------------------------------------
// End of stream arriving together with the last data
// ---------------------------------------------------------------------------------------

/// Blocks `run`'s loop inside its handler (a "block" message on `blocker`), so that what
/// clients send meanwhile reaches the kernel before the loop sees any of it: data and a
/// FIN sent then come out of `epoll` as one readiness event.
async fn block_loop(run: &Running, blocker: &mut TcpStream) {
    blocker.write_all(&frame(0x81, b"block")).await.unwrap();
    run.wait_for("the loop to block in the handler", |log| {
        log.blocked().then_some(())
    })
    .await;
}

/// Sends our FIN, then gives it time to reach the server's kernel.
async fn send_fin(tcp: &mut TcpStream) {
    tcp.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Releases the loop [`block_loop`] blocked; the blocker's message is then echoed.
async fn unblock_loop(gate: &Gate, blocker: &mut TcpStream) {
    gate.release();
    assert_eq!(read_frame(blocker).await, (0x81, b"block".to_vec()));
}

/// Connects and sends, in one write, the opening request and a text message, then a FIN.
async fn request_message_and_fin(addr: SocketAddr, text: &[u8]) -> TcpStream {
    let mut tcp = send_raw(addr, &request_and(&[frame(0x81, text)])).await;
    send_fin(&mut tcp).await;
    tcp
}

/// Waits for the end of the connection after a FIN sent with the last message. The
/// tokio engine reads until `WouldBlock`, so it sees the end of stream and closes; the
/// reactor must too.
async fn expect_end_after_fin(tcp: &mut TcpStream) {
    let mut rest = Vec::new();
    let mut buf = [0u8; 256];
    let read = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
    };
    assert!(
        timeout(Duration::from_secs(3), read).await.is_ok(),
        "the reactor never noticed the client's end of stream (its FIN arrived with the \
         last data, in one readiness event): the connection is held until the idle \
         timeout, or forever without one; received meanwhile: {rest:?}"
    );
}

/// The half-closed client still gets the echo of its last message `text`, then the
/// connection ends.
async fn expect_echo_then_end(tcp: &mut TcpStream, text: &[u8]) {
    assert_eq!(read_frame(tcp).await, (0x81, text.to_vec()));
    expect_end_after_fin(tcp).await;
}

/// After the half-closed client's connection (#1) ended: waits for its `on_close`, then
/// closes the blocker's (#0).
async fn close_both(run: &Running, blocker: &mut TcpStream) {
    run.close_of(1).await;
    close_1000_and_expect_reply(blocker).await;
    run.close_of(0).await;
}

#[tokio::test]
async fn fin_arriving_with_the_last_message_ends_an_open_connection() {
    let (run, gate) = start_gated();
    bounded(async {
        let mut blocker = handshake(run.addr).await;
        let mut tcp = handshake(run.addr).await;
        run.opened(1).await;
        block_loop(&run, &mut blocker).await;
        // A last message, then our FIN (a Hixie-75 client closes exactly so; any
        // client that sends and exits does).
        tcp.write_all(&frame(0x81, b"last words")).await.unwrap();
        send_fin(&mut tcp).await;
        unblock_loop(&gate, &mut blocker).await;
        // The half-closed client still gets its answer, then the connection ends.
        expect_echo_then_end(&mut tcp, b"last words").await;
        close_both(&run, &mut blocker).await;
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn fin_arriving_with_the_handshake_ends_the_connection() {
    let (run, gate) = start_gated();
    bounded(async {
        let mut blocker = handshake(run.addr).await;
        block_loop(&run, &mut blocker).await;
        // Request, one message and our FIN, all before the reactor accepts.
        let mut tcp = request_message_and_fin(run.addr, b"hello and goodbye").await;
        unblock_loop(&gate, &mut blocker).await;
        expect_101(&mut tcp).await;
        expect_echo_then_end(&mut tcp, b"hello and goodbye").await;
        close_both(&run, &mut blocker).await;
    })
    .await;
    run.finish();
}

/// Control for the two tests above: the tokio engine, given the same bytes (request, a
/// message and the FIN, all waiting before the server reads), answers and then ends the
/// connection. This is the behaviour the reactor should match.
#[tokio::test]
async fn tokio_engine_control_fin_arriving_with_the_handshake_ends_the_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    bounded(async {
        let mut tcp = request_message_and_fin(addr, b"hello and goodbye").await;
        let task = tokio::spawn(async move {
            let (io, _) = listener.accept().await.unwrap();
            let mut ws = server(ServerConfig::default(), transport())
                .accept(io)
                .await
                .unwrap();
            ws.for_each_message(|conn, msg| {
                let _ = match msg {
                    DataRef::Text(t) => conn.send_text(t),
                    DataRef::Binary(b) => conn.send_binary(b),
                };
            })
            .await
        });
        expect_101(&mut tcp).await;
        expect_echo_then_end(&mut tcp, b"hello and goodbye").await;
        timeout(WAIT, task)
            .await
            .expect("the tokio engine's connection did not end")
            .unwrap()
            .unwrap();
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// A half-closed client is still owed its replies
// ---------------------------------------------------------------------------------------

/// A client that sends a large message and half-closes before reading anything still
/// gets the whole echo, then the end of stream: the reply does not fit the socket at
/// once, and the rest goes out on later writable events instead of being dropped with
/// the connection when the client's FIN is read. (`transport.rs` checks the tokio engine
/// the same way.)
#[tokio::test]
async fn a_half_closed_client_still_gets_its_whole_reply() {
    let ws = WebSocketConfig {
        // The whole echo may wait in the queue while the client reads nothing.
        max_write_buffer: 32 << 20,
        ..transport()
    };
    let run = start_with(ws);
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        let payload: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        tcp.write_all(&frame(0x82, &payload)).await.unwrap();
        tcp.shutdown().await.unwrap();
        // Let the server read our FIN while most of the echo is still queued.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (b0, echoed) = read_frame(&mut tcp).await;
        assert_eq!(b0, 0x82);
        assert!(echoed == payload, "echo of {} bytes differs", echoed.len());
        read_until_closed(&mut tcp).await;
        run.close_of(0).await;
    })
    .await;
    run.finish();
}

// ---------------------------------------------------------------------------------------
// Sender: messages from other threads, and to other connections
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_sender_on_another_thread_reaches_one_connection() {
    let run = start_with(transport());
    bounded(async {
        let mut a = handshake(run.addr).await;
        let _ = run.opened(0).await;
        let mut b = handshake(run.addr).await;
        let b_id = run.opened(1).await;
        // From the test's thread: the loop is asleep in epoll_wait and must be woken.
        run.sender
            .send(b_id, Message::Text("to b only".into()))
            .unwrap();
        assert_eq!(read_frame(&mut b).await, (0x81, b"to b only".to_vec()));
        assert!(stays_quiet(&mut a, Duration::from_millis(200)).await);
        run.sender
            .send(b_id, Message::Binary(vec![1, 2, 3]))
            .unwrap();
        assert_eq!(read_frame(&mut b).await, (0x82, vec![1, 2, 3]));
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn a_handler_broadcasts_to_every_open_connection() {
    let run = start(
        server(ServerConfig::default(), transport()),
        Recorder {
            chat: true,
            ..Recorder::default()
        },
    );
    bounded(async {
        let mut clients = Vec::new();
        for n in 0..3 {
            clients.push(handshake(run.addr).await);
            run.opened(n).await;
        }
        // Sent from inside the loop (the handler): no wake-up, delivered in the same turn.
        clients[0]
            .write_all(&frame(0x81, b"hello room"))
            .await
            .unwrap();
        for tcp in &mut clients {
            assert_eq!(read_frame(tcp).await, (0x81, b"hello room".to_vec()));
        }
        // A message is not echoed on top of the broadcast.
        assert!(stays_quiet(&mut clients[0], Duration::from_millis(200)).await);
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn a_message_for_a_closed_connection_never_reaches_the_next_in_its_slot() {
    let run = start_with(transport());
    bounded(async {
        let mut a = handshake(run.addr).await;
        let a_id = run.opened(0).await;
        close_1000_and_expect_reply(&mut a).await;
        run.close_of(0).await;
        // The next connection takes the freed slot of the slab; its id differs.
        let mut b = handshake(run.addr).await;
        let b_id = run.opened(1).await;
        assert_ne!(a_id, b_id);
        run.sender
            .send(a_id, Message::Text("stale".into()))
            .unwrap();
        run.sender
            .send(b_id, Message::Text("fresh".into()))
            .unwrap();
        assert_eq!(read_frame(&mut b).await, (0x81, b"fresh".to_vec()));
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn sends_to_a_peer_that_never_reads_are_dropped_and_reported() {
    // A bounded queue and no idle timeout: how such a connection ends (the write stall,
    // or the close timeout after an idle close, whichever the kernel's trickle of window
    // updates lets fire first) is the flood tests' business; this one is about the drops.
    let run = start_with(WebSocketConfig {
        max_write_buffer: WRITE_LIMIT,
        ..transport()
    });
    bounded(async {
        let _tcp = handshake(run.addr).await;
        let id = run.opened(0).await;
        // 16 MiB for a peer that reads nothing: the socket buffers take a few MiB, the
        // queue WRITE_LIMIT more, the rest is dropped.
        for _ in 0..256 {
            run.sender
                .send(id, Message::Binary(vec![9; 64 * 1024]))
                .unwrap();
        }
        run.wait_for("a dropped send", |log| {
            log.events
                .iter()
                .any(|e| matches!(e, Ev::SendDropped { id: d } if *d == id))
                .then_some(())
        })
        .await;
        let dropped = run
            .log()
            .events
            .iter()
            .filter(|e| matches!(e, Ev::SendDropped { .. }))
            .count();
        // 16 MiB cannot fit 256 KiB of queue plus the socket buffers.
        assert!(dropped > 0 && dropped < 256, "{dropped} of 256 dropped");
    })
    .await;
    run.finish();
}

#[tokio::test]
async fn a_sender_close_starts_the_closing_handshake() {
    let run = start_with(transport());
    bounded(async {
        let mut tcp = handshake(run.addr).await;
        let id = run.opened(0).await;
        run.sender
            .close(id, CloseFrame::new(CloseCode(4001), "shutting down"))
            .unwrap();
        assert_eq!(expect_close(&mut tcp, 4001).await, b"shutting down");
        answer_close(&run, &mut tcp, 4001).await;
    })
    .await;
    run.finish();
}
