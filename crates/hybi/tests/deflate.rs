//! permessage-deflate over real TCP: negotiation through `Server`/`connect_with`, and
//! compressed echoes of text, binary and fragmented messages.

use futures_util::{SinkExt, StreamExt};
use hybi::{ClientOptions, DeflateConfig, Message, Server, ServerConfig, Variant, WebSocketConfig};
use tokio::net::TcpListener;

/// An echo server accepting one connection; reports whether it was compressed.
async fn echo_server(deflate: Option<DeflateConfig>) -> (String, tokio::task::JoinHandle<bool>) {
    let server = Server::new(ServerConfig {
        deflate,
        ..ServerConfig::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = server.accept(tcp).await.unwrap();
        let compressed = ws.is_compressed();
        while let Some(Ok(msg)) = ws.next().await {
            if matches!(msg, Message::Text(_) | Message::Binary(_)) {
                ws.send(msg).await.unwrap();
            }
        }
        compressed
    });
    (url, task)
}

async fn client(url: &str, deflate: Option<DeflateConfig>) -> hybi::WebSocket<hybi::ClientStream> {
    let mut opts = ClientOptions::from_url(url, Variant::Rfc6455).unwrap();
    opts.deflate = deflate;
    hybi::connect_with(&opts, WebSocketConfig::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn compressed_echo() {
    let (url, server) = echo_server(Some(DeflateConfig::default())).await;
    let mut ws = client(
        &url,
        Some(DeflateConfig {
            peer_no_context_takeover: true,
            ..DeflateConfig::default()
        }),
    )
    .await;
    assert!(ws.is_compressed());
    assert_eq!(
        ws.extensions(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    for i in 0..20 {
        let text = format!("{i} κόσμε ").repeat(500 * i + 1);
        ws.send(Message::Text(text.clone())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Text(text));
    }
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    ws.queue_fragmented(false, &data, 4096).unwrap();
    ws.flush().await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(data));
    ws.close().await.unwrap();
    while ws.next().await.is_some() {}
    assert!(server.await.unwrap());
}

#[tokio::test]
async fn either_side_without_deflate_means_plain_frames() {
    for (server_side, client_side) in [
        (None, Some(DeflateConfig::default())),
        (Some(DeflateConfig::default()), None),
    ] {
        let (url, server) = echo_server(server_side).await;
        let mut ws = client(&url, client_side).await;
        assert!(!ws.is_compressed());
        assert_eq!(ws.extensions(), None);
        ws.send(Message::Text("plain".into())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text("plain".into())
        );
        ws.close().await.unwrap();
        while ws.next().await.is_some() {}
        assert!(!server.await.unwrap());
    }
}
