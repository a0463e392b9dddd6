//! Request-head parsing, variant detection and every server handshake (all variants
//! enabled), fed in chunks whose size is the first byte; checked against feeding the
//! same bytes whole. A completed handshake's connection gets the rest of the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&chunk, rest)) = data.split_first() {
        hybi_proto::fuzzing::server_handshake(rest, chunk as usize + 1);
    }
});
