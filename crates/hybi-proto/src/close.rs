//! Close codes and close-frame bodies (RFC 6455 §5.5.1, §7.4).

use crate::error::ProtocolError;

/// A close status code (RFC 6455 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: endpoint going away.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: data of a type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed abnormally, without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: payload inconsistent with the message type (invalid UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: message too big.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: a mandatory extension was not negotiated (client only).
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: unexpected condition (server).
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// May this code appear in a close frame on the wire? (§7.4.1, §7.4.2: 1000–1003,
    /// 1007–1011 defined; 1004–1006 and 1015 reserved; 1012–1014 registered later by IANA
    /// and accepted by every current stack; 3000–4999 for libraries and applications.)
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The body of a close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// Status code ([`CloseCode::NO_STATUS`] when the frame had no body).
    pub code: CloseCode,
    /// UTF-8 reason, at most 123 bytes on the wire.
    pub reason: String,
}

impl CloseFrame {
    /// A close frame with a code and reason.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }

    /// Parses and validates a received close body (§5.5.1: empty, or 2-byte code + UTF-8).
    pub fn parse(body: &[u8]) -> Result<CloseFrame, ProtocolError> {
        match body.len() {
            0 => Ok(CloseFrame::new(CloseCode::NO_STATUS, "")),
            1 => Err(ProtocolError::BadCloseFrame("1-byte body".into())),
            _ => {
                let code = CloseCode(u16::from_be_bytes([body[0], body[1]]));
                if !code.is_sendable() {
                    return Err(ProtocolError::BadCloseFrame(format!(
                        "code {code} may not be sent"
                    )));
                }
                let reason = std::str::from_utf8(&body[2..])
                    .map_err(|_| ProtocolError::InvalidUtf8)?
                    .to_owned();
                Ok(CloseFrame { code, reason })
            }
        }
    }

    /// The wire body: empty for [`CloseCode::NO_STATUS`], else code + reason (truncated
    /// on a character boundary to fit the 125-byte control-frame limit).
    pub fn encode(&self, out: &mut Vec<u8>) {
        if self.code == CloseCode::NO_STATUS {
            return;
        }
        out.extend_from_slice(&self.code.0.to_be_bytes());
        let mut end = self.reason.len().min(123);
        while !self.reason.is_char_boundary(end) {
            end -= 1;
        }
        out.extend_from_slice(&self.reason.as_bytes()[..end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_codes_are_rejected() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let body = code.to_be_bytes();
            assert!(CloseFrame::parse(&body).is_err(), "{code}");
        }
        for code in [1000u16, 1001, 1002, 1003, 1007, 1011, 3000, 4999] {
            assert!(CloseFrame::parse(&code.to_be_bytes()).is_ok(), "{code}");
        }
    }

    #[test]
    fn one_byte_body_and_bad_reason() {
        assert!(CloseFrame::parse(&[0x03]).is_err());
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, 0xff]),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn masked_close_vector() {
        // VARIANTS.md §7: masked close 1000 with key 37fa213d = 88 82 37 fa 21 3d 34 12.
        let mut body = Vec::new();
        CloseFrame::new(CloseCode::NORMAL, "").encode(&mut body);
        crate::mask::apply_mask(&mut body, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(body, [0x34, 0x12]);
    }
}
