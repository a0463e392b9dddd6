//! The idle-timeout wheel turned by a task of the application's runtime
//! (`hybi::drive_idle_timers`) instead of the `hybi-idle` thread, and handed to that thread
//! when the task goes away. A test binary of its own: the wheel is per process, and any
//! other test arming a timer first would start the thread.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hybi::{Server, ServerConfig, WebSocketConfig};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::handshake;

const IDLE: Duration = Duration::from_millis(500);

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

/// An echo server whose connections have a 500 ms idle timeout; returns its address.
async fn server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let transport = WebSocketConfig {
        idle_timeout: Some(IDLE),
        ..WebSocketConfig::default()
    };
    let server = Server::with_transport(ServerConfig::default(), transport);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let server = server.clone();
            tokio::spawn(async move {
                let mut ws = server.accept(tcp).await.unwrap();
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    addr
}

/// Waits for the server's close frame on an idle connection; checks its code, 1001, and
/// that it came no earlier than the timeout.
async fn closed_for_idleness(mut tcp: TcpStream, since: Instant) {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < 4 {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("idle connection not closed")
            .unwrap();
        assert!(n > 0, "closed without a close frame: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&got[..4], &[0x88, got[1], 0x03, 0xe9], "{got:?}");
    let took = since.elapsed();
    assert!(took >= IDLE - Duration::from_millis(50), "{took:?}");
}

#[test]
fn a_task_turns_the_wheel_and_the_thread_takes_over_when_it_is_dropped() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let driver = tokio::spawn(hybi::drive_idle_timers());
        let addr = server().await;

        // Driven by the task: the timeout fires, and no thread was started for it.
        let since = Instant::now();
        closed_for_idleness(handshake(addr).await, since).await;
        let names = thread_names();
        assert!(!names.iter().any(|n| n == "hybi-idle"), "{names:?}");

        // A second driver is a no-op while the first runs.
        tokio::time::timeout(Duration::from_secs(1), hybi::drive_idle_timers())
            .await
            .expect("a second driver returns at once");

        // The task goes away while a timer is armed: the thread takes over, and the
        // connection still closes on time.
        let tcp = handshake(addr).await;
        let since = Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await; // the server arms the timer
        driver.abort();
        assert!(driver.await.unwrap_err().is_cancelled());
        closed_for_idleness(tcp, since).await;
        let names = thread_names();
        assert!(names.iter().any(|n| n == "hybi-idle"), "{names:?}");
    });
}
