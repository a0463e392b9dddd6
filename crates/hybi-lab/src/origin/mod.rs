//! The lab's servers, all on 127.0.0.1:0, each recording everything it received (so a report can say which
//! bytes reached which backend):
//!
//! * [`start_http`] with [`Role::Target`] (the honest `target.example`), [`Role::Attacker`] (the attacker's web
//!   server: another body for the same paths, cacheable for a year) or [`Role::Refuser`] (answers every request
//!   with one status, e.g. `426`, and keeps the connection: the backend of the smuggling attack);
//! * [`start_attacker_site`]: the attacker's multiplexing server (Huang et al. §IV-A-3: "forwards requests to
//!   either a standard Apache server or the WebSocket server depending on the request headers"): handshakes go
//!   to a [`crate::subject::Subject`] server; what arrives after a handshake is answered as HTTP when it parses
//!   as HTTP (the attacker owns this server and answers forged requests with its script);
//! * [`start_ws_server`]: an honest handshake server that echoes messages;
//! * non-WebSocket servers for the cross-protocol check: [`start_reflector`] (HTTP `200` with the request head
//!   as body, or the head echoed verbatim as raw bytes), [`start_echo`] (raw TCP echo), [`start_line_server`]
//!   (SMTP-like: `220` banner, `250`/`500` per line).

mod site;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use site::{start_attacker_site, start_ws_server};

use crate::http::{find, response, Conn, HeadError, Headers, RequestHead};
use crate::util::{http_date, lock, Tasks};

/// How long servers wait on an idle connection.
pub const SERVER_IDLE: Duration = Duration::from_secs(10);

/// What a server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP request head (`on_upgraded`: it arrived on a connection after a completed handshake).
    Request {
        /// The head.
        head: RequestHead,
        /// Whether it came after a handshake on the same connection.
        on_upgraded: bool,
    },
    /// A handshake attempt and its result at the server.
    Handshake {
        /// Bytes of the handshake request as received.
        request: Vec<u8>,
        /// `open`, `refused <status>: ...` or `failed: ...`.
        result: String,
    },
    /// Raw bytes that were not parsed as HTTP.
    Bytes(Vec<u8>),
    /// One line (line server).
    Line(Vec<u8>),
    /// A message received and echoed on an open WebSocket connection.
    Message(Vec<u8>),
    /// How the connection ended at the server.
    End(String),
}

impl Kind {
    /// The bytes this record is about.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Kind::Request { head, .. } => &head.raw,
            Kind::Handshake { request, .. } => request,
            Kind::Bytes(b) | Kind::Line(b) | Kind::Message(b) => b,
            Kind::End(s) => s.as_bytes(),
        }
    }
}

/// One record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Connection number (per server, from 1).
    pub conn: u64,
    /// Peer address (a proxy's, when one is in between).
    pub peer: SocketAddr,
    /// Time since the server started.
    pub at: Duration,
    /// What.
    pub kind: Kind,
}

#[derive(Default)]
struct LogInner {
    items: Vec<Received>,
}

/// A server's shared log.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Mutex<LogInner>>,
    start: Instant,
    next_conn: Arc<AtomicU64>,
}

impl Log {
    fn new() -> Self {
        Log {
            inner: Arc::default(),
            start: Instant::now(),
            next_conn: Arc::new(AtomicU64::new(1)),
        }
    }
    fn conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
    /// Appends a record.
    pub fn push(&self, conn: u64, peer: SocketAddr, kind: Kind) {
        let at = self.start.elapsed();
        lock(&self.inner).items.push(Received {
            conn,
            peer,
            at,
            kind,
        });
    }
}

/// A running lab server. Dropping it stops it.
pub struct Server {
    /// What it is (`target`, `attacker`, `reflector-http`, ...).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    log: Log,
    tasks: Tasks,
}

impl Server {
    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.log.inner).items.clone()
    }

    /// HTTP request heads received so far, with whether they came on an upgraded connection.
    pub fn requests(&self) -> Vec<(RequestHead, bool)> {
        self.received()
            .into_iter()
            .filter_map(|r| match r.kind {
                Kind::Request { head, on_upgraded } => Some((head, on_upgraded)),
                _ => None,
            })
            .collect()
    }

    /// Whether any record contains `needle`.
    pub fn saw(&self, needle: &[u8]) -> bool {
        self.received()
            .iter()
            .any(|r| find(r.kind.bytes(), needle).is_some())
    }

    /// Records that contain `needle`.
    pub fn records_with(&self, needle: &[u8]) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| find(r.kind.bytes(), needle).is_some())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.tasks.shutdown();
    }
}

/// Starts a server: `handle` runs once per accepted connection.
async fn serve<F, Fut>(name: &str, handle: F) -> io::Result<Server>
where
    F: Fn(TcpStream, SocketAddr, u64, Log) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let log = Log::new();
    let tasks = Tasks::default();
    let (log2, tasks2) = (log.clone(), tasks.clone());
    tasks.spawn(async move {
        while let Ok((s, peer)) = l.accept().await {
            let _ = s.set_nodelay(true);
            let conn = log2.conn();
            tasks2.spawn(handle(s, peer, conn, log2.clone()));
        }
    });
    Ok(Server {
        name: name.to_string(),
        addr,
        log,
        tasks,
    })
}

/// Which HTTP origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The honest site (`target.example`): cacheable scripts.
    Target,
    /// The attacker's web server: a different script for the same path, `Cache-Control: public`,
    /// `Expires` one year ahead (the paper's set-up).
    Attacker,
    /// Answers every request with this status (keeping the connection open for more requests).
    Refuser(u16),
}

impl Role {
    /// Server name for reports.
    pub fn name(self) -> String {
        match self {
            Role::Target => "target".into(),
            Role::Attacker => "attacker".into(),
            Role::Refuser(s) => format!("refuser-{s}"),
        }
    }

    /// The body this role serves for `path`; it names the role so a fetched copy shows where it came from.
    pub fn body(self, path: &str) -> Vec<u8> {
        match self {
            Role::Target => format!("/* served by TARGET for {path} */\nvar owner = 'target';\n"),
            Role::Attacker => {
                format!("/* served by ATTACKER for {path} */\nvar owner = 'attacker'; alert(document.cookie);\n")
            }
            Role::Refuser(s) => format!("{s} refused {path}\n"),
        }
        .into_bytes()
    }

    /// The complete response to `req`.
    pub fn respond(self, req: &RequestHead) -> Vec<u8> {
        let path = req.path();
        let now = SystemTime::now();
        let get = req.method.eq_ignore_ascii_case("GET") || req.method.eq_ignore_ascii_case("HEAD");
        let mut out = match self {
            Role::Refuser(status) => {
                let reason = match status {
                    400 => "Bad Request",
                    403 => "Forbidden",
                    404 => "Not Found",
                    426 => "Upgrade Required",
                    _ => "Refused",
                };
                let mut extra = vec!["Content-Type: text/plain".to_string()];
                if status == 426 {
                    extra.push("Upgrade: websocket".into());
                    extra.push("Sec-WebSocket-Version: 13".into());
                }
                response(status, reason, &extra, &self.body(&path))
            }
            _ if !get => response(
                405,
                "Method Not Allowed",
                &["Allow: GET, HEAD".into(), "Content-Type: text/plain".into()],
                b"method not allowed\n",
            ),
            Role::Target => response(
                200,
                "OK",
                &[
                    "Content-Type: application/javascript".into(),
                    "Cache-Control: public, max-age=3600".into(),
                    format!(
                        "Last-Modified: {}",
                        http_date(now - Duration::from_secs(86_400))
                    ),
                ],
                &self.body(&path),
            ),
            Role::Attacker => response(
                200,
                "OK",
                &[
                    "Content-Type: application/javascript".into(),
                    "Cache-Control: public, max-age=31536000".into(),
                    format!(
                        "Last-Modified: {}",
                        http_date(now - Duration::from_secs(86_400))
                    ),
                    format!(
                        "Expires: {}",
                        http_date(now + Duration::from_secs(365 * 86_400))
                    ),
                ],
                &self.body(&path),
            ),
        };
        if req.method.eq_ignore_ascii_case("HEAD") {
            if let Some(i) = find(&out, b"\r\n\r\n") {
                out.truncate(i + 4);
            }
        }
        out
    }
}

/// Serves HTTP requests on `conn` with `role` until the peer closes or sends something that is not HTTP.
pub(crate) async fn serve_http<S>(
    mut conn: Conn<S>,
    role: Role,
    peer: SocketAddr,
    id: u64,
    log: &Log,
    on_upgraded: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match conn.read_request_head(SERVER_IDLE).await {
            Ok(head) => {
                let resp = role.respond(&head);
                if let Some(n) = head.content_length().filter(|n| *n > 0) {
                    if conn.take_exact(n as usize, SERVER_IDLE).await.is_err() {
                        break;
                    }
                }
                let close = head.has_token("connection", "close");
                log.push(id, peer, Kind::Request { head, on_upgraded });
                if conn.send(&resp).await.is_err() || close {
                    break;
                }
            }
            Err(HeadError::Eof { partial }) => {
                if !partial.is_empty() {
                    log.push(id, peer, Kind::Bytes(partial));
                }
                break;
            }
            Err(HeadError::Malformed { bytes, .. }) => {
                log.push(id, peer, Kind::Bytes(bytes));
                let _ = conn
                    .send(&response(
                        400,
                        "Bad Request",
                        &["Connection: close".into()],
                        b"",
                    ))
                    .await;
                // record whatever else comes, then stop
                let rest = conn.take_to_end(1 << 16, Duration::from_millis(200)).await;
                if !rest.is_empty() {
                    log.push(id, peer, Kind::Bytes(rest));
                }
                break;
            }
            Err(_) => break,
        }
    }
}

/// Starts an HTTP origin in `role`.
pub async fn start_http(role: Role) -> io::Result<Server> {
    serve(&role.name(), move |s, peer, id, log| async move {
        serve_http(Conn::new(s), role, peer, id, &log, false).await;
    })
    .await
}

/// How the reflector answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reflect {
    /// `HTTP/1.1 200 OK` whose body is the request head (keeps serving requests).
    Http200,
    /// The request head written back verbatim as the "response", then raw echo.
    Raw,
}

/// Starts a reflecting HTTP server.
pub async fn start_reflector(mode: Reflect) -> io::Result<Server> {
    let name = match mode {
        Reflect::Http200 => "reflector-http",
        Reflect::Raw => "reflector-raw",
    };
    serve(name, move |s, peer, id, log| async move {
        let mut conn = Conn::new(s);
        match mode {
            Reflect::Http200 => loop {
                match conn.read_request_head(SERVER_IDLE).await {
                    Ok(head) => {
                        let body = head.raw.clone();
                        log.push(
                            id,
                            peer,
                            Kind::Request {
                                head,
                                on_upgraded: false,
                            },
                        );
                        let resp = response(200, "OK", &["Content-Type: text/plain".into()], &body);
                        if conn.send(&resp).await.is_err() {
                            break;
                        }
                    }
                    Err(HeadError::Malformed { bytes, .. }) => {
                        log.push(id, peer, Kind::Bytes(bytes));
                        let _ = conn.send(&response(400, "Bad Request", &[], b"")).await;
                        break;
                    }
                    Err(HeadError::Eof { partial }) => {
                        if !partial.is_empty() {
                            log.push(id, peer, Kind::Bytes(partial));
                        }
                        break;
                    }
                    Err(_) => break,
                }
            },
            Reflect::Raw => {
                match conn.read_request_head(SERVER_IDLE).await {
                    Ok(head) => {
                        let raw = head.raw.clone();
                        log.push(
                            id,
                            peer,
                            Kind::Request {
                                head,
                                on_upgraded: false,
                            },
                        );
                        if conn.send(&raw).await.is_err() {
                            return;
                        }
                    }
                    Err(HeadError::Malformed { bytes, .. })
                    | Err(HeadError::Eof { partial: bytes }) => {
                        log.push(id, peer, Kind::Bytes(bytes.clone()));
                        if conn.send(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
                let rest = std::mem::take(&mut conn.buf);
                echo_loop(conn.io, rest, peer, id, &log).await;
            }
        }
    })
    .await
}

async fn echo_loop(mut s: TcpStream, first: Vec<u8>, peer: SocketAddr, id: u64, log: &Log) {
    if !first.is_empty() {
        log.push(id, peer, Kind::Bytes(first.clone()));
        if s.write_all(&first).await.is_err() {
            return;
        }
    }
    let mut buf = vec![0u8; 16384];
    loop {
        match tokio::time::timeout(SERVER_IDLE, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                log.push(id, peer, Kind::Bytes(buf[..n].to_vec()));
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// Starts a raw TCP echo server.
pub async fn start_echo() -> io::Result<Server> {
    serve("echo", |s, peer, id, log| async move {
        echo_loop(s, Vec::new(), peer, id, &log).await;
    })
    .await
}

/// The line server's greeting.
pub const BANNER: &[u8] = b"220 lab.invalid ESMTP lab line server\r\n";

/// Starts an SMTP-like line server: `220` banner; `HELO EHLO MAIL RCPT DATA RSET NOOP VRFY` lines get
/// `250 OK`, `QUIT` gets `221` and a close, anything else `500`.
pub async fn start_line_server() -> io::Result<Server> {
    serve("smtp-like", |s, peer, id, log| async move {
        let mut conn = Conn::new(s);
        if conn.send(BANNER).await.is_err() {
            return;
        }
        while let Ok(Some(line)) = conn.take_line(SERVER_IDLE).await {
            let text = String::from_utf8_lossy(&line).to_string();
            let verb = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            log.push(id, peer, Kind::Line(line));
            let (reply, quit): (&[u8], bool) = match verb.as_str() {
                "QUIT" => (b"221 Bye\r\n", true),
                "HELO" | "EHLO" | "MAIL" | "RCPT" | "DATA" | "RSET" | "NOOP" | "VRFY" => {
                    (b"250 OK\r\n", false)
                }
                _ => (b"500 5.5.2 Syntax error, command unrecognized\r\n", false),
            };
            if conn.send(reply).await.is_err() || quit {
                break;
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests;
