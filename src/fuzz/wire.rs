//! An independent reader of what a server writes on a WebSocket (RFC 6455 §5): it decodes
//! the frame stream without tungstenite or our encoder and panics on anything a client
//! would have to fail the connection for, or on a frame after the server's Close.

/// Checks a server's frame stream as it is written, in any chunks.
#[derive(Debug, Default)]
pub(crate) struct FrameStream {
    buf: Vec<u8>,
    /// A Text or Binary message was started without FIN; `Some(true)`: it is Text.
    fragmented: Option<bool>,
    /// Text of the fragmented message so far, checked whole at its last fragment.
    text: Vec<u8>,
    /// The server's Close frame has been read: nothing may follow it.
    closed: bool,
    /// Frames read so far, for the panic messages.
    frames: usize,
    /// The control frames read, as `(opcode, payload)`.
    pub(crate) control: Vec<(u8, Vec<u8>)>,
}

impl FrameStream {
    /// Takes the next bytes the server wrote.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        assert!(
            !self.closed || bytes.is_empty(),
            "{} bytes after the server's Close frame",
            bytes.len()
        );
        self.buf.extend_from_slice(bytes);
        while let Some(used) = self.frame() {
            self.buf.drain(..used);
        }
    }

    /// Reads and checks one whole frame at the front of `buf`; its length, or `None` if it
    /// has not all arrived.
    fn frame(&mut self) -> Option<usize> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let n = self.frames;
        let (fin, rsv, opcode) = (b[0] & 0x80 != 0, b[0] & 0x70, b[0] & 0x0f);
        assert_eq!(rsv, 0, "frame {n}: RSV bits set without an extension");
        assert_eq!(b[1] & 0x80, 0, "frame {n}: a server frame is never masked");
        let (len, at) = match b[1] & 0x7f {
            126 => {
                let len = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize;
                assert!(
                    len >= 126,
                    "frame {n}: length {len} not in its shortest form"
                );
                (len, 4)
            }
            127 => {
                let len = u64::from_be_bytes(b.get(2..10)?.try_into().ok()?);
                assert!(
                    len >> 63 == 0,
                    "frame {n}: 64-bit length with its top bit set"
                );
                assert!(
                    len > 0xffff,
                    "frame {n}: length {len} not in its shortest form"
                );
                (usize::try_from(len).ok()?, 10)
            }
            len => (len as usize, 2),
        };
        let payload = b.get(at..at + len)?.to_vec();
        self.frames += 1;
        match opcode {
            0x0 => {
                let text = self
                    .fragmented
                    .unwrap_or_else(|| panic!("frame {n}: a continuation with no message started"));
                self.data(text, fin, &payload);
            }
            0x1 | 0x2 => {
                assert!(
                    self.fragmented.is_none(),
                    "frame {n}: a new message inside a fragmented one"
                );
                self.data(opcode == 0x1, fin, &payload);
            }
            0x8..=0xa => {
                assert!(fin, "frame {n}: a fragmented control frame");
                assert!(len <= 125, "frame {n}: a control frame of {len} bytes");
                if opcode == 0x8 {
                    check_close(&payload);
                    self.closed = true;
                }
                self.control.push((opcode, payload));
            }
            _ => panic!("frame {n}: reserved opcode {opcode:#x}"),
        }
        Some(at + len)
    }

    fn data(&mut self, text: bool, fin: bool, payload: &[u8]) {
        if text {
            self.text.extend_from_slice(payload);
        }
        if fin {
            assert!(
                std::str::from_utf8(&self.text).is_ok(),
                "a Text message that is not UTF-8"
            );
            self.text.clear();
            self.fragmented = None;
        } else {
            self.fragmented = Some(text);
        }
    }
}

/// A Close payload is empty, or a code that may be sent and a UTF-8 reason (§5.5.1, §7.4; 1012–1014 are in the IANA registry).
fn check_close(payload: &[u8]) {
    match payload {
        [] => {}
        [_] => panic!("a Close payload of one byte"),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert!(sendable, "close code {code} may not be sent");
            assert!(
                std::str::from_utf8(reason).is_ok(),
                "a close reason that is not UTF-8"
            );
        }
    }
}
