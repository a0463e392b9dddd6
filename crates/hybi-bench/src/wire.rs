//! The little WebSocket wire handling our own clients need: a pre-built handshake request, masked
//! client frames, and an incremental scanner that counts complete messages in the server's
//! byte stream without copying payloads.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// An RFC 6455 (version 13) client handshake request. The key is fixed: the request is
/// pre-built once and sent unchanged, as load_test does.
pub fn rfc6455_request(addr: SocketAddr, path: &str) -> Vec<u8> {
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\
         \r\n"
    );
    s.into_bytes()
}

/// A complete, masked, FIN client frame carrying `payload`.
pub fn masked_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 14);
    out.push(0x80 | (opcode & 0x0f));
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    out
}

/// A binary message of `len` bytes as a masked client frame (payload bytes are arbitrary).
pub fn binary_message(len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    masked_frame(0x2, &payload, [0x1f, 0x2e, 0x3d, 0x4c])
}

/// Index just past the `\r\n\r\n` that ends an HTTP head, if present.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The status code of an HTTP response head (`HTTP/1.x NNN ...`).
pub fn status_code(head: &[u8]) -> Option<u16> {
    let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// What ended a stream from the server's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The server sent a Close frame.
    Closed,
    /// A frame we cannot parse (reserved opcode, 64-bit length with the top bit set).
    Malformed(&'static str),
}

/// Counts complete messages (FIN data or continuation frames) in a server-to-client byte stream,
/// skipping payloads without copying them. Control frames other than Close are ignored.
#[derive(Debug, Default)]
pub struct FrameScanner {
    hdr: [u8; 14],
    hdr_len: usize,
    payload_left: u64,
    fin: bool,
    opcode: u8,
}

impl FrameScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; calls `on_message` once per complete message.
    pub fn feed(&mut self, mut data: &[u8], mut on_message: impl FnMut()) -> Result<(), WireError> {
        while !data.is_empty() {
            if self.payload_left > 0 {
                let take = (self.payload_left.min(data.len() as u64)) as usize;
                data = &data[take..];
                self.payload_left -= take as u64;
                if self.payload_left == 0 {
                    self.frame_done(&mut on_message)?;
                }
                continue;
            }
            // Accumulate the header: 2 bytes, then whatever length and mask they announce.
            let need = self.header_len();
            let take = (need - self.hdr_len).min(data.len());
            self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&data[..take]);
            self.hdr_len += take;
            data = &data[take..];
            if self.hdr_len < 2 || self.hdr_len < self.header_len() {
                continue;
            }
            let b0 = self.hdr[0];
            let b1 = self.hdr[1];
            self.fin = b0 & 0x80 != 0;
            self.opcode = b0 & 0x0f;
            if matches!(self.opcode, 3..=7 | 11..=15) {
                return Err(WireError::Malformed("reserved opcode"));
            }
            let len = match b1 & 0x7f {
                126 => u16::from_be_bytes([self.hdr[2], self.hdr[3]]) as u64,
                127 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.hdr[2..10]);
                    let l = u64::from_be_bytes(b);
                    if l >> 63 != 0 {
                        return Err(WireError::Malformed("64-bit length with top bit set"));
                    }
                    l
                }
                l => l as u64,
            };
            self.hdr_len = 0;
            self.payload_left = len;
            if len == 0 {
                self.frame_done(&mut on_message)?;
            }
        }
        Ok(())
    }

    fn header_len(&self) -> usize {
        if self.hdr_len < 2 {
            return 2;
        }
        let b1 = self.hdr[1];
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
        2 + ext + mask
    }

    fn frame_done(&mut self, on_message: &mut impl FnMut()) -> Result<(), WireError> {
        match self.opcode {
            0x8 => Err(WireError::Closed),
            0x0..=0x2 if self.fin => {
                on_message();
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, fin: bool, payload_len: usize) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        if payload_len < 126 {
            out.push(payload_len as u8);
        } else if payload_len <= 65535 {
            out.push(126);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(payload_len as u64).to_be_bytes());
        }
        out.extend(std::iter::repeat_n(0xAB, payload_len));
        out
    }

    fn count(stream: &[u8], chunk: usize) -> Result<usize, WireError> {
        let mut s = FrameScanner::new();
        let mut n = 0;
        for c in stream.chunks(chunk) {
            s.feed(c, || n += 1)?;
        }
        Ok(n)
    }

    #[test]
    fn counts_messages_across_any_chunking() {
        let mut stream = Vec::new();
        for len in [0, 1, 16, 125, 126, 1024, 65535, 65536, 70000] {
            stream.extend(server_frame(0x2, true, len));
        }
        stream.extend(server_frame(0x9, true, 4)); // ping: ignored
        stream.extend(server_frame(0x1, false, 10)); // fragmented text
        stream.extend(server_frame(0x0, false, 10));
        stream.extend(server_frame(0x0, true, 10));
        for chunk in [1, 2, 3, 7, 13, 4096, usize::MAX] {
            assert_eq!(
                count(&stream, chunk.min(stream.len())),
                Ok(10),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn close_frame_is_reported() {
        let mut stream = server_frame(0x2, true, 3);
        stream.extend(server_frame(0x8, true, 2));
        assert_eq!(count(&stream, 5), Err(WireError::Closed));
    }

    #[test]
    fn masked_frames_round_trip_through_scanner_and_have_right_headers() {
        for len in [0usize, 16, 125, 126, 1024, 65535, 65536] {
            let f = binary_message(len);
            let hdr = match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            } + 4;
            assert_eq!(f.len(), hdr + len);
            assert_eq!(f[0], 0x82);
            assert!(f[1] & 0x80 != 0);
            // A masked frame parses too (payload skipped).
            assert_eq!(count(&f, 3), Ok(1));
        }
        let f = masked_frame(0x1, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        // RFC 6455 section 5.7 example.
        assert_eq!(
            f,
            vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn head_and_status() {
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nXY";
        let end = head_end(resp).unwrap();
        assert_eq!(&resp[end..], b"XY");
        assert_eq!(status_code(resp), Some(101));
        assert_eq!(status_code(b"HTTP/1.0 400 Bad\r\n\r\n"), Some(400));
        assert_eq!(status_code(b"garbage\r\n\r\n"), None);
        assert_eq!(head_end(b"HTTP/1.1 101\r\n\r"), None);
        let req = rfc6455_request("127.0.0.1:9".parse().unwrap(), "/");
        assert!(req.starts_with(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"));
        assert_eq!(head_end(&req), Some(req.len()));
    }
}
