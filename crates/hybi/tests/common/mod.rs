//! Helpers shared by the integration tests that play a client: raw sockets (the opening
//! request, the 101 head, masked frames) and hybi's own client (echo round trips, the
//! closing handshake).
// Each test binary that includes this module uses only some of it.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use hybi::{ClientOptions, CloseCode, CloseFrame, Message, Variant, WebSocketConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------
// Raw sockets
// ---------------------------------------------------------------------------------------

/// An RFC 6455 opening request (the §1.3 example key).
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// A Hixie-76 opening request (the draft's example, offering the subprotocol "sample")
/// without the 8 bytes of key3 that must follow it.
pub const HIXIE76_REQUEST_WITHOUT_KEY3: &[u8] =
    b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: sample\r\n\
Upgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
Origin: http://example.com\r\n\r\n";

/// Connects and reads the 101 head; returns the stream.
pub async fn handshake(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(REQUEST).await.unwrap();
    expect_101(&mut tcp).await;
    tcp
}

/// Reads a response head byte by byte (so nothing after it) and checks that it is a 101;
/// returns it.
pub async fn expect_101(tcp: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut b).await.unwrap(), 1, "server closed");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    head
}

/// A masked client frame (RFC 6455 §5.2); `b0` is FIN | RSV | opcode, and the payload is
/// masked with `mask` (§5.3; with `[0; 4]` it goes out as is).
pub fn masked_frame(b0: u8, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Against a binary echo server on `tcp` (after its 101): writes 40 binary messages of
/// 20 B to 200 KiB without pause (large ones are lent and written from the server's read
/// buffer, `Connection::receive_data_lending`; small ones copied) while reading slowly, so
/// that the server's writes come up short or would block, and checks that every echo
/// arrives whole and in order. Returns the socket, positioned after the last echo.
pub async fn large_echoes_to_a_slow_reader(tcp: TcpStream) -> TcpStream {
    let sizes: Vec<usize> = (0..40)
        .map(|i| match i % 4 {
            0 => 8 * 1024 + i * 97,
            1 => 20,
            2 => 64 * 1024 + i,
            _ => 200 * 1024 - i * 13,
        })
        .collect();
    let payload = |i: usize, n: usize| -> Vec<u8> {
        (0..n).map(|j| (j.wrapping_mul(31) ^ i) as u8).collect()
    };
    let (mut rd, mut wr) = tcp.into_split();
    let to_send = sizes.clone();
    let writer = tokio::spawn(async move {
        for (i, &n) in to_send.iter().enumerate() {
            let frame = masked_frame(0x82, [9, 8, 7, 6], &payload(i, n));
            wr.write_all(&frame).await.unwrap();
        }
        wr
    });
    let mut buf = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        if i % 3 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // §5.2: the server's frames are unmasked, the length in whichever form fits.
        let head = 2 + if n < 126 {
            0
        } else if n <= 0xffff {
            2
        } else {
            8
        };
        while buf.len() < head + n {
            let mut chunk = vec![0u8; 16 * 1024];
            let k = rd.read(&mut chunk).await.unwrap();
            assert!(k > 0, "closed after {i} echoes");
            buf.extend_from_slice(&chunk[..k]);
        }
        assert_eq!(buf[0], 0x82, "echo {i}");
        assert!(
            buf[head..head + n] == payload(i, n)[..],
            "echo {i} ({n} bytes) differs"
        );
        buf.drain(..head + n);
    }
    assert!(buf.is_empty(), "bytes after the last echo");
    rd.reunite(writer.await.unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------
// hybi's client
// ---------------------------------------------------------------------------------------

/// Client options for `ws://{addr}{path}`, with an origin (the Hixie drafts' answers
/// echo it: they need one).
pub fn options(addr: std::net::SocketAddr, variant: Variant, path: &str) -> ClientOptions {
    let mut opts = ClientOptions::from_url(&format!("ws://{addr}{path}"), variant).unwrap();
    opts.origin = Some("http://localhost".into());
    opts
}

/// Connects to `path` with `variant`, on a server that greets every connection with
/// "<variant> <path>": checks the variant spoken and the greeting.
pub async fn connect_greeted(
    addr: std::net::SocketAddr,
    variant: Variant,
    path: &str,
) -> hybi::WebSocket<hybi::ClientStream> {
    let mut ws = hybi::connect_with(&options(addr, variant, path), WebSocketConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{variant}: {e}"));
    assert_eq!(ws.variant(), variant);
    assert_eq!(
        next_data(&mut ws).await,
        Message::Text(format!("{variant} {path}")),
        "{variant}: the server detected the variant and routed by the real URL"
    );
    ws
}

/// The next text or binary message (a close before it fails the test).
pub async fn next_data<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut hybi::WebSocket<S>) -> Message {
    loop {
        match ws.next().await.expect("stream ended").expect("client read") {
            m @ (Message::Text(_) | Message::Binary(_)) => return m,
            Message::Close(f) => panic!("closed early: {f:?}"),
            _ => {}
        }
    }
}

/// Sends `msg` to an echo server and checks that the next message is the same.
pub async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut hybi::WebSocket<S>,
    msg: Message,
    what: impl std::fmt::Display,
) {
    ws.send(msg.clone()).await.unwrap();
    assert_eq!(next_data(ws).await, msg, "{what}");
}

/// Sends a close 1000 and reads to the end; returns the close frame the server sent.
pub async fn close_and_drain<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut hybi::WebSocket<S>,
) -> Option<CloseFrame> {
    ws.send(Message::Close(Some(CloseFrame::new(
        CloseCode::NORMAL,
        "bye",
    ))))
    .await
    .unwrap();
    let mut closed = None;
    while let Some(msg) = ws.next().await {
        if let Message::Close(frame) = msg.expect("client read while closing") {
            closed = frame;
        }
    }
    closed
}
