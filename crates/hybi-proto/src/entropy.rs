//! Where a connection's random bytes come from: client keys, HELLO nonces, XOR masking
//! keys, AES-CTR frame nonces.
//!
//! In production every value is drawn from a seeded [`StdRng`] (the seed comes from the
//! caller, or from the OS for [`crate::ServerHandshake::new`]). Tests can instead script
//! the exact values a variant will draw, in order, so that a golden exchange computed
//! independently (`scripts/golden/gen_golden.py`) is reproduced byte for byte.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// A source of the random values a handshake or codec needs.
#[derive(Debug)]
pub(crate) enum Entropy {
    /// CSPRNG output.
    Rng(Box<StdRng>),
    /// Fixed values, handed out in order (each request must have the scripted length);
    /// once exhausted, a fixed-seed RNG takes over.
    #[cfg(test)]
    Script(std::collections::VecDeque<Vec<u8>>, Box<StdRng>),
}

impl Entropy {
    /// Entropy drawn from `rng`.
    pub(crate) fn from_rng(rng: StdRng) -> Self {
        Entropy::Rng(Box::new(rng))
    }

    /// Scripted values (hex strings), then a deterministic RNG.
    #[cfg(test)]
    pub(crate) fn script(values: &[&str]) -> Self {
        Entropy::Script(
            values
                .iter()
                .map(|h| hex::decode(h).expect("hex"))
                .collect(),
            Box::new(StdRng::seed_from_u64(0x5eed)),
        )
    }

    /// Fills `buf`.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        match self {
            Entropy::Rng(rng) => rng.fill_bytes(buf),
            #[cfg(test)]
            Entropy::Script(values, rng) => match values.pop_front() {
                Some(v) => {
                    assert_eq!(v.len(), buf.len(), "scripted value of the wrong length");
                    buf.copy_from_slice(&v);
                }
                None => rng.fill_bytes(buf),
            },
        }
    }

    /// `N` random bytes.
    pub(crate) fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        self.fill(&mut a);
        a
    }

    /// A 4-byte XOR masking key (drawn as the RFC 6455 codec always has: one `u32`).
    pub(crate) fn mask(&mut self) -> [u8; 4] {
        match self {
            Entropy::Rng(rng) => rng.next_u32().to_ne_bytes(),
            #[cfg(test)]
            Entropy::Script(..) => self.array(),
        }
    }

    /// Random bytes, base64-encoded (client keys).
    pub(crate) fn key_b64(&mut self, n: usize) -> String {
        use base64::Engine as _;
        let mut raw = vec![0u8; n];
        self.fill(&mut raw);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    /// An independent source for a sub-component (the codec after a handshake). A
    /// script is handed over whole: the child continues where the parent stopped.
    pub(crate) fn child(&mut self) -> Entropy {
        match self {
            Entropy::Rng(rng) => {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                Entropy::from_rng(StdRng::from_seed(seed))
            }
            #[cfg(test)]
            Entropy::Script(values, rng) => {
                Entropy::Script(std::mem::take(values), Box::new((**rng).clone()))
            }
        }
    }

    /// The underlying RNG (for code that takes a [`StdRng`]).
    pub(crate) fn into_rng(self) -> StdRng {
        match self {
            Entropy::Rng(rng) => *rng,
            #[cfg(test)]
            Entropy::Script(_, rng) => *rng,
        }
    }
}

/// A seed from the operating system's CSPRNG.
pub(crate) fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the OS random number generator failed");
    seed
}
