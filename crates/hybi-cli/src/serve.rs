use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hybi::Limits;
use hybi::{DeflateConfig, OriginPolicy, Server, ServerConfig, Variant, WebSocketConfig};
use hybi_proto::variant::parse_list;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use crate::web;
use hybi_proto::DataRef;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:9002")]
    listen: String,
    /// Handshake variants to answer: a comma-separated list of names, or `all`.
    #[arg(long, default_value = "rfc6455,hybi-08,hybi-07", value_parser = parse_variants)]
    variants: VariantList,
    /// Worker threads (1: a single-threaded runtime, as benchmarks want).
    #[arg(long)]
    threads: Option<usize>,
    /// Subprotocols the server accepts, in preference order.
    #[arg(long = "subprotocol")]
    subprotocols: Vec<String>,
    /// Only accept these origins (repeatable); default: any.
    #[arg(long = "allow-origin")]
    allow_origins: Vec<String>,
    /// Only answer for these hosts (`Host` without port, repeatable); default: any.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Connections held at once (handshaking or open); past it: 503 and close. 0: no
    /// limit.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds an opening handshake may take, Hixie-76's key3 included (slowloris guard).
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Seconds without receiving anything after which a connection is closed (1001);
    /// also how long output may wait on a peer that reads nothing (in our queue, and in
    /// the kernel's: TCP_USER_TIMEOUT). 0: never.
    #[arg(long, default_value_t = 300.0)]
    idle_timeout: f64,
    /// Seconds a closing handshake may take before the connection is dropped.
    #[arg(long, default_value_t = 5.0)]
    close_timeout: f64,
    /// Ping idle clients this often (seconds).
    #[arg(long)]
    ping_interval: Option<u64>,
    /// Decline permessage-deflate (RFC 7692), which is otherwise accepted for the RFC 6455
    /// family (versions 13, 8 and 7).
    #[arg(long)]
    no_deflate: bool,
    /// Compression level for permessage-deflate (0-9).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..=9))]
    deflate_level: u8,
    /// Ask clients not to take over their compression context between messages (the
    /// server then frees its decompressor between messages).
    #[arg(long)]
    deflate_no_context_takeover: bool,
    /// Seconds to wait for anything after a keepalive ping.
    #[arg(long, default_value_t = 20.0)]
    ping_timeout: f64,
    /// Largest handshake head (request line and headers), in bytes.
    #[arg(long, default_value_t = Limits::default().max_head_size)]
    max_head_size: usize,
    /// Most header fields in a handshake head.
    #[arg(long, default_value_t = Limits::default().max_headers)]
    max_headers: usize,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_message_size)]
    max_message_size: usize,
    /// Largest frame accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_frame_size)]
    max_frame_size: u64,
    /// Most frames in one message.
    #[arg(long, default_value_t = Limits::default().max_fragments)]
    max_fragments: usize,
    /// Unsent bytes per connection past which it stops reading and echoing until the
    /// peer reads.
    #[arg(long, default_value_t = WebSocketConfig::default().max_write_buffer)]
    max_write_buffer: usize,
    /// Serve TLS (wss:// and https://) with this PEM certificate chain (leaf first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Answer plain HTTP GETs with the files under DIR (default: the built-in demo page at
    /// `/`). WebSocket handshakes on the same port still go to the echo handler.
    #[arg(long = "static", value_name = "DIR")]
    static_dir: Option<std::path::PathBuf>,
    /// What drives the connections: `tokio`, a task per connection (TLS included), or
    /// `reactor`, an event loop per thread that drives each connection straight from
    /// epoll (hybi::reactor: less CPU per message; no TLS; `--static` files are read on
    /// the loop thread).
    #[arg(long, value_enum, default_value_t = Engine::Tokio)]
    engine: Engine,
    /// Seconds the kernel may hold a new connection until its first bytes (the handshake
    /// request) arrive before handing it over anyway (Linux TCP_DEFER_ACCEPT, as nginx's
    /// `listen ... deferred`): the server wakes once per connection instead of twice, and a
    /// client that connects and says nothing costs no connection slot meanwhile. 0: off.
    #[arg(long, default_value_t = 1)]
    defer_accept: u32,
}

/// `--engine`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A tokio task per connection.
    Tokio,
    /// One event loop per thread (`hybi::reactor`).
    Reactor,
}

/// `--max-connections` default: above the 10k idle connections of the benchmark method,
/// below the usual `ulimit -n` of servers tuned for it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// A parsed `--variants` value.
#[derive(Clone, Debug)]
pub struct VariantList(pub Vec<Variant>);

pub fn parse_variants(s: &str) -> Result<VariantList, String> {
    parse_list(s).map(VariantList).map_err(|e| e.to_string())
}

pub fn run(args: ServeArgs) -> ExitCode {
    if args.engine == Engine::Reactor {
        return match serve_reactor(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hybi serve: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut builder = match args.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = builder.enable_all().build().expect("tokio runtime");
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hybi serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server policy and transport settings from the command line, with the site that
/// answers plain HTTP and the TLS acceptor, if any.
fn configure(
    args: &ServeArgs,
) -> std::io::Result<(Server, std::sync::Arc<web::Site>, Option<web::Acceptor>)> {
    let mut config = ServerConfig {
        variants: args.variants.0.clone(),
        subprotocols: args.subprotocols.clone(),
        ..ServerConfig::default()
    };
    if !args.no_deflate {
        config.deflate = Some(DeflateConfig {
            level: args.deflate_level,
            peer_no_context_takeover: args.deflate_no_context_takeover,
            ..DeflateConfig::default()
        });
    }
    if !args.allow_origins.is_empty() {
        config.origin = OriginPolicy::AllowList(args.allow_origins.clone());
    }
    if !args.allow_hosts.is_empty() {
        config.hosts = Some(args.allow_hosts.clone());
    }
    config.limits = Limits {
        max_head_size: args.max_head_size,
        max_headers: args.max_headers,
        max_frame_size: args.max_frame_size,
        max_message_size: args.max_message_size,
        max_fragments: args.max_fragments,
    };
    let transport = WebSocketConfig {
        limits: config.limits.clone(),
        handshake_timeout: secs(args.handshake_timeout),
        ping_interval: args.ping_interval.map(Duration::from_secs),
        ping_timeout: secs(args.ping_timeout),
        close_timeout: secs(args.close_timeout),
        max_write_buffer: args.max_write_buffer,
        idle_timeout: (args.idle_timeout > 0.0).then(|| secs(args.idle_timeout)),
        ..WebSocketConfig::default()
    };
    let site = std::sync::Arc::new(web::Site::new(args.static_dir.as_deref())?);
    let tls = web::tls_acceptor(args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    config.secure = tls.is_some();
    let mut server = Server::with_transport(config, transport);
    if args.max_connections > 0 {
        server = server.with_max_connections(args.max_connections);
    }
    Ok((server, site, tls))
}

async fn serve(args: ServeArgs) -> std::io::Result<()> {
    let (server, site, tls) = configure(&args)?;
    let handshake_timeout = server.transport().handshake_timeout;
    let idle_timeout = server.transport().idle_timeout;
    if idle_timeout.is_some() {
        // The idle timers turn on this runtime rather than on a thread of their own: a
        // single-threaded process makes every send and recv cheaper (hybi::drive_idle_timers).
        tokio::spawn(hybi::drive_idle_timers());
    }
    let listener = TcpListener::from_std(bind_listener(
        &args.listen,
        idle_timeout,
        args.defer_accept,
    )?)?;
    let addr = listener.local_addr()?;
    let names: Vec<&str> = args.variants.0.iter().map(|v| v.name()).collect();
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, variants = %names.join(","), "echo server up");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (server, site, tls) = (server.clone(), site.clone(), tls.clone());
        if !LISTENER_OPTIONS_INHERITED {
            set_connection_options(socket2::SockRef::from(&tcp), idle_timeout);
        }
        tokio::spawn(ConnectionTask::Handshake(Box::pin(handshake(
            server,
            site,
            tls,
            tcp,
            peer,
            handshake_timeout,
        ))));
    }
}

/// One plain-TCP connection's task: its opening (boxed, since it is large and short-lived),
/// then the echo in the same task. One task per connection instead of an opening task
/// that spawns an echo task saves a task's allocation, registration and scheduling per
/// handshake; and an idle connection's task is no larger than the echo alone
/// (`tests::connection_task_is_small`): tokio moves a task's future several times while
/// spawning it and writes a future-sized stage when it completes (memcpy was 11% of the
/// server's CPU per handshake with the whole opening inline; docs/benchmarks.md,
/// "handshakes").
// The large variant is the one the task lives in; boxing it would add an allocation and a
// pointer chase per poll to every open connection.
#[allow(clippy::large_enum_variant)]
enum ConnectionTask {
    Handshake(std::pin::Pin<Box<dyn Future<Output = Option<hybi::WebSocket<TcpStream>>> + Send>>),
    Echo(Echo<TcpStream>),
}

impl Future for ConnectionTask {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let this = self.get_mut();
        loop {
            match this {
                ConnectionTask::Handshake(opening) => {
                    match std::task::ready!(opening.as_mut().poll(cx)) {
                        Some(ws) => *this = ConnectionTask::Echo(Echo::new(ws)),
                        None => return std::task::Poll::Ready(()),
                    }
                }
                ConnectionTask::Echo(echo) => return std::pin::Pin::new(echo).poll(cx),
            }
        }
    }
}

/// A connection's opening: the TLS handshake if any, then the WebSocket handshake or the
/// page. Returns the plain-TCP WebSocket to echo on; a TLS one gets an echo task of its
/// own (`spawn_echo`), and a page or a failure ends the connection (`None`).
async fn handshake(
    server: Server,
    site: std::sync::Arc<web::Site>,
    tls: Option<web::Acceptor>,
    tcp: TcpStream,
    peer: std::net::SocketAddr,
    handshake_timeout: Duration,
) -> Option<hybi::WebSocket<TcpStream>> {
    let result = match tls {
        None => web::connection(&server, &site, tcp).await,
        // Boxed: the TLS branch's state would otherwise size every opening.
        Some(tls) => Box::pin(tls_connection(&server, &site, tls, tcp, handshake_timeout))
            .await
            .map(|()| None),
    };
    match result {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(%peer, "connection ended: {e}");
            None
        }
    }
}

async fn tls_connection(
    server: &Server,
    site: &web::Site,
    tls: web::Acceptor,
    tcp: TcpStream,
    handshake_timeout: Duration,
) -> Result<(), hybi::Error> {
    match tokio::time::timeout(handshake_timeout, tls.accept(tcp)).await {
        Ok(Ok(stream)) => {
            if let Some(ws) = web::connection(server, site, stream).await? {
                spawn_echo(ws);
            }
            Ok(())
        }
        Ok(Err(e)) => Err(hybi::Error::Io(e)),
        Err(_) => Err(hybi::Error::Timeout("TLS handshake")),
    }
}

/// Whether accepted sockets inherit TCP_NODELAY and TCP_USER_TIMEOUT from the listening
/// socket. Linux copies the listener's TCP state into every connection it accepts
/// (`tcp_create_openreq_child` clones the socket), so setting them once on the listener
/// saves two `setsockopt` calls per connection (docs/benchmarks.md, "handshakes");
/// `tests::accepted_sockets_inherit_listener_options` checks it on the machine the tests
/// run on. Elsewhere they are set on each accepted socket.
const LISTENER_OPTIONS_INHERITED: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// What every connection's socket gets: no Nagle delay (an echo or a handshake answer goes
/// out at once) and, with an idle timeout, TCP_USER_TIMEOUT: the kernel drops a peer that
/// leaves our data unacknowledged (a zero window: it reads nothing) that long, even when
/// everything we wrote fit in the socket buffer and the peer keeps trickling bytes in.
fn set_connection_options(socket: socket2::SockRef<'_>, idle_timeout: Option<Duration>) {
    let _ = socket.set_tcp_nodelay(true);
    if let Some(idle) = idle_timeout {
        let _ = socket.set_tcp_user_timeout(Some(idle));
    }
}

/// Has the kernel hand over an accepted connection only once data arrived on it, or after
/// about `secs` (TCP_DEFER_ACCEPT, tcp(7); the kernel rounds `secs` up to its SYN-ACK
/// retransmission schedule and then passes the connection on without data). Every
/// handshake this server answers starts with the client's request, so nothing waits on it;
/// the gain is one wake-up and one readiness round per connection fewer (docs/benchmarks.md,
/// "session 6"). Not an error where unsupported: it is only a saving.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_defer_accept(socket: &socket2::Socket, secs: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt on a descriptor `socket` owns for the duration of the call, with a
    // pointer to a live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_defer_accept(_socket: &socket2::Socket, _secs: u32) -> std::io::Result<()> {
    Ok(())
}

/// Binds `hybi serve`'s listening socket as `TcpListener::bind` would (first address that
/// binds, SO_REUSEADDR, backlog 1024), with the per-connection options set on it where
/// accepted sockets inherit them, and `defer_accept_secs` (0: off) as TCP_DEFER_ACCEPT.
fn bind_listener(
    addr: &str,
    idle_timeout: Option<Duration>,
    defer_accept_secs: u32,
) -> std::io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let mut last_error = None;
    for addr in addr.to_socket_addrs()? {
        let attempt = (|| {
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(addr),
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )?;
            socket.set_reuse_address(true)?;
            socket.set_nonblocking(true)?;
            if LISTENER_OPTIONS_INHERITED {
                set_connection_options(socket2::SockRef::from(&socket), idle_timeout);
            }
            if defer_accept_secs > 0 {
                if let Err(e) = set_defer_accept(&socket, defer_accept_secs) {
                    tracing::warn!("TCP_DEFER_ACCEPT not set: {e}");
                }
            }
            socket.bind(&addr.into())?;
            socket.listen(1024)?;
            Ok(socket.into())
        })();
        match attempt {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("--listen {addr}: no address to bind"),
        )
    }))
}

/// `hybi serve --engine reactor`: one [`hybi::reactor::Reactor`] per thread (`--threads`,
/// default one per core), all accepting on clones of one listener, each echoing with
/// [`EchoHandler`].
fn serve_reactor(args: ServeArgs) -> std::io::Result<()> {
    if args.tls_cert.is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "--engine reactor does not do TLS: use --engine tokio (the default) with --tls-cert",
        ));
    }
    let (server, site, _) = configure(&args)?;
    let listener = bind_listener(
        &args.listen,
        server.transport().idle_timeout,
        args.defer_accept,
    )?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let mut reactors = Vec::with_capacity(threads);
    for _ in 0..threads {
        reactors.push(hybi::reactor::Reactor::new(
            listener.try_clone()?,
            server.clone(),
        )?);
    }
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    let names: Vec<&str> = args.variants.0.iter().map(|v| v.name()).collect();
    tracing::info!(%addr, variants = %names.join(","), threads, "echo server up (reactor)");
    // The last reactor runs on this thread: `--threads 1` is one thread.
    let last = reactors.pop().expect("at least one reactor");
    let others: Vec<_> = reactors
        .into_iter()
        .enumerate()
        .map(|(i, mut reactor)| {
            let site = site.clone();
            std::thread::Builder::new()
                .name(format!("hybi-reactor-{i}"))
                .spawn(move || reactor.run(&mut EchoHandler { site }))
        })
        .collect::<std::io::Result<_>>()?;
    let mut last = last;
    last.run(&mut EchoHandler { site })?;
    for thread in others {
        thread
            .join()
            .map_err(|_| std::io::Error::other("a reactor thread panicked"))??;
    }
    Ok(())
}

/// The reactor engine's echo: every text and binary message back as it came, lent
/// straight from the read buffer; plain HTTP answered from the site.
struct EchoHandler {
    site: std::sync::Arc<web::Site>,
}

impl hybi::reactor::Handler for EchoHandler {
    fn on_open(
        &mut self,
        _id: hybi::reactor::ConnId,
        _conn: &mut hybi_proto::Connection,
        info: &hybi::reactor::Opened<'_>,
    ) {
        tracing::debug!(variant = %info.variant, path = info.path, peer = %info.peer, "accepted");
    }

    fn on_message(
        &mut self,
        _id: hybi::reactor::ConnId,
        conn: &mut hybi_proto::Connection,
        msg: DataRef<'_>,
    ) {
        echo_message(conn, msg);
    }

    fn on_close(&mut self, _id: hybi::reactor::ConnId, outcome: Result<(), &hybi::Error>) {
        if let Err(e) = outcome {
            tracing::debug!("connection ended: {e}");
        }
    }

    fn on_http(&mut self, request: &hybi::proto::http::Request) -> Option<Vec<u8>> {
        Some(self.site.answer_now(request))
    }
}

/// Echoes every text and binary message of a TLS connection in a task of its own, whose
/// future is the `WebSocket` and nothing else ([`Echo`]); plain-TCP connections echo in
/// their [`ConnectionTask`]. Replies to a burst of frames are queued and written together;
/// messages that arrive whole are echoed straight from the read buffer
/// (`WebSocket::poll_for_each_message`, docs/benchmarks.md): no `Message` per echo.
///
/// Idle memory (docs/benchmarks.md, "idle memory"): an idle connection costs its task,
/// with tokio's I/O registration. An `async` opening that went on to echo would keep its
/// whole state — the handshake's buffers and timer, the TLS and plain-HTTP branches — for
/// the connection's life (`serve::tests::connection_state_sizes`).
fn spawn_echo<S>(ws: hybi::WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(Echo::new(ws));
}

/// An echoing connection's task (or, for plain TCP, the later state of its
/// [`ConnectionTask`]).
struct Echo<S> {
    ws: hybi::WebSocket<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Echo<S> {
    fn new(ws: hybi::WebSocket<S>) -> Self {
        tracing::debug!(variant = %ws.variant(), path = ws.path(), "accepted");
        Echo { ws }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> std::future::Future for Echo<S> {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let ws = &mut self.get_mut().ws;
        let result = std::task::ready!(ws.poll_for_each_message(cx, &mut echo_message));
        if let Err(e) = result {
            tracing::debug!("connection ended: {e}");
        }
        std::task::Poll::Ready(())
    }
}

fn echo_message(conn: &mut hybi_proto::Connection, msg: DataRef<'_>) {
    // Refused only once the closing handshake has started (or, on Hixie, for binary,
    // which Hixie never delivers): nothing to echo then.
    let _ = match msg {
        DataRef::Text(t) => conn.send_text(t),
        DataRef::Binary(b) => conn.send_binary(b),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection accepted from `bind_listener`'s listener, with the client end kept
    /// open.
    async fn accepted(
        idle_timeout: Option<Duration>,
    ) -> (TcpStream, TcpStream, std::net::SocketAddr) {
        let listener =
            TcpListener::from_std(bind_listener("127.0.0.1:0", idle_timeout, 0).unwrap()).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, peer) = listener.accept().await.unwrap();
        (client, tcp, peer)
    }

    /// `--defer-accept`: the kernel holds a connected client back from `accept` until its
    /// first bytes arrive, then hands it over with them. Without the option the same
    /// connection is accepted at once (the control, so the test can fail).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn deferred_accept_waits_for_the_request() {
        use std::io::{Read, Write};
        use std::net::TcpStream as StdStream;
        fn accept_within(l: &std::net::TcpListener, wait: Duration) -> Option<StdStream> {
            let until = std::time::Instant::now() + wait;
            loop {
                match l.accept() {
                    Ok((s, _)) => return Some(s),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("accept: {e}"),
                }
                if std::time::Instant::now() >= until {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let plain = bind_listener("127.0.0.1:0", None, 0).unwrap();
        let _c = StdStream::connect(plain.local_addr().unwrap()).unwrap();
        assert!(
            accept_within(&plain, Duration::from_secs(5)).is_some(),
            "without TCP_DEFER_ACCEPT a silent connection is accepted at once"
        );

        let deferred = bind_listener("127.0.0.1:0", None, 30).unwrap();
        let mut client = StdStream::connect(deferred.local_addr().unwrap()).unwrap();
        assert!(
            accept_within(&deferred, Duration::from_millis(300)).is_none(),
            "a silent connection was handed over before its first bytes"
        );
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let mut server = accept_within(&deferred, Duration::from_secs(5))
            .expect("the connection is handed over once its first bytes arrived");
        server.set_nonblocking(false).unwrap();
        let mut first = [0u8; 16];
        server.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"GET / HTTP/1.1\r\n");
    }

    /// Idle memory per connection (docs/benchmarks.md, "idle memory"): an idle
    /// connection's task future is `Echo`; tokio rounds the task to 128 bytes: at most
    /// 432 bytes keeps it in the 512-byte class (464 put it at 640). Printed with --nocapture.
    #[test]
    fn connection_state_sizes() {
        let sizes = [
            (
                "Echo<TcpStream> (an idle connection's task future)",
                std::mem::size_of::<Echo<tokio::net::TcpStream>>(),
            ),
            (
                "WebSocket<TcpStream>",
                std::mem::size_of::<hybi::WebSocket<tokio::net::TcpStream>>(),
            ),
            ("Connection", std::mem::size_of::<hybi_proto::Connection>()),
        ];
        for (what, n) in sizes {
            println!("{what}: {n} bytes");
        }
        assert!(
            std::mem::size_of::<Echo<tokio::net::TcpStream>>() <= 432,
            "{sizes:?}"
        );
    }

    /// A plain-TCP connection's task (`ConnectionTask`) is no larger than the echo it
    /// becomes, so an idle connection costs what it did with a task of its own for the
    /// echo; the opening it starts with is boxed, and stays small too: tokio copies a
    /// task's future on spawn and on completion (see `ConnectionTask`). Printed with
    /// --nocapture.
    #[tokio::test]
    async fn connection_task_is_small() {
        let (_client, tcp, peer) = accepted(None).await;
        let server = Server::new(ServerConfig::default());
        let site = std::sync::Arc::new(web::Site::new(None).unwrap());
        let accept = server.accept_or_http(tokio::io::empty());
        let accept_size = std::mem::size_of_val(&accept);
        drop(accept);
        let opening = handshake(server, site, None, tcp, peer, Duration::from_secs(1));
        let opening_size = std::mem::size_of_val(&opening);
        let task_size = std::mem::size_of::<ConnectionTask>();
        let echo_size = std::mem::size_of::<Echo<TcpStream>>();
        println!(
            "ConnectionTask: {task_size} bytes (Echo {echo_size}); opening future: \
             {opening_size} bytes; accept_or_http future: {accept_size} bytes"
        );
        assert!(
            task_size <= echo_size,
            "ConnectionTask is {task_size} bytes"
        );
        assert!(
            opening_size <= 1024,
            "the opening future is {opening_size} bytes"
        );
    }

    /// Where `LISTENER_OPTIONS_INHERITED` holds, a socket accepted from `bind_listener`'s
    /// listener has TCP_NODELAY and TCP_USER_TIMEOUT without setting them itself; where it
    /// does not, `serve` sets them per connection and this checks that path instead.
    #[tokio::test]
    async fn accepted_sockets_inherit_listener_options() {
        let idle = Duration::from_secs(300);
        let (_client, tcp, _) = accepted(Some(idle)).await;
        if !LISTENER_OPTIONS_INHERITED {
            set_connection_options(socket2::SockRef::from(&tcp), Some(idle));
        }
        let socket = socket2::SockRef::from(&tcp);
        assert!(socket.tcp_nodelay().unwrap(), "TCP_NODELAY not set");
        assert_eq!(socket.tcp_user_timeout().unwrap(), Some(idle));

        // Without an idle timeout, no TCP_USER_TIMEOUT either.
        let (_client, tcp, _) = accepted(None).await;
        let socket = socket2::SockRef::from(&tcp);
        assert_eq!(socket.tcp_user_timeout().unwrap(), None);
        assert_eq!(socket.tcp_nodelay().unwrap(), LISTENER_OPTIONS_INHERITED);
    }
}
