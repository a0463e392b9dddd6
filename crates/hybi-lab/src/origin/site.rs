//! Servers that run a [`Subject`]'s server side: the attacker's multiplexing site and an honest echo server.

use std::io;
use std::sync::Arc;

use super::{serve, serve_http, Kind, Role, Server, SERVER_IDLE};
use crate::http::{Conn, HeadError};
use crate::subject::{Accepted, Subject};
use crate::util::Prefixed;

/// Starts the attacker's site for `subject`: one port that serves the subject's handshake to requests the
/// subject [recognises](Subject::recognizes) and the attacker's web server ([`Role::Attacker`]) to the rest.
/// After a completed handshake it reads the connection itself: whatever parses as HTTP requests is answered
/// with the attacker's script (this server belongs to the attacker), anything else is recorded as opaque
/// bytes. Log records: `Handshake`, `Request { on_upgraded }`, `Bytes`.
pub async fn start_attacker_site(subject: Arc<dyn Subject>) -> io::Result<Server> {
    serve("attacker-site", move |s, peer, id, log| {
        let subject = subject.clone();
        async move {
            let mut conn = Conn::new(s);
            let head = match conn.read_request_head(SERVER_IDLE).await {
                Ok(h) => h,
                Err(HeadError::Malformed { bytes, .. })
                | Err(HeadError::Eof { partial: bytes }) => {
                    if !bytes.is_empty() {
                        log.push(id, peer, Kind::Bytes(bytes));
                    }
                    return;
                }
                Err(_) => return,
            };
            let mut prefix = head.raw.clone();
            prefix.append(&mut conn.buf);
            if !subject.recognizes(&head.raw) {
                let mut c = Conn::new(conn.io);
                c.buf = prefix;
                serve_http(c, Role::Attacker, peer, id, &log, false).await;
                return;
            }
            let accepted = subject
                .accept(Box::new(Prefixed::new(prefix, conn.io)))
                .await;
            let result = accepted.describe();
            match accepted {
                Accepted::Open(up) => {
                    log.push(
                        id,
                        peer,
                        Kind::Handshake {
                            request: up.request.clone(),
                            result,
                        },
                    );
                    let mut c = Conn::new(up.io);
                    c.buf = up.leftover;
                    serve_http(c, Role::Attacker, peer, id, &log, true).await;
                }
                Accepted::Refused { request, .. } | Accepted::Failed { request, .. } => {
                    log.push(id, peer, Kind::Handshake { request, result });
                }
            }
        }
    })
    .await
}

/// Starts an honest server for `subject`: handshake, then echo every message. Log records: `Handshake`,
/// `Message` per echoed message, `End`.
pub async fn start_ws_server(subject: Arc<dyn Subject>) -> io::Result<Server> {
    let name = format!("ws-{}", subject.name());
    serve(&name, move |s, peer, id, log| {
        let subject = subject.clone();
        async move {
            let accepted = subject.accept(Box::new(s)).await;
            let result = accepted.describe();
            match accepted {
                Accepted::Open(up) => {
                    log.push(
                        id,
                        peer,
                        Kind::Handshake {
                            request: up.request.clone(),
                            result,
                        },
                    );
                    let report = subject.echo(up, SERVER_IDLE).await;
                    for m in report.messages {
                        log.push(id, peer, Kind::Message(m));
                    }
                    log.push(id, peer, Kind::End(format!("{:?}", report.end)));
                }
                Accepted::Refused { request, .. } | Accepted::Failed { request, .. } => {
                    log.push(id, peer, Kind::Handshake { request, result });
                }
            }
        }
    })
    .await
}
