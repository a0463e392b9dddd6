//! Limits under hostile peers, over real loopback TCP: a peer that never reads cannot
//! make the server queue without bound (echoes or pongs), stalled writers give up, the
//! connection limit answers 503, and the handshake and idle timeouts close slow peers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hybi::{Message, Server, ServerConfig, WebSocketConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::{handshake, masked_frame, HIXIE76_REQUEST_WITHOUT_KEY3, REQUEST};

fn transport(max_write_buffer: usize, idle: Option<Duration>) -> WebSocketConfig {
    WebSocketConfig {
        max_write_buffer,
        idle_timeout: idle,
        handshake_timeout: Duration::from_secs(1),
        close_timeout: Duration::from_millis(500),
        ..WebSocketConfig::default()
    }
}

/// A final masked client frame with `opcode`; key 0: the payload is sent as is.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    masked_frame(0x80 | opcode, [0; 4], payload)
}

/// Serves one connection with the echo loop of `hybi serve`, recording the largest
/// output queue seen; returns when the connection ends.
async fn echo_one(server: Server, listener: TcpListener, high_water: Arc<AtomicUsize>) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = server.accept(tcp).await.unwrap();
    while let Some(msg) = ws.next().await {
        high_water.fetch_max(ws.connection().pending_output().len(), Ordering::Relaxed);
        let res = match msg {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                let r = ws.feed(msg).await;
                high_water.fetch_max(ws.connection().pending_output().len(), Ordering::Relaxed);
                match r {
                    Ok(()) if !ws.has_buffered_messages() => ws.flush().await,
                    other => other,
                }
            }
            Ok(_) => Ok(()),
            Err(_) => Ok(()),
        };
        if res.is_err() {
            break;
        }
    }
}

/// Writes `wire` repeatedly for at most `budget`, never reading; returns bytes written.
async fn flood(mut tcp: TcpStream, wire: Vec<u8>, total: usize, budget: Duration) -> usize {
    let deadline = Instant::now() + budget;
    let mut sent = 0;
    while sent < total && Instant::now() < deadline {
        match tokio::time::timeout_at(deadline.into(), tcp.write_all(&wire)).await {
            Ok(Ok(())) => sent += wire.len(),
            _ => break,
        }
    }
    // Keep the socket open (and unread) a little longer than the flood.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sent
}

#[tokio::test]
async fn ping_flood_from_a_peer_that_never_reads_stays_bounded() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limit = 256 * 1024;
    let server = Server::with_transport(ServerConfig::default(), transport(limit, None));
    let high = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(echo_one(server, listener, high.clone()));
    let tcp = handshake(addr).await;
    // 40 MB of 125-byte pings: 38 MB of pongs owed, far beyond the socket buffers.
    let pings: Vec<u8> = (0..1000).flat_map(|_| frame(0x9, &[b'p'; 125])).collect();
    let sent = flood(tcp, pings, 40 << 20, Duration::from_secs(4)).await;
    let high = high.load(Ordering::Relaxed);
    eprintln!("sent {sent} bytes of pings; server output queue high-water {high}");
    assert!(
        sent < 40 << 20,
        "the server kept reading from a peer that never reads"
    );
    // The replies to one read past the limit, at most: the read buffer is 256 KiB
    // (websocket.rs, SCRATCH_SIZE), and a 131-byte ping is owed a 127-byte pong. On a
    // loaded machine the flood fills the socket between reads, and a whole buffer's worth
    // of pings arrives at once (the bound was 64 KiB, from before the buffer grew, and
    // failed so).
    assert!(high <= limit + 256 * 1024, "queue grew to {high}");
    task.abort();
}

#[tokio::test]
async fn echo_to_a_peer_that_never_reads_stays_bounded_and_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limit = 256 * 1024;
    let idle = Duration::from_millis(800);
    let server = Server::with_transport(ServerConfig::default(), transport(limit, Some(idle)));
    let high = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(echo_one(server, listener, high.clone()));
    let tcp = handshake(addr).await;
    let msgs: Vec<u8> = (0..16)
        .flat_map(|_| frame(0x2, &[7u8; 16 * 1024]))
        .collect();
    let started = Instant::now();
    let sent = flood(tcp, msgs, 64 << 20, Duration::from_secs(3)).await;
    let high = high.load(Ordering::Relaxed);
    eprintln!("sent {sent} bytes of messages; server output queue high-water {high}");
    assert!(
        sent < 64 << 20,
        "the server kept reading from a peer that never reads"
    );
    assert!(high <= limit + 16 * 1024 + 16, "queue grew to {high}");
    // The stalled echo gives up: idle timeout, then the close timeout.
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the stalled connection was never dropped")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn connection_limit_answers_503() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::with_transport(ServerConfig::default(), transport(1 << 20, None))
        .with_max_connections(2);
    let s = server.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let s = s.clone();
            tokio::spawn(async move {
                if let Ok(mut ws) = s.accept(tcp).await {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            });
        }
    });
    let a = handshake(addr).await;
    let _b = handshake(addr).await;
    assert_eq!(server.connections(), Some(2));
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(REQUEST).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 503"), "{answer:?}");
    // A slot frees when a connection ends.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(3);
    while server.connections() != Some(1) {
        assert!(Instant::now() < deadline, "slot not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handshake(addr).await;
}

#[tokio::test]
async fn slow_handshake_is_cut_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::with_transport(ServerConfig::default(), transport(1 << 20, None));
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        server.accept(tcp).await.map(|_| ())
    });
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    // Slowloris: a header byte every 100 ms, never the blank line.
    let res = tokio::time::timeout(Duration::from_secs(5), async {
        tcp.write_all(b"GET / HTTP/1.1\r\n").await?;
        loop {
            tcp.write_all(b"X").await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut b = [0u8; 64];
            match tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Ok::<_, std::io::Error>(()),
                _ => {}
            }
        }
    })
    .await;
    assert!(res.is_ok(), "the server never closed the slow handshake");
    assert!(matches!(
        task.await.unwrap(),
        Err(hybi::Error::Timeout("opening handshake"))
    ));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn idle_connection_is_closed_with_1001() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::with_transport(
        ServerConfig::default(),
        transport(1 << 20, Some(Duration::from_millis(500))),
    );
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = server.accept(tcp).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}
    });
    let mut tcp = handshake(addr).await;
    let started = Instant::now();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut got))
        .await
        .expect("idle connection not closed")
        .unwrap();
    // An unmasked close frame with code 1001 and the reason.
    assert_eq!(&got[..4], &[0x88, got[1], 0x03, 0xe9], "{got:?}");
    assert!(started.elapsed() >= Duration::from_millis(450));
}

#[tokio::test]
async fn hixie76_without_key3_is_cut_off_by_the_handshake_timeout() {
    // Hixie-76 sends its 101 head, then waits for the 8 bytes of key3; a client that
    // never sends them must not hold the connection past the handshake timeout.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        variants: vec![hybi::Variant::Hixie76],
        subprotocols: vec!["sample".into()],
        ..ServerConfig::default()
    };
    let server = Server::with_transport(config, transport(1 << 20, None));
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        server.accept(tcp).await.map(|_| ())
    });
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(HIXIE76_REQUEST_WITHOUT_KEY3).await.unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut got))
        .await
        .expect("the server kept waiting for key3")
        .ok();
    // The 101 head went out before key3 (as -76 requires), then the deadline cut it off.
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(matches!(
        task.await.unwrap(),
        Err(hybi::Error::Timeout("opening handshake"))
    ));
}

#[tokio::test]
async fn trickling_peer_that_never_reads_is_dropped() {
    // The peer keeps sending a byte now and then (so it is never idle) but reads none of
    // the echoes it asked for: the write stall bound (the idle timeout) drops it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limit = 256 * 1024;
    let idle = Duration::from_millis(800);
    let server = Server::with_transport(ServerConfig::default(), transport(limit, Some(idle)));
    let high = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(echo_one(server, listener, high.clone()));
    let mut tcp = handshake(addr).await;
    let msgs: Vec<u8> = (0..16)
        .flat_map(|_| frame(0x2, &[7u8; 16 * 1024]))
        .collect();
    // Fill every buffer, then start a frame and trickle its payload.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(300), tcp.write_all(&msgs)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    let started = Instant::now();
    let ended = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match tcp.try_write(b"x") {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(6), ended)
        .await
        .expect("a trickling peer that never reads held its connection");
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("server task still running")
        .unwrap();
    eprintln!("dropped {:?} after the flood", started.elapsed());
}
