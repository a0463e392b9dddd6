//! Runs the `axum_echo` example's app: hybi's axum extractor upgrades requests that
//! pass hybi's handshake checks, refuses the others with hybi's answers, and the
//! WebSocket it hands over works (echo, subprotocol, frames sent before the 101 arrived).
#![cfg(feature = "axum")]

#[path = "../examples/axum_echo.rs"]
#[allow(dead_code)]
mod axum_echo;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hybi::{ClientOptions, Message, Variant, WebSocketConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

async fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(axum_echo::run(listener));
    addr
}

/// Sends `request` on a fresh connection and reads until the server closes or `until`
/// appears in the answer.
async fn raw(addr: &str, request: &[u8], until: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if !until.is_empty() && answer.windows(until.len()).any(|w| w == until) {
            break;
        }
    }
    answer
}

#[tokio::test]
async fn echo_through_the_extractor() {
    timeout(LIMIT, async {
        let addr = start().await;
        let mut opts =
            ClientOptions::from_url(&format!("ws://{addr}/ws"), Variant::Rfc6455).unwrap();
        opts.subprotocols = vec!["chat".into(), "echo".into()];
        let mut ws = hybi::connect_with(&opts, WebSocketConfig::default())
            .await
            .unwrap();
        assert_eq!(ws.subprotocol(), Some("echo"));
        for msg in [
            Message::Text("hello axum".into()),
            Message::Binary(vec![0, 1, 2, 255]),
            Message::Text("é€😀".repeat(20_000)),
        ] {
            ws.send(msg.clone()).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), msg);
        }
        ws.send(Message::Close(None)).await.unwrap();
        while let Some(m) = ws.next().await {
            m.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn hybi_08_is_upgraded_too() {
    timeout(LIMIT, async {
        let addr = start().await;
        let mut ws = hybi::connect(&format!("ws://{addr}/ws"), Variant::Hybi08)
            .await
            .unwrap();
        assert_eq!(ws.variant(), Variant::Hybi08);
        ws.send(Message::Text("eight".into())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("eight".into())
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn frames_sent_with_the_request_are_not_lost() {
    timeout(LIMIT, async {
        let addr = start().await;
        // The request and a masked text frame "hi" in one write, before any answer.
        let mut bytes = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes();
        let mask = [1u8, 2, 3, 4];
        bytes.extend_from_slice(&[0x81, 0x82]);
        bytes.extend_from_slice(&mask);
        bytes.extend(b"hi".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        let answer = raw(&addr, &bytes, b"\x81\x02hi").await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{text}"
        );
        assert!(answer.ends_with(b"\x81\x02hi"), "{text}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bad_requests_get_hybi_answers() {
    timeout(LIMIT, async {
        let addr = start().await;
        // Not an upgrade at all: refused by the extractor, the handler never runs.
        let answer = raw(
            &addr,
            format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
            b"",
        )
        .await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert!(text.contains("not a WebSocket handshake"), "{text}");

        // A version hybi does not speak: 426 with the versions it does.
        let answer = raw(
            &addr,
            format!(
                "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n"
            )
            .as_bytes(),
            b"",
        )
        .await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 426 "), "{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("sec-websocket-version: 13, 8, 7"),
            "{text}"
        );

        // A key that is not 16 bytes of base64.
        let answer = raw(
            &addr,
            format!(
                "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\
                 Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
            b"",
        )
        .await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert!(text.contains("Sec-WebSocket-Key"), "{text}");

        // The rest of the app is untouched.
        let answer = raw(
            &addr,
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
            b"",
        )
        .await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
        assert!(text.contains("WebSocket echo at"), "{text}");
    })
    .await
    .unwrap();
}

/// The extension negotiation of hybi's handshake reaches the 101 that hyper sends: a
/// policy with permessage-deflate compresses over the upgraded connection.
#[tokio::test]
async fn permessage_deflate_through_the_extractor() {
    use axum::routing::get;
    use axum::{Extension, Router};
    use hybi::axum::WebSocketUpgrade;
    use hybi::{DeflateConfig, Server, ServerConfig};

    timeout(LIMIT, async {
        let policy = Server::new(ServerConfig {
            deflate: Some(DeflateConfig::default()),
            ..ServerConfig::default()
        });
        let app = Router::new()
            .route(
                "/",
                get(|ws: WebSocketUpgrade| async move {
                    ws.on_upgrade(|mut socket| async move {
                        while let Some(Ok(msg)) = socket.next().await {
                            if matches!(msg, Message::Text(_) | Message::Binary(_))
                                && socket.send(msg).await.is_err()
                            {
                                break;
                            }
                        }
                    })
                }),
            )
            .layer(Extension(policy));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut opts = ClientOptions::from_url(&format!("ws://{addr}/"), Variant::Rfc6455).unwrap();
        opts.deflate = Some(DeflateConfig::default());
        let mut ws = hybi::connect_with(&opts, WebSocketConfig::default())
            .await
            .unwrap();
        let agreed = ws.extensions().unwrap_or_default().to_owned();
        assert!(agreed.starts_with("permessage-deflate"), "{agreed:?}");
        let text = Message::Text("compress me ".repeat(10_000));
        ws.send(text.clone()).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), text);
    })
    .await
    .unwrap();
}
