//! The one proxy engine: interprets any [`Behaviour`] row on real loopback sockets.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::behaviour::*;
use super::cache::{self, Cache, Entry};
use super::frames::FrameInspector;
use super::trace::*;
use super::{Intermediary, Routes};
use crate::http::{html_error, Conn, HeadError, Headers, RequestHead, ResponseHead, MAX_BODY};
use crate::util::{lock, BoxFuture, Tasks};

struct Shared {
    name: String,
    b: Behaviour,
    routes: Routes,
    trace: Mutex<Trace>,
    cache: Mutex<Cache>,
    next_conn: AtomicU64,
    start: Instant,
}

/// A built-in intermediary: one [`Behaviour`] row run by the engine. Every listener it opens (one per
/// intercepted destination) shares its trace and its cache. Dropping it stops all its tasks.
pub struct ModelProxy {
    shared: Arc<Shared>,
    tasks: Tasks,
}

impl ModelProxy {
    /// A proxy for a built-in model.
    pub fn new(model: &Model, routes: Routes) -> Self {
        Self::from_behaviour(model.name, model.behaviour, routes)
    }

    /// A proxy for any row.
    pub fn from_behaviour(name: &str, b: Behaviour, routes: Routes) -> Self {
        ModelProxy {
            shared: Arc::new(Shared {
                name: name.to_string(),
                b,
                routes,
                trace: Mutex::new(Trace::default()),
                cache: Mutex::new(Cache::default()),
                next_conn: AtomicU64::new(1),
                start: Instant::now(),
            }),
            tasks: Tasks::default(),
        }
    }

    /// The row this proxy runs.
    pub fn behaviour(&self) -> &Behaviour {
        &self.shared.b
    }

    /// Opens a listener on 127.0.0.1:0 whose connections count as addressed to `dst`.
    pub async fn listen(&self, dst: SocketAddr) -> io::Result<SocketAddr> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let sh = self.shared.clone();
        let tasks = self.tasks.clone();
        self.tasks.spawn(async move {
            while let Ok((s, peer)) = l.accept().await {
                let _ = s.set_nodelay(true);
                let id = sh.next_conn.fetch_add(1, Ordering::Relaxed);
                let session = Session {
                    rec: Recorder {
                        sh: sh.clone(),
                        id,
                        recorded: 0,
                    },
                    client: Conn::new(s),
                    upstream: None,
                    dst,
                };
                session.rec.event(EventKind::Accepted {
                    client: peer,
                    original_dst: dst,
                });
                tasks.spawn(session.run());
            }
        });
        Ok(addr)
    }

    /// Number of cache entries.
    pub fn cache_len(&self) -> usize {
        lock(&self.shared.cache).len()
    }
}

impl Drop for ModelProxy {
    fn drop(&mut self) {
        self.tasks.shutdown();
    }
}

impl Intermediary for ModelProxy {
    fn name(&self) -> &str {
        &self.shared.name
    }
    fn intercept<'a>(&'a self, dst: SocketAddr) -> BoxFuture<'a, io::Result<SocketAddr>> {
        Box::pin(self.listen(dst))
    }
    fn trace(&self) -> Trace {
        lock(&self.shared.trace).clone()
    }
}

struct Recorder {
    sh: Arc<Shared>,
    id: u64,
    recorded: usize,
}

impl Recorder {
    fn event(&self, kind: EventKind) {
        let at = self.sh.start.elapsed();
        lock(&self.sh.trace).events.push(Event {
            conn: self.id,
            at,
            kind,
        });
    }
    fn bytes(&mut self, dir: Dir, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let keep = bytes.len().min(MAX_RECORDED.saturating_sub(self.recorded));
        self.recorded += keep;
        self.event(EventKind::Bytes {
            dir,
            bytes: bytes[..keep].to_vec(),
            len: bytes.len(),
        });
    }
}

struct Upstream {
    addr: SocketAddr,
    conn: Conn<TcpStream>,
}

struct Session {
    rec: Recorder,
    client: Conn<TcpStream>,
    upstream: Option<Upstream>,
    dst: SocketAddr,
}

/// What an `Upgrade` request gets, after `upgrade_protocols` is applied.
fn upgrade_mode(b: &Behaviour, head: &RequestHead) -> Option<UpgradeHandling> {
    if !head.is_upgrade() {
        return None;
    }
    if let Some(allowed) = b.upgrade_protocols {
        let proto = head.header("upgrade").unwrap_or_default();
        let listed = proto.split(',').any(|p| {
            allowed
                .iter()
                .any(|a| p.trim().split('/').next() == Some(*a))
        });
        if !listed {
            return Some(UpgradeHandling::Strip);
        }
    }
    Some(b.upgrade)
}

fn recase(name: &str, case: HeaderCase) -> String {
    match case {
        HeaderCase::Preserve => name.to_string(),
        HeaderCase::Lower => name.to_ascii_lowercase(),
        HeaderCase::Title => {
            let mut up = true;
            name.chars()
                .map(|c| {
                    let r = if up {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    };
                    up = c == '-';
                    r
                })
                .collect()
        }
    }
}

/// Removes `Upgrade` and the `upgrade` token of `Connection` (and, for HTTP/1.0, every hop-by-hop field).
fn strip_fields(fields: &mut Vec<(String, Vec<u8>)>, http10: bool) {
    let mut named: Vec<String> = Vec::new();
    for (n, v) in fields.iter() {
        if n.eq_ignore_ascii_case("connection") {
            named.extend(
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase()),
            );
        }
    }
    fields.retain(|(n, _)| {
        let l = n.to_ascii_lowercase();
        if l == "upgrade" {
            return false;
        }
        if http10 {
            return !(matches!(
                l.as_str(),
                "connection" | "keep-alive" | "proxy-connection" | "te"
            ) || named.contains(&l));
        }
        true
    });
    if !http10 {
        for (n, v) in fields.iter_mut() {
            if n.eq_ignore_ascii_case("connection") {
                let kept: Vec<String> = String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.eq_ignore_ascii_case("upgrade") && !t.is_empty())
                    .collect();
                *v = kept.join(", ").into_bytes();
            }
        }
        fields.retain(|(n, v)| !(n.eq_ignore_ascii_case("connection") && v.is_empty()));
    }
}

fn serialise(first_line: &str, fields: &[(String, Vec<u8>)], case: HeaderCase) -> Vec<u8> {
    let mut out = first_line.as_bytes().to_vec();
    out.extend_from_slice(b"\r\n");
    for (n, v) in fields {
        out.extend_from_slice(recase(n, case).as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

impl Session {
    fn b(&self) -> Behaviour {
        self.rec.sh.b
    }

    async fn run(mut self) {
        let why = self.serve().await;
        self.rec.event(EventKind::Closed { why });
    }

    async fn send_client(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.rec.bytes(Dir::BackendToClient, bytes);
        self.client.send(bytes).await
    }

    async fn synthesize(&mut self, status: u16, reason: &str, why: &str) -> String {
        self.rec.event(EventKind::Synthesized {
            status,
            why: why.to_string(),
        });
        let page = html_error(status, reason, why);
        let _ = self.send_client(&page).await;
        format!("answered {status}: {why}")
    }

    fn route(&self, head: &RequestHead) -> Result<(SocketAddr, RouteReason), String> {
        match self.b().routing {
            Routing::ByDestination => Ok((self.dst, RouteReason::ByDestination)),
            Routing::ByHost => {
                let host = head.host().unwrap_or_default();
                match self.rec.sh.routes.lookup(&host) {
                    Some(a) => Ok((a, RouteReason::ByHost(host))),
                    None => Err(host),
                }
            }
            Routing::ByPathPrefix => {
                let path = head.path();
                match self.rec.sh.routes.lookup_path(&path) {
                    Some((prefix, a)) => Ok((a, RouteReason::ByPath(prefix))),
                    None => Err(path),
                }
            }
        }
    }

    /// Makes sure the upstream connection goes to `addr` (reusing a persistent one if it does).
    async fn connect(&mut self, addr: SocketAddr, why: RouteReason) -> io::Result<()> {
        self.rec.event(EventKind::Routed {
            backend: addr,
            name: self.rec.sh.routes.name_of(addr),
            why,
        });
        if self.upstream.as_ref().map(|u| u.addr) == Some(addr) {
            return Ok(());
        }
        let s = TcpStream::connect(addr).await?;
        let _ = s.set_nodelay(true);
        self.upstream = Some(Upstream {
            addr,
            conn: Conn::new(s),
        });
        Ok(())
    }

    async fn send_backend(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.rec.bytes(Dir::ClientToBackend, bytes);
        match self.upstream.as_mut() {
            Some(u) => u.conn.send(bytes).await,
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }

    async fn serve(&mut self) -> String {
        let b = self.b();
        loop {
            let head = match self.client.read_request_head(b.timeouts.client_idle).await {
                Ok(h) => h,
                Err(HeadError::Eof { partial }) if partial.is_empty() => {
                    return "client closed".into()
                }
                Err(HeadError::Eof { partial }) => {
                    self.rec.event(EventKind::Unparsable {
                        bytes: partial,
                        why: "closed mid-head".into(),
                    });
                    return "client closed mid-head".into();
                }
                Err(HeadError::Malformed { bytes, why }) if b.lenient_parsing => {
                    match self.resync(bytes, &why).await {
                        Ok(()) => continue,
                        Err(end) => return end,
                    }
                }
                Err(HeadError::Malformed { bytes, why }) => {
                    self.rec.event(EventKind::Unparsable {
                        bytes: bytes[..bytes.len().min(4096)].to_vec(),
                        why: why.clone(),
                    });
                    return self
                        .synthesize(400, "Bad Request", &format!("not HTTP: {why}"))
                        .await;
                }
                Err(HeadError::Timeout) => {
                    if !self.client.buf.is_empty() {
                        let bytes = std::mem::take(&mut self.client.buf);
                        self.rec.event(EventKind::Unparsable {
                            bytes,
                            why: "incomplete head at idle timeout".into(),
                        });
                    }
                    return "client idle timeout".into();
                }
                Err(e) => return format!("client: {e}"),
            };
            self.rec.event(EventKind::Request {
                raw: head.raw.clone(),
                method: head.method.clone(),
                target: head.target.clone(),
                host: head.host(),
            });

            let is_connect = head.method.eq_ignore_ascii_case("CONNECT");
            if is_connect {
                match b.connect {
                    ConnectHandling::Refuse => {
                        return self
                            .synthesize(405, "Method Not Allowed", "CONNECT refused")
                            .await
                    }
                    ConnectHandling::TunnelToAuthority => {
                        let host = crate::http::strip_port(&head.target).to_ascii_lowercase();
                        let Some(addr) = self.rec.sh.routes.lookup(&host) else {
                            self.rec
                                .event(EventKind::RouteFailed { host: host.clone() });
                            return self
                                .synthesize(502, "Bad Gateway", &format!("cannot resolve {host}"))
                                .await;
                        };
                        if let Err(e) = self
                            .connect(addr, RouteReason::ConnectAuthority(host))
                            .await
                        {
                            return self
                                .synthesize(502, "Bad Gateway", &format!("connect: {e}"))
                                .await;
                        }
                        self.rec.event(EventKind::Synthesized {
                            status: 200,
                            why: "CONNECT tunnel established".into(),
                        });
                        if self
                            .send_client(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .await
                            .is_err()
                        {
                            return "client write failed".into();
                        }
                        self.rec.event(EventKind::Tunnel {
                            why: TunnelReason::Connect,
                        });
                        return self.tunnel(false).await;
                    }
                    ConnectHandling::TunnelToDestination => {
                        if let Err(e) = self.connect(self.dst, RouteReason::ByDestination).await {
                            return self
                                .synthesize(502, "Bad Gateway", &format!("connect: {e}"))
                                .await;
                        }
                        if self.send_backend(&head.raw).await.is_err() {
                            return "backend write failed".into();
                        }
                        self.rec.event(EventKind::Tunnel {
                            why: TunnelReason::Connect,
                        });
                        return self.tunnel(false).await;
                    }
                    ConnectHandling::PassThroughThenParse => {}
                }
            }

            let mode = upgrade_mode(&b, &head);
            let is_get = head.method.eq_ignore_ascii_case("GET");
            let cache_key = match (b.cache, head.host()) {
                (Caching::ByHostPath, Some(h)) if is_get => Some(cache::key(&h, &head.path())),
                _ => None,
            };
            if let Some(k) = &cache_key {
                let hit = lock(&self.rec.sh.cache).get(k, SystemTime::now()).cloned();
                if let Some(e) = hit {
                    self.rec.event(EventKind::CacheHit { key: k.clone() });
                    let mut out = e.head.clone();
                    out.extend_from_slice(&e.body);
                    if self.send_client(&out).await.is_err() {
                        return "client write failed".into();
                    }
                    if b.http10 {
                        return "HTTP/1.0: one request per connection".into();
                    }
                    if head.has_token("connection", "close") {
                        return "Connection: close".into();
                    }
                    continue;
                }
            }

            let (addr, why) = match self.route(&head) {
                Ok(r) => r,
                Err(host) => {
                    self.rec
                        .event(EventKind::RouteFailed { host: host.clone() });
                    return self
                        .synthesize(502, "Bad Gateway", &format!("no route for {host:?}"))
                        .await;
                }
            };
            if let Err(e) = self.connect(addr, why).await {
                return self
                    .synthesize(502, "Bad Gateway", &format!("connect: {e}"))
                    .await;
            }

            let strip = matches!(mode, Some(UpgradeHandling::Strip)) || b.http10;
            let out = if strip || b.header_case != HeaderCase::Preserve {
                let mut fields = head.headers.clone();
                if strip {
                    strip_fields(&mut fields, b.http10);
                }
                let version = if b.http10 { 0 } else { head.version };
                serialise(
                    &format!("{} {} HTTP/1.{}", head.method, head.target, version),
                    &fields,
                    b.header_case,
                )
            } else {
                head.raw.clone()
            };
            if self.send_backend(&out).await.is_err() {
                return self
                    .synthesize(502, "Bad Gateway", "backend write failed")
                    .await;
            }

            // request body
            let limit = b.timeouts.client_idle;
            let has_body = head.content_length().is_some_and(|n| n > 0) || head.is_chunked();
            if let Some(n) = head.content_length().filter(|n| *n > 0) {
                match self.client.take_exact(n as usize, limit).await {
                    Ok(body) => {
                        if self.send_backend(&body).await.is_err() {
                            return "backend write failed".into();
                        }
                    }
                    Err(e) => return format!("client body: {e}"),
                }
            } else if head.is_chunked() {
                match self.client.take_chunked(MAX_BODY, limit).await {
                    Ok(body) => {
                        if self.send_backend(&body).await.is_err() {
                            return "backend write failed".into();
                        }
                    }
                    Err(e) => return format!("client body: {e}"),
                }
            }

            // response head (with the row's early-data handling for honoured upgrades)
            let early = if mode == Some(UpgradeHandling::Tunnel) && !has_body {
                Some(b.early_data)
            } else {
                None
            };
            let (resp, held) = match self.await_response(early).await {
                Ok(r) => r,
                Err(HeadError::Timeout) => {
                    return self
                        .synthesize(504, "Gateway Timeout", "no response from backend")
                        .await
                }
                Err(HeadError::Malformed { bytes, why }) => {
                    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).to_string();
                    return self
                        .synthesize(
                            502,
                            "Bad Gateway",
                            &format!("backend answer is not HTTP ({why}): {shown:?}"),
                        )
                        .await;
                }
                Err(e) => {
                    return self
                        .synthesize(502, "Bad Gateway", &format!("backend: {e}"))
                        .await
                }
            };
            self.rec.event(EventKind::Response {
                raw: resp.raw.clone(),
                status: resp.status,
            });
            let resp_out = if b.header_case != HeaderCase::Preserve {
                let first = format!("HTTP/1.{} {} {}", resp.version, resp.status, resp.reason);
                serialise(&first, &resp.headers, b.header_case)
            } else {
                resp.raw.clone()
            };

            let honoured = mode == Some(UpgradeHandling::Tunnel);
            if honoured && (resp.status == 101 || b.tunnel_after_any_response) {
                if self.send_client(&resp_out).await.is_err() {
                    return "client write failed".into();
                }
                if !held.is_empty() && self.send_backend(&held).await.is_err() {
                    return "backend write failed".into();
                }
                let why = if resp.status == 101 {
                    TunnelReason::Upgrade101
                } else {
                    TunnelReason::AfterAnyResponse(resp.status)
                };
                self.rec.event(EventKind::Tunnel { why });
                return self
                    .tunnel(b.inspect_frames == FrameInspection::Rfc6455)
                    .await;
            }
            if !held.is_empty() {
                // held bytes were never part of the exchange: they are what comes next from the client
                let mut v = held;
                v.append(&mut self.client.buf);
                self.client.buf = v;
            }

            // ordinary response (a 101 under Ignore/Strip counts as one more body-less response)
            let bodiless = head.method.eq_ignore_ascii_case("HEAD")
                || (100..200).contains(&resp.status)
                || resp.status == 204
                || resp.status == 304
                || (is_connect && (200..300).contains(&resp.status));
            if !bodiless && !resp.is_chunked() && resp.content_length().is_none() {
                return self.stream_until_close(resp_out, cache_key, &resp).await;
            }
            let up = self.upstream.as_mut().expect("connected");
            let backend_limit = b.timeouts.backend_response;
            let body: Result<Vec<u8>, io::Error> = if bodiless {
                Ok(Vec::new())
            } else if resp.is_chunked() {
                up.conn.take_chunked(MAX_BODY, backend_limit).await
            } else {
                let n = resp.content_length().unwrap_or(0);
                if n as usize > MAX_BODY {
                    Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"))
                } else {
                    up.conn.take_exact(n as usize, backend_limit).await
                }
            };
            let body = match body {
                Ok(v) => v,
                Err(e) => return format!("backend body: {e}"),
            };
            if let Some(k) = cache_key {
                let from = up.addr;
                self.store(k, &resp, &resp_out, &body, from);
            }
            let mut out = resp_out;
            out.extend_from_slice(&body);
            if self.send_client(&out).await.is_err() {
                return "client write failed".into();
            }
            if b.http10 {
                return "HTTP/1.0: one request per connection".into();
            }
            if head.has_token("connection", "close") || resp.has_token("connection", "close") {
                return "Connection: close".into();
            }
        }
    }

    /// Lenient parsing: skips `bytes` through the end of their first line (reading more until that line ends)
    /// and leaves the rest to be parsed again. `Err` ends the session.
    async fn resync(&mut self, mut bytes: Vec<u8>, why: &str) -> Result<(), String> {
        let limit = self.b().timeouts.client_idle;
        let mut tmp = vec![0u8; 8192];
        loop {
            if let Some(i) = crate::http::find(&bytes, b"\r\n") {
                self.rec.event(EventKind::Unparsable {
                    bytes: bytes[..i + 2].to_vec(),
                    why: format!("skipped (lenient parsing): {why}"),
                });
                let mut rest = bytes.split_off(i + 2);
                rest.append(&mut self.client.buf);
                self.client.buf = rest;
                return Ok(());
            }
            if bytes.len() >= crate::http::MAX_HEAD {
                self.rec.event(EventKind::Unparsable {
                    bytes: bytes[..4096].to_vec(),
                    why: why.to_string(),
                });
                return Err(self
                    .synthesize(400, "Bad Request", &format!("not HTTP: {why}"))
                    .await);
            }
            match tokio::time::timeout(limit, self.client.io.read(&mut tmp)).await {
                Ok(Ok(n)) if n > 0 => bytes.extend_from_slice(&tmp[..n]),
                _ => {
                    self.rec.event(EventKind::Unparsable {
                        bytes,
                        why: why.to_string(),
                    });
                    return Err("client closed or idle inside an unparsable line".into());
                }
            }
        }
    }

    /// Stores a cacheable response under `key`.
    fn store(&self, key: String, resp: &ResponseHead, head: &[u8], body: &[u8], from: SocketAddr) {
        if let Some(life) = cache::lifetime(resp, SystemTime::now()) {
            self.rec.event(EventKind::CacheStore {
                key: key.clone(),
                from,
                body_len: body.len(),
            });
            lock(&self.rec.sh.cache).put(
                key,
                Entry {
                    head: head.to_vec(),
                    body: body.to_vec(),
                    fresh_until: SystemTime::now() + life,
                },
            );
        }
    }

    /// A response delimited by the backend closing: the head goes to the client at once and the body as it
    /// arrives (as real proxies stream an unbounded body); the client's further bytes are not read meanwhile
    /// (no next request before this response has ended), and the client connection ends with it.
    async fn stream_until_close(
        &mut self,
        head: Vec<u8>,
        cache_key: Option<String>,
        resp: &ResponseHead,
    ) -> String {
        if self.send_client(&head).await.is_err() {
            return "client write failed".into();
        }
        let Some(mut up) = self.upstream.take() else {
            return "no upstream".into();
        };
        let idle = self.b().timeouts.tunnel_idle;
        let mut body = std::mem::take(&mut up.conn.buf);
        if !body.is_empty() && self.send_client(&body).await.is_err() {
            return "client write failed".into();
        }
        let mut buf = vec![0u8; 16384];
        let why = loop {
            match tokio::time::timeout(idle, up.conn.io.read(&mut buf)).await {
                Err(_) => break "response body idle timeout",
                Ok(Ok(0)) | Ok(Err(_)) => break "response delimited by close",
                Ok(Ok(n)) => {
                    if self.send_client(&buf[..n]).await.is_err() {
                        break "client write failed";
                    }
                    if body.len() + n <= MAX_BODY {
                        body.extend_from_slice(&buf[..n]);
                    }
                }
            }
        };
        if let Some(k) = cache_key {
            if why == "response delimited by close" {
                self.store(k, resp, &head, &body, up.addr);
            }
        }
        why.into()
    }

    /// Reads the backend's response head. With `early = Some(..)`, client bytes that arrive meanwhile are
    /// forwarded, held (returned) or dropped as the row says.
    async fn await_response(
        &mut self,
        early: Option<EarlyData>,
    ) -> Result<(ResponseHead, Vec<u8>), HeadError> {
        let limit = self.b().timeouts.backend_response;
        let Some(mode) = early else {
            let up = self.upstream.as_mut().expect("connected");
            return up
                .conn
                .read_response_head(limit)
                .await
                .map(|r| (r, Vec::new()));
        };
        let mut held = Vec::new();
        let pending = std::mem::take(&mut self.client.buf);
        self.early(mode, pending, &mut held).await?;
        let deadline = tokio::time::Instant::now() + limit;
        let mut client_open = true;
        let mut cbuf = vec![0u8; 8192];
        loop {
            let up = self.upstream.as_mut().expect("connected");
            if !up.conn.buf.is_empty() {
                match ResponseHead::parse(&up.conn.buf) {
                    Ok(Some((h, n))) => {
                        up.conn.buf.drain(..n);
                        return Ok((h, held));
                    }
                    Ok(None) => {}
                    Err(why) => {
                        return Err(HeadError::Malformed {
                            bytes: std::mem::take(&mut up.conn.buf),
                            why,
                        })
                    }
                }
                if up.conn.buf.len() >= crate::http::MAX_HEAD {
                    return Err(HeadError::TooLarge);
                }
            }
            let client = &mut self.client.io;
            tokio::select! {
                r = up.conn.fill() => match r {
                    Ok(0) => return Err(HeadError::Eof { partial: std::mem::take(&mut up.conn.buf) }),
                    Ok(_) => {}
                    Err(e) => return Err(HeadError::Io(e)),
                },
                r = client.read(&mut cbuf), if client_open => match r {
                    Ok(0) | Err(_) => client_open = false,
                    Ok(n) => {
                        let bytes = cbuf[..n].to_vec();
                        self.early(mode, bytes, &mut held).await?;
                    }
                },
                _ = tokio::time::sleep_until(deadline) => return Err(HeadError::Timeout),
            }
        }
    }

    async fn early(
        &mut self,
        mode: EarlyData,
        bytes: Vec<u8>,
        held: &mut Vec<u8>,
    ) -> Result<(), HeadError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match mode {
            EarlyData::Forward => self.send_backend(&bytes).await.map_err(HeadError::Io),
            EarlyData::HoldUntil101 => {
                self.rec.event(EventKind::HeldEarly { len: bytes.len() });
                held.extend_from_slice(&bytes);
                Ok(())
            }
            EarlyData::Drop => {
                self.rec.event(EventKind::DroppedEarly { len: bytes.len() });
                Ok(())
            }
        }
    }

    /// Relays bytes both ways until both sides close, the tunnel idles out, or inspection fails.
    async fn tunnel(&mut self, inspect: bool) -> String {
        let idle = self.b().timeouts.tunnel_idle;
        let mut inspector = inspect.then(FrameInspector::default);
        let Some(mut up) = self.upstream.take() else {
            return "no upstream".into();
        };
        let from_up = std::mem::take(&mut up.conn.buf);
        if !from_up.is_empty() {
            self.rec.bytes(Dir::BackendToClient, &from_up);
            if self.client.send(&from_up).await.is_err() {
                return "client write failed".into();
            }
        }
        let from_client = std::mem::take(&mut self.client.buf);
        if !from_client.is_empty() {
            if let Some(why) = inspector.as_mut().and_then(|i| i.feed(&from_client).err()) {
                return self.reset(&up, why);
            }
            self.rec.bytes(Dir::ClientToBackend, &from_client);
            if up.conn.send(&from_client).await.is_err() {
                return "backend write failed".into();
            }
        }
        let mut cbuf = vec![0u8; 16384];
        let mut ubuf = vec![0u8; 16384];
        let (mut client_open, mut up_open) = (true, true);
        loop {
            if !client_open && !up_open {
                return "tunnel closed by both sides".into();
            }
            tokio::select! {
                r = self.client.io.read(&mut cbuf), if client_open => match r {
                    Ok(0) | Err(_) => {
                        client_open = false;
                        let _ = up.conn.io.shutdown().await;
                    }
                    Ok(n) => {
                        if let Some(why) = inspector.as_mut().and_then(|i| i.feed(&cbuf[..n]).err()) {
                            return self.reset(&up, why);
                        }
                        self.rec.bytes(Dir::ClientToBackend, &cbuf[..n]);
                        if up.conn.io.write_all(&cbuf[..n]).await.is_err() {
                            return "backend write failed".into();
                        }
                    }
                },
                r = up.conn.io.read(&mut ubuf), if up_open => match r {
                    Ok(0) | Err(_) => {
                        up_open = false;
                        let _ = self.client.io.shutdown().await;
                    }
                    Ok(n) => {
                        self.rec.bytes(Dir::BackendToClient, &ubuf[..n]);
                        if self.client.io.write_all(&ubuf[..n]).await.is_err() {
                            return "client write failed".into();
                        }
                    }
                },
                _ = tokio::time::sleep(idle) => return "tunnel idle timeout".into(),
            }
        }
    }

    fn reset(&mut self, up: &Upstream, why: String) -> String {
        self.rec
            .event(EventKind::FrameViolation { why: why.clone() });
        let _ = self.client.io.set_zero_linger();
        let _ = up.conn.io.set_zero_linger();
        format!("reset after frame violation: {why}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(raw: &str) -> Vec<(String, Vec<u8>)> {
        RequestHead::parse(raw.as_bytes())
            .unwrap()
            .unwrap()
            .0
            .headers
    }

    #[test]
    fn strips_upgrade_and_hop_by_hop() {
        let raw = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade, X-Hop\r\nX-Hop: 1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n";
        let mut f = fields(raw);
        strip_fields(&mut f, false);
        let names: Vec<_> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Host", "Connection", "X-Hop", "Sec-WebSocket-Key"]);
        assert_eq!(f[1].1, b"keep-alive, X-Hop");
        let mut f = fields(raw);
        strip_fields(&mut f, true);
        let names: Vec<_> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Host", "Sec-WebSocket-Key"]);
    }

    #[test]
    fn recases_names() {
        assert_eq!(
            recase("sec-WEBSOCKET-key", HeaderCase::Title),
            "Sec-Websocket-Key"
        );
        assert_eq!(
            recase("Sec-WebSocket-Key", HeaderCase::Lower),
            "sec-websocket-key"
        );
    }
}
