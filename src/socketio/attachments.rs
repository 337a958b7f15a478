//! A client's binary packets put back together, sans I/O: a BINARY_EVENT or BINARY_ACK
//! announces `N` attachments, and "the N buffers follow as their own Engine.IO messages"
//! (socket.io-protocol, Packet encoding). One [`Reassembly`] per client, fed its messages in
//! order: the reference parser's `Decoder` and `BinaryReconstructor`.

use std::fmt;

use log::debug;
use tungstenite::Bytes;

use super::engine::packet::Incoming;
use super::json;
use super::packet::{self, Packet};

/// A binary packet waiting for its attachments, if any.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    partial: Option<(Packet, Vec<Bytes>)>,
}

/// Why a client's messages break the format; the reference closes the session (parse
/// error), and so do we.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broken {
    /// A text message that is not a valid packet.
    Packet,
    /// Text while attachments are awaited ("got plaintext data when reconstructing a
    /// packet").
    TextForAttachment,
    /// Binary with no binary packet waiting ("got binary data when not reconstructing a
    /// packet").
    UnexpectedBinary,
    /// A placeholder names no attachment ("illegal attachments").
    Placeholder,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Broken::Packet => "invalid Socket.IO packet",
            Broken::TextForAttachment => "text message while attachments are awaited",
            Broken::UnexpectedBinary => "binary message with no attachment awaited",
            Broken::Placeholder => "placeholder naming no attachment",
        })
    }
}

impl Reassembly {
    /// Takes the client's next message: a whole packet with its attachments (in order)
    /// once it is complete; `None` while attachments are awaited, or for a packet too deep
    /// to read (valid JSON, dropped: the session goes on, as the reference server's does).
    pub(crate) fn push(
        &mut self,
        msg: Incoming<'_>,
    ) -> Result<Option<(Packet, Vec<Bytes>)>, Broken> {
        let (packet, bins) = match (msg, self.partial.as_mut()) {
            (Incoming::Text(text), None) => {
                let packet = packet::decode(text).map_err(|_| Broken::Packet)?;
                if packet.attachments > 0 {
                    let bins = Vec::with_capacity(packet.attachments);
                    self.partial = Some((packet, bins));
                    return Ok(None);
                }
                (packet, Vec::new())
            }
            (Incoming::Binary(bytes), Some((packet, bins))) => {
                bins.push(bytes);
                if bins.len() < packet.attachments {
                    return Ok(None);
                }
                match self.partial.take() {
                    Some(complete) => complete,
                    None => return Ok(None),
                }
            }
            (Incoming::Text(_), Some(_)) => return Err(Broken::TextForAttachment),
            (Incoming::Binary(_), None) => return Err(Broken::UnexpectedBinary),
        };
        if packet.too_deep {
            debug!(
                "packet nested deeper than {} levels dropped",
                json::MAX_DEPTH
            );
            return Ok(None);
        }
        // Only a binary packet's placeholders stand for attachments: in any other, an
        // object that looks like one is data, as the reference reads it.
        if let (true, Some(data)) = (packet.attachments > 0, &packet.data) {
            if !packet::placeholders_are_valid(data, bins.len()) {
                return Err(Broken::Placeholder);
            }
        }
        Ok(Some((packet, bins)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::socketio::packet::Kind;

    fn bin(b: &'static [u8]) -> Incoming<'static> {
        Incoming::Binary(Bytes::from_static(b))
    }

    #[test]
    fn a_binary_packet_completes_with_its_last_attachment() {
        let mut r = Reassembly::default();
        let head = r#"52-["up",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#;
        assert_eq!(r.push(Incoming::Text(head)), Ok(None));
        assert_eq!(r.push(bin(b"a")), Ok(None));
        let (packet, bins) = r.push(bin(b"b")).unwrap().unwrap();
        assert_eq!(packet.kind, Kind::BinaryEvent);
        assert_eq!(bins, [Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        // and the next packet starts afresh
        let (packet, bins) = r.push(Incoming::Text(r#"2["x"]"#)).unwrap().unwrap();
        assert_eq!((packet.kind, bins.len()), (Kind::Event, 0));
    }

    #[test]
    fn what_the_reference_decoder_throws_on_breaks_the_session() {
        let mut r = Reassembly::default();
        assert_eq!(r.push(Incoming::Text("9")), Err(Broken::Packet));
        assert_eq!(r.push(bin(b"x")), Err(Broken::UnexpectedBinary));
        let head = r#"51-["up",{"_placeholder":true,"num":0}]"#;
        assert_eq!(r.push(Incoming::Text(head)), Ok(None));
        assert_eq!(
            r.push(Incoming::Text(r#"2["x"]"#)),
            Err(Broken::TextForAttachment)
        );
        let mut r = Reassembly::default();
        let head = r#"51-["up",{"_placeholder":true,"num":1}]"#;
        assert_eq!(r.push(Incoming::Text(head)), Ok(None));
        assert_eq!(r.push(bin(b"x")), Err(Broken::Placeholder));
    }

    #[test]
    fn a_placeholder_in_a_packet_without_attachments_is_data() {
        let mut r = Reassembly::default();
        let text = r#"2["x",{"_placeholder":true,"num":0}]"#;
        let (packet, bins) = r.push(Incoming::Text(text)).unwrap().unwrap();
        assert!(bins.is_empty());
        assert_eq!(
            packet.data,
            Some(json!(["x", {"_placeholder": true, "num": 0}]))
        );
    }

    #[test]
    fn a_packet_too_deep_is_dropped_once_its_attachments_are_in() {
        let mut r = Reassembly::default();
        let deep = format!(r#"51-["x",{}{}]"#, "[".repeat(300), "]".repeat(300));
        assert_eq!(r.push(Incoming::Text(&deep)), Ok(None));
        assert_eq!(r.push(bin(b"x")), Ok(None));
        assert!(r.push(Incoming::Text(r#"2["x"]"#)).unwrap().is_some());
    }
}
