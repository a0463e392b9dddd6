//! Each variant's client handshake (first byte: variant index into `Variant::ALL`;
//! second: chunk size) fed arbitrary server bytes.
#![no_main]
use hybi_proto::Variant;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let variant = Variant::ALL[data[0] as usize % Variant::ALL.len()];
    hybi_proto::fuzzing::client_handshake(variant, &data[2..], data[1] as usize + 1);
});
