//! XOR masking, word-wide.
//!
//! RFC 6455 §5.3: `transformed[i] = original[i] XOR key[i mod 4]`. HyBi-04 uses a 20-byte
//! pad and HyBi-05/06 a 4-byte key that also covers the frame header, so the functions
//! here take an arbitrary key length and a starting offset into the key.
//!
//! The 4-byte path works on `u64` words built from a rotated key; LLVM turns the loop
//! into SIMD XORs: SSE2 everywhere on x86-64, and for payloads of 256 bytes or more the
//! same safe loop compiled for AVX2 or AVX-512 when the CPU has them (`wide`, the one
//! `unsafe` call: a `#[target_feature]` function after run-time detection).

/// XOR `buf` in place with a 4-byte `key`, starting at key position `offset % 4`.
///
/// Performance (docs/benchmarks.md, "mask"): the `u64` loop compiles to SSE2 XORs, faster
/// than `memcpy` of the same buffer in L1. Payloads of [`WIDE_MIN`] bytes or more take the
/// same loop compiled for AVX-512 or AVX2 when the CPU has them (detected once at run time):
/// a 64 KiB echo spent 9% of the server's CPU unmasking with SSE2. Short payloads skip all
/// of it: the key rotation is one `rotate_right` and the tail takes at most one `u32` and
/// three bytes.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= WIDE_MIN {
        return wide::apply_mask(buf, key, offset);
    }
    xor_words(buf, key, offset)
}

/// Below this many bytes the run-time dispatch costs more than the wider registers save.
pub const WIDE_MIN: usize = 256;

/// The masking loop itself, inlined into each target-feature build of it.
#[inline(always)]
fn xor_words(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Little-endian order on every target: byte i of the word is key[(rot + i) % 4].
    let k = u32::from_le_bytes(key).rotate_right(8 * (offset & 3) as u32);
    let word = u64::from(k) | (u64::from(k) << 32);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")) ^ word;
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    // The remainder starts at a multiple of 8, hence of 4: key phase 0.
    let mut rest = chunks.into_remainder();
    if rest.len() >= 4 {
        let (four, tail) = rest.split_at_mut(4);
        let v = u32::from_le_bytes((&*four).try_into().expect("4 bytes")) ^ k;
        four.copy_from_slice(&v.to_le_bytes());
        rest = tail;
    }
    for (b, m) in rest.iter_mut().zip(k.to_le_bytes()) {
        *b ^= m;
    }
}

/// The same loop compiled with wider vector registers, chosen at run time. The only
/// `unsafe` here is calling a `#[target_feature]` function, allowed once the feature has
/// been detected on this CPU; the functions' bodies are the safe loop above.
#[cfg(target_arch = "x86_64")]
mod wide {
    #[inline]
    pub(super) fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
        // Up to the first 64-byte boundary the portable loop, then whole cache lines:
        // unaligned 64-byte stores that straddle two lines halve the store rate.
        let head = buf.as_ptr().align_offset(64).min(buf.len());
        let (head_bytes, buf) = buf.split_at_mut(head);
        super::xor_words(head_bytes, key, offset);
        let offset = offset + head;
        // `is_x86_feature_detected!` caches what the CPU reported (one atomic load).
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU reported AVX-512F.
            #[allow(unsafe_code)]
            unsafe {
                xor_avx512(buf, key, offset)
            }
        } else if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU reported AVX2.
            #[allow(unsafe_code)]
            unsafe {
                xor_avx2(buf, key, offset)
            }
        } else {
            super::xor_words(buf, key, offset)
        }
    }

    #[target_feature(enable = "avx512f")]
    fn xor_avx512(buf: &mut [u8], key: [u8; 4], offset: usize) {
        super::xor_words(buf, key, offset)
    }

    #[target_feature(enable = "avx2")]
    fn xor_avx2(buf: &mut [u8], key: [u8; 4], offset: usize) {
        super::xor_words(buf, key, offset)
    }

    #[cfg(test)]
    mod tests {
        type WideFn = unsafe fn(&mut [u8], [u8; 4], usize);

        /// Every build of the loop the CPU can run agrees with the portable one.
        #[test]
        fn every_available_width_matches_the_baseline() {
            let key = [0x9a, 0x01, 0xfe, 0x55];
            // Every length around the dispatch threshold and the vector widths, then a few
            // large ones; the buffer starts at each offset of a 64-byte line, so every
            // alignment prefix the wide path splits off is seen.
            let lens = (0..=700).chain([1000, 4099, 16384, 65_537]);
            for (len, shift) in lens.zip((0..64).cycle()) {
                for offset in 0..4 {
                    // Masked in place at `shift` bytes into a fresh allocation.
                    let orig: Vec<u8> = (0..len + shift).map(|i| (i * 7 + 3) as u8).collect();
                    let mut want = orig.clone();
                    super::super::xor_words(&mut want[shift..], key, offset);
                    let mut got = orig.clone();
                    super::apply_mask(&mut got[shift..], key, offset);
                    assert_eq!(
                        got, want,
                        "dispatch, len {len} shift {shift} offset {offset}"
                    );
                    let wide: [(&str, bool, WideFn); 2] = [
                        (
                            "avx2",
                            std::is_x86_feature_detected!("avx2"),
                            super::xor_avx2,
                        ),
                        (
                            "avx512",
                            std::is_x86_feature_detected!("avx512f"),
                            super::xor_avx512,
                        ),
                    ];
                    for (name, _, xor) in wide.into_iter().filter(|w| w.1) {
                        let mut got = orig.clone();
                        // SAFETY: the feature was detected just above.
                        #[allow(unsafe_code)]
                        unsafe {
                            xor(&mut got[shift..], key, offset)
                        };
                        assert_eq!(got, want, "{name}, len {len} shift {shift} offset {offset}");
                    }
                }
            }
        }
    }
}

/// Append `src` XOR `key` (starting at key position `offset`) to `dst`: the one-pass
/// "copy and unmask" a receiver needs.
#[inline]
pub fn extend_masked(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) {
    let start = dst.len();
    dst.extend_from_slice(src);
    apply_mask(&mut dst[start..], key, offset);
}

/// XOR `buf` in place with a key of any length (HyBi-04's 20-byte pad), starting at key
/// position `offset % key.len()`.
pub fn apply_mask_n(buf: &mut [u8], key: &[u8], offset: usize) {
    debug_assert!(!key.is_empty());
    let n = key.len();
    let mut k = offset % n;
    for b in buf {
        *b ^= key[k];
        k += 1;
        if k == n {
            k = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn rfc6455_masked_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut buf = *b"Hello";
        apply_mask(&mut buf, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(buf, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn word_path_matches_naive_for_every_length_and_offset() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..100 {
            for offset in 0..8 {
                let orig: Vec<u8> = (0..len as u8).collect();
                let mut a = orig.clone();
                let mut b = orig.clone();
                apply_mask(&mut a, key, offset);
                naive(&mut b, key, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn n_byte_mask_wraps() {
        let key: Vec<u8> = (1..=20).collect();
        let mut buf = vec![0u8; 45];
        apply_mask_n(&mut buf, &key, 18);
        assert_eq!(buf[0], 19);
        assert_eq!(buf[1], 20);
        assert_eq!(buf[2], 1);
    }
}
