//! The three strawman handshakes of Huang et al. §IV (PAPER.md §5), as raw bytes, with no framing after the
//! handshake: the payload goes on the wire exactly as the attacker chose it, which is what the paper measured
//! (Table II). They let the lab run its attacks end to end before the real variants are wired in.
//!
//! Requests are exactly the paper's. Choices the paper leaves open (documented, UNCONFIRMED in VARIANTS.md):
//! * the Upgrade strawman's `HMAC(<connection-key>, "...")` and the CONNECT strawman's `<hmac>` are both
//!   HMAC-SHA1 keyed with the base64 *text* of the key over the GUID `258EAFA5-E914-47DA-95CA-C5AB0DC85B11`,
//!   base64-encoded (VARIANTS.md §9 vector: key `dGhlIHNhbXBsZSBub25jZQ==` → `I0LaJwpzqqaocDChnoeI5+bJdnQ=`);
//! * `<metadata>` is the `ws://` URL;
//! * the POST strawman's `200 OK` carries `Content-Length: 0`. The paper prints only two lines; without a
//!   length an HTTP/1.1 intermediary must read the response body until the connection closes (RFC 7230
//!   §3.3.3) and could never have parsed the spoofed request that follows, whereas the paper saw 1,376
//!   Host-routed spoofs after this handshake.

use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{Conn, HeadError, Headers};
use crate::subject::*;

/// GUID the strawman proofs are computed over.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Which strawman.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `POST` + `Sec-WebSocket-Key` → `200 OK` echoing the key.
    Post,
    /// `GET` + `Connection: Upgrade` / `Upgrade: WebSocket` → `101`.
    Upgrade,
    /// `CONNECT websocket.invalid:443` → `200 OK`.
    Connect,
}

/// A strawman handshake (client and server).
#[derive(Clone, Copy, Debug)]
pub struct Strawman {
    /// Which one.
    pub kind: Kind,
}

/// All three, in the paper's column order.
pub const ALL: [Strawman; 3] = [
    Strawman { kind: Kind::Post },
    Strawman {
        kind: Kind::Upgrade,
    },
    Strawman {
        kind: Kind::Connect,
    },
];

/// `base64(HMAC-SHA1(key = key text, GUID))`.
pub fn hmac_accept(key: &str) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn fresh_key() -> String {
    let mut k = [0u8; 16];
    if getrandom::fill(&mut k).is_err() {
        k = *b"lab-fallback-key";
    }
    base64::engine::general_purpose::STANDARD.encode(k)
}

impl Strawman {
    /// The handshake request for `t` with `key`, exactly as in the paper.
    pub fn request(&self, t: &Target, key: &str) -> Vec<u8> {
        match self.kind {
            Kind::Post => format!(
                "POST {} HTTP/1.1\r\nHost: {}\r\nSec-WebSocket-Key: {key}\r\n\r\n",
                t.path, t.host
            ),
            Kind::Upgrade => format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nUpgrade: WebSocket\r\n\r\n",
                t.path, t.host
            ),
            Kind::Connect => format!(
                "CONNECT websocket.invalid:443 HTTP/1.1\r\nHost: websocket.invalid:443\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Metadata: {}\r\n\r\n",
                t.url()
            ),
        }
        .into_bytes()
    }

    /// The accepting response for a request carrying `key`.
    pub fn response(&self, key: &str) -> Vec<u8> {
        match self.kind {
            Kind::Post => {
                format!("HTTP/1.1 200 OK\r\nSec-WebSocket-Accept: {key}\r\nContent-Length: 0\r\n\r\n")
            }
            Kind::Upgrade => format!(
                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                hmac_accept(key)
            ),
            Kind::Connect => format!(
                "HTTP/1.1 200 OK\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                hmac_accept(key)
            ),
        }
        .into_bytes()
    }

    fn expected_status(&self) -> u16 {
        match self.kind {
            Kind::Upgrade => 101,
            _ => 200,
        }
    }

    fn expected_accept(&self, key: &str) -> String {
        match self.kind {
            Kind::Post => key.to_string(),
            _ => hmac_accept(key),
        }
    }

    async fn client(&self, io: BoxIo, t: &Target, payload: &[u8]) -> ClientOutcome {
        let key = fresh_key();
        let req = self.request(t, &key);
        let start = Instant::now();
        let mut conn = Conn::new(io);
        let write = tokio::time::timeout(t.handshake_timeout, conn.send(&req)).await;
        if !matches!(write, Ok(Ok(()))) {
            let e = match write {
                Ok(Err(e)) => io_error(&e),
                _ => "timed out".into(),
            };
            return ClientOutcome::failed(Stage::WriteRequest, e, req, Vec::new());
        }
        let left = t.handshake_timeout.saturating_sub(start.elapsed());
        let resp = match conn.read_response_head(left).await {
            Ok(r) => r,
            Err(HeadError::Malformed { bytes, why }) => {
                let mut o = ClientOutcome::failed(Stage::Validate, "", req, bytes);
                o.handshake = Handshake::Rejected {
                    status: None,
                    reason: format!("not an HTTP response: {why}"),
                };
                return o;
            }
            Err(HeadError::Eof { partial }) => {
                return ClientOutcome::failed(Stage::ReadResponse, "closed", req, partial)
            }
            Err(HeadError::Io(e)) => {
                return ClientOutcome::failed(Stage::ReadResponse, io_error(&e), req, Vec::new())
            }
            Err(e) => {
                return ClientOutcome::failed(Stage::ReadResponse, e.to_string(), req, Vec::new())
            }
        };
        let reject = |reason: String| Handshake::Rejected {
            status: Some(resp.status),
            reason,
        };
        let verdict = if resp.status != self.expected_status() {
            reject(format!(
                "status {} (want {})",
                resp.status,
                self.expected_status()
            ))
        } else if resp.header("sec-websocket-accept").as_deref()
            != Some(&self.expected_accept(&key))
        {
            reject("missing or wrong Sec-WebSocket-Accept".into())
        } else if self.kind == Kind::Upgrade
            && !(resp.has_token("connection", "upgrade")
                && resp
                    .header("upgrade")
                    .is_some_and(|u| u.eq_ignore_ascii_case("websocket")))
        {
            reject("missing Connection: Upgrade / Upgrade: WebSocket".into())
        } else {
            Handshake::Completed
        };
        let mut out = ClientOutcome {
            handshake: verdict,
            request: req,
            response: resp.raw.clone(),
            handshake_time: Some(start.elapsed()),
            payload_sent: false,
            wire_payload: Vec::new(),
            messages: Vec::new(),
            raw_after: Vec::new(),
            end: End::StillOpen,
        };
        if !out.completed() {
            out.end = End::Error("handshake rejected".into());
            return out;
        }
        match conn.send(payload).await {
            Ok(()) => {
                out.payload_sent = true;
                out.wire_payload = payload.to_vec();
            }
            Err(e) => {
                out.end = End::Error(io_error(&e));
                return out;
            }
        }
        let (raw, end) = linger(&mut conn, t.linger).await;
        if !raw.is_empty() {
            out.messages.push(raw.clone());
        }
        out.raw_after = raw;
        out.end = end;
        out
    }

    async fn server(&self, io: BoxIo) -> Accepted {
        let mut conn = Conn::new(io);
        let head = match conn.read_request_head(Duration::from_secs(5)).await {
            Ok(h) => h,
            Err(HeadError::Eof { partial }) => {
                return Accepted::Failed {
                    request: partial,
                    error: "closed".into(),
                }
            }
            Err(HeadError::Malformed { bytes, why }) => {
                return Accepted::Failed {
                    request: bytes,
                    error: why,
                }
            }
            Err(e) => {
                return Accepted::Failed {
                    request: Vec::new(),
                    error: e.to_string(),
                }
            }
        };
        let key = head.header("sec-websocket-key");
        let shape_ok = match self.kind {
            Kind::Post => head.method == "POST",
            Kind::Upgrade => {
                head.method == "GET"
                    && head.has_token("connection", "upgrade")
                    && head
                        .header("upgrade")
                        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
            }
            Kind::Connect => {
                head.method == "CONNECT"
                    && head.target.eq_ignore_ascii_case("websocket.invalid:443")
            }
        };
        let Some(key) = key.filter(|_| shape_ok) else {
            let _ = conn
                .send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            return Accepted::Refused {
                request: head.raw,
                status: 400,
                reason: "not this strawman's handshake".into(),
            };
        };
        let resp = self.response(&key);
        if let Err(e) = conn.send(&resp).await {
            return Accepted::Failed {
                request: head.raw,
                error: io_error(&e),
            };
        }
        Accepted::Open(Upgraded {
            io: conn.io,
            leftover: conn.buf,
            request: head.raw,
            response: resp,
            state: None,
        })
    }
}

/// Reads raw bytes for `linger` or until the connection ends.
pub(crate) async fn linger(conn: &mut Conn<BoxIo>, linger: Duration) -> (Vec<u8>, End) {
    let mut raw = std::mem::take(&mut conn.buf);
    let deadline = tokio::time::Instant::now() + linger;
    let mut buf = vec![0u8; 16384];
    loop {
        match tokio::time::timeout_at(deadline, conn.io.read(&mut buf)).await {
            Err(_) => return (raw, End::StillOpen),
            Ok(Ok(0)) => return (raw, End::Closed),
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (raw, End::Reset)
            }
            Ok(Err(e)) => return (raw, End::Error(e.to_string())),
        }
    }
}

pub(crate) fn io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::BrokenPipe => "broken pipe".into(),
        std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}

impl Subject for Strawman {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Post => "strawman-post",
            Kind::Upgrade => "strawman-upgrade",
            Kind::Connect => "strawman-connect",
        }
    }

    fn run_client<'a>(
        &'a self,
        io: BoxIo,
        target: &'a Target,
        payload: &'a [u8],
    ) -> BoxFuture<'a, ClientOutcome> {
        Box::pin(self.client(io, target, payload))
    }

    fn accept<'a>(&'a self, io: BoxIo) -> BoxFuture<'a, Accepted> {
        Box::pin(self.server(io))
    }

    fn echo<'a>(&'a self, conn: Upgraded, idle: Duration) -> BoxFuture<'a, EchoReport> {
        Box::pin(async move {
            let Upgraded {
                mut io, leftover, ..
            } = conn;
            let mut messages = Vec::new();
            if !leftover.is_empty() {
                if io.write_all(&leftover).await.is_err() {
                    return EchoReport {
                        messages,
                        end: End::Error("write failed".into()),
                    };
                }
                messages.push(leftover);
            }
            let mut buf = vec![0u8; 16384];
            loop {
                match tokio::time::timeout(idle, io.read(&mut buf)).await {
                    Err(_) => {
                        return EchoReport {
                            messages,
                            end: End::StillOpen,
                        }
                    }
                    Ok(Ok(0)) => {
                        return EchoReport {
                            messages,
                            end: End::Closed,
                        }
                    }
                    Ok(Ok(n)) => {
                        messages.push(buf[..n].to_vec());
                        if io.write_all(&buf[..n]).await.is_err() {
                            return EchoReport {
                                messages,
                                end: End::Error("write failed".into()),
                            };
                        }
                    }
                    Ok(Err(e)) => {
                        return EchoReport {
                            messages,
                            end: End::Error(io_error(&e)),
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn hmac_matches_variants_vector() {
        assert_eq!(
            hmac_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "I0LaJwpzqqaocDChnoeI5+bJdnQ="
        );
    }

    #[test]
    fn requests_are_the_papers() {
        let t = Target::new("host-of-attackers-choice.com", "/path/of/attackers/choice");
        let post = ALL[0].request(&t, "K");
        assert_eq!(
            post,
            b"POST /path/of/attackers/choice HTTP/1.1\r\nHost: host-of-attackers-choice.com\r\nSec-WebSocket-Key: K\r\n\r\n"
        );
        let conn = String::from_utf8(ALL[2].request(&t, "K")).unwrap();
        assert!(conn.starts_with(
            "CONNECT websocket.invalid:443 HTTP/1.1\r\nHost: websocket.invalid:443\r\n"
        ));
    }

    #[tokio::test]
    async fn each_strawman_completes_directly_and_echoes() {
        for s in ALL {
            let subject: Arc<dyn Subject> = Arc::new(s);
            let server = crate::origin::start_ws_server(subject.clone())
                .await
                .unwrap();
            let io = tokio::net::TcpStream::connect(server.addr).await.unwrap();
            let t = Target::new("attacker.example", "/ws");
            let out = subject.run_client(Box::new(io), &t, b"hello raw").await;
            assert!(out.completed(), "{}: {:?}", s.name(), out.handshake);
            assert_eq!(out.raw_after, b"hello raw", "{}", s.name());
            assert_eq!(out.wire_payload, b"hello raw");
        }
    }

    #[tokio::test]
    async fn wrong_handshake_is_refused() {
        let server = crate::origin::start_ws_server(Arc::new(ALL[1]))
            .await
            .unwrap();
        let io = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let out = ALL[0]
            .run_client(Box::new(io), &Target::new("a.example", "/"), b"x")
            .await;
        assert!(matches!(
            out.handshake,
            Handshake::Rejected {
                status: Some(400),
                ..
            }
        ));
    }
}
