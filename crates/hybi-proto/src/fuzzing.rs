//! Internals exposed to cargo-fuzz (enabled by the `fuzzing` feature), in the manner of
//! quinn-proto's `fuzzing` module: each function drives one parser on arbitrary bytes and
//! must never panic.

use std::sync::Arc;

use crate::framing::rfc6455::Rfc6455Codec;
use crate::handshake::{ServerConfig, ServerHandshake};
use crate::{Connection, Limits, Side, Variant};

/// Feeds `data` to a server handshake with every variant enabled, in pieces of
/// `chunk` bytes.
pub fn server_handshake(data: &[u8], chunk: usize) {
    let cfg = Arc::new(ServerConfig {
        variants: Variant::ALL.to_vec(),
        ..ServerConfig::default()
    });
    let mut hs = ServerHandshake::new(cfg);
    for piece in data.chunks(chunk.max(1)) {
        if hs.receive_data(piece).is_err() {
            return;
        }
    }
}

/// Feeds `data` to an RFC 6455 connection of either side with small limits.
pub fn rfc6455_connection(data: &[u8], side: Side, chunk: usize) {
    let rng = match side {
        Side::Client => Some(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)),
        Side::Server => None,
    };
    let limits = Limits {
        max_message_size: 1 << 16,
        max_frame_size: 1 << 16,
        max_fragments: 64,
        ..Limits::default()
    };
    let mut conn = Connection::new(
        side,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(side, rng)),
        limits,
    );
    for piece in data.chunks(chunk.max(1)) {
        conn.receive_data(piece);
        while conn.next_event().is_some() {}
    }
    conn.receive_eof();
}
