//! The plug-in point for handshakes: a [`Subject`] is one opening-handshake variant, client and server side.
//!
//! The lab hands a subject plain byte streams (a [`BoxIo`]): for the client side a connection to whatever the
//! lab put in the way (a proxy, a network-condition relay, a non-WebSocket server, or the server directly), for
//! the server side an accepted connection, possibly with bytes already read put back in front
//! ([`crate::util::Prefixed`]). The subject never learns what is in between; the lab decides every outcome
//! from what the subject reports plus the traces of the proxies and the logs of the servers.
//!
//! The raw strawman handshakes of Huang et al. are in [`crate::strawman`]; the real variants are to be
//! implemented on top of `hybi`/`hybi-proto` (see `DESIGN.md`).

use std::time::Duration;

pub use crate::util::{BoxFuture, BoxIo, Io};

/// Where and how the client side connects (what would be the `ws://` URL plus the lab's time limits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host as written in the handshake (`Host` header / URL authority), e.g. `attacker.example`.
    pub host: String,
    /// Resource path, e.g. `/chat`.
    pub path: String,
    /// Origin the client claims, e.g. `http://attacker.example`.
    pub origin: String,
    /// Time limit for the whole opening handshake.
    pub handshake_timeout: Duration,
    /// After sending the payload, how long the client keeps reading before it reports (it reports earlier if
    /// the connection closes).
    pub linger: Duration,
    /// If set, the client also stops reading (and reports `End::StillOpen`) once it has decoded this many
    /// messages: an echo run need not wait out `linger` once its echo is back.
    pub stop_after_messages: Option<usize>,
}

impl Target {
    /// A target with the lab's default time limits.
    pub fn new(host: &str, path: &str) -> Self {
        Target {
            host: host.to_string(),
            path: path.to_string(),
            origin: format!("http://{host}"),
            handshake_timeout: Duration::from_secs(3),
            linger: Duration::from_millis(300),
            stop_after_messages: None,
        }
    }

    /// The `ws://` URL this target stands for.
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.host, self.path)
    }
}

/// Where a handshake stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Writing the request head.
    WriteRequest,
    /// Writing bytes that follow the head (Hixie-76's key3).
    WriteExtra,
    /// Reading the response head.
    ReadResponse,
    /// Reading bytes that follow the response head (Hixie-76's 16-byte answer).
    ReadExtra,
    /// Checking the response (status, fields, proof).
    Validate,
    /// Sending the payload message after the handshake.
    SendPayload,
}

/// The result of the opening handshake at the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// The client considers the connection open.
    Completed,
    /// The peer answered, and the answer is not an acceptance (wrong status, missing or wrong proof, ...).
    Rejected {
        /// Status code, if the answer parsed as an HTTP status line.
        status: Option<u16>,
        /// Why the client rejected it.
        reason: String,
    },
    /// No usable answer: I/O error, close, reset or timeout at `stage`.
    Failed {
        /// Where.
        stage: Stage,
        /// What (`timed out`, `connection reset`, ...).
        error: String,
    },
}

/// How a connection ended, seen from one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Still open when the side stopped reading (linger elapsed).
    StillOpen,
    /// Orderly close by the peer (EOF or a closing handshake).
    Closed,
    /// Connection reset.
    Reset,
    /// The peer sent bytes that are not valid for the protocol.
    ProtocolError(String),
    /// Another I/O error.
    Error(String),
}

/// What the client side observed. Every field is an observation, filled in by the subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOutcome {
    /// Result of the opening handshake.
    pub handshake: Handshake,
    /// Every byte the client wrote for its handshake (head plus any extra bytes), in order.
    pub request: Vec<u8>,
    /// Every byte the client read as the handshake answer (head plus any extra bytes).
    pub response: Vec<u8>,
    /// Time from the first byte written to the handshake result.
    pub handshake_time: Option<Duration>,
    /// Whether the payload message was written completely.
    pub payload_sent: bool,
    /// The bytes the payload message became on the wire (framing and masking included).
    pub wire_payload: Vec<u8>,
    /// Messages the client decoded after the handshake (for an echo server: the payload coming back).
    pub messages: Vec<Vec<u8>>,
    /// Raw bytes the client read after the handshake answer (whatever they were).
    pub raw_after: Vec<u8>,
    /// How the connection ended.
    pub end: End,
}

impl ClientOutcome {
    /// An outcome for a handshake that stopped before completion.
    pub fn failed(
        stage: Stage,
        error: impl Into<String>,
        request: Vec<u8>,
        response: Vec<u8>,
    ) -> Self {
        ClientOutcome {
            handshake: Handshake::Failed {
                stage,
                error: error.into(),
            },
            request,
            response,
            handshake_time: None,
            payload_sent: false,
            wire_payload: Vec::new(),
            messages: Vec::new(),
            raw_after: Vec::new(),
            end: End::Error("handshake did not complete".into()),
        }
    }

    /// Whether the handshake completed.
    pub fn completed(&self) -> bool {
        self.handshake == Handshake::Completed
    }
}

/// A connection on which the server side completed its handshake.
pub struct Upgraded {
    /// The stream, positioned after the handshake.
    pub io: BoxIo,
    /// Bytes already read from `io` beyond the handshake (they come first).
    pub leftover: Vec<u8>,
    /// Every byte the server read as the handshake request.
    pub request: Vec<u8>,
    /// Every byte the server wrote as its answer.
    pub response: Vec<u8>,
    /// Subject-specific state handed from [`Subject::accept`] to [`Subject::echo`] (e.g. the negotiated
    /// session and its codec); `None` when the subject needs none.
    pub state: Option<Box<dyn std::any::Any + Send>>,
}

/// Result of the server side of a handshake.
pub enum Accepted {
    /// Handshake completed; the connection now carries the protocol.
    Open(Upgraded),
    /// The server answered with a refusal (it wrote `status`).
    Refused {
        /// Bytes read.
        request: Vec<u8>,
        /// Status written.
        status: u16,
        /// Why.
        reason: String,
    },
    /// Nothing sensible could be read (close, timeout, garbage).
    Failed {
        /// Bytes read.
        request: Vec<u8>,
        /// Why.
        error: String,
    },
}

impl Accepted {
    /// One-line description for server logs.
    pub fn describe(&self) -> String {
        match self {
            Accepted::Open(_) => "open".into(),
            Accepted::Refused { status, reason, .. } => format!("refused {status}: {reason}"),
            Accepted::Failed { error, .. } => format!("failed: {error}"),
        }
    }
}

/// What an echoing server saw after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoReport {
    /// Messages received (each was echoed back).
    pub messages: Vec<Vec<u8>>,
    /// How the connection ended.
    pub end: End,
}

/// One opening-handshake variant, as the lab runs it.
///
/// Object safe (`Arc<dyn Subject>`); futures are boxed and `Send`.
pub trait Subject: Send + Sync {
    /// Short name for reports (e.g. `hixie-76`, `rfc6455`, `strawman-post`).
    fn name(&self) -> &str;

    /// Client side: run the opening handshake for `target` over `io`; if it completes, send `payload` as one
    /// message (the attacker chooses its contents, not its framing or masking), then read for
    /// `target.linger` (or until the connection ends) and report everything observed.
    fn run_client<'a>(
        &'a self,
        io: BoxIo,
        target: &'a Target,
        payload: &'a [u8],
    ) -> BoxFuture<'a, ClientOutcome>;

    /// Server side: read a handshake request from `io` and answer it. On success hand back the stream,
    /// positioned after the handshake, without reading further.
    fn accept<'a>(&'a self, io: BoxIo) -> BoxFuture<'a, Accepted>;

    /// Server side after [`Subject::accept`]: receive messages in this variant's framing and echo each back,
    /// until the peer closes or `idle` passes without traffic.
    fn echo<'a>(&'a self, conn: Upgraded, idle: Duration) -> BoxFuture<'a, EchoReport>;

    /// Whether a request head (bytes up to and including the blank line) is this variant's handshake request
    /// (used by the attacker's multiplexing server to pick the handshake server or the web server). The
    /// default recognises WebSocket-looking requests: an `Upgrade` field, a `Sec-WebSocket-*` field, or
    /// `CONNECT`.
    fn recognizes(&self, head: &[u8]) -> bool {
        match crate::http::RequestHead::parse(head) {
            Ok(Some((h, _))) => {
                h.method.eq_ignore_ascii_case("CONNECT")
                    || h.headers.iter().any(|(n, _)| {
                        n.eq_ignore_ascii_case("upgrade")
                            || n.to_ascii_lowercase().starts_with("sec-websocket-")
                    })
            }
            _ => false,
        }
    }
}
