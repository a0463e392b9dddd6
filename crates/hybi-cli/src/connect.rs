use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use hybi::proxy::{Proxy, ProxyConfig};
use hybi::{
    ClientOptions, ClientStream, CloseCode, CloseFrame, DeflateConfig, Message, Variant,
    WebSocketConfig,
};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Server URL, ws://host[:port]/path or wss://host[:port]/path.
    url: String,
    /// Handshake variant to speak.
    #[arg(long, default_value = "rfc6455")]
    variant: Variant,
    /// Treat each stdin line as hex and send it as a binary message.
    #[arg(long)]
    binary: bool,
    /// Split outgoing messages into frames of at most this many payload bytes.
    #[arg(long)]
    fragment_size: Option<usize>,
    /// Close code sent at end of input.
    #[arg(long, default_value_t = 1000)]
    close_code: u16,
    /// Origin to send.
    #[arg(long)]
    origin: Option<String>,
    /// Subprotocols to offer (repeatable).
    #[arg(long = "subprotocol")]
    subprotocols: Vec<String>,
    /// At end of input, wait up to this many milliseconds for as many messages as were
    /// sent (an echo server's replies) before closing; 0 closes at once. Some servers
    /// (Python websockets) drop replies to messages that arrive with our close.
    #[arg(long, default_value_t = 2000)]
    linger: u64,
    /// Offer permessage-deflate (RFC 7692).
    #[arg(long)]
    deflate: bool,
    /// wss://: also trust the CA certificate(s) in this PEM file (repeatable).
    #[arg(long = "ca", value_name = "FILE")]
    ca_files: Vec<std::path::PathBuf>,
    /// Go through this proxy: http://[user:pass@]host:port (CONNECT),
    /// socks5://[user:pass@]host:port or socks5h://… (the proxy resolves the name).
    /// Default: https_proxy / http_proxy / all_proxy, minus no_proxy.
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Connect directly, whatever the proxy environment variables say.
    #[arg(long, conflicts_with = "proxy")]
    no_proxy: bool,
}

/// The transport settings the flags ask for.
fn client_config(args: &ConnectArgs) -> Result<WebSocketConfig, String> {
    let proxy = match (&args.proxy, args.no_proxy) {
        (Some(url), _) => ProxyConfig::Use(Proxy::parse(url).map_err(|e| e.to_string())?),
        (None, true) => ProxyConfig::Direct,
        (None, false) => ProxyConfig::FromEnv,
    };
    #[cfg(feature = "tls")]
    let tls = if args.ca_files.is_empty() {
        None
    } else {
        let mut tls = hybi::tls::TlsConnector::webpki_roots();
        for file in &args.ca_files {
            tls = tls.with_ca_file(file).map_err(|e| format!("--ca: {e}"))?;
        }
        Some(tls)
    };
    #[cfg(not(feature = "tls"))]
    if !args.ca_files.is_empty() {
        return Err("--ca: this hybi was built without the `tls` feature".into());
    }
    Ok(WebSocketConfig {
        proxy,
        #[cfg(feature = "tls")]
        tls,
        ..WebSocketConfig::default()
    })
}

pub fn run(args: ConnectArgs) -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(connect(args))
}

async fn connect(args: ConnectArgs) -> ExitCode {
    let mut opts = match ClientOptions::from_url(&args.url, args.variant) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hybi connect: {e}");
            return ExitCode::from(2);
        }
    };
    opts.origin = args.origin.clone();
    opts.subprotocols = args.subprotocols.clone();
    if args.deflate {
        opts.deflate = Some(DeflateConfig::default());
    }
    let config = match client_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hybi connect: {e}");
            return ExitCode::from(2);
        }
    };
    let mut ws = match hybi::connect_with(&opts, config).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("hybi connect: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut input_open = true;
    let mut stdout = std::io::stdout().lock();
    let (mut sent, mut received) = (0u64, 0u64);
    // Set at end of input while replies are still expected: close then, at the latest.
    let mut close_at: Option<tokio::time::Instant> = None;
    let far_future = tokio::time::Instant::now() + std::time::Duration::from_secs(86400 * 365);
    loop {
        if close_at.is_some() && received >= sent {
            close_at = None;
            if let Err(e) = send_close(&mut ws, args.close_code).await {
                eprintln!("hybi connect: {e}");
                return ExitCode::FAILURE;
            }
        }
        tokio::select! {
            line = stdin.next_line(), if input_open => match line {
                Ok(Some(line)) => {
                    if let Err(e) = send_line(&mut ws, &args, &line).await {
                        eprintln!("hybi connect: {e}");
                        return ExitCode::FAILURE;
                    }
                    sent += 1;
                }
                Ok(None) | Err(_) => {
                    input_open = false;
                    let linger = std::time::Duration::from_millis(args.linger);
                    close_at = Some(tokio::time::Instant::now() + linger);
                    if args.linger == 0 {
                        received = received.max(sent);
                    }
                }
            },
            _ = tokio::time::sleep_until(close_at.unwrap_or(far_future)), if close_at.is_some() => {
                received = received.max(sent); // stop waiting; close on the next turn
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    received += 1;
                    let _ = writeln!(stdout, "{t}");
                    let _ = stdout.flush();
                }
                Some(Ok(Message::Binary(b))) => {
                    received += 1;
                    let _ = writeln!(stdout, "{}", hex::encode(b));
                    let _ = stdout.flush();
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| f.code.0).unwrap_or(1005);
                    eprintln!("closed {code}");
                    // drain until the transport closes
                    while ws.next().await.is_some() {}
                    return ExitCode::SUCCESS;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    eprintln!("hybi connect: {e}");
                    return ExitCode::FAILURE;
                }
                None => {
                    eprintln!("hybi connect: connection closed without a closing handshake");
                    return ExitCode::FAILURE;
                }
            },
        }
    }
}

async fn send_close(ws: &mut hybi::WebSocket<ClientStream>, code: u16) -> Result<(), hybi::Error> {
    ws.send(Message::Close(Some(CloseFrame::new(CloseCode(code), ""))))
        .await
}

async fn send_line(
    ws: &mut hybi::WebSocket<ClientStream>,
    args: &ConnectArgs,
    line: &str,
) -> Result<(), String> {
    let (text, data) = if args.binary {
        let bytes = hex::decode(line.trim()).map_err(|e| format!("bad hex line: {e}"))?;
        (false, bytes)
    } else {
        (true, line.as_bytes().to_vec())
    };
    match args.fragment_size {
        Some(size) => ws
            .queue_fragmented(text, &data, size)
            .map_err(|e| e.to_string())?,
        None => {
            let msg = if text {
                Message::Text(line.to_owned())
            } else {
                Message::Binary(data)
            };
            ws.queue(msg).map_err(|e| e.to_string())?;
        }
    }
    ws.flush().await.map_err(|e| e.to_string())
}
