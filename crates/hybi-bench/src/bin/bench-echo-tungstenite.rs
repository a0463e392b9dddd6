//! Peer echo server: tokio-tungstenite 0.30 with its default `WebSocketConfig`, used as its own
//! examples do (`accept_async`, then `next()` and `send()` on the stream), on a current-thread
//! tokio runtime.
//!
//! Usage: bench-echo-tungstenite [--listen ADDR]   (default 127.0.0.1:0; prints `listening ADDR`)

use futures_util::{SinkExt, StreamExt};

fn main() -> std::io::Result<()> {
    hybi_bench::peer::run_echo_server("bench-echo-tungstenite", |stream| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}
