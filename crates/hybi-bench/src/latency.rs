//! Open-loop latency: messages go out on a fixed schedule whatever the server does, spread
//! evenly over the connections with staggered starts; latency runs from the scheduled send
//! instant to the arrival of the echo (so a stalled server cannot hide its stall). Between
//! sends the client sleeps on a nanosecond timer together with its sockets.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Token};

use crate::echo_client::{count_echoes, new_poll, poll_for, read_some, register, write_from};
use crate::handshake::OpenConn;
use crate::report::LatencySample;
use crate::server::ServerProcess;
use crate::stats::percentile_sorted;
use crate::throughput::Snap;
use crate::wire::{self, FrameScanner};

struct Conn {
    stream: mio::net::TcpStream,
    scanner: FrameScanner,
    due: VecDeque<Instant>,
    out: Vec<u8>,
    out_off: usize,
}

impl Conn {
    fn flush(&mut self) -> Result<(), String> {
        write_from(&mut self.stream, &self.out, &mut self.out_off)?;
        if self.out_off == self.out.len() {
            self.out.clear();
            self.out_off = 0;
        }
        Ok(())
    }
}

/// A one-shot CLOCK_MONOTONIC timer with nanosecond resolution, waited on with the sockets.
/// Sleeping until the next send (rather than spinning) keeps the client a "sleeper" to the
/// scheduler, which then runs it promptly even on a CPU shared with busy processes.
struct Timer(OwnedFd);

const TIMER: Token = Token(usize::MAX);

impl Timer {
    fn new() -> io::Result<Self> {
        // SAFETY: timerfd_create returns a new descriptor we own, or -1.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor.
        Ok(Timer(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn arm(&self, after: Duration) {
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: valid descriptor and itimerspec.
        unsafe {
            libc::timerfd_settime(self.0.as_raw_fd(), 0, &spec, std::ptr::null_mut());
        }
    }

    fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reading 8 bytes into a local buffer.
        unsafe {
            libc::read(self.0.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, 8);
        }
    }
}

#[derive(Default)]
struct Window {
    sent: u64,
    lag_ns: Vec<u64>,
    lat_ns: Vec<u64>,
    start: Option<Snap>,
    end: Option<Snap>,
}

/// Runs the open-loop latency measurement on the calling thread.
#[allow(clippy::too_many_arguments)]
pub fn run_latency(
    conns: Vec<OpenConn>,
    server: &mut ServerProcess,
    rate: u64,
    payload: usize,
    warmup: Duration,
    sample: Duration,
    samples: usize,
    server_cpu: usize,
    on_sample: &mut dyn FnMut(&LatencySample),
) -> Result<Vec<LatencySample>, String> {
    if conns.is_empty() || rate == 0 {
        return Err("no connections or zero rate".into());
    }
    let frame = wire::binary_message(payload);
    let (mut poll, mut events) = new_poll()?;
    let mut conns: Vec<Conn> = conns
        .into_iter()
        .map(|c| Conn {
            stream: c.stream,
            scanner: FrameScanner::new(),
            due: VecDeque::new(),
            out: Vec::new(),
            out_off: 0,
        })
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        register(&poll, &mut c.stream, i)?;
    }
    let timer = Timer::new().map_err(|e| format!("timerfd: {e}"))?;
    poll.registry()
        .register(
            &mut SourceFd(&timer.0.as_raw_fd()),
            TIMER,
            Interest::READABLE,
        )
        .map_err(|e| format!("register timer: {e}"))?;
    let n = conns.len() as u64;
    let period_ns = 1e9 / rate as f64;
    let mut scratch = vec![0u8; 64 * 1024];
    let t0 = Instant::now() + Duration::from_millis(5);
    let measure_start = t0 + warmup;
    let send_end = measure_start + sample * samples as u32;
    let drain_limit = send_end + Duration::from_secs(2);
    let mut windows: Vec<Window> = (0..samples).map(|_| Window::default()).collect();
    let window_of = |due: Instant| -> Option<usize> {
        if due < measure_start || due >= send_end {
            return None;
        }
        let idx = (due - measure_start).as_nanos() / sample.as_nanos().max(1);
        Some(idx as usize)
    };
    let due_at = |k: u64| t0 + Duration::from_nanos((k as f64 * period_ns) as u64);
    let mut k: u64 = 0;
    let mut next_snap = 0usize; // next window boundary to snapshot (0..=samples)
    let mut outstanding: u64 = 0;

    loop {
        let now = Instant::now();
        // Snapshot server CPU at window boundaries.
        while next_snap <= samples && now >= measure_start + sample * next_snap as u32 {
            let snap = Snap::take(server, server_cpu)?;
            if next_snap > 0 {
                windows[next_snap - 1].end = Some(snap);
            }
            if next_snap < samples {
                windows[next_snap].start = Some(snap);
            }
            next_snap += 1;
        }
        // Send everything that is due.
        loop {
            let due = due_at(k);
            if due > now || due >= send_end {
                break;
            }
            let c = &mut conns[(k % n) as usize];
            c.due.push_back(due);
            c.out.extend_from_slice(&frame);
            c.flush()?;
            if let Some(w) = window_of(due) {
                windows[w].sent += 1;
                windows[w]
                    .lag_ns
                    .push(now.saturating_duration_since(due).as_nanos() as u64);
            }
            outstanding += 1;
            k += 1;
        }
        if now >= send_end && (outstanding == 0 || now >= drain_limit) && next_snap > samples {
            break;
        }
        let next_due = due_at(k);
        let wait = if now >= send_end {
            Duration::from_millis(1)
        } else if next_due > now + Duration::from_micros(20) {
            // Sleep until the next send is due, or an echo arrives.
            timer.arm(next_due - now);
            Duration::from_millis(100)
        } else {
            Duration::ZERO
        };
        poll_for(&mut poll, &mut events, wait)?;
        for ev in events.iter() {
            if ev.token() == TIMER {
                timer.drain();
                continue;
            }
            let c = &mut conns[ev.token().0];
            c.flush()?;
            while let Some(got) = read_some(&mut c.stream, &mut scratch, server)? {
                let recv_t = Instant::now();
                let done = count_echoes(&mut c.scanner, &scratch[..got])?;
                for _ in 0..done {
                    let Some(due) = c.due.pop_front() else {
                        return Err("more echoes than messages sent".into());
                    };
                    outstanding -= 1;
                    if let Some(w) = window_of(due) {
                        windows[w]
                            .lat_ns
                            .push(recv_t.saturating_duration_since(due).as_nanos() as u64);
                    }
                }
            }
        }
    }
    server.check_alive()?;
    let mut out = Vec::new();
    for mut w in windows {
        w.lat_ns.sort_unstable();
        let us = |q: f64| {
            percentile_sorted(&w.lat_ns, q)
                .map(|v| v as f64 / 1e3)
                .unwrap_or(f64::NAN)
        };
        let cpu_us_per_msg = match (w.start, w.end) {
            (Some(a), Some(b)) if w.sent > 0 => b.cpu.since(&a.cpu) as f64 / 1e3 / w.sent as f64,
            _ => f64::NAN,
        };
        w.lag_ns.sort_unstable();
        let s = LatencySample {
            sent: w.sent,
            received: w.lat_ns.len() as u64,
            send_lag_p99_us: percentile_sorted(&w.lag_ns, 0.99)
                .map(|v| v as f64 / 1e3)
                .unwrap_or(f64::NAN),
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: us(1.0),
            cpu_us_per_msg,
        };
        on_sample(&s);
        out.push(s);
    }
    Ok(out)
}
