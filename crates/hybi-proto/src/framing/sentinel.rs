//! Hixie's sentinel framing: Hixie-75 and Hixie-76 = HyBi-00 (VARIANTS.md §1, §2).
//!
//! ```text
//! 0x00 <UTF-8 text> 0xFF                 a text message (the only frame clients send)
//! 0x01..0x7F <bytes> 0xFF                read to the 0xFF and discard
//! 0x80..0xFF <len in 7-bit groups> <len bytes>
//!                                        big-endian groups, high bit = "another length byte
//!                                        follows"; the payload is read and discarded
//! 0xFF 0x00                              Hixie-76 only: the closing handshake
//! ```
//!
//! Nothing is masked, either way. Hixie-75 has no closing handshake
//! ([`CloseStyle::TcpOnly`]): a -75 receiver treats `FF 00` as an empty discarded frame,
//! which is what the draft's generic rule gives. Hixie-76 answers `FF 00` with `FF 00`
//! ([`CloseStyle::BareFrame`]).
//!
//! A delimited payload is scanned once: each [`Codec::decode_payload`] call looks only at
//! the bytes it is given (memchr for the `0xFF`), so a text frame trickling in costs O(n).
//! The scan is bounded by the message layer, which hands a delimited frame at most
//! `max_frame_size + 1` bytes in total and fails with 1009 past that.
//!
//! Invalid UTF-8 inside a `0x00` frame fails the connection (as every other text frame
//! in hybi does), where pywebsocket replaced it with U+FFFD citing the draft: see
//! `docs/drafts.md`.

use super::{Capabilities, CloseStyle, Codec, FrameHead, OpCode, PayloadLen, Remaining};
use crate::error::ProtocolError;

/// Most 7-bit length groups accepted: 10 groups hold 70 bits, more than any real
/// length; the message layer's `max_frame_size` cuts far earlier.
const MAX_LENGTH_GROUPS: usize = 10;

/// What the current frame's payload looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payload {
    /// Ends at the next 0xFF.
    Delimited,
    /// Length-prefixed.
    Counted(Remaining),
}

/// The sentinel codec (same for both ends: nothing is masked).
#[derive(Debug)]
pub struct SentinelCodec {
    /// True for Hixie-76 / HyBi-00 (`FF 00` closes); false for Hixie-75.
    closing_handshake: bool,
    payload: Payload,
}

impl SentinelCodec {
    /// Hixie-75: no closing handshake.
    pub fn hixie75() -> Self {
        SentinelCodec {
            closing_handshake: false,
            payload: Payload::Delimited,
        }
    }

    /// Hixie-76 / HyBi-00: `FF 00` is the closing handshake.
    pub fn hixie76() -> Self {
        SentinelCodec {
            closing_handshake: true,
            payload: Payload::Delimited,
        }
    }
}

impl Codec for SentinelCodec {
    fn decode_head(&mut self, buf: &[u8]) -> Result<Option<(FrameHead, usize)>, ProtocolError> {
        let Some(&frame_type) = buf.first() else {
            return Ok(None);
        };
        if frame_type & 0x80 == 0 {
            self.payload = Payload::Delimited;
            let opcode = if frame_type == 0x00 {
                OpCode::Text
            } else {
                OpCode::Ignored
            };
            let head = FrameHead {
                fin: true,
                rsv1: false,
                opcode,
                len: PayloadLen::Delimited,
            };
            return Ok(Some((head, 1)));
        }
        let mut len: u64 = 0;
        for (i, &b) in buf[1..].iter().enumerate() {
            if i == MAX_LENGTH_GROUPS || len >> 57 != 0 {
                return Err(ProtocolError::Other(
                    "sentinel frame length prefix too long".into(),
                ));
            }
            len = (len << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                let opcode = if frame_type == 0xff && len == 0 && self.closing_handshake {
                    OpCode::Close
                } else {
                    OpCode::Ignored
                };
                self.payload = Payload::Counted(Remaining::new(len));
                let head = FrameHead {
                    fin: true,
                    rsv1: false,
                    opcode,
                    len: PayloadLen::Known(len),
                };
                return Ok(Some((head, i + 2)));
            }
        }
        Ok(None)
    }

    fn decode_payload(
        &mut self,
        src: &[u8],
        dst: Option<&mut Vec<u8>>,
    ) -> Result<(usize, bool), ProtocolError> {
        match &mut self.payload {
            Payload::Delimited => match memchr::memchr(0xff, src) {
                Some(end) => {
                    if let Some(dst) = dst {
                        dst.extend_from_slice(&src[..end]);
                    }
                    Ok((end + 1, true))
                }
                None => {
                    if let Some(dst) = dst {
                        dst.extend_from_slice(src);
                    }
                    Ok((src.len(), false))
                }
            },
            Payload::Counted(remaining) => {
                let n = remaining.take(src.len());
                if let Some(dst) = dst {
                    dst.extend_from_slice(&src[..n]);
                }
                remaining.advance(n);
                Ok((n, remaining.left == 0))
            }
        }
    }

    fn encode(&mut self, fin: bool, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        debug_assert!(fin, "sentinel framing cannot fragment");
        match opcode {
            OpCode::Text => {
                out.reserve(payload.len() + 2);
                out.push(0x00);
                if memchr::memchr(0xff, payload).is_some() {
                    // Only reachable through `send_frame` with bytes that are not UTF-8: a
                    // 0xFF would end the frame early and let the rest pass as frames of
                    // the sender's choosing. Replace, never inject.
                    out.extend_from_slice(String::from_utf8_lossy(payload).as_bytes());
                } else {
                    out.extend_from_slice(payload);
                }
                out.push(0xff);
            }
            OpCode::Close if self.closing_handshake => out.extend_from_slice(&[0xff, 0x00]),
            OpCode::Binary => {
                // A length-prefixed frame: receivers discard it, as the drafts say.
                out.push(0x80);
                write_groups(out, payload.len() as u64);
                out.extend_from_slice(payload);
            }
            // Hixie-75 has no close frame; neither draft has ping, pong or fragments
            // (the message layer refuses them through `capabilities`).
            _ => {}
        }
    }

    fn close_style(&self) -> CloseStyle {
        if self.closing_handshake {
            CloseStyle::BareFrame
        } else {
            CloseStyle::TcpOnly
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            binary: false,
            ping: false,
            fragmentation: false,
        }
    }
}

/// Writes `len` as big-endian 7-bit groups, high bit set on all but the last.
fn write_groups(out: &mut Vec<u8>, len: u64) {
    let mut groups = [0u8; MAX_LENGTH_GROUPS];
    let mut n = 0;
    let mut v = len;
    loop {
        groups[n] = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::{Connection, Event};
    use crate::limits::Limits;
    use crate::{CloseCode, CloseFrame, ProtocolError, Side, Variant};

    /// VARIANTS.md §1: `Hello` as a sentinel text frame (both drafts).
    const HELLO: &[u8] = &[0x00, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0xff];
    /// VARIANTS.md §2: the Hixie-76 closing handshake.
    const CLOSE_76: &[u8] = &[0xff, 0x00];

    fn conn(side: Side, codec: SentinelCodec, limits: Limits) -> Connection {
        let variant = if codec.closing_handshake {
            Variant::Hixie76
        } else {
            Variant::Hixie75
        };
        Connection::new(side, variant, Box::new(codec), limits)
    }

    fn events(c: &mut Connection) -> Vec<Event> {
        std::iter::from_fn(|| c.next_event()).collect()
    }

    #[test]
    fn hello_vector_both_ways() {
        for codec in [SentinelCodec::hixie75, SentinelCodec::hixie76] {
            let mut c = codec();
            let mut out = Vec::new();
            c.encode(true, OpCode::Text, b"Hello", &mut out);
            assert_eq!(out, HELLO);
            let (head, used) = c.decode_head(HELLO).unwrap().unwrap();
            assert_eq!(
                (head.opcode, head.len, used),
                (OpCode::Text, PayloadLen::Delimited, 1)
            );
            let mut p = Vec::new();
            assert_eq!(
                c.decode_payload(&HELLO[1..], Some(&mut p)).unwrap(),
                (6, true)
            );
            assert_eq!(p, b"Hello");
        }
    }

    #[test]
    fn close_is_ff00_on_76_and_discarded_on_75() {
        let mut c = SentinelCodec::hixie76();
        let (head, used) = c.decode_head(CLOSE_76).unwrap().unwrap();
        assert_eq!(
            (head.opcode, head.len, used),
            (OpCode::Close, PayloadLen::Known(0), 2)
        );
        let mut out = Vec::new();
        c.encode(true, OpCode::Close, &[], &mut out);
        assert_eq!(out, CLOSE_76);
        let mut c = SentinelCodec::hixie75();
        let (head, _) = c.decode_head(CLOSE_76).unwrap().unwrap();
        assert_eq!(head.opcode, OpCode::Ignored);
        out.clear();
        c.encode(true, OpCode::Close, &[], &mut out);
        assert!(out.is_empty());
        assert_eq!(c.close_style(), CloseStyle::TcpOnly);
    }

    #[test]
    fn length_prefixed_frames_are_discarded_any_chunking() {
        // 0x80 frame of 200 bytes (length 0x81 0x48), a 0x05 delimited frame, then Hello.
        let mut wire = vec![0x80, 0x81, 0x48];
        wire.extend(std::iter::repeat_n(0xff, 200));
        wire.extend_from_slice(&[0x05, b'x', b'y', 0xff]);
        wire.extend_from_slice(HELLO);
        let mut out = Vec::new();
        SentinelCodec::hixie76().encode(true, OpCode::Binary, &[0xff; 200], &mut out);
        assert_eq!(&out[..3], &wire[..3]);
        for chunk in [1, 2, 3, 5, 1000] {
            let mut s = conn(Side::Server, SentinelCodec::hixie76(), Limits::default());
            for piece in wire.chunks(chunk) {
                s.receive_data(piece);
            }
            assert_eq!(
                events(&mut s),
                vec![Event::Text("Hello".into())],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn closing_handshake_76() {
        let mut c = conn(Side::Client, SentinelCodec::hixie76(), Limits::default());
        let mut s = conn(Side::Server, SentinelCodec::hixie76(), Limits::default());
        c.send_text("bye").unwrap();
        c.send_close(CloseFrame::new(CloseCode::NO_STATUS, ""))
            .unwrap();
        let wire = c.take_output();
        assert_eq!(&wire[wire.len() - 2..], CLOSE_76);
        s.receive_data(&wire);
        assert_eq!(
            events(&mut s),
            vec![
                Event::Text("bye".into()),
                Event::Close(CloseFrame::new(CloseCode::NO_STATUS, ""))
            ]
        );
        assert_eq!(s.take_output(), CLOSE_76);
        assert!(s.wants_transport_closed());
    }

    #[test]
    fn hixie75_closes_by_tcp_only() {
        let mut c = conn(Side::Client, SentinelCodec::hixie75(), Limits::default());
        c.send_close(CloseFrame::new(CloseCode::NORMAL, ""))
            .unwrap();
        assert!(c.take_output().is_empty());
        assert!(c.wants_write_shutdown() && !c.wants_transport_closed());
        // the peer's last message still arrives, then its end of stream closes cleanly
        c.receive_data(HELLO);
        c.receive_eof();
        assert_eq!(
            events(&mut c),
            vec![
                Event::Text("Hello".into()),
                Event::Close(CloseFrame::new(CloseCode::NORMAL, ""))
            ]
        );
        assert!(c.wants_transport_closed());
        let mut s = conn(Side::Server, SentinelCodec::hixie75(), Limits::default());
        s.receive_data(HELLO);
        s.receive_eof();
        assert_eq!(
            events(&mut s),
            vec![
                Event::Text("Hello".into()),
                Event::Close(CloseFrame::new(CloseCode::NORMAL, ""))
            ]
        );
    }

    #[test]
    fn binary_ping_fragments_are_refused_by_the_message_layer() {
        let mut c = conn(Side::Client, SentinelCodec::hixie76(), Limits::default());
        assert!(c.send_binary(b"x").is_err());
        assert!(c.send_ping(b"x").is_err());
        assert!(c.send_frame(OpCode::Text, false, b"x").is_err());
    }

    #[test]
    fn invalid_utf8_fails_the_connection() {
        let mut s = conn(Side::Server, SentinelCodec::hixie76(), Limits::default());
        s.receive_data(&[0x00, b'a', 0xc3, 0x28, 0xff]);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::InvalidUtf8)]
        );
        assert_eq!(s.take_output(), CLOSE_76);
    }

    #[test]
    fn raw_ff_in_text_is_never_injected() {
        let mut out = Vec::new();
        SentinelCodec::hixie76().encode(true, OpCode::Text, &[b'a', 0xff, 0x00, b'b'], &mut out);
        assert_eq!(memchr::memchr(0xff, &out), Some(out.len() - 1));
    }

    #[test]
    fn unterminated_text_is_bounded_by_max_frame_size() {
        let limits = Limits {
            max_frame_size: 1000,
            ..Limits::default()
        };
        // Exactly at the limit is fine, one byte further fails, in any chunking.
        for chunk in [1, 7, 999, 1_000_000] {
            let mut s = conn(Side::Server, SentinelCodec::hixie76(), limits.clone());
            let mut wire = vec![0x00];
            wire.extend(std::iter::repeat_n(b'a', 1000));
            wire.push(0xff);
            for piece in wire.chunks(chunk) {
                s.receive_data(piece);
            }
            assert_eq!(events(&mut s), vec![Event::Text("a".repeat(1000))]);
            let mut s = conn(Side::Server, SentinelCodec::hixie76(), limits.clone());
            s.receive_data(&[0x00]);
            let big = vec![b'a'; 10_000];
            for piece in big.chunks(chunk) {
                s.receive_data(piece);
            }
            assert_eq!(
                events(&mut s),
                vec![Event::Failed(ProtocolError::FrameTooLarge)]
            );
            // the discarded 0x01 kind is bounded too
            let mut s = conn(Side::Server, SentinelCodec::hixie76(), limits.clone());
            s.receive_data(&[0x01]);
            for piece in big.chunks(chunk) {
                s.receive_data(piece);
            }
            assert_eq!(
                events(&mut s),
                vec![Event::Failed(ProtocolError::FrameTooLarge)]
            );
        }
    }

    #[test]
    fn huge_or_endless_length_prefix() {
        let mut c = SentinelCodec::hixie76();
        assert!(c.decode_head(&[0x80; 12]).is_err());
        // 2^63 announced: the message layer refuses it before reading any payload
        let mut s = conn(Side::Server, SentinelCodec::hixie76(), Limits::default());
        s.receive_data(&[
            0x80, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ]);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::FrameTooLarge)]
        );
    }
}
