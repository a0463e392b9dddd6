//! RFC 6455 (and HyBi-08) interop between `hybi` and two independent implementations:
//! Python `websockets` 17.4 and Node `ws` 8.
//!
//! - hybi server (`hybi serve`, default variants, each engine) <- `tests/peers/py_websockets_client.py` (one
//!   test per scenario) and `tests/peers/node_ws_client.js` (versions 13 and 8).
//! - hybi client (`hybi connect`) -> `tests/peers/py_websockets_server.py` and
//!   `tests/peers/node_ws_server.js`: text lines, `--binary` hex lines, `--fragment-size`, 1 MiB
//!   lines, close codes.
//!
//! Peers are installed by `scripts/install-test-deps.sh`; a missing peer fails the test.

mod common;

use common::*;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// hybi server, peer clients
// ---------------------------------------------------------------------------------------------

/// One module per scenario, with a test against each of `hybi serve`'s engines
/// (`NAME::tokio`, `NAME::reactor`).
macro_rules! python_client_against_hybi_server {
    ($($name:ident => $scenario:literal,)*) => {$(
        mod $name {
            use super::*;

            fn run(engine: &str) {
                let server = Server::hybi_on(engine, None);
                assert_peer_client_passes(&server, "py_websockets_client.py", &[&server.url("/"), $scenario]);
            }

            test_each_engine!(run);
        }
    )*};
}

python_client_against_hybi_server! {
    hybi_server_python_websockets_text => "text",
    hybi_server_python_websockets_binary => "binary",
    hybi_server_python_websockets_fragmented_text => "frag-text",
    hybi_server_python_websockets_fragmented_binary => "frag-binary",
    hybi_server_python_websockets_1mib_text => "big-text",
    hybi_server_python_websockets_1mib_binary => "big-binary",
    hybi_server_python_websockets_ping => "ping",
    hybi_server_python_websockets_close_1000 => "close-1000",
    hybi_server_python_websockets_close_4001 => "close-4001",
}

#[test]
fn hybi_server_node_ws_version_13() {
    let server = Server::hybi(None);
    assert_peer_client_passes(
        &server,
        "node_ws_client.js",
        &[&server.url("/"), "13", "all"],
    );
}

#[test]
fn hybi_reactor_server_node_ws_version_13() {
    let server = Server::hybi_on("reactor", None);
    assert_peer_client_passes(
        &server,
        "node_ws_client.js",
        &[&server.url("/"), "13", "all"],
    );
}

#[test]
fn hybi_server_node_ws_version_8() {
    // HyBi-08 is among `hybi serve`'s default variants (rfc6455,hybi-08,hybi-07)
    let server = Server::hybi(None);
    assert_peer_client_passes(
        &server,
        "node_ws_client.js",
        &[&server.url("/"), "8", "all"],
    );
}

#[test]
fn hybi_server_node_ws_on_a_path_with_query() {
    let server = Server::hybi(None);
    assert_peer_client_passes(
        &server,
        "node_ws_client.js",
        &[&server.url("/chat/room?x=1&y=%20"), "13", "text"],
    );
}

// ---------------------------------------------------------------------------------------------
// hybi client, peer servers
// ---------------------------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift64*), so failures can be reproduced.
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lines whose multi-byte characters get split across frames by a small `--fragment-size`.
fn fragment_lines() -> Vec<String> {
    vec![
        "fragmented into small frames".to_string(),
        "\u{20ac}\u{20ac}\u{20ac} \u{1d11e}\u{1d11e} \u{e9}\u{e9}\u{e9}".to_string(),
        "ab".to_string(),
        "x".repeat(1000),
    ]
}

/// The frames the Python server logged (`frame OPCODE len=N fin=True|False`): (opcode, len, fin).
fn frames_logged(server: &Server) -> Vec<(String, usize, bool)> {
    server
        .stdout_so_far()
        .lines()
        .filter_map(|l| {
            let mut it = l.strip_prefix("frame ")?.split(' ');
            let opcode = it.next()?.to_string();
            let len = it.next()?.strip_prefix("len=")?.parse().ok()?;
            let fin = it.next()? == "fin=True";
            Some((opcode, len, fin))
        })
        .collect()
}

/// Waits until the peer server logged the close it received, e.g. `close 4001 ...`.
fn assert_server_saw_close(server: &mut Server, code: u16) {
    let prefix = format!("close {code}");
    if let Err(e) = server.wait_for_line(Duration::from_secs(10), |l| l.starts_with(&prefix)) {
        panic!("the peer server did not log {prefix:?}: {e}");
    }
}

macro_rules! hybi_client_against_peer_server {
    ($module:ident, $driver:literal, logs_frames: $logs_frames:literal) => {
        mod $module {
            use super::*;

            /// Whether the server logs every frame it receives (`frame OPCODE len=N fin=B`).
            const LOGS_FRAMES: bool = $logs_frames;

            #[test]
            fn text_lines() {
                let server = Server::peer($driver);
                let out = assert_hybi_echoes(&server, &server.url("/"), &[], &common::text_lines());
                assert_closed_with(&out, 1000, &server);
            }

            #[test]
            fn text_lines_with_variant_rfc6455() {
                let server = Server::peer($driver);
                let out = assert_hybi_echoes(&server, &server.url("/echo"), &["--variant", "rfc6455"], &common::text_lines());
                assert_closed_with(&out, 1000, &server);
            }

            #[test]
            fn binary_hex_lines() {
                let server = Server::peer($driver);
                let out = assert_hybi_echoes(&server, &server.url("/"), &["--binary"], &binary_lines());
                assert_closed_with(&out, 1000, &server);
                let log = server.stdout_so_far();
                assert!(
                    log.lines().any(|l| l == "binary 256") && !log.lines().any(|l| l.starts_with("text ")),
                    "the server should have received binary messages only:\n{}",
                    server.log()
                );
            }

            #[test]
            fn fragmented_text() {
                let server = Server::peer($driver);
                assert_hybi_echoes(&server, &server.url("/"), &["--fragment-size", "3"], &fragment_lines());
                if LOGS_FRAMES {
                    let frames = frames_logged(&server);
                    let data: Vec<_> = frames.iter().filter(|f| f.0 != "CLOSE").collect();
                    assert!(
                        data.iter().any(|f| f.0 == "TEXT" && !f.2)
                            && data.iter().any(|f| f.0 == "CONT" && f.2)
                            && data.iter().all(|f| f.1 <= 3),
                        "hybi should have sent each line as TEXT, CONT..., CONT(fin) frames of at most 3 bytes:\n{}",
                        server.log()
                    );
                }
            }

            #[test]
            fn fragmented_binary() {
                let server = Server::peer($driver);
                let lines = vec![hex(&pseudo_random(1000, 7)), hex(b"abc"), hex(&[0xff; 17])];
                assert_hybi_echoes(&server, &server.url("/"), &["--binary", "--fragment-size", "5"], &lines);
                if LOGS_FRAMES {
                    let frames = frames_logged(&server);
                    let data: Vec<_> = frames.iter().filter(|f| f.0 != "CLOSE").collect();
                    assert!(
                        data.iter().any(|f| f.0 == "BINARY" && !f.2) && data.iter().all(|f| f.1 <= 5),
                        "hybi should have sent a fragmented binary message:\n{}",
                        server.log()
                    );
                }
            }

            #[test]
            fn one_mib_text_line() {
                let server = Server::peer($driver);
                assert_hybi_echoes(&server, &server.url("/"), &[], &[big_text_line()]);
            }

            #[test]
            fn one_mib_binary_line() {
                let server = Server::peer($driver);
                assert_hybi_echoes(&server, &server.url("/"), &["--binary"], &[hex(&pseudo_random(1 << 20, 42))]);
            }

            #[test]
            fn one_mib_text_line_in_64k_fragments() {
                let server = Server::peer($driver);
                assert_hybi_echoes(&server, &server.url("/"), &["--fragment-size", "65536"], &[big_text_line()]);
                if LOGS_FRAMES {
                    let frames = frames_logged(&server);
                    let data: Vec<_> = frames.iter().filter(|f| f.0 == "TEXT" || f.0 == "CONT").collect();
                    assert!(
                        data.len() >= 16 && data.iter().all(|f| f.1 <= 65536),
                        "expected the 1 MiB message in frames of at most 64 KiB, saw {} frames:\n{}",
                        data.len(),
                        server.log()
                    );
                }
            }

            #[test]
            fn close_code_4001() {
                let mut server = Server::peer($driver);
                let out = assert_hybi_echoes(&server, &server.url("/"), &["--close-code", "4001"], &["before close"]);
                assert_closed_with(&out, 4001, &server);
                assert_server_saw_close(&mut server, 4001);
            }

            #[test]
            fn close_code_1000_by_default() {
                let mut server = Server::peer($driver);
                let out = assert_hybi_echoes(&server, &server.url("/"), &[], &["before close"]);
                assert_closed_with(&out, 1000, &server);
                assert_server_saw_close(&mut server, 1000);
            }

            #[test]
            fn no_input_still_closes_cleanly() {
                let mut server = Server::peer($driver);
                let out = assert_hybi_echoes::<&str>(&server, &server.url("/"), &[], &[]);
                assert_closed_with(&out, 1000, &server);
                assert_server_saw_close(&mut server, 1000);
            }
        }
    };
}

hybi_client_against_peer_server!(hybi_client_python_websockets_server, "py_websockets_server.py", logs_frames: true);
hybi_client_against_peer_server!(hybi_client_node_ws_server, "node_ws_server.js", logs_frames: false);

#[test]
fn hybi_client_hybi_08_against_node_ws_server() {
    // ws 8 still accepts Sec-WebSocket-Version: 8
    let server = Server::peer("node_ws_server.js");
    let out = assert_hybi_echoes(
        &server,
        &server.url("/"),
        &["--variant", "hybi-08"],
        &common::text_lines(),
    );
    assert_closed_with(&out, 1000, &server);
    assert!(
        server.stdout_so_far().contains("open version=8"),
        "ws should have seen version 8:\n{}",
        server.log()
    );
}

#[test]
fn hybi_client_reports_a_refused_handshake() {
    // websockets only speaks version 13: it answers a HyBi-08 request with 400
    let server = Server::peer("py_websockets_server.py");
    let out = hybi_connect(
        &server.url("/"),
        &["--variant", "hybi-08"],
        b"hello\n",
        RUN_TIMEOUT,
    );
    assert!(
        out.status.is_some() && !out.success(),
        "hybi connect should exit non-zero when the server refuses the handshake:\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.trim().is_empty(),
        "hybi connect should say why on stderr:\n{}",
        out.describe()
    );
    assert!(
        out.stdout.trim().is_empty(),
        "nothing should have been echoed:\n{}",
        out.describe()
    );
}

#[test]
fn hybi_client_reports_a_refused_connection() {
    // a port nothing listens on: bind one, note it, close it
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = hybi_connect(
        &format!("ws://127.0.0.1:{port}/"),
        &[],
        b"hello\n",
        RUN_TIMEOUT,
    );
    assert!(
        out.status.is_some() && !out.success(),
        "hybi connect should fail:\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.trim().is_empty(),
        "hybi connect should say why on stderr:\n{}",
        out.describe()
    );
}
