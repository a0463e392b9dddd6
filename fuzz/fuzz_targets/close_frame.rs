//! Close-frame bodies: parse, and round-trip what is accepted.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hybi_proto::fuzzing::close_frame(data);
});
