//! The RFC 6455 opening handshake (§4), and its near-twins HyBi-07 and HyBi-08..-12,
//! which differ only in the version number and in naming the origin field
//! `Sec-WebSocket-Origin` (through -10; VARIANTS.md §6).
//!
//! ```text
//! GET /chat HTTP/1.1                       HTTP/1.1 101 Switching Protocols
//! Host: server.example.com                 Upgrade: websocket
//! Upgrade: websocket                       Connection: Upgrade
//! Connection: Upgrade                      Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Sec-WebSocket-Version: 13
//! ```

use rand::rngs::StdRng;

use super::{
    accept_101, accept_key, answer_at_once, check_upgrade_response_with, child_rng,
    connection_upgrade, one_response, random_key, request_host, request_origin, required_key16,
    required_nonempty, with_extra, write_request, ClientOptions, ClientVariant, Rejection,
    ServerConfig, ServerVariant, Session,
};
use crate::error::HandshakeError;
use crate::extensions;
use crate::framing::rfc6455::Rfc6455Codec;
use crate::http::Request;
use crate::{Side, Variant};

/// Server-side checks of RFC 6455 §4.2.1, then the 101 answer (§4.2.2 item 5).
pub(crate) fn server(
    variant: Variant,
    req: &Request,
    cfg: &ServerConfig,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    let key = check_request(req)?;
    let subprotocol = cfg.select_subprotocol(req.headers.tokens("Sec-WebSocket-Protocol"));
    let extensions = extensions::server_response(cfg.deflate.as_ref(), &req.headers)?;
    let answer = accept_101(
        &accept_key(key),
        &[
            ("Sec-WebSocket-Protocol", subprotocol.as_deref()),
            (
                extensions::HEADER,
                extensions.as_ref().map(|e| e.header.as_str()),
            ),
        ],
    );
    let session = Session::server_side(
        variant,
        req.path().to_owned(),
        request_host(req),
        request_origin(req).map(str::to_owned),
        Box::new(Rfc6455Codec::new(Side::Server, None)),
    );
    Ok(answer_at_once(
        answer,
        Session {
            subprotocol,
            extensions,
            ..session
        },
    ))
}

/// The request checks of RFC 6455 §4.2.1 items 1–6 (shared with HyBi-04..-06); returns
/// the key.
pub(crate) fn check_request(req: &Request) -> Result<&str, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::MalformedHead(format!(
            "method {} (must be GET)",
            req.method
        )));
    }
    if req.version < 1 {
        return Err(HandshakeError::MalformedHead("HTTP/1.0 (need 1.1)".into()));
    }
    required_nonempty(req, "Host")?;
    if !req.headers.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::InvalidHeader {
            name: "Upgrade",
            reason: "must contain websocket".into(),
        });
    }
    connection_upgrade(req)?;
    required_key16(req)
}

/// Writes the request and returns the state machine that checks the answer.
pub(crate) fn client(
    opts: &ClientOptions,
    mut rng: StdRng,
    out: &mut Vec<u8>,
) -> Box<dyn ClientVariant> {
    let key = random_key(&mut rng, 16);
    let version = opts
        .variant
        .version_number()
        .expect("rfc6455 module handles versioned variants")
        .to_string();
    let host = opts.host_header();
    let protocols = opts.subprotocols.join(", ");
    let mut headers: Vec<(&str, &str)> = vec![
        ("Host", &host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", &key),
        ("Sec-WebSocket-Version", &version),
    ];
    if let Some(origin) = &opts.origin {
        // HyBi-07..-10 name it Sec-WebSocket-Origin; -11 onwards Origin (VARIANTS.md §6).
        let name = if opts.variant == Variant::Rfc6455 {
            "Origin"
        } else {
            "Sec-WebSocket-Origin"
        };
        headers.push((name, origin));
    }
    if !opts.subprotocols.is_empty() {
        headers.push(("Sec-WebSocket-Protocol", &protocols));
    }
    let offer = extensions::client_offer(opts.deflate.as_ref());
    if let Some(offer) = &offer {
        headers.push((extensions::HEADER, offer));
    }
    write_request(out, "GET", &opts.path, &with_extra(headers, opts));
    let variant = opts.variant;
    let expected = accept_key(&key);
    let offered = opts.subprotocols.clone();
    let deflate = opts.deflate.clone();
    let path = opts.path.clone();
    one_response(&opts.limits, move |resp| {
        let (subprotocol, extensions) =
            check_upgrade_response_with(&resp, &expected, &offered, deflate.as_ref())?;
        let codec = Box::new(Rfc6455Codec::new(Side::Client, Some(child_rng(&mut rng))));
        Ok(Session {
            subprotocol,
            extensions,
            ..Session::client_side(variant, path, host, resp, codec)
        })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::handshake::{ClientHandshake, HandshakeStatus, ServerHandshake};
    use crate::Event;

    /// RFC 6455 §1.2 request and response (VARIANTS.md §7).
    const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
    const RFC_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n";

    fn server_cfg() -> Arc<ServerConfig> {
        Arc::new(ServerConfig {
            subprotocols: vec!["chat".into()],
            ..ServerConfig::default()
        })
    }

    #[test]
    fn rfc_example_exchange_byte_exact() {
        let mut s = ServerHandshake::new(server_cfg());
        assert_eq!(s.receive_data(RFC_REQUEST).unwrap(), HandshakeStatus::Done);
        assert_eq!(s.take_output(), RFC_RESPONSE);
        let (session, leftover) = s.into_session();
        assert_eq!(session.variant, Variant::Rfc6455);
        assert_eq!(session.subprotocol.as_deref(), Some("chat"));
        assert_eq!(session.origin.as_deref(), Some("http://example.com"));
        assert!(leftover.is_empty());
    }

    #[test]
    fn client_and_server_agree_for_7_8_13() {
        for variant in [Variant::Hybi07, Variant::Hybi08, Variant::Rfc6455] {
            let mut opts = ClientOptions::from_url("ws://localhost:9000/echo", variant).unwrap();
            opts.subprotocols = vec!["x".into(), "chat".into()];
            opts.origin = Some("http://localhost".into());
            let mut c = ClientHandshake::new(&opts, [9; 32]).unwrap();
            let mut s = ServerHandshake::new(server_cfg());
            let req = c.take_output();
            let text = String::from_utf8_lossy(&req).to_string();
            assert!(text.contains(&format!(
                "Sec-WebSocket-Version: {}",
                variant.version_number().unwrap()
            )));
            // byte-at-a-time delivery of the request, then the answer
            for b in &req {
                s.receive_data(std::slice::from_ref(b)).unwrap();
            }
            assert_eq!(s.variant(), Some(variant));
            let resp = s.take_output();
            assert_eq!(c.receive_data(&resp).unwrap(), HandshakeStatus::Done);
            let (cs, _) = c.into_session();
            let (ss, _) = s.into_session();
            assert_eq!(cs.subprotocol.as_deref(), Some("chat"));
            let mut client = cs.into_connection(Default::default());
            let mut server = ss.into_connection(Default::default());
            client.send_text("hi").unwrap();
            server.receive_data(&client.take_output());
            assert_eq!(server.next_event(), Some(Event::Text("hi".into())));
        }
    }

    #[test]
    fn permessage_deflate_for_7_8_13() {
        use crate::extensions::DeflateConfig;
        for variant in [Variant::Hybi07, Variant::Hybi08, Variant::Rfc6455] {
            let mut opts = ClientOptions::from_url("ws://localhost/", variant).unwrap();
            opts.deflate = Some(DeflateConfig {
                peer_no_context_takeover: true,
                ..DeflateConfig::default()
            });
            let mut c = ClientHandshake::new(&opts, [3; 32]).unwrap();
            let cfg = Arc::new(ServerConfig {
                deflate: Some(DeflateConfig::default()),
                ..ServerConfig::default()
            });
            let mut s = ServerHandshake::new(cfg);
            let req = String::from_utf8(c.take_output()).unwrap();
            assert!(
                req.contains(
                    "\r\nSec-WebSocket-Extensions: permessage-deflate; \
                     server_no_context_takeover; client_max_window_bits\r\n"
                ),
                "{req}"
            );
            assert_eq!(
                s.receive_data(req.as_bytes()).unwrap(),
                HandshakeStatus::Done
            );
            let resp = String::from_utf8(s.take_output()).unwrap();
            assert!(
                resp.contains(
                    "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
                ),
                "{resp}"
            );
            assert_eq!(
                c.receive_data(resp.as_bytes()).unwrap(),
                HandshakeStatus::Done
            );
            let (cs, _) = c.into_session();
            let (ss, _) = s.into_session();
            assert_eq!(
                cs.extensions.as_ref().unwrap().header,
                "permessage-deflate; server_no_context_takeover"
            );
            let mut client = cs.into_connection(Default::default());
            let mut server = ss.into_connection(Default::default());
            assert!(server.deflate().unwrap().compress_no_context_takeover);
            client.send_text("hello, hello, hello").unwrap();
            let wire = client.take_output();
            assert_eq!(wire[0], 0xc1, "RSV1 set");
            server.receive_data(&wire);
            assert_eq!(
                server.next_event(),
                Some(Event::Text("hello, hello, hello".into()))
            );
            server.send_text("back").unwrap();
            let wire = server.take_output();
            assert_eq!(wire[0], 0xc1);
            client.receive_data(&wire);
            assert_eq!(client.next_event(), Some(Event::Text("back".into())));
        }
    }

    #[test]
    fn deflate_declined_or_refused() {
        use crate::extensions::DeflateConfig;
        let req = |ext: &str| {
            format!(
                "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Extensions: {ext}\r\n\r\n"
            )
        };
        let on = Arc::new(ServerConfig {
            deflate: Some(DeflateConfig::default()),
            ..ServerConfig::default()
        });
        // disabled: offers are ignored, even malformed ones
        for ext in ["permessage-deflate", "permessage-deflate; ;"] {
            let mut s = ServerHandshake::new(Arc::new(ServerConfig::default()));
            assert_eq!(
                s.receive_data(req(ext).as_bytes()).unwrap(),
                HandshakeStatus::Done
            );
            let out = String::from_utf8(s.take_output()).unwrap();
            assert!(!out.contains("Extensions"), "{out}");
            assert!(s.into_session().0.extensions.is_none());
        }
        // enabled: invalid offers are declined, a malformed header is a 400
        let mut s = ServerHandshake::new(on.clone());
        s.receive_data(req("permessage-deflate; server_max_window_bits=16").as_bytes())
            .unwrap();
        assert!(!String::from_utf8(s.take_output())
            .unwrap()
            .contains("Extensions"));
        let mut s = ServerHandshake::new(on);
        assert!(matches!(
            s.receive_data(req("permessage-deflate; ;").as_bytes()),
            Err(HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Extensions",
                ..
            })
        ));
        assert!(String::from_utf8(s.take_output())
            .unwrap()
            .starts_with("HTTP/1.1 400"));
        // a client that offered nothing refuses an answer with an extension; one that
        // offered refuses a bad answer and takes a plain one
        let client = |deflate: Option<DeflateConfig>, ext: &str| {
            let mut opts = ClientOptions::from_url("ws://a/", Variant::Rfc6455).unwrap();
            opts.deflate = deflate;
            let mut c = ClientHandshake::new(&opts, [1; 32]).unwrap();
            let req = String::from_utf8(c.take_output()).unwrap();
            let key = req
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n{ext}\r\n",
                accept_key(key)
            );
            c.receive_data(resp.as_bytes())
                .map(|_| c.into_session().0.extensions)
        };
        let pmd = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
        let d = || Some(DeflateConfig::default());
        assert!(matches!(
            client(None, pmd),
            Err(HandshakeError::UnrequestedNegotiation(_))
        ));
        assert!(matches!(
            client(
                d(),
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            ),
            Err(HandshakeError::UnrequestedNegotiation(_))
        ));
        assert!(client(d(), "Sec-WebSocket-Extensions: x-foo\r\n").is_err());
        assert_eq!(client(d(), "").unwrap(), None);
        let ext = client(d(), pmd).unwrap().unwrap();
        assert_eq!(ext.header, "permessage-deflate");
        assert_eq!(ext.deflate.unwrap().compress_window_bits, 15);
    }

    fn reject(req: &str) -> (crate::HandshakeError, String) {
        let mut s = ServerHandshake::new(Arc::new(ServerConfig::default()));
        let err = s.receive_data(req.as_bytes()).unwrap_err();
        (err, String::from_utf8_lossy(&s.take_output()).to_string())
    }

    #[test]
    fn unsupported_version_gets_426_with_versions() {
        let (_, out) = reject(
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 9\r\n\r\n",
        );
        assert!(
            out.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{out}"
        );
        assert!(out.contains("Sec-WebSocket-Version: 13, 8, 7\r\n"), "{out}");
    }

    #[test]
    fn disabled_legacy_variant_is_not_answered_as_websocket() {
        let (err, out) = reject(
            "GET /demo HTTP/1.1\r\nHost: example.com\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
             Origin: http://example.com\r\n\r\n",
        );
        assert_eq!(err, HandshakeError::VariantDisabled(Variant::Hixie75));
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    }

    #[test]
    fn server_must_reject() {
        let base = |extra: &str, key: &str, conn: &str| {
            format!(
                "GET / HTTP/1.1\r\n{extra}Upgrade: websocket\r\nConnection: {conn}\r\n\
                 Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
        };
        let good_key = "dGhlIHNhbXBsZSBub25jZQ==";
        assert_eq!(
            reject(&base("", good_key, "Upgrade")).0,
            HandshakeError::MissingHeader("Host")
        );
        assert!(matches!(
            reject(&base("Host: a\r\n", "c2hvcnQ=", "Upgrade")).0,
            HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Key",
                ..
            }
        ));
        assert!(matches!(
            reject(&base("Host: a\r\n", good_key, "keep-alive")).0,
            HandshakeError::InvalidHeader {
                name: "Connection",
                ..
            }
        ));
        assert_eq!(
            reject(&base(
                "Host: a\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                good_key,
                "Upgrade"
            ))
            .0,
            HandshakeError::DuplicateHeader("Sec-WebSocket-Key")
        );
        // "keep-alive, Upgrade" is fine (token list)
        let mut s = ServerHandshake::new(Arc::new(ServerConfig::default()));
        assert!(s
            .receive_data(base("Host: a\r\n", good_key, "keep-alive, Upgrade").as_bytes())
            .is_ok());
    }

    #[test]
    fn client_must_fail() {
        let opts = ClientOptions::from_url("ws://a/", Variant::Rfc6455).unwrap();
        type Case = (&'static str, fn(&HandshakeError) -> bool);
        let cases: [Case; 4] = [
            ("HTTP/1.1 200 OK\r\n\r\n", |e| {
                matches!(e, HandshakeError::UnexpectedStatus { code: 200, .. })
            }),
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n",
                |e| matches!(e, HandshakeError::BadProof(_)),
            ),
            (
                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
                |e| matches!(e, HandshakeError::MissingHeader("Upgrade")),
            ),
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                |e| matches!(e, HandshakeError::MissingHeader("Connection")),
            ),
        ];
        for (resp, check) in cases {
            let mut c = ClientHandshake::new(&opts, [1; 32]).unwrap();
            let err = c.receive_data(resp.as_bytes()).unwrap_err();
            assert!(check(&err), "{resp}: {err:?}");
        }
    }
}
