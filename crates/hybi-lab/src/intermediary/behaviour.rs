//! What an intermediary does, as a row of data ([`Behaviour`]), and the table of built-in rows ([`MODELS`]).
//!
//! A row never names an outcome: it says how the proxy treats `Upgrade`, `CONNECT`, bytes after a head,
//! routing and caching; whether a handshake survives it, or an attack succeeds through it, is only ever
//! decided by running traffic through the one engine ([`super::ModelProxy`]) that interprets every row.

use std::time::Duration;

/// How the proxy treats an HTTP/1.1 `Upgrade` request (`Connection: upgrade` + `Upgrade: x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeHandling {
    /// Forwards `Upgrade`/`Connection`; on a `101` answer it stops parsing and relays bytes both ways.
    Tunnel,
    /// Removes `Upgrade` and the `upgrade` token of `Connection` before forwarding (hop-by-hop fields);
    /// the request reaches the backend as a plain request.
    Strip,
    /// Forwards the fields verbatim but does not implement the mechanism: a `101` is relayed as one more
    /// body-less response, and the bytes that follow from the client are parsed as further HTTP requests.
    Ignore,
}

/// What the proxy does with client bytes that follow an `Upgrade` request head which has neither
/// `Content-Length` nor `Transfer-Encoding` (Hixie-76's 8-byte key3 is such bytes), while it waits for the
/// backend's answer. Only meaningful with [`UpgradeHandling::Tunnel`]; the other modes parse such bytes as
/// the next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EarlyData {
    /// Passes them to the backend as they arrive.
    Forward,
    /// Keeps them until a `101` arrives, then sends them; on any other answer they are parsed as the
    /// next request.
    HoldUntil101,
    /// Discards them.
    Drop,
}

/// How the proxy treats `CONNECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectHandling {
    /// Answers `405` with an HTML page and closes.
    Refuse,
    /// HTTP semantics: connects to the authority in the request-target (looked up in the lab's host map;
    /// anything not in it, such as `websocket.invalid`, fails with `502`), answers `200` itself, then tunnels.
    TunnelToAuthority,
    /// Treats `CONNECT` as "the rest is opaque": relays the request unchanged to the original destination and
    /// from then on relays bytes both ways without parsing.
    TunnelToDestination,
    /// Does not understand `CONNECT`: forwards it as an ordinary request (routed as any other), relays the
    /// answer, then keeps parsing what follows as HTTP requests.
    PassThroughThenParse,
}

/// Where a parsed request is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// To the host named by the request (`Host`, or an absolute-form target), looked up in the lab's host
    /// map; unknown hosts get `502`.
    ByHost,
    /// To the destination the client's connection was addressed to (what a transparent proxy intercepted).
    ByDestination,
    /// To the backend of the longest path prefix (of the lab's [`super::Routes`] prefixes) that the
    /// request's origin-form path starts with, as a reverse proxy's `location` blocks do; no match gets `502`.
    ByPathPrefix,
}

/// Response caching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// Stores nothing.
    None,
    /// Stores `GET` `200` responses that are cacheable by `Cache-Control` (`public`, `max-age`, `s-maxage`)
    /// or a future `Expires`, and not `no-store`/`private`/`no-cache`, under the key `http://{host}{path}`
    /// with the host taken from the request (not from where it was routed). Serves fresh hits itself.
    ByHostPath,
}

/// Header-name case when the proxy re-serialises a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderCase {
    /// Names as received (heads that need no rewrite are forwarded byte for byte).
    Preserve,
    /// `sec-websocket-key`.
    Lower,
    /// `Sec-Websocket-Key`.
    Title,
}

/// Post-upgrade frame inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameInspection {
    /// Relays tunnel bytes untouched.
    None,
    /// Parses client-to-server tunnel bytes as RFC 6455 frames and resets both connections on a frame that
    /// is unmasked, uses a reserved opcode, is a fragmented or oversized control frame, or has a 64-bit
    /// length with the top bit set.
    Rfc6455,
}

/// Time limits of the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long an idle client connection waits for its next request head.
    pub client_idle: Duration,
    /// How long the proxy waits for a backend's response head.
    pub backend_response: Duration,
    /// How long a tunnel may stay silent in both directions.
    pub tunnel_idle: Duration,
}

/// Default time limits (short: every lab run is on loopback).
pub const TIMEOUTS: Timeouts = Timeouts {
    client_idle: Duration::from_secs(5),
    backend_response: Duration::from_secs(5),
    tunnel_idle: Duration::from_secs(10),
};

/// One intermediary's behaviour: a row of data interpreted by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behaviour {
    /// Treatment of `Upgrade` requests.
    pub upgrade: UpgradeHandling,
    /// If `Some`, only these `Upgrade` protocol names (compared case-sensitively) get the `upgrade`
    /// treatment; requests naming any other protocol are handled as with [`UpgradeHandling::Strip`].
    pub upgrade_protocols: Option<&'static [&'static str]>,
    /// Bytes after an `Upgrade` request head, before the answer.
    pub early_data: EarlyData,
    /// Speaks HTTP/1.0 upstream: request line rewritten to `HTTP/1.0`, hop-by-hop fields (`Connection`,
    /// `Upgrade`, `Keep-Alive`, `Proxy-Connection`, `TE`) removed, and the client connection closed after
    /// each response.
    pub http10: bool,
    /// Treatment of `CONNECT`.
    pub connect: ConnectHandling,
    /// Routing of parsed requests.
    pub routing: Routing,
    /// Response caching.
    pub cache: Caching,
    /// After forwarding an `Upgrade` request it relays bytes both ways whatever the backend answers
    /// (also `400`/`426`): request smuggling when the backend refuses.
    pub tunnel_after_any_response: bool,
    /// Post-upgrade frame inspection.
    pub inspect_frames: FrameInspection,
    /// Lenient request parsing: bytes that do not parse as a request head are skipped through the end of their
    /// first line and parsing starts again (instead of answering `400`).
    pub lenient_parsing: bool,
    /// Header-name case when re-serialising.
    pub header_case: HeaderCase,
    /// Time limits.
    pub timeouts: Timeouts,
}

/// A named row plus the real-world behaviour it stands for.
#[derive(Clone, Copy, Debug)]
pub struct Model {
    /// Short name, used on the command line and in reports.
    pub name: &'static str,
    /// Which real product behaviour (or class of product) this row stands for, and the source of that claim.
    pub doc: &'static str,
    /// The row.
    pub behaviour: Behaviour,
}

/// Upgrade-aware reverse proxy that tunnels after `101` and streams early bytes.
pub const UPGRADE_AWARE: Behaviour = Behaviour {
    upgrade: UpgradeHandling::Tunnel,
    upgrade_protocols: None,
    early_data: EarlyData::Forward,
    http10: false,
    connect: ConnectHandling::Refuse,
    routing: Routing::ByDestination,
    cache: Caching::None,
    tunnel_after_any_response: false,
    inspect_frames: FrameInspection::None,
    lenient_parsing: false,
    header_case: HeaderCase::Preserve,
    timeouts: TIMEOUTS,
};

/// Transparent proxy that does not implement `Upgrade` and routes by `Host` (Auger's IP hijacking).
pub const TRANSPARENT_HOST_ROUTING: Behaviour = Behaviour {
    upgrade: UpgradeHandling::Ignore,
    routing: Routing::ByHost,
    connect: ConnectHandling::TunnelToAuthority,
    ..UPGRADE_AWARE
};

/// Transparent proxy that routes by destination IP but caches by `Host` (Huang et al.'s cache poisoning).
pub const TRANSPARENT_IP_ROUTING_HOST_CACHING: Behaviour = Behaviour {
    upgrade: UpgradeHandling::Ignore,
    routing: Routing::ByDestination,
    cache: Caching::ByHostPath,
    connect: ConnectHandling::TunnelToDestination,
    ..UPGRADE_AWARE
};

/// Transparent proxy that does not implement `Upgrade`, routes by destination, does not cache.
pub const TRANSPARENT_IP_ROUTING: Behaviour = Behaviour {
    upgrade: UpgradeHandling::Ignore,
    routing: Routing::ByDestination,
    connect: ConnectHandling::TunnelToDestination,
    ..UPGRADE_AWARE
};

/// The built-in intermediaries. Each `doc` only claims what `shared/intermediaries` (README, config comments)
/// or the Huang et al. paper supports; otherwise it names the class of product.
pub const MODELS: &[Model] = &[
    Model {
        name: "upgrade-aware",
        doc: "Upgrade-aware reverse proxy: forwards Upgrade, tunnels after 101, streams bytes that follow the \
              head at once. Class: reverse proxies with WebSocket support (shared configs: HAProxy, Caddy, h2o \
              `proxy.websocket: ON`, nghttpx, nginx with its documented WebSocket config); which of them \
              stream rather than hold early bytes (README: most hold) is for `--real` runs to show.",
        behaviour: UPGRADE_AWARE,
    },
    Model {
        name: "upgrade-hold-early",
        doc: "Upgrade-aware proxy that holds request bytes without Content-Length until it sees a 101 \
              (shared/intermediaries README: \"Most HTTP proxies hold them back until they see a 101\").",
        behaviour: Behaviour {
            early_data: EarlyData::HoldUntil101,
            ..UPGRADE_AWARE
        },
    },
    Model {
        name: "upgrade-drop-early",
        doc: "Upgrade-aware proxy that loses the bytes sent after the request head before the 101 \
              (shared/intermediaries README: \"Some proxies lose the 8 bytes\").",
        behaviour: Behaviour {
            early_data: EarlyData::Drop,
            ..UPGRADE_AWARE
        },
    },
    Model {
        name: "strip-upgrade",
        doc: "Strips Upgrade/Connection as hop-by-hop fields: Squid 5 with its stock configuration (no \
              http_upgrade_request_protocols; shared squid.conf: \"stock default: Upgrade is stripped\"); the \
              paper suspects stripping for the extra Upgrade-handshake failures.",
        behaviour: Behaviour {
            upgrade: UpgradeHandling::Strip,
            ..UPGRADE_AWARE
        },
    },
    Model {
        name: "upgrade-case-sensitive",
        doc: "Tunnels only the Upgrade protocol names it lists, compared case-sensitively: Squid with only the \
              squid.conf.documented example `http_upgrade_request_protocols WebSocket` (shared README: Squid \
              matches names case-sensitively; RFC 6455 clients send `websocket`, Hixie clients `WebSocket`).",
        behaviour: Behaviour {
            upgrade_protocols: Some(&["WebSocket"]),
            ..UPGRADE_AWARE
        },
    },
    Model {
        name: "http10-downgrade",
        doc: "HTTP/1.0 intermediary: talks HTTP/1.0 upstream, drops hop-by-hop fields (so Upgrade never \
              reaches the server), one request per connection. Class: HTTP/1.0 proxies, e.g. nginx's proxy \
              module unless set to `proxy_http_version 1.1` as its WebSocket docs require (shared nginx.conf).",
        behaviour: Behaviour {
            http10: true,
            upgrade: UpgradeHandling::Strip,
            ..UPGRADE_AWARE
        },
    },
    Model {
        name: "transparent-host-routing",
        doc: "Transparent proxy that ignores Upgrade, keeps parsing the connection as HTTP and routes each \
              request by its Host header (Auger 2010, in Huang et al. §III: IP hijacking; 1,376 of 49,218 \
              POST-strawman clients). CONNECT is followed to its named authority.",
        behaviour: TRANSPARENT_HOST_ROUTING,
    },
    Model {
        name: "transparent-ip-routing-host-caching",
        doc: "Transparent caching proxy that ignores Upgrade, routes by the intercepted destination IP but \
              caches by Host (Huang et al. §III: cache poisoning; 15 of 49,218 POST, 8 of 47,338 Upgrade \
              strawman clients). CONNECT is tunnelled to the intercepted destination.",
        behaviour: TRANSPARENT_IP_ROUTING_HOST_CACHING,
    },
    Model {
        name: "transparent-ip-routing",
        doc: "Transparent proxy that ignores Upgrade and parses the rest of the connection as HTTP, routing by \
              destination IP, no cache (Huang et al. Table II: spoof routed to attacker, 97 POST / 174 Upgrade \
              impressions).",
        behaviour: TRANSPARENT_IP_ROUTING,
    },
    Model {
        name: "connect-passthrough-parse",
        doc: "Proxy that does not understand CONNECT: passes it to the server untouched, then treats the next \
              spoofed request as a separate request routed by IP (Huang et al. §IV-C: 2 of 47,206 \
              CONNECT-strawman clients).",
        behaviour: Behaviour {
            connect: ConnectHandling::PassThroughThenParse,
            ..TRANSPARENT_IP_ROUTING
        },
    },
    Model {
        name: "lenient-host-routing",
        doc: "Transparent Host-routing proxy that ignores Upgrade (as transparent-host-routing) and parses \
              leniently: a line that is not a request line is skipped and parsing resumes on the next line, \
              the way RFC 7230 §3.5 lets a recipient skip empty lines before a request line. Class: tolerant \
              parsers (no specific product claimed); it stands for the paper's point that how an intermediary \
              parses bytes that are not HTTP cannot be predicted, so only unpredictable wire bytes are safe.",
        behaviour: Behaviour {
            lenient_parsing: true,
            ..TRANSPARENT_HOST_ROUTING
        },
    },
    Model {
        name: "lenient-ip-routing-host-caching",
        doc: "Transparent caching proxy that routes by destination IP, caches by Host and ignores Upgrade (as \
              transparent-ip-routing-host-caching), with the same lenient parsing as lenient-host-routing.",
        behaviour: Behaviour {
            lenient_parsing: true,
            ..TRANSPARENT_IP_ROUTING_HOST_CACHING
        },
    },
    Model {
        name: "frame-inspector",
        doc: "Upgrade-aware proxy that validates RFC 6455 client frames after the 101 and resets the \
              connection on anything else. Class: WebSocket-aware security gateways / application firewalls \
              (no specific product claimed).",
        behaviour: Behaviour {
            inspect_frames: FrameInspection::Rfc6455,
            ..UPGRADE_AWARE
        },
    },
    Model {
        name: "tunnel-any-response",
        doc: "Opens a raw pipe once it has forwarded an Upgrade request, whatever the backend answers \
              (400/426 included): request smuggling when the backend refuses. Stands for Varnish's \
              documented WebSocket recipe, `return (pipe)` on Upgrade (shared varnish.vcl), where the pipe \
              does not look at the answer.",
        behaviour: Behaviour {
            tunnel_after_any_response: true,
            ..UPGRADE_AWARE
        },
    },
    Model {
        name: "lowercase-headers",
        doc: "Upgrade-aware proxy that re-serialises every head with lowercase field names. Class: proxies \
              that normalise header names (tests servers and clients that match names case-sensitively).",
        behaviour: Behaviour {
            header_case: HeaderCase::Lower,
            ..UPGRADE_AWARE
        },
    },
];

/// Looks a built-in model up by name.
pub fn model(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}
