//! The lab end to end: hybi's RFC 6455 subject through every built-in model, attack detection against
//! deliberately vulnerable models, a corrupting intermediary, and a whole (small) lab run checked through its
//! JSON.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hybi::Variant;
use hybi_lab::attack::{self, Verdict, Via};
use hybi_lab::intermediary::{model, Intermediary, Trace, MODELS};
use hybi_lab::run::{self, LabConfig, NoProgress, Outcome};
use hybi_lab::subject::Subject;
use hybi_lab::subjects::HybiSubject;
use hybi_lab::util::{BoxFuture, Tasks};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn subject(v: Variant) -> Arc<dyn Subject> {
    Arc::new(HybiSubject::new(v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6455_through_every_model() {
    let s = subject(Variant::Rfc6455);
    for m in MODELS {
        let c = run::repeated_cell(s.clone(), &Via::Model(*m), None).await;
        let expected = match m.name {
            // honour Upgrade and tunnel: the echo works
            "upgrade-aware"
            | "upgrade-hold-early"
            | "upgrade-drop-early"
            | "frame-inspector"
            | "tunnel-any-response"
            | "lowercase-headers" => Outcome::Works,
            // the 101 never happens (Upgrade removed, or `websocket` not on the allow-list)
            "strip-upgrade" | "upgrade-case-sensitive" | "http10-downgrade" => {
                Outcome::CleanFailure
            }
            // the 101 is relayed but the proxy parses the frames as HTTP: an error page comes back
            "transparent-host-routing"
            | "transparent-ip-routing-host-caching"
            | "transparent-ip-routing"
            | "connect-passthrough-parse" => Outcome::CleanFailure,
            // a lenient parser waits for the end of a "line" that masked bytes never bring
            "lenient-host-routing" | "lenient-ip-routing-host-caching" => Outcome::Hang,
            other => panic!("no expectation for model {other}"),
        };
        assert_eq!(c.outcome, expected, "{}: {} ({:?})", m.name, c.why, c.trace);
        assert!(c.runs >= 1);
        if expected == Outcome::Works {
            assert!(c.echoed && c.works_runs == c.runs, "{}", m.name);
            assert!(!c.payload_in_clear, "{}: masked payload", m.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmasked_variant_is_hijacked_and_poisoned_through_vulnerable_models() {
    // Hixie-75 frames are 0x00 payload 0xFF: the attacker's bytes reach the wire as chosen
    let hixie = subject(Variant::Hixie75);
    let lenient = Via::Model(*model("lenient-host-routing").unwrap());
    let r = attack::ip_hijack(hixie.clone(), &lenient).await.unwrap();
    assert_eq!(r.verdict, Verdict::Succeeded, "{:?}", r.evidence);
    assert!(r.spoof.reached_target && r.spoof.parsed_by_intermediary);
    let caching = Via::Model(*model("lenient-ip-routing-host-caching").unwrap());
    let r = attack::cache_poisoning(hixie.clone(), &caching)
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Succeeded, "{:?}", r.evidence);
    // a strict parser stops at the frame byte in front of the request
    let strict = Via::Model(*model("transparent-host-routing").unwrap());
    let r = attack::ip_hijack(hixie, &strict).await.unwrap();
    assert_eq!(r.verdict, Verdict::Failed, "{:?}", r.evidence);
    // masked RFC 6455 frames: nothing the lenient parser can find
    let r = attack::ip_hijack(subject(Variant::Rfc6455), &lenient)
        .await
        .unwrap();
    assert_ne!(r.verdict, Verdict::Succeeded, "{:?}", r.evidence);
    assert!(!r.spoof.reached_target);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_and_cross_protocol_are_decided_from_logs() {
    let s = subject(Variant::Rfc6455);
    let pipe = Via::Model(*model("tunnel-any-response").unwrap());
    let r = attack::request_smuggling(s.clone(), &pipe, 426)
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Succeeded, "{:?}", r.evidence);
    let aware = Via::Model(*model("upgrade-aware").unwrap());
    let r = attack::request_smuggling(s.clone(), &aware, 426)
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Failed, "{:?}", r.evidence);
    for server in attack::NonWs::ALL {
        let r = attack::cross_protocol(s.clone(), server).await.unwrap();
        assert_eq!(r.verdict, Verdict::Failed, "{server:?}: {:?}", r.evidence);
    }
}

/// A relay that flips the low bit of the last byte of every server→client chunk after the response head:
/// a deliberately corrupting intermediary.
struct Corrupter {
    tasks: Tasks,
}

impl Intermediary for Corrupter {
    fn name(&self) -> &str {
        "corrupter"
    }
    fn intercept<'a>(&'a self, dst: SocketAddr) -> BoxFuture<'a, std::io::Result<SocketAddr>> {
        Box::pin(async move {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            let addr = l.local_addr()?;
            let tasks = self.tasks.clone();
            self.tasks.spawn(async move {
                while let Ok((c, _)) = l.accept().await {
                    let Ok(u) = TcpStream::connect(dst).await else {
                        continue;
                    };
                    tasks.spawn(relay(c, u));
                }
            });
            Ok(addr)
        })
    }
    fn trace(&self) -> Trace {
        Trace::default()
    }
}

async fn relay(c: TcpStream, u: TcpStream) {
    let (mut cr, mut cw) = c.into_split();
    let (mut ur, mut uw) = u.into_split();
    let up = async move {
        let mut b = [0u8; 4096];
        while let Ok(n) = cr.read(&mut b).await {
            if n == 0 || uw.write_all(&b[..n]).await.is_err() {
                break;
            }
        }
        let _ = uw.shutdown().await;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let down = async move {
        let mut b = [0u8; 4096];
        while let Ok(n) = ur.read(&mut b).await {
            if n == 0 {
                break;
            }
            let head_done = {
                let mut s = seen.lock().unwrap();
                let done = s.windows(4).any(|w| w == b"\r\n\r\n");
                s.extend_from_slice(&b[..n]);
                done
            };
            if head_done {
                b[n - 1] ^= 1;
            }
            if cw.write_all(&b[..n]).await.is_err() {
                break;
            }
        }
    };
    tokio::join!(up, down);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupting_intermediary_is_classified_as_corruption() {
    let via = Via::Custom(
        "corrupter".into(),
        Arc::new(|_| {
            Box::new(Corrupter {
                tasks: Tasks::default(),
            }) as Box<dyn Intermediary>
        }),
    );
    let c = run::echo_cell(subject(Variant::Rfc6455), &via, None).await;
    assert_eq!(c.outcome, Outcome::Corruption, "{}", c.why);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_lab_run_fills_every_cell() {
    let cfg = LabConfig {
        variants: vec![Variant::Rfc6455, Variant::Hixie75],
        quick: true,
        ..LabConfig::default()
    };
    let report = run::run(&cfg, Arc::new(NoProgress)).await;
    let json: serde_json::Value = serde_json::from_str(&hybi_lab::report::json(&report)).unwrap();
    for key in [
        "cells",
        "conditions",
        "condition_summaries",
        "attacks",
        "routing",
        "implementability",
        "table2",
        "scores",
        "formulas",
        "intermediaries",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    let vias = report.intermediaries.len();
    assert_eq!(vias, 1 + MODELS.len());
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2 * vias);
    for c in cells {
        for field in [
            "variant",
            "via",
            "outcome",
            "why",
            "handshake",
            "time_ms",
            "backends",
        ] {
            assert!(
                c.get(field).is_some_and(|v| !v.is_null()),
                "cell without {field}: {c}"
            );
        }
        assert_ne!(c["outcome"], "lab-error", "{c}");
        assert!(!c["why"].as_str().unwrap().is_empty(), "{c}");
        assert!(!c["handshake"].as_str().unwrap().is_empty(), "{c}");
    }
    // every variant × intermediary cell is there
    for v in ["rfc6455", "hixie-75"] {
        for (via, _, _) in &report.intermediaries {
            assert!(
                report.cells.iter().any(|c| c.variant == v && &c.via == via),
                "{v} via {via}"
            );
        }
    }
    // attacks: 2 spoof attacks × paths + smuggling × intermediaries + 4 cross-protocol, per variant
    assert_eq!(report.attacks.len(), 2 * (2 * vias + (vias - 1) + 4));
    assert_eq!(report.routing.len(), 4);
    // Table II: two variants plus the paper's three strawmen, each over all 54,534 impressions
    assert_eq!(report.table2.len(), 5);
    for row in &report.table2 {
        assert_eq!(row.succeeded + row.failed, 54_534, "{}", row.subject);
    }
    let straw = report
        .table2
        .iter()
        .find(|r| r.subject == "strawman-post")
        .unwrap();
    assert_eq!(
        (straw.succeeded, straw.ip_hijack, straw.cache_poisoned),
        (49_218, 1_376, 15)
    );
    // scores: every criterion measured for both
    for s in &report.scores {
        assert!(s.implemented);
        assert!(s.security.is_some() && s.compatibility.is_some() && s.reach.is_some());
        assert!(s.network.is_some() && s.routing.is_some() && s.implementability.is_some());
    }
    // the HTML is one self-contained file with its charts
    let html = hybi_lab::report::html(&report);
    assert!(html.contains("<svg") && !html.contains("src=\"http") && !html.contains("href=\"http"));
}
