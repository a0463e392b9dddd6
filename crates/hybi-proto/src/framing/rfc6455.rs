//! RFC 6455 framing (§5), also HyBi-07 and HyBi-08..-12, whose frame layout is the same.
//!
//! ```text
//! byte 0: FIN RSV1 RSV2 RSV3 opcode(4)     opcodes: 0 cont, 1 text, 2 binary, 8 close, 9 ping, A pong
//! byte 1: MASK len(7)                      126 -> 16-bit length, 127 -> 64-bit length (top bit 0)
//! [extended length] [masking key (4), if MASK] payload
//! ```
//! Clients mask every frame with a fresh key, servers never do (§5.1, §5.3); each side
//! fails the connection when the other breaks that rule.

use rand::rngs::StdRng;

use super::{read_len, write_len, Capabilities, CloseStyle, Codec, FrameHead, OpCode, PayloadLen};
use crate::entropy::Entropy;
use crate::error::ProtocolError;
use crate::mask::{apply_mask, extend_masked};
use crate::Side;

/// The RFC 6455 codec for one end.
///
/// By default (RFC 6455, HyBi-07/08, `hello`, `upgrade-connect`) clients mask and servers
/// do not; [`Rfc6455Codec::unmasked`] gives the layout the `connect` and `post` proposals
/// use, where neither direction masks and a MASK bit of 1 is a protocol error.
#[derive(Debug)]
pub struct Rfc6455Codec {
    /// Masking keys for outgoing frames; `None` when this end never masks.
    masks: Option<Entropy>,
    /// Whether incoming frames must carry MASK = 1 (else they must carry MASK = 0).
    peer_masks: bool,
    allow_rsv1: bool,
    /// Key and progress of the frame being received.
    mask: Option<[u8; 4]>,
    remaining: super::Remaining,
}

impl Rfc6455Codec {
    /// A codec for `side` with RFC 6455's rule (clients mask); clients need `rng` for
    /// their masking keys.
    pub fn new(side: Side, rng: Option<StdRng>) -> Self {
        assert!(
            side == Side::Server || rng.is_some(),
            "a client needs an RNG"
        );
        match side {
            Side::Client => {
                Self::client_masking(Side::Client, Entropy::from_rng(rng.expect("checked above")))
            }
            Side::Server => Self::build(None, true),
        }
    }

    /// A codec where neither end masks (the `connect` and `post` proposals): frames are
    /// sent with MASK = 0 and a received frame with MASK = 1 fails the connection.
    pub fn unmasked(_side: Side) -> Self {
        Self::build(None, false)
    }

    /// RFC 6455's rule with the client's masking keys drawn from `entropy`.
    pub(crate) fn client_masking(side: Side, entropy: Entropy) -> Self {
        match side {
            Side::Client => Self::build(Some(entropy), false),
            Side::Server => Self::build(None, true),
        }
    }

    fn build(masks: Option<Entropy>, peer_masks: bool) -> Self {
        Rfc6455Codec {
            masks,
            peer_masks,
            allow_rsv1: false,
            mask: None,
            remaining: Default::default(),
        }
    }
}

pub(crate) fn opcode_from_wire(op: u8) -> Result<OpCode, ProtocolError> {
    Ok(match op {
        0x0 => OpCode::Continuation,
        0x1 => OpCode::Text,
        0x2 => OpCode::Binary,
        0x8 => OpCode::Close,
        0x9 => OpCode::Ping,
        0xA => OpCode::Pong,
        other => return Err(ProtocolError::UnknownOpcode(other)),
    })
}

pub(crate) fn opcode_to_wire(op: OpCode) -> u8 {
    match op {
        OpCode::Continuation => 0x0,
        OpCode::Text => 0x1,
        OpCode::Binary => 0x2,
        OpCode::Close => 0x8,
        OpCode::Ping => 0x9,
        OpCode::Pong => 0xA,
        OpCode::Ignored => unreachable!("never sent"),
    }
}

/// A parsed frame head, the bytes it used, and its masking key.
pub(crate) type ParsedHead = (FrameHead, usize, Option<[u8; 4]>);

/// Parses an RFC 6455 frame head (§5.2) from the start of `buf`: RSV bits, opcode, the
/// MASK bit against `expect_masked`, minimal length, and the masking key if present.
/// Returns the head, the bytes it used and the masking key, or `None` if `buf` is short.
pub(crate) fn parse_head(
    buf: &[u8],
    expect_masked: bool,
    allow_rsv1: bool,
) -> Result<Option<ParsedHead>, ProtocolError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let b0 = buf[0];
    let rsv1 = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 || (rsv1 && !allow_rsv1) {
        return Err(ProtocolError::ReservedBits);
    }
    let opcode = opcode_from_wire(b0 & 0x0f)?;
    let masked = buf[1] & 0x80 != 0;
    if masked != expect_masked {
        return Err(ProtocolError::BadMasking);
    }
    let Some((len, ext)) = read_len(buf, true)? else {
        return Ok(None);
    };
    let mut used = 2 + ext;
    let mask = if masked {
        if buf.len() < used + 4 {
            return Ok(None);
        }
        let key = buf[used..used + 4].try_into().expect("4 bytes");
        used += 4;
        Some(key)
    } else {
        None
    };
    if opcode.is_control() && rsv1 {
        return Err(ProtocolError::ReservedBits);
    }
    let head = FrameHead {
        fin: b0 & 0x80 != 0,
        rsv1,
        opcode,
        len: PayloadLen::Known(len),
    };
    Ok(Some((head, used, mask)))
}

/// Writes an RFC 6455 frame head: byte 0, MASK bit + length, and the masking key if any.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    len: usize,
) {
    out.push(((fin as u8) << 7) | ((rsv1 as u8) << 6) | opcode_to_wire(opcode));
    write_len(out, mask.is_some(), len);
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

impl Codec for Rfc6455Codec {
    fn decode_head(&mut self, buf: &[u8]) -> Result<Option<(FrameHead, usize)>, ProtocolError> {
        let Some((head, used, mask)) = parse_head(buf, self.peer_masks, self.allow_rsv1)? else {
            return Ok(None);
        };
        self.mask = mask;
        let PayloadLen::Known(len) = head.len else {
            unreachable!("RFC 6455 lengths are known")
        };
        self.remaining = super::Remaining::new(len);
        Ok(Some((head, used)))
    }

    fn decode_payload(
        &mut self,
        src: &[u8],
        dst: Option<&mut Vec<u8>>,
    ) -> Result<(usize, bool), ProtocolError> {
        let n = self.remaining.take(src.len());
        if let Some(dst) = dst {
            match self.mask {
                Some(key) => extend_masked(dst, &src[..n], key, self.remaining.done as usize),
                None => dst.extend_from_slice(&src[..n]),
            }
        }
        self.remaining.advance(n);
        Ok((n, self.remaining.left == 0))
    }

    fn decode_payload_in_place(&mut self, payload: &mut [u8]) -> bool {
        if self.remaining.done != 0 || self.remaining.left != payload.len() as u64 {
            return false;
        }
        if let Some(key) = self.mask {
            apply_mask(payload, key, 0);
        }
        self.remaining.advance(payload.len());
        true
    }

    fn decode_whole_data_frame(
        &mut self,
        buf: &mut [u8],
        max_len: u64,
    ) -> Option<(bool, usize, usize)> {
        // FIN, no RSV bit, text or binary; the MASK bit as this end expects.
        let (&b0, &b1) = (buf.first()?, buf.get(1)?);
        if (b0 != 0x81 && b0 != 0x82) || (b1 & 0x80 != 0) != self.peer_masks {
            return None;
        }
        let (len, mut pos) = match b1 & 0x7f {
            n @ 0..=125 => (u64::from(n), 2),
            126 => {
                let len = u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?);
                (u64::from(len), 4)
            }
            _ => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
        };
        // Non-minimal lengths and the 64-bit top bit are errors the normal path reports.
        let minimal = match pos {
            2 => true,
            4 => len >= 126,
            _ => len > 0xffff && len >> 63 == 0,
        };
        if !minimal || len > max_len {
            return None;
        }
        let key = if self.peer_masks {
            let key: [u8; 4] = buf.get(pos..pos + 4)?.try_into().ok()?;
            pos += 4;
            Some(key)
        } else {
            None
        };
        let end = pos.checked_add(usize::try_from(len).ok()?)?;
        let payload = buf.get_mut(pos..end)?;
        if let Some(key) = key {
            apply_mask(payload, key, 0);
        }
        Some((b0 == 0x81, pos, end))
    }

    fn encode(&mut self, fin: bool, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        self.encode_with_rsv1(fin, false, opcode, payload, out)
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

    /// A server's frames are not masked (§5.1): the payload goes out as it is.
    fn frames_verbatim(&self) -> bool {
        self.masks.is_none()
    }

    fn encode_head_verbatim(
        &mut self,
        fin: bool,
        opcode: OpCode,
        len: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        if self.masks.is_some() {
            return false;
        }
        let (head, n) = frame_head(fin, false, opcode, len, None);
        out.extend_from_slice(&head[..n]);
        true
    }

    fn encode_rsv1(
        &mut self,
        fin: bool,
        rsv1: bool,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        self.encode_with_rsv1(fin, rsv1, opcode, payload, out)
    }
}

impl Rfc6455Codec {
    /// Encodes a frame with an explicit RSV1 bit (permessage-deflate).
    pub fn encode_with_rsv1(
        &mut self,
        fin: bool,
        rsv1: bool,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        // The head is built on the stack and appended with the payload after one
        // reserve: pushing it byte by byte (write_head) cost ~100 instructions per small
        // frame, this ~35 (docs/benchmarks.md, "encode").
        let key = self.masks.as_mut().map(Entropy::mask);
        let len = payload.len();
        let (head, n) = frame_head(fin, rsv1, opcode, len, key);
        out.reserve(n + len);
        out.extend_from_slice(&head[..n]);
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = key {
            apply_mask(&mut out[start..], key, 0);
        }
    }
}

/// The head of a frame (§5.2) on the stack: its bytes and its length.
#[inline]
fn frame_head(
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    len: usize,
    key: Option<[u8; 4]>,
) -> ([u8; 14], usize) {
    let mut head = [0u8; 14];
    head[0] = ((fin as u8) << 7) | ((rsv1 as u8) << 6) | opcode_to_wire(opcode);
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        head[1] = mask_bit | len as u8;
        2
    } else if len <= 0xffff {
        head[1] = mask_bit | 126;
        head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        head[1] = mask_bit | 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(key) = key {
        head[n..n + 4].copy_from_slice(&key);
        n += 4;
    }
    (head, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// RFC 6455 §5.7 examples (VARIANTS.md §7).
    const UNMASKED_HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_HELLO: &[u8] = &[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    const FRAGMENTED_HEL: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c];
    const FRAGMENTED_LO: &[u8] = &[0x80, 0x02, 0x6c, 0x6f];
    const UNMASKED_PING: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_PONG: &[u8] = &[
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    const BINARY_256_HEAD: &[u8] = &[0x82, 0x7e, 0x01, 0x00];
    const BINARY_64K_HEAD: &[u8] = &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];

    fn decode_one(codec: &mut Rfc6455Codec, wire: &[u8]) -> (FrameHead, Vec<u8>) {
        let (head, used) = codec.decode_head(wire).unwrap().unwrap();
        let mut out = Vec::new();
        let (n, done) = codec.decode_payload(&wire[used..], Some(&mut out)).unwrap();
        assert!(done);
        assert_eq!(used + n, wire.len());
        (head, out)
    }

    #[test]
    fn section_5_7_vectors() {
        let mut client = Rfc6455Codec::new(Side::Client, Some(StdRng::seed_from_u64(1)));
        let mut server = Rfc6455Codec::new(Side::Server, None);
        let (h, p) = decode_one(&mut client, UNMASKED_HELLO);
        assert_eq!(
            (h.opcode, h.fin, p.as_slice()),
            (OpCode::Text, true, &b"Hello"[..])
        );
        let (h, p) = decode_one(&mut server, MASKED_HELLO);
        assert_eq!((h.opcode, p.as_slice()), (OpCode::Text, &b"Hello"[..]));
        let (h, p) = decode_one(&mut client, FRAGMENTED_HEL);
        assert_eq!(
            (h.opcode, h.fin, p.as_slice()),
            (OpCode::Text, false, &b"Hel"[..])
        );
        let (h, p) = decode_one(&mut client, FRAGMENTED_LO);
        assert_eq!(
            (h.opcode, h.fin, p.as_slice()),
            (OpCode::Continuation, true, &b"lo"[..])
        );
        let (h, _) = decode_one(&mut client, UNMASKED_PING);
        assert_eq!(h.opcode, OpCode::Ping);
        let (h, p) = decode_one(&mut server, MASKED_PONG);
        assert_eq!((h.opcode, p.as_slice()), (OpCode::Pong, &b"Hello"[..]));
        let (h, _) = client.decode_head(BINARY_256_HEAD).unwrap().unwrap();
        assert_eq!(h.len, PayloadLen::Known(256));
        let (h, _) = client.decode_head(BINARY_64K_HEAD).unwrap().unwrap();
        assert_eq!(h.len, PayloadLen::Known(65536));
    }

    #[test]
    fn server_encodes_unmasked_vector() {
        let mut server = Rfc6455Codec::new(Side::Server, None);
        let mut out = Vec::new();
        server.encode(true, OpCode::Text, b"Hello", &mut out);
        assert_eq!(out, UNMASKED_HELLO);
        out.clear();
        server.encode(true, OpCode::Binary, &[0u8; 256], &mut out);
        assert_eq!(&out[..4], BINARY_256_HEAD);
        out.clear();
        server.encode(true, OpCode::Binary, &vec![0u8; 65536], &mut out);
        assert_eq!(&out[..10], BINARY_64K_HEAD);
    }

    #[test]
    fn client_frames_round_trip_through_server() {
        let mut client = Rfc6455Codec::new(Side::Client, Some(StdRng::seed_from_u64(7)));
        let mut server = Rfc6455Codec::new(Side::Server, None);
        for len in [0usize, 1, 125, 126, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut wire = Vec::new();
            client.encode(true, OpCode::Binary, &payload, &mut wire);
            assert_eq!(wire[1] & 0x80, 0x80);
            let (_, p) = decode_one(&mut server, &wire);
            assert_eq!(p, payload);
        }
    }

    #[test]
    fn role_masking_rules() {
        let mut server = Rfc6455Codec::new(Side::Server, None);
        assert_eq!(
            server.decode_head(UNMASKED_HELLO),
            Err(ProtocolError::BadMasking)
        );
        let mut client = Rfc6455Codec::new(Side::Client, Some(StdRng::seed_from_u64(1)));
        assert_eq!(
            client.decode_head(MASKED_HELLO),
            Err(ProtocolError::BadMasking)
        );
    }

    #[test]
    fn non_minimal_and_huge_lengths() {
        let mut client = Rfc6455Codec::new(Side::Client, Some(StdRng::seed_from_u64(1)));
        assert_eq!(
            client.decode_head(&[0x82, 0x7e, 0x00, 0x05]),
            Err(ProtocolError::NonMinimalLength)
        );
        // 2^63: the most significant bit must be 0 (§5.2).
        assert_eq!(
            client.decode_head(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::NonMinimalLength)
        );
        assert_eq!(
            client.decode_head(&[0x83, 0x00]),
            Err(ProtocolError::UnknownOpcode(3))
        );
        assert_eq!(
            client.decode_head(&[0xa1, 0x00]),
            Err(ProtocolError::ReservedBits)
        );
    }

    #[test]
    fn payload_in_pieces_keeps_mask_phase() {
        let mut server = Rfc6455Codec::new(Side::Server, None);
        let (_, used) = server.decode_head(MASKED_HELLO).unwrap().unwrap();
        let mut out = Vec::new();
        for b in &MASKED_HELLO[used..] {
            server
                .decode_payload(std::slice::from_ref(b), Some(&mut out))
                .unwrap();
        }
        assert_eq!(out, b"Hello");
    }
}
