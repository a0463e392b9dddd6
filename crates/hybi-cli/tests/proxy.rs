//! `hybi connect` through proxies: a SOCKS5 server written here (RFC 1928, with and without
//! the RFC 1929 user/password method) and a real HTTP CONNECT proxy (tinyproxy, started by
//! the test with its own configuration; it must be installed: scripts/install-test-deps.sh),
//! chosen by `--proxy URL` or by the proxy environment variables, `no_proxy` included.

mod common;
#[path = "common/eco.rs"]
mod eco;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::stdin_of;
use eco::{
    assert_echoed, eventually, free_port, hybi_connect_env, require_program, spawn, Listening,
    TempDir, TestPki,
};

const LINES: [&str; 3] = ["through the proxy", "\u{20ac}\u{1f600}", "bye"];

/// The host name the SOCKS5 server maps to 127.0.0.1 (nothing else can resolve it).
const FAKE_HOST: &str = "echo.hybi.test";

// ---------------------------------------------------------------------------------------------
// A small SOCKS5 server
// ---------------------------------------------------------------------------------------------

/// What the SOCKS5 server was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Asked {
    Ip(SocketAddr),
    Name(String, u16),
}

/// A SOCKS5 server on 127.0.0.1 (CONNECT only), optionally demanding a user and password.
/// Names resolve only to 127.0.0.1 and only for [`FAKE_HOST`] and `localhost`.
struct Socks5 {
    port: u16,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl Socks5 {
    fn start(credentials: Option<(&'static str, &'static str)>) -> Socks5 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = log.clone();
                thread::spawn(move || {
                    let _ = socks5_session(client, credentials, &log);
                });
            }
        });
        Socks5 { port, asked }
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

fn read_n(s: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v)?;
    Ok(v)
}

/// One client: greeting, optional authentication, CONNECT, then relay both ways.
fn socks5_session(
    mut client: TcpStream,
    credentials: Option<(&str, &str)>,
    asked: &Mutex<Vec<Asked>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = read_n(&mut client, 2)?;
    assert_eq!(head[0], 5, "SOCKS version");
    let methods = read_n(&mut client, head[1] as usize)?;
    let wanted = if credentials.is_some() { 2 } else { 0 };
    if !methods.contains(&wanted) {
        client.write_all(&[5, 0xff])?;
        return Ok(());
    }
    client.write_all(&[5, wanted])?;
    if let Some((user, pass)) = credentials {
        let ver = read_n(&mut client, 2)?;
        assert_eq!(ver[0], 1, "user/password subnegotiation version");
        let u = read_n(&mut client, ver[1] as usize)?;
        let plen = read_n(&mut client, 1)?[0] as usize;
        let p = read_n(&mut client, plen)?;
        if u != user.as_bytes() || p != pass.as_bytes() {
            client.write_all(&[1, 1])?;
            return Ok(());
        }
        client.write_all(&[1, 0])?;
    }
    let req = read_n(&mut client, 4)?;
    assert_eq!(&req[..3], &[5, 1, 0], "CONNECT request");
    let target = match req[3] {
        1 => {
            let a = read_n(&mut client, 4)?;
            let port = u16::from_be_bytes(read_n(&mut client, 2)?.try_into().unwrap());
            Asked::Ip(SocketAddr::from((
                Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                port,
            )))
        }
        3 => {
            let len = read_n(&mut client, 1)?[0] as usize;
            let name = String::from_utf8(read_n(&mut client, len)?).unwrap();
            let port = u16::from_be_bytes(read_n(&mut client, 2)?.try_into().unwrap());
            Asked::Name(name, port)
        }
        other => {
            client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0])?;
            panic!("address type {other}");
        }
    };
    asked.lock().unwrap().push(target.clone());
    let addr = match &target {
        Asked::Ip(a) => Some(*a),
        Asked::Name(n, p) if n == FAKE_HOST || n == "localhost" => {
            Some(SocketAddr::from((Ipv4Addr::LOCALHOST, *p)))
        }
        Asked::Name(..) => None,
    };
    let Some(upstream) = addr.and_then(|a| TcpStream::connect(a).ok()) else {
        client.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0])?; // host unreachable
        return Ok(());
    };
    let bound = upstream.local_addr()?;
    let mut reply = vec![5, 0, 0, 1];
    match bound.ip() {
        std::net::IpAddr::V4(v4) => reply.extend_from_slice(&v4.octets()),
        std::net::IpAddr::V6(_) => reply.extend_from_slice(&[0, 0, 0, 0]),
    }
    reply.extend_from_slice(&bound.port().to_be_bytes());
    client.write_all(&reply)?;
    client.set_read_timeout(None)?;
    relay(client, upstream)
}

fn relay(a: TcpStream, b: TcpStream) -> std::io::Result<()> {
    let (mut a2, mut b2) = (a.try_clone()?, b.try_clone()?);
    let (mut a1, mut b1) = (a, b);
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut a1, &mut b1);
        let _ = b1.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut b2, &mut a2);
    let _ = a2.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// tinyproxy
// ---------------------------------------------------------------------------------------------

/// tinyproxy in the foreground on 127.0.0.1, allowing CONNECT to `connect_ports` only.
struct Tinyproxy {
    port: u16,
    proc: eco::Listening,
    _dir: TempDir,
}

impl Tinyproxy {
    fn start(connect_ports: &[u16], basic_auth: Option<(&str, &str)>) -> Tinyproxy {
        require_program("tinyproxy", &["-v"]);
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let dir = TempDir::new("tinyproxy");
            let port = free_port();
            let mut conf = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 32\nAllow 127.0.0.1\n\
                 LogLevel Info\nDisableViaHeader Yes\n"
            );
            for p in connect_ports {
                conf.push_str(&format!("ConnectPort {p}\n"));
            }
            if let Some((user, pass)) = basic_auth {
                conf.push_str(&format!("BasicAuth {user} {pass}\n"));
            }
            std::fs::write(dir.file("tinyproxy.conf"), conf).unwrap();
            let mut cmd = Command::new("tinyproxy");
            cmd.arg("-d").arg("-c").arg(dir.file("tinyproxy.conf"));
            let mut running = spawn(format!("tinyproxy on port {port}"), cmd, None);
            match running.wait_for_line(Duration::from_secs(15), |l| {
                l.contains("Starting main loop") || l.contains("Could not create listening")
            }) {
                Ok(line) if line.contains("Starting main loop") => {
                    // Wait until it really accepts.
                    if eventually(Duration::from_secs(5), || {
                        TcpStream::connect(("127.0.0.1", port)).is_ok()
                    }) {
                        return Tinyproxy {
                            port,
                            proc: Listening {
                                port,
                                proc: running,
                            },
                            _dir: dir,
                        };
                    }
                    last_error = running.log();
                }
                Ok(_) => last_error = running.log(), // the port was taken meanwhile: retry
                Err(e) => last_error = e,
            }
        }
        panic!("tinyproxy did not start:\n{last_error}");
    }

    fn log(&self) -> String {
        self.proc.log()
    }
}

// ---------------------------------------------------------------------------------------------
// SOCKS5
// ---------------------------------------------------------------------------------------------

#[test]
fn socks5_without_authentication() {
    let server = Listening::hybi(&[]);
    let socks = Socks5::start(None);
    let proxy = format!("socks5://127.0.0.1:{}", socks.port);
    let out = hybi_connect_env(
        &format!("ws://127.0.0.1:{}/", server.port),
        &["--proxy", &proxy],
        &[],
        &stdin_of(&LINES),
    );
    assert_echoed(&out, &LINES, &server.log());
    assert_eq!(
        socks.asked(),
        vec![Asked::Ip(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            server.port
        )))]
    );
}

#[test]
fn socks5h_with_user_and_password_resolves_at_the_proxy() {
    let server = Listening::hybi(&[]);
    let socks = Socks5::start(Some(("hybi", "p@ss:word")));
    // The password is percent-encoded in the URL.
    let proxy = format!("socks5h://hybi:p%40ss%3Aword@127.0.0.1:{}", socks.port);
    let url = format!("ws://{FAKE_HOST}:{}/", server.port);
    let out = hybi_connect_env(&url, &["--proxy", &proxy], &[], &stdin_of(&LINES));
    assert_echoed(&out, &LINES, &server.log());
    assert_eq!(
        socks.asked(),
        vec![Asked::Name(FAKE_HOST.into(), server.port)]
    );
}

#[test]
fn socks5_refusals_are_reported() {
    let server = Listening::hybi(&[]);
    let socks = Socks5::start(Some(("hybi", "secret")));
    let url = format!("ws://127.0.0.1:{}/", server.port);
    // wrong password
    let proxy = format!("socks5://hybi:wrong@127.0.0.1:{}", socks.port);
    let out = hybi_connect_env(&url, &["--proxy", &proxy], &[], b"x\n");
    assert!(!out.success(), "{}", out.describe());
    assert!(out.stderr.contains("refused"), "{}", out.describe());
    assert!(
        !out.stderr.contains("wrong"),
        "password leaked: {}",
        out.describe()
    );
    // no credentials for a proxy that wants them
    let proxy = format!("socks5://127.0.0.1:{}", socks.port);
    let out = hybi_connect_env(&url, &["--proxy", &proxy], &[], b"x\n");
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("user and password"),
        "{}",
        out.describe()
    );
    // a name the proxy cannot resolve
    let open = Socks5::start(None);
    let proxy = format!("socks5h://127.0.0.1:{}", open.port);
    let out = hybi_connect_env(
        &format!("ws://nowhere.hybi.test:{}/", server.port),
        &["--proxy", &proxy],
        &[],
        b"x\n",
    );
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("host unreachable"),
        "{}",
        out.describe()
    );
}

#[test]
fn all_proxy_from_the_environment() {
    let server = Listening::hybi(&[]);
    let socks = Socks5::start(None);
    let proxy = format!("socks5h://127.0.0.1:{}", socks.port);
    let url = format!("ws://{FAKE_HOST}:{}/", server.port);
    let out = hybi_connect_env(&url, &[], &[("ALL_PROXY", &proxy)], &stdin_of(&LINES));
    assert_echoed(&out, &LINES, &server.log());
    assert_eq!(socks.asked().len(), 1);
    // --no-proxy ignores the environment (and then the fake name does not resolve).
    let out = hybi_connect_env(&url, &["--no-proxy"], &[("ALL_PROXY", &proxy)], b"x\n");
    assert!(!out.success(), "{}", out.describe());
    assert_eq!(socks.asked().len(), 1, "--no-proxy went through the proxy");
}

#[test]
fn no_proxy_by_ip_block_and_by_domain_suffix() {
    let server = Listening::hybi(&[]);
    let socks = Socks5::start(None);
    let proxy = format!("socks5h://127.0.0.1:{}", socks.port);
    // An IP block: 127.0.0.1 connects directly.
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let env = [
        ("http_proxy", proxy.as_str()),
        ("no_proxy", "10.0.0.0/8, 127.0.0.0/8"),
    ];
    let out = hybi_connect_env(&url, &[], &env, &stdin_of(&LINES));
    assert_echoed(&out, &LINES, &server.log());
    // A suffix: localhost is exempt, echo.hybi.test is not.
    let env = [
        ("http_proxy", proxy.as_str()),
        ("NO_PROXY", "example.org,.localhost"),
    ];
    let out = hybi_connect_env(
        &format!("ws://localhost:{}/", server.port),
        &[],
        &env,
        &stdin_of(&LINES),
    );
    assert_echoed(&out, &LINES, &server.log());
    assert!(socks.asked().is_empty(), "{:?}", socks.asked());
    let env = [
        ("http_proxy", proxy.as_str()),
        ("no_proxy", ".test.example,hybi.test.org"),
    ];
    let out = hybi_connect_env(
        &format!("ws://{FAKE_HOST}:{}/", server.port),
        &[],
        &env,
        &stdin_of(&LINES),
    );
    assert_echoed(&out, &LINES, &server.log());
    assert_eq!(
        socks.asked(),
        vec![Asked::Name(FAKE_HOST.into(), server.port)]
    );
    // https_proxy is for wss:// only: a ws:// connection ignores it.
    let env = [("https_proxy", "http://127.0.0.1:1")];
    let out = hybi_connect_env(&url, &[], &env, &stdin_of(&LINES));
    assert_echoed(&out, &LINES, &server.log());
}

// ---------------------------------------------------------------------------------------------
// HTTP CONNECT (tinyproxy)
// ---------------------------------------------------------------------------------------------

#[test]
fn http_connect_through_tinyproxy() {
    let server = Listening::hybi(&[]);
    let proxy = Tinyproxy::start(&[server.port], None);
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let via = format!("http://127.0.0.1:{}", proxy.port);
    let out = hybi_connect_env(&url, &["--proxy", &via], &[], &stdin_of(&LINES));
    assert_echoed(&out, &LINES, &format!("{}\n{}", server.log(), proxy.log()));
    // The same from http_proxy, and the tunnel really went through tinyproxy.
    let out = hybi_connect_env(&url, &[], &[("http_proxy", &via)], &stdin_of(&LINES));
    assert_echoed(&out, &LINES, &proxy.log());
    assert!(
        eventually(Duration::from_secs(5), || proxy
            .log()
            .contains(&format!("127.0.0.1:{}", server.port))),
        "tinyproxy did not log the tunnel:\n{}",
        proxy.log()
    );
    // A port tinyproxy does not allow CONNECT to.
    let other = Listening::hybi(&[]);
    let out = hybi_connect_env(
        &format!("ws://127.0.0.1:{}/", other.port),
        &["--proxy", &via],
        &[],
        b"x\n",
    );
    assert!(!out.success(), "{}", out.describe());
    assert!(out.stderr.contains("CONNECT"), "{}", out.describe());
}

#[test]
fn http_connect_with_basic_auth() {
    let server = Listening::hybi(&[]);
    let proxy = Tinyproxy::start(&[server.port], Some(("hybi", "s3cret")));
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let out = hybi_connect_env(
        &url,
        &[
            "--proxy",
            &format!("http://hybi:s3cret@127.0.0.1:{}", proxy.port),
        ],
        &[],
        &stdin_of(&LINES),
    );
    assert_echoed(&out, &LINES, &proxy.log());
    let out = hybi_connect_env(
        &url,
        &["--proxy", &format!("http://127.0.0.1:{}", proxy.port)],
        &[],
        b"x\n",
    );
    assert!(!out.success(), "{}", out.describe());
    assert!(out.stderr.contains("407"), "{}", out.describe());
    assert!(
        out.stderr.contains("wants a user and password"),
        "{}",
        out.describe()
    );
    let out = hybi_connect_env(
        &url,
        &[
            "--proxy",
            &format!("http://hybi:nope@127.0.0.1:{}", proxy.port),
        ],
        &[],
        b"x\n",
    );
    assert!(!out.success(), "{}", out.describe());
    // tinyproxy answers wrong credentials with 401 rather than 407
    assert!(
        out.stderr.contains("user or password refused"),
        "{}",
        out.describe()
    );
    assert!(
        !out.stderr.contains("nope"),
        "password leaked: {}",
        out.describe()
    );
}

#[test]
fn wss_through_tinyproxy_from_https_proxy() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let server = pki.hybi_serve(&[]);
    let proxy = Tinyproxy::start(&[server.port], None);
    let via = format!("http://127.0.0.1:{}", proxy.port);
    let out = hybi_connect_env(
        &format!("wss://localhost:{}/", server.port),
        &["--ca", &pki.ca()],
        &[("https_proxy", &via), ("http_proxy", "http://127.0.0.1:1")],
        &stdin_of(&LINES),
    );
    assert_echoed(&out, &LINES, &format!("{}\n{}", server.log(), proxy.log()));
    assert!(
        eventually(Duration::from_secs(5), || proxy
            .log()
            .contains(&format!("localhost:{}", server.port))),
        "tinyproxy did not log the tunnel:\n{}",
        proxy.log()
    );
}
