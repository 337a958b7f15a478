//! Judging the inbound frame stream as its bytes arrive, beside tungstenite.
//!
//! tungstenite judges a frame only once all of it is in its buffer. A peer that announces a
//! frame it may not send (unmasked, reserved bits, a reserved opcode, a control frame over
//! 125 bytes or fragmented, a length over our limits) would be answered only after its whole
//! payload had arrived, and been buffered; text would be validated only whole, so a peer that
//! trickles in a large frame would not be failed until its last byte (the Autobahn suite,
//! cases 6.4.x, expects the failure at the first invalid byte). And tungstenite judges close
//! codes by an older list than the IANA registry: it answers a peer's 1014 with 1002.
//!
//! [`FrameGuard`] reads the inbound byte stream beside tungstenite and decides as soon as the
//! bytes say so. It follows frame boundaries from the headers and judges each header when it
//! is complete; it unmasks the payload of text messages into a small stack buffer and feeds
//! it to an incremental validator; and it takes the peer's Close frame itself, so tungstenite
//! never sees it, and judges its code. A verdict stops the stream: tungstenite still gets the
//! bytes before the frame at fault (earlier frames are delivered in order), never the rest,
//! and its next read fails with [`Stopped`], which the connection turns into a close.
//!
//! Cost: a header is parsed twice (here and in tungstenite), and the payload of text frames
//! is unmasked and validated once more. Binary and control payloads are skipped by length.

use std::{fmt, io, str};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;

use super::utf8::Utf8Validator;

/// Longest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask (§5.2).
const MAX_HEADER: usize = 14;

/// Watches one connection's inbound bytes and stops them at the first frame it must refuse.
#[derive(Debug)]
pub(crate) struct FrameGuard {
    state: State,
    /// A fragmented message is between its first and its final frame; `Some(true)` if it is
    /// text.
    fragmented: Option<bool>,
    /// Payload bytes announced so far by the frames of the current message.
    message_len: u64,
    /// `Config::max_frame_size` and `max_message_size`.
    max_frame: u64,
    max_message: u64,
    utf8: Utf8Validator,
}

#[derive(Debug)]
enum State {
    /// Collecting a frame header: `have` bytes of it are in `buf`.
    Header { buf: [u8; MAX_HEADER], have: usize },
    /// Inside a payload with `left` bytes to go; `mask` is rotated to the next byte.
    Payload {
        left: u64,
        mask: [u8; 4],
        text: bool,
    },
    /// Taking the peer's Close frame. (The rare states are boxed so that the common ones
    /// stay small to move.)
    Close(Box<Closing>),
    /// Decided: nothing more reaches tungstenite.
    Stopped(Box<Verdict>),
}

/// The peer's Close frame being taken: `left` bytes to go, unmasked into `payload`.
#[derive(Debug)]
struct Closing {
    left: usize,
    mask: [u8; 4],
    payload: Vec<u8>,
}

/// Why the guard stopped the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The peer's Close frame, valid; `None` if it carried no status code.
    Close(Option<CloseFrame>),
    /// Fail the connection (RFC 6455 §7.1.7) with this code and reason.
    Fail(CloseCode, &'static str),
}

impl Default for State {
    fn default() -> Self {
        State::Header {
            buf: [0; MAX_HEADER],
            have: 0,
        }
    }
}

impl FrameGuard {
    /// A guard for a connection with these limits (`Config::max_frame_size` and
    /// `max_message_size`).
    pub(crate) fn new(max_frame: usize, max_message: usize) -> Self {
        FrameGuard {
            state: State::default(),
            fragmented: None,
            message_len: 0,
            max_frame: max_frame as u64,
            max_message: max_message as u64,
            utf8: Utf8Validator::default(),
        }
    }

    /// Watches the next bytes of the inbound stream. `Err(n)`: only their first `n` bytes
    /// may still be decoded: a verdict was reached (see [`verdict`](Self::verdict)), or the
    /// peer's Close frame is being taken. Once stopped, every later call returns `Err(0)`.
    pub(crate) fn scan(&mut self, bytes: &[u8]) -> Result<(), usize> {
        let mut pos = 0;
        // Where the frame being read starts in `bytes`: 0 if it started in earlier bytes.
        let mut frame_start = 0;
        while pos < bytes.len() {
            match &mut self.state {
                State::Stopped(_) => break,
                State::Header { buf, have } => {
                    if *have == 0 {
                        frame_start = pos;
                        // The common case: the whole header is in these bytes.
                        let whole = bytes.get(pos + 1).map(|&b1| pos + header_len(b1));
                        if let Some(end) = whole.filter(|&end| end <= bytes.len()) {
                            if let Some(header) = Header::parse(&bytes[pos..end]) {
                                pos = end;
                                self.state = self.enter(header).unwrap_or_else(stopped);
                                continue;
                            }
                        }
                    }
                    buf[*have] = bytes[pos];
                    *have += 1;
                    pos += 1;
                    if let Some(header) = Header::parse(&buf[..*have]) {
                        self.state = self.enter(header).unwrap_or_else(stopped);
                    }
                }
                State::Payload { left, mask, text } => {
                    let n = (bytes.len() - pos).min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let chunk = &bytes[pos..pos + n];
                    if *text {
                        if let Err(valid) = self.utf8.feed_masked(chunk, *mask) {
                            // "When an endpoint is to interpret a byte stream as UTF-8 but
                            // finds that the byte stream is not, in fact, a valid UTF-8
                            // stream, that endpoint MUST _Fail the WebSocket Connection_"
                            // (§8.1).
                            let why = Verdict::Fail(CloseCode::Invalid, "invalid UTF-8");
                            self.state = stopped(why);
                            return Err(pos + valid);
                        }
                    }
                    mask.rotate_left(n % 4);
                    *left -= n as u64;
                    pos += n;
                    if *left == 0 {
                        self.state = State::default();
                    }
                }
                State::Close(closing) => {
                    let Closing {
                        left,
                        mask,
                        payload,
                    } = &mut **closing;
                    let n = (bytes.len() - pos).min(*left);
                    let at = payload.len();
                    let unmasked = bytes[pos..pos + n].iter().enumerate();
                    payload.extend(unmasked.map(|(i, b)| b ^ mask[(at + i) % 4]));
                    *left -= n;
                    pos += n;
                    if let Some(verdict) = judge_close(payload, *left == 0) {
                        self.state = stopped(verdict);
                    }
                }
            }
        }
        match self.state {
            State::Stopped(_) | State::Close(_) => Err(frame_start),
            _ => Ok(()),
        }
    }

    /// Why the stream was stopped, once it was.
    pub(crate) fn verdict(&self) -> Option<&Verdict> {
        match &self.state {
            State::Stopped(verdict) => Some(&**verdict),
            _ => None,
        }
    }

    /// The state after a complete header, or the verdict on it. Tracks the message
    /// sequence (RFC 6455 §5.4, §5.5) and the size limits.
    fn enter(&mut self, h: Header) -> Result<State, Verdict> {
        let fail = |reason| Err(Verdict::Fail(CloseCode::Protocol, reason));
        // "MUST be 0 unless an extension is negotiated that defines meanings for non-zero
        // values. If a nonzero value is received and none of the negotiated extensions
        // defines the meaning of such a nonzero value, the receiving endpoint MUST _Fail the
        // WebSocket Connection_" (§5.2); we negotiate none.
        if h.rsv {
            return fail("reserved bits set");
        }
        // "The server MUST close the connection upon receiving a frame that is not masked"
        // (§5.1).
        let Some(mask) = h.mask else {
            return fail("unmasked frame");
        };
        // "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
        // Connection_" (§5.2).
        if matches!(h.opcode, 0x3..=0x7 | 0xB..=0xF) {
            return fail("reserved opcode");
        }
        let control = h.opcode & 0x8 != 0;
        // "All control frames MUST have a payload length of 125 bytes or less and MUST NOT
        // be fragmented" (§5.5).
        if control && !h.fin {
            return fail("fragmented control frame");
        }
        if control && h.len > 125 {
            return fail("control frame too big");
        }
        // A frame or message larger than we take: "1009 indicates that an endpoint is
        // terminating the connection because it has received a message that is too big for
        // it to process" (§7.4.1). Decided on the length, before any of the payload is read.
        let size = |reason| Err(Verdict::Fail(CloseCode::Size, reason));
        if h.len > self.max_frame {
            return size("frame too big");
        }
        let text = match (h.opcode, self.fragmented) {
            (0x8, _) => return Ok(self.close(h.len, mask)),
            // Control frames may come between fragments; their payload is not text.
            (0x9 | 0xA, _) => false,
            (0x0, Some(text)) => text,
            // "A fragmented message consists of a single frame with the FIN bit clear and an
            // opcode other than 0, followed by zero or more frames with the FIN bit clear
            // and the opcode set to 0, and terminated by a single frame with the FIN bit set
            // and an opcode of 0" (§5.4).
            (0x0, None) => return fail("continuation frame without a message"),
            (_, Some(_)) => return fail("new message inside a fragmented one"),
            (opcode, None) => opcode == 0x1,
        };
        if !control {
            let message = match h.opcode {
                0x0 => self.message_len.saturating_add(h.len),
                _ => h.len,
            };
            if message > self.max_message {
                return size("message too big");
            }
            self.message_len = message;
            if h.opcode != 0x0 && text {
                self.utf8 = Utf8Validator::default();
            }
            self.fragmented = if h.fin { None } else { Some(text) };
        }
        if h.len == 0 {
            return Ok(State::default());
        }
        Ok(State::Payload {
            left: h.len,
            mask,
            text,
        })
    }

    /// The state after the header of the peer's Close frame (its length is at most 125).
    fn close(&mut self, len: u64, mask: [u8; 4]) -> State {
        match len {
            0 => stopped(Verdict::Close(None)),
            // "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned
            // integer" (§5.5.1): one byte is not a body.
            1 => stopped(Verdict::Fail(
                CloseCode::Protocol,
                "close frame of one byte",
            )),
            _ => State::Close(Box::new(Closing {
                left: len as usize,
                mask,
                payload: Vec::with_capacity(len as usize),
            })),
        }
    }
}

fn stopped(verdict: Verdict) -> State {
    State::Stopped(Box::new(verdict))
}

/// The verdict on the peer's Close payload received so far (`complete`: all of it), if
/// there is one yet. The code is judged as soon as its two bytes are in.
fn judge_close(payload: &[u8], complete: bool) -> Option<Verdict> {
    if let [hi, lo, ..] = *payload {
        // Codes are judged by the IANA registry (§7.4.2, §11.7), not by the list
        // tungstenite keeps; an invalid one fails the connection (§7.4.1: 1005, 1006
        // and 1015 "MUST NOT be set as a status code in a Close control frame").
        if !is_valid_close_code(u16::from_be_bytes([hi, lo])) {
            return Some(Verdict::Fail(CloseCode::Protocol, "invalid close code"));
        }
    }
    if !complete {
        return None;
    }
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        return Some(Verdict::Close(None));
    };
    // "the data [after the code] is not guaranteed to be human readable ... [it] MUST be
    // UTF-8" (§5.5.1), and invalid UTF-8 fails the connection with 1007 (§8.1).
    let Ok(reason) = str::from_utf8(reason) else {
        return Some(Verdict::Fail(
            CloseCode::Invalid,
            "invalid UTF-8 in the close reason",
        ));
    };
    Some(Verdict::Close(Some(CloseFrame {
        code: CloseCode::from(u16::from_be_bytes(*code)),
        reason: reason.into(),
    })))
}

/// Whether a close code may be sent in a Close frame, and is valid when received in one.
/// RFC 6455 §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
/// control frame by an endpoint"; §7.4.2: 0–999 are "not used", 1000–2999 are "reserved for
/// definition by this protocol, its future revisions, and extensions specified in a
/// permanent and readily available public specification", of which the IANA "WebSocket
/// Close Code Number Registry" defines 1000–1003 and 1007–1014 (1004 is reserved);
/// 3000–4999 are for libraries, frameworks and applications.
pub(crate) fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The fields of a frame header the guard needs (RFC 6455 §5.2).
#[derive(Debug)]
struct Header {
    fin: bool,
    rsv: bool,
    opcode: u8,
    len: u64,
    mask: Option<[u8; 4]>,
}

/// The length of a header whose second byte is `b1` (§5.2).
fn header_len(b1: u8) -> usize {
    let extended = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl Header {
    /// Parses `buf` if it is exactly one complete header; `None` while more bytes are needed.
    fn parse(buf: &[u8]) -> Option<Header> {
        let [b0, b1, rest @ ..] = buf else {
            return None;
        };
        if buf.len() != header_len(*b1) {
            return None;
        }
        let extended = rest.len() - if b1 & 0x80 != 0 { 4 } else { 0 };
        let code = match b1 & 0x7F {
            126 | 127 => None,
            len => Some(u64::from(len)),
        };
        let (len_bytes, mask_bytes) = rest.split_at(extended);
        let len = code.unwrap_or_else(|| {
            len_bytes
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        });
        Some(Header {
            fin: b0 & 0x80 != 0,
            rsv: b0 & 0x70 != 0,
            opcode: b0 & 0x0F,
            len,
            mask: mask_bytes.try_into().ok(),
        })
    }
}

/// The error a connection's reads return once its [`FrameGuard`] stopped the stream; the
/// connection acts on its [`Verdict`].
#[derive(Debug)]
pub(crate) struct Stopped(pub(crate) Verdict);

impl Stopped {
    pub(crate) fn io_error(verdict: Verdict) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, Stopped(verdict))
    }

    /// The verdict `err` carries, if it is this error.
    pub(crate) fn verdict(err: &io::Error) -> Option<&Verdict> {
        let stopped = err.get_ref()?.downcast_ref::<Stopped>()?;
        Some(&stopped.0)
    }
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Verdict::Close(_) => f.write_str("the peer sent a close frame"),
            Verdict::Fail(code, reason) => write!(f, "{reason} ({code})"),
        }
    }
}

impl std::error::Error for Stopped {}

#[cfg(test)]
mod tests {
    use super::*;
    // `super::super`, not `crate::conn`: the bench compiles this module at its root.
    use super::super::utf8::SCRATCH;

    /// `(max_frame_size, max_message_size)`, as `Config::default()` has them.
    const LIMITS: (usize, usize) = (1 << 20, 1 << 20);

    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    /// A masked client frame (the mask fixed: tests need no randomness).
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![first];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&MASK);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        f
    }

    const TEXT: u8 = 0x81;
    const TEXT_MORE: u8 = 0x01;
    const BINARY: u8 = 0x82;
    const CONT: u8 = 0x00;
    const CONT_FIN: u8 = 0x80;
    const PING: u8 = 0x89;
    const CLOSE: u8 = 0x88;

    /// Feeds `stream` in pieces of `step` bytes. `Some(n)` if the guard stopped it, where
    /// `n` is how many stream bytes it let through.
    fn scan_in_pieces(stream: &[u8], step: usize) -> Option<usize> {
        stopped_in_pieces(stream, step, LIMITS).map(|(n, _)| n)
    }

    /// Feeds `stream` in pieces of `step` bytes to a guard with these limits. If it
    /// stopped the stream: how many bytes it let through, and its verdict.
    fn stopped_in_pieces(
        stream: &[u8],
        step: usize,
        limits: (usize, usize),
    ) -> Option<(usize, Verdict)> {
        let mut guard = FrameGuard::new(limits.0, limits.1);
        let mut through = 0;
        for piece in stream.chunks(step) {
            match guard.scan(piece) {
                Err(n) => {
                    through += n;
                    if let Some(verdict) = guard.verdict().cloned() {
                        assert_eq!(guard.scan(b"more"), Err(0), "stays stopped");
                        return Some((through, verdict));
                    }
                }
                Ok(()) => {
                    assert!(guard.verdict().is_none());
                    through += piece.len();
                }
            }
        }
        None
    }

    const STEPS: [usize; 8] = [1, 2, 3, 5, 7, 13, 64, usize::MAX];

    /// However the stream is cut, the guard finds no invalid UTF-8.
    fn assert_passes(stream: &[u8]) {
        for step in STEPS {
            assert_eq!(scan_in_pieces(stream, step), None, "in pieces of {step}");
        }
    }

    /// However the stream is cut, the guard stops it before the byte at `breaking`, and
    /// lets through at least everything before `sequence`, where the invalid sequence
    /// starts (how far it gets between them depends on where the cuts fall).
    fn assert_stops(stream: &[u8], sequence: usize, breaking: usize) {
        for step in STEPS {
            let passed = scan_in_pieces(stream, step);
            assert!(
                passed.is_some_and(|n| (sequence..=breaking).contains(&n)),
                "in pieces of {step}: let {passed:?} bytes through, not {sequence}..={breaking}"
            );
        }
    }

    #[test]
    fn invalid_byte_in_a_partly_received_text_frame_stops_it_there() {
        // Autobahn 6.4.3: the frame announces 21 bytes; the invalid ones arrive mid-frame.
        let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";
        let stream = frame(TEXT, payload);
        let lead = stream.len() - payload.len() + 11; // 0xF4, which 0x90 cannot follow
        assert_stops(&stream[..lead + 2], lead, lead + 1);
        // Up to the 0xF4 it is a valid start, however it is cut.
        assert_passes(&stream[..lead + 1]);
    }

    #[test]
    fn text_is_validated_across_fragments_and_around_control_frames() {
        let euro = "€".as_bytes();
        let mut stream = frame(TEXT_MORE, &euro[..1]);
        stream.extend(frame(PING, b"\xff not text"));
        stream.extend(frame(CONT, &euro[1..]));
        stream.extend(frame(CONT_FIN, b" done"));
        assert_passes(&stream);

        let mut stream = frame(TEXT_MORE, "ok ".as_bytes());
        stream.extend(frame(PING, b""));
        let bad = stream.len() + 6 + 1;
        stream.extend(frame(CONT_FIN, b"x\xc0\x80"));
        assert_stops(&stream, bad, bad);
    }

    #[test]
    fn long_text_is_unmasked_and_checked_past_the_scratch_buffer() {
        let mut payload = "κόσμε ✓ ".repeat(SCRATCH).into_bytes();
        let stream = frame(TEXT, &payload);
        assert_passes(&stream);
        // A lead byte well past the first scratch-buffer step; 0xFF after it breaks it.
        let at = (3 * SCRATCH + 5..).find(|&i| payload[i] >= 0xC0).unwrap();
        payload[at + 1] = 0xFF;
        let stream = frame(TEXT, &payload);
        let start = stream.len() - payload.len() + at;
        assert_stops(&stream, start, start + 1);
    }

    #[test]
    fn a_new_text_message_starts_a_new_code_point_sequence() {
        // A code point cut off at the end of one message does not continue into the next:
        // tungstenite fails the first message itself; the guard must not blame the second.
        let mut stream = frame(TEXT, b"\xe2\x82");
        stream.extend(frame(TEXT, b"ok"));
        assert_passes(&stream);
    }

    #[test]
    fn binary_and_control_payloads_are_not_text() {
        let mut stream = frame(BINARY, b"\xff\xfe");
        stream.extend(frame(0x02, b"\xc0"));
        stream.extend(frame(CONT_FIN, b"\x80"));
        stream.extend(frame(PING, b"\xff"));
        stream.extend(frame(TEXT, "still text ✓".as_bytes()));
        assert_passes(&stream);
    }

    #[test]
    fn extended_lengths_keep_frame_boundaries() {
        for len in [126, 0xFFFF, 0x1_0000] {
            let mut stream = frame(BINARY, &vec![0xFF; len]);
            let bad = stream.len() + 6;
            stream.extend(frame(TEXT, b"\xff"));
            assert_stops(&stream, bad, bad);
        }
    }

    /// A masked frame header announcing `len` payload bytes (none of which follow).
    fn header(first: u8, len: u64) -> Vec<u8> {
        let mut f = frame(first, b"");
        f.truncate(1);
        match len {
            0..=125 => f.push(0x80 | len as u8),
            126..=0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                f.push(0x80 | 127);
                f.extend_from_slice(&len.to_be_bytes());
            }
        }
        f.extend_from_slice(&MASK);
        f
    }

    /// Whether the guard let all of `before` through (the frames in it are delivered) but
    /// not all of the header that follows (the bytes of it in earlier reads reached
    /// tungstenite, which waits for the rest in vain).
    fn stopped_at(through: usize, before: &[u8], header_len: usize) -> bool {
        (before.len()..before.len() + header_len).contains(&through)
    }

    /// However `before` + `bad` is cut, the guard fails it with `code` at the header of
    /// `bad`, before any of what follows it.
    fn assert_fails(before: &[u8], bad: &[u8], code: u16, limits: (usize, usize)) {
        let stream = [before, bad].concat();
        for step in STEPS {
            let stopped = stopped_in_pieces(&stream, step, limits);
            let Some((through, Verdict::Fail(got, _))) = stopped else {
                panic!("{bad:x?} in pieces of {step}: {stopped:?}");
            };
            assert_eq!(u16::from(got), code, "{bad:x?} in pieces of {step}");
            assert!(
                stopped_at(through, before, bad.len().min(MAX_HEADER)),
                "{bad:x?} in pieces of {step}: {through}"
            );
        }
    }

    #[test]
    fn a_header_that_must_be_refused_stops_the_stream_before_its_payload() {
        let limits = (1000, 1500);
        let ok = frame(TEXT, b"ok");
        let big = 1 << 40;
        let cases: &[(&[u8], Vec<u8>, u16)] = &[
            // unmasked text of 65,535 bytes: decided on its 4 header bytes
            (&ok, vec![0x81, 0x7E, 0xFF, 0xFF], 1002),
            (&ok, vec![0x82, 0x05], 1002),
            (&ok, header(TEXT | 0x40, 5), 1002), // RSV1 without an extension
            (&ok, header(BINARY | 0x10, 5), 1002), // RSV3
            (&ok, header(0x83, 5), 1002),        // reserved data opcode
            (&ok, header(0x8B, 5), 1002),        // reserved control opcode
            (&ok, header(0x09, 5), 1002),        // fragmented ping
            (&ok, header(PING, 126), 1002),      // control frame over 125 bytes
            (&ok, header(0x8A, 0xFFFF), 1002),   // pong far over 125 bytes
            (&ok, header(CLOSE, 1), 1002),       // a close body of one byte
            (&ok, header(CONT_FIN, 5), 1002),    // no message to continue
            (&frame(TEXT_MORE, b"a"), header(TEXT, 5), 1002), // new message mid-fragment
            (&ok, header(BINARY, 1001), 1009),   // over max_frame_size
            (&ok, header(BINARY, big), 1009),    // a 64-bit length
            (&ok, header(0x8A, 1001), 1002),     // control over both limits: 1002 first
            // fragments whose sum passes max_message_size, each within max_frame_size
            (&frame(0x02, &[0; 1000]), header(CONT_FIN, 501), 1009),
        ];
        for (before, bad, code) in cases {
            assert_fails(before, bad, *code, limits);
        }
        // A message of exactly the limit passes, and the count starts again after it.
        let mut stream = frame(0x02, &[0; 1000]);
        stream.extend(frame(CONT_FIN, &[0; 500]));
        stream.extend(frame(BINARY, &[0; 1000]));
        for step in STEPS {
            assert_eq!(stopped_in_pieces(&stream, step, limits), None);
        }
    }

    /// The peer's Close frame with this payload, and then more bytes.
    fn close_then_more(payload: &[u8]) -> Vec<u8> {
        let mut stream = frame(CLOSE, payload);
        stream.extend(frame(TEXT, b"after the close"));
        stream
    }

    #[test]
    fn the_peers_close_frame_is_taken_whole_and_judged_by_the_iana_registry() {
        let ok = frame(TEXT, b"ok");
        for code in [
            1000, 1001, 1002, 1003, 1007, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
        ] {
            let mut payload = u16::to_be_bytes(code).to_vec();
            payload.extend_from_slice("bye ✓".as_bytes());
            let stream = [ok.clone(), close_then_more(&payload)].concat();
            for step in STEPS {
                let want = CloseFrame {
                    code: code.into(),
                    reason: "bye ✓".into(),
                };
                let got = stopped_in_pieces(&stream, step, LIMITS);
                let Some((through, verdict)) = got else {
                    panic!("{code} in pieces of {step}: not stopped");
                };
                assert_eq!(verdict, Verdict::Close(Some(want)), "{code}");
                assert!(
                    stopped_at(through, &ok, 6),
                    "{code} in pieces of {step}: {through}"
                );
            }
        }
        let got = stopped_in_pieces(&close_then_more(b""), 1, LIMITS);
        assert_eq!(got, Some((5, Verdict::Close(None))), "no status code");
        // Invalid codes are refused on their two bytes, whatever the rest would be.
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let mut bad = header(CLOSE, 100);
            let at = bad.len();
            bad.extend(
                u16::to_be_bytes(code)
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ MASK[i]),
            );
            assert_fails(&ok, &bad, 1002, LIMITS);
            assert_eq!(bad.len(), at + 2);
        }
        assert_fails(&ok, &frame(CLOSE, b"\x03\xe8\xff"), 1007, LIMITS);
    }

    #[test]
    fn stopped_is_recognised_through_io_error() {
        let verdict = Verdict::Fail(CloseCode::Protocol, "x");
        let err = Stopped::io_error(verdict.clone());
        assert_eq!(Stopped::verdict(&err), Some(&verdict));
        let other = io::Error::from(io::ErrorKind::InvalidData);
        assert_eq!(Stopped::verdict(&other), None);
    }
}
