use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::*;
use crate::close::CloseCode;
use crate::connection::{Connection, Event};
use crate::extensions::parse_value;
use crate::framing::rfc6455::Rfc6455Codec;
use crate::framing::OpCode;
use crate::{Limits, Side, Variant};

// VARIANTS.md §13 (server frames, unmasked).
/// "Hello", compressed (a fixed-Huffman block, trailer dropped).
const HELLO: &[u8] = &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// "Hello" again with context takeover: one back-reference into the previous message.
const HELLO_AGAIN_TAKEOVER: &[u8] = &[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00];
/// "Hello" in a stored (uncompressed) DEFLATE block.
const HELLO_STORED: &[u8] = &[
    0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
];
/// The empty message.
const EMPTY: &[u8] = &[0xc1, 0x01, 0x00];
/// "Hello" compressed, split over two frames: RSV1 on the first only.
const HELLO_FRAGMENTED: &[u8] = &[
    0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
];
/// "Hello" as a final block (BFINAL set, §7.2.3.4).
const HELLO_BFINAL: &[u8] = &[0xc1, 0x07, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fn ext(s: &str) -> Vec<Extension> {
    let mut v = Vec::new();
    parse_value(s, &mut v).unwrap();
    v
}

/// Runs the negotiation as on the wire: offer → server → rendered answer → client.
fn negotiate(client: &DeflateConfig, server: &DeflateConfig) -> (Negotiated, Negotiated) {
    let offer = client_offer(client).render();
    let (s, answer) = server_accept(server, &ext(&offer)).expect("server accepts");
    let c = client_verify(client, &ext(&answer.render())[0]).expect("client accepts");
    (c, s)
}

fn connections(
    c: Option<Negotiated>,
    s: Option<Negotiated>,
    limits: Limits,
) -> (Connection, Connection) {
    let mut client = Connection::new(
        Side::Client,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(
            Side::Client,
            Some(StdRng::seed_from_u64(5)),
        )),
        limits.clone(),
    );
    let mut server = Connection::new(
        Side::Server,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(Side::Server, None)),
        limits,
    );
    if let Some(c) = c {
        client.enable_deflate(c);
    }
    if let Some(s) = s {
        server.enable_deflate(s);
    }
    (client, server)
}

fn pair(client: &DeflateConfig, server: &DeflateConfig) -> (Connection, Connection) {
    let (c, s) = negotiate(client, server);
    connections(Some(c), Some(s), Limits::default())
}

fn default_pair() -> (Connection, Connection) {
    pair(&DeflateConfig::default(), &DeflateConfig::default())
}

fn pump(from: &mut Connection, to: &mut Connection, chunk: usize) -> Vec<u8> {
    let out = from.take_output();
    for piece in out.chunks(chunk.max(1)) {
        to.receive_data(piece);
    }
    out
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.next_event()).collect()
}

#[test]
fn server_encodes_the_vectors_byte_exact() {
    let (_, mut s) = default_pair();
    s.send_text("Hello").unwrap();
    assert_eq!(s.take_output(), HELLO);
    s.send_text("Hello").unwrap();
    assert_eq!(s.take_output(), HELLO_AGAIN_TAKEOVER);
    let (mut c, mut s) = default_pair();
    s.send_text("").unwrap();
    assert_eq!(s.take_output(), EMPTY);
    // an empty message right after another (nothing new to flush) is still `00`
    s.send_text("Hello").unwrap();
    s.send_text("").unwrap();
    s.send_text("").unwrap();
    s.send_text("Hello").unwrap();
    let wire = s.take_output();
    let frames = payloads(&wire);
    assert_eq!(
        (frames[1].as_slice(), frames[2].as_slice()),
        (&[0][..], &[0][..])
    );
    c.receive_data(EMPTY);
    c.receive_data(&wire);
    assert_eq!(
        events(&mut c),
        ["", "Hello", "", "", "Hello"]
            .map(|t| Event::Text(t.into()))
            .to_vec()
    );
    // level 0: stored blocks only
    let cfg = DeflateConfig {
        level: 0,
        ..DeflateConfig::default()
    };
    let (_, mut s) = pair(&DeflateConfig::default(), &cfg);
    s.send_text("Hello").unwrap();
    assert_eq!(s.take_output(), HELLO_STORED);
}

#[test]
fn without_context_takeover_every_message_stands_alone() {
    let cfg = DeflateConfig {
        no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let (_, s_neg) = negotiate(&DeflateConfig::default(), &cfg);
    assert!(s_neg.params.server_no_context_takeover);
    let (_, mut s) = connections(None, Some(s_neg), Limits::default());
    for _ in 0..3 {
        s.send_text("Hello").unwrap();
        assert_eq!(s.take_output(), HELLO);
    }
}

#[test]
fn client_decodes_the_vectors() {
    let (mut c, _) = default_pair();
    let mut wire = Vec::new();
    for v in [
        HELLO,
        HELLO_AGAIN_TAKEOVER,
        HELLO_STORED,
        EMPTY,
        HELLO_FRAGMENTED,
    ] {
        wire.extend_from_slice(v);
    }
    for chunk in [1, 3, 1000] {
        let (mut c2, _) = default_pair();
        for piece in wire.chunks(chunk) {
            c2.receive_data(piece);
        }
        assert_eq!(
            events(&mut c2),
            ["Hello", "Hello", "Hello", "", "Hello"]
                .map(|t| Event::Text(t.into()))
                .to_vec(),
            "chunk {chunk}"
        );
    }
    // A final block, then a message that refers back into it.
    let mut wire = HELLO_BFINAL.to_vec();
    wire.extend_from_slice(HELLO_AGAIN_TAKEOVER);
    c.receive_data(&wire);
    assert_eq!(
        events(&mut c),
        vec![Event::Text("Hello".into()), Event::Text("Hello".into())]
    );
}

#[test]
fn rsv1_only_on_the_first_data_frame_and_control_frames_pass_between() {
    let (mut c, mut s) = default_pair();
    c.send_frame(OpCode::Text, false, b"Hel").unwrap();
    c.send_ping(b"ping").unwrap();
    c.send_frame(OpCode::Continuation, false, b"lo ").unwrap();
    c.send_pong(b"pong").unwrap();
    c.send_frame(OpCode::Continuation, true, b"world").unwrap();
    c.send_binary(b"second").unwrap();
    let wire = c.take_output();
    // walk the frames: RSV1 exactly on the two message starts
    let mut rsv1 = Vec::new();
    let mut i = 0;
    while i < wire.len() {
        rsv1.push((wire[i] & 0x0f, wire[i] & 0x40 != 0));
        let len = (wire[i + 1] & 0x7f) as usize;
        assert!(len < 126);
        i += 2 + 4 + len;
    }
    assert_eq!(
        rsv1,
        [
            (1, true),
            (9, false),
            (0, false),
            (10, false),
            (0, false),
            (2, true)
        ]
    );
    for chunk in [1, 2, 5, 1000] {
        let (_, mut s2) = default_pair();
        for piece in wire.chunks(chunk) {
            s2.receive_data(piece);
        }
        assert_eq!(
            events(&mut s2),
            vec![
                Event::Ping(b"ping".to_vec()),
                Event::Pong(b"pong".to_vec()),
                Event::Text("Hello world".into()),
                Event::Binary(b"second".to_vec()),
            ]
        );
    }
    s.receive_data(&wire);
    assert_eq!(events(&mut s).len(), 4);
}

#[test]
fn empty_fragments_of_a_compressed_message() {
    let (mut c, mut s) = default_pair();
    c.send_frame(OpCode::Binary, false, b"").unwrap();
    c.send_frame(OpCode::Continuation, false, b"abc").unwrap();
    c.send_frame(OpCode::Continuation, false, b"").unwrap();
    c.send_frame(OpCode::Continuation, true, b"").unwrap();
    c.send_text("after").unwrap();
    pump(&mut c, &mut s, 1);
    assert_eq!(
        events(&mut s),
        vec![Event::Binary(b"abc".to_vec()), Event::Text("after".into())]
    );
}

#[test]
fn rsv1_misuse_fails_with_1002() {
    // RSV1 on a continuation frame
    let (_, mut s) = default_pair();
    s.receive_data(&[0x41, 0x80, 0, 0, 0, 0, 0xc0, 0x80, 0, 0, 0, 0]);
    assert_eq!(
        events(&mut s),
        vec![Event::Failed(ProtocolError::ReservedBits)]
    );
    // RSV1 on a ping
    let (_, mut s) = default_pair();
    s.receive_data(&[0xc9, 0x80, 0, 0, 0, 0]);
    assert_eq!(
        events(&mut s),
        vec![Event::Failed(ProtocolError::ReservedBits)]
    );
    // RSV1 without permessage-deflate
    let (mut c, mut s) = connections(None, None, Limits::default());
    s.receive_data(&[0xc1, 0x80, 0, 0, 0, 0]);
    assert_eq!(
        events(&mut s),
        vec![Event::Failed(ProtocolError::ReservedBits)]
    );
    pump(&mut s, &mut c, 100);
    match events(&mut c).as_slice() {
        [Event::Close(f)] => assert_eq!(f.code, CloseCode::PROTOCOL_ERROR),
        other => panic!("{other:?}"),
    }
}

#[test]
fn uncompressed_messages_still_pass() {
    let (c_neg, s_neg) = negotiate(&DeflateConfig::default(), &DeflateConfig::default());
    let (mut plain_client, _) = connections(None, None, Limits::default());
    let (_, mut s) = connections(Some(c_neg), Some(s_neg), Limits::default());
    plain_client.send_text("plain").unwrap();
    plain_client.send_binary(&[1, 2]).unwrap();
    pump(&mut plain_client, &mut s, 3);
    assert_eq!(
        events(&mut s),
        vec![Event::Text("plain".into()), Event::Binary(vec![1, 2])]
    );
}

#[test]
fn corrupt_data_fails_with_1002() {
    let (_, mut s) = default_pair();
    // BTYPE 11 is reserved
    s.receive_data(&[0xc2, 0x81, 0, 0, 0, 0, 0xff]);
    match events(&mut s).as_slice() {
        [Event::Failed(e @ ProtocolError::BadCompression(_))] => {
            assert_eq!(e.close_code(), CloseCode::PROTOCOL_ERROR)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_utf8_after_inflating_fails_fast_with_1007() {
    let (mut c, mut s) = default_pair();
    c.send_frame(OpCode::Text, false, &[b'a'; 100]).unwrap();
    pump(&mut c, &mut s, 7);
    assert!(events(&mut s).is_empty());
    // F4 90: can never become valid; the message is not finished yet
    c.send_frame(OpCode::Continuation, false, &[b'b', 0xf4, 0x90])
        .unwrap();
    pump(&mut c, &mut s, 7);
    assert_eq!(
        events(&mut s),
        vec![Event::Failed(ProtocolError::InvalidUtf8)]
    );
    pump(&mut s, &mut c, 100);
    match events(&mut c).as_slice() {
        [Event::Close(f)] => assert_eq!(f.code, CloseCode::INVALID_PAYLOAD),
        other => panic!("{other:?}"),
    }
    // a code point split across compressed fragments is fine
    let (mut c, mut s) = default_pair();
    let text = "κόσμε".as_bytes();
    c.send_frame(OpCode::Text, false, &text[..3]).unwrap();
    c.send_frame(OpCode::Continuation, true, &text[3..])
        .unwrap();
    pump(&mut c, &mut s, 2);
    assert_eq!(events(&mut s), vec![Event::Text("κόσμε".into())]);
    // ... but not one cut off at the end of the message
    let (mut c, mut s) = default_pair();
    c.send_frame(OpCode::Text, true, &text[..3]).unwrap();
    pump(&mut c, &mut s, 2);
    assert_eq!(
        events(&mut s),
        vec![Event::Failed(ProtocolError::InvalidUtf8)]
    );
}

#[test]
fn decompression_bomb_fails_with_1009_at_the_limit() {
    let limits = Limits {
        max_message_size: 100_000,
        ..Limits::default()
    };
    let (c_neg, s_neg) = negotiate(&DeflateConfig::default(), &DeflateConfig::default());
    let (mut c, mut s) = connections(Some(c_neg), Some(s_neg), limits);
    c.send_binary(&vec![0u8; 20 << 20]).unwrap();
    let wire = c.take_output();
    assert!(
        wire.len() < 40_000,
        "20 MiB of zeros in {} bytes",
        wire.len()
    );
    s.receive_data(&wire);
    assert_eq!(
        events(&mut s),
        vec![Event::Failed(ProtocolError::MessageTooLarge)]
    );
    let out = s.take_output();
    assert_eq!(&out[..4], &[0x88, out[1], 0x03, 0xf1]); // 1009
                                                        // a message of exactly the limit passes
    let (c_neg, s_neg) = negotiate(&DeflateConfig::default(), &DeflateConfig::default());
    let limits = Limits {
        max_message_size: 100_000,
        ..Limits::default()
    };
    let (mut c, mut s) = connections(Some(c_neg), Some(s_neg), limits);
    c.send_binary(&vec![7u8; 100_000]).unwrap();
    pump(&mut c, &mut s, 10);
    assert_eq!(events(&mut s), vec![Event::Binary(vec![7u8; 100_000])]);
}

#[test]
fn inflated_size_counts_across_fragments() {
    let (c_neg, s_neg) = negotiate(&DeflateConfig::default(), &DeflateConfig::default());
    let limits = Limits {
        max_message_size: 1000,
        ..Limits::default()
    };
    let (mut c2, _) = connections(Some(c_neg), None, limits.clone());
    c2.send_frame(OpCode::Binary, false, &[1u8; 400]).unwrap();
    c2.send_frame(OpCode::Continuation, false, &[1u8; 400])
        .unwrap();
    c2.send_frame(OpCode::Continuation, true, &[1u8; 400])
        .unwrap();
    let (_, mut s2) = connections(None, Some(s_neg), limits);
    pump(&mut c2, &mut s2, 5);
    assert_eq!(
        events(&mut s2),
        vec![Event::Failed(ProtocolError::MessageTooLarge)]
    );
}

/// Text long enough to exercise every window: repeats at distances up to 40 KiB.
fn corpus(seed: u64, len: usize) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let words = [
        "permessage",
        "deflate",
        "window",
        "κόσμε",
        "takeover",
        "{\"id\":",
        "}, ",
        "hybi",
        "\n",
        "0123456789",
        "zlib",
    ];
    let mut out = String::new();
    let mut pieces: Vec<String> = Vec::new();
    while out.len() < len {
        let r = rng.next_u32() as usize;
        if r.is_multiple_of(7) && !pieces.is_empty() {
            let p = pieces[r % pieces.len()].clone();
            out.push_str(&p);
        } else {
            let w = words[r % words.len()];
            let mut piece = w.to_string();
            piece.push_str(&(r % 1000).to_string());
            out.push_str(&piece);
            if r.is_multiple_of(3) {
                pieces.push(piece);
            }
        }
    }
    out
}

/// A deliberately plain inflater for tests that fails on any back-reference farther
/// than `2^bits` bytes (zlib-rs's inflater keeps a 32 KiB window whatever it is told, so
/// it cannot check this).
fn strict_inflate(bits: u8, payloads: &[Vec<u8>], takeover: bool) -> Result<Vec<Vec<u8>>, String> {
    const LBASE: [usize; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [usize; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DEXT: [u32; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];

    struct Bits<'a> {
        data: &'a [u8],
        pos: usize,
    }
    impl Bits<'_> {
        fn get(&mut self, n: u32) -> Result<u32, String> {
            let mut v = 0;
            for i in 0..n {
                let byte = *self.data.get(self.pos / 8).ok_or("out of input")?;
                v |= u32::from((byte >> (self.pos % 8)) & 1) << i;
                self.pos += 1;
            }
            Ok(v)
        }
    }
    /// Canonical Huffman code: symbol counts per length, symbols ordered by code.
    struct Code {
        counts: [usize; 16],
        symbols: Vec<usize>,
    }
    impl Code {
        fn new(lengths: &[u8]) -> Code {
            let mut counts = [0; 16];
            for &l in lengths {
                counts[l as usize] += 1;
            }
            counts[0] = 0;
            let mut symbols = Vec::new();
            for len in 1..16 {
                for (sym, &l) in lengths.iter().enumerate() {
                    if l as usize == len {
                        symbols.push(sym);
                    }
                }
            }
            Code { counts, symbols }
        }
        fn decode(&self, b: &mut Bits) -> Result<usize, String> {
            let (mut code, mut first, mut index) = (0usize, 0usize, 0usize);
            for len in 1..16 {
                code |= b.get(1)? as usize;
                let count = self.counts[len];
                if code < first + count {
                    return Ok(self.symbols[index + code - first]);
                }
                index += count;
                first = (first + count) << 1;
                code <<= 1;
            }
            Err("bad code".into())
        }
    }

    let window = 1usize << bits;
    let mut history: Vec<u8> = Vec::new();
    let mut messages = Vec::new();
    for p in payloads {
        if !takeover {
            history.clear();
        }
        let start = history.len();
        let mut data = p.clone();
        data.extend_from_slice(&TRAILER);
        let mut b = Bits {
            data: &data,
            pos: 0,
        };
        while b.pos < data.len() * 8 {
            let _last = b.get(1)?;
            match b.get(2)? {
                0 => {
                    b.pos = b.pos.div_ceil(8) * 8;
                    let len = b.get(16)? as usize;
                    if b.get(16)? as usize != !len & 0xffff {
                        return Err("stored length".into());
                    }
                    for _ in 0..len {
                        let byte = b.get(8)? as u8;
                        history.push(byte);
                    }
                }
                t @ (1 | 2) => {
                    let (lit, dist) =
                        if t == 1 {
                            let mut l = [8u8; 288];
                            l[144..256].fill(9);
                            l[256..280].fill(7);
                            (Code::new(&l), Code::new(&[5; 30]))
                        } else {
                            let hlit = b.get(5)? as usize + 257;
                            let hdist = b.get(5)? as usize + 1;
                            let hclen = b.get(4)? as usize + 4;
                            let mut cl = [0u8; 19];
                            for &i in &ORDER[..hclen] {
                                cl[i] = b.get(3)? as u8;
                            }
                            let clc = Code::new(&cl);
                            let mut lengths = Vec::new();
                            while lengths.len() < hlit + hdist {
                                match clc.decode(&mut b)? {
                                    s @ 0..=15 => lengths.push(s as u8),
                                    16 => {
                                        let prev = *lengths.last().ok_or("repeat first")?;
                                        for _ in 0..3 + b.get(2)? {
                                            lengths.push(prev);
                                        }
                                    }
                                    17 => lengths
                                        .extend(std::iter::repeat_n(0, 3 + b.get(3)? as usize)),
                                    _ => lengths
                                        .extend(std::iter::repeat_n(0, 11 + b.get(7)? as usize)),
                                }
                            }
                            (Code::new(&lengths[..hlit]), Code::new(&lengths[hlit..]))
                        };
                    loop {
                        let sym = lit.decode(&mut b)?;
                        if sym < 256 {
                            history.push(sym as u8);
                        } else if sym == 256 {
                            break;
                        } else {
                            let i = sym - 257;
                            let len = LBASE[i] + b.get(LEXT[i])? as usize;
                            let d = dist.decode(&mut b)?;
                            let distance = DBASE[d] + b.get(DEXT[d])? as usize;
                            if distance > window {
                                return Err(format!("distance {distance} > window {window}"));
                            }
                            if distance > history.len() {
                                return Err("distance before the start".into());
                            }
                            for _ in 0..len {
                                history.push(history[history.len() - distance]);
                            }
                        }
                    }
                }
                _ => return Err("reserved block type".into()),
            }
        }
        messages.push(history[start..].to_vec());
    }
    Ok(messages)
}

/// The payloads of single-frame messages in `wire` (server frames: unmasked).
fn payloads(wire: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < wire.len() {
        let (len, ext) = match wire[i + 1] & 0x7f {
            126 => (u16::from_be_bytes([wire[i + 2], wire[i + 3]]) as usize, 2),
            127 => (
                u64::from_be_bytes(wire[i + 2..i + 10].try_into().unwrap()) as usize,
                8,
            ),
            n => (n as usize, 0),
        };
        let start = i + 2 + ext;
        out.push(wire[start..start + len].to_vec());
        i = start + len;
    }
    out
}

#[test]
fn round_trips_every_window_with_and_without_context_takeover() {
    let texts: Vec<String> = (0..4)
        .map(|i| corpus(i, 3000 + 20_000 * i as usize))
        .collect();
    for bits in 8..=15u8 {
        for no_takeover in [false, true] {
            let cfg = DeflateConfig {
                max_window_bits: bits,
                peer_max_window_bits: bits,
                no_context_takeover: no_takeover,
                peer_no_context_takeover: no_takeover,
                ..DeflateConfig::default()
            };
            let (c_neg, s_neg) = negotiate(&cfg, &cfg);
            assert_eq!(
                (c_neg.compress_window_bits, c_neg.decompress_window_bits),
                (bits, bits)
            );
            assert_eq!(
                (s_neg.compress_window_bits, s_neg.decompress_window_bits),
                (bits, bits)
            );
            assert_eq!(s_neg.compress_no_context_takeover, no_takeover);
            let (mut c, mut s) = connections(Some(c_neg), Some(s_neg), Limits::default());
            for t in &texts {
                c.send_text(t).unwrap();
            }
            pump(&mut c, &mut s, 4093);
            let got = events(&mut s);
            assert_eq!(got.len(), texts.len(), "bits {bits}");
            for (e, t) in got.iter().zip(&texts) {
                assert_eq!(e, &Event::Text(t.clone()), "bits {bits} nct {no_takeover}");
                s.send_text(t).unwrap();
            }
            let wire = s.take_output();
            // What the server sent obeys the window even for a strict inflater.
            let strict = strict_inflate(bits, &payloads(&wire), !no_takeover)
                .unwrap_or_else(|e| panic!("bits {bits}: {e}"));
            for (m, t) in strict.iter().zip(&texts) {
                assert_eq!(m, t.as_bytes());
            }
            assert!(wire.len() < texts.iter().map(String::len).sum::<usize>() * 3 / 4);
            for piece in wire.chunks(1000) {
                c.receive_data(piece);
            }
            let back: Vec<Event> = events(&mut c);
            assert_eq!(
                back,
                texts
                    .iter()
                    .map(|t| Event::Text(t.clone()))
                    .collect::<Vec<_>>()
            );
            // Context takeover makes a repeated message (3000 bytes) nearly free.
            s.send_text(&texts[0]).unwrap();
            s.take_output();
            s.send_text(&texts[0]).unwrap();
            let again = s.take_output().len();
            if no_takeover || bits < 12 {
                assert!(again > 100, "bits {bits}: {again}");
            } else {
                assert!(again < 100, "bits {bits}: {again}");
            }
        }
    }
}

#[test]
fn the_strict_oracle_rejects_a_larger_window() {
    // 15-bit output with distances > 256 must not pass as an 8-bit stream, or the
    // round-trip test above would prove nothing.
    let text = corpus(9, 20_000);
    let cfg = DeflateConfig::default();
    let (_, s_neg) = negotiate(&cfg, &cfg);
    let (_, mut s) = connections(None, Some(s_neg), Limits::default());
    s.send_text(&text).unwrap();
    assert!(strict_inflate(8, &payloads(&s.take_output()), true).is_err());
}

#[test]
fn state_is_allocated_lazily_and_dropped_without_context_takeover() {
    let (mut c, mut s) = default_pair();
    let ctx = |conn: &Connection| conn.deflate_context().unwrap().holds_state();
    assert_eq!(ctx(&c), (false, false));
    c.send_text("hello hello").unwrap();
    pump(&mut c, &mut s, 100);
    assert_eq!(ctx(&c), (true, false));
    assert_eq!(ctx(&s), (false, true));
    let cfg = DeflateConfig {
        no_context_takeover: true,
        peer_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let (mut c, mut s) = pair(&cfg, &cfg);
    c.send_frame(OpCode::Text, false, b"hello").unwrap();
    assert_eq!(ctx(&c), (true, false));
    c.send_frame(OpCode::Continuation, true, b" hello").unwrap();
    assert_eq!(ctx(&c), (false, false));
    pump(&mut c, &mut s, 100);
    assert_eq!(events(&mut s), vec![Event::Text("hello hello".into())]);
    assert_eq!(ctx(&s), (false, false));
}

/// Server negotiation: (server config, request offers, expected answer).
#[test]
fn server_negotiation_table() {
    let d = DeflateConfig::default();
    let strict = DeflateConfig {
        max_window_bits: 10,
        peer_max_window_bits: 9,
        no_context_takeover: true,
        peer_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let pmd = "permessage-deflate";
    let table: Vec<(&DeflateConfig, &str, Option<&str>)> = vec![
        (&d, "permessage-deflate", Some(pmd)),
        (&d, "permessage-deflate; client_max_window_bits", Some(pmd)),
        (
            &d,
            "permessage-deflate; client_max_window_bits=10",
            Some("permessage-deflate; client_max_window_bits=10"),
        ),
        (
            &d,
            "permessage-deflate; server_max_window_bits=10",
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        (
            &d,
            "permessage-deflate; server_max_window_bits=8",
            Some("permessage-deflate; server_max_window_bits=8"),
        ),
        (
            &d,
            "permessage-deflate; server_max_window_bits=15",
            Some("permessage-deflate; server_max_window_bits=15"),
        ),
        (
            &d,
            "permessage-deflate; server_max_window_bits=\"12\"",
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
        (
            &d,
            "permessage-deflate; server_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        (
            &d,
            "permessage-deflate; client_no_context_takeover",
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        (
            &d,
            "permessage-deflate; client_no_context_takeover; client_max_window_bits; \
             server_no_context_takeover; server_max_window_bits=9",
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=9",
            ),
        ),
        // declined: every offer invalid
        (&d, "permessage-deflate; server_max_window_bits", None),
        (&d, "permessage-deflate; server_max_window_bits=7", None),
        (&d, "permessage-deflate; server_max_window_bits=16", None),
        (&d, "permessage-deflate; server_max_window_bits=010", None),
        (&d, "permessage-deflate; server_max_window_bits=+9", None),
        (&d, "permessage-deflate; server_max_window_bits=abc", None),
        (&d, "permessage-deflate; client_max_window_bits=0", None),
        (&d, "permessage-deflate; client_max_window_bits=16", None),
        (&d, "permessage-deflate; server_no_context_takeover=1", None),
        (
            &d,
            "permessage-deflate; client_no_context_takeover=true",
            None,
        ),
        (&d, "permessage-deflate; max_window_bits=10", None),
        (&d, "permessage-deflate; unknown", None),
        (
            &d,
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            None,
        ),
        (
            &d,
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
            None,
        ),
        (&d, "x-webkit-deflate-frame", None),
        (&d, "deflate-frame; server_max_window_bits=10", None),
        // several offers: the first acceptable one wins
        (
            &d,
            "permessage-deflate; server_max_window_bits=7, permessage-deflate; \
             server_no_context_takeover, permessage-deflate",
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        (
            &d,
            "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=11",
            Some("permessage-deflate; client_max_window_bits=11"),
        ),
        // a server with its own demands
        (
            &strict,
            "permessage-deflate",
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10",
            ),
        ),
        (
            &strict,
            "permessage-deflate; client_max_window_bits",
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=9",
            ),
        ),
        (
            &strict,
            "permessage-deflate; client_max_window_bits=12; server_max_window_bits=12",
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=9",
            ),
        ),
        (
            &strict,
            "permessage-deflate; client_max_window_bits=8; server_max_window_bits=8",
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=8; client_max_window_bits=8",
            ),
        ),
    ];
    for (cfg, offer, want) in table {
        let got = server_accept(cfg, &ext(offer)).map(|(_, e)| e.render());
        assert_eq!(got.as_deref(), want, "offer {offer:?}");
    }
    // what each end then does
    let (n, _) = server_accept(
        &strict,
        &ext("permessage-deflate; client_max_window_bits=12"),
    )
    .unwrap();
    assert_eq!(
        (
            n.compress_window_bits,
            n.compress_no_context_takeover,
            n.decompress_window_bits,
            n.decompress_no_context_takeover
        ),
        (10, true, 9, true)
    );
    let (n, _) = server_accept(&d, &ext("permessage-deflate; client_max_window_bits=11")).unwrap();
    assert_eq!((n.compress_window_bits, n.decompress_window_bits), (15, 11));
}

/// Client negotiation: (client config, expected offer, [(response, accepted?)]).
#[test]
fn client_negotiation_table() {
    let d = DeflateConfig::default();
    let demanding = DeflateConfig {
        max_window_bits: 12,
        peer_max_window_bits: 10,
        peer_no_context_takeover: true,
        no_context_takeover: true,
        ..DeflateConfig::default()
    };
    type Case<'a> = (&'a str, Result<(u8, bool, u8, bool), ()>);
    let table: Vec<(&DeflateConfig, &str, Vec<Case>)> = vec![
        (
            &d,
            "permessage-deflate; client_max_window_bits",
            vec![
                ("permessage-deflate", Ok((15, false, 15, false))),
                (
                    "permessage-deflate; server_no_context_takeover",
                    Ok((15, false, 15, true)),
                ),
                (
                    "permessage-deflate; client_no_context_takeover",
                    Ok((15, true, 15, false)),
                ),
                (
                    "permessage-deflate; server_max_window_bits=8",
                    Ok((15, false, 8, false)),
                ),
                (
                    "permessage-deflate; client_max_window_bits=8",
                    Ok((8, false, 15, false)),
                ),
                (
                    "permessage-deflate; client_max_window_bits=\"9\"; server_max_window_bits=12; \
                     client_no_context_takeover; server_no_context_takeover",
                    Ok((9, true, 12, true)),
                ),
                ("permessage-deflate; client_max_window_bits", Err(())),
                ("permessage-deflate; server_max_window_bits", Err(())),
                ("permessage-deflate; server_max_window_bits=16", Err(())),
                ("permessage-deflate; client_max_window_bits=7", Err(())),
                ("permessage-deflate; server_no_context_takeover=x", Err(())),
                ("permessage-deflate; foo", Err(())),
                (
                    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
                    Err(()),
                ),
            ],
        ),
        (
            &demanding,
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12",
            vec![
                (
                    "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
                    Ok((12, true, 10, true)),
                ),
                (
                    "permessage-deflate; server_max_window_bits=9; server_no_context_takeover; \
                     client_max_window_bits=9",
                    Ok((9, true, 9, true)),
                ),
                // not granted what was asked
                ("permessage-deflate; server_max_window_bits=10", Err(())),
                ("permessage-deflate; server_no_context_takeover", Err(())),
                (
                    "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                    Err(()),
                ),
                (
                    "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                     client_max_window_bits=13",
                    Err(()),
                ),
            ],
        ),
    ];
    for (cfg, offer, cases) in table {
        assert_eq!(client_offer(cfg).render(), offer);
        for (response, want) in cases {
            let got = client_verify(cfg, &ext(response)[0]).map(|n| {
                (
                    n.compress_window_bits,
                    n.compress_no_context_takeover,
                    n.decompress_window_bits,
                    n.decompress_no_context_takeover,
                )
            });
            assert_eq!(got.map_err(|_| ()), want, "response {response:?}");
        }
    }
}

#[test]
fn client_refuses_extensions_it_did_not_offer() {
    use crate::extensions::client_accept;
    use crate::http::Headers;
    let h = |v: &str| {
        [("Sec-WebSocket-Extensions", v)]
            .into_iter()
            .collect::<Headers>()
    };
    let d = DeflateConfig::default();
    assert!(client_accept(None, &h("permessage-deflate")).is_err());
    assert!(client_accept(Some(&d), &h("x-webkit-deflate-frame")).is_err());
    assert!(client_accept(Some(&d), &h("permessage-deflate, permessage-deflate")).is_err());
    assert!(client_accept(Some(&d), &h("permessage-deflate; a=\"b c\"")).is_err());
    assert_eq!(client_accept(Some(&d), &h("")).unwrap(), None);
    assert_eq!(client_accept(None, &Headers::default()).unwrap(), None);
    let e = client_accept(
        Some(&d),
        &h("permessage-deflate; server_no_context_takeover"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(e.header, "permessage-deflate; server_no_context_takeover");
    assert!(e.deflate.unwrap().decompress_no_context_takeover);
}

/// The fuzz entry point on the vectors, a bomb, and random RSV1 frames (a cheap stand-in
/// for the fuzzer between its runs).
#[test]
fn fuzz_entry_point_smoke() {
    let mut inputs: Vec<Vec<u8>> = [HELLO, HELLO_AGAIN_TAKEOVER, HELLO_BFINAL, EMPTY]
        .iter()
        .map(|v| v.to_vec())
        .collect();
    let (mut c, _) = default_pair();
    c.send_binary(&vec![0u8; 1 << 20]).unwrap();
    inputs.push(c.take_output());
    let mut rng = StdRng::seed_from_u64(77);
    for _ in 0..3000 {
        let len = (rng.next_u32() % 40) as usize;
        let mut frame = vec![
            [0xc1, 0xc2, 0x41, 0x80, 0x00, 0x89][rng.next_u32() as usize % 6],
            len as u8,
        ];
        frame.extend((0..len).map(|_| rng.next_u32() as u8));
        inputs.push(frame);
    }
    for (i, input) in inputs.iter().enumerate() {
        for params in [0u8, 0x13, 0x72, 0xf1] {
            // client side: unmasked frames as given; server side: masked with a zero key
            let data = if params & 1 == 1 && input.len() >= 2 {
                let mut m = vec![input[0], input[1] | 0x80, 0, 0, 0, 0];
                m.extend_from_slice(&input[2..]);
                m
            } else {
                input.clone()
            };
            fuzz_connection(&data, params, i % 7 + 1);
        }
    }
}
