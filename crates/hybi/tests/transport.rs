//! The tokio layer over real loopback sockets: hostile input, backpressure, split,
//! keepalive and close deadlines. Every test is bounded by a timeout so none can hang.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hybi::{
    CloseCode, CloseFrame, Error, Limits, Message, Server, ServerConfig, Variant, WebSocketConfig,
};
use hybi_proto::HandshakeError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

mod common;

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    (l, url)
}

/// A raw RFC 6455 client handshake; returns the socket positioned after the 101 head.
async fn raw_client(addr: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

#[tokio::test]
async fn one_mib_request_head_is_refused_early() {
    timeout(LIMIT, async {
        let (l, _) = listener().await;
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            Server::new(ServerConfig::default()).accept(tcp).await
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Filler: ".to_vec();
        head.resize(1 << 20, b'a');
        // The server stops reading after its limit and closes: our write may fail.
        let _ = tcp.write_all(&head).await;
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 400 "),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        match server.await.unwrap() {
            Err(Error::Handshake(HandshakeError::HeadTooLarge)) => {}
            other => panic!("{other:?}"),
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn frame_length_2_pow_63_gets_close_1009_over_a_socket() {
    timeout(LIMIT, async {
        let (l, _) = listener().await;
        let addr = l.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut ws = Server::new(ServerConfig::default())
                .accept(tcp)
                .await
                .unwrap();
            let mut seen = Vec::new();
            while let Some(m) = ws.next().await {
                seen.push(m.map_err(|e| e.to_string()));
            }
            seen
        });
        let mut tcp = raw_client(&addr).await;
        // masked binary frame announcing 2^63 - 1 bytes, then a little payload
        let mut frame = vec![0x82, 0xff];
        frame.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
        tcp.write_all(&frame).await.unwrap();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer[0], 0x88, "a close frame");
        assert_eq!(u16::from_be_bytes([answer[2], answer[3]]), 1009);
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].as_ref().unwrap_err().contains("frame too large"));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_peer_that_stops_reading_blocks_the_sender_with_bounded_memory() {
    timeout(LIMIT, async {
        let (l, _) = listener().await;
        let addr = l.local_addr().unwrap().to_string();
        let max_write_buffer = 128 * 1024;
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let cfg = WebSocketConfig {
                max_write_buffer,
                ..WebSocketConfig::default()
            };
            let mut ws = Server::with_transport(ServerConfig::default(), cfg)
                .accept(tcp)
                .await
                .unwrap();
            let chunk = vec![0u8; 32 * 1024];
            let mut sent = 0usize;
            let mut worst = 0usize;
            loop {
                match timeout(
                    Duration::from_millis(500),
                    ws.feed(Message::Binary(chunk.clone())),
                )
                .await
                {
                    Ok(r) => r.unwrap(),
                    Err(_) => break, // blocked: backpressure
                }
                sent += chunk.len();
                worst = worst.max(ws.connection().pending_output().len());
                assert!(sent < 512 << 20, "never blocked");
            }
            (sent, worst)
        });
        let tcp = raw_client(&addr).await; // never reads
        let (sent, worst) = server.await.unwrap();
        // The kernel's socket buffers absorb some; our own queue stays within one
        // message of the limit.
        assert!(worst <= max_write_buffer + 32 * 1024 + 14, "queued {worst}");
        assert!(sent > 0);
        drop(tcp);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn split_halves_and_fragmented_echo() {
    timeout(LIMIT, async {
        let (l, url) = listener().await;
        tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut ws = Server::new(ServerConfig::default())
                .accept(tcp)
                .await
                .unwrap();
            while let Some(Ok(m)) = ws.next().await {
                if matches!(m, Message::Text(_) | Message::Binary(_)) {
                    ws.send(m).await.unwrap();
                }
            }
        });
        let mut ws = hybi::connect(&url, Variant::Rfc6455).await.unwrap();
        let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
        ws.queue_fragmented(false, &big, 1000).unwrap();
        ws.flush().await.unwrap();
        let (mut tx, mut rx) = ws.split();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(Ok(m)) = rx.next().await {
                got.push(m);
            }
            got
        });
        for i in 0..100 {
            tx.send(Message::Text(format!("msg {i}"))).await.unwrap();
        }
        tx.send(Message::Close(Some(CloseFrame::new(
            CloseCode::NORMAL,
            "done",
        ))))
        .await
        .unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got.len(), 102);
        assert_eq!(got[0], Message::Binary(big));
        assert_eq!(got[100], Message::Text("msg 99".into()));
        assert!(matches!(&got[101], Message::Close(Some(f)) if f.code == CloseCode::NORMAL));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn keepalive_pings_and_times_out_a_silent_peer() {
    timeout(LIMIT, async {
        let (l, _) = listener().await;
        let addr = l.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let cfg = WebSocketConfig {
                ping_interval: Some(Duration::from_millis(100)),
                ping_timeout: Duration::from_millis(200),
                ..WebSocketConfig::default()
            };
            let mut ws = Server::with_transport(ServerConfig::default(), cfg)
                .accept(tcp)
                .await
                .unwrap();
            let started = tokio::time::Instant::now();
            let mut last = None;
            while let Some(m) = ws.next().await {
                last = Some(m);
            }
            (started.elapsed(), last)
        });
        let mut tcp = raw_client(&addr).await;
        // the ping arrives, and we never answer it
        let mut ping = [0u8; 2];
        tcp.read_exact(&mut ping).await.unwrap();
        assert_eq!(ping[0], 0x89);
        let (elapsed, last) = server.await.unwrap();
        assert!(
            matches!(last, Some(Err(Error::Timeout("keepalive pong")))),
            "{last:?}"
        );
        assert!(elapsed < Duration::from_secs(5));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn close_timeout_ends_a_client_whose_server_never_answers() {
    timeout(LIMIT, async {
        let (l, url) = listener().await;
        tokio::spawn(async move {
            let (mut tcp, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let key = req
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap()
                .trim()
                .to_owned();
            let accept = hybi_proto::handshake::accept_key(&key);
            tcp.write_all(
                format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            // swallow everything, answer nothing, keep the socket open
            while tcp.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
        });
        let opts = hybi::ClientOptions::from_url(&url, Variant::Rfc6455).unwrap();
        let cfg = WebSocketConfig {
            close_timeout: Duration::from_millis(300),
            ..WebSocketConfig::default()
        };
        let mut ws = hybi::connect_with(&opts, cfg).await.unwrap();
        ws.close().await.unwrap();
        let started = tokio::time::Instant::now();
        while ws.next().await.is_some() {}
        assert!(started.elapsed() < Duration::from_secs(3));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn slowloris_handshake_times_out() {
    timeout(LIMIT, async {
        let (l, _) = listener().await;
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let cfg = WebSocketConfig {
                handshake_timeout: Duration::from_millis(300),
                ..WebSocketConfig::default()
            };
            Server::with_transport(ServerConfig::default(), cfg)
                .accept(tcp)
                .await
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
            .await
            .unwrap();
        match server.await.unwrap() {
            Err(Error::Timeout("opening handshake")) => {}
            other => panic!("{other:?}"),
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn limits_apply_end_to_end() {
    timeout(LIMIT, async {
        let (l, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let cfg = ServerConfig {
                limits: Limits {
                    max_message_size: 1000,
                    ..Limits::default()
                },
                ..ServerConfig::default()
            };
            let mut ws = Server::new(cfg).accept(tcp).await.unwrap();
            let mut out = Vec::new();
            while let Some(m) = ws.next().await {
                out.push(m.map_err(|e| e.to_string()));
            }
            out
        });
        let mut ws = hybi::connect(&url, Variant::Rfc6455).await.unwrap();
        ws.send(Message::Binary(vec![0; 1001])).await.unwrap();
        let mut close = None;
        while let Some(m) = ws.next().await {
            if let Ok(Message::Close(f)) = m {
                close = f;
            }
        }
        assert_eq!(close.unwrap().code, CloseCode::MESSAGE_TOO_BIG);
        let seen = server.await.unwrap();
        assert!(seen[0].as_ref().unwrap_err().contains("message too large"));
    })
    .await
    .unwrap();
}

/// A one-connection server that echoes binary messages through `for_each_message` (the
/// lending path); returns its address and the task, which ends with the connection.
async fn binary_echo_server(
    server: Server,
) -> (String, tokio::task::JoinHandle<Result<(), Error>>) {
    let (listener, url) = listener().await;
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = server.accept(tcp).await.unwrap();
        ws.for_each_message(|conn, msg| {
            if let hybi_proto::DataRef::Binary(b) = msg {
                conn.send_binary(b).unwrap();
            }
        })
        .await
    });
    (addr, task)
}

/// A client that sends a large message and half-closes before reading anything still gets
/// the whole echo, then the end of stream: the rest of the reply waits for the socket
/// instead of being dropped when the client's FIN is read (the reactor engine's
/// `a_half_closed_client_still_gets_its_whole_reply` is the same check).
#[tokio::test]
async fn a_half_closed_client_still_gets_its_whole_reply() {
    let transport = WebSocketConfig {
        max_write_buffer: 32 << 20,
        ..WebSocketConfig::default()
    };
    let server = Server::with_transport(ServerConfig::default(), transport);
    let (addr, server_task) = binary_echo_server(server).await;
    timeout(LIMIT, async {
        let mut tcp = raw_client(&addr).await;
        let payload: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let mask = [1u8, 2, 3, 4];
        let mut wire = vec![0x82, 0x80 | 127];
        wire.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        wire.extend_from_slice(&mask);
        wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        tcp.write_all(&wire).await.unwrap();
        tcp.shutdown().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut got = Vec::new();
        tcp.read_to_end(&mut got).await.unwrap();
        let mut expected = vec![0x82, 127];
        expected.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        expected.extend_from_slice(&payload);
        assert!(
            got.starts_with(&expected),
            "received {} bytes, the echo is {}",
            got.len(),
            expected.len()
        );
        server_task.await.unwrap().unwrap();
    })
    .await
    .expect("timed out");
}

/// `for_each_message` writes large echoes straight from its read buffer
/// (`Connection::receive_data_lending`); to a client that reads slowly, so that writes
/// come up short and the rest is queued, every echo still arrives whole and in order,
/// large ones (lent) and small ones (copied) interleaved. The reactor engine's
/// `large_echoes_to_a_slow_reader_arrive_whole_and_in_order` is the same check.
#[tokio::test]
async fn large_echoes_to_a_slow_reader_arrive_whole_and_in_order() {
    let (addr, server_task) = binary_echo_server(Server::new(ServerConfig::default())).await;
    timeout(LIMIT, async {
        let mut tcp = common::large_echoes_to_a_slow_reader(raw_client(&addr).await).await;
        let close = common::masked_frame(0x88, [9, 8, 7, 6], &1000u16.to_be_bytes());
        tcp.write_all(&close).await.unwrap();
        let mut rest = Vec::new();
        tcp.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest[..4], [0x88, 2, 0x03, 0xe8], "the close reply");
        server_task.await.unwrap().unwrap();
    })
    .await
    .expect("timed out");
}
