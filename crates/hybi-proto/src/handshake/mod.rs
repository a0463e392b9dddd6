//! Opening handshakes: one module per proposal, two drivers shared by all of them.
//!
//! A proposal implements [`ServerVariant`] and [`ClientVariant`]: small state machines that
//! take the bytes following the request (server) or the response bytes (client), write
//! what they must send, and finish with a [`Session`] whose codec speaks the proposal's
//! framing. [`ServerHandshake`] reads the request head, tells the variant
//! ([`Variant::detect`]), applies the server's policy, and hands the rest to the
//! variant's state machine. [`ClientHandshake`] does the same for the client side.
//!
//! | module | variants |
//! |---|---|
//! | [`hixie75`] | Hixie-75 (`WebSocket-Origin`/`-Location`, no proof) |
//! | [`hixie76`] | Hixie-76 = HyBi-00, and HyBi-02/-03 (`Sec-WebSocket-Draft: 2\|3`): Key1/Key2 + 8 key bytes, 16-byte MD5 answer |
//! | [`hybi04`] | HyBi-04 (Key/Accept + server `Sec-WebSocket-Nonce`, SHA-1 connection masking key) |
//! | [`hybi05`] | HyBi-05 and -06 (Key/Accept, version 5/6) |
//! | [`rfc6455`] | RFC 6455 (13), HyBi-08 (8), HyBi-07 (7) |
//! | [`hello`] | GET + Upgrade, then HELLO frames carrying nonces and proofs (Montenegro/Wilkins) |
//! | [`connect`] | CONNECT websocket.invalid, with (Rescorla/Barth) and without (Fette) AES-CTR masking |
//! | [`upgrade_connect`] | GET + Upgrade, then CONNECT websocket.invalid inside the upgraded stream (Cridland) |
//! | [`post`] | the POST strawman of Huang et al. 2011 (key echoed) |
//!
//! The wire specifications of the five 2011 proposals are in `docs/proposals/`; each
//! module's documentation includes its specification.

use std::sync::Arc;

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha1::{Digest, Sha1};

use crate::connection::Connection;
use crate::entropy::{os_seed, Entropy};
use crate::error::HandshakeError;
use crate::extensions::{self, DeflateConfig, Extensions};
use crate::framing::Codec;
use crate::http::{self, HeadProgress, HeadReader, Request, Response};
use crate::limits::Limits;
use crate::{Side, Variant, WEBSOCKET_GUID};

pub mod connect;
pub mod hello;
pub mod hixie75;
pub mod hixie76;
pub mod hybi04;
pub mod hybi05;
mod plain_http;
pub mod post;
pub mod rfc6455;
pub mod upgrade_connect;

#[cfg(test)]
mod testutil;

/// A proposal's server side, after its request head was read and accepted.
pub trait ServerVariant: Send {
    /// Takes bytes that follow the request head (the first call gets whatever arrived
    /// with the head, possibly nothing), appends what must be sent to `out`, and returns
    /// how many input bytes it used and, once the handshake is complete, the session.
    fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError>;
}

/// A proposal's client side, after its request was written.
pub trait ClientVariant: Send {
    /// Takes bytes from the server, appends what must be sent to `out`, and returns how
    /// many input bytes it used and, once the handshake is complete, the session.
    fn advance(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError>;
}

/// An established WebSocket session: what the handshake negotiated, and a codec for the
/// proposal's framing, ready to become a [`Connection`].
#[derive(Debug)]
pub struct Session {
    /// The proposal spoken.
    pub variant: Variant,
    /// This end's role.
    pub side: Side,
    /// Resource path (server: as requested; for CONNECT proposals, from the metadata).
    pub path: String,
    /// Host the client asked for (server side) or connected to (client side).
    pub host: Option<String>,
    /// The client's origin, if it sent one.
    pub origin: Option<String>,
    /// The subprotocol selected, if any.
    pub subprotocol: Option<String>,
    /// The extensions agreed: the `Sec-WebSocket-Extensions` value of the response and
    /// what it means for this end (permessage-deflate).
    pub extensions: Option<Extensions>,
    /// The request head (server side) for routing and logging.
    pub request: Option<Request>,
    /// The response head (client side).
    pub response: Option<Response>,
    /// The framing codec for this end.
    pub codec: Box<dyn Codec>,
}

impl Session {
    /// A server's session: the request's path, host and origin, and the codec, with
    /// nothing negotiated (a proposal that selects a subprotocol or extensions sets them
    /// with struct update syntax). The driver fills in `request`.
    pub(crate) fn server_side(
        variant: Variant,
        path: String,
        host: Option<String>,
        origin: Option<String>,
        codec: Box<dyn Codec>,
    ) -> Session {
        Session {
            variant,
            side: Side::Server,
            path,
            host,
            origin,
            subprotocol: None,
            extensions: None,
            request: None,
            response: None,
            codec,
        }
    }

    /// A client's session: the path and `Host` it asked for, the response head, and the
    /// codec, with nothing negotiated and no origin recorded (set them with struct update
    /// syntax where the proposal has them).
    pub(crate) fn client_side(
        variant: Variant,
        path: String,
        host: String,
        response: Response,
        codec: Box<dyn Codec>,
    ) -> Session {
        Session {
            variant,
            side: Side::Client,
            path,
            host: Some(host),
            origin: None,
            subprotocol: None,
            extensions: None,
            request: None,
            response: Some(response),
            codec,
        }
    }

    /// Turns the session into a message-level connection.
    pub fn into_connection(self, limits: Limits) -> Connection {
        let mut conn = Connection::new(self.side, self.variant, self.codec, limits);
        if let Some(deflate) = self.extensions.and_then(|e| e.deflate) {
            conn.enable_deflate(deflate);
        }
        conn
    }
}

/// Who may connect, by origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OriginPolicy {
    /// Any origin, or none (non-browser clients send none).
    #[default]
    Any,
    /// Only these origins (exact, case-insensitive match of the serialized origin);
    /// requests without an origin are refused too.
    AllowList(Vec<String>),
}

/// A server's policy hook: sees the request and the detected variant and may refuse
/// with a reason (answered with 403).
pub type RequestHook = Arc<dyn Fn(&Request, Variant) -> Result<(), String> + Send + Sync>;

/// How a server answers opening handshakes.
#[derive(Clone)]
pub struct ServerConfig {
    /// Variants answered; any other is refused (and never answered as if accepted).
    pub variants: Vec<Variant>,
    /// Head and message limits.
    pub limits: Limits,
    /// Subprotocols this server speaks, in its order of preference.
    pub subprotocols: Vec<String>,
    /// Origin policy.
    pub origin: OriginPolicy,
    /// Hosts this server answers for (`Host` without port, case-insensitive); `None` to
    /// answer for any.
    pub hosts: Option<Vec<String>>,
    /// Whether connections arrive over TLS (for the `wss:` in Hixie's Location headers).
    pub secure: bool,
    /// Extra check run after the built-in ones.
    pub hook: Option<RequestHook>,
    /// permessage-deflate (RFC 7692) for the RFC 6455 family (versions 7, 8, 13): `None`
    /// declines every offer (the default: compression costs memory and CPU per
    /// connection, see [`crate::extensions::deflate`]).
    pub deflate: Option<DeflateConfig>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("variants", &self.variants)
            .field("limits", &self.limits)
            .field("subprotocols", &self.subprotocols)
            .field("origin", &self.origin)
            .field("hosts", &self.hosts)
            .field("secure", &self.secure)
            .field("hook", &self.hook.is_some())
            .field("deflate", &self.deflate)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            variants: Variant::DEFAULT_SERVER.to_vec(),
            limits: Limits::default(),
            subprotocols: Vec::new(),
            origin: OriginPolicy::Any,
            hosts: None,
            secure: false,
            hook: None,
            deflate: None,
        }
    }
}

impl ServerConfig {
    /// The first subprotocol the client offered that this server speaks.
    pub fn select_subprotocol<'a>(&self, offered: impl Iterator<Item = &'a str>) -> Option<String> {
        let offered: Vec<&str> = offered.collect();
        offered
            .iter()
            .find(|p| self.subprotocols.iter().any(|s| s == *p))
            .map(|p| p.to_string())
    }
}

/// A refusal: the HTTP answer to write, and the error to report.
#[derive(Clone, Debug)]
pub struct Rejection {
    /// HTTP status.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Extra response headers (e.g. `Sec-WebSocket-Version` with a 426).
    pub headers: Vec<(String, String)>,
    /// What went wrong.
    pub error: HandshakeError,
}

impl Rejection {
    /// 400 Bad Request for `error`.
    pub fn bad_request(error: HandshakeError) -> Self {
        Rejection {
            status: 400,
            reason: "Bad Request",
            headers: Vec::new(),
            error,
        }
    }

    /// 403 Forbidden for `error`.
    pub fn forbidden(error: HandshakeError) -> Self {
        Rejection {
            status: 403,
            reason: "Forbidden",
            headers: Vec::new(),
            error,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let extra: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        http::write_error(
            out,
            self.status,
            self.reason,
            &extra,
            &format!("{}\n", self.error),
        );
    }
}

impl From<HandshakeError> for Rejection {
    fn from(e: HandshakeError) -> Self {
        Rejection::bad_request(e)
    }
}

/// `base64(SHA-1(key ‖ GUID))`: RFC 6455 §4.2.2 item 5.4, also HyBi-04..-17.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// The marker header of the 2011 proposals that start with a plain GET + Upgrade.
pub const HANDSHAKE_MARKER: &str = "Sec-WebSocket-Handshake";

/// Marker headers of the 2011 proposals that start with a plain GET (HELLO,
/// Upgrade+CONNECT); consulted by [`Variant::detect`] before version numbers.
///
/// `GET` + `Upgrade` containing `websocket` + `Sec-WebSocket-Handshake: hello` ⇒
/// [`Variant::Hello`], `…: upgrade-connect` ⇒ [`Variant::UpgradeConnect`]. Without the
/// marker, `Ok(None)` (the legacy rules decide); with an unknown marker value, an error:
/// such a head is none of the variants we know, and guessing Hixie-75 would be wrong.
pub(crate) fn proposal_marker(req: &Request) -> Result<Option<Variant>, HandshakeError> {
    if req.method != "GET" || !req.headers.has_token("Upgrade", "websocket") {
        return Ok(None);
    }
    let Some(marker) = req.headers.get(HANDSHAKE_MARKER) else {
        return Ok(None);
    };
    match marker.trim_ascii() {
        b"hello" => Ok(Some(Variant::Hello)),
        b"upgrade-connect" => Ok(Some(Variant::UpgradeConnect)),
        other => Err(HandshakeError::UnknownVariant(format!(
            "{HANDSHAKE_MARKER}: {:?}",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// `HMAC-SHA-1(key, msg)`: the proof and key derivation of the CONNECT proposals.
pub(crate) fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The request's `Sec-WebSocket-Key`: present once, and base64 (standard, padded) of
/// exactly 16 bytes (RFC 6455 §4.2.1 item 5; the 2011 proposals keep the rule).
pub(crate) fn required_key16(req: &Request) -> Result<&str, HandshakeError> {
    use base64::engine::general_purpose::STANDARD;
    use base64::{DecodeSliceError, Engine};
    let key = req.headers.required_str("Sec-WebSocket-Key")?;
    let not_base64 = || HandshakeError::InvalidHeader {
        name: "Sec-WebSocket-Key",
        reason: "not base64".into(),
    };
    let wrong_length = |n: usize| HandshakeError::InvalidHeader {
        name: "Sec-WebSocket-Key",
        reason: format!("decodes to {n} bytes, not 16"),
    };
    // Decoded on the stack: the allocation of `decode` was one of a handshake's dozen
    // (docs/benchmarks.md, "handshake allocations"). 18 bytes hold any 24-character key.
    let mut decoded = [0u8; 18];
    match STANDARD.decode_slice(key, &mut decoded) {
        Ok(16) => Ok(key),
        Ok(n) => Err(wrong_length(n)),
        // Longer than any valid key: decoded again only to say by how much.
        Err(DecodeSliceError::OutputSliceTooSmall) => match STANDARD.decode(key) {
            Ok(all) => Err(wrong_length(all.len())),
            Err(_) => Err(not_base64()),
        },
        Err(DecodeSliceError::DecodeError(_)) => Err(not_base64()),
    }
}

/// A field that must be present once and not empty (`Host` everywhere; the Hixie
/// drafts' `Origin`, which their answer echoes).
pub(crate) fn required_nonempty<'a>(
    req: &'a Request,
    name: &'static str,
) -> Result<&'a str, HandshakeError> {
    let value = req.headers.required_str(name)?;
    if value.is_empty() {
        return Err(HandshakeError::MissingHeader(name));
    }
    Ok(value)
}

/// `Connection` must list the `Upgrade` token, ASCII case-insensitively (RFC 6455 §4.2.1
/// item 4; the GET + Upgrade proposals of 2011 keep the rule).
pub(crate) fn connection_upgrade(req: &Request) -> Result<(), HandshakeError> {
    if !req.headers.has_token("Connection", "upgrade") {
        return Err(HandshakeError::InvalidHeader {
            name: "Connection",
            reason: "must contain Upgrade".into(),
        });
    }
    Ok(())
}

/// The error for a request line other than `need HTTP/1.1` (the 2011 proposals fix the
/// method, the target's form and the HTTP version).
pub(crate) fn wrong_request_line(req: &Request, need: &str) -> HandshakeError {
    HandshakeError::MalformedHead(format!(
        "request line {} {} HTTP/1.{} (need {need} HTTP/1.1)",
        req.method, req.target, req.version
    ))
}

/// Fails when any of `names` is present (headers that belong to another variant or
/// announce a body).
pub(crate) fn forbid_headers(
    req: &Request,
    variant: Variant,
    names: &[&'static str],
) -> Result<(), HandshakeError> {
    for name in names {
        if req.headers.contains(name) {
            return Err(HandshakeError::InvalidHeader {
                name,
                reason: format!("not allowed in a {variant} handshake"),
            });
        }
    }
    Ok(())
}

/// The 2011 proposals negotiate no subprotocol: refuse to offer one rather than
/// silently dropping it.
pub(crate) fn no_subprotocols(opts: &ClientOptions) -> Result<(), HandshakeError> {
    if opts.subprotocols.is_empty() {
        Ok(())
    } else {
        Err(HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Protocol",
            reason: format!("the {} proposal negotiates no subprotocol", opts.variant),
        })
    }
}

/// Appends the caller's extra request fields to a proposal's fixed list.
pub(crate) fn with_extra<'a>(
    mut headers: Vec<(&'a str, &'a str)>,
    opts: &'a ClientOptions,
) -> Vec<(&'a str, &'a str)> {
    for (n, v) in &opts.headers {
        headers.push((n, v));
    }
    headers
}

/// The `Host` value of a request, trimmed, if present and UTF-8.
pub(crate) fn request_host(req: &Request) -> Option<String> {
    req.headers
        .get("Host")
        .and_then(|h| std::str::from_utf8(h).ok())
        .map(|h| h.trim().to_owned())
}

/// Whether `host` (without port) is one the configuration serves.
pub(crate) fn host_allowed(cfg: &ServerConfig, host: &str) -> bool {
    match &cfg.hosts {
        None => true,
        Some(hosts) => {
            let host = strip_port(host);
            hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
        }
    }
}

/// Whether `origin` passes the configuration's origin policy.
pub(crate) fn origin_allowed(cfg: &ServerConfig, origin: Option<&str>) -> bool {
    match &cfg.origin {
        OriginPolicy::Any => true,
        OriginPolicy::AllowList(allowed) => {
            let origin = origin.unwrap_or("");
            allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
        }
    }
}

/// The server side of the proposals that answer the request head at once and are then
/// done (Hixie-75, HyBi-04..-06, RFC 6455, `connect`, `connect-masked`, `post`): every
/// check ran on the head, so the answer and the session are settled before anything is
/// written.
struct AnswerAtOnce {
    answer: Vec<u8>,
    session: Option<Session>,
}

/// A server side that writes `answer` (a complete response head) and completes with
/// `session`.
pub(crate) fn answer_at_once(answer: Vec<u8>, session: Session) -> Box<dyn ServerVariant> {
    Box::new(AnswerAtOnce {
        answer,
        session: Some(session),
    })
}

impl ServerVariant for AnswerAtOnce {
    fn advance(
        &mut self,
        _input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        let session = self
            .session
            .take()
            .ok_or_else(|| HandshakeError::Protocol("handshake already complete".into()))?;
        if out.is_empty() {
            // The usual case (nothing written before the answer): hand the buffer over
            // rather than copy it, so that answering costs what writing into `out` did.
            std::mem::swap(out, &mut self.answer);
        } else {
            out.append(&mut self.answer);
        }
        Ok((0, Some(session)))
    }
}

/// The `101` of the Key/Accept family (HyBi-04 on; RFC 6455 §4.2.2 item 5):
/// `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Accept`, then each of
/// `optional` that has a value, in order.
pub(crate) fn accept_101(accept: &str, optional: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut headers: Vec<(&str, &str)> = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept),
    ];
    headers.extend(optional.iter().filter_map(|&(n, v)| Some((n, v?))));
    let mut answer = Vec::new();
    http::write_response(&mut answer, 101, "Switching Protocols", &headers);
    answer
}

/// Variants whose server side draws random values (nonces, frame masks).
fn server_needs_entropy(variant: Variant) -> bool {
    matches!(
        variant,
        Variant::Hybi04 | Variant::Connect | Variant::ConnectMasked | Variant::Hello
    )
}

/// The server-side state machine for `variant` after its head was read. `entropy`
/// supplies the variant's random values (server nonces, frame nonces).
fn server_for(
    variant: Variant,
    req: &Request,
    cfg: &ServerConfig,
    entropy: Option<Entropy>,
) -> Result<Box<dyn ServerVariant>, Rejection> {
    let drawn = || entropy.expect("drawn for the variants that need it (server_needs_entropy)");
    match variant {
        Variant::Hixie75 => hixie75::server(req, cfg),
        Variant::Hixie76 | Variant::Hybi03 => hixie76::server(variant, req, cfg),
        Variant::Hybi04 => hybi04::server(req, cfg, drawn()),
        Variant::Hybi05 | Variant::Hybi06 => hybi05::server(variant, req, cfg),
        Variant::Rfc6455 | Variant::Hybi08 | Variant::Hybi07 => rfc6455::server(variant, req, cfg),
        Variant::Connect | Variant::ConnectMasked => connect::server(variant, req, cfg, drawn()),
        Variant::Hello => hello::server(req, cfg, drawn()),
        Variant::UpgradeConnect => upgrade_connect::server(req, cfg),
        Variant::Post => post::server(req, cfg),
    }
}

/// The client-side state machine for `opts.variant`; writes the request to `out`.
fn client_for(
    opts: &ClientOptions,
    entropy: Entropy,
    out: &mut Vec<u8>,
) -> Result<Box<dyn ClientVariant>, HandshakeError> {
    match opts.variant {
        Variant::Hixie75 => hixie75::client(opts, out),
        Variant::Hixie76 | Variant::Hybi03 => Ok(hixie76::client(opts, entropy.into_rng(), out)),
        Variant::Hybi04 => Ok(hybi04::keyed_client(opts, entropy.into_rng(), out)),
        Variant::Hybi05 | Variant::Hybi06 => Ok(hybi05::client(opts, entropy.into_rng(), out)),
        Variant::Rfc6455 | Variant::Hybi08 | Variant::Hybi07 => {
            Ok(rfc6455::client(opts, entropy.into_rng(), out))
        }
        Variant::Connect | Variant::ConnectMasked => connect::client(opts, entropy, out),
        Variant::Hello => hello::client(opts, entropy, out),
        Variant::UpgradeConnect => upgrade_connect::client(opts, entropy, out),
        Variant::Post => post::client(opts, entropy, out),
    }
}

/// Server-side origin of a request: `Origin` (Hixie-75/76, HyBi-11+) or
/// `Sec-WebSocket-Origin` (HyBi-04..-10).
pub fn request_origin(req: &Request) -> Option<&str> {
    req.headers
        .get("Origin")
        .or_else(|| req.headers.get("Sec-WebSocket-Origin"))
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
}

/// Status of a handshake driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeStatus {
    /// Needs more bytes.
    InProgress,
    /// Complete: take the session with `into_session`.
    Done,
}

enum ServerState {
    Head(HeadReader),
    Variant(Box<dyn ServerVariant>),
    Done,
    Failed,
}

/// The server side of any opening handshake, for one connection.
pub struct ServerHandshake {
    config: Arc<ServerConfig>,
    state: ServerState,
    variant: Option<Variant>,
    request: Option<Request>,
    out: Vec<u8>,
    session: Option<Session>,
    leftover: Vec<u8>,
    /// Seeded on first use, from `seed` or else from the OS: most variants draw nothing,
    /// and a `getrandom` call plus two ChaCha seedings cost ~1.5 µs per RFC 6455
    /// handshake (docs/benchmarks.md, "handshakes").
    entropy: Option<Entropy>,
    seed: Option<[u8; 32]>,
    /// The refused request was ordinary HTTP, not a broken handshake.
    plain_http: bool,
}

impl ServerHandshake {
    /// A handshake answered according to `config`. The random values some proposals need
    /// on the server side (HELLO's server nonce, AES-CTR frame nonces) come from a seed
    /// drawn from the operating system; [`ServerHandshake::with_seed`] makes them
    /// reproducible.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self::build(config, None, None)
    }

    /// A handshake whose server-side random values derive from `seed`.
    pub fn with_seed(config: Arc<ServerConfig>, seed: [u8; 32]) -> Self {
        Self::build(config, None, Some(seed))
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn with_entropy(config: Arc<ServerConfig>, entropy: Entropy) -> Self {
        Self::build(config, Some(entropy), None)
    }

    fn build(config: Arc<ServerConfig>, entropy: Option<Entropy>, seed: Option<[u8; 32]>) -> Self {
        ServerHandshake {
            config,
            state: ServerState::Head(HeadReader::default()),
            variant: None,
            request: None,
            out: Vec::new(),
            session: None,
            leftover: Vec::new(),
            entropy,
            seed,
            plain_http: false,
        }
    }

    /// The variant detected from the request head, once known.
    pub fn variant(&self) -> Option<Variant> {
        self.variant
    }

    /// The request head, once read (until the session takes it).
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    /// Bytes to write (the response, or an error answer after a failure).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Bytes to write, without taking them.
    pub fn pending_output(&self) -> &[u8] {
        &self.out
    }

    /// Feeds bytes from the client. On error, the pending output holds the HTTP answer
    /// to send before closing.
    pub fn receive_data(&mut self, mut input: &[u8]) -> Result<HandshakeStatus, HandshakeError> {
        loop {
            match &mut self.state {
                ServerState::Head(reader) => {
                    match reader.feed_request(input, &self.config.limits) {
                        Err(e) => return Err(self.reject(Rejection::bad_request(e))),
                        Ok(HeadProgress::Partial) => return Ok(HandshakeStatus::InProgress),
                        Ok(HeadProgress::Complete { head, consumed }) => {
                            input = &input[consumed..];
                            match self.accept(&head) {
                                Ok(machine) => {
                                    self.request = Some(head);
                                    self.state = ServerState::Variant(machine);
                                }
                                Err(rej) => {
                                    self.plain_http = plain_http::is_plain(&head, &rej.error);
                                    self.request = Some(head);
                                    return Err(self.reject(rej));
                                }
                            }
                        }
                    }
                }
                ServerState::Variant(machine) => match machine.advance(input, &mut self.out) {
                    Err(e) => {
                        self.state = ServerState::Failed;
                        return Err(e);
                    }
                    Ok((used, None)) => {
                        debug_assert_eq!(used, input.len());
                        return Ok(HandshakeStatus::InProgress);
                    }
                    Ok((used, Some(mut session))) => {
                        self.leftover = input[used..].to_vec();
                        if session.request.is_none() {
                            session.request = self.request.take();
                        }
                        self.session = Some(session);
                        self.state = ServerState::Done;
                        return Ok(HandshakeStatus::Done);
                    }
                },
                ServerState::Done => {
                    self.leftover.extend_from_slice(input);
                    return Ok(HandshakeStatus::Done);
                }
                ServerState::Failed => {
                    return Err(HandshakeError::Protocol("handshake already failed".into()))
                }
            }
        }
    }

    /// After [`ServerHandshake::receive_data`] failed because the request was ordinary
    /// HTTP rather than a handshake (`GET` or `HEAD` without any `Upgrade` or
    /// `Sec-WebSocket-*` field and without a body): takes that request and drops the
    /// pending `400` answer, so a server that also serves pages can answer it. `None` for
    /// every other failure (malformed heads, broken or refused handshakes), whose answer
    /// stays pending.
    pub fn take_plain_http_request(&mut self) -> Option<Request> {
        if !self.plain_http {
            return None;
        }
        self.plain_http = false;
        self.out.clear();
        self.request.take()
    }

    /// The client closed its side before the handshake finished.
    pub fn receive_eof(&mut self) -> HandshakeError {
        self.state = ServerState::Failed;
        HandshakeError::UnexpectedEof
    }

    fn reject(&mut self, rej: Rejection) -> HandshakeError {
        rej.write(&mut self.out);
        self.state = ServerState::Failed;
        rej.error
    }

    /// Detection and policy, then the variant's own checks.
    fn accept(&mut self, req: &Request) -> Result<Box<dyn ServerVariant>, Rejection> {
        let cfg = &self.config;
        let variant = match Variant::detect(req) {
            Ok(v) => v,
            Err(
                e @ HandshakeError::InvalidHeader {
                    name: "Sec-WebSocket-Version",
                    ..
                },
            ) => {
                return Err(self.version_rejection(e));
            }
            Err(e) => return Err(Rejection::bad_request(e)),
        };
        self.variant = Some(variant);
        if !cfg.variants.contains(&variant) {
            let err = HandshakeError::VariantDisabled(variant);
            if variant.version_number().is_some() {
                return Err(self.version_rejection(err));
            }
            return Err(Rejection::bad_request(err));
        }
        // The CONNECT proposals name only websocket.invalid in the head: their host and
        // origin travel in Sec-WebSocket-Metadata, which their module checks.
        let routed_by_metadata = matches!(variant, Variant::Connect | Variant::ConnectMasked);
        if !routed_by_metadata {
            let host = request_host(req).unwrap_or_default();
            if !host_allowed(cfg, &host) {
                return Err(Rejection::forbidden(HandshakeError::Refused(format!(
                    "host {:?} is not served here",
                    strip_port(&host)
                ))));
            }
            let origin = request_origin(req);
            if !origin_allowed(cfg, origin) {
                return Err(Rejection::forbidden(HandshakeError::OriginRejected(
                    origin.unwrap_or("").to_owned(),
                )));
            }
        }
        if let Some(hook) = &cfg.hook {
            hook(req, variant).map_err(|why| Rejection::forbidden(HandshakeError::Refused(why)))?;
        }
        let entropy = if server_needs_entropy(variant) {
            let seed = self.seed;
            let parent = self.entropy.get_or_insert_with(|| {
                Entropy::from_rng(StdRng::from_seed(seed.unwrap_or_else(os_seed)))
            });
            Some(parent.child())
        } else {
            None
        };
        server_for(variant, req, &self.config, entropy)
    }

    /// RFC 6455 §4.4: an unsupported version is answered with the versions we speak.
    fn version_rejection(&self, error: HandshakeError) -> Rejection {
        let mut numbers: Vec<u8> = self
            .config
            .variants
            .iter()
            .filter_map(|v| v.version_number())
            .collect();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        let versions: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
        Rejection {
            status: 426,
            reason: "Upgrade Required",
            headers: vec![("Sec-WebSocket-Version".into(), versions.join(", "))],
            error,
        }
    }

    /// The session, and any bytes that arrived after the handshake (frames already
    /// sent by an eager client). Panics before [`HandshakeStatus::Done`].
    pub fn into_session(self) -> (Session, Vec<u8>) {
        (self.session.expect("handshake not complete"), self.leftover)
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map(|h| &h[1..]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// What a client asks for.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The proposal to speak.
    pub variant: Variant,
    /// Server host name (or address) as in the URL.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Resource path and query.
    pub path: String,
    /// `wss:` (TLS) rather than `ws:`.
    pub secure: bool,
    /// Origin to send, if any.
    pub origin: Option<String>,
    /// Subprotocols to offer.
    pub subprotocols: Vec<String>,
    /// Extra request header fields.
    pub headers: Vec<(String, String)>,
    /// Limits for the response head.
    pub limits: Limits,
    /// Offer permessage-deflate (RFC 7692) with these settings (RFC 6455 family only).
    pub deflate: Option<DeflateConfig>,
}

impl ClientOptions {
    /// Options for `url` (`ws://host[:port]/path` or `wss://…`) speaking `variant`.
    pub fn from_url(url: &str, variant: Variant) -> Result<Self, HandshakeError> {
        let bad = |why: &str| HandshakeError::InvalidHeader {
            name: "URL",
            reason: format!("{url:?}: {why}"),
        };
        let (secure, rest) = if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else {
            return Err(bad("scheme must be ws or wss"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("bad authority"));
        }
        let default_port = if secure { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("bad IPv6 literal"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None => default_port,
            };
            (format!("[{h}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_owned(), default_port),
            }
        };
        Ok(ClientOptions {
            variant,
            host,
            port,
            path,
            secure,
            origin: None,
            subprotocols: Vec::new(),
            headers: Vec::new(),
            limits: Limits::default(),
            deflate: None,
        })
    }

    /// The `Host` header value: host, plus `:port` when not the scheme's default.
    pub fn host_header(&self) -> String {
        let default_port = if self.secure { 443 } else { 80 };
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL (`ws[s]://host[:port]/path`), as Hixie's Location headers spell it.
    pub fn url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.host_header(), self.path)
    }

    /// The address to open a TCP connection to (`host:port`, IPv6 bracketed).
    pub fn socket_addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The client side of any opening handshake, for one connection.
pub struct ClientHandshake {
    machine: Option<Box<dyn ClientVariant>>,
    out: Vec<u8>,
    session: Option<Session>,
    leftover: Vec<u8>,
}

impl ClientHandshake {
    /// Starts a handshake; the request is ready in [`ClientHandshake::take_output`].
    /// `seed` drives every random choice (keys, nonces, masks) of the handshake and
    /// the connection after it, so runs can be replayed.
    pub fn new(opts: &ClientOptions, seed: [u8; 32]) -> Result<Self, HandshakeError> {
        Self::with_entropy(opts, Entropy::from_rng(StdRng::from_seed(seed)))
    }

    pub(crate) fn with_entropy(
        opts: &ClientOptions,
        entropy: Entropy,
    ) -> Result<Self, HandshakeError> {
        let mut out = Vec::new();
        let machine = client_for(opts, entropy, &mut out)?;
        Ok(ClientHandshake {
            machine: Some(machine),
            out,
            session: None,
            leftover: Vec::new(),
        })
    }

    /// Bytes to write.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Bytes to write, without taking them.
    pub fn pending_output(&self) -> &[u8] {
        &self.out
    }

    /// Feeds bytes from the server.
    pub fn receive_data(&mut self, input: &[u8]) -> Result<HandshakeStatus, HandshakeError> {
        let Some(machine) = self.machine.as_mut() else {
            if self.session.is_some() {
                self.leftover.extend_from_slice(input);
                return Ok(HandshakeStatus::Done);
            }
            return Err(HandshakeError::Protocol("handshake already failed".into()));
        };
        match machine.advance(input, &mut self.out) {
            Err(e) => {
                self.machine = None;
                Err(e)
            }
            Ok((_, None)) => Ok(HandshakeStatus::InProgress),
            Ok((used, Some(session))) => {
                self.leftover = input[used..].to_vec();
                self.session = Some(session);
                self.machine = None;
                Ok(HandshakeStatus::Done)
            }
        }
    }

    /// The server closed before the handshake finished.
    pub fn receive_eof(&mut self) -> HandshakeError {
        self.machine = None;
        HandshakeError::UnexpectedEof
    }

    /// The session and any bytes after the handshake. Panics before `Done`.
    pub fn into_session(self) -> (Session, Vec<u8>) {
        (self.session.expect("handshake not complete"), self.leftover)
    }
}

/// A child RNG for the connection's codec, drawn from the handshake's RNG.
pub(crate) fn child_rng(rng: &mut StdRng) -> StdRng {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    StdRng::from_seed(seed)
}

/// Random bytes, base64-encoded (client keys).
pub(crate) fn random_key(rng: &mut StdRng, n: usize) -> String {
    let mut raw = vec![0u8; n];
    rng.fill_bytes(&mut raw);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Writes a request head.
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) {
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Client-side checks shared by the Upgrade-based variants from HyBi-04 on (RFC 6455
/// §4.1 items 2–6 of the response checks): 101, `Upgrade: websocket`,
/// `Connection: Upgrade`, the Accept value, and only offered subprotocols.
// Used by the Upgrade-based variants that negotiate no extension (HyBi-04..-06, the
// 2011 proposals); RFC 6455 itself uses `check_upgrade_response_with`.
#[allow(dead_code)]
pub(crate) fn check_upgrade_response(
    resp: &Response,
    expected_accept: &str,
    offered: &[String],
) -> Result<Option<String>, HandshakeError> {
    check_upgrade_response_with(resp, expected_accept, offered, None).map(|(p, _)| p)
}

/// [`check_upgrade_response`] for a client that offered extensions (`deflate`): returns
/// the subprotocol and the extensions the response agreed to, refusing any that was not
/// offered or that breaks RFC 7692's rules.
pub(crate) fn check_upgrade_response_with(
    resp: &Response,
    expected_accept: &str,
    offered: &[String],
    deflate: Option<&DeflateConfig>,
) -> Result<(Option<String>, Option<Extensions>), HandshakeError> {
    check_switching(resp)?;
    check_accept(resp, expected_accept)?;
    let protocol = resp.headers.optional_str("Sec-WebSocket-Protocol")?;
    if let Some(p) = protocol {
        if !offered.iter().any(|o| o == p) {
            return Err(HandshakeError::UnrequestedNegotiation(format!(
                "subprotocol {p:?}"
            )));
        }
    }
    let extensions = extensions::client_accept(deflate, &resp.headers)?;
    Ok((protocol.map(str::to_owned), extensions))
}

/// Fails unless the response's status is `code` (a client treats any other answer as
/// a failed handshake, RFC 6455 §4.1 response check 1).
pub(crate) fn expect_status(resp: &Response, code: u16) -> Result<(), HandshakeError> {
    if resp.code != code {
        return Err(HandshakeError::UnexpectedStatus {
            code: resp.code,
            line: resp.status_line(),
        });
    }
    Ok(())
}

/// The checks every `101` answer to a GET + Upgrade gets (RFC 6455 §4.1 response checks
/// 1–3; Hixie-76 and the 2011 proposals that upgrade keep them): status 101, `Upgrade`
/// containing `websocket` and `Connection` containing `Upgrade`, ASCII case-insensitive.
pub(crate) fn check_switching(resp: &Response) -> Result<(), HandshakeError> {
    expect_status(resp, 101)?;
    if !resp.headers.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::MissingHeader("Upgrade"));
    }
    if !resp.headers.has_token("Connection", "upgrade") {
        return Err(HandshakeError::MissingHeader("Connection"));
    }
    Ok(())
}

/// `Sec-WebSocket-Accept` present once and equal to `expected` (RFC 6455 §4.1 response
/// check 4; the CONNECT and POST proposals prove themselves the same way on a `200`).
pub(crate) fn check_accept(resp: &Response, expected: &str) -> Result<(), HandshakeError> {
    let accept = resp.headers.required_str("Sec-WebSocket-Accept")?;
    if accept != expected {
        return Err(HandshakeError::BadProof(format!(
            "Sec-WebSocket-Accept {accept:?}, expected {expected:?}"
        )));
    }
    Ok(())
}

/// The client side of the proposals whose server answers with one head and nothing
/// after it (HyBi-04..-06, RFC 6455, `connect`, `connect-masked`, `post`): reads that
/// head, then `finish` checks it and builds the session.
struct OneResponse<F> {
    reader: HeadReader,
    limits: Limits,
    finish: Option<F>,
}

/// A client side that completes with what `finish` makes of the response head.
pub(crate) fn one_response<F>(limits: &Limits, finish: F) -> Box<dyn ClientVariant>
where
    F: FnOnce(Response) -> Result<Session, HandshakeError> + Send + 'static,
{
    Box::new(OneResponse {
        reader: HeadReader::default(),
        limits: limits.clone(),
        finish: Some(finish),
    })
}

impl<F> ClientVariant for OneResponse<F>
where
    F: FnOnce(Response) -> Result<Session, HandshakeError> + Send,
{
    fn advance(
        &mut self,
        input: &[u8],
        _out: &mut Vec<u8>,
    ) -> Result<(usize, Option<Session>), HandshakeError> {
        let Some((resp, used)) = read_response(&mut self.reader, input, &self.limits)? else {
            return Ok((input.len(), None));
        };
        let finish = self
            .finish
            .take()
            .ok_or_else(|| HandshakeError::Protocol("handshake already complete".into()))?;
        Ok((used, Some(finish(resp)?)))
    }
}

/// Reads a response head for a client state machine: returns it once complete.
pub(crate) fn read_response(
    reader: &mut HeadReader,
    input: &[u8],
    limits: &Limits,
) -> Result<Option<(Response, usize)>, HandshakeError> {
    match reader.feed_response(input, limits)? {
        HeadProgress::Partial => Ok(None),
        HeadProgress::Complete { head, consumed } => Ok(Some((head, consumed))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_vector() {
        // RFC 6455 §1.3 / VARIANTS.md §7.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn key_must_decode_to_16_bytes() {
        let check = |key: &str| {
            let req = Request {
                method: "GET".into(),
                target: "/".into(),
                version: 1,
                headers: [("Sec-WebSocket-Key", key)].into_iter().collect(),
            };
            required_key16(&req)
                .map(str::to_owned)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            check(" dGhlIHNhbXBsZSBub25jZQ== ").as_deref(),
            Ok("dGhlIHNhbXBsZSBub25jZQ==")
        );
        // 15 bytes, 21 bytes (longer than the stack buffer), 0 bytes, not base64.
        assert!(check("dGhlIHNhbXBsZSBub25j")
            .unwrap_err()
            .contains("decodes to 15 bytes"));
        assert!(check("dGhlIHNhbXBsZSBub25jZSBhYmNk")
            .unwrap_err()
            .contains("decodes to 21 bytes"));
        assert!(check("").is_err());
        assert!(check("dGhlIHNhbXBsZSBub25jZQ=!")
            .unwrap_err()
            .contains("not base64"));
        assert!(check("dGhlIHNhbXBsZSBub25jZSBhYmNk!!!!")
            .unwrap_err()
            .contains("not base64"));
    }

    #[test]
    fn urls() {
        let o = ClientOptions::from_url("ws://127.0.0.1:9001/a?b", Variant::Rfc6455).unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.path.as_str()),
            ("127.0.0.1", 9001, "/a?b")
        );
        assert_eq!(o.host_header(), "127.0.0.1:9001");
        let o = ClientOptions::from_url("wss://example.com", Variant::Rfc6455).unwrap();
        assert_eq!(
            (o.port, o.path.as_str(), o.host_header().as_str()),
            (443, "/", "example.com")
        );
        let o = ClientOptions::from_url("ws://[::1]:80/x", Variant::Rfc6455).unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.host_header().as_str()),
            ("[::1]", 80, "[::1]")
        );
        assert!(ClientOptions::from_url("http://x/", Variant::Rfc6455).is_err());
    }
}
