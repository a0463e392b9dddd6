//! Streaming UTF-8 validation, failing fast.
//!
//! RFC 6455 §8.1 says an endpoint that receives invalid UTF-8 in a text message must fail
//! the connection; Autobahn (cases 6.4.*) checks that this happens as soon as the bad
//! byte arrives, even mid-frame. The validator keeps only the offset up to which the
//! buffer is known valid, so a code point split across fragments or reads is re-checked
//! once, when its remaining bytes arrive. simdutf8 does the work at SIMD speed.
//!
//! This is the crate's one audited `unsafe` site: turning a buffer already validated here
//! into a `String` without validating it a second time.

/// Tracks how much of a growing text buffer is known to be valid UTF-8.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    valid_up_to: usize,
}

/// Result of feeding more bytes to a [`Utf8Validator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Utf8State {
    /// Everything so far is valid (possibly ending inside a code point that may still be
    /// completed).
    Ok,
    /// The buffer cannot be completed into valid UTF-8.
    Invalid,
}

impl Utf8Validator {
    /// Validates `buf[self.valid_up_to..]`; `buf` must be the same buffer as before,
    /// grown at the end.
    pub fn feed(&mut self, buf: &[u8]) -> Utf8State {
        let tail = &buf[self.valid_up_to..];
        match simdutf8::compat::from_utf8(tail) {
            Ok(_) => {
                self.valid_up_to = buf.len();
                Utf8State::Ok
            }
            Err(e) => {
                if e.error_len().is_some() {
                    return Utf8State::Invalid;
                }
                // Incomplete code point at the end: valid so far, unless the partial
                // sequence is already longer than any code point could be (it cannot:
                // simdutf8 reports error_len for that).
                self.valid_up_to += e.valid_up_to();
                Utf8State::Ok
            }
        }
    }

    /// True when the whole buffer of length `len` was validated (no partial code point at
    /// the end): the message may end here.
    pub fn is_complete(&self, len: usize) -> bool {
        self.valid_up_to == len
    }

    /// Forget all state (a new message starts).
    pub fn reset(&mut self) {
        self.valid_up_to = 0;
    }
}

/// Converts a buffer that a [`Utf8Validator`] fed with exactly this buffer reported
/// complete into a `String`, without validating it again.
pub(crate) fn into_string_validated(buf: Vec<u8>, validator: &Utf8Validator) -> String {
    assert!(validator.is_complete(buf.len()));
    debug_assert!(std::str::from_utf8(&buf).is_ok());
    // SAFETY: `validator` has checked every byte of `buf` with simdutf8 (each call to
    // `feed` validates from `valid_up_to` to the end and only advances `valid_up_to` over
    // bytes that form complete, valid code points), and the assert above ensures no
    // partial code point remains at the end.
    #[allow(unsafe_code)]
    unsafe {
        String::from_utf8_unchecked(buf)
    }
}

/// Validates a complete byte slice (close reasons, sentinel frames).
pub fn validate(buf: &[u8]) -> bool {
    simdutf8::basic::from_utf8(buf).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_code_point_is_accepted_when_completed() {
        let text = "κόσμε".as_bytes();
        for split in 0..text.len() {
            let mut buf = Vec::new();
            let mut v = Utf8Validator::default();
            buf.extend_from_slice(&text[..split]);
            assert_eq!(v.feed(&buf), Utf8State::Ok);
            buf.extend_from_slice(&text[split..]);
            assert_eq!(v.feed(&buf), Utf8State::Ok);
            assert!(v.is_complete(buf.len()));
        }
    }

    #[test]
    fn fails_fast_on_first_bad_byte() {
        // Autobahn 6.4.1: the invalid sequence arrives in the middle of the payload.
        let mut v = Utf8Validator::default();
        let buf = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80".to_vec();
        assert_eq!(v.feed(&buf), Utf8State::Invalid);
    }

    #[test]
    fn incomplete_end_is_not_complete() {
        let mut v = Utf8Validator::default();
        let buf = vec![0xe2, 0x82];
        assert_eq!(v.feed(&buf), Utf8State::Ok);
        assert!(!v.is_complete(buf.len()));
    }
}
