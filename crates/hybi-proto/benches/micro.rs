//! Micro-benchmarks of the sans-IO core: frame parsing through the message layer, masking
//! against memcpy, UTF-8 validation, frame encoding, and the opening handshake of every
//! variant on both sides. Figures and method: docs/benchmarks.md, "micro-benchmarks".
//!
//! `cargo bench -p hybi-proto --bench micro [-- FILTER]`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hybi_proto::framing::rfc6455::Rfc6455Codec;
use hybi_proto::handshake::{ClientOptions, HandshakeStatus, ServerConfig};
use hybi_proto::mask::{apply_mask, extend_masked};
use hybi_proto::utf8::{Utf8State, Utf8Validator};
use hybi_proto::{ClientHandshake, Connection, Event, Limits, ServerHandshake, Side, Variant};
use rand::rngs::StdRng;
use rand::SeedableRng;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn client() -> Connection {
    Connection::new(
        Side::Client,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(
            Side::Client,
            Some(StdRng::seed_from_u64(1)),
        )),
        Limits::default(),
    )
}

fn server() -> Connection {
    Connection::new(
        Side::Server,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(Side::Server, None)),
        Limits::default(),
    )
}

/// `count` masked binary frames of `size` bytes, as a client sends them, in one buffer.
fn masked_frames(count: usize, size: usize) -> Vec<u8> {
    let mut c = client();
    let payload = vec![b'x'; size];
    for _ in 0..count {
        c.send_binary(&payload).unwrap();
    }
    c.take_output()
}

/// Server side: every frame of one read burst through `receive_data`, events drained.
fn frame_parse(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("frame_parse");
    for (count, size) in [(100usize, 16usize), (10, 1024), (1, 65536)] {
        let wire = masked_frames(count, size);
        g.throughput(Throughput::Elements(count as u64));
        let mut conn = server();
        g.bench_function(format!("{count}x{size}"), |b| {
            b.iter(|| {
                conn.receive_data(black_box(&wire));
                while let Some(ev) = conn.next_event() {
                    black_box(ev);
                }
            })
        });
        // The same, echoing every message back (what `hybi serve` does per read).
        let mut conn = server();
        g.bench_function(format!("echo_{count}x{size}"), |b| {
            b.iter(|| {
                conn.receive_data(black_box(&wire));
                while let Some(ev) = conn.next_event() {
                    if let Event::Binary(data) = ev {
                        conn.send_binary(&data).unwrap();
                    }
                }
                let n = conn.pending_output().len();
                conn.advance_output(n);
            })
        });
    }
    g.finish();
}

/// Server frames (unmasked) of small payloads appended to the output buffer.
fn encode(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("encode");
    for (count, size) in [(100usize, 16usize), (10, 1024)] {
        let payload = vec![b'x'; size];
        g.throughput(Throughput::Elements(count as u64));
        let mut conn = server();
        g.bench_function(format!("server_{count}x{size}"), |b| {
            b.iter(|| {
                for _ in 0..count {
                    conn.send_binary(black_box(&payload)).unwrap();
                }
                let n = conn.pending_output().len();
                conn.advance_output(n);
            })
        });
        let mut conn = client();
        g.bench_function(format!("client_masked_{count}x{size}"), |b| {
            b.iter(|| {
                for _ in 0..count {
                    conn.send_binary(black_box(&payload)).unwrap();
                }
                let n = conn.pending_output().len();
                conn.advance_output(n);
            })
        });
    }
    g.finish();
}

/// XOR unmasking against a plain copy of the same size, in cache.
fn mask(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("mask");
    for size in [16 * 1024usize, 64 * 1024] {
        let src = vec![0x5au8; size];
        let mut buf = vec![0u8; size];
        let mut dst: Vec<u8> = Vec::with_capacity(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("memcpy_{}k", size / 1024), |b| {
            b.iter(|| buf.copy_from_slice(black_box(&src)))
        });
        g.bench_function(format!("apply_mask_{}k", size / 1024), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 0))
        });
        g.bench_function(format!("apply_mask_offset1_{}k", size / 1024), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[1..]), KEY, 1))
        });
        g.bench_function(format!("extend_from_slice_{}k", size / 1024), |b| {
            b.iter(|| {
                dst.clear();
                dst.extend_from_slice(black_box(&src));
            })
        });
        g.bench_function(format!("extend_masked_{}k", size / 1024), |b| {
            b.iter(|| {
                dst.clear();
                extend_masked(&mut dst, black_box(&src), KEY, 0);
            })
        });
    }
    g.finish();
}

/// Mixed text (ASCII with 2-, 3- and 4-byte code points), 16 KiB and 64 KiB.
fn utf8(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("utf8");
    let unit = "hello, wörld — κόσμε 🦀 ";
    for size in [16 * 1024usize, 64 * 1024] {
        let mut text = String::new();
        while text.len() + unit.len() <= size {
            text.push_str(unit);
        }
        let bytes = text.into_bytes();
        let ascii = vec![b'a'; size];
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("std_mixed_{}k", size / 1024), |b| {
            b.iter(|| std::str::from_utf8(black_box(&bytes)).is_ok())
        });
        g.bench_function(format!("streaming_mixed_{}k", size / 1024), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::default();
                assert_eq!(v.feed(black_box(&bytes)), Utf8State::Ok);
            })
        });
        // The same bytes arriving in 1 KiB reads (the validator's restart cost).
        g.bench_function(format!("streaming_mixed_1k_reads_{}k", size / 1024), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::default();
                let mut end = 0;
                while end < bytes.len() {
                    end = (end + 1024).min(bytes.len());
                    assert_eq!(v.feed(black_box(&bytes[..end])), Utf8State::Ok);
                }
            })
        });
        g.bench_function(format!("std_ascii_{}k", size / 1024), |b| {
            b.iter(|| std::str::from_utf8(black_box(&ascii)).is_ok())
        });
        g.bench_function(format!("streaming_ascii_{}k", size / 1024), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::default();
                assert_eq!(v.feed(black_box(&ascii)), Utf8State::Ok);
            })
        });
    }
    g.finish();
}

/// What each side sends, in order, during one complete handshake of `variant` with fixed
/// seeds (so that replaying one side against a fresh peer with the same seed reproduces
/// the exchange byte for byte).
struct Transcript {
    variant: Variant,
    opts: ClientOptions,
    config: Arc<ServerConfig>,
    from_client: Vec<Vec<u8>>,
    from_server: Vec<Vec<u8>>,
}

const CLIENT_SEED: [u8; 32] = [7; 32];
const SERVER_SEED: [u8; 32] = [9; 32];

fn transcript(variant: Variant) -> Transcript {
    let mut opts = ClientOptions::from_url("ws://127.0.0.1:9000/bench", variant).unwrap();
    opts.origin = Some("http://127.0.0.1:9000".into());
    let config = Arc::new(ServerConfig {
        variants: Variant::ALL.to_vec(),
        ..ServerConfig::default()
    });
    let mut c = ClientHandshake::new(&opts, CLIENT_SEED).unwrap();
    let mut s = ServerHandshake::with_seed(config.clone(), SERVER_SEED);
    let (mut from_client, mut from_server) = (Vec::new(), Vec::new());
    let (mut c_done, mut s_done) = (false, false);
    for _ in 0..16 {
        let out = c.take_output();
        if !out.is_empty() {
            s_done |= s.receive_data(&out).unwrap() == HandshakeStatus::Done;
            from_client.push(out);
        }
        let out = s.take_output();
        if !out.is_empty() {
            c_done |= c.receive_data(&out).unwrap() == HandshakeStatus::Done;
            from_server.push(out);
        }
        if c_done && s_done && c.pending_output().is_empty() && s.pending_output().is_empty() {
            return Transcript {
                variant,
                opts,
                config,
                from_client,
                from_server,
            };
        }
    }
    panic!("{variant}: handshake did not complete");
}

/// Server: parse the request(s), check, answer, build the connection. Client: build the
/// request, parse and check the answer(s), build the connection.
fn handshake(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("handshake");
    for variant in Variant::ALL {
        let t = transcript(variant);
        g.bench_function(format!("server_{}", t.variant.name()), |b| {
            b.iter(|| {
                let mut s = ServerHandshake::with_seed(t.config.clone(), SERVER_SEED);
                let mut status = HandshakeStatus::InProgress;
                for chunk in &t.from_client {
                    status = s.receive_data(black_box(chunk)).unwrap();
                    black_box(s.take_output());
                }
                assert_eq!(status, HandshakeStatus::Done);
                let (session, _) = s.into_session();
                black_box(session.into_connection(Limits::default()))
            })
        });
        g.bench_function(format!("client_{}", t.variant.name()), |b| {
            b.iter(|| {
                let mut c = ClientHandshake::new(&t.opts, CLIENT_SEED).unwrap();
                black_box(c.take_output());
                let mut status = HandshakeStatus::InProgress;
                for chunk in &t.from_server {
                    status = c.receive_data(black_box(chunk)).unwrap();
                    black_box(c.take_output());
                }
                assert_eq!(status, HandshakeStatus::Done);
                let (session, _) = c.into_session();
                black_box(session.into_connection(Limits::default()))
            })
        });
    }
    // What `ServerHandshake::new` adds: a seed from the OS per connection.
    let t = transcript(Variant::Rfc6455);
    g.bench_function("server_rfc6455_os_seeded", |b| {
        b.iter_batched(
            || (),
            |_| {
                let mut s = ServerHandshake::new(t.config.clone());
                s.receive_data(&t.from_client[0]).unwrap();
                black_box(s.take_output());
                black_box(s.into_session())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, frame_parse, encode, mask, utf8, handshake);
criterion_main!(benches);
