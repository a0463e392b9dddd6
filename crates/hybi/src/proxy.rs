//! Client connections through proxies: HTTP `CONNECT` tunnels (RFC 9110 §9.3.6, with
//! `Basic` authentication) and SOCKS5 (RFC 1928, with the username/password method of
//! RFC 1929).
//!
//! [`crate::connect_with`] follows [`WebSocketConfig::proxy`](crate::WebSocketConfig::proxy):
//!
//! * [`ProxyConfig::Direct`] (the default): no proxy.
//! * [`ProxyConfig::FromEnv`]: what the usual environment variables say, as curl reads
//!   them: `https_proxy` / `HTTPS_PROXY` for `wss://`, `http_proxy` / `HTTP_PROXY` for
//!   `ws://`, else `all_proxy` / `ALL_PROXY`; hosts listed in `no_proxy` / `NO_PROXY`
//!   connect directly ([`NoProxy`]).
//! * [`ProxyConfig::Use`]: always this proxy.
//!
//! Proxy URLs: `http://[user:password@]host[:port]` (default port 80; no scheme means
//! `http://`), `socks5://…` (the client resolves the target's name) and `socks5h://…`
//! (the proxy resolves it; default port 1080). User and password may be percent-encoded.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hybi::Error> {
//! use hybi::proxy::{Proxy, ProxyConfig};
//! use hybi::{ClientOptions, Variant, WebSocketConfig};
//! let opts = ClientOptions::from_url("ws://echo.example/", Variant::Rfc6455)?;
//! let config = WebSocketConfig {
//!     proxy: ProxyConfig::Use(Proxy::parse("socks5h://user:secret@127.0.0.1:1080")?),
//!     ..WebSocketConfig::default()
//! };
//! let ws = hybi::connect_with(&opts, config).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use hybi_proto::http::{HeadProgress, HeadReader};
use hybi_proto::Limits;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Which proxy, if any, client connections go through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxyConfig {
    /// Connect directly.
    #[default]
    Direct,
    /// Read the proxy environment variables at each connection (see the module docs).
    FromEnv,
    /// Always go through this proxy.
    Use(Proxy),
}

impl ProxyConfig {
    /// The proxy for a connection to `host:port` (`secure`: `wss://`), if any.
    pub fn proxy_for(&self, host: &str, port: u16, secure: bool) -> Option<Proxy> {
        match self {
            ProxyConfig::Direct => None,
            ProxyConfig::FromEnv => ProxyEnv::from_env().proxy_for(host, port, secure),
            ProxyConfig::Use(p) => Some(p.clone()),
        }
    }
}

/// The protocol spoken to a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP/1.1 `CONNECT host:port`.
    HttpConnect,
    /// SOCKS5; `remote_dns`: send the target's name for the proxy to resolve
    /// (`socks5h://`) rather than an address resolved here (`socks5://`).
    Socks5 {
        /// Whether the proxy resolves the target's host name.
        remote_dns: bool,
    },
}

/// A proxy server.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Protocol.
    pub kind: ProxyKind,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name and password, if the proxy wants them.
    pub auth: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl fmt::Display for Proxy {
    /// The proxy's URL without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.kind {
            ProxyKind::HttpConnect => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

fn bad_url(url: &str, why: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("proxy URL {:?}: {why}", redact(url)),
    )
}

/// `url` with any password replaced by `***` (for error messages).
fn redact(url: &str) -> String {
    let start = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Proxy {
    /// Parses a proxy URL (see the module docs).
    pub fn parse(url: &str) -> io::Result<Proxy> {
        let url = url.trim();
        let (scheme, rest) = match url.find("://") {
            Some(i) => (url[..i].to_ascii_lowercase(), &url[i + 3..]),
            None => ("http".to_owned(), url),
        };
        let (kind, default_port) = match scheme.as_str() {
            "http" => (ProxyKind::HttpConnect, 80),
            "socks5" | "socks" => (ProxyKind::Socks5 { remote_dns: false }, 1080),
            "socks5h" => (ProxyKind::Socks5 { remote_dns: true }, 1080),
            "https" => return Err(bad_url(url, "TLS to the proxy (https://) is not supported")),
            other => return Err(bad_url(url, format!("unsupported scheme {other:?}"))),
        };
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if rest[authority.len()..]
            .trim_start_matches('/')
            .contains(|c| c != '/')
        {
            return Err(bad_url(url, "a proxy URL has no path"));
        }
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let auth = match userinfo {
            None => None,
            Some(info) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                let user = percent_decode(user).ok_or_else(|| bad_url(url, "bad %-escape"))?;
                let pass = percent_decode(pass).ok_or_else(|| bad_url(url, "bad %-escape"))?;
                Some((user, pass))
            }
        };
        let (host, port) = split_host_port(hostport, default_port)
            .ok_or_else(|| bad_url(url, "bad host or port"))?;
        if host.is_empty() {
            return Err(bad_url(url, "no host"));
        }
        Ok(Proxy {
            kind,
            host,
            port,
            auth,
        })
    }

    /// Opens a TCP connection to the proxy and asks it for a tunnel to `host:port` (IPv6
    /// with or without brackets). The stream returned carries the target's bytes.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let mut tcp = connect_tcp(&self.host, self.port)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot reach the proxy {self}: {e}")))?;
        self.tunnel(&mut tcp, host, port).await?;
        Ok(tcp)
    }

    /// Asks the proxy at the other end of `io` for a tunnel to `host:port`.
    pub async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        host: &str,
        port: u16,
    ) -> io::Result<()> {
        let host = unbracket(host);
        match self.kind {
            ProxyKind::HttpConnect => http_connect(io, host, port, self.auth.as_ref()).await,
            ProxyKind::Socks5 { remote_dns } => {
                socks5_connect(io, host, port, remote_dns, self.auth.as_ref()).await
            }
        }
        .map_err(|e| io::Error::new(e.kind(), format!("proxy {self}: {e}")))
    }
}

/// Opens a TCP connection to `host:port` (IPv6 with or without brackets), trying each
/// address the name resolves to.
pub(crate) async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let host = unbracket(host);
    let tcp = match host.parse::<IpAddr>() {
        Ok(ip) => TcpStream::connect(SocketAddr::new(ip, port)).await?,
        Err(_) => TcpStream::connect((host, port)).await?,
    };
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host[:port]` or `[v6][:port]`; the host comes back without brackets.
fn split_host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((h.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_owned(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((s.to_owned(), default_port)),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn proxy_error(why: impl fmt::Display) -> io::Error {
    io::Error::other(why.to_string())
}

async fn http_connect<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    host: &str,
    port: u16,
    auth: Option<&(String, String)>,
) -> io::Result<()> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, pass)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await?;
    io.flush().await?;

    let limits = Limits::default();
    let mut reader = HeadReader::default();
    let mut buf = [0u8; 1024];
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed the connection before answering CONNECT",
            ));
        }
        let progress = reader
            .feed_response(&buf[..n], &limits)
            .map_err(|e| proxy_error(format!("bad answer to CONNECT: {e}")))?;
        if let HeadProgress::Complete { head, consumed } = progress {
            if !(200..300).contains(&head.code) {
                // 407 is the standard answer; some proxies (tinyproxy) answer bad
                // credentials with 401.
                let auth_failure = matches!(head.code, 401 | 407);
                let kind = if auth_failure {
                    io::ErrorKind::PermissionDenied
                } else {
                    io::ErrorKind::Other
                };
                let hint = match (auth_failure, auth) {
                    (true, None) => " (the proxy wants a user and password)",
                    (true, Some(_)) => " (user or password refused)",
                    (false, _) => "",
                };
                return Err(io::Error::new(
                    kind,
                    format!("CONNECT {authority} refused: {}{hint}", head.status_line()),
                ));
            }
            // The target speaks only after our first bytes (a WebSocket request or a TLS
            // ClientHello): anything already here is not the target's.
            if consumed < n {
                return Err(proxy_error("sent data after its answer to CONNECT"));
            }
            return Ok(());
        }
    }
}

/// RFC 1928 reply codes.
fn socks5_reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

async fn socks5_connect<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    host: &str,
    port: u16,
    remote_dns: bool,
    auth: Option<&(String, String)>,
) -> io::Result<()> {
    const NO_AUTH: u8 = 0x00;
    const USER_PASS: u8 = 0x02;
    // The target address, as the request carries it.
    let mut target = Vec::with_capacity(260);
    match host.parse::<IpAddr>() {
        Ok(ip) => push_ip(&mut target, ip),
        Err(_) if remote_dns => {
            let name = host.as_bytes();
            let len = u8::try_from(name.len())
                .map_err(|_| proxy_error("host name longer than 255 bytes"))?;
            target.push(0x03);
            target.push(len);
            target.extend_from_slice(name);
        }
        Err(_) => {
            let addr = tokio::net::lookup_host((host, port))
                .await?
                .next()
                .ok_or_else(|| proxy_error(format!("{host} resolves to no address")))?;
            push_ip(&mut target, addr.ip());
        }
    }
    target.extend_from_slice(&port.to_be_bytes());

    // Method selection.
    let methods: &[u8] = if auth.is_some() {
        &[NO_AUTH, USER_PASS]
    } else {
        &[NO_AUTH]
    };
    let mut hello = vec![0x05, methods.len() as u8];
    hello.extend_from_slice(methods);
    io.write_all(&hello).await?;
    io.flush().await?;
    let mut chosen = [0u8; 2];
    io.read_exact(&mut chosen).await?;
    if chosen[0] != 0x05 {
        return Err(proxy_error(format!(
            "not a SOCKS5 server (version byte {:#04x})",
            chosen[0]
        )));
    }
    match (chosen[1], auth) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some((user, pass))) => {
            let (u, p) = (user.as_bytes(), pass.as_bytes());
            if u.len() > 255 || p.len() > 255 {
                return Err(proxy_error("SOCKS5 user or password longer than 255 bytes"));
            }
            let mut msg = vec![0x01, u.len() as u8];
            msg.extend_from_slice(u);
            msg.push(p.len() as u8);
            msg.extend_from_slice(p);
            io.write_all(&msg).await?;
            io.flush().await?;
            let mut status = [0u8; 2];
            io.read_exact(&mut status).await?;
            if status[1] != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "SOCKS5 user or password refused",
                ));
            }
        }
        (0xff, None) => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the SOCKS5 proxy wants a user and password",
            ))
        }
        (0xff, Some(_)) => return Err(proxy_error("the SOCKS5 proxy accepts none of our methods")),
        (other, _) => {
            return Err(proxy_error(format!(
                "the SOCKS5 proxy chose a method we did not offer ({other:#04x})"
            )))
        }
    }

    // CONNECT request.
    let mut req = vec![0x05, 0x01, 0x00];
    req.extend_from_slice(&target);
    io.write_all(&req).await?;
    io.flush().await?;
    let mut head = [0u8; 4];
    io.read_exact(&mut head).await?;
    if head[0] != 0x05 {
        return Err(proxy_error("bad SOCKS5 reply version"));
    }
    if head[1] != 0 {
        return Err(proxy_error(format!(
            "SOCKS5 CONNECT to {host}:{port} failed: {} ({})",
            socks5_reply_text(head[1]),
            head[1]
        )));
    }
    // The bound address, which we do not need.
    let addr_len = match head[3] {
        0x01 => 4,
        0x04 => 16,
        0x03 => {
            let mut len = [0u8; 1];
            io.read_exact(&mut len).await?;
            len[0] as usize
        }
        other => {
            return Err(proxy_error(format!(
                "bad SOCKS5 reply address type {other:#04x}"
            )))
        }
    };
    let mut bound = vec![0u8; addr_len + 2];
    io.read_exact(&mut bound).await?;
    Ok(())
}

fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            out.push(0x01);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(0x04);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// The proxy environment variables, read once.
#[derive(Clone, Debug, Default)]
pub struct ProxyEnv {
    /// `http_proxy` / `HTTP_PROXY`: for `ws://`.
    pub http: Option<String>,
    /// `https_proxy` / `HTTPS_PROXY`: for `wss://`.
    pub https: Option<String>,
    /// `all_proxy` / `ALL_PROXY`: for either, when the specific one is unset.
    pub all: Option<String>,
    /// `no_proxy` / `NO_PROXY`.
    pub no_proxy: NoProxy,
}

impl ProxyEnv {
    /// Reads the process environment.
    pub fn from_env() -> ProxyEnv {
        ProxyEnv::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `var` (lower-case names win over upper-case ones; empty
    /// values count as unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let get = |lower: &str| {
            var(lower)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| var(&lower.to_ascii_uppercase()).filter(|v| !v.trim().is_empty()))
        };
        ProxyEnv {
            http: get("http_proxy"),
            https: get("https_proxy"),
            all: get("all_proxy"),
            no_proxy: NoProxy::parse(&get("no_proxy").unwrap_or_default()),
        }
    }

    /// The proxy for `host:port`, if the variables name one and `no_proxy` does not
    /// exempt the host. A variable that does not parse is reported and ignored.
    pub fn proxy_for(&self, host: &str, port: u16, secure: bool) -> Option<Proxy> {
        if self.no_proxy.matches(host, port) {
            return None;
        }
        let url = if secure { &self.https } else { &self.http }
            .as_ref()
            .or(self.all.as_ref())?;
        match Proxy::parse(url) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!("ignoring the proxy environment variable: {e}");
                None
            }
        }
    }
}

/// A `no_proxy` list: comma- or space-separated entries, each `*` (every host), a domain
/// (`example.com` and `.example.com` both match `example.com` and its subdomains;
/// `*.example.com` too), an IP address, or a CIDR block (`10.0.0.0/8`, `fd00::/8`). An
/// entry may end in `:port` to apply to that port only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    entries: Vec<NoProxyEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum NoProxyEntry {
    All,
    Domain(String, Option<u16>),
    Net(IpAddr, u8, Option<u16>),
}

impl NoProxy {
    /// Parses a list; unrecognisable entries are ignored.
    pub fn parse(list: &str) -> NoProxy {
        let mut entries = Vec::new();
        for raw in list.split([',', ' ', '\t']).map(str::trim) {
            if raw.is_empty() {
                continue;
            }
            if raw == "*" {
                entries.push(NoProxyEntry::All);
                continue;
            }
            if let Some(e) = parse_net(raw) {
                entries.push(e);
                continue;
            }
            let (name, port) = match raw.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') => match p.parse::<u16>() {
                    Ok(p) => (n, Some(p)),
                    Err(_) => continue,
                },
                Some(_) => continue,
                None => (raw, None),
            };
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if !name.is_empty() {
                entries.push(NoProxyEntry::Domain(name, port));
            }
        }
        NoProxy { entries }
    }

    /// Whether `host` (a name, or an IP address, IPv6 with or without brackets) on `port`
    /// connects directly.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = unbracket(host).trim_end_matches('.').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        let port_ok = |p: &Option<u16>| match p {
            None => true,
            Some(p) => *p == port,
        };
        self.entries.iter().any(|e| match e {
            NoProxyEntry::All => true,
            NoProxyEntry::Domain(d, p) => {
                port_ok(p)
                    && (host == *d
                        || (host.len() > d.len()
                            && host.ends_with(d.as_str())
                            && host.as_bytes()[host.len() - d.len() - 1] == b'.'))
            }
            NoProxyEntry::Net(net, bits, p) => {
                port_ok(p) && ip.is_some_and(|ip| in_net(ip, *net, *bits))
            }
        })
    }
}

/// An IP address or CIDR block, possibly bracketed and with a port.
fn parse_net(raw: &str) -> Option<NoProxyEntry> {
    let (addr, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (a, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (a, port)
    } else if raw.matches(':').count() == 1 {
        let (a, p) = raw.split_once(':')?;
        (a, Some(p.parse().ok()?))
    } else {
        (raw, None)
    };
    let (ip, bits) = match addr.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?),
        None => {
            let ip = addr.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some(NoProxyEntry::Net(ip, bits, port))
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        (IpAddr::V6(a), IpAddr::V4(b)) => match a.to_ipv4_mapped() {
            Some(a) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            None => return false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - u32::from(bits);
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls() {
        let p = Proxy::parse("http://proxy.local:3128").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port, p.auth),
            (ProxyKind::HttpConnect, "proxy.local", 3128, None)
        );
        let p = Proxy::parse("proxy.local").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::HttpConnect, 80));
        let p = Proxy::parse("socks5h://us%40er:p%3Ass@[::1]:1081/").unwrap();
        assert_eq!(p.kind, ProxyKind::Socks5 { remote_dns: true });
        assert_eq!((p.host.as_str(), p.port), ("::1", 1081));
        assert_eq!(p.auth, Some(("us@er".into(), "p:ss".into())));
        assert_eq!(p.to_string(), "socks5h://[::1]:1081");
        assert!(!format!("{p:?}").contains("p:ss"));
        let p = Proxy::parse("SOCKS5://10.0.0.1").unwrap();
        assert_eq!(
            (p.kind, p.port),
            (ProxyKind::Socks5 { remote_dns: false }, 1080)
        );
        assert!(Proxy::parse("https://proxy:443").is_err());
        assert!(Proxy::parse("ftp://proxy").is_err());
        assert!(Proxy::parse("http://proxy:99999").is_err());
        assert!(Proxy::parse("http://proxy/path").is_err());
        let e = Proxy::parse("gopher://u:secret@h").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn no_proxy_matching() {
        let np = NoProxy::parse("example.com, .internal.test,*.corp, 10.0.0.0/8 192.168.1.7,[::1],fd00::/8,only.port:8080");
        assert!(np.matches("example.com", 80));
        assert!(np.matches("ws.example.com", 80));
        assert!(np.matches("WS.Example.COM.", 80));
        assert!(!np.matches("badexample.com", 80));
        assert!(np.matches("internal.test", 80));
        assert!(np.matches("a.b.internal.test", 80));
        assert!(np.matches("x.corp", 80));
        assert!(np.matches("10.1.2.3", 80));
        assert!(!np.matches("11.1.2.3", 80));
        assert!(np.matches("192.168.1.7", 80));
        assert!(!np.matches("192.168.1.8", 80));
        assert!(np.matches("[::1]", 443));
        assert!(np.matches("::1", 443));
        assert!(np.matches("fd12::5", 443));
        assert!(!np.matches("fe80::1", 443));
        assert!(np.matches("only.port", 8080));
        assert!(!np.matches("only.port", 8081));
        assert!(NoProxy::parse("*").matches("anything", 1));
        assert!(!NoProxy::parse("").matches("anything", 1));
        assert!(NoProxy::parse("127.0.0.1:9000").matches("127.0.0.1", 9000));
        assert!(!NoProxy::parse("127.0.0.1:9000").matches("127.0.0.1", 9001));
    }

    #[test]
    fn environment_choice() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let env = ProxyEnv::from_lookup(vars(&[
            ("http_proxy", "http://plain:1"),
            ("HTTPS_PROXY", "http://secure:2"),
            ("ALL_PROXY", "socks5://all:3"),
            ("no_proxy", "direct.test"),
        ]));
        assert_eq!(env.proxy_for("a.test", 80, false).unwrap().host, "plain");
        assert_eq!(env.proxy_for("a.test", 443, true).unwrap().host, "secure");
        assert!(env.proxy_for("direct.test", 443, true).is_none());
        let env = ProxyEnv::from_lookup(vars(&[
            ("http_proxy", ""),
            ("HTTP_PROXY", "http://upper:1"),
            ("all_proxy", "socks5h://all:3"),
        ]));
        assert_eq!(env.proxy_for("a.test", 80, false).unwrap().host, "upper");
        let p = env.proxy_for("a.test", 443, true).unwrap();
        assert_eq!(
            (p.host.as_str(), p.kind),
            ("all", ProxyKind::Socks5 { remote_dns: true })
        );
        let env = ProxyEnv::from_lookup(vars(&[("http_proxy", "http://plain:1")]));
        assert!(env.proxy_for("a.test", 443, true).is_none());
    }
}
