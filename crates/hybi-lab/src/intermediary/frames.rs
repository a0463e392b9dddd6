//! Incremental RFC 6455 client-frame checker, for the frame-inspecting proxy row.

/// Follows a client-to-server byte stream frame by frame (bytes may arrive split anywhere).
#[derive(Debug, Default)]
pub struct FrameInspector {
    header: Vec<u8>,
    payload_left: u64,
    in_message: bool,
    /// Complete frames seen so far.
    pub frames: u64,
}

impl FrameInspector {
    /// Checks the next bytes of the stream; `Err` names the first violation.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            if self.payload_left > 0 {
                let n = (self.payload_left.min(data.len() as u64)) as usize;
                self.payload_left -= n as u64;
                data = &data[n..];
                continue;
            }
            self.header.push(data[0]);
            data = &data[1..];
            if let Some(len) = self.check_header()? {
                self.header.clear();
                self.payload_left = len;
                self.frames += 1;
            }
        }
        Ok(())
    }

    /// `Ok(Some(payload length))` once the header is complete and valid, `Ok(None)` while incomplete.
    fn check_header(&mut self) -> Result<Option<u64>, String> {
        let h = &self.header;
        if h.len() < 2 {
            return Ok(None);
        }
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        let masked = h[1] & 0x80 != 0;
        let len7 = h[1] & 0x7f;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let need = 2 + ext + if masked { 4 } else { 0 };
        if h.len() < need {
            return Ok(None);
        }
        if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) {
            return Err(format!("reserved opcode {opcode:#x}"));
        }
        if !masked {
            return Err("unmasked client frame".into());
        }
        let len = match ext {
            0 => len7 as u64,
            2 => u16::from_be_bytes([h[2], h[3]]) as u64,
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                let v = u64::from_be_bytes(b);
                if v >> 63 != 0 {
                    return Err("64-bit length with the most significant bit set".into());
                }
                v
            }
        };
        if opcode >= 8 {
            if !fin {
                return Err("fragmented control frame".into());
            }
            if len > 125 {
                return Err("control frame longer than 125 bytes".into());
            }
        } else if opcode == 0 {
            if !self.in_message {
                return Err("continuation frame outside a message".into());
            }
            self.in_message = !fin;
        } else {
            if self.in_message {
                return Err("new data frame inside a fragmented message".into());
            }
            self.in_message = !fin;
        }
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_masked_frames_split_anywhere() {
        // masked text frame "Hello" (RFC 6455 §5.7 example) followed by a masked close
        let f = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58, 0x88, 0x80, 1, 2, 3,
            4,
        ];
        for split in 0..f.len() {
            let mut i = FrameInspector::default();
            i.feed(&f[..split]).unwrap();
            i.feed(&f[split..]).unwrap();
            assert_eq!(i.frames, 2);
        }
    }

    #[test]
    fn rejects_unmasked_and_http() {
        let mut i = FrameInspector::default();
        assert!(i.feed(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']).is_err());
        let mut i = FrameInspector::default();
        assert!(i.feed(b"GET /script.js HTTP/1.1\r\n").is_err());
        let mut i = FrameInspector::default();
        // Hixie-76 text frame 0x00 ... 0xFF
        assert!(i.feed(&[0x00, b'h', b'i', 0xff]).is_err());
    }
}
