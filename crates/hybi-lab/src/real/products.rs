//! The table of real intermediaries: one row per product set-up (package, binary, role, config templates,
//! foreground command line, readiness bound, access log). Configs live in `crates/hybi-lab/real/conf/` and are
//! embedded here; `@NAME@` placeholders are filled in by [`render`].

use std::net::Ipv4Addr;
use std::time::Duration;

/// How a product is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A reverse proxy in front of the lab's sites: clients connect to it as if it were the site.
    Reverse,
    /// An explicit forward proxy: clients are configured to use it.
    Forward,
    /// An interception proxy: connections meant for the sites are redirected to it (iptables, private netns).
    Transparent,
}

/// Special preparation a product needs beyond rendering its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepare {
    /// Nothing.
    None,
    /// Traffic Server: a private copy of `/etc/trafficserver` and its runroot directories.
    TrafficServer,
    /// Varnish: a working directory for its shared memory log; `varnishncsa` writes the access log.
    Varnish,
}

/// One product set-up.
#[derive(Debug, PartialEq, Eq)]
pub struct Product {
    /// Name used in reports and on the command line (`nginx`, `squid-forward`, ...).
    pub name: &'static str,
    /// What it is, for reports.
    pub title: &'static str,
    /// Debian package that provides it (what `scripts/install-intermediaries.sh` installs).
    pub package: &'static str,
    /// Executable that must be present.
    pub binary: &'static str,
    /// Reverse, forward or transparent.
    pub role: Role,
    /// Files to render into the run directory: (path relative to it, template).
    pub files: &'static [(&'static str, &'static str)],
    /// Foreground command line (placeholders allowed).
    pub argv: &'static [&'static str],
    /// Extra environment (placeholders allowed).
    pub env: &'static [(&'static str, &'static str)],
    /// Extra preparation.
    pub prepare: Prepare,
    /// Access log, relative to the run directory.
    pub access_log: &'static str,
    /// How long the product may take to write an access log line after the transaction (buffered logs); the
    /// lab waits at least [`super::MIN_LOG_DELAY`].
    pub log_delay: Duration,
    /// Longest start-up accepted.
    pub ready_within: Duration,
    /// Whether the product, as configured, is expected to carry an RFC 6455 handshake plus echo. For forward
    /// proxies this is about absolute-form requests; CONNECT tunnels are expected to work everywhere.
    pub websocket: bool,
    /// Why (for reports and failing tests).
    pub note: &'static str,
}

/// Port the reverse proxies listen on, inside their network namespace.
pub const LISTEN_PORT: u16 = 8080;
/// Port the forward proxies listen on.
pub const FORWARD_PORT: u16 = 3128;
/// Squid's interception port (iptables REDIRECT target).
pub const INTERCEPT_PORT: u16 = 3129;
/// Port of every lab site inside the namespace (what `ws://name/` and `http://name/` mean there).
pub const SITE_PORT: u16 = 80;

/// The lab's host names and the loopback address each resolves to inside a product's namespace (the
/// namespace's DNS responder answers these; every other name is NXDOMAIN, `websocket.invalid` included).
pub const LAB_NAMES: [(&str, Ipv4Addr); 6] = [
    ("attacker.example", Ipv4Addr::new(127, 1, 0, 1)),
    ("target.example", Ipv4Addr::new(127, 1, 0, 2)),
    ("backend.example", Ipv4Addr::new(127, 1, 0, 3)),
    ("victim.example", Ipv4Addr::new(127, 1, 0, 4)),
    ("a.example", Ipv4Addr::new(127, 1, 0, 5)),
    ("b.example", Ipv4Addr::new(127, 1, 0, 6)),
];

/// Sites without a lab name: the first is also the reverse proxies' default site.
pub const UNNAMED_SITES: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 2, 0, 1),
    Ipv4Addr::new(127, 2, 0, 2),
    Ipv4Addr::new(127, 2, 0, 3),
    Ipv4Addr::new(127, 2, 0, 4),
];

/// The reverse proxies' default site (requests for no lab name).
pub const DEFAULT_SITE: Ipv4Addr = UNNAMED_SITES[0];

/// The address a lab name resolves to inside the namespace.
pub fn name_ip(name: &str) -> Option<Ipv4Addr> {
    let name = name.trim_end_matches('.');
    LAB_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, ip)| *ip)
}

/// The lab name of a namespace address.
pub fn ip_name(ip: Ipv4Addr) -> Option<&'static str> {
    LAB_NAMES.iter().find(|(_, a)| *a == ip).map(|(n, _)| *n)
}

macro_rules! conf {
    ($f:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/real/conf/", $f))
    };
}

/// What most rows share: no extra environment or preparation, an access log at `access.log` written at once,
/// ready within 15 s, WebSocket expected. Rows start from it (or from one of the per-product bases below) and
/// name what differs; the empty strings are placeholders every row replaces (`rows_are_complete` checks).
const USUAL: Product = Product {
    name: "",
    title: "",
    package: "",
    binary: "",
    role: Role::Reverse,
    files: &[],
    argv: &[],
    env: &[],
    prepare: Prepare::None,
    access_log: "access.log",
    log_delay: Duration::ZERO,
    ready_within: Duration::from_secs(15),
    websocket: true,
    note: "",
};

/// Apache httpd: the configuration is always rendered as `httpd.conf`.
const APACHE: Product = Product {
    package: "apache2",
    binary: "apache2",
    argv: &["apache2", "-f", "@RUN@/httpd.conf", "-DFOREGROUND"],
    ..USUAL
};

/// Squid: the configuration is always rendered as `squid.conf`; it starts slower than most.
const SQUID: Product = Product {
    package: "squid",
    binary: "squid",
    argv: &["squid", "-N", "-f", "@RUN@/squid.conf"],
    ready_within: Duration::from_secs(30),
    ..USUAL
};

/// Traffic Server: a private runroot, a buffered access log, a slow start.
const TRAFFIC_SERVER: Product = Product {
    package: "trafficserver",
    binary: "traffic_server",
    argv: &["traffic_server"],
    env: &[("TS_RUNROOT", "@RUN@/runroot.yaml")],
    prepare: Prepare::TrafficServer,
    access_log: "log/access.log",
    log_delay: Duration::from_millis(2200),
    ready_within: Duration::from_secs(60),
    ..USUAL
};

const TS_FILES_COMMON: [(&str, &str); 3] = [
    ("etc/ip_allow.yaml", conf!("trafficserver.ip_allow.yaml")),
    ("etc/logging.yaml", conf!("trafficserver.logging.yaml")),
    ("runroot.yaml", conf!("trafficserver.runroot.yaml")),
];

/// Every product set-up the lab knows, in report order.
pub static PRODUCTS: &[Product] = &[
    Product {
        name: "nginx",
        title: "nginx reverse proxy (proxy_http_version 1.1, Upgrade/Connection map as documented)",
        package: "nginx",
        binary: "nginx",
        role: Role::Reverse,
        files: &[("nginx.conf", conf!("nginx.conf"))],
        argv: &[
            "nginx",
            "-p",
            "@RUN@/",
            "-c",
            "@RUN@/nginx.conf",
            "-g",
            "daemon off;",
        ],
        note: "WebSocket with the documented map $http_upgrade config",
        ..USUAL
    },
    Product {
        name: "haproxy",
        title: "HAProxy reverse proxy (HTTP mode)",
        package: "haproxy",
        binary: "haproxy",
        role: Role::Reverse,
        files: &[("haproxy.cfg", conf!("haproxy.cfg"))],
        argv: &["haproxy", "-db", "-f", "@RUN@/haproxy.cfg"],
        access_log: "stdout.log",
        note: "tunnels after a 101 with no extra config",
        ..USUAL
    },
    Product {
        name: "apache2",
        title: "Apache httpd reverse proxy, mod_proxy_http with upgrade=websocket",
        role: Role::Reverse,
        files: &[("httpd.conf", conf!("apache2.conf"))],
        note: "ProxyPass ... upgrade=websocket",
        ..APACHE
    },
    Product {
        name: "apache2-wstunnel",
        title: "Apache httpd reverse proxy, mod_rewrite to ws:// + mod_proxy_wstunnel",
        role: Role::Reverse,
        files: &[("httpd.conf", conf!("apache2-wstunnel.conf"))],
        note: "RewriteCond on Upgrade: websocket, [P] to ws://",
        ..APACHE
    },
    Product {
        name: "trafficserver",
        title: "Apache Traffic Server reverse proxy (remap with ws:// rules), caching",
        role: Role::Reverse,
        files: &[
            ("etc/records.config", conf!("trafficserver.records.config")),
            ("etc/remap.config", conf!("trafficserver.remap.config")),
            TS_FILES_COMMON[0],
            TS_FILES_COMMON[1],
            TS_FILES_COMMON[2],
        ],
        note: "ws:// remap rules carry the upgrade",
        ..TRAFFIC_SERVER
    },
    Product {
        name: "varnish",
        title: "Varnish cache (return (pipe) on Upgrade, as documented)",
        package: "varnish",
        binary: "varnishd",
        role: Role::Reverse,
        files: &[("varnish.vcl", conf!("varnish.vcl"))],
        argv: &[
            "varnishd",
            "-F",
            "-a",
            "127.0.0.1:@LISTEN@",
            "-f",
            "@RUN@/varnish.vcl",
            "-n",
            "@RUN@/vsm",
            "-s",
            "malloc,32m",
            "-T",
            "none",
            "-p",
            "timeout_idle=30",
        ],
        prepare: Prepare::Varnish,
        log_delay: Duration::from_millis(500),
        ready_within: Duration::from_secs(60),
        note: "pipe mode after Upgrade",
        ..USUAL
    },
    Product {
        name: "squid-accel",
        title: "Squid reverse proxy (accelerator, origin peers), caching",
        role: Role::Reverse,
        files: &[("squid.conf", conf!("squid-accel.conf"))],
        note: "http_upgrade_request_protocols websocket/WebSocket allowed",
        ..SQUID
    },
    Product {
        name: "lighttpd",
        title: "lighttpd mod_proxy reverse proxy (proxy.header upgrade enabled)",
        package: "lighttpd",
        binary: "lighttpd",
        role: Role::Reverse,
        files: &[("lighttpd.conf", conf!("lighttpd.conf"))],
        argv: &["lighttpd", "-D", "-f", "@RUN@/lighttpd.conf"],
        log_delay: Duration::from_millis(250),
        note: "proxy.header = (\"upgrade\" => \"enable\")",
        ..USUAL
    },
    Product {
        name: "h2o",
        title: "h2o reverse proxy (proxy.websocket: ON)",
        package: "h2o",
        binary: "h2o",
        role: Role::Reverse,
        files: &[("h2o.conf", conf!("h2o.conf"))],
        argv: &["h2o", "-c", "@RUN@/h2o.conf"],
        note: "proxy.websocket: ON",
        ..USUAL
    },
    Product {
        name: "caddy",
        title: "Caddy reverse_proxy",
        package: "caddy",
        binary: "caddy",
        role: Role::Reverse,
        files: &[("Caddyfile", conf!("Caddyfile"))],
        argv: &[
            "caddy",
            "run",
            "--config",
            "@RUN@/Caddyfile",
            "--adapter",
            "caddyfile",
        ],
        env: &[
            ("HOME", "@RUN@"),
            ("XDG_DATA_HOME", "@RUN@/data"),
            ("XDG_CONFIG_HOME", "@RUN@/config"),
        ],
        ready_within: Duration::from_secs(20),
        note: "reverse_proxy handles Upgrade itself",
        ..USUAL
    },
    Product {
        name: "nghttpx",
        title: "nghttpx (nghttp2 proxy) as plain HTTP/1.1 reverse proxy",
        package: "nghttp2-proxy",
        binary: "nghttpx",
        role: Role::Reverse,
        files: &[("nghttpx.conf", conf!("nghttpx.conf"))],
        argv: &["nghttpx", "--conf=@RUN@/nghttpx.conf"],
        note: "HTTP/1.1 Upgrade passed through",
        ..USUAL
    },
    Product {
        name: "squid-forward",
        title: "Squid explicit forward proxy, caching",
        role: Role::Forward,
        files: &[("squid.conf", conf!("squid-forward.conf"))],
        note: "absolute-form Upgrade allowed by http_upgrade_request_protocols",
        ..SQUID
    },
    Product {
        name: "trafficserver-forward",
        title: "Apache Traffic Server explicit forward proxy, caching",
        role: Role::Forward,
        files: &[
            ("etc/records.config", conf!("trafficserver.records.config")),
            ("etc/remap.config", "# forward proxy: no remap rules\n"),
            TS_FILES_COMMON[0],
            TS_FILES_COMMON[1],
            TS_FILES_COMMON[2],
        ],
        note: "absolute-form ws:// upgrade carried",
        ..TRAFFIC_SERVER
    },
    Product {
        name: "apache2-forward",
        title: "Apache httpd explicit forward proxy (ProxyRequests On, mod_proxy_connect)",
        role: Role::Forward,
        files: &[("httpd.conf", conf!("apache2-forward.conf"))],
        websocket: false,
        note: "absolute-form ws upgrade not expected; CONNECT works",
        ..APACHE
    },
    Product {
        name: "tinyproxy",
        title: "tinyproxy explicit forward proxy",
        package: "tinyproxy",
        binary: "tinyproxy",
        role: Role::Forward,
        files: &[("tinyproxy.conf", conf!("tinyproxy.conf"))],
        argv: &["tinyproxy", "-d", "-c", "@RUN@/tinyproxy.conf"],
        websocket: false,
        note: "drops Upgrade/Connection on absolute-form requests; CONNECT works",
        ..USUAL
    },
    Product {
        name: "privoxy",
        title: "Privoxy explicit forward proxy (filtering off)",
        package: "privoxy",
        binary: "privoxy",
        role: Role::Forward,
        files: &[
            ("privoxy.config", conf!("privoxy.config")),
            ("lab.action", conf!("privoxy.action")),
        ],
        argv: &["privoxy", "--no-daemon", "@RUN@/privoxy.config"],
        // with --no-daemon Privoxy logs to stderr
        access_log: "stdout.log",
        websocket: false,
        note: "no Upgrade on absolute-form requests; CONNECT works",
        ..USUAL
    },
    Product {
        name: "squid-intercept",
        title: "Squid interception (transparent) proxy in a private network namespace, caching",
        role: Role::Transparent,
        files: &[("squid.conf", conf!("squid-intercept.conf"))],
        note: "iptables REDIRECT inside the namespace; Upgrade allowed",
        ..SQUID
    },
];

/// Looks a product up by name.
pub fn product(name: &str) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| p.name == name)
}

/// Fills in a template's placeholders: `@RUN@`, `@LISTEN@`, `@FWD@`, `@INTERCEPT@`, `@PORT@` (the port the
/// product listens on), `@REMAP_REQUIRED@`, `@DEFAULT@`, and one per lab name (`@ATTACKER@`, `@TARGET@`,
/// `@BACKEND@`, `@VICTIM@`, `@A@`, `@B@`).
pub fn render(template: &str, run: &str, p: &Product) -> String {
    let port = match p.role {
        Role::Reverse => LISTEN_PORT,
        Role::Forward | Role::Transparent => FORWARD_PORT,
    };
    let mut s = template
        .replace("@RUN@", run)
        .replace("@LISTEN@", &LISTEN_PORT.to_string())
        .replace("@FWD@", &FORWARD_PORT.to_string())
        .replace("@INTERCEPT@", &INTERCEPT_PORT.to_string())
        .replace("@PORT@", &port.to_string())
        .replace(
            "@REMAP_REQUIRED@",
            if p.role == Role::Reverse { "1" } else { "0" },
        )
        .replace("@DEFAULT@", &DEFAULT_SITE.to_string());
    for (name, ip) in LAB_NAMES {
        let key = format!(
            "@{}@",
            name.trim_end_matches(".example").to_ascii_uppercase()
        );
        s = s.replace(&key, &ip.to_string());
    }
    s
}

/// The port a product listens on inside its namespace (where the lab's client side connects).
pub fn entry_port(p: &Product) -> u16 {
    match p.role {
        Role::Reverse => LISTEN_PORT,
        Role::Forward => FORWARD_PORT,
        Role::Transparent => INTERCEPT_PORT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_without_placeholders_left() {
        for p in PRODUCTS {
            for (path, t) in p.files {
                let r = render(t, "/tmp/run", p);
                let left = r.split('@').skip(1).step_by(2).any(|w| {
                    !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                });
                assert!(!left, "{}: {path} still has a placeholder:\n{r}", p.name);
            }
        }
    }

    #[test]
    fn reverse_templates_route_every_lab_name() {
        for p in PRODUCTS.iter().filter(|p| p.role == Role::Reverse) {
            let all: String = p.files.iter().map(|(_, t)| render(t, "/r", p)).collect();
            for (name, ip) in LAB_NAMES {
                assert!(
                    all.contains(&ip.to_string()),
                    "{}: no route for {name}",
                    p.name
                );
            }
            assert!(
                all.contains(&DEFAULT_SITE.to_string()),
                "{}: no default site",
                p.name
            );
        }
    }

    #[test]
    fn rows_are_complete() {
        for p in PRODUCTS {
            for (what, v) in [
                ("name", p.name),
                ("title", p.title),
                ("package", p.package),
                ("binary", p.binary),
                ("access_log", p.access_log),
                ("note", p.note),
            ] {
                assert!(!v.is_empty(), "{}: no {what}", p.name);
            }
            assert!(!p.files.is_empty(), "{}: no files", p.name);
            assert_eq!(p.argv.first(), Some(&p.binary), "{}: argv", p.name);
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = PRODUCTS.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PRODUCTS.len());
    }
}
