//! The zero-copy echo (`Connection::receive_data_lending`) must write exactly what the
//! copying echo writes, for every variant, read size and short write; layout in
//! `hybi_proto::fuzzing::echo_lending`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hybi_proto::fuzzing::echo_lending(data));
