//! Helpers shared by the interop tests: start `hybi serve` and the peer drivers of `tests/peers/`,
//! run `hybi connect` and the peer clients with timeouts, and check what they printed.
//!
//! Peers come from `scripts/install-test-deps.sh` (Debian packages, plus Node packages and Python
//! venvs under `$HYBI_DEPS`, default `~/.cache/hybi-deps`). A missing peer fails the test with a
//! message naming that script: nothing is skipped.
//!
//! Every child process is killed when its handle is dropped (also when a test panics), and every
//! wait has a deadline, so a hung peer or a hung `hybi` fails the test instead of hanging it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server may take to print its `listening` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit for one `hybi connect` run or one peer client run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

const INSTALL_HINT: &str =
    "run scripts/install-test-deps.sh (as root) to install the interop peers";

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tests/peers/`: our peer drivers.
pub fn peers_dir() -> PathBuf {
    repo_root().join("tests").join("peers")
}

/// The `hybi` binary built by cargo for this test run.
pub fn hybi_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hybi"))
}

/// Where `scripts/install-test-deps.sh` put the Node packages and Python venvs.
pub fn deps_root() -> PathBuf {
    match std::env::var_os("HYBI_DEPS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| {
                panic!("HOME is not set and neither is HYBI_DEPS; {INSTALL_HINT}")
            });
            PathBuf::from(home).join(".cache").join("hybi-deps")
        }
    }
}

fn node_modules() -> PathBuf {
    deps_root().join("node").join("node_modules")
}

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

/// An independent WebSocket implementation the tests talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Python `websockets` 17.4 (venv `$HYBI_DEPS/py-websockets`).
    PyWebsockets,
    /// Tornado 3.2.2 (venv `$HYBI_DEPS/py-tornado3`).
    Tornado3,
    /// Node `ws` 8.
    NodeWs,
    /// Node `websocket` (WebSocket-Node) 1.0.35.
    WebSocketNode,
    /// Node `websocket-driver` 0.7.4 (faye).
    FayeDriver,
    /// Ruby `websocket` gem (Debian ruby-websocket).
    RubyWebsocketGem,
    /// Ruby em-websocket (Debian ruby-em-websocket).
    EmWebsocket,
    /// Perl Protocol::WebSocket (Debian libprotocol-websocket-perl).
    PerlProtocolWebSocket,
}

impl Peer {
    /// The peer a driver script in `tests/peers/` runs on.
    pub fn of_driver(driver: &str) -> Peer {
        match driver {
            "py_websockets_server.py" | "py_websockets_client.py" => Peer::PyWebsockets,
            "tornado3_server.py" => Peer::Tornado3,
            "node_ws_server.js" | "node_ws_client.js" => Peer::NodeWs,
            "websocket_node_client.js" => Peer::WebSocketNode,
            "faye_server.js" => Peer::FayeDriver,
            "ruby_ws_client.rb" | "ruby_ws_server.rb" => Peer::RubyWebsocketGem,
            "em_websocket_server.rb" => Peer::EmWebsocket,
            "perl_pws_client.pl" => Peer::PerlProtocolWebSocket,
            other => panic!("unknown peer driver {other:?} (tests/peers/)"),
        }
    }

    fn python_venv(self) -> Option<PathBuf> {
        match self {
            Peer::PyWebsockets => Some(deps_root().join("py-websockets")),
            Peer::Tornado3 => Some(deps_root().join("py-tornado3")),
            _ => None,
        }
    }

    /// A command that exits 0 only when the peer can be loaded.
    fn probe(self) -> Command {
        let (prog, args): (PathBuf, Vec<String>) = match self {
            Peer::PyWebsockets => (
                self.python_venv().unwrap().join("bin/python"),
                vec![
                    "-c".into(),
                    "import websockets, sys; sys.exit(websockets.__version__ != '17.4')".into(),
                ],
            ),
            Peer::Tornado3 => (
                self.python_venv().unwrap().join("bin/python"),
                vec![
                    "-c".into(),
                    "import tornado, sys; sys.exit(tornado.version != '3.2.2')".into(),
                ],
            ),
            Peer::NodeWs | Peer::WebSocketNode | Peer::FayeDriver => {
                let (pkg, major) = match self {
                    Peer::NodeWs => ("ws", "8."),
                    Peer::WebSocketNode => ("websocket", "1.0.35"),
                    _ => ("websocket-driver", "0.7.4"),
                };
                (
                    "node".into(),
                    vec![
                        "-e".into(),
                        format!(
                            "const v = require({:?} + '/{pkg}/package.json').version; process.exit(v.startsWith('{major}') ? 0 : 1)",
                            node_modules().display().to_string()
                        ),
                    ],
                )
            }
            Peer::RubyWebsocketGem => (
                "ruby".into(),
                vec!["-e".into(), "require 'websocket'".into()],
            ),
            Peer::EmWebsocket => (
                "ruby".into(),
                vec!["-e".into(), "require 'em-websocket'".into()],
            ),
            Peer::PerlProtocolWebSocket => (
                "perl".into(),
                vec!["-MProtocol::WebSocket".into(), "-e1".into()],
            ),
        };
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Fails the test (with what to do about it) unless the peer is installed. Checked once per
    /// test binary and peer.
    pub fn require(self) {
        static CHECKED: OnceLock<Mutex<HashMap<Peer, Result<(), String>>>> = OnceLock::new();
        let checked = CHECKED.get_or_init(|| Mutex::new(HashMap::new()));
        let result = {
            let mut map = checked.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(self)
                .or_insert_with(|| {
                    let mut probe = self.probe();
                    let what = format!("{probe:?}");
                    match probe.output() {
                        Ok(out) if out.status.success() => Ok(()),
                        Ok(out) => Err(format!(
                            "{what} exited with {}: {}",
                            out.status,
                            String::from_utf8_lossy(&out.stderr).trim()
                        )),
                        Err(e) => Err(format!("cannot run {what}: {e}")),
                    }
                })
                .clone()
        };
        if let Err(why) = result {
            panic!(
                "interop peer {self:?} is missing (HYBI_DEPS={}): {why}\n{INSTALL_HINT}",
                deps_root().display()
            );
        }
    }
}

/// A command running the peer driver `tests/peers/<driver>` with `args`, after checking the peer
/// is installed.
pub fn driver_command(driver: &str, args: &[&str]) -> Command {
    let peer = Peer::of_driver(driver);
    peer.require();
    let script = peers_dir().join(driver);
    assert!(
        script.is_file(),
        "peer driver {} does not exist",
        script.display()
    );
    let mut cmd = match Path::new(driver).extension().and_then(|e| e.to_str()) {
        Some("py") => Command::new(
            peer.python_venv()
                .expect("python driver without a venv")
                .join("bin/python"),
        ),
        Some("js") => {
            let mut c = Command::new("node");
            c.env("NODE_PATH", node_modules());
            c
        }
        Some("rb") => Command::new("ruby"),
        Some("pl") => Command::new("perl"),
        _ => panic!("no interpreter known for {driver}"),
    };
    cmd.arg(script).args(args).env("HYBI_DEPS", deps_root());
    // Python: unbuffered, so the `listening` line shows up at once
    cmd.env("PYTHONUNBUFFERED", "1");
    cmd
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// What a child process gets on stdin.
pub enum Input {
    /// nothing (`/dev/null`)
    Null,
    /// these bytes, then end of file
    Close(Vec<u8>),
    /// these bytes, then stdin stays open until [`Running::close_stdin`] (or drop)
    HoldOpen(Vec<u8>),
}

/// A running child process whose output is collected by background threads. Killed on drop.
pub struct Running {
    what: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    lines: Receiver<String>,
    threads: Vec<JoinHandle<()>>,
    /// dropping this closes a held-open stdin
    stdin_open: Option<mpsc::Sender<()>>,
}

fn collect_lines(
    src: ChildStdout,
    sink: Arc<Mutex<Vec<u8>>>,
    tx: mpsc::Sender<String>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(src);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    sink.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&line);
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    let _ = tx.send(text);
                }
            }
        }
    })
}

fn collect_all(mut src: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]),
            }
        }
    })
}

impl Running {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `cmd`; its stdin is written by a background thread (so a child that does not read
    /// cannot block the test).
    pub fn spawn(what: impl Into<String>, mut cmd: Command, input: Input) -> Running {
        let what = what.into();
        cmd.stdin(if matches!(input, Input::Null) {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = mpsc::channel();
        let mut threads = vec![
            collect_lines(child.stdout.take().unwrap(), stdout.clone(), tx),
            collect_all(child.stderr.take().unwrap(), stderr.clone()),
        ];
        let mut stdin_open = None;
        let (data, hold) = match input {
            Input::Null => (None, false),
            Input::Close(d) => (Some(d), false),
            Input::HoldOpen(d) => (Some(d), true),
        };
        if let Some(data) = data {
            let mut pipe = child.stdin.take().unwrap();
            let (keep_tx, keep_rx) = mpsc::channel::<()>();
            if hold {
                stdin_open = Some(keep_tx);
            } else {
                drop(keep_tx);
            }
            // a write error means the child exited early: its status tells the story
            threads.push(thread::spawn(move || {
                let _ = pipe.write_all(&data);
                let _ = pipe.flush();
                let _ = keep_rx.recv(); // returns once the sender is dropped: then `pipe` closes
            }));
        }
        Running {
            what,
            child,
            stdout,
            stderr,
            lines,
            threads,
            stdin_open,
        }
    }

    /// Closes a stdin that was held open (end of file for the child).
    pub fn close_stdin(&mut self) {
        self.stdin_open = None;
    }

    /// Waits until the child printed `n` more stdout lines, `timeout` passed, or its stdout closed.
    /// Returns how many lines it printed meanwhile.
    pub fn wait_for_lines(&mut self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        while seen < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.lines.recv_timeout(left).is_err() {
                break;
            }
            seen += 1;
        }
        seen
    }

    pub fn what(&self) -> &str {
        &self.what
    }

    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Everything the process printed so far, shortened for failure messages.
    pub fn log(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.what,
            shorten(&self.stdout_so_far()),
            self.what,
            shorten(&self.stderr_so_far())
        )
    }

    /// Waits for a stdout line that satisfies `pred`; Err (with the output so far) when the process
    /// exits first or `timeout` passes.
    pub fn wait_for_line(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) if pred(&line) => return Ok(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // stdout is closed: the process has exited or is about to
                    let mut status = None;
                    while status.is_none() && Instant::now() < deadline {
                        status = self.child.try_wait().ok().flatten();
                        thread::sleep(Duration::from_millis(20));
                    }
                    let how = status.map_or("closed its stdout".to_string(), |s| {
                        format!("exited with {s}")
                    });
                    return Err(format!("{} {how} first\n{}", self.what, self.log()));
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    return Err(format!(
                        "{} printed no such line within {timeout:?}\n{}",
                        self.what,
                        self.log()
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Waits for the process to exit (killing it after `timeout`) and returns what it printed.
    pub fn finish(mut self, timeout: Duration) -> Outcome {
        self.close_stdin();
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("waiting for {}: {e}", self.what),
            }
        };
        // the output pipes close when the process is gone; grandchildren could keep them open,
        // so give the reader threads a bounded time
        let grace = Instant::now() + Duration::from_secs(5);
        for t in std::mem::take(&mut self.threads) {
            while !t.is_finished() && Instant::now() < grace {
                thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        Outcome {
            what: self.what.clone(),
            status,
            timeout,
            stdout: self.stdout_so_far(),
            stderr: self.stderr_so_far(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stdin_open = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished process printed, and how it ended (`status` None: killed at the timeout).
pub struct Outcome {
    pub what: String,
    pub status: Option<ExitStatus>,
    pub timeout: Duration,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn describe(&self) -> String {
        let how = match self.status {
            Some(s) => format!("exited with {s}"),
            None => format!("was killed after {:?} (timeout)", self.timeout),
        };
        format!(
            "{} {how}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            shorten(&self.stdout),
            shorten(&self.stderr)
        )
    }

    /// stdout as lines, without line terminators.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Long output cut to its start and end, for failure messages.
pub fn shorten(s: &str) -> String {
    const KEEP: usize = 1500;
    if s.len() <= 2 * KEEP + 100 {
        return s.to_string();
    }
    let mut a = KEEP;
    while !s.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = s.len() - KEEP;
    while !s.is_char_boundary(b) {
        b += 1;
    }
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        &s[..a],
        b - a,
        &s[b..]
    )
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// A server on 127.0.0.1 that printed its port: `hybi serve` or a peer driver. Killed on drop.
pub struct Server {
    pub port: u16,
    proc: Running,
}

/// The port in a `listening on 127.0.0.1:PORT` (hybi) or `listening PORT` (drivers) line.
fn port_of(line: &str) -> Option<u16> {
    let last = line.split_whitespace().last()?;
    last.rsplit(':').next()?.trim_end_matches(']').parse().ok()
}

impl Server {
    fn start(what: String, cmd: Command) -> Server {
        let mut proc = Running::spawn(what, cmd, Input::Null);
        let line = proc
            .wait_for_line(START_TIMEOUT, |l| l.starts_with("listening"))
            .unwrap_or_else(|e| panic!("server did not start: {e}"));
        let port =
            port_of(&line).unwrap_or_else(|| panic!("no port in {line:?} from {}", proc.what()));
        Server { port, proc }
    }

    /// `hybi serve --listen 127.0.0.1:0 [--variants LIST]` (the tokio engine).
    pub fn hybi(variants: Option<&str>) -> Server {
        Server::hybi_on("tokio", variants)
    }

    /// `hybi serve --engine ENGINE --listen 127.0.0.1:0 [--variants LIST]`: `tokio` (a task
    /// per connection) or `reactor` (hybi::reactor's event loop).
    pub fn hybi_on(engine: &str, variants: Option<&str>) -> Server {
        let mut cmd = Command::new(hybi_bin());
        cmd.args(["serve", "--engine", engine, "--listen", "127.0.0.1:0"]);
        if let Some(v) = variants {
            cmd.args(["--variants", v]);
        }
        Server::start(
            format!(
                "hybi serve --engine {engine} (variants {})",
                variants.unwrap_or("default")
            ),
            cmd,
        )
    }

    /// The peer driver `tests/peers/<driver>` on a free port.
    pub fn peer(driver: &str) -> Server {
        Server::start(driver.to_string(), driver_command(driver, &["0"]))
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    pub fn stdout_so_far(&self) -> String {
        self.proc.stdout_so_far()
    }

    /// Waits until the server printed a stdout line satisfying `pred` (e.g. its log line for a
    /// close that the client has already finished).
    pub fn wait_for_line(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        self.proc.wait_for_line(timeout, pred)
    }
}

/// Two tests in the enclosing module, `tokio` and `reactor`, each calling `$run(engine)`
/// with the `--engine` of `hybi serve` to test against.
#[allow(unused_macros)]
macro_rules! test_each_engine {
    ($run:expr) => {
        #[test]
        fn tokio() {
            ($run)("tokio");
        }

        #[test]
        fn reactor() {
            ($run)("reactor");
        }
    };
}
#[allow(unused_imports)]
pub(crate) use test_each_engine;

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// Runs the peer client driver `tests/peers/<driver>` to its end.
pub fn run_peer_client(driver: &str, args: &[&str], timeout: Duration) -> Outcome {
    let what = format!("{driver} {}", args.join(" "));
    Running::spawn(what, driver_command(driver, args), Input::Null).finish(timeout)
}

/// Runs a peer client against `server` and fails unless every step it reported passed.
pub fn assert_peer_client_passes(server: &Server, driver: &str, args: &[&str]) {
    let out = run_peer_client(driver, args, RUN_TIMEOUT);
    let reported_pass = out
        .lines()
        .iter()
        .any(|l| l.starts_with("passed ") && l.ends_with(" failed 0"));
    if !out.success() || !reported_pass || out.lines().iter().any(|l| l.starts_with("FAIL")) {
        panic!(
            "peer client failed against {}:\n{}\n{}",
            server.url("/"),
            out.describe(),
            server.log()
        );
    }
}

fn hybi_connect_command(url: &str, args: &[&str]) -> (String, Command) {
    let mut cmd = Command::new(hybi_bin());
    cmd.arg("connect").arg(url).args(args);
    (format!("hybi connect {url} {}", args.join(" ")), cmd)
}

/// Runs `hybi connect URL ARGS...` with `stdin` (then end of file) to its end.
pub fn hybi_connect(url: &str, args: &[&str], stdin: &[u8], timeout: Duration) -> Outcome {
    let (what, cmd) = hybi_connect_command(url, args);
    Running::spawn(what, cmd, Input::Close(stdin.to_vec())).finish(timeout)
}

/// Runs `hybi connect URL ARGS...`, writes `lines` to its stdin and keeps stdin open until it has
/// printed as many lines (the echoes) or 30 s passed; then ends stdin and waits for the exit.
///
/// Ending stdin only after the echoes is what a person at a terminal does, and it keeps the test
/// free of a race that is nobody's bug: at end of file `hybi connect` starts the closing
/// handshake, and a server may answer that close before echoing messages it has read but not yet
/// handled (Python websockets does: its handler task runs after the protocol answered the close).
pub fn hybi_connect_echo<S: AsRef<str>>(url: &str, args: &[&str], lines: &[S]) -> Outcome {
    const ECHO_TIMEOUT: Duration = Duration::from_secs(30);
    let (what, cmd) = hybi_connect_command(url, args);
    let mut proc = Running::spawn(what, cmd, Input::HoldOpen(stdin_of(lines)));
    proc.wait_for_lines(lines.len(), ECHO_TIMEOUT);
    proc.finish(RUN_TIMEOUT)
}

/// `lines` joined by newlines, with a final newline: stdin for `hybi connect`.
pub fn stdin_of<S: AsRef<str>>(lines: &[S]) -> Vec<u8> {
    let mut v = Vec::new();
    for l in lines {
        v.extend_from_slice(l.as_ref().as_bytes());
        v.push(b'\n');
    }
    v
}

/// Runs `hybi connect` with `lines` on stdin (see [`hybi_connect_echo`]) and asserts it exited 0
/// and printed exactly the same lines back (the server echoes every message). Returns the outcome
/// for further checks.
pub fn assert_hybi_echoes<S: AsRef<str>>(
    server: &Server,
    url: &str,
    args: &[&str],
    lines: &[S],
) -> Outcome {
    let out = hybi_connect_echo(url, args, lines);
    assert_echoed_lines(&out, lines, &server.log());
    out
}

/// Asserts `hybi connect` exited 0 and printed exactly `sent` back (an echo server's answers).
/// Failure messages show where the first difference is, not a whole 256 KiB line, followed
/// by `context` (e.g. the server's log).
pub fn assert_echoed_lines<S: AsRef<str>>(out: &Outcome, sent: &[S], context: &str) {
    if !out.success() {
        panic!("hybi connect failed:\n{}\n{context}", out.describe());
    }
    let got = out.lines();
    if got.len() != sent.len() {
        panic!(
            "hybi connect printed {} lines, {} were sent:\n{}\n{context}",
            got.len(),
            sent.len(),
            out.describe(),
        );
    }
    for (i, (g, w)) in got.iter().zip(sent).enumerate() {
        let w = w.as_ref();
        if *g != w {
            let at = g
                .bytes()
                .zip(w.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(g.len().min(w.len()));
            panic!(
                "line {i}: echo of {} bytes came back as {} bytes, first difference at byte {at}\nsent: {}\ngot:  {}\n{}\n{context}",
                w.len(),
                g.len(),
                shorten(w),
                shorten(g),
                out.describe(),
            );
        }
    }
}

/// Asserts `hybi connect` reported the close code `code` on stderr (`closed CODE`).
pub fn assert_closed_with(out: &Outcome, code: u16, server: &Server) {
    let want = format!("closed {code}");
    if !out.stderr.lines().any(|l| l.trim() == want) {
        panic!(
            "hybi connect did not print {want:?} on stderr:\n{}\n{}",
            out.describe(),
            server.log()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------------------------

/// Text lines with ASCII, 2-, 3- and 4-byte UTF-8, an empty line and lines around the 125/126
/// and 65535/65536 length boundaries.
pub fn text_lines() -> Vec<String> {
    vec![
        "hello hybi".to_string(),
        "h\u{e9}llo w\u{f6}rld \u{20ac} \u{1d11e} \u{1f600}".to_string(),
        String::new(),
        "x".repeat(125),
        "y".repeat(126),
        "z".repeat(65535),
        "w".repeat(65536),
    ]
}

/// A line of exactly 2^20 bytes of UTF-8 (1 MiB), mixing 1- to 4-byte characters.
pub fn big_text_line() -> String {
    let unit = "hybi \u{e9}\u{e8} \u{20ac} \u{1d11e} 0123456789 ";
    let mut s = unit.repeat((1 << 20) / unit.len());
    while s.len() < (1 << 20) {
        s.push('x');
    }
    assert_eq!(s.len(), 1 << 20);
    s
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex lines for `--binary`: all byte values, an empty message, and larger ones.
pub fn binary_lines() -> Vec<String> {
    let all: Vec<u8> = (0..=255u8).collect();
    let pattern: Vec<u8> = (0..70000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    vec![
        hex(&all),
        String::new(),
        hex(&[0x00, 0xff, 0x80, 0x7f]),
        hex(&pattern),
    ]
}
