//! Implementability, measured: the variant's handshake run in memory between hybi's sans-IO client and the
//! all-variant server (flights, round trips, bytes before the first message, steps, message overhead, whether
//! payload bytes reach the wire in clear), plus the size and primitives of the code it is made of
//! ([`crate::source`]).

use std::sync::Arc;

use hybi::proto::handshake::{ClientHandshake, HandshakeStatus, ServerHandshake};
use hybi::proto::{Event, Limits};
use hybi::{Session, Variant};
use serde::Serialize;

use crate::http::find;
use crate::source::{self, Helper};
use crate::subject::Target;
use crate::subjects::{client_options, server_config};

/// One handshake exchange between hybi's client and server, in memory.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Exchange {
    /// Flights in order: `"C 203"` = the client sent 203 bytes, `"S 129"` = the server answered 129 bytes.
    pub flights: Vec<String>,
    /// Client bytes written before it may send its first message.
    pub request_bytes: usize,
    /// Server bytes the client read before it may send its first message.
    pub response_bytes: usize,
    /// Bytes of the client's first HTTP head (up to the blank line).
    pub request_head: usize,
    /// Bytes the client sends right after its head, before any answer (Hixie-76's key3).
    pub request_after_head: usize,
    /// Bytes of the server's first HTTP head.
    pub response_head: usize,
    /// Bytes the server sends after that head in its first flight (Hixie-76's 16-byte answer, HELLO frames).
    pub response_after_head: usize,
    /// Server flights the client waits for before it may send its first message.
    pub round_trips: usize,
    /// `request_bytes + response_bytes`.
    pub bytes_to_first_message: usize,
    /// Points at which one side emits bytes when each is fed the other's bytes one at a time (the client's
    /// first request included): the handshake's steps.
    pub steps: usize,
    /// Client frame bytes beyond the payload for a 5-byte text message.
    pub message_overhead: usize,
    /// Whether the 5 payload bytes appear verbatim in the client's frame (the attacker chooses wire bytes).
    pub payload_in_clear: bool,
    /// Whether the client's handshake bytes differ between two seeds (a fresh random value per connection).
    pub random_per_connection: bool,
    /// Whether the same message sent twice on one connection gives two different frames (a fresh mask or
    /// nonce per frame).
    pub random_per_frame: bool,
    /// The client's codec type (from the session).
    pub client_codec: String,
    /// The server's codec type.
    pub server_codec: String,
}

/// Implementability of one variant.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Implementability {
    /// Variant name.
    pub variant: String,
    /// The handshake module `client_for` dispatches to.
    pub handshake_module: Option<String>,
    /// Framing modules of the session codecs.
    pub framing_modules: Vec<String>,
    /// Whole module files counted, with their code lines.
    pub files: Vec<(String, usize)>,
    /// Helper functions of other modules the variant's code calls (file, name, lines).
    pub helpers: Vec<(String, String, usize)>,
    /// Code lines: files + helpers (tests, comments and blank lines excluded).
    pub loc: usize,
    /// Cryptographic primitives: those named in the code, plus `CSPRNG` when the exchange is measured to use
    /// fresh randomness and `XOR mask` when frames are masked per frame without a named cipher.
    pub primitives: Vec<String>,
    /// The measured exchange.
    pub exchange: Exchange,
}

fn codec_name(s: &Session) -> String {
    let d = format!("{:?}", s.codec);
    d.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn head_split(flight: &[u8]) -> (usize, usize) {
    match find(flight, b"\r\n\r\n") {
        Some(i) if flight.starts_with(b"HTTP/") || flight.iter().take(16).any(|&b| b == b' ') => {
            (i + 4, flight.len() - i - 4)
        }
        _ => (0, flight.len()),
    }
}

struct Sim {
    ex: Exchange,
    /// Every byte the client sent during the handshake.
    client_bytes: Vec<u8>,
    client: Session,
    server: Session,
    client_left: Vec<u8>,
}

/// Feeds `input` to a machine whole or one byte at a time; returns its output, whether it finished, and how
/// many times it emitted output.
fn feed(
    input: &[u8],
    bytewise: bool,
    done_already: bool,
    mut step: impl FnMut(&[u8]) -> Result<(HandshakeStatus, Vec<u8>), String>,
) -> Result<(Vec<u8>, bool, usize), String> {
    let mut out = Vec::new();
    let mut done = done_already;
    let mut emits = 0;
    let mut i = 0;
    while i < input.len() {
        let n = if bytewise && !done {
            1
        } else {
            input.len() - i
        };
        let (st, o) = step(&input[i..i + n])?;
        if !o.is_empty() {
            emits += 1;
            out.extend_from_slice(&o);
        }
        done |= st == HandshakeStatus::Done;
        i += n;
    }
    Ok((out, done, emits))
}

fn simulate(variant: Variant, seed: u8, bytewise: bool) -> Result<Sim, String> {
    let target = Target::new("server.example", "/chat");
    let opts = client_options(variant, &target).map_err(|e| e.to_string())?;
    let mut client = ClientHandshake::new(&opts, [seed; 32]).map_err(|e| e.to_string())?;
    let mut server = ServerHandshake::with_seed(Arc::new(server_config()), [seed ^ 0x5a; 32]);
    let mut ex = Exchange::default();
    let first = client.take_output();
    ex.flights.push(format!("C {}", first.len()));
    ex.request_bytes = first.len();
    (ex.request_head, ex.request_after_head) = head_split(&first);
    ex.steps = 1;
    let (mut c_done, mut s_done) = (false, false);
    let mut client_bytes = first.clone();
    let mut to_server = first;
    let mut first_answer = true;
    for _ in 0..16 {
        if to_server.is_empty() {
            break;
        }
        let (s_out, sd, emits) = feed(&to_server, bytewise, s_done, |b| {
            let st = server.receive_data(b).map_err(|e| format!("server: {e}"))?;
            Ok((st, server.take_output()))
        })?;
        s_done = sd;
        ex.steps += emits;
        if s_out.is_empty() {
            break;
        }
        ex.flights.push(format!("S {}", s_out.len()));
        if first_answer {
            (ex.response_head, ex.response_after_head) = head_split(&s_out);
            first_answer = false;
        }
        if !c_done {
            ex.round_trips += 1;
            ex.response_bytes += s_out.len();
        }
        let was_done = c_done;
        let (c_out, cd, emits) = feed(&s_out, bytewise, c_done, |b| {
            let st = client.receive_data(b).map_err(|e| format!("client: {e}"))?;
            Ok((st, client.take_output()))
        })?;
        c_done = cd;
        ex.steps += emits;
        if !c_out.is_empty() {
            client_bytes.extend_from_slice(&c_out);
            ex.flights.push(format!("C {}", c_out.len()));
            if !was_done {
                ex.request_bytes += c_out.len();
            }
        }
        to_server = c_out;
    }
    if !(c_done && s_done) {
        return Err(format!(
            "handshake did not complete in memory (client done: {c_done}, server done: {s_done})"
        ));
    }
    ex.bytes_to_first_message = ex.request_bytes + ex.response_bytes;
    let (client_s, client_left) = client.into_session();
    let (server_s, _) = server.into_session();
    ex.client_codec = codec_name(&client_s);
    ex.server_codec = codec_name(&server_s);
    Ok(Sim {
        ex,
        client_bytes,
        client: client_s,
        server: server_s,
        client_left,
    })
}

/// Measures the exchange of `variant` (two seeds, whole flights and byte at a time).
pub fn exchange(variant: Variant) -> Result<Exchange, String> {
    let a = simulate(variant, 1, false)?;
    let b = simulate(variant, 2, false)?;
    let bytewise = simulate(variant, 1, true)?;
    let mut ex = a.ex.clone();
    ex.steps = bytewise.ex.steps;
    ex.random_per_connection = a.client_bytes != b.client_bytes;
    if !a.client_left.is_empty() {
        return Err("server bytes after the handshake before any message".into());
    }
    let mut c = a.client.into_connection(Limits::default());
    let mut s = a.server.into_connection(Limits::default());
    c.send_text("Hello").map_err(|e| e.to_string())?;
    let f1 = c.take_output();
    c.send_text("Hello").map_err(|e| e.to_string())?;
    let f2 = c.take_output();
    ex.message_overhead = f1.len().saturating_sub(5);
    ex.payload_in_clear = find(&f1, b"Hello").is_some();
    ex.random_per_frame = f1 != f2;
    s.receive_data(&f1);
    match s.next_event() {
        Some(Event::Text(t)) if t == "Hello" => {}
        other => return Err(format!("server decoded {other:?} from the client's frame")),
    }
    Ok(ex)
}

/// Implementability of `variant`: exchange plus source.
pub fn measure(variant: Variant) -> Result<Implementability, String> {
    let ex = exchange(variant)?;
    let debug = format!("{variant:?}");
    let hs = source::handshake_module(&debug);
    let mut roots: Vec<String> = hs.iter().cloned().collect();
    let mut framing = Vec::new();
    for codec in [&ex.client_codec, &ex.server_codec] {
        if let Some(m) = source::codec_module(codec) {
            if !framing.contains(&m) {
                framing.push(m.clone());
                roots.push(m);
            }
        }
    }
    let closure = source::closure(&roots, &debug);
    let mut primitives: Vec<String> = source::primitives_named(&closure.code)
        .into_iter()
        .map(String::from)
        .collect();
    if ex.random_per_connection || ex.random_per_frame {
        primitives.push("CSPRNG".into());
    }
    if ex.random_per_frame && !ex.payload_in_clear && !primitives.iter().any(|p| p == "AES-128") {
        primitives.push("XOR mask".into());
    }
    Ok(Implementability {
        variant: variant.name().to_string(),
        handshake_module: hs,
        framing_modules: framing,
        loc: closure.loc(),
        files: closure.files.clone(),
        helpers: closure
            .helpers
            .iter()
            .map(|Helper { file, name, loc }| (file.clone(), name.clone(), *loc))
            .collect(),
        primitives,
        exchange: ex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_exchange() {
        let ex = exchange(Variant::Rfc6455).unwrap();
        assert_eq!(ex.round_trips, 1);
        assert_eq!(ex.steps, 2);
        assert_eq!(ex.request_after_head, 0);
        assert_eq!(ex.message_overhead, 6);
        assert!(!ex.payload_in_clear);
        assert!(ex.random_per_connection && ex.random_per_frame);
        assert_eq!(ex.client_codec, "Rfc6455Codec");
        let m = measure(Variant::Rfc6455).unwrap();
        assert!(m.primitives.contains(&"SHA-1".to_string()), "{m:?}");
        assert!(m.primitives.contains(&"XOR mask".to_string()), "{m:?}");
        assert!(m.loc > 100);
    }

    #[test]
    fn every_implemented_variant_measures() {
        for v in Variant::ALL {
            if crate::subjects::implementation(v) == crate::subjects::Implementation::Implemented {
                let m = measure(v).unwrap_or_else(|e| panic!("{v}: {e}"));
                assert!(m.loc > 0 && m.exchange.round_trips > 0, "{v}: {m:?}");
            }
        }
    }
}
