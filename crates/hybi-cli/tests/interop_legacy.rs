//! Interop for the pre-RFC drafts (Hixie-75, Hixie-76/HyBi-00, HyBi-03, -05, -06, -07, -08) with
//! independent implementations that still speak them. Which peer speaks which draft, and the
//! peers' known defects, are in `tests/peers/README.md`.
//!
//! - hybi server (`hybi serve --variants all`, each engine) <- Ruby `websocket` gem client (75, 76, 3, 7, 8,
//!   13), Perl Protocol::WebSocket (hixie-75, hybi-00, hybi-10 = version 8, hybi-17 = 13), Node
//!   `ws` 8 with protocolVersion 8, WebSocket-Node (8, 13).
//! - hybi client (`hybi connect --variant V`) -> em-websocket, the Ruby `websocket` gem server,
//!   faye websocket-driver and Tornado 3.2.2, for each draft each of them speaks.
//!
//! Peers are installed by `scripts/install-test-deps.sh`; a missing peer fails the test.

mod common;

use common::*;

// ---------------------------------------------------------------------------------------------
// hybi server (all variants), peer clients
// ---------------------------------------------------------------------------------------------

/// One module per peer and draft, with a test against each of `hybi serve`'s engines
/// (`NAME::tokio`, `NAME::reactor`).
macro_rules! peer_client_against_hybi_server {
    ($($name:ident => $driver:literal [$($arg:expr),*],)*) => {$(
        mod $name {
            use super::*;

            fn run(engine: &str) {
                let server = Server::hybi_on(engine, Some("all"));
                let url = server.url("/echo");
                let args: Vec<String> = vec![$($arg.replace("URL", &url)),*];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                assert_peer_client_passes(&server, $driver, &args);
            }

            test_each_engine!(run);
        }
    )*};
}

// Ruby `websocket` gem: text (and, from HyBi-03 on, binary and ping), then the draft's close.
// Versions 5 and 6 are left out: the gem frames them the HyBi-07 way (MASK bit and key after the
// length), not as the drafts do (defect 5 in tests/peers/README.md).
peer_client_against_hybi_server! {
    hybi_server_ruby_gem_hixie_75 => "ruby_ws_client.rb" ["75", "URL"],
    hybi_server_ruby_gem_hixie_76 => "ruby_ws_client.rb" ["76", "URL"],
    hybi_server_ruby_gem_hybi_03 => "ruby_ws_client.rb" ["3", "URL"],
    hybi_server_ruby_gem_hybi_07 => "ruby_ws_client.rb" ["7", "URL"],
    hybi_server_ruby_gem_hybi_08 => "ruby_ws_client.rb" ["8", "URL"],
    hybi_server_ruby_gem_rfc6455 => "ruby_ws_client.rb" ["13", "URL"],
}

// Perl Protocol::WebSocket. Its draft-ietf-hybi-00 request carries `Content-Length: 8` before
// key3 (defect 2): a server must still read exactly 8 bytes of key3.
peer_client_against_hybi_server! {
    hybi_server_perl_hixie_75 => "perl_pws_client.pl" ["draft-hixie-75", "URL"],
    hybi_server_perl_hybi_00 => "perl_pws_client.pl" ["draft-ietf-hybi-00", "URL"],
    hybi_server_perl_hybi_10 => "perl_pws_client.pl" ["draft-ietf-hybi-10", "URL"],
    hybi_server_perl_hybi_17 => "perl_pws_client.pl" ["draft-ietf-hybi-17", "URL"],
}

// Node clients that send Sec-WebSocket-Version 8 (and 13).
peer_client_against_hybi_server! {
    hybi_server_node_ws_hybi_08 => "node_ws_client.js" ["URL", "8", "all"],
    hybi_server_websocket_node_hybi_08 => "websocket_node_client.js" ["URL", "8", "all"],
    hybi_server_websocket_node_rfc6455 => "websocket_node_client.js" ["URL", "13", "all"],
}

// ---------------------------------------------------------------------------------------------
// hybi client (one variant), peer servers
// ---------------------------------------------------------------------------------------------

/// Text lines for the fragmentation runs: with `--fragment-size 4` multi-byte characters are
/// split between frames.
fn fragment_lines() -> Vec<String> {
    vec![
        "fragmented into four-byte frames".to_string(),
        "\u{20ac}\u{20ac}\u{20ac} \u{1d11e} \u{e9}".to_string(),
        "abc".to_string(),
        "q".repeat(300),
    ]
}

/// What to try beyond text lines for one (server, variant) pair.
struct Checks {
    /// the draft has binary messages and the server echoes them as binary
    binary: bool,
    /// the draft has fragmentation and the server reassembles fragments
    fragments: bool,
    /// the server answers a close with the close code it received (so hybi prints `closed 1000`)
    echoes_close_code: bool,
    /// the server only reassembles messages of at most two fragments (em-websocket's
    /// framing05.rb overwrites the message type on every non-final frame: docs/drafts.md)
    two_fragments_only: bool,
}

fn hybi_client_against(driver: &str, variant: &str, checks: Checks) {
    let server = Server::peer(driver);
    let url = server.url("/echo");
    let out = assert_hybi_echoes(
        &server,
        &url,
        &["--variant", variant],
        &common::text_lines(),
    );
    if checks.echoes_close_code {
        assert_closed_with(&out, 1000, &server);
    }
    if checks.binary {
        assert_hybi_echoes(
            &server,
            &url,
            &["--variant", variant, "--binary"],
            &binary_lines(),
        );
    }
    if checks.fragments && checks.two_fragments_only {
        // 8-byte lines in 4-byte fragments: every message is exactly two frames.
        let lines: Vec<String> = (0..8).map(|i| format!("frag-{i:03}")).collect();
        assert_hybi_echoes(
            &server,
            &url,
            &["--variant", variant, "--fragment-size", "4"],
            &lines,
        );
    } else if checks.fragments {
        assert_hybi_echoes(
            &server,
            &url,
            &["--variant", variant, "--fragment-size", "4"],
            &fragment_lines(),
        );
    }
}

macro_rules! hybi_client_against_peer_server {
    ($($name:ident => $driver:literal, $variant:literal, binary: $b:literal, fragments: $f:literal, close_code: $c:literal;)*) => {$(
        #[test]
        fn $name() {
            hybi_client_against($driver, $variant, Checks {
                binary: $b,
                fragments: $f,
                echoes_close_code: $c,
                two_fragments_only: $driver == "em_websocket_server.rb" && matches!($variant, "hybi-05" | "hybi-06"),
            });
        }
    )*};
}

// em-websocket 0.5.1: every draft hybi has before RFC 6455 except HyBi-04 (which it refuses).
// Before HyBi-07 the close frame carries no code we can check.
hybi_client_against_peer_server! {
    hybi_client_em_websocket_hixie_75 => "em_websocket_server.rb", "hixie-75", binary: false, fragments: false, close_code: false;
    hybi_client_em_websocket_hixie_76 => "em_websocket_server.rb", "hixie-76", binary: false, fragments: false, close_code: false;
    hybi_client_em_websocket_hybi_03 => "em_websocket_server.rb", "hybi-03", binary: true, fragments: true, close_code: false;
    hybi_client_em_websocket_hybi_05 => "em_websocket_server.rb", "hybi-05", binary: true, fragments: true, close_code: false;
    hybi_client_em_websocket_hybi_06 => "em_websocket_server.rb", "hybi-06", binary: true, fragments: true, close_code: false;
    hybi_client_em_websocket_hybi_07 => "em_websocket_server.rb", "hybi-07", binary: true, fragments: true, close_code: true;
    hybi_client_em_websocket_hybi_08 => "em_websocket_server.rb", "hybi-08", binary: true, fragments: true, close_code: true;
    hybi_client_em_websocket_rfc6455 => "em_websocket_server.rb", "rfc6455", binary: true, fragments: true, close_code: true;
}

// Ruby `websocket` gem server. HyBi-05/06 are left out (the gem's framing for them is HyBi-07's,
// defect 5). For HyBi-01..03 the gem frames by the number in Sec-WebSocket-Draft: 3 gets HyBi-03
// framing, 1 and 2 get Hixie framing.
hybi_client_against_peer_server! {
    hybi_client_ruby_gem_hixie_75 => "ruby_ws_server.rb", "hixie-75", binary: false, fragments: false, close_code: false;
    hybi_client_ruby_gem_hixie_76 => "ruby_ws_server.rb", "hixie-76", binary: false, fragments: false, close_code: false;
    hybi_client_ruby_gem_hybi_03 => "ruby_ws_server.rb", "hybi-03", binary: true, fragments: true, close_code: false;
    hybi_client_ruby_gem_hybi_07 => "ruby_ws_server.rb", "hybi-07", binary: true, fragments: true, close_code: true;
    hybi_client_ruby_gem_hybi_08 => "ruby_ws_server.rb", "hybi-08", binary: true, fragments: true, close_code: true;
    hybi_client_ruby_gem_rfc6455 => "ruby_ws_server.rb", "rfc6455", binary: true, fragments: true, close_code: true;
}

// faye websocket-driver: Hixie-75, Hixie-76 and version 13 only (it refuses 8 with 400). Its
// Hixie-76 server sends the 101 header block before it has key3, and the 16-byte answer later.
hybi_client_against_peer_server! {
    hybi_client_faye_hixie_75 => "faye_server.js", "hixie-75", binary: false, fragments: false, close_code: false;
    hybi_client_faye_hixie_76 => "faye_server.js", "hixie-76", binary: false, fragments: false, close_code: false;
    hybi_client_faye_rfc6455 => "faye_server.js", "rfc6455", binary: true, fragments: true, close_code: true;
}

// Tornado 3.2.2: Hixie-76 (refused without an Origin header), versions 7, 8 and 13. It answers a
// close frame with an empty close frame, so there is no code to check.
hybi_client_against_peer_server! {
    hybi_client_tornado3_hixie_76 => "tornado3_server.py", "hixie-76", binary: false, fragments: false, close_code: false;
    hybi_client_tornado3_hybi_07 => "tornado3_server.py", "hybi-07", binary: true, fragments: true, close_code: false;
    hybi_client_tornado3_hybi_08 => "tornado3_server.py", "hybi-08", binary: true, fragments: true, close_code: false;
    hybi_client_tornado3_rfc6455 => "tornado3_server.py", "rfc6455", binary: true, fragments: true, close_code: false;
}
