//! `hybi lab`: every handshake variant through every built-in intermediary, network conditions, attacks,
//! routing, the Huang et al. Table II re-run and implementability, measured and scored (see docs/lab.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hybi_lab::run::{LabConfig, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Options of `hybi lab`.
#[derive(Args, Debug)]
pub struct LabArgs {
    /// Write every cell, attack, condition and score as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write one self-contained HTML report (inline SVG charts) to PATH.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Comma-separated variants to measure, or `all`.
    #[arg(long, value_name = "LIST", default_value = "all")]
    variants: String,
    /// Fewer network-condition cells: split points sampled instead of every byte boundary.
    #[arg(long)]
    quick: bool,
    /// Also run the real HTTP intermediaries that can run here (root, installed with
    /// scripts/install-intermediaries.sh); the others are listed as not measured.
    #[arg(long)]
    real: bool,
    /// Daemon instances started per real intermediary (its scenes run that many at a time).
    #[arg(long, default_value_t = 2)]
    real_copies: usize,
    /// Skip the Table II population run.
    #[arg(long)]
    no_population: bool,
    /// Concurrent fast jobs (echo cells, network conditions, routing).
    #[arg(long, default_value_t = 12)]
    jobs: usize,
    /// Worker threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn done(&self, label: &str) {
        self.0.set_message(label.to_string());
        self.0.inc(1);
    }
}

/// Starts every real intermediary that can run here (`copies` instances each). Returns the running daemons
/// (kept until the lab ends), their `Via`s, and `(name, why)` for those that cannot be measured.
async fn start_real(
    copies: usize,
) -> (
    Vec<hybi_lab::real::Running>,
    Vec<hybi_lab::attack::Via>,
    Vec<(String, String)>,
) {
    let mut missing = hybi_lab::real::not_measured();
    let mut running = Vec::new();
    for p in hybi_lab::real::available() {
        match hybi_lab::real::launch(&p, copies).await {
            Ok(r) => {
                eprintln!("hybi lab: {} started in {:?}", r.name(), r.startup());
                running.push(r);
            }
            Err(e) => missing.push((p.name(), format!("did not start: {e}"))),
        }
    }
    let vias = running.iter().map(|r| r.via()).collect();
    (running, vias, missing)
}

/// Runs the lab.
pub fn run(args: LabArgs) -> ExitCode {
    let variants = match hybi::proto::variant::parse_list(&args.variants) {
        Ok(v) if !v.is_empty() => v,
        Ok(_) => {
            eprintln!("hybi lab: --variants names no variant");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("hybi lab: {e}");
            return ExitCode::from(2);
        }
    };
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let mut cfg = LabConfig {
        variants,
        quick: args.quick,
        fast_concurrency: args.jobs.max(1),
        real_concurrency: args.real_copies.max(1),
        population: !args.no_population,
        ..LabConfig::default()
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hybi lab: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    let mut real = Vec::new();
    if args.real {
        let (running, vias, missing) = rt.block_on(start_real(cfg.real_concurrency));
        if vias.is_empty() {
            eprintln!(
                "hybi lab: no real intermediary can run here; all are listed as not measured"
            );
        }
        real = running;
        cfg.extra = vias;
        cfg.not_measured = missing;
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let progress = Arc::new(Bar(bar.clone()));
    let mut report = rt.block_on(hybi_lab::run::run(&cfg, progress));
    bar.finish_and_clear();
    for r in &real {
        r.stop();
    }
    report.threads = threads;
    report.elapsed_s = (start.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    print!("{}", hybi_lab::report::text(&report));
    let mut ok = true;
    if let Some(p) = &args.json {
        match std::fs::write(p, hybi_lab::report::json(&report)) {
            Ok(()) => eprintln!("wrote {}", p.display()),
            Err(e) => {
                eprintln!("hybi lab: cannot write {}: {e}", p.display());
                ok = false;
            }
        }
    }
    if let Some(p) = &args.html {
        match std::fs::write(p, hybi_lab::report::html(&report)) {
            Ok(()) => eprintln!("wrote {}", p.display()),
            Err(e) => {
                eprintln!("hybi lab: cannot write {}: {e}", p.display());
                ok = false;
            }
        }
    }
    println!(
        "elapsed: {:.1} s on {threads} worker threads",
        start.elapsed().as_secs_f64()
    );
    // drop the runtime without waiting for tasks a hung cell may have left behind
    rt.shutdown_timeout(Duration::from_millis(200));
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
