//! Real intermediaries (`hybi lab --real`): nginx, HAProxy, Apache httpd, Traffic Server, Varnish, Squid,
//! lighttpd, h2o, Caddy, nghttpx, tinyproxy and Privoxy, started and stopped by the lab with its own configs,
//! behind the same [`Intermediary`] interface as the built-in models.
//!
//! # API (what the lab runner uses)
//!
//! ```no_run
//! # async fn demo(subject: std::sync::Arc<dyn hybi_lab::subject::Subject>) -> std::io::Result<()> {
//! use hybi_lab::real;
//! // every set-up the lab knows, installed or not (a missing one is reported "not measured" with the reason)
//! for p in real::catalogue() {
//!     if let Err(why) = p.check() { println!("{}: not measured: {why}", p.name()); }
//! }
//! // start one (or `copies` identical instances, for running scenes in parallel), measure, stop
//! let running = real::launch(&real::available()[0], 1).await?;
//! println!("{} started in {:?}", running.name(), running.startup());
//! let via = running.via();                     // attack::Via::Custom, usable by every procedure
//! let run = hybi_lab::scenario::echo_run(subject.clone(), &via, None, b"ping").await?;
//! let report = hybi_lab::attack::ip_hijack(subject, &via).await?;
//! running.stop();                              // also on drop
//! # Ok(()) }
//! ```
//!
//! * [`catalogue`] → every [`RealProduct`] (a row of [`products::PRODUCTS`] with an [`Access`] mode; forward
//!   proxies appear twice: absolute-form and CONNECT); [`available`] → those installed; [`not_measured`] →
//!   `(name, reason)` for the others. [`RealProduct::check`] says why one cannot run (binary missing — install
//!   with `scripts/install-intermediaries.sh` —, not root, no `ip`/`nsenter`/`iptables`).
//! * [`launch`]`(product, copies)` → [`Running`]: starts the daemon(s) once, ready when the entry port accepts;
//!   [`Running::startup`] is the start-up time. [`Running::via`] gives a [`Via`] whose every `build(routes)` is a
//!   [`RealIntermediary`]: one **scene** on the shared daemon. A scene leases one instance (scenes on one
//!   instance run one after another; `copies > 1` runs that many at once), maps the lab servers named in its
//!   [`Routes`] to the daemon's sites, and releases the instance on drop.
//! * [`launch_all`]`(copies)` → every available set-up started, plus `(name, reason)` for those not measured
//!   (not installed, not runnable, failed to start): what `hybi lab --real` needs.
//! * [`start`]`(product, routes)` → a [`RealIntermediary`] that owns its own daemon (one-off use, tests).
//! * [`RealIntermediary`] implements [`Intermediary`]: `intercept(dst)` returns a host address for a
//!   connection meant for `dst`; `trace()` returns what the lab saw (see below).
//!
//! # How a product is run
//!
//! Each instance runs in its own network namespace that has only loopback (`ip netns`), started in the
//! foreground mode of the daemon under `timeout(1)` in its own process group (stopped by that group only), with
//! a private run directory (config, pid, logs, cache) under `$TMPDIR/hybi-lab-real/`. Inside the namespace:
//!
//! * the lab's **sites** listen on `<ip>:80`: `attacker.example` 127.1.0.1, `target.example` 127.1.0.2,
//!   `backend.example` 127.1.0.3, `victim.example` 127.1.0.4, `a.example` 127.1.0.5, `b.example` 127.1.0.6,
//!   unnamed sites 127.2.0.1–4 (127.2.0.1 is the reverse proxies' default site). Each relays to the lab server
//!   the current scene maps it to (from its `Routes`; the default site is the first intercepted destination);
//! * a **DNS responder** on 127.0.0.1:53 answers those names and NXDOMAIN for every other one
//!   (`websocket.invalid` too); the daemon sees it through a bind-mounted `/etc/resolv.conf`, and has no route
//!   anywhere else, so no lookup can leave the machine;
//! * **reverse proxies** listen on 127.0.0.1:8080 and route by `Host` to the named sites, `/b/` to
//!   `b.example`, anything else to the default site; **forward proxies** listen on 127.0.0.1:3128;
//!   **Squid interception** listens on 3129, with `iptables -t nat ... REDIRECT` in that namespace only, for
//!   connections to the sites not made by Squid itself (user `proxy`).
//!
//! # How the lab's client reaches it ([`Access`])
//!
//! * `Reverse`, `Intercept`: the client's bytes go to the product unchanged (to the listener, or to the site
//!   address of `dst`, where iptables redirects them).
//! * `AbsoluteForm` (forward proxies): the client is configured to use the proxy and sends its handshake
//!   request to it: the first request's origin-form target becomes `http://<Host><path>`; every other byte is
//!   as the variant wrote it (a CONNECT-method handshake goes as it is). This shows what the proxy does with
//!   the handshake bytes themselves.
//! * `ConnectTunnel` (forward proxies, name suffix `-connect`): the way browsers use a proxy for `ws://`
//!   (RFC 6455 §4.1): `CONNECT <name>:80` first, then the variant's handshake inside the tunnel. A refusal is
//!   passed to the client as the answer to its handshake.
//!
//! # Trace
//!
//! Client-side connections: `Accepted`, `Bytes`, `Closed` (and for `-connect`, the proxy's CONNECT answer as
//! `Synthesized` + `Tunnel`). Connections the product opened to sites: `Routed` (`ByHost(name)` for a named
//! site, `ByDestination` for an unnamed one), `Bytes` (`ClientToBackend` = product → lab server), the first
//! `Response`, `Closed`. The product's **access log** gives `Request` events (the requests it parsed; `raw` is
//! the log line), each placed on the site connection that carried that path when there is one (connection `0`
//! when it answered itself). Note `Trace::bytes` counts both sides.

pub mod accesslog;
pub mod dns;
mod instance;
mod netns;
pub mod products;
mod relay;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use instance::Instance;
pub use products::{Product, Role, PRODUCTS};

use crate::attack::Via;
use crate::intermediary::{Event, EventKind, Intermediary, Routes, Trace};
use crate::util::{lock, BoxFuture, Tasks};
use products::{name_ip, DEFAULT_SITE, LAB_NAMES, SITE_PORT, UNNAMED_SITES};
use relay::{Recorder, Scene, Shim};

/// How the lab's client side reaches a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Reverse proxy: connect to it as to the site.
    Reverse,
    /// Forward proxy, the handshake request sent to it in absolute-form.
    AbsoluteForm,
    /// Forward proxy, `CONNECT name:80` first, the handshake inside the tunnel.
    ConnectTunnel,
    /// Interception: connect to the site; the namespace redirects to the proxy.
    Intercept,
}

/// A product with the way it is used: one column of the real-intermediary table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealProduct {
    /// The product row.
    pub product: &'static Product,
    /// How clients reach it.
    pub access: Access,
}

impl RealProduct {
    /// Report name: the product's, with `-connect` for [`Access::ConnectTunnel`].
    pub fn name(&self) -> String {
        match self.access {
            Access::ConnectTunnel => format!("{}-connect", self.product.name),
            _ => self.product.name.to_string(),
        }
    }

    /// Whether the lab expects an RFC 6455 handshake plus echo to work through it.
    pub fn expects_websocket(&self) -> bool {
        self.access == Access::ConnectTunnel || self.product.websocket
    }

    /// `Ok` if it can run here; otherwise why not (for the "not measured" list).
    pub fn check(&self) -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root (private network namespace per product)".into());
        }
        for tool in ["ip", "nsenter", "unshare", "timeout"] {
            if which(tool).is_none() {
                return Err(format!(
                    "{tool} not found (iproute2 / util-linux / coreutils)"
                ));
            }
        }
        if self.access == Access::Intercept && which("iptables").is_none() {
            return Err("iptables not installed: run scripts/install-intermediaries.sh".into());
        }
        if which(self.product.binary).is_none() {
            return Err(format!(
                "{} not installed (Debian package {}): run scripts/install-intermediaries.sh",
                self.product.binary, self.product.package
            ));
        }
        if self.product.prepare == products::Prepare::Varnish && which("varnishncsa").is_none() {
            return Err("varnishncsa not installed (package varnish)".into());
        }
        Ok(())
    }
}

/// Finds an executable in `PATH` or the sbin directories.
pub fn which(bin: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs: Vec<&str> = path.split(':').collect();
    let found = dirs
        .into_iter()
        .chain([
            "/usr/sbin",
            "/sbin",
            "/usr/bin",
            "/bin",
            "/usr/local/sbin",
            "/usr/local/bin",
        ])
        .map(|d| std::path::Path::new(d).join(bin))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        });
    found
}

/// Every set-up the lab knows, installed or not, in report order.
pub fn catalogue() -> Vec<RealProduct> {
    let mut out = Vec::new();
    for p in PRODUCTS {
        match p.role {
            Role::Reverse => out.push(RealProduct {
                product: p,
                access: Access::Reverse,
            }),
            Role::Transparent => out.push(RealProduct {
                product: p,
                access: Access::Intercept,
            }),
            Role::Forward => {
                out.push(RealProduct {
                    product: p,
                    access: Access::AbsoluteForm,
                });
                out.push(RealProduct {
                    product: p,
                    access: Access::ConnectTunnel,
                });
            }
        }
    }
    out
}

/// The set-ups that can run here.
pub fn available() -> Vec<RealProduct> {
    catalogue()
        .into_iter()
        .filter(|p| p.check().is_ok())
        .collect()
}

/// The set-ups that cannot run here, with the reason (report them as "not measured").
pub fn not_measured() -> Vec<(String, String)> {
    catalogue()
        .into_iter()
        .filter_map(|p| p.check().err().map(|why| (p.name(), why)))
        .collect()
}

/// Looks a set-up up by report name (`nginx`, `squid-forward-connect`, ...).
pub fn find(name: &str) -> Option<RealProduct> {
    catalogue().into_iter().find(|p| p.name() == name)
}

struct RunningInner {
    product: RealProduct,
    instances: Vec<Arc<Instance>>,
}

/// One or more started instances of a set-up. Cheap to clone; the daemons stop when the last clone is
/// dropped (or at [`Running::stop`]).
#[derive(Clone)]
pub struct Running(Arc<RunningInner>);

/// Starts `copies` (at least 1) instances of `product`, one after another.
pub async fn launch(product: &RealProduct, copies: usize) -> io::Result<Running> {
    if let Err(why) = product.check() {
        return Err(io::Error::new(io::ErrorKind::NotFound, why));
    }
    let mut instances = Vec::new();
    for _ in 0..copies.max(1) {
        instances.push(Arc::new(Instance::launch(product.product).await?));
    }
    Ok(Running(Arc::new(RunningInner {
        product: *product,
        instances,
    })))
}

impl Running {
    /// Report name.
    pub fn name(&self) -> String {
        self.0.product.name()
    }
    /// The set-up.
    pub fn product(&self) -> RealProduct {
        self.0.product
    }
    /// Start-up time of the first instance (until its entry port accepted a connection).
    pub fn startup(&self) -> Duration {
        self.0.instances[0].startup
    }
    /// Start-up times of all instances.
    pub fn startups(&self) -> Vec<Duration> {
        self.0.instances.iter().map(|i| i.startup).collect()
    }
    /// A scene on one of the instances (leased at its first `intercept`).
    pub fn scene(&self, routes: Routes) -> RealIntermediary {
        RealIntermediary {
            name: self.name(),
            access: self.0.product.access,
            pool: self.0.instances.clone(),
            routes,
            state: tokio::sync::Mutex::new(None),
        }
    }
    /// The [`Via`] for the attack procedures and scenarios.
    pub fn via(&self) -> Via {
        let me = self.clone();
        Via::Custom(
            self.name(),
            Arc::new(move |routes| Box::new(me.scene(routes)) as Box<dyn Intermediary>),
        )
    }
    /// Stops the daemons now (clones then hold stopped instances).
    pub fn stop(&self) {
        for i in &self.0.instances {
            i.stop();
        }
    }
    /// DNS questions the instances were asked: (name, qtype, answer).
    pub fn dns_queries(&self) -> Vec<(String, u16, Option<Ipv4Addr>)> {
        self.0
            .instances
            .iter()
            .flat_map(|i| lock(&i.dns).clone())
            .collect()
    }
}

/// Starts every available set-up (`copies` instances each, one set-up after another) for `hybi lab --real`.
/// Returns the running ones and `(name, reason)` for every set-up that is not measured: not runnable here
/// ([`not_measured`]) or failed to start. Keep the [`Running`] values alive for the whole run; pass
/// `running.iter().map(Running::via)` to the runner.
pub async fn launch_all(copies: usize) -> (Vec<Running>, Vec<(String, String)>) {
    let mut running = Vec::new();
    let mut missing = not_measured();
    for p in available() {
        match launch(&p, copies).await {
            Ok(r) => running.push(r),
            Err(e) => missing.push((
                p.name(),
                format!(
                    "did not start: {}",
                    e.to_string().lines().next().unwrap_or("")
                ),
            )),
        }
    }
    (running, missing)
}

/// Starts one instance of `product` for a single scene with `routes` (it stops when the result is dropped).
pub async fn start(product: &RealProduct, routes: Routes) -> io::Result<RealIntermediary> {
    Ok(launch(product, 1).await?.scene(routes))
}

struct Lease {
    inst: Arc<Instance>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
    scene: Arc<Scene>,
    entries: HashMap<SocketAddr, SocketAddr>,
    tasks: Tasks,
    log_offset: u64,
    first_dst: Option<SocketAddr>,
    /// When `trace` last waited out the product's log delay (no new traffic since: no need to wait again).
    waited: Mutex<Option<Instant>>,
}

/// One scene on a real product: implements [`Intermediary`].
pub struct RealIntermediary {
    name: String,
    access: Access,
    pool: Vec<Arc<Instance>>,
    routes: Routes,
    state: tokio::sync::Mutex<Option<Lease>>,
}

/// Shortest wait for a product's access log after the last relayed byte (see [`Product::log_delay`]).
pub const MIN_LOG_DELAY: Duration = Duration::from_millis(100);

/// Longest a scene waits for a free instance.
pub const LEASE_WAIT: Duration = Duration::from_secs(1800);

impl RealIntermediary {
    async fn lease(&self) -> io::Result<Lease> {
        let deadline = Instant::now() + LEASE_WAIT;
        loop {
            for inst in &self.pool {
                if let Ok(g) = inst.lease.clone().try_lock_owned() {
                    if inst.exited() {
                        return Err(io::Error::other(format!(
                            "{} is no longer running",
                            self.name
                        )));
                    }
                    let mut sites = HashMap::new();
                    let mut names = HashMap::new();
                    for (name, ip) in LAB_NAMES {
                        if let Some(a) = self.routes.lookup(name) {
                            sites.insert(ip, a);
                            names.insert(a, name.to_string());
                        }
                    }
                    for (n, a) in self.routes.entries() {
                        names.entry(a).or_insert_with(|| n.to_string());
                    }
                    let scene = Arc::new(Scene {
                        rec: Arc::new(Recorder::new()),
                        sites: Mutex::new(sites),
                        names,
                    });
                    *lock(&inst.current.0) = Some(scene.clone());
                    return Ok(Lease {
                        log_offset: inst.log_len(),
                        inst: inst.clone(),
                        _guard: g,
                        scene,
                        entries: HashMap::new(),
                        tasks: Tasks::default(),
                        first_dst: None,
                        waited: Mutex::new(None),
                    });
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no free instance of {} within {LEASE_WAIT:?}", self.name),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The site address (inside the namespace) that stands for `dst`.
    fn site_for(&self, lease: &mut Lease, dst: SocketAddr) -> Ipv4Addr {
        if let Some(ip) = self.routes.name_of(dst).and_then(|n| name_ip(&n)) {
            return ip;
        }
        let mut sites = lock(&lease.scene.sites);
        if let Some((ip, _)) = sites
            .iter()
            .find(|(ip, a)| **a == dst && UNNAMED_SITES.contains(ip))
        {
            return *ip;
        }
        let ip = UNNAMED_SITES
            .iter()
            .copied()
            .find(|ip| !sites.contains_key(ip))
            .unwrap_or(UNNAMED_SITES[UNNAMED_SITES.len() - 1]);
        sites.insert(ip, dst);
        ip
    }

    async fn entry(&self, dst: SocketAddr) -> io::Result<SocketAddr> {
        let mut st = self.state.lock().await;
        if st.is_none() {
            *st = Some(self.lease().await?);
        }
        let lease = st.as_mut().unwrap();
        if let Some(a) = lease.entries.get(&dst) {
            return Ok(*a);
        }
        if lease.first_dst.is_none() {
            lease.first_dst = Some(dst);
            lock(&lease.scene.sites).insert(DEFAULT_SITE, dst);
        }
        let site = self.site_for(lease, dst);
        let name = ip_label(site);
        let (target, shim) = match self.access {
            Access::Reverse => (
                SocketAddr::from(([127, 0, 0, 1], products::LISTEN_PORT)),
                Shim::None,
            ),
            Access::AbsoluteForm => (
                SocketAddr::from(([127, 0, 0, 1], products::FORWARD_PORT)),
                Shim::AbsoluteForm {
                    fallback_host: name,
                },
            ),
            Access::ConnectTunnel => (
                SocketAddr::from(([127, 0, 0, 1], products::FORWARD_PORT)),
                Shim::Connect {
                    authority: format!("{name}:{SITE_PORT}"),
                },
            ),
            Access::Intercept => (SocketAddr::from((site, SITE_PORT)), Shim::None),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inst = lease.inst.clone();
        let rec = lease.scene.rec.clone();
        lease.tasks.spawn(async move {
            let conns = Tasks::default();
            while let Ok((c, peer)) = listener.accept().await {
                let _ = c.set_nodelay(true);
                let (inst, rec, shim) = (inst.clone(), rec.clone(), shim.clone());
                conns.spawn(async move {
                    relay::client_conn(c, peer, dst, shim, rec, || inst.ns.connect(target)).await;
                });
            }
        });
        lease.entries.insert(dst, addr);
        Ok(addr)
    }

    /// The host address of a raw port to the product's entry (no shim; for tests that speak to a forward
    /// proxy themselves). Leases the instance like `intercept`.
    pub async fn raw_entry(&self) -> io::Result<SocketAddr> {
        let mut st = self.state.lock().await;
        if st.is_none() {
            *st = Some(self.lease().await?);
        }
        let lease = st.as_mut().unwrap();
        let port = products::entry_port(lease.inst.product);
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inst = lease.inst.clone();
        let rec = lease.scene.rec.clone();
        lease.tasks.spawn(async move {
            let conns = Tasks::default();
            while let Ok((c, peer)) = listener.accept().await {
                let (inst, rec) = (inst.clone(), rec.clone());
                conns.spawn(async move {
                    relay::client_conn(c, peer, target, Shim::None, rec, || {
                        inst.ns.connect(target)
                    })
                    .await;
                });
            }
        });
        Ok(addr)
    }

    /// The product's run directory (configs and logs) for this scene's instance, once leased.
    pub fn run_dir(&self) -> Option<std::path::PathBuf> {
        self.state
            .try_lock()
            .ok()
            .and_then(|s| s.as_ref().map(|l| l.inst.run.clone()))
    }

    fn build_trace(&self, lease: &Lease) -> Trace {
        // every product writes its log line after the response has gone out: give it a moment at least
        let delay = lease.inst.product.log_delay.max(MIN_LOG_DELAY);
        let last = lease.scene.rec.last_activity();
        let caught_up = lock(&lease.waited).is_some_and(|w| w >= last + delay);
        if !delay.is_zero() && !caught_up {
            let since = last.elapsed();
            if since < delay {
                // the product writes its access log late; let other tasks of a multi-thread runtime move on
                let wait = || std::thread::sleep(delay - since);
                match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                    Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                        tokio::task::block_in_place(wait)
                    }
                    _ => wait(),
                }
            }
            *lock(&lease.waited) = Some(Instant::now());
        }
        let mut events = lease.scene.rec.events();
        let logged = accesslog::parse(&lease.inst.log_from(lease.log_offset));
        // place each logged request on the site connection that carried its path
        let mut inserts: Vec<(usize, Event)> = Vec::new();
        let mut tail = Vec::new();
        let now = lease.scene.rec.elapsed();
        for l in logged {
            let path = l.path().to_string();
            let needle = format!(" {path} ");
            let carrier = events.iter().find_map(|e| match &e.kind {
                EventKind::Bytes {
                    dir: crate::intermediary::Dir::ClientToBackend,
                    bytes,
                    ..
                } if is_site_conn(&events, e.conn)
                    && !path.is_empty()
                    && crate::http::find(bytes, needle.as_bytes()).is_some() =>
                {
                    Some(e.conn)
                }
                _ => None,
            });
            let ev = |conn: u64, at: Duration| Event {
                conn,
                at,
                kind: EventKind::Request {
                    raw: l.line.clone().into_bytes(),
                    method: l.method.clone(),
                    target: l.target.clone(),
                    host: l
                        .host
                        .as_ref()
                        .map(|h| crate::http::strip_port(h).to_ascii_lowercase()),
                },
            };
            match carrier.and_then(|c| {
                events
                    .iter()
                    .position(|e| e.conn == c && matches!(e.kind, EventKind::Routed { .. }))
                    .map(|i| (c, i))
            }) {
                Some((c, i)) => inserts.push((i, ev(c, events[i].at))),
                None => tail.push(ev(0, now)),
            }
        }
        inserts.sort_by_key(|(i, _)| *i);
        for (k, (i, e)) in inserts.into_iter().enumerate() {
            events.insert(i + k, e);
        }
        events.extend(tail);
        Trace { events }
    }
}

fn is_site_conn(events: &[Event], conn: u64) -> bool {
    events
        .iter()
        .any(|e| e.conn == conn && matches!(e.kind, EventKind::Routed { .. }))
}

fn ip_label(site: Ipv4Addr) -> String {
    products::ip_name(site).map_or(site.to_string(), str::to_string)
}

impl Intermediary for RealIntermediary {
    fn name(&self) -> &str {
        &self.name
    }

    fn intercept<'a>(&'a self, dst: SocketAddr) -> BoxFuture<'a, io::Result<SocketAddr>> {
        Box::pin(self.entry(dst))
    }

    fn trace(&self) -> Trace {
        match self.state.try_lock() {
            Ok(st) => st.as_ref().map(|l| self.build_trace(l)).unwrap_or_default(),
            Err(_) => Trace::default(),
        }
    }
}

impl Drop for RealIntermediary {
    fn drop(&mut self) {
        if let Some(lease) = self.state.get_mut().take() {
            lease.tasks.shutdown();
            let mut cur = lock(&lease.inst.current.0);
            if cur.as_ref().is_some_and(|s| Arc::ptr_eq(s, &lease.scene)) {
                *cur = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_lists_forward_proxies_twice() {
        let names: Vec<String> = catalogue().iter().map(|p| p.name()).collect();
        assert!(names.contains(&"squid-forward".to_string()));
        assert!(names.contains(&"squid-forward-connect".to_string()));
        assert!(names.contains(&"squid-intercept".to_string()));
        assert!(!names.contains(&"nginx-connect".to_string()));
        assert_eq!(names.len(), PRODUCTS.len() + 5);
    }
}
