//! `hybi serve --threads 1` is one thread, idle timeouts included: the idle-timer wheel
//! turns on the server's runtime (`hybi::drive_idle_timers`), not on a thread of its own.
//! A process that never had a second thread lets glibc skip the cancellation-point
//! bookkeeping of every `send` and `recv` (docs/benchmarks.md, "one thread").
//!
//! Also how `hybi serve`'s listener hands connections over (`--defer-accept`).

mod common;
#[path = "common/eco.rs"]
mod eco;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use eco::Listening;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

fn threads_of(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

#[test]
fn one_thread_serves_and_times_out_idle_connections() {
    one_thread_on("tokio");
}

/// The reactor engine (`--engine reactor`): its deadlines are a sweep on the loop itself.
#[test]
fn one_reactor_thread_serves_and_times_out_idle_connections() {
    one_thread_on("reactor");
}

fn one_thread_on(engine: &str) {
    let server = Listening::hybi(&["--engine", engine, "--threads", "1", "--idle-timeout", "1"]);
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(REQUEST).unwrap();
    let opened = Instant::now();
    // The 101 head, then (after about a second of silence) the close frame, 1001.
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let close_at = loop {
        let n = tcp.read(&mut buf).expect("no idle close within 10 s");
        assert!(n > 0, "closed without a close frame: {got:?}");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            if got.len() >= end + 8 {
                break end + 4;
            }
        }
    };
    assert!(got.starts_with(b"HTTP/1.1 101"), "{got:?}");
    assert_eq!(
        &got[close_at..close_at + 4],
        &[0x88, got[close_at + 1], 0x03, 0xe9]
    );
    assert!(
        opened.elapsed() >= Duration::from_millis(950),
        "{:?}",
        opened.elapsed()
    );
    let threads = threads_of(server.proc.pid());
    assert_eq!(
        threads.len(),
        1,
        "threads of hybi serve --engine {engine} --threads 1: {threads:?}"
    );
}

/// Reads until EOF (or `limit`); returns what arrived and when the end came.
fn read_to_end_within(tcp: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    tcp.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return (got, start.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no end within {limit:?} ({e}); got {got:?}"),
        }
    }
}

/// The handshake response head, read up to its blank line.
fn response_head(tcp: &mut TcpStream) -> Vec<u8> {
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).expect("no response head within 10 s");
        assert!(n > 0, "closed before the response head: {got:?}");
        got.push(byte[0]);
    }
    got
}

#[test]
fn deferred_accept_keeps_silent_clients_out_of_the_slots_tokio() {
    deferred_accept_on("tokio");
}

#[test]
fn deferred_accept_keeps_silent_clients_out_of_the_slots_reactor() {
    deferred_accept_on("reactor");
}

/// With TCP_DEFER_ACCEPT (`--defer-accept`, 1 s by default) a client that connects and says
/// nothing is not handed to the server until the kernel gives up waiting: meanwhile it
/// holds no connection slot, so with `--max-connections 1` a real client still gets its
/// 101 (without the option it gets 503; the second half checks that, so this test can fail).
/// The silent one is then still ended by the handshake timeout, about a second later than
/// the timeout alone would.
fn deferred_accept_on(engine: &str) {
    let args = [
        "--engine",
        engine,
        "--threads",
        "1",
        "--max-connections",
        "1",
        "--handshake-timeout",
        "1",
    ];
    let server = Listening::hybi(&args);
    let mut silent = answer_behind_a_silent_client(server.port, b"HTTP/1.1 101", engine);
    let (got, after) = read_to_end_within(&mut silent, Duration::from_secs(20));
    assert!(got.is_empty(), "{engine}: {got:?}");
    assert!(
        after >= Duration::from_millis(1500),
        "{engine}: the silent client was ended after {after:?}, before defer + timeout"
    );

    // The control: the same with `--defer-accept 0`. The silent client takes the only slot.
    let server = Listening::hybi(&[&args[..], &["--defer-accept", "0"]].concat());
    let _silent = answer_behind_a_silent_client(server.port, b"HTTP/1.1 503", engine);
}

/// Connects a client that sends nothing, then a real one that sends a handshake request
/// and must be answered with `status`; returns the silent client.
fn answer_behind_a_silent_client(port: u16, status: &[u8], engine: &str) -> TcpStream {
    let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut real = TcpStream::connect(("127.0.0.1", port)).unwrap();
    real.write_all(REQUEST).unwrap();
    let head = response_head(&mut real);
    assert!(
        head.starts_with(status),
        "{engine}: {}",
        String::from_utf8_lossy(&head)
    );
    silent
}
