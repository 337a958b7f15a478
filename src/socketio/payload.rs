//! [`Payload`]: the arguments of an event or an acknowledgement.

use serde_json::Value;
use tungstenite::Bytes;

use super::packet::{placeholder, placeholder_index};

/// The arguments of an event or an ack: JSON values, and the binary buffers they refer to.
///
/// In Socket.IO a buffer may stand anywhere among the arguments. Here a binary argument is
/// a placeholder value (`{"_placeholder":true,"num":N}`, as on the wire) that
/// [`binary`](Self::binary) resolves to its bytes. A received payload can be sent on as it
/// is: its placeholders and buffers stay paired.
///
/// Received JSON is kept as JavaScript wrote it: keys in order, numbers as their text, and
/// a lone surrogate in a string (`"\ud83c"`) as the character U+10F800 + (its code unit
/// − 0xD800), which is written back out as the same lone surrogate; see the
/// [module docs](super#json-as-javascript-writes-it).
///
/// ```
/// use serde_json::json;
/// use wsreactor::socketio::Payload;
///
/// let p = Payload::new().arg("photo.png").bin(vec![0x89, b'P', b'N', b'G']);
/// assert_eq!(p.text(0), Some("photo.png"));
/// assert_eq!(p.binary(&p.args()[1]).map(|b| b.len()), Some(4));
/// // a single value is a single argument, even an array
/// assert_eq!(Payload::from(json!([1, 2])).args().len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    pub(crate) args: Vec<Value>,
    pub(crate) bins: Vec<Bytes>,
}

impl Payload {
    /// No arguments.
    pub fn new() -> Self {
        Payload::default()
    }

    /// Adds a JSON argument.
    pub fn arg(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Adds a binary argument (a `Buffer` or `ArrayBuffer` on the JavaScript side).
    pub fn bin(mut self, bytes: impl Into<Bytes>) -> Self {
        self.args.push(placeholder(self.bins.len()));
        self.bins.push(bytes.into());
        self
    }

    /// The arguments, binary ones as placeholders.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// The arguments, by value.
    pub fn into_args(self) -> Vec<Value> {
        self.args
    }

    /// Argument `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.args.get(i)
    }

    /// Argument `i` if it is a string.
    pub fn text(&self, i: usize) -> Option<&str> {
        self.args.get(i).and_then(Value::as_str)
    }

    /// The bytes a placeholder argument (or a placeholder nested in one) stands for.
    pub fn binary(&self, placeholder: &Value) -> Option<&Bytes> {
        self.bins.get(placeholder_index(placeholder)?)
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.bins
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }
}

/// One JSON argument.
impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload::new().arg(value)
    }
}

/// One JSON argument from a Rust value: `emit("n", 3)`, `emit("ok", true)`,
/// `emit("msg", "text")`.
macro_rules! one_arg {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Payload {
            fn from(value: $ty) -> Self {
                Payload::new().arg(value)
            }
        }
    )*};
}

one_arg!(&str, String, bool, i32, i64, u32, u64, f64);

/// One binary argument.
impl From<Bytes> for Payload {
    fn from(value: Bytes) -> Self {
        Payload::new().bin(value)
    }
}

/// No arguments.
impl From<()> for Payload {
    fn from((): ()) -> Self {
        Payload::new()
    }
}

/// Several JSON arguments.
impl FromIterator<Value> for Payload {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Payload {
            args: iter.into_iter().collect(),
            bins: Vec::new(),
        }
    }
}
