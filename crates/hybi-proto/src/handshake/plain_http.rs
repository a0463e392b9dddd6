//! Telling an ordinary HTTP request (a browser fetching a page on the WebSocket port) from
//! a handshake, so that a server can serve both on one port without loosening the
//! handshake checks: only a request that claims no WebSocket feature at all qualifies.

use crate::error::HandshakeError;
use crate::http::Request;

/// True when `req`, refused with `error`, is a plain `GET`/`HEAD`: detection found no
/// variant (`UnknownVariant`), and the head carries no `Upgrade`, no `Sec-WebSocket-*`
/// field and no body.
pub(super) fn is_plain(req: &Request, error: &HandshakeError) -> bool {
    if !matches!(error, HandshakeError::UnknownVariant(_)) {
        return false;
    }
    if req.method != "GET" && req.method != "HEAD" {
        return false;
    }
    let h = &req.headers;
    if h.contains("Upgrade") || h.contains("Transfer-Encoding") {
        return false;
    }
    if let Some(len) = h.get("Content-Length") {
        if len.trim_ascii() != b"0" {
            return false;
        }
    }
    !h.raw()
        .any(|(name, _)| name.len() >= 14 && name[..14].eq_ignore_ascii_case(b"sec-websocket-"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::handshake::{ServerConfig, ServerHandshake};
    use crate::Variant;

    fn refused(head: &str) -> (ServerHandshake, bool) {
        let mut hs = ServerHandshake::with_seed(Arc::new(ServerConfig::default()), [7; 32]);
        let failed = hs.receive_data(head.as_bytes()).is_err();
        (hs, failed)
    }

    #[test]
    fn a_page_request_is_handed_over() {
        for head in [
            "GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n",
            "HEAD /app.js HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /a HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        ] {
            let (mut hs, failed) = refused(head);
            assert!(failed, "{head:?}");
            assert!(!hs.pending_output().is_empty());
            let req = hs.take_plain_http_request().expect(head);
            assert!(req.method == "GET" || req.method == "HEAD");
            assert!(hs.pending_output().is_empty(), "the 400 is dropped");
            assert!(hs.take_plain_http_request().is_none(), "taken once");
        }
    }

    #[test]
    fn broken_handshakes_are_still_refused() {
        for head in [
            // malformed head: no request at all
            "GET / HTTP/1.1\r\nHost x\r\n\r\n",
            // an upgrade whose checks fail
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
            // a version without Upgrade (detected as RFC 6455, refused by its checks)
            "GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            // WebSocket fields without an upgrade
            "GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            // an Upgrade to something else
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
            // a GET with a body
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            // other methods
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: x\r\n\r\n",
            // a legacy handshake the policy disables
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n",
        ] {
            let (mut hs, failed) = refused(head);
            assert!(failed, "{head:?}");
            assert!(hs.take_plain_http_request().is_none(), "{head:?}");
            assert!(
                hs.pending_output().starts_with(b"HTTP/1.1 4"),
                "{head:?} keeps its refusal"
            );
        }
    }

    #[test]
    fn accepted_handshakes_are_untouched() {
        let mut hs = ServerHandshake::with_seed(Arc::new(ServerConfig::default()), [7; 32]);
        let head = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        assert!(hs.receive_data(head.as_bytes()).is_ok());
        assert!(hs.take_plain_http_request().is_none());
        assert_eq!(hs.variant(), Some(Variant::Rfc6455));
    }
}
