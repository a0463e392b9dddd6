use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hybi::{OriginPolicy, Server, ServerConfig, Variant, WebSocketConfig};
use hybi_proto::variant::parse_list;
use hybi_proto::DataRef;
use tokio::net::{TcpListener, TcpStream};

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
    // Shared, not cloned into every connection's task (idle memory, docs/benchmarks.md).
    let server = std::sync::Arc::new(Server::with_transport(config, transport));
    let listener = TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    let names: Vec<&str> = args.variants.0.iter().map(|v| v.name()).collect();
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, variants = %names.join(","), "echo server up");
    loop {
        let (tcp, _peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(handshake_task(server.clone(), tcp));
    }
}

/// One connection's handshake task. Once the handshake is done, the connection gets a task
/// of its own whose future is the `WebSocket` and nothing else ([`Echo`]).
///
/// Idle memory (docs/benchmarks.md, "idle memory"): the task of an idle connection is
/// what it costs, with tokio's I/O registration. An `async` echo loop after the handshake
/// in the same task kept the handshake's state (buffers, the timeout's timer) and the
/// generator's extra slots for the whole life of the connection: 888 bytes of future,
/// against the 392 of `Echo`; the server is shared, not cloned per connection.
async fn handshake_task(server: std::sync::Arc<Server>, tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    match server.accept(tcp).await {
        Ok(ws) => {
            tracing::debug!(variant = %ws.variant(), path = ws.path(), "accepted");
            tokio::spawn(Echo { ws });
        }
        Err(e) => tracing::debug!("handshake failed: {e}"),
    }
}

/// Echoes every text and binary message. Replies to a burst of frames are queued and
/// written together; messages that arrive whole are echoed straight from the read buffer
/// (`WebSocket::poll_for_each_message`, docs/benchmarks.md).
struct Echo {
    ws: hybi::WebSocket<TcpStream>,
}

impl std::future::Future for Echo {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let ws = &mut self.get_mut().ws;
        let result = std::task::ready!(ws.poll_for_each_message(cx, &mut echo_message));
        if let Err(e) = result {
            tracing::debug!("connection ended: {e}");
        }
        std::task::Poll::Ready(())
    }
}

fn echo_message(conn: &mut hybi_proto::Connection, msg: DataRef<'_>) {
    // Refused only once the closing handshake has started (or, on Hixie, for binary,
    // which Hixie never delivers): nothing to echo then.
    let _ = match msg {
        DataRef::Text(t) => conn.send_text(t),
        DataRef::Binary(b) => conn.send_binary(b),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle memory per connection (docs/benchmarks.md, "idle memory"): the spawned task's
    /// future holds the whole connection between reads. Printed with --nocapture.
    #[tokio::test]
    async fn connection_state_sizes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let server = std::sync::Arc::new(Server::new(ServerConfig::default()));
        let fut = handshake_task(server, tcp);
        let sizes = [
            ("handshake task future", std::mem::size_of_val(&fut)),
            ("Echo (an idle connection's task future)", std::mem::size_of::<Echo>()),
            ("WebSocket<TcpStream>", std::mem::size_of::<hybi::WebSocket<TcpStream>>()),
            ("Connection", std::mem::size_of::<hybi_proto::Connection>()),
            ("WebSocketConfig", std::mem::size_of::<WebSocketConfig>()),
            ("TcpStream", std::mem::size_of::<TcpStream>()),
        ];
        for (what, n) in sizes {
            println!("{what}: {n} bytes");
        }
        // Budget: ≤ 1 KiB per idle connection in total, heap and kernel-side bookkeeping
        // included; the future is the largest single part.
        assert!(std::mem::size_of::<Echo>() <= 400, "{sizes:?}");
    }
}
