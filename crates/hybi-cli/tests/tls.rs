//! TLS: `hybi serve --tls-cert/--tls-key` and `hybi connect wss://… --ca`, with a certificate
//! authority made at test time (rcgen); the same over TLS with Python `websockets` and Node
//! `ws` on either side; refusals (unknown authority, wrong name); the demo page over HTTPS.

mod common;
#[path = "common/eco.rs"]
mod eco;

use common::stdin_of;
use eco::{
    assert_echoed, assert_peer_client_passes_env, hybi_connect_env, run_peer_client_env, Listening,
    TestPki,
};

const LINES: [&str; 4] = [
    "hello over TLS",
    "h\u{e9}llo w\u{f6}rld \u{20ac} \u{1f600}",
    "",
    "last",
];

fn wss(port: u16, host: &str) -> String {
    format!("wss://{host}:{port}/")
}

#[test]
fn hybi_connect_with_a_custom_ca() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let server = pki.hybi_serve(&[]);
    for host in ["localhost", "127.0.0.1"] {
        let out = hybi_connect_env(
            &wss(server.port, host),
            &["--ca", &pki.ca()],
            &[],
            &stdin_of(&LINES),
        );
        assert_echoed(&out, &LINES, &server.log());
    }
}

#[test]
fn an_unknown_authority_is_refused() {
    let pki = TestPki::new(&["localhost"]);
    let server = pki.hybi_serve(&[]);
    let out = hybi_connect_env(&wss(server.port, "localhost"), &[], &[], b"x\n");
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("UnknownIssuer") || out.stderr.contains("certificate"),
        "{}",
        out.describe()
    );
    // Another authority's certificate does not help either.
    let other = TestPki::new(&["localhost"]);
    let out = hybi_connect_env(
        &wss(server.port, "localhost"),
        &["--ca", &other.ca()],
        &[],
        b"x\n",
    );
    assert!(!out.success(), "{}", out.describe());
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let pki = TestPki::new(&["elsewhere.test"]);
    let server = pki.hybi_serve(&[]);
    let out = hybi_connect_env(
        &wss(server.port, "localhost"),
        &["--ca", &pki.ca()],
        &[],
        b"x\n",
    );
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("NotValidForName") || out.stderr.contains("not valid for name"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_bad_ca_file_is_reported() {
    let pki = TestPki::new(&["localhost"]);
    let out = hybi_connect_env("wss://localhost:1/", &["--ca", &pki.key()], &[], b"");
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(2),
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("--ca"), "{}", out.describe());
    let out = hybi_connect_env(
        "wss://localhost:1/",
        &["--ca", "/nonexistent/ca.pem"],
        &[],
        b"",
    );
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(2),
        "{}",
        out.describe()
    );
}

#[test]
fn plain_ws_to_a_tls_port_fails() {
    let pki = TestPki::new(&["localhost"]);
    let server = pki.hybi_serve(&[]);
    let out = hybi_connect_env(
        &format!("ws://127.0.0.1:{}/", server.port),
        &[],
        &[],
        b"x\n",
    );
    assert!(!out.success(), "{}", out.describe());
}

#[test]
fn the_demo_page_over_https() {
    let pki = TestPki::new(&["localhost"]);
    let server = pki.hybi_serve(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let page = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tls = hybi::tls::TlsConnector::empty()
            .with_ca_file(pki.ca())
            .unwrap();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let mut stream = tls.connect("localhost", tcp).await.unwrap();
        assert_eq!(
            stream.get_ref().1.alpn_protocol(),
            Some(&b"http/1.1"[..]),
            "ALPN"
        );
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut page = Vec::new();
        let _ = stream.read_to_end(&mut page).await;
        String::from_utf8_lossy(&page).into_owned()
    });
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("<title>hybi echo</title>"), "{page}");
}

// --- interop over TLS ------------------------------------------------------------------------

#[test]
fn python_websockets_client_to_hybi_serve_over_tls() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let server = pki.hybi_serve(&[]);
    let url = wss(server.port, "localhost");
    let ca = pki.ca();
    assert_peer_client_passes_env(
        &server,
        "py_websockets_client.py",
        &[&url, "text,binary,frag-text,big-binary,ping,close-4001"],
        &[("HYBI_TLS_CA", &ca)],
    );
}

#[test]
fn node_ws_client_to_hybi_serve_over_tls() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let server = pki.hybi_serve(&[]);
    let url = wss(server.port, "localhost");
    let ca = pki.ca();
    assert_peer_client_passes_env(
        &server,
        "node_ws_client.js",
        &[
            &url,
            "13",
            "text,binary,frag-binary,big-text,ping,close-1000",
        ],
        &[("HYBI_TLS_CA", &ca)],
    );
    // And without the CA, ws refuses the certificate: the TLS is real.
    let out = run_peer_client_env("node_ws_client.js", &[&url, "13", "text"], &[]);
    assert!(!out.success(), "{}", out.describe());
}

#[test]
fn hybi_connect_to_python_websockets_over_tls() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let (cert, key) = (pki.cert(), pki.key());
    let server = Listening::peer(
        "py_websockets_server.py",
        &[("HYBI_TLS_CERT", &cert), ("HYBI_TLS_KEY", &key)],
    );
    let out = hybi_connect_env(
        &wss(server.port, "localhost"),
        &["--ca", &pki.ca()],
        &[],
        &stdin_of(&LINES),
    );
    assert_echoed(&out, &LINES, &server.log());
}

#[test]
fn hybi_connect_to_node_ws_over_tls() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let (cert, key) = (pki.cert(), pki.key());
    let server = Listening::peer(
        "node_ws_server.js",
        &[("HYBI_TLS_CERT", &cert), ("HYBI_TLS_KEY", &key)],
    );
    let out = hybi_connect_env(
        &wss(server.port, "127.0.0.1"),
        &["--ca", &pki.ca()],
        &[],
        &stdin_of(&LINES),
    );
    assert_echoed(&out, &LINES, &server.log());
}
