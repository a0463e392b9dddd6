//! The message layer shared by every variant: reassembly of fragmented messages, control
//! frames interleaved with them, the closing handshake, streaming UTF-8 validation and
//! limits. Bytes in ([`Connection::receive_data`]), events out ([`Connection::next_event`]),
//! bytes to write ([`Connection::pending_output`]).
//!
//! Memory: between messages a connection holds no buffer at all. Incoming payload goes
//! straight from the caller's read buffer into the message being assembled (unmasked on the
//! way); only an incomplete frame head (< 64 bytes) is ever kept back. Output accumulates
//! in one buffer so that every frame ready for the socket leaves in one write.
//!
//! With permessage-deflate ([`Connection::enable_deflate`]), a compressed message's
//! payload is inflated piece by piece as it arrives, counted against
//! [`Limits::max_message_size`] and UTF-8-validated as it is produced
//! ([`crate::extensions::deflate`]).

use std::collections::VecDeque;

use crate::close::{CloseCode, CloseFrame};
use crate::error::ProtocolError;
use crate::extensions::deflate::{DeflateContext, Negotiated};
use crate::framing::{CloseStyle, Codec, FrameHead, OpCode, PayloadLen, MAX_HEAD_LEN};
use crate::limits::Limits;
use crate::utf8::{into_string_validated, Utf8State, Utf8Validator};
use crate::{Side, Variant};

/// A complete message, as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (its payload).
    Ping(Vec<u8>),
    /// A pong (its payload).
    Pong(Vec<u8>),
    /// A close frame.
    Close(Option<CloseFrame>),
}

/// What happened on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete text message.
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A ping arrived; a pong was already queued.
    Ping(Vec<u8>),
    /// A pong arrived.
    Pong(Vec<u8>),
    /// The peer closed (close frame, or end of stream for Hixie-75 and for abnormal ends,
    /// which report [`CloseCode::ABNORMAL`]).
    Close(CloseFrame),
    /// The peer broke the protocol; taking this event queues a close frame with the
    /// matching code, and the transport should be closed once it is written.
    Failed(ProtocolError),
}

/// A complete text or binary message lent to the application by
/// [`Connection::receive_data_with`]: it borrows the caller's read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataRef<'a> {
    /// A text message (valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// What [`Connection::whole_frame`] did with the start of the input.
enum Whole {
    /// No complete head: the normal path takes the input as it is.
    No,
    /// A head (of `n` bytes) that starts a frame the normal path must read.
    Started(usize),
    /// A whole data frame, decoded in place at `input[start..end]`; `end` bytes used.
    Done {
        text: bool,
        start: usize,
        end: usize,
    },
}

/// Where the closing handshake stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    Closing,
    /// Both close frames exchanged, or the connection failed: close the transport once
    /// the pending output is written (a client waits briefly for the server to do it
    /// first, RFC 6455 §7.1.1).
    Closed,
}

/// Why a send was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The closing handshake started; no data may follow our close frame.
    Closed,
    /// This variant's framing cannot carry it (binary on Hixie, ping on Hixie).
    Unsupported(&'static str),
    /// Control frame payload over 125 bytes.
    ControlTooLong,
    /// A fragment sent out of order (continuation without a start, or a new message
    /// while a fragmented one is open).
    BadFragmentation,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Closed => write!(f, "connection is closing"),
            SendError::Unsupported(what) => write!(f, "this variant cannot send {what}"),
            SendError::ControlTooLong => write!(f, "control frame payload over 125 bytes"),
            SendError::BadFragmentation => write!(f, "fragment out of order"),
        }
    }
}

impl std::error::Error for SendError {}

#[derive(Debug)]
struct Assembling {
    text: bool,
    /// RSV1 was set on its first frame (permessage-deflate).
    compressed: bool,
    data: Vec<u8>,
    utf8: Utf8Validator,
    fragments: usize,
}

/// The frame being received.
#[derive(Debug)]
struct Reading {
    head: FrameHead,
    received: u64,
}

/// The receive state of a frame or message in progress (see `Connection::rx`).
#[derive(Debug, Default)]
struct Receiving {
    /// An incomplete frame head held back from the previous read.
    partial_head: Vec<u8>,
    reading: Option<Reading>,
    message: Option<Assembling>,
    control: Vec<u8>,
}

impl Receiving {
    /// Nothing in progress: the box can go.
    fn is_idle(&self) -> bool {
        self.reading.is_none()
            && self.message.is_none()
            && self.partial_head.is_empty()
            && self.control.is_empty()
    }
}

/// A WebSocket connection after its opening handshake, for one end.
#[derive(Debug)]
pub struct Connection {
    side: Side,
    variant: Variant,
    codec: Box<dyn Codec>,
    limits: FrameLimits,
    state: ConnectionState,
    close_received: bool,
    /// Boxed, like `deferred_close`: rare, and inline they cost every idle connection
    /// ~60 bytes (docs/benchmarks.md, "idle memory").
    failed: Option<Box<ProtocolError>>,
    /// What is being received when a frame or message spans reads; `None` between
    /// frames. Whole frames (the common case) never touch it, and inline it cost every
    /// connection ~140 bytes, idle ones included (docs/benchmarks.md, "idle memory").
    rx: Option<Box<Receiving>>,
    events: VecDeque<Event>,
    out: Vec<u8>,
    out_pos: usize,
    /// An outgoing fragmented message is open (and whether it is text).
    sending_fragmented: Option<bool>,
    /// The close frame to write once the application has taken the events that came
    /// before the peer's close or the failure: messages received earlier can still be
    /// answered (Autobahn 3.2, 5.15: strict order), and nothing follows our close.
    deferred_close: Option<Box<Deferred>>,
    /// permessage-deflate, when negotiated (boxed: connections without it pay 8 bytes).
    deflate: Option<Box<DeflateContext>>,
    /// The outgoing fragmented message is compressed.
    sending_compressed: bool,
    /// Set only inside [`Connection::receive_data_lending`]: sends of lent payloads
    /// that point into its input instead of copying them (boxed: most reads never lend).
    lending: Option<Box<Lending>>,
}

/// The [`Limits`] that still apply once the handshake is over: kept apart so that each
/// connection carries 24 bytes of them, not 40 (the bytes the `lending` field needed to
/// keep `WebSocket<TcpStream>` in tokio's 384-byte task cell; docs/benchmarks.md,
/// "idle memory").
#[derive(Clone, Copy, Debug)]
struct FrameLimits {
    max_frame_size: u64,
    max_message_size: usize,
    max_fragments: usize,
}

impl From<&Limits> for FrameLimits {
    fn from(l: &Limits) -> Self {
        FrameLimits {
            max_frame_size: l.max_frame_size,
            max_message_size: l.max_message_size,
            max_fragments: l.max_fragments,
        }
    }
}

/// The input of one [`Connection::receive_data_lending`] call, and the payloads queued
/// from it without a copy.
#[derive(Debug)]
struct Lending {
    /// Address and length of the input: a payload to send lies inside it or is copied.
    /// Only compared, never dereferenced: the bytes are reached through the input slice.
    base: usize,
    len: usize,
    segments: Vec<LentSegment>,
}

/// `len` bytes of the input, from offset `from`, belong in the output at index `at` of
/// `out` (before the byte now at that index).
#[derive(Clone, Copy, Debug)]
struct LentSegment {
    at: usize,
    from: usize,
    len: usize,
}

/// Payloads shorter than this are copied even when they could be lent: a copy of a few
/// KiB costs less than the system call's work for one more `iovec`.
const LEND_MIN: usize = 8 * 1024;

/// Most payloads lent per read; past it the rest is copied (bounds the `iovec` array).
const MAX_LENT: usize = 16;

/// What to do when the last event (close or failure) is taken.
#[derive(Debug)]
enum Deferred {
    /// Reply to the peer's close frame (echoing its code).
    Reply(CloseFrame),
    /// Reply to the peer's close frame with the same body (families without codes).
    Echo(Vec<u8>),
    /// Fail the connection with this close frame.
    Fail(CloseFrame),
    /// The transport ended: nothing to write.
    Eof,
}

/// Output buffers larger than this are released once written, so an idle connection
/// keeps no memory from a past burst.
const KEEP_OUTPUT_CAPACITY: usize = 16 * 1024;

impl Connection {
    /// A connection speaking `codec`'s framing for `side`.
    pub fn new(side: Side, variant: Variant, codec: Box<dyn Codec>, limits: Limits) -> Self {
        Connection {
            side,
            variant,
            codec,
            limits: FrameLimits::from(&limits),
            state: ConnectionState::Open,
            close_received: false,
            failed: None,
            rx: None,
            events: VecDeque::new(),
            out: Vec::new(),
            out_pos: 0,
            sending_fragmented: None,
            deferred_close: None,
            deflate: None,
            sending_compressed: false,
            lending: None,
        }
    }

    /// Turns permessage-deflate on with the parameters the handshake agreed: RSV1 is
    /// then allowed on the first frame of a data message, and every outgoing data message
    /// is compressed.
    pub fn enable_deflate(&mut self, negotiated: Negotiated) {
        self.codec.set_allow_rsv1(true);
        self.deflate = Some(Box::new(DeflateContext::new(negotiated)));
    }

    /// The permessage-deflate parameters in force, if negotiated.
    pub fn deflate(&self) -> Option<&Negotiated> {
        self.deflate.as_deref().map(DeflateContext::negotiated)
    }

    #[cfg(test)]
    pub(crate) fn deflate_context(&self) -> Option<&DeflateContext> {
        self.deflate.as_deref()
    }

    /// Which end this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The handshake variant whose framing this connection speaks.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Closing-handshake state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The protocol error that failed the connection, if any.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.failed.as_deref()
    }

    /// The codec (to adjust it after negotiation, e.g. permessage-deflate's RSV1).
    pub fn codec_mut(&mut self) -> &mut dyn Codec {
        self.codec.as_mut()
    }

    /// The next event, if any.
    pub fn next_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if matches!(event, Event::Close(_) | Event::Failed(_)) {
            self.apply_deferred_close();
        }
        Some(event)
    }

    fn apply_deferred_close(&mut self) {
        match self.deferred_close.take().map(|d| *d) {
            Some(Deferred::Reply(frame)) | Some(Deferred::Fail(frame)) => {
                if self.state == ConnectionState::Open {
                    self.write_close(&frame);
                }
            }
            Some(Deferred::Echo(body)) => {
                if self.state == ConnectionState::Open {
                    self.codec.encode(true, OpCode::Close, &body, &mut self.out);
                }
            }
            Some(Deferred::Eof) | None => {}
        }
        self.state = ConnectionState::Closed;
    }

    /// How this connection's framing family closes.
    pub fn close_style(&self) -> CloseStyle {
        self.codec.close_style()
    }

    /// True when events are waiting in [`Connection::next_event`].
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Bytes waiting to be written to the transport.
    #[inline]
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.out_pos..self.lent_from()]
    }

    /// Where the output stops being whole in `out`: at the first payload lent from the
    /// input of [`Connection::receive_data_lending`] (from a handler of that call, the
    /// pending output is what comes before it), else its end.
    #[inline]
    fn lent_from(&self) -> usize {
        match self.lending.as_deref().and_then(|l| l.segments.first()) {
            Some(first) => first.at,
            None => self.out.len(),
        }
    }

    /// Marks `n` bytes of [`Connection::pending_output`] as written.
    pub fn advance_output(&mut self, n: usize) {
        self.out_pos += n;
        debug_assert!(self.out_pos <= self.lent_from());
        // Lent payloads keep their places in `out` until the lending call writes them.
        if self.out_pos == self.out.len() && !self.has_lent() {
            self.out_pos = 0;
            if self.out.capacity() > KEEP_OUTPUT_CAPACITY {
                self.out = Vec::new();
            } else {
                self.out.clear();
            }
        }
    }

    /// Takes all pending output at once.
    pub fn take_output(&mut self) -> Vec<u8> {
        if self.has_lent() {
            let head = self.pending_output().to_vec();
            self.advance_output(head.len());
            return head;
        }
        let mut out = std::mem::take(&mut self.out);
        if self.out_pos > 0 {
            out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        out
    }

    /// True when the transport should be closed once the pending output is written.
    pub fn wants_transport_closed(&self) -> bool {
        self.state == ConnectionState::Closed
    }

    /// True when, the closing handshake over, this end should let the peer close the
    /// transport first: an RFC 6455 (and HyBi-01..-17) client waits for the server
    /// (§7.1.1), bounded by a timeout. Not so for a failed connection, nor for Hixie:
    /// in Hixie-76 both ends close TCP once the `FF 00` frames have crossed (the draft's
    /// server steps: send `FF 00`, wait for the client's, close; see docs/drafts.md), and
    /// servers such as faye's wait for the client to do it; Hixie-75 has nothing to wait
    /// for.
    pub fn waits_for_peer_close(&self) -> bool {
        self.side == Side::Client
            && self.failed.is_none()
            && !matches!(self.variant, Variant::Hixie75 | Variant::Hixie76)
    }

    /// True when the transport should shut down its write side (TCP FIN) and keep
    /// reading: we closed a connection whose family has no close frame (Hixie-75), and
    /// the peer's end of stream, reported as a normal close, completes the close.
    pub fn wants_write_shutdown(&self) -> bool {
        self.state == ConnectionState::Closing && self.codec.close_style() == CloseStyle::TcpOnly
    }

    /// Feeds bytes read from the transport. Events become available through
    /// [`Connection::next_event`]; replies (pongs, close) are queued as output.
    pub fn receive_data(&mut self, mut input: &[u8]) {
        loop {
            if self.close_received || self.failed.is_some() {
                return; // nothing may follow a close frame (§5.5.1)
            }
            if input.is_empty() && !self.is_reading() {
                return;
            }
            match self.step(input) {
                Ok((used, progressed)) => {
                    input = &input[used..];
                    if !progressed {
                        return;
                    }
                }
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
    }

    /// Like [`Connection::receive_data`], but a text or binary message that arrives whole
    /// in one unfragmented frame inside `input` is unmasked in place and lent to
    /// `on_message` instead of being copied into a new buffer and queued as an event.
    /// `on_message` gets the connection too, to queue replies. Messages that span reads
    /// or frames take the usual path and come out of [`Connection::next_event`]; so that
    /// the order of messages is kept, nothing is lent while events are waiting. `input`
    /// is left unmasked where frames were decoded in place.
    ///
    /// Performance: an echo through `next_event` costs a `Vec` allocation and free, a
    /// queue push and pop, and a copy per message; lent, none of these (docs/benchmarks.md,
    /// "borrowed messages").
    pub fn receive_data_with<F>(&mut self, mut input: &mut [u8], mut on_message: F)
    where
        F: FnMut(&mut Connection, DataRef<'_>),
    {
        loop {
            if self.close_received || self.failed.is_some() {
                return; // nothing may follow a close frame (§5.5.1)
            }
            if input.is_empty() && !self.is_reading() {
                return;
            }
            let idle = self.rx.as_ref().is_none_or(|rx| rx.is_idle()) && self.events.is_empty();
            if idle {
                let max = self
                    .limits
                    .max_frame_size
                    .min(self.limits.max_message_size as u64);
                // The codec's own whole-frame check first (RFC 6455: ~40 instructions),
                // then the generic one; both end in the same lending.
                let whole = match self.codec.decode_whole_data_frame(input, max) {
                    Some((text, start, end)) => Whole::Done { text, start, end },
                    None => match self.whole_frame(input) {
                        Ok(whole) => whole,
                        Err(e) => {
                            self.fail(e);
                            return;
                        }
                    },
                };
                match whole {
                    Whole::Done { text, start, end } => {
                        let (frame, rest) = std::mem::take(&mut input).split_at_mut(end);
                        input = rest;
                        let payload = &frame[start..];
                        let msg = if text {
                            match simdutf8::basic::from_utf8(payload) {
                                Ok(t) => DataRef::Text(t),
                                Err(_) => {
                                    self.fail(ProtocolError::InvalidUtf8);
                                    return;
                                }
                            }
                        } else {
                            DataRef::Binary(payload)
                        };
                        on_message(self, msg);
                        continue;
                    }
                    Whole::Started(used) => {
                        input = &mut std::mem::take(&mut input)[used..];
                        continue;
                    }
                    Whole::No => {}
                }
            }
            match self.step(input) {
                Ok((used, progressed)) => {
                    input = &mut std::mem::take(&mut input)[used..];
                    if !progressed {
                        return;
                    }
                }
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
    }

    /// [`Connection::receive_data_with`], and then a write of the output through `write`,
    /// where payloads the application sent from its lent messages go out straight from
    /// `input` (a vectored write: no copy into the output buffer). What `write` does not
    /// take is then copied into [`Connection::pending_output`] as usual, so when this
    /// returns the connection no longer refers to `input`. `write` is called until it has
    /// taken everything or reports `WouldBlock`; returns the bytes it took.
    ///
    /// Performance: an echo of a 64 KiB message costs a 64 KiB copy less, ~2 µs of ~18
    /// on the reference machine (docs/benchmarks.md, "session 6"). Payloads under 8 KiB
    /// are still copied, and nothing is lent with permessage-deflate or on a side that
    /// masks.
    ///
    /// # Errors
    /// The first error of `write` other than `WouldBlock` and `Interrupted` (the output
    /// is then still all in [`Connection::pending_output`], minus what was written).
    pub fn receive_data_lending<F, W>(
        &mut self,
        input: &mut [u8],
        on_message: F,
        mut write: W,
    ) -> std::io::Result<usize>
    where
        F: FnMut(&mut Connection, DataRef<'_>),
        W: FnMut(&[std::io::IoSlice<'_>]) -> std::io::Result<usize>,
    {
        use std::io::{ErrorKind, IoSlice};
        // With permessage-deflate every data message is compressed: nothing to lend.
        if input.len() >= LEND_MIN && self.deflate.is_none() && self.codec.frames_verbatim() {
            self.lending = Some(Box::new(Lending {
                base: input.as_ptr() as usize,
                len: input.len(),
                segments: Vec::new(),
            }));
        }
        self.receive_data_with(input, on_message);
        let Some(lending) = self.lending.take() else {
            return Ok(0);
        };
        if lending.segments.is_empty() {
            return Ok(0);
        }
        let input: &[u8] = input;
        // The output in order: `out` up to each segment, the segment, then the rest.
        let mut pieces: [&[u8]; 2 * MAX_LENT + 1] = [&[]; 2 * MAX_LENT + 1];
        let mut count = 0;
        let mut pos = self.out_pos;
        for seg in &lending.segments {
            pieces[count] = &self.out[pos..seg.at];
            pieces[count + 1] = &input[seg.from..seg.from + seg.len];
            count += 2;
            pos = seg.at;
        }
        pieces[count] = &self.out[pos..];
        count += 1;
        let pieces = &pieces[..count];
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        let mut slices: [IoSlice<'_>; 2 * MAX_LENT + 1] =
            std::array::from_fn(|i| IoSlice::new(pieces.get(i).copied().unwrap_or(&[])));
        let mut remaining = &mut slices[..count];
        let mut written = 0;
        let mut result = Ok(());
        while written < total {
            match write(remaining) {
                Ok(0) => {
                    result = Err(ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => {
                    written += n;
                    IoSlice::advance_slices(&mut remaining, n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // What was not written becomes ordinary output.
        let mut rest = Vec::with_capacity(total - written);
        let mut skip = written;
        for piece in pieces {
            let take = skip.min(piece.len());
            skip -= take;
            rest.extend_from_slice(&piece[take..]);
        }
        self.out_pos = 0;
        if rest.is_empty() && self.out.capacity() <= KEEP_OUTPUT_CAPACITY {
            self.out.clear();
        } else {
            self.out = rest;
        }
        result.map(|()| written)
    }

    /// The fast path of [`Connection::receive_data_with`]: a whole, final, uncompressed
    /// text or binary frame at the start of `input` is decoded in place. Anything else is
    /// left to the normal path; a frame head decoded here that turns out not to qualify is
    /// registered as the normal path would have, so the codec's state stays consistent.
    fn whole_frame(&mut self, input: &mut [u8]) -> Result<Whole, ProtocolError> {
        let Some((head, used)) = self.codec.decode_head(input)? else {
            return Ok(Whole::No); // the normal path keeps the partial head
        };
        let whole = match (head.opcode, head.len) {
            (OpCode::Text | OpCode::Binary, PayloadLen::Known(len))
                if head.fin
                    && !head.rsv1
                    && len <= self.limits.max_frame_size
                    && len <= self.limits.max_message_size as u64
                    && len <= (input.len() - used) as u64 =>
            {
                Some(used + len as usize)
            }
            _ => None,
        };
        if let Some(end) = whole {
            if self.codec.decode_payload_in_place(&mut input[used..end]) {
                return Ok(Whole::Done {
                    text: head.opcode == OpCode::Text,
                    start: used,
                    end,
                });
            }
        }
        // As `read_head` would have done; the caller's normal path resumes after the head.
        self.start_frame(head)?;
        Ok(Whole::Started(used))
    }

    /// Processes one head or one payload chunk; returns the input bytes used and
    /// whether a head was completed or a frame finished (else more input is needed).
    fn step(&mut self, input: &[u8]) -> Result<(usize, bool), ProtocolError> {
        let Some(rx) = self.rx.as_deref_mut().filter(|rx| rx.reading.is_some()) else {
            return self.read_head(input);
        };
        let reading = rx.reading.as_mut().expect("filtered");
        let head = reading.head;
        let is_data = matches!(
            head.opcode,
            OpCode::Text | OpCode::Binary | OpCode::Continuation
        );
        if is_data && rx.message.as_ref().is_some_and(|m| m.compressed) {
            let deflate = self.deflate.as_mut().expect("RSV1 only when negotiated");
            let mut compressed = std::mem::take(&mut deflate.scratch);
            compressed.clear();
            let decoded = self.codec.decode_payload(input, Some(&mut compressed));
            let (used, done) = match decoded {
                Ok(r) => r,
                Err(e) => {
                    deflate.scratch = compressed;
                    return Err(e);
                }
            };
            reading.received += used as u64;
            let msg = rx.message.as_mut().expect("checked above");
            let limit = self.limits.max_message_size;
            let (text, utf8) = (msg.text, &mut msg.utf8);
            let mut check = |data: &[u8]| {
                if text && utf8.feed(data) == Utf8State::Invalid {
                    return Err(ProtocolError::InvalidUtf8);
                }
                Ok(())
            };
            let mut result = deflate.decompress(&compressed, &mut msg.data, limit, &mut check);
            deflate.scratch = compressed;
            if result.is_ok() && done && head.fin {
                result = deflate.finish_message(&mut msg.data, limit, &mut check);
            }
            result?;
            if done {
                rx.reading = None;
                self.frame_complete(head)?;
            }
            return Ok((used, done || used > 0));
        }
        let dst = match head.opcode {
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                Some(&mut rx.message.as_mut().expect("checked at head").data)
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => Some(&mut rx.control),
            OpCode::Ignored => None,
        };
        let before = dst.as_ref().map_or(0, |d| d.len());
        // A delimited payload (Hixie's 0x00 … 0xFF) is handed at most max_frame_size
        // bytes plus its terminator, so an endless frame costs no more than that.
        let input = if head.len == PayloadLen::Delimited {
            let allowed = (self.limits.max_frame_size + 1).saturating_sub(reading.received);
            &input[..input
                .len()
                .min(usize::try_from(allowed).unwrap_or(usize::MAX))]
        } else {
            input
        };
        let (used, done) = self.codec.decode_payload(input, dst)?;
        reading.received += used as u64;
        if head.len == PayloadLen::Delimited
            && reading.received - u64::from(done) > self.limits.max_frame_size
        {
            return Err(ProtocolError::FrameTooLarge);
        }
        if matches!(
            head.opcode,
            OpCode::Text | OpCode::Binary | OpCode::Continuation
        ) {
            let msg = rx.message.as_mut().expect("checked at head");
            if msg.data.len() > self.limits.max_message_size {
                return Err(ProtocolError::MessageTooLarge);
            }
            if msg.text && msg.data.len() > before && msg.utf8.feed(&msg.data) == Utf8State::Invalid
            {
                return Err(ProtocolError::InvalidUtf8);
            }
        }
        if done {
            rx.reading = None;
            self.frame_complete(head)?;
        }
        Ok((used, done || used > 0))
    }

    fn read_head(&mut self, input: &[u8]) -> Result<(usize, bool), ProtocolError> {
        let held = self
            .rx
            .as_deref_mut()
            .filter(|rx| !rx.partial_head.is_empty());
        let (parsed, from_input) = if let Some(rx) = held {
            let old = rx.partial_head.len();
            let take = input.len().min(MAX_HEAD_LEN.saturating_sub(old));
            rx.partial_head.extend_from_slice(&input[..take]);
            let parsed = self.codec.decode_head(&rx.partial_head)?;
            match parsed {
                Some((head, used)) => {
                    rx.partial_head = Vec::new();
                    (Some((head, used)), old)
                }
                None => {
                    if rx.partial_head.len() >= MAX_HEAD_LEN {
                        return Err(ProtocolError::Other("frame head too long".into()));
                    }
                    return Ok((take, false));
                }
            }
        } else {
            (self.codec.decode_head(input)?, 0)
        };
        let Some((head, used)) = parsed else {
            if input.len() >= MAX_HEAD_LEN {
                return Err(ProtocolError::Other("frame head too long".into()));
            }
            self.rx_mut().partial_head.extend_from_slice(input);
            return Ok((input.len(), false));
        };
        self.start_frame(head)?;
        Ok((used - from_input, true))
    }

    /// Checks a new frame's head against the message state and limits.
    fn start_frame(&mut self, head: FrameHead) -> Result<(), ProtocolError> {
        if let PayloadLen::Known(len) = head.len {
            if len > self.limits.max_frame_size {
                return Err(ProtocolError::FrameTooLarge);
            }
        }
        let rx = self.rx.get_or_insert_with(Box::default);
        match head.opcode {
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                let too_long = matches!(head.len, PayloadLen::Known(n) if n > 125);
                if !head.fin || too_long {
                    return Err(ProtocolError::BadControlFrame);
                }
                rx.control.clear();
            }
            OpCode::Text | OpCode::Binary => {
                if rx.message.is_some() {
                    return Err(ProtocolError::BadFragmentation);
                }
                let reserve = match head.len {
                    PayloadLen::Known(n) => (n as usize).min(64 * 1024),
                    PayloadLen::Delimited => 0,
                };
                if head.rsv1 && self.deflate.is_none() {
                    return Err(ProtocolError::ReservedBits);
                }
                rx.message = Some(Assembling {
                    text: head.opcode == OpCode::Text,
                    compressed: head.rsv1,
                    data: Vec::with_capacity(reserve),
                    utf8: Utf8Validator::default(),
                    fragments: 1,
                });
            }
            OpCode::Continuation => {
                let Some(msg) = rx.message.as_mut() else {
                    return Err(ProtocolError::BadFragmentation);
                };
                // RSV1 marks the first frame of a compressed message only (RFC 7692 §6).
                if head.rsv1 {
                    return Err(ProtocolError::ReservedBits);
                }
                msg.fragments += 1;
                if msg.fragments > self.limits.max_fragments {
                    return Err(ProtocolError::MessageTooLarge);
                }
            }
            OpCode::Ignored => {}
        }
        if let (Some(msg), PayloadLen::Known(len)) = (rx.message.as_ref(), head.len) {
            // (a compressed message is counted as it is inflated)
            if !head.opcode.is_control()
                && !msg.compressed
                && msg.data.len() as u64 + len > self.limits.max_message_size as u64
            {
                return Err(ProtocolError::MessageTooLarge);
            }
        }
        rx.reading = Some(Reading { head, received: 0 });
        Ok(())
    }

    fn frame_complete(&mut self, head: FrameHead) -> Result<(), ProtocolError> {
        match head.opcode {
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if head.fin {
                    let msg = self.rx_mut().message.take().expect("checked at head");
                    if msg.text {
                        if !msg.utf8.is_complete(msg.data.len()) {
                            return Err(ProtocolError::InvalidUtf8);
                        }
                        let text = into_string_validated(msg.data, &msg.utf8);
                        self.events.push_back(Event::Text(text));
                    } else {
                        self.events.push_back(Event::Binary(msg.data));
                    }
                }
            }
            OpCode::Ping => {
                let payload = std::mem::take(&mut self.rx_mut().control);
                if self.state == ConnectionState::Open {
                    self.codec
                        .encode(true, OpCode::Pong, &payload, &mut self.out);
                }
                self.events.push_back(Event::Ping(payload));
            }
            OpCode::Pong => {
                let payload = std::mem::take(&mut self.rx_mut().control);
                self.events.push_back(Event::Pong(payload));
            }
            OpCode::Close => {
                let body = std::mem::take(&mut self.rx_mut().control);
                let style = self.codec.close_style();
                let frame = match style {
                    CloseStyle::WithCode => CloseFrame::parse(&body)?,
                    // No status code in these families; a UTF-8 body is shown as reason.
                    _ => CloseFrame::new(
                        CloseCode::NO_STATUS,
                        std::str::from_utf8(&body).unwrap_or_default(),
                    ),
                };
                self.close_received = true;
                self.deferred_close = Some(Box::new(if style == CloseStyle::BareFrame {
                    // HyBi-03 "close frame body matching": the answer repeats the body
                    // (empty for Hixie-76's FF 00, so nothing changes there).
                    Deferred::Echo(body)
                } else {
                    // Echo the status code (§5.5.1); an empty close is answered empty.
                    Deferred::Reply(CloseFrame::new(frame.code, ""))
                }));
                self.rx = None;
                self.events.push_back(Event::Close(frame));
            }
            OpCode::Ignored => {}
        }
        if self.rx.as_ref().is_some_and(|rx| rx.is_idle()) {
            self.rx = None;
        }
        Ok(())
    }

    /// A frame is being read (its head parsed, its payload not all here).
    #[inline]
    fn is_reading(&self) -> bool {
        self.rx.as_ref().is_some_and(|rx| rx.reading.is_some())
    }

    fn rx_mut(&mut self) -> &mut Receiving {
        self.rx.get_or_insert_with(Box::default)
    }

    fn write_close(&mut self, frame: &CloseFrame) {
        match self.codec.close_style() {
            CloseStyle::TcpOnly => {}
            CloseStyle::BareFrame => self.codec.encode(true, OpCode::Close, &[], &mut self.out),
            CloseStyle::WithCode => {
                let mut body = Vec::with_capacity(2 + frame.reason.len());
                frame.encode(&mut body);
                self.codec.encode(true, OpCode::Close, &body, &mut self.out);
            }
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7): queue a close frame with the error's
    /// code, stop reading, and ask for the transport to be closed.
    fn fail(&mut self, err: ProtocolError) {
        self.deferred_close = Some(Box::new(Deferred::Fail(CloseFrame::new(
            err.close_code(),
            err.to_string(),
        ))));
        self.rx = None;
        self.failed = Some(Box::new(err.clone()));
        self.events.push_back(Event::Failed(err));
    }

    /// The transport reached end of stream.
    pub fn receive_eof(&mut self) {
        if self.close_received || self.failed.is_some() {
            return;
        }
        let clean = self.codec.close_style() == CloseStyle::TcpOnly
            && self
                .rx
                .as_ref()
                .is_none_or(|rx| rx.message.is_none() && rx.reading.is_none());
        let code = if clean {
            CloseCode::NORMAL
        } else {
            CloseCode::ABNORMAL
        };
        self.close_received = true;
        // A half-closed peer may still read: earlier messages can still be answered.
        self.deferred_close = Some(Box::new(Deferred::Eof));
        self.rx = None;
        self.events
            .push_back(Event::Close(CloseFrame::new(code, "")));
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.state != ConnectionState::Open {
            return Err(SendError::Closed);
        }
        Ok(())
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_frame(OpCode::Text, true, text.as_bytes())
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_frame(OpCode::Binary, true, data)
    }

    /// Queues one frame of a possibly fragmented message: `Text`/`Binary` start a
    /// message, `Continuation` continues it, `fin` ends it.
    pub fn send_frame(&mut self, opcode: OpCode, fin: bool, data: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        let caps = self.codec.capabilities();
        let compress;
        match opcode {
            OpCode::Text | OpCode::Binary => {
                if self.sending_fragmented.is_some() {
                    return Err(SendError::BadFragmentation);
                }
                if opcode == OpCode::Binary && !caps.binary {
                    return Err(SendError::Unsupported("binary messages"));
                }
                compress = self.deflate.is_some();
                if !fin {
                    if !caps.fragmentation {
                        return Err(SendError::Unsupported("fragmented messages"));
                    }
                    self.sending_fragmented = Some(opcode == OpCode::Text);
                    self.sending_compressed = compress;
                }
            }
            OpCode::Continuation => {
                if self.sending_fragmented.is_none() {
                    return Err(SendError::BadFragmentation);
                }
                compress = self.sending_compressed;
                if fin {
                    self.sending_fragmented = None;
                    self.sending_compressed = false;
                }
            }
            OpCode::Ping | OpCode::Pong => {
                if !caps.ping {
                    return Err(SendError::Unsupported("ping/pong"));
                }
                if data.len() > 125 {
                    return Err(SendError::ControlTooLong);
                }
                compress = false;
            }
            OpCode::Close | OpCode::Ignored => return Err(SendError::Unsupported("this opcode")),
        }
        if compress {
            let deflate = self
                .deflate
                .as_mut()
                .expect("compress only when negotiated");
            let payload = deflate
                .compress(data, fin)
                .map_err(SendError::Unsupported)?;
            let first = opcode != OpCode::Continuation;
            self.codec
                .encode_rsv1(fin, first, opcode, payload, &mut self.out);
            if fin {
                deflate.after_send();
            }
        } else if let Some(from) = self.lendable(data) {
            // The head now; the payload is written from the caller's input, in place
            // (`receive_data_lending`, which lends only when the codec frames verbatim).
            let verbatim = self
                .codec
                .encode_head_verbatim(fin, opcode, data.len(), &mut self.out);
            debug_assert!(verbatim, "lending with a codec that transforms payloads");
            let lending = self.lending.as_mut().expect("lendable");
            lending.segments.push(LentSegment {
                at: self.out.len(),
                from,
                len: data.len(),
            });
        } else {
            self.codec.encode(fin, opcode, data, &mut self.out);
        }
        Ok(())
    }

    /// Where `data` starts in the input being lent, when it lies wholly inside it and is
    /// worth lending (a lending context exists only where the codec frames verbatim).
    fn lendable(&self, data: &[u8]) -> Option<usize> {
        let lending = self.lending.as_deref()?;
        let start = (data.as_ptr() as usize).checked_sub(lending.base)?;
        let inside = start
            .checked_add(data.len())
            .is_some_and(|end| end <= lending.len);
        (inside && data.len() >= LEND_MIN && lending.segments.len() < MAX_LENT).then_some(start)
    }

    /// Some output is lent: it lies in the input of the running `receive_data_lending`.
    #[inline]
    fn has_lent(&self) -> bool {
        self.lending
            .as_deref()
            .is_some_and(|l| !l.segments.is_empty())
    }

    /// Queues a ping.
    pub fn send_ping(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_frame(OpCode::Ping, true, data)
    }

    /// Queues a pong (unsolicited pongs serve as heartbeats, §5.5.3).
    pub fn send_pong(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_frame(OpCode::Pong, true, data)
    }

    /// Starts (or, after the peer's close, completes) the closing handshake.
    pub fn send_close(&mut self, frame: CloseFrame) -> Result<(), SendError> {
        self.check_open()?;
        if frame.code != CloseCode::NO_STATUS && !frame.code.is_sendable() {
            return Err(SendError::Unsupported("this close code"));
        }
        self.write_close(&frame);
        // Hixie-75 has no close frame: closing is a TCP matter. We stay `Closing`, the
        // transport shuts down its write side ([`Connection::wants_write_shutdown`]) and
        // reads on until the peer's end of stream, so its last messages still arrive.
        self.state = ConnectionState::Closing;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::rfc6455::Rfc6455Codec;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn pair_with(limits: Limits) -> (Connection, Connection) {
        let client = Connection::new(
            Side::Client,
            Variant::Rfc6455,
            Box::new(Rfc6455Codec::new(
                Side::Client,
                Some(StdRng::seed_from_u64(3)),
            )),
            limits.clone(),
        );
        let server = Connection::new(
            Side::Server,
            Variant::Rfc6455,
            Box::new(Rfc6455Codec::new(Side::Server, None)),
            limits,
        );
        (client, server)
    }

    fn pair() -> (Connection, Connection) {
        pair_with(Limits::default())
    }

    fn pump(from: &mut Connection, to: &mut Connection, chunk: usize) {
        let out = from.take_output();
        for piece in out.chunks(chunk.max(1)) {
            to.receive_data(piece);
        }
    }

    fn events(c: &mut Connection) -> Vec<Event> {
        std::iter::from_fn(|| c.next_event()).collect()
    }

    #[test]
    fn text_binary_and_fragments_any_chunking() {
        for chunk in [1, 2, 3, 7, 64, 100_000] {
            let (mut c, mut s) = pair();
            c.send_text("héllo").unwrap();
            c.send_binary(&[1, 2, 3]).unwrap();
            c.send_frame(OpCode::Text, false, "κό".as_bytes()).unwrap();
            c.send_ping(b"p").unwrap();
            c.send_frame(OpCode::Continuation, false, &"σμε".as_bytes()[..3])
                .unwrap();
            c.send_frame(OpCode::Continuation, true, &"σμε".as_bytes()[3..])
                .unwrap();
            c.send_frame(OpCode::Binary, true, &[]).unwrap();
            pump(&mut c, &mut s, chunk);
            assert_eq!(
                events(&mut s),
                vec![
                    Event::Text("héllo".into()),
                    Event::Binary(vec![1, 2, 3]),
                    Event::Ping(b"p".to_vec()),
                    Event::Text("κόσμε".into()),
                    Event::Binary(vec![]),
                ],
                "chunk {chunk}"
            );
            // the ping was answered
            pump(&mut s, &mut c, chunk);
            assert_eq!(events(&mut c), vec![Event::Pong(b"p".to_vec())]);
        }
    }

    #[test]
    fn close_handshake_echoes_code() {
        let (mut c, mut s) = pair();
        c.send_close(CloseFrame::new(CloseCode(4001), "bye"))
            .unwrap();
        assert_eq!(c.state(), ConnectionState::Closing);
        assert_eq!(c.send_text("late"), Err(SendError::Closed));
        pump(&mut c, &mut s, 1000);
        assert_eq!(
            events(&mut s),
            vec![Event::Close(CloseFrame::new(CloseCode(4001), "bye"))]
        );
        assert!(s.wants_transport_closed());
        pump(&mut s, &mut c, 1000);
        assert_eq!(
            events(&mut c),
            vec![Event::Close(CloseFrame::new(CloseCode(4001), ""))]
        );
        assert_eq!(c.state(), ConnectionState::Closed);
    }

    #[test]
    fn invalid_utf8_split_across_fragments_fails_fast_with_1007() {
        let (mut c, mut s) = pair();
        // "κ" then the first two bytes of a 4-byte sequence that can never be valid (F4 90).
        c.send_frame(OpCode::Text, false, &[0xce, 0xba, 0xf4])
            .unwrap();
        pump(&mut c, &mut s, 1000);
        assert!(events(&mut s).is_empty());
        c.send_frame(OpCode::Continuation, false, &[0x90]).unwrap();
        pump(&mut c, &mut s, 1000);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::InvalidUtf8)]
        );
        pump(&mut s, &mut c, 1000);
        match events(&mut c).as_slice() {
            [Event::Close(f)] => assert_eq!(f.code, CloseCode::INVALID_PAYLOAD),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        let (_, mut s) = pair();
        // 2^63 - 1 bytes announced in a masked binary frame.
        let mut wire = vec![0x82, 0xff];
        wire.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        wire.extend_from_slice(&[1, 2, 3, 4]);
        s.receive_data(&wire);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::FrameTooLarge)]
        );
        // the close frame reports 1009
        let out = s.take_output();
        assert_eq!(&out[..4], &[0x88, out[1], 0x03, 0xf1]);
    }

    #[test]
    fn too_many_fragments() {
        let limits = Limits {
            max_fragments: 100,
            ..Limits::default()
        };
        let (mut c, mut s) = pair_with(limits);
        c.send_frame(OpCode::Text, false, b"a").unwrap();
        for _ in 0..199 {
            c.send_frame(OpCode::Continuation, false, b"a").unwrap();
        }
        pump(&mut c, &mut s, 4096);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::MessageTooLarge)]
        );
    }

    #[test]
    fn message_size_limit_counts_across_fragments() {
        let limits = Limits {
            max_message_size: 10,
            ..Limits::default()
        };
        let (mut c, mut s) = pair_with(limits);
        c.send_frame(OpCode::Binary, false, &[0; 6]).unwrap();
        c.send_frame(OpCode::Continuation, true, &[0; 6]).unwrap();
        pump(&mut c, &mut s, 3);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::MessageTooLarge)]
        );
    }

    #[test]
    fn nothing_after_close_and_eof_is_abnormal() {
        let (mut c, mut s) = pair();
        c.send_text("a").unwrap();
        pump(&mut c, &mut s, 100);
        s.receive_eof();
        assert_eq!(
            events(&mut s),
            vec![
                Event::Text("a".into()),
                Event::Close(CloseFrame::new(CloseCode::ABNORMAL, ""))
            ]
        );
    }

    #[test]
    fn control_frame_rules() {
        let (_, mut s) = pair();
        // fragmented ping (FIN=0, opcode 9), masked, empty
        s.receive_data(&[0x09, 0x80, 0, 0, 0, 0]);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::BadControlFrame)]
        );
        let (_, mut s) = pair();
        // continuation with no message
        s.receive_data(&[0x80, 0x80, 0, 0, 0, 0]);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::BadFragmentation)]
        );
    }

    /// Events from `receive_data_with`, lent messages turned into owned events, echoing
    /// every data message; the same for `receive_data` + `next_event`.
    fn echo_both_ways(wire: &[u8], chunk: usize) -> [(Vec<Event>, Vec<u8>); 2] {
        let (_, mut lent) = pair();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk.max(1)) {
            let mut piece = piece.to_vec();
            lent.receive_data_with(&mut piece, |conn, msg| match msg {
                DataRef::Text(t) => {
                    got.push(Event::Text(t.to_owned()));
                    conn.send_text(t).unwrap();
                }
                DataRef::Binary(b) => {
                    got.push(Event::Binary(b.to_vec()));
                    conn.send_binary(b).unwrap();
                }
            });
            while let Some(ev) = lent.next_event() {
                match &ev {
                    Event::Text(t) => lent.send_text(t).unwrap(),
                    Event::Binary(b) => lent.send_binary(b).unwrap(),
                    _ => {}
                }
                got.push(ev);
            }
        }
        let (_, mut owned) = pair();
        let mut want = Vec::new();
        for piece in wire.chunks(chunk.max(1)) {
            owned.receive_data(piece);
            while let Some(ev) = owned.next_event() {
                match &ev {
                    Event::Text(t) => owned.send_text(t).unwrap(),
                    Event::Binary(b) => owned.send_binary(b).unwrap(),
                    _ => {}
                }
                want.push(ev);
            }
        }
        // What the peer sees. Data echoes keep their order; a pong may come earlier on the
        // lent path (messages before the ping are answered during the read), so pongs are
        // compared by count.
        let seen = |out: Vec<u8>| {
            let (mut c, _) = pair();
            c.receive_data(&out);
            let (pongs, rest): (Vec<Event>, Vec<Event>) = events(&mut c)
                .into_iter()
                .partition(|e| matches!(e, Event::Pong(_)));
            let mut bytes = format!("{} pongs", pongs.len()).into_bytes();
            bytes.extend(format!("{rest:?}").into_bytes());
            bytes
        };
        [
            (got, seen(lent.take_output())),
            (want, seen(owned.take_output())),
        ]
    }

    #[test]
    fn lent_messages_match_owned_events_for_any_chunking() {
        let (mut c, _) = pair();
        c.send_text("héllo").unwrap();
        c.send_binary(&[1, 2, 3]).unwrap();
        c.send_frame(OpCode::Text, false, "κό".as_bytes()).unwrap();
        c.send_ping(b"p").unwrap();
        c.send_frame(OpCode::Continuation, true, "σμε".as_bytes())
            .unwrap();
        c.send_binary(&vec![9u8; 300]).unwrap();
        c.send_text("").unwrap();
        c.send_binary(&vec![5u8; 70_000]).unwrap();
        c.send_text("after").unwrap();
        c.send_close(CloseFrame::new(CloseCode::NORMAL, ""))
            .unwrap();
        let wire = c.take_output();
        for chunk in [1, 2, 5, 13, 64, 1000, 100_000] {
            let [lent, owned] = echo_both_ways(&wire, chunk);
            assert_eq!(lent, owned, "chunk {chunk}");
            assert_eq!(lent.0.len(), 9, "chunk {chunk}");
        }
    }

    #[test]
    fn lent_messages_fail_like_owned_ones() {
        let cases: Vec<Vec<u8>> = vec![
            // invalid UTF-8 in a whole text frame
            {
                let mut w = vec![0x81, 0x82, 0, 0, 0, 0];
                w.extend_from_slice(&[0xc3, 0x28]);
                w
            },
            // unmasked frame from a client
            vec![0x82, 0x01, 0x00],
            // continuation without a message
            vec![0x80, 0x80, 0, 0, 0, 0],
            // reserved bit
            vec![0xc2, 0x80, 0, 0, 0, 0],
        ];
        for wire in cases {
            for chunk in [1, 100] {
                let [lent, owned] = echo_both_ways(&wire, chunk);
                assert_eq!(lent, owned, "{wire:?} chunk {chunk}");
                assert!(matches!(lent.0.last(), Some(Event::Failed(_))));
            }
        }
        // too large for the limits: refused before anything is lent
        let limits = Limits {
            max_message_size: 4,
            ..Limits::default()
        };
        let (mut c, mut s) = pair_with(limits);
        c.send_binary(&[0; 8]).unwrap();
        let mut wire = c.take_output();
        let mut lent = 0;
        s.receive_data_with(&mut wire, |_, _| lent += 1);
        assert_eq!(lent, 0);
        assert_eq!(
            events(&mut s),
            vec![Event::Failed(ProtocolError::MessageTooLarge)]
        );
    }

    #[test]
    fn idle_connection_holds_no_buffers() {
        let (mut c, mut s) = pair();
        c.send_binary(&vec![7u8; 100_000]).unwrap();
        pump(&mut c, &mut s, 1 << 20);
        let _ = events(&mut s);
        s.send_binary(&vec![7u8; 100_000]).unwrap();
        let n = s.pending_output().len();
        s.advance_output(n);
        assert_eq!(s.out.capacity(), 0);
        assert!(s.rx.is_none(), "no receive state between frames");
    }

    /// An echo server through `receive_data_lending`, its writer taking `budgets[i]`
    /// bytes on its i-th call (0: `WouldBlock`), cycling: everything it wrote, then what
    /// was still pending at the end.
    fn echo_lending(wire: &[u8], chunk: usize, budgets: &[usize]) -> Vec<u8> {
        let (_, mut s) = pair();
        let mut writer = crate::fuzzing::ShortWriter::new(budgets);
        for piece in wire.chunks(chunk.max(1)) {
            let mut piece = piece.to_vec();
            let echo = |conn: &mut Connection, msg: DataRef<'_>| {
                match msg {
                    DataRef::Text(t) => conn.send_text(t),
                    DataRef::Binary(b) => conn.send_binary(b),
                }
                .unwrap()
            };
            s.receive_data_lending(&mut piece, echo, |bufs| writer.write(bufs))
                .unwrap();
            echo_events(&mut s);
        }
        let mut sent = writer.sent;
        sent.extend(s.take_output());
        sent
    }

    /// The same echo server through `receive_data_with` (every payload copied).
    fn echo_copying(wire: &[u8], chunk: usize) -> Vec<u8> {
        let (_, mut s) = pair();
        for piece in wire.chunks(chunk.max(1)) {
            let mut piece = piece.to_vec();
            s.receive_data_with(&mut piece, |conn, msg| {
                match msg {
                    DataRef::Text(t) => conn.send_text(t),
                    DataRef::Binary(b) => conn.send_binary(b),
                }
                .unwrap()
            });
            echo_events(&mut s);
        }
        s.take_output()
    }

    /// Echoes the messages that came out of the event queue (not lent).
    fn echo_events(s: &mut Connection) {
        while let Some(ev) = s.next_event() {
            match ev {
                Event::Text(t) => s.send_text(&t).unwrap(),
                Event::Binary(b) => s.send_binary(&b).unwrap(),
                _ => {}
            }
        }
    }

    proptest::proptest! {
        /// Lending changes where the bytes come from, never which bytes go out or their
        /// order: any messages (small ones copied, large ones lent, pings and a close
        /// between them), any read sizes, any partial writes.
        #[test]
        fn lending_writes_what_copying_would(
            sizes in proptest::collection::vec(
                proptest::prop_oneof![0usize..200, 8_000usize..9_000, 60_000usize..70_000],
                1..8,
            ),
            pings in proptest::collection::vec(proptest::bool::ANY, 8),
            chunk in proptest::prop_oneof![1usize..100, 8_192usize..300_000],
            budgets in proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(0usize), 1usize..20_000, 100_000usize..1_000_000],
                1..6,
            ),
            close in proptest::bool::ANY,
        ) {
            let (mut c, _) = pair();
            for (i, &n) in sizes.iter().enumerate() {
                if i % 2 == 0 {
                    c.send_binary(&vec![i as u8; n]).unwrap();
                } else {
                    c.send_text(&"é".repeat(n / 2)).unwrap();
                }
                if pings[i] {
                    c.send_ping(b"ping").unwrap();
                }
            }
            if close {
                c.send_close(CloseFrame::new(CloseCode::NORMAL, "bye")).unwrap();
            }
            let wire = c.take_output();
            proptest::prop_assert_eq!(echo_lending(&wire, chunk, &budgets), echo_copying(&wire, chunk));
        }
    }

    /// A large echo from a lent message never passes through the output buffer when the
    /// writer takes it all (what makes the vectored write worth its code).
    #[test]
    fn a_lent_payload_is_written_from_the_input() {
        let (mut c, mut s) = pair();
        c.send_binary(&vec![7u8; 64 * 1024]).unwrap();
        let mut wire = c.take_output();
        let mut sent = Vec::new();
        let written = s
            .receive_data_lending(
                &mut wire,
                |conn, msg| {
                    if let DataRef::Binary(b) = msg {
                        conn.send_binary(b).unwrap();
                    }
                },
                |bufs| {
                    let mut n = 0;
                    for b in bufs {
                        sent.extend_from_slice(b);
                        n += b.len();
                    }
                    Ok(n)
                },
            )
            .unwrap();
        // §5.2: 65,536 bytes take the 8-byte length, a 10-byte head.
        assert_eq!(written, 64 * 1024 + 10);
        assert_eq!(&sent[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert!(s.pending_output().is_empty());
        assert!(
            s.out.capacity() < 1024,
            "the payload went through `out` ({} bytes)",
            s.out.capacity()
        );
        let (mut peer, _) = pair();
        peer.receive_data(&sent);
        assert_eq!(events(&mut peer), vec![Event::Binary(vec![7u8; 64 * 1024])]);
    }
}
