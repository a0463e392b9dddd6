//! HTTP/1.x heads for the opening handshakes: bounded parsing (httparse, zero-copy over
//! the input, then one owned copy of what the handshake keeps) and header helpers.
//!
//! A head is only handed to httparse once its terminating blank line has arrived, found by
//! scanning only the newly received bytes, so a peer trickling a head one byte at a time
//! costs O(n), not O(n²).

use crate::error::HandshakeError;
use crate::limits::Limits;

/// Header fields in their received order and spelling.
///
/// One buffer holds every name and value and a second the offsets of each field: two
/// allocations per head, where a `String` and a `Vec` per field cost about fourteen for a
/// browser's request (docs/benchmarks.md, "handshake allocations").
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Every field's name then value, back to back.
    text: Vec<u8>,
    fields: Vec<Field>,
}

/// Where one field lies in [`Headers::text`]: name at `start..value`, value at
/// `value..end`. u32 offsets: a head is bounded by `Limits::max_head_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    start: u32,
    value: u32,
    end: u32,
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned())),
            )
            .finish()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Headers::default();
        for (name, value) in iter {
            headers.push(name.as_ref(), value.as_ref());
        }
        headers
    }
}

impl Headers {
    /// Appends a field.
    ///
    /// # Panics
    /// If the fields together exceed 4 GiB (a parsed head is bounded far below).
    pub fn push(&mut self, name: &str, value: &[u8]) {
        let offset = |len: usize| u32::try_from(len).expect("headers under 4 GiB");
        let start = offset(self.text.len());
        self.text.extend_from_slice(name.as_bytes());
        let value_at = offset(self.text.len());
        self.text.extend_from_slice(value);
        self.fields.push(Field {
            start,
            value: value_at,
            end: offset(self.text.len()),
        });
    }

    /// Every field as (name, value), in received order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        // Names are pushed as `&str` (and httparse admits only token characters).
        self.raw()
            .map(|(name, value)| (std::str::from_utf8(name).unwrap_or_default(), value))
    }

    /// Every field as (name bytes, value): for lookups, with no UTF-8 check of the name.
    pub(crate) fn raw(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|f| {
            (
                &self.text[f.start as usize..f.value as usize],
                &self.text[f.value as usize..f.end as usize],
            )
        })
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The value of the only field named `name` (case-insensitive). `Ok(None)` when
    /// absent, an error when it appears more than once.
    pub fn unique(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        let mut found = None;
        for (n, v) in self.raw() {
            if n.eq_ignore_ascii_case(name.as_bytes()) {
                if found.is_some() {
                    return Err(HandshakeError::DuplicateHeader(name));
                }
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// Like [`Headers::unique`] but the field must be present and valid UTF-8 (ASCII in
    /// practice); surrounding whitespace is trimmed.
    pub fn required_str(&self, name: &'static str) -> Result<&str, HandshakeError> {
        match self.unique(name)? {
            None => Err(HandshakeError::MissingHeader(name)),
            Some(v) => {
                std::str::from_utf8(v)
                    .map(str::trim)
                    .map_err(|_| HandshakeError::InvalidHeader {
                        name,
                        reason: "not UTF-8".into(),
                    })
            }
        }
    }

    /// Optional unique field as trimmed text.
    pub fn optional_str(&self, name: &'static str) -> Result<Option<&str>, HandshakeError> {
        match self.unique(name)? {
            None => Ok(None),
            Some(v) => std::str::from_utf8(v).map(|s| Some(s.trim())).map_err(|_| {
                HandshakeError::InvalidHeader {
                    name,
                    reason: "not UTF-8".into(),
                }
            }),
        }
    }

    /// First value of `name`, without the uniqueness check (for informational fields).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.raw()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// True when the field is present at least once.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every comma-separated token of every field named `name`, trimmed (RFC 9110 §5.6.1
    /// list syntax, which `Connection`, `Upgrade` and `Sec-WebSocket-Protocol` use).
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.raw()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// True when some list element of `name` equals `token` case-insensitively.
    ///
    /// The same elements as [`Headers::tokens`], compared as bytes: the iterator chain
    /// cost ~500 instructions per call and detection and validation make four calls per
    /// handshake (docs/benchmarks.md, "handshake allocations").
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        let token = token.as_bytes();
        !token.is_empty()
            && self.raw().any(|(n, v)| {
                n.eq_ignore_ascii_case(name.as_bytes())
                    // As in `tokens`: a value that is not UTF-8 holds no token.
                    && std::str::from_utf8(v).is_ok()
                    && v.split(|&b| b == b',')
                        .any(|t| trim_whitespace(t).eq_ignore_ascii_case(token))
            })
    }
}

/// A request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method, as sent (`GET`, `CONNECT`, `POST`).
    pub method: String,
    /// Request target, as sent (origin-form path, absolute-form URL or authority).
    pub target: String,
    /// Minor HTTP version (0 or 1).
    pub version: u8,
    /// Header fields.
    pub headers: Headers,
}

impl Request {
    /// The path and query of the target, for routing: origin-form as is, absolute-form
    /// reduced to its path (HyBi-08 §4.1 accepts absolute URIs).
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        if let Some(rest) = t
            .strip_prefix("ws://")
            .or_else(|| t.strip_prefix("wss://"))
            .or_else(|| t.strip_prefix("http://"))
            .or_else(|| t.strip_prefix("https://"))
        {
            return rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
        }
        t
    }
}

/// A response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Minor HTTP version (0 or 1).
    pub version: u8,
    /// Status code.
    pub code: u16,
    /// Reason phrase, as sent.
    pub reason: String,
    /// Header fields.
    pub headers: Headers,
}

impl Response {
    /// The status line as received (for error messages and lab reports).
    pub fn status_line(&self) -> String {
        format!("HTTP/1.{} {} {}", self.version, self.code, self.reason)
    }
}

/// Incremental search for the end of a head: keeps the offset already scanned.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeadScanner {
    scanned: usize,
}

impl HeadScanner {
    /// Returns the length of the head (including the blank line) once `buf` holds it.
    /// Accepts bare-LF line ends as httparse does. Errors when the head exceeds `max`.
    pub fn find_end(&mut self, buf: &[u8], max: usize) -> Result<Option<usize>, HandshakeError> {
        let start = self.scanned.saturating_sub(3);
        let window = &buf[start..buf.len().min(max.saturating_add(1))];
        let mut from = 0;
        while let Some(i) = memchr::memchr(b'\n', &window[from..]) {
            let nl = start + from + i;
            // "\n\n" or "\n\r\n"
            if nl >= 1 && buf[nl - 1] == b'\n' {
                return Ok(Some(nl + 1));
            }
            if nl >= 2 && buf[nl - 1] == b'\r' && buf[nl - 2] == b'\n' {
                return Ok(Some(nl + 1));
            }
            from += i + 1;
        }
        self.scanned = buf.len();
        if buf.len() > max {
            return Err(HandshakeError::HeadTooLarge);
        }
        Ok(None)
    }
}

/// `str::trim` on bytes already known to be UTF-8, so that `has_token` and `tokens` agree
/// element for element: ASCII ends are trimmed here (the ASCII whitespace of
/// `char::is_whitespace`, vertical tab included), other ends by `str::trim`.
fn trim_whitespace(b: &[u8]) -> &[u8] {
    let space = |c: &u8| matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let start = b.iter().position(|c| !space(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !space(c)).map_or(start, |i| i + 1);
    let t = &b[start..end];
    match (t.first(), t.last()) {
        (Some(&first), Some(&last)) if first >= 0x80 || last >= 0x80 => {
            std::str::from_utf8(t).map_or(t, |s| s.trim().as_bytes())
        }
        _ => t,
    }
}

fn owned_headers(raw: &[httparse::Header<'_>]) -> Headers {
    let len = raw.iter().map(|h| h.name.len() + h.value.len()).sum();
    let mut headers = Headers {
        text: Vec::with_capacity(len),
        fields: Vec::with_capacity(raw.len()),
    };
    for h in raw {
        headers.push(h.name, h.value);
    }
    headers
}

fn map_err(e: httparse::Error) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::HeadTooLarge,
        other => HandshakeError::MalformedHead(other.to_string()),
    }
}

/// Header slots for httparse: on the stack up to the default limit of 64, else on the
/// heap. A `Vec` per parse cost an allocation and a 2 KiB memset per handshake
/// (docs/benchmarks.md, "handshakes").
fn header_storage<'s, 'h>(
    stack: &'s mut [httparse::Header<'h>; 64],
    heap: &'s mut Vec<httparse::Header<'h>>,
    n: usize,
) -> &'s mut [httparse::Header<'h>] {
    if n <= 64 {
        &mut stack[..n]
    } else {
        *heap = vec![httparse::EMPTY_HEADER; n];
        heap
    }
}

/// Parses a complete request head (`buf` ends at or after the blank line).
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<(Request, usize), HandshakeError> {
    let mut stack = [httparse::EMPTY_HEADER; 64];
    let mut heap = Vec::new();
    let storage = header_storage(&mut stack, &mut heap, limits.max_headers);
    let mut req = httparse::Request::new(storage);
    match req.parse(buf).map_err(map_err)? {
        httparse::Status::Complete(n) => Ok((
            Request {
                method: req.method.unwrap_or_default().to_owned(),
                target: req.path.unwrap_or_default().to_owned(),
                version: req.version.unwrap_or(1),
                headers: owned_headers(req.headers),
            },
            n,
        )),
        httparse::Status::Partial => Err(HandshakeError::MalformedHead("incomplete head".into())),
    }
}

/// Parses a complete response head.
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<(Response, usize), HandshakeError> {
    let mut stack = [httparse::EMPTY_HEADER; 64];
    let mut heap = Vec::new();
    let storage = header_storage(&mut stack, &mut heap, limits.max_headers);
    let mut resp = httparse::Response::new(storage);
    match resp.parse(buf).map_err(map_err)? {
        httparse::Status::Complete(n) => Ok((
            Response {
                version: resp.version.unwrap_or(1),
                code: resp.code.unwrap_or(0),
                reason: resp.reason.unwrap_or_default().to_owned(),
                headers: owned_headers(resp.headers),
            },
            n,
        )),
        httparse::Status::Partial => Err(HandshakeError::MalformedHead("incomplete head".into())),
    }
}

/// Accumulates bytes until a whole head has arrived, then parses it. Used by every
/// handshake module for "expect an HTTP head" steps.
#[derive(Debug, Default)]
pub struct HeadReader {
    buf: Vec<u8>,
    scanner: HeadScanner,
}

/// What [`HeadReader::feed_request`] / [`HeadReader::feed_response`] found.
pub enum HeadProgress<T> {
    /// Need more bytes; all input was consumed.
    Partial,
    /// A head; `consumed` counts the input bytes it used (the rest belongs to what
    /// follows the head).
    Complete {
        /// The parsed head.
        head: T,
        /// Input bytes used.
        consumed: usize,
    },
}

/// A head parser ([`parse_request`] or [`parse_response`]).
type ParseFn<T> = fn(&[u8], &Limits) -> Result<(T, usize), HandshakeError>;

impl HeadReader {
    fn feed_with<T>(
        &mut self,
        input: &[u8],
        limits: &Limits,
        parse: ParseFn<T>,
    ) -> Result<HeadProgress<T>, HandshakeError> {
        let before = self.buf.len();
        // Never buffer more than the limit (plus the byte that proves it is exceeded).
        let take = input
            .len()
            .min(limits.max_head_size + 1 - before.min(limits.max_head_size));
        self.buf.extend_from_slice(&input[..take]);
        match self.scanner.find_end(&self.buf, limits.max_head_size)? {
            None => {
                if take < input.len() {
                    return Err(HandshakeError::HeadTooLarge);
                }
                Ok(HeadProgress::Partial)
            }
            Some(end) => {
                let (head, n) = parse(&self.buf[..end], limits)?;
                debug_assert_eq!(n, end);
                let consumed = end - before;
                self.buf = Vec::new();
                Ok(HeadProgress::Complete { head, consumed })
            }
        }
    }

    /// Feeds request bytes.
    pub fn feed_request(
        &mut self,
        input: &[u8],
        limits: &Limits,
    ) -> Result<HeadProgress<Request>, HandshakeError> {
        self.feed_with(input, limits, parse_request)
    }

    /// Feeds response bytes.
    pub fn feed_response(
        &mut self,
        input: &[u8],
        limits: &Limits,
    ) -> Result<HeadProgress<Response>, HandshakeError> {
        self.feed_with(input, limits, parse_response)
    }

    /// Bytes buffered so far.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Writes a response head: status line, fields, blank line.
pub fn write_response(out: &mut Vec<u8>, code: u16, reason: &str, headers: &[(&str, &str)]) {
    // Sized once: growing by appends reallocated two or three times per 101
    // (docs/benchmarks.md, "handshake allocations"); no `format!` for the status line either.
    let fields: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    out.reserve("HTTP/1.1 000 \r\n\r\n".len() + reason.len() + fields);
    out.extend_from_slice(b"HTTP/1.1 ");
    match status_digits(code) {
        Some(digits) => out.extend_from_slice(&digits),
        None => out.extend_from_slice(code.to_string().as_bytes()),
    }
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A status code as its three ASCII digits (RFC 9112 §4: `status-code = 3DIGIT`);
/// `None` outside 100..=999, written as given by the caller instead.
fn status_digits(code: u16) -> Option<[u8; 3]> {
    (100..=999).contains(&code).then(|| {
        [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ]
    })
}

/// Writes an error response with a short text body and `Connection: close`.
pub fn write_error(out: &mut Vec<u8>, code: u16, reason: &str, extra: &[(&str, &str)], body: &str) {
    let len = body.len().to_string();
    let mut headers: Vec<(&str, &str)> = vec![
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", &len),
        ("Connection", "close"),
    ];
    headers.extend_from_slice(extra);
    write_response(out, code, reason, &headers);
    out.extend_from_slice(body.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `has_token` (bytes, no iterator chain) finds exactly what `tokens` lists.
        #[test]
        fn has_token_agrees_with_tokens(
            values in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        Just(b','), Just(b' '), Just(b'\t'), Just(0x0b), Just(b'a'), Just(b'A'),
                        Just(b'b'), Just(0xc2), Just(0xa0), Just(0xff), any::<u8>()
                    ],
                    0..12,
                ),
                0..4,
            ),
            token in prop_oneof![
                Just("a".to_owned()), Just("ab".to_owned()), Just("A b".to_owned()),
                Just("".to_owned()), Just(" a".to_owned()), "[ -~]{0,3}"
            ],
        ) {
            let h: Headers = values.iter().map(|v| ("Upgrade", v.as_slice())).collect();
            let listed = h.tokens("upgrade").any(|t| t.eq_ignore_ascii_case(&token));
            prop_assert_eq!(h.has_token("upgrade", &token), listed);
        }
    }

    #[test]
    fn byte_at_a_time_head() {
        let head = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\nXYZ";
        let limits = Limits::default();
        let mut r = HeadReader::default();
        let mut done = None;
        for (i, b) in head.iter().enumerate() {
            match r.feed_request(std::slice::from_ref(b), &limits).unwrap() {
                HeadProgress::Partial => {}
                HeadProgress::Complete { head, consumed } => {
                    assert_eq!(consumed, 1);
                    done = Some((head, i));
                    break;
                }
            }
        }
        let (req, at) = done.expect("complete");
        assert_eq!(at, head.len() - 4);
        assert_eq!(req.method, "GET");
        assert_eq!(req.path(), "/chat");
        assert!(req.headers.has_token("upgrade", "WebSocket"));
    }

    #[test]
    fn oversized_head_is_refused_without_buffering_it() {
        let limits = Limits::default();
        let mut r = HeadReader::default();
        let mut chunk = b"GET / HTTP/1.1\r\nX: ".to_vec();
        chunk.resize(1 << 20, b'a');
        assert!(matches!(
            r.feed_request(&chunk, &limits),
            Err(HandshakeError::HeadTooLarge)
        ));
        assert!(r.buffered() <= limits.max_head_size + 1);
    }

    #[test]
    fn response_head_is_written_in_one_allocation() {
        let mut out = Vec::new();
        write_response(
            &mut out,
            101,
            "Switching Protocols",
            &[("Upgrade", "websocket")],
        );
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        );
        assert_eq!(out.capacity(), out.len(), "sized exactly, no regrowth");
        let mut out = Vec::new();
        write_response(&mut out, 503, "Service Unavailable", &[]);
        assert_eq!(out, b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let mut out = Vec::new();
        write_response(&mut out, 42, "Odd", &[]);
        assert_eq!(out, b"HTTP/1.1 42 Odd\r\n\r\n");
    }

    #[test]
    fn absolute_target_path() {
        let req = Request {
            method: "GET".into(),
            target: "ws://example.com/a/b?c".into(),
            version: 1,
            headers: Headers::default(),
        };
        assert_eq!(req.path(), "/a/b?c");
    }

    #[test]
    fn duplicate_unique_header() {
        let h: Headers = [("Sec-WebSocket-Key", "a"), ("sec-websocket-key", "b")]
            .into_iter()
            .collect();
        assert_eq!(h.len(), 2);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [
                ("Sec-WebSocket-Key", &b"a"[..]),
                ("sec-websocket-key", &b"b"[..])
            ]
        );
        assert_eq!(h.get("SEC-websocket-KEY"), Some(&b"a"[..]));
        assert_eq!(
            h.unique("Sec-WebSocket-Key"),
            Err(HandshakeError::DuplicateHeader("Sec-WebSocket-Key"))
        );
    }
}
