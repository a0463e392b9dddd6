//! The HyBi-04 opening handshake (VARIANTS.md §4), and the Key/Accept machinery that
//! HyBi-05 and -06 ([`super::hybi05`]) keep once the server nonce is dropped.
//!
//! ```text
//! GET /chat HTTP/1.1                              HTTP/1.1 101 Switching Protocols
//! Host: server.example.com                        Upgrade: websocket
//! Upgrade: websocket                              Connection: Upgrade
//! Connection: Upgrade                             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==     Sec-WebSocket-Nonce: H+cNj5elaybfGIQv1esl2w==
//! Sec-WebSocket-Origin: http://example.com        [Sec-WebSocket-Protocol: chat]
//! Sec-WebSocket-Protocol: chat, superchat
//! Sec-WebSocket-Version: 4
//! ```
//!
//! Accept = base64(SHA-1(key ‖ 258EAFA5-…)) as in RFC 6455. The 20-byte connection
//! masking key = SHA-1(key ‖ nonce ‖ `61AC5F19-FBBA-4540-B96F-6561F1AB40A8`), both as the
//! base64 text sent; it feeds the per-frame pads of [`crate::framing::hybi04`].
//!
//! Server checks (pywebsocket's -04 handshake): the RFC 6455 request checks, plus
//! `Connection` *equal* to `Upgrade` (only -06 relaxed it to "contains") and a mandatory
//! `Sec-WebSocket-Origin`.

use base64::Engine as _;
use rand::rngs::StdRng;
use sha1::{Digest, Sha1};

use super::{
    accept_101, accept_key, answer_at_once, check_upgrade_response, child_rng, one_response,
    random_key, with_extra, write_request, ClientOptions, ClientVariant, Rejection, ServerConfig,
    ServerVariant, Session,
};
use crate::entropy::Entropy;
use crate::error::HandshakeError;
use crate::framing::hybi04::Hybi04Codec;
use crate::framing::Codec;
use crate::http::Request;
use crate::{Side, Variant};

/// The GUID HyBi-04 appends when deriving the connection masking key.
pub const MASKING_GUID: &str = "61AC5F19-FBBA-4540-B96F-6561F1AB40A8";

/// HyBi-04's connection masking key: SHA-1(key ‖ nonce ‖ [`MASKING_GUID`]), over the
/// base64 texts exactly as sent.
pub fn connection_masking_key(key_b64: &str, nonce_b64: &str) -> [u8; 20] {
    let mut sha = Sha1::new();
    sha.update(key_b64.as_bytes());
    sha.update(nonce_b64.as_bytes());
    sha.update(MASKING_GUID.as_bytes());
    sha.finalize().into()
}

/// Server side: a fresh 16-byte nonce from the handshake's entropy.
pub(crate) fn server(
    req: &Request,
    cfg: &ServerConfig,
    mut entropy: Entropy,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    server_with_nonce(req, cfg, entropy.array())
}

/// Server side with a given nonce (tests replay pywebsocket's vector with it).
pub(crate) fn server_with_nonce(
    req: &Request,
    cfg: &ServerConfig,
    nonce: [u8; 16],
) -> Result<Box<dyn ServerVariant>, Rejection> {
    let nonce = base64::engine::general_purpose::STANDARD.encode(nonce);
    keyed_server(Variant::Hybi04, req, cfg, Some(nonce))
}

/// The request checks and answer of HyBi-04..-06. `nonce` is -04's server nonce.
pub(crate) fn keyed_server(
    variant: Variant,
    req: &Request,
    cfg: &ServerConfig,
    nonce: Option<String>,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    let key = super::rfc6455::check_request(req)?;
    if variant != Variant::Hybi06 {
        // -04/-05: `Connection` is "Upgrade"; -06 "must INCLUDE Upgrade, rather than is
        // equal to" (pywebsocket notes).
        let conn = req.headers.required_str("Connection")?;
        if !conn.eq_ignore_ascii_case("upgrade") {
            return Err(HandshakeError::InvalidHeader {
                name: "Connection",
                reason: format!("{conn:?} must be Upgrade before HyBi-06"),
            }
            .into());
        }
    }
    let origin = req.headers.optional_str("Sec-WebSocket-Origin")?;
    if variant == Variant::Hybi04 && origin.is_none_or(str::is_empty) {
        return Err(HandshakeError::MissingHeader("Sec-WebSocket-Origin").into());
    }
    let codec: Box<dyn Codec> = match variant {
        Variant::Hybi04 => {
            let nonce = nonce.as_deref().expect("-04 has a nonce");
            Box::new(Hybi04Codec::hybi04(
                Side::Server,
                connection_masking_key(key, nonce),
                None,
            ))
        }
        Variant::Hybi05 => Box::new(Hybi04Codec::hybi05(Side::Server, false, None)),
        _ => Box::new(Hybi04Codec::hybi05(Side::Server, true, None)),
    };
    let subprotocol = cfg.select_subprotocol(req.headers.tokens("Sec-WebSocket-Protocol"));
    let answer = accept_101(
        &accept_key(key),
        &[
            ("Sec-WebSocket-Nonce", nonce.as_deref()),
            ("Sec-WebSocket-Protocol", subprotocol.as_deref()),
        ],
    );
    let session = Session::server_side(
        variant,
        req.path().to_owned(),
        req.headers.optional_str("Host")?.map(str::to_owned),
        super::request_origin(req).map(str::to_owned),
        codec,
    );
    Ok(answer_at_once(
        answer,
        Session {
            subprotocol,
            ..session
        },
    ))
}

/// Writes a HyBi-04..-06 request and returns the machine that checks the answer.
pub(crate) fn keyed_client(
    opts: &ClientOptions,
    mut rng: StdRng,
    out: &mut Vec<u8>,
) -> Box<dyn ClientVariant> {
    let key = random_key(&mut rng, 16);
    let version = opts
        .variant
        .version_number()
        .expect("versioned")
        .to_string();
    let host = opts.host_header();
    // -04 servers require an origin (pywebsocket); -05/-06 send one only when asked.
    let origin = match (&opts.origin, opts.variant) {
        (Some(o), _) => Some(o.clone()),
        (None, Variant::Hybi04) => Some(super::hixie75::hixie_target(opts).origin),
        (None, _) => None,
    };
    let protocols = opts.subprotocols.join(", ");
    let mut headers: Vec<(&str, &str)> = vec![
        ("Host", &host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", &key),
    ];
    if let Some(o) = &origin {
        headers.push(("Sec-WebSocket-Origin", o));
    }
    if !opts.subprotocols.is_empty() {
        headers.push(("Sec-WebSocket-Protocol", &protocols));
    }
    headers.push(("Sec-WebSocket-Version", &version));
    write_request(out, "GET", &opts.path, &with_extra(headers, opts));
    let variant = opts.variant;
    let expected = accept_key(&key);
    let offered = opts.subprotocols.clone();
    let path = opts.path.clone();
    one_response(&opts.limits, move |resp| {
        let subprotocol = check_upgrade_response(&resp, &expected, &offered)?;
        let rng = child_rng(&mut rng);
        let codec: Box<dyn Codec> = match variant {
            Variant::Hybi04 => {
                let nonce = resp.headers.required_str("Sec-WebSocket-Nonce")?;
                if nonce.is_empty() {
                    return Err(HandshakeError::MissingHeader("Sec-WebSocket-Nonce"));
                }
                let key = connection_masking_key(&key, nonce);
                Box::new(Hybi04Codec::hybi04(Side::Client, key, Some(rng)))
            }
            Variant::Hybi05 => Box::new(Hybi04Codec::hybi05(Side::Client, false, Some(rng))),
            _ => Box::new(Hybi04Codec::hybi05(Side::Client, true, Some(rng))),
        };
        Ok(Session {
            origin,
            subprotocol,
            ..Session::client_side(variant, path, host, resp, codec)
        })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::handshake::{ClientHandshake, HandshakeStatus, ServerHandshake};
    use crate::http::{HeadProgress, HeadReader};
    use crate::{CloseCode, CloseFrame, Event, Limits};

    /// VARIANTS.md §4: the draft's example request (as libwebsockets reproduces it).
    const REQUEST_04: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 4\r\n\r\n";
    /// pywebsocket's -04 test vector: server nonce bytes, and the answer they give.
    const NONCE_04: [u8; 16] = [
        0x1f, 0xe7, 0x0d, 0x8f, 0x97, 0xa5, 0x6b, 0x26, 0xdf, 0x18, 0x84, 0x2f, 0xd5, 0xeb, 0x25,
        0xdb,
    ];
    const RESPONSE_04: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Nonce: H+cNj5elaybfGIQv1esl2w==\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n";
    const CONNECTION_KEY_04: [u8; 20] = [
        0x63, 0x22, 0xa2, 0xad, 0xc0, 0x2b, 0xc4, 0x33, 0xe3, 0x89, 0x6d, 0x34, 0x41, 0x0b, 0x74,
        0xbb, 0x77, 0x39, 0xf9, 0x60,
    ];
    /// The client's "Hello" with frame nonce 37 fa 21 3d under that key (VARIANTS.md §4).
    const HELLO_04_MASKED: &[u8] = &[
        0x37, 0xfa, 0x21, 0x3d, 0xb4, 0x65, 0x52, 0x35, 0x03, 0xbe, 0x58,
    ];

    fn cfg() -> ServerConfig {
        ServerConfig {
            variants: Variant::ALL.to_vec(),
            subprotocols: vec!["chat".into()],
            ..ServerConfig::default()
        }
    }

    fn parse(req: &[u8]) -> Request {
        match HeadReader::default()
            .feed_request(req, &Limits::default())
            .unwrap()
        {
            HeadProgress::Complete { head, .. } => head,
            HeadProgress::Partial => panic!("partial"),
        }
    }

    #[test]
    fn masking_key_vector() {
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(NONCE_04),
            "H+cNj5elaybfGIQv1esl2w=="
        );
        assert_eq!(
            connection_masking_key("dGhlIHNhbXBsZSBub25jZQ==", "H+cNj5elaybfGIQv1esl2w=="),
            CONNECTION_KEY_04
        );
    }

    #[test]
    fn pywebsocket_vector_byte_exact_and_derived_frame() {
        let req = parse(REQUEST_04);
        assert_eq!(Variant::detect(&req).unwrap(), Variant::Hybi04);
        let mut machine = server_with_nonce(&req, &cfg(), NONCE_04)
            .map_err(|r| r.error)
            .unwrap();
        let mut out = Vec::new();
        let (_, session) = machine.advance(&[], &mut out).unwrap();
        assert_eq!(out, RESPONSE_04);
        let mut conn = session.unwrap().into_connection(Default::default());
        conn.receive_data(HELLO_04_MASKED);
        assert_eq!(conn.next_event(), Some(Event::Text("Hello".into())));
        conn.send_text("Hello").unwrap();
        assert_eq!(
            conn.take_output(),
            [0x84, 0x05, b'H', b'e', b'l', b'l', b'o']
        );
    }

    #[test]
    fn the_drafts_own_example_accept_is_wrong() {
        // libwebsockets quotes the draft's example answer "me89jWimTRKTWwrS3aRrL53YZSo=";
        // the algorithm gives s3pP… for that key (VARIANTS.md §4). A client must refuse it.
        let opts =
            ClientOptions::from_url("ws://server.example.com/chat", Variant::Hybi04).unwrap();
        let mut c = ClientHandshake::new(&opts, [0; 32]).unwrap();
        let resp =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Accept: me89jWimTRKTWwrS3aRrL53YZSo=\r\n\
                    Sec-WebSocket-Nonce: AQIDBAUGBwgJCgsMDQ4PEC==\r\n\r\n";
        assert!(matches!(
            c.receive_data(resp.as_bytes()),
            Err(HandshakeError::BadProof(_))
        ));
    }

    #[test]
    fn round_trip_one_byte_segments() {
        let mut opts = ClientOptions::from_url("ws://127.0.0.1:9004/x", Variant::Hybi04).unwrap();
        opts.subprotocols = vec!["chat".into()];
        let mut c = ClientHandshake::new(&opts, [4; 32]).unwrap();
        let mut s = ServerHandshake::with_seed(Arc::new(cfg()), [44; 32]);
        for b in c.take_output() {
            s.receive_data(&[b]).unwrap();
        }
        assert_eq!(s.variant(), Some(Variant::Hybi04));
        let mut status = HandshakeStatus::InProgress;
        for b in s.take_output() {
            status = c.receive_data(&[b]).unwrap();
        }
        assert_eq!(status, HandshakeStatus::Done);
        let (cs, _) = c.into_session();
        let (ss, _) = s.into_session();
        assert!(cs.origin.is_some());
        let mut client = cs.into_connection(Default::default());
        let mut server = ss.into_connection(Default::default());
        client.send_text("Hello").unwrap();
        client.send_binary(&vec![5u8; 70_000]).unwrap();
        client.send_ping(b"p").unwrap();
        for piece in client.take_output().chunks(1000) {
            server.receive_data(piece);
        }
        assert_eq!(server.next_event(), Some(Event::Text("Hello".into())));
        assert_eq!(server.next_event(), Some(Event::Binary(vec![5u8; 70_000])));
        assert_eq!(server.next_event(), Some(Event::Ping(b"p".to_vec())));
        client.receive_data(&server.take_output());
        assert_eq!(client.next_event(), Some(Event::Pong(b"p".to_vec())));
        client
            .send_close(CloseFrame::new(CloseCode::NO_STATUS, ""))
            .unwrap();
        server.receive_data(&client.take_output());
        assert!(matches!(server.next_event(), Some(Event::Close(_))));
    }

    #[test]
    fn server_nonces_differ_per_handshake() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..8 {
            let mut s = ServerHandshake::new(Arc::new(cfg()));
            s.receive_data(REQUEST_04).unwrap();
            let out = String::from_utf8(s.take_output()).unwrap();
            let nonce = out
                .lines()
                .find(|l| l.starts_with("Sec-WebSocket-Nonce: "))
                .unwrap()
                .to_owned();
            assert!(seen.insert(nonce));
        }
    }

    #[test]
    fn server_must_reject() {
        let reject = |from: &str, to: &str| {
            let req = String::from_utf8_lossy(REQUEST_04).replace(from, to);
            let mut s = ServerHandshake::new(Arc::new(cfg()));
            let e = s.receive_data(req.as_bytes()).unwrap_err();
            assert!(s.take_output().starts_with(b"HTTP/1.1 400 "));
            e
        };
        assert_eq!(
            reject("Sec-WebSocket-Origin: http://example.com\r\n", ""),
            HandshakeError::MissingHeader("Sec-WebSocket-Origin")
        );
        assert!(matches!(
            reject("Connection: Upgrade", "Connection: keep-alive, Upgrade"),
            HandshakeError::InvalidHeader {
                name: "Connection",
                ..
            }
        ));
        assert!(matches!(
            reject("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ=="),
            HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Key",
                ..
            }
        ));
        assert!(matches!(
            reject("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=?"),
            HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Key",
                ..
            }
        ));
        assert_eq!(
            reject("Host: server.example.com\r\n", ""),
            HandshakeError::MissingHeader("Host")
        );
    }

    #[test]
    fn client_needs_the_nonce() {
        let opts = ClientOptions::from_url("ws://a/", Variant::Hybi04).unwrap();
        let mut c = ClientHandshake::new(&opts, [1; 32]).unwrap();
        let req = String::from_utf8(c.take_output()).unwrap();
        assert!(req.contains("\r\nSec-WebSocket-Version: 4\r\n"));
        assert!(req.contains("\r\nSec-WebSocket-Origin: http://a\r\n"));
        let key = req
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key)
        );
        assert_eq!(
            c.receive_data(resp.as_bytes()).unwrap_err(),
            HandshakeError::MissingHeader("Sec-WebSocket-Nonce")
        );
    }
}
