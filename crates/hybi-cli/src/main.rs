//! `hybi`: serve, connect, probe, lab, bench.

use std::process::ExitCode;

/// See the `jemalloc` feature in Cargo.toml: why the binary brings its own allocator.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::{Parser, Subcommand};

mod bench;
mod connect;
mod lab;
mod probe;
mod serve;
mod web;

/// Every WebSocket handshake ever proposed, built for real and measured.
#[derive(Parser, Debug)]
#[command(name = "hybi", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an echo server answering the chosen handshake variants on one port.
    Serve(serve::ServeArgs),
    /// Connect to a server: stdin lines are sent, received messages printed.
    Connect(connect::ConnectArgs),
    /// Benchmark hybi's server beside uWebSockets, fastwebsockets, tokio-websockets and
    /// tokio-tungstenite in one run (needs `cargo build --release -p hybi-bench`).
    Bench(bench::BenchArgs),
    /// Run every handshake through intermediaries, network conditions and attacks; score the criteria.
    Lab(lab::LabArgs),
    /// Tell what a server (or a proxy in front of it) accepts: every variant's
    /// handshake, and whether it tunnels after a refused upgrade (request smuggling).
    Probe(probe::ProbeArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HYBI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Connect(args) => connect::run(args),
        Command::Bench(args) => bench::run_bench(args),
        Command::Lab(args) => lab::run(args),
        Command::Probe(args) => probe::run(args),
    }
}
