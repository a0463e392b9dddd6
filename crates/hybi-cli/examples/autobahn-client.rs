//! Autobahn|Testsuite client driver (fuzzingserver protocol):
//! `cargo run --release --example autobahn-client -- ws://127.0.0.1:9001 AGENT`
//!
//! Asks `/getCaseCount`, runs `/runCase?case=I&agent=AGENT` for every case echoing each
//! text and binary message, then asks `/updateReports?agent=AGENT`.

use futures_util::{SinkExt, StreamExt};
use hybi::{ClientOptions, DeflateConfig, Message, Variant, WebSocketConfig};

/// Every case offers permessage-deflate (`permessage-deflate; client_max_window_bits`),
/// which the 12.* and 13.* cases accept with their various parameters.
async fn run_case(url: &str) -> Result<(), hybi::Error> {
    let mut opts = ClientOptions::from_url(url, Variant::Rfc6455)?;
    opts.deflate = Some(DeflateConfig::default());
    let mut ws = hybi::connect_with(&opts, WebSocketConfig::default()).await?;
    let mut closed = false;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                ws.feed(msg).await?;
                if !ws.has_buffered_messages() {
                    ws.flush().await?;
                }
            }
            Ok(Message::Close(_)) => closed = true,
            Ok(_) => {}
            // The fuzzing server resets the TCP connection once the closing handshake
            // is done; that is no error of the case.
            Err(hybi::Error::Io(_)) if closed => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "hybi".into());
    let base = base.trim_end_matches('/');

    let mut ws = hybi::connect(&format!("{base}/getCaseCount"), Variant::Rfc6455)
        .await
        .expect("getCaseCount");
    let mut count = 0u32;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            count = t.trim().parse().expect("case count");
        }
    }
    eprintln!("autobahn-client: {count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if let Err(e) = run_case(&url).await {
            eprintln!("case {case}: {e}");
        }
    }
    let mut ws = hybi::connect(
        &format!("{base}/updateReports?agent={agent}"),
        Variant::Rfc6455,
    )
    .await
    .expect("updateReports");
    let _ = ws.close().await;
    while ws.next().await.is_some() {}
    eprintln!("autobahn-client: reports updated");
}
