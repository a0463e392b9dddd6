//! hybi-bench: runs WebSocket echo servers side by side, each single-threaded and pinned to one
//! CPU, under the same clients pinned to another, and reports per server:
//!
//! - closed-loop throughput (msgs/s) and server CPU µs per message at 100x16 B, 10x1 KiB and
//!   10x64 KiB, through uWebSockets' `load_test` (or our own client in the quick profile);
//! - handshakes/s (and CPU µs per handshake) from a raw client, one figure per handshake variant;
//! - KiB of server RSS per idle connection;
//! - open-loop latency percentiles;
//!
//! with ratios of every server to every peer computed in the same run. The method is that of
//! `shared/bench/README.md`. Servers are described by the command line that starts them
//! ([`ServerSpec`]), so any server that prints `listening ADDR` and echoes can be plugged in.
//!
//! ```no_run
//! use hybi_bench::{run, BenchConfig, LoadGenerator, Profile, ServerSpec};
//! let servers = vec![ServerSpec::hybi("hybi")];
//! let config = BenchConfig::new(servers, Profile::quick(), LoadGenerator::Builtin);
//! let report = run(config, |event| eprintln!("{event:?}"));
//! println!("{}", report.to_markdown());
//! ```

pub mod config;
mod echo_client;
pub mod handshake;
pub mod latency;
pub mod net;
pub mod peer;
pub mod procfs;
pub mod report;
pub mod server;
pub mod stats;
pub mod throughput;
pub mod uws;
pub mod wire;

use std::io::Read;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use config::{
    default_points, peer_specs, BenchConfig, DriverBuilder, HandshakeVariant, LoadGenerator, Point,
    Profile, RequestBuilder, Role, ServerSpec, Tests, VariantClient, VariantSelection,
    PEER_BINARIES, UWS_NAME,
};
pub use handshake::{DriverStatus, HandshakeDriver};
pub use report::BenchReport;

use handshake::{HandshakeJob, JobMode, OpenConn};
use net::SourceAddrs;
use report::{
    HandshakeResult, HandshakeSample, IdleResult, IdleSample, LatencyResult, Meta, ServerReport,
    ThroughputResult,
};
use server::ServerProcess;
use stats::median;

/// Which measurement a step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    Throughput,
    Handshake,
    Idle,
    Latency,
}

/// What [`run`] reports while it works.
#[derive(Clone, Debug)]
pub enum ProgressEvent {
    /// The run has this many steps (one step = one server on one point, variant or test).
    Planned {
        steps: usize,
        estimated_secs: f64,
    },
    StepStarted {
        index: usize,
        steps: usize,
        server: String,
        test: TestKind,
        detail: String,
    },
    /// One sample of the current step, already formatted.
    Sample {
        server: String,
        test: TestKind,
        detail: String,
        text: String,
    },
    StepFinished {
        index: usize,
        steps: usize,
        server: String,
        test: TestKind,
        detail: String,
        summary: String,
        ok: bool,
    },
    /// Something worth knowing about the run (fallbacks, limits).
    Note(String),
    Finished {
        secs: f64,
    },
}

#[derive(Clone, Debug)]
enum StepKind {
    /// A point, in one round (`Profile::rounds`).
    Throughput(Point, usize),
    /// A handshake variant (index in `BenchConfig::handshake_variants`), in one round.
    Handshake(usize, usize),
    Idle,
    Latency,
}

#[derive(Clone, Debug)]
struct Step {
    server: usize,
    kind: StepKind,
}

impl Step {
    fn test(&self) -> TestKind {
        match self.kind {
            StepKind::Throughput(..) => TestKind::Throughput,
            StepKind::Handshake(..) => TestKind::Handshake,
            StepKind::Idle => TestKind::Idle,
            StepKind::Latency => TestKind::Latency,
        }
    }

    fn detail(&self, config: &BenchConfig) -> String {
        match &self.kind {
            StepKind::Throughput(p, round) if config.profile.effective_rounds() > 1 => {
                let rounds = config.profile.effective_rounds();
                format!("{} (round {}/{rounds})", p.label(), round + 1)
            }
            StepKind::Throughput(p, _) => p.label(),
            StepKind::Handshake(v, round) if config.profile.effective_rounds() > 1 => format!(
                "handshakes {} (round {}/{})",
                config.handshake_variants[*v].name,
                round + 1,
                config.profile.effective_rounds()
            ),
            StepKind::Handshake(v, _) => {
                format!("handshakes {}", config.handshake_variants[*v].name)
            }
            StepKind::Idle => format!("{} idle conns", config.profile.idle_connections),
            StepKind::Latency => format!(
                "latency {}x{} @ {}/s",
                config.profile.latency_connections,
                report::fmt_bytes(config.profile.latency_payload),
                config.profile.latency_rate
            ),
        }
    }
}

/// Steps in measurement-major order: each point (then variant, idle, latency) goes through every
/// server before the next, so that drifting background load hits all servers alike.
fn plan(config: &BenchConfig) -> Vec<Step> {
    let mut steps = Vec::new();
    let n = config.servers.len();
    if config.tests.throughput {
        // Point-major, then round by round: each round measures every server once.
        for p in &config.points {
            for round in 0..config.profile.effective_rounds() {
                steps.extend((0..n).map(|server| Step {
                    server,
                    kind: StepKind::Throughput(*p, round),
                }));
            }
        }
    }
    if config.tests.handshakes {
        // Round by round, each round going through every variant of every server: the
        // rates of one server's variants are compared with each other (legacy variants
        // within 10% of RFC 6455), so drift must not land on some variants only.
        for round in 0..config.profile.effective_rounds() {
            for (vi, v) in config.handshake_variants.iter().enumerate() {
                for (server, spec) in config.servers.iter().enumerate() {
                    if config.variants_for(spec).iter().any(|x| x.name == v.name) {
                        steps.push(Step {
                            server,
                            kind: StepKind::Handshake(vi, round),
                        });
                    }
                }
            }
        }
    }
    if config.tests.idle {
        steps.extend((0..n).map(|server| Step {
            server,
            kind: StepKind::Idle,
        }));
    }
    if config.tests.latency {
        steps.extend((0..n).map(|server| Step {
            server,
            kind: StepKind::Latency,
        }));
    }
    steps
}

fn estimate_secs(config: &BenchConfig, load_test: bool) -> f64 {
    let p = &config.profile;
    let n = config.servers.len() as f64;
    let samples = p.samples as f64;
    let mut s = 0.0;
    if config.tests.throughput {
        // Every round starts the server again, with its own warm-up.
        let rounds = p.effective_rounds() as f64;
        let per_point = if load_test {
            // First partial interval (~2 s on average), warm-up and samples of 4 s.
            rounds
                * (2.0 + throughput::LOAD_TEST_INTERVAL_SECS * p.load_test_warmup_intervals as f64)
                + throughput::LOAD_TEST_INTERVAL_SECS * samples
        } else {
            rounds * (p.warmup_secs + 0.1) + p.sample_secs * samples
        };
        s += per_point * config.points.len() as f64 * n;
    }
    if config.tests.handshakes {
        let variants: usize = config
            .servers
            .iter()
            .map(|x| config.variants_for(x).len())
            .sum();
        // Every round starts the server again and warms it up with a tenth of a sample.
        let rounds = p.effective_rounds() as f64;
        let per_sample = p.handshake_connections as f64 / 10_000.0;
        s += variants as f64 * (per_sample * samples + rounds * (per_sample / 10.0 + 0.2));
    }
    if config.tests.idle {
        s += n * samples * (p.idle_settle_secs + p.idle_connections as f64 / 10_000.0 + 0.2);
    }
    if config.tests.latency {
        s += n * (p.latency_warmup_secs + p.latency_sample_secs * samples + 0.3);
    }
    s
}

/// Runs the whole suite: every configured test against every server, in one run, and returns the
/// report (figures, ratios to each peer, the run's conditions). Failures of one server or test are
/// recorded in the report and do not stop the others. Blocks the calling thread, which it pins
/// to `config.client_cpu` for the duration (restored on return); the clients run on it.
pub fn run(config: BenchConfig, mut progress: impl FnMut(ProgressEvent)) -> BenchReport {
    let t_start = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut notes: Vec<String> = Vec::new();
    let note = |notes: &mut Vec<String>, progress: &mut dyn FnMut(ProgressEvent), s: String| {
        progress(ProgressEvent::Note(s.clone()));
        notes.push(s);
    };

    let nofile = match net::raise_nofile() {
        Ok(n) => Some(n),
        Err(e) => {
            note(
                &mut notes,
                &mut progress,
                format!("cannot raise RLIMIT_NOFILE: {e}"),
            );
            None
        }
    };
    let p = &config.profile;
    let needed_fds = (p.idle_connections.max(p.handshake_in_flight) + 200) as u64;
    if let Some(n) = nofile {
        if n < needed_fds {
            note(
                &mut notes,
                &mut progress,
                format!(
                    "RLIMIT_NOFILE is {n}: idle test with {} connections may fail",
                    p.idle_connections
                ),
            );
        }
    }
    let cpus = procfs::online_cpus();
    if config.server_cpu == config.client_cpu || cpus < 2 {
        note(
            &mut notes,
            &mut progress,
            format!(
                "server CPU {} and client CPU {} on a {cpus}-CPU machine: server and clients compete",
                config.server_cpu, config.client_cpu
            ),
        );
    }
    let _pin = match net::pin_current_thread(config.client_cpu) {
        Ok(g) => Some(g),
        Err(e) => {
            note(
                &mut notes,
                &mut progress,
                format!("cannot pin clients to CPU {}: {e}", config.client_cpu),
            );
            None
        }
    };
    let _nice = match config.nice {
        Some(n) => match net::set_thread_nice(n) {
            Ok(g) => {
                note(
                    &mut notes,
                    &mut progress,
                    format!("servers and clients run at nice {n}"),
                );
                Some(g)
            }
            Err(e) => {
                note(
                    &mut notes,
                    &mut progress,
                    format!("cannot set nice {n}: {e}"),
                );
                None
            }
        },
        None => None,
    };
    let pinning = if server::taskset_path().is_some() {
        "taskset -c".to_string()
    } else {
        "sched_setaffinity (taskset not found)".to_string()
    };
    let load_test = match &config.load_generator {
        LoadGenerator::LoadTest(path) if path.is_file() => Some(path.clone()),
        LoadGenerator::LoadTest(path) => {
            note(
                &mut notes,
                &mut progress,
                format!(
                    "{} not found: using the builtin closed-loop client",
                    path.display()
                ),
            );
            None
        }
        LoadGenerator::Builtin => None,
    };
    let load_generator = match &load_test {
        Some(_) => format!(
            "uWebSockets load_test ({} s samples after {} warm-up interval(s))",
            throughput::LOAD_TEST_INTERVAL_SECS,
            p.load_test_warmup_intervals + 1
        ),
        None => format!(
            "builtin closed-loop client ({} s samples after {} s warm-up)",
            p.sample_secs, p.warmup_secs
        ),
    };
    if config.profile.samples < 3 {
        note(
            &mut notes,
            &mut progress,
            format!(
                "only {} samples per point (method asks for >= 3)",
                config.profile.samples
            ),
        );
    }

    let ps_before = procfs::ps_top(5);
    let steps = plan(&config);
    progress(ProgressEvent::Planned {
        steps: steps.len(),
        estimated_secs: estimate_secs(&config, load_test.is_some()),
    });
    let mut servers: Vec<ServerReport> = config
        .servers
        .iter()
        .map(|s| ServerReport::new(&s.name, s.role, &s.command))
        .collect();
    let mut sources = SourceAddrs::new();
    let total = steps.len();

    for (index, step) in steps.iter().enumerate() {
        let spec = &config.servers[step.server];
        let test = step.test();
        let detail = step.detail(&config);
        progress(ProgressEvent::StepStarted {
            index,
            steps: total,
            server: spec.name.clone(),
            test,
            detail: detail.clone(),
        });
        let name = spec.name.clone();
        let mut sample_cb = |text: String| {
            progress(ProgressEvent::Sample {
                server: name.clone(),
                test,
                detail: detail.clone(),
                text,
            })
        };
        let rep = &mut servers[step.server];
        let (ok, summary) = match &step.kind {
            StepKind::Throughput(point, round) => {
                let r = measure_throughput(
                    &config,
                    spec,
                    *point,
                    config.profile.samples_in_round(*round),
                    load_test.as_deref(),
                    &mut sources,
                    &mut sample_cb,
                );
                let s = summarize(&r.error, || {
                    format!(
                        "{} msgs/s, {} µs/msg",
                        report::fmt_rate(r.msgs_per_sec),
                        report::fmt_num(r.cpu_us_per_msg)
                    )
                });
                merge_round(&mut rep.throughput, r);
                s
            }
            StepKind::Handshake(vi, round) => {
                let v = &config.handshake_variants[*vi];
                let samples = config.profile.samples_in_round(*round);
                let r = measure_handshakes(&config, spec, v, samples, &mut sources, &mut sample_cb);
                let s = summarize(&r.error, || {
                    format!(
                        "{} handshakes/s, {} µs/handshake{}",
                        report::fmt_rate(r.per_sec),
                        report::fmt_num(r.cpu_us_per_handshake),
                        if r.failed > 0 {
                            format!(", {} failed", r.failed)
                        } else {
                            String::new()
                        }
                    )
                });
                merge_handshake_round(&mut rep.handshakes, r);
                s
            }
            StepKind::Idle => {
                let r = measure_idle(&config, spec, &mut sources, &mut sample_cb);
                let s = summarize(&r.error, || {
                    format!("{} KiB/idle conn", report::fmt_num(r.kib_per_conn))
                });
                rep.idle = Some(r);
                s
            }
            StepKind::Latency => {
                let r = measure_latency(&config, spec, &mut sources, &mut sample_cb);
                let s = summarize(&r.error, || {
                    format!(
                        "p50 {} µs, p99 {} µs, p99.9 {} µs",
                        report::fmt_num(r.p50_us),
                        report::fmt_num(r.p99_us),
                        report::fmt_num(r.p999_us)
                    )
                });
                rep.latency = Some(r);
                s
            }
        };
        progress(ProgressEvent::StepFinished {
            index,
            steps: total,
            server: spec.name.clone(),
            test,
            detail: step.detail(&config),
            summary,
            ok,
        });
    }

    let ps_after = procfs::ps_top(5);
    let ratios = report::compute_ratios(&servers);
    let secs = t_start.elapsed().as_secs_f64();
    let report = BenchReport {
        meta: Meta {
            tool: "hybi-bench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            started_unix,
            duration_secs: secs,
            profile: config.profile.clone(),
            load_generator,
            server_cpu: config.server_cpu,
            client_cpu: config.client_cpu,
            pinning,
            cpu_model: procfs::cpu_model(),
            online_cpus: cpus,
            kernel: procfs::kernel(),
            nofile_limit: nofile,
            ps_before,
            ps_after,
            notes,
        },
        servers,
        ratios,
    };
    progress(ProgressEvent::Finished { secs });
    report
}

fn summarize(error: &Option<String>, ok: impl FnOnce() -> String) -> (bool, String) {
    match error {
        Some(e) => (false, format!("error: {}", e.lines().next().unwrap_or(""))),
        None => (true, ok()),
    }
}

fn start_server(config: &BenchConfig, spec: &ServerSpec) -> Result<ServerProcess, String> {
    let s = ServerProcess::start(spec, config.server_cpu, config.server_start_timeout)?;
    // Let it settle (runtime start-up, first allocations) before anything is measured.
    std::thread::sleep(Duration::from_millis(50));
    Ok(s)
}

/// Opens `n` RFC 6455 connections to `server` and keeps them.
fn open_connections(
    server: &mut ServerProcess,
    n: usize,
    in_flight: usize,
    sources: &mut SourceAddrs,
) -> Result<Vec<OpenConn>, String> {
    sources.skip_to_fresh();
    let request = wire::rfc6455_request(server.addr, "/");
    let job = HandshakeJob {
        addr: server.addr,
        mode: JobMode::Prebuilt {
            request: &request,
            response_body_len: 0,
        },
        total: n,
        in_flight,
        keep_open: true,
        per_connection_timeout: Duration::from_secs(10),
        deadline: Instant::now() + Duration::from_secs(60 + n as u64 / 200),
    };
    let out = handshake::run(&job, sources);
    if out.ok < n {
        server.check_alive()?;
        return Err(format!(
            "opened {} of {n} connections: {}",
            out.ok,
            out.first_error.unwrap_or_else(|| "timed out".into())
        ));
    }
    Ok(out.kept)
}

/// Adds one round's result for a point to the server's results: its samples join the
/// point's, the medians are taken again over every kept sample, and the first error stays.
fn merge_round(results: &mut Vec<ThroughputResult>, round: ThroughputResult) {
    let Some(point) = results.iter_mut().find(|r| r.label == round.label) else {
        results.push(round);
        return;
    };
    point.samples.extend(round.samples);
    if point.error.is_none() {
        point.error = round.error;
    }
    let kept = || point.samples.iter().filter(|s| !s.discarded);
    point.msgs_per_sec = median(kept().map(|s| s.msgs_per_sec));
    point.cpu_us_per_msg = median(kept().map(|s| s.cpu_us_per_msg));
}

/// Adds one round of a handshake variant to the server's results (one per variant).
fn merge_handshake_round(results: &mut Vec<HandshakeResult>, round: HandshakeResult) {
    let Some(variant) = results.iter_mut().find(|r| r.variant == round.variant) else {
        results.push(round);
        return;
    };
    variant.samples.extend(round.samples);
    variant.failed += round.failed;
    if variant.error.is_none() {
        variant.error = round.error;
    }
    variant.per_sec = median(variant.samples.iter().map(|s| s.per_sec));
    variant.cpu_us_per_handshake = median(variant.samples.iter().map(|s| s.cpu_us_per_handshake));
}

/// One round of a throughput point: `samples` samples (plus retakes) after a fresh start
/// and warm-up.
#[allow(clippy::too_many_arguments)]
fn measure_throughput(
    config: &BenchConfig,
    spec: &ServerSpec,
    point: Point,
    samples: usize,
    load_test: Option<&std::path::Path>,
    sources: &mut SourceAddrs,
    sample_cb: &mut dyn FnMut(String),
) -> ThroughputResult {
    let p = &Profile {
        samples,
        ..config.profile.clone()
    };
    let mut result = ThroughputResult {
        point,
        label: point.label(),
        load_generator: if load_test.is_some() {
            "load_test".into()
        } else {
            "builtin".into()
        },
        msgs_per_sec: None,
        cpu_us_per_msg: None,
        samples: Vec::new(),
        error: None,
    };
    let mut on_sample = |s: &report::ThroughputSample| {
        sample_cb(format!(
            "{} msgs/s, {:.2} µs/msg{}",
            report::fmt_rate(Some(s.msgs_per_sec)),
            s.cpu_us_per_msg,
            busy_note(s.server_cpu_other_busy_pct)
                + if s.discarded {
                    ": discarded, taken again"
                } else {
                    ""
                }
        ))
    };
    let outcome = (|| {
        let mut server = start_server(config, spec)?;
        match load_test {
            Some(lt) => throughput::run_load_test(
                lt,
                &mut server,
                point,
                p,
                config.server_cpu,
                config.client_cpu,
                &mut on_sample,
            ),
            None => {
                let conns = open_connections(
                    &mut server,
                    point.connections,
                    p.handshake_in_flight,
                    sources,
                )?;
                throughput::run_builtin(
                    conns,
                    &mut server,
                    point.bytes,
                    Duration::from_secs_f64(p.warmup_secs),
                    Duration::from_secs_f64(p.sample_secs),
                    p.samples,
                    config.server_cpu,
                    &mut on_sample,
                )
            }
        }
    })();
    match outcome {
        Ok(samples) => {
            let kept = || samples.iter().filter(|s| !s.discarded);
            result.msgs_per_sec = median(kept().map(|s| s.msgs_per_sec));
            result.cpu_us_per_msg = median(kept().map(|s| s.cpu_us_per_msg));
            result.samples = samples;
        }
        Err(e) => result.error = Some(e),
    }
    result
}

/// " (server CPU N% busy with others)" for a sample whose core did other work, else "".
fn busy_note(other_busy_pct: Option<f64>) -> String {
    other_busy_pct
        .filter(|x| *x >= 1.0)
        .map(|x| format!(" (server CPU {x:.0}% busy with others)"))
        .unwrap_or_default()
}

fn measure_handshakes(
    config: &BenchConfig,
    spec: &ServerSpec,
    variant: &HandshakeVariant,
    samples_wanted: usize,
    sources: &mut SourceAddrs,
    sample_cb: &mut dyn FnMut(String),
) -> HandshakeResult {
    let p = &config.profile;
    let mut result = HandshakeResult {
        variant: variant.name.clone(),
        connections: p.handshake_connections,
        in_flight: p.handshake_in_flight,
        per_sec: None,
        cpu_us_per_handshake: None,
        failed: 0,
        samples: Vec::new(),
        error: None,
    };
    let outcome = (|| -> Result<Vec<HandshakeSample>, String> {
        let mut server = start_server(config, spec)?;
        let addr = server.addr;
        let request: Vec<u8>;
        let factory: Box<dyn Fn() -> Box<dyn HandshakeDriver>>;
        let mode = match &variant.client {
            VariantClient::Prebuilt {
                build_request,
                response_body_len,
            } => {
                request = build_request(addr);
                JobMode::Prebuilt {
                    request: &request,
                    response_body_len: *response_body_len,
                }
            }
            VariantClient::Interactive(build) => {
                let build = build.clone();
                factory = Box::new(move || build(addr));
                JobMode::Interactive(&*factory)
            }
        };
        let job = |total: usize| HandshakeJob {
            addr,
            mode,
            total,
            in_flight: p.handshake_in_flight,
            keep_open: false,
            per_connection_timeout: Duration::from_secs(10),
            deadline: Instant::now() + Duration::from_secs(60 + total as u64 / 200),
        };
        // Warm-up: a tenth of a sample, not measured.
        sources.skip_to_fresh();
        let warm = handshake::run(&job((p.handshake_connections / 10).max(10)), sources);
        if warm.ok == 0 {
            server.check_alive()?;
            return Err(format!(
                "no handshake succeeded: {}",
                warm.first_error.unwrap_or_else(|| "timed out".into())
            ));
        }
        let mut samples: Vec<HandshakeSample> = Vec::new();
        while samples.len() < samples_wanted {
            sources.skip_to_fresh();
            let before = throughput::Snap::take(&server, config.server_cpu)?;
            let client_before = net::thread_cpu_ns();
            let out = handshake::run(&job(p.handshake_connections), sources);
            let client_ns = net::thread_cpu_ns().saturating_sub(client_before);
            let after_snap = throughput::Snap::take(&server, config.server_cpu)?;
            let other = throughput::other_busy_pct(&before, &after_snap);
            let (before, after) = (before.cpu, after_snap.cpu);
            server.check_alive()?;
            if out.ok == 0 {
                return Err(format!(
                    "no handshake succeeded: {}",
                    out.first_error.unwrap_or_else(|| "timed out".into())
                ));
            }
            let secs = out.elapsed.as_secs_f64();
            let cpu_us = after.since(&before) as f64 / 1e3;
            let s = HandshakeSample {
                ok: out.ok,
                failed: out.failed,
                secs,
                per_sec: out.ok as f64 / secs.max(1e-9),
                cpu_us_per_handshake: cpu_us / out.ok as f64,
                client_cpu_us_per_handshake: client_ns as f64 / 1e3 / out.ok as f64,
                // Recorded, never retaken: unlike throughput samples, handshakes leave part
                // of their own cost on the core outside the server process (TCP set-up and
                // tear-down in softirq context): uWS's samples ran 13-32% "busy with others"
                // on an otherwise quiet core (docs/benchmarks.md, "session 4").
                server_cpu_other_busy_pct: other,
            };
            sample_cb(format!(
                "{} handshakes/s, {:.2} µs/handshake (client {:.2} µs){}{}",
                report::fmt_rate(Some(s.per_sec)),
                s.cpu_us_per_handshake,
                s.client_cpu_us_per_handshake,
                busy_note(other),
                if out.failed > 0 {
                    format!(
                        ", {} failed: {}",
                        out.failed,
                        out.first_error.unwrap_or_default()
                    )
                } else {
                    String::new()
                }
            ));
            samples.push(s);
        }
        Ok(samples)
    })();
    match outcome {
        Ok(samples) => {
            result.per_sec = median(samples.iter().map(|s| s.per_sec));
            result.cpu_us_per_handshake = median(samples.iter().map(|s| s.cpu_us_per_handshake));
            result.failed = samples.iter().map(|s| s.failed).sum();
            result.samples = samples;
        }
        Err(e) => result.error = Some(e),
    }
    result
}

/// How many of `conns` the server has closed (EOF or error pending), without consuming data
/// beyond what is already buffered.
fn closed_count(conns: &mut [OpenConn]) -> usize {
    let mut buf = [0u8; 256];
    let mut closed = 0;
    for c in conns.iter_mut() {
        match c.stream.read(&mut buf) {
            Ok(0) => closed += 1,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => closed += 1,
        }
    }
    closed
}

fn measure_idle(
    config: &BenchConfig,
    spec: &ServerSpec,
    sources: &mut SourceAddrs,
    sample_cb: &mut dyn FnMut(String),
) -> IdleResult {
    let p = &config.profile;
    let n = p.idle_connections;
    let mut result = IdleResult {
        connections: n,
        kib_per_conn: None,
        samples: Vec::new(),
        error: None,
    };
    let outcome = (|| -> Result<Vec<IdleSample>, String> {
        let mut samples = Vec::new();
        for _ in 0..p.samples {
            // A fresh server each time: memory freed by an earlier sample would be reused.
            let mut server = start_server(config, spec)?;
            let before = server.rss_kib().map_err(|e| format!("server RSS: {e}"))?;
            let mut conns = open_connections(&mut server, n, p.handshake_in_flight, sources)?;
            std::thread::sleep(Duration::from_secs_f64(p.idle_settle_secs));
            server.check_alive()?;
            let idle = server.rss_kib().map_err(|e| format!("server RSS: {e}"))?;
            let closed = closed_count(&mut conns);
            let s = IdleSample {
                connections: n,
                rss_before_kib: before,
                rss_idle_kib: idle,
                kib_per_conn: (idle as f64 - before as f64) / n as f64,
                closed_by_server: closed,
            };
            sample_cb(format!(
                "{:.2} KiB/conn (RSS {} -> {} KiB){}",
                s.kib_per_conn,
                before,
                idle,
                if closed > 0 {
                    format!(", {closed} closed by server")
                } else {
                    String::new()
                }
            ));
            samples.push(s);
            drop(conns);
            drop(server);
        }
        Ok(samples)
    })();
    match outcome {
        Ok(samples) => {
            result.kib_per_conn = median(samples.iter().map(|s| s.kib_per_conn));
            if let Some(s) = samples.iter().find(|s| s.closed_by_server > 0) {
                result.error = Some(format!(
                    "the server closed {} of {} idle connections",
                    s.closed_by_server, s.connections
                ));
            }
            result.samples = samples;
        }
        Err(e) => result.error = Some(e),
    }
    result
}

fn measure_latency(
    config: &BenchConfig,
    spec: &ServerSpec,
    sources: &mut SourceAddrs,
    sample_cb: &mut dyn FnMut(String),
) -> LatencyResult {
    let p = &config.profile;
    let mut result = LatencyResult {
        connections: p.latency_connections,
        rate: p.latency_rate,
        payload: p.latency_payload,
        p50_us: None,
        p99_us: None,
        p999_us: None,
        max_us: None,
        cpu_us_per_msg: None,
        client_send_lag_p99_us: None,
        samples: Vec::new(),
        error: None,
    };
    let mut on_sample = |s: &report::LatencySample| {
        sample_cb(format!(
            "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs ({}/{} echoed; client send lag p99 {:.1} µs)",
            s.p50_us, s.p99_us, s.p999_us, s.received, s.sent, s.send_lag_p99_us
        ))
    };
    let outcome = (|| {
        let mut server = start_server(config, spec)?;
        let conns = open_connections(
            &mut server,
            p.latency_connections,
            p.handshake_in_flight,
            sources,
        )?;
        latency::run_latency(
            conns,
            &mut server,
            p.latency_rate,
            p.latency_payload,
            Duration::from_secs_f64(p.latency_warmup_secs),
            Duration::from_secs_f64(p.latency_sample_secs),
            p.samples,
            config.server_cpu,
            &mut on_sample,
        )
    })();
    match outcome {
        Ok(samples) => {
            result.p50_us = median(samples.iter().map(|s| s.p50_us));
            result.p99_us = median(samples.iter().map(|s| s.p99_us));
            result.p999_us = median(samples.iter().map(|s| s.p999_us));
            result.max_us = samples
                .iter()
                .map(|s| s.max_us)
                .filter(|x| x.is_finite())
                .reduce(f64::max);
            result.cpu_us_per_msg = median(samples.iter().map(|s| s.cpu_us_per_msg));
            result.client_send_lag_p99_us = median(samples.iter().map(|s| s.send_lag_p99_us));
            let lost: u64 = samples.iter().map(|s| s.sent - s.received).sum();
            if lost > 0 {
                result.error = Some(format!("{lost} messages not echoed within 2 s of the end"));
            }
            result.samples = samples;
        }
        Err(e) => result.error = Some(e),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With rounds, each round measures every server once before the next round starts,
    /// and the samples are spread over the rounds.
    #[test]
    fn throughput_rounds_interleave_the_servers() {
        let mut profile = Profile::quick();
        profile.rounds = 3;
        let config = BenchConfig::new(
            vec![
                ServerSpec::hybi("hybi"),
                ServerSpec::peer("p", vec!["p".into()]),
            ],
            profile,
            LoadGenerator::Builtin,
        );
        let order: Vec<(u16, usize, usize)> = plan(&config)
            .iter()
            .filter_map(|s| match s.kind {
                StepKind::Throughput(p, round) => Some((p.bytes as u16, round, s.server)),
                _ => None,
            })
            .take(6)
            .collect();
        assert_eq!(
            order,
            [
                (16, 0, 0),
                (16, 0, 1),
                (16, 1, 0),
                (16, 1, 1),
                (16, 2, 0),
                (16, 2, 1)
            ]
        );
        let p = &config.profile;
        assert_eq!((0..3).map(|r| p.samples_in_round(r)).sum::<usize>(), 3);
        let mut uneven = Profile::quick();
        (uneven.samples, uneven.rounds) = (4, 3);
        assert_eq!(
            (0..3)
                .map(|r| uneven.samples_in_round(r))
                .collect::<Vec<_>>(),
            [2, 1, 1]
        );
        (uneven.samples, uneven.rounds) = (2, 5);
        assert_eq!(uneven.effective_rounds(), 2);
    }

    /// Handshake rounds go through every variant of every server before the next round.
    #[test]
    fn handshake_rounds_interleave_variants_and_servers() {
        let mut profile = Profile::quick();
        (profile.samples, profile.rounds) = (3, 3);
        let mut config = BenchConfig::new(
            vec![
                ServerSpec::hybi("hybi"),
                ServerSpec::peer("p", vec!["p".into()]),
            ],
            profile,
            LoadGenerator::Builtin,
        );
        config.handshake_variants = vec![HandshakeVariant::rfc6455(), HandshakeVariant::rfc6455()];
        config.handshake_variants[1].name = "other".into();
        config.handshake_variants[1].universal = false;
        config.tests = Tests::parse_list("handshakes").unwrap();
        let order: Vec<(usize, usize, usize)> = plan(&config)
            .iter()
            .filter_map(|s| match s.kind {
                StepKind::Handshake(v, round) => Some((round, v, s.server)),
                _ => None,
            })
            .collect();
        // The peer speaks RFC 6455 only; hybi every variant.
        let one_round = |r| [(r, 0, 0), (r, 0, 1), (r, 1, 0)];
        let want: Vec<_> = (0..3).flat_map(one_round).collect();
        assert_eq!(order, want);
    }

    /// A variant's rounds merge into one result: all samples, failures summed, medians
    /// over every sample.
    #[test]
    fn handshake_rounds_merge_into_one_result_per_variant() {
        let round = |name: &str, rates: &[f64], failed: usize| HandshakeResult {
            variant: name.into(),
            connections: 10_000,
            in_flight: 100,
            per_sec: rates.first().copied(),
            cpu_us_per_handshake: None,
            failed,
            samples: rates
                .iter()
                .map(|&r| HandshakeSample {
                    ok: 10_000,
                    failed,
                    secs: 10_000.0 / r,
                    per_sec: r,
                    cpu_us_per_handshake: 1e6 / r,
                    client_cpu_us_per_handshake: 20.0,
                    server_cpu_other_busy_pct: None,
                })
                .collect(),
            error: None,
        };
        let mut results = Vec::new();
        merge_handshake_round(&mut results, round("rfc6455", &[40_000.0], 0));
        merge_handshake_round(&mut results, round("hixie-76", &[10_000.0], 0));
        merge_handshake_round(&mut results, round("rfc6455", &[10_000.0, 20_000.0], 2));
        merge_handshake_round(&mut results, round("rfc6455", &[30_000.0], 1));
        assert_eq!(results.len(), 2);
        let r = &results[0];
        assert_eq!((r.samples.len(), r.failed), (4, 3));
        assert_eq!(r.per_sec, Some(25_000.0));
        assert_eq!(results[1].per_sec, Some(10_000.0));
    }

    /// A point's rounds add up: every sample is kept, the medians are over the kept ones.
    #[test]
    fn rounds_merge_into_one_result_per_point() {
        let point = Point::new(100, 16);
        let round = |cpu: &[(f64, bool)]| ThroughputResult {
            point,
            label: point.label(),
            load_generator: "builtin".into(),
            msgs_per_sec: None,
            cpu_us_per_msg: None,
            samples: cpu
                .iter()
                .map(|&(c, discarded)| report::ThroughputSample {
                    msgs: 400_000,
                    secs: 4.0,
                    msgs_per_sec: 1e5,
                    cpu_us: c * 400_000.0,
                    cpu_us_per_msg: c,
                    server_cpu_other_busy_pct: None,
                    discarded,
                })
                .collect(),
            error: None,
        };
        let mut results = Vec::new();
        merge_round(&mut results, round(&[(4.0, false)]));
        merge_round(&mut results, round(&[(9.0, true), (5.0, false)]));
        merge_round(&mut results, round(&[(3.0, false)]));
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].samples.len(), 4);
        assert_eq!(results[0].cpu_us_per_msg, Some(4.0));
    }

    #[test]
    fn plan_is_measurement_major_and_variant_aware() {
        let mut config = BenchConfig::new(
            vec![
                ServerSpec::hybi("hybi"),
                ServerSpec::peer("p", vec!["p".into()]),
            ],
            Profile::quick(),
            LoadGenerator::Builtin,
        );
        config
            .handshake_variants
            .push(HandshakeVariant::new("hixie-76", 16, |_| {
                b"GET / HTTP/1.1\r\n\r\n".to_vec()
            }));
        let steps = plan(&config);
        // 3 points x 2 servers, rfc6455 x 2 + hixie-76 x 1 (hybi only), idle x 2, latency x 2.
        assert_eq!(steps.len(), 6 + 3 + 2 + 2);
        assert!(matches!(steps[0].kind, StepKind::Throughput(p, 0) if p.bytes == 16));
        assert_eq!((steps[0].server, steps[1].server), (0, 1));
        let hs: Vec<(usize, usize)> = steps
            .iter()
            .filter_map(|s| match s.kind {
                StepKind::Handshake(v, _) => Some((v, s.server)),
                _ => None,
            })
            .collect();
        assert_eq!(hs, vec![(0, 0), (0, 1), (1, 0)]);
        assert!(estimate_secs(&config, false) < 60.0);
    }
}
