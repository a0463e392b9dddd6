use std::time::Duration;

use hybi_proto::Limits;

/// Transport-level settings of a connection (the protocol limits are in [`Limits`]).
#[derive(Clone, Debug)]
pub struct WebSocketConfig {
    /// Protocol limits (head, frame, message sizes, fragments).
    pub limits: Limits,
    /// Longest time an opening handshake may take (slowloris guard).
    pub handshake_timeout: Duration,
    /// Send a ping when nothing was received for this long (`None`: no keepalive).
    pub ping_interval: Option<Duration>,
    /// Fail the connection when nothing at all arrives this long after a keepalive ping.
    pub ping_timeout: Duration,
    /// After the closing handshake starts, how long to wait for it to finish before
    /// dropping the transport.
    pub close_timeout: Duration,
    /// Unsent bytes above which the connection applies backpressure: the sink stops
    /// accepting messages and the stream stops reading (so automatic pong and close
    /// replies to a peer that never reads cannot pile up) until the peer reads. The
    /// queue can exceed this by at most one message plus the replies to one read.
    pub max_write_buffer: usize,
    /// Close the connection (close code 1001, then the close timeout) when nothing at
    /// all was received for this long (checked every quarter of it, so the close comes
    /// between 1 and 1.25 times this after the last byte); `None`: never. A keepalive
    /// ping's pong counts as
    /// received, so with `ping_interval` set this only closes peers that stop answering
    /// or stall mid-frame. The same duration bounds a write stall: when queued output
    /// cannot be written at all for this long (the peer reads nothing, though it may
    /// still trickle bytes in), the connection is dropped with
    /// [`crate::Error::Timeout`]`("peer not reading")`. [`crate::Server::new`] sets 5 minutes; the default here,
    /// used by clients, is `None`. Every connection of the process shares one coarse timer
    /// wheel, turned by a thread of its own unless the application spawns
    /// [`crate::drive_idle_timers`] on its runtime.
    pub idle_timeout: Option<Duration>,
    /// Client connections: which proxy to go through ([`crate::proxy`]; default: none).
    pub proxy: crate::proxy::ProxyConfig,
    /// Client connections to `wss://`: the TLS settings (`None`: trust the Mozilla roots).
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConnector>,
}

/// The idle timeout [`crate::Server::new`] applies.
pub const SERVER_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(10),
            ping_interval: None,
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
            max_write_buffer: 1 << 20,
            idle_timeout: None,
            proxy: crate::proxy::ProxyConfig::Direct,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}
