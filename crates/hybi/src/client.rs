use hybi_proto::handshake::{ClientHandshake, ClientOptions, HandshakeStatus};
use hybi_proto::Variant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::websocket::Info;
use crate::{os_seed, ClientStream, Error, WebSocket, WebSocketConfig};

/// Connects to `url` (`ws://host[:port]/path`, or `wss://…` with the `tls` feature) and
/// performs `variant`'s opening handshake with default settings (no proxy).
pub async fn connect(url: &str, variant: Variant) -> Result<WebSocket<ClientStream>, Error> {
    let opts = ClientOptions::from_url(url, variant)?;
    connect_with(&opts, WebSocketConfig::default()).await
}

/// Connects with explicit options (subprotocols, origin, headers) and settings: through
/// `config.proxy` ([`crate::proxy`]), with TLS for `wss://` (`config.tls`, feature `tls`).
/// The handshake timeout bounds everything up to the end of the opening handshake.
pub async fn connect_with(
    opts: &ClientOptions,
    config: WebSocketConfig,
) -> Result<WebSocket<ClientStream>, Error> {
    let deadline = tokio::time::Instant::now() + config.handshake_timeout;
    let stream = tokio::time::timeout_at(deadline, open_transport(opts, &config))
        .await
        .map_err(|_| Error::Timeout("connecting"))??;
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    let config = WebSocketConfig {
        handshake_timeout: remaining,
        ..config
    };
    handshake_client(stream, opts, config).await
}

/// TCP (directly or through a proxy tunnel), then TLS for `wss://`.
async fn open_transport(
    opts: &ClientOptions,
    config: &WebSocketConfig,
) -> Result<ClientStream, Error> {
    let tcp = match config.proxy.proxy_for(&opts.host, opts.port, opts.secure) {
        Some(proxy) => {
            tracing::debug!(%proxy, "connecting through a proxy");
            proxy.connect(&opts.host, opts.port).await?
        }
        None => crate::proxy::connect_tcp(&opts.host, opts.port).await?,
    };
    if !opts.secure {
        return Ok(ClientStream::Plain(tcp));
    }
    #[cfg(feature = "tls")]
    {
        let connector = config
            .tls
            .clone()
            .unwrap_or_else(crate::tls::TlsConnector::webpki_roots);
        let tls = connector
            .connect(&opts.host, tcp)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("TLS with {}: {e}", opts.host)))?;
        Ok(ClientStream::Tls(Box::new(tls)))
    }
    #[cfg(not(feature = "tls"))]
    {
        drop(tcp);
        Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "wss:// needs hybi's `tls` feature (or connect TLS yourself and use handshake_client)",
        )))
    }
}

/// Runs the client side of the opening handshake over an already connected stream
/// (plain TCP, TLS, a proxy tunnel, a lab relay).
pub async fn handshake_client<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    opts: &ClientOptions,
    config: WebSocketConfig,
) -> Result<WebSocket<S>, Error> {
    let deadline = config.handshake_timeout;
    let work = async {
        let mut hs = ClientHandshake::new(opts, os_seed())?;
        io.write_all(&hs.take_output()).await?;
        io.flush().await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = io.read(&mut buf).await?;
            if n == 0 {
                return Err(Error::Handshake(hs.receive_eof()));
            }
            let status = hs.receive_data(&buf[..n])?;
            let out = hs.take_output();
            if !out.is_empty() {
                io.write_all(&out).await?;
                io.flush().await?;
            }
            if status == HandshakeStatus::Done {
                return Ok(hs.into_session());
            }
        }
    };
    let (session, leftover) = tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| Error::Timeout("opening handshake"))??;
    let info = Info {
        variant: session.variant,
        path: crate::websocket::path_cow(&session.path),
        subprotocol: session.subprotocol.as_deref().map(Into::into),
        extensions: session.extensions.as_ref().map(|e| e.header.clone()),
    };
    let conn = session.into_connection(config.limits.clone());
    Ok(WebSocket::new(
        io,
        conn,
        &leftover,
        std::sync::Arc::new(config),
        info,
    ))
}
