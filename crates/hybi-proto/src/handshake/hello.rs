//! **`hello`** — GET + Upgrade + HELLO frames (Montenegro & Wilkins,
//! draft-montenegro-hybi-upgrade-hello-handshake-00; reconstructed).
//!
//! The nonces leave the HTTP head: after a plain `101`, the client sends a HELLO frame
//! (opcode `0xB`) with its nonce `Nc`, the server answers with its nonce `Ns` and the proof
//! `Ps = SHA-1(Nc ‖ Ns ‖ GUID)`, and the client proves it read `Ns` with
//! `Pc = SHA-1(Ns ‖ Nc ‖ GUID)`. Both state machines here run the HELLO exchange
//! themselves: the handshake completes only after both proofs, so the
//! [`Connection`](crate::Connection) never sees a HELLO frame (one arriving later is an
//! unknown opcode, close 1002). After it, RFC 6455 framing with client masking.
//!
//! ```text
//! C: GET /chat HTTP/1.1                   S: HTTP/1.1 101 Switching Protocols
//!    Host: server.example.com                Upgrade: WebSocket
//!    Upgrade: WebSocket                      Connection: Upgrade
//!    Connection: Upgrade
//!    Origin: http://example.com
//!    Sec-WebSocket-Handshake: hello
//! C: 8b 90 <mask> <Nc ^ mask>                       (HELLO-1, 16-byte nonce, masked)
//! S: 8b 24 <Ns> <Ps>                                (HELLO-2, 16 + 20 bytes)
//! C: 8b 94 <mask> <Pc ^ mask>                       (HELLO-3, 20-byte proof, masked)
//! ```
//!
//! Implementation notes: a client without a configured origin sends `Origin: null` (the
//! server refuses a request without `Origin`, `docs/proposals/hello.md` rule 4). Bytes
//! that arrive where the peer must be waiting (after the GET before the 101, after HELLO-1
//! before HELLO-2, after the 101 before HELLO-1, after HELLO-2 before HELLO-3) fail the
//! handshake; so does any frame other than the exact expected HELLO, without a close
//! frame. Pipelined client frames after HELLO-3 are handed to the connection.
//!
//! # Specification (`docs/proposals/hello.md`)
//!
#![doc = include_str!("../../../../docs/proposals/hello.md")]

use sha1::{Digest, Sha1};

use super::{
    check_switching, connection_upgrade, forbid_headers, no_subprotocols, read_response,
    request_host, request_origin, required_nonempty, with_extra, write_request, wrong_request_line,
    ClientOptions, ClientVariant, Rejection, ServerConfig, ServerVariant, Session,
    HANDSHAKE_MARKER,
};
use crate::entropy::Entropy;
use crate::error::HandshakeError;
use crate::framing::rfc6455::Rfc6455Codec;
use crate::http::{self, HeadReader, Request};
use crate::{Side, Variant, WEBSOCKET_GUID};

/// The HELLO control opcode (the first one RFC 6455 leaves reserved).
pub const OPCODE_HELLO: u8 = 0xB;
/// Nonce length (both sides).
pub const NONCE_LEN: usize = 16;
/// SHA-1 proof length.
pub const PROOF_LEN: usize = 20;

/// `Ps = SHA-1(Nc ‖ Ns ‖ GUID)`.
pub fn server_proof(nc: &[u8; NONCE_LEN], ns: &[u8; NONCE_LEN]) -> [u8; PROOF_LEN] {
    proof(nc, ns)
}

/// `Pc = SHA-1(Ns ‖ Nc ‖ GUID)`.
pub fn client_proof(nc: &[u8; NONCE_LEN], ns: &[u8; NONCE_LEN]) -> [u8; PROOF_LEN] {
    proof(ns, nc)
}

fn proof(a: &[u8], b: &[u8]) -> [u8; PROOF_LEN] {
    let mut sha = Sha1::new();
    sha.update(a);
    sha.update(b);
    sha.update(WEBSOCKET_GUID.as_bytes());
    sha.finalize().into()
}

/// Writes a HELLO frame: FIN, opcode 0xB, masked with `mask` if given.
fn write_hello(out: &mut Vec<u8>, payload: &[u8], mask: Option<[u8; 4]>) {
    debug_assert!(payload.len() <= 125);
    out.push(0x80 | OPCODE_HELLO);
    out.push(if mask.is_some() { 0x80 } else { 0 } | payload.len() as u8);
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// Collects exactly one HELLO frame of a known payload length, checking its first two
/// bytes as soon as they arrive.
#[derive(Debug)]
struct ExpectHello {
    masked: bool,
    len: usize,
    buf: Vec<u8>,
}

impl ExpectHello {
    fn new(masked: bool, len: usize) -> Self {
        ExpectHello {
            masked,
            len,
            buf: Vec::with_capacity(2 + 4 + len),
        }
    }

    fn total(&self) -> usize {
        2 + if self.masked { 4 } else { 0 } + self.len
    }

    /// Takes bytes; returns how many it used and, once complete, the (unmasked) payload.
    fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Vec<u8>>), HandshakeError> {
        let take = (self.total() - self.buf.len()).min(input.len());
        self.buf.extend_from_slice(&input[..take]);
        if let Some(&b0) = self.buf.first() {
            if b0 != 0x80 | OPCODE_HELLO {
                return Err(HandshakeError::Protocol(format!(
                    "expected a HELLO frame (first byte 8b), got first byte {b0:02x} \
                     (FIN {}, RSV {}, opcode {:#x})",
                    b0 >> 7,
                    (b0 >> 4) & 7,
                    b0 & 0x0f
                )));
            }
        }
        if let Some(&b1) = self.buf.get(1) {
            let want = if self.masked { 0x80 } else { 0 } | self.len as u8;
            if b1 != want {
                return Err(HandshakeError::Protocol(format!(
                    "HELLO frame with MASK {} and length {}, expected MASK {} and length {}",
                    b1 >> 7,
                    b1 & 0x7f,
                    self.masked as u8,
                    self.len
                )));
            }
        }
        if self.buf.len() < self.total() {
            return Ok((take, None));
        }
        let mut payload = self.buf.split_off(2 + if self.masked { 4 } else { 0 });
        if self.masked {
            let key = [self.buf[2], self.buf[3], self.buf[4], self.buf[5]];
            crate::mask::apply_mask(&mut payload, key, 0);
        }
        Ok((take, Some(payload)))
    }
}

/// Server checks shared by the two GET + marker proposals (`hello`, `upgrade-connect`):
/// `GET <origin-form> HTTP/1.1`, `Host`, `Upgrade: WebSocket`, `Connection: Upgrade`,
/// `Origin` (403 when missing), exactly one marker with the expected value.
pub(crate) fn check_marked_get(req: &Request, variant: Variant) -> Result<(), Rejection> {
    if req.method != "GET" || req.version != 1 || !req.target.starts_with('/') {
        return Err(wrong_request_line(req, "GET <path>").into());
    }
    required_nonempty(req, "Host")?;
    let upgrade = req.headers.required_str("Upgrade")?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(HandshakeError::InvalidHeader {
            name: "Upgrade",
            reason: "must be WebSocket".into(),
        }
        .into());
    }
    connection_upgrade(req)?;
    match req.headers.optional_str("Origin")? {
        Some(o) if !o.is_empty() => {}
        _ => {
            return Err(Rejection::forbidden(HandshakeError::MissingHeader(
                "Origin",
            )))
        }
    }
    let marker = req.headers.required_str(HANDSHAKE_MARKER)?;
    if marker != variant.name() {
        return Err(HandshakeError::InvalidHeader {
            name: HANDSHAKE_MARKER,
            reason: format!("{marker:?}, expected {:?}", variant.name()),
        }
        .into());
    }
    Ok(())
}

/// What the server of a GET + marker proposal keeps of the request for its session.
pub(crate) struct MarkedGet {
    origin: Option<String>,
    host: Option<String>,
    path: String,
}

impl MarkedGet {
    pub(crate) fn of(req: &Request) -> Self {
        MarkedGet {
            origin: request_origin(req).map(str::to_owned),
            host: request_host(req),
            path: req.path().to_owned(),
        }
    }

    /// The server's session once the proposal's own exchange is done: RFC 6455 framing
    /// from then on, client frames masked (both proposals keep RFC 6455 §5.3).
    pub(crate) fn session(&mut self, variant: Variant) -> Session {
        Session::server_side(
            variant,
            std::mem::take(&mut self.path),
            self.host.take(),
            self.origin.take(),
            Box::new(Rfc6455Codec::new(Side::Server, None)),
        )
    }
}

/// Writes the GET of the two GET + marker proposals as [`check_marked_get`] wants it:
/// `Host`, `Upgrade: WebSocket`, `Connection: Upgrade`, `Origin` (`null` without a
/// configured one: the server refuses a request without it), the marker naming
/// `opts.variant`, then `extra` and the caller's own fields.
pub(crate) fn write_marked_get(
    out: &mut Vec<u8>,
    opts: &ClientOptions,
    host: &str,
    extra: &[(&str, &str)],
) {
    let mut headers = vec![
        ("Host", host),
        ("Upgrade", "WebSocket"),
        ("Connection", "Upgrade"),
        ("Origin", opts.origin.as_deref().unwrap_or("null")),
        (HANDSHAKE_MARKER, opts.variant.name()),
    ];
    headers.extend_from_slice(extra);
    write_request(out, "GET", &opts.path, &with_extra(headers, opts));
}

/// The client's session of a GET + marker proposal: RFC 6455 framing with client
/// masking from then on, the masks drawn from the handshake's entropy.
pub(crate) fn marked_client_session(
    variant: Variant,
    path: String,
    host: String,
    response: http::Response,
    entropy: &mut Entropy,
) -> Session {
    let codec = Box::new(Rfc6455Codec::client_masking(Side::Client, entropy.child()));
    Session::client_side(variant, path, host, response, codec)
}

/// Server side: checks the GET (the caller already applied host and origin policy).
pub(crate) fn server(
    req: &Request,
    _cfg: &ServerConfig,
    mut entropy: Entropy,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    check_marked_get(req, Variant::Hello)?;
    forbid_headers(
        req,
        Variant::Hello,
        &[
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Key1",
            "Sec-WebSocket-Key2",
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Draft",
            "Content-Length",
            "Transfer-Encoding",
        ],
    )?;
    let ns = entropy.array::<NONCE_LEN>();
    Ok(Box::new(HelloServer {
        state: ServerState::Start,
        ns,
        nc: [0; NONCE_LEN],
        request: MarkedGet::of(req),
    }))
}

#[derive(Debug)]
enum ServerState {
    Start,
    Hello1(ExpectHello),
    Hello3(ExpectHello),
}

struct HelloServer {
    state: ServerState,
    ns: [u8; NONCE_LEN],
    nc: [u8; NONCE_LEN],
    request: MarkedGet,
}

impl ServerVariant for HelloServer {
    fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        match &mut self.state {
            ServerState::Start => {
                if !input.is_empty() {
                    return Err(HandshakeError::Protocol(
                        "client sent bytes after the request head before the 101".into(),
                    ));
                }
                http::write_response(
                    out,
                    101,
                    "Switching Protocols",
                    &[("Upgrade", "WebSocket"), ("Connection", "Upgrade")],
                );
                self.state = ServerState::Hello1(ExpectHello::new(true, NONCE_LEN));
                Ok((0, None))
            }
            ServerState::Hello1(expect) => {
                let (used, payload) = expect.feed(input)?;
                let Some(nc) = payload else {
                    return Ok((used, None));
                };
                if used < input.len() {
                    return Err(HandshakeError::Protocol(
                        "client sent bytes after HELLO-1 before receiving HELLO-2".into(),
                    ));
                }
                self.nc = nc.try_into().expect("length checked");
                let mut body = self.ns.to_vec();
                body.extend_from_slice(&server_proof(&self.nc, &self.ns));
                write_hello(out, &body, None);
                self.state = ServerState::Hello3(ExpectHello::new(true, PROOF_LEN));
                Ok((used, None))
            }
            ServerState::Hello3(expect) => {
                let (used, payload) = expect.feed(input)?;
                let Some(pc) = payload else {
                    return Ok((used, None));
                };
                if pc != client_proof(&self.nc, &self.ns) {
                    return Err(HandshakeError::BadProof(format!(
                        "HELLO-3 proof {}, expected SHA-1(Ns ‖ Nc ‖ GUID)",
                        hex_str(&pc)
                    )));
                }
                Ok((used, Some(self.request.session(Variant::Hello))))
            }
        }
    }
}

pub(crate) fn hex_str(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Client side: writes the GET; the state machine does the rest.
pub(crate) fn client(
    opts: &ClientOptions,
    mut entropy: Entropy,
    out: &mut Vec<u8>,
) -> Result<Box<dyn ClientVariant>, HandshakeError> {
    no_subprotocols(opts)?;
    let host = opts.host_header();
    write_marked_get(out, opts, &host, &[]);
    let nc = entropy.array::<NONCE_LEN>();
    Ok(Box::new(HelloClient {
        state: ClientState::Response(HeadReader::default()),
        nc,
        entropy,
        limits: opts.limits.clone(),
        host,
        path: opts.path.clone(),
        response: None,
    }))
}

enum ClientState {
    Response(HeadReader),
    Hello2(ExpectHello),
}

struct HelloClient {
    state: ClientState,
    nc: [u8; NONCE_LEN],
    entropy: Entropy,
    limits: crate::Limits,
    host: String,
    path: String,
    response: Option<http::Response>,
}

impl ClientVariant for HelloClient {
    fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        match &mut self.state {
            ClientState::Response(reader) => {
                let Some((resp, used)) = read_response(reader, input, &self.limits)? else {
                    return Ok((input.len(), None));
                };
                check_101(&resp)?;
                if used < input.len() {
                    return Err(HandshakeError::Protocol(
                        "server sent bytes after the 101 before receiving HELLO-1".into(),
                    ));
                }
                self.response = Some(resp);
                let mask = self.entropy.mask();
                write_hello(out, &self.nc, Some(mask));
                self.state = ClientState::Hello2(ExpectHello::new(false, NONCE_LEN + PROOF_LEN));
                Ok((used, None))
            }
            ClientState::Hello2(expect) => {
                let (used, payload) = expect.feed(input)?;
                let Some(body) = payload else {
                    return Ok((used, None));
                };
                let ns: [u8; NONCE_LEN] = body[..NONCE_LEN].try_into().expect("36 bytes");
                if body[NONCE_LEN..] != server_proof(&self.nc, &ns) {
                    return Err(HandshakeError::BadProof(format!(
                        "HELLO-2 proof {}, expected SHA-1(Nc ‖ Ns ‖ GUID)",
                        hex_str(&body[NONCE_LEN..])
                    )));
                }
                if used < input.len() {
                    return Err(HandshakeError::Protocol(
                        "server sent bytes after HELLO-2 before receiving HELLO-3".into(),
                    ));
                }
                let mask = self.entropy.mask();
                write_hello(out, &client_proof(&self.nc, &ns), Some(mask));
                Ok((
                    used,
                    Some(marked_client_session(
                        Variant::Hello,
                        self.path.clone(),
                        self.host.clone(),
                        self.response.take().expect("kept since the 101"),
                        &mut self.entropy,
                    )),
                ))
            }
        }
    }
}

/// Client checks of the 101 (`docs/proposals/hello.md`, client rules 1–3).
fn check_101(resp: &http::Response) -> Result<(), HandshakeError> {
    check_switching(resp)?;
    for name in [
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
    ] {
        if resp.headers.contains(name) {
            return Err(HandshakeError::UnrequestedNegotiation(format!(
                "{name} in a hello 101"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::testutil::*;
    use crate::handshake::{ClientHandshake, ServerHandshake};

    fn golden_scripts(g: &Golden) -> (Vec<String>, Vec<String>) {
        let client = vec![
            g.input("client_nonce_Nc_hex"),
            g.input("client_hello1_mask_hex"),
            g.input("client_hello2_mask_hex"),
            g.input2("client_frame_masks_hex", "text"),
            g.input2("client_frame_masks_hex", "binary"),
            g.input2("client_frame_masks_hex", "close"),
        ];
        (client, vec![g.input("server_nonce_Ns_hex")])
    }

    #[test]
    fn golden_exchange_byte_exact_both_roles() {
        let g = Golden::load("hello");
        let nc: [u8; 16] = hex::decode(g.input("client_nonce_Nc_hex"))
            .unwrap()
            .try_into()
            .unwrap();
        let ns: [u8; 16] = hex::decode(g.input("server_nonce_Ns_hex"))
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            hex_str(&server_proof(&nc, &ns)),
            g.s("derived", "server_proof_Ps_hex")
        );
        assert_eq!(
            hex_str(&client_proof(&nc, &ns)),
            g.s("derived", "client_proof_Pc_hex")
        );
        let (cs, ss) = golden_scripts(&g);
        replay_golden(&g, Variant::Hello, &refs(&cs), &refs(&ss));
    }

    #[test]
    fn round_trip_one_byte_segments() {
        let mut opts =
            ClientOptions::from_url("ws://localhost:9000/hello", Variant::Hello).unwrap();
        opts.origin = Some("http://localhost".into());
        round_trip_bytewise(&opts, 1);
    }

    #[test]
    fn detection() {
        let g = Golden::load("hello");
        assert_eq!(Variant::detect(&g.request(0)), Ok(Variant::Hello));
    }

    /// Runs the golden server through HELLO-1 and returns it with the golden HELLO-3.
    fn server_after_hello1() -> (ServerHandshake, Golden) {
        let g = Golden::load("hello");
        let mut s = ServerHandshake::with_entropy(
            server_config(Variant::Hello),
            Entropy::script(&[&g.input("server_nonce_Ns_hex")]),
        );
        s.receive_data(&g.step(0).1).unwrap();
        s.receive_data(&g.step(2).1).unwrap();
        assert_eq!(s.take_output(), [g.step(1).1, g.step(3).1].concat());
        (s, g)
    }

    #[test]
    fn server_refuses_wrong_client_proof() {
        let (mut s, g) = server_after_hello1();
        let mut hello3 = g.step(4).1;
        *hello3.last_mut().unwrap() ^= 1;
        assert!(matches!(
            s.receive_data(&hello3),
            Err(HandshakeError::BadProof(_))
        ));
        assert!(s.take_output().is_empty(), "no answer after the 101");
    }

    #[test]
    fn server_refuses_non_hello_frames_and_early_bytes() {
        // A data frame where HELLO-3 is expected (e.g. a client that skips the proof).
        let (mut s, _) = server_after_hello1();
        let err = s
            .receive_data(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f])
            .unwrap_err();
        assert!(matches!(err, HandshakeError::Protocol(_)), "{err:?}");
        // Unmasked HELLO-1.
        let g = Golden::load("hello");
        let mut s = ServerHandshake::new(server_config(Variant::Hello));
        s.receive_data(&g.step(0).1).unwrap();
        let mut unmasked = vec![0x8b, 0x10];
        unmasked.extend_from_slice(&[0; 16]);
        assert!(s.receive_data(&unmasked).is_err());
        // Bytes glued to the request head (the client did not wait for the 101).
        let mut s = ServerHandshake::new(server_config(Variant::Hello));
        let glued = [g.step(0).1, g.step(2).1].concat();
        assert!(matches!(
            s.receive_data(&glued),
            Err(HandshakeError::Protocol(_))
        ));
        // HELLO-3 glued to HELLO-1 (the client did not wait for HELLO-2).
        let mut s = ServerHandshake::new(server_config(Variant::Hello));
        s.receive_data(&g.step(0).1).unwrap();
        assert!(s
            .receive_data(&[g.step(2).1, g.step(4).1].concat())
            .is_err());
    }

    #[test]
    fn server_must_reject_heads() {
        let base = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n";
        let cases = [
            (format!("{base}Sec-WebSocket-Handshake: hello\r\n\r\n"), 403),
            (format!("{base}Origin: x\r\nSec-WebSocket-Handshake: hello\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"), 400),
            (format!("{base}Origin: x\r\nSec-WebSocket-Handshake: hello\r\nSec-WebSocket-Handshake: hello\r\n\r\n"), 400),
            (format!("{base}Origin: x\r\nSec-WebSocket-Handshake: HELLO\r\n\r\n"), 400),
            (format!("{base}Origin: x\r\nSec-WebSocket-Handshake: hello\r\nContent-Length: 0\r\n\r\n"), 400),
            ("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nOrigin: x\r\nSec-WebSocket-Handshake: hello\r\n\r\n".to_string(), 400),
        ];
        for (req, status) in cases {
            let mut s = ServerHandshake::new(server_config(Variant::Hello));
            assert!(s.receive_data(req.as_bytes()).is_err(), "{req}");
            let out = String::from_utf8(s.take_output()).unwrap();
            assert!(
                out.starts_with(&format!("HTTP/1.1 {status} ")),
                "{req} -> {out}"
            );
        }
    }

    fn client_after_101(g: &Golden) -> ClientHandshake {
        golden_client_after_step1(
            g,
            Variant::Hello,
            &[
                &g.input("client_nonce_Nc_hex"),
                &g.input("client_hello1_mask_hex"),
                &g.input("client_hello2_mask_hex"),
            ],
        )
    }

    #[test]
    fn client_refuses_wrong_server_proof_and_wrong_nonce() {
        let g = Golden::load("hello");
        // Proof bit flipped.
        let mut hello2 = g.step(3).1;
        *hello2.last_mut().unwrap() ^= 0x80;
        let mut c = client_after_101(&g);
        assert!(matches!(
            c.receive_data(&hello2),
            Err(HandshakeError::BadProof(_))
        ));
        // A server that computed Ps over another Nc (it did not read ours).
        let ns: [u8; 16] = hex::decode(g.input("server_nonce_Ns_hex"))
            .unwrap()
            .try_into()
            .unwrap();
        let mut body = ns.to_vec();
        body.extend_from_slice(&server_proof(&[0; 16], &ns));
        let mut forged = Vec::new();
        write_hello(&mut forged, &body, None);
        let mut c = client_after_101(&g);
        assert!(matches!(
            c.receive_data(&forged),
            Err(HandshakeError::BadProof(_))
        ));
        // Masked HELLO-2, short HELLO-2.
        let mut c = client_after_101(&g);
        assert!(c.receive_data(&[0x8b, 0xa4]).is_err());
        let mut c = client_after_101(&g);
        assert!(c.receive_data(&[0x8b, 0x10]).is_err());
        // Data sent by the server before HELLO-2.
        let mut c = client_after_101(&g);
        assert!(c.receive_data(&[0x81, 0x02, b'h', b'i']).is_err());
        // Bytes glued to the 101.
        let opts = g.client_options(Variant::Hello);
        assert!(client_never_completes(&opts, &[g.step(1).1, g.step(3).1].concat()).is_some());
    }

    #[test]
    fn impostors_never_complete() {
        let opts = Golden::load("hello").client_options(Variant::Hello);
        let echo = echo_of_request(&opts);
        assert!(client_never_completes(&opts, &echo).is_some());
        for reply in IMPOSTOR_REPLIES {
            client_never_completes(&opts, reply.as_bytes());
        }
        // A plain 101, then an echo server reflecting HELLO-1: the client's own masked
        // frame is not a HELLO-2.
        let g = Golden::load("hello");
        let mut c = client_after_101(&g);
        assert!(c.receive_data(&g.step(2).1).is_err());
    }

    #[test]
    fn hello_after_open_is_a_protocol_error() {
        let opts = ClientOptions::from_url("ws://a/x", Variant::Hello).unwrap();
        let (mut c, mut s) = handshake_pair(&opts, server_config(Variant::Hello), 5, 1000);
        let mut stray = Vec::new();
        write_hello(&mut stray, &[0; 16], Some([1, 2, 3, 4]));
        s.receive_data(&stray);
        assert_eq!(
            events(&mut s),
            vec![crate::Event::Failed(crate::ProtocolError::UnknownOpcode(
                0xb
            ))]
        );
        pump(&mut s, &mut c, 1000);
        match events(&mut c).as_slice() {
            [crate::Event::Close(f)] => assert_eq!(f.code, crate::CloseCode::PROTOCOL_ERROR),
            other => panic!("{other:?}"),
        }
    }
}
