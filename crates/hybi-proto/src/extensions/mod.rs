//! WebSocket extensions (RFC 6455 §9): the `Sec-WebSocket-Extensions` grammar, and the
//! one extension hybi speaks, permessage-deflate (RFC 7692), in [`deflate`].
//!
//! ```text
//! Sec-WebSocket-Extensions = extension-list            (may be split over several fields)
//! extension-list  = 1#extension                        (commas, optional whitespace, empty
//!                                                       elements ignored, RFC 9110 §5.6.1)
//! extension       = token *( ";" extension-param )
//! extension-param = token [ "=" ( token / quoted-string ) ]
//! ```
//!
//! A quoted value must still be a token once unescaped (§9.1), so `x="10"` means `x=10`.
//! Names are compared case-insensitively (they are stored lowercased).
//!
//! The handshake modules only call [`server_response`] (server) and
//! [`client_offer`]/[`client_accept`] (client); everything about parameters lives here.

use crate::error::HandshakeError;
use crate::http::Headers;

pub mod deflate;

pub use deflate::{DeflateConfig, DeflateParams, Negotiated};

/// The header field this module reads and writes.
pub const HEADER: &str = "Sec-WebSocket-Extensions";

/// One element of an extension list: a name and its parameters, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// Extension token, lowercased.
    pub name: String,
    /// Parameters in the order sent; names lowercased, values unescaped (`None`: no `=`).
    pub params: Vec<(String, Option<String>)>,
}

impl Extension {
    /// Renders the element (`name; a; b=1`).
    pub fn render(&self) -> String {
        let mut s = self.name.clone();
        for (n, v) in &self.params {
            s.push_str("; ");
            s.push_str(n);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        s
    }
}

/// What the handshake agreed about extensions, kept in [`crate::Session::extensions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extensions {
    /// The `Sec-WebSocket-Extensions` value of the response, as sent or received.
    pub header: String,
    /// permessage-deflate, as it applies to this end.
    pub deflate: Option<Negotiated>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// True when `s` is a non-empty RFC 9110 token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn token(&mut self, what: &str) -> Result<String, String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if start == self.i {
            return Err(match self.peek() {
                Some(b) => format!("expected {what} at byte {}, found {:?}", self.i, b as char),
                None => format!("expected {what} at the end"),
            });
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// A quoted-string, unescaped (the opening quote is at the cursor).
    fn quoted(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted-string".into()),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b) if b == b'\t' || b >= 0x20 && b != 0x7f => out.push(b),
                        _ => return Err("bad quoted-pair".into()),
                    }
                    self.i += 1;
                }
                Some(b) if b == b'\t' || b >= 0x20 && b != 0x7f => {
                    out.push(b);
                    self.i += 1;
                }
                Some(b) => return Err(format!("control byte {b:#04x} in quoted-string")),
            }
        }
        let s = String::from_utf8_lossy(&out).into_owned();
        if !is_token(&s) {
            return Err(format!("quoted value {s:?} is not a token (RFC 6455 §9.1)"));
        }
        Ok(s)
    }
}

/// Parses one `Sec-WebSocket-Extensions` field value, appending its elements to `into`.
pub fn parse_value(value: &str, into: &mut Vec<Extension>) -> Result<(), String> {
    let mut c = Cursor {
        s: value.as_bytes(),
        i: 0,
    };
    loop {
        c.skip_ows();
        match c.peek() {
            None => return Ok(()),
            Some(b',') => {
                c.i += 1; // empty list element
                continue;
            }
            Some(_) => {}
        }
        let name = c.token("an extension name")?.to_ascii_lowercase();
        let mut params = Vec::new();
        loop {
            c.skip_ows();
            match c.peek() {
                None | Some(b',') => break,
                Some(b';') => c.i += 1,
                Some(b) => {
                    return Err(format!(
                        "expected ';' or ',' at byte {}, found {:?}",
                        c.i, b as char
                    ))
                }
            }
            c.skip_ows();
            let pname = c.token("a parameter name")?.to_ascii_lowercase();
            c.skip_ows();
            let value = if c.peek() == Some(b'=') {
                c.i += 1;
                c.skip_ows();
                if c.peek() == Some(b'"') {
                    Some(c.quoted()?)
                } else {
                    Some(c.token("a parameter value")?)
                }
            } else {
                None
            };
            params.push((pname, value));
        }
        into.push(Extension { name, params });
    }
}

/// Every element of every `Sec-WebSocket-Extensions` field of `headers`, in order.
pub fn parse_headers(headers: &Headers) -> Result<Vec<Extension>, HandshakeError> {
    let mut out = Vec::new();
    for (n, v) in headers.raw() {
        if !n.eq_ignore_ascii_case(HEADER.as_bytes()) {
            continue;
        }
        let v = std::str::from_utf8(v).map_err(|_| HandshakeError::InvalidHeader {
            name: HEADER,
            reason: "not UTF-8".into(),
        })?;
        parse_value(v, &mut out).map_err(|reason| HandshakeError::InvalidHeader {
            name: HEADER,
            reason,
        })?;
    }
    Ok(out)
}

/// Server side: the extensions to accept from the request's offers under `config`, or
/// `None` when nothing is accepted (no header field in the response then). A
/// syntactically broken header is refused (400); offers this server cannot or must not
/// accept are declined one by one (RFC 7692 §7.1).
pub fn server_response(
    config: Option<&DeflateConfig>,
    request: &Headers,
) -> Result<Option<Extensions>, HandshakeError> {
    let Some(config) = config else {
        return Ok(None);
    };
    let offers = parse_headers(request)?;
    Ok(
        deflate::server_accept(config, &offers).map(|(negotiated, answer)| Extensions {
            header: answer.render(),
            deflate: Some(negotiated),
        }),
    )
}

/// Client side: the `Sec-WebSocket-Extensions` value to offer, if any.
pub fn client_offer(config: Option<&DeflateConfig>) -> Option<String> {
    config.map(|c| deflate::client_offer(c).render())
}

/// Client side: checks the response's extensions against what was offered (RFC 6455
/// §4.1: nothing that was not offered; RFC 7692 §7.1: only valid, acceptable parameters).
pub fn client_accept(
    config: Option<&DeflateConfig>,
    response: &Headers,
) -> Result<Option<Extensions>, HandshakeError> {
    let items = parse_headers(response)?;
    if items.is_empty() {
        return Ok(None);
    }
    let header = items
        .iter()
        .map(Extension::render)
        .collect::<Vec<_>>()
        .join(", ");
    let unrequested = || HandshakeError::UnrequestedNegotiation(format!("extensions {header:?}"));
    let Some(config) = config else {
        return Err(unrequested());
    };
    if items.len() > 1 || items[0].name != deflate::NAME {
        return Err(unrequested());
    }
    let negotiated = deflate::client_verify(config, &items[0]).map_err(|reason| {
        HandshakeError::UnrequestedNegotiation(format!("permessage-deflate: {reason}"))
    })?;
    Ok(Some(Extensions {
        header,
        deflate: Some(negotiated),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Extension>, String> {
        let mut v = Vec::new();
        parse_value(s, &mut v).map(|_| v)
    }

    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> Extension {
        Extension {
            name: name.into(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    #[test]
    fn grammar_accepts() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse(" , ,").unwrap(), vec![]);
        assert_eq!(
            parse("permessage-deflate").unwrap(),
            vec![ext("permessage-deflate", &[])]
        );
        assert_eq!(
            parse(
                "Permessage-Deflate ;client_max_window_bits; server_max_window_bits = \"10\" ,\
                 x-webkit-deflate-frame,, foo; a=b;c"
            )
            .unwrap(),
            vec![
                ext(
                    "permessage-deflate",
                    &[
                        ("client_max_window_bits", None),
                        ("server_max_window_bits", Some("10"))
                    ]
                ),
                ext("x-webkit-deflate-frame", &[]),
                ext("foo", &[("a", Some("b")), ("c", None)]),
            ]
        );
        // quoted-pair unescapes to a token
        assert_eq!(
            parse(r#"e; p="1\5""#).unwrap(),
            vec![ext("e", &[("p", Some("15"))])]
        );
    }

    #[test]
    fn grammar_refuses() {
        for bad in [
            ";a",
            "e;",
            "e; =1",
            "e; p=",
            "e; p=\"1",
            "e; p=\"a b\"",
            "e; p=\"\"",
            "e p",
            "e; p q",
            "e; p=1 2",
            "e@",
            "\"e\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn several_fields_concatenate() {
        let h: Headers = [
            ("Sec-WebSocket-Extensions", "a; x"),
            ("Other", "z"),
            ("sec-websocket-extensions", "b, c"),
        ]
        .into_iter()
        .collect();
        let names: Vec<String> = parse_headers(&h)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(
            ext("a", &[("x", None), ("y", Some("9"))]).render(),
            "a; x; y=9"
        );
    }
}
