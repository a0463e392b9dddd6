//! Real intermediaries (`hybi_lab::real`): each product that `scripts/install-intermediaries.sh` installs is
//! started by the test, on loopback inside its own network namespace, and must
//!
//! * carry a plain HTTP request to the lab's target site, routed by `Host`, and log it (the trace sees it);
//! * carry an RFC 6455 handshake plus an echoed message (hybi client → product → hybi server), where the lab
//!   expects it to ([`RealProduct::expects_websocket`]);
//!
//! and a real CONNECT proxy (Squid, tinyproxy) must tunnel a hybi RFC 6455 connection after the test's own
//! CONNECT exchange. A product that is not installed FAILS its test: run `scripts/install-intermediaries.sh`
//! (as root) first.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hybi::{ClientOptions, Message, ServerConfig, Variant, WebSocketConfig};
use hybi_lab::intermediary::{EventKind, Intermediary, RouteReason, Routes};
use hybi_lab::origin::{self, Role};
use hybi_lab::real::{self, Access, RealProduct};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const INSTALL: &str = "install the intermediaries with scripts/install-intermediaries.sh (as root)";

fn product(name: &str) -> RealProduct {
    let p = real::find(name).unwrap_or_else(|| panic!("unknown product {name}"));
    if let Err(why) = p.check() {
        panic!("{name} cannot run here: {why}; {INSTALL}");
    }
    p
}

/// A hybi server (every variant its default policy enables) that echoes text and binary messages.
async fn hybi_echo_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = hybi::Server::new(ServerConfig::default());
    let h = tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let server = server.clone();
            tokio::spawn(async move {
                if let Ok(mut ws) = server.accept(tcp).await {
                    while let Some(Ok(m)) = ws.next().await {
                        if matches!(m, Message::Text(_) | Message::Binary(_))
                            && ws.send(m).await.is_err()
                        {
                            break;
                        }
                    }
                }
            });
        }
    });
    (addr, h)
}

/// RFC 6455 handshake to `ws://attacker.example/echo` over `io`, one text message, its echo.
async fn rfc6455_echo(io: TcpStream, text: &str) -> Result<(), String> {
    let opts = ClientOptions::from_url("ws://attacker.example/echo", Variant::Rfc6455)
        .map_err(|e| e.to_string())?;
    let cfg = WebSocketConfig {
        handshake_timeout: Duration::from_secs(5),
        ..WebSocketConfig::default()
    };
    let mut ws = hybi::handshake_client(io, &opts, cfg)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| format!("send: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) if t == text => Ok(()),
        other => Err(format!("no echo: {other:?}")),
    }
}

async fn http_get(addr: SocketAddr, host: &str, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The checks every product gets.
async fn through(name: &str) {
    let p = product(name);
    let t0 = Instant::now();
    let running = real::launch(&p, 1)
        .await
        .unwrap_or_else(|e| panic!("{name} did not start: {e}"));
    let startup = running.startup();

    // 1. plain HTTP, routed by Host to target.example
    let target = origin::start_http(Role::Target).await.unwrap();
    let (ws_addr, ws_task) = hybi_echo_server().await;
    let routes = Routes::new()
        .with("target.example", target.addr)
        .with("attacker.example", ws_addr);
    {
        let hop = running.scene(routes.clone());
        let entry = hop.intercept(target.addr).await.unwrap();
        let nonce = format!("/script.js/{}", hybi_lab::util::nonce());
        let got = http_get(entry, "target.example", &nonce).await;
        let trace = hop.trace();
        assert!(
            contains(&got, "served by TARGET"),
            "{name}: plain GET through the proxy did not reach the target: {:?}\n{}",
            String::from_utf8_lossy(&got),
            trace.summary()
        );
        assert!(
            target.saw(nonce.as_bytes()),
            "{name}: target did not log {nonce}"
        );
        assert!(
            trace.routes().iter().any(|(a, why)| *a == target.addr
                && matches!(why, RouteReason::ByHost(h) if h == "target.example")),
            "{name}: no Routed to target.example in the trace\n{}",
            trace.summary()
        );
        if p.access != Access::ConnectTunnel {
            assert!(
                trace.any(
                    |k| matches!(k, EventKind::Request { target, .. } if target.ends_with(&nonce))
                ),
                "{name}: the access log did not show {nonce}\n{}",
                trace.summary()
            );
        }
    }

    // 2. RFC 6455 handshake + echo
    let hop = running.scene(routes);
    let entry = hop.intercept(ws_addr).await.unwrap();
    let io = TcpStream::connect(entry).await.unwrap();
    let r = rfc6455_echo(io, &format!("hello through {name}")).await;
    let trace = hop.trace();
    if p.expects_websocket() {
        assert!(
            r.is_ok(),
            "{name}: RFC 6455 handshake + echo failed: {r:?}\n{}",
            trace.summary()
        );
    } else {
        eprintln!("{name}: RFC 6455 through it (not expected to work): {r:?}");
    }
    drop(hop);
    running.stop();
    ws_task.abort();
    eprintln!(
        "{name}: start-up {startup:?}, whole test {:?}",
        t0.elapsed()
    );
}

macro_rules! products {
    ($($f:ident => $n:literal),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $f() {
            through($n).await;
        }
    )*
        /// Every set-up in the catalogue has a test above.
        #[test]
        fn every_product_has_a_test() {
            let tested = [$($n),*];
            for p in real::catalogue() {
                assert!(tested.contains(&p.name().as_str()), "no test for {}", p.name());
            }
        }
    };
}

products! {
    nginx => "nginx",
    haproxy => "haproxy",
    apache2 => "apache2",
    apache2_wstunnel => "apache2-wstunnel",
    trafficserver => "trafficserver",
    varnish => "varnish",
    squid_accel => "squid-accel",
    lighttpd => "lighttpd",
    h2o => "h2o",
    caddy => "caddy",
    nghttpx => "nghttpx",
    squid_forward => "squid-forward",
    squid_forward_connect => "squid-forward-connect",
    trafficserver_forward => "trafficserver-forward",
    trafficserver_forward_connect => "trafficserver-forward-connect",
    apache2_forward => "apache2-forward",
    apache2_forward_connect => "apache2-forward-connect",
    tinyproxy => "tinyproxy",
    tinyproxy_connect => "tinyproxy-connect",
    privoxy => "privoxy",
    privoxy_connect => "privoxy-connect",
    squid_intercept => "squid-intercept",
}

/// The test's own CONNECT exchange through a real forward proxy, then hybi's RFC 6455 client over the tunnel
/// to a hybi server.
async fn connect_tunnel(name: &str) {
    let p = product(name);
    let (ws_addr, ws_task) = hybi_echo_server().await;
    let hop = real::start(&p, Routes::new().with("attacker.example", ws_addr))
        .await
        .unwrap_or_else(|e| panic!("{name} did not start: {e}"));
    let proxy = hop.raw_entry().await.unwrap();
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    tcp.write_all(b"CONNECT attacker.example:80 HTTP/1.1\r\nHost: attacker.example:80\r\n\r\n")
        .await
        .unwrap();
    // read the CONNECT answer byte by byte so no tunnel byte is consumed
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut b)).await {
            Ok(Ok(1)) => head.push(b[0]),
            other => panic!(
                "{name}: CONNECT answer cut short ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let status = String::from_utf8_lossy(&head).to_string();
    assert!(
        status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
        "{name}: CONNECT refused: {status}\n{}",
        hop.trace().summary()
    );
    let r = rfc6455_echo(tcp, "hello through a CONNECT tunnel").await;
    assert!(r.is_ok(), "{name}: {r:?}\n{}", hop.trace().summary());
    // proxies log a tunnel when it closes (the client above has closed it)
    let logged = |t: &hybi_lab::intermediary::Trace| {
        t.any(|k| matches!(k, EventKind::Request { method, .. } if method == "CONNECT"))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut trace = hop.trace();
    while !logged(&trace) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        trace = hop.trace();
    }
    assert!(
        logged(&trace),
        "{name}: the access log did not show the CONNECT\n{}",
        trace.summary()
    );
    ws_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squid_connect_tunnel_carries_hybi_rfc6455() {
    connect_tunnel("squid-forward").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tinyproxy_connect_tunnel_carries_hybi_rfc6455() {
    connect_tunnel("tinyproxy").await;
}

/// A name that is not the lab's gets NXDOMAIN inside the namespace, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_proxy_lookups_stay_in_the_namespace() {
    let p = product("squid-forward");
    let running = real::launch(&p, 1).await.unwrap();
    let hop = running.scene(Routes::new());
    let proxy = hop.raw_entry().await.unwrap();
    let t0 = Instant::now();
    let got = http_get(proxy, "websocket.invalid", "http://websocket.invalid/").await;
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "lookup took {:?}",
        t0.elapsed()
    );
    assert!(
        !contains(&got, " 200 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let q = running.dns_queries();
    assert!(
        q.iter()
            .any(|(n, _, ip)| n == "websocket.invalid" && ip.is_none()),
        "squid did not ask the namespace's resolver: {q:?}"
    );
}
