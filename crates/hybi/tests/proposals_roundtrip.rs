//! The five 2011 handshake proposals (`docs/proposals/`) over real loopback sockets:
//! one server port answering all of them (detection from the first request head), and
//! for each a client doing text, binary, fragmented and 1 MiB round trips and the
//! closing handshake; then clients facing an echo server and a plain HTTP server, which
//! must never complete a handshake. Every test is bounded by a timeout.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hybi::{CloseCode, Error, Message, Server, ServerConfig, Variant, WebSocketConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

mod common;
use common::{close_and_drain, connect_greeted, next_data, options, round_trip};

const LIMIT: Duration = Duration::from_secs(60);

const PROPOSALS: [Variant; 5] = [
    Variant::Hello,
    Variant::ConnectMasked,
    Variant::Connect,
    Variant::UpgradeConnect,
    Variant::Post,
];

/// An echo server on one port for every proposal (plus RFC 6455); returns its address.
async fn echo_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut variants = PROPOSALS.to_vec();
    variants.push(Variant::Rfc6455);
    let server = Server::new(ServerConfig {
        variants,
        ..ServerConfig::default()
    });
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let server = server.clone();
            tokio::spawn(async move {
                let mut ws = server.accept(tcp).await.expect("server handshake");
                // Tell the client which variant and path the server saw.
                let seen = format!("{} {}", ws.variant(), ws.path());
                ws.send(Message::Text(seen)).await.unwrap();
                while let Some(msg) = ws.next().await {
                    if let m @ (Message::Text(_) | Message::Binary(_)) = msg.expect("server read") {
                        ws.send(m).await.unwrap();
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn every_proposal_round_trips_on_one_port() {
    timeout(LIMIT, async {
        let addr = echo_server().await;
        for variant in PROPOSALS {
            let mut ws = connect_greeted(addr, variant, &format!("/echo/{variant}")).await;
            round_trip(&mut ws, Message::Text("héllo, wörld".into()), variant).await;
            round_trip(&mut ws, Message::Binary(vec![0, 1, 2, 0xff]), variant).await;

            let text: String = "κόσμε ".repeat(200);
            ws.queue_fragmented(true, text.as_bytes(), 7).unwrap();
            ws.flush().await.unwrap();
            assert_eq!(next_data(&mut ws).await, Message::Text(text), "{variant}");

            let big: Vec<u8> = (0..1usize << 20).map(|i| (i * 31 + 7) as u8).collect();
            round_trip(&mut ws, Message::Binary(big), variant).await;

            let closed = close_and_drain(&mut ws).await;
            assert_eq!(closed.map(|f| f.code), Some(CloseCode::NORMAL), "{variant}");
        }
    })
    .await
    .expect("timed out");
}

/// A TCP server that answers every connection with `reply` (or, when `None`, echoes
/// what it receives), then keeps the socket open until the client goes away.
async fn fake_server(reply: Option<&'static [u8]>) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut answered = false;
                loop {
                    let n = match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let out = match reply {
                        None => &buf[..n],
                        Some(_) if answered => continue,
                        Some(r) => r,
                    };
                    answered = true;
                    if tcp.write_all(out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn echo_and_plain_http_servers_never_complete_a_handshake() {
    timeout(LIMIT, async {
        let fakes: [(&str, Option<&'static [u8]>); 4] = [
            ("echo server", None),
            (
                "plain HTTP server",
                Some(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi"),
            ),
            ("bare 200", Some(b"HTTP/1.1 200 OK\r\n\r\n")),
            (
                "101 without proof",
                Some(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n"),
            ),
        ];
        let config = WebSocketConfig {
            handshake_timeout: Duration::from_secs(2),
            ..WebSocketConfig::default()
        };
        for (name, reply) in fakes {
            let addr = fake_server(reply).await;
            for variant in PROPOSALS {
                let opts = options(addr, variant, &format!("/echo/{variant}"));
                match hybi::connect_with(&opts, config.clone()).await {
                    Ok(_) => panic!("{variant} completed against a {name}"),
                    Err(Error::Handshake(_)) | Err(Error::Timeout(_)) => {}
                    Err(other) => panic!("{variant} against a {name}: unexpected {other}"),
                }
            }
        }
    })
    .await
    .expect("timed out");
}
