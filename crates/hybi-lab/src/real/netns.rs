//! Private network namespaces: every real intermediary runs in one that has only a loopback interface, so no
//! lookup or connection can leave the machine, ports never clash with anything else on the host, and Squid's
//! interception rules (iptables) touch only that namespace.
//!
//! The lab's own sockets inside a namespace (the DNS responder, the site listeners, the client side's
//! connections to the proxy) are created on a thread that has `setns(2)`ed into it; a socket stays in the
//! namespace it was created in, so tokio then drives it like any other.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

type ConnectReply = tokio::sync::oneshot::Sender<io::Result<std::net::TcpStream>>;

/// A network namespace made by the lab (`ip netns add`), deleted on drop.
pub struct Netns {
    name: String,
    path: PathBuf,
    connector: Mutex<Option<mpsc::Sender<(SocketAddr, ConnectReply)>>>,
}

const PREFIX: &str = "hybi-lab-";

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Deletes namespaces this lab left behind in an earlier run whose process is gone (names carry the pid).
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        let gone = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map(|st| {
                st.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
            .unwrap_or(true);
        if pid.parse::<u32>().is_ok() && gone {
            // daemons an earlier, killed lab process started there: stop their process groups first
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &name]).output() {
                for p in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(p) = p.parse::<i32>() {
                        // SAFETY: getpgid/kill on a pid that lives in our own stale namespace.
                        unsafe {
                            let pg = libc::getpgid(p);
                            if pg > 1 {
                                libc::kill(-pg, libc::SIGKILL);
                            } else {
                                libc::kill(p, libc::SIGKILL);
                            }
                        }
                    }
                }
            }
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// Runs `f` on a fresh thread inside the namespace at `path`.
fn on_thread_in<T: Send + 'static>(
    path: PathBuf,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    std::thread::spawn(move || {
        enter(&path)?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?
}

fn enter(path: &PathBuf) -> io::Result<()> {
    let f = File::open(path)?;
    // SAFETY: setns on a valid namespace fd; it only changes this thread's network namespace.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Netns {
    /// Creates `hybi-lab-<pid>-<tag>` with its loopback up.
    pub fn create(tag: &str) -> io::Result<Netns> {
        remove_stale();
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let ns = Netns {
            path: PathBuf::from(format!("/run/netns/{name}")),
            name,
            connector: Mutex::new(None),
        };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its `/run/netns` path (for `nsenter --net=`).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs a command inside the namespace (`ip netns exec`), e.g. iptables; fails on a non-zero exit.
    pub fn exec(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A TCP listener inside the namespace, driven by tokio.
    pub fn listen(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
        let l = on_thread_in(self.path.clone(), move || {
            let l = std::net::TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })?;
        tokio::net::TcpListener::from_std(l)
    }

    /// A UDP socket inside the namespace, driven by tokio.
    pub fn udp(&self, addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
        let s = on_thread_in(self.path.clone(), move || {
            let s = std::net::UdpSocket::bind(addr)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })?;
        tokio::net::UdpSocket::from_std(s)
    }

    /// Connects to `addr` from inside the namespace (one long-lived helper thread does the connects).
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpStream> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut c = self.connector.lock().unwrap_or_else(|e| e.into_inner());
            if c.is_none() {
                let (stx, srx) = mpsc::channel::<(SocketAddr, ConnectReply)>();
                let path = self.path.clone();
                std::thread::Builder::new()
                    .name("hybi-netns-connect".into())
                    .spawn(move || {
                        let entered = enter(&path);
                        while let Ok((addr, reply)) = srx.recv() {
                            let r = match &entered {
                                Ok(()) => std::net::TcpStream::connect_timeout(
                                    &addr,
                                    Duration::from_secs(3),
                                ),
                                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                            };
                            let _ = reply.send(r);
                        }
                    })?;
                *c = Some(stx);
            }
            c.as_ref()
                .unwrap()
                .send((addr, tx))
                .map_err(|_| io::Error::other("namespace connector gone"))?;
        }
        let s = rx
            .await
            .map_err(|_| io::Error::other("namespace connector gone"))??;
        s.set_nonblocking(true)?;
        s.set_nodelay(true)?;
        tokio::net::TcpStream::from_std(s)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.connector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let _ = ip(&["netns", "del", &self.name]);
    }
}
