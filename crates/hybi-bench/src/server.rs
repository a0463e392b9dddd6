//! Starting a server under test pinned to one CPU, learning its address, and stopping it.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::ServerSpec;
use crate::procfs::{self, CpuSnapshot};

const LOG_LINES: usize = 20;

/// `taskset` from util-linux, if installed.
pub fn taskset_path() -> Option<PathBuf> {
    find_in_path("taskset")
}

pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A command pinned to `cpu`: through `taskset -c CPU` when available, else by setting the
/// child's affinity between fork and exec. The child is also killed if the runner dies.
pub fn pinned_command(program_and_args: &[String], cpu: usize) -> io::Result<Command> {
    let (program, args) = program_and_args
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let mut cmd = match taskset_path() {
        Some(taskset) => {
            let mut c = Command::new(taskset);
            c.arg("-c").arg(cpu.to_string()).arg(program).args(args);
            c
        }
        None => {
            let mut c = Command::new(program);
            c.args(args);
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                c.pre_exec(move || {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            c
        }
    };
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    Ok(cmd)
}

/// Parses `listening ADDR` or `listening on ADDR` (what `hybi serve` prints) anywhere in a
/// line.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    let idx = line.find("listening ")?;
    let mut words = line[idx + "listening ".len()..].split_whitespace();
    let mut token = words.next()?;
    if token == "on" {
        token = words.next()?;
    }
    token
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .ok()
}

/// A running server. Killed (SIGKILL) and reaped on drop.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    stdout_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

fn keep_tail(tail: &Arc<Mutex<VecDeque<String>>>, line: String) {
    let mut t = tail.lock().unwrap();
    if t.len() == LOG_LINES {
        t.pop_front();
    }
    t.push_back(line);
}

impl ServerProcess {
    /// Starts `spec` pinned to `cpu` and waits until it prints `listening ADDR`.
    pub fn start(spec: &ServerSpec, cpu: usize, timeout: Duration) -> Result<Self, String> {
        let mut cmd =
            pinned_command(&spec.command, cpu).map_err(|e| format!("{}: {e}", spec.name))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", spec.command))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let stdout_tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        {
            let tail = stdout_tail.clone();
            thread::Builder::new()
                .name(format!("server-stdout-{pid}"))
                .spawn(move || {
                    let mut announced = false;
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        if !announced {
                            if let Some(addr) = parse_listening(&line) {
                                announced = true;
                                let _ = tx.send(addr);
                            }
                        }
                        keep_tail(&tail, line);
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        {
            let tail = stderr_tail.clone();
            thread::Builder::new()
                .name(format!("server-stderr-{pid}"))
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        keep_tail(&tail, line);
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        let mut server = ServerProcess {
            child,
            pid,
            addr: "127.0.0.1:0".parse().unwrap(),
            stdout_tail,
            stderr_tail,
        };
        let deadline = Instant::now() + timeout;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(mut addr) => {
                    if addr.ip().is_unspecified() {
                        addr.set_ip("127.0.0.1".parse().unwrap());
                    }
                    if !addr.ip().is_loopback() {
                        return Err(format!(
                            "{} listens on {addr}, not on loopback: refusing to load it",
                            spec.name
                        ));
                    }
                    server.addr = addr;
                    return Ok(server);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = server.exited() {
                        return Err(format!(
                            "{} exited ({status}) before listening{}",
                            spec.name,
                            server.logs()
                        ));
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "{} did not print `listening ADDR` within {:?}{}",
                            spec.name,
                            timeout,
                            server.logs()
                        ));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    thread::sleep(Duration::from_millis(50));
                    let status = server.exited().unwrap_or_else(|| "stdout closed".into());
                    return Err(format!(
                        "{} closed stdout before listening ({status}){}",
                        spec.name,
                        server.logs()
                    ));
                }
            }
        }
    }

    /// `Some(description)` if the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("wait failed: {e}")),
        }
    }

    /// An error if the server died, with its last output.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.exited() {
            Some(status) => Err(format!("server exited ({status}){}", self.logs())),
            None => Ok(()),
        }
    }

    pub fn cpu(&self) -> io::Result<CpuSnapshot> {
        CpuSnapshot::take(self.pid)
    }

    pub fn rss_kib(&self) -> io::Result<u64> {
        procfs::rss_kib(self.pid)
    }

    /// The last lines the server printed, formatted for an error message.
    pub fn logs(&self) -> String {
        let out = self.stdout_tail.lock().unwrap();
        let err = self.stderr_tail.lock().unwrap();
        let mut s = String::new();
        if !out.is_empty() {
            s.push_str("\n  stdout: ");
            s.push_str(&out.iter().cloned().collect::<Vec<_>>().join("\n          "));
        }
        if !err.is_empty() {
            s.push_str("\n  stderr: ");
            s.push_str(&err.iter().cloned().collect::<Vec<_>>().join("\n          "));
        }
        s
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A helper process whose stdout is read line by line on a thread (for load_test).
pub struct LineProcess {
    child: Child,
    pub lines: mpsc::Receiver<(Instant, String)>,
}

impl LineProcess {
    pub fn start(program: &Path, args: &[String], cpu: usize) -> io::Result<Self> {
        let mut argv = vec![program.display().to_string()];
        argv.extend(args.iter().cloned());
        let mut cmd = pinned_command(&argv, cpu)?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("loadgen-stdout".into())
            .spawn(move || {
                let mut r = BufReader::new(stdout);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match r.by_ref().read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                            if tx.send((Instant::now(), line)).is_err() {
                                break;
                            }
                        }
                    }
                }
            })?;
        Ok(LineProcess { child, lines: rx })
    }
}

impl Drop for LineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_forms() {
        assert_eq!(
            parse_listening("listening 127.0.0.1:4000"),
            Some("127.0.0.1:4000".parse().unwrap())
        );
        assert_eq!(
            parse_listening("hybi: listening ws://127.0.0.1:5/ (variants: all)"),
            Some("127.0.0.1:5".parse().unwrap())
        );
        assert_eq!(
            parse_listening("listening [::1]:80"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            parse_listening("listening on 127.0.0.1:9002"),
            Some("127.0.0.1:9002".parse().unwrap())
        );
        assert_eq!(parse_listening("listening on"), None);
        assert_eq!(parse_listening("not listening"), None);
        assert_eq!(parse_listening("listening soon"), None);
    }
}
