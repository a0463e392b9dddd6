//! Every handshake proposal hybi speaks, and how one server port tells them apart.
//!
//! Adding a proposal is one module under [`crate::handshake`] plus one arm here in each
//! `match`: the compiler lists every place that needs it.

use std::fmt;
use std::str::FromStr;

use crate::error::HandshakeError;
use crate::http::Request;

/// An opening-handshake proposal (with the framing that goes with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// draft-hixie-thewebsocketprotocol-75 (Feb 2010): no key, sentinel frames.
    Hixie75,
    /// draft-hixie-thewebsocketprotocol-76 = draft-ietf-hybi-thewebsocketprotocol-00
    /// (May 2010): Key1/Key2/key3, MD5 answer, sentinel frames with `FF 00` close.
    Hixie76,
    /// HyBi-01..03 (Aug–Oct 2010): the -00 handshake plus `Sec-WebSocket-Draft`, the first
    /// binary framing (MORE bit, opcodes 0–5), unmasked.
    Hybi03,
    /// HyBi-04 (Jan 2011): Sec-WebSocket-Key/Accept + server nonce, SHA-1 derived 20-byte
    /// masks covering the whole frame.
    Hybi04,
    /// HyBi-05 (Feb 2011): 4-byte key in front of a fully masked frame.
    Hybi05,
    /// HyBi-06 (Feb 2011): as -05, close body carries a status code.
    Hybi06,
    /// HyBi-07 (Apr 2011): the RFC 6455 frame layout, `Sec-WebSocket-Version: 7`.
    Hybi07,
    /// HyBi-08..-12 (Jun–Aug 2011): `Sec-WebSocket-Version: 8`.
    Hybi08,
    /// RFC 6455 (Dec 2011) = HyBi-13..-17, `Sec-WebSocket-Version: 13`.
    Rfc6455,
    /// Upgrade + HELLO frames (Montenegro/Wilkins, reconstructed).
    Hello,
    /// CONNECT websocket.invalid + AES-128-CTR masking (Rescorla/Barth).
    ConnectMasked,
    /// CONNECT websocket.invalid without masking (Fette, reconstructed).
    Connect,
    /// Upgrade followed by CONNECT (Cridland, reconstructed).
    UpgradeConnect,
    /// The POST strawman measured by Huang et al. 2011.
    Post,
}

impl Variant {
    /// Every variant, oldest first.
    pub const ALL: [Variant; 14] = [
        Variant::Hixie75,
        Variant::Hixie76,
        Variant::Hybi03,
        Variant::Hybi04,
        Variant::Hybi05,
        Variant::Hybi06,
        Variant::Hybi07,
        Variant::Hybi08,
        Variant::Rfc6455,
        Variant::Hello,
        Variant::ConnectMasked,
        Variant::Connect,
        Variant::UpgradeConnect,
        Variant::Post,
    ];

    /// What `hybi serve` enables when no `--variants` is given.
    pub const DEFAULT_SERVER: [Variant; 3] = [Variant::Rfc6455, Variant::Hybi08, Variant::Hybi07];

    /// The kebab-case name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Hixie75 => "hixie-75",
            Variant::Hixie76 => "hixie-76",
            Variant::Hybi03 => "hybi-03",
            Variant::Hybi04 => "hybi-04",
            Variant::Hybi05 => "hybi-05",
            Variant::Hybi06 => "hybi-06",
            Variant::Hybi07 => "hybi-07",
            Variant::Hybi08 => "hybi-08",
            Variant::Rfc6455 => "rfc6455",
            Variant::Hello => "hello",
            Variant::ConnectMasked => "connect-masked",
            Variant::Connect => "connect",
            Variant::UpgradeConnect => "upgrade-connect",
            Variant::Post => "post",
        }
    }

    /// Other accepted names.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Variant::Hixie76 => &["hybi-00"],
            Variant::Rfc6455 => &["hybi-13"],
            _ => &[],
        }
    }

    /// The `Sec-WebSocket-Version` number the variant sends, if it has one.
    pub fn version_number(self) -> Option<u8> {
        match self {
            Variant::Hybi04 => Some(4),
            Variant::Hybi05 => Some(5),
            Variant::Hybi06 => Some(6),
            Variant::Hybi07 => Some(7),
            Variant::Hybi08 => Some(8),
            Variant::Rfc6455 => Some(13),
            _ => None,
        }
    }

    /// True for the drafts and proposals that never became the standard. Servers keep
    /// them off unless asked: they are weaker against the attacks the lab studies.
    pub fn is_legacy(self) -> bool {
        !matches!(self, Variant::Rfc6455 | Variant::Hybi08 | Variant::Hybi07)
    }

    /// True when nothing masks client-to-server payload bytes, so an attacker who
    /// chooses message contents chooses wire bytes (the Huang et al. precondition).
    pub fn attacker_controls_wire_bytes(self) -> bool {
        matches!(
            self,
            Variant::Hixie75
                | Variant::Hixie76
                | Variant::Hybi03
                | Variant::Connect
                | Variant::Post
        )
    }

    /// Tells the variant of a request from its head alone (VARIANTS.md §0).
    ///
    /// Order matters (docs/proposals/README.md, "One port"): the method first (CONNECT
    /// to websocket.invalid:443, POST with a key), then the 2011 proposals' marker header
    /// on a GET, then an explicit version number, then the Hixie-76 keys, then plain
    /// Hixie-75.
    pub fn detect(req: &Request) -> Result<Variant, HandshakeError> {
        let h = &req.headers;
        if req.method.eq_ignore_ascii_case("CONNECT") {
            return crate::handshake::connect::detect(req);
        }
        if req.method.eq_ignore_ascii_case("POST") {
            // docs/proposals/post.md: POST + Sec-WebSocket-Key + no Upgrade.
            return if h.contains("Sec-WebSocket-Key") && !h.contains("Upgrade") {
                Ok(Variant::Post)
            } else {
                Err(HandshakeError::UnknownVariant(
                    "POST without Sec-WebSocket-Key (or with Upgrade)".into(),
                ))
            };
        }
        if req.method != "GET" {
            return Err(HandshakeError::UnknownVariant(format!(
                "method {}",
                req.method
            )));
        }
        if let Some(v) = crate::handshake::proposal_marker(req)? {
            return Ok(v);
        }
        if let Some(version) = h.optional_str("Sec-WebSocket-Version")? {
            return match version {
                "4" => Ok(Variant::Hybi04),
                "5" => Ok(Variant::Hybi05),
                "6" => Ok(Variant::Hybi06),
                "7" => Ok(Variant::Hybi07),
                "8" => Ok(Variant::Hybi08),
                "13" => Ok(Variant::Rfc6455),
                other => Err(HandshakeError::InvalidHeader {
                    name: "Sec-WebSocket-Version",
                    reason: format!("unsupported version {other:?}"),
                }),
            };
        }
        if h.contains("Sec-WebSocket-Key1") || h.contains("Sec-WebSocket-Key2") {
            // HyBi-00 and -01 are indistinguishable; -02/-03 add Sec-WebSocket-Draft.
            return match h.optional_str("Sec-WebSocket-Draft")? {
                None | Some("0") | Some("1") => Ok(Variant::Hixie76),
                Some("2") | Some("3") => Ok(Variant::Hybi03),
                Some(other) => Err(HandshakeError::InvalidHeader {
                    name: "Sec-WebSocket-Draft",
                    reason: format!("unsupported draft {other:?}"),
                }),
            };
        }
        if h.contains("Sec-WebSocket-Key") {
            // HyBi-04 onwards always send a version; without one this is no draft we
            // know, and answering it as Hixie-75 would be wrong (RFC 6455 §4.4: 426).
            return Err(HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Version",
                reason: "missing (Sec-WebSocket-Key without a version)".into(),
            });
        }
        if h.has_token("Upgrade", "websocket") {
            return Ok(Variant::Hixie75);
        }
        Err(HandshakeError::UnknownVariant(
            "GET without a WebSocket upgrade".into(),
        ))
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown variant name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownVariantName(pub String);

impl fmt::Display for UnknownVariantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
        write!(
            f,
            "unknown handshake variant {:?}; known: {} (aliases: hybi-00, hybi-13), or all",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownVariantName {}

impl FromStr for Variant {
    type Err = UnknownVariantName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Variant::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s) || v.aliases().contains(&s))
            .ok_or_else(|| UnknownVariantName(s.to_owned()))
    }
}

/// Parses a comma-separated list of variant names, or `all`.
pub fn parse_list(list: &str) -> Result<Vec<Variant>, UnknownVariantName> {
    if list.trim().eq_ignore_ascii_case("all") {
        return Ok(Variant::ALL.to_vec());
    }
    let mut out = Vec::new();
    for name in list.split(',').filter(|s| !s.trim().is_empty()) {
        let v: Variant = name.parse()?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Request {
        match crate::http::HeadReader::default()
            .feed_request(text.as_bytes(), &crate::Limits::default())
            .unwrap()
        {
            crate::http::HeadProgress::Complete { head, .. } => head,
            crate::http::HeadProgress::Partial => panic!("partial head"),
        }
    }

    #[test]
    fn detects_every_legacy_draft() {
        let base = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n";
        let keyed = "Sec-WebSocket-Key1: 1 1\r\nSec-WebSocket-Key2: 2 2\r\n";
        let cases = [
            ("", Ok(Variant::Hixie75)),
            (keyed, Ok(Variant::Hixie76)),
            (
                &format!("{keyed}Sec-WebSocket-Draft: 0\r\n"),
                Ok(Variant::Hixie76),
            ),
            (
                &format!("{keyed}Sec-WebSocket-Draft: 2\r\n"),
                Ok(Variant::Hybi03),
            ),
            (
                &format!("{keyed}Sec-WebSocket-Draft: 3\r\n"),
                Ok(Variant::Hybi03),
            ),
            (
                "Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 4\r\n",
                Ok(Variant::Hybi04),
            ),
            (
                "Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 5\r\n",
                Ok(Variant::Hybi05),
            ),
            (
                "Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 6\r\n",
                Ok(Variant::Hybi06),
            ),
            (
                &format!("{keyed}Sec-WebSocket-Draft: 4\r\n"),
                Err("Sec-WebSocket-Draft"),
            ),
            ("Sec-WebSocket-Key: x\r\n", Err("Sec-WebSocket-Version")),
        ];
        for (extra, expected) in cases {
            let got = Variant::detect(&head(&format!("{base}{extra}\r\n")));
            match expected {
                Ok(v) => assert_eq!(got, Ok(v), "{extra}"),
                Err(field) => assert!(
                    matches!(got, Err(HandshakeError::InvalidHeader { name, .. }) if name == field),
                    "{extra}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), v);
        }
        assert_eq!("hybi-00".parse::<Variant>().unwrap(), Variant::Hixie76);
        assert_eq!("hybi-13".parse::<Variant>().unwrap(), Variant::Rfc6455);
        assert!("hybi-99".parse::<Variant>().is_err());
        assert_eq!(parse_list("all").unwrap().len(), Variant::ALL.len());
    }
}
