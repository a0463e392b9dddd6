//! A raw handshake client: many connections, a bounded number in flight, done when the full
//! response arrived. No WebSocket library in the loop.
//!
//! Two modes. *Pre-built*: one request, built once, sent unchanged on every connection; done
//! when the status line and head (status 101) plus any body bytes the variant requires arrived.
//! *Interactive*: for handshakes with more than one round trip (a nonce exchange after the 101,
//! say), a [`HandshakeDriver`] per connection says what to send and when it is done.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::net::{self, SourceAddrs};
use crate::wire;

/// What an interactive handshake wants after some bytes arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverStatus {
    /// Not done: send whatever `take_output` has, wait for more.
    InProgress,
    /// Complete (the connection is open).
    Done,
    Failed(String),
}

/// The client side of one handshake, for variants that need more than request-then-response.
/// Its shape is that of a sans-I/O client handshake state machine: output to send, input fed in.
pub trait HandshakeDriver {
    /// Bytes to send now (the request first); empty when there is nothing to send.
    fn take_output(&mut self) -> Vec<u8>;
    /// Feeds newly received bytes.
    fn receive(&mut self, data: &[u8]) -> DriverStatus;
}

/// Makes one driver per connection.
pub type DriverFactory<'a> = &'a (dyn Fn() -> Box<dyn HandshakeDriver> + 'a);

/// How each connection's handshake runs.
#[derive(Clone, Copy)]
pub enum JobMode<'a> {
    Prebuilt {
        request: &'a [u8],
        /// Bytes required after the response head.
        response_body_len: usize,
    },
    Interactive(DriverFactory<'a>),
}

/// What to open.
#[derive(Clone, Copy)]
pub struct HandshakeJob<'a> {
    pub addr: SocketAddr,
    pub mode: JobMode<'a>,
    pub total: usize,
    pub in_flight: usize,
    /// Keep the connections open (returned in the outcome) instead of closing each when done.
    pub keep_open: bool,
    /// Give up on one connection after this long.
    pub per_connection_timeout: Duration,
    /// Give up on the whole batch at this instant.
    pub deadline: Instant,
}

/// An opened connection: the stream and any bytes that arrived after the handshake response
/// (pre-built mode).
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
    /// Pre-built: bytes of the request written. Interactive: bytes of `out` written.
    written: usize,
    out: Vec<u8>,
    buf: Vec<u8>,
    driver: Option<Box<dyn HandshakeDriver>>,
    started: Instant,
    /// Registered for writability too (only while some output could not be sent at once).
    watching_writable: bool,
}

impl Pending {
    /// Bytes still to send: of the pre-built request, or of the driver's output.
    fn unsent(&self, mode: &JobMode<'_>) -> bool {
        match mode {
            JobMode::Prebuilt { request, .. } => self.written < request.len(),
            JobMode::Interactive(_) => self.written < self.out.len(),
        }
    }
}

enum Step {
    Continue,
    Done,
    Failed(String),
}

fn write_pending(stream: &mut TcpStream, data: &[u8], written: &mut usize) -> Result<(), String> {
    while *written < data.len() {
        match stream.write(&data[*written..]) {
            Ok(0) => return Err("connection closed while sending".into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // Not connected yet: the writable event will come.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(())
}

/// Reads everything available into `buf`; returns how many bytes arrived.
///
/// A read shorter than `scratch` emptied the socket's receive queue, so it ends the loop
/// without the extra `recv` that would only say `EAGAIN`: bytes arriving later raise a new
/// (edge-triggered) readiness event. The load generator's own CPU per handshake bounds the
/// handshake rate on a 2-core machine (docs/benchmarks.md), so it makes no call it can skip.
fn read_available(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    scratch: &mut [u8],
) -> Result<usize, String> {
    let before = buf.len();
    loop {
        match stream.read(scratch) {
            Ok(0) => {
                return Err(format!(
                    "connection closed after {} response bytes",
                    buf.len()
                ))
            }
            Ok(n) => {
                buf.extend_from_slice(&scratch[..n]);
                if n < scratch.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(buf.len() - before)
}

fn drive(p: &mut Pending, job: &HandshakeJob<'_>, scratch: &mut [u8]) -> Step {
    match job.mode {
        JobMode::Prebuilt {
            request,
            response_body_len,
        } => drive_prebuilt(p, request, response_body_len, scratch),
        JobMode::Interactive(_) => drive_interactive(p, scratch),
    }
}

fn drive_prebuilt(p: &mut Pending, request: &[u8], body_len: usize, scratch: &mut [u8]) -> Step {
    if let Err(e) = write_pending(&mut p.stream, request, &mut p.written) {
        return Step::Failed(e);
    }
    if let Err(e) = read_available(&mut p.stream, &mut p.buf, scratch) {
        return Step::Failed(e);
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
        if p.buf.len() >= end + body_len {
            p.buf.drain(..end + body_len);
            return Step::Done;
        }
    } else if p.buf.len() > 64 * 1024 {
        return Step::Failed("response head longer than 64 KiB".into());
    }
    Step::Continue
}

/// Sends what is pending of `p.out`; forgets it once all of it went out.
fn flush_out(p: &mut Pending) -> Result<(), String> {
    write_pending(&mut p.stream, &p.out, &mut p.written)?;
    if p.written == p.out.len() {
        p.out.clear();
        p.written = 0;
    }
    Ok(())
}

fn drive_interactive(p: &mut Pending, scratch: &mut [u8]) -> Step {
    if p.driver.is_none() {
        return Step::Failed("no driver".into());
    }
    if let Err(e) = flush_out(p) {
        return Step::Failed(e);
    }
    p.buf.clear();
    match read_available(&mut p.stream, &mut p.buf, scratch) {
        Err(e) => return Step::Failed(e),
        Ok(0) => return Step::Continue,
        Ok(_) => {}
    }
    let driver = p.driver.as_mut().expect("checked above");
    match driver.receive(&p.buf) {
        DriverStatus::Done => {
            p.buf.clear();
            // A last message (a final proof, say) may still be due.
            let last = driver.take_output();
            if !last.is_empty() {
                let mut written = 0;
                let _ = write_pending(&mut p.stream, &last, &mut written);
                if written < last.len() {
                    return Step::Failed("could not send the final handshake bytes at once".into());
                }
            }
            Step::Done
        }
        DriverStatus::Failed(e) => Step::Failed(e),
        DriverStatus::InProgress => {
            let more = driver.take_output();
            p.out.extend_from_slice(&more);
            // The read above emptied the receive queue: send, then wait for the next
            // readiness event instead of a `recv` that would only say `EAGAIN`.
            match flush_out(p) {
                Ok(()) => Step::Continue,
                Err(e) => Step::Failed(e),
            }
        }
    }
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
            match net::connect(sources.next_addr(), job.addr) {
                Ok(stream) => {
                    let (driver, request) = match job.mode {
                        JobMode::Prebuilt { .. } => (None, Vec::new()),
                        JobMode::Interactive(factory) => {
                            let mut d = factory();
                            let out = d.take_output();
                            (Some(d), out)
                        }
                    };
                    let mut p = Pending {
                        stream,
                        written: 0,
                        out: request,
                        buf: Vec::new(),
                        driver,
                        started: Instant::now(),
                        watching_writable: false,
                    };
                    // On loopback the connection is usually up when `connect` returns: send
                    // the request now, and wait for writability only if some of it is left.
                    let data = match job.mode {
                        JobMode::Prebuilt { request, .. } => request,
                        JobMode::Interactive(_) => &p.out[..],
                    };
                    if let Err(e) = write_pending(&mut p.stream, data, &mut p.written) {
                        note_fail(&mut out, e);
                        free.push(slot);
                        continue;
                    }
                    let sent_all = p.written == data.len();
                    p.watching_writable = !sent_all;
                    let interest = if sent_all {
                        Interest::READABLE
                    } else {
                        Interest::READABLE | Interest::WRITABLE
                    };
                    if sent_all && p.driver.is_some() {
                        p.out.clear();
                        p.written = 0;
                    }
                    if let Err(e) = poll
                        .registry()
                        .register(&mut p.stream, Token(slot), interest)
                    {
                        note_fail(&mut out, format!("register: {e}"));
                        free.push(slot);
                        continue;
                    }
                    slots[slot] = Some(p);
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
            let Some(p) = slots[slot].as_mut() else {
                continue;
            };
            match drive(p, job, &mut scratch) {
                Step::Continue => {
                    // Output the socket did not take: wait for writability as well.
                    if !p.watching_writable && p.unsent(&job.mode) {
                        let both = Interest::READABLE | Interest::WRITABLE;
                        if let Err(e) = poll.registry().reregister(&mut p.stream, Token(slot), both)
                        {
                            slots[slot] = None;
                            free.push(slot);
                            note_fail(&mut out, format!("reregister: {e}"));
                            continue;
                        }
                        p.watching_writable = true;
                    }
                }
                Step::Done => {
                    let mut p = slots[slot].take().unwrap();
                    free.push(slot);
                    out.ok += 1;
                    last_done = Instant::now();
                    if job.keep_open {
                        let _ = poll.registry().deregister(&mut p.stream);
                        out.kept.push(OpenConn {
                            stream: p.stream,
                            leftover: p.buf,
                        });
                    }
                }
                Step::Failed(msg) => {
                    // Closing the stream (dropping it) also takes it off the epoll set.
                    slots[slot] = None;
                    free.push(slot);
                    note_fail(&mut out, msg);
                }
            }
        }
        // Per-connection timeouts, checked a few times a second.
        let now = Instant::now();
        if now.duration_since(last_sweep) > Duration::from_millis(200) {
            last_sweep = now;
            for (slot, entry) in slots.iter_mut().enumerate() {
                let expired = entry
                    .as_ref()
                    .is_some_and(|p| now.duration_since(p.started) > job.per_connection_timeout);
                if expired {
                    let mut p = entry.take().unwrap();
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
                thread::spawn(move || answer(s, body, status));
            }
        });
        addr
    }

    fn answer(s: std::net::TcpStream, body: &'static [u8], status: u16) {
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

    fn job(
        addr: SocketAddr,
        req: &[u8],
        body: usize,
        total: usize,
        keep: bool,
    ) -> HandshakeJob<'_> {
        HandshakeJob {
            addr,
            mode: JobMode::Prebuilt {
                request: req,
                response_body_len: body,
            },
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
        assert!(out
            .kept
            .iter()
            .all(|c| c.leftover.is_empty() || c.leftover == b"EXTRA"));
    }

    /// A two-round-trip exchange: C sends "A", S answers "B", C sends `second` (some "C"s),
    /// S answers "D".
    struct TwoRounds {
        out: Vec<u8>,
        got: Vec<u8>,
        second: usize,
    }

    impl TwoRounds {
        fn factory(second: usize) -> impl Fn() -> Box<dyn HandshakeDriver> {
            move || {
                Box::new(TwoRounds {
                    out: b"A".to_vec(),
                    got: Vec::new(),
                    second,
                })
            }
        }
    }

    impl HandshakeDriver for TwoRounds {
        fn take_output(&mut self) -> Vec<u8> {
            std::mem::take(&mut self.out)
        }
        fn receive(&mut self, data: &[u8]) -> DriverStatus {
            self.got.extend_from_slice(data);
            match self.got.as_slice() {
                b"B" => {
                    self.out = vec![b'C'; self.second];
                    DriverStatus::InProgress
                }
                b"BD" => DriverStatus::Done,
                b"" => DriverStatus::InProgress,
                other => DriverStatus::Failed(format!("unexpected {other:?}")),
            }
        }
    }

    /// Serves `conns` [`TwoRounds`] exchanges whose second client message is `second` bytes;
    /// reads that message only after a pause, so that a large one fills the socket buffers.
    fn two_rounds_server(conns: usize, second: usize) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for _ in 0..conns {
                let (mut s, _) = l.accept().unwrap();
                thread::spawn(move || {
                    let mut a = [0u8; 1];
                    s.read_exact(&mut a).unwrap();
                    assert_eq!(&a, b"A");
                    s.write_all(b"B").unwrap();
                    thread::sleep(Duration::from_millis(50));
                    let mut c = vec![0u8; second];
                    s.read_exact(&mut c).unwrap();
                    assert!(c.iter().all(|&b| b == b'C'));
                    s.write_all(b"D").unwrap();
                    let _ = s.read(&mut a);
                });
            }
        });
        addr
    }

    fn run_two_rounds(conns: usize, second: usize) -> HandshakeOutcome {
        let addr = two_rounds_server(conns, second);
        let factory = TwoRounds::factory(second);
        let mut j = job(addr, b"", 0, conns, false);
        j.mode = JobMode::Interactive(&factory);
        j.per_connection_timeout = Duration::from_secs(10);
        run(&j, &mut SourceAddrs::new())
    }

    #[test]
    fn interactive_driver_runs_every_round() {
        let out = run_two_rounds(5, 1);
        assert_eq!((out.ok, out.failed), (5, 0), "{:?}", out.first_error);
    }

    /// What the socket does not take at once must go out on writability events.
    #[test]
    fn output_larger_than_the_socket_buffers_goes_out_whole() {
        let out = run_two_rounds(1, 8 * 1024 * 1024);
        assert_eq!((out.ok, out.failed), (1, 0), "{:?}", out.first_error);
    }

    /// The client reads until a short read, not until `EAGAIN`: a response that arrives in
    /// pieces, one of them larger than the client's read buffer, must still be read whole.
    #[test]
    fn responses_in_pieces_and_larger_than_a_read_are_read_whole() {
        const BODY: usize = 40 * 1024;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for _ in 0..3 {
                let (s, _) = l.accept().unwrap();
                thread::spawn(move || {
                    let mut r = BufReader::new(s);
                    let mut line = String::new();
                    while r.read_line(&mut line).unwrap() > 0 && !line.ends_with("\r\n\r\n") {}
                    let mut s = r.into_inner();
                    s.write_all(b"HTTP/1.1 101 X\r\nUpg").unwrap();
                    thread::sleep(Duration::from_millis(20));
                    s.write_all(b"rade: websocket\r\n\r\n").unwrap();
                    thread::sleep(Duration::from_millis(20));
                    s.write_all(&vec![b'x'; BODY]).unwrap();
                    let _ = s.read(&mut [0u8; 1]);
                });
            }
        });
        let req = wire::rfc6455_request(addr, "/");
        let out = run(&job(addr, &req, BODY, 3, false), &mut SourceAddrs::new());
        assert_eq!((out.ok, out.failed), (3, 0), "{:?}", out.first_error);
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
