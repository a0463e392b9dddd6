//! `hybi bench`: hybi's echo server beside uWebSockets, fastwebsockets, tokio-websockets and
//! tokio-tungstenite, in one run, with the same load generator (crates/hybi-bench; method in
//! docs/benchmarks.md). Ratios to every peer are computed from the same run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hybi::{ClientOptions, Variant};
use hybi_bench::{
    peer_specs, run, uws, BenchConfig, DriverStatus, HandshakeDriver, HandshakeVariant,
    LoadGenerator, Profile, ProgressEvent, ServerSpec, Tests,
};
use hybi_proto::handshake::{ClientHandshake, HandshakeStatus};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Short samples and fewer connections: a smoke test of the whole suite (~1 minute).
    #[arg(long)]
    quick: bool,
    /// Write the JSON report here.
    #[arg(long, default_value = "hybi-bench.json")]
    json: PathBuf,
    /// Also write the Markdown report here (it is always printed).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Directory holding the peers' bench-echo-* binaries (default: next to this binary;
    /// build them with `cargo build --release -p hybi-bench`).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Leave uWebSockets out (otherwise built from the registry crate's vendored sources).
    #[arg(long)]
    no_uws: bool,
    /// Measure hybi alone (no peer servers, so no ratios): its figures per handshake
    /// variant, or a quick check that the whole harness runs.
    #[arg(long)]
    no_peers: bool,
    /// Handshake variants measured for hybi (comma-separated names, or `all`).
    #[arg(long, default_value = "all")]
    variants: String,
    /// Tests to run: comma-separated, of throughput, handshakes, idle, latency, or `all`.
    #[arg(long, default_value = "all", value_parser = Tests::parse_list)]
    tests: Tests,
    /// Samples per point (median reported); default: the profile's.
    #[arg(long)]
    samples: Option<usize>,
    /// Rounds of throughput and handshake samples, each measuring every server once per
    /// point and variant; default: the profile's (3 full, 1 quick).
    #[arg(long)]
    rounds: Option<usize>,
}

/// One hybi client handshake driven by the raw benchmark client: the sans-IO state machine
/// does the variant's work, the benchmark's event loop moves the bytes.
struct HybiDriver(Option<ClientHandshake>);

impl HandshakeDriver for HybiDriver {
    fn take_output(&mut self) -> Vec<u8> {
        self.0.as_mut().map(|h| h.take_output()).unwrap_or_default()
    }

    fn receive(&mut self, data: &[u8]) -> DriverStatus {
        let Some(hs) = self.0.as_mut() else {
            return DriverStatus::Failed("handshake already finished".into());
        };
        match hs.receive_data(data) {
            Ok(HandshakeStatus::InProgress) => DriverStatus::InProgress,
            Ok(HandshakeStatus::Done) => DriverStatus::Done,
            Err(e) => DriverStatus::Failed(e.to_string()),
        }
    }
}

fn hybi_variant(variant: Variant) -> HandshakeVariant {
    let mut v = HandshakeVariant::interactive(variant.name(), move |addr| {
        let url = format!("ws://{addr}/bench");
        let mut opts = ClientOptions::from_url(&url, variant).expect("loopback URL");
        opts.origin = Some(format!("http://{addr}"));
        // A fixed seed per connection is fine for a load test; keys still differ per
        // variant and the server does all of its checks.
        let hs = ClientHandshake::new(&opts, [7; 32]).ok();
        Box::new(HybiDriver(hs)) as Box<dyn HandshakeDriver>
    });
    // RFC 6455 is what every peer speaks: measure it against them all.
    v.universal = variant == Variant::Rfc6455;
    v
}

/// A progress line: above the bar on a terminal, a plain line on stderr otherwise (the bar
/// hides itself when stderr is a file or a pipe, and its `println` with it).
fn say(pb: &ProgressBar, line: String) {
    if pb.is_hidden() {
        eprintln!("{line}");
    } else {
        pb.println(line);
    }
}

pub fn run_bench(args: BenchArgs) -> ExitCode {
    let variants = match hybi_proto::variant::parse_list(&args.variants) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("hybi bench: {e}");
            return ExitCode::from(2);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hybi bench: cannot locate this binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bin_dir = args
        .bin_dir
        .clone()
        .unwrap_or_else(|| exe.parent().map(PathBuf::from).unwrap_or_default());
    let uws_bins = if args.no_uws {
        None
    } else {
        eprintln!("building the uWebSockets peer and load_test (scripts/bench/build-uws.sh)...");
        match uws::ensure_built(&uws::build_script(), &bin_dir.join("../uws")) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("hybi bench: uWebSockets could not be built: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let (peers, missing) = if args.no_peers {
        (Vec::new(), Vec::new())
    } else {
        peer_specs(&bin_dir, uws_bins.as_ref().map(|b| b.uws_echo.as_path()))
    };
    if !missing.is_empty() {
        eprintln!(
            "hybi bench: peer binaries missing: {} (build them: cargo build --release -p hybi-bench)",
            missing.join(", ")
        );
        return ExitCode::FAILURE;
    }
    // Both of hybi's engines: the tokio one (a task per connection, what `Server::accept`
    // gives a library user) and the reactor (`hybi serve --engine reactor`).
    let mut servers = vec![
        ServerSpec::hybi(exe.display().to_string()),
        ServerSpec::hybi_reactor(exe.display().to_string()),
    ];
    servers.extend(peers);
    let mut profile = if args.quick {
        Profile::quick()
    } else {
        Profile::full()
    };
    if let Some(n) = args.samples {
        profile.samples = n.max(1);
    }
    if let Some(n) = args.rounds {
        profile.rounds = n.max(1);
    }
    let load_generator = match (&uws_bins, args.quick) {
        (Some(b), false) => LoadGenerator::LoadTest(b.load_test.clone()),
        _ => LoadGenerator::Builtin,
    };
    let mut config = BenchConfig::new(servers, profile, load_generator);
    config.handshake_variants = variants.into_iter().map(hybi_variant).collect();
    config.tests = args.tests;

    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    let report = run(config, |ev| match ev {
        ProgressEvent::Planned {
            steps,
            estimated_secs,
        } => {
            pb.set_length(steps as u64);
            say(&pb, format!("{steps} steps, about {estimated_secs:.0} s"));
        }
        ProgressEvent::StepStarted { server, detail, .. } => {
            pb.set_message(format!("{server}: {detail}"))
        }
        ProgressEvent::StepFinished {
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
                    pb.position() + 1,
                    pb.length().unwrap_or(0)
                ),
            );
            pb.inc(1);
        }
        ProgressEvent::Sample { .. } => {}
        ProgressEvent::Note(n) => say(&pb, format!("note: {n}")),
        ProgressEvent::Finished { secs } => {
            pb.finish_and_clear();
            eprintln!("done in {secs:.1} s");
        }
    });
    let md = report.to_markdown();
    println!("{md}");
    if let Some(path) = &args.markdown {
        if let Err(e) = std::fs::write(path, &md) {
            eprintln!("hybi bench: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = std::fs::write(&args.json, report.to_json()) {
        eprintln!("hybi bench: {}: {e}", args.json.display());
        return ExitCode::FAILURE;
    }
    eprintln!("JSON report: {}", args.json.display());
    ExitCode::SUCCESS
}
