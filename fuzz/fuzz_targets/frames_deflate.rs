//! permessage-deflate (RFC 7692) through an RFC 6455 `Connection`, either side: bytes 0-1
//! (little-endian): bit 0 the side (0 client), the rest the negotiated settings
//! (`fuzzing::deflate_config`); byte 2 the chunk size; the rest frames, compressed or not.
//! Inflated messages must stay within `max_message_size` (decompression bombs fail 1009).
#![no_main]
use hybi_proto::Side;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [b0, b1, chunk, rest @ ..] = data else {
        return;
    };
    let b = u16::from_le_bytes([*b0, *b1]);
    let side = if b & 1 == 0 {
        Side::Client
    } else {
        Side::Server
    };
    hybi_proto::fuzzing::frames_deflate(side, b >> 1, rest, *chunk as usize + 1);
});
