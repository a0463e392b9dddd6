//! `hybi serve --threads 1` is one thread, idle timeouts included: the idle-timer wheel
//! turns on the server's runtime (`hybi::drive_idle_timers`), not on a thread of its own.
//! A process that never had a second thread lets glibc skip the cancellation-point
//! bookkeeping of every `send` and `recv` (docs/benchmarks.md, "one thread").

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
