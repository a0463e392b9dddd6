//! permessage-deflate (RFC 7692): parameter negotiation for both roles, and the
//! per-message compressor and decompressor the [`crate::Connection`] drives.
//!
//! # Parameters
//!
//! One [`DeflateConfig`] serves both roles; its fields are named from this end's point of
//! view and map onto the RFC's role-named parameters like this:
//!
//! | field | client offers | server answers |
//! |---|---|---|
//! | `max_window_bits` (we compress with) | `client_max_window_bits` (`=N` when N < 15) | `server_max_window_bits=N` when N < 15 or the offer limited it (§7.1.2.1: ≤ the offer) |
//! | `peer_max_window_bits` (peer compresses with) | `server_max_window_bits=N` when N < 15 | `client_max_window_bits=N` when the offer has the parameter and N < 15 or it had a value (≤ that value) |
//! | `no_context_takeover` (we reset) | `client_no_context_takeover` (a hint we keep to) | `server_no_context_takeover` |
//! | `peer_no_context_takeover` (peer resets) | `server_no_context_takeover` | `client_no_context_takeover` |
//!
//! A server also answers `server_no_context_takeover` when the offer asks for it, and echoes
//! the client's `client_no_context_takeover` hint: the client said it will not take over
//! its context, and making that binding lets the server free its decompressor between
//! messages. An offer with an unknown or repeated parameter, or a bad value, is declined
//! (§7.1) and the next offer is tried. A client fails the handshake on any response that
//! has an unknown, repeated or invalid parameter, a window larger than it offered, no
//! `server_max_window_bits` or `server_no_context_takeover` when it asked for them, or a
//! `client_max_window_bits` without a value (§7.1, §7.1.1.1, §7.1.2.1, §7.1.2.2).
//!
//! # Messages
//!
//! RSV1 marks the first frame of a compressed message (never a continuation or control
//! frame). The sender runs raw DEFLATE with a sync flush per frame and drops the
//! `00 00 ff ff` that ends the last frame; the receiver inflates each frame's payload as
//! it arrives and appends `00 00 ff ff` after the last one. The inflated size counts
//! against [`crate::Limits::max_message_size`] while it is produced: output space is
//! handed to the inflater in bounded pieces, so a decompression bomb fails with 1009
//! having allocated at most the limit. Text is UTF-8-validated as it is inflated (1007 on
//! the first bad byte). A message may also be sent uncompressed (RSV1 clear).
//!
//! Appending `00 00 ff ff` only parses when the message's data stops just after the
//! header bits of a stored block, as a stripped sync flush does. When a message's last
//! frame has nothing new to flush (an empty last fragment, or an empty message right
//! after another), the stream sits on a byte boundary, so the sender puts that header
//! byte, `00`, in the frame: the same `c1 01 00` a fresh compressor gives an empty
//! message.
//!
//! If a peer ends a message with a final block (BFINAL, §7.2.3.4 allows it), the trailer
//! is not inflated (it would not parse after a final block), anything else after it fails
//! the connection, and the inflater is restarted with the message's last window of output
//! as its dictionary, so the peer's next message may still refer back into it.
//!
//! # An 8-bit window
//!
//! zlib (and zlib-rs, which hybi uses) refuses `windowBits` 8 for raw deflate
//! *compression*; older zlib silently used 9 instead, which yields back-references up to
//! 512 bytes that a 256-byte-window inflater cannot resolve. hybi therefore never lets a
//! 9-bit compressor stand in for 8: when this end must compress with an 8-bit window
//! (the peer offered `server_max_window_bits=8`, or answered `client_max_window_bits=8`),
//! it runs zlib's RLE strategy, whose only back-reference distance is 1, so the stream is
//! valid for any window (tests check it against a strict 8-bit inflater). Compression is
//! then weaker (runs and Huffman coding only) but the negotiation never fails. For
//! decompression, an 8-bit window is inflated with a 9-bit one: every valid 8-bit stream
//! inflates the same, and so do streams from the old zlib that used 9 when asked for 8.
//!
//! # Memory per connection
//!
//! Nothing is allocated until a compressed message is sent or received. Then, as
//! measured by `tests/deflate_memory.rs` (zlib-rs 0.6, x86-64):
//!
//! | window, memLevel | compressor | decompressor |
//! |---|---|---|
//! | 15, 5 (default) | 274 KiB | 47 KiB |
//! | 15, 8 (zlib's default memLevel) | 372 KiB | 47 KiB |
//! | 12, 5 | 162 KiB | 47 KiB |
//! | 9, 1 | 135 KiB | 47 KiB |
//! | 8 (RLE on a 9-bit window), 5 | 148 KiB | 47 KiB |
//!
//! The compressor's floor is zlib-rs's fixed 128 KiB hash head; the decompressor always
//! holds a 32 KiB window, whatever was negotiated. Add one scratch buffer for one frame's
//! compressed bytes, kept between messages only while it is at most 16 KiB.
//!
//! With context takeover both stay allocated for the connection's lifetime (the context
//! *is* that state). Without it (`no_context_takeover` for ours,
//! `peer_no_context_takeover` or the peer's hint for the peer's), each is dropped when a
//! message ends, so an idle connection holds neither: the price is one allocation (and,
//! for the compressor, zeroing its hash head) per compressed message.

use zlib_rs::{
    DeflateConfig as ZConfig, DeflateFlush, Inflate, InflateFlush, Method, Status, Strategy,
};

use super::Extension;
use crate::error::ProtocolError;

/// The extension token.
pub const NAME: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// The empty stored block a sync flush ends with (dropped by senders, appended by
/// receivers, RFC 7692 §7.2.1–§7.2.2).
pub const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// permessage-deflate settings of one end, client or server (see the module docs for how
/// each field maps onto the RFC's parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Compression level, 0 (stored blocks only) ..= 9. Default 6.
    pub level: u8,
    /// zlib `memLevel`, 1 ..= 9: size of the symbol buffers (`7·2^(m+6)` bytes). Default
    /// 5 (28 KiB; zlib's 8 costs 112 KiB for a few percent better compression).
    pub mem_level: u8,
    /// Largest LZ77 window this end compresses with, in bits (8 ..= 15). Default 15.
    pub max_window_bits: u8,
    /// Largest window asked of the peer, in bits (8 ..= 15). Default 15 (ask nothing).
    pub peer_max_window_bits: u8,
    /// Reset our compressor after every message (costs ratio, frees memory).
    pub no_context_takeover: bool,
    /// Ask the peer to reset its compressor after every message (a client asks; a server
    /// tells).
    pub peer_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            mem_level: 5,
            max_window_bits: 15,
            peer_max_window_bits: 15,
            no_context_takeover: false,
            peer_no_context_takeover: false,
        }
    }
}

impl DeflateConfig {
    fn own_bits(&self) -> u8 {
        self.max_window_bits.clamp(8, 15)
    }

    fn peer_bits(&self) -> u8 {
        self.peer_max_window_bits.clamp(8, 15)
    }
}

/// The parameters of an accepted permessage-deflate, as the response carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateParams {
    /// `server_no_context_takeover`.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits=N`.
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The response element (`permessage-deflate; …`).
    pub fn to_extension(&self) -> Extension {
        let mut params = Vec::new();
        if self.server_no_context_takeover {
            params.push((SERVER_NO_CONTEXT_TAKEOVER.to_owned(), None));
        }
        if self.client_no_context_takeover {
            params.push((CLIENT_NO_CONTEXT_TAKEOVER.to_owned(), None));
        }
        if let Some(b) = self.server_max_window_bits {
            params.push((SERVER_MAX_WINDOW_BITS.to_owned(), Some(b.to_string())));
        }
        if let Some(b) = self.client_max_window_bits {
            params.push((CLIENT_MAX_WINDOW_BITS.to_owned(), Some(b.to_string())));
        }
        Extension {
            name: NAME.to_owned(),
            params,
        }
    }
}

/// permessage-deflate as it applies to one end once negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The agreed parameters (what the response said).
    pub params: DeflateParams,
    /// Window this end compresses with, in bits (8 ..= 15).
    pub compress_window_bits: u8,
    /// This end resets its compressor after each message.
    pub compress_no_context_takeover: bool,
    /// Window the peer compresses with, in bits (8 ..= 15).
    pub decompress_window_bits: u8,
    /// The peer resets its compressor after each message.
    pub decompress_no_context_takeover: bool,
    /// Compression level (from this end's config).
    pub level: u8,
    /// zlib `memLevel` (from this end's config).
    pub mem_level: u8,
}

/// A parsed offer or response. `client_max_window_bits` may come without a value in an
/// offer (`Some(None)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<Option<u8>>,
}

/// `8` ..= `15` in decimal without leading zeros (§7.1.2.1).
fn window_bits(value: Option<&str>) -> Result<u8, String> {
    let v = value.ok_or("needs a value")?;
    match v {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => Ok(v.parse().expect("digits")),
        _ => Err(format!("invalid window size {v:?} (8..15)")),
    }
}

/// Checks every parameter of one element (§7.1: unknown names, repeats, bad values).
fn parse(params: &[(String, Option<String>)], is_offer: bool) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    for (i, (name, value)) in params.iter().enumerate() {
        if params[..i].iter().any(|(n, _)| n == name) {
            return Err(format!("{name} appears twice"));
        }
        let value = value.as_deref();
        let flag = |v: Option<&str>| match v {
            None => Ok(true),
            Some(v) => Err(format!("{name} takes no value (got {v:?})")),
        };
        let bits = |v| window_bits(v).map_err(|e| format!("{name}: {e}"));
        match name.as_str() {
            SERVER_NO_CONTEXT_TAKEOVER => p.server_no_context_takeover = flag(value)?,
            CLIENT_NO_CONTEXT_TAKEOVER => p.client_no_context_takeover = flag(value)?,
            SERVER_MAX_WINDOW_BITS => p.server_max_window_bits = Some(bits(value)?),
            CLIENT_MAX_WINDOW_BITS => {
                p.client_max_window_bits = Some(match value {
                    None if is_offer => None,
                    v => Some(bits(v)?),
                })
            }
            other => return Err(format!("unknown parameter {other}")),
        }
    }
    Ok(p)
}

/// Server side: accepts the first acceptable permessage-deflate offer, returning what
/// applies to this end and the response element; `None` declines them all.
pub fn server_accept(
    config: &DeflateConfig,
    offers: &[Extension],
) -> Option<(Negotiated, Extension)> {
    offers
        .iter()
        .filter(|o| o.name == NAME)
        .find_map(|o| parse(&o.params, true).ok())
        .map(|offer| {
            let server_bits = offer
                .server_max_window_bits
                .map_or(config.own_bits(), |b| b.min(config.own_bits()));
            let server_no_context_takeover =
                offer.server_no_context_takeover || config.no_context_takeover;
            let client_max_window_bits = match offer.client_max_window_bits {
                None => None, // not offered: must not be answered (§7.1.2.2)
                Some(limit) => {
                    let bits = limit.map_or(config.peer_bits(), |l| l.min(config.peer_bits()));
                    (bits < 15 || limit.is_some()).then_some(bits)
                }
            };
            let client_no_context_takeover =
                config.peer_no_context_takeover || offer.client_no_context_takeover;
            let params = DeflateParams {
                server_no_context_takeover,
                client_no_context_takeover,
                server_max_window_bits: (server_bits < 15
                    || offer.server_max_window_bits.is_some())
                .then_some(server_bits),
                client_max_window_bits,
            };
            let negotiated = Negotiated {
                params,
                compress_window_bits: server_bits,
                compress_no_context_takeover: server_no_context_takeover,
                decompress_window_bits: client_max_window_bits.unwrap_or(15),
                decompress_no_context_takeover: client_no_context_takeover,
                level: config.level,
                mem_level: config.mem_level,
            };
            (negotiated, params.to_extension())
        })
}

/// Client side: the offer for `config`.
pub fn client_offer(config: &DeflateConfig) -> Extension {
    let mut params = Vec::new();
    if config.no_context_takeover {
        params.push((CLIENT_NO_CONTEXT_TAKEOVER.to_owned(), None));
    }
    if config.peer_no_context_takeover {
        params.push((SERVER_NO_CONTEXT_TAKEOVER.to_owned(), None));
    }
    if config.peer_bits() < 15 {
        params.push((
            SERVER_MAX_WINDOW_BITS.to_owned(),
            Some(config.peer_bits().to_string()),
        ));
    }
    // Always offered: any window the server picks can be honoured (8 included).
    params.push((
        CLIENT_MAX_WINDOW_BITS.to_owned(),
        (config.own_bits() < 15).then(|| config.own_bits().to_string()),
    ));
    Extension {
        name: NAME.to_owned(),
        params,
    }
}

/// Client side: checks the server's answer to [`client_offer`]`(config)`.
pub fn client_verify(config: &DeflateConfig, response: &Extension) -> Result<Negotiated, String> {
    let r = parse(&response.params, false)?;
    let asked_server_bits = (config.peer_bits() < 15).then_some(config.peer_bits());
    let server_bits = match (asked_server_bits, r.server_max_window_bits) {
        (Some(asked), None) => {
            return Err(format!(
                "{SERVER_MAX_WINDOW_BITS}={asked} was asked for, not answered"
            ))
        }
        (Some(asked), Some(got)) if got > asked => {
            return Err(format!(
                "{SERVER_MAX_WINDOW_BITS}={got} is larger than the {asked} asked for"
            ))
        }
        (_, got) => got,
    };
    if config.peer_no_context_takeover && !r.server_no_context_takeover {
        return Err(format!(
            "{SERVER_NO_CONTEXT_TAKEOVER} was asked for, not answered"
        ));
    }
    let client_bits = r.client_max_window_bits.flatten();
    if let Some(got) = client_bits {
        if config.own_bits() < 15 && got > config.own_bits() {
            return Err(format!(
                "{CLIENT_MAX_WINDOW_BITS}={got} is larger than the {} offered",
                config.own_bits()
            ));
        }
    }
    let params = DeflateParams {
        server_no_context_takeover: r.server_no_context_takeover,
        client_no_context_takeover: r.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    };
    Ok(Negotiated {
        params,
        compress_window_bits: client_bits.map_or(config.own_bits(), |b| b.min(config.own_bits())),
        // We keep to our own hint even when the server did not repeat it.
        compress_no_context_takeover: r.client_no_context_takeover || config.no_context_takeover,
        decompress_window_bits: server_bits.unwrap_or(15),
        decompress_no_context_takeover: r.server_no_context_takeover,
        level: config.level,
        mem_level: config.mem_level,
    })
}

/// Scratch buffers larger than this are released when a message ends.
const KEEP_SCRATCH: usize = 16 * 1024;

/// The compressor and decompressor of one connection, allocated on first use.
pub(crate) struct DeflateContext {
    negotiated: Negotiated,
    compressor: Option<zlib_rs::Deflate>,
    decompressor: Option<Inflate>,
    /// The incoming message ended its DEFLATE stream (BFINAL): its trailer is not
    /// inflated, and nothing else may follow in the message.
    stream_ended: bool,
    /// Compressed bytes: one outgoing frame, or the incoming payload bytes of one read.
    pub(crate) scratch: Vec<u8>,
}

impl std::fmt::Debug for DeflateContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeflateContext")
            .field("negotiated", &self.negotiated)
            .field("compressor", &self.compressor.is_some())
            .field("decompressor", &self.decompressor.is_some())
            .finish()
    }
}

impl DeflateContext {
    pub(crate) fn new(negotiated: Negotiated) -> Self {
        DeflateContext {
            negotiated,
            compressor: None,
            decompressor: None,
            stream_ended: false,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// True while a compressor or decompressor is allocated.
    #[cfg(test)]
    pub(crate) fn holds_state(&self) -> (bool, bool) {
        (self.compressor.is_some(), self.decompressor.is_some())
    }

    fn new_compressor(&self) -> zlib_rs::Deflate {
        let n = &self.negotiated;
        // zlib cannot compress with an 8-bit window; RLE only ever refers one byte back,
        // which every window allows (module docs).
        let (bits, strategy) = match n.compress_window_bits.clamp(8, 15) {
            8 => (9, Strategy::Rle),
            b => (b, Strategy::Default),
        };
        zlib_rs::Deflate::new_with_config(ZConfig {
            level: i32::from(n.level.min(9)),
            method: Method::Deflated,
            window_bits: -i32::from(bits),
            mem_level: i32::from(n.mem_level.clamp(1, 9)),
            strategy,
        })
    }

    fn inflate_bits(&self) -> u8 {
        self.negotiated.decompress_window_bits.clamp(9, 15)
    }

    /// Compresses one frame's worth of a message into [`DeflateContext::scratch`]
    /// (sync flush; the trailer dropped when `fin`).
    pub(crate) fn compress(&mut self, data: &[u8], fin: bool) -> Result<&[u8], &'static str> {
        if self.compressor.is_none() {
            self.compressor = Some(self.new_compressor());
        }
        let c = self.compressor.as_mut().expect("just set");
        let out = &mut self.scratch;
        out.clear();
        let mut input = data;
        loop {
            let start = out.len();
            let want = (input.len() / 2 + 64).max(start);
            out.resize(start + want, 0);
            let (in0, out0) = (c.total_in(), c.total_out());
            let status = c.compress(input, &mut out[start..], DeflateFlush::SyncFlush);
            let used = (c.total_in() - in0) as usize;
            let produced = (c.total_out() - out0) as usize;
            out.truncate(start + produced);
            input = &input[used..];
            if status.is_err() {
                return Err("compression failed");
            }
            // A flush is complete once it leaves output space unused (zlib's contract);
            // a second flush with no new input makes no progress (BufError) and no bytes.
            if input.is_empty() && produced < want {
                break;
            }
        }
        if fin {
            if out.ends_with(&TRAILER) {
                out.truncate(out.len() - TRAILER.len());
            } else if out.is_empty() {
                // Nothing new since the last flush (an empty last fragment, or an empty
                // message after another): the stream sits on a byte boundary, where the
                // receiver's appended `00 00 ff ff` needs the stored block's header byte
                // in front of it to parse.
                out.push(0x00);
            }
            if self.negotiated.compress_no_context_takeover {
                self.compressor = None;
            }
        }
        Ok(&self.scratch)
    }

    /// Releases what a finished outgoing message left behind.
    pub(crate) fn after_send(&mut self) {
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
        }
    }

    /// Inflates `input` (payload bytes of a compressed message) onto the end of `out`,
    /// never letting `out` grow past `limit` bytes (then: [`ProtocolError::MessageTooLarge`]).
    /// `check` sees `out` after each piece of output (UTF-8 validation).
    pub(crate) fn decompress(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        check: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        let bits = self.inflate_bits();
        if self.stream_ended && !input.is_empty() {
            return Err(ProtocolError::BadCompression(
                "data after the final block".into(),
            ));
        }
        loop {
            let inflater = self
                .decompressor
                .get_or_insert_with(|| Inflate::new(false, bits));
            if out.len() > limit {
                return Err(ProtocolError::MessageTooLarge);
            }
            // One byte past the limit is enough to know it was exceeded.
            let room = (limit - out.len()).saturating_add(1);
            // Output space for this call: proportional to the input (zeroing it is the
            // price of safe code), bounded, and never past the limit.
            let want = input
                .len()
                .saturating_mul(4)
                .clamp(1024, 256 << 10)
                .min(room);
            let start = out.len();
            if out.capacity() - start < want {
                // Grow geometrically, but exactly: Vec's own doubling could overshoot
                // the limit.
                out.reserve_exact(want.max(start).min(room));
            }
            out.resize(start + want, 0);
            let (in0, out0) = (inflater.total_in(), inflater.total_out());
            let status = inflater.decompress(input, &mut out[start..], InflateFlush::NoFlush);
            let used = (inflater.total_in() - in0) as usize;
            let produced = (inflater.total_out() - out0) as usize;
            out.truncate(start + produced);
            input = &input[used..];
            if produced > 0 {
                check(out)?;
            }
            match status {
                Err(e) => {
                    return Err(ProtocolError::BadCompression(format!(
                        "inflate: {}",
                        e.as_str()
                    )))
                }
                Ok(Status::StreamEnd) => {
                    // BFINAL: the peer's next message starts a new stream, which may
                    // still refer back into what was just inflated.
                    let mut fresh = Inflate::new(false, bits);
                    let n = out.len().min(1 << bits);
                    if n > 0 && fresh.set_dictionary(&out[out.len() - n..]).is_err() {
                        return Err(ProtocolError::BadCompression("restart after BFINAL".into()));
                    }
                    self.decompressor = Some(fresh);
                    self.stream_ended = true;
                    if !input.is_empty() {
                        return Err(ProtocolError::BadCompression(
                            "data after the final block".into(),
                        ));
                    }
                    break;
                }
                Ok(_) => {}
            }
            if out.len() > limit {
                return Err(ProtocolError::MessageTooLarge);
            }
            if produced < want {
                if input.is_empty() {
                    break;
                }
                if used == 0 && produced == 0 {
                    return Err(ProtocolError::BadCompression(
                        "inflate made no progress".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Ends an incoming compressed message: inflates the trailer, frees what the
    /// context-takeover rules let go.
    pub(crate) fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
        check: &mut dyn FnMut(&[u8]) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        if !std::mem::take(&mut self.stream_ended) {
            self.decompress(&TRAILER, out, limit, check)?;
        }
        if self.negotiated.decompress_no_context_takeover {
            self.decompressor = None;
        }
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
        }
        Ok(())
    }
}

/// Fuzzing entry point (for a `fuzz/` target; security.md §1.6): `data` as received by
/// an RFC 6455 connection of either side with permessage-deflate in force and small
/// limits, in pieces of `chunk` bytes. `params` picks the side (bit 0), context takeover
/// (bit 1) and the peer's window (bits 4–7, 8 + n % 8). Checks that no message longer
/// than the limit is ever delivered; must never panic.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_connection(data: &[u8], params: u8, chunk: usize) {
    use crate::framing::rfc6455::Rfc6455Codec;
    use crate::{Connection, Event, Limits, Side, Variant};
    use rand::SeedableRng;

    let side = if params & 1 == 0 {
        Side::Client
    } else {
        Side::Server
    };
    let bits = 8 + (params >> 4) % 8;
    let no_takeover = params & 2 != 0;
    let limits = Limits {
        max_message_size: 1 << 16,
        max_frame_size: 1 << 16,
        max_fragments: 64,
        ..Limits::default()
    };
    let rng = (side == Side::Client).then(|| rand::rngs::StdRng::seed_from_u64(0));
    let mut conn = Connection::new(
        side,
        Variant::Rfc6455,
        Box::new(Rfc6455Codec::new(side, rng)),
        limits.clone(),
    );
    conn.enable_deflate(Negotiated {
        params: DeflateParams::default(),
        compress_window_bits: bits,
        compress_no_context_takeover: no_takeover,
        decompress_window_bits: bits,
        decompress_no_context_takeover: no_takeover,
        level: 1,
        mem_level: 1,
    });
    for piece in data.chunks(chunk.max(1)) {
        conn.receive_data(piece);
        while let Some(ev) = conn.next_event() {
            match ev {
                Event::Text(t) => {
                    assert!(t.len() <= limits.max_message_size);
                    let _ = conn.send_text(&t);
                }
                Event::Binary(b) => {
                    assert!(b.len() <= limits.max_message_size);
                    let _ = conn.send_binary(&b);
                }
                _ => {}
            }
        }
        conn.take_output();
    }
    conn.receive_eof();
    while conn.next_event().is_some() {}
}

#[cfg(test)]
mod tests;
