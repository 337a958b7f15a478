//! The requests and responses of `@socket.io/redis-adapter` 8.x (lib/index.ts
//! `RequestType`, `onrequest`, `onresponse`), and their channels.
//!
//! A request is published on `<key>-request#<nsp>#`, which every node subscribes to (so
//! `PUBSUB NUMSUB` of it counts the nodes); answers go to `<key>-response#<nsp>#` (the
//! adapter's default; `<key>-response#<nsp>#<uid>#` with its
//! `publishOnSpecificResponseChannel`, so we listen there too). Both are JSON but for a
//! broadcast with acknowledgements, whose request and `BROADCAST_ACK` answers are msgpack
//! (they carry binary arguments): a message starting with `{` is JSON, as the adapter
//! tells them apart.

use std::time::Duration;

use rmpv::Value as Mp;
use serde_json::{json, Map, Value};

use super::wire::{to_json, to_msgpack};
use crate::socketio::adapter::{Selection, SocketInfo};
use crate::socketio::handshake::Handshake;
use crate::socketio::json;
use crate::socketio::payload::Payload;

/// The adapter's `RequestType` numbers.
pub(super) mod kind {
    pub(crate) const SOCKETS: u64 = 0;
    pub(crate) const ALL_ROOMS: u64 = 1;
    pub(crate) const REMOTE_JOIN: u64 = 2;
    pub(crate) const REMOTE_LEAVE: u64 = 3;
    pub(crate) const REMOTE_DISCONNECT: u64 = 4;
    pub(crate) const REMOTE_FETCH: u64 = 5;
    pub(crate) const SERVER_SIDE_EMIT: u64 = 6;
    pub(crate) const BROADCAST: u64 = 7;
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub(crate) const BROADCAST_ACK: u64 = 9;
}

/// The channel requests for namespace `nsp` go to.
pub(super) fn request_channel(key: &str, nsp: &str) -> String {
    format!("{key}-request#{nsp}#")
}

/// The channel answers for namespace `nsp` go to.
pub(super) fn response_channel(key: &str, nsp: &str) -> String {
    format!("{key}-response#{nsp}#")
}

/// The channel answers for node `uid` only go to.
pub(super) fn specific_response_channel(key: &str, nsp: &str, uid: &str) -> String {
    format!("{key}-response#{nsp}#{uid}#")
}

/// A request or a response, as a JSON tree with its binary values apart (placeholders in
/// the tree, as in a [`Payload`]).
#[derive(Debug)]
pub(super) struct Message {
    pub(super) body: Value,
    pub(super) bins: Vec<tungstenite::Bytes>,
}

/// Decodes JSON or msgpack (a message starting with `{` is JSON); `None` if it is
/// neither (the adapter ignores such a message).
pub(super) fn decode(mut bytes: &[u8]) -> Option<Message> {
    if bytes.first() == Some(&b'{') {
        let body = json::parse(std::str::from_utf8(bytes).ok()?).ok()?;
        return Some(Message {
            body,
            bins: Vec::new(),
        });
    }
    let value = rmpv::decode::read_value(&mut bytes).ok()?;
    let mut bins = Vec::new();
    let body = to_json(&value, &mut bins);
    Some(Message { body, bins })
}

impl Message {
    pub(super) fn kind(&self) -> Option<u64> {
        self.body.get("type").and_then(Value::as_u64)
    }

    pub(super) fn text(&self, field: &str) -> Option<&str> {
        self.body.get(field).and_then(Value::as_str)
    }

    /// `requestId`.
    pub(super) fn id(&self) -> Option<&str> {
        self.text("requestId")
    }

    /// `opts: {rooms, except, flags}` as a selection; `None` without `opts`.
    pub(super) fn selection(&self) -> Option<Selection> {
        let opts = self.body.get("opts")?;
        let volatile = (opts.pointer("/flags/volatile")).and_then(Value::as_bool);
        Some(Selection {
            rooms: names(opts.get("rooms")),
            except: names(opts.get("except")),
            volatile: volatile.unwrap_or(false),
        })
    }

    /// A list of room names at `field` (`rooms` of `SOCKETS`, `REMOTE_JOIN`).
    pub(super) fn rooms(&self, field: &str) -> Vec<String> {
        names(self.body.get(field))
    }

    /// `opts.flags.timeout` (milliseconds), which a broadcast with acknowledgements has.
    pub(super) fn timeout(&self) -> Option<Duration> {
        let ms = self.body.pointer("/opts/flags/timeout")?.as_f64()?;
        (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
    }

    /// The event and its arguments in `data: [event, ...args]` (`SERVER_SIDE_EMIT`), or in
    /// `packet.data` (`BROADCAST`).
    pub(super) fn event(&self, data: &str) -> Option<(String, Payload)> {
        let Some(Value::Array(data)) = self.body.pointer(data) else {
            return None;
        };
        let (event, args) = data.split_first()?;
        let payload = Payload {
            args: args.to_vec(),
            bins: self.bins.clone(),
        };
        Some((event.as_str()?.to_owned(), payload))
    }
}

/// Room names: Node rooms may be numbers, naming the same room as their text.
fn names(list: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    (items.iter())
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn to_bytes(body: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    json::write(&mut out, body);
    out
}

/// An answer with just the request's id (a join, leave or disconnection by socket id).
pub(super) fn done(id: &str) -> Vec<u8> {
    to_bytes(&json!({ "requestId": id }))
}

/// The answer to `SOCKETS`: the ids of the sockets here.
pub(super) fn socket_ids(id: &str, sockets: &[SocketInfo]) -> Vec<u8> {
    let ids: Vec<&str> = sockets.iter().map(SocketInfo::id).collect();
    to_bytes(&json!({ "requestId": id, "sockets": ids }))
}

/// The answer to `ALL_ROOMS`: every room with a socket here.
pub(super) fn rooms(id: &str, rooms: &[&str]) -> Vec<u8> {
    to_bytes(&json!({ "requestId": id, "rooms": rooms }))
}

/// The answer to `REMOTE_FETCH`: the sockets here, as the adapter describes them (`id`,
/// `handshake`, `rooms`, `data`). `data` is the `serde_json::Value` in the socket's
/// [`data`](crate::socketio::Socket::data) if it holds one, `{}` otherwise.
pub(super) fn fetched(id: &str, sockets: &[SocketInfo]) -> Vec<u8> {
    let sockets: Vec<Value> = (sockets.iter())
        .map(|s| {
            json!({
                "id": s.id(),
                "handshake": s.handshake().to_json(),
                "rooms": s.rooms(),
                "data": s.data().get::<Value>().cloned().unwrap_or_else(|| json!({})),
            })
        })
        .collect();
    to_bytes(&json!({ "requestId": id, "sockets": sockets }))
}

/// A server-side listener's answer to a `SERVER_SIDE_EMIT` with acknowledgement.
pub(super) fn server_side_ack(id: &str, data: &Value) -> Vec<u8> {
    to_bytes(&json!({ "type": kind::SERVER_SIDE_EMIT, "requestId": id, "data": data }))
}

/// How many sockets here a broadcast with acknowledgements went to.
pub(super) fn client_count(id: &str, count: usize) -> Vec<u8> {
    to_bytes(
        &json!({ "type": kind::BROADCAST_CLIENT_COUNT, "requestId": id, "clientCount": count }),
    )
}

/// One socket's acknowledgement of a broadcast: its first argument (the reference's
/// broadcast acknowledgement takes one), binary values as msgpack `bin`.
pub(super) fn broadcast_ack(id: &str, ack: &Payload) -> Vec<u8> {
    let arg = ack
        .args
        .first()
        .map_or(Mp::Nil, |a| to_msgpack(a, &ack.bins));
    let msg = Mp::Map(vec![
        (Mp::from("type"), Mp::from(kind::BROADCAST_ACK)),
        (Mp::from("requestId"), Mp::from(id)),
        (Mp::from("packet"), arg),
    ]);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &msg);
    out
}

/// A request from node `uid`: `requestId` `id` if it expects answers, the `fields` of
/// its type.
pub(super) fn request(uid: &str, id: Option<&str>, kind: u64, fields: Value) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("uid".into(), uid.into());
    if let Some(id) = id {
        body.insert("requestId".into(), id.into());
    }
    body.insert("type".into(), kind.into());
    if let Value::Object(fields) = fields {
        body.extend(fields);
    }
    to_bytes(&Value::Object(body))
}

/// The `opts` of a request for the sockets `sel` names.
pub(super) fn opts(sel: &Selection) -> Value {
    json!({ "rooms": sel.rooms, "except": sel.except, "flags": {} })
}

/// A broadcast with acknowledgements to the sockets `sel` names (msgpack: its arguments
/// may be binary), each socket waiting `timeout` for its answer.
pub(super) fn broadcast(
    uid: &str,
    id: &str,
    nsp: &str,
    sel: &Selection,
    (event, payload): (&str, &Payload),
    timeout: Duration,
) -> Vec<u8> {
    let rooms = |r: &[String]| Mp::Array(r.iter().map(|s| Mp::from(s.as_str())).collect());
    let mut data = vec![Mp::from(event)];
    data.extend(payload.args.iter().map(|a| to_msgpack(a, &payload.bins)));
    let packet = Mp::Map(vec![
        (Mp::from("type"), Mp::from(2)),
        (Mp::from("data"), Mp::Array(data)),
        (Mp::from("nsp"), Mp::from(nsp)),
    ]);
    let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let flags = Mp::Map(vec![(Mp::from("timeout"), Mp::from(ms))]);
    let opts = Mp::Map(vec![
        (Mp::from("rooms"), rooms(&sel.rooms)),
        (Mp::from("except"), rooms(&sel.except)),
        (Mp::from("flags"), flags),
    ]);
    let msg = Mp::Map(vec![
        (Mp::from("uid"), Mp::from(uid)),
        (Mp::from("requestId"), Mp::from(id)),
        (Mp::from("type"), Mp::from(kind::BROADCAST)),
        (Mp::from("packet"), packet),
        (Mp::from("opts"), opts),
    ]);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &msg);
    out
}

/// The sockets of a `REMOTE_FETCH` answer, of namespace `nsp`.
pub(super) fn sockets_of(nsp: &str, answer: &Message) -> Vec<SocketInfo> {
    let Some(Value::Array(sockets)) = answer.body.get("sockets") else {
        return Vec::new();
    };
    (sockets.iter())
        .filter_map(|s| {
            let id = s.get("id")?.as_str()?.to_owned();
            let handshake = Handshake::from_json(s.get("handshake")?);
            let rooms = names(s.get("rooms"));
            let data = s.get("data").cloned().unwrap_or(Value::Null);
            Some(SocketInfo::remote(id, nsp, handshake, rooms, data))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_node_requests_in_json_and_msgpack() {
        let r = decode(
            br#"{"uid":"n1","requestId":"r1","type":5,"opts":{"rooms":["a",7],"except":["b"]}}"#,
        )
        .unwrap();
        assert_eq!(
            (r.kind(), r.id(), r.text("uid")),
            (Some(5), Some("r1"), Some("n1"))
        );
        let sel = r.selection().unwrap();
        assert_eq!(
            (sel.rooms, sel.except),
            (vec!["a".into(), "7".into()], vec!["b".into()])
        );
        let r = decode(br#"{"uid":"n1","type":6,"data":["ping",1,"x"]}"#).unwrap();
        let (event, payload) = r.event("/data").unwrap();
        assert_eq!(
            (event.as_str(), payload.args),
            ("ping", vec![json!(1), json!("x")])
        );
        // {uid, requestId, type: 7, packet: {type: 2, data: ["e", <bin 01>], nsp: "/"},
        //  opts: {rooms: [], except: [], flags: {timeout: 1500}}} as notepack writes it
        let packet = Mp::Map(vec![
            (Mp::from("type"), Mp::from(2)),
            (
                Mp::from("data"),
                Mp::Array(vec![Mp::from("e"), Mp::Binary(vec![1])]),
            ),
            (Mp::from("nsp"), Mp::from("/")),
        ]);
        let flags = Mp::Map(vec![(Mp::from("timeout"), Mp::from(1500))]);
        let opts = Mp::Map(vec![
            (Mp::from("rooms"), Mp::Array(vec![])),
            (Mp::from("except"), Mp::Array(vec![])),
            (Mp::from("flags"), flags),
        ]);
        let msg = Mp::Map(vec![
            (Mp::from("uid"), Mp::from("n1")),
            (Mp::from("requestId"), Mp::from("r2")),
            (Mp::from("type"), Mp::from(7)),
            (Mp::from("packet"), packet),
            (Mp::from("opts"), opts),
        ]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &msg).unwrap();
        let r = decode(&bytes).unwrap();
        assert_eq!(r.kind(), Some(kind::BROADCAST));
        assert_eq!(r.timeout(), Some(Duration::from_millis(1500)));
        let (event, payload) = r.event("/packet/data").unwrap();
        assert_eq!(event, "e");
        assert_eq!(payload, Payload::new().bin(vec![1u8]));
        assert!(decode(b"{nope").is_none());
        // What we write, we read back.
        let sel = Selection {
            rooms: vec!["a".into()],
            ..Selection::default()
        };
        let pay = Payload::new().arg(1).bin(vec![2u8]);
        let ours = broadcast("me", "q", "/", &sel, ("e", &pay), Duration::from_secs(2));
        let r = decode(&ours).unwrap();
        assert_eq!(
            (r.text("uid"), r.id(), r.timeout()),
            (Some("me"), Some("q"), Some(Duration::from_secs(2)))
        );
        assert_eq!(r.selection().unwrap().rooms, ["a"]);
        assert_eq!(r.event("/packet/data").unwrap(), ("e".to_owned(), pay));
        assert!(decode(b"").is_none());
    }

    #[test]
    fn writes_answers_as_node_reads_them() {
        let parse = |b: &[u8]| json::parse(std::str::from_utf8(b).unwrap()).unwrap();
        assert_eq!(parse(&done("r")), json!({"requestId": "r"}));
        assert_eq!(
            parse(&rooms("r", &["a"])),
            json!({"requestId": "r", "rooms": ["a"]})
        );
        assert_eq!(
            parse(&client_count("r", 2)),
            json!({"type": 8, "requestId": "r", "clientCount": 2})
        );
        assert_eq!(
            parse(&server_side_ack("r", &json!("pong"))),
            json!({"type": 6, "requestId": "r", "data": "pong"})
        );
        assert_eq!(
            parse(&request(
                "me",
                Some("q"),
                kind::REMOTE_FETCH,
                json!({"opts": opts(&Selection::default())})
            )),
            json!({"uid": "me", "requestId": "q", "type": 5, "opts": {"rooms": [], "except": [], "flags": {}}})
        );
        let ack = decode(&broadcast_ack("r", &Payload::new().bin(vec![7u8]).arg(1))).unwrap();
        assert_eq!(ack.kind(), Some(kind::BROADCAST_ACK));
        assert_eq!(ack.bins, [tungstenite::Bytes::from_static(&[7])]);
    }
}
