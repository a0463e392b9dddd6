//! **`upgrade-connect`** — GET + Upgrade, then CONNECT (Dave Cridland,
//! draft-cridland-hybi-upgrade-connect-00; reconstructed).
//!
//! The server answers the GET at once with a `101` carrying
//! `Accept1 = base64(SHA-1(K1 ‖ GUID))`; only then does the client send
//! `CONNECT websocket.invalid:443` with a second key, answered by a `200` with
//! `Accept2 = base64(SHA-1(K1 ‖ K2 ‖ GUID))`, binding both requests to one server. An
//! Upgrade-aware path carries the CONNECT through opaquely; an Upgrade-unaware
//! intercepting proxy ends up with a CONNECT to an invalid host as its current request
//! (fails, tunnels, or desynchronises), never with a cacheable Host-keyed request. After
//! the 200: RFC 6455 framing with client masking.
//!
//! ```text
//! C: GET /chat HTTP/1.1                        S: HTTP/1.1 101 Switching Protocols
//!    Host: server.example.com                     Upgrade: WebSocket
//!    Upgrade: WebSocket                           Connection: Upgrade
//!    Connection: Upgrade                          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//!    Origin: http://example.com
//!    Sec-WebSocket-Handshake: upgrade-connect
//!    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! C: CONNECT websocket.invalid:443 HTTP/1.1    S: HTTP/1.1 200 OK
//!    Host: websocket.invalid:443                  Sec-WebSocket-Accept: 1dWuhmjt8nplBT2mJln/iI6eAdQ=
//!    Sec-WebSocket-Key: c2Vjb25kIGtleSBub25jZQ==
//! ```
//!
//! A client without a configured origin sends `Origin: null`. Anything the server
//! receives after the CONNECT-phase starts that is not exactly the expected CONNECT head
//! ends the connection without an answer (the peer is not a conforming client).
//!
//! # Specification (`docs/proposals/upgrade-connect.md`)
//!
#![doc = include_str!("../../../../docs/proposals/upgrade-connect.md")]

use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::connect::{check_200_accept, TARGET};
use super::hello::{check_marked_get, marked_client_session, write_marked_get, MarkedGet};
use super::{
    accept_key, check_upgrade_response, forbid_headers, no_subprotocols, read_response,
    required_key16, write_request, ClientOptions, ClientVariant, Rejection, ServerConfig,
    ServerVariant, Session,
};
use crate::entropy::Entropy;
use crate::error::HandshakeError;
use crate::http::{self, HeadProgress, HeadReader, Request};
use crate::{Variant, WEBSOCKET_GUID};

/// `Accept2 = base64(SHA-1(K1 ‖ K2 ‖ GUID))`, both keys as their base64 text.
pub fn accept2(k1: &str, k2: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(k1.trim().as_bytes());
    sha.update(k2.trim().as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Server side: checks the GET (host and origin policy were applied by the caller).
pub(crate) fn server(
    req: &Request,
    cfg: &ServerConfig,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    check_marked_get(req, Variant::UpgradeConnect)?;
    forbid_headers(
        req,
        Variant::UpgradeConnect,
        &[
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Draft",
            "Sec-WebSocket-Key1",
            "Sec-WebSocket-Key2",
            "Content-Length",
            "Transfer-Encoding",
        ],
    )?;
    let k1 = required_key16(req)?;
    Ok(Box::new(UpgradeConnectServer {
        state: ServerState::Start,
        k1: k1.to_owned(),
        limits: cfg.limits.clone(),
        request: MarkedGet::of(req),
    }))
}

enum ServerState {
    Start,
    Connect(HeadReader),
}

struct UpgradeConnectServer {
    state: ServerState,
    k1: String,
    limits: crate::Limits,
    request: MarkedGet,
}

/// Server rule 3: the CONNECT must be exactly the expected one.
fn check_connect(req: &Request, k1: &str) -> Result<String, HandshakeError> {
    if req.method != "CONNECT" || req.version != 1 || !req.target.eq_ignore_ascii_case(TARGET) {
        return Err(HandshakeError::Protocol(format!(
            "after the 101 expected CONNECT {TARGET} HTTP/1.1, got {} {} HTTP/1.{}",
            req.method, req.target, req.version
        )));
    }
    let host = req.headers.required_str("Host")?;
    if !host.eq_ignore_ascii_case(TARGET) {
        return Err(HandshakeError::InvalidHeader {
            name: "Host",
            reason: format!("{host:?} in the CONNECT, must be {TARGET}"),
        });
    }
    let k2 = required_key16(req)?;
    if k2 == k1 {
        return Err(HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Key",
            reason: "the CONNECT key repeats the GET key".into(),
        });
    }
    forbid_headers(
        req,
        Variant::UpgradeConnect,
        &["Content-Length", "Transfer-Encoding"],
    )?;
    Ok(k2.to_owned())
}

impl ServerVariant for UpgradeConnectServer {
    fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        match &mut self.state {
            ServerState::Start => {
                if !input.is_empty() {
                    return Err(HandshakeError::Protocol(
                        "client sent bytes after the GET before the 101".into(),
                    ));
                }
                let accept1 = accept_key(&self.k1);
                http::write_response(
                    out,
                    101,
                    "Switching Protocols",
                    &[
                        ("Upgrade", "WebSocket"),
                        ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Accept", &accept1),
                    ],
                );
                self.state = ServerState::Connect(HeadReader::default());
                Ok((0, None))
            }
            ServerState::Connect(reader) => {
                let (req, used) = match reader
                    .feed_request(input, &self.limits)
                    .map_err(|e| HandshakeError::Protocol(format!("after the 101: {e}")))?
                {
                    HeadProgress::Partial => return Ok((input.len(), None)),
                    HeadProgress::Complete { head, consumed } => (head, consumed),
                };
                let k2 = check_connect(&req, &self.k1)?;
                if used < input.len() {
                    return Err(HandshakeError::Protocol(
                        "client sent bytes after the CONNECT before the 200".into(),
                    ));
                }
                http::write_response(
                    out,
                    200,
                    "OK",
                    &[("Sec-WebSocket-Accept", &accept2(&self.k1, &k2))],
                );
                Ok((used, Some(self.request.session(Variant::UpgradeConnect))))
            }
        }
    }
}

/// Client side: writes the GET; the CONNECT follows the validated 101.
pub(crate) fn client(
    opts: &ClientOptions,
    mut entropy: Entropy,
    out: &mut Vec<u8>,
) -> Result<Box<dyn ClientVariant>, HandshakeError> {
    no_subprotocols(opts)?;
    let k1 = entropy.key_b64(16);
    let mut k2 = entropy.key_b64(16);
    while k2 == k1 {
        k2 = entropy.key_b64(16);
    }
    let host = opts.host_header();
    write_marked_get(out, opts, &host, &[("Sec-WebSocket-Key", &k1)]);
    Ok(Box::new(UpgradeConnectClient {
        state: ClientState::Switching(HeadReader::default()),
        k1,
        k2,
        entropy,
        limits: opts.limits.clone(),
        host,
        path: opts.path.clone(),
    }))
}

enum ClientState {
    Switching(HeadReader),
    Connected(HeadReader),
}

struct UpgradeConnectClient {
    state: ClientState,
    k1: String,
    k2: String,
    entropy: Entropy,
    limits: crate::Limits,
    host: String,
    path: String,
}

impl ClientVariant for UpgradeConnectClient {
    fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        match &mut self.state {
            ClientState::Switching(reader) => {
                let Some((resp, used)) = read_response(reader, input, &self.limits)? else {
                    return Ok((input.len(), None));
                };
                check_upgrade_response(&resp, &accept_key(&self.k1), &[])?;
                if used < input.len() {
                    return Err(HandshakeError::Protocol(
                        "server sent bytes after the 101 before receiving the CONNECT".into(),
                    ));
                }
                write_request(
                    out,
                    "CONNECT",
                    TARGET,
                    &[("Host", TARGET), ("Sec-WebSocket-Key", &self.k2)],
                );
                self.state = ClientState::Connected(HeadReader::default());
                Ok((used, None))
            }
            ClientState::Connected(reader) => {
                let Some((resp, used)) = read_response(reader, input, &self.limits)? else {
                    return Ok((input.len(), None));
                };
                check_200_accept(&resp, &accept2(&self.k1, &self.k2))?;
                Ok((
                    used,
                    Some(marked_client_session(
                        Variant::UpgradeConnect,
                        self.path.clone(),
                        self.host.clone(),
                        resp,
                        &mut self.entropy,
                    )),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::testutil::*;
    use crate::handshake::{ClientHandshake, HandshakeStatus, ServerHandshake};

    fn client_script(g: &Golden) -> Vec<String> {
        vec![
            g.input("key1_raw_hex"),
            g.input("key2_raw_hex"),
            g.input2("client_frame_masks_hex", "text"),
            g.input2("client_frame_masks_hex", "binary"),
            g.input2("client_frame_masks_hex", "close"),
        ]
    }

    #[test]
    fn golden_exchange_byte_exact_both_roles() {
        let g = Golden::load("upgrade-connect");
        assert_eq!(accept_key(&g.input("key1_b64")), g.s("derived", "accept1"));
        assert_eq!(
            accept2(&g.input("key1_b64"), &g.input("key2_b64")),
            g.s("derived", "accept2")
        );
        replay_golden(&g, Variant::UpgradeConnect, &refs(&client_script(&g)), &[]);
    }

    #[test]
    fn round_trip_one_byte_segments() {
        let mut opts =
            ClientOptions::from_url("ws://localhost:9000/uc", Variant::UpgradeConnect).unwrap();
        opts.origin = Some("http://localhost".into());
        round_trip_bytewise(&opts, 7);
    }

    #[test]
    fn detection() {
        let g = Golden::load("upgrade-connect");
        assert_eq!(Variant::detect(&g.request(0)), Ok(Variant::UpgradeConnect));
        // The CONNECT alone, as a first request, is not this variant.
        assert_ne!(Variant::detect(&g.request(2)), Ok(Variant::UpgradeConnect));
    }

    fn server_after_101(g: &Golden) -> ServerHandshake {
        let mut s = ServerHandshake::new(server_config(Variant::UpgradeConnect));
        assert_eq!(
            s.receive_data(&g.step(0).1).unwrap(),
            HandshakeStatus::InProgress
        );
        assert_eq!(s.take_output(), g.step(1).1);
        s
    }

    #[test]
    fn server_must_reject_after_the_101() {
        let g = Golden::load("upgrade-connect");
        let k1 = g.input("key1_b64");
        let k2 = g.input("key2_b64");
        let connect = |target: &str, host: &str, key: &str| {
            format!("CONNECT {target} HTTP/1.1\r\nHost: {host}\r\nSec-WebSocket-Key: {key}\r\n\r\n")
        };
        for bad in [
            connect("example.com:443", TARGET, &k2),
            connect(TARGET, "example.com", &k2),
            connect(TARGET, TARGET, &k1),
            connect(TARGET, TARGET, "c2hvcnQ="),
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\r\n".to_string(),
            "\u{81}\u{5}Hello\r\n\r\n".to_string(),
        ] {
            let mut s = server_after_101(&g);
            assert!(s.receive_data(bad.as_bytes()).is_err(), "{bad}");
            assert!(s.take_output().is_empty(), "no answer after the 101: {bad}");
        }
        // A data frame instead of the CONNECT: never an HTTP head, never answered.
        let mut s = server_after_101(&g);
        assert_eq!(
            s.receive_data(&[0x81, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9])
                .unwrap(),
            HandshakeStatus::InProgress
        );
        assert!(s.take_output().is_empty());
        // the CONNECT glued to the GET (client did not wait for the 101)
        let mut s = ServerHandshake::new(server_config(Variant::UpgradeConnect));
        assert!(s
            .receive_data(&[g.step(0).1, g.step(2).1].concat())
            .is_err());
        // a frame glued to the CONNECT (client did not wait for the 200)
        let mut s = server_after_101(&g);
        assert!(s
            .receive_data(&[g.step(2).1, vec![0x81, 0x80, 0, 0, 0, 0]].concat())
            .is_err());
    }

    fn client_after_101(g: &Golden) -> ClientHandshake {
        golden_client_after_step1(
            g,
            Variant::UpgradeConnect,
            &[&g.input("key1_raw_hex"), &g.input("key2_raw_hex")],
        )
    }

    #[test]
    fn client_must_fail() {
        let g = Golden::load("upgrade-connect");
        // Accept2 computed without K1 (a proxy that answered the CONNECT itself) or
        // with the RFC 6455 formula over K2.
        for accept in [
            accept_key(&g.input("key2_b64")),
            accept2(&g.input("key2_b64"), &g.input("key1_b64")),
        ] {
            let mut c = client_after_101(&g);
            let reply = format!("HTTP/1.1 200 OK\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
            assert!(matches!(
                c.receive_data(reply.as_bytes()),
                Err(HandshakeError::BadProof(_))
            ));
        }
        // A proxy's 502 to the CONNECT, a bare 200, an echo of the CONNECT.
        for reply in [
            "HTTP/1.1 502 Bad Gateway\r\n\r\n".as_bytes().to_vec(),
            b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec(),
            g.step(2).1,
        ] {
            let mut c = client_after_101(&g);
            assert!(c.receive_data(&reply).is_err());
        }
        // Bytes glued to the 101.
        let opts = g.client_options(Variant::UpgradeConnect);
        let mut c = ClientHandshake::with_entropy(
            &opts,
            Entropy::script(&[&g.input("key1_raw_hex"), &g.input("key2_raw_hex")]),
        )
        .unwrap();
        assert!(c
            .receive_data(&[g.step(1).1, g.step(3).1].concat())
            .is_err());
    }

    #[test]
    fn impostors_never_complete() {
        let opts = Golden::load("upgrade-connect").client_options(Variant::UpgradeConnect);
        let echo = echo_of_request(&opts);
        assert!(client_never_completes(&opts, &echo).is_some());
        for reply in IMPOSTOR_REPLIES {
            client_never_completes(&opts, reply.as_bytes());
        }
        // An RFC 6455 server answers the GET with the right Accept1 (same formula) but
        // can never produce Accept2: the client stays in the CONNECT phase or fails.
        let g = Golden::load("upgrade-connect");
        let mut c = client_after_101(&g);
        assert_eq!(
            c.receive_data(&[0x81, 0x02, b'h', b'i']).unwrap(),
            HandshakeStatus::InProgress
        );
        assert!(c.receive_data(b"\r\n\r\n").is_err());
    }
}
