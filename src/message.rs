//! A received message as the handler first sees it: borrowed from the reactor's read
//! buffer when it arrived whole in one read, owned otherwise.

use tungstenite::{Bytes, Message, Utf8Bytes};

/// A Text or Binary message handed to [`Handler::on_message_ref`](crate::Handler::on_message_ref).
///
/// A message that arrived whole in one socket read (a single frame of at most 64 KiB, the
/// common case) is unmasked in the reactor's read buffer and lent from there for the
/// callback: no allocation, no copy. Any other message (fragmented, larger, or split
/// across reads) was assembled in a buffer of its own and is handed over owned. Either
/// way its text was validated as UTF-8 (RFC 6455 §8.1) before the callback runs.
///
/// Keep it by calling [`into_message`](Self::into_message) (a copy if it was borrowed);
/// send it back with [`Ctx::send`](crate::Ctx::send), which copies a borrowed message
/// straight into the connection's outbound buffer, as uWebSockets' handlers do with their
/// `string_view`; one of 2 KiB or more sent back to the connection it came from is not
/// copied at all: that connection is written from the read buffer as soon as its read is
/// done (what the socket does not take then is copied).
///
/// ```no_run
/// use wsreactor::{Ctx, Handler, MessageRef, Server};
///
/// /// Echoes every message but the text "quiet".
/// struct Echo;
///
/// impl Handler for Echo {
///     fn on_message_ref(&mut self, ctx: &mut Ctx<'_>, msg: MessageRef<'_>) {
///         if msg.as_bytes() != b"quiet" || !msg.is_text() {
///             ctx.send(msg);
///         }
///     }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// Server::bind("127.0.0.1:8080")?.run(Echo)
/// # }
/// ```
#[derive(Debug)]
pub struct MessageRef<'a> {
    repr: Repr<'a>,
}

/// What a [`MessageRef`] holds. A text payload is valid UTF-8, checked once as it
/// arrived.
///
/// A lent message's kind is its variant, not a `bool` field: all its fields are words, so
/// [`MessageRef::rebuilt`] can move it without a stall.
#[derive(Debug)]
pub(crate) enum Repr<'a> {
    /// A text in the reactor's read buffer, from its byte `at`.
    LentText { payload: &'a [u8], at: usize },
    /// Binary data in the reactor's read buffer, from its byte `at`.
    LentBinary { payload: &'a [u8], at: usize },
    /// Collected in an allocation of its own (a message that did not arrive whole).
    Payload { text: bool, payload: Bytes },
    /// What [`Ctx::send`](crate::Ctx::send) was given: any message.
    Owned(Message),
}

impl<'a> MessageRef<'a> {
    /// A message in the read buffer, from its byte `at`; a text one was checked to be
    /// UTF-8.
    #[inline]
    pub(crate) fn lent(text: bool, payload: &'a [u8], at: usize) -> Self {
        let repr = match text {
            true => Repr::LentText { payload, at },
            false => Repr::LentBinary { payload, at },
        };
        MessageRef { repr }
    }

    /// The same message, a lent one rebuilt field by field: moved whole it is copied with
    /// wide loads just after the stores that built it, which wait for them (store
    /// forwarding fails; `perf annotate`: 2.4 % of the echo server's CPU); field by field,
    /// each load meets its own store.
    #[inline(always)]
    pub(crate) fn rebuilt(self) -> Self {
        let repr = match self.repr {
            Repr::LentText { payload, at } => Repr::LentText { payload, at },
            Repr::LentBinary { payload, at } => Repr::LentBinary { payload, at },
            repr => repr,
        };
        MessageRef { repr }
    }

    /// A message collected in its own allocation; a text one was checked to be UTF-8.
    pub(crate) fn payload(text: bool, payload: Bytes) -> Self {
        MessageRef {
            repr: Repr::Payload { text, payload },
        }
    }

    /// Any message (what `Ctx::send` was given).
    pub(crate) fn owned(msg: Message) -> Self {
        MessageRef {
            repr: Repr::Owned(msg),
        }
    }

    /// Whether it is a Text message.
    pub fn is_text(&self) -> bool {
        match &self.repr {
            Repr::LentText { .. } => true,
            Repr::LentBinary { .. } => false,
            Repr::Payload { text, .. } => *text,
            Repr::Owned(msg) => msg.is_text(),
        }
    }

    /// Its text, or `None` for a Binary message.
    ///
    /// A received text was checked to be UTF-8 as it arrived; making it a `&str` checks it
    /// again (about 10 ns for 32 bytes in the read buffer: std's check runs at half speed
    /// on bytes that do not start at a word boundary), since this crate has no `unsafe`
    /// code to skip that. [`as_bytes`](Self::as_bytes) costs nothing.
    pub fn as_text(&self) -> Option<&str> {
        match &self.repr {
            Repr::LentText { .. } | Repr::Payload { text: true, .. } => {
                std::str::from_utf8(self.as_bytes()).ok()
            }
            Repr::Owned(Message::Text(text)) => Some(text.as_str()),
            Repr::LentBinary { .. } | Repr::Payload { .. } | Repr::Owned(_) => None,
        }
    }

    /// Its payload: the text's UTF-8 bytes, or the binary data (a Ping's or Pong's
    /// payload for what `Ctx::send` was given; nothing for a Close).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::LentText { payload, .. } | Repr::LentBinary { payload, .. } => payload,
            Repr::Payload { payload, .. } => payload,
            Repr::Owned(Message::Text(text)) => text.as_bytes(),
            Repr::Owned(Message::Binary(data) | Message::Ping(data) | Message::Pong(data)) => data,
            Repr::Owned(Message::Close(_) | Message::Frame(_)) => &[],
        }
    }

    /// Payload bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// The message, owned: a lent one copied out of the read buffer (one allocation), a
    /// collected one moved. A text is checked again as it becomes a `Utf8Bytes` (see
    /// [`as_text`](Self::as_text)).
    pub fn into_message(self) -> Message {
        match self.repr {
            Repr::LentText { payload, .. } => text_message(payload.to_vec()),
            Repr::LentBinary { payload, .. } => Message::Binary(Bytes::copy_from_slice(payload)),
            Repr::Payload {
                text: true,
                payload,
            } => text_message(Vec::from(payload)),
            Repr::Payload {
                text: false,
                payload,
            } => Message::Binary(payload),
            Repr::Owned(msg) => msg,
        }
    }

    /// What it holds, for sending it.
    pub(crate) fn into_repr(self) -> Repr<'a> {
        self.repr
    }
}

/// A Text message of bytes checked to be UTF-8 as they arrived; checked again in their own
/// allocation, which starts at a word boundary (lossy only in name).
fn text_message(checked: Vec<u8>) -> Message {
    let text = String::from_utf8(checked)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Message::Text(Utf8Bytes::from(text))
}

/// Whatever becomes a [`Message`] (`&str`, `String`, `Vec<u8>`, [`Bytes`], ...), owned:
/// what [`Ctx::send`](crate::Ctx::send) takes besides a received `MessageRef`.
impl<T: Into<Message>> From<T> for MessageRef<'_> {
    fn from(msg: T) -> Self {
        MessageRef::owned(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lent_collected_and_owned_say_the_same_and_become_the_same_message() {
        for msg in [Message::text("héllo"), Message::binary(&b"\x00\xff"[..])] {
            let (text, bytes) = (msg.is_text(), msg.clone().into_data());
            let forms = [
                MessageRef::lent(text, &bytes, 0),
                MessageRef::payload(text, bytes.clone()),
                MessageRef::owned(msg.clone()),
            ];
            for m in forms {
                assert_eq!(m.is_text(), text);
                assert_eq!(m.as_bytes(), &bytes[..]);
                assert_eq!(m.as_text(), msg.to_text().ok().filter(|_| text));
                assert_eq!(m.len(), msg.len());
                assert_eq!(m.into_message(), msg);
            }
        }
    }
}
