//! Plain connection runs (criteria 2 and 4: does the handshake, and an echo after it, get through a path?):
//! client → optional network-condition relay → optional intermediary → honest echo server.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::attack::{Via, ATTACKER_HOST};
use crate::intermediary::{Routes, Trace};
use crate::netcond::{Condition, ConnStats, Relay};
use crate::origin::{self, Received};
use crate::population::{Class, Path};
use crate::subject::{ClientOutcome, Subject, Target};

/// Everything observed in one run.
#[derive(Clone, Debug)]
pub struct EchoRun {
    /// The client's observations.
    pub client: ClientOutcome,
    /// Whether the payload came back as a decoded message (the connection really works end to end).
    pub echoed: bool,
    /// What the echo server logged (handshake result, messages, end).
    pub server: Vec<Received>,
    /// The intermediary's trace (empty without one).
    pub trace: Trace,
    /// The relay's per-connection statistics (empty without a condition).
    pub relay: Vec<ConnStats>,
}

/// Runs `subject` once: handshake, then `payload` as one message, expecting it echoed.
pub async fn echo_run(
    subject: Arc<dyn Subject>,
    via: &Via,
    condition: Option<Condition>,
    payload: &[u8],
) -> io::Result<EchoRun> {
    echo_run_with(
        subject,
        via,
        condition,
        payload,
        Target::new(ATTACKER_HOST, "/echo"),
    )
    .await
}

/// [`echo_run`] with an explicit client target (its host must be [`ATTACKER_HOST`] for intermediaries that
/// route by `Host` to find the echo server; its time limits and `stop_after_messages` are the caller's).
pub async fn echo_run_with(
    subject: Arc<dyn Subject>,
    via: &Via,
    condition: Option<Condition>,
    payload: &[u8],
    target: Target,
) -> io::Result<EchoRun> {
    let server = origin::start_ws_server(subject.clone()).await?;
    let proxy = match via {
        Via::Direct => None,
        other => other.build(Routes::new().with(ATTACKER_HOST, server.addr)),
    };
    let mut addr = match &proxy {
        Some(p) => p.intercept(server.addr).await?,
        None => server.addr,
    };
    let relay = match condition {
        Some(c) => {
            let r = Relay::start(addr, c).await?;
            addr = r.addr;
            Some(r)
        }
        None => None,
    };
    let client = match TcpStream::connect(addr).await {
        Ok(io) => subject.run_client(Box::new(io), &target, payload).await,
        Err(e) => ClientOutcome::failed(
            crate::subject::Stage::WriteRequest,
            e.to_string(),
            Vec::new(),
            Vec::new(),
        ),
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let echoed = client.messages.iter().any(|m| m == payload);
    Ok(EchoRun {
        echoed,
        server: server.received(),
        trace: proxy.as_ref().map(|p| p.trace()).unwrap_or_default(),
        relay: relay.as_ref().map(|r| r.stats()).unwrap_or_default(),
        client,
    })
}

/// How a population class is run: the intermediary and the network condition.
pub fn class_path(class: &Class) -> (Via, Option<Condition>) {
    match class.path {
        Path::Direct => (Via::Direct, None),
        Path::Blocked => (Via::Direct, class.path.condition()),
        Path::Through(m) => (Via::Model(m), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intermediary::model;
    use crate::netcond::{NetStage, ResetAt};
    use crate::population::CLASSES;
    use crate::strawman::{Kind, Strawman};

    #[tokio::test]
    async fn echo_runs_observe_paths() {
        let up: Arc<dyn Subject> = Arc::new(Strawman {
            kind: Kind::Upgrade,
        });
        let r = echo_run(up.clone(), &Via::Direct, None, b"ping")
            .await
            .unwrap();
        assert!(r.client.completed() && r.echoed);
        let aware = Via::Model(*model("upgrade-aware").unwrap());
        let r = echo_run(up.clone(), &aware, Some(Condition::every(1)), b"ping")
            .await
            .unwrap();
        assert!(r.echoed, "{:?}", r.client);
        assert!(r.relay[0].up_segments > 50);
        let strip = Via::Model(*model("strip-upgrade").unwrap());
        let r = echo_run(up.clone(), &strip, None, b"ping").await.unwrap();
        assert!(!r.client.completed());
        let reset = Condition::reset(ResetAt::Stage(NetStage::AfterRequestHead));
        let r = echo_run(up, &Via::Direct, Some(reset), b"ping")
            .await
            .unwrap();
        assert!(!r.client.completed());
    }

    #[tokio::test]
    async fn blocked_class_fails_and_direct_class_works() {
        let post: Arc<dyn Subject> = Arc::new(Strawman { kind: Kind::Post });
        for class in CLASSES
            .iter()
            .filter(|c| c.name == "blocked" || c.name == "direct")
        {
            let (via, cond) = class_path(class);
            let r = echo_run(post.clone(), &via, cond, b"x").await.unwrap();
            assert_eq!(
                r.client.completed(),
                class.name == "direct",
                "{}",
                class.name
            );
        }
    }
}
