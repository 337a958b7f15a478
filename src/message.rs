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
/// `string_view`.
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

#[derive(Debug)]
enum Repr<'a> {
    /// Valid UTF-8 (checked once, by the decoder).
    Text(&'a [u8]),
    Binary(&'a [u8]),
    Owned(Message),
}

impl<'a> MessageRef<'a> {
    /// A Text message whose payload was checked to be UTF-8.
    pub(crate) fn text(text: &'a [u8]) -> Self {
        MessageRef {
            repr: Repr::Text(text),
        }
    }

    pub(crate) fn binary(data: &'a [u8]) -> Self {
        MessageRef {
            repr: Repr::Binary(data),
        }
    }

    /// A message that has its own buffer.
    pub(crate) fn owned(msg: Message) -> Self {
        MessageRef {
            repr: Repr::Owned(msg),
        }
    }

    /// Whether it is a Text message.
    pub fn is_text(&self) -> bool {
        match &self.repr {
            Repr::Text(_) => true,
            Repr::Binary(_) => false,
            Repr::Owned(msg) => msg.is_text(),
        }
    }

    /// Its text, or `None` for a Binary message.
    ///
    /// A lent text was checked to be UTF-8 as it arrived; making it a `&str` checks it
    /// again (about 10 ns for 32 bytes: std's check runs at half speed on bytes that do not
    /// start at a word boundary), since this crate has no `unsafe` code to skip that.
    /// [`as_bytes`](Self::as_bytes) costs nothing.
    pub fn as_text(&self) -> Option<&str> {
        match &self.repr {
            Repr::Text(text) => std::str::from_utf8(text).ok(),
            Repr::Owned(Message::Text(text)) => Some(text.as_str()),
            Repr::Binary(_) | Repr::Owned(_) => None,
        }
    }

    /// Its payload: the text's UTF-8 bytes, or the binary data.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Text(text) | Repr::Binary(text) => text,
            Repr::Owned(Message::Text(text)) => text.as_bytes(),
            Repr::Owned(msg) => match msg {
                Message::Binary(data) => data,
                // Only Text and Binary messages are made into one.
                _ => &[],
            },
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

    /// The message, owned: copied out of the read buffer if it was lent (one allocation;
    /// a text is checked again as it becomes a `Utf8Bytes`), moved if it was owned.
    pub fn into_message(self) -> Message {
        match self.repr {
            // Checked in its own allocation, which starts at a word boundary (see
            // `as_text`); lossy only in name: it was checked as it arrived.
            Repr::Text(text) => {
                let text = String::from_utf8(text.to_vec())
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                Message::Text(Utf8Bytes::from(text))
            }
            Repr::Binary(data) => Message::Binary(Bytes::copy_from_slice(data)),
            Repr::Owned(msg) => msg,
        }
    }

    /// What goes on the wire: borrowed as `(is_text, payload)`, or the owned message.
    pub(crate) fn into_parts(self) -> Result<(bool, &'a [u8]), Message> {
        match self.repr {
            Repr::Text(text) => Ok((true, text)),
            Repr::Binary(data) => Ok((false, data)),
            Repr::Owned(msg) => Err(msg),
        }
    }
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
    fn borrowed_and_owned_say_the_same_and_become_the_same_message() {
        let pairs = [
            (MessageRef::text("héllo".as_bytes()), Message::text("héllo")),
            (
                MessageRef::binary(b"\x00\xff"),
                Message::binary(&b"\x00\xff"[..]),
            ),
        ];
        for (borrowed, msg) in pairs {
            let owned = MessageRef::owned(msg.clone());
            for m in [&borrowed, &owned] {
                assert_eq!(m.is_text(), msg.is_text());
                assert_eq!(m.as_bytes(), &msg.clone().into_data()[..]);
                assert_eq!(m.as_text(), msg.to_text().ok().filter(|_| msg.is_text()));
                assert_eq!(m.len(), msg.len());
            }
            assert_eq!(borrowed.into_message(), msg);
            assert_eq!(owned.into_message(), msg);
        }
    }
}
