//! What the peer echo-server binaries share: the `--listen ADDR` argument, the
//! `listening ADDR` announcement the runner waits for, and (with the `peers` feature) the
//! accept loop around each library's echo.

use std::io::Write;
use std::net::SocketAddr;

/// Parses `--listen ADDR` (default `127.0.0.1:0`) from the process arguments; exits with usage
/// on anything else.
pub fn listen_addr_from_args(program: &str) -> SocketAddr {
    match parse_listen(std::env::args().skip(1)) {
        Ok(addr) => addr,
        Err(msg) => {
            eprintln!("{program}: {msg}\nusage: {program} [--listen ADDR]   (default 127.0.0.1:0)");
            std::process::exit(2);
        }
    }
}

pub fn parse_listen(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let mut addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    while let Some(a) = args.next() {
        let value = if a == "--listen" {
            args.next().ok_or("--listen needs an address")?
        } else if let Some(v) = a.strip_prefix("--listen=") {
            v.to_string()
        } else {
            return Err(format!("unexpected argument {a:?}"));
        };
        addr = value
            .parse()
            .map_err(|e| format!("bad address {value:?}: {e}"))?;
    }
    Ok(addr)
}

/// Prints `listening ADDR` and flushes: the runner's signal that the server accepts connections.
pub fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {addr}");
    let _ = out.flush();
}

/// Runs a peer echo server the way all three are set up: `--listen ADDR`, a current-thread
/// tokio runtime with I/O only, the `listening ADDR` announcement, then every accepted
/// connection, with TCP_NODELAY, handed to `serve` in a task of its own. `serve` is what
/// differs: each library's own way to accept the upgrade and echo.
#[cfg(feature = "peers")]
pub fn run_echo_server<F, Fut>(program: &str, serve: F) -> std::io::Result<()>
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let addr = listen_addr_from_args(program);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        announce(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(stream));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<SocketAddr, String> {
        parse_listen(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn listen_forms() {
        assert_eq!(p(&[]).unwrap(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(
            p(&["--listen", "127.0.0.1:9"]).unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(
            p(&["--listen=[::1]:8"]).unwrap(),
            "[::1]:8".parse().unwrap()
        );
        assert!(p(&["--listen"]).is_err());
        assert!(p(&["--port", "1"]).is_err());
        assert!(p(&["--listen", "nope"]).is_err());
    }
}
