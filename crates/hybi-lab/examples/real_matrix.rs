//! Times every subject × real intermediary cell: `cargo run --release -p hybi-lab --example real_matrix --
//! [--json out.json] [--parallel N] [--only name,name] [--procedures echo,hijack,poison,smuggle]`.
//!
//! Per cell: the echo run (status line the client saw, bytes each lab server received, whether the echo came
//! back, time) and the three intermediary attacks (verdict, time). Subjects: the strawmen (the lab's runner
//! adds hybi's variants; this example is the timing harness for `hybi lab --real`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hybi_lab::attack::{self, Via};
use hybi_lab::origin::Received;
use hybi_lab::real;
use hybi_lab::scenario;
use hybi_lab::strawman::{Kind, Strawman};
use hybi_lab::subject::Subject;

fn subjects() -> Vec<Arc<dyn Subject>> {
    let mut v: Vec<Arc<dyn Subject>> = [Kind::Post, Kind::Upgrade, Kind::Connect]
        .into_iter()
        .map(|kind| Arc::new(Strawman { kind }) as Arc<dyn Subject>)
        .collect();
    if std::env::var_os("REAL_MATRIX_HYBI").is_some() {
        for variant in hybi::Variant::ALL {
            v.push(Arc::new(timing::HybiTiming::new(variant)));
        }
    }
    v
}

/// A timing stand-in for hybi's variants (`REAL_MATRIX_HYBI=1`): hybi's real client and server, but the
/// server echoes inside `accept` (so attack verdicts that need the attacker site to parse what follows a
/// handshake are not meaningful here). The lab's own subjects replace it in `hybi lab --real`.
mod timing {
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use hybi::{ClientOptions, Message, ServerConfig, Variant, WebSocketConfig};
    use hybi_lab::subject::*;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    pub struct HybiTiming {
        variant: Variant,
        name: String,
    }

    impl HybiTiming {
        pub fn new(variant: Variant) -> Self {
            HybiTiming {
                variant,
                name: format!("hybi-{}", variant.name()),
            }
        }
    }

    type Tape = Arc<Mutex<(Vec<u8>, Vec<u8>)>>;

    struct Taped(BoxIo, Tape);

    impl AsyncRead for Taped {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let before = buf.filled().len();
            let r = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
            if let Poll::Ready(Ok(())) = r {
                self.1
                    .lock()
                    .unwrap()
                    .1
                    .extend_from_slice(&buf.filled()[before..]);
            }
            r
        }
    }

    impl AsyncWrite for Taped {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let r = std::pin::Pin::new(&mut self.0).poll_write(cx, b);
            if let Poll::Ready(Ok(n)) = r {
                self.1.lock().unwrap().0.extend_from_slice(&b[..n]);
            }
            r
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    impl Subject for HybiTiming {
        fn name(&self) -> &str {
            &self.name
        }

        fn run_client<'a>(
            &'a self,
            io: BoxIo,
            t: &'a Target,
            payload: &'a [u8],
        ) -> BoxFuture<'a, ClientOutcome> {
            Box::pin(async move {
                let tape: Tape = Arc::default();
                let url = format!("ws://{}{}", t.host, t.path);
                let mut opts = match ClientOptions::from_url(&url, self.variant) {
                    Ok(o) => o,
                    Err(e) => {
                        return ClientOutcome::failed(
                            Stage::WriteRequest,
                            e.to_string(),
                            vec![],
                            vec![],
                        )
                    }
                };
                opts.origin = Some(t.origin.clone());
                let cfg = WebSocketConfig {
                    handshake_timeout: t.handshake_timeout,
                    ..WebSocketConfig::default()
                };
                let start = std::time::Instant::now();
                let r = hybi::handshake_client(Taped(io, tape.clone()), &opts, cfg).await;
                let (req, resp) = tape.lock().unwrap().clone();
                let mut ws = match r {
                    Ok(ws) => ws,
                    Err(e) => {
                        let status = std::str::from_utf8(&resp)
                            .ok()
                            .and_then(|s| s.split(' ').nth(1))
                            .and_then(|c| c.parse().ok());
                        let mut o = ClientOutcome::failed(
                            Stage::ReadResponse,
                            e.to_string(),
                            req,
                            resp.clone(),
                        );
                        if !resp.is_empty() {
                            o.handshake = Handshake::Rejected {
                                status,
                                reason: e.to_string(),
                            };
                        }
                        return o;
                    }
                };
                let handshake_time = Some(start.elapsed());
                let msg = match std::str::from_utf8(payload) {
                    Ok(s) => Message::Text(s.to_string()),
                    Err(_) => Message::Binary(payload.to_vec()),
                };
                let sent_from = tape.lock().unwrap().0.len();
                let payload_sent = ws.send(msg).await.is_ok();
                let wire_payload = tape.lock().unwrap().0[sent_from..].to_vec();
                let mut messages = Vec::new();
                let mut end = End::StillOpen;
                let deadline = tokio::time::Instant::now() + t.linger;
                loop {
                    match tokio::time::timeout_at(deadline, ws.next()).await {
                        Err(_) => break,
                        Ok(None) => {
                            end = End::Closed;
                            break;
                        }
                        Ok(Some(Ok(Message::Text(s)))) => messages.push(s.into_bytes()),
                        Ok(Some(Ok(Message::Binary(b)))) => messages.push(b),
                        Ok(Some(Ok(_))) => {}
                        Ok(Some(Err(e))) => {
                            end = End::ProtocolError(e.to_string());
                            break;
                        }
                    }
                }
                let raw_after = {
                    let t = tape.lock().unwrap();
                    t.1[resp.len().min(t.1.len())..].to_vec()
                };
                ClientOutcome {
                    handshake: Handshake::Completed,
                    request: req,
                    response: resp,
                    handshake_time,
                    payload_sent,
                    wire_payload,
                    messages,
                    raw_after,
                    end,
                }
            })
        }

        fn accept<'a>(&'a self, io: BoxIo) -> BoxFuture<'a, Accepted> {
            Box::pin(async move {
                let tape: Tape = Arc::default();
                let server = hybi::Server::new(ServerConfig {
                    variants: Variant::ALL.to_vec(),
                    ..ServerConfig::default()
                });
                match server.accept(Taped(io, tape.clone())).await {
                    Ok(mut ws) => {
                        let request = tape.lock().unwrap().1.clone();
                        let response = tape.lock().unwrap().0.clone();
                        while let Ok(Some(Ok(m))) =
                            tokio::time::timeout(Duration::from_secs(5), ws.next()).await
                        {
                            if matches!(m, Message::Text(_) | Message::Binary(_))
                                && ws.send(m).await.is_err()
                            {
                                break;
                            }
                        }
                        let (a, _b) = tokio::io::duplex(64);
                        Accepted::Open(Upgraded {
                            io: Box::new(a),
                            leftover: vec![],
                            request,
                            response,
                        })
                    }
                    Err(e) => Accepted::Failed {
                        request: tape.lock().unwrap().1.clone(),
                        error: e.to_string(),
                    },
                }
            })
        }

        fn echo<'a>(&'a self, _conn: Upgraded, _idle: Duration) -> BoxFuture<'a, EchoReport> {
            Box::pin(async {
                EchoReport {
                    messages: vec![],
                    end: End::Closed,
                }
            })
        }
    }
}

fn esc(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn status_line(resp: &[u8]) -> String {
    let end = resp
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(resp.len().min(120));
    String::from_utf8_lossy(&resp[..end]).to_string()
}

fn bytes_of(r: &[Received]) -> usize {
    r.iter().map(|x| x.kind.bytes().len()).sum()
}

struct Cell {
    product: String,
    subject: String,
    json: String,
    took: Duration,
}

async fn cell(via: &Via, product: &str, s: Arc<dyn Subject>, procs: &[String]) -> Cell {
    let t0 = Instant::now();
    let mut parts = vec![
        format!("\"product\":{}", esc(product)),
        format!("\"subject\":{}", esc(s.name())),
    ];
    if procs.iter().any(|p| p == "echo") {
        let t = Instant::now();
        match scenario::echo_run(s.clone(), via, None, b"lab echo payload").await {
            Ok(r) => parts.push(format!(
                "\"echo\":{{\"status_line\":{},\"handshake\":{},\"echoed\":{},\"bytes_to_backend\":{{\"echo-server\":{}}},\"ms\":{}}}",
                esc(&status_line(&r.client.response)),
                esc(&format!("{:?}", r.client.handshake)),
                r.echoed,
                bytes_of(&r.server),
                t.elapsed().as_millis()
            )),
            Err(e) => parts.push(format!("\"echo\":{{\"error\":{}}}", esc(&e.to_string()))),
        }
    }
    let attacks: Vec<(&str, _)> = vec![("hijack", 0), ("poison", 1), ("smuggle", 2)];
    for (name, k) in attacks {
        if !procs.iter().any(|p| p == name) {
            continue;
        }
        let t = Instant::now();
        let r = match k {
            0 => attack::ip_hijack(s.clone(), via).await,
            1 => attack::cache_poisoning(s.clone(), via).await,
            _ => attack::request_smuggling(s.clone(), via, 426).await,
        };
        match r {
            Ok(r) => {
                let backends: Vec<String> = r
                    .received
                    .iter()
                    .map(|(n, rec)| format!("{}:{}", esc(n), bytes_of(rec)))
                    .collect();
                parts.push(format!(
                    "{}:{{\"verdict\":{},\"status_line\":{},\"bytes_to_backend\":{{{}}},\"ms\":{}}}",
                    esc(name),
                    esc(&format!("{:?}", r.verdict)),
                    esc(&status_line(&r.client.response)),
                    backends.join(","),
                    t.elapsed().as_millis()
                ))
            }
            Err(e) => parts.push(format!(
                "{}:{{\"error\":{}}}",
                esc(name),
                esc(&e.to_string())
            )),
        }
    }
    let took = t0.elapsed();
    parts.push(format!("\"ms\":{}", took.as_millis()));
    Cell {
        product: product.into(),
        subject: s.name().into(),
        json: format!("{{{}}}", parts.join(",")),
        took,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let json = arg("--json");
    let parallel: usize = arg("--parallel").and_then(|s| s.parse().ok()).unwrap_or(4);
    let only: Option<Vec<String>> = arg("--only").map(|s| s.split(',').map(String::from).collect());
    let procs: Vec<String> = arg("--procedures")
        .unwrap_or_else(|| "echo,hijack,poison,smuggle".into())
        .split(',')
        .map(String::from)
        .collect();
    let t0 = Instant::now();
    let products: Vec<_> = real::available()
        .into_iter()
        .filter(|p| only.as_ref().is_none_or(|o| o.contains(&p.name())))
        .collect();
    let subjects = subjects();
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut handles = Vec::new();
    for p in products {
        let (sem, subjects, procs) = (sem.clone(), subjects.clone(), procs.clone());
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            let t = Instant::now();
            let running = match real::launch(&p, 1).await {
                Ok(r) => r,
                Err(e) => {
                    return (
                        p.name(),
                        None,
                        Vec::new(),
                        format!("did not start: {e}"),
                        t.elapsed(),
                    )
                }
            };
            let startup = running.startup();
            let via = running.via();
            let mut cells = Vec::new();
            for s in subjects {
                cells.push(cell(&via, &p.name(), s, &procs).await);
            }
            let mut dns: Vec<String> = running
                .dns_queries()
                .into_iter()
                .map(|(n, t, ip)| {
                    format!(
                        "{n}/{t}->{}",
                        ip.map_or("NX/empty".into(), |i| i.to_string())
                    )
                })
                .collect();
            dns.sort();
            dns.dedup();
            running.stop();
            (p.name(), Some(startup), cells, dns.join(" "), t.elapsed())
        }));
    }
    let mut out_products = Vec::new();
    let mut out_cells = Vec::new();
    for h in handles {
        let (name, startup, cells, err, took) = h.await.unwrap();
        eprintln!(
            "{name:32} start-up {:>8} total {:>8.1?} {}",
            startup.map_or("-".into(), |s| format!("{:.0?}", s)),
            took,
            err.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        );
        for c in &cells {
            eprintln!("    {:24} {:>8.1?}", c.subject, c.took);
        }
        out_products.push(format!(
            "{{\"name\":{},\"startup_ms\":{},\"total_ms\":{},\"note\":{}}}",
            esc(&name),
            startup.map_or("null".into(), |s| s.as_millis().to_string()),
            took.as_millis(),
            esc(&err)
        ));
        out_cells.extend(cells.into_iter().map(|c| {
            let _ = (&c.product, &c.subject);
            c.json
        }));
    }
    let missing: Vec<String> = real::not_measured()
        .into_iter()
        .map(|(n, why)| format!("{{\"name\":{},\"reason\":{}}}", esc(&n), esc(&why)))
        .collect();
    eprintln!("all cells in {:.1?}", t0.elapsed());
    if let Some(path) = json {
        let doc = format!(
            "{{\"total_ms\":{},\"products\":[{}],\"not_measured\":[{}],\"cells\":[\n{}\n]}}\n",
            t0.elapsed().as_millis(),
            out_products.join(","),
            missing.join(","),
            out_cells.join(",\n")
        );
        std::fs::write(path, doc).expect("write json");
    }
}
