//! Internals exposed to cargo-fuzz (enabled by the `fuzzing` feature), in the manner of
//! quinn-proto's `fuzzing` module: each function drives one parser or state machine on
//! arbitrary bytes, must never panic, and asserts the invariants the fuzz targets in
//! `fuzz/` check (differential results, policy, message order).
//!
//! The functions are generic over [`Variant`]: a variant whose handshake modules have not
//! landed yet is skipped (its client or server refuses with `VariantDisabled`), and one
//! whose modules exist is covered without any change here, because connections are built
//! by running the variant's own client and server handshakes in memory
//! ([`session_pair`]). Only RFC 6455-family codecs are built directly, for speed.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::close::{CloseCode, CloseFrame};
use crate::connection::{ConnectionState, Event};
use crate::error::HandshakeError;
use crate::extensions::deflate::{self, DeflateConfig, Negotiated};
use crate::framing::rfc6455::Rfc6455Codec;
use crate::framing::OpCode;
use crate::handshake::{
    ClientHandshake, ClientOptions, HandshakeStatus, ServerConfig, ServerHandshake, Session,
};
use crate::utf8::{Utf8State, Utf8Validator};
use crate::{Connection, Limits, Side, Variant};

/// Limits small enough that a fuzz input can reach every one of them.
pub fn small_limits() -> Limits {
    Limits {
        max_head_size: 2048,
        max_headers: 24,
        max_message_size: 1 << 16,
        max_frame_size: 1 << 16,
        max_fragments: 64,
    }
}

fn all_variants_config(limits: Limits) -> Arc<ServerConfig> {
    Arc::new(ServerConfig {
        variants: Variant::ALL.to_vec(),
        limits,
        subprotocols: vec!["chat".into()],
        // Extension negotiation is parsed too (RFC 6455 family).
        deflate: Some(DeflateConfig::default()),
        ..ServerConfig::default()
    })
}

/// A permessage-deflate configuration from four fuzz bits per field: window sizes 8..=15,
/// context takeover flags, level.
pub fn deflate_config(bits: u16) -> DeflateConfig {
    DeflateConfig {
        level: (bits % 10) as u8,
        max_window_bits: 8 + ((bits >> 4) & 7) as u8,
        peer_max_window_bits: 8 + ((bits >> 7) & 7) as u8,
        no_context_takeover: bits & (1 << 10) != 0,
        peer_no_context_takeover: bits & (1 << 11) != 0,
        ..DeflateConfig::default()
    }
}

/// Negotiates permessage-deflate between a client with `client` and a server with
/// `server` settings (offer, acceptance, verification, as the handshakes do): what each
/// end applies, or `None` when the server declines.
pub fn deflate_pair(
    client: &DeflateConfig,
    server: &DeflateConfig,
) -> Option<(Negotiated, Negotiated)> {
    let offer = deflate::client_offer(client);
    let (for_server, answer) = deflate::server_accept(server, &[offer])?;
    let for_client = deflate::client_verify(client, &answer)
        .unwrap_or_else(|e| panic!("our client refused our server's answer: {e}"));
    Some((for_client, for_server))
}

/// Feeds `data` as frames to an RFC 6455 connection of `side` with permessage-deflate
/// negotiated from `bits` (see [`deflate_config`]), in pieces of `chunk` bytes: inflation
/// (decompression bombs included) must stay within `max_message_size`.
pub fn frames_deflate(side: Side, bits: u16, data: &[u8], chunk: usize) {
    let Some((c, s)) = deflate_pair(&deflate_config(bits), &deflate_config(bits.rotate_left(7)))
    else {
        return;
    };
    let limits = small_limits();
    let mut conn = connection(Variant::Rfc6455, side, limits.clone()).expect("rfc6455");
    conn.enable_deflate(if side == Side::Client { c } else { s });
    for piece in data.chunks(chunk.max(1)) {
        conn.receive_data(piece);
        drain_within(&mut conn, limits.max_message_size);
    }
    conn.receive_eof();
    drain_within(&mut conn, limits.max_message_size);
}

/// Does `out` start with a status line that accepts a WebSocket handshake (101 for the
/// Upgrade-based variants, 200 for CONNECT and POST)?
pub fn is_success_answer(out: &[u8]) -> bool {
    let line = out.split(|&b| b == b'\n').next().unwrap_or_default();
    line.starts_with(b"HTTP/1.1 101") || line.starts_with(b"HTTP/1.1 200")
}

fn status_line(out: &[u8]) -> &[u8] {
    out.split(|&b| b == b'\n').next().unwrap_or_default()
}

/// Variants whose server answers a first stage (101 or 200) and then reads more before
/// the handshake completes: Hixie-76 (key3), HELLO (frames), the CONNECT proposals
/// (metadata), UPGRADE-CONNECT (the inner CONNECT), POST.
pub fn multi_stage(v: Variant) -> bool {
    matches!(
        v,
        Variant::Hixie76
            | Variant::Hello
            | Variant::Connect
            | Variant::ConnectMasked
            | Variant::UpgradeConnect
            | Variant::Post
    )
}

/// What feeding a server handshake produced, for differential comparison.
#[derive(Debug, PartialEq, Eq)]
struct ServerOutcome {
    done: bool,
    failed: bool,
    variant: Option<Variant>,
    status_line: Vec<u8>,
}

/// Feeds `data` in pieces; returns the outcome and, when the handshake completed, the
/// handshake and how many bytes of `data` it was given.
fn drive_server(
    cfg: &Arc<ServerConfig>,
    data: &[u8],
    chunk: usize,
) -> (ServerOutcome, Option<(ServerHandshake, usize)>) {
    let mut hs = ServerHandshake::with_seed(cfg.clone(), [5; 32]);
    let mut out = Vec::new();
    let mut done = false;
    let mut failed = false;
    let mut fed = 0;
    for piece in data.chunks(chunk.max(1)) {
        fed += piece.len();
        let r = hs.receive_data(piece);
        out.extend_from_slice(&hs.take_output());
        match r {
            Ok(HandshakeStatus::Done) => {
                done = true;
                break;
            }
            Ok(HandshakeStatus::InProgress) => {}
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let outcome = ServerOutcome {
        done,
        failed,
        variant: hs.variant(),
        status_line: status_line(&out).to_vec(),
    };
    // Invariants of every answer. A multi-stage handshake answers its first stage
    // (101 or 200) before the next one can fail; a single-stage one never fails after
    // answering success.
    if failed && !outcome.variant.is_some_and(multi_stage) {
        assert!(
            !is_success_answer(&out),
            "a refused handshake was answered as accepted: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    if let Some(v) = outcome.variant {
        if !cfg.variants.contains(&v) {
            assert!(
                !is_success_answer(&out),
                "disabled variant {v} answered as accepted"
            );
            assert!(!done, "disabled variant {v} completed");
        }
    }
    (outcome, done.then_some((hs, fed)))
}

/// Feeds `data` to a server handshake with every variant enabled, in pieces of `chunk`
/// bytes, and checks that feeding it whole gives the same outcome (variant, status line,
/// success or failure). A completed handshake's connection gets the remaining bytes.
pub fn server_handshake(data: &[u8], chunk: usize) {
    let cfg = all_variants_config(small_limits());
    let (chunked, hs) = drive_server(&cfg, data, chunk);
    let (whole, _) = drive_server(&cfg, data, usize::MAX);
    // The head's verdict never depends on chunking: same variant, and a refusal of the
    // head is the same refusal.
    assert_eq!(
        chunked.variant, whole.variant,
        "chunking changed the variant"
    );
    let refused = |o: &ServerOutcome| {
        o.status_line.starts_with(b"HTTP/1.1 4") || o.status_line.starts_with(b"HTTP/1.1 5")
    };
    if refused(&chunked) || refused(&whole) {
        assert_eq!(
            chunked.status_line, whole.status_line,
            "chunking changed the refusal"
        );
    }
    if !chunked.variant.is_some_and(multi_stage) {
        if chunked.done || whole.done {
            // Waiting for bytes after the head may end on either side of a boundary.
            assert_eq!(chunked.failed, whole.failed);
        } else {
            assert_eq!(chunked, whole, "chunking changed the outcome");
        }
    }
    // Multi-stage handshakes are lockstep (UPGRADE-CONNECT refuses a CONNECT sent before
    // its 101): whether the next stage arrived with the head legitimately changes the
    // outcome, so only the head's verdict is compared for them.
    if let Some((hs, fed)) = hs {
        let (session, leftover) = hs.into_session();
        assert_eq!(session.side, Side::Server);
        let mut conn = session.into_connection(small_limits());
        conn.receive_data(&leftover);
        drain(&mut conn);
        conn.receive_data(&data[fed..]);
        drain(&mut conn);
        conn.receive_eof();
        drain(&mut conn);
    }
}

/// Feeds `data` to a server whose enabled variants are the bits of `mask` (bit i =
/// `Variant::ALL[i]`): a disabled variant must never be answered as accepted nor
/// complete; an enabled one completes only with a success answer.
pub fn server_policy(data: &[u8], mask: u16, chunk: usize) {
    let variants: Vec<Variant> = Variant::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, v)| *v)
        .collect();
    let cfg = Arc::new(ServerConfig {
        variants,
        limits: small_limits(),
        ..ServerConfig::default()
    });
    drive_server(&cfg, data, chunk);
}

/// Client options for an in-memory exchange with `variant`: an origin and a
/// subprotocol, unless the variant refuses them (the 2011 proposals negotiate none).
pub fn client_options(variant: Variant) -> ClientOptions {
    let mut opts =
        ClientOptions::from_url("ws://server.example:8080/chat?x=1", variant).expect("valid URL");
    opts.origin = Some("http://example.com".into());
    opts.subprotocols = vec!["chat".into()];
    opts.limits = small_limits();
    if let Err(HandshakeError::InvalidHeader { .. }) = ClientHandshake::new(&opts, [0; 32]) {
        opts.subprotocols.clear();
    }
    if matches!(
        variant,
        Variant::Rfc6455 | Variant::Hybi08 | Variant::Hybi07
    ) {
        opts.deflate = Some(DeflateConfig::default());
    }
    opts
}

/// Starts `variant`'s client handshake (with a fixed seed) and feeds it `data` as the
/// server's answer, in pieces of `chunk` bytes. A completed handshake's connection gets
/// the remaining bytes. Variants without a client yet are skipped.
pub fn client_handshake(variant: Variant, data: &[u8], chunk: usize) {
    let Ok(mut hs) = ClientHandshake::new(&client_options(variant), [7; 32]) else {
        return;
    };
    let request = hs.take_output();
    assert!(!request.is_empty(), "{variant}: no request written");
    for piece in data.chunks(chunk.max(1)) {
        match hs.receive_data(piece) {
            Ok(HandshakeStatus::InProgress) => {
                hs.take_output();
            }
            Ok(HandshakeStatus::Done) => {
                let (session, leftover) = hs.into_session();
                assert_eq!(session.side, Side::Client);
                assert_eq!(session.variant, variant);
                let mut conn = session.into_connection(small_limits());
                conn.receive_data(&leftover);
                drain(&mut conn);
                return;
            }
            Err(_) => return,
        }
    }
    let _ = hs.receive_eof();
}

/// Runs `variant`'s client and server handshakes against each other in memory and returns
/// both sessions (client, server), or `None` when the variant has no implementation yet.
/// Panics when an implemented variant cannot complete its own handshake: that is a bug.
pub fn session_pair(variant: Variant, seed: u64) -> Option<(Session, Session)> {
    let opts = client_options(variant);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut client = ClientHandshake::new(&opts, seed_bytes).ok()?;
    let cfg = Arc::new(ServerConfig {
        variants: vec![variant],
        subprotocols: vec!["chat".into()],
        ..ServerConfig::default()
    });
    let mut server = ServerHandshake::with_seed(cfg, seed_bytes);
    let (mut c_done, mut s_done) = (false, false);
    for _round in 0..8 {
        let to_server = client.take_output();
        if !s_done && !to_server.is_empty() {
            match server.receive_data(&to_server) {
                Ok(HandshakeStatus::Done) => s_done = true,
                Ok(HandshakeStatus::InProgress) => {}
                Err(HandshakeError::VariantDisabled(_)) => return None,
                Err(e) => panic!("{variant}: server refused our own client: {e}"),
            }
        }
        let to_client = server.take_output();
        if !c_done && !to_client.is_empty() {
            match client.receive_data(&to_client) {
                Ok(HandshakeStatus::Done) => c_done = true,
                Ok(HandshakeStatus::InProgress) => {}
                Err(e) => panic!("{variant}: client refused our own server: {e}"),
            }
        }
        if c_done && s_done {
            let (cs, c_left) = client.into_session();
            let (ss, s_left) = server.into_session();
            assert!(c_left.is_empty() && s_left.is_empty());
            return Some((cs, ss));
        }
    }
    panic!("{variant}: in-memory handshake did not complete");
}

/// A connection of `side` speaking `variant`'s framing, built directly from the codec
/// the variant's handshake module gives its sessions (a handshake per fuzz execution
/// would cost more than the frames; [`session_pair`] checks the real handshakes).
pub fn connection(variant: Variant, side: Side, limits: Limits) -> Option<Connection> {
    use crate::framing::{
        aes_ctr::AesCtrCodec, hybi01::Hybi01Codec, hybi04::Hybi04Codec, sentinel::SentinelCodec,
        Codec,
    };
    let rng = || StdRng::seed_from_u64(0);
    let client_rng = || (side == Side::Client).then(rng);
    let codec: Box<dyn Codec> = match variant {
        Variant::Rfc6455 | Variant::Hybi08 | Variant::Hybi07 => {
            Box::new(Rfc6455Codec::new(side, client_rng()))
        }
        Variant::Hixie75 => Box::new(SentinelCodec::hixie75()),
        Variant::Hixie76 => Box::new(SentinelCodec::hixie76()),
        Variant::Hybi03 => Box::new(Hybi01Codec::new()),
        Variant::Hybi04 => Box::new(Hybi04Codec::hybi04(side, [0x42; 20], client_rng())),
        Variant::Hybi05 => Box::new(Hybi04Codec::hybi05(side, false, client_rng())),
        Variant::Hybi06 => Box::new(Hybi04Codec::hybi05(side, true, client_rng())),
        Variant::ConnectMasked => Box::new(AesCtrCodec::new([0x17; 16], rng())),
        // The proposals' sessions use these same settings (their handshake modules).
        Variant::Hello | Variant::UpgradeConnect => Box::new(Rfc6455Codec::new(side, client_rng())),
        Variant::Connect | Variant::Post => Box::new(Rfc6455Codec::unmasked(side)),
    };
    Some(Connection::new(side, variant, codec, limits))
}

/// [`drain`], checking that no message exceeds `max` bytes.
fn drain_within(conn: &mut Connection, max: usize) {
    while let Some(ev) = conn.next_event() {
        match &ev {
            Event::Text(t) => assert!(t.len() <= max, "text message of {} bytes", t.len()),
            Event::Binary(b) => assert!(b.len() <= max, "binary message of {} bytes", b.len()),
            _ => {}
        }
    }
    let n = conn.pending_output().len();
    conn.advance_output(n);
}

fn drain(conn: &mut Connection) {
    while let Some(ev) = conn.next_event() {
        if let Event::Text(t) = &ev {
            // Text events are valid UTF-8 by construction; re-check the unchecked path.
            assert!(std::str::from_utf8(t.as_bytes()).is_ok());
        }
    }
    let n = conn.pending_output().len();
    conn.advance_output(n);
}

/// Feeds `data` as frames from the peer to a `variant` connection of `side`, in pieces
/// of `chunk` bytes, with small limits; then end of stream.
pub fn frames(variant: Variant, side: Side, data: &[u8], chunk: usize) {
    let Some(mut conn) = connection(variant, side, small_limits()) else {
        return;
    };
    for piece in data.chunks(chunk.max(1)) {
        conn.receive_data(piece);
        drain(&mut conn);
        // A failed or closed connection writes nothing more than its close frame.
        if conn.state() == ConnectionState::Closed {
            assert!(conn.pending_output().is_empty());
        }
    }
    conn.receive_eof();
    drain(&mut conn);
}

/// The frame target for a whole framing family: `data[0]` bit 0 picks the side (0
/// client), the other bits one of the family's implemented variants; `data[1]` the
/// chunk size; the rest are frames from the peer.
pub fn family_frames(target: &str, data: &[u8]) {
    let [b0, b1, rest @ ..] = data else {
        return;
    };
    let family: Vec<Variant> = implemented_variants()
        .iter()
        .copied()
        .filter(|&v| frame_target(v) == Some(target))
        .collect();
    if family.is_empty() {
        return;
    }
    let side = if b0 & 1 == 0 {
        Side::Client
    } else {
        Side::Server
    };
    let v = family[(b0 >> 1) as usize % family.len()];
    frames(v, side, rest, *b1 as usize + 1);
}

/// Zero-copy echo ([`Connection::receive_data_lending`]) against the copying one
/// ([`Connection::receive_data_with`]): the same bytes must go out, in the same order,
/// whatever the variant, read sizes and short writes. Layout: `data[0]` the variant,
/// `data[1]` the read size (in 1 KiB steps, so large payloads arrive whole and are lent),
/// `data[2..6]` the writer's budgets (0: `WouldBlock`; else that many 257-byte steps),
/// then a script of 3-byte messages (kind, length high, length low: kind bit 0 text,
/// bit 1 a ping after it, bit 2 the length ×4, bit 3 fragmented in two; `0xff` ends the
/// script and the rest goes on the wire raw, as hostile bytes).
pub fn echo_lending(data: &[u8]) {
    let [v, c, b0, b1, b2, b3, script @ ..] = data else {
        return;
    };
    let variants = implemented_variants();
    let variant = variants[*v as usize % variants.len()];
    let chunk = (*c as usize + 1) * 1024;
    let budgets = [*b0, *b1, *b2, *b3].map(|b| b as usize * 257);
    let (Some(mut client), Some(mut lending), Some(mut copying)) = (
        connection(variant, Side::Client, Limits::default()),
        connection(variant, Side::Server, Limits::default()),
        connection(variant, Side::Server, Limits::default()),
    ) else {
        return;
    };
    let mut raw: &[u8] = &[];
    let mut ops = script;
    while let [kind, hi, lo, rest @ ..] = ops {
        if *kind == 0xff {
            raw = rest;
            break;
        }
        ops = rest;
        let mut len = u16::from_be_bytes([*hi, *lo]) as usize;
        if kind & 4 != 0 {
            len *= 4;
        }
        let text = kind & 1 != 0;
        let payload: String = "é".repeat(len / 2);
        let body: &[u8] = if text {
            payload.as_bytes()
        } else {
            &vec![*lo; len]
        };
        let sent = if kind & 8 != 0 && body.len() >= 2 {
            let half = if text {
                payload.len() / 2 / 2 * 2
            } else {
                body.len() / 2
            };
            let (first, second) = body.split_at(half);
            let opcode = if text { OpCode::Text } else { OpCode::Binary };
            client
                .send_frame(opcode, false, first)
                .and_then(|()| client.send_frame(OpCode::Continuation, true, second))
        } else if text {
            client.send_text(&payload)
        } else {
            client.send_binary(body)
        };
        if sent.is_err() {
            break;
        }
        if kind & 2 != 0 && client.send_ping(b"p").is_err() {
            break;
        }
    }
    let mut wire = client.take_output();
    wire.extend_from_slice(raw);

    let echo = |conn: &mut Connection, msg: crate::DataRef<'_>| {
        let _ = match msg {
            crate::DataRef::Text(t) => conn.send_text(t),
            crate::DataRef::Binary(b) => conn.send_binary(b),
        };
    };
    let echo_events = |conn: &mut Connection| {
        while let Some(ev) = conn.next_event() {
            let _ = match ev {
                Event::Text(t) => conn.send_text(&t),
                Event::Binary(b) => conn.send_binary(&b),
                _ => Ok(()),
            };
        }
    };
    let mut writer = ShortWriter::new(&budgets);
    for piece in wire.chunks(chunk) {
        let mut a = piece.to_vec();
        lending
            .receive_data_lending(&mut a, echo, |bufs| writer.write(bufs))
            .expect("the writer fails only with WouldBlock");
        echo_events(&mut lending);
        let mut b = piece.to_vec();
        copying.receive_data_with(&mut b, echo);
        echo_events(&mut copying);
        assert_eq!(lending.state(), copying.state());
    }
    let mut lent_out = writer.sent;
    lent_out.extend(lending.take_output());
    assert!(
        lent_out == copying.take_output(),
        "{variant}: lending changed the output"
    );
}

/// A socket stand-in for the writer of [`Connection::receive_data_lending`]: its i-th call
/// takes `budgets[i]` bytes, cycling (0: `WouldBlock`), and keeps what it took in `sent`.
pub struct ShortWriter<'a> {
    budgets: &'a [usize],
    calls: usize,
    /// Every byte the writer took, in order.
    pub sent: Vec<u8>,
}

impl<'a> ShortWriter<'a> {
    /// A writer with these budgets (at least one).
    pub fn new(budgets: &'a [usize]) -> Self {
        Self {
            budgets,
            calls: 0,
            sent: Vec::new(),
        }
    }

    /// One vectored write: takes up to this call's budget from `bufs`, in order.
    pub fn write(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let budget = self.budgets[self.calls % self.budgets.len()];
        self.calls += 1;
        if budget == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let mut left = budget;
        for buf in bufs {
            let take = left.min(buf.len());
            self.sent.extend_from_slice(&buf[..take]);
            left -= take;
        }
        Ok(budget - left)
    }
}

/// Kept for the first fuzz targets: [`frames`] with RFC 6455.
pub fn rfc6455_connection(data: &[u8], side: Side, chunk: usize) {
    frames(Variant::Rfc6455, side, data, chunk);
}

/// Parses a close body; an accepted one must round-trip through `encode`.
pub fn close_frame(data: &[u8]) {
    let Ok(frame) = CloseFrame::parse(data) else {
        return;
    };
    if data.is_empty() {
        assert_eq!(frame.code, CloseCode::NO_STATUS);
        return;
    }
    assert!(frame.code.is_sendable());
    let mut body = Vec::new();
    frame.encode(&mut body);
    if data.len() <= 125 {
        assert_eq!(body, data, "close body does not round-trip");
    }
    assert!(body.len() <= 125);
    assert_eq!(CloseFrame::parse(&body).map(|f| f.code), Ok(frame.code));
}

/// Differential test of the streaming UTF-8 validator against `std::str::from_utf8`:
/// `data` arrives in pieces whose lengths come from `splits`; the validator must report
/// invalid exactly when std says the prefix can no longer become valid, and complete
/// exactly when std accepts the whole.
pub fn utf8(data: &[u8], splits: &[u8]) {
    let mut v = Utf8Validator::default();
    let mut len = 0;
    let mut sizes = splits.iter().map(|&b| b as usize % 17).cycle();
    while len < data.len() {
        let step = if splits.is_empty() {
            data.len()
        } else {
            sizes.next().unwrap_or(1)
        };
        len = (len + step.max(1)).min(data.len());
        let prefix = &data[..len];
        let state = v.feed(prefix);
        let std = std::str::from_utf8(prefix);
        match state {
            Utf8State::Invalid => {
                assert!(
                    matches!(&std, Err(e) if e.error_len().is_some()),
                    "validator rejected a prefix std can still complete: {prefix:02x?}"
                );
                return;
            }
            Utf8State::Ok => {
                assert!(
                    std.is_ok() || matches!(&std, Err(e) if e.error_len().is_none()),
                    "validator accepted an invalid prefix: {prefix:02x?}"
                );
                assert_eq!(v.is_complete(len), std.is_ok());
            }
        }
    }
    assert_eq!(v.is_complete(data.len()), std::str::from_utf8(data).is_ok());
    assert_eq!(
        crate::utf8::validate(data),
        std::str::from_utf8(data).is_ok()
    );
}

/// One step of the message-layer fuzz target.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// The given side sends a text message.
    Text(bool, String),
    /// The given side sends a binary message.
    Binary(bool, Vec<u8>),
    /// The given side sends one frame (opcode index, FIN, payload).
    Frame(bool, u8, bool, Vec<u8>),
    /// The given side pings.
    Ping(bool, Vec<u8>),
    /// The given side sends an unsolicited pong.
    Pong(bool, Vec<u8>),
    /// The given side starts the closing handshake.
    Close(bool, u16, String),
    /// Up to `n * 7 + 1` pending bytes travel from the given side to its peer, in pieces.
    Deliver(bool, u8, u8),
    /// The given side takes its events.
    Events(bool),
    /// The given side's transport ends (the peer sees end of stream).
    Eof(bool),
}

/// What one direction of the message-level model expects the receiver to report.
#[derive(Default)]
struct Direction {
    /// Data messages and pings sent, in order, not yet seen by the peer.
    expected: std::collections::VecDeque<Event>,
    /// The fragmented message being sent (text?, bytes so far).
    open: Option<(bool, Vec<u8>)>,
    /// Bytes written but not yet delivered.
    wire: Vec<u8>,
    /// The model stops checking after a close, EOF or protocol failure.
    stopped: bool,
}

/// Drives a client and a server connection of `variant` with random interleavings of
/// sends, partial deliveries, event draining, closes and EOFs, and checks that every
/// data message and ping arrives once, whole and in order, and that no well-formed
/// traffic fails the connection.
pub fn messages(variant: Variant, ops: &[Op]) {
    messages_with(variant, None, ops)
}

/// [`messages`], with permessage-deflate negotiated from `deflate` bits (see
/// [`deflate_config`]; client and server settings differ) for the RFC 6455 family:
/// everything must still arrive intact through compression.
pub fn messages_with(variant: Variant, deflate: Option<u16>, ops: &[Op]) {
    let limits = Limits {
        max_message_size: 1 << 20,
        max_frame_size: 1 << 20,
        max_fragments: 1 << 12,
        ..Limits::default()
    };
    let (Some(mut client), Some(mut server)) = (
        connection(variant, Side::Client, limits.clone()),
        connection(variant, Side::Server, limits),
    ) else {
        return;
    };
    if let (Some(bits), Variant::Rfc6455 | Variant::Hybi08 | Variant::Hybi07) = (deflate, variant) {
        if let Some((c, s)) =
            deflate_pair(&deflate_config(bits), &deflate_config(bits.rotate_left(7)))
        {
            client.enable_deflate(c);
            server.enable_deflate(s);
        }
    }
    let mut conns = [client, server];
    let mut dirs = [Direction::default(), Direction::default()];
    for op in ops {
        match op {
            Op::Text(s, t) => {
                let i = *s as usize;
                if conns[i].send_text(t).is_ok() && dirs[i].open.is_none() {
                    dirs[i].expected.push_back(Event::Text(t.clone()));
                }
            }
            Op::Binary(s, b) => {
                let i = *s as usize;
                if conns[i].send_binary(b).is_ok() && dirs[i].open.is_none() {
                    dirs[i].expected.push_back(Event::Binary(b.clone()));
                }
            }
            Op::Frame(s, op, fin, data) => {
                let i = *s as usize;
                let opcode = match op % 3 {
                    0 => OpCode::Text,
                    1 => OpCode::Binary,
                    _ => OpCode::Continuation,
                };
                // Text fragments must concatenate to valid UTF-8: send ASCII only.
                let data: Vec<u8> = match (opcode, &dirs[i].open) {
                    (OpCode::Text, _) | (OpCode::Continuation, Some((true, _))) => {
                        data.iter().map(|b| b & 0x7f).collect()
                    }
                    _ => data.clone(),
                };
                if conns[i].send_frame(opcode, *fin, &data).is_ok() {
                    let d = &mut dirs[i];
                    let (text, mut so_far) = match opcode {
                        OpCode::Continuation => d.open.take().expect("send_frame checked"),
                        _ => (opcode == OpCode::Text, Vec::new()),
                    };
                    so_far.extend_from_slice(&data);
                    if *fin {
                        d.expected.push_back(if text {
                            Event::Text(String::from_utf8(so_far).expect("ASCII"))
                        } else {
                            Event::Binary(so_far)
                        });
                    } else {
                        d.open = Some((text, so_far));
                    }
                }
            }
            Op::Ping(s, p) => {
                let i = *s as usize;
                if conns[i].send_ping(p).is_ok() {
                    dirs[i].expected.push_back(Event::Ping(p.clone()));
                }
            }
            Op::Pong(s, p) => {
                let _ = conns[*s as usize].send_pong(p);
            }
            Op::Close(s, code, reason) => {
                let i = *s as usize;
                if conns[i]
                    .send_close(CloseFrame::new(CloseCode(*code), reason.clone()))
                    .is_ok()
                {
                    // Nothing after the close is delivered; what was sent before is.
                    dirs[i].open = None;
                }
            }
            Op::Deliver(s, n, piece) => {
                let i = *s as usize;
                let out = conns[i].take_output();
                dirs[i].wire.extend_from_slice(&out);
                let n = (*n as usize * 7 + 1).min(dirs[i].wire.len());
                let bytes: Vec<u8> = dirs[i].wire.drain(..n).collect();
                for p in bytes.chunks(*piece as usize % 13 + 1) {
                    conns[1 - i].receive_data(p);
                }
            }
            Op::Events(s) => take_events(&mut conns, &mut dirs, *s as usize),
            Op::Eof(s) => {
                let i = *s as usize;
                // Everything written arrives first, then the end of stream.
                let out = conns[i].take_output();
                dirs[i].wire.extend_from_slice(&out);
                let bytes = std::mem::take(&mut dirs[i].wire);
                conns[1 - i].receive_data(&bytes);
                conns[1 - i].receive_eof();
            }
        }
    }
    // Deliver everything left both ways and drain.
    for _ in 0..3 {
        for i in 0..2 {
            let out = conns[i].take_output();
            dirs[i].wire.extend_from_slice(&out);
            let bytes = std::mem::take(&mut dirs[i].wire);
            conns[1 - i].receive_data(&bytes);
            take_events(&mut conns, &mut dirs, 1 - i);
        }
    }
}

/// The receiver `r` takes its events; each must be the next one its peer sent.
fn take_events(conns: &mut [Connection; 2], dirs: &mut [Direction; 2], r: usize) {
    let sender = 1 - r;
    while let Some(ev) = conns[r].next_event() {
        let d = &mut dirs[sender];
        match ev {
            Event::Failed(e) => panic!("well-formed traffic failed the connection: {e}"),
            Event::Close(_) => d.stopped = true,
            Event::Pong(_) => {}
            ev if d.stopped => drop(ev),
            ev => {
                let want = d.expected.pop_front();
                assert_eq!(Some(&ev), want.as_ref(), "message order or content differs");
            }
        }
    }
}

/// Seed inputs for the fuzz targets, built from the test vectors and from in-memory
/// exchanges of every implemented variant (so the corpus grows as variants land):
/// `(target name, input)`. The layouts match the targets in `fuzz/fuzz_targets/`.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    // RFC 6455 §1.2 sample request, and a few broken heads.
    let sample: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    for (chunk, req) in [
        (255u8, sample.to_vec()),
        (0, sample.to_vec()),
        (
            6,
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 99\r\n\r\n".to_vec(),
        ),
        (
            255,
            b"CONNECT websocket.invalid:443 HTTP/1.1\r\nHost: websocket.invalid:443\r\n\r\n"
                .to_vec(),
        ),
        (
            255,
            b"POST / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: x\r\n\r\n".to_vec(),
        ),
    ] {
        let mut seed = vec![chunk];
        seed.extend_from_slice(&req);
        out.push(("server_handshake", seed.clone()));
        let mut policy = vec![0xff, 0x01, chunk];
        policy.extend_from_slice(&req);
        out.push(("server_policy", policy));
    }
    for (i, &variant) in Variant::ALL.iter().enumerate() {
        let Some(request) = ClientHandshake::new(&client_options(variant), [7; 32])
            .ok()
            .map(|mut hs| hs.take_output())
        else {
            continue;
        };
        let mut seed = vec![255];
        seed.extend_from_slice(&request);
        out.push(("server_handshake", seed));
        let mut policy = vec![0xff, 0x3f, 3];
        policy.extend_from_slice(&request);
        out.push(("server_policy", policy));
        // The server's answer to that very request, for the client target.
        let cfg = all_variants_config(Limits::default());
        let mut server = ServerHandshake::with_seed(cfg, [9; 32]);
        let _ = server.receive_data(&request);
        let mut answer = vec![i as u8, 255];
        answer.extend_from_slice(&server.take_output());
        out.push(("client_handshake", answer));
        // Frames of a short conversation, as each side would receive them.
        if let Some(((c, s), family)) = session_pair(variant, 1).zip(frame_target(variant)) {
            let (mut c, mut s) = (
                c.into_connection(Limits::default()),
                s.into_connection(Limits::default()),
            );
            for conn in [&mut c, &mut s] {
                let _ = conn.send_text("Hello");
                let _ = conn.send_binary(&[0, 1, 2, 0xff]);
                let _ = conn.send_frame(OpCode::Text, false, b"frag");
                let _ = conn.send_ping(b"ping");
                let _ = conn.send_frame(OpCode::Continuation, true, b"ment");
                let _ = conn.send_text(&"x".repeat(300));
                let _ = conn.send_close(CloseFrame::new(CloseCode::NORMAL, "bye"));
            }
            // byte 0: bit 0 picks the receiving side (0 = client), the rest the chunk
            // (frames_rfc6455) or the variant in the family, then a chunk byte.
            let prefix: &[u8] = if family == "frames_rfc6455" {
                &[]
            } else {
                &[0xff]
            };
            let pick = |side: u8| -> u8 {
                if family == "frames_rfc6455" {
                    0xfe | side
                } else {
                    let family_list: Vec<Variant> = implemented_variants()
                        .iter()
                        .copied()
                        .filter(|&w| frame_target(w) == Some(family))
                        .collect();
                    let idx = family_list.iter().position(|&w| w == variant).unwrap_or(0);
                    ((idx as u8) << 1) | side
                }
            };
            let mut to_client = vec![pick(0)];
            to_client.extend_from_slice(prefix);
            to_client.extend_from_slice(&s.take_output());
            let mut to_server = vec![pick(1)];
            to_server.extend_from_slice(prefix);
            to_server.extend_from_slice(&c.take_output());
            out.push((family, to_client));
            out.push((family, to_server));
        }
    }
    for body in [
        &b""[..],
        b"\x03\xe8",
        b"\x03\xe8bye",
        b"\x0f\xa0\xce\xba",
        b"\x03\xed",
        b"\x03",
    ] {
        out.push(("close_frame", body.to_vec()));
    }
    for text in [
        "κόσμε".as_bytes(),
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80",
        b"\xed\xa0\x80",
        b"\xf0\x90\x80",
        "Hello-µ@ßöäüàá-UTF-8!!".as_bytes(),
    ] {
        // byte 0: how many split bytes follow.
        let mut seed = vec![2, 1, 3];
        seed.extend_from_slice(text);
        out.push(("utf8", seed));
    }
    // Compressed frames of a short conversation, for frames_deflate.
    for bits in [0u16, 0x0f36, 0x0c00] {
        let mut c = connection(Variant::Rfc6455, Side::Client, Limits::default()).expect("rfc6455");
        let mut s = connection(Variant::Rfc6455, Side::Server, Limits::default()).expect("rfc6455");
        if let Some((nc, ns)) =
            deflate_pair(&deflate_config(bits), &deflate_config(bits.rotate_left(7)))
        {
            c.enable_deflate(nc);
            s.enable_deflate(ns);
        }
        for conn in [&mut c, &mut s] {
            let _ = conn.send_text(&"Hello, hello, hello! ".repeat(20));
            let _ = conn.send_binary(&[0u8; 3000]);
            let _ = conn.send_frame(OpCode::Text, false, b"compressed fragments, ");
            let _ = conn.send_frame(OpCode::Continuation, true, b"compressed fragments");
            let _ = conn.send_text("");
        }
        // bytes 0-1: side (bit 0) and deflate bits (the rest, little-endian); byte 2: chunk.
        for (side, wire) in [(0u16, s.take_output()), (1, c.take_output())] {
            let b = (bits << 1) | side;
            let mut seed = vec![b as u8, (b >> 8) as u8, 255];
            seed.extend_from_slice(&wire);
            out.push(("frames_deflate", seed));
        }
    }
    // echo_lending: every variant, reads of up to 256 KiB and short writes. Texts only
    // (Hixie has no binary): 20 B, 9,000 B and 65,000 B (both lent from one read), a
    // ping; then mixed: 9,000 B binary (lent), 40,000 B fragmented (copied), 20,000 B
    // (copied: the fragments' events wait), 5 B text and a ping; then hostile bytes.
    let texts: &[u8] = &[1, 0, 20, 1, 0x23, 0x28, 1, 0xfd, 0xe8, 3, 0, 5];
    let mixed: &[u8] = &[0, 0x23, 0x28, 8, 0x9c, 0x40, 0, 0x4e, 0x20, 3, 0, 5];
    let hostile: &[u8] = &[0xff, 0x81, 0x85, 1, 2, 3, 4, 0xc0];
    for v in 0..implemented_variants().len() as u8 {
        for script in [texts, mixed] {
            let mut seed = vec![v, 255, 40, 0, 255, 7];
            seed.extend_from_slice(texts);
            seed.extend_from_slice(script);
            out.push(("echo_lending", seed.clone()));
            seed.extend_from_slice(hostile);
            out.push(("echo_lending", seed));
        }
    }
    out
}

/// The variants whose client and server handshakes both exist (computed once).
pub fn implemented_variants() -> &'static [Variant] {
    static LIST: std::sync::OnceLock<Vec<Variant>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        Variant::ALL
            .into_iter()
            .filter(|&v| session_pair(v, 0).is_some())
            .collect()
    })
}

/// The frame fuzz target that covers `variant`'s framing family, if any.
pub fn frame_target(variant: Variant) -> Option<&'static str> {
    match variant {
        Variant::Rfc6455 | Variant::Hybi08 | Variant::Hybi07 => Some("frames_rfc6455"),
        Variant::ConnectMasked => Some("frames_aes_ctr"),
        Variant::Hixie75 | Variant::Hixie76 => Some("frames_sentinel"),
        Variant::Hybi03 => Some("frames_hybi01"),
        Variant::Hybi04 | Variant::Hybi05 | Variant::Hybi06 => Some("frames_hybi04"),
        // The other 2011 proposals frame as RFC 6455 once their handshake is done.
        Variant::Hello | Variant::Connect | Variant::UpgradeConnect | Variant::Post => {
            Some("frames_proposals")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_run_clean() {
        let seeds = seeds();
        assert!(seeds.len() > 20);
        for (target, data) in &seeds {
            match *target {
                "server_handshake" => server_handshake(&data[1..], data[0] as usize + 1),
                "server_policy" => server_policy(
                    &data[3..],
                    u16::from_le_bytes([data[0], data[1]]),
                    data[2] as usize + 1,
                ),
                "client_handshake" => client_handshake(
                    Variant::ALL[data[0] as usize % Variant::ALL.len()],
                    &data[2..],
                    data[1] as usize + 1,
                ),
                "frames_rfc6455" => {
                    let side = if data[0] & 1 == 0 {
                        Side::Client
                    } else {
                        Side::Server
                    };
                    frames(
                        Variant::Rfc6455,
                        side,
                        &data[1..],
                        (data[0] >> 1) as usize + 1,
                    )
                }
                "frames_aes_ctr" | "frames_proposals" | "frames_sentinel" | "frames_hybi01"
                | "frames_hybi04" => family_frames(target, data),
                "frames_deflate" => {
                    let b = u16::from_le_bytes([data[0], data[1]]);
                    let side = if b & 1 == 0 {
                        Side::Client
                    } else {
                        Side::Server
                    };
                    frames_deflate(side, b >> 1, &data[3..], data[2] as usize + 1)
                }
                "close_frame" => close_frame(data),
                "echo_lending" => echo_lending(data),
                "utf8" => {
                    let n = (data[0] as usize).min(data.len() - 1);
                    utf8(&data[1 + n..], &data[1..1 + n])
                }
                other => panic!("seed for unknown target {other}"),
            }
        }
    }

    /// `HYBI_FUZZ_CORPUS=fuzz/corpus cargo test -p hybi-proto --lib write_fuzz_seeds --
    /// --ignored` writes the seeds into `<dir>/<target>/seed-<hash>` (scripts/fuzz-seeds.sh).
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let dir = std::env::var("HYBI_FUZZ_CORPUS").expect("set HYBI_FUZZ_CORPUS");
        for (target, data) in seeds() {
            let d = std::path::Path::new(&dir).join(target);
            std::fs::create_dir_all(&d).unwrap();
            // FNV-1a: stable names, so re-running adds nothing twice.
            let hash = data.iter().fold(0xcbf29ce484222325u64, |h, &b| {
                (h ^ b as u64).wrapping_mul(0x100000001b3)
            });
            std::fs::write(d.join(format!("seed-{hash:016x}")), &data).unwrap();
        }
    }

    /// Inputs the fuzzers once failed on, replayed (fuzz/regressions/, see its README).
    #[test]
    fn fuzz_regressions() {
        // UPGRADE-CONNECT head and inner CONNECT in one read: refused (lockstep), while
        // in pieces the 101 goes out first; the harness wrongly wanted equal outcomes.
        let d = include_bytes!("../../../fuzz/regressions/server_handshake-0c95089d193a");
        server_handshake(&d[1..], d[0] as usize + 1);
        // HELLO answered 101, then a bad HELLO frame failed it: a first-stage 101 before
        // a later refusal is how multi-stage handshakes work, not a policy breach.
        let d = include_bytes!("../../../fuzz/regressions/server_policy-5425df6be3f8");
        server_policy(&d[3..], u16::from_le_bytes([d[0], d[1]]), d[2] as usize + 1);
    }

    #[test]
    fn implemented_variants_listed() {
        eprintln!("implemented: {:?}", implemented_variants());
        assert!(implemented_variants().contains(&Variant::Rfc6455));
    }

    /// The codecs `connection` builds directly speak with the real handshakes' sessions
    /// (for HyBi-04 and connect-masked the keys differ, so only the close-style and
    /// capabilities must agree).
    #[test]
    fn direct_codecs_match_sessions() {
        for v in Variant::ALL {
            let (c, s) = session_pair(v, 5).expect("implemented");
            let (mut sc, mut ss) = (
                c.into_connection(Limits::default()),
                s.into_connection(Limits::default()),
            );
            let mut dc = connection(v, Side::Client, Limits::default()).unwrap();
            let mut ds = connection(v, Side::Server, Limits::default()).unwrap();
            assert_eq!(dc.close_style(), sc.close_style(), "{v}");
            assert_eq!(ds.close_style(), ss.close_style(), "{v}");
            if matches!(v, Variant::Hybi04 | Variant::ConnectMasked) {
                continue;
            }
            for (from, to) in [(&mut dc, &mut ss), (&mut sc, &mut ds)] {
                from.send_text("hello").unwrap();
                to.receive_data(&from.take_output());
                assert_eq!(to.next_event(), Some(Event::Text("hello".into())), "{v}");
            }
        }
    }

    #[test]
    fn every_implemented_variant_pairs_up() {
        for v in Variant::ALL {
            if let Some((c, s)) = session_pair(v, 9) {
                assert_eq!((c.variant, s.variant), (v, v));
            }
        }
        assert!(session_pair(Variant::Rfc6455, 9).is_some());
    }

    #[test]
    fn message_model_smoke() {
        let ops = vec![
            Op::Text(false, "héllo".into()),
            Op::Frame(true, 1, false, vec![1, 2]),
            Op::Ping(true, b"p".to_vec()),
            Op::Deliver(false, 3, 2),
            Op::Events(true),
            Op::Frame(true, 2, true, vec![3]),
            Op::Deliver(true, 200, 5),
            Op::Events(false),
            Op::Close(false, 1000, "bye".into()),
            Op::Deliver(false, 200, 1),
            Op::Events(true),
            Op::Deliver(true, 200, 1),
            Op::Events(false),
        ];
        for v in Variant::ALL {
            messages(v, &ops);
        }
        for bits in [0u16, 0x0f36, 0x0c00, 0x0fff] {
            messages_with(Variant::Rfc6455, Some(bits), &ops);
        }
    }

    #[test]
    fn utf8_differential_examples() {
        utf8("κόσμε".as_bytes(), &[1, 1, 1]);
        utf8(b"\xce\xba\xf4\x90", &[1, 2]);
        utf8(b"\xed\xa0\x80", &[]);
        utf8(b"\xf0\x90\x80", &[1]);
    }
}
