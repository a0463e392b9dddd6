//! The HyBi-05 and HyBi-06 opening handshakes (VARIANTS.md §5): HyBi-04 without the
//! server nonce.
//!
//! ```text
//! GET /demo HTTP/1.1                              HTTP/1.1 101 Switching Protocols
//! Host: example.com                               Upgrade: websocket
//! Upgrade: websocket                              Connection: Upgrade
//! Connection: Upgrade                             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==     [Sec-WebSocket-Protocol: sample]
//! Sec-WebSocket-Protocol: sample
//! Sec-WebSocket-Origin: http://example.com
//! Sec-WebSocket-Version: 5                        (or 6)
//! ```
//!
//! -05: `Connection` equals `Upgrade`; close frames carry no status code. -06:
//! `Connection` contains the `Upgrade` token; close frames carry a 2-byte code and a
//! UTF-8 reason (a 1-byte body fails, no body reports 1005). `Sec-WebSocket-Origin` is
//! optional in both (pywebsocket made it optional with -06; no -05 server we know
//! required it). Framing: [`crate::framing::hybi04`] with the 4-byte key as the pad.

use rand::rngs::StdRng;

use super::hybi04::{keyed_client, keyed_server};
use super::{ClientOptions, ClientVariant, Rejection, ServerConfig, ServerVariant};
use crate::http::Request;
use crate::Variant;

/// Server side of -05 (`variant` = `Hybi05`) or -06.
pub(crate) fn server(
    variant: Variant,
    req: &Request,
    cfg: &ServerConfig,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    keyed_server(variant, req, cfg, None)
}

/// Writes a -05 or -06 request.
pub(crate) fn client(
    opts: &ClientOptions,
    rng: StdRng,
    out: &mut Vec<u8>,
) -> Box<dyn ClientVariant> {
    keyed_client(opts, rng, out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::HandshakeError;
    use crate::handshake::{ClientHandshake, HandshakeStatus, ServerHandshake};
    use crate::{CloseCode, CloseFrame, Event, ProtocolError};

    /// em-websocket's -05 test request (VARIANTS.md §5); `{v}` is 5 or 6.
    const REQUEST_05: &str = "GET /demo HTTP/1.1\r\n\
Host: example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Protocol: sample\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Version: {v}\r\n\r\n";
    const RESPONSE_05: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: sample\r\n\r\n";
    /// em-websocket's -06 masked "Hello" (key 00 00 01 00), and the derived one (37 fa 21 3d).
    const HELLO_EM_WEBSOCKET: &[u8] = &[
        0x00, 0x00, 0x01, 0x00, 0x84, 0x05, 0x49, 0x65, 0x6c, 0x6c, 0x6e,
    ];
    const HELLO_DERIVED: &[u8] = &[
        0x37, 0xfa, 0x21, 0x3d, 0xb3, 0xff, 0x69, 0x58, 0x5b, 0x96, 0x4e,
    ];

    fn cfg() -> Arc<ServerConfig> {
        Arc::new(ServerConfig {
            variants: Variant::ALL.to_vec(),
            subprotocols: vec!["sample".into()],
            ..ServerConfig::default()
        })
    }

    fn request(v: u8) -> String {
        REQUEST_05.replace("{v}", &v.to_string())
    }

    #[test]
    fn em_websocket_vectors_byte_exact() {
        for (v, variant) in [(5, Variant::Hybi05), (6, Variant::Hybi06)] {
            let mut s = ServerHandshake::new(cfg());
            let mut wire = request(v).into_bytes();
            wire.extend_from_slice(HELLO_EM_WEBSOCKET); // an eager client's first frame
            assert_eq!(s.receive_data(&wire).unwrap(), HandshakeStatus::Done);
            assert_eq!(s.variant(), Some(variant));
            assert_eq!(s.take_output(), RESPONSE_05);
            let (session, leftover) = s.into_session();
            let mut conn = session.into_connection(Default::default());
            conn.receive_data(&leftover);
            conn.receive_data(HELLO_DERIVED);
            assert_eq!(conn.next_event(), Some(Event::Text("Hello".into())));
            assert_eq!(conn.next_event(), Some(Event::Text("Hello".into())));
        }
    }

    #[test]
    fn connection_rule_differs_between_05_and_06() {
        let list =
            |v: u8| request(v).replace("Connection: Upgrade", "Connection: keep-alive, Upgrade");
        let mut s = ServerHandshake::new(cfg());
        assert!(matches!(
            s.receive_data(list(5).as_bytes()),
            Err(HandshakeError::InvalidHeader {
                name: "Connection",
                ..
            })
        ));
        let mut s = ServerHandshake::new(cfg());
        assert_eq!(
            s.receive_data(list(6).as_bytes()).unwrap(),
            HandshakeStatus::Done
        );
        // Sec-WebSocket-Origin is optional in both
        for v in [5, 6] {
            let mut s = ServerHandshake::new(cfg());
            let req = request(v).replace("Sec-WebSocket-Origin: http://example.com\r\n", "");
            assert_eq!(
                s.receive_data(req.as_bytes()).unwrap(),
                HandshakeStatus::Done
            );
        }
    }

    #[test]
    fn round_trip_one_byte_segments_and_close_rules() {
        for variant in [Variant::Hybi05, Variant::Hybi06] {
            let mut opts = ClientOptions::from_url("ws://localhost:9005/", variant).unwrap();
            opts.subprotocols = vec!["sample".into()];
            let mut c = ClientHandshake::new(&opts, [6; 32]).unwrap();
            let req = String::from_utf8(c.take_output()).unwrap();
            assert!(req.contains(&format!(
                "Sec-WebSocket-Version: {}\r\n",
                variant.version_number().unwrap()
            )));
            assert!(!req.contains("Origin"), "no origin unless asked: {req}");
            let mut s = ServerHandshake::new(cfg());
            for b in req.bytes() {
                s.receive_data(&[b]).unwrap();
            }
            let mut status = HandshakeStatus::InProgress;
            for b in s.take_output() {
                status = c.receive_data(&[b]).unwrap();
            }
            assert_eq!(status, HandshakeStatus::Done);
            let (cs, _) = c.into_session();
            let (ss, _) = s.into_session();
            let mut client = cs.into_connection(Default::default());
            let mut server = ss.into_connection(Default::default());
            client
                .send_frame(crate::framing::OpCode::Text, false, b"Hel")
                .unwrap();
            client
                .send_frame(crate::framing::OpCode::Continuation, true, b"lo")
                .unwrap();
            client
                .send_close(CloseFrame::new(CloseCode(4000), "done"))
                .unwrap();
            for b in client.take_output() {
                server.receive_data(&[b]);
            }
            assert_eq!(server.next_event(), Some(Event::Text("Hello".into())));
            let expected = if variant == Variant::Hybi06 {
                CloseFrame::new(CloseCode(4000), "done")
            } else {
                // -05: no status code on the wire; we send an empty body
                CloseFrame::new(CloseCode::NO_STATUS, "")
            };
            assert_eq!(server.next_event(), Some(Event::Close(expected)));
            client.receive_data(&server.take_output());
            assert!(matches!(client.next_event(), Some(Event::Close(_))));
        }
    }

    #[test]
    fn em_websocket_05_close_body_is_echoed() {
        // em-websocket's "correct close frame body for draft 05" is the one byte 0x53.
        let mut s = ServerHandshake::new(cfg());
        s.receive_data(request(5).as_bytes()).unwrap();
        let (session, _) = s.into_session();
        let mut conn = session.into_connection(Default::default());
        // client close with body "S" under key 00 00 00 00
        conn.receive_data(&[0, 0, 0, 0, 0x81, 0x01, 0x53]);
        assert_eq!(
            conn.next_event(),
            Some(Event::Close(CloseFrame::new(CloseCode::NO_STATUS, "S")))
        );
        assert_eq!(conn.take_output(), [0x81, 0x01, 0x53]);
        // -06 refuses a 1-byte body
        let mut s = ServerHandshake::new(cfg());
        s.receive_data(request(6).as_bytes()).unwrap();
        let (session, _) = s.into_session();
        let mut conn = session.into_connection(Default::default());
        conn.receive_data(&[0, 0, 0, 0, 0x81, 0x01, 0x53]);
        assert!(matches!(
            conn.next_event(),
            Some(Event::Failed(ProtocolError::BadCloseFrame(_)))
        ));
    }
}
