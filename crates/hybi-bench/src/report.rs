//! The results of a run: JSON (serde) and a Markdown rendering with ratios to every peer.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{Point, Profile, Role};

/// One closed-loop throughput sample.
#[derive(Clone, Debug, Serialize)]
pub struct ThroughputSample {
    pub msgs: u64,
    pub secs: f64,
    pub msgs_per_sec: f64,
    /// Server CPU time during the sample.
    pub cpu_us: f64,
    pub cpu_us_per_msg: f64,
    /// Share of the server's CPU spent on other processes during the sample (co-tenants), if
    /// /proc/stat was readable.
    pub server_cpu_other_busy_pct: Option<f64>,
    /// Left out of the medians and taken again: the server's CPU was busy with other work
    /// (`Profile::max_other_busy_pct`).
    pub discarded: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThroughputResult {
    pub point: Point,
    pub label: String,
    pub load_generator: String,
    /// Medians over the samples not discarded.
    pub msgs_per_sec: Option<f64>,
    pub cpu_us_per_msg: Option<f64>,
    pub samples: Vec<ThroughputSample>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HandshakeSample {
    pub ok: usize,
    pub failed: usize,
    pub secs: f64,
    pub per_sec: f64,
    pub cpu_us_per_handshake: f64,
    /// Our client's CPU per handshake: near 1e6/per_sec means the client, not the server, set
    /// the rate.
    pub client_cpu_us_per_handshake: f64,
    /// The server's core busy with work not charged to the server during the sample. Not a
    /// reason to retake it: part of a handshake's kernel work runs outside the process.
    pub server_cpu_other_busy_pct: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HandshakeResult {
    pub variant: String,
    pub connections: usize,
    pub in_flight: usize,
    pub per_sec: Option<f64>,
    pub cpu_us_per_handshake: Option<f64>,
    /// Failed handshakes over all samples.
    pub failed: usize,
    pub samples: Vec<HandshakeSample>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IdleSample {
    pub connections: usize,
    pub rss_before_kib: u64,
    pub rss_idle_kib: u64,
    pub kib_per_conn: f64,
    /// Connections the server had closed by the time RSS was read.
    pub closed_by_server: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct IdleResult {
    pub connections: usize,
    pub kib_per_conn: Option<f64>,
    pub samples: Vec<IdleSample>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LatencySample {
    pub sent: u64,
    pub received: u64,
    /// How late our client sent, at the 99th percentile: when this is large the client (not the
    /// server) was held up, and the latency figures include that delay.
    pub send_lag_p99_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub cpu_us_per_msg: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LatencyResult {
    pub connections: usize,
    /// Messages per second, all connections together (open loop).
    pub rate: u64,
    pub payload: usize,
    /// Medians over the samples of each sample's percentile. Latency runs from the instant a
    /// message was due to be sent (open-loop schedule) to the instant its echo was read.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub max_us: Option<f64>,
    pub cpu_us_per_msg: Option<f64>,
    /// Median over samples of our client's send lag p99 (how late it sent). Large values mean
    /// the client was held up (a busy machine) and the percentiles include that delay.
    pub client_send_lag_p99_us: Option<f64>,
    pub samples: Vec<LatencySample>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServerReport {
    pub name: String,
    pub role: Role,
    pub command: Vec<String>,
    pub throughput: Vec<ThroughputResult>,
    pub handshakes: Vec<HandshakeResult>,
    pub idle: Option<IdleResult>,
    pub latency: Option<LatencyResult>,
}

/// `server` compared with `peer` on one metric, in the same run.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    pub server: String,
    pub peer: String,
    pub metric: String,
    /// The peer's metric compared against (differs from `metric` only for handshake variants the
    /// peer does not speak, compared with its RFC 6455 figure).
    pub peer_metric: String,
    pub higher_is_better: bool,
    pub server_value: f64,
    pub peer_value: f64,
    /// Above 1: `server` is better than `peer` by that factor (throughput: server/peer; costs,
    /// memory and latency: peer/server).
    pub advantage: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Meta {
    pub tool: String,
    pub version: String,
    pub started_unix: u64,
    pub duration_secs: f64,
    pub profile: Profile,
    pub load_generator: String,
    pub server_cpu: usize,
    pub client_cpu: usize,
    pub pinning: String,
    pub cpu_model: String,
    pub online_cpus: usize,
    pub kernel: String,
    pub nofile_limit: Option<u64>,
    /// `ps --sort=-pcpu` before and after the run: co-tenants move msgs/s a lot on a shared
    /// machine; CPU per message much less.
    pub ps_before: Vec<String>,
    pub ps_after: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub meta: Meta,
    pub servers: Vec<ServerReport>,
    pub ratios: Vec<Ratio>,
}

/// One comparable figure of a server.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub key: String,
    pub higher_is_better: bool,
    pub value: f64,
}

impl ServerReport {
    pub fn new(name: &str, role: Role, command: &[String]) -> Self {
        ServerReport {
            name: name.to_string(),
            role,
            command: command.to_vec(),
            throughput: Vec::new(),
            handshakes: Vec::new(),
            idle: None,
            latency: None,
        }
    }

    /// Every figure of this server that can be compared, keyed by metric name.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut m = Vec::new();
        let mut push = |key: String, higher: bool, v: Option<f64>| {
            if let Some(value) = v.filter(|v| v.is_finite() && *v > 0.0) {
                m.push(Metric {
                    key,
                    higher_is_better: higher,
                    value,
                });
            }
        };
        for t in &self.throughput {
            push(format!("msgs/s {}", t.label), true, t.msgs_per_sec);
            push(format!("CPU us/msg {}", t.label), false, t.cpu_us_per_msg);
        }
        for h in &self.handshakes {
            push(format!("handshakes/s {}", h.variant), true, h.per_sec);
            push(
                format!("CPU us/handshake {}", h.variant),
                false,
                h.cpu_us_per_handshake,
            );
        }
        if let Some(i) = &self.idle {
            push("KiB/idle conn".into(), false, i.kib_per_conn);
        }
        if let Some(l) = &self.latency {
            push("latency p50 us".into(), false, l.p50_us);
            push("latency p99 us".into(), false, l.p99_us);
            push("latency p99.9 us".into(), false, l.p999_us);
        }
        m
    }
}

fn handshake_fallback_key(key: &str, peer: &ServerReport) -> Option<String> {
    let (prefix, _) = if let Some(v) = key.strip_prefix("handshakes/s ") {
        ("handshakes/s ", v)
    } else if let Some(v) = key.strip_prefix("CPU us/handshake ") {
        ("CPU us/handshake ", v)
    } else {
        return None;
    };
    let base = peer.handshakes.first()?;
    Some(format!("{prefix}{}", base.variant))
}

/// Ratios of every server to every peer (other than itself), on every metric both have.
pub fn compute_ratios(servers: &[ServerReport]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for peer in servers.iter().filter(|s| s.role == Role::Peer) {
        let peer_metrics = peer.metrics();
        for server in servers.iter().filter(|s| s.name != peer.name) {
            for m in server.metrics() {
                let direct = peer_metrics.iter().find(|p| p.key == m.key);
                let found = direct.or_else(|| {
                    let k = handshake_fallback_key(&m.key, peer)?;
                    peer_metrics.iter().find(|p| p.key == k)
                });
                let Some(p) = found else { continue };
                let advantage = if m.higher_is_better {
                    m.value / p.value
                } else {
                    p.value / m.value
                };
                out.push(Ratio {
                    server: server.name.clone(),
                    peer: peer.name.clone(),
                    metric: m.key.clone(),
                    peer_metric: p.key.clone(),
                    higher_is_better: m.higher_is_better,
                    server_value: m.value,
                    peer_value: p.value,
                    advantage,
                });
            }
        }
    }
    out
}

/// `16 B`, `1 KiB`, `64 KiB`, `1.5 KiB`.
pub fn fmt_bytes(n: usize) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else if n >= 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// `157.9k`, `1.23M`, `950`.
pub fn fmt_rate(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 1e6 => format!("{:.2}M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1}k", v / 1e3),
        Some(v) => format!("{v:.0}"),
    }
}

/// Two significant decimals for small values, fewer for big ones.
pub fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) if v >= 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}×"),
        Some(v) if v >= 0.1 => format!("{v:.2}×"),
        Some(v) => format!("{v:.3}×"),
    }
}

fn cell_or_err(v: String, err: &Option<String>) -> String {
    if err.is_some() && v == "–" {
        "error".into()
    } else {
        v
    }
}

fn row(cells: &[String]) -> String {
    let mut s = String::from("|");
    for c in cells {
        s.push(' ');
        s.push_str(&c.replace('|', "\\|"));
        s.push_str(" |");
    }
    s.push('\n');
    s
}

fn header(cells: &[String]) -> String {
    let mut s = row(cells);
    s.push('|');
    for (i, _) in cells.iter().enumerate() {
        s.push_str(if i == 0 { "---|" } else { "---:|" });
    }
    s.push('\n');
    s
}

fn server_label(s: &ServerReport) -> String {
    match s.role {
        Role::Subject => format!("**{}**", s.name),
        Role::Peer => s.name.clone(),
    }
}

impl BenchReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    fn points(&self) -> Vec<(Point, String)> {
        let mut pts: Vec<(Point, String)> = Vec::new();
        for s in &self.servers {
            for t in &s.throughput {
                if !pts.iter().any(|(p, _)| *p == t.point) {
                    pts.push((t.point, t.label.clone()));
                }
            }
        }
        pts
    }

    fn universal_variant(&self) -> Option<String> {
        self.servers
            .iter()
            .find(|s| s.role == Role::Peer)
            .or(self.servers.first())
            .and_then(|s| s.handshakes.first())
            .map(|h| h.variant.clone())
    }

    /// The report as Markdown: the figures, then ratios to each peer, then the run's conditions.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.meta;
        let _ = writeln!(
            md,
            "## WebSocket echo servers side by side ({} profile)\n",
            m.profile.name
        );
        let _ = writeln!(
            md,
            "Each server single-threaded, pinned to CPU {}; every client pinned to CPU {} ({}); loopback only. \
             Closed-loop load generator: {}. Figures are medians of {} samples, throughput samples \
             taken in {} round(s) that each measure every server once (a throughput sample during \
             which the server's CPU was {:.0}% or more busy with other work is taken again, up to \
             {} times per point and round); CPU µs is server CPU \
             time (run time of all its threads, /proc/PID/task/*/schedstat) per message or handshake. \
             {} on {} CPUs, kernel {}.\n",
            m.server_cpu,
            m.client_cpu,
            m.pinning,
            m.load_generator,
            m.profile.samples,
            m.profile.effective_rounds(),
            m.profile.max_other_busy_pct,
            m.profile.max_retakes,
            m.cpu_model,
            m.online_cpus,
            m.kernel
        );
        if m.profile.name == "quick" {
            md.push_str("_Quick profile: short samples and fewer connections; a smoke test, not figures to quote._\n\n");
        }

        let points = self.points();
        if !points.is_empty() {
            md.push_str("### Throughput (closed loop)\n\n");
            let mut h = vec!["server".to_string()];
            for (_, label) in &points {
                h.push(format!("{label} msgs/s"));
                h.push(format!("{label} CPU µs/msg"));
            }
            md.push_str(&header(&h));
            for s in &self.servers {
                let mut r = vec![server_label(s)];
                for (p, _) in &points {
                    let t = s.throughput.iter().find(|t| t.point == *p);
                    let err = t.and_then(|t| t.error.clone());
                    r.push(cell_or_err(fmt_rate(t.and_then(|t| t.msgs_per_sec)), &err));
                    r.push(cell_or_err(fmt_num(t.and_then(|t| t.cpu_us_per_msg)), &err));
                }
                md.push_str(&row(&r));
            }
            md.push('\n');
        }

        let uni = self.universal_variant();
        let any_conn = self
            .servers
            .iter()
            .any(|s| !s.handshakes.is_empty() || s.idle.is_some() || s.latency.is_some());
        if any_conn {
            let lat = self.servers.iter().find_map(|s| s.latency.as_ref());
            let idle_n = self
                .servers
                .iter()
                .find_map(|s| s.idle.as_ref())
                .map(|i| i.connections);
            let hs = self.servers.iter().find_map(|s| s.handshakes.first());
            let _ = writeln!(
                md,
                "### Handshakes, idle memory, latency\n\n\
                 Handshakes: {} connections, {} in flight, raw client. Idle: server RSS growth with {} idle \
                 connections. Latency: open loop, {} connections × {} at {} msgs/s in total, from the \
                 scheduled send time to the echo's arrival.\n",
                hs.map(|h| h.connections.to_string()).unwrap_or_else(|| "–".into()),
                hs.map(|h| h.in_flight.to_string()).unwrap_or_else(|| "–".into()),
                idle_n.map(|n| n.to_string()).unwrap_or_else(|| "–".into()),
                lat.map(|l| l.connections.to_string()).unwrap_or_else(|| "–".into()),
                lat.map(|l| fmt_bytes(l.payload)).unwrap_or_else(|| "–".into()),
                lat.map(|l| l.rate.to_string()).unwrap_or_else(|| "–".into()),
            );
            let uv = uni.clone().unwrap_or_else(|| "rfc6455".into());
            md.push_str(&header(&[
                "server".into(),
                format!("handshakes/s ({uv})"),
                "CPU µs/handshake".into(),
                "KiB/idle conn".into(),
                "p50 µs".into(),
                "p99 µs".into(),
                "p99.9 µs".into(),
            ]));
            for s in &self.servers {
                let h = s
                    .handshakes
                    .iter()
                    .find(|h| Some(&h.variant) == uni.as_ref())
                    .or(s.handshakes.first());
                let herr = h.and_then(|h| h.error.clone());
                let ierr = s.idle.as_ref().and_then(|i| i.error.clone());
                let lerr = s.latency.as_ref().and_then(|l| l.error.clone());
                let l = s.latency.as_ref();
                md.push_str(&row(&[
                    server_label(s),
                    cell_or_err(fmt_rate(h.and_then(|h| h.per_sec)), &herr),
                    cell_or_err(fmt_num(h.and_then(|h| h.cpu_us_per_handshake)), &herr),
                    cell_or_err(fmt_num(s.idle.as_ref().and_then(|i| i.kib_per_conn)), &ierr),
                    cell_or_err(fmt_num(l.and_then(|l| l.p50_us)), &lerr),
                    cell_or_err(fmt_num(l.and_then(|l| l.p99_us)), &lerr),
                    cell_or_err(fmt_num(l.and_then(|l| l.p999_us)), &lerr),
                ]));
            }
            md.push('\n');
        }

        let multi = self.servers.iter().any(|s| s.handshakes.len() > 1);
        if multi {
            md.push_str("### Handshakes per variant\n\n");
            let peers: Vec<&ServerReport> = self
                .servers
                .iter()
                .filter(|s| s.role == Role::Peer)
                .collect();
            let mut h = vec![
                "server".to_string(),
                "variant".into(),
                "handshakes/s".into(),
                "CPU µs/handshake".into(),
                "failed".into(),
            ];
            for p in &peers {
                h.push(format!("vs {}", p.name));
            }
            md.push_str(&header(&h));
            for s in self.servers.iter().filter(|s| s.handshakes.len() > 1) {
                for hr in &s.handshakes {
                    let mut r = vec![
                        server_label(s),
                        hr.variant.clone(),
                        cell_or_err(fmt_rate(hr.per_sec), &hr.error),
                        cell_or_err(fmt_num(hr.cpu_us_per_handshake), &hr.error),
                        hr.failed.to_string(),
                    ];
                    for p in &peers {
                        let key = format!("handshakes/s {}", hr.variant);
                        let ratio = self
                            .ratios
                            .iter()
                            .find(|x| x.server == s.name && x.peer == p.name && x.metric == key)
                            .map(|x| x.advantage);
                        r.push(fmt_ratio(ratio));
                    }
                    md.push_str(&row(&r));
                }
            }
            md.push('\n');
        }

        // Ratios: one table per peer, one column per headline metric.
        let mut cols: Vec<(String, String)> = Vec::new();
        for (_, label) in &points {
            cols.push((format!("msgs/s {label}"), format!("{label} msgs/s")));
            cols.push((format!("CPU us/msg {label}"), format!("{label} CPU/msg")));
        }
        if let Some(u) = &uni {
            cols.push((format!("handshakes/s {u}"), "handshakes/s".into()));
        }
        cols.push(("KiB/idle conn".into(), "KiB/idle conn".into()));
        cols.push(("latency p50 us".into(), "p50".into()));
        cols.push(("latency p99 us".into(), "p99".into()));
        // Only columns some server has a ratio for.
        cols.retain(|(key, _)| self.ratios.iter().any(|r| &r.metric == key));
        let peers: Vec<&ServerReport> = self
            .servers
            .iter()
            .filter(|s| s.role == Role::Peer)
            .collect();
        if !peers.is_empty() && !self.ratios.is_empty() {
            md.push_str(
                "### Ratios to each peer (same run)\n\n\
                 `N×` = the row's server is N times better than the peer: throughput is server/peer; \
                 CPU per message, memory and latency are peer/server. Above 1 is better.\n\n",
            );
            for p in peers {
                let _ = writeln!(md, "**vs {}**\n", p.name);
                let mut h = vec!["server".to_string()];
                h.extend(cols.iter().map(|(_, t)| t.clone()));
                md.push_str(&header(&h));
                for s in self.servers.iter().filter(|s| s.name != p.name) {
                    let mut r = vec![server_label(s)];
                    for (key, _) in &cols {
                        let v = self
                            .ratios
                            .iter()
                            .find(|x| x.server == s.name && x.peer == p.name && &x.metric == key)
                            .map(|x| x.advantage);
                        r.push(fmt_ratio(v));
                    }
                    md.push_str(&row(&r));
                }
                md.push('\n');
            }
        }

        let mut problems = Vec::new();
        let others: Vec<f64> = self
            .servers
            .iter()
            .flat_map(|s| s.throughput.iter())
            .flat_map(|t| t.samples.iter())
            .filter(|x| !x.discarded)
            .filter_map(|x| x.server_cpu_other_busy_pct)
            .collect();
        let discarded = self
            .servers
            .iter()
            .flat_map(|s| s.throughput.iter())
            .flat_map(|t| t.samples.iter())
            .filter(|x| x.discarded)
            .count();
        if discarded > 0 {
            problems.push(format!(
                "co-tenants: {discarded} throughput sample(s) were taken again because the servers' CPU \
                 was {:.0}% or more busy with other work during them (kept in the JSON, marked \
                 `discarded`)",
                self.meta.profile.max_other_busy_pct
            ));
        }
        if !others.is_empty() {
            let mean = others.iter().sum::<f64>() / others.len() as f64;
            let max = others.iter().cloned().fold(0.0, f64::max);
            if max >= 10.0 {
                problems.push(format!(
                    "co-tenants: during throughput samples the servers' CPU was {mean:.0}% busy with other \
                     processes on average (max {max:.0}%): msgs/s are understated and noisy; CPU µs/msg is \
                     the steadier figure"
                ));
            }
        }
        for s in &self.servers {
            for t in &s.throughput {
                if let Some(e) = &t.error {
                    problems.push(format!("{} {}: {}", s.name, t.label, e));
                }
            }
            for h in &s.handshakes {
                if let Some(e) = &h.error {
                    problems.push(format!("{} handshakes {}: {}", s.name, h.variant, e));
                } else if h.failed > 0 {
                    problems.push(format!(
                        "{} handshakes {}: {} failed",
                        s.name, h.variant, h.failed
                    ));
                }
            }
            if let Some(e) = s.idle.as_ref().and_then(|i| i.error.as_ref()) {
                problems.push(format!("{} idle: {}", s.name, e));
            }
            if let Some(e) = s.latency.as_ref().and_then(|l| l.error.as_ref()) {
                problems.push(format!("{} latency: {}", s.name, e));
            }
            if let Some(lag) = s
                .latency
                .as_ref()
                .and_then(|l| l.client_send_lag_p99_us)
                .filter(|lag| *lag > 1000.0)
            {
                problems.push(format!(
                    "{} latency: our client itself sent up to {:.1} ms late (p99): the machine was busy, \
                     and the latency figures include that delay",
                    s.name,
                    lag / 1e3
                ));
            }
        }
        if !problems.is_empty() || !m.notes.is_empty() {
            md.push_str("### Notes and problems\n\n");
            for n in m.notes.iter().chain(problems.iter()) {
                let first = n.lines().next().unwrap_or("");
                let _ = writeln!(md, "- {first}");
            }
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "<details><summary>Top CPU consumers before and after ({:.0} s run)</summary>\n\n```\n{}\n---\n{}\n```\n</details>",
            m.duration_secs,
            m.ps_before.join("\n"),
            m.ps_after.join("\n")
        );
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(label: &str, p: Point, rate: f64, cpu: f64) -> ThroughputResult {
        ThroughputResult {
            point: p,
            label: label.into(),
            load_generator: "x".into(),
            msgs_per_sec: Some(rate),
            cpu_us_per_msg: Some(cpu),
            samples: vec![],
            error: None,
        }
    }

    fn hs(variant: &str, rate: f64) -> HandshakeResult {
        HandshakeResult {
            variant: variant.into(),
            connections: 10,
            in_flight: 2,
            per_sec: Some(rate),
            cpu_us_per_handshake: Some(1e6 / rate),
            failed: 0,
            samples: vec![],
            error: None,
        }
    }

    fn sample_servers() -> Vec<ServerReport> {
        let p = Point::new(100, 16);
        let mut ours = ServerReport::new("hybi", Role::Subject, &["hybi".into()]);
        ours.throughput.push(tp("100x16 B", p, 200_000.0, 5.0));
        ours.handshakes.push(hs("rfc6455", 20_000.0));
        ours.handshakes.push(hs("hixie-76", 10_000.0));
        ours.idle = Some(IdleResult {
            connections: 10,
            kib_per_conn: Some(1.0),
            samples: vec![],
            error: None,
        });
        let mut peer = ServerReport::new("peer", Role::Peer, &["p".into()]);
        peer.throughput.push(tp("100x16 B", p, 100_000.0, 10.0));
        peer.handshakes.push(hs("rfc6455", 10_000.0));
        peer.idle = Some(IdleResult {
            connections: 10,
            kib_per_conn: Some(4.0),
            samples: vec![],
            error: None,
        });
        vec![ours, peer]
    }

    #[test]
    fn ratios_point_the_right_way() {
        let r = compute_ratios(&sample_servers());
        let get = |s: &str, m: &str| {
            r.iter()
                .find(|x| x.server == s && x.metric == m)
                .map(|x| x.advantage)
        };
        assert_eq!(get("hybi", "msgs/s 100x16 B"), Some(2.0));
        assert_eq!(get("hybi", "CPU us/msg 100x16 B"), Some(2.0));
        assert_eq!(get("hybi", "KiB/idle conn"), Some(4.0));
        assert_eq!(get("hybi", "handshakes/s rfc6455"), Some(2.0));
        // A variant the peer does not speak is compared with the peer's RFC 6455 figure.
        assert_eq!(get("hybi", "handshakes/s hixie-76"), Some(1.0));
        let hixie = r
            .iter()
            .find(|x| x.metric == "handshakes/s hixie-76")
            .unwrap();
        assert_eq!(hixie.peer_metric, "handshakes/s rfc6455");
        // Only peers are compared against; the subject is never the denominator.
        assert!(r.iter().all(|x| x.peer == "peer"));
        assert!(r.iter().all(|x| x.server != x.peer));
    }

    #[test]
    fn markdown_has_tables_and_ratios() {
        let servers = sample_servers();
        let ratios = compute_ratios(&servers);
        let report = BenchReport {
            meta: Meta {
                tool: "t".into(),
                version: "0".into(),
                started_unix: 0,
                duration_secs: 1.0,
                profile: Profile::quick(),
                load_generator: "builtin".into(),
                server_cpu: 0,
                client_cpu: 1,
                pinning: "taskset".into(),
                cpu_model: "cpu".into(),
                online_cpus: 2,
                kernel: "k".into(),
                nofile_limit: None,
                ps_before: vec![],
                ps_after: vec![],
                notes: vec![],
            },
            servers,
            ratios,
        };
        let md = report.to_markdown();
        assert!(md.contains("| **hybi** | 200.0k | 5.00 |"), "{md}");
        assert!(md.contains("### Handshakes per variant"));
        assert!(md.contains("| **hybi** | hixie-76 | 10.0k |"));
        assert!(md.contains("**vs peer**"));
        assert!(md.contains("2.00×"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["servers"][0]["name"], "hybi");
        assert_eq!(json["meta"]["profile"]["name"], "quick");
        assert!(json["ratios"].as_array().unwrap().len() >= 5);
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_bytes(16), "16 B");
        assert_eq!(fmt_bytes(1024), "1 KiB");
        assert_eq!(fmt_bytes(65536), "64 KiB");
        assert_eq!(fmt_rate(Some(157_922.0)), "157.9k");
        assert_eq!(fmt_rate(Some(1_500_000.0)), "1.50M");
        assert_eq!(fmt_rate(None), "–");
        assert_eq!(fmt_num(Some(5.678)), "5.68");
        assert_eq!(fmt_ratio(Some(0.0019)), "0.002×");
        assert_eq!(fmt_ratio(Some(515.09)), "515×");
        assert_eq!(fmt_ratio(Some(1.234)), "1.23×");
        assert_eq!(Point::new(10, 65536).label(), "10x64 KiB");
    }
}
