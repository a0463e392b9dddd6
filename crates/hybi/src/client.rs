use hybi_proto::handshake::{ClientHandshake, ClientOptions, HandshakeStatus};
use hybi_proto::Variant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::websocket::Info;
use crate::{os_seed, Error, WebSocket, WebSocketConfig};

/// Connects to `url` (`ws://host[:port]/path`) and performs `variant`'s opening
/// handshake with default settings.
pub async fn connect(url: &str, variant: Variant) -> Result<WebSocket<TcpStream>, Error> {
    let opts = ClientOptions::from_url(url, variant)?;
    connect_with(&opts, WebSocketConfig::default()).await
}

/// Connects with explicit options (subprotocols, origin, headers) and settings.
pub async fn connect_with(
    opts: &ClientOptions,
    config: WebSocketConfig,
) -> Result<WebSocket<TcpStream>, Error> {
    if opts.secure {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "wss:// needs a TLS stream: connect it yourself and use handshake_client",
        )));
    }
    let addr = opts.socket_addr();
    let addr = addr.trim_start_matches('[').replacen("]:", ":", 1);
    let tcp = match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => TcpStream::connect(a).await?,
        Err(_) => TcpStream::connect(opts.socket_addr()).await?,
    };
    tcp.set_nodelay(true)?;
    handshake_client(tcp, opts, config).await
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
    };
    let conn = session.into_connection(config.limits.clone());
    Ok(WebSocket::new(io, conn, &leftover, std::sync::Arc::new(config), info))
}
