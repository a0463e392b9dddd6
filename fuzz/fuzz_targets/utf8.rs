//! The streaming UTF-8 validator against `std::str::from_utf8` (differential). First
//! byte: how many of the following bytes give piece sizes; the rest is the text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&n, rest)) = data.split_first() {
        let n = (n as usize).min(rest.len());
        hybi_proto::fuzzing::utf8(&rest[n..], &rest[..n]);
    }
});
