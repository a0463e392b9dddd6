//! The first binary framing: HyBi-01, -02 and -03 (VARIANTS.md §3), never masked.
//!
//! ```text
//! byte 0: MORE RSV1 RSV2 RSV3 opcode(4)    MORE=1: more fragments follow (the inverse of FIN)
//! byte 1: RSV4 len(7)                      126 -> 16-bit length, 127 -> 64-bit length (top bit 0)
//! [extended length] payload
//! opcodes: 0 continuation, 1 close, 2 ping, 3 pong, 4 text, 5 binary, 6-F reserved
//! ```
//!
//! HyBi-04..-06 keep this layout with the first bit flipped to FIN and the whole frame
//! masked ([`super::hybi04`]), so the head parser here serves both.
//!
//! Close frames carry no status code ([`CloseStyle::BareFrame`]); a received body is echoed
//! in the answer, which is HyBi-03's "close frame body matching" and what em-websocket does
//! (pywebsocket sends `01 00`, an empty close, which is also what we send when we start).

use super::{read_len, write_len, Capabilities, CloseStyle, Codec, FrameHead, OpCode, PayloadLen};
use crate::error::ProtocolError;

/// Opcodes of HyBi-01..-06.
pub(crate) fn opcode_from_wire(op: u8) -> Result<OpCode, ProtocolError> {
    Ok(match op {
        0x0 => OpCode::Continuation,
        0x1 => OpCode::Close,
        0x2 => OpCode::Ping,
        0x3 => OpCode::Pong,
        0x4 => OpCode::Text,
        0x5 => OpCode::Binary,
        other => return Err(ProtocolError::UnknownOpcode(other)),
    })
}

/// Opcodes of HyBi-01..-06.
pub(crate) fn opcode_to_wire(op: OpCode) -> u8 {
    match op {
        OpCode::Continuation => 0x0,
        OpCode::Close => 0x1,
        OpCode::Ping => 0x2,
        OpCode::Pong => 0x3,
        OpCode::Text => 0x4,
        OpCode::Binary => 0x5,
        OpCode::Ignored => unreachable!("never sent"),
    }
}

/// Whether bit 7 of byte 0 means "more fragments follow" (-01..-03) or FIN (-04..-06).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FirstBit {
    More,
    Fin,
}

/// Parses an (unmasked) HyBi-01..-06 head. Any RSV bit fails; lengths need not be
/// minimal (nothing in these drafts' implementations required it) but the 64-bit form
/// must have its top bit clear.
pub(crate) fn parse_head(
    buf: &[u8],
    first_bit: FirstBit,
) -> Result<Option<(FrameHead, usize)>, ProtocolError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] & 0x70 != 0 || buf[1] & 0x80 != 0 {
        return Err(ProtocolError::ReservedBits);
    }
    let opcode = opcode_from_wire(buf[0] & 0x0f)?;
    let Some((len, ext)) = read_len(buf, false)? else {
        return Ok(None);
    };
    let bit = buf[0] & 0x80 != 0;
    let fin = match first_bit {
        FirstBit::More => !bit,
        FirstBit::Fin => bit,
    };
    let head = FrameHead {
        fin,
        rsv1: false,
        opcode,
        len: PayloadLen::Known(len),
    };
    Ok(Some((head, 2 + ext)))
}

/// Writes an unmasked HyBi-01..-06 head.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    first_bit: FirstBit,
    fin: bool,
    opcode: OpCode,
    len: usize,
) {
    let bit = match first_bit {
        FirstBit::More => !fin,
        FirstBit::Fin => fin,
    };
    out.push(((bit as u8) << 7) | opcode_to_wire(opcode));
    write_len(out, false, len);
}

/// The HyBi-01..-03 codec (same for both ends).
#[derive(Debug, Default)]
pub struct Hybi01Codec {
    remaining: super::Remaining,
}

impl Hybi01Codec {
    /// A codec for either end.
    pub fn new() -> Self {
        Hybi01Codec::default()
    }
}

impl Codec for Hybi01Codec {
    fn decode_head(&mut self, buf: &[u8]) -> Result<Option<(FrameHead, usize)>, ProtocolError> {
        let parsed = parse_head(buf, FirstBit::More)?;
        if let Some((
            FrameHead {
                len: PayloadLen::Known(len),
                ..
            },
            _,
        )) = parsed
        {
            self.remaining = super::Remaining::new(len);
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
            dst.extend_from_slice(&src[..n]);
        }
        self.remaining.advance(n);
        Ok((n, self.remaining.left == 0))
    }

    fn encode(&mut self, fin: bool, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(payload.len() + 10);
        write_head(out, FirstBit::More, fin, opcode, payload.len());
        out.extend_from_slice(payload);
    }

    fn close_style(&self) -> CloseStyle {
        CloseStyle::BareFrame
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
    use crate::{CloseCode, CloseFrame, Side, Variant};

    /// draft-ietf-hybi-thewebsocketprotocol-03 §4.6 examples (VARIANTS.md §3).
    const TEXT_HELLO: &[u8] = &[0x04, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const FRAGMENT_HEL: &[u8] = &[0x84, 0x03, 0x48, 0x65, 0x6c];
    const FRAGMENT_LO: &[u8] = &[0x00, 0x02, 0x6c, 0x6f];
    const PING_HELLO: &[u8] = &[0x02, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const PONG_HELLO: &[u8] = &[0x03, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const BINARY_256_HEAD: &[u8] = &[0x05, 0x7e, 0x01, 0x00];
    const BINARY_64K_HEAD: &[u8] = &[0x05, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];

    fn pair() -> (Connection, Connection) {
        let c = Connection::new(
            Side::Client,
            Variant::Hybi03,
            Box::new(Hybi01Codec::new()),
            Default::default(),
        );
        let s = Connection::new(
            Side::Server,
            Variant::Hybi03,
            Box::new(Hybi01Codec::new()),
            Default::default(),
        );
        (c, s)
    }

    fn events(c: &mut Connection) -> Vec<Event> {
        std::iter::from_fn(|| c.next_event()).collect()
    }

    fn encode(fin: bool, op: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Hybi01Codec::new().encode(fin, op, payload, &mut out);
        out
    }

    #[test]
    fn section_4_6_vectors_encode() {
        assert_eq!(encode(true, OpCode::Text, b"Hello"), TEXT_HELLO);
        assert_eq!(encode(false, OpCode::Text, b"Hel"), FRAGMENT_HEL);
        assert_eq!(encode(true, OpCode::Continuation, b"lo"), FRAGMENT_LO);
        assert_eq!(encode(true, OpCode::Ping, b"Hello"), PING_HELLO);
        assert_eq!(encode(true, OpCode::Pong, b"Hello"), PONG_HELLO);
        assert_eq!(
            &encode(true, OpCode::Binary, &[0; 256])[..4],
            BINARY_256_HEAD
        );
        assert_eq!(
            &encode(true, OpCode::Binary, &vec![0; 65536])[..10],
            BINARY_64K_HEAD
        );
    }

    #[test]
    fn section_4_6_vectors_decode() {
        for chunk in [1, 3, 1 << 20] {
            let (_, mut s) = pair();
            let mut wire = Vec::new();
            for v in [TEXT_HELLO, FRAGMENT_HEL, FRAGMENT_LO, PING_HELLO] {
                wire.extend_from_slice(v);
            }
            wire.extend_from_slice(BINARY_256_HEAD);
            wire.extend(std::iter::repeat_n(7u8, 256));
            wire.extend_from_slice(BINARY_64K_HEAD);
            wire.extend(std::iter::repeat_n(9u8, 65536));
            for piece in wire.chunks(chunk) {
                s.receive_data(piece);
            }
            assert_eq!(
                events(&mut s),
                vec![
                    Event::Text("Hello".into()),
                    Event::Text("Hello".into()),
                    Event::Ping(b"Hello".to_vec()),
                    Event::Binary(vec![7; 256]),
                    Event::Binary(vec![9; 65536]),
                ]
            );
            // "the server must answer pong 03 05 Hello"
            assert_eq!(s.take_output(), PONG_HELLO);
        }
    }

    #[test]
    fn close_body_is_echoed_and_we_send_empty() {
        let (mut c, mut s) = pair();
        c.send_close(CloseFrame::new(CloseCode::NO_STATUS, ""))
            .unwrap();
        let wire = c.take_output();
        assert_eq!(wire, [0x01, 0x00]);
        // a peer's close with a body: the answer repeats it
        s.receive_data(&[0x01, 0x03, b'a', b'b', b'c']);
        assert_eq!(
            events(&mut s),
            vec![Event::Close(CloseFrame::new(CloseCode::NO_STATUS, "abc"))]
        );
        assert_eq!(s.take_output(), [0x01, 0x03, b'a', b'b', b'c']);
        c.receive_data(&wire);
        assert_eq!(events(&mut c).len(), 1);
    }

    #[test]
    fn must_reject() {
        let mut c = Hybi01Codec::new();
        // RSV1..3 and RSV4
        assert_eq!(
            c.decode_head(&[0x44, 0x00]),
            Err(ProtocolError::ReservedBits)
        );
        assert_eq!(
            c.decode_head(&[0x04, 0x80]),
            Err(ProtocolError::ReservedBits)
        );
        assert_eq!(
            c.decode_head(&[0x06, 0x00]),
            Err(ProtocolError::UnknownOpcode(6))
        );
        // 64-bit length with the top bit set
        assert_eq!(
            c.decode_head(&[0x05, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::NonMinimalLength)
        );
        // continuation without a message, data frame inside a fragmented one, fragmented control
        for wire in [
            &[0x00, 0x00][..],
            &[0x84, 0x01, b'a', 0x04, 0x00],
            &[0x82, 0x00],
        ] {
            let (_, mut s) = pair();
            s.receive_data(wire);
            assert!(
                matches!(events(&mut s).as_slice(), [Event::Failed(_)]),
                "{wire:02x?}"
            );
        }
    }
}
