//! The Socket.IO packet decoder with binary attachments, round-tripped: a client's messages
//! go through a `Reassembly` as the server reads them; each packet that comes out whole
//! is written back with the encoders the server sends with (`packet::event`,
//! `packet::ack`, ...), read again the same way, and must mean the same to the server,
//! and encode to the same bytes a second time. No input may panic.
//!
//! The input is a sequence of messages, each a flag byte (odd: binary) and its bytes
//! after a `u16` length, as `Unstructured` reads them.

use arbitrary::Unstructured;
use serde_json::{Map, Value};
use tungstenite::Bytes;

use crate::socketio::attachments::Reassembly;
use crate::socketio::engine::packet::Incoming;
use crate::socketio::packet::{self, Kind, Packet};

/// Feeds the messages to a client's reassembly; one that breaks the format ends the client
/// (the server closes it), and the next message starts a new one.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut client = Reassembly::default();
    while !u.is_empty() {
        let Ok((binary, bytes)) = message(&mut u) else {
            break;
        };
        let text = String::from_utf8_lossy(bytes);
        let msg = match binary {
            true => Incoming::Binary(Bytes::copy_from_slice(bytes)),
            false => Incoming::Text(&text),
        };
        match client.push(msg) {
            Ok(Some((packet, bins))) => round_trip(packet, bins),
            Ok(None) => {}
            Err(_) => client = Reassembly::default(),
        }
    }
}

fn message<'a>(u: &mut Unstructured<'a>) -> arbitrary::Result<(bool, &'a [u8])> {
    let binary = u.arbitrary::<u8>()? & 1 == 1;
    Ok((binary, super::read_bytes(u)?))
}

/// A packet as the server acts on it (`Sio::dispatch`): binary and plain kinds alike, an
/// event's name as listeners are keyed.
#[derive(Debug, Clone, PartialEq)]
enum Meaning {
    Connect {
        nsp: String,
        auth: Option<Value>,
    },
    Disconnect {
        nsp: String,
    },
    Event {
        nsp: String,
        name: String,
        args: Vec<Value>,
        id: Option<u64>,
        bins: Vec<Bytes>,
    },
    Ack {
        nsp: String,
        id: Option<u64>,
        args: Vec<Value>,
        bins: Vec<Bytes>,
    },
    ConnectError {
        nsp: String,
        data: Option<Value>,
    },
}

fn meaning(packet: Packet, bins: Vec<Bytes>) -> Meaning {
    let nsp = packet.nsp;
    let args = |data: Option<Value>| match data {
        Some(Value::Array(args)) => args,
        other => panic!("an event or ack decoded with {other:?}"),
    };
    match packet.kind {
        Kind::Connect => Meaning::Connect {
            nsp,
            auth: packet.data,
        },
        Kind::Disconnect => Meaning::Disconnect { nsp },
        Kind::Event | Kind::BinaryEvent => {
            let mut args = args(packet.data);
            assert!(!args.is_empty(), "an event decoded without a name");
            let name = packet::event_name(args.remove(0));
            Meaning::Event {
                nsp,
                name,
                args,
                id: packet.id,
                bins,
            }
        }
        Kind::Ack | Kind::BinaryAck => Meaning::Ack {
            nsp,
            id: packet.id,
            args: args(packet.data),
            bins,
        },
        Kind::ConnectError => Meaning::ConnectError {
            nsp,
            data: packet.data,
        },
    }
}

/// The packet written with the server's encoders, as Engine.IO message text and its
/// attachments; `None` for what no encoder of ours writes (a client's CONNECT payload, an
/// ack without an id, a CONNECT_ERROR that is not `{"message":..[,"data":..]}`).
fn encode(m: &Meaning) -> Option<(String, Vec<Bytes>)> {
    Some(match m {
        Meaning::Connect { nsp, auth } => {
            let [sid, pid] = fields(auth.as_ref()?, ["sid", "pid"])?;
            let pid = match pid {
                Some(pid) => Some(pid.as_str()?),
                None => None,
            };
            (packet::connect(nsp, sid?.as_str()?, pid), Vec::new())
        }
        Meaning::Disconnect { nsp } => (packet::disconnect(nsp), Vec::new()),
        Meaning::Event {
            nsp,
            name,
            args,
            id,
            bins,
        } => {
            let text = packet::event(nsp, name, args, bins.len(), (*id, None));
            (text, bins.clone())
        }
        Meaning::Ack {
            nsp,
            id,
            args,
            bins,
        } => (packet::ack(nsp, (*id)?, args, bins.len()), bins.clone()),
        Meaning::ConnectError { nsp, data } => {
            let [message, data] = fields(data.as_ref()?, ["message", "data"])?;
            (
                packet::connect_error(nsp, message?.as_str()?, data),
                Vec::new(),
            )
        }
    })
}

/// The two fields of an object that has the first and at most the second, in that order.
fn fields<'v>(value: &'v Value, names: [&str; 2]) -> Option<[Option<&'v Value>; 2]> {
    let map: &Map<String, Value> = value.as_object()?;
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    if keys != names[..1] && keys != names {
        return None;
    }
    Some(names.map(|name| map.get(name)))
}

/// Reads an encoded packet as the server reads a client's messages.
fn decode(text: &str, bins: &[Bytes]) -> (Packet, Vec<Bytes>) {
    let Some(text) = text.strip_prefix('4') else {
        panic!("{text:?} is not an Engine.IO message");
    };
    let mut client = Reassembly::default();
    let mut whole = client.push(Incoming::Text(text));
    for (i, bin) in bins.iter().enumerate() {
        assert!(
            matches!(whole, Ok(None)),
            "{text:?}: {whole:?} before attachment {i}"
        );
        whole = client.push(Incoming::Binary(bin.clone()));
    }
    match whole {
        Ok(Some(whole)) => whole,
        other => panic!("{text:?} with {} attachments read as {other:?}", bins.len()),
    }
}

fn round_trip(packet: Packet, bins: Vec<Bytes>) {
    let first = meaning(packet, bins);
    let Some((text, bins)) = encode(&first) else {
        return;
    };
    let (packet, again) = decode(&text, &bins);
    let second = meaning(packet, again);
    assert_eq!(second, first, "{text:?} means something else");
    assert_eq!(
        encode(&second),
        Some((text, bins)),
        "encoded twice, differently"
    );
}

/// One message of an input.
fn msg(binary: bool, bytes: &[u8]) -> Vec<u8> {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    let mut out = vec![u8::from(binary)];
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
    out
}

/// The seeds of the corpus: the packets of the parser's and the namespace's tests and of the
/// protocol's examples (socket.io-protocol, Packet encoding), binary ones with their
/// attachments.
pub fn seeds() -> Vec<Vec<u8>> {
    let text = |t: &str| msg(false, t.as_bytes());
    let singles = [
        "0",
        r#"0/admin,{"token":"123"}"#,
        r#"0{"sid":"abc","pid":"p"}"#,
        "1/admin,",
        r#"2["foo"]"#,
        r#"2/admin,12["bar",{"k":[1,null,1e+21]}]"#,
        r#"2[1,"cut:\ud83c","\u00e9"]"#,
        r#"3/admin,13["bar"]"#,
        r#"431[]"#,
        r#"4{"message":"no","data":{"code":1}}"#,
        r#"4"refused""#,
        r#"2["x",{"_placeholder":true,"num":0}]"#,
    ];
    let mut seeds: Vec<Vec<u8>> = singles.iter().map(|t| text(t)).collect();
    seeds.push(
        [
            text(
                r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            ),
            msg(true, &[1, 2, 3]),
            msg(true, b""),
            text(r#"61-15["bar",{"_placeholder":true,"num":0}]"#),
            msg(true, &[0xff; 40]),
        ]
        .concat(),
    );
    // Broken ones, and the packet after them.
    seeds.push([text(r#"51-["x"]"#), text(r#"2["y"]"#), msg(true, b"z")].concat());
    seeds.push(
        [
            text(r#"51-["x",{"_placeholder":true,"num":3}]"#),
            msg(true, b"z"),
        ]
        .concat(),
    );
    seeds
}
