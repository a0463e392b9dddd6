use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use hybi::{Message, OriginPolicy, Server, ServerConfig, Variant, WebSocketConfig};
use hybi_proto::variant::parse_list;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::web;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:9002")]
    listen: String,
    /// Handshake variants to answer: a comma-separated list of names, or `all`.
    #[arg(long, default_value = "rfc6455,hybi-08,hybi-07", value_parser = parse_variants)]
    variants: VariantList,
    /// Worker threads (1: a single-threaded runtime, as benchmarks want).
    #[arg(long)]
    threads: Option<usize>,
    /// Subprotocols the server accepts, in preference order.
    #[arg(long = "subprotocol")]
    subprotocols: Vec<String>,
    /// Only accept these origins (repeatable); default: any.
    #[arg(long = "allow-origin")]
    allow_origins: Vec<String>,
    /// Largest message accepted, in bytes.
    #[arg(long)]
    max_message_size: Option<usize>,
    /// Largest frame accepted, in bytes.
    #[arg(long)]
    max_frame_size: Option<u64>,
    /// Ping idle clients this often (seconds).
    #[arg(long)]
    ping_interval: Option<u64>,
    /// Serve TLS (wss:// and https://) with this PEM certificate chain (leaf first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Answer plain HTTP GETs with the files under DIR (default: the built-in demo page at
    /// `/`). WebSocket handshakes on the same port still go to the echo handler.
    #[arg(long = "static", value_name = "DIR")]
    static_dir: Option<std::path::PathBuf>,
}

/// A parsed `--variants` value.
#[derive(Clone, Debug)]
pub struct VariantList(pub Vec<Variant>);

fn parse_variants(s: &str) -> Result<VariantList, String> {
    parse_list(s).map(VariantList).map_err(|e| e.to_string())
}

pub fn run(args: ServeArgs) -> ExitCode {
    let mut builder = match args.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = builder.enable_all().build().expect("tokio runtime");
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hybi serve: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> std::io::Result<()> {
    let mut config = ServerConfig {
        variants: args.variants.0.clone(),
        subprotocols: args.subprotocols.clone(),
        ..ServerConfig::default()
    };
    if !args.allow_origins.is_empty() {
        config.origin = OriginPolicy::AllowList(args.allow_origins.clone());
    }
    if let Some(n) = args.max_message_size {
        config.limits.max_message_size = n;
    }
    if let Some(n) = args.max_frame_size {
        config.limits.max_frame_size = n;
    }
    let transport = WebSocketConfig {
        limits: config.limits.clone(),
        ping_interval: args.ping_interval.map(Duration::from_secs),
        ..WebSocketConfig::default()
    };
    let site = std::sync::Arc::new(web::Site::new(args.static_dir.as_deref())?);
    let tls = web::tls_acceptor(args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    config.secure = tls.is_some();
    let handshake_timeout = transport.handshake_timeout;
    let server = Server::with_transport(config, transport);
    let listener = TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    let names: Vec<&str> = args.variants.0.iter().map(|v| v.name()).collect();
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, variants = %names.join(","), "echo server up");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (server, site, tls) = (server.clone(), site.clone(), tls.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let result = match tls {
                None => web::connection(&server, &site, tcp).await,
                Some(tls) => match tokio::time::timeout(handshake_timeout, tls.accept(tcp)).await {
                    Ok(Ok(stream)) => web::connection(&server, &site, stream).await,
                    Ok(Err(e)) => Err(hybi::Error::Io(e)),
                    Err(_) => Err(hybi::Error::Timeout("TLS handshake")),
                },
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}

/// Echoes every text and binary message. Replies to a burst of frames are queued and
/// written together.
pub(crate) async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: hybi::WebSocket<S>,
) -> Result<(), hybi::Error> {
    tracing::debug!(variant = %ws.variant(), path = ws.path(), "accepted");
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                ws.feed(msg).await?;
                if !ws.has_buffered_messages() {
                    ws.flush().await?;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("{e}"),
        }
    }
    Ok(())
}
