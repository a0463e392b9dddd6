//! permessage-deflate (RFC 7692) interop with Python `websockets` 17.4 and Node `ws` 8, with
//! compression on and off, over plain TCP and over TLS (issue 7's acceptance, made explicit).
//!
//! - `hybi connect [--deflate]` -> `tests/peers/py_websockets_server.py` and
//!   `tests/peers/node_ws_server.js` (started with `HYBI_DEFLATE=1`: ws servers do not accept
//!   compression unless told to), plain and `wss://` with the test CA (`--ca`). The peer server
//!   prints the `Sec-WebSocket-Extensions` it answered with per connection (`extensions VALUE`):
//!   `permessage-deflate...` with `--deflate`, `none` without. Text and binary messages (one of
//!   256 KiB of repeated text, one of 256 KiB of a repeated byte pattern) must come back byte
//!   for byte.
//! - `tests/peers/py_websockets_client.py` and `tests/peers/node_ws_client.js` (which offer
//!   compression by default) -> `hybi serve` (accepts it by default) and `hybi serve
//!   --no-deflate`, plain and over TLS (`--tls-cert/--tls-key`): the client prints the
//!   extensions hybi answered with and runs its `deflate` scenario (the same kind of messages).
//! - Compression on the wire, not only in the headers: a byte-counting TCP relay (below) sits
//!   between client and server; for one 256 KiB message of repeated text, each direction must
//!   carry less than a tenth of the bytes with deflate on than with deflate off.
//!
//! Peers are installed by `scripts/install-test-deps.sh`; a missing peer fails the test.

mod common;
#[path = "common/eco.rs"]
mod eco;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{hex, stdin_of, Outcome};
use eco::{hybi_connect_env, run_peer_client_env, Listening, TestPki};

/// Size of the large compressible message: 256 KiB.
const BIG: usize = 1 << 18;

/// How long a peer server may take to print a line about a connection that is already over.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------------------------

/// Exactly 256 KiB of repeated ASCII text: deflate shrinks it to almost nothing.
fn compressible_text() -> String {
    let unit = "hybi permessage-deflate interop: the quick brown fox jumps over the lazy dog. ";
    let mut s = unit.repeat(BIG / unit.len() + 1);
    s.truncate(BIG);
    s
}

/// `n` bytes of printable ASCII that compress poorly (a fixed linear congruential sequence).
fn varied_text(n: usize) -> String {
    let mut x: u32 = 12345;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345) & 0x7fff_ffff;
            char::from(33 + ((x >> 16) % 94) as u8)
        })
        .collect()
}

/// Text lines for `hybi connect`: short, multi-byte UTF-8, empty, 4 KiB of varied text and the
/// 256 KiB compressible one.
fn text_lines() -> Vec<String> {
    vec![
        "hello deflate".to_string(),
        "h\u{e9}llo w\u{f6}rld \u{20ac} \u{1d11e} \u{1f600}".to_string(),
        String::new(),
        varied_text(4096),
        compressible_text(),
    ]
}

/// Hex lines for `hybi connect --binary`: all byte values, an empty message, 256 KiB of a
/// repeated 64-byte pattern.
fn binary_lines() -> Vec<String> {
    let all: Vec<u8> = (0..=255u8).collect();
    let pattern: Vec<u8> = (0..BIG).map(|i| (i % 64) as u8).collect();
    vec![hex(&all), String::new(), hex(&pattern)]
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// Asserts an `extensions VALUE` report (from a peer server or a peer client) says
/// permessage-deflate was negotiated (`deflate`) or that nothing was (`!deflate`).
fn assert_extension(value: &str, deflate: bool, context: &str) {
    let ok = if deflate {
        value.starts_with("permessage-deflate")
    } else {
        value == "none"
    };
    if !ok {
        let want = if deflate {
            "permessage-deflate"
        } else {
            "none"
        };
        panic!("negotiated extensions {value:?}, expected {want}\n{context}");
    }
}

/// The values of the `extensions VALUE` lines in `stdout`.
fn extension_reports(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("extensions "))
        .collect()
}

/// Waits for the peer server's next `extensions VALUE` line and checks it.
fn assert_server_negotiated(server: &mut Listening, deflate: bool) {
    let line = server
        .proc
        .wait_for_line(LOG_TIMEOUT, |l| l.starts_with("extensions "))
        .unwrap_or_else(|e| panic!("the peer server reported no extensions: {e}"));
    assert_extension(&line["extensions ".len()..], deflate, &server.log());
}

/// Waits for the peer server's next line equal to `line` (e.g. `text 262144`).
fn assert_server_logged(server: &mut Listening, line: &str) {
    if let Err(e) = server.proc.wait_for_line(LOG_TIMEOUT, |l| l == line) {
        panic!("the peer server did not log {line:?}: {e}");
    }
}

/// Asserts a peer client exited 0, reported every scenario passed, and reported at least one
/// connection, each with permessage-deflate (`deflate`) or without any extension.
fn assert_client_passed(out: &Outcome, deflate: bool, context: &str) {
    let lines = out.lines();
    let passed = lines
        .iter()
        .any(|l| l.starts_with("passed ") && l.ends_with(" failed 0"));
    if !out.success() || !passed || lines.iter().any(|l| l.starts_with("FAIL")) {
        panic!("peer client failed:\n{}\n{context}", out.describe());
    }
    let reports = extension_reports(&out.stdout);
    if reports.is_empty() {
        panic!(
            "the peer client reported no extensions line:\n{}\n{context}",
            out.describe()
        );
    }
    for value in reports {
        assert_extension(value, deflate, &format!("{}\n{context}", out.describe()));
    }
}

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum PeerServer {
    PyWebsockets,
    NodeWs,
}

impl PeerServer {
    fn driver(self) -> &'static str {
        match self {
            PeerServer::PyWebsockets => "py_websockets_server.py",
            PeerServer::NodeWs => "node_ws_server.js",
        }
    }

    /// The peer server with permessage-deflate accepted, over TLS with `pki`'s certificate when
    /// given.
    fn start(self, pki: Option<&TestPki>) -> Listening {
        let (cert, key) = pki.map_or((String::new(), String::new()), |p| (p.cert(), p.key()));
        let mut env = vec![];
        if let PeerServer::NodeWs = self {
            env.push(("HYBI_DEFLATE", "1"));
        }
        if pki.is_some() {
            env.push(("HYBI_TLS_CERT", cert.as_str()));
            env.push(("HYBI_TLS_KEY", key.as_str()));
        }
        Listening::peer(self.driver(), &env)
    }
}

#[derive(Clone, Copy, Debug)]
enum PeerClient {
    PyWebsockets,
    NodeWs,
}

impl PeerClient {
    /// Runs the client's `scenario` against `url` (trusting `ca` for wss://) to its end.
    fn run(self, url: &str, scenario: &str, ca: Option<&str>) -> Outcome {
        let env: Vec<(&str, &str)> = ca.map(|ca| ("HYBI_TLS_CA", ca)).into_iter().collect();
        match self {
            PeerClient::PyWebsockets => {
                run_peer_client_env("py_websockets_client.py", &[url, scenario], &env)
            }
            PeerClient::NodeWs => {
                run_peer_client_env("node_ws_client.js", &[url, "13", scenario], &env)
            }
        }
    }
}

fn url(scheme: &str, host: &str, port: u16) -> String {
    format!("{scheme}://{host}:{port}/")
}

// ---------------------------------------------------------------------------------------------
// hybi connect -> peer servers
// ---------------------------------------------------------------------------------------------

/// `hybi connect` (with `--deflate` when `deflate`) sends the text lines, then (a second
/// connection) the binary lines to `peer`; every echo must match, and the server must report
/// permessage-deflate negotiated on both connections (`deflate`) or no extension at all.
fn hybi_connect_to(peer: PeerServer, tls: bool, deflate: bool) {
    let pki = tls.then(|| TestPki::new(&["localhost", "127.0.0.1"]));
    let mut server = peer.start(pki.as_ref());
    let target = match &pki {
        Some(_) => url("wss", "localhost", server.port),
        None => url("ws", "127.0.0.1", server.port),
    };
    let ca = pki.as_ref().map(|p| p.ca());
    let mut args: Vec<&str> = vec![];
    if deflate {
        args.push("--deflate");
    }
    if let Some(ca) = &ca {
        args.extend(["--ca", ca.as_str()]);
    }

    let lines = text_lines();
    let out = hybi_connect_env(&target, &args, &[], &stdin_of(&lines));
    common::assert_echoed_lines(&out, &lines, &server.log());
    assert_server_negotiated(&mut server, deflate);
    assert_server_logged(&mut server, &format!("text {BIG}"));

    args.push("--binary");
    let lines = binary_lines();
    let out = hybi_connect_env(&target, &args, &[], &stdin_of(&lines));
    common::assert_echoed_lines(&out, &lines, &server.log());
    assert_server_negotiated(&mut server, deflate);
    assert_server_logged(&mut server, &format!("binary {BIG}"));

    let log = server.proc.stdout_so_far();
    let reports = extension_reports(&log);
    assert_eq!(
        reports.len(),
        2,
        "expected two connections:\n{}",
        server.log()
    );
}

#[test]
fn hybi_connect_deflate_to_python_websockets_server() {
    hybi_connect_to(PeerServer::PyWebsockets, false, true);
}

#[test]
fn hybi_connect_deflate_to_python_websockets_server_over_tls() {
    hybi_connect_to(PeerServer::PyWebsockets, true, true);
}

#[test]
fn hybi_connect_deflate_to_node_ws_server() {
    hybi_connect_to(PeerServer::NodeWs, false, true);
}

#[test]
fn hybi_connect_deflate_to_node_ws_server_over_tls() {
    hybi_connect_to(PeerServer::NodeWs, true, true);
}

#[test]
fn hybi_connect_without_deflate_to_python_websockets_server() {
    hybi_connect_to(PeerServer::PyWebsockets, false, false);
}

#[test]
fn hybi_connect_without_deflate_to_python_websockets_server_over_tls() {
    hybi_connect_to(PeerServer::PyWebsockets, true, false);
}

#[test]
fn hybi_connect_without_deflate_to_node_ws_server() {
    hybi_connect_to(PeerServer::NodeWs, false, false);
}

#[test]
fn hybi_connect_without_deflate_to_node_ws_server_over_tls() {
    hybi_connect_to(PeerServer::NodeWs, true, false);
}

// ---------------------------------------------------------------------------------------------
// peer clients -> hybi serve
// ---------------------------------------------------------------------------------------------

/// `client` (compression offered) runs its `deflate` scenario against `hybi serve` (deflate on
/// by default; `--no-deflate` when `!deflate`); it must pass and report permessage-deflate
/// negotiated on every connection (`deflate`) or no extension.
fn peer_client_to_hybi(client: PeerClient, tls: bool, deflate: bool) {
    peer_client_to_hybi_on("tokio", client, tls, deflate)
}

/// [`peer_client_to_hybi`] with `hybi serve --engine ENGINE`.
fn peer_client_to_hybi_on(engine: &str, client: PeerClient, tls: bool, deflate: bool) {
    let mut extra = vec!["--engine", engine];
    if !deflate {
        extra.push("--no-deflate");
    }
    let extra = &extra[..];
    let pki = tls.then(|| TestPki::new(&["localhost", "127.0.0.1"]));
    let server = match &pki {
        Some(pki) => pki.hybi_serve(extra),
        None => Listening::hybi(extra),
    };
    let target = match &pki {
        Some(_) => url("wss", "localhost", server.port),
        None => url("ws", "127.0.0.1", server.port),
    };
    let ca = pki.as_ref().map(|p| p.ca());
    let out = client.run(&target, "deflate", ca.as_deref());
    assert_client_passed(&out, deflate, &server.log());
}

#[test]
fn python_websockets_client_to_hybi_serve_deflate() {
    peer_client_to_hybi(PeerClient::PyWebsockets, false, true);
}

#[test]
fn python_websockets_client_to_hybi_reactor_deflate() {
    peer_client_to_hybi_on("reactor", PeerClient::PyWebsockets, false, true);
}

#[test]
fn node_ws_client_to_hybi_reactor_deflate() {
    peer_client_to_hybi_on("reactor", PeerClient::NodeWs, false, true);
}

#[test]
fn python_websockets_client_to_hybi_serve_deflate_over_tls() {
    peer_client_to_hybi(PeerClient::PyWebsockets, true, true);
}

#[test]
fn node_ws_client_to_hybi_serve_deflate() {
    peer_client_to_hybi(PeerClient::NodeWs, false, true);
}

#[test]
fn node_ws_client_to_hybi_serve_deflate_over_tls() {
    peer_client_to_hybi(PeerClient::NodeWs, true, true);
}

#[test]
fn python_websockets_client_to_hybi_serve_no_deflate() {
    peer_client_to_hybi(PeerClient::PyWebsockets, false, false);
}

#[test]
fn python_websockets_client_to_hybi_serve_no_deflate_over_tls() {
    peer_client_to_hybi(PeerClient::PyWebsockets, true, false);
}

#[test]
fn node_ws_client_to_hybi_serve_no_deflate() {
    peer_client_to_hybi(PeerClient::NodeWs, false, false);
}

#[test]
fn node_ws_client_to_hybi_serve_no_deflate_over_tls() {
    peer_client_to_hybi(PeerClient::NodeWs, true, false);
}

// ---------------------------------------------------------------------------------------------
// Compression on the wire: a byte-counting relay
// ---------------------------------------------------------------------------------------------

/// A TCP relay on 127.0.0.1 that forwards every connection to `127.0.0.1:target` and counts the
/// bytes it carries each way. Stops accepting when dropped.
struct Relay {
    port: u16,
    /// bytes from the client to the server
    up: Arc<AtomicU64>,
    /// bytes from the server to the client
    down: Arc<AtomicU64>,
    /// connections accepted
    accepted: Arc<AtomicUsize>,
    /// directions still being copied
    pumping: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// Copies `from` to `to` until end of file or an error, counting into `count`; then passes the
/// end of file on.
fn pump(mut from: TcpStream, mut to: TcpStream, count: Arc<AtomicU64>, pumping: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::SeqCst);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
    pumping.fetch_sub(1, Ordering::SeqCst);
}

impl Relay {
    fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let port = listener.local_addr().unwrap().port();
        let relay = Relay {
            port,
            up: Arc::default(),
            down: Arc::default(),
            accepted: Arc::default(),
            pumping: Arc::default(),
            stop: Arc::default(),
        };
        let (up, down, accepted, pumping, stop) = (
            relay.up.clone(),
            relay.down.clone(),
            relay.accepted.clone(),
            relay.pumping.clone(),
            relay.stop.clone(),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue; // the client sees its connection closed
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                pumping.fetch_add(2, Ordering::SeqCst);
                accepted.fetch_add(1, Ordering::SeqCst);
                let (u, p) = (up.clone(), pumping.clone());
                thread::spawn(move || pump(client, server, u, p));
                let (d, p) = (down.clone(), pumping.clone());
                thread::spawn(move || pump(server2, client2, d, p));
            }
        });
        relay
    }

    fn url(&self) -> String {
        url("ws", "127.0.0.1", self.port)
    }

    /// Waits until exactly one connection went through and both its directions ended;
    /// returns the bytes carried (client to server, server to client).
    fn totals(&self) -> (u64, u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.accepted.load(Ordering::SeqCst) == 0 || self.pumping.load(Ordering::SeqCst) > 0 {
            assert!(
                Instant::now() < deadline,
                "the relayed connection did not end within 30 s (accepted {}, directions open {})",
                self.accepted.load(Ordering::SeqCst),
                self.pumping.load(Ordering::SeqCst)
            );
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            self.accepted.load(Ordering::SeqCst),
            1,
            "expected one relayed connection"
        );
        (
            self.up.load(Ordering::SeqCst),
            self.down.load(Ordering::SeqCst),
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept loop so that it sees `stop`
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Asserts that with deflate on each direction carried less than a tenth of what it carried
/// with deflate off, and that deflate off carried the whole 256 KiB message each way.
fn assert_compressed_on_the_wire(what: &str, on: (u64, u64), off: (u64, u64)) {
    let figures = format!(
        "{what}: one {BIG}-byte compressible message and its echo; bytes relayed client->server / server->client: deflate on {} / {}, deflate off {} / {}",
        on.0, on.1, off.0, off.1
    );
    eprintln!("{figures}");
    assert!(
        off.0 >= BIG as u64 && off.1 >= BIG as u64,
        "without deflate the message should have crossed the relay uncompressed each way\n{figures}"
    );
    assert!(
        on.0 * 10 < off.0 && on.1 * 10 < off.1,
        "with deflate each direction should carry less than 10% of the bytes it carries without\n{figures}"
    );
}

/// `hybi connect [--deflate]` through a relay to `peer`, sending the 256 KiB compressible line.
fn relayed_hybi_connect(peer: PeerServer, deflate: bool) -> (u64, u64) {
    let mut server = peer.start(None);
    let relay = Relay::start(server.port);
    let args: &[&str] = if deflate { &["--deflate"] } else { &[] };
    let lines = vec![compressible_text()];
    let out = hybi_connect_env(&relay.url(), args, &[], &stdin_of(&lines));
    common::assert_echoed_lines(&out, &lines, &server.log());
    assert_server_negotiated(&mut server, deflate);
    assert_server_logged(&mut server, &format!("text {BIG}"));
    relay.totals()
}

/// `client` through a relay to `hybi serve [--no-deflate]`, sending the 256 KiB compressible
/// message.
fn relayed_peer_client(client: PeerClient, deflate: bool) -> (u64, u64) {
    let extra: &[&str] = if deflate { &[] } else { &["--no-deflate"] };
    let server = Listening::hybi(extra);
    let relay = Relay::start(server.port);
    let out = client.run(&relay.url(), "compressible", None);
    assert_client_passed(&out, deflate, &server.log());
    relay.totals()
}

#[test]
fn on_the_wire_hybi_connect_to_python_websockets_server() {
    let on = relayed_hybi_connect(PeerServer::PyWebsockets, true);
    let off = relayed_hybi_connect(PeerServer::PyWebsockets, false);
    assert_compressed_on_the_wire("hybi connect -> Python websockets server", on, off);
}

#[test]
fn on_the_wire_hybi_connect_to_node_ws_server() {
    let on = relayed_hybi_connect(PeerServer::NodeWs, true);
    let off = relayed_hybi_connect(PeerServer::NodeWs, false);
    assert_compressed_on_the_wire("hybi connect -> Node ws server", on, off);
}

#[test]
fn on_the_wire_python_websockets_client_to_hybi_serve() {
    let on = relayed_peer_client(PeerClient::PyWebsockets, true);
    let off = relayed_peer_client(PeerClient::PyWebsockets, false);
    assert_compressed_on_the_wire("Python websockets client -> hybi serve", on, off);
}

#[test]
fn on_the_wire_node_ws_client_to_hybi_serve() {
    let on = relayed_peer_client(PeerClient::NodeWs, true);
    let off = relayed_peer_client(PeerClient::NodeWs, false);
    assert_compressed_on_the_wire("Node ws client -> hybi serve", on, off);
}
