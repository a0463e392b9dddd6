//! Helpers for the tests of what surrounds the core (`tls.rs`, `proxy.rs`, `browser.rs`):
//! `hybi serve` with any arguments, peer drivers and `hybi connect` with extra environment
//! variables, a throw-away certificate authority, free ports and temporary directories.
//!
//! Include next to `mod common;` with `#[path = "common/eco.rs"] mod eco;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{
    driver_command, hybi_bin, shorten, Input, Outcome, Running, RUN_TIMEOUT, START_TIMEOUT,
};

/// Starts `cmd` and waits for its `listening …PORT` line. The process is killed on drop.
pub struct Listening {
    pub port: u16,
    pub proc: Running,
}

impl Listening {
    pub fn start(what: impl Into<String>, cmd: Command) -> Listening {
        let mut proc = spawn(what, cmd, None);
        let line = proc
            .wait_for_line(START_TIMEOUT, |l| l.starts_with("listening"))
            .unwrap_or_else(|e| panic!("server did not start: {e}"));
        let port = line
            .split_whitespace()
            .last()
            .and_then(|w| w.rsplit(':').next())
            .and_then(|p| p.trim_end_matches(']').parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?} from {}", proc.what()));
        Listening { port, proc }
    }

    /// `hybi serve --listen 127.0.0.1:0 ARGS...`.
    pub fn hybi(args: &[&str]) -> Listening {
        let mut cmd = Command::new(hybi_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        Listening::start(format!("hybi serve {}", args.join(" ")), cmd)
    }

    /// The peer driver `tests/peers/<driver>` on a free port, with `env` set.
    pub fn peer(driver: &str, env: &[(&str, &str)]) -> Listening {
        let mut cmd = driver_command(driver, &["0"]);
        cmd.envs(env.iter().copied());
        Listening::start(driver.to_string(), cmd)
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// Starts a child; `stdin` is written and closed (`None`: /dev/null).
pub fn spawn(what: impl Into<String>, cmd: Command, stdin: Option<Vec<u8>>) -> Running {
    Running::spawn(what, cmd, stdin.map_or(Input::Null, Input::Close))
}

/// Runs `hybi connect URL ARGS...` with `env` set (and every proxy variable of the test's
/// own environment removed) to its end. Its stdin gets `stdin` and stays open until it has
/// printed as many lines as `stdin` has (the echoes, see `common::hybi_connect_echo`) or
/// exited.
pub fn hybi_connect_env(url: &str, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Outcome {
    let mut cmd = Command::new(hybi_bin());
    cmd.arg("connect").arg(url).args(args);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let what = format!("{} hybi connect {url} {}", shown.join(" "), args.join(" "));
    let mut proc = Running::spawn(what, cmd, Input::HoldOpen(stdin.to_vec()));
    let lines = stdin.iter().filter(|&&b| b == b'\n').count();
    proc.wait_for_lines(lines, Duration::from_secs(30));
    proc.close_stdin();
    proc.finish(RUN_TIMEOUT)
}

/// Every variable a proxy-aware client reads.
pub const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Asserts `out` succeeded and printed exactly `lines` (an echo server's answers).
pub fn assert_echoed(out: &Outcome, lines: &[&str], context: &str) {
    if !out.success() || out.lines() != lines {
        panic!(
            "expected the echo of {lines:?}:\n{}\n{}",
            out.describe(),
            shorten(context)
        );
    }
}

/// Runs the peer client driver with `env` set, to its end.
pub fn run_peer_client_env(driver: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = driver_command(driver, args);
    cmd.envs(env.iter().copied());
    let what = format!("{driver} {}", args.join(" "));
    spawn(what, cmd, None).finish(RUN_TIMEOUT)
}

/// Runs a peer client with `env` set and fails unless every scenario it reported passed.
pub fn assert_peer_client_passes_env(
    server: &Listening,
    driver: &str,
    args: &[&str],
    env: &[(&str, &str)],
) {
    let out = run_peer_client_env(driver, args, env);
    let reported_pass = out
        .lines()
        .iter()
        .any(|l| l.starts_with("passed ") && l.ends_with(" failed 0"));
    if !out.success() || !reported_pass || out.lines().iter().any(|l| l.starts_with("FAIL")) {
        panic!("peer client failed:\n{}\n{}", out.describe(), server.log());
    }
}

/// A port that was free a moment ago on 127.0.0.1 (for programs that cannot be told to pick
/// one themselves).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hybi-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The path of `name` as a string argument.
    pub fn arg(&self, name: &str) -> String {
        self.file(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate authority made for one test run, and a server certificate it signed.
/// Files in `dir`: `ca.pem` (the CA certificate), `cert.pem` (the server's chain),
/// `key.pem` (its PKCS#8 key).
pub struct TestPki {
    pub dir: TempDir,
}

impl TestPki {
    /// A server certificate for `names` (DNS names and IP addresses).
    pub fn new(names: &[&str]) -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "hybi test CA (throw-away)");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();

        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut leaf = CertificateParams::new(names.clone()).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, names[0].clone());
        leaf.is_ca = IsCa::NoCa;
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();

        let dir = TempDir::new("pki");
        std::fs::write(dir.file("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.file("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.file("key.pem"), key.serialize_pem()).unwrap();
        TestPki { dir }
    }

    pub fn ca(&self) -> String {
        self.dir.arg("ca.pem")
    }

    pub fn cert(&self) -> String {
        self.dir.arg("cert.pem")
    }

    pub fn key(&self) -> String {
        self.dir.arg("key.pem")
    }

    /// `hybi serve` over TLS with this certificate.
    pub fn hybi_serve(&self, extra: &[&str]) -> Listening {
        let (cert, key) = (self.cert(), self.key());
        let mut args = vec!["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
        args.extend_from_slice(extra);
        Listening::hybi(&args)
    }
}

/// Fails the test unless `program --version` (or `args`) runs, naming the install script.
pub fn require_program(program: &str, args: &[&str]) {
    let hint = "run scripts/install-test-deps.sh (as root) to install it";
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "{program} {args:?} exited with {}: {}\n{hint}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("{program} is missing ({e})\n{hint}"),
    }
}

/// Waits up to `timeout` for `cond`.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
