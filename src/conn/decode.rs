//! Decoding the inbound frame stream into messages, as its bytes arrive.
//!
//! Frame headers are tungstenite's [`FrameHeader`]: `FrameHeader::parse` (its frame-level
//! API) reads them, except the common client headers (masked, a 7- or 16-bit length), which
//! are read in place into one, since parsing through a cursor cost more than the rest of
//! decoding a small message. The [`Decoder`] judges each header, unmasks the payload,
//! reassembles fragmented messages, and hands the connection whole messages, the peer's
//! pings and the peer's Close. It decides as soon as the bytes say so: a frame the peer may
//! not send (unmasked, reserved bits, a reserved opcode, a control frame over 125 bytes or
//! fragmented, a length over our limits) is refused on its header, before any of its
//! payload is read; text is validated as it arrives, so a peer that trickles in a large
//! frame is failed at its first invalid byte (the Autobahn suite, cases 6.4.x, expects
//! that); close codes are judged by the IANA registry (tungstenite's list is older: it
//! would answer a peer's 1014 with 1002).
//!
//! Two paths, one result:
//! - **Whole frame at hand** (the common case: a small message that arrived in one read,
//!   not fragmented): its payload is unmasked where it lies in the reactor's read buffer
//!   and handed on from there ([`Whole`]); the connection validates its text once
//!   as it lends it to the handler ([`message_in`]), and the handler copies it only if it
//!   keeps it. A whole small message skips the decoder's state machine altogether.
//! - **Otherwise** (a payload that spans reads, a fragmented message): the unmasked payload
//!   collects in the connection's own buffer, text validated incrementally, and becomes the
//!   message when its final frame is in; the buffer goes with the message, so an idle
//!   connection keeps none.

use std::io::Cursor;
use std::str;

use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, FrameHeader};
use tungstenite::Bytes;

use super::utf8::Utf8Validator;
use crate::deflate::{Inflate, InflateError};
use crate::message::MessageRef;

/// Longest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask (§5.2).
const MAX_HEADER: usize = 14;

/// The size limits the decoder enforces (`Config::max_frame_size` and `max_message_size`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_frame: usize,
    pub(crate) max_message: usize,
}

/// One connection's inbound frame stream: where it is in a frame and in a message.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    state: State,
    /// A fragmented message is between its first and its final frame; `Some(true)` if it
    /// is text.
    fragmented: Option<bool>,
    /// Payload bytes announced so far by the frames of the current message.
    message_len: u64,
    utf8: Utf8Validator,
    /// The unmasked payload of a message whose bytes did not arrive at once (inflated,
    /// if it is compressed).
    message: Vec<u8>,
    /// permessage-deflate was negotiated: messages whose first frame has RSV1 set are
    /// inflated (RFC 7692 §6). Boxed: most connections have none.
    inflate: Option<Box<Inflate>>,
    /// The current message is compressed.
    compressed: bool,
}

#[derive(Debug)]
enum State {
    /// Collecting a frame header: `have` bytes of it are in `buf`.
    Header { buf: [u8; MAX_HEADER], have: u8 },
    /// Inside a data frame's payload with `left` bytes to go; `mask` is rotated to the
    /// next byte.
    Data {
        left: u64,
        mask: [u8; 4],
        text: bool,
        fin: bool,
    },
    /// Inside a control frame's payload (at most 125 bytes), collected in `payload`.
    /// (Boxed: rare, and the common states stay small.)
    Control(Box<ControlFrame>),
}

#[derive(Debug)]
struct ControlFrame {
    opcode: Control,
    left: usize,
    mask: [u8; 4],
    payload: Vec<u8>,
}

impl Default for State {
    fn default() -> Self {
        State::Header {
            buf: [0; MAX_HEADER],
            have: 0,
        }
    }
}

/// What a frame completed.
#[derive(Debug, PartialEq)]
pub(crate) enum Item {
    /// A whole Text or Binary message; a text payload is valid UTF-8.
    Message { text: bool, payload: Bytes },
    /// The peer's Ping with its payload: a Pong with the same payload is owed (§5.5.2).
    Ping(Bytes),
    /// The peer's Pong (unsolicited ones too, §5.5.3): nothing to do.
    Pong,
    /// The peer's Close frame, valid; `None` if it carried no status code. The stream
    /// ends here: nothing after it is decoded.
    Close(Option<CloseFrame>),
    /// Fail the connection (RFC 6455 §7.1.7) with this code and reason. The stream ends
    /// here.
    Fail(CloseCode, &'static str),
}

/// A whole small message [`Decoder::whole_message`] unmasked in place: its frame took
/// `used` bytes, its payload is at `at..at + len`; `ascii`: every byte of it is ASCII (a
/// text that is not is still to be validated).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Whole {
    pub(crate) used: usize,
    pub(crate) at: usize,
    pub(crate) len: usize,
    pub(crate) text: bool,
    pub(crate) ascii: bool,
}

impl Decoder {
    /// A decoder for a connection that negotiated permessage-deflate; `no_context_takeover`:
    /// the client compresses each message on its own.
    pub(crate) fn inflating(no_context_takeover: bool) -> Self {
        Decoder {
            inflate: Some(Box::new(Inflate::new(no_context_takeover))),
            ..Decoder::default()
        }
    }

    /// The common case in a few instructions: a whole small message (a final, masked text
    /// or binary frame of at most 65,535 bytes, within the limits) at the start of `bytes`,
    /// between messages. Anything else is left to [`decode_any`](Self::decode_any), which
    /// judges it; so this only takes frames that are valid on their first two bytes, and
    /// leaves the decoder's state as the general path would.
    ///
    /// Its own result type rather than an [`Item`]: an `Item` built on two paths (this one
    /// and `decode_any`'s) was put together in memory and copied whole, and the copy's
    /// wide loads stalled on the narrow stores that built it (`perf annotate`: 4 % of the
    /// echo server's CPU).
    #[inline]
    pub(crate) fn whole_message(&mut self, bytes: &mut [u8], limits: Limits) -> Option<Whole> {
        let State::Header { have: 0, .. } = self.state else {
            return None;
        };
        // Masked, with a 7-bit length or a 16-bit one (§5.2).
        let (b0, len, mask_at) = match *bytes {
            [b0 @ (0x81 | 0x82), b1 @ 0x80..=0xFD, ..] => (b0, usize::from(b1 & 0x7F), 2),
            [b0 @ (0x81 | 0x82), 0xFE, hi, lo, ..] => {
                (b0, usize::from(u16::from_be_bytes([hi, lo])), 4)
            }
            _ => return None,
        };
        let (&[m0, m1, m2, m3], rest) = bytes[mask_at..].split_first_chunk::<4>()?;
        if self.fragmented.is_some()
            || rest.len() < len
            || len > limits.max_frame.min(limits.max_message)
        {
            return None;
        }
        let at = mask_at + 4;
        let ascii = unmask(&mut bytes[at..at + len], [m0, m1, m2, m3]);
        Some(Whole {
            used: at + len,
            at,
            len,
            text: b0 == 0x81,
            ascii,
        })
    }

    /// Decodes from `bytes` until a frame completes something or the bytes run out; call
    /// [`whole_message`](Self::whole_message) first. Returns how many bytes it consumed,
    /// and the item, if any. After a `Close` or a `Fail` the stream is over and the count is
    /// the bytes before the frame at fault (for invalid UTF-8, before the invalid
    /// sequence): what the peer's earlier frames used.
    #[inline(never)]
    pub(crate) fn decode_any(&mut self, bytes: &[u8], limits: Limits) -> (usize, Option<Item>) {
        let mut pos = 0;
        // Where the frame being read starts in `bytes`: 0 if it started in earlier bytes.
        let mut frame_start = 0;
        loop {
            let rest = &bytes[pos..];
            match &mut self.state {
                State::Header { buf, have } => {
                    if rest.is_empty() {
                        return (pos, None);
                    }
                    let header = if *have == 0 {
                        frame_start = pos;
                        // The common case: the whole header is in these bytes.
                        match parse_header(rest) {
                            Ok(Some((header, len))) => {
                                pos += len;
                                Some(header)
                            }
                            Ok(None) => None,
                            Err(()) => return (frame_start, Some(reserved_opcode())),
                        }
                    } else {
                        None
                    };
                    let header = match header {
                        Some(header) => header,
                        None => {
                            // A header cut by the end of a read: collected byte by byte.
                            buf[*have as usize] = rest[0];
                            *have += 1;
                            pos += 1;
                            match parse_header(&buf[..*have as usize]) {
                                Ok(Some((header, _))) => header,
                                Ok(None) => continue,
                                Err(()) => return (frame_start, Some(reserved_opcode())),
                            }
                        }
                    };
                    match self.enter(header, limits) {
                        Ok(state) => self.state = state,
                        Err(item) => return (frame_start, Some(item)),
                    }
                    if let Some(item) = self.empty_frame_done(limits) {
                        let ends = matches!(item, Item::Close(_) | Item::Fail(..));
                        return (if ends { frame_start } else { pos }, Some(item));
                    }
                }
                State::Data {
                    left,
                    mask,
                    text,
                    fin,
                } => {
                    // The common case: a whole message in these bytes, none of it before
                    // them (what the message's frames announced is this frame's payload).
                    let len = usize::try_from(*left).unwrap_or(usize::MAX);
                    if *fin && self.message_len == *left && rest.len() >= len && !self.compressed {
                        let (text, mask) = (*text, *mask);
                        self.state = State::default();
                        let (payload, ascii) = unmasked(&rest[..len], mask);
                        let start = pos;
                        pos += len;
                        if text && !ascii {
                            if let Err(e) = str::from_utf8(&payload) {
                                return (start + e.valid_up_to(), Some(invalid_utf8()));
                            }
                        }
                        return (pos, Some(Item::Message { text, payload }));
                    }
                    if rest.is_empty() {
                        return (pos, None);
                    }
                    let n = rest.len().min(len);
                    let at = self.message.len();
                    if let (true, Some(inflate)) = (self.compressed, &mut self.inflate) {
                        let mut input = rest[..n].to_vec();
                        unmask(&mut input, *mask);
                        let inflated = inflate.feed(&input, &mut self.message, limits.max_message);
                        if let Err(e) = inflated {
                            return (pos, Some(inflate_failed(e)));
                        }
                    } else {
                        // On the message's final frame its length is known: once half of it
                        // is here, room for all of it at once (no more than doubling would
                        // take), not a doubling past it. A 64 KiB message doubled to 128 KiB,
                        // which glibc maps fresh for each message: page faults, and on this
                        // VM the kernel's copies into pages the host had taken back (perf:
                        // 62 % of the echo server's CPU in `_copy_from_iter`, uWS 30 %).
                        if *fin {
                            let whole = usize::try_from(self.message_len).unwrap_or(usize::MAX);
                            if 2 * (at + n) >= whole {
                                self.message.reserve_exact(whole.saturating_sub(at));
                            }
                        }
                        self.message.extend_from_slice(&rest[..n]);
                        unmask(&mut self.message[at..], *mask);
                    }
                    if *text {
                        if let Err(valid) = self.utf8.feed(&self.message[at..]) {
                            // "When an endpoint is to interpret a byte stream as UTF-8 but
                            // finds that the byte stream is not, in fact, a valid UTF-8
                            // stream, that endpoint MUST _Fail the WebSocket Connection_"
                            // (§8.1). Inflated text too, as it is inflated.
                            let at = if self.compressed { 0 } else { valid };
                            return (pos + at, Some(invalid_utf8()));
                        }
                    }
                    mask.rotate_left(n % 4);
                    *left -= n as u64;
                    pos += n;
                    if *left > 0 {
                        continue;
                    }
                    let (text, fin) = (*text, *fin);
                    self.state = State::default();
                    if fin {
                        if let Some(item) = self.message_done(text, limits) {
                            return (pos, Some(item));
                        }
                    }
                }
                State::Control(frame) => {
                    let n = rest.len().min(frame.left);
                    let at = frame.payload.len();
                    frame.payload.extend_from_slice(&rest[..n]);
                    unmask(&mut frame.payload[at..], frame.mask);
                    frame.mask.rotate_left(n % 4);
                    frame.left -= n;
                    pos += n;
                    let done = frame.left == 0;
                    if frame.opcode == Control::Close {
                        if let Some(item) = judge_close(&frame.payload, done) {
                            return (frame_start, Some(item));
                        }
                    }
                    if !done {
                        return (pos, None);
                    }
                    let State::Control(frame) = std::mem::take(&mut self.state) else {
                        continue;
                    };
                    match frame.opcode {
                        Control::Ping => return (pos, Some(Item::Ping(frame.payload.into()))),
                        Control::Pong => return (pos, Some(Item::Pong)),
                        _ => {}
                    }
                }
            }
        }
    }

    /// The state after a complete header, or the item that ends the stream on it. Tracks
    /// the message sequence (RFC 6455 §5.4, §5.5) and the size limits.
    fn enter(&mut self, (h, len): Header, limits: Limits) -> Result<State, Item> {
        let fail = |reason| Err(Item::Fail(CloseCode::Protocol, reason));
        // "MUST be 0 unless an extension is negotiated that defines meanings for non-zero
        // values. If a nonzero value is received and none of the negotiated extensions
        // defines the meaning of such a nonzero value, the receiving endpoint MUST _Fail the
        // WebSocket Connection_" (§5.2). permessage-deflate gives RSV1 a meaning on the
        // first frame of a data message only: "An endpoint MUST NOT set the "Per-Message
        // Compressed" bit of control frames and non-first fragments of a data message"
        // (RFC 7692 §6.1).
        let compressed = h.rsv1
            && self.inflate.is_some()
            && matches!(h.opcode, OpCode::Data(Data::Text | Data::Binary));
        if (h.rsv1 && !compressed) || h.rsv2 || h.rsv3 {
            return fail("reserved bits set");
        }
        // "The server MUST close the connection upon receiving a frame that is not masked"
        // (§5.1).
        let Some(mask) = h.mask else {
            return fail("unmasked frame");
        };
        let size = |reason| Err(Item::Fail(CloseCode::Size, reason));
        let data = match h.opcode {
            OpCode::Control(opcode) => {
                // "All control frames MUST have a payload length of 125 bytes or less and
                // MUST NOT be fragmented" (§5.5).
                if !h.is_final {
                    return fail("fragmented control frame");
                }
                if len > 125 {
                    return fail("control frame too big");
                }
                if len as usize > limits.max_frame {
                    return size("frame too big");
                }
                // "If there is a body, the first two bytes of the body MUST be a 2-byte
                // unsigned integer" (§5.5.1): one byte is not a body.
                if opcode == Control::Close && len == 1 {
                    return fail("close frame of one byte");
                }
                return Ok(State::Control(Box::new(ControlFrame {
                    opcode,
                    left: len as usize,
                    mask,
                    payload: Vec::with_capacity(len as usize),
                })));
            }
            OpCode::Data(data) => data,
        };
        // A frame or message larger than we take: "1009 indicates that an endpoint is
        // terminating the connection because it has received a message that is too big for
        // it to process" (§7.4.1). Decided on the length, before any of the payload is read.
        if len > limits.max_frame as u64 {
            return size("frame too big");
        }
        let text = match (data, self.fragmented) {
            (Data::Continue, Some(text)) => text,
            // "A fragmented message consists of a single frame with the FIN bit clear and an
            // opcode other than 0, followed by zero or more frames with the FIN bit clear
            // and the opcode set to 0, and terminated by a single frame with the FIN bit set
            // and an opcode of 0" (§5.4).
            (Data::Continue, None) => return fail("continuation frame without a message"),
            (_, Some(_)) => return fail("new message inside a fragmented one"),
            (data, None) => data == Data::Text,
        };
        let message = match data {
            Data::Continue => self.message_len.saturating_add(len),
            _ => len,
        };
        if message > limits.max_message as u64 {
            return size("message too big");
        }
        self.message_len = message;
        if data != Data::Continue {
            self.compressed = compressed;
            if text {
                self.utf8 = Utf8Validator::default();
            }
        }
        self.fragmented = if h.is_final { None } else { Some(text) };
        Ok(State::Data {
            left: len,
            mask,
            text,
            fin: h.is_final,
        })
    }

    /// A data frame whose header announced no payload is done as soon as it is entered, so
    /// a message it ends is not left waiting for more bytes. (A control frame's empty
    /// payload is taken by the loop like any other.)
    fn empty_frame_done(&mut self, limits: Limits) -> Option<Item> {
        let State::Data {
            left: 0, text, fin, ..
        } = self.state
        else {
            return None;
        };
        self.state = State::default();
        if fin {
            self.message_done(text, limits)
        } else {
            None
        }
    }

    /// The final frame of a message collected in `self.message` is in: the message, or
    /// the failure its text (or its compressed payload) is. Its text was checked as it
    /// arrived (or was inflated); only a code point cut off at the end is left to fail it.
    fn message_done(&mut self, text: bool, limits: Limits) -> Option<Item> {
        if let (true, Some(inflate)) = (std::mem::take(&mut self.compressed), &mut self.inflate) {
            let at = self.message.len();
            if let Err(e) = inflate.finish(&mut self.message, limits.max_message) {
                return Some(inflate_failed(e));
            }
            // What the end of the stream gave is text like the rest.
            if text && self.utf8.feed(&self.message[at..]).is_err() {
                return Some(invalid_utf8());
            }
        }
        if text && !self.utf8.is_complete() {
            return Some(invalid_utf8());
        }
        let payload = Bytes::from(std::mem::take(&mut self.message));
        Some(Item::Message { text, payload })
    }
}

/// The message a [`Whole`] lends, from the bytes it was decoded in (and where they lie in
/// the read buffer); `ascii`: unmasking found every byte ASCII. `Err` with the item that
/// fails the connection, and how many payload bytes came before the invalid sequence, if
/// its text is not UTF-8 (RFC 6455 §8.1).
#[inline]
pub(crate) fn message_in(
    (payload, at): (&[u8], usize),
    text: bool,
    ascii: bool,
) -> Result<MessageRef<'_>, (usize, Item)> {
    // ASCII is UTF-8; only other text is checked (std's check runs at half speed on a
    // payload that does not start at a word boundary, as one in the read buffer seldom
    // does: 12.5 ns for 32 bytes at offset 6, 6.2 at offset 0).
    if !text || ascii {
        return Ok(MessageRef::lent(text, payload, at));
    }
    match str::from_utf8(payload) {
        Ok(_) => Ok(MessageRef::lent(true, payload, at)),
        Err(e) => Err((e.valid_up_to(), invalid_utf8())),
    }
}

/// A compressed message that inflates past `max_message_size`: 1009, as for any message
/// too big (RFC 6455 §7.4.1); or that is not DEFLATE: 1007, "data within a message that
/// was not consistent with the type of the message" (as Node `ws` answers it).
#[cold]
fn inflate_failed(e: InflateError) -> Item {
    match e {
        InflateError::TooBig => Item::Fail(CloseCode::Size, "message too big (inflated)"),
        InflateError::Corrupt => Item::Fail(CloseCode::Invalid, "invalid compressed data"),
    }
}

fn invalid_utf8() -> Item {
    Item::Fail(CloseCode::Invalid, "invalid UTF-8")
}

fn reserved_opcode() -> Item {
    // "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
    // Connection_" (§5.2).
    Item::Fail(CloseCode::Protocol, "reserved opcode")
}

/// A frame header and its payload length, as `FrameHeader::parse` gives them.
type Header = (FrameHeader, u64);

/// The frame header at the start of `bytes` with its payload length, and how many bytes
/// it took; `Ok(None)` while it is incomplete; `Err` for a reserved opcode (which
/// tungstenite refuses as it parses).
fn parse_header(bytes: &[u8]) -> Result<Option<(Header, usize)>, ()> {
    // The header nearly every client frame has (masked, at most 125 bytes of payload: six
    // bytes, §5.2) is read in place; `FrameHeader::parse` reads the rest through a cursor,
    // which costs more than the rest of decoding a small message.
    if let [b0, b1, m0, m1, m2, m3, ..] = *bytes {
        if b1 & 0x80 != 0 && b1 & 0x7F <= 125 {
            let opcode = OpCode::from(b0 & 0x0F);
            if let OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) = opcode
            {
                return Err(());
            }
            let header = FrameHeader {
                is_final: b0 & 0x80 != 0,
                rsv1: b0 & 0x40 != 0,
                rsv2: b0 & 0x20 != 0,
                rsv3: b0 & 0x10 != 0,
                opcode,
                mask: Some([m0, m1, m2, m3]),
            };
            return Ok(Some(((header, u64::from(b1 & 0x7F)), 6)));
        }
    }
    let mut cursor = Cursor::new(bytes);
    match FrameHeader::parse(&mut cursor) {
        Ok(Some(header)) => Ok(Some((header, cursor.position() as usize))),
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}

/// `buf ^= mask` (RFC 6455 §5.3), `mask` at its first byte's phase; says whether every
/// unmasked byte is ASCII, so a text payload that is needs no second pass to be known
/// UTF-8 (as uWebSockets checks a short text: the bytes are in registers already).
///
/// Two loops, by size. A short payload is XORed sixteen bytes at a time against the mask
/// repeated in a register. A long one goes through a loop the compiler vectorizes, against
/// the mask repeated to 32 bytes in memory; building that array byte by byte and then
/// loading it whole stalls on store forwarding (`perf annotate` on the echo server: 4 % of
/// its CPU with 32-byte messages), which only a long payload pays back (16 KiB: 200 ns
/// against 383 for the register loop; 32 bytes: the register loop, with no stall).
#[inline]
pub(crate) fn unmask(buf: &mut [u8], mask: [u8; 4]) -> bool {
    // The OR of every unmasked byte, in lanes: ASCII if no lane has its top bit.
    let mut seen = 0u128;
    let mut blocks = if buf.len() >= 256 {
        let mut wide = [0u8; 32];
        for (i, b) in wide.iter_mut().enumerate() {
            *b = mask[i % 4];
        }
        let mut lanes = [0u8; 32];
        let mut blocks = buf.chunks_exact_mut(32);
        for block in &mut blocks {
            for ((b, m), l) in block.iter_mut().zip(&wide).zip(&mut lanes) {
                *b ^= m;
                *l |= *b;
            }
        }
        seen = u128::from(lanes.iter().fold(0, |all, l| all | l));
        blocks.into_remainder().chunks_exact_mut(16)
    } else {
        buf.chunks_exact_mut(16)
    };
    // Whatever the byte order, each four-byte lane of the register holds the mask in
    // memory order.
    let lane = u32::from_ne_bytes(mask);
    let wide = u128::from(lane) * 0x0000_0001_0000_0001_0000_0001_0000_0001;
    for block in &mut blocks {
        let mut bytes = [0; 16];
        bytes.copy_from_slice(block);
        let unmasked = u128::from_ne_bytes(bytes) ^ wide;
        seen |= unmasked;
        block.copy_from_slice(&unmasked.to_ne_bytes());
    }
    // The tail starts at a multiple of 16, so at mask phase 0: eight bytes, four, then
    // one by one.
    let mut tail = blocks.into_remainder();
    if tail.len() >= 8 {
        let (eight, rest) = std::mem::take(&mut tail).split_at_mut(8);
        let mut bytes = [0; 8];
        bytes.copy_from_slice(eight);
        let unmasked = u64::from_ne_bytes(bytes) ^ (u64::from(lane) * 0x0000_0001_0000_0001);
        seen |= u128::from(unmasked);
        eight.copy_from_slice(&unmasked.to_ne_bytes());
        tail = rest;
    }
    if tail.len() >= 4 {
        let (four, rest) = std::mem::take(&mut tail).split_at_mut(4);
        let mut bytes = [0; 4];
        bytes.copy_from_slice(four);
        let unmasked = u32::from_ne_bytes(bytes) ^ lane;
        seen |= u128::from(unmasked);
        four.copy_from_slice(&unmasked.to_ne_bytes());
        tail = rest;
    }
    for (b, m) in tail.iter_mut().zip(mask) {
        *b ^= m;
        seen |= u128::from(*b);
    }
    seen & 0x8080_8080_8080_8080_8080_8080_8080_8080 == 0
}

/// `masked` unmasked, as a message payload of its own, and whether it is all ASCII.
#[inline]
fn unmasked(masked: &[u8], mask: [u8; 4]) -> (Bytes, bool) {
    let mut payload = masked.to_vec();
    let ascii = unmask(&mut payload, mask);
    (payload.into(), ascii)
}

/// The item the peer's Close payload received so far (`complete`: all of it) decides, if
/// it decides one yet. The code is judged as soon as its two bytes are in.
fn judge_close(payload: &[u8], complete: bool) -> Option<Item> {
    if let [hi, lo, ..] = *payload {
        // Codes are judged by the IANA registry (§7.4.2, §11.7), not by the list
        // tungstenite keeps; an invalid one fails the connection (§7.4.1: 1005, 1006
        // and 1015 "MUST NOT be set as a status code in a Close control frame").
        if !is_valid_close_code(u16::from_be_bytes([hi, lo])) {
            return Some(Item::Fail(CloseCode::Protocol, "invalid close code"));
        }
    }
    if !complete {
        return None;
    }
    // A body of one byte is refused on the header (see `enter`).
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        return Some(Item::Close(None));
    };
    // "the data [after the code] is not guaranteed to be human readable ... [it] MUST be
    // UTF-8" (§5.5.1), and invalid UTF-8 fails the connection with 1007 (§8.1).
    let Ok(reason) = str::from_utf8(reason) else {
        return Some(Item::Fail(
            CloseCode::Invalid,
            "invalid UTF-8 in the close reason",
        ));
    };
    Some(Item::Close(Some(CloseFrame {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Feeds `stream` in pieces of `step` bytes. `Some(n)` if it ended on a Close or a
    /// Fail, where `n` is how many stream bytes came before it.
    fn scan_in_pieces(stream: &[u8], step: usize) -> Option<usize> {
        stopped_in_pieces(stream, step, LIMITS).map(|(n, _)| n)
    }

    /// Feeds `stream` in pieces of `step` bytes to a decoder with these limits. If it
    /// ended on a Close or a Fail: how many stream bytes came before it, and the item.
    fn stopped_in_pieces(
        stream: &[u8],
        step: usize,
        limits: (usize, usize),
    ) -> Option<(usize, Item)> {
        decode_in_pieces(stream, step, limits).1
    }

    /// Everything decoding `stream` in pieces of `step` bytes gives: the items before the
    /// end, and the end (a Close or a Fail, with the stream bytes before it), if any.
    fn decode_in_pieces(
        stream: &[u8],
        step: usize,
        (max_frame, max_message): (usize, usize),
    ) -> (Vec<Item>, Option<(usize, Item)>) {
        let limits = Limits {
            max_frame,
            max_message,
        };
        decode_with(&mut Decoder::default(), stream, step, limits)
    }

    /// [`decode_in_pieces`] with this decoder.
    fn decode_with(
        decoder: &mut Decoder,
        stream: &[u8],
        step: usize,
        limits: Limits,
    ) -> (Vec<Item>, Option<(usize, Item)>) {
        let mut items = Vec::new();
        let mut fed = 0;
        let mut stream = stream.to_vec();
        for piece in stream.chunks_mut(step) {
            let mut at = 0;
            loop {
                // What the connection does: a whole small message first, lent once its
                // text is checked.
                let (used, item) = match decoder.whole_message(&mut piece[at..], limits) {
                    Some(Whole {
                        used,
                        at: i,
                        len,
                        text,
                        ascii,
                    }) => match message_in((&piece[at + i..at + i + len], at + i), text, ascii) {
                        Ok(msg) => {
                            let payload = Bytes::copy_from_slice(msg.as_bytes());
                            (used, Some(Item::Message { text, payload }))
                        }
                        Err((valid, fail)) => return (items, Some((fed + at + i + valid, fail))),
                    },
                    None => decoder.decode_any(&piece[at..], limits),
                };
                match item {
                    None => {
                        assert_eq!(at + used, piece.len(), "all taken");
                        break;
                    }
                    Some(end @ (Item::Close(_) | Item::Fail(..))) => {
                        return (items, Some((fed + at + used, end)));
                    }
                    Some(item) => items.push(item),
                }
                at += used;
            }
            fed += piece.len();
        }
        (items, None)
    }

    const STEPS: [usize; 8] = [1, 2, 3, 5, 7, 13, 64, usize::MAX];

    /// The item of a whole message.
    fn message(text: bool, payload: Vec<u8>) -> Item {
        Item::Message {
            text,
            payload: payload.into(),
        }
    }

    /// However the stream is cut, the decoder finds no invalid UTF-8.
    fn assert_passes(stream: &[u8]) {
        for step in STEPS {
            assert_eq!(scan_in_pieces(stream, step), None, "in pieces of {step}");
        }
    }

    /// However the stream is cut, the decoder stops it before the byte at `breaking`, and
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
    fn a_message_is_given_room_for_all_of_it_once_half_of_it_is_here() {
        let stream = frame(BINARY, &vec![5; 65_536]);
        let limits = Limits {
            max_frame: usize::MAX,
            max_message: usize::MAX,
        };
        // A quarter, then more than half: no room reserved, then exactly the message.
        let mut decoder = Decoder::default();
        let (used, item) = decoder.decode_any(&stream[..16_384], limits);
        assert_eq!((used, item), (16_384, None));
        assert!(decoder.message.capacity() < 65_536);
        let (used, item) = decoder.decode_any(&stream[16_384..40_000], limits);
        assert_eq!((used, item), (40_000 - 16_384, None));
        assert_eq!(decoder.message.capacity(), 65_536);
        let (_, item) = decoder.decode_any(&stream[40_000..], limits);
        assert!(matches!(item, Some(Item::Message { payload, .. }) if payload.len() == 65_536));
    }

    #[test]
    fn unmasking_is_the_xor_of_the_rfc_at_every_length() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for len in (0..=100).chain(250..=300) {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut got = data.clone();
            let ascii = unmask(&mut got, mask);
            let want: Vec<u8> = (data.iter().enumerate())
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(got, want, "{len} bytes");
            assert_eq!(ascii, want.is_ascii(), "{len} bytes");
        }
    }

    #[test]
    fn unmasking_finds_a_byte_over_127_wherever_it_is() {
        let mask = [0x9A, 0x0B, 0x7C, 0xE1];
        for len in (1..=80).chain(250..=290) {
            // Unmasked: ASCII letters, but for one byte at each position in turn.
            let plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let masked = |p: &[u8]| -> Vec<u8> {
                (p.iter().enumerate())
                    .map(|(i, b)| b ^ mask[i % 4])
                    .collect()
            };
            let mut all = masked(&plain);
            assert!(unmask(&mut all, mask), "{len} ASCII bytes");
            for at in 0..len {
                let mut one = plain.clone();
                one[at] |= 0x80;
                let mut got = masked(&one);
                assert!(!unmask(&mut got, mask), "{len} bytes, 0x80 at {at}");
                assert_eq!(got, one);
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
    fn long_text_is_unmasked_and_checked_far_into_the_frame() {
        let mut payload = "κόσμε ✓ ".repeat(4096).into_bytes();
        let stream = frame(TEXT, &payload);
        assert_passes(&stream);
        // A lead byte well past the first scratch-buffer step; 0xFF after it breaks it.
        let at = (3 * 4096 + 5..).find(|&i| payload[i] >= 0xC0).unwrap();
        payload[at + 1] = 0xFF;
        let stream = frame(TEXT, &payload);
        let start = stream.len() - payload.len() + at;
        assert_stops(&stream, start, start + 1);
    }

    #[test]
    fn a_new_text_message_starts_a_new_code_point_sequence() {
        // A code point cut off at the end of a message fails that message: it does not
        // continue into the next.
        let first = frame(TEXT, b"\xe2\x82");
        let stream = [first.clone(), frame(TEXT, b"ok")].concat();
        for step in STEPS {
            let got = stopped_in_pieces(&stream, step, LIMITS);
            let Some((through, Item::Fail(code, _))) = got else {
                panic!("in pieces of {step}: {got:?}");
            };
            assert_eq!(code, CloseCode::Invalid);
            assert!(through <= first.len(), "in pieces of {step}: {through}");
        }
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

    /// Whether the decoder let all of `before` through (the frames in it are delivered) but
    /// not all of the header that follows (the bytes of it in earlier reads reached
    /// tungstenite, which waits for the rest in vain).
    fn stopped_at(through: usize, before: &[u8], header_len: usize) -> bool {
        (before.len()..before.len() + header_len).contains(&through)
    }

    /// However `before` + `bad` is cut, the decoder fails it with `code` at the header of
    /// `bad`, before any of what follows it.
    fn assert_fails(before: &[u8], bad: &[u8], code: u16, limits: (usize, usize)) {
        let stream = [before, bad].concat();
        for step in STEPS {
            let stopped = stopped_in_pieces(&stream, step, limits);
            let Some((through, Item::Fail(got, _))) = stopped else {
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
                assert_eq!(verdict, Item::Close(Some(want)), "{code}");
                let close_len = 6 + payload.len();
                assert!(
                    (ok.len()..ok.len() + close_len).contains(&through),
                    "{code} in pieces of {step}: {through}"
                );
            }
        }
        let got = stopped_in_pieces(&close_then_more(b""), 1, LIMITS);
        assert_eq!(got, Some((5, Item::Close(None))), "no status code");
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
    fn messages_are_the_same_however_the_stream_is_cut() {
        let mut stream = frame(TEXT, "hello ✓".as_bytes());
        stream.extend(frame(BINARY, &[7; 125]));
        stream.extend(frame(BINARY, &[8; 126]));
        stream.extend(frame(TEXT, b""));
        stream.extend(frame(TEXT_MORE, "fragm".as_bytes()));
        stream.extend(frame(PING, b"are you there"));
        stream.extend(frame(CONT, b""));
        stream.extend(frame(CONT_FIN, "ented €".as_bytes()));
        stream.extend(frame(0x8A, b"unsolicited pong"));
        stream.extend(frame(BINARY, &vec![9; 3 * 4096]));
        stream.extend(frame(TEXT, &"κόσμε".repeat(9000).into_bytes()));
        let want = vec![
            message(true, "hello ✓".into()),
            message(false, vec![7; 125]),
            message(false, vec![8; 126]),
            message(true, "".into()),
            Item::Ping(Bytes::from_static(b"are you there")),
            message(true, "fragmented €".into()),
            Item::Pong,
            message(false, vec![9; 3 * 4096]),
            message(true, "κόσμε".repeat(9000).into()),
        ];
        for step in STEPS {
            let (items, end) = decode_in_pieces(&stream, step, LIMITS);
            assert_eq!(end, None, "in pieces of {step}");
            assert!(items == want, "in pieces of {step}: {items:?}");
        }
    }

    /// `payload` compressed as a client compresses a message (RFC 7692 §7.2.1), by
    /// `client` (a raw DEFLATE stream).
    fn compress(client: &mut flate2::Compress, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + 1024);
        let flush = flate2::FlushCompress::Sync;
        client.compress_vec(payload, &mut out, flush).unwrap();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "the output had room");
        out.truncate(out.len() - 4);
        out
    }

    /// `payload` compressed on its own.
    fn deflated(payload: &[u8]) -> Vec<u8> {
        compress(&mut client(), payload)
    }

    fn client() -> flate2::Compress {
        flate2::Compress::new(flate2::Compression::default(), false)
    }

    const CTEXT: u8 = 0xC1; // FIN, RSV1, text
    const CBINARY: u8 = 0xC2;

    /// Decodes `stream` in pieces of `step` with a decoder that negotiated
    /// permessage-deflate: the items, and the end, as `decode_in_pieces` gives them.
    fn inflate_in_pieces(
        stream: &[u8],
        step: usize,
        max_message: usize,
    ) -> (Vec<Item>, Option<(usize, Item)>, Decoder) {
        let limits = Limits {
            max_frame: 1 << 20,
            max_message,
        };
        let mut decoder = Decoder::inflating(false);
        let (items, end) = decode_with(&mut decoder, stream, step, limits);
        (items, end, decoder)
    }

    #[test]
    fn compressed_messages_are_inflated_however_the_stream_is_cut() {
        let text = "κόσμε, the same words again and again ".repeat(200);
        let z = deflated(text.as_bytes());
        let mut stream = frame(CTEXT, &z);
        // fragmented: RSV1 on the first frame only, a ping between the fragments
        let (a, b) = z.split_at(z.len() / 3);
        stream.extend(frame(0x41, a)); // RSV1, text, not final
        stream.extend(frame(PING, b"p"));
        stream.extend(frame(CONT_FIN, b));
        stream.extend(frame(CBINARY, &deflated(&[7; 5000])));
        stream.extend(frame(TEXT, b"plain"));
        stream.extend(frame(CTEXT, &deflated(b"")));
        let want = vec![
            message(true, text.clone().into()),
            Item::Ping(Bytes::from_static(b"p")),
            message(true, text.clone().into()),
            message(false, vec![7; 5000]),
            message(true, "plain".into()),
            message(true, "".into()),
        ];
        for step in STEPS {
            let (items, end, _) = inflate_in_pieces(&stream, step, 1 << 20);
            assert_eq!(end, None, "in pieces of {step}");
            assert!(items == want, "in pieces of {step}: {items:?}");
        }
    }

    #[test]
    fn the_client_context_carries_from_one_message_to_the_next() {
        // Letters with little repetition in them, so only the second copy compresses well.
        let text: String = (0..3000u32)
            .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
            .collect();
        let mut client = client();
        let (first, second) = (
            compress(&mut client, text.as_bytes()),
            compress(&mut client, text.as_bytes()),
        );
        assert!(second.len() < first.len() / 4, "the second refers back");
        let stream = [frame(CTEXT, &first), frame(CTEXT, &second)].concat();
        for step in STEPS {
            let (items, end, _) = inflate_in_pieces(&stream, step, 1 << 20);
            assert_eq!(end, None, "in pieces of {step}");
            let once = || message(true, text.clone().into());
            assert_eq!(items, [once(), once()]);
        }
    }

    #[test]
    fn rsv1_outside_the_first_frame_of_a_data_message_is_a_protocol_error() {
        let z = deflated(b"hello");
        let cases = [
            [frame(0x01, b"a"), frame(0xC0, &z)].concat(), // continuation
            frame(0xC9, b""),                              // ping
            frame(0xC8, &[0x03, 0xE8]),                    // close
        ];
        for stream in cases {
            for step in STEPS {
                let (_, end, _) = inflate_in_pieces(&stream, step, 1 << 20);
                let Some((_, Item::Fail(code, _))) = end else {
                    panic!("{stream:x?}: {end:?}");
                };
                assert_eq!(code, CloseCode::Protocol);
            }
        }
        // Without the extension RSV1 is refused anywhere (see the table above).
        assert_eq!(
            stopped_in_pieces(&frame(CTEXT, &z), 64, LIMITS).map(|(_, i)| i),
            Some(Item::Fail(CloseCode::Protocol, "reserved bits set"))
        );
    }

    #[test]
    fn a_compression_bomb_is_stopped_at_the_cap_without_inflating_the_rest() {
        // 64 MiB of zeros in about 64 KiB; the cap is 64 KiB.
        let cap = 64 * 1024;
        let bomb = deflated(&vec![0; 64 << 20]);
        assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
        for step in [4096, usize::MAX] {
            let (items, end, decoder) = inflate_in_pieces(&frame(CBINARY, &bomb), step, cap);
            assert!(items.is_empty());
            let Some((_, Item::Fail(code, _))) = end else {
                panic!("{end:?}");
            };
            assert_eq!(code, CloseCode::Size);
            // What was inflated is all in the message buffer, which stops past the cap.
            let inflated = decoder.message.len();
            assert!(
                (cap..=cap + 1).contains(&inflated),
                "inflated {inflated} bytes"
            );
            assert!(
                decoder.message.capacity() <= cap + 1,
                "{}",
                decoder.message.capacity()
            );
        }
    }

    #[test]
    fn inflated_text_fails_at_its_first_invalid_byte_and_corrupt_data_with_1007() {
        // The invalid byte is in the first fragment: the message fails before its end.
        let mut first = b"valid so far \xff".to_vec();
        first.extend(vec![b'x'; 2000]);
        let stream = frame(0x41, &deflated(&first));
        let (_, end, _) = inflate_in_pieces(&stream, usize::MAX, 1 << 20);
        assert_eq!(end.map(|(_, i)| i), Some(invalid_utf8()));
        // Not DEFLATE (a reserved block type).
        let (_, end, _) = inflate_in_pieces(&frame(CTEXT, &[0xFF; 10]), 3, 1 << 20);
        let Some((_, Item::Fail(code, _))) = end else {
            panic!("{end:?}");
        };
        assert_eq!(code, CloseCode::Invalid);
    }
}
