//! `hybi probe URL`: what a server (or a proxy in front of it) accepts.
//!
//! * Every variant's opening handshake, each on its own connection, with how it ended:
//!   accepted (and whether a text message came back: an echo server, and a path that
//!   passes frames), refused (the status line), a handshake error (wrong proof, …), a
//!   timeout, a reset, or a close without an answer.
//! * The request-smuggling pattern of proxies that tunnel after a *refused* upgrade: an
//!   upgrade the backend must refuse (an unsupported `Sec-WebSocket-Version`), then a
//!   second, plain HTTP request on the same connection. If that request is answered, the
//!   connection stayed open after the refusal: a proxy in front that switched to
//!   tunnelling lets the client talk to the backend directly, past the proxy's rules.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use hybi_proto::connection::Event;
use hybi_proto::handshake::{ClientHandshake, ClientOptions, HandshakeStatus};
use hybi_proto::{HandshakeError, Limits, Variant};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Server URL, ws://host[:port]/path.
    url: String,
    /// Variants to try: a comma-separated list, or `all`.
    #[arg(long, default_value = "all", value_parser = crate::serve::parse_variants)]
    variants: crate::serve::VariantList,
    /// Seconds to wait for each step (connect, an answer, the echo).
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
    /// Origin to send with each handshake.
    #[arg(long)]
    origin: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// How one variant's attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This build has no client for the variant.
    NotImplemented,
    /// The TCP connection could not be opened.
    ConnectFailed(String),
    /// The handshake completed; `echo` tells whether a text message came back.
    Accepted { status: String, echo: bool },
    /// The server answered with an HTTP status that refuses.
    Refused { status: String },
    /// An answer came but the handshake failed on it (wrong proof, bad head, …).
    Failed {
        status: Option<String>,
        error: String,
    },
    /// Nothing conclusive within the timeout (`received` bytes came).
    Timeout { received: usize },
    /// The connection was reset.
    Reset { received: usize },
    /// The connection was closed without a (complete) answer.
    Closed { received: usize },
}

impl Outcome {
    fn kind(&self) -> &'static str {
        match self {
            Outcome::NotImplemented => "n/a",
            Outcome::ConnectFailed(_) => "no-connect",
            Outcome::Accepted { .. } => "accepted",
            Outcome::Refused { .. } => "refused",
            Outcome::Failed { .. } => "failed",
            Outcome::Timeout { .. } => "timeout",
            Outcome::Reset { .. } => "reset",
            Outcome::Closed { .. } => "closed",
        }
    }

    fn detail(&self) -> String {
        match self {
            Outcome::NotImplemented => "no client for this variant in this build".into(),
            Outcome::ConnectFailed(e) => e.clone(),
            Outcome::Accepted { status, echo } => format!(
                "{status}; {}",
                if *echo {
                    "text echoed"
                } else {
                    "no echo of a text message"
                }
            ),
            Outcome::Refused { status } => status.clone(),
            Outcome::Failed { status, error } => match status {
                Some(s) => format!("{s}: {error}"),
                None => error.clone(),
            },
            Outcome::Timeout { received } => format!("no answer in time ({received} bytes came)"),
            Outcome::Reset { received } => format!("connection reset ({received} bytes came)"),
            Outcome::Closed { received } => {
                format!("closed without an answer ({received} bytes came)")
            }
        }
    }
}

/// What the smuggling check saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Smuggling {
    /// The answer to the upgrade that must be refused (status line, or what happened).
    pub upgrade_answer: String,
    /// Whether that answer said `Connection: close`.
    pub upgrade_says_close: bool,
    /// The answer to the second request, if one came.
    pub second_answer: Option<String>,
    /// What happened to the second request when no answer came.
    pub second_outcome: String,
}

impl Smuggling {
    /// True when a second request was answered after a refused upgrade.
    pub fn open(&self) -> bool {
        self.second_answer.is_some() && !self.upgrade_answer.contains(" 101 ")
    }

    fn verdict(&self) -> &'static str {
        if self.upgrade_answer.contains(" 101 ") {
            "the server accepted an upgrade with a bogus version (check the backend)"
        } else if self.open() {
            "OPEN: the connection stays usable after a refused upgrade; a proxy in front that \
             tunnels after it lets requests reach the backend past the proxy"
        } else {
            "not open to the pattern: nothing answers on the connection after the refusal"
        }
    }
}

pub fn run(args: ProbeArgs) -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(probe_cmd(args))
}

async fn probe_cmd(args: ProbeArgs) -> ExitCode {
    let base = match ClientOptions::from_url(&args.url, Variant::Rfc6455) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hybi probe: {e}");
            return ExitCode::from(2);
        }
    };
    if base.secure {
        eprintln!("hybi probe: wss:// is not supported (probe the TLS terminator's backend)");
        return ExitCode::from(2);
    }
    let timeout = Duration::from_secs_f64(args.timeout.max(0.05));
    let report = probe(&args.url, &args.variants.0, args.origin.as_deref(), timeout).await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&args.url, &report)).expect("json")
        );
    } else {
        print!("{}", report_table(&args.url, &report));
    }
    let reached = report
        .variants
        .iter()
        .any(|(_, o, _)| !matches!(o, Outcome::ConnectFailed(_) | Outcome::NotImplemented));
    if reached {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// Everything a probe found.
#[derive(Debug)]
pub struct Report {
    /// Each variant tried, how it ended, and how long it took.
    pub variants: Vec<(Variant, Outcome, Duration)>,
    /// The smuggling check.
    pub smuggling: Smuggling,
}

/// Probes `url` with each of `variants`, all at once, then the smuggling pattern.
pub async fn probe(
    url: &str,
    variants: &[Variant],
    origin: Option<&str>,
    timeout: Duration,
) -> Report {
    let attempts = variants.iter().map(|&v| async move {
        let started = Instant::now();
        let outcome = try_variant(url, v, origin, timeout).await;
        (v, outcome, started.elapsed())
    });
    let results = futures_util::future::join_all(attempts).await;
    let smuggling = smuggling_check(url, timeout).await;
    Report {
        variants: results,
        smuggling,
    }
}

fn options(url: &str, variant: Variant, origin: Option<&str>) -> Option<ClientOptions> {
    let mut opts = ClientOptions::from_url(url, variant).ok()?;
    opts.origin = origin.map(str::to_owned);
    opts.limits = Limits::default();
    Some(opts)
}

async fn open(opts: &ClientOptions, timeout: Duration) -> Result<TcpStream, String> {
    let addr = opts.socket_addr();
    let addr = addr.trim_start_matches('[').replacen("]:", ":", 1);
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr.as_str())).await {
        Err(_) => return Err("connect timed out".into()),
        Ok(Err(e)) => return Err(format!("connect: {e}")),
        Ok(Ok(t)) => t,
    };
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

fn seed() -> [u8; 32] {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut s = [0u8; 32];
    s[..16].copy_from_slice(&t.to_le_bytes());
    s[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    s
}

/// The first line of an HTTP answer, if `buf` starts with one.
fn first_line(buf: &[u8]) -> Option<String> {
    if !buf.starts_with(b"HTTP/") {
        return None;
    }
    let end = buf.iter().position(|&b| b == b'\n')?;
    Some(String::from_utf8_lossy(&buf[..end]).trim_end().to_owned())
}

async fn try_variant(
    url: &str,
    variant: Variant,
    origin: Option<&str>,
    timeout: Duration,
) -> Outcome {
    let Some(opts) = options(url, variant, origin) else {
        return Outcome::ConnectFailed("bad URL".into());
    };
    let mut hs = match ClientHandshake::new(&opts, seed()) {
        Ok(hs) => hs,
        Err(HandshakeError::VariantDisabled(_)) => return Outcome::NotImplemented,
        Err(e) => {
            return Outcome::Failed {
                status: None,
                error: e.to_string(),
            }
        }
    };
    let mut tcp = match open(&opts, timeout).await {
        Ok(t) => t,
        Err(e) => return Outcome::ConnectFailed(e),
    };
    let mut received: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let out = hs.take_output();
        if !out.is_empty() {
            if let Err(e) = tcp.write_all(&out).await {
                return io_outcome(&e, received.len());
            }
        }
        let n = match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => {
                return match first_line(&received) {
                    Some(status) if !status.contains(" 101 ") && !status.contains(" 200 ") => {
                        Outcome::Refused { status }
                    }
                    _ => Outcome::Timeout {
                        received: received.len(),
                    },
                }
            }
            Ok(Err(e)) => return io_outcome(&e, received.len()),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            return match first_line(&received) {
                Some(status) => Outcome::Refused { status },
                None => Outcome::Closed {
                    received: received.len(),
                },
            };
        }
        received.extend_from_slice(&buf[..n]);
        match hs.receive_data(&buf[..n]) {
            Ok(HandshakeStatus::InProgress) => {}
            Ok(HandshakeStatus::Done) => {
                let status = first_line(&received).unwrap_or_else(|| "(no HTTP status)".into());
                let echo = echo_check(tcp, hs, timeout).await;
                return Outcome::Accepted { status, echo };
            }
            Err(HandshakeError::UnexpectedStatus { line, .. }) => {
                return Outcome::Refused { status: line }
            }
            Err(e) => {
                return Outcome::Failed {
                    status: first_line(&received),
                    error: e.to_string(),
                }
            }
        }
    }
}

fn io_outcome(e: &std::io::Error, received: usize) -> Outcome {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe => Outcome::Reset { received },
        _ => Outcome::Failed {
            status: None,
            error: e.to_string(),
        },
    }
}

/// Sends one text message on an established connection and waits for a text message
/// back; then closes politely.
async fn echo_check(mut tcp: TcpStream, mut hs: ClientHandshake, timeout: Duration) -> bool {
    // What the handshake still has to say (HELLO's final frame) goes first.
    let last = hs.take_output();
    if !last.is_empty() && tcp.write_all(&last).await.is_err() {
        return false;
    }
    let (session, leftover) = hs.into_session();
    let mut conn = session.into_connection(Limits::default());
    conn.receive_data(&leftover);
    if conn.send_text("hybi-probe").is_err() {
        return false;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = vec![0u8; 16 * 1024];
    let mut echoed = false;
    'outer: loop {
        let out = conn.take_output();
        if !out.is_empty() && tcp.write_all(&out).await.is_err() {
            break;
        }
        while let Some(ev) = conn.next_event() {
            match ev {
                Event::Text(t) if t == "hybi-probe" => {
                    echoed = true;
                    break 'outer;
                }
                Event::Close(_) | Event::Failed(_) => break 'outer,
                _ => {}
            }
        }
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => conn.receive_data(&buf[..n]),
            _ => break,
        }
    }
    let _ = conn.send_close(hybi_proto::CloseFrame::new(
        hybi_proto::CloseCode::NORMAL,
        "",
    ));
    let out = conn.take_output();
    let _ = tokio::time::timeout(Duration::from_millis(200), tcp.write_all(&out)).await;
    echoed
}

/// Reads one HTTP response head (and its `Content-Length` body) from `tcp`.
async fn read_answer(tcp: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if got.len() > 64 * 1024 {
            return Err("answer head over 64 KiB".into());
        }
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return Err(format!("no answer in time ({} bytes came)", got.len())),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(format!("connection reset ({} bytes came)", got.len()))
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(0)) => return Err(format!("connection closed ({} bytes came)", got.len())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let body_len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // Read the body so the next answer starts cleanly (best effort, bounded).
    let want = head_end + body_len.min(1 << 20);
    while got.len() < want {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    got.truncate(head_end);
    Ok(got)
}

/// An upgrade the backend must refuse, then a second request on the same connection.
async fn smuggling_check(url: &str, timeout: Duration) -> Smuggling {
    let fail = |what: String| Smuggling {
        upgrade_answer: what,
        upgrade_says_close: false,
        second_answer: None,
        second_outcome: "not sent".into(),
    };
    let Some(opts) = options(url, Variant::Rfc6455, None) else {
        return fail("bad URL".into());
    };
    let mut tcp = match open(&opts, timeout).await {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let host = opts.host_header();
    let upgrade = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: aHliaS1wcm9iZS1zbXVnZ2xl\r\nSec-WebSocket-Version: 1337\r\n\r\n",
        opts.path
    );
    if let Err(e) = tcp.write_all(upgrade.as_bytes()).await {
        return fail(format!("write: {e}"));
    }
    let head = match read_answer(&mut tcp, timeout).await {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let upgrade_answer = first_line(&head).unwrap_or_else(|| "(not HTTP)".into());
    let upgrade_says_close = String::from_utf8_lossy(&head)
        .to_ascii_lowercase()
        .lines()
        .any(|l| l.starts_with("connection:") && l.contains("close"));
    let second = format!(
        "GET /hybi-probe-second-request HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    if let Err(e) = tcp.write_all(second.as_bytes()).await {
        return Smuggling {
            upgrade_answer,
            upgrade_says_close,
            second_answer: None,
            second_outcome: format!("could not be sent: {e}"),
        };
    }
    match read_answer(&mut tcp, timeout).await {
        Ok(h) => Smuggling {
            upgrade_answer,
            upgrade_says_close,
            second_answer: first_line(&h).or(Some("(not HTTP)".into())),
            second_outcome: "answered".into(),
        },
        Err(e) => Smuggling {
            upgrade_answer,
            upgrade_says_close,
            second_answer: None,
            second_outcome: e,
        },
    }
}

/// The report as a table.
pub fn report_table(url: &str, report: &Report) -> String {
    let mut s = format!("hybi probe {url}\n\n");
    s.push_str(&format!(
        "{:<16} {:<10} {:>7}  detail\n",
        "variant", "result", "ms"
    ));
    for (v, o, took) in &report.variants {
        s.push_str(&format!(
            "{:<16} {:<10} {:>7}  {}\n",
            v.name(),
            o.kind(),
            if *o == Outcome::NotImplemented {
                "-".to_string()
            } else {
                took.as_millis().to_string()
            },
            o.detail()
        ));
    }
    let accepted: Vec<&str> = report
        .variants
        .iter()
        .filter(|(_, o, _)| matches!(o, Outcome::Accepted { .. }))
        .map(|(v, _, _)| v.name())
        .collect();
    s.push_str(&format!(
        "\naccepted: {}\n",
        if accepted.is_empty() {
            "none".to_string()
        } else {
            accepted.join(", ")
        }
    ));
    let risky: Vec<&str> = report
        .variants
        .iter()
        .filter(|(v, o, _)| {
            matches!(o, Outcome::Accepted { .. }) && v.attacker_controls_wire_bytes()
        })
        .map(|(v, _, _)| v.name())
        .collect();
    if !risky.is_empty() {
        s.push_str(&format!(
            "warning: unmasked variants accepted ({}): pages choose the wire bytes \
             (cross-protocol attacks on transparent proxies)\n",
            risky.join(", ")
        ));
    }
    let m = &report.smuggling;
    s.push_str("\nrequest smuggling (refused upgrade, then a second request on the connection):\n");
    s.push_str(&format!(
        "  upgrade with Sec-WebSocket-Version: 1337 -> {}{}\n",
        m.upgrade_answer,
        if m.upgrade_says_close {
            " (Connection: close)"
        } else {
            ""
        }
    ));
    s.push_str(&format!(
        "  second request -> {}\n",
        m.second_answer.as_deref().unwrap_or(&m.second_outcome)
    ));
    s.push_str(&format!("  verdict: {}\n", m.verdict()));
    s
}

/// The report as JSON.
pub fn report_json(url: &str, report: &Report) -> Value {
    let variants: Vec<Value> = report
        .variants
        .iter()
        .map(|(v, o, took)| {
            let mut obj = json!({
                "variant": v.name(),
                "result": o.kind(),
                "detail": o.detail(),
                "ms": took.as_millis() as u64,
                "unmasked": v.attacker_controls_wire_bytes(),
            });
            match o {
                Outcome::Accepted { status, echo } => {
                    obj["status"] = json!(status);
                    obj["echo"] = json!(echo);
                }
                Outcome::Refused { status } => obj["status"] = json!(status),
                Outcome::Failed {
                    status: Some(status),
                    ..
                } => obj["status"] = json!(status),
                _ => {}
            }
            obj
        })
        .collect();
    let m = &report.smuggling;
    json!({
        "url": url,
        "variants": variants,
        "smuggling": {
            "upgrade_answer": m.upgrade_answer,
            "upgrade_says_close": m.upgrade_says_close,
            "second_answer": m.second_answer,
            "second_outcome": m.second_outcome,
            "open": m.open(),
            "verdict": m.verdict(),
        }
    })
}
