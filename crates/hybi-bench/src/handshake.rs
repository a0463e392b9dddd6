//! A raw handshake client: many connections, a bounded number in flight, one pre-built request
//! each, done when the full response (head plus any body bytes the variant requires) arrived.
//! No WebSocket library in the loop.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::net::{self, SourceAddrs};
use crate::wire;

/// What to open.
#[derive(Clone, Copy, Debug)]
pub struct HandshakeJob<'a> {
    pub addr: SocketAddr,
    pub request: &'a [u8],
    pub response_body_len: usize,
    pub total: usize,
    pub in_flight: usize,
    /// Keep the connections open (returned in the outcome) instead of closing each when done.
    pub keep_open: bool,
    /// Give up on one connection after this long.
    pub per_connection_timeout: Duration,
    /// Give up on the whole batch at this instant.
    pub deadline: Instant,
}

/// An opened connection: the stream and any bytes that arrived after the handshake response.
pub struct OpenConn {
    pub stream: TcpStream,
    pub leftover: Vec<u8>,
}

#[derive(Default)]
pub struct HandshakeOutcome {
    pub ok: usize,
    pub failed: usize,
    /// From the first connect to the last completion.
    pub elapsed: Duration,
    pub first_error: Option<String>,
    pub timed_out: bool,
    pub kept: Vec<OpenConn>,
}

struct Pending {
    stream: TcpStream,
    written: usize,
    buf: Vec<u8>,
    started: Instant,
}

enum Step {
    Continue,
    Done,
    Failed(String),
}

fn drive(p: &mut Pending, job: &HandshakeJob<'_>, scratch: &mut [u8]) -> Step {
    while p.written < job.request.len() {
        match p.stream.write(&job.request[p.written..]) {
            Ok(0) => return Step::Failed("connection closed while sending request".into()),
            Ok(n) => p.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // Not connected yet: wait for the writable event.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Step::Continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Step::Failed(format!("write: {e}")),
        }
    }
    loop {
        match p.stream.read(scratch) {
            Ok(0) => {
                return Step::Failed(format!(
                    "connection closed after {} response bytes",
                    p.buf.len()
                ))
            }
            Ok(n) => p.buf.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Step::Failed(format!("read: {e}")),
        }
    }
    if let Some(end) = wire::head_end(&p.buf) {
        match wire::status_code(&p.buf[..end]) {
            Some(101) => {}
            other => {
                let line = String::from_utf8_lossy(&p.buf[..end.min(80)]);
                return Step::Failed(format!(
                    "status {other:?}, response starts {:?}",
                    line.lines().next().unwrap_or("")
                ));
            }
        }
        if p.buf.len() >= end + job.response_body_len {
            p.buf.drain(..end + job.response_body_len);
            return Step::Done;
        }
    } else if p.buf.len() > 64 * 1024 {
        return Step::Failed("response head longer than 64 KiB".into());
    }
    Step::Continue
}

/// Runs a batch of handshakes on the calling thread.
pub fn run(job: &HandshakeJob<'_>, sources: &mut SourceAddrs) -> HandshakeOutcome {
    let mut out = HandshakeOutcome::default();
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            out.first_error = Some(format!("epoll: {e}"));
            return out;
        }
    };
    let mut events = Events::with_capacity(1024);
    let in_flight = job.in_flight.max(1).min(job.total.max(1));
    let mut slots: Vec<Option<Pending>> = (0..in_flight).map(|_| None).collect();
    let mut free: Vec<usize> = (0..in_flight).rev().collect();
    let mut scratch = vec![0u8; 16 * 1024];
    let mut started = 0usize;
    let t0 = Instant::now();
    let mut last_done = t0;
    let mut last_sweep = t0;

    let note_fail = |out: &mut HandshakeOutcome, msg: String| {
        out.failed += 1;
        if out.first_error.is_none() {
            out.first_error = Some(msg);
        }
    };

    loop {
        // Fill free slots.
        while started < job.total {
            let Some(slot) = free.pop() else { break };
            started += 1;
            match net::connect(sources.next(), job.addr) {
                Ok(mut stream) => {
                    if let Err(e) = poll.registry().register(
                        &mut stream,
                        Token(slot),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        note_fail(&mut out, format!("register: {e}"));
                        free.push(slot);
                        continue;
                    }
                    slots[slot] = Some(Pending {
                        stream,
                        written: 0,
                        buf: Vec::new(),
                        started: Instant::now(),
                    });
                }
                Err(e) => {
                    note_fail(&mut out, format!("connect: {e}"));
                    free.push(slot);
                }
            }
        }
        if free.len() == in_flight && started >= job.total {
            break;
        }
        let now = Instant::now();
        if now >= job.deadline {
            out.timed_out = true;
            break;
        }
        let wait = (job.deadline - now).min(Duration::from_millis(100));
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                note_fail(&mut out, format!("poll: {e}"));
                break;
            }
        }
        for ev in events.iter() {
            let slot = ev.token().0;
            let Some(p) = slots[slot].as_mut() else { continue };
            match drive(p, job, &mut scratch) {
                Step::Continue => {}
                Step::Done => {
                    let mut p = slots[slot].take().unwrap();
                    free.push(slot);
                    out.ok += 1;
                    last_done = Instant::now();
                    let _ = poll.registry().deregister(&mut p.stream);
                    if job.keep_open {
                        out.kept.push(OpenConn {
                            stream: p.stream,
                            leftover: p.buf,
                        });
                    }
                }
                Step::Failed(msg) => {
                    let mut p = slots[slot].take().unwrap();
                    let _ = poll.registry().deregister(&mut p.stream);
                    free.push(slot);
                    note_fail(&mut out, msg);
                }
            }
        }
        // Per-connection timeouts, checked a few times a second.
        let now = Instant::now();
        if now.duration_since(last_sweep) > Duration::from_millis(200) {
            last_sweep = now;
            for slot in 0..in_flight {
                let expired = slots[slot]
                    .as_ref()
                    .is_some_and(|p| now.duration_since(p.started) > job.per_connection_timeout);
                if expired {
                    let mut p = slots[slot].take().unwrap();
                    let _ = poll.registry().deregister(&mut p.stream);
                    free.push(slot);
                    note_fail(
                        &mut out,
                        format!(
                            "no complete response within {:?} ({} bytes received)",
                            job.per_connection_timeout,
                            p.buf.len()
                        ),
                    );
                }
            }
        }
    }
    out.elapsed = last_done.duration_since(t0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::thread;

    /// A tiny blocking loopback server answering every request head with a 101 plus `body`.
    fn fake_server(conns: usize, body: &'static [u8], status: u16) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for _ in 0..conns {
                let (s, _) = l.accept().unwrap();
                let mut r = BufReader::new(s);
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                }
                let mut s = r.into_inner();
                let _ = write!(s, "HTTP/1.1 {status} X\r\nUpgrade: websocket\r\n\r\n");
                let _ = s.write_all(body);
                // Keep the connection until the client closes it.
                let mut sink = [0u8; 64];
                let _ = s.read(&mut sink);
            }
        });
        addr
    }

    fn job(addr: SocketAddr, req: &[u8], body: usize, total: usize, keep: bool) -> HandshakeJob<'_> {
        HandshakeJob {
            addr,
            request: req,
            response_body_len: body,
            total,
            in_flight: 4,
            keep_open: keep,
            per_connection_timeout: Duration::from_secs(20),
            deadline: Instant::now() + Duration::from_secs(60),
        }
    }

    #[test]
    fn completes_and_keeps_connections() {
        let addr = fake_server(10, b"0123456789abcdefEXTRA", 101);
        let req = wire::rfc6455_request(addr, "/");
        let out = run(&job(addr, &req, 16, 10, true), &mut SourceAddrs::new());
        assert_eq!((out.ok, out.failed), (10, 0), "{:?}", out.first_error);
        assert_eq!(out.kept.len(), 10);
        // Bytes after head + 16-byte body are kept for the caller.
        assert!(out.kept.iter().all(|c| c.leftover.is_empty() || c.leftover == b"EXTRA"));
    }

    #[test]
    fn non_101_is_a_failure() {
        let addr = fake_server(3, b"", 400);
        let req = wire::rfc6455_request(addr, "/");
        let out = run(&job(addr, &req, 0, 3, false), &mut SourceAddrs::new());
        assert_eq!((out.ok, out.failed), (0, 3));
        assert!(out.first_error.unwrap().contains("400"));
    }
}
