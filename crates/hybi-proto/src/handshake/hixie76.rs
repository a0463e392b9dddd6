//! The Hixie-76 = HyBi-00 opening handshake, also spoken by HyBi-02/-03 with
//! `Sec-WebSocket-Draft: 2` or `3` (VARIANTS.md §2, §3).
//!
//! ```text
//! GET /demo HTTP/1.1                               HTTP/1.1 101 WebSocket Protocol Handshake
//! Host: example.com                                Upgrade: WebSocket
//! Connection: Upgrade                              Connection: Upgrade
//! Sec-WebSocket-Key2: 12998 5 Y3 1  .P00           Sec-WebSocket-Origin: http://example.com
//! Sec-WebSocket-Protocol: sample                   Sec-WebSocket-Location: ws://example.com/demo
//! Upgrade: WebSocket                               Sec-WebSocket-Protocol: sample
//! Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5
//! Origin: http://example.com                       8jKS'y:G*Co,Wxa-      <- 16 raw bytes
//!
//! ^n:ds[4U                                         <- key3: 8 raw bytes after the head
//! ```
//!
//! answer = MD5(BE32(digits(key1) / spaces(key1)) ‖ BE32(digits(key2) / spaces(key2)) ‖ key3)
//!
//! The server writes its 101 head as soon as the request head is accepted, *then* waits
//! for key3, then writes the 16-byte answer: HTTP proxies hold key3 back until they have
//! seen a 101 (docs/drafts.md, intermediaries/README.md). The client accepts the answer in
//! any later segment. A `Content-Length: 8` on the request (Perl Protocol::WebSocket sends
//! one) changes nothing: key3 is the 8 bytes after the head either way.

use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{Rng, RngCore};

use super::hixie75::{check_echoes, check_hixie_request, hixie_target, HixieRequest, HixieTarget};
use super::{
    check_switching, read_response, with_extra, ClientOptions, ClientVariant, Rejection,
    ServerConfig, ServerVariant, Session,
};
use crate::error::HandshakeError;
use crate::framing::hybi01::Hybi01Codec;
use crate::framing::sentinel::SentinelCodec;
use crate::framing::Codec;
use crate::http::{HeadReader, Request, Response};
use crate::Variant;

/// The `Sec-WebSocket-Draft` value our HyBi-03 client sends. The -03 text reportedly
/// kept -02's `2` (pywebsocket notes), but `3` is what em-websocket's -03 test sends and
/// the only value the Ruby `websocket` gem frames the -01..-03 way (it frames `2` as
/// Hixie): `3` gets -03 framing from every peer we know. Our server accepts both.
pub const HYBI03_DRAFT_VALUE: &str = "3";

/// The fields a Hixie-76 answer echoes: origin, location, protocol.
const ECHO_FIELDS_76: [&str; 3] = [
    "Sec-WebSocket-Origin",
    "Sec-WebSocket-Location",
    "Sec-WebSocket-Protocol",
];

/// Decodes a `Sec-WebSocket-Key1`/`Key2` value (hixie-76 §5.2 steps 4–9, VARIANTS.md §2):
/// the digits read as one decimal number, divided by the number of spaces. Rejects, in
/// the draft's order: no digit at all (pywebsocket), a number over 4,294,967,295 ("a
/// symptom of an attack"), no space ("a symptom of a cross-protocol attack"), a number
/// that is not a multiple of the spaces.
pub fn key_part(key: &str) -> Result<u32, HandshakeError> {
    let mut number: u64 = 0;
    let mut digits = 0usize;
    let mut spaces: u64 = 0;
    for b in key.bytes() {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                number = number * 10 + u64::from(b - b'0');
                if number > u64::from(u32::MAX) {
                    return Err(HandshakeError::BadKey(format!(
                        "{key:?}: number greater than 4294967295"
                    )));
                }
            }
            b' ' => spaces += 1,
            _ => {}
        }
    }
    if digits == 0 {
        return Err(HandshakeError::BadKey(format!("{key:?}: no digits")));
    }
    if spaces == 0 {
        return Err(HandshakeError::BadKey(format!("{key:?}: no spaces")));
    }
    if !number.is_multiple_of(spaces) {
        return Err(HandshakeError::BadKey(format!(
            "{key:?}: {number} is not a multiple of {spaces} spaces"
        )));
    }
    Ok((number / spaces) as u32)
}

/// The 16-byte challenge: `BE32(part1) ‖ BE32(part2) ‖ key3`.
pub fn challenge(part1: u32, part2: u32, key3: &[u8; 8]) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[..4].copy_from_slice(&part1.to_be_bytes());
    c[4..8].copy_from_slice(&part2.to_be_bytes());
    c[8..].copy_from_slice(key3);
    c
}

/// The server's answer: `MD5(challenge)`.
pub fn answer(part1: u32, part2: u32, key3: &[u8; 8]) -> [u8; 16] {
    Md5::digest(challenge(part1, part2, key3)).into()
}

/// Generates a key per hixie-76 §4.1 steps 16–22 (VARIANTS.md §2): returns the number
/// the server will recover and the key text.
pub fn generate_key(rng: &mut impl Rng) -> (u32, String) {
    let spaces: u32 = rng.random_range(1..=12);
    let max = u32::MAX / spaces;
    let number: u32 = rng.random_range(0..=max);
    let mut key = (u64::from(number) * u64::from(spaces))
        .to_string()
        .into_bytes();
    // 1..12 characters from U+0021..U+002F and U+003A..U+007E, anywhere.
    for _ in 0..rng.random_range(1..=12) {
        let i: u8 = rng.random_range(0..(15 + 69));
        let c = if i < 15 { 0x21 + i } else { 0x3a + (i - 15) };
        let at = rng.random_range(0..=key.len());
        key.insert(at, c);
    }
    // The spaces, at positions other than the start or the end.
    for _ in 0..spaces {
        let at = rng.random_range(1..key.len());
        key.insert(at, b' ');
    }
    (number, String::from_utf8(key).expect("ASCII"))
}

/// Splits the -76 protocol field: a space-separated list per the draft; commas are
/// accepted too, as later drafts separate with them.
fn protocol_list(value: &str) -> Vec<&str> {
    value.split([' ', ',']).filter(|s| !s.is_empty()).collect()
}

/// Server side: head checks and key decoding happen before anything is written, so a
/// bad key is answered 400, never 101.
pub(crate) fn server(
    variant: Variant,
    req: &Request,
    cfg: &ServerConfig,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    let checked = check_hixie_request(req, cfg, "Sec-WebSocket-Protocol", protocol_list)?;
    // Field values as HTTP delivers them: leading and trailing spaces are not part of
    // a value (docs/drafts.md, "keys with spaces at the ends").
    let part1 = key_part(req.headers.required_str("Sec-WebSocket-Key1")?)?;
    let part2 = key_part(req.headers.required_str("Sec-WebSocket-Key2")?)?;
    Ok(Box::new(Hixie76Server {
        variant,
        request: Some(checked),
        head_written: false,
        parts: (part1, part2),
        key3: Vec::with_capacity(8),
    }))
}

struct Hixie76Server {
    variant: Variant,
    request: Option<HixieRequest>,
    head_written: bool,
    parts: (u32, u32),
    key3: Vec<u8>,
}

fn codec_for(variant: Variant) -> Box<dyn Codec> {
    match variant {
        Variant::Hybi03 => Box::new(Hybi01Codec::new()),
        _ => Box::new(SentinelCodec::hixie76()),
    }
}

impl ServerVariant for Hixie76Server {
    fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        let r = self.request.as_ref().expect("advance after completion");
        if !self.head_written {
            // The 101 head first, before key3 is there (proxies wait for it).
            r.write_101(out, "WebSocket Protocol Handshake", ECHO_FIELDS_76);
            self.head_written = true;
        }
        let take = (8 - self.key3.len()).min(input.len());
        self.key3.extend_from_slice(&input[..take]);
        if self.key3.len() < 8 {
            return Ok((take, None));
        }
        let key3: [u8; 8] = self.key3[..].try_into().expect("8 bytes");
        out.extend_from_slice(&answer(self.parts.0, self.parts.1, &key3));
        let r = self.request.take().expect("checked above");
        Ok((
            take,
            Some(r.into_session(self.variant, codec_for(self.variant))),
        ))
    }
}

/// Writes the request (head, then key3) and returns the machine that checks the answer.
pub(crate) fn client(
    opts: &ClientOptions,
    mut rng: StdRng,
    out: &mut Vec<u8>,
) -> Box<dyn ClientVariant> {
    let target = hixie_target(opts);
    let (number1, key1) = generate_key(&mut rng);
    let (number2, key2) = generate_key(&mut rng);
    let mut key3 = [0u8; 8];
    rng.fill_bytes(&mut key3);
    let protocols = opts.subprotocols.join(" ");
    let mut headers = target.request_headers();
    if !opts.subprotocols.is_empty() {
        headers.push(("Sec-WebSocket-Protocol", &protocols));
    }
    headers.push(("Sec-WebSocket-Key1", &key1));
    headers.push(("Sec-WebSocket-Key2", &key2));
    if opts.variant == Variant::Hybi03 {
        headers.push(("Sec-WebSocket-Draft", HYBI03_DRAFT_VALUE));
    }
    super::write_request(out, "GET", &opts.path, &with_extra(headers, opts));
    out.extend_from_slice(&key3);
    Box::new(Hixie76Client {
        variant: opts.variant,
        expected: answer(number1, number2, &key3),
        target,
        offered: opts.subprotocols.clone(),
        reader: HeadReader::default(),
        limits: opts.limits.clone(),
        path: opts.path.clone(),
        head: None,
        received: Vec::with_capacity(16),
    })
}

struct Hixie76Client {
    variant: Variant,
    expected: [u8; 16],
    target: HixieTarget,
    offered: Vec<String>,
    reader: HeadReader,
    limits: crate::Limits,
    path: String,
    /// The checked response head and the subprotocol, while the answer trickles in.
    head: Option<(Response, Option<String>)>,
    received: Vec<u8>,
}

impl ClientVariant for Hixie76Client {
    fn advance(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        let mut used = 0;
        if self.head.is_none() {
            let Some((resp, n)) = read_response(&mut self.reader, input, &self.limits)? else {
                return Ok((input.len(), None));
            };
            used = n;
            // hixie-76 §4.1 step 30: a three-digit code (httparse checks), then 101.
            // `Upgrade` and `Connection` are not checked by WebKit's -76 code; every
            // server we know sends them, and a 101 without them is not a WebSocket
            // answer (VARIANTS.md §2, [K]).
            check_switching(&resp)?;
            let subprotocol = check_echoes(&resp, &self.target, ECHO_FIELDS_76, &self.offered)?;
            self.head = Some((resp, subprotocol));
        }
        let rest = &input[used..];
        let take = (16 - self.received.len()).min(rest.len());
        self.received.extend_from_slice(&rest[..take]);
        used += take;
        if self.received.len() < 16 {
            return Ok((used, None));
        }
        if self.received != self.expected {
            return Err(HandshakeError::BadProof(format!(
                "MD5 answer {:02x?}, expected {:02x?}",
                self.received, self.expected
            )));
        }
        let (resp, subprotocol) = self.head.take().expect("set above");
        Ok((
            used,
            Some(self.target.session(
                self.variant,
                self.path.clone(),
                subprotocol,
                resp,
                codec_for(self.variant),
            )),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::handshake::{ClientHandshake, HandshakeStatus, ServerHandshake};
    use crate::{CloseCode, CloseFrame, Event};

    /// (key1, part1, key2, part2, key3, challenge hex, answer)
    type KeyVector = (
        &'static str,
        u32,
        &'static str,
        u32,
        &'static [u8; 8],
        &'static str,
        &'static [u8; 16],
    );
    /// VARIANTS.md §2, the three key vectors.
    const KEY_VECTORS: [KeyVector; 3] = [
        (
            "4 @1  46546xW%0l 1 5",
            829309203,
            "12998 5 Y3 1  .P00",
            259970620,
            b"^n:ds[4U",
            "316e41130f7ed63c5e6e3a64735b3455",
            b"8jKS'y:G*Co,Wxa-",
        ),
        (
            "18x 6]8vM;54 *(5:  {   U1]8  z [  8",
            155712099,
            "1_ tx7X d  <  nw  334J702) 7]o}` 0",
            173347027,
            b"Tm[K T2u",
            "0947fa630a5510d3546d5b4b20543275",
            b"fQJ,fN/4F4!~K~MH",
        ),
        (
            "3e6b263  4 17 80",
            906585445,
            "17  9 G`ZD9   2 2b 7X 3 /r90",
            179922739,
            b"WjN}|M(6",
            "360965650ab96733576a4e7d7c4d2836",
            b"n`9eBk9z$R8pOtVb",
        ),
    ];

    /// The draft's example request head (VARIANTS.md §2), byte-exact, and its key3.
    const REQUEST_76_HEAD: &[u8] = b"GET /demo HTTP/1.1\r\n\
Host: example.com\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
Sec-WebSocket-Protocol: sample\r\n\
Upgrade: WebSocket\r\n\
Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
Origin: http://example.com\r\n\r\n";
    const KEY3_76: &[u8] = b"^n:ds[4U";
    /// The draft's example response head, and the 16-byte answer after it.
    const RESPONSE_76_HEAD: &[u8] = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Location: ws://example.com/demo\r\n\
Sec-WebSocket-Protocol: sample\r\n\r\n";
    const ANSWER_76: &[u8] = b"8jKS'y:G*Co,Wxa-";

    fn cfg() -> Arc<ServerConfig> {
        Arc::new(ServerConfig {
            variants: Variant::ALL.to_vec(),
            subprotocols: vec!["sample".into()],
            ..ServerConfig::default()
        })
    }

    #[test]
    fn three_key_vectors() {
        for (k1, p1, k2, p2, key3, hex_challenge, expected) in KEY_VECTORS {
            assert_eq!(key_part(k1).unwrap(), p1, "{k1}");
            assert_eq!(key_part(k2).unwrap(), p2, "{k2}");
            assert_eq!(hex::encode(challenge(p1, p2, key3)), hex_challenge);
            assert_eq!(&answer(p1, p2, key3), expected);
        }
    }

    fn with_key3(head: &[u8], key3: &[u8]) -> Vec<u8> {
        let mut v = head.to_vec();
        v.extend_from_slice(key3);
        v
    }

    #[test]
    fn example_exchange_byte_exact() {
        let mut s = ServerHandshake::new(cfg());
        let req = with_key3(REQUEST_76_HEAD, KEY3_76);
        assert_eq!(s.receive_data(&req).unwrap(), HandshakeStatus::Done);
        assert_eq!(s.variant(), Some(Variant::Hixie76));
        assert_eq!(s.take_output(), with_key3(RESPONSE_76_HEAD, ANSWER_76));
        let (session, leftover) = s.into_session();
        assert!(leftover.is_empty());
        assert_eq!(session.subprotocol.as_deref(), Some("sample"));
    }

    #[test]
    fn server_writes_the_101_head_before_key3_arrives() {
        let mut s = ServerHandshake::new(cfg());
        assert_eq!(
            s.receive_data(REQUEST_76_HEAD).unwrap(),
            HandshakeStatus::InProgress
        );
        assert_eq!(s.take_output(), RESPONSE_76_HEAD);
        for (i, b) in KEY3_76.iter().enumerate() {
            let status = s.receive_data(std::slice::from_ref(b)).unwrap();
            if i < 7 {
                assert_eq!(status, HandshakeStatus::InProgress);
                assert!(s.take_output().is_empty());
            } else {
                assert_eq!(status, HandshakeStatus::Done);
            }
        }
        assert_eq!(s.take_output(), ANSWER_76);
    }

    #[test]
    fn stray_content_length_8_is_tolerated() {
        // Perl Protocol::WebSocket 0.26 adds it (peers/README.md defect 2).
        let head = String::from_utf8_lossy(REQUEST_76_HEAD)
            .replace("\r\n\r\n", "\r\nContent-Length: 8\r\n\r\n");
        let mut s = ServerHandshake::new(cfg());
        let mut req = with_key3(head.as_bytes(), KEY3_76);
        req.extend_from_slice(&[0x00, b'h', b'i', 0xff]);
        assert_eq!(s.receive_data(&req).unwrap(), HandshakeStatus::Done);
        assert!(s.take_output().ends_with(ANSWER_76));
        let (session, leftover) = s.into_session();
        let mut conn = session.into_connection(Default::default());
        conn.receive_data(&leftover);
        assert_eq!(conn.next_event(), Some(Event::Text("hi".into())));
    }

    #[test]
    fn hybi03_example_with_draft_header() {
        // em-websocket's -03 test: the -76 example plus Sec-WebSocket-Draft (2 and 3).
        for draft in ["2", "3"] {
            let head = String::from_utf8_lossy(REQUEST_76_HEAD).replace(
                "\r\n\r\n",
                &format!("\r\nSec-WebSocket-Draft: {draft}\r\n\r\n"),
            );
            let mut s = ServerHandshake::new(cfg());
            assert_eq!(
                s.receive_data(&with_key3(head.as_bytes(), KEY3_76))
                    .unwrap(),
                HandshakeStatus::Done
            );
            assert_eq!(s.variant(), Some(Variant::Hybi03));
            assert_eq!(s.take_output(), with_key3(RESPONSE_76_HEAD, ANSWER_76));
            let (session, _) = s.into_session();
            // HyBi-03 framing from here on: text "Hello" is 04 05 Hello
            let mut conn = session.into_connection(Default::default());
            conn.receive_data(&[0x04, 0x05, b'H', b'e', b'l', b'l', b'o']);
            assert_eq!(conn.next_event(), Some(Event::Text("Hello".into())));
        }
    }

    #[test]
    fn generated_keys_decode_to_their_number() {
        use rand::SeedableRng;
        let mut rng = StdRng::seed_from_u64(76);
        for _ in 0..2000 {
            let (number, key) = generate_key(&mut rng);
            assert_eq!(key_part(&key).unwrap(), number, "{key:?}");
            assert!(!key.starts_with(' ') && !key.ends_with(' '), "{key:?}");
            assert!(key.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{key:?}");
            let noise = key
                .bytes()
                .filter(|b| !b.is_ascii_digit() && *b != b' ')
                .count();
            assert!((1..=12).contains(&noise), "{key:?}");
        }
    }

    #[test]
    fn key_reject_rules() {
        let bad = |k: &str| matches!(key_part(k), Err(HandshakeError::BadKey(_)));
        assert!(bad("4294967296 1")); // digits 42949672961 > 4294967295
        assert!(bad("42949 67296")); // 4294967296: one over, with a space
        assert!(key_part("42949 67295").is_ok()); // 4294967295 / 1
        assert!(bad("12345")); // no spaces
        assert!(bad("1 2 3")); // 123 not a multiple of 2
        assert!(bad("a b c")); // no digits
        assert!(bad(" ")); // no digits
        assert_eq!(key_part("0 0").unwrap(), 0);
    }

    fn server_rejects(req: &[u8]) -> HandshakeError {
        let mut s = ServerHandshake::new(cfg());
        let e = s.receive_data(req).unwrap_err();
        let out = s.take_output();
        assert!(
            out.starts_with(b"HTTP/1.1 400 "),
            "{}",
            String::from_utf8_lossy(&out)
        );
        e
    }

    #[test]
    fn server_must_reject_and_never_answers_101() {
        let swap = |from: &str, to: &str| {
            with_key3(
                String::from_utf8_lossy(REQUEST_76_HEAD)
                    .replace(from, to)
                    .as_bytes(),
                KEY3_76,
            )
        };
        for (from, to) in [
            ("4 @1  46546xW%0l 1 5", "4146546015"),           // no spaces
            ("4 @1  46546xW%0l 1 5", "4 @1  46546xW%0l 1 6"), // not a multiple of 5
            ("4 @1  46546xW%0l 1 5", "9 @9  99999xW%9l 9 9"), // 9999999999 > 2^32 - 1
            ("4 @1  46546xW%0l 1 5", "x @y  zzzzzxW%Ol P Q"), // no digits
        ] {
            assert!(
                matches!(server_rejects(&swap(from, to)), HandshakeError::BadKey(_)),
                "{to}"
            );
        }
        assert_eq!(
            server_rejects(&swap("Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n", "")),
            HandshakeError::MissingHeader("Sec-WebSocket-Key2")
        );
        assert_eq!(
            server_rejects(&swap("Origin: http://example.com\r\n", "")),
            HandshakeError::MissingHeader("Origin")
        );
        assert!(matches!(
            server_rejects(&swap("Upgrade: WebSocket", "Upgrade: h2c")),
            HandshakeError::InvalidHeader {
                name: "Upgrade",
                ..
            } | HandshakeError::UnknownVariant(_)
        ));
        assert!(matches!(
            server_rejects(&swap("Connection: Upgrade", "Connection: close")),
            HandshakeError::InvalidHeader {
                name: "Connection",
                ..
            }
        ));
        assert!(matches!(
            server_rejects(&swap("\r\n\r\n", "\r\nSec-WebSocket-Draft: 4\r\n\r\n")),
            HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Draft",
                ..
            }
        ));
        assert!(matches!(
            server_rejects(&swap(
                "Sec-WebSocket-Protocol: sample",
                "Sec-WebSocket-Protocol: other"
            )),
            HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Protocol",
                ..
            }
        ));
    }

    #[test]
    fn keys_with_spaces_at_the_ends_are_read_as_http_delivers_them() {
        // The draft forbids them (§4.1 step 22); HTTP strips them from the field value
        // before we see it, so the key counts as if they were not there.
        let head = String::from_utf8_lossy(REQUEST_76_HEAD).replace(
            "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n",
            "Sec-WebSocket-Key1:  4 @1  46546xW%0l 1 5 \r\n",
        );
        let mut s = ServerHandshake::new(cfg());
        assert_eq!(
            s.receive_data(&with_key3(head.as_bytes(), KEY3_76))
                .unwrap(),
            HandshakeStatus::Done
        );
        assert!(s.take_output().ends_with(ANSWER_76));
    }

    fn round_trip(variant: Variant, chunk: usize) {
        let mut opts = ClientOptions::from_url("ws://127.0.0.1:9000/echo", variant).unwrap();
        opts.subprotocols = vec!["x".into(), "sample".into()];
        let mut c = ClientHandshake::new(&opts, [chunk as u8; 32]).unwrap();
        let mut s = ServerHandshake::new(cfg());
        let req = c.take_output();
        let mut status = HandshakeStatus::InProgress;
        for piece in req.chunks(chunk) {
            status = s.receive_data(piece).unwrap();
        }
        assert_eq!(status, HandshakeStatus::Done);
        assert_eq!(s.variant(), Some(variant));
        let mut resp = s.take_output();
        let (ss, _) = s.into_session();
        let mut server = ss.into_connection(Default::default());
        server.send_text("first").unwrap();
        resp.extend_from_slice(&server.take_output());
        let mut status = HandshakeStatus::InProgress;
        for piece in resp.chunks(chunk) {
            status = c.receive_data(piece).unwrap();
        }
        assert_eq!(status, HandshakeStatus::Done);
        let (cs, leftover) = c.into_session();
        assert_eq!(cs.subprotocol.as_deref(), Some("sample"));
        assert_eq!(cs.variant, variant);
        let mut client = cs.into_connection(Default::default());
        client.receive_data(&leftover);
        assert_eq!(client.next_event(), Some(Event::Text("first".into())));
        client.send_text("κόσμε").unwrap();
        client
            .send_close(CloseFrame::new(CloseCode::NO_STATUS, ""))
            .unwrap();
        server.receive_data(&client.take_output());
        assert_eq!(server.next_event(), Some(Event::Text("κόσμε".into())));
        assert!(matches!(server.next_event(), Some(Event::Close(_))));
        client.receive_data(&server.take_output());
        assert!(matches!(client.next_event(), Some(Event::Close(_))));
    }

    #[test]
    fn client_server_round_trip_any_segmentation() {
        for variant in [Variant::Hixie76, Variant::Hybi03] {
            for chunk in [1, 2, 7, 4096] {
                round_trip(variant, chunk);
            }
        }
    }

    #[test]
    fn client_request_shape() {
        let opts = ClientOptions::from_url("ws://Example.com/demo", Variant::Hybi03).unwrap();
        let mut c = ClientHandshake::new(&opts, [1; 32]).unwrap();
        let req = c.take_output();
        let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(req.len() - end, 8, "key3 follows the head");
        let head = String::from_utf8_lossy(&req[..end]);
        assert!(head.starts_with("GET /demo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com\r\nOrigin: http://example.com\r\n"), "{head}");
        assert!(head.contains("\r\nSec-WebSocket-Draft: 3\r\n"));
        assert!(!head.contains("Content-Length"));
    }

    #[test]
    fn client_must_fail() {
        // A real server answer for a client with seed [5; 32], then tampered.
        let opts = ClientOptions::from_url("ws://example.com/demo", Variant::Hixie76).unwrap();
        let good = {
            let mut c = ClientHandshake::new(&opts, [5; 32]).unwrap();
            let mut s = ServerHandshake::new(cfg());
            s.receive_data(&c.take_output()).unwrap();
            s.take_output()
        };
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        let head_end = good.len() - 16;
        let tamper = |from: &str, to: &str| {
            let mut v = text(&good[..head_end]).replace(from, to).into_bytes();
            v.extend_from_slice(&good[head_end..]);
            v
        };
        let mut bad_md5 = good.clone();
        *bad_md5.last_mut().unwrap() ^= 1;
        type Case = (Vec<u8>, fn(&HandshakeError) -> bool);
        let cases: Vec<Case> = vec![
            (bad_md5, |e| matches!(e, HandshakeError::BadProof(_))),
            (tamper("101 WebSocket", "200 WebSocket"), |e| {
                matches!(e, HandshakeError::UnexpectedStatus { code: 200, .. })
            }),
            (tamper("http://example.com", "http://evil.example"), |e| {
                matches!(
                    e,
                    HandshakeError::InvalidHeader {
                        name: "Sec-WebSocket-Origin",
                        ..
                    }
                )
            }),
            (tamper("ws://example.com/demo", "ws://example.com/"), |e| {
                matches!(
                    e,
                    HandshakeError::InvalidHeader {
                        name: "Sec-WebSocket-Location",
                        ..
                    }
                )
            }),
            (
                tamper("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n"),
                |e| matches!(e, HandshakeError::UnrequestedNegotiation(_)),
            ),
            (tamper("Upgrade: WebSocket\r\n", ""), |e| {
                matches!(e, HandshakeError::MissingHeader("Upgrade"))
            }),
        ];
        for (resp, check) in cases {
            let mut c = ClientHandshake::new(&opts, [5; 32]).unwrap();
            let mut result = Ok(HandshakeStatus::InProgress);
            for b in &resp {
                result = c.receive_data(std::slice::from_ref(b));
                if result.is_err() {
                    break;
                }
            }
            let err = result.unwrap_err();
            assert!(check(&err), "{}: {err:?}", text(&resp));
        }
        // and the untampered answer passes, even split after the head
        let mut c = ClientHandshake::new(&opts, [5; 32]).unwrap();
        assert_eq!(
            c.receive_data(&good[..head_end]).unwrap(),
            HandshakeStatus::InProgress
        );
        assert_eq!(
            c.receive_data(&good[head_end..]).unwrap(),
            HandshakeStatus::Done
        );
    }
}
