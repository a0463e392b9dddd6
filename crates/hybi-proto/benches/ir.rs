//! Instruction-count workloads: the micro-benchmarks' operations, run a fixed number of
//! times, for `valgrind --tool=callgrind` (repeatable on a shared, noisy machine where
//! wall-clock figures move by ±15%). Instructions per operation =
//! (Ir with N iterations − Ir with 0 iterations) / N; scripts/bench/ir.sh does that.
//!
//! `cargo bench -p hybi-proto --bench ir -- WORKLOAD ITERATIONS`

use std::hint::black_box;
use std::sync::Arc;

use hybi_proto::framing::rfc6455::Rfc6455Codec;
use hybi_proto::handshake::{ClientOptions, HandshakeStatus, ServerConfig};
use hybi_proto::mask::apply_mask;
use hybi_proto::{
    ClientHandshake, Connection, DataRef, Event, Limits, ServerHandshake, Side, Variant,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn conn(side: Side) -> Connection {
    let rng = (side == Side::Client).then(|| StdRng::seed_from_u64(1));
    Connection::new(
        side,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(side, rng)),
        Limits::default(),
    )
}

fn masked_frames(count: usize, size: usize) -> Vec<u8> {
    let mut c = conn(Side::Client);
    for _ in 0..count {
        c.send_binary(&vec![b'x'; size]).unwrap();
    }
    c.take_output()
}

fn shape(name: &str) -> (usize, usize) {
    let dims = name.rsplit('_').next().unwrap();
    let (c, s) = dims.split_once('x').unwrap();
    (c.parse().unwrap(), s.parse().unwrap())
}

fn handshake_bytes(variant: Variant) -> (Arc<ServerConfig>, Vec<Vec<u8>>) {
    let mut opts = ClientOptions::from_url("ws://127.0.0.1:9000/bench", variant).unwrap();
    opts.origin = Some("http://127.0.0.1:9000".into());
    let config = Arc::new(ServerConfig {
        variants: Variant::ALL.to_vec(),
        ..ServerConfig::default()
    });
    let mut c = ClientHandshake::new(&opts, [7; 32]).unwrap();
    let mut s = ServerHandshake::with_seed(config.clone(), [9; 32]);
    let mut sent = Vec::new();
    for _ in 0..16 {
        let out = c.take_output();
        if !out.is_empty() {
            s.receive_data(&out).unwrap();
            sent.push(out);
        }
        let out = s.take_output();
        if !out.is_empty()
            && c.receive_data(&out).unwrap() == HandshakeStatus::Done
            && c.pending_output().is_empty()
        {
            return (config, sent);
        }
    }
    panic!("{variant}: no handshake");
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let name = args.first().map(String::as_str).unwrap_or("list");
    let n: usize = args.get(1).map_or(1000, |s| s.parse().unwrap());
    match name {
        w if w.starts_with("parse_") => {
            let (count, size) = shape(w);
            let wire = masked_frames(count, size);
            let mut read = wire.clone();
            let mut s = conn(Side::Server);
            for _ in 0..n {
                read.copy_from_slice(&wire);
                s.receive_data(black_box(&read));
                while let Some(ev) = s.next_event() {
                    black_box(ev);
                }
            }
        }
        w if w.starts_with("echo_") => {
            let (count, size) = shape(w);
            let wire = masked_frames(count, size);
            let mut read = wire.clone();
            let mut s = conn(Side::Server);
            for _ in 0..n {
                read.copy_from_slice(&wire);
                s.receive_data(black_box(&read));
                while let Some(ev) = s.next_event() {
                    if let Event::Binary(b) = ev {
                        s.send_binary(&b).unwrap();
                    }
                }
                let k = s.pending_output().len();
                s.advance_output(black_box(k));
            }
        }
        w if w.starts_with("lend_") => {
            let (count, size) = shape(w);
            let wire = masked_frames(count, size);
            let mut read = wire.clone();
            let mut s = conn(Side::Server);
            for _ in 0..n {
                read.copy_from_slice(&wire);
                s.receive_data_with(black_box(&mut read), |c, m| {
                    if let DataRef::Binary(b) = m {
                        c.send_binary(b).unwrap();
                    }
                });
                let k = s.pending_output().len();
                s.advance_output(black_box(k));
            }
        }
        w if w.starts_with("encode_") => {
            let (count, size) = shape(w);
            let payload = vec![b'x'; size];
            let mut s = conn(Side::Server);
            for _ in 0..n {
                for _ in 0..count {
                    s.send_binary(black_box(&payload)).unwrap();
                }
                let k = s.pending_output().len();
                s.advance_output(black_box(k));
            }
        }
        w if w.starts_with("mask_") || w.starts_with("memcpy_") => {
            let size: usize = w.split('_').nth(1).unwrap().parse().unwrap();
            let src = vec![0x5a; size];
            let mut buf = vec![0; size];
            for _ in 0..n {
                if w.starts_with("mask_") {
                    apply_mask(black_box(&mut buf), [1, 2, 3, 4], 0);
                } else {
                    buf.copy_from_slice(black_box(&src));
                }
            }
        }
        w if w.starts_with("handshake_") => {
            let v = w.strip_prefix("handshake_").unwrap();
            let variant = *Variant::ALL.iter().find(|x| x.name() == v).unwrap();
            let (config, sent) = handshake_bytes(variant);
            for _ in 0..n {
                let mut s = ServerHandshake::with_seed(config.clone(), [9; 32]);
                for chunk in &sent {
                    s.receive_data(black_box(chunk)).unwrap();
                    black_box(s.take_output());
                }
                black_box(s.into_session().0.into_connection(Limits::default()));
            }
        }
        w if w.starts_with("tmask_") => {
            // Wall-clock, best of 300 batches (robust to co-tenants): GB/s of a plain copy,
            // in-place unmasking, and copy-and-unmask into a Vec, on the same buffer size.
            let size: usize = w.split('_').nth(1).unwrap().parse().unwrap();
            let src = vec![0x5au8; size];
            let mut buf = vec![0u8; size];
            let mut dst: Vec<u8> = Vec::with_capacity(size);
            let reps = n.max(1);
            let best = |f: &mut dyn FnMut()| {
                let mut best = f64::MAX;
                for _ in 0..300 {
                    let t = std::time::Instant::now();
                    for _ in 0..reps {
                        f();
                    }
                    best = best.min(t.elapsed().as_nanos() as f64 / reps as f64);
                }
                size as f64 / best
            };
            let copy = best(&mut || buf.copy_from_slice(black_box(&src)));
            let mask = best(&mut || apply_mask(black_box(&mut buf), [1, 2, 3, 4], 0));
            let mask1 = best(&mut || apply_mask(black_box(&mut buf[1..]), [1, 2, 3, 4], 1));
            let ext = best(&mut || {
                dst.clear();
                hybi_proto::mask::extend_masked(&mut dst, black_box(&src), [1, 2, 3, 4], 0)
            });
            println!(
                "{size} B: memcpy {copy:.1} GB/s, apply_mask {mask:.1} GB/s ({:.0}% of memcpy), offset 1 {mask1:.1} GB/s, extend_masked {ext:.1} GB/s",
                100.0 * mask / copy
            );
        }
        _ => {
            println!("workloads: parse_CxS echo_CxS lend_CxS encode_CxS mask_BYTES memcpy_BYTES handshake_VARIANT");
        }
    }
}
