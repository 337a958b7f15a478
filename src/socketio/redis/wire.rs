//! The messages of `@socket.io/redis-adapter` 8.x (classic pub/sub), in msgpack as its
//! default parser (notepack.io) writes them, and its channel names.
//!
//! A broadcast is published on `<key>#<nsp>#` (or `<key>#<nsp>#<room>#` when it is for
//! exactly one room) as `[uid, packet, {rooms, except, flags}]`, where `packet` is the
//! socket.io-parser packet before encoding: `{type: 2, data: [event, ...args], nsp}`,
//! binary arguments as msgpack `bin` values in place (no placeholders: the receiving node's
//! encoder makes those).

use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};
use tungstenite::Bytes;

use crate::socketio::adapter::Selection;
use crate::socketio::packet::{placeholder, placeholder_index};
use crate::socketio::payload::Payload;

/// socket.io-parser's `PacketType.EVENT`.
const EVENT: u64 = 2;
/// `PacketType.BINARY_EVENT`: what Socket.IO 2 and 3 nodes put in the message when an
/// argument is binary (4.x leaves that to the encoder and always writes `EVENT`).
const BINARY_EVENT: u64 = 5;
/// notepack.io writes an `ArrayBuffer` as this extension type (a `Buffer` as `bin`).
const EXT_ARRAY_BUFFER: i8 = 0;

/// The channel a broadcast to `sel` in namespace `nsp` is published on.
pub(crate) fn broadcast_channel(key: &str, nsp: &str, sel: &Selection) -> String {
    match sel.rooms.as_slice() {
        [room] => format!("{key}#{nsp}#{room}#"),
        _ => format!("{key}#{nsp}#"),
    }
}

/// The pattern every namespace's broadcasts match (the Node adapter subscribes one per
/// namespace, `<key>#<nsp>#*`; one for all lets namespaces made later take part too).
pub(crate) fn broadcast_pattern(key: &str) -> String {
    format!("{key}#*")
}

/// A broadcast another node published.
#[derive(Debug, Clone)]
pub(crate) struct Broadcast {
    pub(crate) uid: String,
    pub(crate) nsp: String,
    pub(crate) sel: Selection,
    pub(crate) event: String,
    pub(crate) payload: Payload,
}

/// Why a message on a broadcast channel was not a broadcast we can deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Not msgpack.
    Msgpack(String),
    /// msgpack, but not `[uid, {type, data: [event, ..], nsp}, {rooms, except, flags}]`.
    Shape(&'static str),
    /// A packet that is not an event (the adapter only publishes events this way).
    NotEvent,
}

/// Encodes a broadcast from node `uid`.
pub(crate) fn encode(
    uid: &str,
    nsp: &str,
    sel: &Selection,
    event: &str,
    payload: &Payload,
) -> Vec<u8> {
    let mut data = Vec::with_capacity(payload.args.len() + 1);
    data.push(Mp::from(event));
    data.extend(payload.args.iter().map(|a| to_msgpack(a, &payload.bins)));
    let packet = Mp::Map(vec![
        (Mp::from("type"), Mp::from(EVENT)),
        (Mp::from("data"), Mp::Array(data)),
        (Mp::from("nsp"), Mp::from(nsp)),
    ]);
    let rooms = |r: &[String]| Mp::Array(r.iter().map(|s| Mp::from(s.as_str())).collect());
    let mut flags = Vec::new();
    if sel.volatile {
        flags.push((Mp::from("volatile"), Mp::Boolean(true)));
    }
    let opts = Mp::Map(vec![
        (Mp::from("rooms"), rooms(&sel.rooms)),
        (Mp::from("except"), rooms(&sel.except)),
        (Mp::from("flags"), Mp::Map(flags)),
    ]);
    let msg = Mp::Array(vec![Mp::from(uid), packet, opts]);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &msg);
    out
}

/// Decodes a broadcast message.
pub(crate) fn decode(mut bytes: &[u8]) -> Result<Broadcast, DecodeError> {
    let msg =
        rmpv::decode::read_value(&mut bytes).map_err(|e| DecodeError::Msgpack(e.to_string()))?;
    let Mp::Array(parts) = msg else {
        return Err(DecodeError::Shape("not an array"));
    };
    let [uid, packet, opts] =
        <[Mp; 3]>::try_from(parts).map_err(|_| DecodeError::Shape("not 3 parts"))?;
    let uid = uid.as_str().ok_or(DecodeError::Shape("uid"))?.to_owned();
    if !matches!(
        field(&packet, "type").and_then(Mp::as_u64),
        Some(EVENT | BINARY_EVENT)
    ) {
        return Err(DecodeError::NotEvent);
    }
    // The Node adapter reads a packet without `nsp` as the main namespace's.
    let nsp = field(&packet, "nsp")
        .and_then(Mp::as_str)
        .unwrap_or("/")
        .to_owned();
    let Some(Mp::Array(data)) = field(&packet, "data") else {
        return Err(DecodeError::Shape("data"));
    };
    let (event, args) = data.split_first().ok_or(DecodeError::Shape("no event"))?;
    let event = event
        .as_str()
        .ok_or(DecodeError::Shape("event"))?
        .to_owned();
    let mut bins = Vec::new();
    let args = args.iter().map(|a| to_json(a, &mut bins)).collect();
    let names = |key| match field(&opts, key) {
        Some(Mp::Array(items)) => items.iter().map(room_name).collect(),
        _ => Vec::new(),
    };
    let volatile = field(&opts, "flags")
        .and_then(|f| field(f, "volatile"))
        .and_then(Mp::as_bool)
        .unwrap_or(false);
    let sel = Selection {
        rooms: names("rooms"),
        except: names("except"),
        volatile,
    };
    Ok(Broadcast {
        uid,
        nsp,
        sel,
        event,
        payload: Payload { args, bins },
    })
}

fn field<'a>(map: &'a Mp, key: &str) -> Option<&'a Mp> {
    let Mp::Map(entries) = map else { return None };
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// A room name: Node rooms may be numbers (`socket.join(42)`); they name the same room as
/// their text.
fn room_name(v: &Mp) -> String {
    match v {
        Mp::String(s) => s.as_str().unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

/// A JSON argument as msgpack, placeholders replaced by the bytes they stand for.
pub(super) fn to_msgpack(v: &Value, bins: &[Bytes]) -> Mp {
    match v {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => number_to_msgpack(n),
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => Mp::Array(items.iter().map(|i| to_msgpack(i, bins)).collect()),
        Value::Object(map) => match placeholder_index(v).and_then(|i| bins.get(i)) {
            Some(bytes) => Mp::Binary(bytes.to_vec()),
            None => Mp::Map(
                (map.iter())
                    .map(|(k, v)| (Mp::from(k.as_str()), to_msgpack(v, bins)))
                    .collect(),
            ),
        },
    }
}

/// As notepack.io writes a JavaScript number: an integer as an integer, anything else as
/// a float64.
fn number_to_msgpack(n: &Number) -> Mp {
    if let Some(i) = n.as_u64() {
        return Mp::from(i);
    }
    if let Some(i) = n.as_i64() {
        return Mp::from(i);
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        // `1.0` is the integer 1 in JavaScript.
        return Mp::from(f as i64);
    }
    Mp::F64(f)
}

/// A msgpack value as a JSON argument, binary values as placeholders for `bins`.
pub(super) fn to_json(v: &Mp, bins: &mut Vec<Bytes>) -> Value {
    match v {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(*b),
        Mp::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => u.into(),
            (_, Some(s)) => s.into(),
            _ => Value::Null,
        },
        // `JSON.stringify(NaN)` is `null` too.
        Mp::F32(f) => Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number),
        Mp::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Mp::String(s) => Value::String(s.as_str().map_or_else(
            || String::from_utf8_lossy(s.as_bytes()).into_owned(),
            str::to_owned,
        )),
        Mp::Binary(b) => attach(b, bins),
        Mp::Ext(EXT_ARRAY_BUFFER, b) => attach(b, bins),
        Mp::Array(items) => Value::Array(items.iter().map(|i| to_json(i, bins)).collect()),
        Mp::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (k, v) in entries {
                map.insert(room_name(k), to_json(v, bins));
            }
            Value::Object(map)
        }
        // A `Date` (notepack.io's ext -1) or an extension of the user's: JSON has no
        // value for it; `JSON.stringify` of an unknown object is `{}`.
        Mp::Ext(..) => Value::Object(Map::new()),
    }
}

fn attach(bytes: &[u8], bins: &mut Vec<Bytes>) -> Value {
    bins.push(Bytes::copy_from_slice(bytes));
    placeholder(bins.len() - 1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sel(rooms: &[&str], except: &[&str]) -> Selection {
        Selection {
            rooms: rooms.iter().map(|&r| r.to_owned()).collect(),
            except: except.iter().map(|&r| r.to_owned()).collect(),
            volatile: false,
        }
    }

    /// What notepack.io writes for `[ "ABCDEF", {type: 2, data: ["hi", 1, <Buffer 01 02>],
    /// nsp: "/"}, {rooms: ["r"], except: [], flags: {}} ]` (`notepack.encode(..)` in Node).
    const NODE: &[u8] = &[
        0x93, 0xa6, b'A', b'B', b'C', b'D', b'E', b'F', 0x83, 0xa4, b't', b'y', b'p', b'e', 0x02,
        0xa4, b'd', b'a', b't', b'a', 0x93, 0xa2, b'h', b'i', 0x01, 0xc4, 0x02, 0x01, 0x02, 0xa3,
        b'n', b's', b'p', 0xa1, b'/', 0x83, 0xa5, b'r', b'o', b'o', b'm', b's', 0x91, 0xa1, b'r',
        0xa6, b'e', b'x', b'c', b'e', b'p', b't', 0x90, 0xa5, b'f', b'l', b'a', b'g', b's', 0x80,
    ];

    #[test]
    fn reads_what_node_writes() {
        let b = decode(NODE).unwrap();
        assert_eq!(b.uid, "ABCDEF");
        assert_eq!(b.nsp, "/");
        assert_eq!(b.event, "hi");
        assert_eq!(b.sel.rooms, ["r"]);
        assert!(b.sel.except.is_empty());
        assert_eq!(b.payload.args, [json!(1), placeholder(0)]);
        assert_eq!(b.payload.bins, [Bytes::from_static(&[1, 2])]);
    }

    #[test]
    fn writes_what_node_writes() {
        let payload = Payload::new().arg(1).bin(vec![1u8, 2]);
        assert_eq!(
            encode("ABCDEF", "/", &sel(&["r"], &[]), "hi", &payload),
            NODE
        );
    }

    #[test]
    fn round_trip_keeps_nesting_and_exceptions() {
        let payload = Payload::new()
            .arg(json!({"a": [1.5, -3, null, "x"], "b": {"c": true}}))
            .bin(vec![9u8]);
        let s = Selection {
            volatile: true,
            ..sel(&["a", "b"], &["c"])
        };
        let b = decode(&encode("u", "/chat", &s, "ev", &payload)).unwrap();
        assert_eq!((b.nsp.as_str(), b.event.as_str()), ("/chat", "ev"));
        assert_eq!(b.sel.rooms, ["a", "b"]);
        assert_eq!(b.sel.except, ["c"]);
        assert!(b.sel.volatile);
        assert_eq!(b.payload, payload);
    }

    #[test]
    fn refuses_what_is_not_a_broadcast() {
        assert!(matches!(decode(b""), Err(DecodeError::Msgpack(_))));
        assert!(matches!(decode(b"\x93\xa1"), Err(DecodeError::Msgpack(_))));
        assert!(matches!(
            decode(b"\x92\xa1a\xa1b"),
            Err(DecodeError::Shape(_))
        ));
        let ack = Mp::Array(vec![
            Mp::from("u"),
            Mp::Map(vec![(Mp::from("type"), Mp::from(3))]),
            Mp::Map(vec![]),
        ]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &ack).unwrap();
        assert!(matches!(decode(&bytes), Err(DecodeError::NotEvent)));
    }

    #[test]
    fn reads_a_binary_event_as_older_nodes_write_it() {
        let mut bytes = NODE.to_vec();
        bytes[14] = 0x05; // `type: 2` → `type: 5`
        let b = decode(&bytes).unwrap();
        assert_eq!(b.payload.bins, [Bytes::from_static(&[1, 2])]);
    }

    #[test]
    fn channels_as_the_node_adapter_names_them() {
        assert_eq!(
            broadcast_channel("socket.io", "/", &sel(&["r"], &[])),
            "socket.io#/#r#"
        );
        assert_eq!(
            broadcast_channel("socket.io", "/", &sel(&["r", "s"], &[])),
            "socket.io#/#"
        );
        assert_eq!(broadcast_channel("k", "/a", &sel(&[], &["x"])), "k#/a#");
        assert_eq!(broadcast_pattern("socket.io"), "socket.io#*");
    }
}
