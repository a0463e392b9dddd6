//! Peer echo server: fastwebsockets 0.10, used as its own echo_server example does (hyper 1
//! upgrade, `FragmentCollector` for whole messages, auto-pong/auto-close defaults, the
//! connection task run `unconstrained`), on a current-thread tokio runtime.
//!
//! Usage: bench-echo-fastwebsockets [--listen ADDR]   (default 127.0.0.1:0; prints `listening ADDR`)

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn upgrade_request(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::task::spawn(tokio::task::unconstrained(async move {
        let _ = echo(fut).await;
    }));
    Ok(response)
}

fn main() -> std::io::Result<()> {
    hybi_bench::peer::run_echo_server("bench-echo-fastwebsockets", |stream| async move {
        let io = hyper_util::rt::TokioIo::new(stream);
        let _ = http1::Builder::new()
            .serve_connection(io, service_fn(upgrade_request))
            .with_upgrades()
            .await;
    })
}
