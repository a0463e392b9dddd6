//! **`connect-masked`** (Rescorla & Barth) and **`connect`** (Fette): `CONNECT
//! websocket.invalid:443`, an HMAC proof, and the real URL in `Sec-WebSocket-Metadata`.
//!
//! The request line and `Host` name only the RFC 2606 invalid host, so an intermediary
//! that honours CONNECT fails to reach it; the WebSocket server routes by the URL inside
//! the metadata (here: [`Session::path`] and [`Session::host`] come from it, and the
//! server's host/origin policy is applied to it). The server proves it understood with
//! `base64(HMAC-SHA-1(key = Sec-WebSocket-Key text, GUID))` on a `200`.
//!
//! * `connect-masked`: the metadata is `base64(n ‖ AES-128-CTR(K_aes, n, "<url> <origin>"))`
//!   and every later frame, in both directions, is an RFC 6455 frame (MASK = 0) encrypted
//!   whole under a fresh 8-byte nonce ([`crate::framing::aes_ctr`]), with
//!   `K_aes = HMAC-SHA-1(key text, "C1BA787A-0556-49F3-B6AE-32E5376F992B")[..16]`.
//! * `connect`: the metadata is `<url> <origin>` in clear and frames are unmasked in both
//!   directions ([`Rfc6455Codec::unmasked`]).
//!
//! Detection: a metadata value starting with `ws://`/`wss://` is `connect`,
//! anything else `connect-masked` (base64 has no `:`); a CONNECT to any other target is
//! refused: a WebSocket server is not a forward proxy.
//!
//! ```text
//! C: CONNECT websocket.invalid:443 HTTP/1.1
//!    Host: websocket.invalid:443
//!    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//!    Sec-WebSocket-Metadata: bWV0YWRhdGEB1qGwm0S4xycFY1UYgRVEZUOuVzX8TmxnGEwKR6uja5p1wKrpJXdERqapehiKlw==
//! S: HTTP/1.1 200 OK
//!    Sec-WebSocket-Accept: I0LaJwpzqqaocDChnoeI5+bJdnQ=
//! C: 1f 2e 3d 4c 5b 6a 79 88 | 09 e6 c7 e7 6f 16 ff      (nonce | encrypted 81 05 "Hello")
//! ```
//!
//! A client without a configured origin sends the origin `null`.
//!
//! # Specification: `connect-masked` (`docs/proposals/connect-masked.md`)
//!
#![doc = include_str!("../../../../docs/proposals/connect-masked.md")]
//!
//! # Specification: `connect` (`docs/proposals/connect.md`)
//!
#![doc = include_str!("../../../../docs/proposals/connect.md")]

use base64::Engine as _;

use super::{
    answer_at_once, check_accept, expect_status, forbid_headers, hmac_sha1, host_allowed,
    no_subprotocols, one_response, origin_allowed, required_key16, with_extra, write_request,
    wrong_request_line, ClientOptions, ClientVariant, Rejection, ServerConfig, ServerVariant,
    Session,
};
use crate::entropy::Entropy;
use crate::error::HandshakeError;
use crate::framing::aes_ctr::{self, AesCtrCodec, NONCE_LEN};
use crate::framing::rfc6455::Rfc6455Codec;
use crate::framing::Codec;
use crate::http::{self, Request};
use crate::{Side, Variant, WEBSOCKET_GUID};

/// The only CONNECT target that is a WebSocket handshake (request-target and `Host`).
pub const TARGET: &str = "websocket.invalid:443";

/// The GUID whose HMAC under the connection key is the AES key (paper §IV-D-1).
pub const MASK_GUID: &str = "C1BA787A-0556-49F3-B6AE-32E5376F992B";

/// The metadata header.
pub const METADATA: &str = "Sec-WebSocket-Metadata";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `base64(HMAC-SHA-1(key = key text, msg = GUID))`: the server's proof.
pub fn accept_hmac(key: &str) -> String {
    B64.encode(hmac_sha1(key.trim().as_bytes(), WEBSOCKET_GUID.as_bytes()))
}

/// `K_aes = HMAC-SHA-1(key = key text, msg = mask GUID)[0..16]`.
pub fn mask_key(key: &str) -> [u8; 16] {
    let mac = hmac_sha1(key.trim().as_bytes(), MASK_GUID.as_bytes());
    mac[..16].try_into().expect("20 bytes")
}

/// Seals the metadata string: `base64(n ‖ AES-128-CTR(K_aes, n, metadata))`.
pub fn seal_metadata(k_aes: &[u8; 16], nonce: &[u8; NONCE_LEN], metadata: &str) -> String {
    let mut sealed = nonce.to_vec();
    let start = sealed.len();
    sealed.extend_from_slice(metadata.as_bytes());
    aes_ctr::apply(k_aes, nonce, &mut sealed[start..]);
    B64.encode(sealed)
}

/// Opens a sealed metadata value (the inverse of [`seal_metadata`]).
pub fn open_metadata(k_aes: &[u8; 16], value: &str) -> Result<String, HandshakeError> {
    let bad = |reason: &str| HandshakeError::InvalidHeader {
        name: METADATA,
        reason: reason.into(),
    };
    let mut raw = B64.decode(value).map_err(|_| bad("not padded base64"))?;
    if raw.len() <= NONCE_LEN {
        return Err(bad("shorter than nonce + 1 byte"));
    }
    let nonce: [u8; NONCE_LEN] = raw[..NONCE_LEN].try_into().expect("8 bytes");
    aes_ctr::apply(k_aes, &nonce, &mut raw[NONCE_LEN..]);
    String::from_utf8(raw.split_off(NONCE_LEN)).map_err(|_| bad("decrypts to non-ASCII bytes"))
}

/// The parsed `<ws-url> SP <origin>` metadata.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// The URL, parsed as a client would (host, port, path).
    pub url: ClientOptions,
    /// The origin (`null` for non-browser clients).
    pub origin: String,
}

impl Metadata {
    /// Parses and validates `<ws-url> SP <origin>`: exactly one SP, every other byte
    /// 0x21–0x7E, a `ws:`/`wss:` URL without fragment.
    pub fn parse(text: &str, variant: Variant) -> Result<Metadata, HandshakeError> {
        let bad = |reason: String| HandshakeError::InvalidHeader {
            name: METADATA,
            reason,
        };
        if text
            .bytes()
            .any(|b| b != b' ' && !(0x21..=0x7e).contains(&b))
        {
            return Err(bad("bytes outside 0x21-0x7E".into()));
        }
        let mut parts = text.split(' ');
        let (Some(url), Some(origin), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not <ws-url> SP <origin>".into()));
        };
        if url.is_empty() || origin.is_empty() {
            return Err(bad("not <ws-url> SP <origin>".into()));
        }
        if url.contains('#') {
            return Err(bad("URL with a fragment".into()));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(format!("{url:?} is not a ws/wss URL")))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "ws" && scheme != "wss" {
            return Err(bad(format!("{url:?} is not a ws/wss URL")));
        }
        let url = ClientOptions::from_url(&format!("{scheme}://{rest}"), variant)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Metadata {
            url,
            origin: origin.to_owned(),
        })
    }
}

/// Tells the two CONNECT proposals apart (and refuses any other CONNECT: a WebSocket
/// server is not a forward proxy).
pub(crate) fn detect(req: &Request) -> Result<Variant, HandshakeError> {
    if !req.target.eq_ignore_ascii_case(TARGET) {
        return Err(HandshakeError::UnknownVariant(format!(
            "CONNECT to {} (only {TARGET} is a WebSocket handshake)",
            req.target
        )));
    }
    let plain = req.headers.get(METADATA).is_some_and(|v| {
        let v = v.trim_ascii_start();
        let starts = |p: &[u8]| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p);
        starts(b"ws://") || starts(b"wss://")
    });
    Ok(if plain {
        Variant::Connect
    } else {
        Variant::ConnectMasked
    })
}

/// Server side: every check of the request, including the metadata, happens here, so a
/// refused request is answered before anything is accepted.
pub(crate) fn server(
    variant: Variant,
    req: &Request,
    cfg: &ServerConfig,
    entropy: Entropy,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    if req.method != "CONNECT" || req.version != 1 || !req.target.eq_ignore_ascii_case(TARGET) {
        return Err(wrong_request_line(req, &format!("CONNECT {TARGET}")).into());
    }
    let host = req.headers.required_str("Host")?;
    if !host.eq_ignore_ascii_case(TARGET) {
        return Err(HandshakeError::InvalidHeader {
            name: "Host",
            reason: format!("{host:?}, must be {TARGET}"),
        }
        .into());
    }
    let key = required_key16(req)?;
    forbid_headers(
        req,
        variant,
        &[
            "Upgrade",
            "Content-Length",
            "Transfer-Encoding",
            "Sec-WebSocket-Version",
        ],
    )?;
    let value = req.headers.required_str(METADATA)?;
    let k_aes = mask_key(key);
    let text = match variant {
        Variant::ConnectMasked => open_metadata(&k_aes, value)?,
        _ => value.to_owned(),
    };
    let meta = Metadata::parse(&text, variant)?;
    if !host_allowed(cfg, &meta.url.host) {
        return Err(Rejection {
            status: 404,
            reason: "Not Found",
            headers: Vec::new(),
            error: HandshakeError::Refused(format!(
                "host {:?} (from the metadata) is not served here",
                meta.url.host
            )),
        });
    }
    if !origin_allowed(cfg, Some(&meta.origin)) {
        return Err(Rejection::forbidden(HandshakeError::OriginRejected(
            meta.origin,
        )));
    }
    let codec: Box<dyn Codec> = match variant {
        Variant::ConnectMasked => Box::new(AesCtrCodec::with_entropy(k_aes, entropy)),
        _ => Box::new(Rfc6455Codec::unmasked(Side::Server)),
    };
    let session = Session::server_side(
        variant,
        meta.url.path.clone(),
        Some(meta.url.host_header()),
        Some(meta.origin),
        codec,
    );
    Ok(answer_at_once(ok_with_accept(&accept_hmac(key)), session))
}

/// The `200` that completes the proposals whose server answers at once with a proof
/// (`connect`, `connect-masked`, `post`), read by [`check_200_accept`].
pub(crate) fn ok_with_accept(accept: &str) -> Vec<u8> {
    let mut answer = Vec::new();
    http::write_response(&mut answer, 200, "OK", &[("Sec-WebSocket-Accept", accept)]);
    answer
}

/// Client side: writes the CONNECT request.
pub(crate) fn client(
    opts: &ClientOptions,
    mut entropy: Entropy,
    out: &mut Vec<u8>,
) -> Result<Box<dyn ClientVariant>, HandshakeError> {
    no_subprotocols(opts)?;
    let variant = opts.variant;
    let key = entropy.key_b64(16);
    let metadata = format!(
        "{} {}",
        opts.url(),
        opts.origin.as_deref().unwrap_or("null")
    );
    Metadata::parse(&metadata, variant)?;
    let k_aes = mask_key(&key);
    let value = match variant {
        Variant::ConnectMasked => seal_metadata(&k_aes, &entropy.array(), &metadata),
        _ => metadata,
    };
    let headers = with_extra(
        vec![
            ("Host", TARGET),
            ("Sec-WebSocket-Key", key.as_str()),
            (METADATA, value.as_str()),
        ],
        opts,
    );
    write_request(out, "CONNECT", TARGET, &headers);
    let expected = accept_hmac(&key);
    let host = opts.host_header();
    let path = opts.path.clone();
    Ok(one_response(&opts.limits, move |resp| {
        check_200_accept(&resp, &expected)?;
        let codec: Box<dyn Codec> = match variant {
            Variant::ConnectMasked => Box::new(AesCtrCodec::with_entropy(k_aes, entropy.child())),
            _ => Box::new(Rfc6455Codec::unmasked(Side::Client)),
        };
        Ok(Session::client_side(variant, path, host, resp, codec))
    }))
}

/// Client check shared by the proposals that succeed with `200` + `Sec-WebSocket-Accept`
/// (`connect`, `connect-masked`, `upgrade-connect`'s second step, `post`): any reason
/// phrase, the accept present once and equal to `expected`.
pub(crate) fn check_200_accept(
    resp: &http::Response,
    expected: &str,
) -> Result<(), HandshakeError> {
    expect_status(resp, 200)?;
    check_accept(resp, expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::testutil::*;
    use crate::handshake::{OriginPolicy, ServerHandshake};
    use crate::{Event, ProtocolError};
    use std::sync::Arc;

    /// A `connect-masked` connection for `side` under the AES key `k` (its nonces drawn
    /// from an empty script: these tests only receive).
    fn aes_connection(side: Side, k: [u8; 16], limits: crate::Limits) -> crate::Connection {
        crate::Connection::new(
            side,
            Variant::ConnectMasked,
            Box::new(AesCtrCodec::with_entropy(k, Entropy::script(&[]))),
            limits,
        )
    }

    fn masked_scripts(g: &Golden) -> (Vec<String>, Vec<String>) {
        let n = |k: &str| g.input2("frame_nonces_hex", k);
        (
            vec![
                g.input("connection_key_raw_hex"),
                g.input("metadata_nonce_hex"),
                n("client_text"),
                n("client_binary"),
                n("client_close"),
            ],
            vec![n("server_text"), n("server_binary"), n("server_close")],
        )
    }

    #[test]
    fn derived_values() {
        let g = Golden::load("connect-masked");
        let key = g.input("connection_key_b64");
        assert_eq!(accept_hmac(&key), g.s("derived", "accept"));
        assert_eq!(
            hex::encode(hmac_sha1(key.as_bytes(), MASK_GUID.as_bytes())),
            g.s("derived", "hmac_sha1_mask_guid_hex")
        );
        let k = mask_key(&key);
        assert_eq!(hex::encode(k), g.s("derived", "aes_key_hex"));
        let nonce: [u8; 8] = hex::decode(g.input("metadata_nonce_hex"))
            .unwrap()
            .try_into()
            .unwrap();
        let sealed = seal_metadata(&k, &nonce, &g.s("derived", "metadata_plaintext"));
        assert_eq!(sealed, g.s("derived", "metadata_header_value"));
        assert_eq!(
            hex::encode(&B64.decode(&sealed).unwrap()[8..]),
            g.s("derived", "metadata_ciphertext_hex")
        );
        assert_eq!(
            open_metadata(&k, &sealed).unwrap(),
            g.s("derived", "metadata_plaintext")
        );
        // VARIANTS.md §9 [V]
        assert_eq!(
            accept_hmac("dGhlIHNhbXBsZSBub25jZQ=="),
            "I0LaJwpzqqaocDChnoeI5+bJdnQ="
        );
    }

    #[test]
    fn golden_connect_masked_byte_exact_both_roles() {
        let g = Golden::load("connect-masked");
        let (cs, ss) = masked_scripts(&g);
        replay_golden(&g, Variant::ConnectMasked, &refs(&cs), &refs(&ss));
    }

    #[test]
    fn golden_connect_byte_exact_both_roles() {
        let g = Golden::load("connect");
        replay_golden(
            &g,
            Variant::Connect,
            &[&g.input("connection_key_raw_hex")],
            &[],
        );
    }

    #[test]
    fn routing_by_metadata() {
        for name in ["connect", "connect-masked"] {
            let g = Golden::load(name);
            let variant: Variant = name.parse().unwrap();
            assert_eq!(Variant::detect(&g.request(0)), Ok(variant));
            let mut s = ServerHandshake::new(Arc::new(ServerConfig {
                variants: vec![variant],
                hosts: Some(vec!["server.example.com".into()]),
                origin: OriginPolicy::AllowList(vec!["http://example.com".into()]),
                ..ServerConfig::default()
            }));
            s.receive_data(&g.step(0).1).unwrap();
            let (session, _) = s.into_session();
            assert_eq!(session.path, "/chat");
            assert_eq!(session.host.as_deref(), Some("server.example.com"));
            assert_eq!(session.origin.as_deref(), Some("http://example.com"));
            // the same request at a server for another host: 404; other origins: 403
            for (hosts, origin, status) in [
                (vec!["other.example".to_string()], OriginPolicy::Any, "404"),
                (
                    vec!["server.example.com".to_string()],
                    OriginPolicy::AllowList(vec!["http://evil".into()]),
                    "403",
                ),
            ] {
                let mut s = ServerHandshake::new(Arc::new(ServerConfig {
                    variants: vec![variant],
                    hosts: Some(hosts),
                    origin,
                    ..ServerConfig::default()
                }));
                assert!(s.receive_data(&g.step(0).1).is_err());
                let out = String::from_utf8(s.take_output()).unwrap();
                assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out}");
            }
        }
    }

    #[test]
    fn round_trips_one_byte_segments() {
        for variant in [Variant::Connect, Variant::ConnectMasked] {
            let mut opts = ClientOptions::from_url("ws://localhost:9000/c?x=1", variant).unwrap();
            opts.origin = Some("http://localhost".into());
            round_trip_bytewise(&opts, 2);
        }
    }

    #[test]
    fn other_connect_targets_are_refused() {
        for target in [
            "example.com:443",
            "websocket.invalid:80",
            "websocket.invalid",
        ] {
            let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Metadata: ws://a/ null\r\n\r\n");
            let mut s = ServerHandshake::new(Arc::new(ServerConfig {
                variants: Variant::ALL.to_vec(),
                ..ServerConfig::default()
            }));
            assert!(matches!(
                s.receive_data(req.as_bytes()),
                Err(HandshakeError::UnknownVariant(_))
            ));
            assert!(String::from_utf8(s.take_output())
                .unwrap()
                .starts_with("HTTP/1.1 400 "));
        }
    }

    #[test]
    fn server_must_reject() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good_meta = "ws://server.example.com/chat http://example.com";
        let req = |host: &str, key: &str, meta: &str, extra: &str| {
            format!("CONNECT websocket.invalid:443 HTTP/1.1\r\nHost: {host}\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Metadata: {meta}\r\n{extra}\r\n")
        };
        let k = mask_key(key);
        let sealed_bad = seal_metadata(&k, &[1; 8], "ws://a/ b c");
        let cases = [
            req("example.com", key, good_meta, ""),
            req(TARGET, "c2hvcnQ=", good_meta, ""),
            req(TARGET, key, "ws://a/#frag null", ""),
            req(TARGET, key, "ws://a/", ""),
            req(TARGET, key, "ws://a/  null", ""),
            req(TARGET, key, good_meta, "Upgrade: websocket\r\n"),
            req(TARGET, key, good_meta, "Content-Length: 0\r\n"),
            req(TARGET, key, good_meta, "Sec-WebSocket-Version: 13\r\n"),
            req(TARGET, key, "bm9wZQ==", ""),
            req(TARGET, key, "!!!notbase64", ""),
            req(TARGET, key, &sealed_bad, ""),
            req(
                TARGET,
                key,
                &seal_metadata(&mask_key("AAAAAAAAAAAAAAAAAAAAAA=="), &[1; 8], good_meta),
                "",
            ),
            "CONNECT websocket.invalid:443 HTTP/1.0\r\nHost: websocket.invalid:443\r\n\r\n".into(),
        ];
        for r in cases {
            let mut s = ServerHandshake::new(Arc::new(ServerConfig {
                variants: vec![Variant::Connect, Variant::ConnectMasked],
                ..ServerConfig::default()
            }));
            assert!(s.receive_data(r.as_bytes()).is_err(), "{r}");
            let out = String::from_utf8(s.take_output()).unwrap();
            assert!(out.starts_with("HTTP/1.1 400 "), "{r} -> {out}");
        }
    }

    #[test]
    fn client_must_fail_and_impostors_never_complete() {
        for name in ["connect", "connect-masked"] {
            let g = Golden::load(name);
            let variant: Variant = name.parse().unwrap();
            let opts = g.client_options(variant);
            let echo = echo_of_request(&opts);
            assert!(client_never_completes(&opts, &echo).is_some());
            for reply in IMPOSTOR_REPLIES {
                assert!(
                    client_never_completes(&opts, reply.as_bytes()).is_some(),
                    "{reply}"
                );
            }
            // The right status with the wrong proof (another key's HMAC, an RFC 6455
            // accept for the same key, the key echoed).
            let key = B64.encode([0u8; 16]);
            for accept in [
                accept_hmac(&key),
                crate::handshake::accept_key(&key),
                key.clone(),
            ] {
                let reply = format!("HTTP/1.1 200 OK\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
                let err = client_never_completes(&opts, reply.as_bytes()).unwrap();
                assert!(matches!(err, HandshakeError::BadProof(_)), "{err:?}");
            }
            // Duplicate accept.
            let a = accept_hmac(&key);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nSec-WebSocket-Accept: {a}\r\nSec-WebSocket-Accept: {a}\r\n\r\n"
            );
            assert!(client_never_completes(&opts, reply.as_bytes()).is_some());
        }
    }

    /// Flips every bit of every golden encrypted frame (nonce, header and payload) and
    /// feeds it to a fresh client connection: it may fail (with a close code), wait for
    /// more bytes, or deliver an altered message (CTR has no integrity tag, by design),
    /// but never panics and never yields the untampered message.
    #[test]
    fn tampered_encrypted_frames_fail_cleanly() {
        let g = Golden::load("connect-masked");
        let (cs, ss) = masked_scripts(&g);
        replay_golden(&g, Variant::ConnectMasked, &refs(&cs), &refs(&ss));
        let k = mask_key(&g.input("connection_key_b64"));
        let (mut failed, mut waiting, mut altered) = (0, 0, 0);
        for kind in ["text", "binary", "close"] {
            let frame = g.frame("server", kind);
            for i in 0..frame.len() {
                for bit in 0..8 {
                    let mut t = frame.clone();
                    t[i] ^= 1 << bit;
                    let mut conn = aes_connection(Side::Client, k, Default::default());
                    conn.receive_data(&t);
                    match events(&mut conn).as_slice() {
                        [Event::Failed(e)] => {
                            failed += 1;
                            // the failure is reported in an (encrypted) close frame
                            assert!(!conn.take_output().is_empty(), "{e}");
                        }
                        [] => waiting += 1,
                        [Event::Text(t)] => {
                            assert_ne!(t, "Hello");
                            altered += 1
                        }
                        [Event::Binary(b)] => {
                            assert_ne!(b, &[1, 2, 3]);
                            altered += 1
                        }
                        [Event::Close(f)] => {
                            assert_ne!(f.code, crate::CloseCode::NORMAL);
                            altered += 1
                        }
                        [Event::Ping(_) | Event::Pong(_)] => altered += 1,
                        other => panic!("{kind} byte {i} bit {bit}: {other:?}"),
                    }
                }
            }
        }
        assert!(failed > 0 && altered > 0, "{failed} {waiting} {altered}");
    }

    #[test]
    fn tampered_text_payload_fails_with_1007_or_alters() {
        // Flipping the top bit of a payload byte of "Hello" makes it invalid UTF-8.
        let g = Golden::load("connect-masked");
        let k = mask_key(&g.input("connection_key_b64"));
        let mut t = g.frame("server", "text");
        t[8 + 2] ^= 0x80;
        let mut conn = aes_connection(Side::Client, k, Default::default());
        conn.receive_data(&t);
        assert_eq!(
            events(&mut conn),
            vec![Event::Failed(ProtocolError::InvalidUtf8)]
        );
    }

    #[test]
    fn wrong_key_fails_the_connection() {
        // Frames sealed under another connection's key decrypt to garbage at the peer.
        let mut tx =
            AesCtrCodec::with_entropy(mask_key("AAAAAAAAAAAAAAAAAAAAAA=="), Entropy::script(&[]));
        let mut wire = Vec::new();
        for i in 0..50u8 {
            tx.encode(
                true,
                crate::framing::OpCode::Text,
                &[b'a' + (i % 26); 30],
                &mut wire,
            );
        }
        let k = mask_key("dGhlIHNhbXBsZSBub25jZQ==");
        let mut conn = aes_connection(Side::Server, k, Default::default());
        conn.receive_data(&wire);
        let ev = events(&mut conn);
        assert!(matches!(ev.last(), Some(Event::Failed(_)) | None), "{ev:?}");
        assert!(!ev
            .iter()
            .any(|e| matches!(e, Event::Text(t) if t.starts_with('a'))));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let k = mask_key("dGhlIHNhbXBsZSBub25jZQ==");
        for side in [Side::Client, Side::Server] {
            garbage(3000, |pieces| {
                let limits = crate::Limits {
                    max_frame_size: 1 << 16,
                    ..Default::default()
                };
                let mut conn = aes_connection(side, k, limits);
                for p in pieces {
                    conn.receive_data(p);
                    while conn.next_event().is_some() {}
                }
                conn.receive_eof();
            });
        }
        // After every proposal's request head, on the server side, and after every
        // client's request, as the server's answer.
        for name in [
            "hello",
            "connect",
            "connect-masked",
            "upgrade-connect",
            "post",
        ] {
            let g = Golden::load(name);
            let variant: Variant = name.parse().unwrap();
            garbage(300, |pieces| {
                let mut s = ServerHandshake::new(server_config(variant));
                let _ = s.receive_data(&g.step(0).1);
                for p in pieces {
                    if s.receive_data(p).is_err() {
                        break;
                    }
                }
                let opts = g.client_options(variant);
                let mut c = crate::ClientHandshake::new(&opts, [1; 32]).unwrap();
                for p in pieces {
                    if c.receive_data(p).is_err() {
                        break;
                    }
                }
            });
        }
    }

    #[test]
    fn unmasked_variant_refuses_masked_frames() {
        let opts = ClientOptions::from_url("ws://a/x", Variant::Connect).unwrap();
        let (_, mut s) = handshake_pair(&opts, server_config(Variant::Connect), 4, 100);
        s.receive_data(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::BadMasking)]
        );
    }
}
