//! Plain HTTP beside the WebSockets of `hybi serve`: the built-in demo page, `--static DIR`
//! files, and TLS (`--tls-cert`, `--tls-key`).

use std::io;
use std::path::{Component, Path, PathBuf};

use hybi::{Accepted, HttpRequest, Server};
use tokio::io::{AsyncRead, AsyncWrite};

/// The demo page: connect, send, see the echoes, close (browser WebSocket API).
pub const DEMO_PAGE: &str = include_str!("demo.html");

/// Files larger than this are refused (413) rather than read into memory.
const MAX_FILE: u64 = 64 << 20;

/// Longest time one plain HTTP answer may take (a client that never reads it is dropped).
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// One connection's opening: a WebSocket handshake is answered and the WebSocket returned
/// (for the caller to echo on), a plain GET or HEAD is answered from the site (`None`).
pub async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    server: &Server,
    site: &Site,
    io: S,
) -> Result<Option<hybi::WebSocket<S>>, hybi::Error> {
    match server.accept_or_http(io).await? {
        Accepted::WebSocket(ws) => Ok(Some(ws)),
        // Boxed: the page branch's state (file reads) would otherwise size every
        // connection's handshake future (serve::handshake).
        Accepted::Http(req) => Box::pin(answer_page(site, req)).await.map(|()| None),
    }
}

async fn answer_page<S: AsyncWrite + Unpin>(
    site: &Site,
    req: HttpRequest<S>,
) -> Result<(), hybi::Error> {
    match tokio::time::timeout(ANSWER_TIMEOUT, site.answer(req)).await {
        Ok(answered) => Ok(answered?),
        Err(_) => Err(hybi::Error::Timeout("HTTP answer")),
    }
}

/// What `hybi serve` answers plain HTTP requests with.
#[derive(Debug)]
pub struct Site {
    /// `--static DIR`, canonical.
    root: Option<PathBuf>,
}

/// Where a request path leads.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Demo,
    File(PathBuf),
    /// A directory asked for without its trailing slash: redirect there.
    Redirect(String),
    NotFound,
}

impl Site {
    /// The demo page only (`None`), or the files under `dir`.
    pub fn new(dir: Option<&Path>) -> io::Result<Site> {
        let root = match dir {
            None => None,
            Some(d) => {
                let root = d.canonicalize().map_err(|e| {
                    io::Error::new(e.kind(), format!("--static {}: {e}", d.display()))
                })?;
                if !root.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("--static {}: not a directory", d.display()),
                    ));
                }
                Some(root)
            }
        };
        Ok(Site { root })
    }

    /// Answers one request and closes the connection.
    pub async fn answer<S: AsyncWrite + Unpin>(&self, req: HttpRequest<S>) -> io::Result<()> {
        let target = self.resolve(req.path());
        tracing::debug!(method = req.method(), path = req.path(), ?target, "HTTP");
        let file = match &target {
            Target::File(path) => Some(read_file(path).await),
            _ => None,
        };
        let page = Page::new(target, file);
        let headers = page.headers();
        req.respond(page.status, page.reason, &headers, &page.body)
            .await
    }

    /// The whole response to `request`, for the reactor engine (`--engine reactor`),
    /// whose handlers cannot wait: files are read on the loop thread, so every other
    /// connection of that loop waits meanwhile (up to a [`MAX_FILE`] read).
    pub fn answer_now(&self, request: &hybi::proto::http::Request) -> Vec<u8> {
        let target = self.resolve(request.path());
        tracing::debug!(method = %request.method, path = request.path(), ?target, "HTTP");
        let file = match &target {
            Target::File(path) => Some(read_file_now(path)),
            _ => None,
        };
        let page = Page::new(target, file);
        hybi::http::response(
            &request.method,
            page.status,
            page.reason,
            &page.headers(),
            &page.body,
        )
    }

    /// Maps a request path (with query) to what answers it. Never leaves the root:
    /// `..` segments, encoded slashes and backslashes, NUL bytes and dot-files are not
    /// found, and symbolic links are followed only when they stay inside the root.
    fn resolve(&self, target: &str) -> Target {
        let path = target.split(['?', '#']).next().unwrap_or("");
        let Some(root) = &self.root else {
            return match path {
                "/" | "/index.html" => Target::Demo,
                _ => Target::NotFound,
            };
        };
        let Some(rel) = safe_relative(path) else {
            return Target::NotFound;
        };
        let full = root.join(&rel);
        // Resolve links and check again that the result is inside the root.
        let Ok(real) = full.canonicalize() else {
            return if rel.as_os_str().is_empty() {
                Target::Demo
            } else {
                Target::NotFound
            };
        };
        if !real.starts_with(root) {
            return Target::NotFound;
        }
        if real.is_dir() {
            if !path.ends_with('/') {
                return Target::Redirect(format!("{path}/"));
            }
            let index = real.join("index.html");
            return match index.canonicalize() {
                Ok(i) if i.starts_with(root) && i.is_file() => Target::File(i),
                _ if rel.as_os_str().is_empty() => Target::Demo,
                _ => Target::NotFound,
            };
        }
        if real.is_file() {
            Target::File(real)
        } else {
            Target::NotFound
        }
    }
}

/// The decoded path as plain relative components, or `None` when it tries to leave the
/// root or names something hidden.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let path = path.strip_prefix('/')?;
    let decoded = percent_decode(path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut rel = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => continue,
            s if s.starts_with('.') => return None, // `..` and dot-files
            s => {
                let mut parts = Path::new(s).components();
                match (parts.next(), parts.next()) {
                    (Some(Component::Normal(p)), None) => rel.push(p),
                    _ => return None,
                }
            }
        }
    }
    Some(rel)
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

/// The file's bytes, or `None` when it is over [`MAX_FILE`].
async fn read_file(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let meta = tokio::fs::metadata(path).await?;
    if meta.len() > MAX_FILE {
        return Ok(None);
    }
    tokio::fs::read(path).await.map(Some)
}

/// [`read_file`], blocking.
fn read_file_now(path: &Path) -> io::Result<Option<Vec<u8>>> {
    if std::fs::metadata(path)?.len() > MAX_FILE {
        return Ok(None);
    }
    std::fs::read(path).map(Some)
}

/// One answer of the site, whichever engine sends it.
struct Page {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    location: Option<String>,
    body: std::borrow::Cow<'static, [u8]>,
}

impl Page {
    /// The answer for `target`; `file` is the file's contents when it is a file.
    fn new(target: Target, file: Option<io::Result<Option<Vec<u8>>>>) -> Page {
        const TEXT: &str = "text/plain; charset=utf-8";
        let page = |status, reason, content_type, body: &'static [u8]| Page {
            status,
            reason,
            content_type,
            location: None,
            body: body.into(),
        };
        match (target, file) {
            (Target::Demo, _) => page(200, "OK", "text/html; charset=utf-8", DEMO_PAGE.as_bytes()),
            (Target::Redirect(to), _) => Page {
                location: Some(to),
                ..page(301, "Moved Permanently", TEXT, b"moved\n")
            },
            (Target::File(path), Some(Ok(Some(body)))) => Page {
                body: body.into(),
                ..page(200, "OK", content_type(&path), b"")
            },
            (Target::File(_), Some(Ok(None))) => {
                page(413, "Content Too Large", TEXT, b"file too large\n")
            }
            (Target::File(path), Some(Err(e))) => {
                tracing::debug!("{}: {e}", path.display());
                page(404, "Not Found", TEXT, b"not found\n")
            }
            (Target::File(_), None) | (Target::NotFound, _) => {
                page(404, "Not Found", TEXT, b"not found\n")
            }
        }
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        let mut headers = page_headers(self.content_type);
        if let Some(to) = &self.location {
            headers.push(("Location", to));
        }
        headers
    }
}

fn page_headers(content_type: &str) -> Vec<(&str, &str)> {
    vec![
        ("Content-Type", content_type),
        ("Cache-Control", "no-cache"),
        ("X-Content-Type-Options", "nosniff"),
        ("Server", "hybi"),
    ]
}

/// The media type for a file name's extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "pdf" => "application/pdf",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

/// What `hybi serve` accepts TLS connections with.
#[cfg(feature = "tls")]
pub type Acceptor = hybi::tls::TlsAcceptor;
/// What `hybi serve` accepts TLS connections with (never built without the `tls` feature).
#[cfg(not(feature = "tls"))]
pub type Acceptor = NoTls;

/// The TLS acceptor for `--tls-cert` and `--tls-key`, if given.
#[cfg(feature = "tls")]
pub fn tls_acceptor(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> io::Result<Option<hybi::tls::TlsAcceptor>> {
    match (cert, key) {
        (Some(cert), Some(key)) => hybi::tls::acceptor_from_pem_files(cert, key).map(Some),
        _ => Ok(None),
    }
}

/// Without the `tls` feature: an error when TLS is asked for.
#[cfg(not(feature = "tls"))]
pub fn tls_acceptor(cert: Option<&Path>, _key: Option<&Path>) -> io::Result<Option<NoTls>> {
    match cert {
        Some(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "--tls-cert: this hybi was built without the `tls` feature",
        )),
        None => Ok(None),
    }
}

/// Stands in for the TLS acceptor when the `tls` feature is off (never built).
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub enum NoTls {}

#[cfg(not(feature = "tls"))]
impl NoTls {
    pub async fn accept(&self, _tcp: tokio::net::TcpStream) -> io::Result<tokio::net::TcpStream> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_site() -> (PathBuf, Site) {
        let dir = std::env::temp_dir().join(format!(
            "hybi-web-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("www/sub")).unwrap();
        std::fs::write(dir.join("www/app.js"), "1").unwrap();
        std::fs::write(dir.join("www/sub/index.html"), "<p>sub</p>").unwrap();
        std::fs::write(dir.join("www/.secret"), "no").unwrap();
        std::fs::write(dir.join("outside.txt"), "no").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("outside.txt"), dir.join("www/escape")).unwrap();
            std::os::unix::fs::symlink(dir.join("www/app.js"), dir.join("www/inside")).unwrap();
        }
        let site = Site::new(Some(&dir.join("www"))).unwrap();
        (dir, site)
    }

    #[test]
    fn resolves_inside_the_root_only() {
        let (dir, site) = temp_site();
        let root = dir.join("www").canonicalize().unwrap();
        assert_eq!(site.resolve("/app.js"), Target::File(root.join("app.js")));
        assert_eq!(
            site.resolve("/app.js?v=1"),
            Target::File(root.join("app.js"))
        );
        assert_eq!(site.resolve("/%61pp.js"), Target::File(root.join("app.js")));
        assert_eq!(
            site.resolve("//./app.js"),
            Target::File(root.join("app.js"))
        );
        assert_eq!(site.resolve("/sub"), Target::Redirect("/sub/".into()));
        assert_eq!(
            site.resolve("/sub/"),
            Target::File(root.join("sub/index.html"))
        );
        // no index.html at the root: the demo page
        assert_eq!(site.resolve("/"), Target::Demo);
        for bad in [
            "/../outside.txt",
            "/sub/../../outside.txt",
            "/%2e%2e/outside.txt",
            "/%2E%2E%2Foutside.txt",
            "/sub/..%2f..%2foutside.txt",
            "/..%5coutside.txt",
            "/.secret",
            "/escape",
            "/missing.html",
            "/app.js%00.html",
            "/%zz",
            "relative",
        ] {
            assert_eq!(site.resolve(bad), Target::NotFound, "{bad}");
        }
        #[cfg(unix)]
        assert_eq!(site.resolve("/inside"), Target::File(root.join("app.js")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn demo_only_without_a_directory() {
        let site = Site::new(None).unwrap();
        assert_eq!(site.resolve("/"), Target::Demo);
        assert_eq!(site.resolve("/?x"), Target::Demo);
        assert_eq!(site.resolve("/index.html"), Target::Demo);
        assert_eq!(site.resolve("/etc/passwd"), Target::NotFound);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("a/b.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
