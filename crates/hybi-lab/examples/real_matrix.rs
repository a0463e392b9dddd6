//! Times every subject × real intermediary cell: `cargo run --release -p hybi-lab --example real_matrix --
//! [--json out.json] [--parallel N] [--only name,name] [--procedures echo,hijack,poison,smuggle]`.
//!
//! Per cell: the echo run (status line the client saw, bytes each lab server received, whether the echo came
//! back, time) and the three intermediary attacks (verdict, time). Subjects: the paper's three strawmen and
//! hybi's implemented variants (`hybi_lab::subjects`). The timing harness for `hybi lab --real`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hybi_lab::attack::{self, Via};
use hybi_lab::origin::Received;
use hybi_lab::real;
use hybi_lab::scenario;
use hybi_lab::strawman::{Kind, Strawman};
use hybi_lab::subject::Subject;
use hybi_lab::subjects;

fn subjects() -> Vec<Arc<dyn Subject>> {
    let mut v: Vec<Arc<dyn Subject>> = [Kind::Post, Kind::Upgrade, Kind::Connect]
        .into_iter()
        .map(|kind| Arc::new(Strawman { kind }) as Arc<dyn Subject>)
        .collect();
    for variant in hybi::Variant::ALL {
        if subjects::implementation(variant) == subjects::Implementation::Implemented {
            v.push(Arc::new(subjects::HybiSubject::new(variant)));
        }
    }
    v
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
