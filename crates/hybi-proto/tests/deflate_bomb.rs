//! A decompression bomb costs at most `max_message_size` (plus the inflater's fixed
//! state), measured with a counting allocator. One test in this binary, so nothing else
//! allocates while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use hybi_proto::extensions::deflate::{self, DeflateConfig};
use hybi_proto::extensions::parse_value;
use hybi_proto::framing::rfc6455::Rfc6455Codec;
use hybi_proto::{CloseCode, Connection, Event, Limits, ProtocolError, Side, Variant};
use rand::SeedableRng;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
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

#[test]
fn bomb_is_refused_with_1009_within_the_limit() {
    const LIMIT: usize = 1 << 20;
    let cfg = DeflateConfig::default();
    let mut offers = Vec::new();
    parse_value(&deflate::client_offer(&cfg).render(), &mut offers).unwrap();
    let (server_side, answer) = deflate::server_accept(&cfg, &offers).unwrap();
    let client_side = deflate::client_verify(&cfg, &answer).unwrap();
    let limits = Limits {
        max_message_size: LIMIT,
        ..Limits::default()
    };
    let mut client = Connection::new(
        Side::Client,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(
            Side::Client,
            Some(rand::rngs::StdRng::seed_from_u64(1)),
        )),
        limits.clone(),
    );
    client.enable_deflate(client_side);
    // 32 MiB of zeros, sent as 32 fragments of 1 MiB: about 32 KiB on the wire.
    let zeros = vec![0u8; 1 << 20];
    client
        .send_frame(hybi_proto::framing::OpCode::Binary, false, &zeros)
        .unwrap();
    let mut wire = client.take_output();
    for i in 1..32 {
        client
            .send_frame(hybi_proto::framing::OpCode::Continuation, i == 31, &zeros)
            .unwrap();
        wire.extend_from_slice(&client.take_output());
    }
    drop(zeros);
    drop(client);
    assert!(wire.len() < 64 << 10, "{} bytes on the wire", wire.len());

    let mut server = Connection::new(
        Side::Server,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(Side::Server, None)),
        limits,
    );
    server.enable_deflate(server_side);
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    for piece in wire.chunks(64 * 1024) {
        server.receive_data(piece);
    }
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let events: Vec<Event> = std::iter::from_fn(|| server.next_event()).collect();
    assert_eq!(events, vec![Event::Failed(ProtocolError::MessageTooLarge)]);
    let out = server.take_output();
    assert_eq!(
        u16::from_be_bytes([out[2], out[3]]),
        CloseCode::MESSAGE_TOO_BIG.0
    );
    // The message buffer (limit + 1; while it grows, the old and the new block both
    // count), one read's compressed bytes, the inflater.
    assert!(
        peak < 2 * LIMIT + 256 * 1024,
        "peak {peak} bytes for a {LIMIT}-byte limit"
    );
    eprintln!("bomb: {} bytes on the wire, peak {peak} bytes", wire.len());
}
