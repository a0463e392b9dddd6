use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::http::{find, ResponseHead};
use crate::intermediary::cache_lifetime;
use crate::strawman::{Kind as Straw, Strawman};

async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn has(hay: &[u8], needle: &str) -> bool {
    find(hay, needle.as_bytes()).is_some()
}

#[tokio::test]
async fn target_and_attacker_serve_different_cacheable_scripts() {
    let target = start_http(Role::Target).await.unwrap();
    let attacker = start_http(Role::Attacker).await.unwrap();
    let req = b"GET /script.js HTTP/1.1\r\nHost: target.example\r\n\r\n";
    let t = exchange(target.addr, req).await;
    let a = exchange(attacker.addr, req).await;
    assert!(has(&t, "served by TARGET for /script.js"));
    assert!(has(&a, "served by ATTACKER for /script.js"));
    let now = std::time::SystemTime::now();
    let th = ResponseHead::parse(&t).unwrap().unwrap().0;
    let ah = ResponseHead::parse(&a).unwrap().unwrap().0;
    assert!(cache_lifetime(&th, now).is_some());
    assert!(cache_lifetime(&ah, now).unwrap() > Duration::from_secs(300 * 86_400));
    assert!(has(&a, "Expires: ") && has(&a, "Cache-Control: public"));
    assert_eq!(target.requests().len(), 1);
    assert!(target.saw(b"Host: target.example"));
}

#[tokio::test]
async fn refuser_refuses_and_keeps_the_connection() {
    let r = start_http(Role::Refuser(426)).await.unwrap();
    let seen = exchange(
        r.addr,
        b"GET /a HTTP/1.1\r\nHost: b\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n",
    )
    .await;
    assert_eq!(seen.windows(4).filter(|w| w == b" 426").count(), 2);
    assert_eq!(r.requests().len(), 2);
}

#[tokio::test]
async fn reflectors_echo_the_request_head() {
    let req = b"GET /x HTTP/1.1\r\nHost: v.example\r\nUpgrade: websocket\r\n\r\n";
    let http = start_reflector(Reflect::Http200).await.unwrap();
    let seen = exchange(http.addr, req).await;
    assert!(seen.starts_with(b"HTTP/1.1 200 OK\r\n") && seen.ends_with(req));
    let raw = start_reflector(Reflect::Raw).await.unwrap();
    let mut with_more = req.to_vec();
    with_more.extend_from_slice(b"more");
    assert_eq!(exchange(raw.addr, &with_more).await, with_more);
}

#[tokio::test]
async fn echo_and_line_servers() {
    let echo = start_echo().await.unwrap();
    assert_eq!(
        exchange(echo.addr, b"\x00anything\xff").await,
        b"\x00anything\xff"
    );
    assert!(echo.saw(b"anything"));
    let smtp = start_line_server().await.unwrap();
    let seen = exchange(smtp.addr, b"EHLO a\r\nGET / HTTP/1.1\r\nQUIT\r\n").await;
    assert_eq!(
        String::from_utf8_lossy(&seen),
        "220 lab.invalid ESMTP lab line server\r\n250 OK\r\n500 5.5.2 Syntax error, command unrecognized\r\n221 Bye\r\n"
    );
    assert_eq!(smtp.received().len(), 3);
}

#[tokio::test]
async fn attacker_site_multiplexes_handshakes_and_web_requests() {
    let site = start_attacker_site(Arc::new(Strawman { kind: Straw::Post }))
        .await
        .unwrap();
    // a plain request gets the attacker's web server
    let seen = exchange(
        site.addr,
        b"GET /script.js HTTP/1.1\r\nHost: target.example\r\n\r\n",
    )
    .await;
    assert!(has(&seen, "served by ATTACKER"));
    // a handshake gets the strawman, and HTTP after it is answered too (the attacker owns this server)
    let seen = exchange(
        site.addr,
        b"POST /ws HTTP/1.1\r\nHost: attacker.example\r\nSec-WebSocket-Key: k\r\n\r\nGET /after HTTP/1.1\r\nHost: target.example\r\n\r\n",
    )
    .await;
    assert!(has(&seen, "Sec-WebSocket-Accept: k") && has(&seen, "served by ATTACKER for /after"));
    let reqs = site.requests();
    assert!(reqs.iter().any(|(h, up)| h.target == "/script.js" && !up));
    assert!(reqs.iter().any(|(h, up)| h.target == "/after" && *up));
    assert!(site
        .received()
        .iter()
        .any(|r| matches!(&r.kind, Kind::Handshake { result, .. } if result == "open")));
}
