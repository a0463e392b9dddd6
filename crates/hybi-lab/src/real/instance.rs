//! One running product: its namespace, DNS responder, site listeners and daemon process group.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::dns::{self, Queries};
use super::netns::Netns;
use super::products::{
    render, Prepare, Product, Role, FORWARD_PORT, LAB_NAMES, LISTEN_PORT, SITE_PORT, UNNAMED_SITES,
};
use super::relay::{serve_site, Current};
use crate::util::{lock, Tasks};

static SEQ: AtomicU64 = AtomicU64::new(1);

/// Upper bound on any daemon's life (`timeout(1)` around it), in case the lab itself is killed.
pub fn max_life() -> Duration {
    std::env::var("HYBI_REAL_MAX_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(3600))
}

/// A started product. Dropping it stops the process groups it started and deletes its namespace.
pub struct Instance {
    /// The product.
    pub product: &'static Product,
    /// Namespace the daemon runs in.
    pub ns: Netns,
    /// Run directory (configs, logs, pid files, cache).
    pub run: PathBuf,
    /// Time from the start of [`Instance::launch`] until the product accepted connections.
    pub startup: Duration,
    /// The scene the site listeners serve.
    pub current: Arc<Current>,
    /// DNS questions the product asked.
    pub dns: Queries,
    /// Held by the scene using this instance.
    pub lease: Arc<tokio::sync::Mutex<()>>,
    children: Mutex<Vec<Child>>,
    tasks: Tasks,
    /// The lab's side of the namespace (DNS, site relays) runs on its own runtime thread, so a busy or blocked
    /// caller runtime never delays the daemon's lookups or upstream traffic.
    rt: Option<tokio::runtime::Runtime>,
}

fn write(path: &Path, text: &str) -> io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(path, text)
}

fn chmod_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777));
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                chmod_all(&p);
            } else {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666));
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}

/// Last lines of the files a failed start left, for the error message.
fn tails(run: &Path) -> String {
    let mut out = String::new();
    for f in [
        "stdout.log",
        "error.log",
        "cache.log",
        "log/diags.log",
        "log/error.log",
        "access.log",
    ] {
        if let Ok(t) = std::fs::read_to_string(run.join(f)) {
            let lines: Vec<&str> = t.lines().collect();
            let from = lines.len().saturating_sub(12);
            out.push_str(&format!("--- {f}\n{}\n", lines[from..].join("\n")));
        }
    }
    out
}

/// Removes run directories that an earlier, killed lab process left (their names start with its pid).
fn remove_stale_runs(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let pid = name.split('-').next().unwrap_or("");
        if pid.parse::<u32>().is_ok()
            && pid != std::process::id().to_string()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Whether a process group leader still runs.
fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks.
    unsafe { libc::kill(pid, 0) == 0 }
}

impl Instance {
    /// Starts `product` in a fresh namespace; ready when its entry port accepts a connection.
    pub async fn launch(product: &'static Product) -> io::Result<Instance> {
        let t0 = Instant::now();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join("hybi-lab-real");
        if seq == 1 {
            remove_stale_runs(&base);
        }
        let run = base.join(format!("{}-{seq}-{}", std::process::id(), product.name));
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run)?;
        let tag = seq.to_string();
        let ns = tokio::task::spawn_blocking(move || Netns::create(&tag))
            .await
            .map_err(io::Error::other)??;
        let current = Arc::new(Current::default());
        let tasks = Tasks::default();
        let queries: Queries = Arc::default();

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hybi-real-ns")
            .enable_all()
            .build()?;
        let guard = rt.enter();
        // DNS on the namespace's 127.0.0.1:53; every daemon there gets it through /etc/resolv.conf
        let udp = ns.udp(SocketAddr::from(([127, 0, 0, 1], 53)))?;
        tasks.spawn(dns::serve(udp, queries.clone()));
        write(
            &run.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )?;
        // the sites
        let sites: Vec<Ipv4Addr> = LAB_NAMES
            .iter()
            .map(|(_, ip)| *ip)
            .chain(UNNAMED_SITES)
            .collect();
        for ip in sites {
            let l = ns.listen(SocketAddr::V4(SocketAddrV4::new(ip, SITE_PORT)))?;
            tasks.spawn(serve_site(l, ip, current.clone()));
        }
        drop(guard);
        if product.role == Role::Transparent {
            // connections meant for a site, except the proxy's own (it runs as user proxy), go to Squid
            for net in ["127.1.0.0/16", "127.2.0.0/16"] {
                ns.exec(&[
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "OUTPUT",
                    "-p",
                    "tcp",
                    "-d",
                    net,
                    "--dport",
                    "80",
                    "-m",
                    "owner",
                    "!",
                    "--uid-owner",
                    "proxy",
                    "-j",
                    "REDIRECT",
                    "--to-ports",
                    &super::products::INTERCEPT_PORT.to_string(),
                ])?;
            }
        }

        let runs = run.to_string_lossy().to_string();
        if product.prepare == Prepare::TrafficServer {
            copy_dir(Path::new("/etc/trafficserver"), &run.join("etc"))?;
            for d in ["var", "run", "log", "cache", "data"] {
                std::fs::create_dir_all(run.join(d))?;
            }
            write(
                &run.join("etc/storage.config"),
                &format!("{runs}/cache 64M\n"),
            )?;
        }
        if product.prepare == Prepare::Varnish {
            std::fs::create_dir_all(run.join("vsm"))?;
        }
        for (path, t) in product.files {
            write(&run.join(path), &render(t, &runs, product))?;
        }
        chmod_all(&run);

        let inst = Instance {
            product,
            ns,
            run: run.clone(),
            startup: Duration::ZERO,
            current,
            dns: queries,
            lease: Arc::new(tokio::sync::Mutex::new(())),
            children: Mutex::new(Vec::new()),
            tasks,
            rt: Some(rt),
        };
        let argv: Vec<String> = product
            .argv
            .iter()
            .map(|a| render(a, &runs, product))
            .collect();
        inst.spawn(&argv, "stdout.log")?;
        let ready_port = match product.role {
            Role::Reverse => LISTEN_PORT,
            Role::Forward | Role::Transparent => FORWARD_PORT,
        };
        let deadline = Instant::now() + product.ready_within;
        loop {
            if inst.exited() {
                return Err(io::Error::other(format!(
                    "{} exited during start-up\n{}",
                    product.name,
                    tails(&run)
                )));
            }
            if inst
                .ns
                .connect(SocketAddr::from(([127, 0, 0, 1], ready_port)))
                .await
                .is_ok()
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} not listening after {:?}\n{}",
                        product.name,
                        product.ready_within,
                        tails(&run)
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if product.prepare == Prepare::Varnish {
            let ncsa: Vec<String> = [
                "varnishncsa",
                "-n",
                &format!("{runs}/vsm"),
                "-F",
                "HYBI|%m|%U%q|%{Host}i|%s|%r",
                "-w",
                &format!("{runs}/access.log"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            inst.spawn(&ncsa, "varnishncsa.log")?;
            // varnishncsa attaches to the shared memory log asynchronously
            let deadline = Instant::now() + Duration::from_secs(10);
            while !run.join("access.log").exists() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut inst = inst;
        inst.startup = t0.elapsed();
        Ok(inst)
    }

    /// Starts `argv` in the namespace, in its own process group, bounded by [`max_life`], with the
    /// namespace's resolv.conf bind-mounted over /etc/resolv.conf in a private mount namespace.
    fn spawn(&self, argv: &[String], log: &str) -> io::Result<()> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run.join(log))?;
        let mut cmd = Command::new("timeout");
        cmd.arg("-k")
            .arg("5")
            .arg(max_life().as_secs().to_string())
            .arg("nsenter")
            .arg(format!("--net={}", self.ns.path().display()))
            .arg("unshare")
            .arg("--mount")
            .arg("--propagation")
            .arg("private")
            .arg("sh")
            .arg("-c")
            .arg("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
            .arg(self.run.join("resolv.conf"))
            .args(argv)
            .current_dir(&self.run)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        let runs = self.run.to_string_lossy().to_string();
        for (k, v) in self.product.env {
            cmd.env(k, render(v, &runs, self.product));
        }
        let child = cmd.spawn()?;
        lock(&self.children).push(child);
        Ok(())
    }

    /// Whether a started process has exited.
    pub fn exited(&self) -> bool {
        lock(&self.children)
            .iter_mut()
            .any(|c| !matches!(c.try_wait(), Ok(None)))
    }

    /// The access log's current length (new lines are read from here on).
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(self.run.join(self.product.access_log))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// The access log from `offset` on.
    pub fn log_from(&self, offset: u64) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.run.join(self.product.access_log)) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let from = if offset <= len { offset } else { 0 };
            if f.seek(SeekFrom::Start(from)).is_ok() {
                let mut b = Vec::new();
                let _ = f.read_to_end(&mut b);
                s = String::from_utf8_lossy(&b).to_string();
            }
        }
        s
    }

    /// Stops every process group this instance started: SIGTERM, up to 3 s, then SIGKILL.
    pub fn stop(&self) {
        let mut children = lock(&self.children);
        for c in children.iter() {
            let pg = c.id() as i32;
            // SAFETY: signalling the process group we created (process_group(0): pgid == pid).
            unsafe { libc::kill(-pg, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for c in children.iter_mut() {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for c in children.iter_mut() {
            let pg = c.id() as i32;
            if matches!(c.try_wait(), Ok(None)) || alive(pg) {
                // SAFETY: as above; only our own group.
                unsafe { libc::kill(-pg, libc::SIGKILL) };
            }
            let _ = c.wait();
            // members of the group that outlived the leader (worker children)
            // SAFETY: as above.
            if unsafe { libc::kill(-pg, 0) } == 0 {
                unsafe { libc::kill(-pg, libc::SIGKILL) };
            }
        }
        children.clear();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
        *lock(&self.current.0) = None;
        self.tasks.shutdown();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        if std::env::var_os("HYBI_REAL_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.run);
        }
    }
}
