//! Handshake rate of a server, one variant at a time: TOTAL connections, IN_FLIGHT at once,
//! each writing one pre-built request and reading until the whole answer arrived (head plus
//! the 16-byte MD5 answer for Hixie-76 / HyBi-03), then closing. The request bytes come from
//! `ClientHandshake` once, before the clock starts; no WebSocket library is in the loop.
//! With the server's PID, also prints its CPU µs per handshake (/proc/PID/stat).
//!
//! usage: handshake_rate ADDR VARIANT [TOTAL=10000] [IN_FLIGHT=100] [SERVER_PID]
//! Variants that need more than one round trip (hello, connect, …) are not supported.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hybi_proto::handshake::ClientOptions;
use hybi_proto::{ClientHandshake, Variant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    Some(rest[11].parse::<u64>().ok()? + rest[12].parse::<u64>().ok()?)
}

/// True once `buf` holds a response head and `body` bytes after it.
fn complete(buf: &[u8], body: usize) -> bool {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .is_some_and(|end| buf.len() >= end + 4 + body)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().expect("ADDR").clone();
    let variant = hybi_proto::variant::parse_list(args.get(1).expect("VARIANT")).unwrap()[0];
    let total: usize = args.get(2).map_or(10_000, |s| s.parse().unwrap());
    let in_flight: usize = args.get(3).map_or(100, |s| s.parse().unwrap());
    let pid = args.get(4).cloned();
    let body = if matches!(variant, Variant::Hixie76 | Variant::Hybi03) {
        16
    } else {
        0
    };
    let opts = ClientOptions::from_url(&format!("ws://{addr}/"), variant).unwrap();
    let request = Arc::new(ClientHandshake::new(&opts, [1; 32]).unwrap().take_output());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let cpu0 = pid.as_deref().and_then(cpu_ticks);
    let start = Instant::now();
    rt.block_on(async {
        let mut workers = Vec::new();
        for _ in 0..in_flight {
            let (addr, request, next, failed) =
                (addr.clone(), request.clone(), next.clone(), failed.clone());
            workers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let ok = async {
                        let mut s = TcpStream::connect(&addr).await.ok()?;
                        s.write_all(&request).await.ok()?;
                        let mut got = 0;
                        while !complete(&buf[..got], body) {
                            let n = s.read(&mut buf[got..]).await.ok()?;
                            if n == 0 {
                                return None;
                            }
                            got += n;
                        }
                        buf[..12].starts_with(b"HTTP/1.1 101").then_some(())
                    }
                    .await;
                    if ok.is_none() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    let mut line = format!(
        "{{\"variant\": \"{}\", \"handshakes\": {total}, \"failed\": {failed}, \"per_s\": {:.0}",
        variant.name(),
        total as f64 / secs
    );
    if let (Some(a), Some(b)) = (cpu0, pid.as_deref().and_then(cpu_ticks)) {
        let us = (b - a) as f64 * 10_000.0 / total as f64;
        line += &format!(", \"server_cpu_us_per_handshake\": {us:.1}");
    }
    println!("{line}}}");
}
