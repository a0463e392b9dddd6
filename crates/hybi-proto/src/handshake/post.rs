//! **`post`** — the POST strawman measured by Huang et al. 2011 (§IV-A), kept as the
//! no-defence control case.
//!
//! An ordinary-looking POST carries the key; the server echoes it verbatim in a `200`.
//! The echo proves nothing (any endpoint reflecting a request header passes), and to an
//! intermediary the exchange is one complete POST/200 pair, after which every
//! script-chosen byte may be parsed as a new request: frames are RFC 6455 frames,
//! **unmasked in both directions** ([`Rfc6455Codec::unmasked`]).
//!
//! ```text
//! C: POST /chat HTTP/1.1                      S: HTTP/1.1 200 OK
//!    Host: server.example.com                    Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==
//!    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! C: 81 05 48 65 6c 6c 6f                      S: 81 05 48 65 6c 6c 6f
//! ```
//!
//! # Specification (`docs/proposals/post.md`)
//!
#![doc = include_str!("../../../../docs/proposals/post.md")]

use super::connect::{check_200_accept, ok_with_accept};
use super::{
    answer_at_once, forbid_headers, no_subprotocols, one_response, request_host, request_origin,
    required_key16, required_nonempty, with_extra, write_request, wrong_request_line,
    ClientOptions, ClientVariant, Rejection, ServerConfig, ServerVariant, Session,
};
use crate::entropy::Entropy;
use crate::error::HandshakeError;
use crate::framing::rfc6455::Rfc6455Codec;
use crate::http::Request;
use crate::{Side, Variant};

/// Server side: checks the POST; the answer echoes the key.
pub(crate) fn server(
    req: &Request,
    _cfg: &ServerConfig,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    if req.method != "POST" || req.version != 1 || !req.target.starts_with('/') {
        return Err(wrong_request_line(req, "POST <path>").into());
    }
    required_nonempty(req, "Host")?;
    let key = required_key16(req)?;
    if let Some(len) = req.headers.optional_str("Content-Length")? {
        if len != "0" {
            return Err(HandshakeError::InvalidHeader {
                name: "Content-Length",
                reason: "a body would be ambiguous with frames".into(),
            }
            .into());
        }
    }
    forbid_headers(req, Variant::Post, &["Transfer-Encoding", "Upgrade"])?;
    let session = Session::server_side(
        Variant::Post,
        req.path().to_owned(),
        request_host(req),
        request_origin(req).map(str::to_owned),
        Box::new(Rfc6455Codec::unmasked(Side::Server)),
    );
    Ok(answer_at_once(ok_with_accept(key), session))
}

/// Client side: writes the POST.
pub(crate) fn client(
    opts: &ClientOptions,
    mut entropy: Entropy,
    out: &mut Vec<u8>,
) -> Result<Box<dyn ClientVariant>, HandshakeError> {
    no_subprotocols(opts)?;
    let key = entropy.key_b64(16);
    let host = opts.host_header();
    let headers = with_extra(
        vec![("Host", host.as_str()), ("Sec-WebSocket-Key", key.as_str())],
        opts,
    );
    write_request(out, "POST", &opts.path, &headers);
    let path = opts.path.clone();
    Ok(one_response(&opts.limits, move |resp| {
        check_200_accept(&resp, &key)?;
        let codec = Box::new(Rfc6455Codec::unmasked(Side::Client));
        Ok(Session::client_side(Variant::Post, path, host, resp, codec))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::testutil::*;
    use crate::handshake::ServerHandshake;
    use crate::{Event, ProtocolError};

    #[test]
    fn golden_exchange_byte_exact_both_roles() {
        let g = Golden::load("post");
        replay_golden(
            &g,
            Variant::Post,
            &[&g.input("connection_key_raw_hex")],
            &[],
        );
    }

    #[test]
    fn round_trip_one_byte_segments() {
        let opts = ClientOptions::from_url("ws://localhost:9000/p", Variant::Post).unwrap();
        round_trip_bytewise(&opts, 6);
    }

    #[test]
    fn detection_and_server_must_reject() {
        let g = Golden::load("post");
        assert_eq!(Variant::detect(&g.request(0)), Ok(Variant::Post));
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        for r in [
            format!("POST /x HTTP/1.1\r\nSec-WebSocket-Key: {key}\r\n\r\n"),
            "POST /x HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n".into(),
            format!("POST /x HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: {key}\r\nContent-Length: 5\r\n\r\n"),
            format!("POST /x HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: {key}\r\nTransfer-Encoding: chunked\r\n\r\n"),
            format!("POST /x HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: {key}\r\nUpgrade: websocket\r\n\r\n"),
            "POST /x HTTP/1.1\r\nHost: a\r\n\r\n".into(),
        ] {
            let mut s = ServerHandshake::new(server_config(Variant::Post));
            assert!(s.receive_data(r.as_bytes()).is_err(), "{r}");
            assert!(String::from_utf8(s.take_output()).unwrap().starts_with("HTTP/1.1 400 "));
        }
        // Content-Length: 0 is fine
        let mut s = ServerHandshake::new(server_config(Variant::Post));
        let ok = format!(
            "POST /x HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: {key}\r\nContent-Length: 0\r\n\r\n"
        );
        assert!(s.receive_data(ok.as_bytes()).is_ok());
    }

    #[test]
    fn impostors_never_complete() {
        let opts = Golden::load("post").client_options(Variant::Post);
        let echo = echo_of_request(&opts);
        assert!(client_never_completes(&opts, &echo).is_some());
        for reply in IMPOSTOR_REPLIES {
            assert!(
                client_never_completes(&opts, reply.as_bytes()).is_some(),
                "{reply}"
            );
        }
        // A 200 echoing another key, or hashing ours.
        for accept in ["AAAAAAAAAAAAAAAAAAAAAA==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="] {
            let reply = format!("HTTP/1.1 200 OK\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
            let err = client_never_completes(&opts, reply.as_bytes()).unwrap();
            assert!(matches!(err, HandshakeError::BadProof(_)), "{err:?}");
        }
    }

    #[test]
    fn masked_frames_are_refused_both_ways() {
        let opts = ClientOptions::from_url("ws://a/x", Variant::Post).unwrap();
        let (mut c, mut s) = handshake_pair(&opts, server_config(Variant::Post), 8, 100);
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        s.receive_data(&masked);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::BadMasking)]
        );
        c.receive_data(&masked);
        assert_eq!(
            events(&mut c),
            vec![Event::Failed(ProtocolError::BadMasking)]
        );
    }
}
