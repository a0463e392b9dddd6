//! The Hixie-75 opening handshake (VARIANTS.md §1): no key, no proof, the server echoes
//! the origin and the URL.
//!
//! ```text
//! GET /demo HTTP/1.1                        HTTP/1.1 101 Web Socket Protocol Handshake
//! Upgrade: WebSocket                        Upgrade: WebSocket
//! Connection: Upgrade                       Connection: Upgrade
//! Host: example.com                         WebSocket-Origin: http://example.com
//! Origin: http://example.com                WebSocket-Location: ws://example.com/demo
//! [WebSocket-Protocol: sample]              [WebSocket-Protocol: sample]
//! ```
//!
//! The client checks the first 85 bytes of the answer byte for byte (status line with
//! "Web Socket" spelled with a space, `Upgrade: WebSocket`, `Connection: Upgrade`), as
//! WebKit's -75 code did, then the echoed origin, location and protocol. The helpers for
//! Origin, Host and Location are shared with [`super::hixie76`].

use super::{
    answer_at_once, expect_status, read_response, required_nonempty, with_extra, ClientOptions,
    ClientVariant, Rejection, ServerConfig, ServerVariant, Session,
};
use crate::error::HandshakeError;
use crate::framing::sentinel::SentinelCodec;
use crate::framing::Codec;
use crate::http::{self, HeadReader, Request, Response};
use crate::Variant;

/// The first 85 bytes of every Hixie-75 answer.
pub const RESPONSE_PREFIX_75: &[u8] =
    b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n";

/// The fields a Hixie-75 answer echoes: origin, location, protocol.
pub(crate) const ECHO_FIELDS_75: [&str; 3] = [
    "WebSocket-Origin",
    "WebSocket-Location",
    "WebSocket-Protocol",
];

/// What the Hixie family's server needs from a request once checked.
pub(crate) struct HixieRequest {
    pub origin: String,
    pub host: String,
    pub location: String,
    pub path: String,
    pub subprotocol: Option<String>,
}

impl HixieRequest {
    /// The `101` head of the Hixie family (hixie-76 §5.2): `Upgrade: WebSocket`,
    /// `Connection: Upgrade`, then the origin and location echoes and the selected
    /// protocol, under the draft's `fields` (origin, location, protocol).
    pub(crate) fn write_101(&self, out: &mut Vec<u8>, reason: &str, fields: [&str; 3]) {
        let [origin, location, protocol] = fields;
        let mut headers: Vec<(&str, &str)> = vec![
            ("Upgrade", "WebSocket"),
            ("Connection", "Upgrade"),
            (origin, &self.origin),
            (location, &self.location),
        ];
        if let Some(p) = &self.subprotocol {
            headers.push((protocol, p));
        }
        http::write_response(out, 101, reason, &headers);
    }

    /// The server's session for the checked request.
    pub(crate) fn into_session(self, variant: Variant, codec: Box<dyn Codec>) -> Session {
        Session {
            subprotocol: self.subprotocol,
            ..Session::server_side(
                variant,
                self.path,
                Some(self.host),
                Some(self.origin),
                codec,
            )
        }
    }
}

/// The server checks the Hixie drafts share (hixie-76 §5.1, "should abort" list, which
/// pywebsocket's -75 code also applies): `Upgrade: WebSocket` and `Connection: Upgrade`
/// (ASCII case-insensitive), `Host` and `Origin` present (the answer echoes both), and a
/// requested subprotocol that this server speaks. `protocols` splits the request's
/// protocol field into the offered names.
pub(crate) fn check_hixie_request(
    req: &Request,
    cfg: &ServerConfig,
    protocol_field: &'static str,
    protocols: fn(&str) -> Vec<&str>,
) -> Result<HixieRequest, Rejection> {
    if req.version < 1 {
        return Err(HandshakeError::MalformedHead("HTTP/1.0 (need 1.1)".into()).into());
    }
    if !req.headers.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::InvalidHeader {
            name: "Upgrade",
            reason: "must be WebSocket".into(),
        }
        .into());
    }
    if !req.headers.has_token("Connection", "upgrade") {
        return Err(HandshakeError::InvalidHeader {
            name: "Connection",
            reason: "must be Upgrade".into(),
        }
        .into());
    }
    let host = required_nonempty(req, "Host")?;
    // The answer must echo an origin; a request without one cannot be answered.
    let origin = required_nonempty(req, "Origin")?;
    let subprotocol = match req.headers.optional_str(protocol_field)? {
        None => None,
        Some(value) => {
            if value.bytes().any(|b| !(0x20..=0x7e).contains(&b)) {
                return Err(HandshakeError::InvalidHeader {
                    name: protocol_field,
                    reason: "characters outside U+0020..U+007E".into(),
                }
                .into());
            }
            let offered = protocols(value);
            match cfg.select_subprotocol(offered.into_iter()) {
                Some(p) => Some(p),
                // hixie-76 §5.1: "the server should abort the WebSocket connection if the
                // field does not contain a value that does matches one of the subprotocols
                // that the server supports" (the client would fail anyway: it requires
                // the answer to name the protocol it asked for).
                None => {
                    return Err(HandshakeError::InvalidHeader {
                        name: protocol_field,
                        reason: format!("no subprotocol of {value:?} is spoken here"),
                    }
                    .into())
                }
            }
        }
    };
    let scheme = if cfg.secure { "wss" } else { "ws" };
    let path = req.path().to_owned();
    Ok(HixieRequest {
        origin: origin.to_owned(),
        host: host.to_owned(),
        location: format!("{scheme}://{host}{path}"),
        path,
        subprotocol,
    })
}

/// Server side: checks, then the 101 answer at once.
pub(crate) fn server(
    req: &Request,
    cfg: &ServerConfig,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    // -75 offers a single protocol name (printable ASCII, spaces allowed).
    let checked = check_hixie_request(req, cfg, "WebSocket-Protocol", |v| vec![v])?;
    let mut answer = Vec::new();
    checked.write_101(&mut answer, "Web Socket Protocol Handshake", ECHO_FIELDS_75);
    let session = checked.into_session(Variant::Hixie75, Box::new(SentinelCodec::hixie75()));
    Ok(answer_at_once(answer, session))
}

/// What the Hixie family's client sends and expects back.
pub(crate) struct HixieTarget {
    /// `Host` value: lower-cased host, `:port` only when not the default (WebKit).
    pub host: String,
    /// `Origin` value: the one asked for, else the target's own origin (the drafts make
    /// the field mandatory and servers such as Tornado 3 refuse requests without it).
    pub origin: String,
    /// The URL the server must echo as its location.
    pub location: String,
}

impl HixieTarget {
    /// The request fields every Hixie draft starts with, in the drafts' fixed order
    /// (pywebsocket's strict -75 checker mirrors it).
    pub(crate) fn request_headers(&self) -> Vec<(&str, &str)> {
        vec![
            ("Upgrade", "WebSocket"),
            ("Connection", "Upgrade"),
            ("Host", &self.host),
            ("Origin", &self.origin),
        ]
    }

    /// The client's session once the answer checked out.
    pub(crate) fn session(
        &self,
        variant: Variant,
        path: String,
        subprotocol: Option<String>,
        response: Response,
        codec: Box<dyn Codec>,
    ) -> Session {
        Session {
            origin: Some(self.origin.clone()),
            subprotocol,
            ..Session::client_side(variant, path, self.host.clone(), response, codec)
        }
    }
}

pub(crate) fn hixie_target(opts: &ClientOptions) -> HixieTarget {
    let host = opts.host_header().to_ascii_lowercase();
    let (scheme, web) = if opts.secure {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    HixieTarget {
        origin: opts
            .origin
            .clone()
            .unwrap_or_else(|| format!("{web}://{host}")),
        location: format!("{scheme}://{host}{}", opts.path),
        host,
    }
}

/// Compares an echoed location with the expected URL: scheme and authority ignoring
/// ASCII case (hosts are case-insensitive), the resource exactly.
pub(crate) fn location_matches(expected: &str, got: &str) -> bool {
    let split = |u: &str| -> (String, String) {
        let after_scheme = u.find("://").map(|i| i + 3).unwrap_or(0);
        let path_at = u[after_scheme..]
            .find('/')
            .map(|i| i + after_scheme)
            .unwrap_or(u.len());
        (u[..path_at].to_ascii_lowercase(), u[path_at..].to_owned())
    };
    split(expected) == split(got)
}

/// Checks the echoed origin, location and protocol of a Hixie answer.
pub(crate) fn check_echoes(
    resp: &Response,
    target: &HixieTarget,
    names: [&'static str; 3],
    offered: &[String],
) -> Result<Option<String>, HandshakeError> {
    let [origin_field, location_field, protocol_field] = names;
    let origin = resp.headers.required_str(origin_field)?;
    if origin != target.origin {
        return Err(HandshakeError::InvalidHeader {
            name: origin_field,
            reason: format!("{origin:?}, expected {:?}", target.origin),
        });
    }
    let location = resp.headers.required_str(location_field)?;
    if !location_matches(&target.location, location) {
        return Err(HandshakeError::InvalidHeader {
            name: location_field,
            reason: format!("{location:?}, expected {:?}", target.location),
        });
    }
    match resp.headers.optional_str(protocol_field)? {
        None if offered.is_empty() => Ok(None),
        None => Err(HandshakeError::MissingHeader(protocol_field)),
        Some(p)
            if offered.iter().any(|o| o == p)
                || (!offered.is_empty() && p == offered.join(" ")) =>
        {
            Ok(Some(p.to_owned()))
        }
        Some(p) => Err(HandshakeError::UnrequestedNegotiation(format!(
            "subprotocol {p:?}"
        ))),
    }
}

/// Writes the request and returns the machine that checks the answer.
pub(crate) fn client(
    opts: &ClientOptions,
    out: &mut Vec<u8>,
) -> Result<Box<dyn ClientVariant>, HandshakeError> {
    if opts.subprotocols.len() > 1 {
        return Err(HandshakeError::InvalidHeader {
            name: "WebSocket-Protocol",
            reason: "Hixie-75 offers a single subprotocol".into(),
        });
    }
    let target = hixie_target(opts);
    let mut headers = target.request_headers();
    if let Some(p) = opts.subprotocols.first() {
        headers.push(("WebSocket-Protocol", p));
    }
    super::write_request(out, "GET", &opts.path, &with_extra(headers, opts));
    Ok(Box::new(Hixie75Client {
        target,
        offered: opts.subprotocols.clone(),
        prefix: Vec::with_capacity(RESPONSE_PREFIX_75.len()),
        reader: HeadReader::default(),
        limits: opts.limits.clone(),
        path: opts.path.clone(),
    }))
}

struct Hixie75Client {
    target: HixieTarget,
    offered: Vec<String>,
    /// The answer's first bytes, up to 85, for the byte-exact check.
    prefix: Vec<u8>,
    reader: HeadReader,
    limits: crate::Limits,
    path: String,
}

impl ClientVariant for Hixie75Client {
    fn advance(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        let want = RESPONSE_PREFIX_75.len() - self.prefix.len();
        self.prefix
            .extend_from_slice(&input[..want.min(input.len())]);
        let Some((resp, used)) = read_response(&mut self.reader, input, &self.limits)? else {
            return Ok((input.len(), None));
        };
        expect_status(&resp, 101)?;
        if self.prefix != RESPONSE_PREFIX_75 {
            return Err(HandshakeError::MalformedHead(format!(
                "the first 85 bytes must be {:?}, got {:?}",
                String::from_utf8_lossy(RESPONSE_PREFIX_75),
                String::from_utf8_lossy(&self.prefix)
            )));
        }
        let subprotocol = check_echoes(&resp, &self.target, ECHO_FIELDS_75, &self.offered)?;
        Ok((
            used,
            Some(self.target.session(
                Variant::Hixie75,
                self.path.clone(),
                subprotocol,
                resp,
                Box::new(SentinelCodec::hixie75()),
            )),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::handshake::{ClientHandshake, HandshakeStatus, ServerHandshake};
    use crate::Event;

    /// VARIANTS.md §1 (websocket-ruby's fixtures, pywebsocket's response format).
    const REQUEST_75: &[u8] = b"GET /demo HTTP/1.1\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Host: example.com\r\n\
Origin: http://example.com\r\n\r\n";
    const RESPONSE_75: &[u8] = b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
WebSocket-Origin: http://example.com\r\n\
WebSocket-Location: ws://example.com/demo\r\n\r\n";

    fn cfg() -> Arc<ServerConfig> {
        Arc::new(ServerConfig {
            variants: Variant::ALL.to_vec(),
            subprotocols: vec!["sample".into()],
            ..ServerConfig::default()
        })
    }

    fn opts() -> ClientOptions {
        let mut o = ClientOptions::from_url("ws://example.com/demo", Variant::Hixie75).unwrap();
        o.origin = Some("http://example.com".into());
        o
    }

    #[test]
    fn prefix_is_85_bytes() {
        assert_eq!(RESPONSE_PREFIX_75.len(), 85);
    }

    #[test]
    fn example_exchange_byte_exact_both_roles() {
        let mut s = ServerHandshake::new(cfg());
        assert_eq!(s.receive_data(REQUEST_75).unwrap(), HandshakeStatus::Done);
        assert_eq!(s.variant(), Some(Variant::Hixie75));
        assert_eq!(s.take_output(), RESPONSE_75);
        let mut c = ClientHandshake::new(&opts(), [0; 32]).unwrap();
        assert_eq!(c.take_output(), REQUEST_75);
        assert_eq!(c.receive_data(RESPONSE_75).unwrap(), HandshakeStatus::Done);
    }

    #[test]
    fn round_trip_one_byte_segments_with_protocol() {
        let mut o =
            ClientOptions::from_url("ws://LocalHost:8080/chat?x=1", Variant::Hixie75).unwrap();
        o.subprotocols = vec!["sample".into()];
        let mut c = ClientHandshake::new(&o, [3; 32]).unwrap();
        let mut s = ServerHandshake::new(cfg());
        for b in c.take_output() {
            s.receive_data(&[b]).unwrap();
        }
        let mut resp = s.take_output();
        resp.extend_from_slice(&[0x00, b'h', b'i', 0xff]); // a frame right behind the head
        let mut status = HandshakeStatus::InProgress;
        for b in &resp {
            status = c.receive_data(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(status, HandshakeStatus::Done);
        let (cs, leftover) = c.into_session();
        let (ss, _) = s.into_session();
        assert_eq!(cs.subprotocol.as_deref(), Some("sample"));
        assert_eq!(ss.origin.as_deref(), Some("http://localhost:8080"));
        assert_eq!(ss.path, "/chat?x=1");
        let mut client = cs.into_connection(Default::default());
        client.receive_data(&leftover);
        assert_eq!(client.next_event(), Some(Event::Text("hi".into())));
        let mut server = ss.into_connection(Default::default());
        client.send_text("héllo").unwrap();
        server.receive_data(&client.take_output());
        assert_eq!(server.next_event(), Some(Event::Text("héllo".into())));
    }

    fn server_rejects(req: &str) -> HandshakeError {
        let mut s = ServerHandshake::new(cfg());
        let e = s.receive_data(req.as_bytes()).unwrap_err();
        assert!(String::from_utf8_lossy(&s.take_output()).starts_with("HTTP/1.1 400 "));
        e
    }

    #[test]
    fn server_must_reject() {
        let no_origin =
            "GET / HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: a\r\n\r\n";
        assert_eq!(
            server_rejects(no_origin),
            HandshakeError::MissingHeader("Origin")
        );
        let no_host = "GET / HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nOrigin: http://a\r\n\r\n";
        assert_eq!(
            server_rejects(no_host),
            HandshakeError::MissingHeader("Host")
        );
        let bad_conn = "GET / HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: close\r\nHost: a\r\nOrigin: http://a\r\n\r\n";
        assert!(matches!(
            server_rejects(bad_conn),
            HandshakeError::InvalidHeader {
                name: "Connection",
                ..
            }
        ));
        let bad_proto =
            "GET / HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: a\r\n\
                         Origin: http://a\r\nWebSocket-Protocol: other\r\n\r\n";
        assert!(matches!(
            server_rejects(bad_proto),
            HandshakeError::InvalidHeader {
                name: "WebSocket-Protocol",
                ..
            }
        ));
    }

    #[test]
    fn client_must_fail() {
        let swap = |from: &str, to: &str| String::from_utf8_lossy(RESPONSE_75).replace(from, to);
        let cases = [
            // "WebSocket" without the space is the -76 status line
            swap("Web Socket Protocol", "WebSocket Protocol"),
            swap("Upgrade: WebSocket", "Upgrade: websocket"),
            swap(
                "Connection: Upgrade\r\nWebSocket-Origin",
                "Connection: upgrade\r\nWebSocket-Origin",
            ),
            swap("http://example.com", "http://evil.example"),
            swap("ws://example.com/demo", "ws://example.com/other"),
            swap("WebSocket-Origin: http://example.com\r\n", ""),
            swap("101 Web Socket Protocol Handshake", "200 OK"),
            swap("\r\n\r\n", "\r\nWebSocket-Protocol: sample\r\n\r\n"),
        ];
        for resp in cases {
            let mut c = ClientHandshake::new(&opts(), [0; 32]).unwrap();
            assert!(c.receive_data(resp.as_bytes()).is_err(), "{resp}");
        }
    }
}
