//! `connect_with` over TLS (a CA made with rcgen) and through proxies, in process: the TLS
//! acceptor helpers with `Server::accept`, custom and default trust, an HTTP CONNECT proxy
//! with basic authentication, and the handshake deadline covering a proxy that never answers.
#![cfg(feature = "tls")]

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hybi::proxy::{Proxy, ProxyConfig};
use hybi::tls::TlsConnector;
use hybi::{ClientOptions, Error, Message, Server, ServerConfig, Variant, WebSocketConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

struct Pki {
    ca: String,
    chain: String,
    key: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    Pki {
        ca: ca.pem(),
        chain: leaf.pem(),
        key: key.serialize_pem(),
    }
}

/// A TLS echo server (hybi's `Server` over the TLS acceptor helpers); returns its port.
async fn tls_echo_server(pki: &Pki) -> u16 {
    let config =
        hybi::tls::server_config_from_pem(pki.chain.as_bytes(), pki.key.as_bytes()).unwrap();
    let acceptor = hybi::tls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::new(ServerConfig {
        secure: true,
        ..ServerConfig::default()
    });
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, server) = (acceptor.clone(), server.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut ws) = server.accept(tls).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if matches!(msg, Message::Text(_) | Message::Binary(_))
                        && ws.send(msg).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    port
}

async fn echo_once(config: WebSocketConfig, url: &str) -> Result<(), Error> {
    let opts = ClientOptions::from_url(url, Variant::Rfc6455)?;
    let mut ws = hybi::connect_with(&opts, config).await?;
    assert!(ws.get_ref().is_tls());
    ws.send(Message::Text("secret hello".into())).await?;
    assert_eq!(
        ws.next().await.unwrap()?,
        Message::Text("secret hello".into())
    );
    ws.send(Message::Close(None)).await?;
    while let Some(m) = ws.next().await {
        m?;
    }
    Ok(())
}

#[tokio::test]
async fn wss_with_a_custom_ca() {
    timeout(LIMIT, async {
        let pki = pki();
        let port = tls_echo_server(&pki).await;
        let tls = TlsConnector::empty()
            .with_ca_pem(pki.ca.as_bytes())
            .unwrap();
        for host in ["localhost", "127.0.0.1"] {
            let config = WebSocketConfig {
                tls: Some(tls.clone()),
                ..WebSocketConfig::default()
            };
            echo_once(config, &format!("wss://{host}:{port}/"))
                .await
                .unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_default_roots_refuse_a_private_ca() {
    timeout(LIMIT, async {
        let pki = pki();
        let port = tls_echo_server(&pki).await;
        let err = echo_once(
            WebSocketConfig::default(),
            &format!("wss://localhost:{port}/"),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        // webpki roots plus the CA: accepted.
        let config = WebSocketConfig {
            tls: Some(
                TlsConnector::webpki_roots()
                    .with_ca_pem(pki.ca.as_bytes())
                    .unwrap(),
            ),
            ..WebSocketConfig::default()
        };
        echo_once(config, &format!("wss://localhost:{port}/"))
            .await
            .unwrap();
    })
    .await
    .unwrap();
}

/// A CONNECT proxy that wants `Proxy-Authorization: Basic base64(user:pass)`; counts tunnels.
async fn connect_proxy(expected_auth: &'static str) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap();
                let target = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split(' ').next())
                    .unwrap()
                    .to_string();
                let auth_ok = head
                    .lines()
                    .any(|l| l == format!("Proxy-Authorization: Basic {expected_auth}"));
                if !auth_ok {
                    let _ = client
                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (port, tunnels)
}

#[tokio::test]
async fn wss_through_an_http_connect_proxy_with_basic_auth() {
    timeout(LIMIT, async {
        let pki = pki();
        let port = tls_echo_server(&pki).await;
        // base64("hybi:pa ss")
        let (proxy_port, tunnels) = connect_proxy("aHliaTpwYSBzcw==").await;
        let tls = TlsConnector::empty()
            .with_ca_pem(pki.ca.as_bytes())
            .unwrap();
        let config = |proxy: &str| WebSocketConfig {
            tls: Some(tls.clone()),
            proxy: ProxyConfig::Use(Proxy::parse(proxy).unwrap()),
            ..WebSocketConfig::default()
        };
        let url = format!("wss://localhost:{port}/");
        echo_once(
            config(&format!("http://hybi:pa%20ss@127.0.0.1:{proxy_port}")),
            &url,
        )
        .await
        .unwrap();
        assert_eq!(tunnels.load(std::sync::atomic::Ordering::SeqCst), 1);
        let err = echo_once(config(&format!("http://127.0.0.1:{proxy_port}")), &url)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("407"), "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_handshake_deadline_covers_a_silent_proxy() {
    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                held.push(tcp); // accept, read nothing, answer nothing
            }
        });
        let opts = ClientOptions::from_url("ws://echo.invalid/", Variant::Rfc6455).unwrap();
        for proxy in [
            format!("http://127.0.0.1:{port}"),
            format!("socks5h://127.0.0.1:{port}"),
        ] {
            let config = WebSocketConfig {
                handshake_timeout: Duration::from_millis(300),
                proxy: ProxyConfig::Use(Proxy::parse(&proxy).unwrap()),
                ..WebSocketConfig::default()
            };
            let started = std::time::Instant::now();
            match hybi::connect_with(&opts, config).await {
                Err(Error::Timeout(_)) => {}
                other => panic!("{proxy}: {other:?}"),
            }
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    })
    .await
    .unwrap();
}
