//! The framing of the `frames_hybi04` family (see `hybi_proto::fuzzing::frame_target`)
//! through `Connection`, either side: byte 0 bit 0 picks the side (0 client), the other
//! bits the variant; byte 1 the chunk size. Connections come from an in-memory handshake.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hybi_proto::fuzzing::family_frames("frames_hybi04", data);
});
