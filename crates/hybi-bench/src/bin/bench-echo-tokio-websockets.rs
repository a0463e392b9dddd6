//! Peer echo server: tokio-websockets 0.13 with its default `Config` and `Limits`, used as its own
//! echo_server example does (one `unconstrained` task per connection, `next()` then `send()`), on
//! a current-thread tokio runtime.
//!
//! Usage: bench-echo-tokio-websockets [--listen ADDR]   (default 127.0.0.1:0; prints `listening ADDR`)

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::ServerBuilder;

fn main() -> std::io::Result<()> {
    hybi_bench::peer::run_echo_server("bench-echo-tokio-websockets", |stream| {
        tokio::task::unconstrained(async move {
            let Ok((_request, mut ws)) = ServerBuilder::new().accept(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        })
    })
}
