//! What to run: servers under test, the measurement profile and the handshake variants.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::handshake::HandshakeDriver;
use crate::wire;

/// Whether a server is one of ours (a subject) or a peer we compare against.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Subject,
    Peer,
}

/// Which handshake variants to measure against a server.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VariantSelection {
    /// The variants marked `universal` (RFC 6455): what every peer speaks.
    Universal,
    /// Every variant in [`BenchConfig::handshake_variants`].
    All,
    /// These variants, by name.
    Named(Vec<String>),
}

/// A server under test, described by the command line that starts it.
///
/// Contract: the command binds a loopback address, prints a line `listening ADDR` (ADDR a socket
/// address such as `127.0.0.1:41234`) on stdout once it accepts connections, then echoes every
/// text and binary message back with the same opcode until it is killed. The command must `exec`
/// the server (no wrapper process that forks), because CPU time and RSS are read from the PID the
/// runner spawned. The runner starts it under `taskset -c SERVER_CPU`.
#[derive(Clone, Debug, Serialize)]
pub struct ServerSpec {
    pub name: String,
    pub role: Role,
    /// Program and arguments.
    pub command: Vec<String>,
    pub handshake_variants: VariantSelection,
}

impl ServerSpec {
    pub fn peer(name: impl Into<String>, command: Vec<String>) -> Self {
        ServerSpec {
            name: name.into(),
            role: Role::Peer,
            command,
            handshake_variants: VariantSelection::Universal,
        }
    }

    pub fn subject(name: impl Into<String>, command: Vec<String>) -> Self {
        ServerSpec {
            name: name.into(),
            role: Role::Subject,
            command,
            handshake_variants: VariantSelection::All,
        }
    }

    /// The hybi server on its tokio engine (a task per connection):
    /// `PROGRAM serve --listen 127.0.0.1:0 --variants all --threads 1`.
    pub fn hybi(program: impl Into<String>) -> Self {
        Self::subject("hybi", Self::hybi_command(program))
    }

    /// The hybi server on its reactor engine (`hybi::reactor`: one event loop, no task per
    /// connection): the same command with `--engine reactor`.
    pub fn hybi_reactor(program: impl Into<String>) -> Self {
        let mut command = Self::hybi_command(program);
        command.extend(["--engine".into(), "reactor".into()]);
        Self::subject("hybi reactor", command)
    }

    fn hybi_command(program: impl Into<String>) -> Vec<String> {
        vec![
            program.into(),
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--variants".into(),
            "all".into(),
            "--threads".into(),
            "1".into(),
        ]
    }
}

/// Names of the peer echo-server binaries built by this crate.
pub const PEER_BINARIES: [(&str, &str); 3] = [
    ("fastwebsockets 0.10", "bench-echo-fastwebsockets"),
    ("tokio-websockets 0.13", "bench-echo-tokio-websockets"),
    ("tokio-tungstenite 0.30", "bench-echo-tungstenite"),
];

/// Display name of the uWebSockets peer.
pub const UWS_NAME: &str = "uWebSockets v20";

/// The peer servers: uWebSockets (if `uws_echo` is given) and the Rust peers from `bin_dir`
/// (the directory holding `bench-echo-*`). Missing binaries are skipped and returned by name.
pub fn peer_specs(bin_dir: &Path, uws_echo: Option<&Path>) -> (Vec<ServerSpec>, Vec<String>) {
    let mut specs = Vec::new();
    let mut missing = Vec::new();
    match uws_echo {
        Some(p) if p.is_file() => specs.push(ServerSpec::peer(
            UWS_NAME,
            vec![p.display().to_string(), "0".into()],
        )),
        Some(p) => missing.push(p.display().to_string()),
        None => {}
    }
    for (name, bin) in PEER_BINARIES {
        let path: PathBuf = bin_dir.join(bin);
        if path.is_file() {
            specs.push(ServerSpec::peer(
                name,
                vec![
                    path.display().to_string(),
                    "--listen".into(),
                    "127.0.0.1:0".into(),
                ],
            ));
        } else {
            missing.push(path.display().to_string());
        }
    }
    (specs, missing)
}

/// Builds the bytes of a handshake request for a server listening on the given address.
pub type RequestBuilder = Arc<dyn Fn(SocketAddr) -> Vec<u8> + Send + Sync>;

/// Makes the client state machine of one interactive handshake, for a server at the address.
pub type DriverBuilder = Arc<dyn Fn(SocketAddr) -> Box<dyn HandshakeDriver> + Send + Sync>;

/// How our raw client performs a variant's handshake.
#[derive(Clone)]
pub enum VariantClient {
    /// One request, built once per server and sent unchanged on every connection. Done when the
    /// response's status line and head (up to the blank line) arrived with status 101, plus
    /// `response_body_len` more bytes (16 for draft-hixie-76, whose response carries the
    /// challenge answer after the head; 0 for RFC 6455).
    Prebuilt {
        build_request: RequestBuilder,
        response_body_len: usize,
    },
    /// A [`HandshakeDriver`] per connection, for variants with more than one round trip (nonce
    /// exchanges after the 101...). Done when the driver says so.
    Interactive(DriverBuilder),
}

/// One way of opening a WebSocket connection (RFC 6455, or an older draft).
#[derive(Clone)]
pub struct HandshakeVariant {
    pub name: String,
    pub client: VariantClient,
    /// Measured against every server (peers included), not only those selecting `All`.
    pub universal: bool,
}

impl HandshakeVariant {
    /// A pre-built-request variant (see [`VariantClient::Prebuilt`]).
    pub fn new(
        name: impl Into<String>,
        response_body_len: usize,
        build_request: impl Fn(SocketAddr) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        HandshakeVariant {
            name: name.into(),
            client: VariantClient::Prebuilt {
                build_request: Arc::new(build_request),
                response_body_len,
            },
            universal: false,
        }
    }

    /// An interactive variant (see [`VariantClient::Interactive`]).
    pub fn interactive(
        name: impl Into<String>,
        driver: impl Fn(SocketAddr) -> Box<dyn HandshakeDriver> + Send + Sync + 'static,
    ) -> Self {
        HandshakeVariant {
            name: name.into(),
            client: VariantClient::Interactive(Arc::new(driver)),
            universal: false,
        }
    }

    /// The RFC 6455 (version 13) opening handshake, what every peer speaks.
    pub fn rfc6455() -> Self {
        HandshakeVariant {
            universal: true,
            ..Self::new("rfc6455", 0, |addr| wire::rfc6455_request(addr, "/"))
        }
    }
}

impl fmt::Debug for HandshakeVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.client {
            VariantClient::Prebuilt {
                response_body_len, ..
            } => format!("prebuilt (+{response_body_len} body bytes)"),
            VariantClient::Interactive(_) => "interactive".to_string(),
        };
        f.debug_struct("HandshakeVariant")
            .field("name", &self.name)
            .field("client", &mode)
            .field("universal", &self.universal)
            .finish()
    }
}

/// A closed-loop throughput point: `connections` each keep one `bytes`-byte binary message in
/// flight (send, wait for the echo, send again).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Point {
    pub connections: usize,
    pub bytes: usize,
}

impl Point {
    pub const fn new(connections: usize, bytes: usize) -> Self {
        Point { connections, bytes }
    }

    /// `100x16 B`, `10x1 KiB`, `10x64 KiB`.
    pub fn label(&self) -> String {
        format!(
            "{}x{}",
            self.connections,
            crate::report::fmt_bytes(self.bytes)
        )
    }
}

/// The default throughput points: 100x16 B, 10x1 KiB, 10x64 KiB.
pub fn default_points() -> Vec<Point> {
    vec![
        Point::new(100, 16),
        Point::new(10, 1024),
        Point::new(10, 65536),
    ]
}

/// The closed-loop load generator.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LoadGenerator {
    /// uWebSockets' `benchmarks/load_test` (the field's reference), at this path. It reports every
    /// 4 s (fixed in uSockets), so a sample is one 4 s interval.
    LoadTest(PathBuf),
    /// Our own single-threaded closed-loop client (same traffic as load_test: masked binary
    /// messages, one in flight per connection), with sample lengths from the profile.
    Builtin,
}

/// How long and how big each measurement is.
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    pub name: String,
    /// Samples per point; the report quotes the median. At least 3.
    pub samples: usize,
    /// load_test: full 4 s intervals discarded after the first (partial) one.
    pub load_test_warmup_intervals: usize,
    /// Builtin load generator: warm-up and sample length.
    pub warmup_secs: f64,
    pub sample_secs: f64,
    pub handshake_connections: usize,
    pub handshake_in_flight: usize,
    pub idle_connections: usize,
    /// How long connections sit idle before RSS is read.
    pub idle_settle_secs: f64,
    pub latency_connections: usize,
    /// Total messages per second over all latency connections (open loop).
    pub latency_rate: u64,
    pub latency_payload: usize,
    pub latency_warmup_secs: f64,
    pub latency_sample_secs: f64,
    /// A load_test sample during which the server's CPU was at least this busy with other
    /// work (kernel threads, other processes: `server_cpu_other_busy_pct`) is kept in the
    /// report but marked discarded and taken again, up to `max_retakes` times per point.
    /// Such samples measured the machine, not the server: on a noisy day a 64 KiB sample
    /// with the CPU 50% busy elsewhere came out at twice the quiet figure (docs/benchmarks.md,
    /// "session 4").
    pub max_other_busy_pct: f64,
    pub max_retakes: usize,
    /// Throughput and handshake samples are taken in this many rounds: each round measures
    /// every server once at each point or handshake variant (a fresh start and warm-up
    /// each), and the `samples` are spread over the rounds. Slow drift of the machine then
    /// lands on every server and variant alike instead of on whichever was measured while
    /// it lasted (docs/benchmarks.md, session 5: the same server moved by 25% from one
    /// minute to the next; session 6: one server's handshake variants by 50%).
    pub rounds: usize,
}

impl Profile {
    /// Samples taken in `round` (0-based): `samples` spread over `rounds`,
    /// the first rounds taking one more when they do not divide evenly.
    pub fn samples_in_round(&self, round: usize) -> usize {
        let rounds = self.effective_rounds();
        self.samples / rounds + usize::from(round < self.samples % rounds)
    }

    /// `rounds`, at least one and at most one per sample.
    pub fn effective_rounds(&self) -> usize {
        self.rounds.clamp(1, self.samples.max(1))
    }
}

impl Profile {
    /// The method of shared/bench/README.md: 10k handshakes with 100 in flight, 10k idle
    /// connections, 100 x 16 B at 10k msgs/s for latency, 3 samples per point.
    pub fn full() -> Self {
        Profile {
            name: "full".into(),
            samples: 3,
            load_test_warmup_intervals: 1,
            warmup_secs: 2.0,
            sample_secs: 4.0,
            handshake_connections: 10_000,
            handshake_in_flight: 100,
            idle_connections: 10_000,
            idle_settle_secs: 1.0,
            latency_connections: 100,
            latency_rate: 10_000,
            latency_payload: 16,
            latency_warmup_secs: 1.0,
            latency_sample_secs: 4.0,
            max_other_busy_pct: 10.0,
            max_retakes: 6,
            rounds: 3,
        }
    }

    /// A smoke-test profile: short samples, fewer connections. Not for quoting.
    pub fn quick() -> Self {
        Profile {
            name: "quick".into(),
            samples: 3,
            load_test_warmup_intervals: 0,
            warmup_secs: 0.2,
            sample_secs: 0.3,
            handshake_connections: 1_000,
            handshake_in_flight: 100,
            idle_connections: 1_000,
            idle_settle_secs: 0.2,
            latency_connections: 100,
            latency_rate: 10_000,
            latency_payload: 16,
            latency_warmup_secs: 0.1,
            latency_sample_secs: 0.3,
            max_other_busy_pct: 10.0,
            max_retakes: 3,
            rounds: 1,
        }
    }
}

/// Which measurements to run.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Tests {
    pub throughput: bool,
    pub handshakes: bool,
    pub idle: bool,
    pub latency: bool,
}

impl Default for Tests {
    fn default() -> Self {
        Tests {
            throughput: true,
            handshakes: true,
            idle: true,
            latency: true,
        }
    }
}

impl Tests {
    /// No test at all: what a list starts from.
    const NONE: Tests = Tests {
        throughput: false,
        handshakes: false,
        idle: false,
        latency: false,
    };

    /// The names a command line takes (`--tests`), in report order.
    pub const NAMES: [&'static str; 4] = ["throughput", "handshakes", "idle", "latency"];

    /// Parses a comma-separated list of [`Tests::NAMES`] (`all` for every one).
    pub fn parse_list(list: &str) -> Result<Tests, String> {
        if list.trim() == "all" {
            return Ok(Tests::default());
        }
        let mut t = Tests::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "throughput" => t.throughput = true,
                "handshakes" => t.handshakes = true,
                "idle" => t.idle = true,
                "latency" => t.latency = true,
                other => {
                    return Err(format!(
                        "unknown test {other:?} (expected {} or all)",
                        Tests::NAMES.join(", ")
                    ))
                }
            }
        }
        if t == Tests::NONE {
            return Err("no test named".into());
        }
        Ok(t)
    }
}

/// Everything [`crate::run`] needs.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub servers: Vec<ServerSpec>,
    pub profile: Profile,
    pub load_generator: LoadGenerator,
    pub points: Vec<Point>,
    /// Handshake variants; each server is measured with those its `handshake_variants` selects.
    pub handshake_variants: Vec<HandshakeVariant>,
    pub tests: Tests,
    /// The CPU the servers are pinned to, and the one every client (ours and load_test) uses.
    pub server_cpu: usize,
    pub client_cpu: usize,
    /// How long a server may take to print `listening ADDR`.
    pub server_start_timeout: Duration,
    /// Nice value for the clients and every server (all alike), e.g. -10 to keep co-tenants'
    /// builds from preempting the measurement on a shared machine. `None` leaves it unchanged.
    pub nice: Option<i32>,
}

impl BenchConfig {
    pub fn new(servers: Vec<ServerSpec>, profile: Profile, load_generator: LoadGenerator) -> Self {
        BenchConfig {
            servers,
            profile,
            load_generator,
            points: default_points(),
            handshake_variants: vec![HandshakeVariant::rfc6455()],
            tests: Tests::default(),
            server_cpu: 0,
            client_cpu: 1,
            server_start_timeout: Duration::from_secs(10),
            nice: None,
        }
    }

    /// The variants measured against `server`, in configuration order.
    pub fn variants_for(&self, server: &ServerSpec) -> Vec<&HandshakeVariant> {
        self.handshake_variants
            .iter()
            .filter(|v| match &server.handshake_variants {
                VariantSelection::Universal => v.universal,
                VariantSelection::All => true,
                VariantSelection::Named(names) => names.iter().any(|n| n == &v.name),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_lists_parse() {
        let t = Tests::parse_list("handshakes, idle").unwrap();
        assert!(!t.throughput && t.handshakes && t.idle && !t.latency);
        assert_eq!(Tests::parse_list("all").unwrap(), Tests::default());
        assert_eq!(
            Tests::parse_list(&Tests::NAMES.join(",")).unwrap(),
            Tests::default()
        );
        assert!(Tests::parse_list("throughput,speed")
            .unwrap_err()
            .contains("\"speed\""));
        assert!(Tests::parse_list(",").is_err());
    }
}
