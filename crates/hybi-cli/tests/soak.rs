//! Soak: `hybi serve` (a child process, so its memory is measurable) under thousands of
//! connections on loopback, a share of them hostile, while well-behaved clients keep
//! echoing. Bounded in time (`HYBI_SOAK_SECS`, default 40 s of storm; the whole test stays
//! under two minutes).
//!
//! Hostile kinds: slowloris heads, handshakes that stop halfway (Hixie-76 without key3
//! included), oversized heads, oversized frame lengths, unmasked frames, invalid UTF-8,
//! peers that never read (echo and ping floods), ping floods that do read, frames that
//! stall halfway, and abrupt resets.
//!
//! Asserts: the server never panics and still answers afterwards, every hostile
//! connection is ended by the server within its deadline, good clients are all served
//! without error, and the server's memory high-water mark (VmHWM) stays under a bound
//! computed from the limits it runs with. Prints the figures (`--nocapture` to see them).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hybi::{Message, Variant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// The limits the server runs with (and the memory bound is computed from).
const MAX_MESSAGE: usize = 1 << 20;
const MAX_WRITE_BUFFER: usize = 256 * 1024;
const HANDSHAKE_TIMEOUT: f64 = 5.0;
const IDLE_TIMEOUT: f64 = 5.0;
const CLOSE_TIMEOUT: f64 = 2.0;
const MAX_CONNECTIONS: usize = 4000;

/// How long the server may take to end a hostile connection after the client's last
/// action (its deadline plus slack for a loaded 2-core machine).
const END_DEADLINE: Duration = Duration::from_secs(30);

const REQUEST: &[u8] = b"GET /soak HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

const HIXIE76_HEAD: &[u8] = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: sample\r\n\
Upgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
Origin: http://example.com\r\n\r\n";

struct ServerProc {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProc {
    fn start() -> ServerProc {
        // HYBI_SOAK_BIN: another `hybi` binary (a release build, for figures; the debug
        // build cargo test makes unmasks ~20x slower).
        let bin = std::env::var_os("HYBI_SOAK_BIN")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(common::hybi_bin);
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--variants", "all"])
            // The Hixie-76 head below offers `sample`: accepted, so the server waits for key3.
            .args(["--subprotocol", "sample"])
            .args(["--max-connections", &MAX_CONNECTIONS.to_string()])
            .args(["--handshake-timeout", &HANDSHAKE_TIMEOUT.to_string()])
            .args(["--idle-timeout", &IDLE_TIMEOUT.to_string()])
            .args(["--close-timeout", &CLOSE_TIMEOUT.to_string()])
            .args(["--max-message-size", &MAX_MESSAGE.to_string()])
            .args(["--max-frame-size", &MAX_MESSAGE.to_string()])
            .args(["--max-write-buffer", &MAX_WRITE_BUFFER.to_string()])
            // HYBI_SOAK_SERVER_ARGS: extra `hybi serve` arguments (e.g. `--threads 4`).
            .args(
                std::env::var("HYBI_SOAK_SERVER_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .env(
                "HYBI_LOG",
                std::env::var("HYBI_SOAK_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hybi serve");
        let stdout = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                if s.len() < 1 << 20 {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("server printed nothing").unwrap();
        let port = first
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        std::thread::spawn(move || for _ in lines {});
        ServerProc {
            child,
            port,
            stderr,
        }
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU seconds the server used so far.
    fn cpu_secs(&self) -> f64 {
        cpu_secs_of(&self.child.id().to_string())
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// User + system CPU seconds of process `pid` (or `self`) so far.
fn cpu_secs_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which ends with ')'): state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Per-kind tallies.
#[derive(Default)]
struct Tally {
    started: AtomicUsize,
    /// Could not connect or complete the handshake the kind starts from.
    setup_failed: AtomicUsize,
    /// The server ended the connection (close frame, HTTP error, FIN or reset).
    ended_by_server: AtomicUsize,
    /// The server did not end it within [`END_DEADLINE`].
    lingered: AtomicUsize,
    /// The client ended it on purpose (resets).
    client_ended: AtomicUsize,
}

type Tallies = Arc<BTreeMap<&'static str, Tally>>;

const KINDS: &[(&str, usize)] = &[
    // (kind, concurrent connections)
    ("slowloris", 200),
    ("half-handshake", 60),
    ("hixie76-no-key3", 40),
    ("oversized-head", 10),
    ("oversized-length", 10),
    ("unmasked-frame", 10),
    ("invalid-utf8", 10),
    ("never-reads-echo", 20),
    ("never-reads-pings", 10),
    ("ping-flood", 2),
    ("stalled-frame", 40),
    ("reset", 10),
];

fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    // Key 0x00000000 would be legal too; use a real one.
    let key = [0x37, 0xfa, 0x21, 0x3d];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

async fn connect(port: u16) -> Option<TcpStream> {
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .ok()?
    .ok()?;
    let _ = tcp.set_nodelay(true);
    Some(tcp)
}

/// Raw RFC 6455 handshake; the stream is positioned after the 101 head.
async fn handshake(port: u16) -> Option<TcpStream> {
    let mut tcp = connect(port).await?;
    tcp.write_all(REQUEST).await.ok()?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    let read = async {
        while !head.ends_with(b"\r\n\r\n") {
            if tcp.read(&mut b).await.ok()? != 1 {
                return None;
            }
            head.push(b[0]);
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .ok()??;
    head.starts_with(b"HTTP/1.1 101").then_some(tcp)
}

/// Reads and discards until the server ends the connection; true when it did within
/// `deadline`.
async fn wait_for_end(tcp: &mut TcpStream, deadline: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match tokio::time::timeout_at(until, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Waits, still without reading, until the server drops the connection: a small write
/// then fails (the server's close of a socket with unread input resets it).
async fn wait_for_end_unread(tcp: &TcpStream) -> Ending {
    let until = Instant::now() + END_DEADLINE;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match tcp.try_write(&[0x89, 0x80, 0, 0, 0, 0]) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Ending::Server,
        }
    }
    Ending::Lingered
}

/// Writes `data` without reading, until the server stops reading (the write stalls for
/// a while) or `total` bytes went out.
async fn write_unread(tcp: &mut TcpStream, data: &[u8], total: usize) {
    let mut sent = 0;
    while sent < total {
        match tokio::time::timeout(Duration::from_millis(500), tcp.write_all(data)).await {
            Ok(Ok(())) => sent += data.len(),
            _ => return,
        }
    }
}

/// One hostile connection of `kind`; returns how it ended.
async fn hostile(kind: &'static str, port: u16) -> Ending {
    let Some(mut tcp) = (match kind {
        "oversized-length" | "unmasked-frame" | "invalid-utf8" | "never-reads-echo"
        | "never-reads-pings" | "ping-flood" | "stalled-frame" => handshake(port).await,
        _ => connect(port).await,
    }) else {
        return Ending::SetupFailed;
    };
    match kind {
        "slowloris" => {
            // A byte every 250 ms, never the end of the head.
            let _ = tcp
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
            let until = Instant::now() + END_DEADLINE;
            let mut buf = [0u8; 1024];
            while Instant::now() < until {
                if tcp.write_all(b"a").await.is_err() {
                    return Ending::Server;
                }
                match tokio::time::timeout(Duration::from_millis(250), tcp.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Ending::Server,
                    _ => {}
                }
            }
            return Ending::Lingered;
        }
        "half-handshake" => {
            let _ = tcp.write_all(&REQUEST[..REQUEST.len() / 2]).await;
        }
        "hixie76-no-key3" => {
            let _ = tcp.write_all(HIXIE76_HEAD).await;
        }
        "oversized-head" => {
            let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
            while head.len() < 64 * 1024 {
                head.extend_from_slice(
                    b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
                );
            }
            let _ = tcp.write_all(&head).await;
        }
        "oversized-length" => {
            let mut f = vec![0x82, 0xff];
            f.extend_from_slice(&(1u64 << 62).to_be_bytes());
            f.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
            let _ = tcp.write_all(&f).await;
        }
        "unmasked-frame" => {
            let _ = tcp
                .write_all(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o'])
                .await;
        }
        "invalid-utf8" => {
            let _ = tcp
                .write_all(&masked_frame(
                    0x1,
                    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
                ))
                .await;
        }
        "never-reads-echo" => {
            let msg = masked_frame(0x2, &[0x5a; 64 * 1024]);
            write_unread(&mut tcp, &msg, 4 << 20).await;
            return wait_for_end_unread(&tcp).await;
        }
        "never-reads-pings" => {
            let pings: Vec<u8> = (0..512)
                .flat_map(|_| masked_frame(0x9, &[b'p'; 125]))
                .collect();
            write_unread(&mut tcp, &pings, 4 << 20).await;
            return wait_for_end_unread(&tcp).await;
        }
        "ping-flood" => {
            // Reads the pongs while flooding, then closes politely.
            let (mut rd, mut wr) = tcp.into_split();
            let reader = tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut n = 0usize;
                let until = tokio::time::Instant::now() + END_DEADLINE;
                while let Ok(Ok(k)) = tokio::time::timeout_at(until, rd.read(&mut buf)).await {
                    if k == 0 {
                        return (n, true);
                    }
                    n += k;
                }
                (n, false)
            });
            let pings: Vec<u8> = (0..256).flat_map(|_| masked_frame(0x9, b"flood")).collect();
            for _ in 0..50 {
                if wr.write_all(&pings).await.is_err() {
                    break;
                }
            }
            let _ = wr
                .write_all(&masked_frame(0x8, &1000u16.to_be_bytes()))
                .await;
            return match tokio::time::timeout(END_DEADLINE, reader).await {
                Ok(Ok((_, true))) => Ending::Server,
                _ => Ending::Lingered,
            };
        }
        "stalled-frame" => {
            // Announces 512 KiB, sends half, stalls (the idle timeout ends it).
            let full = masked_frame(0x2, &vec![0x11; 512 * 1024]);
            let _ = tcp.write_all(&full[..full.len() / 2]).await;
        }
        "reset" => {
            let _ = tcp.write_all(&REQUEST[..40]).await;
            // SO_LINGER 0: the close sends a reset (a zero linger never blocks).
            let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
            drop(tcp);
            return Ending::Client;
        }
        other => unreachable!("{other}"),
    }
    if wait_for_end(&mut tcp, END_DEADLINE).await {
        Ending::Server
    } else {
        Ending::Lingered
    }
}

enum Ending {
    Server,
    Client,
    Lingered,
    SetupFailed,
}

struct Good {
    /// Handshakes that failed (the server was too late for its own deadline).
    connect_failures: Mutex<Vec<String>>,
    /// The fewest echoes any one good client got.
    least_echoes: AtomicUsize,
    /// Echo round trips, in microseconds.
    latencies: Mutex<Vec<u32>>,
    connections: AtomicUsize,
    messages: AtomicU64,
    bytes: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl Default for Good {
    fn default() -> Self {
        Good {
            connect_failures: Mutex::default(),
            least_echoes: AtomicUsize::new(usize::MAX),
            latencies: Mutex::default(),
            connections: AtomicUsize::default(),
            messages: AtomicU64::default(),
            bytes: AtomicU64::default(),
            errors: Mutex::default(),
        }
    }
}

/// A well-behaved client: connects, echoes `per_conn` messages one at a time (checking
/// each), closes, and starts over until `until`.
async fn good_client(port: u16, until: Instant, id: usize, good: Arc<Good>) {
    let url = format!("ws://127.0.0.1:{port}/good");
    let payload: Vec<u8> = (0..1024).map(|i| (i * 7 + id) as u8).collect();
    let opts = hybi::ClientOptions::from_url(&url, Variant::Rfc6455).unwrap();
    // Generous client deadlines: on a loaded 2-core machine a debug-build server can be
    // seconds late; a hang still shows as an error.
    let config = hybi::WebSocketConfig {
        handshake_timeout: Duration::from_secs(30),
        ..hybi::WebSocketConfig::default()
    };
    let mut echoed = 0usize;
    while Instant::now() < until {
        let mut ws = match hybi::connect_with(&opts, config.clone()).await {
            Ok(ws) => ws,
            Err(e) => {
                // Counted, not fatal: the server may drop a handshake it could not finish
                // within its own (short, anti-slowloris) deadline while overloaded.
                good.connect_failures
                    .lock()
                    .unwrap()
                    .push(format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        good.connections.fetch_add(1, Ordering::Relaxed);
        for _ in 0..200 {
            if Instant::now() >= until {
                break;
            }
            let sent_at = Instant::now();
            if let Err(e) = ws.send(Message::Binary(payload.clone())).await {
                good.errors.lock().unwrap().push(format!("send: {e}"));
                break;
            }
            match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) if b == payload => {
                    echoed += 1;
                    let us = sent_at.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    good.latencies.lock().unwrap().push(us);
                    good.messages.fetch_add(1, Ordering::Relaxed);
                    good.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                }
                other => {
                    good.errors.lock().unwrap().push(format!("echo: {other:?}"));
                    break;
                }
            }
        }
        let _ = ws.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
    good.least_echoes.fetch_min(echoed, Ordering::Relaxed);
}

/// Runs `n` good clients until `until` on a current-thread runtime of their own.
fn run_good_clients(port: u16, n: usize, until: Instant, good: &Arc<Good>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|id| tokio::spawn(good_client(port, until, id, good.clone())))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a valid, initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[test]
fn soak() {
    raise_nofile();
    let storm = Duration::from_secs(
        std::env::var("HYBI_SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(40),
    );
    let good_clients: usize = std::env::var("HYBI_SOAK_GOOD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let mut server = ServerProc::start();
    let port = server.port;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let tallies: Tallies = Arc::new(KINDS.iter().map(|(k, _)| (*k, Tally::default())).collect());
    // Baseline: the good clients alone, for the throughput they get without attackers.
    let baseline_secs = 5.0;
    let baseline = Arc::new(Good::default());
    run_good_clients(
        port,
        good_clients,
        Instant::now() + Duration::from_secs_f64(baseline_secs),
        &baseline,
    );
    let cpu_before = server.cpu_secs();
    let own_cpu_before = cpu_secs_of("self");

    let good = Arc::new(Good::default());
    let started = Instant::now();
    let until = started + storm;

    // Sample the server's RSS while the storm runs.
    let samples = Arc::new(Mutex::new(Vec::<(f64, u64)>::new()));
    let pid = server.child.id();
    let sampler = {
        let samples = samples.clone();
        std::thread::spawn(move || {
            while Instant::now() < until + Duration::from_secs(2) {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0);
                samples
                    .lock()
                    .unwrap()
                    .push((started.elapsed().as_secs_f64(), rss));
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };

    // The good clients run on their own thread and runtime (as they would on their own
    // machines), so the attackers' tasks in this process do not queue in front of them.
    let good_thread = {
        let good = good.clone();
        std::thread::spawn(move || run_good_clients(port, good_clients, until, &good))
    };
    rt.block_on(async {
        let mut tasks = Vec::new();
        // HYBI_SOAK_KINDS=kind,kind runs only those (to study one).
        let only = std::env::var("HYBI_SOAK_KINDS").ok();
        for &(kind, concurrency) in KINDS {
            if only
                .as_deref()
                .is_some_and(|o| !o.split(',').any(|k| k == kind))
            {
                continue;
            }
            for _ in 0..concurrency {
                let tallies = tallies.clone();
                tasks.push(tokio::spawn(async move {
                    let t = &tallies[kind];
                    while Instant::now() < until {
                        t.started.fetch_add(1, Ordering::Relaxed);
                        match hostile(kind, port).await {
                            Ending::Server => t.ended_by_server.fetch_add(1, Ordering::Relaxed),
                            Ending::Client => t.client_ended.fetch_add(1, Ordering::Relaxed),
                            Ending::Lingered => t.lingered.fetch_add(1, Ordering::Relaxed),
                            Ending::SetupFailed => {
                                t.started.fetch_sub(1, Ordering::Relaxed);
                                t.setup_failed.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                0
                            }
                        };
                        // Quick kinds would otherwise spin the CPU away from the good ones.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    good_thread.join().unwrap();
    let elapsed = started.elapsed();
    sampler.join().unwrap();

    // The server still answers: a fresh connection echoes.
    let still_answers = rt.block_on(async {
        let url = format!("ws://127.0.0.1:{port}/after");
        let mut ws = hybi::connect(&url, Variant::Rfc6455).await.ok()?;
        ws.send(Message::Text("still here".into())).await.ok()?;
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => Some(t == "still here"),
            _ => Some(false),
        }
    });
    let cpu_storm = server.cpu_secs() - cpu_before;
    let own_cpu_storm = cpu_secs_of("self") - own_cpu_before;
    let hwm = server.status_kib("VmHWM:");
    let rss_end = server.status_kib("VmRSS:");
    let alive = server.alive();
    let stderr = server.stderr.lock().unwrap().clone();

    if let Ok(path) = std::env::var("HYBI_SOAK_STDERR") {
        let _ = std::fs::write(path, &stderr);
    }
    // Report.
    let msgs = good.messages.load(Ordering::Relaxed);
    let secs = storm.as_secs_f64();
    let mut hostile_total = 0;
    eprintln!(
        "\n=== soak: {:.1} s storm, {good_clients} good clients ===",
        secs
    );
    let base_msgs = baseline.messages.load(Ordering::Relaxed);
    eprintln!(
        "good alone ({baseline_secs} s): {base_msgs} echoes of 1 KiB ({:.0} msg/s), {} errors",
        base_msgs as f64 / baseline_secs,
        baseline.errors.lock().unwrap().len()
    );
    eprintln!(
        "good under attack: {} connections, {msgs} echoes ({:.0} msg/s, {:.2} MB/s each way, \
         {:.0}% of alone), fewest per client {}, {} errors, {} handshakes retried",
        good.connections.load(Ordering::Relaxed),
        msgs as f64 / secs,
        good.bytes.load(Ordering::Relaxed) as f64 / secs / 1e6,
        100.0 * (msgs as f64 / secs) / (base_msgs as f64 / baseline_secs).max(1e-9),
        good.least_echoes.load(Ordering::Relaxed),
        good.errors.lock().unwrap().len(),
        good.connect_failures.lock().unwrap().len()
    );
    for (name, g) in [("alone", &baseline), ("under attack", &good)] {
        let mut l = g.latencies.lock().unwrap().clone();
        l.sort_unstable();
        let q = |p: f64| l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)));
        eprintln!(
            "echo round trip {name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            q(0.5).copied().unwrap_or(0) as f64 / 1e3,
            q(0.99).copied().unwrap_or(0) as f64 / 1e3,
            l.last().copied().unwrap_or(0) as f64 / 1e3
        );
    }
    eprintln!(
        "CPU during the storm: server {cpu_storm:.1} s, clients (this test) {own_cpu_storm:.1} s, \
         of {secs:.1} s wall on 2 shared cores"
    );
    eprintln!(
        "{:<20} {:>6} {:>11} {:>9} {:>12} {:>12}",
        "hostile kind", "conc", "connections", "lingered", "server-ended", "setup-failed"
    );
    for &(kind, conc) in KINDS {
        let t = &tallies[kind];
        let n = t.started.load(Ordering::Relaxed);
        hostile_total += n;
        eprintln!(
            "{kind:<20} {conc:>6} {n:>11} {:>9} {:>12} {:>12}",
            t.lingered.load(Ordering::Relaxed),
            t.ended_by_server.load(Ordering::Relaxed),
            t.setup_failed.load(Ordering::Relaxed)
        );
    }
    let peak_sample = samples
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    eprintln!(
        "hostile connections: {hostile_total}; total with good: {}",
        hostile_total + good.connections.load(Ordering::Relaxed)
    );
    eprintln!(
        "server memory: VmHWM {:.1} MiB, peak sampled RSS {:.1} MiB, RSS at end {:.1} MiB",
        hwm as f64 / 1024.0,
        peak_sample as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    eprintln!("whole run {:.1} s", elapsed.as_secs_f64());

    // The bound: what the limits allow the concurrent hostile connections to hold, plus
    // a generous base for the runtime, the good clients and allocator slack.
    let conc = |k: &str| KINDS.iter().find(|(n, _)| *n == k).unwrap().1;
    let bound_bytes = 128 * 1024 * 1024
        + (conc("never-reads-echo") + conc("never-reads-pings"))
            * (MAX_WRITE_BUFFER + MAX_MESSAGE + 64 * 1024)
        + conc("stalled-frame") * MAX_MESSAGE
        + (conc("slowloris") + conc("half-handshake") + conc("hixie76-no-key3") + good_clients)
            * 64
            * 1024;
    eprintln!(
        "memory bound asserted: {:.1} MiB",
        bound_bytes as f64 / (1 << 20) as f64
    );

    assert!(alive, "the server exited; stderr:\n{stderr}");
    assert!(
        !stderr.contains("panicked"),
        "the server panicked:\n{stderr}"
    );
    assert_eq!(still_answers, Some(true), "the server no longer answers");
    let errors = good.errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "good clients failed: {:?}",
        &errors[..errors.len().min(10)]
    );
    // Throughput depends on what else the machine runs (2 shared cores); being served
    // does not: every good client got through many echoes.
    let least = good.least_echoes.load(Ordering::Relaxed);
    assert!(least >= 3, "a good client was starved: {least} echoes");
    assert!(baseline.errors.lock().unwrap().is_empty());
    for &(kind, _) in KINDS {
        let t = &tallies[kind];
        assert_eq!(
            t.lingered.load(Ordering::Relaxed),
            0,
            "{kind}: connections the server did not end within {END_DEADLINE:?}"
        );
        if std::env::var("HYBI_SOAK_KINDS").is_err() {
            assert!(t.started.load(Ordering::Relaxed) > 0, "{kind} never ran");
        }
    }
    if std::env::var("HYBI_SOAK_KINDS").is_err() {
        assert!(
            hostile_total >= 1000,
            "only {hostile_total} hostile connections"
        );
    }
    assert!(
        (hwm as usize) * 1024 < bound_bytes,
        "VmHWM {hwm} KiB over the bound {bound_bytes} bytes"
    );
}
