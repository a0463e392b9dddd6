//! The message layer of a client and a server connection of one variant under random
//! interleavings of sends, partial deliveries, event draining, closes and EOFs (a
//! structured target: `arbitrary` builds the operations). For the RFC 6455 family,
//! permessage-deflate is negotiated when `deflate` is set (settings from its bits).
#![no_main]
use arbitrary::Arbitrary;
use hybi_proto::fuzzing::Op;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    variant: u8,
    deflate: Option<u16>,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let variants = hybi_proto::fuzzing::implemented_variants();
    let variant = variants[input.variant as usize % variants.len()];
    hybi_proto::fuzzing::messages_with(variant, input.deflate, &input.ops);
});
