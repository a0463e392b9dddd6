//! Policy: a request of a variant the server does not enable never gets a success answer
//! (101, or 200 for CONNECT/POST), for every variant whose client exists, whatever else
//! is enabled; the default policy enables no legacy variant; origin and host checks
//! refuse before anything is accepted.

use std::sync::Arc;

use hybi_proto::handshake::{
    ClientHandshake, ClientOptions, OriginPolicy, ServerConfig, ServerHandshake,
};
use hybi_proto::{HandshakeError, HandshakeStatus, Variant};

/// `variant`'s own client (origin set), if it exists.
fn client(variant: Variant) -> Option<ClientHandshake> {
    let mut opts = ClientOptions::from_url("ws://server.example:8080/chat", variant).ok()?;
    opts.origin = Some("http://good.example".into());
    ClientHandshake::new(&opts, [3; 32]).ok()
}

/// Runs `variant`'s client against a server with `cfg` for a few rounds (multi-round
/// handshakes such as HELLO included) and returns everything the server wrote and
/// whether it completed.
fn exchange(cfg: ServerConfig, variant: Variant) -> (Vec<u8>, bool) {
    let mut c = client(variant).expect("implemented");
    let mut hs = ServerHandshake::with_seed(Arc::new(cfg), [4; 32]);
    let mut out = Vec::new();
    for _ in 0..6 {
        let to_server = c.take_output();
        if !to_server.is_empty() {
            let r = hs.receive_data(&to_server);
            let answer = hs.take_output();
            out.extend_from_slice(&answer);
            match r {
                Ok(HandshakeStatus::Done) => return (out, true),
                Ok(HandshakeStatus::InProgress) => {}
                Err(_) => return (out, false),
            }
            if c.receive_data(&answer).is_err() {
                return (out, false);
            }
        }
    }
    (out, false)
}

fn is_success(out: &[u8]) -> bool {
    out.starts_with(b"HTTP/1.1 101") || out.starts_with(b"HTTP/1.1 200")
}

fn implemented() -> Vec<Variant> {
    Variant::ALL
        .into_iter()
        .filter(|&v| client(v).is_some())
        .collect()
}

#[test]
fn disabled_variants_are_never_accepted() {
    let cases = implemented();
    assert!(cases.len() >= 3, "{cases:?}");
    for v in &cases {
        // Enabled alone: accepted (sanity of the test itself).
        let (out, done) = exchange(
            ServerConfig {
                variants: vec![*v],
                ..ServerConfig::default()
            },
            *v,
        );
        assert!(
            done && is_success(&out),
            "{v} refused by its own server: {:?}",
            String::from_utf8_lossy(&out)
        );
        // Everything else enabled, or nothing at all, or only the defaults: refused.
        let others: Vec<Variant> = Variant::ALL.into_iter().filter(|w| w != v).collect();
        let defaults: Vec<Variant> = Variant::DEFAULT_SERVER
            .into_iter()
            .filter(|w| w != v)
            .collect();
        for variants in [others, Vec::new(), defaults] {
            let (out, done) = exchange(
                ServerConfig {
                    variants: variants.clone(),
                    ..ServerConfig::default()
                },
                *v,
            );
            assert!(
                !done && !is_success(&out),
                "{v} accepted by a server enabling {variants:?}: {:?}",
                String::from_utf8_lossy(&out)
            );
            assert!(
                out.starts_with(b"HTTP/1.1 4") || out.starts_with(b"HTTP/1.1 5"),
                "{v}: {out:?}"
            );
        }
    }
}

#[test]
fn default_policy_enables_no_legacy_variant() {
    let cfg = ServerConfig::default();
    assert!(
        cfg.variants.iter().all(|v| !v.is_legacy()),
        "{:?}",
        cfg.variants
    );
    assert!(cfg
        .variants
        .iter()
        .all(|v| !v.attacker_controls_wire_bytes()));
    assert_eq!(cfg.origin, OriginPolicy::Any);
}

#[test]
fn origin_and_host_checks_refuse_every_variant() {
    for v in implemented() {
        let (out, done) = exchange(
            ServerConfig {
                variants: Variant::ALL.to_vec(),
                origin: OriginPolicy::AllowList(vec!["http://other.example".into()]),
                ..ServerConfig::default()
            },
            v,
        );
        assert!(!done, "{v} completed from a refused origin");
        refused_before_success(v, &out);
        let (out, done) = exchange(
            ServerConfig {
                variants: Variant::ALL.to_vec(),
                hosts: Some(vec!["only.example".into()]),
                ..ServerConfig::default()
            },
            v,
        );
        assert!(!done, "{v} completed for a host not served");
        refused_before_success(v, &out);
    }
}

/// The answer refuses. CONNECT proposals answer `200` to the CONNECT itself, as a
/// proxy would, and carry origin and host in the tunnel's metadata: for them the
/// refusal comes after, and the handshake never completes.
fn refused_before_success(v: Variant, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    if matches!(v, Variant::Connect | Variant::ConnectMasked) {
        assert!(!text.contains(" 101 "), "{v}: {text:?}");
    } else {
        assert!(!is_success(out), "{v}: {text:?}");
    }
}

#[test]
fn unsupported_version_gets_426_with_our_versions() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n";
    let mut hs = ServerHandshake::new(Arc::new(ServerConfig::default()));
    assert!(matches!(
        hs.receive_data(req),
        Err(HandshakeError::InvalidHeader { .. })
    ));
    let out = String::from_utf8(hs.take_output()).unwrap();
    assert!(out.starts_with("HTTP/1.1 426"), "{out}");
    assert!(out.contains("Sec-WebSocket-Version: 13, 8, 7"), "{out}");
    assert!(out.contains("Connection: close"), "{out}");
}
