//! Socket.IO v5 packets, sans I/O: the default parser's text format.
//!
//! ```text
//! <type>[<# of binary attachments>-][<namespace>,][<ack id>][JSON payload]
//! ```
//!
//! "the namespace is only included if it is different from the main namespace (`/`)"; a
//! binary packet's payload holds `{"_placeholder":true,"num":N}` where each buffer was, and
//! the N buffers follow as their own Engine.IO messages (socket.io-protocol, Packet
//! encoding). Encoded packets come out as Engine.IO message text (`4` + packet).

use serde_json::Value;

use super::json::{self, JsonError};

/// Attachments accepted on one binary packet (the reference parser's `maxAttachments`).
pub(crate) const MAX_ATTACHMENTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

/// A decoded packet. A binary one still needs `attachments` buffers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Packet {
    pub(crate) kind: Kind,
    pub(crate) attachments: usize,
    pub(crate) nsp: String,
    pub(crate) id: Option<u64>,
    pub(crate) data: Option<Value>,
    /// Its JSON was nested deeper than [`json::MAX_DEPTH`]: valid, but not read. The packet
    /// is dropped once its attachments are in; the session goes on, as the reference
    /// server's does.
    pub(crate) too_deep: bool,
}

/// The packet breaks the format; the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

/// Decodes a packet from the text of an Engine.IO message.
pub(crate) fn decode(text: &str) -> Result<Packet, Invalid> {
    let bytes = text.as_bytes();
    let kind = match bytes.first() {
        Some(b'0') => Kind::Connect,
        Some(b'1') => Kind::Disconnect,
        Some(b'2') => Kind::Event,
        Some(b'3') => Kind::Ack,
        Some(b'4') => Kind::ConnectError,
        Some(b'5') => Kind::BinaryEvent,
        Some(b'6') => Kind::BinaryAck,
        _ => return Err(Invalid),
    };
    let mut i = 1;
    let mut attachments = 0;
    if matches!(kind, Kind::BinaryEvent | Kind::BinaryAck) {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || bytes.get(i + digits) != Some(&b'-') {
            return Err(Invalid);
        }
        attachments = text[i..i + digits].parse().map_err(|_| Invalid)?;
        // A binary packet announces at least one attachment (the reference parser throws
        // "Illegal attachments" below 1).
        if !(1..=MAX_ATTACHMENTS).contains(&attachments) {
            return Err(Invalid);
        }
        i += digits + 1;
    }
    // The namespace runs to the first comma, or to the end: `40/admin` is valid.
    let nsp = if bytes.get(i) == Some(&b'/') {
        let end = text[i..].find(',').map_or(text.len(), |n| i + n);
        let nsp = text[i..end].to_owned();
        i = (end + 1).min(text.len());
        nsp
    } else {
        "/".to_owned()
    };
    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let id = if digits > 0 {
        let id = text[i..i + digits].parse().map_err(|_| Invalid)?;
        i += digits;
        Some(id)
    } else {
        None
    };
    let (data, too_deep) = if i < text.len() {
        match json::parse(&text[i..]) {
            Ok(data) => (Some(data), false),
            Err(JsonError::TooDeep) => (None, true),
            Err(JsonError::Invalid) => return Err(Invalid),
        }
    } else {
        (None, false)
    };
    if !too_deep && !payload_is_valid(kind, data.as_ref()) {
        return Err(Invalid);
    }
    Ok(Packet {
        kind,
        attachments,
        nsp,
        id,
        data,
        too_deep,
    })
}

/// The payload rules of the protocol: CONNECT carries an object (or nothing), DISCONNECT
/// nothing, EVENT a non-empty array whose first element is the event name, ACK an array.
fn payload_is_valid(kind: Kind, data: Option<&Value>) -> bool {
    match (kind, data) {
        (Kind::Connect, None | Some(Value::Object(_))) => true,
        (Kind::Disconnect, None) => true,
        (Kind::ConnectError, Some(Value::Object(_) | Value::String(_))) => true,
        (Kind::Event | Kind::BinaryEvent, Some(Value::Array(items))) => match items.first() {
            Some(Value::Number(_)) => true,
            Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
            _ => false,
        },
        (Kind::Ack | Kind::BinaryAck, Some(Value::Array(_))) => true,
        _ => false,
    }
}

/// An EVENT's name, its payload's first element, as listeners are keyed: a string as it
/// is, a number as its text (`socket.emit(1)` in JavaScript reaches the listeners of `"1"`).
pub(crate) fn event_name(first: Value) -> String {
    match first {
        Value::String(name) => name,
        other => other.to_string(),
    }
}

/// Names a client may not emit: the reference keeps them for its own events.
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether every placeholder in `value` names one of `count` attachments (the reference
/// parser refuses the packet otherwise).
pub(crate) fn placeholders_are_valid(value: &Value, count: usize) -> bool {
    match value {
        Value::Array(items) => items.iter().all(|v| placeholders_are_valid(v, count)),
        Value::Object(map) => match placeholder_index(value) {
            Some(num) => num < count,
            None if map.get("_placeholder") == Some(&Value::Bool(true)) => false,
            None => map.values().all(|v| placeholders_are_valid(v, count)),
        },
        _ => true,
    }
}

/// The attachment a placeholder object stands for.
pub(crate) fn placeholder_index(value: &Value) -> Option<usize> {
    let map = value.as_object()?;
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    map.get("num")?.as_u64().map(|n| n as usize)
}

/// A placeholder for attachment `num`.
pub(crate) fn placeholder(num: usize) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("_placeholder".into(), Value::Bool(true));
    map.insert("num".into(), num.into());
    Value::Object(map)
}

/// A packet being encoded: bytes, UTF-8 by construction (ASCII, the caller's `&str`s, and
/// JSON that serde_json writes straight in, with no buffer of its own per value).
struct Encoder(Vec<u8>);

impl Encoder {
    fn push(&mut self, c: char) {
        let mut utf8 = [0; 4];
        self.push_str(c.encode_utf8(&mut utf8));
    }

    fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    fn number(&mut self, n: u64) {
        self.push_str(itoa::Buffer::new().format(n));
    }

    fn json<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        json::write(&mut self.0, value);
    }

    fn finish(self) -> String {
        // Checked once per packet; it cannot fail (see the type's docs).
        String::from_utf8(self.0)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// Starts an encoded packet: `4` (the Engine.IO message type), then the Socket.IO header.
fn header(kind: Kind, attachments: usize, nsp: &str, id: Option<u64>) -> Encoder {
    let mut s = Encoder(Vec::with_capacity(64));
    s.push('4');
    let (digit, binary) = match kind {
        Kind::Connect => ('0', false),
        Kind::Disconnect => ('1', false),
        Kind::Event if attachments > 0 => ('5', true),
        Kind::Event | Kind::BinaryEvent => ('2', false),
        Kind::Ack if attachments > 0 => ('6', true),
        Kind::Ack | Kind::BinaryAck => ('3', false),
        Kind::ConnectError => ('4', false),
    };
    s.push(digit);
    if binary {
        s.number(attachments as u64);
        s.push('-');
    }
    if nsp != "/" {
        s.push_str(nsp);
        s.push(',');
    }
    if let Some(id) = id {
        s.number(id);
    }
    s
}

/// `[name, args...]` as an EVENT (BINARY_EVENT with attachments).
pub(crate) fn event(
    nsp: &str,
    name: &str,
    args: &[Value],
    attachments: usize,
    (id, offset): (Option<u64>, Option<u64>),
) -> String {
    let mut s = header(Kind::Event, attachments, nsp, id);
    s.push('[');
    s.json(name);
    for arg in args {
        s.push(',');
        s.json(arg);
    }
    // Connection state recovery's offset: the last argument, a string.
    if let Some(offset) = offset {
        s.push_str(",\"");
        s.number(offset);
        s.push('"');
    }
    s.push(']');
    s.finish()
}

/// `[args...]` answering ack `id` (BINARY_ACK with attachments).
pub(crate) fn ack(nsp: &str, id: u64, args: &[Value], attachments: usize) -> String {
    let mut s = header(Kind::Ack, attachments, nsp, Some(id));
    s.push('[');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.json(arg);
    }
    s.push(']');
    s.finish()
}

/// The CONNECT answer: `{"sid":..}`, and `"pid":..` with recovery on.
pub(crate) fn connect(nsp: &str, sid: &str, pid: Option<&str>) -> String {
    let mut s = header(Kind::Connect, 0, nsp, None);
    s.push_str(r#"{"sid":"#);
    s.json(sid);
    if let Some(pid) = pid {
        s.push_str(r#","pid":"#);
        s.json(pid);
    }
    s.push('}');
    s.finish()
}

/// CONNECT_ERROR with `{"message":..[,"data":..]}`.
pub(crate) fn connect_error(nsp: &str, message: &str, data: Option<&Value>) -> String {
    let mut s = header(Kind::ConnectError, 0, nsp, None);
    s.push_str(r#"{"message":"#);
    s.json(message);
    if let Some(data) = data {
        s.push_str(r#","data":"#);
        s.json(data);
    }
    s.push('}');
    s.finish()
}

pub(crate) fn disconnect(nsp: &str) -> String {
    header(Kind::Disconnect, 0, nsp, None).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn packet(kind: Kind, nsp: &str, id: Option<u64>, data: Option<Value>) -> Packet {
        Packet {
            kind,
            attachments: 0,
            nsp: nsp.into(),
            id,
            data,
            too_deep: false,
        }
    }

    #[test]
    fn decodes_the_protocol_examples() {
        assert_eq!(decode("0"), Ok(packet(Kind::Connect, "/", None, None)));
        assert_eq!(
            decode(r#"0/admin,{"token":"123"}"#),
            Ok(packet(
                Kind::Connect,
                "/admin",
                None,
                Some(json!({"token": "123"}))
            ))
        );
        assert_eq!(
            decode("0/random"),
            Ok(packet(Kind::Connect, "/random", None, None))
        );
        assert_eq!(
            decode("1/admin,"),
            Ok(packet(Kind::Disconnect, "/admin", None, None))
        );
        assert_eq!(
            decode("1/custom"),
            Ok(packet(Kind::Disconnect, "/custom", None, None))
        );
        assert_eq!(
            decode(r#"2["foo"]"#),
            Ok(packet(Kind::Event, "/", None, Some(json!(["foo"]))))
        );
        assert_eq!(
            decode(r#"2/admin,12["bar"]"#),
            Ok(packet(
                Kind::Event,
                "/admin",
                Some(12),
                Some(json!(["bar"]))
            ))
        );
        assert_eq!(
            decode(r#"3/admin,13["bar"]"#),
            Ok(packet(Kind::Ack, "/admin", Some(13), Some(json!(["bar"]))))
        );
        assert_eq!(
            decode("2[1]").unwrap().data,
            Some(json!([1])),
            "numeric names"
        );
        let bin = decode(
            r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        )
        .unwrap();
        assert_eq!(
            (bin.kind, bin.attachments, bin.nsp.as_str()),
            (Kind::BinaryEvent, 2, "/admin")
        );
        let bin = decode(r#"61-15["bar",{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(
            (bin.kind, bin.attachments, bin.id),
            (Kind::BinaryAck, 1, Some(15))
        );
    }

    #[test]
    fn refuses_what_the_reference_refuses() {
        for text in [
            "",
            "abc",
            "7",
            "2{}",
            "2",
            "2[]",
            r#"2["disconnect"]"#,
            r#"2abc["message"]"#,
            r#"2[true]"#,
            "3{}",
            r#"1["x"]"#,
            r#"0"str""#,
            r#"5["x"]"#,
            r#"5x-["x"]"#,
            r#"511-["x"]"#,
            r#"50-["x"]"#,
            "299999999999999999999999[\"x\"]",
            r#"2["x""#,
        ] {
            assert_eq!(decode(text), Err(Invalid), "{text:?}");
        }
    }

    #[test]
    fn placeholders_must_name_attachments() {
        let v = json!(["x", {"a": [{"_placeholder": true, "num": 1}]}]);
        assert!(placeholders_are_valid(&v, 2));
        assert!(!placeholders_are_valid(&v, 1));
        assert!(!placeholders_are_valid(&json!([{"_placeholder": true}]), 3));
        assert_eq!(placeholder_index(&placeholder(4)), Some(4));
        assert_eq!(
            placeholder(0).to_string(),
            r#"{"_placeholder":true,"num":0}"#
        );
    }

    #[test]
    fn encodes_as_engine_io_messages() {
        assert_eq!(connect("/", "abc", None), r#"40{"sid":"abc"}"#);
        assert_eq!(connect("/admin", "abc", None), r#"40/admin,{"sid":"abc"}"#);
        assert_eq!(connect("/", "a", Some("p")), r#"40{"sid":"a","pid":"p"}"#);
        assert_eq!(
            connect_error("/random", "Invalid namespace", None),
            r#"44/random,{"message":"Invalid namespace"}"#
        );
        assert_eq!(
            connect_error("/", "no", Some(&json!({"code": 1}))),
            r#"44{"message":"no","data":{"code":1}}"#
        );
        assert_eq!(disconnect("/"), "41");
        assert_eq!(disconnect("/admin"), "41/admin,");
        assert_eq!(
            event("/", "hey", &[json!("Jude")], 0, (None, None)),
            r#"42["hey","Jude"]"#
        );
        assert_eq!(event("/a", "x", &[], 0, (Some(7), None)), r#"42/a,7["x"]"#);
        let with_offset = event("/", "n", &[json!(1)], 0, (None, Some(12)));
        assert_eq!(
            with_offset, r#"42["n",1,"12"]"#,
            "the offset goes last, a string"
        );
        assert_eq!(
            event("/", "m", &[placeholder(0)], 1, (None, None)),
            r#"451-["m",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(ack("/", 456, &[json!(1), json!("2")], 0), r#"43456[1,"2"]"#);
        assert_eq!(ack("/", 1, &[], 0), "431[]");
        assert_eq!(
            ack("/admin", 1, &[placeholder(0)], 1),
            r#"461-/admin,1[{"_placeholder":true,"num":0}]"#
        );
        // what we encode, we decode
        let text = event(
            "/admin",
            "e\"v",
            &[json!({"k": [1, null]})],
            0,
            (Some(3), None),
        );
        let back = decode(&text[1..]).unwrap();
        assert_eq!(back.data, Some(json!(["e\"v", {"k": [1, null]}])));
    }
}
