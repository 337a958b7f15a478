//! The channel format of plain WebSocket rooms across nodes: what a node publishes to
//! Redis for a room, and how it reads what the others publish. Our own format (nothing
//! else speaks it), documented in the README's "Rooms across nodes":
//!
//! ```text
//! channel   <key>#<room>          every node subscribes to the pattern <key>#*
//! payload   opcode   1 byte       1 text, 2 binary (RFC 6455 §5.2's opcodes)
//!           length   1 byte       the uid's length in bytes
//!           uid      length bytes the publishing node's id (12 hex digits: 6 random bytes)
//!           length   2 bytes      the room name's length in bytes, big-endian
//!           room     length bytes the room's name, UTF-8
//!           message  the rest     the message's payload, as sent to the members
//! ```
//!
//! The room is in the payload as well as in the channel, so a message stands alone
//! whatever the channel's key (a subscriber need not parse channel names).

use crate::{Bytes, Message, Utf8Bytes};

const TEXT: u8 = 1;
const BINARY: u8 = 2;

/// The pattern every node subscribes to: the channels of every room.
pub(crate) fn pattern(key: &str) -> String {
    format!("{key}#*")
}

/// The channel of `room`.
pub(crate) fn channel(key: &str, room: &str) -> String {
    format!("{key}#{room}")
}

/// The payload publishing `msg` to `room` from node `uid`, or `None` for what is not
/// published across nodes: a control frame, a room name over 65,535 bytes or a uid over
/// 255.
pub(crate) fn encode(uid: &str, room: &str, msg: &Message) -> Option<Vec<u8>> {
    let (opcode, bytes): (u8, &[u8]) = match msg {
        Message::Text(text) => (TEXT, text.as_bytes()),
        Message::Binary(bytes) => (BINARY, bytes),
        _ => return None,
    };
    let uid_len = u8::try_from(uid.len()).ok()?;
    let len = u16::try_from(room.len()).ok()?;
    let mut out = Vec::with_capacity(4 + uid.len() + room.len() + bytes.len());
    out.extend_from_slice(&[opcode, uid_len]);
    out.extend_from_slice(uid.as_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(room.as_bytes());
    out.extend_from_slice(bytes);
    Some(out)
}

/// A publish read from a room's channel.
#[derive(Debug, PartialEq)]
pub(crate) struct Publish<'a> {
    pub(crate) uid: &'a [u8],
    pub(crate) room: &'a str,
    pub(crate) msg: Message,
}

/// Why a message on a room's channel was not a publish (it is then ignored and logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// Shorter than its header and room name say.
    Short,
    /// An opcode other than text (1) or binary (2).
    Opcode(u8),
    /// The room name, or a text message, is not UTF-8.
    Utf8,
}

/// Reads a payload written by [`encode`].
pub(crate) fn decode(payload: &[u8]) -> Result<Publish<'_>, WireError> {
    let [opcode, uid_len, rest @ ..] = payload else {
        return Err(WireError::Short);
    };
    let (uid, rest) = rest
        .split_at_checked(*uid_len as usize)
        .ok_or(WireError::Short)?;
    let [hi, lo, rest @ ..] = rest else {
        return Err(WireError::Short);
    };
    let (room, bytes) = rest
        .split_at_checked(u16::from_be_bytes([*hi, *lo]) as usize)
        .ok_or(WireError::Short)?;
    let room = std::str::from_utf8(room).map_err(|_| WireError::Utf8)?;
    let bytes = Bytes::copy_from_slice(bytes);
    let msg = match *opcode {
        TEXT => Message::Text(Utf8Bytes::try_from(bytes).map_err(|_| WireError::Utf8)?),
        BINARY => Message::Binary(bytes),
        op => return Err(WireError::Opcode(op)),
    };
    Ok(Publish { uid, room, msg })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0a1b2c3d4e5f";

    #[test]
    fn the_layout_is_opcode_uid_room_length_room_message() {
        let bytes = encode(UID, "lobby", &Message::text("hi")).unwrap();
        assert_eq!(bytes, b"\x01\x0c0a1b2c3d4e5f\x00\x05lobbyhi");
        let bytes = encode(UID, "", &Message::binary(vec![0])).unwrap();
        assert_eq!(bytes, b"\x02\x0c0a1b2c3d4e5f\x00\x00\x00");
        assert_eq!(channel("wsreactor", "lobby"), "wsreactor#lobby");
        assert_eq!(pattern("wsreactor"), "wsreactor#*");
    }

    #[test]
    fn text_and_binary_come_back_as_sent() {
        for msg in [
            Message::text("héllo"),
            Message::text(""),
            Message::binary(vec![0, 255, 1]),
        ] {
            let bytes = encode(UID, "r", &msg).unwrap();
            let publish = decode(&bytes).unwrap();
            assert_eq!(publish.uid, UID.as_bytes());
            assert_eq!(publish.room, "r");
            assert_eq!(publish.msg, msg);
        }
    }

    #[test]
    fn control_frames_and_overlong_rooms_are_not_published() {
        assert_eq!(encode(UID, "r", &Message::Ping(Bytes::new())), None);
        assert_eq!(encode(UID, &"r".repeat(65_536), &Message::text("x")), None);
        assert!(encode(UID, &"r".repeat(65_535), &Message::text("x")).is_some());
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let good = encode(UID, "room", &Message::text("x")).unwrap();
        for cut in [0, 1, 10, 14, 15, 18] {
            assert_eq!(decode(&good[..cut]), Err(WireError::Short), "{cut} bytes");
        }
        assert!(decode(&good[..20]).is_ok()); // the message is the rest: may be empty
        let mut op = good.clone();
        op[0] = 9;
        assert_eq!(decode(&op), Err(WireError::Opcode(9)));
        let mut text = good.clone();
        text.push(0xff);
        assert_eq!(decode(&text), Err(WireError::Utf8));
        let mut room = good;
        room[16] = 0xff;
        assert_eq!(decode(&room), Err(WireError::Utf8));
    }
}
