//! The RFC 6455 framing (also HyBi-07/08) through `Connection`, either side (bit 0 of the
//! first byte: 0 client, 1 server; the other bits: chunk size).
#![no_main]
use hybi_proto::{Side, Variant};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&b, rest)) = data.split_first() {
        let side = if b & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        hybi_proto::fuzzing::frames(Variant::Rfc6455, side, rest, (b >> 1) as usize + 1);
    }
});
