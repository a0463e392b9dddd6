//! Peer echo server: tokio-websockets 0.13 with its default `Config` and `Limits`, used as its own
//! echo_server example does (one `unconstrained` task per connection, `next()` then `send()`), on
//! a current-thread tokio runtime.
//!
//! Usage: bench-echo-tokio-websockets [--listen ADDR]   (default 127.0.0.1:0; prints `listening ADDR`)

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_websockets::ServerBuilder;

fn main() -> std::io::Result<()> {
    let addr = hybi_bench::peer::listen_addr_from_args("bench-echo-tokio-websockets");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        hybi_bench::peer::announce(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(tokio::task::unconstrained(async move {
                let Ok((_request, mut ws)) = ServerBuilder::new().accept(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            }));
        }
    })
}
