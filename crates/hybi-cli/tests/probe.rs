//! `hybi probe` against `hybi serve --variants all`, `--variants rfc6455`, and a naive
//! proxy that tunnels after a refused upgrade (the request-smuggling pattern).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::{hybi_bin, Input, Running, Server};
use serde_json::Value;

fn probe_json(url: &str, extra: &[&str]) -> Value {
    let mut cmd = Command::new(hybi_bin());
    cmd.args(["probe", "--json", "--timeout", "2", url]);
    cmd.args(extra);
    let out = Running::spawn(format!("hybi probe {url}"), cmd, Input::Null)
        .finish(Duration::from_secs(60));
    assert!(out.success(), "{}", out.describe());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.describe()))
}

fn result_of<'a>(report: &'a Value, variant: &str) -> &'a Value {
    report["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["variant"] == variant)
        .unwrap_or_else(|| panic!("no {variant} in {report}"))
}

#[test]
fn probe_all_variants_server() {
    let server = Server::hybi(Some("all"));
    let report = probe_json(&server.url("/"), &[]);
    let mut accepted = 0;
    for v in report["variants"].as_array().unwrap() {
        match v["result"].as_str().unwrap() {
            // Every variant whose client exists completes against --variants all, and a
            // text message comes back through it.
            "accepted" => {
                assert_eq!(v["echo"], true, "{v}");
                accepted += 1;
            }
            "n/a" => {}
            other => panic!("{} {other}: {v}", v["variant"]),
        }
    }
    assert!(accepted >= 3, "{report}");
    assert_eq!(report["smuggling"]["open"], false, "{report}");
    assert!(report["smuggling"]["upgrade_answer"]
        .as_str()
        .unwrap()
        .contains(" 426 "));
}

#[test]
fn probe_rfc6455_only_server() {
    let server = Server::hybi(Some("rfc6455"));
    let report = probe_json(&server.url("/chat"), &[]);
    assert_eq!(
        result_of(&report, "rfc6455")["result"],
        "accepted",
        "{report}"
    );
    for v in report["variants"].as_array().unwrap() {
        let name = v["variant"].as_str().unwrap();
        let result = v["result"].as_str().unwrap();
        if name != "rfc6455" {
            assert!(
                result == "refused" || result == "n/a",
                "{name} should be refused: {v}"
            );
            if result == "refused" {
                let status = v["status"].as_str().unwrap();
                assert!(status.contains(" 426 ") || status.contains(" 400 "), "{v}");
            }
        }
    }
    assert_eq!(report["smuggling"]["open"], false, "{report}");
}

#[test]
fn probe_table_output() {
    let server = Server::hybi(None);
    let mut cmd = Command::new(hybi_bin());
    cmd.args([
        "probe",
        "--timeout",
        "2",
        "--variants",
        "rfc6455,hybi-08,connect",
    ]);
    cmd.arg(server.url("/"));
    let out =
        Running::spawn("hybi probe (table)", cmd, Input::Null).finish(Duration::from_secs(30));
    assert!(out.success(), "{}", out.describe());
    let table = &out.stdout;
    assert!(table.contains("rfc6455          accepted"), "{table}");
    assert!(table.contains("hybi-08          accepted"), "{table}");
    assert!(table.contains("connect          refused"), "{table}");
    assert!(table.contains("verdict: not open"), "{table}");
}

#[test]
fn probe_unreachable_server_fails() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(hybi_bin());
    cmd.args([
        "probe",
        "--timeout",
        "1",
        &format!("ws://127.0.0.1:{port}/"),
    ]);
    let out = Running::spawn("hybi probe (nothing there)", cmd, Input::Null)
        .finish(Duration::from_secs(30));
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(2),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("no-connect"), "{}", out.describe());
}

// A keep-alive HTTP backend that refuses upgrades with 426 but keeps the connection, and a
// proxy that switches to a blind tunnel as soon as it forwards a request with `Upgrade`,
// whatever the backend answers: the vulnerable pair of the request-smuggling pattern.

fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
    }
    Some(head)
}

fn keepalive_backend() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            thread::spawn(move || {
                let mut s = s;
                while let Some(head) = read_head(&mut s) {
                    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let answer: &[u8] = if text.contains("\nupgrade:") {
                        b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
                    } else {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nbackend"
                    };
                    if s.write_all(answer).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn tunnelling_proxy(backend: u16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in l.incoming().flatten() {
            thread::spawn(move || {
                let mut client = client;
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", backend)) else {
                    return;
                };
                // Forward the first head, then tunnel blindly (the bug).
                let Some(head) = read_head(&mut client) else {
                    return;
                };
                let _ = up.write_all(&head);
                let (mut c2, mut u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
                thread::spawn(move || {
                    let _ = std::io::copy(&mut u2, &mut c2);
                });
                let _ = std::io::copy(&mut client, &mut up);
            });
        }
    });
    port
}

#[test]
fn probe_flags_a_proxy_that_tunnels_after_a_refused_upgrade() {
    let proxy = tunnelling_proxy(keepalive_backend());
    let report = probe_json(
        &format!("ws://127.0.0.1:{proxy}/"),
        &["--variants", "rfc6455"],
    );
    let m = &report["smuggling"];
    assert_eq!(m["open"], true, "{report}");
    assert!(m["upgrade_answer"].as_str().unwrap().contains(" 426 "));
    assert_eq!(m["second_answer"], "HTTP/1.1 200 OK", "{report}");
    assert!(m["verdict"].as_str().unwrap().starts_with("OPEN"));
    assert_eq!(result_of(&report, "rfc6455")["result"], "refused");
}
