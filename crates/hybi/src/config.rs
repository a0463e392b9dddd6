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
    /// Unsent bytes above which the sink applies backpressure.
    pub max_write_buffer: usize,
    /// Client connections: which proxy to go through ([`crate::proxy`]; default: none).
    pub proxy: crate::proxy::ProxyConfig,
    /// Client connections to `wss://`: the TLS settings (`None`: trust the Mozilla roots).
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::TlsConnector>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(10),
            ping_interval: None,
            ping_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
            max_write_buffer: 1 << 20,
            proxy: crate::proxy::ProxyConfig::Direct,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}
