//! Fail-fast UTF-8 checking of inbound text, as its bytes arrive.
//!
//! "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream
//! is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
//! Connection_" (RFC 6455 §8.1). tungstenite checks a text frame only once the whole frame is
//! in its buffer, so a peer that announces a large frame and trickles it in is not failed
//! until its last byte: the Autobahn suite (cases 6.4.x) expects the failure at the first
//! invalid byte.
//!
//! [`Utf8Guard`] reads the inbound byte stream beside tungstenite. It follows frame
//! boundaries from the headers, unmasks the payload of text messages into a small stack
//! buffer and feeds it to an incremental validator. It only reports: tungstenite still
//! decodes and validates everything. A frame tungstenite will reject on its own (reserved
//! bits, an unknown opcode, an unmasked or out-of-sequence frame) switches the guard off for
//! the rest of the connection, so that error, not a UTF-8 verdict, decides the close code.
//!
//! Cost: the payload of text frames is unmasked and validated once more. Binary and control
//! payloads are skipped by length.

use std::{fmt, io, str};

/// Longest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask (§5.2).
const MAX_HEADER: usize = 14;

/// Unmasked payload validated per step (stack bytes); a multiple of 8 so every step starts
/// at the same mask phase.
const SCRATCH: usize = 2048;

/// The scratch buffer for payloads this small or smaller.
const SMALL_SCRATCH: usize = 128;

/// Watches one connection's inbound bytes for invalid UTF-8 in text messages.
#[derive(Debug, Default)]
pub(crate) struct Utf8Guard {
    state: State,
    /// A fragmented message is between its first and its final frame; `Some(true)` if it is
    /// text.
    fragmented: Option<bool>,
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
    /// Not watching: the stream holds a frame tungstenite rejects itself.
    Off,
    /// Found invalid UTF-8.
    Invalid,
}

impl Default for State {
    fn default() -> Self {
        State::Header {
            buf: [0; MAX_HEADER],
            have: 0,
        }
    }
}

impl Utf8Guard {
    /// Watches the next bytes of the inbound stream. `Err(n)`: text in them is invalid UTF-8,
    /// and only their first `n` bytes may still be decoded (they hold everything before the
    /// first invalid byte). Once invalid, every later call returns `Err(0)`.
    pub(crate) fn scan(&mut self, bytes: &[u8]) -> Result<(), usize> {
        let mut pos = 0;
        while pos < bytes.len() {
            match &mut self.state {
                State::Off => return Ok(()),
                State::Invalid => return Err(pos),
                State::Header { buf, have } => {
                    buf[*have] = bytes[pos];
                    *have += 1;
                    pos += 1;
                    if let Some(header) = Header::parse(&buf[..*have]) {
                        self.state = self.enter(header);
                    }
                }
                State::Payload { left, mask, text } => {
                    let n = (bytes.len() - pos).min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let chunk = &bytes[pos..pos + n];
                    if *text {
                        if let Err(valid) = self.utf8.feed_masked(chunk, *mask) {
                            self.state = State::Invalid;
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
            }
        }
        match self.state {
            State::Invalid => Err(pos),
            _ => Ok(()),
        }
    }

    /// Whether invalid UTF-8 was found.
    pub(crate) fn found_invalid(&self) -> bool {
        matches!(self.state, State::Invalid)
    }

    /// The state after a complete header: tracks the message sequence the way tungstenite
    /// checks it (RFC 6455 §5.4, §5.5) and turns off where tungstenite will fail the frame.
    fn enter(&mut self, h: Header) -> State {
        // "MUST be 0 unless an extension is negotiated" (§5.2); we negotiate none. "The
        // server MUST close the connection upon receiving a frame that is not masked" (§5.1).
        let Some(mask) = h.mask.filter(|_| !h.rsv) else {
            return State::Off;
        };
        let text = match (h.opcode, self.fragmented) {
            // Nothing the peer sends after its close becomes a message (§5.5.1).
            (0x8, _) => return State::Off,
            // Control frames may come between fragments; their payload is not text.
            (0x9 | 0xA, _) if h.fin && h.len <= 125 => false,
            (0x0, Some(text)) => {
                if h.fin {
                    self.fragmented = None;
                }
                text
            }
            (0x1 | 0x2, None) => {
                let text = h.opcode == 0x1;
                if text {
                    self.utf8 = Utf8Validator::default();
                }
                if !h.fin {
                    self.fragmented = Some(text);
                }
                text
            }
            _ => return State::Off,
        };
        if h.len == 0 {
            return State::default();
        }
        State::Payload {
            left: h.len,
            mask,
            text,
        }
    }
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

impl Header {
    /// Parses `buf` if it is exactly one complete header; `None` while more bytes are needed.
    fn parse(buf: &[u8]) -> Option<Header> {
        let [b0, b1, rest @ ..] = buf else {
            return None;
        };
        let (extended, code) = match b1 & 0x7F {
            126 => (2, None),
            127 => (8, None),
            len => (0, Some(u64::from(len))),
        };
        let masked = b1 & 0x80 != 0;
        if rest.len() != extended + if masked { 4 } else { 0 } {
            return None;
        }
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

/// Incremental UTF-8 validation over a stream cut at arbitrary points.
#[derive(Debug, Default)]
struct Utf8Validator {
    /// The start of a code point cut off at the end of the previous input.
    partial: [u8; 4],
    partial_len: usize,
}

impl Utf8Validator {
    /// Unmasks `masked` (the mask rotated to its first byte) and validates it.
    fn feed_masked(&mut self, masked: &[u8], mask: [u8; 4]) -> Result<(), usize> {
        // The stack buffer is zeroed before use: a small payload (the common chat message)
        // gets a small one, so it does not pay for clearing 2 KiB.
        let (mut small, mut large);
        let scratch: &mut [u8] = if masked.len() <= SMALL_SCRATCH {
            small = [0u8; SMALL_SCRATCH];
            &mut small
        } else {
            large = [0u8; SCRATCH];
            &mut large
        };
        for (i, chunk) in masked.chunks(SCRATCH).enumerate() {
            let plain = &mut scratch[..chunk.len()];
            unmask(plain, chunk, mask);
            self.feed(plain).map_err(|valid| i * SCRATCH + valid)?;
        }
        Ok(())
    }

    /// Validates the next bytes of the text. `Err(n)`: the first `n` bytes continue it
    /// validly and the next byte cannot be part of valid UTF-8. A code point cut off at the
    /// end is kept for the next call, not reported.
    fn feed(&mut self, input: &[u8]) -> Result<(), usize> {
        let mut rest = input;
        // Finish a code point cut off last time, one byte at a time (at most three).
        while self.partial_len > 0 {
            let Some((&byte, after)) = rest.split_first() else {
                return Ok(());
            };
            self.partial[self.partial_len] = byte;
            self.partial_len += 1;
            match str::from_utf8(&self.partial[..self.partial_len]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_none() => {}
                Err(_) => return Err(input.len() - rest.len()),
            }
            rest = after;
        }
        let done = input.len() - rest.len();
        match str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(done + e.valid_up_to()),
            Err(e) => {
                // The input ends inside a code point that may still complete.
                let tail = &rest[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                Ok(())
            }
        }
    }
}

/// `dst = src ^ mask` (RFC 6455 §5.3), eight bytes at a time.
fn unmask(dst: &mut [u8], src: &[u8], mask: [u8; 4]) {
    let mask8 = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut dst8 = dst.chunks_exact_mut(8);
    let mut src8 = src.chunks_exact(8);
    for (d, s) in (&mut dst8).zip(&mut src8) {
        let word = u64::from_ne_bytes(s.try_into().unwrap_or_default());
        d.copy_from_slice(&(word ^ mask8).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so at mask phase 0.
    for (i, (d, s)) in dst8
        .into_remainder()
        .iter_mut()
        .zip(src8.remainder())
        .enumerate()
    {
        *d = s ^ mask[i % 4];
    }
}

/// The error a connection's reads return once its [`Utf8Guard`] found invalid UTF-8; it
/// fails the connection with 1007 (see `Disconnect::for_ws_error`).
#[derive(Debug)]
pub(crate) struct InvalidUtf8;

impl InvalidUtf8 {
    pub(crate) fn io_error() -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, InvalidUtf8)
    }

    /// Whether `err` is this error.
    pub(crate) fn is(err: &io::Error) -> bool {
        err.get_ref().is_some_and(|e| e.is::<InvalidUtf8>())
    }
}

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8 in a text message")
    }
}

impl std::error::Error for InvalidUtf8 {}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Feeds `stream` in pieces of `step` bytes. `Some(n)` if the guard found invalid UTF-8,
    /// where `n` is how many stream bytes it let through.
    fn scan_in_pieces(stream: &[u8], step: usize) -> Option<usize> {
        let mut guard = Utf8Guard::default();
        let mut offset = 0;
        for piece in stream.chunks(step) {
            if let Err(valid) = guard.scan(piece) {
                assert!(guard.found_invalid());
                assert_eq!(guard.scan(b"more"), Err(0), "stays invalid");
                return Some(offset + valid);
            }
            offset += piece.len();
        }
        assert!(!guard.found_invalid());
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
    fn validator_agrees_with_std_however_the_input_is_cut() {
        let samples: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "ascii, then 𝄞 and € and ü".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited",
            b"\xed\xa0\x80",     // a surrogate
            b"\xc0\x80",         // overlong
            b"ok\x80",           // stray continuation byte
            b"\xff",             // never valid
            b"\xe2\x82A",        // a code point cut short by another
            b"\xf0\x9f\x98",     // cut off at the end: not (yet) invalid
            b"\xe2\x82\xac\xe2", // a whole code point, then the start of another
        ];
        for sample in samples {
            // Where std says the invalid sequence starts, and the byte that ends it.
            let invalid = match str::from_utf8(sample) {
                Err(e) => e
                    .error_len()
                    .map(|len| (e.valid_up_to(), e.valid_up_to() + len)),
                Ok(_) => None,
            };
            for cut in 0..=sample.len() {
                for cut2 in cut..=sample.len() {
                    let mut v = Utf8Validator::default();
                    let mut seen = 0;
                    let mut passed = None;
                    for piece in [&sample[..cut], &sample[cut..cut2], &sample[cut2..]] {
                        if let Err(valid) = v.feed(piece) {
                            passed = Some(seen + valid);
                            break;
                        }
                        seen += piece.len();
                    }
                    let at = format!("{sample:x?} cut at {cut}, {cut2}");
                    match (invalid, passed) {
                        (None, None) => {}
                        (Some((start, end)), Some(n)) => {
                            assert!((start..=end).contains(&n), "{at}: passed {n}");
                            // What was let through is still a valid (maybe unfinished) start.
                            let through = str::from_utf8(&sample[..n]);
                            assert!(through.map_or_else(|e| e.error_len().is_none(), |_| true));
                        }
                        _ => panic!("{at}: std says {invalid:?}, validator {passed:?}"),
                    }
                }
            }
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

    #[test]
    fn frames_tungstenite_rejects_turn_the_guard_off() {
        let invalid_text = frame(TEXT, b"\xff");
        let rejected = [
            frame(TEXT | 0x40, b"rsv1"),     // reserved bit
            frame(0x83, b"reserved opcode"), // reserved data opcode
            frame(CONT_FIN, b"no message to continue"),
            [frame(TEXT_MORE, b"a"), frame(TEXT, b"b")].concat(), // new message mid-fragment
            frame(0x09, b"fragmented ping"),
            frame(PING, &[0; 126]),    // control frame too big
            vec![TEXT, 0x01, b'a'],    // unmasked
            frame(CLOSE, b"\x03\xe8"), // nothing may follow a close
        ];
        for first in rejected {
            let stream = [first.clone(), invalid_text.clone()].concat();
            assert_passes(&stream);
        }
    }

    #[test]
    fn invalid_utf8_error_is_recognised_through_io_error() {
        assert!(InvalidUtf8::is(&InvalidUtf8::io_error()));
        assert!(!InvalidUtf8::is(&io::Error::from(
            io::ErrorKind::InvalidData
        )));
    }
}
