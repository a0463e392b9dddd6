//! Header-covering masks: HyBi-04, -05 and -06 (VARIANTS.md §4, §5).
//!
//! ```text
//! client -> server:  key(4, in clear) | XOR(frame, pad[i mod pad.len()])   i = 0 at frame byte 0
//! server -> client:  frame                                                   (no key, no mask)
//! frame:  byte 0 FIN RSV1 RSV2 RSV3 opcode | byte 1 RSV4 len(7) | ext len | payload
//!         opcodes as HyBi-01..-03: 0 cont, 1 close, 2 ping, 3 pong, 4 text, 5 binary
//!
//! HyBi-04:       pad = SHA-1(key ‖ connection masking key)   (20 bytes)
//!                connection masking key = SHA-1(Sec-WebSocket-Key ‖ Sec-WebSocket-Nonce ‖
//!                                               "61AC5F19-FBBA-4540-B96F-6561F1AB40A8")
//! HyBi-05, -06:  pad = key                                    (4 bytes)
//! ```
//!
//! Unlike RFC 6455 the mask covers the head, so a receiver cannot learn a frame's length
//! without unmasking: [`Codec::decode_head`] unmasks a copy of at most 10 head bytes, and
//! the payload is unmasked while it is copied, at key offset `head length + bytes done`.
//!
//! This is the drafts' layout as em-websocket (`framing05.rb`), pywebsocket
//! (`_stream_hybi04.py`, `_stream_hybi06.py`) and libwebsockets (`xor_mask_05`) read it.
//! The Ruby `websocket` gem sends -05/-06 frames in the -07 layout instead (MASK bit, key
//! after the length); we follow the drafts (docs/drafts.md).
//!
//! Close frames: -04 and -05 carry no status code ([`CloseStyle::BareFrame`]); -06 carries
//! a 2-byte code and a UTF-8 reason ([`CloseStyle::WithCode`]).

use rand::rngs::StdRng;
use rand::RngCore;
use sha1::{Digest, Sha1};

use super::hybi01::{parse_head, write_head, FirstBit};
use super::{Capabilities, CloseStyle, Codec, FrameHead, OpCode, PayloadLen, Remaining};
use crate::error::ProtocolError;
use crate::mask::{apply_mask, apply_mask_n, extend_masked};
use crate::Side;

/// Longest HyBi-04..-06 frame head after the key: 2 bytes + 8-byte length.
const MAX_INNER_HEAD: usize = 10;

/// How a frame's pad is made from its 4-byte key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameMasking {
    /// HyBi-04: `SHA-1(key ‖ connection masking key)`.
    Sha1Derived {
        /// The 20-byte connection masking key of the handshake.
        connection_key: [u8; 20],
    },
    /// HyBi-05 and -06: the key itself.
    Key,
}

/// The HyBi-04..-06 codec for one end.
#[derive(Debug)]
pub struct Hybi04Codec {
    side: Side,
    masking: FrameMasking,
    close: CloseStyle,
    /// Frame keys (clients only).
    rng: Option<Box<StdRng>>,
    /// Pad of the frame being received (server side), and its length (4 or 20).
    pad: [u8; 20],
    pad_len: usize,
    /// Masked head bytes of the frame being received (the payload's mask offset).
    head_len: usize,
    remaining: Remaining,
}

impl Hybi04Codec {
    /// HyBi-04 for `side`; clients need `rng` for their frame keys.
    pub fn hybi04(side: Side, connection_key: [u8; 20], rng: Option<StdRng>) -> Self {
        Self::new(
            side,
            FrameMasking::Sha1Derived { connection_key },
            CloseStyle::BareFrame,
            rng,
        )
    }

    /// HyBi-05 (`with_close_codes` false) or -06 (true).
    pub fn hybi05(side: Side, with_close_codes: bool, rng: Option<StdRng>) -> Self {
        let close = if with_close_codes {
            CloseStyle::WithCode
        } else {
            CloseStyle::BareFrame
        };
        Self::new(side, FrameMasking::Key, close, rng)
    }

    fn new(side: Side, masking: FrameMasking, close: CloseStyle, rng: Option<StdRng>) -> Self {
        assert!(
            side == Side::Server || rng.is_some(),
            "a client needs an RNG"
        );
        Hybi04Codec {
            side,
            masking,
            close,
            rng: rng.map(Box::new),
            pad: [0; 20],
            pad_len: 4,
            head_len: 0,
            remaining: Remaining::default(),
        }
    }

    /// The pad for a frame sent with `key`.
    fn pad_for(&self, key: [u8; 4]) -> ([u8; 20], usize) {
        let mut pad = [0u8; 20];
        match self.masking {
            FrameMasking::Sha1Derived { connection_key } => {
                pad.copy_from_slice(&frame_key(key, &connection_key));
                (pad, 20)
            }
            FrameMasking::Key => {
                pad[..4].copy_from_slice(&key);
                (pad, 4)
            }
        }
    }

    /// Encodes a client frame with an explicit key (tests and replay; [`Codec::encode`]
    /// draws the key from the RNG).
    pub fn encode_with_key(
        &self,
        key: [u8; 4],
        fin: bool,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        out.reserve(payload.len() + 14);
        out.extend_from_slice(&key);
        let start = out.len();
        write_head(out, FirstBit::Fin, fin, opcode, payload.len());
        out.extend_from_slice(payload);
        let (pad, n) = self.pad_for(key);
        mask_with(&mut out[start..], &pad[..n], 0);
    }
}

/// HyBi-04's per-frame pad: `SHA-1(frame key ‖ connection masking key)`.
pub fn frame_key(key: [u8; 4], connection_key: &[u8; 20]) -> [u8; 20] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(connection_key);
    sha.finalize().into()
}

fn mask_with(buf: &mut [u8], pad: &[u8], offset: usize) {
    if pad.len() == 4 {
        apply_mask(buf, pad.try_into().expect("4 bytes"), offset);
    } else {
        apply_mask_n(buf, pad, offset);
    }
}

impl Codec for Hybi04Codec {
    fn decode_head(&mut self, buf: &[u8]) -> Result<Option<(FrameHead, usize)>, ProtocolError> {
        let parsed = if self.side == Side::Client {
            // Server frames: plain, no key.
            self.head_len = 0;
            self.pad_len = 0;
            parse_head(buf, FirstBit::Fin)?
        } else {
            if buf.len() < 6 {
                return Ok(None);
            }
            let key: [u8; 4] = buf[..4].try_into().expect("4 bytes");
            let (pad, pad_len) = self.pad_for(key);
            let n = (buf.len() - 4).min(MAX_INNER_HEAD);
            let mut head = [0u8; MAX_INNER_HEAD];
            head[..n].copy_from_slice(&buf[4..4 + n]);
            mask_with(&mut head[..n], &pad[..pad_len], 0);
            match parse_head(&head[..n], FirstBit::Fin)? {
                None => None,
                Some((h, used)) => {
                    self.pad = pad;
                    self.pad_len = pad_len;
                    self.head_len = used;
                    Some((h, used + 4))
                }
            }
        };
        if let Some((
            FrameHead {
                len: PayloadLen::Known(len),
                ..
            },
            _,
        )) = parsed
        {
            self.remaining = Remaining::new(len);
        }
        Ok(parsed)
    }

    fn decode_payload(
        &mut self,
        src: &[u8],
        dst: Option<&mut Vec<u8>>,
    ) -> Result<(usize, bool), ProtocolError> {
        let n = self.remaining.take(src.len());
        if let Some(dst) = dst {
            let offset = self.head_len + self.remaining.done as usize;
            match self.pad_len {
                0 => dst.extend_from_slice(&src[..n]),
                4 => extend_masked(
                    dst,
                    &src[..n],
                    self.pad[..4].try_into().expect("4 bytes"),
                    offset,
                ),
                len => {
                    let start = dst.len();
                    dst.extend_from_slice(&src[..n]);
                    apply_mask_n(&mut dst[start..], &self.pad[..len], offset);
                }
            }
        }
        self.remaining.advance(n);
        Ok((n, self.remaining.left == 0))
    }

    fn encode(&mut self, fin: bool, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        match self.rng.as_mut() {
            Some(rng) if self.side == Side::Client => {
                let key = rng.next_u32().to_ne_bytes();
                self.encode_with_key(key, fin, opcode, payload, out);
            }
            _ => {
                out.reserve(payload.len() + 10);
                write_head(out, FirstBit::Fin, fin, opcode, payload.len());
                out.extend_from_slice(payload);
            }
        }
    }

    fn close_style(&self) -> CloseStyle {
        self.close
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            binary: true,
            ping: true,
            fragmentation: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::{Connection, Event};
    use crate::{CloseCode, CloseFrame, Variant};
    use rand::SeedableRng;

    /// VARIANTS.md §4: the connection masking key of the pywebsocket -04 vector
    /// (key `dGhlIHNhbXBsZSBub25jZQ==`, nonce `H+cNj5elaybfGIQv1esl2w==`).
    const CONNECTION_KEY_04: [u8; 20] = [
        0x63, 0x22, 0xa2, 0xad, 0xc0, 0x2b, 0xc4, 0x33, 0xe3, 0x89, 0x6d, 0x34, 0x41, 0x0b, 0x74,
        0xbb, 0x77, 0x39, 0xf9, 0x60,
    ];
    /// VARIANTS.md §4: frame key for nonce `37 fa 21 3d`.
    const FRAME_KEY_04: [u8; 20] = [
        0x30, 0x60, 0x1a, 0x50, 0x6f, 0xd2, 0x37, 0x11, 0x3b, 0xd6, 0x87, 0x47, 0x11, 0xb7, 0x90,
        0xf7, 0x4d, 0x80, 0x68, 0x37,
    ];
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    /// VARIANTS.md §4: "Hello" from the client, -04.
    const HELLO_04_MASKED: &[u8] = &[
        0x37, 0xfa, 0x21, 0x3d, 0xb4, 0x65, 0x52, 0x35, 0x03, 0xbe, 0x58,
    ];
    /// VARIANTS.md §5: em-websocket's -06 test frame (key 00 00 01 00).
    const HELLO_06_EM_WEBSOCKET: &[u8] = &[
        0x00, 0x00, 0x01, 0x00, 0x84, 0x05, 0x49, 0x65, 0x6c, 0x6c, 0x6e,
    ];
    /// VARIANTS.md §5: "Hello" from the client with key 37 fa 21 3d, -05/-06.
    const HELLO_05_MASKED: &[u8] = &[
        0x37, 0xfa, 0x21, 0x3d, 0xb3, 0xff, 0x69, 0x58, 0x5b, 0x96, 0x4e,
    ];
    /// Server to client, any of -04..-06: plain.
    const HELLO_PLAIN: &[u8] = &[0x84, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];

    fn server04() -> Hybi04Codec {
        Hybi04Codec::hybi04(Side::Server, CONNECTION_KEY_04, None)
    }

    fn decode_all(codec: Hybi04Codec, wire: &[u8], chunk: usize) -> Vec<Event> {
        let mut c = Connection::new(
            Side::Server,
            Variant::Hybi05,
            Box::new(codec),
            Default::default(),
        );
        for piece in wire.chunks(chunk) {
            c.receive_data(piece);
        }
        std::iter::from_fn(|| c.next_event()).collect()
    }

    #[test]
    fn hybi04_frame_key_and_hello_vector() {
        assert_eq!(frame_key(KEY, &CONNECTION_KEY_04), FRAME_KEY_04);
        let mut out = Vec::new();
        server04().encode_with_key(KEY, true, OpCode::Text, b"Hello", &mut out);
        let client = Hybi04Codec::hybi04(
            Side::Client,
            CONNECTION_KEY_04,
            Some(StdRng::seed_from_u64(1)),
        );
        let mut out2 = Vec::new();
        client.encode_with_key(KEY, true, OpCode::Text, b"Hello", &mut out2);
        assert_eq!(out, HELLO_04_MASKED);
        assert_eq!(out2, HELLO_04_MASKED);
        for chunk in [1, 2, 5, 100] {
            assert_eq!(
                decode_all(server04(), HELLO_04_MASKED, chunk),
                vec![Event::Text("Hello".into())]
            );
        }
    }

    #[test]
    fn hybi05_06_vectors() {
        for close_codes in [false, true] {
            let codec = || Hybi04Codec::hybi05(Side::Server, close_codes, None);
            for chunk in [1, 3, 100] {
                assert_eq!(
                    decode_all(codec(), HELLO_06_EM_WEBSOCKET, chunk),
                    vec![Event::Text("Hello".into())]
                );
                assert_eq!(
                    decode_all(codec(), HELLO_05_MASKED, chunk),
                    vec![Event::Text("Hello".into())]
                );
            }
            let mut out = Vec::new();
            codec().encode_with_key(KEY, true, OpCode::Text, b"Hello", &mut out);
            assert_eq!(out, HELLO_05_MASKED);
            out.clear();
            codec().encode(true, OpCode::Text, b"Hello", &mut out);
            assert_eq!(out, HELLO_PLAIN);
        }
    }

    #[test]
    fn server_frames_are_plain_for_the_client() {
        let mut c = Hybi04Codec::hybi05(Side::Client, true, Some(StdRng::seed_from_u64(2)));
        let (h, used) = c.decode_head(HELLO_PLAIN).unwrap().unwrap();
        assert_eq!((h.opcode, h.fin, used), (OpCode::Text, true, 2));
        let mut p = Vec::new();
        c.decode_payload(&HELLO_PLAIN[2..], Some(&mut p)).unwrap();
        assert_eq!(p, b"Hello");
    }

    #[test]
    fn long_frames_keep_the_pad_phase_across_head_and_reads() {
        // 16-bit and 64-bit lengths put the payload at pad offsets 4 and 10 (not
        // multiples of 4 or 20), in every chunking.
        for len in [0usize, 125, 126, 300, 65535, 65536, 70001] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            for masking in [0, 1] {
                let client = if masking == 0 {
                    Hybi04Codec::hybi04(
                        Side::Client,
                        CONNECTION_KEY_04,
                        Some(StdRng::seed_from_u64(len as u64)),
                    )
                } else {
                    Hybi04Codec::hybi05(Side::Client, true, Some(StdRng::seed_from_u64(len as u64)))
                };
                let mut wire = Vec::new();
                client.encode_with_key(
                    [9, 8, 7, 6],
                    false,
                    OpCode::Binary,
                    &payload[..len / 2],
                    &mut wire,
                );
                client.encode_with_key(
                    [1, 2, 3, 4],
                    true,
                    OpCode::Continuation,
                    &payload[len / 2..],
                    &mut wire,
                );
                for chunk in [1, 13, 1 << 20] {
                    if len > 1000 && chunk == 1 {
                        continue;
                    }
                    let server = if masking == 0 {
                        server04()
                    } else {
                        Hybi04Codec::hybi05(Side::Server, true, None)
                    };
                    assert_eq!(
                        decode_all(server, &wire, chunk),
                        vec![Event::Binary(payload.clone())],
                        "len {len} masking {masking} chunk {chunk}"
                    );
                }
            }
        }
    }

    #[test]
    fn close_styles() {
        assert_eq!(server04().close_style(), CloseStyle::BareFrame);
        assert_eq!(
            Hybi04Codec::hybi05(Side::Server, false, None).close_style(),
            CloseStyle::BareFrame
        );
        assert_eq!(
            Hybi04Codec::hybi05(Side::Server, true, None).close_style(),
            CloseStyle::WithCode
        );
        // -06: status code echoed; 1-byte body fails
        let mut s = Connection::new(
            Side::Server,
            Variant::Hybi06,
            Box::new(Hybi04Codec::hybi05(Side::Server, true, None)),
            Default::default(),
        );
        let c = Hybi04Codec::hybi05(Side::Client, true, Some(StdRng::seed_from_u64(3)));
        let mut wire = Vec::new();
        c.encode_with_key(
            KEY,
            true,
            OpCode::Close,
            &[0x03, 0xe8, b'o', b'k'],
            &mut wire,
        );
        s.receive_data(&wire);
        assert_eq!(
            s.next_event(),
            Some(Event::Close(CloseFrame::new(CloseCode::NORMAL, "ok")))
        );
        assert_eq!(s.take_output(), [0x81, 0x02, 0x03, 0xe8]);
        let mut s = Connection::new(
            Side::Server,
            Variant::Hybi06,
            Box::new(Hybi04Codec::hybi05(Side::Server, true, None)),
            Default::default(),
        );
        wire.clear();
        c.encode_with_key(KEY, true, OpCode::Close, &[0x03], &mut wire);
        s.receive_data(&wire);
        assert!(matches!(
            s.next_event(),
            Some(Event::Failed(ProtocolError::BadCloseFrame(_)))
        ));
    }

    #[test]
    fn reserved_bits_under_the_mask() {
        let c = Hybi04Codec::hybi05(Side::Client, false, Some(StdRng::seed_from_u64(3)));
        let mut wire = Vec::new();
        c.encode_with_key(KEY, true, OpCode::Text, b"x", &mut wire);
        wire[4] ^= 0x40; // RSV1 inside the mask
        let mut s = Hybi04Codec::hybi05(Side::Server, false, None);
        assert_eq!(s.decode_head(&wire), Err(ProtocolError::ReservedBits));
    }
}
