//! Test support for the proposal modules: the golden exchanges of
//! `scripts/golden/out/*.json`, and an in-process client ⇄ server pump.

use std::sync::Arc;

use serde_json::Value;

use super::{ClientHandshake, ClientOptions, HandshakeStatus, ServerConfig, ServerHandshake};
use crate::close::{CloseCode, CloseFrame};
use crate::entropy::Entropy;
use crate::framing::OpCode;
use crate::http::{self, Request};
use crate::{Connection, ConnectionState, Event, Limits, Variant};

/// One golden exchange (`scripts/golden/out/NAME.json`).
pub(crate) struct Golden(Value);

impl Golden {
    pub(crate) fn load(name: &str) -> Golden {
        let text = match name {
            "hello" => include_str!("../../../../scripts/golden/out/hello.json"),
            "connect" => include_str!("../../../../scripts/golden/out/connect.json"),
            "connect-masked" => {
                include_str!("../../../../scripts/golden/out/connect-masked.json")
            }
            "upgrade-connect" => {
                include_str!("../../../../scripts/golden/out/upgrade-connect.json")
            }
            "post" => include_str!("../../../../scripts/golden/out/post.json"),
            other => panic!("no golden file for {other}"),
        };
        let v: Value = serde_json::from_str(text).expect("golden JSON");
        assert_eq!(v["variant"], name);
        Golden(v)
    }

    /// An input or derived value (string).
    pub(crate) fn s(&self, section: &str, key: &str) -> String {
        self.0[section][key]
            .as_str()
            .unwrap_or_else(|| panic!("{section}.{key}"))
            .to_owned()
    }

    pub(crate) fn input(&self, key: &str) -> String {
        self.s("inputs", key)
    }

    /// A nested input map value (e.g. `client_frame_masks_hex.text`).
    pub(crate) fn input2(&self, key: &str, sub: &str) -> String {
        self.0["inputs"][key][sub]
            .as_str()
            .unwrap_or_else(|| panic!("inputs.{key}.{sub}"))
            .to_owned()
    }

    /// Handshake message `i` (wire order) and who sends it.
    pub(crate) fn step(&self, i: usize) -> (String, Vec<u8>) {
        let st = &self.0["handshake_steps"][i];
        (
            st["from"].as_str().expect("from").to_owned(),
            hex::decode(st["hex"].as_str().expect("hex")).expect("hex"),
        )
    }

    pub(crate) fn steps(&self) -> usize {
        self.0["handshake_steps"].as_array().expect("steps").len()
    }

    /// Wire bytes of the example frame `kind` (text/binary/close) sent by `from`.
    pub(crate) fn frame(&self, from: &str, kind: &str) -> Vec<u8> {
        let f = self.0["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .find(|f| f["from"] == from && f["kind"] == kind)
            .expect("frame");
        hex::decode(f["hex"].as_str().expect("hex")).expect("hex")
    }

    /// Handshake message `i`, parsed as a request head.
    pub(crate) fn request(&self, i: usize) -> Request {
        http::parse_request(&self.step(i).1, &Default::default())
            .expect("a request head")
            .0
    }

    /// The fixed client options of every example.
    pub(crate) fn client_options(&self, variant: Variant) -> ClientOptions {
        let url = self.0["inputs"]["url"]
            .as_str()
            .unwrap_or("ws://server.example.com/chat");
        let mut opts = ClientOptions::from_url(url, variant).expect("url");
        opts.origin = self.0["inputs"]["origin"].as_str().map(str::to_owned);
        opts
    }
}

/// Borrows a script of owned strings as [`Entropy::script`] takes it.
pub(crate) fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub(crate) fn server_config(variant: Variant) -> Arc<ServerConfig> {
    Arc::new(ServerConfig {
        variants: vec![variant],
        ..ServerConfig::default()
    })
}

/// A client of `variant` whose random values come from `script`, fed the server's first
/// golden answer (step 1): still in progress, its next golden message (step 2) taken.
pub(crate) fn golden_client_after_step1(
    g: &Golden,
    variant: Variant,
    script: &[&str],
) -> ClientHandshake {
    let opts = g.client_options(variant);
    let mut c = ClientHandshake::with_entropy(&opts, Entropy::script(script)).unwrap();
    c.take_output();
    assert_eq!(
        c.receive_data(&g.step(1).1).unwrap(),
        HandshakeStatus::InProgress
    );
    assert_eq!(c.take_output(), g.step(2).1);
    c
}

/// Replays a golden exchange against both roles, byte for byte: the handshake, then the
/// example frames ([`golden_frames`]).
pub(crate) fn replay_golden(
    g: &Golden,
    variant: Variant,
    client_script: &[&str],
    server_script: &[&str],
) {
    let opts = g.client_options(variant);
    let mut c = ClientHandshake::with_entropy(&opts, Entropy::script(client_script)).unwrap();
    let mut s =
        ServerHandshake::with_entropy(server_config(variant), Entropy::script(server_script));
    // The client's first message is written at construction.
    let mut client_out = c.take_output();
    let mut server_out = Vec::new();
    let last_from = |who: &str| {
        (0..g.steps())
            .filter(|&i| g.step(i).0 == who)
            .max()
            .expect("both sides speak")
    };
    let (last_client, last_server) = (last_from("client"), last_from("server"));
    for i in 0..g.steps() {
        let (from, bytes) = g.step(i);
        if from == "client" {
            assert_eq!(
                hex::encode(&client_out),
                hex::encode(&bytes),
                "step {i}: client output"
            );
            let st = s.receive_data(&bytes).unwrap();
            assert_eq!(st == HandshakeStatus::Done, i == last_client, "step {i}");
            server_out = s.take_output();
            client_out.clear();
        } else {
            assert_eq!(
                hex::encode(&server_out),
                hex::encode(&bytes),
                "step {i}: server output"
            );
            let st = c.receive_data(&bytes).unwrap();
            assert_eq!(st == HandshakeStatus::Done, i == last_server, "step {i}");
            client_out = c.take_output();
            server_out.clear();
        }
    }
    assert!(client_out.is_empty() && server_out.is_empty());
    let (cs, cl) = c.into_session();
    let (ss, sl) = s.into_session();
    assert!(cl.is_empty() && sl.is_empty());
    assert_eq!((cs.variant, ss.variant), (variant, variant));
    golden_frames(
        g,
        &mut cs.into_connection(Limits::default()),
        &mut ss.into_connection(Limits::default()),
    );
}

/// The golden example frames: client text, binary, close; server text, binary, and the
/// close it echoes.
pub(crate) fn golden_frames(g: &Golden, client: &mut Connection, server: &mut Connection) {
    client.send_text("Hello").unwrap();
    assert_eq!(client.take_output(), g.frame("client", "text"));
    client.send_binary(&[1, 2, 3]).unwrap();
    assert_eq!(client.take_output(), g.frame("client", "binary"));
    client
        .send_close(CloseFrame::new(CloseCode::NORMAL, ""))
        .unwrap();
    assert_eq!(client.take_output(), g.frame("client", "close"));
    server.send_text("Hello").unwrap();
    assert_eq!(server.take_output(), g.frame("server", "text"));
    server.send_binary(&[1, 2, 3]).unwrap();
    assert_eq!(server.take_output(), g.frame("server", "binary"));
    let mut wire = g.frame("client", "text");
    wire.extend(g.frame("client", "binary"));
    wire.extend(g.frame("client", "close"));
    server.receive_data(&wire);
    assert_eq!(
        events(server),
        vec![
            Event::Text("Hello".into()),
            Event::Binary(vec![1, 2, 3]),
            Event::Close(CloseFrame::new(CloseCode::NORMAL, ""))
        ]
    );
    assert_eq!(server.take_output(), g.frame("server", "close"));
    let mut wire = g.frame("server", "text");
    wire.extend(g.frame("server", "binary"));
    wire.extend(g.frame("server", "close"));
    client.receive_data(&wire);
    assert_eq!(
        events(client),
        vec![
            Event::Text("Hello".into()),
            Event::Binary(vec![1, 2, 3]),
            Event::Close(CloseFrame::new(CloseCode::NORMAL, ""))
        ]
    );
    assert_eq!(client.state(), ConnectionState::Closed);
    assert_eq!(server.state(), ConnectionState::Closed);
}

pub(crate) fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.next_event()).collect()
}

/// Runs a client and a server handshake against each other, delivering every byte in
/// pieces of `chunk` bytes, and returns the connections with any early bytes fed in.
pub(crate) fn handshake_pair(
    opts: &ClientOptions,
    cfg: Arc<ServerConfig>,
    seed: u8,
    chunk: usize,
) -> (Connection, Connection) {
    let mut c = ClientHandshake::new(opts, [seed; 32]).unwrap();
    let mut s = ServerHandshake::with_seed(cfg, [seed.wrapping_add(1); 32]);
    let (mut c_done, mut s_done) = (false, false);
    for _ in 0..100 {
        let out = c.take_output();
        for piece in out.chunks(chunk) {
            s_done = s.receive_data(piece).unwrap() == HandshakeStatus::Done;
        }
        let out = s.take_output();
        for piece in out.chunks(chunk) {
            c_done = c.receive_data(piece).unwrap() == HandshakeStatus::Done;
        }
        if c_done && s_done && c.pending_output().is_empty() {
            break;
        }
    }
    assert!(c_done && s_done, "handshake stalled");
    let (cs, cl) = c.into_session();
    let (ss, sl) = s.into_session();
    assert_eq!(cs.variant, opts.variant);
    assert_eq!(ss.variant, opts.variant);
    assert_eq!(ss.path, opts.path);
    let mut client = cs.into_connection(Limits::default());
    let mut server = ss.into_connection(Limits::default());
    client.receive_data(&cl);
    server.receive_data(&sl);
    (client, server)
}

/// A client and a server of `opts.variant` against each other with every byte delivered
/// alone: the handshake, then [`exercise`].
pub(crate) fn round_trip_bytewise(opts: &ClientOptions, seed: u8) {
    let (mut c, mut s) = handshake_pair(opts, server_config(opts.variant), seed, 1);
    exercise(&mut c, &mut s, 1);
}

pub(crate) fn pump(from: &mut Connection, to: &mut Connection, chunk: usize) {
    let out = from.take_output();
    for piece in out.chunks(chunk.max(1)) {
        to.receive_data(piece);
    }
}

/// Text, binary, a fragmented message with a ping inside, 1 MiB, then the closing
/// handshake, in both directions, every byte delivered in pieces of `chunk`.
pub(crate) fn exercise(client: &mut Connection, server: &mut Connection, chunk: usize) {
    let big: Vec<u8> = (0..1usize << 20).map(|i| (i * 31 + 7) as u8).collect();
    for dir in 0..2 {
        let (a, b) = if dir == 0 {
            (&mut *client, &mut *server)
        } else {
            (&mut *server, &mut *client)
        };
        a.send_text("héllo, wörld").unwrap();
        a.send_binary(&[0, 1, 2, 0xff]).unwrap();
        a.send_frame(OpCode::Text, false, "κό".as_bytes()).unwrap();
        a.send_ping(b"mid").unwrap();
        a.send_frame(OpCode::Continuation, false, &"σμε".as_bytes()[..3])
            .unwrap();
        a.send_frame(OpCode::Continuation, true, &"σμε".as_bytes()[3..])
            .unwrap();
        a.send_frame(OpCode::Binary, false, &[]).unwrap();
        a.send_frame(OpCode::Continuation, true, &[9]).unwrap();
        pump(a, b, chunk);
        assert_eq!(
            events(b),
            vec![
                Event::Text("héllo, wörld".into()),
                Event::Binary(vec![0, 1, 2, 0xff]),
                Event::Ping(b"mid".to_vec()),
                Event::Text("κόσμε".into()),
                Event::Binary(vec![9]),
            ],
            "direction {dir}"
        );
        pump(b, a, chunk);
        assert_eq!(events(a), vec![Event::Pong(b"mid".to_vec())]);
        a.send_binary(&big).unwrap();
        pump(a, b, chunk);
        assert_eq!(events(b), vec![Event::Binary(big.clone())]);
    }
    client
        .send_close(CloseFrame::new(CloseCode(4000), "bye"))
        .unwrap();
    pump(client, server, chunk);
    assert_eq!(
        events(server),
        vec![Event::Close(CloseFrame::new(CloseCode(4000), "bye"))]
    );
    pump(server, client, chunk);
    assert_eq!(
        events(client),
        vec![Event::Close(CloseFrame::new(CloseCode(4000), ""))]
    );
    assert!(client.wants_transport_closed() && server.wants_transport_closed());
}

/// Feeds a client handshake `reply` (in one piece and byte by byte) and asserts that it
/// never completes: it fails, or still waits for bytes that a fake will never send.
pub(crate) fn client_never_completes(
    opts: &ClientOptions,
    reply: &[u8],
) -> Option<crate::HandshakeError> {
    let mut last = None;
    for chunk in [reply.len().max(1), 1] {
        let mut c = ClientHandshake::new(opts, [3; 32]).unwrap();
        let _ = c.take_output();
        let mut err = None;
        for piece in reply.chunks(chunk) {
            match c.receive_data(piece) {
                Ok(HandshakeStatus::Done) => panic!(
                    "{} completed against {:?}",
                    opts.variant,
                    String::from_utf8_lossy(reply)
                ),
                Ok(HandshakeStatus::InProgress) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        last = err;
    }
    last
}

/// What an echo server sends back to a client: the client's own bytes.
pub(crate) fn echo_of_request(opts: &ClientOptions) -> Vec<u8> {
    let mut c = ClientHandshake::new(opts, [3; 32]).unwrap();
    c.take_output()
}

/// Generic answers of a plain HTTP server or a WebSocket server of another kind.
pub(crate) const IMPOSTOR_REPLIES: &[&str] = &[
    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\n\r\n",
    "HTTP/1.1 200 Connection established\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 502 Bad Gateway\r\n\r\n",
];

/// Feeds `n` pseudo-random byte strings, in random pieces, to whatever `feed` builds:
/// used to check that hostile bytes never panic a proposal's state machine or codec.
pub(crate) fn garbage(n: usize, mut feed: impl FnMut(&[&[u8]])) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6a7b);
    for _ in 0..n {
        let len = rng.random_range(0..400);
        let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        // Bias towards plausible headers now and then.
        if len > 2 && rng.random_bool(0.3) {
            data[0] = [0x81, 0x82, 0x88, 0x89, 0x8b, 0x01][rng.random_range(0..6)];
        }
        let mut pieces = Vec::new();
        let mut rest = &data[..];
        while !rest.is_empty() {
            let k = rng.random_range(1..=rest.len().min(40));
            pieces.push(&rest[..k]);
            rest = &rest[k..];
        }
        feed(&pieces);
    }
}
