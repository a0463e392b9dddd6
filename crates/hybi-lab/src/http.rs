//! Bounded HTTP/1.x head reading and parsing (with `httparse`), shared by the proxy engine, the origins and
//! the strawman handshakes.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request or response head accepted (bytes, including the blank line).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields accepted in one head.
pub const MAX_HEADERS: usize = 64;
/// Largest body a caching proxy buffers (larger responses are relayed but not stored).
pub const MAX_BODY: usize = 1 << 20;

/// Why a head could not be read.
#[derive(Debug)]
pub enum HeadError {
    /// The peer closed before a complete head; `partial` holds what had arrived.
    Eof {
        /// Bytes received before the close.
        partial: Vec<u8>,
    },
    /// More than [`MAX_HEAD`] bytes without the end of the head.
    TooLarge,
    /// `httparse` rejected the bytes.
    Malformed {
        /// The bytes that did not parse.
        bytes: Vec<u8>,
        /// httparse's reason.
        why: String,
    },
    /// No complete head in time.
    Timeout,
    /// Socket error.
    Io(io::Error),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::Eof { partial } => write!(f, "closed after {} bytes of head", partial.len()),
            HeadError::TooLarge => write!(f, "head larger than {MAX_HEAD} bytes"),
            HeadError::Malformed { why, .. } => write!(f, "malformed head: {why}"),
            HeadError::Timeout => write!(f, "timed out waiting for a head"),
            HeadError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

/// A parsed request head. `raw` is exactly the bytes received (request line to blank line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The exact bytes of the head.
    pub raw: Vec<u8>,
    /// Method as sent.
    pub method: String,
    /// Request-target as sent.
    pub target: String,
    /// Minor version (`0` for HTTP/1.0, `1` for HTTP/1.1).
    pub version: u8,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A parsed response head. `raw` is exactly the bytes received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The exact bytes of the head.
    pub raw: Vec<u8>,
    /// Minor version.
    pub version: u8,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Header lookup helpers shared by request and response heads.
pub trait Headers {
    /// All header fields.
    fn fields(&self) -> &[(String, Vec<u8>)];

    /// First value of `name` (case-insensitive), as lossy UTF-8, trimmed.
    fn header(&self, name: &str) -> Option<String> {
        self.fields()
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
    }

    /// Whether any `name` field lists `token` (comma-separated, case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.fields()
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .any(|t| t == token.to_ascii_lowercase())
    }

    /// `Content-Length`, if present and valid.
    fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    /// Whether the last transfer coding is `chunked`.
    fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .map(|v| {
                v.rsplit(',')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
            })
            .unwrap_or(false)
    }
}

impl Headers for RequestHead {
    fn fields(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }
}
impl Headers for ResponseHead {
    fn fields(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }
}

impl RequestHead {
    /// Parses a complete head; `Ok(None)` if `buf` does not yet hold one. On success also returns its length.
    pub fn parse(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, String> {
        let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut hs);
        match req.parse(buf) {
            Ok(httparse::Status::Partial) => Ok(None),
            Ok(httparse::Status::Complete(n)) => Ok(Some((
                RequestHead {
                    raw: buf[..n].to_vec(),
                    method: req.method.unwrap_or("").to_string(),
                    target: req.path.unwrap_or("").to_string(),
                    version: req.version.unwrap_or(1),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), h.value.to_vec()))
                        .collect(),
                },
                n,
            ))),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Host named by the request: the authority of an absolute-form target, else the `Host` header; lowercase,
    /// without port.
    pub fn host(&self) -> Option<String> {
        let from_target = self
            .target
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or("").to_string());
        let h = match from_target {
            Some(a) if !a.is_empty() => a,
            _ => self.header("host")?,
        };
        Some(strip_port(&h).to_ascii_lowercase())
    }

    /// Path (origin-form) of the request target, also for absolute-form targets.
    pub fn path(&self) -> String {
        match self.target.split_once("://") {
            Some((_, rest)) => match rest.find('/') {
                Some(i) => rest[i..].to_string(),
                None => "/".into(),
            },
            None => self.target.clone(),
        }
    }

    /// Whether this is an HTTP/1.1 `Upgrade` request (`Connection: upgrade` plus an `Upgrade` field).
    pub fn is_upgrade(&self) -> bool {
        self.has_token("connection", "upgrade") && self.header("upgrade").is_some()
    }
}

/// `host` without a trailing `:port` (IPv6 literals in brackets are kept whole).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

impl ResponseHead {
    /// Parses a complete head; `Ok(None)` if `buf` does not yet hold one.
    pub fn parse(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, String> {
        let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut hs);
        match resp.parse(buf) {
            Ok(httparse::Status::Partial) => Ok(None),
            Ok(httparse::Status::Complete(n)) => Ok(Some((
                ResponseHead {
                    raw: buf[..n].to_vec(),
                    version: resp.version.unwrap_or(1),
                    status: resp.code.unwrap_or(0),
                    reason: resp.reason.unwrap_or("").to_string(),
                    headers: resp
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), h.value.to_vec()))
                        .collect(),
                },
                n,
            ))),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A head parser: `Ok(None)` while incomplete, else the head and its length.
type HeadParser<T> = fn(&[u8]) -> Result<Option<(T, usize)>, String>;

/// A stream with a read buffer: bytes read past a head stay in `buf` for the next reader.
pub struct Conn<S> {
    /// The stream.
    pub io: S,
    /// Bytes read from `io` and not consumed yet.
    pub buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Wraps a stream with an empty buffer.
    pub fn new(io: S) -> Self {
        Conn {
            io,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into `buf`; returns how many (0 at EOF).
    pub async fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 8192];
        let n = self.io.read(&mut tmp).await?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    async fn read_head<T>(
        &mut self,
        limit: Duration,
        parse: HeadParser<T>,
    ) -> Result<T, HeadError> {
        let work = async {
            loop {
                if !self.buf.is_empty() {
                    match parse(&self.buf) {
                        Ok(Some((h, n))) => {
                            self.buf.drain(..n);
                            return Ok(h);
                        }
                        Ok(None) => {}
                        Err(why) => {
                            return Err(HeadError::Malformed {
                                bytes: std::mem::take(&mut self.buf),
                                why,
                            })
                        }
                    }
                }
                if self.buf.len() >= MAX_HEAD {
                    return Err(HeadError::TooLarge);
                }
                match self.fill().await {
                    Ok(0) => {
                        return Err(HeadError::Eof {
                            partial: std::mem::take(&mut self.buf),
                        })
                    }
                    Ok(_) => {}
                    Err(e) => return Err(HeadError::Io(e)),
                }
            }
        };
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(HeadError::Timeout),
        }
    }

    /// Reads one request head (bounded by [`MAX_HEAD`] and `limit`).
    pub async fn read_request_head(&mut self, limit: Duration) -> Result<RequestHead, HeadError> {
        self.read_head(limit, RequestHead::parse).await
    }

    /// Reads one response head (bounded by [`MAX_HEAD`] and `limit`).
    pub async fn read_response_head(&mut self, limit: Duration) -> Result<ResponseHead, HeadError> {
        self.read_head(limit, ResponseHead::parse).await
    }

    /// Takes exactly `n` bytes (from the buffer, then the stream).
    pub async fn take_exact(&mut self, n: usize, limit: Duration) -> io::Result<Vec<u8>> {
        let work = async {
            while self.buf.len() < n {
                if self.fill().await? == 0 {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                }
            }
            Ok(self.buf.drain(..n).collect())
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
    }

    /// Takes one line ending in `\n` (bounded to [`MAX_HEAD`]); `None` at EOF.
    pub async fn take_line(&mut self, limit: Duration) -> io::Result<Option<Vec<u8>>> {
        let work = async {
            loop {
                if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                    return Ok(Some(self.buf.drain(..=i).collect()));
                }
                if self.buf.len() >= MAX_HEAD {
                    return Ok(Some(std::mem::take(&mut self.buf)));
                }
                if self.fill().await? == 0 {
                    return Ok(if self.buf.is_empty() {
                        None
                    } else {
                        Some(std::mem::take(&mut self.buf))
                    });
                }
            }
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
    }

    /// Takes a chunked body (chunk framing included, as on the wire), bounded by `max`.
    pub async fn take_chunked(&mut self, max: usize, limit: Duration) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let line = self
                .take_line(limit)
                .await?
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            out.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line);
            let size_text = text
                .trim()
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let size = usize::from_str_radix(&size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if out.len() + size > max {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
            }
            if size == 0 {
                // trailers up to the blank line
                loop {
                    let l = self
                        .take_line(limit)
                        .await?
                        .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                    out.extend_from_slice(&l);
                    if l == b"\r\n" || l == b"\n" {
                        return Ok(out);
                    }
                }
            }
            out.extend(self.take_exact(size + 2, limit).await?);
        }
    }

    /// Reads until EOF (or `max` bytes, or `limit`), returning everything buffered.
    pub async fn take_to_end(&mut self, max: usize, limit: Duration) -> Vec<u8> {
        let _ = tokio::time::timeout(limit, async {
            while self.buf.len() < max {
                match self.fill().await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        std::mem::take(&mut self.buf)
    }

    /// Writes all of `bytes` and flushes.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }
}

/// Builds a response with a body and `Content-Length` (plus `extra` header lines, each without CRLF).
pub fn response(status: u16, reason: &str, extra: &[String], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for h in extra {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut v = out.into_bytes();
    v.extend_from_slice(body);
    v
}

/// A small HTML error page (what the paper calls "an HTML error message").
pub fn html_error(status: u16, reason: &str, why: &str) -> Vec<u8> {
    let body = format!(
        "<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1><p>{why}</p></body></html>\n"
    );
    response(
        status,
        reason,
        &["Content-Type: text/html".into(), "Connection: close".into()],
        body.as_bytes(),
    )
}

/// Finds `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_and_helpers() {
        let raw = b"GET http://Target.Example:8080/a/b?x HTTP/1.1\r\nHost: other\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\nrest";
        let (h, n) = RequestHead::parse(raw).unwrap().unwrap();
        assert_eq!(n, raw.len() - 4);
        assert_eq!(h.host().as_deref(), Some("target.example"));
        assert_eq!(h.path(), "/a/b?x");
        assert!(h.is_upgrade());
        assert!(RequestHead::parse(b"GET / HTTP/1.1\r\nHo")
            .unwrap()
            .is_none());
        assert!(RequestHead::parse(b"\x81\x85\x00\x00").is_err());
    }

    #[test]
    fn strips_ports() {
        assert_eq!(strip_port("a.example:80"), "a.example");
        assert_eq!(strip_port("websocket.invalid:443"), "websocket.invalid");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("plain"), "plain");
    }

    #[tokio::test]
    async fn reads_chunked_bodies() {
        let (a, mut b) = tokio::io::duplex(1024);
        b.write_all(b"3\r\nabc\r\n0\r\n\r\nNEXT").await.unwrap();
        let mut c = Conn::new(a);
        let body = c.take_chunked(1000, Duration::from_secs(1)).await.unwrap();
        assert_eq!(body, b"3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(c.buf, b"NEXT");
    }
}
