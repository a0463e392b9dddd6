//! TLS for `wss://` clients and for servers, with rustls (the *ring* provider). Feature `tls`.
//!
//! Client: [`crate::connect_with`] wraps the TCP stream (or proxy tunnel) in TLS when the
//! URL is `wss://`, with [`WebSocketConfig::tls`](crate::WebSocketConfig::tls) or, when that
//! is `None`, a connector trusting the Mozilla root store (`webpki-roots`). A private CA is
//! added with [`TlsConnector::with_ca_pem`] / [`TlsConnector::with_ca_file`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), hybi::Error> {
//! use hybi::{tls::TlsConnector, ClientOptions, Variant, WebSocketConfig};
//! let opts = ClientOptions::from_url("wss://localhost:9443/", Variant::Rfc6455)?;
//! let config = WebSocketConfig {
//!     tls: Some(TlsConnector::webpki_roots().with_ca_file("ca.pem")?),
//!     ..WebSocketConfig::default()
//! };
//! let ws = hybi::connect_with(&opts, config).await?;
//! # Ok(()) }
//! ```
//!
//! Server: build a [`TlsAcceptor`] with [`acceptor_from_pem_files`] and hand each accepted
//! TLS stream to [`Server::accept`](crate::Server::accept) (any `AsyncRead + AsyncWrite`).

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};

pub use rustls;
pub use tokio_rustls::client::TlsStream as ClientTlsStream;
pub use tokio_rustls::server::TlsStream as ServerTlsStream;
pub use tokio_rustls::TlsAcceptor;

/// The ALPN protocol both ends offer: WebSocket handshakes are HTTP/1.1.
const ALPN_HTTP11: &[u8] = b"http/1.1";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Client-side TLS settings for `wss://`: which certificate authorities are trusted.
/// Cheap to clone.
#[derive(Clone)]
pub struct TlsConnector {
    /// The trusted authorities, unless the configuration came from the caller.
    roots: Option<RootCertStore>,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("roots", &self.roots.as_ref().map(RootCertStore::len))
            .finish_non_exhaustive()
    }
}

impl Default for TlsConnector {
    /// Same as [`TlsConnector::webpki_roots`].
    fn default() -> Self {
        TlsConnector::webpki_roots()
    }
}

impl TlsConnector {
    /// Trusts the Mozilla root store (the `webpki-roots` crate). Built once per process.
    pub fn webpki_roots() -> Self {
        static SHARED: OnceLock<TlsConnector> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                TlsConnector::with_roots(roots)
            })
            .clone()
    }

    /// Trusts exactly `roots` (start from [`RootCertStore::empty`] to trust only a
    /// private CA).
    pub fn with_roots(roots: RootCertStore) -> Self {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        let mut connector = TlsConnector {
            roots: Some(roots),
            config: Arc::new(config),
        };
        connector.set_alpn();
        connector
    }

    /// Trusts none: add authorities with [`TlsConnector::with_ca_pem`].
    pub fn empty() -> Self {
        TlsConnector::with_roots(RootCertStore::empty())
    }

    /// Uses a rustls configuration as is (client certificates, custom verifiers, other
    /// providers), ALPN list included. The `with_ca_*` methods refuse such a connector:
    /// add authorities to the configuration itself.
    pub fn from_config(config: Arc<ClientConfig>) -> Self {
        TlsConnector {
            roots: None,
            config,
        }
    }

    fn set_alpn(&mut self) {
        Arc::make_mut(&mut self.config).alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    }

    /// Also trusts every certificate in `pem` (one or more `CERTIFICATE` blocks).
    pub fn with_ca_pem(self, pem: &[u8]) -> io::Result<Self> {
        let Some(mut roots) = self.roots.clone() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "this TlsConnector wraps a caller's rustls configuration: add the CA there",
            ));
        };
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| invalid(format!("CA certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| invalid(format!("CA certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(invalid("no PEM CERTIFICATE block in the CA data"));
        }
        Ok(TlsConnector::with_roots(roots))
    }

    /// Also trusts every certificate in the PEM file at `path`.
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        self.with_ca_pem(&pem)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    /// The rustls configuration in use.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the TLS handshake over `io` for `host` (a DNS name or an IP address,
    /// IPv6 with or without brackets), checking the certificate against it.
    pub async fn connect<S>(&self, host: &str, io: S) -> io::Result<ClientTlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(bare.to_owned())
            .map_err(|e| invalid(format!("TLS server name {host:?}: {e}")))?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, io)
            .await
    }
}

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1). Offers ALPN `http/1.1`.
pub fn server_config_from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(cert_chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no PEM CERTIFICATE block in the certificate data"));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid(format!("key: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// A [`TlsAcceptor`] from a PEM certificate chain file and a PEM key file.
pub fn acceptor_from_pem_files(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> io::Result<TlsAcceptor> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    let (cert_chain, key) = (cert_chain.as_ref(), key.as_ref());
    let config = server_config_from_pem(&read(cert_chain)?, &read(key)?)?;
    Ok(TlsAcceptor::from(config))
}
