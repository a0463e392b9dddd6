//! Framing families: one module per wire format, all behind [`Codec`].
//!
//! | module | used by | layout |
//! |---|---|---|
//! | [`sentinel`] | Hixie-75, Hixie-76 = HyBi-00 | `00` text `FF`; high-bit types length-prefixed and discarded; `FF 00` closes (-76 only) |
//! | [`hybi01`] | HyBi-01..-03 | MORE/RSV/opcode, RSV4 + length; opcodes 0–5; never masked |
//! | [`hybi04`] | HyBi-04, -05, -06 | FIN + the -01 layout; client frames = 4-byte key in clear + the whole frame XORed (20-byte SHA-1 pad in -04, the key in -05/-06) |
//! | [`rfc6455`] | HyBi-07, -08, RFC 6455, and the 2011 proposals that reuse it | FIN/RSV/opcode, MASK bit + key after the length (§5.2) |
//! | [`aes_ctr`] | `connect-masked` | 8-byte nonce ‖ AES-128-CTR(whole RFC 6455 frame, MASK = 0) |
//!
//! The message layer ([`crate::Connection`]) drives a codec in two steps per frame:
//! [`Codec::decode_head`] until a head is complete, then [`Codec::decode_payload`] with
//! whatever payload bytes have arrived, as often as needed. Payload bytes are unmasked
//! (or decrypted) while they are copied into the message buffer, so a frame never has to
//! sit whole in a read buffer and invalid UTF-8 is seen as soon as it arrives.

use crate::error::ProtocolError;

pub mod aes_ctr;
pub mod hybi01;
pub mod hybi04;
pub mod rfc6455;
pub mod sentinel;

/// The kinds of frame every family maps its opcodes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// Continues a fragmented message.
    Continuation,
    /// Starts a text message.
    Text,
    /// Starts a binary message.
    Binary,
    /// Closing handshake.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
    /// A frame the family says to read and discard (Hixie's length-prefixed frames).
    Ignored,
}

impl OpCode {
    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// How long a payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadLen {
    /// Announced in the head.
    Known(u64),
    /// Ends at a sentinel byte (Hixie's `0x00 … 0xFF` frames).
    Delimited,
}

/// A decoded frame head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    /// Last frame of its message.
    pub fin: bool,
    /// RSV1 (permessage-deflate's "compressed" bit).
    pub rsv1: bool,
    /// Frame kind.
    pub opcode: OpCode,
    /// Payload length.
    pub len: PayloadLen,
}

/// How a family ends a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseStyle {
    /// No closing handshake: closing the TCP connection is the close (Hixie-75).
    TcpOnly,
    /// A close frame without a status code (`FF 00` in Hixie-76; HyBi-01..-05 close
    /// frames). We send an empty body; a received body is echoed in the answer (HyBi-03's
    /// close-body matching) and reported as the reason when it is UTF-8.
    BareFrame,
    /// A close frame with an optional status code and reason (HyBi-06+).
    WithCode,
}

/// What a family can carry (the message layer refuses to send what it cannot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Binary messages.
    pub binary: bool,
    /// Ping/pong.
    pub ping: bool,
    /// Fragmented messages.
    pub fragmentation: bool,
}

/// One framing family's encoder and decoder for one end of a connection.
pub trait Codec: Send + std::fmt::Debug {
    /// Parses a frame head from the start of `buf`. `Ok(None)` means more bytes are
    /// needed (a head never exceeds [`MAX_HEAD_LEN`] bytes). On success, returns the head
    /// and how many bytes of `buf` it used, and the codec expects that frame's payload.
    fn decode_head(&mut self, buf: &[u8]) -> Result<Option<(FrameHead, usize)>, ProtocolError>;

    /// Moves payload bytes of the current frame from `src` to `dst` (unmasked or
    /// decrypted), or drops them when `dst` is `None`. Returns how many bytes of `src`
    /// it used and whether the frame is complete. Must be called (possibly with an empty
    /// `src`) until the frame is complete, even for an empty payload.
    fn decode_payload(
        &mut self,
        src: &[u8],
        dst: Option<&mut Vec<u8>>,
    ) -> Result<(usize, bool), ProtocolError>;

    /// Decodes in place the whole payload of the frame whose head was just decoded, when
    /// `payload` holds exactly all of it; returns `false`, doing nothing, when this codec
    /// can only decode by copying (the caller then uses [`Codec::decode_payload`]).
    ///
    /// Performance: lets [`crate::Connection::receive_data_with`] hand a message that sits
    /// whole in the read buffer to the application without copying it into a `Vec`
    /// (docs/benchmarks.md, "borrowed messages").
    fn decode_payload_in_place(&mut self, _payload: &mut [u8]) -> bool {
        false
    }

    /// The fast path of [`crate::Connection::receive_data_with`] in one call: when `buf`
    /// starts with a whole, final, uncompressed text or binary frame of at most `max_len`
    /// payload bytes that this end may accept, decodes its payload in place and returns
    /// `(text, payload start, frame end)`. Otherwise returns `None` and changes nothing:
    /// the caller goes through [`Codec::decode_head`], which also reports any error.
    ///
    /// Performance: the generic head path (`decode_head` + checks + `decode_payload`)
    /// costs about 250 instructions per 16-byte frame; a codec that knows its layout does
    /// it in about 40 (docs/benchmarks.md, "borrowed messages").
    fn decode_whole_data_frame(
        &mut self,
        _buf: &mut [u8],
        _max_len: u64,
    ) -> Option<(bool, usize, usize)> {
        None
    }

    /// Appends one frame to `out` (masking or encrypting it if this end must).
    fn encode(&mut self, fin: bool, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>);

    /// True when [`Codec::encode`] writes data payloads unchanged after a head that
    /// [`Codec::encode_head_verbatim`] can write alone (no masking, encryption or
    /// trailer on this end), so a caller may write the payload from its own buffer.
    fn frames_verbatim(&self) -> bool {
        false
    }

    /// Appends only the head of the frame [`Codec::encode`] would write for a payload of
    /// `len` bytes, when [`Codec::frames_verbatim`]; returns `false`, writing nothing,
    /// otherwise.
    fn encode_head_verbatim(
        &mut self,
        _fin: bool,
        _opcode: OpCode,
        _len: usize,
        _out: &mut Vec<u8>,
    ) -> bool {
        false
    }

    /// How this family closes.
    fn close_style(&self) -> CloseStyle;

    /// What this family can carry.
    fn capabilities(&self) -> Capabilities;

    /// Allow RSV1 on data frames (set when permessage-deflate was negotiated).
    fn set_allow_rsv1(&mut self, _allow: bool) {}

    /// Appends one frame with RSV1 as given (permessage-deflate's "compressed" bit).
    /// Families without RSV1 never negotiate an extension that sets it.
    fn encode_rsv1(
        &mut self,
        fin: bool,
        rsv1: bool,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        debug_assert!(!rsv1, "this framing family has no RSV1");
        self.encode(fin, opcode, payload, out)
    }
}

/// Longest frame head of any family: RFC 6455's 14 bytes, HyBi-04's 4-byte nonce, the
/// AES-CTR proposal's nonce and tag; Hixie length groups are cut off well before this.
pub const MAX_HEAD_LEN: usize = 64;

/// Tracks the remaining payload of a length-prefixed frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Payload bytes still to come.
    pub left: u64,
    /// Payload bytes already passed (the mask phase).
    pub done: u64,
}

impl Remaining {
    /// Starts a payload of `len` bytes.
    pub fn new(len: u64) -> Self {
        Remaining { left: len, done: 0 }
    }

    /// How many of `available` bytes belong to this payload.
    pub fn take(&self, available: usize) -> usize {
        (self.left.min(available as u64)) as usize
    }

    /// Records `n` bytes passed.
    pub fn advance(&mut self, n: usize) {
        self.left -= n as u64;
        self.done += n as u64;
    }
}

/// Writes the 7-bit / 16-bit / 64-bit length used by HyBi-01 onwards (RFC 6455 §5.2),
/// with `flag` (MASK or RSV4) in the top bit of the second byte.
pub fn write_len(out: &mut Vec<u8>, flag: bool, len: usize) {
    let flag = if flag { 0x80 } else { 0 };
    if len < 126 {
        out.push(flag | len as u8);
    } else if len <= 0xffff {
        out.push(flag | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(flag | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Reads the length field that starts at `buf[1]` (7-bit, or 126/127 escapes), checking
/// minimal encoding and the 64-bit top bit. Returns `(len, bytes used after byte 1)`.
pub fn read_len(buf: &[u8], strict_minimal: bool) -> Result<Option<(u64, usize)>, ProtocolError> {
    let short = buf[1] & 0x7f;
    match short {
        0..=125 => Ok(Some((short as u64, 0))),
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            let len = u16::from_be_bytes([buf[2], buf[3]]) as u64;
            if strict_minimal && len < 126 {
                return Err(ProtocolError::NonMinimalLength);
            }
            Ok(Some((len, 2)))
        }
        _ => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let len = u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes"));
            if len >> 63 != 0 {
                return Err(ProtocolError::NonMinimalLength);
            }
            if strict_minimal && len <= 0xffff {
                return Err(ProtocolError::NonMinimalLength);
            }
            Ok(Some((len, 8)))
        }
    }
}
