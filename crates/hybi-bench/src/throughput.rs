//! Closed-loop throughput: through uWebSockets' load_test, or our own client.

use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::config::{Point, Profile};
use crate::echo_client::{count_echoes, new_poll, poll_for, read_some, register, write_from};
use crate::handshake::OpenConn;
use crate::procfs::{self, CpuSnapshot};
use crate::report::ThroughputSample;
use crate::server::{LineProcess, ServerProcess};
use crate::wire::{self, FrameScanner};

/// Server CPU and its core's load at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Snap {
    pub t: Instant,
    pub cpu: CpuSnapshot,
    pub core: Option<(u64, u64)>,
}

impl Snap {
    pub fn take(server: &ServerProcess, server_cpu: usize) -> Result<Snap, String> {
        let cpu = server
            .cpu()
            .map_err(|e| format!("reading server CPU time: {e}"))?;
        Ok(Snap {
            t: Instant::now(),
            cpu,
            core: procfs::cpu_jiffies(server_cpu),
        })
    }
}

/// A sample of `msgs` messages over `secs` seconds between two snapshots.
pub fn sample_between(a: &Snap, b: &Snap, msgs: u64, secs: f64) -> ThroughputSample {
    let cpu_ns = b.cpu.since(&a.cpu);
    let cpu_us = cpu_ns as f64 / 1e3;
    let other = other_busy_pct(a, b);
    ThroughputSample {
        msgs,
        secs,
        msgs_per_sec: if secs > 0.0 { msgs as f64 / secs } else { 0.0 },
        cpu_us,
        cpu_us_per_msg: if msgs > 0 {
            cpu_us / msgs as f64
        } else {
            f64::NAN
        },
        server_cpu_other_busy_pct: other,
        discarded: false,
    }
}

/// Share of the server's core spent on work other than the server between two snapshots
/// (`None` if /proc/stat was unreadable or no time passed).
pub fn other_busy_pct(a: &Snap, b: &Snap) -> Option<f64> {
    let cpu_ns = b.cpu.since(&a.cpu);
    match (a.core, b.core) {
        (Some((busy_a, total_a)), Some((busy_b, total_b))) if total_b > total_a => {
            let jiffy_ns = 1e9 / procfs::clk_tck() as f64;
            let busy_ns = (busy_b - busy_a) as f64 * jiffy_ns;
            let total_ns = (total_b - total_a) as f64 * jiffy_ns;
            Some(((busy_ns - cpu_ns as f64).max(0.0) / total_ns * 100.0).min(100.0))
        }
        _ => None,
    }
}

/// Whether a sample is to be taken again: the server's CPU was busy with other work
/// (`Profile::max_other_busy_pct`) and the point has retakes left.
pub fn retake(sample: &ThroughputSample, profile: &Profile, retakes_so_far: usize) -> bool {
    retakes_so_far < profile.max_retakes
        && sample
            .server_cpu_other_busy_pct
            .is_some_and(|busy| busy >= profile.max_other_busy_pct)
}

/// What load_test prints that we care about.
#[derive(Debug, PartialEq)]
pub enum LoadTestLine {
    Running,
    Rate(f64),
    Closed,
    Error(String),
    Other,
}

pub fn parse_load_test_line(line: &str) -> LoadTestLine {
    let l = line.trim();
    if let Some(v) = l.strip_prefix("Msg/sec:") {
        return match v.trim().parse() {
            Ok(r) => LoadTestLine::Rate(r),
            Err(_) => LoadTestLine::Error(format!("unparsable rate line {l:?}")),
        };
    }
    if l.starts_with("Running benchmark now") {
        LoadTestLine::Running
    } else if l.starts_with("Closed!") {
        LoadTestLine::Closed
    } else if l.starts_with("ERROR") || l.starts_with("Error") || l.starts_with("Usage") {
        LoadTestLine::Error(l.to_string())
    } else {
        LoadTestLine::Other
    }
}

/// load_test's reporting interval (LIBUS_TIMEOUT_GRANULARITY, fixed at 4 s in uSockets).
pub const LOAD_TEST_INTERVAL_SECS: f64 = 4.0;

/// Runs uWebSockets' load_test against `server`: discards the first (partial) interval and
/// `profile.load_test_warmup_intervals` more, then takes `profile.samples` 4 s samples.
pub fn run_load_test(
    load_test: &Path,
    server: &mut ServerProcess,
    point: Point,
    profile: &Profile,
    server_cpu: usize,
    client_cpu: usize,
    on_sample: &mut dyn FnMut(&ThroughputSample),
) -> Result<Vec<ThroughputSample>, String> {
    let args = vec![
        point.connections.to_string(),
        server.addr.ip().to_string(),
        server.addr.port().to_string(),
        "0".into(), // no TLS
        "0".into(), // no permessage-deflate
        point.bytes.to_string(),
    ];
    let lp = LineProcess::start(load_test, &args, client_cpu)
        .map_err(|e| format!("cannot start {}: {e}", load_test.display()))?;
    let mut samples = Vec::new();
    let mut retakes = 0usize;
    let mut intervals = 0usize;
    let mut prev: Option<Snap> = None;
    let mut running = false;
    let start = Instant::now();
    let wait_line = Duration::from_secs_f64(LOAD_TEST_INTERVAL_SECS * 2.0 + 2.0);
    let mut last_line = String::new();
    loop {
        let timeout = if running {
            wait_line
        } else {
            Duration::from_secs(30)
        };
        let (_, line) = match lp.lines.recv_timeout(timeout) {
            Ok(x) => x,
            Err(RecvTimeoutError::Timeout) => {
                server.check_alive()?;
                return Err(format!(
                    "load_test printed nothing for {timeout:?} (running: {running}, last line {last_line:?})"
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                server.check_alive()?;
                return Err(format!("load_test exited; last line {last_line:?}"));
            }
        };
        match parse_load_test_line(&line) {
            LoadTestLine::Running => running = true,
            LoadTestLine::Rate(rate) => {
                let snap = Snap::take(server, server_cpu)?;
                intervals += 1;
                if intervals > 1 + profile.load_test_warmup_intervals {
                    let a = prev.expect("previous snapshot");
                    let msgs = (rate * LOAD_TEST_INTERVAL_SECS).round() as u64;
                    let mut s = sample_between(&a, &snap, msgs, LOAD_TEST_INTERVAL_SECS);
                    s.discarded = retake(&s, profile, retakes);
                    retakes += usize::from(s.discarded);
                    on_sample(&s);
                    samples.push(s);
                    if samples.len() - retakes >= profile.samples {
                        break;
                    }
                }
                prev = Some(snap);
            }
            LoadTestLine::Closed => {
                server.check_alive()?;
                return Err("load_test: the server closed a connection".into());
            }
            LoadTestLine::Error(e) => return Err(format!("load_test: {e}")),
            LoadTestLine::Other => {}
        }
        last_line = line;
        if start.elapsed() > Duration::from_secs(600) {
            return Err("load_test point exceeded 10 minutes".into());
        }
    }
    drop(lp);
    server.check_alive()?;
    Ok(samples)
}

struct Conn {
    stream: mio::net::TcpStream,
    scanner: FrameScanner,
    /// Bytes of the current message written; == frame length once fully sent.
    written: usize,
}

/// Our own closed-loop client on the calling thread: every connection keeps one `bytes`-byte
/// binary message in flight. After `warmup`, takes `samples` samples of `sample` each.
#[allow(clippy::too_many_arguments)]
pub fn run_builtin(
    conns: Vec<OpenConn>,
    server: &mut ServerProcess,
    bytes: usize,
    warmup: Duration,
    sample: Duration,
    samples: usize,
    server_cpu: usize,
    on_sample: &mut dyn FnMut(&ThroughputSample),
) -> Result<Vec<ThroughputSample>, String> {
    let frame = wire::binary_message(bytes);
    let (mut poll, mut events) = new_poll()?;
    let mut conns: Vec<Conn> = conns
        .into_iter()
        .map(|c| Conn {
            stream: c.stream,
            scanner: FrameScanner::new(),
            written: 0,
        })
        .collect();
    let mut scratch = vec![0u8; 256 * 1024];
    let mut count: u64 = 0;
    for (i, c) in conns.iter_mut().enumerate() {
        register(&poll, &mut c.stream, i)?;
        write_from(&mut c.stream, &frame, &mut c.written)?;
    }
    let t0 = Instant::now();
    let mut boundary = t0 + warmup;
    let mut prev: Option<(Snap, u64)> = None;
    let mut out = Vec::new();
    let mut last_progress = (Instant::now(), 0u64);
    while out.len() < samples {
        let now = Instant::now();
        if now >= boundary {
            let snap = Snap::take(server, server_cpu)?;
            if let Some((a, c0)) = prev {
                let secs = snap.t.duration_since(a.t).as_secs_f64();
                let s = sample_between(&a, &snap, count - c0, secs);
                on_sample(&s);
                out.push(s);
            }
            prev = Some((snap, count));
            boundary = snap.t + sample;
            continue;
        }
        if now.duration_since(last_progress.0) > Duration::from_secs(5) {
            if count == last_progress.1 {
                server.check_alive()?;
                return Err("no echo for 5 s".into());
            }
            last_progress = (now, count);
        }
        let wait = (boundary - now).min(Duration::from_millis(20));
        poll_for(&mut poll, &mut events, wait)?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.written < frame.len() {
                write_from(&mut c.stream, &frame, &mut c.written)?;
            }
            while let Some(n) = read_some(&mut c.stream, &mut scratch, server)? {
                let done = count_echoes(&mut c.scanner, &scratch[..n])?;
                if done > 0 {
                    count += done;
                    c.written = 0;
                    write_from(&mut c.stream, &frame, &mut c.written)?;
                }
            }
        }
    }
    server.check_alive()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_samples_are_taken_again_up_to_the_limit() {
        let profile = Profile::full();
        let sample = |busy: Option<f64>| ThroughputSample {
            msgs: 1000,
            secs: 4.0,
            msgs_per_sec: 250.0,
            cpu_us: 4000.0,
            cpu_us_per_msg: 4.0,
            server_cpu_other_busy_pct: busy,
            discarded: false,
        };
        assert!(!retake(&sample(Some(1.0)), &profile, 0));
        assert!(!retake(&sample(None), &profile, 0), "unknown: kept");
        assert!(retake(&sample(Some(51.0)), &profile, 0));
        assert!(retake(
            &sample(Some(10.0)),
            &profile,
            profile.max_retakes - 1
        ));
        assert!(
            !retake(&sample(Some(51.0)), &profile, profile.max_retakes),
            "out of retakes: kept (and the report says the CPU was busy)"
        );
    }

    #[test]
    fn load_test_lines() {
        assert_eq!(
            parse_load_test_line("Msg/sec: 157922.250000"),
            LoadTestLine::Rate(157922.25)
        );
        assert_eq!(
            parse_load_test_line("Running benchmark now..."),
            LoadTestLine::Running
        );
        assert_eq!(parse_load_test_line("Closed!"), LoadTestLine::Closed);
        assert_eq!(
            parse_load_test_line("Using message size of 16 bytes"),
            LoadTestLine::Other
        );
        assert!(matches!(
            parse_load_test_line("ERROR: outstanding bytes negative!"),
            LoadTestLine::Error(_)
        ));
        assert!(matches!(
            parse_load_test_line("Msg/sec: x"),
            LoadTestLine::Error(_)
        ));
    }

    #[test]
    fn sample_math() {
        let a = Snap {
            t: Instant::now(),
            cpu: CpuSnapshot {
                stat_ns: 0,
                sched_ns: Some((1_000_000, 2)),
            },
            core: Some((100, 1000)),
        };
        let b = Snap {
            cpu: CpuSnapshot {
                stat_ns: 10_000_000,
                sched_ns: Some((3_000_000, 2)),
            },
            core: Some((300, 1400)),
            ..a
        };
        let s = sample_between(&a, &b, 1000, 2.0);
        assert_eq!(s.msgs_per_sec, 500.0);
        assert_eq!(s.cpu_us, 2000.0);
        assert_eq!(s.cpu_us_per_msg, 2.0);
        let other = s.server_cpu_other_busy_pct.unwrap();
        // 200 busy jiffies of 400 on the core; the server used 2 ms of the 2 s busy.
        let tick = 1e9 / procfs::clk_tck() as f64;
        let want = (200.0 * tick - 2e6) / (400.0 * tick) * 100.0;
        assert!((other - want).abs() < 1e-9);
    }
}
