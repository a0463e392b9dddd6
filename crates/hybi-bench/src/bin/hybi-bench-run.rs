//! Runs the side-by-side benchmark against the peers (and any `--server` given), prints the
//! Markdown report on stdout and writes the JSON report. Progress goes to stderr.
//!
//! Full run (the method of shared/bench/README.md, several minutes):
//!     hybi-bench-run --json bench.json
//! Smoke test (under a minute with four servers):
//!     hybi-bench-run --quick

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use hybi_bench::{
    peer_specs, run, uws, BenchConfig, LoadGenerator, Profile, ProgressEvent, ServerSpec, Tests,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Loadgen {
    /// load_test for the full profile, the builtin client for --quick.
    Auto,
    /// uWebSockets' load_test (4 s samples).
    LoadTest,
    /// Our own closed-loop client.
    Builtin,
}

#[derive(Parser, Debug)]
#[command(
    name = "hybi-bench-run",
    about = "WebSocket echo servers side by side: hybi's peers (and any --server)"
)]
struct Args {
    /// Short samples and fewer connections: a smoke test of the whole suite.
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON report.
    #[arg(long, default_value = "hybi-bench-report.json")]
    json: PathBuf,
    /// Also write the Markdown report here (it is always printed on stdout).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Directory holding the bench-echo-* binaries (default: this binary's directory).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Where build-uws.sh puts load_test and uws_echo (default: <bin-dir>/../uws).
    #[arg(long)]
    uws_dir: Option<PathBuf>,
    /// Leave uWebSockets out.
    #[arg(long)]
    no_uws: bool,
    /// Do not run scripts/bench/build-uws.sh; use what is in --uws-dir.
    #[arg(long)]
    no_build: bool,
    #[arg(long, value_enum, default_value = "auto")]
    loadgen: Loadgen,
    /// Only servers whose name contains one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Add a server under test: NAME=COMMAND (split on whitespace; it must print `listening ADDR`).
    #[arg(long = "server", value_name = "NAME=COMMAND")]
    servers: Vec<String>,
    /// Tests to run: comma-separated, of throughput, handshakes, idle, latency (default all).
    #[arg(long, value_parser = Tests::parse_list)]
    tests: Option<Tests>,
    /// Samples per point (median reported).
    #[arg(long)]
    samples: Option<usize>,
    /// Rounds of throughput and handshake samples (each measures every server once per
    /// point and variant); default: the profile's (3 full, 1 quick).
    #[arg(long)]
    rounds: Option<usize>,
    #[arg(long)]
    handshake_connections: Option<usize>,
    #[arg(long)]
    idle_connections: Option<usize>,
    #[arg(long, default_value_t = 0)]
    server_cpu: usize,
    #[arg(long, default_value_t = 1)]
    client_cpu: usize,
    /// Run servers and clients at this nice value (e.g. -10, needs root) so that other
    /// processes on a shared machine preempt the measurement less. Same for every server.
    #[arg(long, allow_hyphen_values = true)]
    nice: Option<i32>,
}

fn main() {
    let args = Args::parse();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| exe_dir.clone());
    let uws_dir = args
        .uws_dir
        .clone()
        .unwrap_or_else(|| bin_dir.join("../uws"));

    let mut profile = if args.quick {
        Profile::quick()
    } else {
        Profile::full()
    };
    if let Some(r) = args.rounds {
        profile.rounds = r.max(1);
    }
    if let Some(s) = args.samples {
        profile.samples = s.max(1);
    }
    if let Some(n) = args.handshake_connections {
        profile.handshake_connections = n;
    }
    if let Some(n) = args.idle_connections {
        profile.idle_connections = n;
    }

    let want_load_test = match args.loadgen {
        Loadgen::Auto => !args.quick,
        Loadgen::LoadTest => true,
        Loadgen::Builtin => false,
    };
    let mut uws_bins = None;
    if !args.no_uws || want_load_test {
        let built = if args.no_build {
            uws::UwsBinaries::in_dir(&uws_dir)
                .ok_or_else(|| format!("no binaries in {}", uws_dir.display()))
        } else {
            eprintln!("building uWebSockets peer and load_test (scripts/bench/build-uws.sh)...");
            uws::ensure_built(&uws::build_script(), &uws_dir)
        };
        match built {
            Ok(b) => uws_bins = Some(b),
            Err(e) => eprintln!("warning: uWebSockets unavailable: {e}"),
        }
    }

    let mut servers: Vec<ServerSpec> = Vec::new();
    for s in &args.servers {
        let Some((name, cmd)) = s.split_once('=') else {
            eprintln!("--server wants NAME=COMMAND, got {s:?}");
            std::process::exit(2);
        };
        servers.push(ServerSpec::subject(
            name,
            cmd.split_whitespace().map(String::from).collect(),
        ));
    }
    let uws_echo = if args.no_uws {
        None
    } else {
        uws_bins.as_ref().map(|b| b.uws_echo.as_path())
    };
    let (peers, missing) = peer_specs(&bin_dir, uws_echo);
    for m in missing {
        eprintln!(
            "warning: peer binary {m} not found (build with `cargo build --release -p hybi-bench`)"
        );
    }
    servers.extend(peers);
    if !args.only.is_empty() {
        servers.retain(|s| args.only.iter().any(|o| s.name.contains(o.as_str())));
    }
    if servers.is_empty() {
        eprintln!("no servers to benchmark");
        std::process::exit(2);
    }

    let load_generator = match (&uws_bins, want_load_test) {
        (Some(b), true) => LoadGenerator::LoadTest(b.load_test.clone()),
        _ => LoadGenerator::Builtin,
    };
    let mut config = BenchConfig::new(servers, profile, load_generator);
    config.server_cpu = args.server_cpu;
    config.client_cpu = args.client_cpu;
    config.nice = args.nice;
    if let Some(tests) = args.tests {
        config.tests = tests;
    }
    eprintln!(
        "servers: {}",
        config
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} (~{eta} left) {msg}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    let say = |pb: &ProgressBar, line: String| {
        if pb.is_hidden() {
            eprintln!("{line}");
        } else {
            pb.println(line);
        }
    };
    let report = run(config, |ev| match ev {
        ProgressEvent::Planned {
            steps,
            estimated_secs,
        } => {
            pb.set_length(steps as u64);
            say(&pb, format!("{steps} steps, about {estimated_secs:.0} s"));
        }
        ProgressEvent::StepStarted { server, detail, .. } => {
            pb.set_message(format!("{server}: {detail}"));
        }
        ProgressEvent::Sample {
            server,
            detail,
            text,
            ..
        } => {
            say(&pb, format!("    {server} {detail}: {text}"));
        }
        ProgressEvent::StepFinished {
            index,
            steps,
            server,
            detail,
            summary,
            ok,
            ..
        } => {
            let mark = if ok { "ok " } else { "ERR" };
            say(
                &pb,
                format!(
                    "[{}/{}] {mark} {server} {detail}: {summary}",
                    index + 1,
                    steps
                ),
            );
            pb.inc(1);
        }
        ProgressEvent::Note(n) => say(&pb, format!("note: {n}")),
        ProgressEvent::Finished { secs } => {
            pb.finish_and_clear();
            eprintln!("done in {secs:.1} s");
        }
    });

    let md = report.to_markdown();
    println!("{md}");
    if let Err(e) = std::fs::write(&args.json, report.to_json()) {
        eprintln!("cannot write {}: {e}", args.json.display());
        std::process::exit(1);
    }
    eprintln!("JSON report: {}", args.json.display());
    if let Some(p) = &args.markdown {
        if let Err(e) = std::fs::write(p, &md) {
            eprintln!("cannot write {}: {e}", p.display());
            std::process::exit(1);
        }
    }
}
