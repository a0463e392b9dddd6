//! `hybi serve` answers plain HTTP on its WebSocket port: the demo page, `--static DIR` files
//! (content types, 404, no way out of DIR, HEAD), while handshakes on the same port still reach
//! the echo handler and broken handshakes are still refused.

mod common;
#[path = "common/eco.rs"]
mod eco;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::stdin_of;
use eco::{assert_echoed, hybi_connect_env, Listening, TempDir};

/// Sends `request` and reads the whole answer (the server closes after one response).
fn http(port: u16, request: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(port: u16, path: &str) -> String {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    )
}

fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer
        .split("\r\n\r\n")
        .next()?
        .lines()
        .skip(1)
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

#[test]
fn demo_page_and_websockets_on_one_port() {
    let server = Listening::hybi(&[]);
    let page = get(server.port, "/");
    assert_eq!(status(&page), "HTTP/1.1 200 OK", "{page}");
    assert_eq!(
        header(&page, "Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(body(&page).contains("new WebSocket("), "{page}");
    assert_eq!(
        header(&page, "Content-Length").map(|l| l.parse::<usize>().unwrap()),
        Some(body(&page).len())
    );
    assert_eq!(
        status(&get(server.port, "/favicon.ico")),
        "HTTP/1.1 404 Not Found"
    );
    // The same port still speaks WebSocket.
    let lines = ["after the page", "still echoing"];
    let out = hybi_connect_env(
        &format!("ws://127.0.0.1:{}/", server.port),
        &[],
        &[],
        &stdin_of(&lines),
    );
    assert_echoed(&out, &lines, &server.log());
}

#[test]
fn broken_handshakes_are_not_taken_for_pages() {
    let server = Listening::hybi(&[]);
    for request in [
        // an upgrade without a key
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        // WebSocket fields without an upgrade
        "GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        // a body on a GET
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        // other methods
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n",
        // not HTTP at all
        "GET / HTTP/1.1\r\nHost a\r\n\r\n",
    ] {
        let answer = http(server.port, request);
        assert!(
            status(&answer).starts_with("HTTP/1.1 4"),
            "{request:?} got {answer:?}"
        );
        assert!(!answer.contains("hybi echo"), "{request:?} got the page");
    }
}

#[test]
fn static_files() {
    let dir = TempDir::new("static");
    let www = dir.file("www");
    std::fs::create_dir_all(www.join("css")).unwrap();
    std::fs::write(www.join("index.html"), "<h1>my site</h1>").unwrap();
    std::fs::write(www.join("css/site.css"), "body { color: red }").unwrap();
    std::fs::write(www.join("data.json"), "{\"a\": 1}").unwrap();
    std::fs::write(www.join("blob.bin"), [0u8, 1, 2, 255]).unwrap();
    std::fs::write(www.join(".env"), "SECRET=1").unwrap();
    std::fs::write(dir.file("secret.txt"), "outside").unwrap();
    std::os::unix::fs::symlink(dir.file("secret.txt"), www.join("link.txt")).unwrap();
    let www_arg = www.display().to_string();
    let server = Listening::hybi(&["--static", &www_arg]);
    let port = server.port;

    let index = get(port, "/");
    assert_eq!(status(&index), "HTTP/1.1 200 OK");
    assert_eq!(body(&index), "<h1>my site</h1>");
    for (path, ctype, content) in [
        (
            "/index.html",
            "text/html; charset=utf-8",
            "<h1>my site</h1>",
        ),
        (
            "/css/site.css",
            "text/css; charset=utf-8",
            "body { color: red }",
        ),
        ("/data.json?x=1", "application/json", "{\"a\": 1}"),
        (
            "//css/./site.css",
            "text/css; charset=utf-8",
            "body { color: red }",
        ),
    ] {
        let answer = get(port, path);
        assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{path}: {answer}");
        assert_eq!(header(&answer, "Content-Type"), Some(ctype), "{path}");
        assert_eq!(body(&answer), content, "{path}");
    }
    let blob = get(port, "/blob.bin");
    assert_eq!(
        header(&blob, "Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(header(&blob, "Content-Length"), Some("4"));

    // HEAD: the headers without the body.
    let head = http(port, "HEAD /css/site.css HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(status(&head), "HTTP/1.1 200 OK");
    assert_eq!(header(&head, "Content-Length"), Some("19"));
    assert_eq!(body(&head), "");

    // A directory without its slash is redirected.
    let css = get(port, "/css");
    assert_eq!(status(&css), "HTTP/1.1 301 Moved Permanently");
    assert_eq!(header(&css, "Location"), Some("/css/"));

    // Nothing outside the directory, nothing hidden, nothing missing; `..` is never
    // followed, not even when it would stay inside (browsers resolve it before asking).
    for path in [
        "/css/../css/site.css",
        "/../secret.txt",
        "/css/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/css/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/.env",
        "/link.txt",
        "/missing.html",
        "/css/",
        "/index.html%00.css",
    ] {
        let answer = get(port, path);
        assert_eq!(
            status(&answer),
            "HTTP/1.1 404 Not Found",
            "{path}: {answer}"
        );
        assert!(
            !answer.contains("outside") && !answer.contains("SECRET"),
            "{path}"
        );
    }
    // An absolute-form target is routed by its path.
    let abs = get(port, "http://127.0.0.1/css/site.css");
    assert_eq!(status(&abs), "HTTP/1.1 200 OK", "{abs}");

    // WebSockets on the same port.
    let lines = ["static and ws"];
    let out = hybi_connect_env(
        &format!("ws://127.0.0.1:{port}/"),
        &[],
        &[],
        &stdin_of(&lines),
    );
    assert_echoed(&out, &lines, &server.log());
}

#[test]
fn a_missing_static_directory_is_an_error() {
    let out = std::process::Command::new(common::hybi_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--static",
            "/nonexistent/hybi-www",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--static"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
