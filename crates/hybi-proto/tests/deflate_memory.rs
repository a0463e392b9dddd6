//! What permessage-deflate costs a connection, measured with a counting allocator (the
//! figures quoted in `extensions::deflate`'s docs). One test in this binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use hybi_proto::extensions::deflate::{self, DeflateConfig};
use hybi_proto::extensions::parse_value;
use hybi_proto::framing::rfc6455::Rfc6455Codec;
use hybi_proto::{Connection, Event, Limits, Side, Variant};
use rand::SeedableRng;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            CURRENT.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn now() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Bytes a client keeps after sending one message, and a server after receiving it.
fn cost(cfg: &DeflateConfig) -> (usize, usize) {
    let mut offers = Vec::new();
    parse_value(&deflate::client_offer(cfg).render(), &mut offers).unwrap();
    let (server_side, answer) = deflate::server_accept(cfg, &offers).unwrap();
    let client_side = deflate::client_verify(cfg, &answer).unwrap();
    let mut client = Connection::new(
        Side::Client,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(
            Side::Client,
            Some(rand::rngs::StdRng::seed_from_u64(1)),
        )),
        Limits::default(),
    );
    client.enable_deflate(client_side);
    let mut server = Connection::new(
        Side::Server,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(Side::Server, None)),
        Limits::default(),
    );
    server.enable_deflate(server_side);
    let before = now();
    client.send_text("hello, hello").unwrap();
    let wire = client.take_output();
    let client_cost = now() - before - wire.capacity();
    let before = now();
    server.receive_data(&wire);
    assert_eq!(
        server.next_event(),
        Some(Event::Text("hello, hello".into()))
    );
    let server_cost = now() - before;
    (client_cost, server_cost)
}

#[test]
fn per_connection_cost() {
    let kib = |n: usize| n.div_ceil(1024);
    let mut report = Vec::new();
    for (w, m) in [(15, 5), (15, 8), (12, 5), (9, 1), (8, 5)] {
        let cfg = DeflateConfig {
            max_window_bits: w,
            peer_max_window_bits: w,
            mem_level: m,
            ..DeflateConfig::default()
        };
        let (c, s) = cost(&cfg);
        report.push(format!(
            "w={w} m={m}: compressor {} KiB, decompressor {} KiB",
            kib(c),
            kib(s)
        ));
        assert!(
            c < 400 * 1024 && s < 64 * 1024,
            "{}",
            report.last().unwrap()
        );
    }
    // Without context takeover nothing stays allocated between messages.
    let cfg = DeflateConfig {
        no_context_takeover: true,
        peer_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let (c, s) = cost(&cfg);
    report.push(format!("no context takeover: {c} B, {s} B kept"));
    // (only the scratch buffer for one frame's compressed bytes, here a few bytes)
    assert!(c < 256 && s < 256, "{}", report.last().unwrap());
    eprintln!("{}", report.join("\n"));
}
