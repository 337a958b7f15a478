//! Engine.IO v4 packets and their two encodings, sans I/O.
//!
//! A packet is a type digit and an optional payload: `0` open, `1` close, `2` ping, `3`
//! pong, `4` message, `5` upgrade, `6` noop. On WebSocket each packet is one frame, and a
//! binary message is a binary frame as is. On long-polling a payload joins packets with
//! the record separator `\x1e`, and "Binary payloads MUST be base64-encoded and prefixed
//! with a `b` character" (engine.io-protocol, Packet encoding).

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use tungstenite::{Bytes, Message, Utf8Bytes};

/// Standard base64 (RFC 4648 §4), padded when written. Read with padding optional and the
/// bits past the last whole byte ignored, as the reference's reader (Node's
/// `Buffer.from(data, "base64")`) takes them; characters outside the alphabet, which Node
/// skips and no client sends, are refused.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Separates packets in a long-polling payload.
pub(crate) const SEPARATOR: u8 = 0x1e;

/// A packet received from a client. Text payloads borrow from the frame or request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    Open,
    Close,
    /// `2`, or `2probe` during an upgrade.
    Ping {
        probe: bool,
    },
    Pong {
        probe: bool,
    },
    Message(Incoming<'a>),
    Upgrade,
    Noop,
}

/// The payload of a message packet as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    Text(&'a str),
    Binary(Bytes),
}

/// The packet could not be decoded; Engine.IO closes the session ("parse error").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

/// Decodes one packet sent as text: a WebSocket text frame, or one record of a polling
/// payload (where `b` marks base64 binary).
pub(crate) fn decode_text(text: &str) -> Result<Packet<'_>, Invalid> {
    let Some(kind) = text.bytes().next() else {
        return Err(Invalid);
    };
    // Every valid type is one ASCII byte; anything else is refused below.
    let data = text.get(1..).ok_or(Invalid)?;
    Ok(match kind {
        b'0' => Packet::Open,
        b'1' => Packet::Close,
        b'2' => Packet::Ping {
            probe: data == "probe",
        },
        b'3' => Packet::Pong {
            probe: data == "probe",
        },
        b'4' => Packet::Message(Incoming::Text(data)),
        b'5' => Packet::Upgrade,
        b'6' => Packet::Noop,
        b'b' => {
            let bytes = BASE64.decode(data).map_err(|_| Invalid)?;
            Packet::Message(Incoming::Binary(Bytes::from(bytes)))
        }
        _ => return Err(Invalid),
    })
}

/// Splits a polling payload (a POST body) into its packets, in order.
pub(crate) fn decode_payload(body: &[u8]) -> impl Iterator<Item = Result<Packet<'_>, Invalid>> {
    body.split(|&b| b == SEPARATOR)
        .map(|record| decode_text(std::str::from_utf8(record).map_err(|_| Invalid)?))
}

/// A packet queued for a client, already encoded for WebSocket: the text of a whole packet
/// (type digit included), or the bytes of a binary message. Cheap to clone, so a packet
/// sent to a room is encoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Out {
    pub(crate) const PING: Out = Out::Text(Utf8Bytes::from_static("2"));
    pub(crate) const PONG_PROBE: Out = Out::Text(Utf8Bytes::from_static("3probe"));
    pub(crate) const CLOSE: Out = Out::Text(Utf8Bytes::from_static("1"));
    pub(crate) const NOOP: Out = Out::Text(Utf8Bytes::from_static("6"));

    /// A text message packet: `4` + `text`.
    pub(crate) fn message(text: &str) -> Out {
        let mut s = String::with_capacity(text.len() + 1);
        s.push('4');
        s.push_str(text);
        Out::Text(s.into())
    }

    /// Its size as queued: the text's length with the type digit, or the binary's.
    pub(crate) fn len(&self) -> usize {
        match self {
            Out::Text(text) => text.len(),
            Out::Binary(bytes) => bytes.len(),
        }
    }

    /// The WebSocket frame of this packet: one packet per frame, binary as is.
    pub(crate) fn to_ws(&self) -> Message {
        match self {
            Out::Text(text) => Message::Text(text.clone()),
            Out::Binary(bytes) => Message::Binary(bytes.clone()),
        }
    }

    /// Bytes this packet takes in a polling payload, separator excluded.
    fn polling_len(&self) -> usize {
        match self {
            Out::Text(text) => text.len(),
            Out::Binary(bytes) => 1 + bytes.len().div_ceil(3) * 4,
        }
    }
}

/// Encodes packets as one polling payload: records joined by `\x1e`, binary as `b` +
/// base64.
pub(crate) fn encode_payload<'p>(packets: impl IntoIterator<Item = &'p Out>) -> Vec<u8> {
    let packets: Vec<&Out> = packets.into_iter().collect();
    let len = packets.iter().map(|p| p.polling_len() + 1).sum();
    let mut out = Vec::with_capacity(len);
    for (i, packet) in packets.into_iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        match packet {
            Out::Text(text) => out.extend_from_slice(text.as_bytes()),
            Out::Binary(bytes) => {
                out.push(b'b');
                out.extend_from_slice(BASE64.encode(bytes).as_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_packets_decode_by_type_digit() {
        let cases: [(&str, Packet<'_>); 9] = [
            ("1", Packet::Close),
            ("2", Packet::Ping { probe: false }),
            ("2probe", Packet::Ping { probe: true }),
            ("3", Packet::Pong { probe: false }),
            ("3probe", Packet::Pong { probe: true }),
            ("4hello", Packet::Message(Incoming::Text("hello"))),
            ("4", Packet::Message(Incoming::Text(""))),
            ("5", Packet::Upgrade),
            ("6", Packet::Noop),
        ];
        for (text, packet) in cases {
            assert_eq!(decode_text(text), Ok(packet), "{text:?}");
        }
        assert_eq!(
            decode_text("bAQIDBA=="),
            Ok(Packet::Message(Incoming::Binary(Bytes::from_static(&[
                1, 2, 3, 4
            ]))))
        );
    }

    #[test]
    fn invalid_packets_are_refused() {
        for text in ["", "abc", "7", "9x", "b!!", "\u{e9}"] {
            assert_eq!(decode_text(text), Err(Invalid), "{text:?}");
        }
    }

    #[test]
    fn payloads_split_on_the_record_separator() {
        let body = b"4hello\x1ebAQIDBA==\x1e2\x1e4\xe2\x82\xac";
        let packets: Vec<_> = decode_payload(body).collect();
        assert_eq!(
            packets,
            [
                Ok(Packet::Message(Incoming::Text("hello"))),
                Ok(Packet::Message(Incoming::Binary(Bytes::from_static(&[
                    1, 2, 3, 4
                ])))),
                Ok(Packet::Ping { probe: false }),
                Ok(Packet::Message(Incoming::Text("\u{20ac}"))),
            ]
        );
        assert_eq!(decode_payload(b"4a\x1e\xff").nth(1), Some(Err(Invalid)));
        assert_eq!(decode_payload(b"").next(), Some(Err(Invalid)));
    }

    #[test]
    fn binary_round_trips_as_base64() {
        // RFC 4648 §10
        let vectors = [
            ("", "b"),
            ("f", "bZg=="),
            ("fo", "bZm8="),
            ("foo", "bZm9v"),
            ("foob", "bZm9vYg=="),
            ("fooba", "bZm9vYmE="),
            ("foobar", "bZm9vYmFy"),
        ];
        let binary = |b: &[u8]| Packet::Message(Incoming::Binary(Bytes::copy_from_slice(b)));
        for (plain, coded) in vectors {
            let out = Out::Binary(Bytes::copy_from_slice(plain.as_bytes()));
            assert_eq!(encode_payload([&out]), coded.as_bytes());
            assert_eq!(decode_text(coded), Ok(binary(plain.as_bytes())));
        }
        let all: Vec<u8> = (0..=255).collect();
        let out = Out::Binary(Bytes::from(all.clone()));
        let text = String::from_utf8(encode_payload([&out])).unwrap();
        assert_eq!(text.len(), out.polling_len());
        assert_eq!(decode_text(&text), Ok(binary(&all)));
        // Node's Buffer.from(.., "base64") takes these too
        assert_eq!(decode_text("bZm9vYg"), Ok(binary(b"foob")), "unpadded");
        assert_eq!(decode_text("bZh=="), Ok(binary(b"f")), "trailing bits");
        for bad in ["bZm9v!", "bZ", "bZm=v", "bZm9vY", "bZm9v\n"] {
            assert_eq!(decode_text(bad), Err(Invalid), "{bad:?}");
        }
    }

    #[test]
    fn payloads_encode_text_as_is_and_binary_as_base64() {
        let packets = [
            Out::message("hello"),
            Out::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            Out::PING,
        ];
        assert_eq!(encode_payload(&packets), b"4hello\x1ebAQIDBA==\x1e2");
        assert_eq!(encode_payload(&[Out::NOOP]), b"6");
        assert_eq!(
            Out::Binary(Bytes::from_static(&[9])).to_ws(),
            Message::Binary(Bytes::from_static(&[9]))
        );
        assert_eq!(Out::message("x").to_ws(), Message::text("4x"));
    }
}
