//! The lab runner: every variant × every intermediary, network conditions, attacks, routing, the Table II
//! population and implementability, run concurrently with per-cell time limits, each cell classified from
//! what was observed.
//!
//! Two pools run side by side: a *fast* pool (echo cells, network conditions, routing: CPU-bound, each a few
//! milliseconds unless it hangs) and a *slow* pool (attacks and population runs: mostly waiting for spoofs that
//! may never show up, see [`crate::attack::SETTLE_LIMIT`]). Each job has a hard time limit; a job that hits it
//! is reported as a hang.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hybi::Variant;
use serde::Serialize;

use crate::attack::{self, AttackReport, NonWs, Owner, Verdict, Via, ATTACKER_HOST};
use crate::implement::{self, Implementability};
use crate::intermediary::{
    Behaviour, ConnectHandling, Intermediary, Model, ModelProxy, Routes, Routing, MODELS,
    UPGRADE_AWARE,
};
use crate::netcond::{Condition, NetStage, ResetAt, Segmenting};
use crate::origin::{self, Kind, Received};
use crate::population::{self, Class, Path, CLASSES, PAPER_TABLE_II};
use crate::scenario::{self, EchoRun};
use crate::strawman::{Kind as StrawKind, Strawman};
use crate::subject::{ClientOutcome, End, Handshake, Subject, Target};
use crate::subjects::{self, HybiSubject, Implementation};

/// The payload of echo cells and condition cells.
pub const ECHO_PAYLOAD: &[u8] = b"hello through the lab";
/// How long an echo client waits for its echo before calling the connection stuck.
pub const LINGER: Duration = Duration::from_millis(1500);
/// Hard limit of an echo, condition or routing job (the client's own handshake limit is 3 s).
pub const CELL_TIMEOUT: Duration = Duration::from_secs(10);
/// Hard limit of an attack or population job.
pub const ATTACK_TIMEOUT: Duration = Duration::from_secs(20);

/// What the lab runs.
#[derive(Clone)]
pub struct LabConfig {
    /// Variants to measure (default: all).
    pub variants: Vec<Variant>,
    /// Fewer network-condition cells (cut points sampled instead of every boundary).
    pub quick: bool,
    /// Concurrent fast jobs.
    pub fast_concurrency: usize,
    /// Concurrent slow jobs.
    pub slow_concurrency: usize,
    /// Intermediaries besides the built-in models (e.g. real proxies), run in the matrix and the attacks.
    pub extra: Vec<Via>,
    /// Concurrent jobs per extra intermediary (real proxies: the number of daemon instances started).
    pub real_concurrency: usize,
    /// Extra intermediaries run at the same time (after the built-in ones).
    pub real_products_at_once: usize,
    /// Intermediaries that were asked for but are not available: `(name, why)`; reported as not measured.
    pub not_measured: Vec<(String, String)>,
    /// Run the Table II population (with the paper's three strawmen beside hybi's variants).
    pub population: bool,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            variants: Variant::ALL.to_vec(),
            quick: false,
            fast_concurrency: 12,
            slow_concurrency: 48,
            extra: Vec::new(),
            real_concurrency: 2,
            real_products_at_once: 3,
            not_measured: Vec::new(),
            population: true,
        }
    }
}

/// Receives progress (the CLI draws a bar from it).
pub trait Progress: Send + Sync {
    /// Total number of jobs, once known (may be called again if it grows).
    fn set_total(&self, total: u64);
    /// One job finished; `label` says which.
    fn done(&self, label: &str);
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {
    fn set_total(&self, _: u64) {}
    fn done(&self, _: &str) {}
}

/// How a connection attempt ended, from the application's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Handshake completed and the payload came back intact.
    Works,
    /// Failed, and the client knew at once: rejected answer, refused, reset or closed, without waiting for a
    /// time limit and without wrong data.
    CleanFailure,
    /// Nothing happened until a time limit: the handshake timed out, or the connection stayed open without
    /// the echo.
    Hang,
    /// Wrong data: a message other than the one sent arrived, or the client considered the connection open
    /// while the server never accepted it.
    Corruption,
    /// The variant is not implemented by hybi yet: not run.
    NotImplemented,
    /// The lab itself failed (could not bind a socket, ...): not an outcome of the variant.
    LabError,
}

impl Outcome {
    /// Short form for terminal tables.
    pub fn short(self) -> &'static str {
        match self {
            Outcome::Works => "ok",
            Outcome::CleanFailure => "fail",
            Outcome::Hang => "HANG",
            Outcome::Corruption => "CORR",
            Outcome::NotImplemented => "n/i",
            Outcome::LabError => "err",
        }
    }
}

/// Bytes one backend received.
#[derive(Clone, Debug, Serialize)]
pub struct BackendBytes {
    /// Server name.
    pub server: String,
    /// Bytes in its log (handshake requests, requests, raw bytes, messages).
    pub bytes: usize,
    /// One line per log record.
    pub records: Vec<String>,
}

/// One run of a variant through a path (an echo cell, a condition cell or a routing cell).
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Variant.
    pub variant: String,
    /// Intermediary (`direct` when none).
    pub via: String,
    /// Network condition (`clean` when none).
    pub condition: String,
    /// Classified outcome.
    pub outcome: Outcome,
    /// Why (from the observations).
    pub why: String,
    /// First line of what the client read as the answer.
    pub status_line: Option<String>,
    /// The client's handshake result.
    pub handshake: String,
    /// Whether the payload came back intact.
    pub echoed: bool,
    /// How the client's connection ended.
    pub end: String,
    /// Wall time of the whole run (ms).
    pub time_ms: f64,
    /// Time to the handshake result (ms).
    pub handshake_ms: Option<f64>,
    /// Bytes the client wrote for its handshake.
    pub request_bytes: usize,
    /// Bytes the client read as the answer.
    pub response_bytes: usize,
    /// Bytes the payload became on the wire.
    pub wire_payload_bytes: usize,
    /// Whether the plaintext payload appears verbatim on the wire.
    pub payload_in_clear: bool,
    /// What each backend received.
    pub backends: Vec<BackendBytes>,
    /// Bytes the intermediary relayed towards backends (from its trace).
    pub proxy_to_backend: usize,
    /// The intermediary's trace, one line per event (bounded).
    pub trace: Vec<String>,
    /// Relay segments client→server / server→client (network conditions).
    pub segments: Option<(usize, usize)>,
    /// Runs made (echo cells are repeated: random masks and nonces can change what an intermediary sees).
    pub runs: usize,
    /// Runs that worked.
    pub works_runs: usize,
}

/// Kind of a network condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CondKind {
    /// One cut at a byte offset.
    Split,
    /// Fixed-size segments.
    Segments,
    /// Added latency per segment.
    Latency,
    /// Reset at a stage.
    Reset,
}

/// A condition cell: a [`Cell`] plus its condition's kind.
#[derive(Clone, Debug, Serialize)]
pub struct ConditionCell {
    /// Kind.
    pub kind: CondKind,
    /// The run.
    #[serde(flatten)]
    pub cell: Cell,
}

/// Which attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// IP hijacking (decided from the same spoof run as cache poisoning: the target's log).
    IpHijack,
    /// Cache poisoning.
    CachePoisoning,
    /// Request smuggling past a refusing backend.
    RequestSmuggling,
    /// Handshake completes against a non-WebSocket server.
    CrossProtocol,
}

/// The verdict of one attack attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackVerdict {
    /// The attack worked.
    Succeeded,
    /// Tried, did not work.
    Failed,
    /// The handshake did not complete, so the attacker could not send its bytes.
    HandshakeFailed,
    /// The job hit its time limit.
    TimedOut,
    /// The lab failed.
    LabError,
}

/// One attack attempt.
#[derive(Clone, Debug, Serialize)]
pub struct AttackCell {
    /// Variant (or strawman) name.
    pub variant: String,
    /// Attack.
    pub attack: AttackKind,
    /// Intermediary, or the non-WebSocket server for cross-protocol checks.
    pub via: String,
    /// Verdict.
    pub verdict: AttackVerdict,
    /// Evidence lines from logs and traces.
    pub evidence: Vec<String>,
    /// Wall time (ms).
    pub time_ms: f64,
}

/// Routing through a stock reverse proxy.
#[derive(Clone, Debug, Serialize)]
pub struct RoutingCell {
    /// Variant.
    pub variant: String,
    /// `host` (by `Host` header) or `path` (by path prefix).
    pub router: String,
    /// `delivered` (right backend, echo works), `misrouted` (the other backend got it) or `not delivered`.
    pub result: String,
    /// Whether delivered.
    pub delivered: bool,
    /// The run.
    pub cell: Cell,
}

/// One population class run for one subject.
#[derive(Clone, Debug, Serialize)]
pub struct ClassResult {
    /// Class name.
    pub class: String,
    /// Impressions it stands for.
    pub impressions: u64,
    /// Intermediary run (or `direct` / `blocked`).
    pub via: String,
    /// The echo through this class's path worked.
    pub works: bool,
    /// The echo cell's outcome (short form).
    pub echo: String,
    /// Handshake completed (in the spoof run).
    pub connected: bool,
    /// Spoof reached the target (IP hijack).
    pub ip_hijack: bool,
    /// An intermediary parsed the spoof and sent it to the attacker.
    pub routed_to_attacker: bool,
    /// The victim got the attacker's script.
    pub poisoned: bool,
    /// The victim got the target's script.
    pub cached_from_target: bool,
}

/// One column of the Table II re-run, impression-weighted.
#[derive(Clone, Debug, Serialize)]
pub struct Table2Row {
    /// Subject name (`post`, `strawman-post`, ...).
    pub subject: String,
    /// Whether it is one of the paper's raw strawmen (not a hybi variant).
    pub paper_strawman: bool,
    /// The paper column it stands beside, if any (`POST`, `Upgrade`, `CONNECT`).
    pub paper_column: Option<String>,
    /// Impressions whose handshake completed.
    pub succeeded: u64,
    /// Impressions through whose path the echo worked (handshake and a message both ways).
    pub works: u64,
    /// Impressions whose handshake failed.
    pub failed: u64,
    /// Completed, and the spoof reached neither the target nor (through a proxy) the attacker.
    pub spoof_ignored: u64,
    /// Spoof routed to target (IP hijack).
    pub ip_hijack: u64,
    /// Spoof routed to attacker.
    pub routed_to_attacker: u64,
    /// Victims served the target's script (measured on every class but `blocked`).
    pub cached_from_target: u64,
    /// Victims served the attacker's script.
    pub cache_poisoned: u64,
    /// Per class.
    pub classes: Vec<ClassResult>,
}

/// Per-variant summary of the network conditions.
#[derive(Clone, Debug, Serialize)]
pub struct ConditionSummary {
    /// Variant.
    pub variant: String,
    /// Cells per kind and outcome: `kind → outcome → count`.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// Split points tried (every boundary unless `sampled`).
    pub split_points: usize,
    /// Whether split points were sampled (`--quick`).
    pub sampled: bool,
    /// Handshake time with 100 ms per segment (ms).
    pub handshake_ms_100ms_latency: Option<f64>,
    /// Handshake time with 1-byte segments at 1 ms each (ms).
    pub handshake_ms_1byte_1ms: Option<f64>,
    /// Client→server segments of the handshake + message with 1-byte segments.
    pub up_segments_1byte: Option<usize>,
    /// Reset stages at which the handshake had not completed yet (it can be cut there).
    pub reset_stages_before_open: Vec<String>,
    /// Bytes the client sends after its head before any answer (Hixie-76: key3).
    pub request_after_head: usize,
    /// Bytes the server sends after its head (Hixie-76: the 16-byte answer).
    pub response_after_head: usize,
}

/// A ratio with its parts.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Ratio {
    /// Numerator.
    pub num: f64,
    /// Denominator.
    pub den: f64,
    /// `num / den` (0 when `den` is 0).
    pub value: f64,
}

impl Ratio {
    /// `num / den`.
    pub fn new(num: f64, den: f64) -> Ratio {
        Ratio {
            num,
            den,
            value: if den > 0.0 { num / den } else { 0.0 },
        }
    }
}

/// The scores of one variant (each `None` when not measured).
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    /// Variant.
    pub variant: String,
    /// Implemented by hybi.
    pub implemented: bool,
    /// Attacks that succeeded / attacks tried.
    pub attacks: Option<Ratio>,
    /// `1 − attacks.value`.
    pub security: Option<f64>,
    /// Built-in intermediaries through which the echo works / built-in intermediaries.
    pub compatibility: Option<Ratio>,
    /// Real intermediaries through which it works / real intermediaries measured.
    pub compatibility_real: Option<Ratio>,
    /// Table II population: impressions whose handshake completed / 54,534.
    pub reach: Option<Ratio>,
    /// Condition cells with the expected result / condition cells.
    pub network: Option<Ratio>,
    /// Stock routers that delivered it / routers tried.
    pub routing: Option<Ratio>,
    /// Composite implementability in (0, 1] (see [`crate::score`]).
    pub implementability: Option<f64>,
}

/// Everything one lab run measured.
#[derive(Clone, Debug, Serialize)]
pub struct LabReport {
    /// hybi version.
    pub version: String,
    /// Wall time of the run (s).
    pub elapsed_s: f64,
    /// Worker threads used.
    pub threads: usize,
    /// `--quick`.
    pub quick: bool,
    /// Variants and whether they are implemented (`"implemented"` or why not).
    pub variants: Vec<(String, String)>,
    /// Intermediaries: `(name, kind, what it stands for)`; kind `built-in` or `real`.
    pub intermediaries: Vec<(String, String, String)>,
    /// Intermediaries asked for but not measured: `(name, why)`.
    pub not_measured: Vec<(String, String)>,
    /// Echo cells: variant × (direct + intermediaries).
    pub cells: Vec<Cell>,
    /// Network-condition cells.
    pub conditions: Vec<ConditionCell>,
    /// Per-variant condition summaries.
    pub condition_summaries: Vec<ConditionSummary>,
    /// Attack attempts.
    pub attacks: Vec<AttackCell>,
    /// Routing cells.
    pub routing: Vec<RoutingCell>,
    /// Implementability per implemented variant.
    pub implementability: Vec<Implementability>,
    /// Implementability measurement errors: `(variant, error)`.
    pub implementability_errors: Vec<(String, String)>,
    /// Table II re-run.
    pub table2: Vec<Table2Row>,
    /// The paper's Table II (for printing beside).
    pub paper_table2: Vec<population::PaperColumn>,
    /// Scores per variant.
    pub scores: Vec<Scores>,
    /// `(criterion, formula)` for every score.
    pub formulas: Vec<(String, String)>,
}

// ---------------------------------------------------------------------------------------------------------
// observation → outcome

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn first_line(b: &[u8]) -> Option<String> {
    if b.is_empty() {
        return None;
    }
    let end = crate::http::find(b, b"\r\n").unwrap_or(b.len().min(80));
    Some(String::from_utf8_lossy(&b[..end.min(120)]).to_string())
}

/// Describes a client's handshake result in one line.
pub fn describe_handshake(c: &ClientOutcome) -> String {
    match &c.handshake {
        Handshake::Completed => "completed".into(),
        Handshake::Rejected { status, reason } => match status {
            Some(s) => format!("rejected {s}: {reason}"),
            None => format!("rejected: {reason}"),
        },
        Handshake::Failed { stage, error } => format!("failed at {stage:?}: {error}"),
    }
}

fn server_open(server: &[Received]) -> bool {
    server
        .iter()
        .any(|r| matches!(&r.kind, Kind::Handshake { result, .. } if result == "open"))
}

fn server_messages(server: &[Received]) -> Vec<&[u8]> {
    server
        .iter()
        .filter_map(|r| match &r.kind {
            Kind::Message(m) => Some(m.as_slice()),
            _ => None,
        })
        .collect()
}

/// Classifies one run from what the client saw and what the server logged.
pub fn classify(client: &ClientOutcome, server: &[Received], payload: &[u8]) -> (Outcome, String) {
    let echoed = client.messages.iter().any(|m| m == payload);
    match &client.handshake {
        Handshake::Completed => {
            if echoed {
                return (Outcome::Works, "payload echoed intact".into());
            }
            if let Some(m) = client.messages.iter().find(|m| m.as_slice() != payload) {
                return (
                    Outcome::Corruption,
                    format!(
                        "client received a different message: {:?}",
                        String::from_utf8_lossy(&m[..m.len().min(60)])
                    ),
                );
            }
            if let Some(m) = server_messages(server).into_iter().find(|m| *m != payload) {
                return (
                    Outcome::Corruption,
                    format!(
                        "server received a different message: {:?}",
                        String::from_utf8_lossy(&m[..m.len().min(60)])
                    ),
                );
            }
            if !server_open(server) {
                let at_server = server
                    .iter()
                    .find_map(|r| match &r.kind {
                        Kind::Handshake { result, .. } => Some(result.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "no handshake at all".into());
                return (
                    Outcome::Corruption,
                    format!("client completed the handshake, the server did not ({at_server})"),
                );
            }
            match &client.end {
                End::StillOpen => (
                    Outcome::Hang,
                    "open, but no echo and no close before the linger limit".into(),
                ),
                other => (
                    Outcome::CleanFailure,
                    format!("opened, then {other:?} before the echo"),
                ),
            }
        }
        Handshake::Rejected { .. } => (Outcome::CleanFailure, describe_handshake(client)),
        Handshake::Failed { error, .. } if error.contains("timed out") => {
            (Outcome::Hang, describe_handshake(client))
        }
        Handshake::Failed { .. } => (Outcome::CleanFailure, describe_handshake(client)),
    }
}

fn backends(server: &origin::Server, records: &[Received]) -> BackendBytes {
    BackendBytes {
        server: server.name.clone(),
        bytes: records.iter().map(|r| r.kind.bytes().len()).sum(),
        records: records.iter().map(describe_record).collect(),
    }
}

fn describe_record(r: &Received) -> String {
    match &r.kind {
        Kind::Handshake { request, result } => {
            format!("#{} handshake ({} bytes): {result}", r.conn, request.len())
        }
        Kind::Request { head, on_upgraded } => format!(
            "#{} request {} {}{}",
            r.conn,
            head.method,
            head.target,
            if *on_upgraded {
                " (on the upgraded connection)"
            } else {
                ""
            }
        ),
        Kind::Bytes(b) => format!("#{} {} raw bytes", r.conn, b.len()),
        Kind::Line(l) => format!("#{} line {:?}", r.conn, String::from_utf8_lossy(l)),
        Kind::Message(m) => format!("#{} message ({} bytes)", r.conn, m.len()),
        Kind::End(e) => format!("#{} end: {e}", r.conn),
    }
}

fn cell_from_run(
    variant: &str,
    via: &str,
    condition: &str,
    run: &EchoRun,
    server_name: &str,
    elapsed: Duration,
) -> Cell {
    let (outcome, why) = classify(&run.client, &run.server, ECHO_PAYLOAD);
    let c = &run.client;
    let trace_lines: Vec<String> = run
        .trace
        .summary()
        .lines()
        .take(60)
        .map(String::from)
        .collect();
    Cell {
        variant: variant.into(),
        via: via.into(),
        condition: condition.into(),
        outcome,
        why,
        status_line: first_line(&c.response),
        handshake: describe_handshake(c),
        echoed: run.echoed,
        end: format!("{:?}", c.end),
        time_ms: ms(elapsed),
        handshake_ms: c.handshake_time.map(ms),
        request_bytes: c.request.len(),
        response_bytes: c.response.len(),
        wire_payload_bytes: c.wire_payload.len(),
        payload_in_clear: c.payload_sent
            && crate::http::find(&c.wire_payload, ECHO_PAYLOAD).is_some(),
        backends: vec![BackendBytes {
            server: server_name.into(),
            bytes: run.server.iter().map(|r| r.kind.bytes().len()).sum(),
            records: run.server.iter().map(describe_record).collect(),
        }],
        proxy_to_backend: run.trace.bytes(crate::intermediary::Dir::ClientToBackend),
        trace: trace_lines,
        segments: run.relay.first().map(|s| (s.up_segments, s.down_segments)),
        runs: 1,
        works_runs: (outcome == Outcome::Works) as usize,
    }
}

fn empty_cell(variant: &str, via: &str, condition: &str, outcome: Outcome, why: String) -> Cell {
    Cell {
        variant: variant.into(),
        via: via.into(),
        condition: condition.into(),
        outcome,
        why,
        status_line: None,
        handshake: String::new(),
        echoed: false,
        end: String::new(),
        time_ms: 0.0,
        handshake_ms: None,
        request_bytes: 0,
        response_bytes: 0,
        wire_payload_bytes: 0,
        payload_in_clear: false,
        backends: Vec::new(),
        proxy_to_backend: 0,
        trace: Vec::new(),
        segments: None,
        runs: 0,
        works_runs: 0,
    }
}

fn echo_target() -> Target {
    let mut t = Target::new(ATTACKER_HOST, "/echo");
    t.linger = LINGER;
    t.stop_after_messages = Some(1);
    t
}

/// One echo (or condition) cell, with retries for lab errors and a hard time limit.
pub async fn echo_cell(subject: Arc<dyn Subject>, via: &Via, condition: Option<Condition>) -> Cell {
    let name = subject.name().to_string();
    let cond = condition.map_or("clean".to_string(), |c| c.describe());
    let server_name = format!("ws-{name}");
    let mut last_err = String::new();
    for _ in 0..2 {
        let start = Instant::now();
        let run = tokio::time::timeout(
            CELL_TIMEOUT,
            scenario::echo_run_with(subject.clone(), via, condition, ECHO_PAYLOAD, echo_target()),
        )
        .await;
        match run {
            Err(_) => {
                let mut c = empty_cell(
                    &name,
                    &via.name(),
                    &cond,
                    Outcome::Hang,
                    format!("the run did not finish within {CELL_TIMEOUT:?}"),
                );
                c.time_ms = ms(start.elapsed());
                return c;
            }
            Ok(Ok(run)) => {
                return cell_from_run(
                    &name,
                    &via.name(),
                    &cond,
                    &run,
                    &server_name,
                    start.elapsed(),
                )
            }
            Ok(Err(e)) => last_err = e.to_string(),
        }
    }
    empty_cell(&name, &via.name(), &cond, Outcome::LabError, last_err)
}

/// How often an echo cell through an intermediary is run.
pub const REPEATS: usize = 3;

/// Severity order for combining repeated runs (the worst run decides).
fn severity(o: Outcome) -> u8 {
    match o {
        Outcome::Works => 0,
        Outcome::CleanFailure => 1,
        Outcome::Hang => 2,
        Outcome::Corruption => 3,
        Outcome::NotImplemented | Outcome::LabError => 4,
    }
}

/// An echo cell run up to [`REPEATS`] times (a hang or a lab error is not repeated); the worst run is
/// reported, with how many runs worked.
pub async fn repeated_cell(
    subject: Arc<dyn Subject>,
    via: &Via,
    condition: Option<Condition>,
) -> Cell {
    let mut worst: Option<Cell> = None;
    let (mut runs, mut works) = (0, 0);
    for _ in 0..REPEATS {
        let c = echo_cell(subject.clone(), via, condition).await;
        runs += 1;
        works += (c.outcome == Outcome::Works) as usize;
        let stop = matches!(c.outcome, Outcome::Hang | Outcome::LabError);
        if worst
            .as_ref()
            .is_none_or(|w| severity(c.outcome) > severity(w.outcome))
        {
            worst = Some(c);
        }
        if stop {
            break;
        }
    }
    let mut c = worst.expect("at least one run");
    c.runs = runs;
    c.works_runs = works;
    c
}

// ---------------------------------------------------------------------------------------------------------
// conditions

/// The conditions run for a variant whose exchange is `ex` (direct path): a cut at every byte offset up to the
/// handshake plus its first message (each direction is cut at the same offset), 1/2/3/7/64-byte segments,
/// 10 ms and 100 ms per segment, 1-byte segments at 1 ms, and a reset at every stage. `quick` samples the cut
/// points (about 40, always including the head boundaries).
pub fn conditions_for(ex: &implement::Exchange, quick: bool) -> (Vec<(CondKind, Condition)>, bool) {
    let up = ex.request_bytes + ex.message_overhead + ECHO_PAYLOAD.len();
    let down = ex.response_bytes + ex.message_overhead.min(14) + ECHO_PAYLOAD.len();
    let last = up.max(down);
    let mut points: Vec<usize> = (1..=last).collect();
    let sampled = quick && last > 48;
    if sampled {
        let step = last.div_ceil(36).max(1);
        let mut keep: Vec<usize> = (1..=last).step_by(step).collect();
        for b in [
            ex.request_head,
            ex.request_bytes,
            ex.response_head,
            ex.response_bytes,
        ] {
            for p in [b.saturating_sub(1), b, b + 1] {
                if p >= 1 && p <= last {
                    keep.push(p);
                }
            }
        }
        keep.sort_unstable();
        keep.dedup();
        points = keep;
    }
    let mut v: Vec<(CondKind, Condition)> = points
        .into_iter()
        .map(|p| (CondKind::Split, Condition::cut_at(p)))
        .collect();
    for k in [1, 2, 3, 7, 64] {
        v.push((CondKind::Segments, Condition::every(k)));
    }
    v.push((
        CondKind::Latency,
        Condition::delayed(Duration::from_millis(10)),
    ));
    v.push((
        CondKind::Latency,
        Condition::delayed(Duration::from_millis(100)),
    ));
    v.push((
        CondKind::Latency,
        Condition {
            segmenting: Segmenting::Every(1),
            latency: Duration::from_millis(1),
            reset: None,
        },
    ));
    for s in NetStage::ALL {
        v.push((CondKind::Reset, Condition::reset(ResetAt::Stage(s))));
    }
    (v, sampled)
}

/// Whether a condition cell has the result a robust handshake should give: `works` when nothing is reset,
/// `works` or a clean failure when the connection is reset.
pub fn condition_ok(kind: CondKind, outcome: Outcome) -> bool {
    match kind {
        CondKind::Reset => matches!(outcome, Outcome::Works | Outcome::CleanFailure),
        _ => outcome == Outcome::Works,
    }
}

// ---------------------------------------------------------------------------------------------------------
// attacks

fn verdict(v: Verdict) -> AttackVerdict {
    match v {
        Verdict::Succeeded => AttackVerdict::Succeeded,
        Verdict::Failed => AttackVerdict::Failed,
        Verdict::HandshakeFailed => AttackVerdict::HandshakeFailed,
    }
}

/// The population-relevant facts of one spoof run.
#[derive(Clone, Debug)]
struct SpoofFacts {
    connected: bool,
    ip_hijack: bool,
    routed_to_attacker: bool,
    poisoned: bool,
    cached_from_target: bool,
}

fn facts(r: &AttackReport) -> SpoofFacts {
    SpoofFacts {
        connected: r.client.completed(),
        ip_hijack: r.spoof.reached_target,
        routed_to_attacker: r.spoof.routed_to_attacker,
        poisoned: r.fetched == Some(Owner::Attacker),
        cached_from_target: r.fetched == Some(Owner::Target),
    }
}

/// Cache-poisoning run; the same spoof decides IP hijacking (the target's log, as [`attack::ip_hijack`]).
async fn spoof_cells(
    subject: Arc<dyn Subject>,
    via: &Via,
) -> (Vec<AttackCell>, Option<SpoofFacts>) {
    let name = subject.name().to_string();
    let start = Instant::now();
    let run = tokio::time::timeout(ATTACK_TIMEOUT, attack::cache_poisoning(subject, via)).await;
    let t = ms(start.elapsed());
    let cell = |attack, verdict, evidence| AttackCell {
        variant: name.clone(),
        attack,
        via: via.name(),
        verdict,
        evidence,
        time_ms: t,
    };
    match run {
        Err(_) => {
            let ev = vec![format!("did not finish within {ATTACK_TIMEOUT:?}")];
            (
                vec![
                    cell(
                        AttackKind::CachePoisoning,
                        AttackVerdict::TimedOut,
                        ev.clone(),
                    ),
                    cell(AttackKind::IpHijack, AttackVerdict::TimedOut, ev),
                ],
                None,
            )
        }
        Ok(Err(e)) => {
            let ev = vec![format!("lab error: {e}")];
            (
                vec![
                    cell(
                        AttackKind::CachePoisoning,
                        AttackVerdict::LabError,
                        ev.clone(),
                    ),
                    cell(AttackKind::IpHijack, AttackVerdict::LabError, ev),
                ],
                None,
            )
        }
        Ok(Ok(r)) => {
            let hijack = if !r.client.completed() {
                AttackVerdict::HandshakeFailed
            } else if r.spoof.reached_target {
                AttackVerdict::Succeeded
            } else {
                AttackVerdict::Failed
            };
            let f = facts(&r);
            (
                vec![
                    cell(
                        AttackKind::CachePoisoning,
                        verdict(r.verdict),
                        r.evidence.clone(),
                    ),
                    cell(AttackKind::IpHijack, hijack, r.evidence),
                ],
                Some(f),
            )
        }
    }
}

/// Whether request smuggling means anything through `via`: not through a forward proxy reached with
/// `CONNECT name:80` first (`-connect` set-ups), where the client holds a raw tunnel before its handshake
/// and the proxy never sees the handshake at all.
pub fn smuggling_applies(via: &Via) -> bool {
    match via {
        Via::Custom(name, _) => {
            crate::real::find(name).is_none_or(|p| p.access != crate::real::Access::ConnectTunnel)
        }
        _ => true,
    }
}

/// One attack attempt, bounded by [`ATTACK_TIMEOUT`], as a cell: a time-out and a lab error are verdicts of
/// their own, so that neither counts for or against the variant.
async fn attack_cell(
    variant: String,
    attack: AttackKind,
    via: String,
    run: impl std::future::Future<Output = std::io::Result<AttackReport>>,
) -> AttackCell {
    let start = Instant::now();
    let (verdict, evidence) = match tokio::time::timeout(ATTACK_TIMEOUT, run).await {
        Err(_) => (AttackVerdict::TimedOut, vec!["timed out".into()]),
        Ok(Err(e)) => (AttackVerdict::LabError, vec![format!("lab error: {e}")]),
        Ok(Ok(r)) => (self::verdict(r.verdict), r.evidence),
    };
    AttackCell {
        variant,
        attack,
        via,
        verdict,
        evidence,
        time_ms: ms(start.elapsed()),
    }
}

async fn smuggling_cell(subject: Arc<dyn Subject>, via: &Via) -> AttackCell {
    let name = subject.name().to_string();
    let run = attack::request_smuggling(subject, via, 426);
    attack_cell(name, AttackKind::RequestSmuggling, via.name(), run).await
}

fn nonws_name(s: NonWs) -> &'static str {
    match s {
        NonWs::ReflectorHttp => "http-reflector",
        NonWs::ReflectorRaw => "raw-reflector",
        NonWs::Echo => "tcp-echo",
        NonWs::SmtpLike => "smtp-like",
    }
}

async fn cross_cell(subject: Arc<dyn Subject>, server: NonWs) -> AttackCell {
    let name = subject.name().to_string();
    let run = attack::cross_protocol(subject, server);
    attack_cell(
        name,
        AttackKind::CrossProtocol,
        nonws_name(server).into(),
        run,
    )
    .await
}

// ---------------------------------------------------------------------------------------------------------
// routing

/// The stock reverse proxy used for routing: the `upgrade-aware` row routing by `routing`, forwarding
/// `CONNECT` like any other request (so that routing, not a CONNECT refusal, decides).
pub fn router_row(routing: Routing) -> Behaviour {
    Behaviour {
        routing,
        connect: ConnectHandling::PassThroughThenParse,
        ..UPGRADE_AWARE
    }
}

/// Host name and path the routing client asks for.
pub const APP_HOST: &str = "app.example";
/// Path the routing client asks for.
pub const APP_PATH: &str = "/chat";

/// Runs `subject` through a Host- or path-routing reverse proxy with two backends: `app.example` / `/chat` →
/// the right one, `other.example` / `/` → the other.
pub async fn routing_cell(subject: Arc<dyn Subject>, routing: Routing) -> RoutingCell {
    let name = subject.name().to_string();
    let router = match routing {
        Routing::ByHost => "host",
        Routing::ByPathPrefix => "path",
        Routing::ByDestination => "destination",
    };
    let start = Instant::now();
    let work = async {
        let right = origin::start_ws_server(subject.clone()).await?;
        let wrong = origin::start_ws_server(subject.clone()).await?;
        let routes = Routes::new()
            .with(APP_HOST, right.addr)
            .with("other.example", wrong.addr)
            .with_prefix(APP_PATH, right.addr)
            .with_prefix("/", wrong.addr);
        let proxy = ModelProxy::from_behaviour(
            &format!("{router}-routing reverse proxy"),
            router_row(routing),
            routes,
        );
        // the proxy's own listener (not a transparent interception): its "destination" is the default backend
        let addr = proxy.intercept(wrong.addr).await?;
        let mut target = Target::new(APP_HOST, APP_PATH);
        target.linger = LINGER;
        target.stop_after_messages = Some(1);
        let io = tokio::net::TcpStream::connect(addr).await?;
        let client = subject
            .run_client(Box::new(io), &target, ECHO_PAYLOAD)
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let right_log = right.received();
        let wrong_log = wrong.received();
        std::io::Result::Ok((client, right_log, wrong_log, proxy.trace(), right, wrong))
    };
    let res = tokio::time::timeout(CELL_TIMEOUT, work).await;
    let elapsed = start.elapsed();
    let label = format!("{router}-router");
    match res {
        Err(_) => RoutingCell {
            variant: name.clone(),
            router: router.into(),
            result: "not delivered".into(),
            delivered: false,
            cell: empty_cell(&name, &label, "clean", Outcome::Hang, "timed out".into()),
        },
        Ok(Err(e)) => RoutingCell {
            variant: name.clone(),
            router: router.into(),
            result: "lab error".into(),
            delivered: false,
            cell: empty_cell(&name, &label, "clean", Outcome::LabError, e.to_string()),
        },
        Ok(Ok((client, right_log, wrong_log, trace, right, wrong))) => {
            let run = EchoRun {
                echoed: client.messages.iter().any(|m| m == ECHO_PAYLOAD),
                server: right_log.clone(),
                trace,
                relay: Vec::new(),
                client,
            };
            let mut cell = cell_from_run(&name, &label, "clean", &run, "right", elapsed);
            cell.backends = vec![backends(&right, &right_log), backends(&wrong, &wrong_log)];
            cell.backends[0].server = format!("right ({APP_HOST}{APP_PATH})");
            cell.backends[1].server = "other (default)".into();
            let reached_wrong = wrong_log
                .iter()
                .any(|r| matches!(r.kind, Kind::Handshake { .. }));
            let (result, delivered) = if run.echoed && server_open(&right_log) {
                ("delivered", true)
            } else if reached_wrong {
                ("misrouted", false)
            } else {
                ("not delivered", false)
            };
            RoutingCell {
                variant: name,
                router: router.into(),
                result: result.into(),
                delivered,
                cell,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// population

/// The intermediary a population class runs: the built-in model with the same row if there is one (so its
/// runs are shared with the matrix), else the class's own row.
pub fn class_via(class: &Class) -> Option<Via> {
    match class.path {
        Path::Direct => Some(Via::Direct),
        Path::Blocked => None,
        Path::Through(m) => Some(
            MODELS
                .iter()
                .find(|x| x.behaviour == m.behaviour)
                .map_or(Via::Model(m), |x| Via::Model(*x)),
        ),
    }
}

/// A blocked network: the client's connection is reset when it connects.
async fn blocked_run(subject: Arc<dyn Subject>, class: &Class) -> SpoofFacts {
    let fail = SpoofFacts {
        connected: false,
        ip_hijack: false,
        routed_to_attacker: false,
        poisoned: false,
        cached_from_target: false,
    };
    let Some(cond) = class.path.condition() else {
        return fail;
    };
    let Ok(server) = origin::start_ws_server(subject.clone()).await else {
        return fail;
    };
    let Ok(relay) = crate::netcond::Relay::start(server.addr, cond).await else {
        return fail;
    };
    let Ok(io) = tokio::net::TcpStream::connect(relay.addr).await else {
        return fail;
    };
    let out = tokio::time::timeout(
        CELL_TIMEOUT,
        subject.run_client(Box::new(io), &Target::new(ATTACKER_HOST, "/ws"), b"x"),
    )
    .await;
    SpoofFacts {
        connected: out.is_ok_and(|o| o.completed()),
        ..fail
    }
}

// ---------------------------------------------------------------------------------------------------------
// the run

enum JobOut {
    Cell(Cell),
    Cond(CondKind, Cell),
    Spoof(String, String, Vec<AttackCell>, Option<SpoofFacts>),
    Attack(AttackCell),
    Routing(RoutingCell),
    Blocked(String, String, SpoofFacts),
    PopEcho(String, String, Outcome),
}

type Job = std::pin::Pin<Box<dyn std::future::Future<Output = (String, JobOut)> + Send>>;

fn strawman_subjects() -> Vec<(Arc<dyn Subject>, &'static str)> {
    vec![
        (
            Arc::new(Strawman {
                kind: StrawKind::Post,
            }),
            "POST",
        ),
        (
            Arc::new(Strawman {
                kind: StrawKind::Upgrade,
            }),
            "Upgrade",
        ),
        (
            Arc::new(Strawman {
                kind: StrawKind::Connect,
            }),
            "CONNECT",
        ),
    ]
}

/// Runs the lab.
pub async fn run(cfg: &LabConfig, progress: Arc<dyn Progress>) -> LabReport {
    let started = Instant::now();
    let mut variants_info = Vec::new();
    let mut implemented: Vec<Variant> = Vec::new();
    for &v in &cfg.variants {
        match subjects::implementation(v) {
            Implementation::Implemented => {
                implemented.push(v);
                variants_info.push((v.name().to_string(), "implemented".to_string()));
            }
            Implementation::Missing(why) => {
                variants_info.push((v.name().to_string(), format!("not implemented: {why}")))
            }
        }
    }

    // implementability first (in memory; the condition sweep needs the exchange sizes)
    let mut implementability = Vec::new();
    let mut impl_errors = Vec::new();
    for &v in &implemented {
        match implement::measure(v) {
            Ok(m) => implementability.push(m),
            Err(e) => impl_errors.push((v.name().to_string(), e)),
        }
    }

    let mut vias: Vec<Via> = vec![Via::Direct];
    vias.extend(MODELS.iter().map(|m| Via::Model(*m)));
    vias.extend(cfg.extra.iter().cloned());
    let proxies: Vec<Via> = vias[1..].to_vec();

    let mut fast: Vec<Job> = Vec::new();
    let mut slow: Vec<Job> = Vec::new();
    // jobs through a real intermediary, per intermediary: a scene leases one daemon instance, so at most
    // `real_concurrency` of them run at once (waiting for a lease must not count against a job's time limit)
    let mut real: BTreeMap<String, Vec<Job>> = BTreeMap::new();
    let is_real = |via: &Via| matches!(via, Via::Custom(..));
    let mut sampled_variants = BTreeMap::new();

    for &v in &implemented {
        let subject: Arc<dyn Subject> = Arc::new(HybiSubject::new(v));
        for via in &vias {
            let (s, via2) = (subject.clone(), via.clone());
            let job: Job = Box::pin(async move {
                let c = repeated_cell(s, &via2, None).await;
                (format!("{} via {}", c.variant, c.via), JobOut::Cell(c))
            });
            if is_real(via) {
                real.entry(via.name()).or_default().push(job);
            } else {
                fast.push(job);
            }
        }
        if let Some(m) = implementability.iter().find(|m| m.variant == v.name()) {
            let (conds, sampled) = conditions_for(&m.exchange, cfg.quick);
            sampled_variants.insert(
                v.name().to_string(),
                (
                    sampled,
                    conds.iter().filter(|c| c.0 == CondKind::Split).count(),
                ),
            );
            for (kind, cond) in conds {
                let s = subject.clone();
                fast.push(Box::pin(async move {
                    let c = echo_cell(s, &Via::Direct, Some(cond)).await;
                    (
                        format!("{} {}", c.variant, c.condition),
                        JobOut::Cond(kind, c),
                    )
                }));
            }
        }
        for routing in [Routing::ByHost, Routing::ByPathPrefix] {
            let s = subject.clone();
            fast.push(Box::pin(async move {
                let r = routing_cell(s, routing).await;
                (
                    format!("{} {}-routing", r.variant, r.router),
                    JobOut::Routing(r),
                )
            }));
        }
        for via in &vias {
            let (s, via2) = (subject.clone(), via.clone());
            let job: Job = Box::pin(async move {
                let (cells, f) = spoof_cells(s.clone(), &via2).await;
                (
                    format!("{} spoof via {}", s.name(), via2.name()),
                    JobOut::Spoof(s.name().to_string(), via2.name(), cells, f),
                )
            });
            if is_real(via) {
                real.entry(via.name()).or_default().push(job);
            } else {
                slow.push(job);
            }
        }
        for via in proxies.iter().filter(|v| smuggling_applies(v)) {
            let (s, via2) = (subject.clone(), via.clone());
            let job: Job = Box::pin(async move {
                let c = smuggling_cell(s, &via2).await;
                (
                    format!("{} smuggling via {}", c.variant, c.via),
                    JobOut::Attack(c),
                )
            });
            if is_real(via) {
                real.entry(via.name()).or_default().push(job);
            } else {
                slow.push(job);
            }
        }
        for server in NonWs::ALL {
            let s = subject.clone();
            slow.push(Box::pin(async move {
                let c = cross_cell(s, server).await;
                (format!("{} vs {}", c.variant, c.via), JobOut::Attack(c))
            }));
        }
    }

    // population runs not shared with the matrix
    let mut pop_subjects: Vec<(Arc<dyn Subject>, Option<&'static str>, bool)> = implemented
        .iter()
        .map(|&v| {
            // the hybi variant of the same shape as each paper column: POST, GET + Upgrade + key, CONNECT
            let col = match v {
                Variant::Post => Some("POST"),
                Variant::Rfc6455 => Some("Upgrade"),
                Variant::Connect => Some("CONNECT"),
                _ => None,
            };
            (
                Arc::new(HybiSubject::new(v)) as Arc<dyn Subject>,
                col,
                false,
            )
        })
        .collect();
    pop_subjects.extend(
        strawman_subjects()
            .into_iter()
            .map(|(s, col)| (s, Some(col), true)),
    );
    if cfg.population {
        for (s, _, strawman) in &pop_subjects {
            for class in CLASSES {
                let covered = match class_via(class) {
                    None => false,
                    Some(via) => !*strawman && vias.iter().any(|x| x.name() == via.name()),
                };
                if covered {
                    continue;
                }
                let (s2, via2) = (s.clone(), class_via(class));
                fast.push(Box::pin(async move {
                    let (via, cond) = match via2 {
                        Some(v) => (v, None),
                        None => (Via::Direct, class.path.condition()),
                    };
                    let c = repeated_cell(s2.clone(), &via, cond).await;
                    (
                        format!("{} population echo {}", s2.name(), class.name),
                        JobOut::PopEcho(s2.name().to_string(), class.name.to_string(), c.outcome),
                    )
                }));
                let s = s.clone();
                match class_via(class) {
                    None => slow.push(Box::pin(async move {
                        let f = blocked_run(s.clone(), class).await;
                        (
                            format!("{} population {}", s.name(), class.name),
                            JobOut::Blocked(s.name().to_string(), class.name.to_string(), f),
                        )
                    })),
                    Some(via) => slow.push(Box::pin(async move {
                        let (cells, f) = spoof_cells(s.clone(), &via).await;
                        (
                            format!("{} population {}", s.name(), class.name),
                            JobOut::Spoof(s.name().to_string(), via.name(), cells, f),
                        )
                    })),
                }
            }
        }
    }

    let builtin: Vec<(Vec<Job>, usize)> =
        vec![(fast, cfg.fast_concurrency), (slow, cfg.slow_concurrency)];
    let real: Vec<(Vec<Job>, usize)> = real
        .into_values()
        .map(|jobs| (jobs, cfg.real_concurrency))
        .collect();
    progress.set_total(
        builtin
            .iter()
            .chain(real.iter())
            .map(|(j, _)| j.len() as u64)
            .sum(),
    );
    // built-in paths first, then the real daemons, a few products at a time: their load must not bend the
    // timing of the other cells (a starved machine turns slow into "hang")
    let mut outs = run_pools(builtin, &progress).await;
    let mut real = real;
    while !real.is_empty() {
        let group: Vec<(Vec<Job>, usize)> = real
            .drain(..cfg.real_products_at_once.clamp(1, real.len()))
            .collect();
        outs.extend(run_pools(group, &progress).await);
    }

    // assemble
    let mut cells = Vec::new();
    let mut conditions = Vec::new();
    let mut attacks = Vec::new();
    let mut routing = Vec::new();
    let mut spoof_facts: BTreeMap<(String, String), Option<SpoofFacts>> = BTreeMap::new();
    let mut pop_echo: BTreeMap<(String, String), Outcome> = BTreeMap::new();
    for o in outs {
        match o {
            JobOut::Cell(c) => cells.push(c),
            JobOut::Cond(kind, cell) => conditions.push(ConditionCell { kind, cell }),
            JobOut::Attack(a) => attacks.push(a),
            JobOut::Routing(r) => routing.push(r),
            JobOut::Spoof(subject, via, cs, f) => {
                let in_matrix = implemented.iter().any(|v| v.name() == subject)
                    && vias.iter().any(|x| x.name() == via);
                if in_matrix {
                    attacks.extend(cs);
                }
                spoof_facts.insert((subject, via), f);
            }
            JobOut::Blocked(subject, class, f) => {
                spoof_facts.insert((subject, format!("blocked:{class}")), Some(f));
            }
            JobOut::PopEcho(subject, class, o) => {
                pop_echo.insert((subject, class), o);
            }
        }
    }
    // the not-implemented variants: one explicit cell per intermediary
    for &v in &cfg.variants {
        if implemented.contains(&v) {
            continue;
        }
        let why = variants_info
            .iter()
            .find(|(n, _)| n == v.name())
            .map(|(_, w)| w.clone())
            .unwrap_or_default();
        for via in &vias {
            cells.push(empty_cell(
                v.name(),
                &via.name(),
                "clean",
                Outcome::NotImplemented,
                why.clone(),
            ));
        }
    }
    let order = |name: &str| {
        Variant::ALL
            .iter()
            .position(|v| v.name() == name)
            .unwrap_or(usize::MAX)
    };
    let via_order = |name: &str| {
        vias.iter()
            .position(|v| v.name() == name)
            .unwrap_or(usize::MAX)
    };
    cells.sort_by_key(|c| (order(&c.variant), via_order(&c.via)));
    conditions.sort_by(|a, b| {
        (order(&a.cell.variant), a.kind)
            .cmp(&(order(&b.cell.variant), b.kind))
            .then_with(|| cond_sort_key(&a.cell.condition).cmp(&cond_sort_key(&b.cell.condition)))
    });
    attacks.sort_by_key(|a| {
        (
            order(&a.variant),
            a.attack,
            via_order(&a.via),
            a.via.clone(),
        )
    });
    routing.sort_by_key(|r| (order(&r.variant), r.router.clone()));

    // Table II
    let cells_ref = &cells;
    let mut table2 = Vec::new();
    if cfg.population {
        for (s, col, strawman) in &pop_subjects {
            let name = s.name().to_string();
            let mut row = Table2Row {
                subject: name.clone(),
                paper_strawman: *strawman,
                paper_column: col.map(String::from),
                succeeded: 0,
                works: 0,
                failed: 0,
                spoof_ignored: 0,
                ip_hijack: 0,
                routed_to_attacker: 0,
                cached_from_target: 0,
                cache_poisoned: 0,
                classes: Vec::new(),
            };
            for class in CLASSES {
                let (via_name, f) = match class_via(class) {
                    None => (
                        "blocked".to_string(),
                        spoof_facts
                            .get(&(name.clone(), format!("blocked:{}", class.name)))
                            .cloned()
                            .flatten(),
                    ),
                    Some(via) => (
                        via.name(),
                        spoof_facts
                            .get(&(name.clone(), via.name()))
                            .cloned()
                            .flatten(),
                    ),
                };
                let f = f.unwrap_or(SpoofFacts {
                    connected: false,
                    ip_hijack: false,
                    routed_to_attacker: false,
                    poisoned: false,
                    cached_from_target: false,
                });
                let w = class.impressions;
                let echo = pop_echo
                    .get(&(name.clone(), class.name.to_string()))
                    .copied()
                    .or_else(|| {
                        let via = class_via(class)?.name();
                        cells_ref
                            .iter()
                            .find(|c| c.variant == name && c.via == via)
                            .map(|c| c.outcome)
                    });
                let works = echo == Some(Outcome::Works);
                row.works += w * works as u64;
                row.succeeded += w * f.connected as u64;
                row.failed += w * (!f.connected) as u64;
                row.spoof_ignored +=
                    w * (f.connected && !f.ip_hijack && !f.routed_to_attacker) as u64;
                row.ip_hijack += w * f.ip_hijack as u64;
                row.routed_to_attacker += w * f.routed_to_attacker as u64;
                row.cached_from_target += w * f.cached_from_target as u64;
                row.cache_poisoned += w * f.poisoned as u64;
                row.classes.push(ClassResult {
                    class: class.name.into(),
                    impressions: w,
                    via: via_name,
                    works,
                    echo: echo.map_or("not run".into(), |o| o.short().to_string()),
                    connected: f.connected,
                    ip_hijack: f.ip_hijack,
                    routed_to_attacker: f.routed_to_attacker,
                    poisoned: f.poisoned,
                    cached_from_target: f.cached_from_target,
                });
            }
            table2.push(row);
        }
    }

    let condition_summaries = implemented
        .iter()
        .map(|v| {
            let (sampled, n) = sampled_variants
                .get(v.name())
                .copied()
                .unwrap_or((false, 0));
            summarize_conditions(v.name(), &conditions, &implementability, sampled, n)
        })
        .collect();

    let mut intermediaries = vec![(
        "direct".to_string(),
        "none".to_string(),
        "no intermediary".to_string(),
    )];
    intermediaries.extend(MODELS.iter().map(|m: &Model| {
        (
            m.name.to_string(),
            "built-in".to_string(),
            m.doc.split_whitespace().collect::<Vec<_>>().join(" "),
        )
    }));
    intermediaries.extend(cfg.extra.iter().map(|v| {
        let doc = crate::real::find(&v.name())
            .map(|p| format!("{} ({:?})", p.product.title, p.access))
            .unwrap_or_default();
        (v.name(), "real".to_string(), doc)
    }));

    let mut report = LabReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        elapsed_s: 0.0,
        threads: 0,
        quick: cfg.quick,
        variants: variants_info,
        intermediaries,
        not_measured: cfg.not_measured.clone(),
        cells,
        conditions,
        condition_summaries,
        attacks,
        routing,
        implementability,
        implementability_errors: impl_errors,
        table2,
        paper_table2: PAPER_TABLE_II.to_vec(),
        scores: Vec::new(),
        formulas: crate::score::FORMULAS
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    };
    report.scores = crate::score::scores(&report, &cfg.variants);
    report.elapsed_s = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    report
}

/// Runs pools of jobs side by side, each with its own concurrency limit.
async fn run_pools(pools: Vec<(Vec<Job>, usize)>, progress: &Arc<dyn Progress>) -> Vec<JobOut> {
    let runs = pools.into_iter().map(|(jobs, n)| {
        let p = progress.clone();
        stream::iter(jobs)
            .buffer_unordered(n.max(1))
            .map(move |(label, out)| {
                p.done(&label);
                out
            })
            .collect::<Vec<_>>()
    });
    futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn cond_sort_key(desc: &str) -> (String, usize) {
    let digits: String = desc.chars().filter(|c| c.is_ascii_digit()).collect();
    let letters: String = desc.chars().filter(|c| !c.is_ascii_digit()).collect();
    (letters, digits.parse().unwrap_or(0))
}

fn summarize_conditions(
    variant: &str,
    conditions: &[ConditionCell],
    implementability: &[Implementability],
    sampled: bool,
    split_points: usize,
) -> ConditionSummary {
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mine: Vec<&ConditionCell> = conditions
        .iter()
        .filter(|c| c.cell.variant == variant)
        .collect();
    for c in &mine {
        *counts
            .entry(format!("{:?}", c.kind).to_ascii_lowercase())
            .or_default()
            .entry(c.cell.outcome.short().to_string())
            .or_default() += 1;
    }
    let find = |desc: &str| mine.iter().find(|c| c.cell.condition == desc);
    let lat100 = Condition::delayed(Duration::from_millis(100)).describe();
    let one = Condition {
        segmenting: Segmenting::Every(1),
        latency: Duration::from_millis(1),
        reset: None,
    }
    .describe();
    let ex = implementability.iter().find(|m| m.variant == variant);
    ConditionSummary {
        variant: variant.into(),
        counts,
        split_points,
        sampled,
        handshake_ms_100ms_latency: find(&lat100).and_then(|c| c.cell.handshake_ms),
        handshake_ms_1byte_1ms: find(&one).and_then(|c| c.cell.handshake_ms),
        up_segments_1byte: find(&Condition::every(1).describe())
            .and_then(|c| c.cell.segments.map(|s| s.0)),
        reset_stages_before_open: mine
            .iter()
            .filter(|c| c.kind == CondKind::Reset && !c.cell.handshake.starts_with("completed"))
            .map(|c| c.cell.condition.trim_start_matches("reset at ").to_string())
            .collect(),
        request_after_head: ex.map_or(0, |m| m.exchange.request_after_head),
        response_after_head: ex.map_or(0, |m| m.exchange.response_after_head),
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// An empty cell with an outcome (for score tests).
    pub fn cell(variant: &str, via: &str, outcome: Outcome) -> Cell {
        empty_cell(variant, via, "clean", outcome, String::new())
    }
}
