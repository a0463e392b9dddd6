//! What an intermediary observed: the lab decides every outcome from these records, never from the row.

use std::net::SocketAddr;
use std::time::Duration;

/// Most bytes of one connection's traffic kept in a trace (counts stay exact beyond it).
pub const MAX_RECORDED: usize = 256 * 1024;

/// Direction of relayed bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the client towards a backend.
    ClientToBackend,
    /// From a backend towards the client.
    BackendToClient,
}

/// Why a request went where it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteReason {
    /// Looked up by the host it named.
    ByHost(String),
    /// The intercepted destination.
    ByDestination,
    /// The authority of a `CONNECT`.
    ConnectAuthority(String),
    /// The longest matching path prefix.
    ByPath(String),
}

/// Why a connection became an opaque tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TunnelReason {
    /// The backend answered `101` to an honoured `Upgrade`.
    Upgrade101,
    /// `CONNECT` handled as a tunnel (to the authority or the destination).
    Connect,
    /// The row tunnels after any answer; the status the backend gave.
    AfterAnyResponse(u16),
}

/// One observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A client connection was accepted, meant for `original_dst`.
    Accepted {
        /// Client address.
        client: SocketAddr,
        /// The destination the client addressed (where interception happened).
        original_dst: SocketAddr,
    },
    /// A request head was parsed from the client.
    Request {
        /// Exact bytes received.
        raw: Vec<u8>,
        /// Method.
        method: String,
        /// Request-target.
        target: String,
        /// Host it names (lowercase, no port).
        host: Option<String>,
    },
    /// Client bytes that did not parse as a request head.
    Unparsable {
        /// The bytes (bounded).
        bytes: Vec<u8>,
        /// httparse's reason.
        why: String,
    },
    /// A request (or tunnel) was sent to a backend.
    Routed {
        /// Backend address.
        backend: SocketAddr,
        /// Name of that backend in the lab's host map, if any.
        name: Option<String>,
        /// Why.
        why: RouteReason,
    },
    /// No backend for a host (or, under path routing, for a path).
    RouteFailed {
        /// The host (or path) looked up.
        host: String,
    },
    /// A response head from a backend.
    Response {
        /// Exact bytes received.
        raw: Vec<u8>,
        /// Status code.
        status: u16,
    },
    /// The proxy answered the client itself (error page, refusal, CONNECT `200`).
    Synthesized {
        /// Status code.
        status: u16,
        /// Why.
        why: String,
    },
    /// Bytes relayed.
    Bytes {
        /// Direction.
        dir: Dir,
        /// The bytes (bounded by [`MAX_RECORDED`] per connection; see `len`).
        bytes: Vec<u8>,
        /// How many bytes were relayed.
        len: usize,
    },
    /// Early bytes after an `Upgrade` head held back.
    HeldEarly {
        /// How many.
        len: usize,
    },
    /// Early bytes after an `Upgrade` head discarded.
    DroppedEarly {
        /// How many.
        len: usize,
    },
    /// The connection became an opaque tunnel.
    Tunnel {
        /// Why.
        why: TunnelReason,
    },
    /// A response was stored in the cache.
    CacheStore {
        /// Cache key `http://host/path`.
        key: String,
        /// The backend it came from.
        from: SocketAddr,
        /// Body length.
        body_len: usize,
    },
    /// A request was answered from the cache.
    CacheHit {
        /// Cache key.
        key: String,
    },
    /// A frame that failed inspection.
    FrameViolation {
        /// Why.
        why: String,
    },
    /// The connection ended.
    Closed {
        /// Why.
        why: String,
    },
}

/// One timestamped observation on one client connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Connection number (per intermediary, from 1).
    pub conn: u64,
    /// Time since the intermediary started.
    pub at: Duration,
    /// What was observed.
    pub kind: EventKind,
}

/// Everything an intermediary observed, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The observations.
    pub events: Vec<Event>,
}

impl Trace {
    /// Request heads parsed, in order, with their connection numbers.
    pub fn requests(&self) -> Vec<(u64, &[u8])> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Request { raw, .. } => Some((e.conn, raw.as_slice())),
                _ => None,
            })
            .collect()
    }

    /// Whether any parsed request head contains `needle`.
    pub fn parsed_request_containing(&self, needle: &str) -> bool {
        self.requests()
            .iter()
            .any(|(_, raw)| crate::http::find(raw, needle.as_bytes()).is_some())
    }

    /// Cache keys stored.
    pub fn cache_stores(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CacheStore { key, .. } => Some(key.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Cache keys served from the cache.
    pub fn cache_hits(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CacheHit { key } => Some(key.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Backends requests were routed to, with the reason.
    pub fn routes(&self) -> Vec<(SocketAddr, &RouteReason)> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Routed { backend, why, .. } => Some((*backend, why)),
                _ => None,
            })
            .collect()
    }

    /// Tunnels opened.
    pub fn tunnels(&self) -> Vec<&TunnelReason> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Tunnel { why } => Some(why),
                _ => None,
            })
            .collect()
    }

    /// Total bytes relayed in `dir`.
    pub fn bytes(&self, dir: Dir) -> usize {
        self.events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Bytes { dir: d, len, .. } if *d == dir => *len,
                _ => 0,
            })
            .sum()
    }

    /// Whether any event satisfies `f`.
    pub fn any(&self, f: impl Fn(&EventKind) -> bool) -> bool {
        self.events.iter().any(|e| f(&e.kind))
    }

    /// A one-line-per-event human summary (for reports and failing tests).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for e in &self.events {
            let line = match &e.kind {
                EventKind::Bytes { dir, len, .. } => format!("{dir:?} {len} bytes"),
                EventKind::Request {
                    method,
                    target,
                    host,
                    ..
                } => {
                    format!("request {method} {target} host={host:?}")
                }
                EventKind::Response { status, .. } => format!("response {status}"),
                other => format!("{other:?}"),
            };
            out.push_str(&format!("#{} +{:?} {}\n", e.conn, e.at, line));
        }
        out
    }
}
