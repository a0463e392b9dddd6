//! Network conditions: a loopback relay put in front of a server (or a proxy) that re-segments the bytes,
//! delays them, or resets the connection at a byte count or a named stage of the exchange.
//!
//! The relay is one task per connection that relays both directions; each segment is written with
//! `TCP_NODELAY` set and flushed on its own, after the condition's latency. A reset is a real TCP RST
//! (`SO_LINGER` 0) on both sides, after exactly the bytes before the reset point have been relayed.
//! What a handshake that needs bytes after its head (Hixie-76's key3, 8 bytes; its 16-byte answer) pays
//! shows up as the extra segments and latency on those bytes, and as the extra stages it can be cut at.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::util::{lock, Tasks};

/// A direction through the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the connecting client towards the server.
    ClientToServer,
    /// From the server towards the client.
    ServerToClient,
}

/// How bytes are cut into segments (in each direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segmenting {
    /// As read.
    Whole,
    /// Segments of at most `k` bytes (`k >= 1`).
    Every(usize),
    /// One cut at byte offset `p` of each direction's stream (everything else as read): run with every `p`
    /// from 1 to the request length to split "at every boundary".
    At(usize),
}

/// A named point of an HTTP-style opening handshake at which the relay resets the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetStage {
    /// As soon as the client connects (nothing relayed, the server is never contacted).
    Connect,
    /// After the client's request line (first CRLF), inside the head.
    MidRequestHead,
    /// Right after the client's blank line, before any byte that follows it (Hixie-76 key3, payload).
    AfterRequestHead,
    /// After the first client byte past its head (the first byte of key3 or of the first frame).
    FirstClientData,
    /// After the server's status line.
    MidResponseHead,
    /// Right after the server's blank line, before anything that follows (Hixie-76's 16 bytes, frames).
    AfterResponseHead,
    /// After the first server byte past its head.
    FirstServerData,
}

impl NetStage {
    /// Every stage, in the order an exchange reaches them.
    pub const ALL: [NetStage; 7] = [
        NetStage::Connect,
        NetStage::MidRequestHead,
        NetStage::AfterRequestHead,
        NetStage::FirstClientData,
        NetStage::MidResponseHead,
        NetStage::AfterResponseHead,
        NetStage::FirstServerData,
    ];
}

/// When to reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetAt {
    /// After exactly `n` bytes have been relayed in `dir`.
    Bytes {
        /// Direction counted.
        dir: Direction,
        /// Byte count.
        n: usize,
    },
    /// At a named stage.
    Stage(NetStage),
}

/// A network condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    /// Segmenting.
    pub segmenting: Segmenting,
    /// Delay before each segment.
    pub latency: Duration,
    /// Reset point, if any.
    pub reset: Option<ResetAt>,
}

impl Condition {
    /// Bytes relayed as read, no delay, no reset.
    pub const CLEAN: Condition = Condition {
        segmenting: Segmenting::Whole,
        latency: Duration::ZERO,
        reset: None,
    };

    /// Segments of `k` bytes.
    pub fn every(k: usize) -> Self {
        Condition {
            segmenting: Segmenting::Every(k.max(1)),
            ..Self::CLEAN
        }
    }

    /// One cut at offset `p`.
    pub fn cut_at(p: usize) -> Self {
        Condition {
            segmenting: Segmenting::At(p),
            ..Self::CLEAN
        }
    }

    /// `latency` before every segment.
    pub fn delayed(latency: Duration) -> Self {
        Condition {
            latency,
            ..Self::CLEAN
        }
    }

    /// Reset at `at`.
    pub fn reset(at: ResetAt) -> Self {
        Condition {
            reset: Some(at),
            ..Self::CLEAN
        }
    }

    /// Short description for reports.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.segmenting {
            Segmenting::Whole => {}
            Segmenting::Every(k) => parts.push(format!("{k}-byte segments")),
            Segmenting::At(p) => parts.push(format!("cut at byte {p}")),
        }
        if !self.latency.is_zero() {
            parts.push(format!("+{:?}/segment", self.latency));
        }
        match self.reset {
            None => {}
            Some(ResetAt::Bytes { dir, n }) => parts.push(format!("reset after {n} bytes {dir:?}")),
            Some(ResetAt::Stage(s)) => parts.push(format!("reset at {s:?}")),
        }
        if parts.is_empty() {
            "clean".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The standard sweep for a handshake whose client sends `request_len` bytes before it waits: one cut at
/// every boundary `1..request_len`, segment sizes 1, 2, 3, 7 and 64 bytes, 10 ms and 100 ms of latency per
/// segment (alone and with 1-byte segments at 1 ms), and a reset at every [`NetStage`].
pub fn standard_sweep(request_len: usize) -> Vec<Condition> {
    let mut v: Vec<Condition> = (1..request_len).map(Condition::cut_at).collect();
    v.extend([1, 2, 3, 7, 64].map(Condition::every));
    v.push(Condition::delayed(Duration::from_millis(10)));
    v.push(Condition::delayed(Duration::from_millis(100)));
    v.push(Condition {
        segmenting: Segmenting::Every(1),
        latency: Duration::from_millis(1),
        reset: None,
    });
    v.extend(NetStage::ALL.map(|s| Condition::reset(ResetAt::Stage(s))));
    v
}

/// What the relay did on one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Bytes relayed client → server.
    pub up_bytes: usize,
    /// Bytes relayed server → client.
    pub down_bytes: usize,
    /// Segments written client → server.
    pub up_segments: usize,
    /// Segments written server → client.
    pub down_segments: usize,
    /// Whether, and where, the relay reset the connection.
    pub reset: Option<String>,
    /// Time from accept to the end of relaying.
    pub duration: Duration,
}

/// A running relay. Dropping it stops it.
pub struct Relay {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The condition applied.
    pub condition: Condition,
    stats: Arc<Mutex<Vec<ConnStats>>>,
    tasks: Tasks,
}

impl Relay {
    /// Starts a relay on 127.0.0.1:0 to `upstream`.
    pub async fn start(upstream: SocketAddr, condition: Condition) -> io::Result<Relay> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let stats: Arc<Mutex<Vec<ConnStats>>> = Arc::default();
        let tasks = Tasks::default();
        let (st, t2) = (stats.clone(), tasks.clone());
        tasks.spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let st = st.clone();
                t2.spawn(async move {
                    let started = Instant::now();
                    let mut cs = ConnStats::default();
                    relay(s, upstream, condition, &mut cs).await;
                    cs.duration = started.elapsed();
                    lock(&st).push(cs);
                });
            }
        });
        Ok(Relay {
            addr,
            condition,
            stats,
            tasks,
        })
    }

    /// Per-connection statistics of finished connections.
    pub fn stats(&self) -> Vec<ConnStats> {
        lock(&self.stats).clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.tasks.shutdown();
    }
}

/// Tracks one direction's stream: bytes relayed, end of first line, end of head.
#[derive(Default)]
struct Watch {
    total: usize,
    tail: Vec<u8>,
    first_line_end: Option<usize>,
    head_end: Option<usize>,
}

impl Watch {
    /// Scans `chunk` (which starts at absolute offset `total`) for the first CRLF and the first CRLFCRLF.
    fn scan(&mut self, chunk: &[u8]) {
        for (i, &b) in chunk.iter().enumerate() {
            self.tail.push(b);
            if self.tail.len() > 4 {
                self.tail.remove(0);
            }
            let abs = self.total + i + 1;
            if self.first_line_end.is_none() && self.tail.ends_with(b"\r\n") {
                self.first_line_end = Some(abs);
            }
            if self.head_end.is_none() && self.tail == b"\r\n\r\n" {
                self.head_end = Some(abs);
            }
        }
    }
}

/// Absolute offset in `dir` at which the relay must reset, if known yet.
fn reset_point(at: ResetAt, dir: Direction, w: &Watch) -> Option<usize> {
    use Direction::*;
    use NetStage::*;
    match at {
        ResetAt::Bytes { dir: d, n } if d == dir => Some(n),
        ResetAt::Bytes { .. } => None,
        ResetAt::Stage(s) => match (s, dir) {
            (Connect, _) => Some(0),
            (MidRequestHead, ClientToServer) | (MidResponseHead, ServerToClient) => {
                w.first_line_end
            }
            (AfterRequestHead, ClientToServer) | (AfterResponseHead, ServerToClient) => w.head_end,
            (FirstClientData, ClientToServer) | (FirstServerData, ServerToClient) => {
                w.head_end.map(|e| e + 1)
            }
            _ => None,
        },
    }
}

fn hard_reset(a: &TcpStream, b: Option<&TcpStream>) {
    let _ = a.set_zero_linger();
    if let Some(b) = b {
        let _ = b.set_zero_linger();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, c: Condition, cs: &mut ConnStats) {
    if c.reset == Some(ResetAt::Stage(NetStage::Connect)) {
        hard_reset(&client, None);
        cs.reset = Some("at connect".into());
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        hard_reset(&client, None);
        cs.reset = Some("upstream unreachable".into());
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut wu, mut wd) = (Watch::default(), Watch::default());
    let mut ub = vec![0u8; 16384];
    let mut db = vec![0u8; 16384];
    let (mut up_open, mut down_open) = (true, true);
    while up_open || down_open {
        tokio::select! {
            r = client.read(&mut ub), if up_open => match r {
                Ok(0) | Err(_) => { up_open = false; let _ = server.shutdown().await; }
                Ok(n) => {
                    if let Some(at) = forward(&ub[..n], &mut server, &mut wu, Direction::ClientToServer, c, cs).await {
                        hard_reset(&client, Some(&server));
                        cs.reset = Some(at);
                        return;
                    }
                }
            },
            r = server.read(&mut db), if down_open => match r {
                Ok(0) | Err(_) => { down_open = false; let _ = client.shutdown().await; }
                Ok(n) => {
                    if let Some(at) = forward(&db[..n], &mut client, &mut wd, Direction::ServerToClient, c, cs).await {
                        hard_reset(&client, Some(&server));
                        cs.reset = Some(at);
                        return;
                    }
                }
            },
        }
    }
}

/// Relays `chunk` to `to` under the condition; `Some(description)` if the connection must now be reset.
async fn forward(
    chunk: &[u8],
    to: &mut TcpStream,
    w: &mut Watch,
    dir: Direction,
    c: Condition,
    cs: &mut ConnStats,
) -> Option<String> {
    let start = w.total;
    w.scan(chunk);
    let mut send = chunk.len();
    let mut reset = None;
    if let Some(at) = c.reset {
        if let Some(p) = reset_point(at, dir, w) {
            if p >= start && p <= start + chunk.len() {
                send = p - start;
                reset = Some(format!("{at:?} after {p} bytes {dir:?}"));
            }
        }
    }
    let data = &chunk[..send];
    let mut cuts: Vec<usize> = Vec::new();
    match c.segmenting {
        Segmenting::Whole => {}
        Segmenting::Every(k) => cuts.extend((k..data.len()).step_by(k.max(1))),
        Segmenting::At(p) if p > start && p < start + data.len() => cuts.push(p - start),
        Segmenting::At(_) => {}
    }
    cuts.push(data.len());
    let mut from = 0;
    for to_idx in cuts {
        if to_idx <= from {
            continue;
        }
        if !c.latency.is_zero() {
            tokio::time::sleep(c.latency).await;
        }
        if to.write_all(&data[from..to_idx]).await.is_err() || to.flush().await.is_err() {
            return Some("write failed".into());
        }
        match dir {
            Direction::ClientToServer => {
                cs.up_bytes += to_idx - from;
                cs.up_segments += 1;
            }
            Direction::ServerToClient => {
                cs.down_bytes += to_idx - from;
                cs.down_segments += 1;
            }
        }
        from = to_idx;
    }
    w.total = start + chunk.len();
    reset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::{start_echo, start_ws_server};
    use crate::strawman::ALL;
    use crate::subject::{Handshake, Subject, Target};

    async fn run_through(
        cond: Condition,
        s: usize,
    ) -> (crate::subject::ClientOutcome, Vec<ConnStats>) {
        let subject: Arc<dyn Subject> = Arc::new(ALL[s]);
        let server = start_ws_server(subject.clone()).await.unwrap();
        let relay = Relay::start(server.addr, cond).await.unwrap();
        let io = TcpStream::connect(relay.addr).await.unwrap();
        let out = subject
            .run_client(
                Box::new(io),
                &Target::new("attacker.example", "/ws"),
                b"payload",
            )
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        (out, relay.stats())
    }

    #[tokio::test]
    async fn one_byte_segments_deliver_everything() {
        let (out, stats) = run_through(Condition::every(1), 1).await;
        assert!(out.completed(), "{:?}", out.handshake);
        assert_eq!(out.raw_after, b"payload");
        drop(stats);
    }

    #[tokio::test]
    async fn segments_are_counted_and_latency_is_paid() {
        let echo = start_echo().await.unwrap();
        let cond = Condition {
            segmenting: Segmenting::Every(2),
            latency: Duration::from_millis(5),
            reset: None,
        };
        let relay = Relay::start(echo.addr, cond).await.unwrap();
        let mut s = TcpStream::connect(relay.addr).await.unwrap();
        let t0 = Instant::now();
        s.write_all(b"abcdef").await.unwrap();
        let mut got = vec![0u8; 6];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"abcdef");
        // 3 segments up and at least 3 down, 5 ms each
        assert!(t0.elapsed() >= Duration::from_millis(30));
        drop(s);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let st = relay.stats();
        assert_eq!(st[0].up_segments, 3);
        assert_eq!(st[0].up_bytes, 6);
    }

    #[tokio::test]
    async fn cut_at_every_boundary_of_the_request() {
        let len = ALL[0]
            .request(
                &Target::new("attacker.example", "/ws"),
                "AAAAAAAAAAAAAAAAAAAAAA==",
            )
            .len();
        for p in [1, len / 2, len - 1] {
            let (out, stats) = run_through(Condition::cut_at(p), 0).await;
            assert!(out.completed(), "cut at {p}: {:?}", out.handshake);
            assert!(stats[0].up_segments >= 2, "cut at {p}");
        }
    }

    #[tokio::test]
    async fn resets_at_named_stages() {
        for (stage, done) in [
            (NetStage::Connect, false),
            (NetStage::MidRequestHead, false),
            (NetStage::AfterRequestHead, false),
            (NetStage::MidResponseHead, false),
        ] {
            let (out, stats) = run_through(Condition::reset(ResetAt::Stage(stage)), 1).await;
            assert_eq!(out.completed(), done, "{stage:?}: {:?}", out.handshake);
            assert!(
                matches!(out.handshake, Handshake::Failed { .. }),
                "{stage:?}"
            );
            assert!(
                stats.first().and_then(|s| s.reset.clone()).is_some(),
                "{stage:?}"
            );
        }
        // after the response head the handshake is complete; the payload then dies with the connection
        let (out, _) = run_through(
            Condition::reset(ResetAt::Stage(NetStage::FirstClientData)),
            1,
        )
        .await;
        assert!(out.completed());
        assert!(out.raw_after.is_empty());
    }

    #[tokio::test]
    async fn reset_after_n_bytes() {
        let (out, stats) = run_through(
            Condition::reset(ResetAt::Bytes {
                dir: Direction::ClientToServer,
                n: 10,
            }),
            0,
        )
        .await;
        assert!(!out.completed());
        assert_eq!(stats[0].up_bytes, 10);
    }
}
