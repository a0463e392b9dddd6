//! A server with a random set of variants enabled (first two bytes, one bit per
//! `Variant::ALL` entry; third byte: chunk size) must never answer a disabled variant's
//! request with 101 or 200.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let mask = u16::from_le_bytes([data[0], data[1]]);
    hybi_proto::fuzzing::server_policy(&data[3..], mask, data[2] as usize + 1);
});
