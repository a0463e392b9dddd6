//! One test per built-in model, on real sockets, showing the behaviour that defines it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::http::{find, Conn};
use crate::origin::{self, Reflect, Role};
use crate::strawman::{Kind, Strawman};

/// Every model name that has a test below.
const TESTED: &[&str] = &[
    "upgrade-aware",
    "upgrade-hold-early",
    "upgrade-drop-early",
    "strip-upgrade",
    "upgrade-case-sensitive",
    "http10-downgrade",
    "transparent-host-routing",
    "transparent-ip-routing-host-caching",
    "transparent-ip-routing",
    "lenient-host-routing",
    "lenient-ip-routing-host-caching",
    "connect-passthrough-parse",
    "frame-inspector",
    "tunnel-any-response",
    "lowercase-headers",
];

#[test]
fn every_model_has_a_test_and_a_doc() {
    for m in MODELS {
        assert!(TESTED.contains(&m.name), "{} has no test", m.name);
        assert!(m.doc.len() > 40, "{} has no real doc", m.name);
    }
    assert_eq!(TESTED.len(), MODELS.len());
}

fn proxy(name: &str, routes: Routes) -> ModelProxy {
    ModelProxy::new(model(name).expect("model"), routes)
}

/// Reads until `done(bytes so far)`, the peer closes, or `limit` passes.
async fn read_until(s: &mut TcpStream, done: impl Fn(&[u8]) -> bool, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    while !done(&out) {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    out
}

/// Whether `b` holds one complete HTTP response (head plus `Content-Length` body).
fn complete_response(b: &[u8]) -> bool {
    match crate::http::ResponseHead::parse(b) {
        Ok(Some((h, n))) => {
            use crate::http::Headers;
            let body = if (100..200).contains(&h.status) {
                0
            } else {
                h.content_length().unwrap_or(0)
            };
            b.len() >= n + body as usize
        }
        _ => false,
    }
}

/// Reads one complete response (or until close / 3 s).
async fn read_response(s: &mut TcpStream) -> Vec<u8> {
    read_until(s, complete_response, Duration::from_secs(3)).await
}

async fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    read_response(&mut s).await
}

fn has(hay: &[u8], needle: &str) -> bool {
    find(hay, needle.as_bytes()).is_some()
}

const UPGRADE_REQ: &str =
    "GET /ws HTTP/1.1\r\nHost: attacker.example\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n";

/// A Hixie-76-like backend: after the head it needs 8 more bytes. `answer_first`: write the 101 head first,
/// then read the 8 bytes, then the 16-byte answer (the README's robust order). Otherwise wait (500 ms) for
/// the 8 bytes before answering, and answer 400 if they do not come. Records the 8 bytes it got.
async fn key3_backend(answer_first: bool) -> (std::net::SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let got2 = got.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let got = got2.clone();
            tokio::spawn(async move {
                let mut c = Conn::new(s);
                if c.read_request_head(Duration::from_secs(2)).await.is_err() {
                    return;
                }
                let head = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n";
                if answer_first {
                    let _ = c.send(head).await;
                }
                let key3 = c
                    .take_exact(8, Duration::from_millis(500))
                    .await
                    .unwrap_or_default();
                got.lock().unwrap().push(key3.clone());
                if key3.is_empty() {
                    if !answer_first {
                        let _ = c
                            .send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                            .await;
                    }
                    return;
                }
                if !answer_first {
                    let _ = c.send(head).await;
                }
                let _ = c.send(b"ANSWER0123456789").await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            });
        }
    });
    (addr, got)
}

async fn key3_through(name: &str, answer_first: bool) -> (Vec<u8>, Vec<Vec<u8>>, Trace) {
    let (backend, got) = key3_backend(answer_first).await;
    let p = proxy(name, Routes::new());
    let addr = p.listen(backend).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{UPGRADE_REQ}KEY3KEY3").as_bytes())
        .await
        .unwrap();
    let seen = read_until(
        &mut s,
        |b| has(b, "ANSWER0123456789") || has(b, " 400 "),
        Duration::from_millis(1500),
    )
    .await;
    let keys = got.lock().unwrap().clone();
    (seen, keys, p.trace())
}

#[tokio::test]
async fn upgrade_aware_tunnels_after_101_and_streams_early_bytes() {
    // the backend waits for the 8 bytes before answering: only a proxy that streams them lets it answer
    let (seen, keys, trace) = key3_through("upgrade-aware", false).await;
    assert!(
        has(&seen, " 101 ") && has(&seen, "ANSWER0123456789"),
        "{}",
        trace.summary()
    );
    assert_eq!(keys, vec![b"KEY3KEY3".to_vec()]);
    assert_eq!(trace.tunnels(), vec![&TunnelReason::Upgrade101]);
}

#[tokio::test]
async fn upgrade_hold_early_holds_bytes_until_101() {
    // backend waiting for the bytes: deadlock until it gives up with 400
    let (seen, keys, trace) = key3_through("upgrade-hold-early", false).await;
    assert!(has(&seen, " 400 "), "{}", trace.summary());
    assert_eq!(keys, vec![Vec::<u8>::new()]);
    assert!(trace.any(|e| matches!(e, EventKind::HeldEarly { len: 8 })));
    // backend writing its 101 first: the held bytes follow the 101 and everything completes
    let (seen, keys, trace) = key3_through("upgrade-hold-early", true).await;
    assert!(has(&seen, "ANSWER0123456789"), "{}", trace.summary());
    assert_eq!(keys, vec![b"KEY3KEY3".to_vec()]);
}

#[tokio::test]
async fn upgrade_drop_early_loses_bytes_after_the_head() {
    let (seen, keys, trace) = key3_through("upgrade-drop-early", true).await;
    assert!(has(&seen, " 101 "));
    assert!(!has(&seen, "ANSWER"), "{}", trace.summary());
    assert_eq!(keys, vec![Vec::<u8>::new()]);
    assert!(trace.any(|e| matches!(e, EventKind::DroppedEarly { len: 8 })));
}

#[tokio::test]
async fn strip_upgrade_removes_upgrade_fields() {
    let refl = origin::start_reflector(Reflect::Http200).await.unwrap();
    let p = proxy("strip-upgrade", Routes::new());
    let addr = p.listen(refl.addr).await.unwrap();
    let seen = exchange(addr, UPGRADE_REQ.as_bytes()).await;
    assert!(has(&seen, "200 OK") && has(&seen, "GET /ws HTTP/1.1"));
    assert!(!has(&seen, "Upgrade: WebSocket") && !has(&seen, "Connection: Upgrade"));
    assert!(p.trace().tunnels().is_empty());
    // and the Upgrade strawman therefore fails against its own server
    let ws = origin::start_ws_server(Arc::new(Strawman {
        kind: Kind::Upgrade,
    }))
    .await
    .unwrap();
    let addr = p.listen(ws.addr).await.unwrap();
    let out = crate::subject::Subject::run_client(
        &Strawman {
            kind: Kind::Upgrade,
        },
        Box::new(TcpStream::connect(addr).await.unwrap()),
        &crate::subject::Target::new("attacker.example", "/ws"),
        b"x",
    )
    .await;
    assert!(!out.completed());
}

#[tokio::test]
async fn upgrade_case_sensitive_strips_unlisted_spelling() {
    let refl = origin::start_reflector(Reflect::Http200).await.unwrap();
    let p = proxy("upgrade-case-sensitive", Routes::new());
    let addr = p.listen(refl.addr).await.unwrap();
    let lower = UPGRADE_REQ.replace("Upgrade: WebSocket", "Upgrade: websocket");
    let seen = exchange(addr, lower.as_bytes()).await;
    assert!(
        !has(&seen, "Upgrade: websocket"),
        "RFC 6455 spelling must be stripped"
    );
    let seen = exchange(addr, UPGRADE_REQ.as_bytes()).await;
    assert!(
        has(&seen, "Upgrade: WebSocket"),
        "listed spelling must pass"
    );
}

#[tokio::test]
async fn http10_downgrade_speaks_http10_upstream_and_closes() {
    let refl = origin::start_reflector(Reflect::Http200).await.unwrap();
    let p = proxy("http10-downgrade", Routes::new());
    let addr = p.listen(refl.addr).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(UPGRADE_REQ.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    // closes after one response: read_to_end returns
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut seen))
        .await
        .expect("proxy must close")
        .unwrap();
    assert!(has(&seen, "GET /ws HTTP/1.0\r\n"));
    assert!(!has(&seen, "Upgrade:") && !has(&seen, "Connection:"));
}

#[tokio::test]
async fn transparent_host_routing_routes_each_request_by_host() {
    let target = origin::start_http(Role::Target).await.unwrap();
    let attacker = origin::start_http(Role::Attacker).await.unwrap();
    let routes = Routes::new()
        .with("target.example", target.addr)
        .with("attacker.example", attacker.addr);
    let p = proxy("transparent-host-routing", routes);
    // the client's connection is meant for the attacker
    let addr = p.listen(attacker.addr).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: attacker.example\r\n\r\n")
        .await
        .unwrap();
    let first = read_response(&mut s).await;
    s.write_all(b"GET /b HTTP/1.1\r\nHost: target.example\r\n\r\n")
        .await
        .unwrap();
    let second = read_response(&mut s).await;
    assert!(has(&first, "served by ATTACKER"));
    assert!(has(&second, "served by TARGET"), "{}", p.trace().summary());
    assert!(target.saw(b"GET /b") && !target.saw(b"GET /a"));
    // CONNECT is followed to its authority: websocket.invalid does not resolve
    let seen = exchange(
        addr,
        b"CONNECT websocket.invalid:443 HTTP/1.1\r\nHost: websocket.invalid:443\r\n\r\n",
    )
    .await;
    assert!(has(&seen, "502"));
    assert!(p
        .trace()
        .any(|e| matches!(e, EventKind::RouteFailed { host } if host == "websocket.invalid")));
}

#[tokio::test]
async fn lenient_host_routing_skips_a_garbage_line_and_routes_the_next_request_by_host() {
    let target = origin::start_http(Role::Target).await.unwrap();
    let attacker = origin::start_http(Role::Attacker).await.unwrap();
    let routes = Routes::new()
        .with("target.example", target.addr)
        .with("attacker.example", attacker.addr);
    for (name, lenient) in [
        ("lenient-host-routing", true),
        ("transparent-host-routing", false),
    ] {
        let p = proxy(name, routes.clone());
        let addr = p.listen(attacker.addr).await.unwrap();
        // a frame header in front of an empty line and a request, sent in pieces
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"\x81\x3a").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let path = format!("/c-{name}");
        s.write_all(format!("\r\nGET {path} HTTP/1.1\r\nHost: target.example\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let seen = read_response(&mut s).await;
        assert_eq!(
            has(&seen, "served by TARGET"),
            lenient,
            "{name}: {}",
            p.trace().summary()
        );
        assert_eq!(target.saw(path.as_bytes()), lenient, "{name}");
        if lenient {
            assert!(p.trace().any(
                |e| matches!(e, EventKind::Unparsable { why, .. } if why.starts_with("skipped"))
            ));
        } else {
            assert!(has(&seen, "400"), "{name}");
        }
    }
}

#[tokio::test]
async fn lenient_ip_routing_host_caching_stores_a_request_found_after_garbage() {
    let attacker = origin::start_http(Role::Attacker).await.unwrap();
    let p = proxy("lenient-ip-routing-host-caching", Routes::new());
    let addr = p.listen(attacker.addr).await.unwrap();
    let seen = exchange(
        addr,
        b"\x00garbage\r\nGET /d.js HTTP/1.1\r\nHost: target.example\r\n\r\n",
    )
    .await;
    assert!(has(&seen, "served by ATTACKER"));
    assert!(p
        .trace()
        .cache_stores()
        .contains(&"http://target.example/d.js"));
}

#[tokio::test]
async fn transparent_ip_routing_host_caching_caches_by_host_not_by_route() {
    let target = origin::start_http(Role::Target).await.unwrap();
    let attacker = origin::start_http(Role::Attacker).await.unwrap();
    let p = proxy("transparent-ip-routing-host-caching", Routes::new());
    // forged request on a connection meant for the attacker: routed to the attacker by IP
    let to_attacker = p.listen(attacker.addr).await.unwrap();
    let seen = exchange(
        to_attacker,
        b"GET /s.js HTTP/1.1\r\nHost: target.example\r\n\r\n",
    )
    .await;
    assert!(has(&seen, "served by ATTACKER"));
    // a victim meaning to reach the target gets the attacker's script from the cache
    let to_target = p.listen(target.addr).await.unwrap();
    let seen = exchange(
        to_target,
        b"GET /s.js HTTP/1.1\r\nHost: target.example\r\n\r\n",
    )
    .await;
    assert!(has(&seen, "served by ATTACKER"), "{}", p.trace().summary());
    assert!(target.received().is_empty());
    let t = p.trace();
    assert_eq!(t.cache_stores(), vec!["http://target.example/s.js"]);
    assert_eq!(t.cache_hits(), vec!["http://target.example/s.js"]);
    // uncacheable answers are not stored
    let refuser = origin::start_http(Role::Refuser(404)).await.unwrap();
    let to_refuser = p.listen(refuser.addr).await.unwrap();
    exchange(
        to_refuser,
        b"GET /n HTTP/1.1\r\nHost: target.example\r\n\r\n",
    )
    .await;
    assert_eq!(p.cache_len(), 1);
}

#[tokio::test]
async fn transparent_ip_routing_parses_bytes_after_101_as_requests() {
    let site = origin::start_attacker_site(Arc::new(Strawman {
        kind: Kind::Upgrade,
    }))
    .await
    .unwrap();
    let p = proxy("transparent-ip-routing", Routes::new());
    let addr = p.listen(site.addr).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = Strawman {
        kind: Kind::Upgrade,
    }
    .request(
        &crate::subject::Target::new("attacker.example", "/ws"),
        "dGhlIHNhbXBsZSBub25jZQ==",
    );
    s.write_all(&req).await.unwrap();
    let first = read_response(&mut s).await;
    assert!(has(&first, " 101 "));
    s.write_all(b"GET /next HTTP/1.1\r\nHost: target.example\r\n\r\n")
        .await
        .unwrap();
    let second = read_response(&mut s).await;
    assert!(has(&second, "served by ATTACKER"));
    let t = p.trace();
    assert_eq!(t.requests().len(), 2, "{}", t.summary());
    assert!(t.tunnels().is_empty());
    assert!(site
        .requests()
        .iter()
        .any(|(h, upgraded)| h.target == "/next" && *upgraded));
}

#[tokio::test]
async fn connect_passthrough_parse_forwards_connect_then_parses() {
    let site = origin::start_attacker_site(Arc::new(Strawman {
        kind: Kind::Connect,
    }))
    .await
    .unwrap();
    let p = proxy("connect-passthrough-parse", Routes::new());
    let addr = p.listen(site.addr).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = Strawman {
        kind: Kind::Connect,
    }
    .request(
        &crate::subject::Target::new("attacker.example", "/ws"),
        "dGhlIHNhbXBsZSBub25jZQ==",
    );
    s.write_all(&req).await.unwrap();
    let first = read_response(&mut s).await;
    assert!(has(&first, "200 OK") && has(&first, "Sec-WebSocket-Accept"));
    s.write_all(b"GET /after-connect HTTP/1.1\r\nHost: target.example\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut s).await;
    let t = p.trace();
    assert!(
        t.parsed_request_containing("/after-connect"),
        "{}",
        t.summary()
    );
    assert!(t.tunnels().is_empty());
    assert!(t
        .routes()
        .iter()
        .all(|(_, why)| **why == RouteReason::ByDestination));
}

#[tokio::test]
async fn frame_inspector_resets_on_non_rfc6455_client_bytes() {
    let ws = origin::start_ws_server(Arc::new(Strawman {
        kind: Kind::Upgrade,
    }))
    .await
    .unwrap();
    let p = proxy("frame-inspector", Routes::new());
    let addr = p.listen(ws.addr).await.unwrap();
    let req = Strawman {
        kind: Kind::Upgrade,
    }
    .request(
        &crate::subject::Target::new("attacker.example", "/ws"),
        "dGhlIHNhbXBsZSBub25jZQ==",
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&req).await.unwrap();
    assert!(has(&read_response(&mut s).await, " 101 "));
    // a masked RFC 6455 text frame passes (and the raw echo server sends it back)
    let frame = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    s.write_all(&frame).await.unwrap();
    let n = frame.len();
    assert_eq!(
        read_until(&mut s, |b| b.len() >= n, Duration::from_secs(3)).await,
        frame
    );
    // plain attacker-chosen bytes do not
    s.write_all(b"GET /script.js HTTP/1.1\r\nHost: target.example\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");
    assert!(p
        .trace()
        .any(|e| matches!(e, EventKind::FrameViolation { .. })));
    assert!(!ws.saw(b"/script.js"));
}

#[tokio::test]
async fn tunnel_any_response_tunnels_after_a_refusal() {
    let refuser = origin::start_http(Role::Refuser(426)).await.unwrap();
    let p = proxy("tunnel-any-response", Routes::new());
    let addr = p.listen(refuser.addr).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(UPGRADE_REQ.as_bytes()).await.unwrap();
    assert!(has(&read_response(&mut s).await, " 426 "));
    s.write_all(b"GET /smuggled HTTP/1.1\r\nHost: backend.example\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut s).await;
    let t = p.trace();
    assert_eq!(t.tunnels(), vec![&TunnelReason::AfterAnyResponse(426)]);
    assert!(!t.parsed_request_containing("/smuggled"));
    assert!(refuser.saw(b"GET /smuggled"));
}

#[tokio::test]
async fn lowercase_headers_rewrites_names() {
    let refl = origin::start_reflector(Reflect::Http200).await.unwrap();
    let p = proxy("lowercase-headers", Routes::new());
    let addr = p.listen(refl.addr).await.unwrap();
    let seen = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: a.example\r\nX-Mixed-Case: 1\r\n\r\n",
    )
    .await;
    assert!(
        has(&seen, "host: a.example\r\nx-mixed-case: 1"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    // response names are re-serialised too
    assert!(has(&seen, "content-length:"));
}

#[tokio::test]
async fn upgrade_aware_refuses_connect_and_ip_routing_tunnels_it() {
    let echo = origin::start_echo().await.unwrap();
    let p = proxy("upgrade-aware", Routes::new());
    let addr = p.listen(echo.addr).await.unwrap();
    let seen = exchange(
        addr,
        b"CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\n\r\n",
    )
    .await;
    assert!(has(&seen, "405"));
    let p = proxy("transparent-ip-routing", Routes::new());
    let addr = p.listen(echo.addr).await.unwrap();
    let req = b"CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\n\r\nopaque";
    let seen = exchange(addr, req).await;
    assert_eq!(
        seen, req,
        "blind tunnel to the destination echoes everything"
    );
    assert_eq!(p.trace().tunnels(), vec![&TunnelReason::Connect]);
}

#[tokio::test]
async fn garbage_gets_an_html_error() {
    let echo = origin::start_echo().await.unwrap();
    let p = proxy("transparent-ip-routing", Routes::new());
    let addr = p.listen(echo.addr).await.unwrap();
    let seen = exchange(addr, b"\x81\x85\x00\x00\x00\x00hello").await;
    assert!(has(&seen, "400 Bad Request") && has(&seen, "<html>"));
    assert!(p.trace().any(|e| matches!(e, EventKind::Unparsable { .. })));
}
