//! Peer echo server: tokio-tungstenite 0.30 with its default `WebSocketConfig`, used as its own
//! examples do (`accept_async`, then `next()` and `send()` on the stream), on a current-thread
//! tokio runtime.
//!
//! Usage: bench-echo-tungstenite [--listen ADDR]   (default 127.0.0.1:0; prints `listening ADDR`)

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = hybi_bench::peer::listen_addr_from_args("bench-echo-tungstenite");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        hybi_bench::peer::announce(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}
