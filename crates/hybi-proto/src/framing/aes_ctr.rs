//! Per-frame AES-128-CTR, the masking of the `connect-masked` proposal (Rescorla & Barth;
//! Huang et al. 2011 §IV-D-1; `docs/proposals/connect-masked.md`).
//!
//! ```text
//! wire frame = N (8 random bytes, in clear) ‖ AES-128-CTR(K_aes, N, F)
//! F          = one complete RFC 6455 frame with MASK = 0 (header ‖ payload)
//! block i    = N ‖ BE64(i), i = 0 for the first 16 bytes of F
//! ```
//!
//! The whole inner frame is encrypted, header included, in both directions, with a fresh
//! nonce per frame and no integrity tag (CTR is malleable by design of the proposal: the
//! threat is a script that chooses plaintext, not an on-path attacker).
//!
//! Example (golden `connect-masked.json`, K_aes `388196be0c219302508f489919b62355`): the
//! client's text frame "Hello" (`81 05 48 65 6c 6c 6f`) under nonce `1f2e3d4c5b6a7988`
//! goes on the wire as `1f 2e 3d 4c 5b 6a 79 88 09 e6 c7 e7 6f 16 ff`.
//!
//! Streaming decode: [`Codec::decode_head`] decrypts the 2 (+ 2 or 8) header bytes from a
//! copy, with a fresh cipher instance, so it can be retried on a longer buffer without
//! side effects; once the head is complete the cipher, now positioned just after the
//! header, is kept and [`Codec::decode_payload`] continues the same keystream over payload
//! pieces of any size. A tampered frame decrypts to a different plaintext and is judged
//! by the usual RFC 6455 rules (RSV, opcode, MASK = 0, minimal length, control frames,
//! UTF-8): it fails the connection with a close code or is delivered altered, but never
//! panics.

use aes::Aes128;
use ctr::cipher::{InnerIvInit, KeyInit, StreamCipher, StreamCipherSeek};

use super::rfc6455::{parse_head, write_head};
use super::{Capabilities, CloseStyle, Codec, FrameHead, OpCode, PayloadLen, Remaining};
use crate::entropy::Entropy;
use crate::error::ProtocolError;

type Cipher = ctr::Ctr64BE<Aes128>;

/// Length of the clear per-frame nonce.
pub const NONCE_LEN: usize = 8;

/// Encrypts `data` in place as one protected unit under `key` and `nonce` (a frame, or
/// the `connect-masked` handshake metadata). CTR: the same call decrypts.
pub fn apply(key: &[u8; 16], nonce: &[u8; NONCE_LEN], data: &mut [u8]) {
    cipher(&Aes128::new(key.into()), nonce).apply_keystream(data);
}

fn cipher(aes: &Aes128, nonce: &[u8; NONCE_LEN]) -> Cipher {
    let mut iv = [0u8; 16];
    iv[..NONCE_LEN].copy_from_slice(nonce);
    Cipher::from_core(ctr::CtrCore::inner_iv_init(aes.clone(), &iv.into()))
}

/// The `connect-masked` codec for one end (both ends encrypt, with the same key).
pub struct AesCtrCodec {
    aes: Aes128,
    nonces: Entropy,
    allow_rsv1: bool,
    /// Keystream of the frame being received, positioned at the next payload byte.
    rx: Option<Cipher>,
    remaining: Remaining,
}

impl std::fmt::Debug for AesCtrCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesCtrCodec")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl AesCtrCodec {
    /// A codec encrypting under `key` (K_aes), drawing frame nonces from `rng`.
    pub fn new(key: [u8; 16], rng: rand::rngs::StdRng) -> Self {
        Self::with_entropy(key, Entropy::from_rng(rng))
    }

    pub(crate) fn with_entropy(key: [u8; 16], nonces: Entropy) -> Self {
        AesCtrCodec {
            aes: Aes128::new(&key.into()),
            nonces,
            allow_rsv1: false,
            rx: None,
            remaining: Remaining::default(),
        }
    }
}

impl Codec for AesCtrCodec {
    fn decode_head(&mut self, buf: &[u8]) -> Result<Option<(FrameHead, usize)>, ProtocolError> {
        if buf.len() < NONCE_LEN + 2 {
            return Ok(None);
        }
        let nonce: [u8; NONCE_LEN] = buf[..NONCE_LEN].try_into().expect("8 bytes");
        let mut c = cipher(&self.aes, &nonce);
        let mut head = [0u8; 10];
        head[..2].copy_from_slice(&buf[NONCE_LEN..NONCE_LEN + 2]);
        c.apply_keystream(&mut head[..2]);
        let ext = match head[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let end = NONCE_LEN + 2 + ext;
        if buf.len() < end {
            return Ok(None);
        }
        head[2..2 + ext].copy_from_slice(&buf[NONCE_LEN + 2..end]);
        c.apply_keystream(&mut head[2..2 + ext]);
        // MASK must be 0 inside the cipher (the XOR mask is replaced by it).
        let (frame, used, _) = parse_head(&head[..2 + ext], false, self.allow_rsv1)?
            .ok_or_else(|| ProtocolError::Other("truncated encrypted frame head".into()))?;
        debug_assert_eq!(used, 2 + ext);
        let PayloadLen::Known(len) = frame.len else {
            unreachable!("RFC 6455 lengths are known")
        };
        self.remaining = Remaining::new(len);
        self.rx = Some(c);
        Ok(Some((frame, end)))
    }

    fn decode_payload(
        &mut self,
        src: &[u8],
        dst: Option<&mut Vec<u8>>,
    ) -> Result<(usize, bool), ProtocolError> {
        let n = self.remaining.take(src.len());
        let c = self
            .rx
            .as_mut()
            .ok_or_else(|| ProtocolError::Other("payload without a frame head".into()))?;
        match dst {
            Some(dst) => {
                let start = dst.len();
                dst.extend_from_slice(&src[..n]);
                c.apply_keystream(&mut dst[start..]);
            }
            None => {
                let pos: u64 = c.current_pos();
                c.seek(pos + n as u64);
            }
        }
        self.remaining.advance(n);
        let done = self.remaining.left == 0;
        if done {
            self.rx = None;
        }
        Ok((n, done))
    }

    fn encode(&mut self, fin: bool, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        // The whole frame is built before any byte of it leaves (§IV-D-1).
        out.reserve(NONCE_LEN + 10 + payload.len());
        let nonce: [u8; NONCE_LEN] = self.nonces.array();
        out.extend_from_slice(&nonce);
        let start = out.len();
        write_head(out, fin, false, opcode, None, payload.len());
        out.extend_from_slice(payload);
        cipher(&self.aes, &nonce).apply_keystream(&mut out[start..]);
    }

    fn close_style(&self) -> CloseStyle {
        CloseStyle::WithCode
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            binary: true,
            ping: true,
            fragmentation: true,
        }
    }

    fn set_allow_rsv1(&mut self, allow: bool) {
        self.allow_rsv1 = allow;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = [
        0x38, 0x81, 0x96, 0xbe, 0x0c, 0x21, 0x93, 0x02, 0x50, 0x8f, 0x48, 0x99, 0x19, 0xb6, 0x23,
        0x55,
    ];

    /// NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt), first two blocks: checks the counter
    /// layout (nonce ‖ 64-bit big-endian block counter) against the standard's vector,
    /// whose initial counter block f0f1…feff has 0xf8f9fafbfcfdfeff in the low half.
    #[test]
    fn sp800_38a_vector() {
        let key: [u8; 16] = hex::decode("2b7e151628aed2a6abf7158809cf4f3c")
            .unwrap()
            .try_into()
            .unwrap();
        let iv: [u8; 16] = hex::decode("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
            .unwrap()
            .try_into()
            .unwrap();
        let mut c = Cipher::from_core(ctr::CtrCore::inner_iv_init(
            Aes128::new(&key.into()),
            &iv.into(),
        ));
        let mut data =
            hex::decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
                .unwrap();
        c.apply_keystream(&mut data);
        assert_eq!(
            hex::encode(data),
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
        );
    }

    fn decode_all(codec: &mut AesCtrCodec, wire: &[u8], piece: usize) -> (FrameHead, Vec<u8>) {
        // head from a growing buffer (as the message layer does), payload in pieces
        let mut n = 1;
        let (head, used) = loop {
            if let Some(r) = codec.decode_head(&wire[..n.min(wire.len())]).unwrap() {
                break r;
            }
            n += 1;
            assert!(n <= wire.len() + 1);
        };
        let mut out = Vec::new();
        let mut rest = &wire[used..];
        loop {
            let take = piece.min(rest.len());
            let (k, done) = codec.decode_payload(&rest[..take], Some(&mut out)).unwrap();
            rest = &rest[k..];
            if done {
                break;
            }
        }
        assert!(rest.is_empty());
        (head, out)
    }

    #[test]
    fn round_trip_every_length_form_in_pieces() {
        let mut tx = AesCtrCodec::with_entropy(KEY, Entropy::script(&[]));
        let mut rx = AesCtrCodec::with_entropy(KEY, Entropy::script(&[]));
        for len in [0usize, 1, 15, 16, 17, 125, 126, 65535, 65536, 70001] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut wire = Vec::new();
            tx.encode(true, OpCode::Binary, &payload, &mut wire);
            // nothing of the plain frame shows: the header byte 0x82 is encrypted
            for piece in [1, 3, 16, 1 << 20] {
                let (head, out) = decode_all(&mut rx, &wire, piece);
                assert_eq!(head.opcode, OpCode::Binary);
                assert_eq!(head.len, PayloadLen::Known(len as u64));
                assert_eq!(out, payload, "len {len} piece {piece}");
            }
        }
    }

    #[test]
    fn dropped_payload_keeps_keystream_position() {
        let mut tx = AesCtrCodec::with_entropy(KEY, Entropy::script(&["0001020304050607"]));
        let mut wire = Vec::new();
        tx.encode(true, OpCode::Binary, &[9u8; 40], &mut wire);
        let mut rx = AesCtrCodec::with_entropy(KEY, Entropy::script(&[]));
        let (_, used) = rx.decode_head(&wire).unwrap().unwrap();
        let (n, _) = rx.decode_payload(&wire[used..used + 20], None).unwrap();
        assert_eq!(n, 20);
        let mut out = Vec::new();
        let (_, done) = rx
            .decode_payload(&wire[used + 20..], Some(&mut out))
            .unwrap();
        assert!(done);
        assert_eq!(out, [9u8; 20]);
    }

    #[test]
    fn masked_inner_frame_and_bad_opcode_are_refused() {
        // Build plaintext frames by hand and encrypt them.
        let nonce = [7u8; 8];
        let seal = |plain: &[u8]| {
            let mut f = plain.to_vec();
            apply(&KEY, &nonce, &mut f);
            let mut w = nonce.to_vec();
            w.extend_from_slice(&f);
            w
        };
        let mut rx = AesCtrCodec::with_entropy(KEY, Entropy::script(&[]));
        assert_eq!(
            rx.decode_head(&seal(&[0x81, 0x85, 1, 2, 3, 4])),
            Err(ProtocolError::BadMasking)
        );
        assert_eq!(
            rx.decode_head(&seal(&[0x8b, 0x00])),
            Err(ProtocolError::UnknownOpcode(0xb))
        );
        assert_eq!(
            rx.decode_head(&seal(&[0x82, 0x7e, 0x00, 0x05])),
            Err(ProtocolError::NonMinimalLength)
        );
    }
}
