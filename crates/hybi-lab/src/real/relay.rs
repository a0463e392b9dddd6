//! The lab's side of a real intermediary: byte-exact relays that record what passed.
//!
//! * **Site listeners** (inside the namespace, `<site ip>:80`): where the product's upstream connections land.
//!   Each is relayed to the lab server that the current scene maps that site to; the relay records a `Routed`
//!   event (the product chose that site), the bytes both ways and the first response head.
//! * **Client side** (on the host, `127.0.0.1:<ephemeral>`, one listener per intercepted destination): what
//!   [`crate::intermediary::Intermediary::intercept`] returns. Each connection is relayed into the namespace to
//!   the product's entry point, through the access shim (absolute-form rewrite or CONNECT preamble for forward
//!   proxies; nothing for reverse and intercepting ones).
//!
//! Relays copy bytes as they arrive, pass half-closes on (`shutdown(Write)`) and turn a reset on one side into
//! a reset on the other.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{find, RequestHead, ResponseHead};
use crate::intermediary::{Dir, Event, EventKind, RouteReason, MAX_RECORDED};
use crate::util::lock;

use super::products::ip_name;

/// Longest a relayed connection may stay idle before the lab drops it.
pub const RELAY_IDLE: Duration = Duration::from_secs(60);

/// Event log of one scene.
pub struct Recorder {
    start: Instant,
    events: Mutex<Vec<Event>>,
    next: AtomicU64,
    last: Mutex<Instant>,
}

impl Recorder {
    /// A new, empty recorder.
    pub fn new() -> Self {
        Recorder {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
            next: AtomicU64::new(1),
            last: Mutex::new(Instant::now()),
        }
    }
    /// A fresh connection number.
    pub fn conn(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
    /// Records an event.
    pub fn push(&self, conn: u64, kind: EventKind) {
        let at = self.start.elapsed();
        *lock(&self.last) = Instant::now();
        lock(&self.events).push(Event { conn, at, kind });
    }
    /// Everything recorded so far.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }
    /// When the last event was recorded.
    pub fn last_activity(&self) -> Instant {
        *lock(&self.last)
    }
    /// Time since the scene started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// What one scene maps the namespace's sites to.
pub struct Scene {
    /// Its events.
    pub rec: Arc<Recorder>,
    /// Site address in the namespace → lab server on the host.
    pub sites: Mutex<HashMap<Ipv4Addr, SocketAddr>>,
    /// Lab names of the lab servers (for `Routed.name`).
    pub names: HashMap<SocketAddr, String>,
}

/// The scene the site listeners currently serve (none between scenes).
#[derive(Default)]
pub struct Current(pub Mutex<Option<Arc<Scene>>>);

impl Current {
    fn get(&self) -> Option<Arc<Scene>> {
        lock(&self.0).clone()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Eof,
    Reset,
    Idle,
}

/// Copies `r` → `w`, recording chunks as `dir` on `conn`; `watch` sees every chunk (for heads).
async fn copy_dir(
    r: &mut tokio::net::tcp::OwnedReadHalf,
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    rec: &Recorder,
    conn: u64,
    dir: Dir,
    mut watch: impl FnMut(&[u8]),
) -> End {
    let mut buf = vec![0u8; 16 * 1024];
    let mut recorded = 0usize;
    loop {
        let n = match tokio::time::timeout(RELAY_IDLE, r.read(&mut buf)).await {
            Err(_) => return End::Idle,
            Ok(Ok(0)) => {
                let _ = w.shutdown().await;
                return End::Eof;
            }
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return End::Reset,
        };
        let chunk = &buf[..n];
        let keep = chunk.len().min(MAX_RECORDED.saturating_sub(recorded));
        recorded += keep;
        rec.push(
            conn,
            EventKind::Bytes {
                dir,
                bytes: chunk[..keep].to_vec(),
                len: n,
            },
        );
        watch(chunk);
        if w.write_all(chunk).await.is_err() {
            return End::Reset;
        }
    }
}

/// Relays `client` ↔ `server` (already connected), recording on `conn`. `client_dir` is the direction of bytes
/// read from `client`. `first_client` is written to `server` first (bytes a shim already read).
pub async fn relay(
    client: TcpStream,
    server: TcpStream,
    rec: Arc<Recorder>,
    conn: u64,
    client_dir: Dir,
    watch_server_head: bool,
) {
    let other = match client_dir {
        Dir::ClientToBackend => Dir::BackendToClient,
        Dir::BackendToClient => Dir::ClientToBackend,
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let rec2 = rec.clone();
    let mut head = Vec::new();
    let mut head_done = !watch_server_head;
    let (u, d) = {
        let up = copy_dir(&mut cr, &mut sw, &rec, conn, client_dir, |_| {});
        let down = copy_dir(&mut sr, &mut cw, &rec2, conn, other, |chunk| {
            if head_done {
                return;
            }
            head.extend_from_slice(chunk);
            match ResponseHead::parse(&head) {
                Ok(Some((h, _))) => {
                    rec2.push(
                        conn,
                        EventKind::Response {
                            raw: h.raw.clone(),
                            status: h.status,
                        },
                    );
                    head_done = true;
                }
                Ok(None) if head.len() < crate::http::MAX_HEAD => {}
                _ => head_done = true,
            }
        });
        tokio::pin!(up, down);
        let (mut u, mut d) = (None, None);
        while u.is_none() || d.is_none() {
            tokio::select! {
                r = &mut up, if u.is_none() => { u = Some(r); if r != End::Eof { break; } }
                r = &mut down, if d.is_none() => { d = Some(r); if r != End::Eof { break; } }
            }
        }
        (u, d)
    };
    let reset = u == Some(End::Reset) || d == Some(End::Reset);
    if reset {
        #[allow(deprecated)]
        {
            let _ = cw.as_ref().set_linger(Some(Duration::ZERO));
            let _ = sw.as_ref().set_linger(Some(Duration::ZERO));
        }
    }
    let why = match (u, d) {
        (Some(End::Eof), Some(End::Eof)) => "both sides closed".to_string(),
        (u, d) => format!("ended: client side {u:?}, server side {d:?}"),
    };
    rec.push(conn, EventKind::Closed { why });
}

/// Serves one site listener inside the namespace: each connection the product opens to `site` goes to the
/// lab server the current scene maps `site` to.
pub async fn serve_site(listener: tokio::net::TcpListener, site: Ipv4Addr, current: Arc<Current>) {
    while let Ok((s, _peer)) = listener.accept().await {
        let current = current.clone();
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let Some(scene) = current.get() else {
                return;
            };
            let rec = scene.rec.clone();
            let conn = rec.conn();
            let backend = lock(&scene.sites).get(&site).copied();
            let Some(backend) = backend else {
                rec.push(
                    conn,
                    EventKind::RouteFailed {
                        host: ip_name(site).map_or(site.to_string(), str::to_string),
                    },
                );
                return;
            };
            let why = match ip_name(site) {
                Some(n) => RouteReason::ByHost(n.to_string()),
                None => RouteReason::ByDestination,
            };
            rec.push(
                conn,
                EventKind::Routed {
                    backend,
                    name: scene.names.get(&backend).cloned(),
                    why,
                },
            );
            match TcpStream::connect(backend).await {
                Ok(up) => {
                    let _ = up.set_nodelay(true);
                    relay(s, up, rec, conn, Dir::ClientToBackend, true).await;
                }
                Err(e) => rec.push(
                    conn,
                    EventKind::Closed {
                        why: format!("lab server {backend} unreachable: {e}"),
                    },
                ),
            }
        });
    }
}

/// How the client side reaches the product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shim {
    /// Bytes go as they are (reverse proxies, interception).
    None,
    /// Explicit proxy, the client's handshake request in absolute-form: an origin-form request-target of the
    /// first request becomes `http://<Host><target>`; everything else (CONNECT handshakes included) is as sent.
    AbsoluteForm {
        /// Authority to use when the request has no `Host`.
        fallback_host: String,
    },
    /// Explicit proxy used the way browsers use it for `ws://`: `CONNECT <authority>` first, the handshake
    /// inside the tunnel.
    Connect {
        /// `name:80`.
        authority: String,
    },
}

/// Rewrites the first request head in `buf` (if complete and origin-form) to absolute-form.
pub fn absolute_form(buf: &[u8], fallback_host: &str) -> Option<Vec<u8>> {
    let end = find(buf, b"\r\n\r\n")? + 4;
    let (head, _) = RequestHead::parse(&buf[..end]).ok()??;
    if head.method.eq_ignore_ascii_case("CONNECT") || !head.target.starts_with('/') {
        return None;
    }
    let host = crate::http::Headers::header(&head, "host")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| fallback_host.to_string());
    let line_end = find(buf, b"\r\n")?;
    let line = &buf[..line_end];
    let sp = line.iter().position(|&b| b == b' ')?;
    let tstart = sp + 1;
    let tend = tstart + head.target.len();
    let mut out = Vec::with_capacity(buf.len() + host.len() + 8);
    out.extend_from_slice(&buf[..tstart]);
    out.extend_from_slice(format!("http://{host}").as_bytes());
    out.extend_from_slice(&buf[tstart..tend]);
    out.extend_from_slice(&buf[tend..]);
    Some(out)
}

/// One client-side connection: connect to the product's entry (via `connect`), apply the shim, relay.
pub async fn client_conn<F, Fut>(
    mut client: TcpStream,
    peer: SocketAddr,
    dst: SocketAddr,
    shim: Shim,
    rec: Arc<Recorder>,
    connect: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = io::Result<TcpStream>>,
{
    let conn = rec.conn();
    rec.push(
        conn,
        EventKind::Accepted {
            client: peer,
            original_dst: dst,
        },
    );
    let mut proxy = match connect().await {
        Ok(p) => p,
        Err(e) => {
            rec.push(
                conn,
                EventKind::Closed {
                    why: format!("the product's entry refused: {e}"),
                },
            );
            return;
        }
    };
    match shim {
        Shim::None => {}
        Shim::AbsoluteForm { fallback_host } => {
            // read the first head (bounded), rewrite it, pass it on with whatever followed it
            let mut buf = Vec::new();
            let mut tmp = vec![0u8; 16 * 1024];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while find(&buf, b"\r\n\r\n").is_none() && buf.len() < crate::http::MAX_HEAD * 4 {
                match tokio::time::timeout_at(deadline, client.read(&mut tmp)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&tmp[..n]),
                    _ => break,
                }
            }
            if !buf.is_empty() {
                rec.push(
                    conn,
                    EventKind::Bytes {
                        dir: Dir::ClientToBackend,
                        bytes: buf.clone(),
                        len: buf.len(),
                    },
                );
                let out = absolute_form(&buf, &fallback_host).unwrap_or(buf);
                if proxy.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
        Shim::Connect { authority } => {
            let req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
            if proxy.write_all(req.as_bytes()).await.is_err() {
                return;
            }
            let mut buf = Vec::new();
            let mut tmp = vec![0u8; 4096];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            let head = loop {
                match ResponseHead::parse(&buf) {
                    Ok(Some((h, n))) => break Some((h, n)),
                    Err(_) => break None,
                    Ok(None) => {}
                }
                match tokio::time::timeout_at(deadline, proxy.read(&mut tmp)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&tmp[..n]),
                    _ => break None,
                }
            };
            match head {
                Some((h, n)) if (200..300).contains(&h.status) => {
                    rec.push(
                        conn,
                        EventKind::Synthesized {
                            status: h.status,
                            why: format!("answer to CONNECT {authority} (tunnel)"),
                        },
                    );
                    rec.push(
                        conn,
                        EventKind::Tunnel {
                            why: crate::intermediary::TunnelReason::Connect,
                        },
                    );
                    if n < buf.len() && client.write_all(&buf[n..]).await.is_err() {
                        return;
                    }
                }
                other => {
                    // the client sees the proxy's refusal as the answer to its handshake
                    rec.push(
                        conn,
                        EventKind::Synthesized {
                            status: other.as_ref().map_or(0, |(h, _)| h.status),
                            why: format!("answer to CONNECT {authority} (no tunnel)"),
                        },
                    );
                    if !buf.is_empty() {
                        rec.push(
                            conn,
                            EventKind::Bytes {
                                dir: Dir::BackendToClient,
                                bytes: buf.clone(),
                                len: buf.len(),
                            },
                        );
                        let _ = client.write_all(&buf).await;
                    }
                }
            }
        }
    }
    relay(client, proxy, rec, conn, Dir::ClientToBackend, false).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form_rewrites_only_the_first_request_target() {
        let req = b"GET /ws?x=1 HTTP/1.1\r\nHost: attacker.example\r\nUpgrade: websocket\r\n\r\nKEY3bytes";
        let out = absolute_form(req, "fallback").unwrap();
        assert_eq!(
            out,
            b"GET http://attacker.example/ws?x=1 HTTP/1.1\r\nHost: attacker.example\r\nUpgrade: websocket\r\n\r\nKEY3bytes"
        );
        let no_host = b"GET / HTTP/1.0\r\n\r\n";
        assert_eq!(
            absolute_form(no_host, "127.2.0.1").unwrap(),
            b"GET http://127.2.0.1/ HTTP/1.0\r\n\r\n"
        );
        assert!(absolute_form(b"CONNECT websocket.invalid:443 HTTP/1.1\r\n\r\n", "x").is_none());
        assert!(absolute_form(b"GET http://a/ HTTP/1.1\r\n\r\n", "x").is_none());
        assert!(absolute_form(b"GET / HTTP/1.1\r\nHost: a", "x").is_none());
    }
}
