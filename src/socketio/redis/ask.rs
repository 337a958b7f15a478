//! The requests this node makes to the others (the Node adapter's `fetchSockets`,
//! `serverSideEmit` with acknowledgement, `broadcastWithAck`), and their answers.
//!
//! How many answers to wait for is what `PUBLISH` of the request says: the subscribers of
//! the request channel, this node included (the Node adapter asks `PUBSUB NUMSUB` first;
//! the count is the same, without a second round trip). A request ends when every other
//! node has answered (for a broadcast: each node's count of sockets, then that many
//! acknowledgements), or when its timer, armed on a reactor (reactor time: a manual clock
//! in tests), fires first: then with [`RequestError::Timeout`] and the answers that came.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use log::debug;
use serde_json::{json, Value};

use super::requests::{self, kind, Message};
use super::{Inner, RedisAdapter};
use crate::socketio::adapter::{BroadcastAckError, RequestError, Selection, SocketInfo};
use crate::socketio::io_handle::Remote;
use crate::socketio::payload::Payload;
use crate::socketio::AckError;

/// Gets the answers that came, and whether every node answered.
pub(super) type Finish = Box<dyn FnOnce(Vec<Message>, Result<(), RequestError>) + Send>;

/// This node's requests waiting for answers, by token (the `requestId` is the node's uid
/// and the token).
#[derive(Default)]
pub(super) struct Asked {
    next: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
}

struct Pending {
    /// Other nodes that got the request; `None` until `PUBLISH` has said.
    nodes: Option<usize>,
    answered: usize,
    /// A broadcast's acknowledgements: announced by the nodes' counts, and come.
    acks_announced: usize,
    acks: usize,
    answers: Vec<Message>,
    finish: Finish,
}

impl Pending {
    fn done(&self) -> bool {
        self.nodes == Some(self.answered) && self.acks == self.acks_announced
    }
}

impl Asked {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Pending>> {
        // Counts and answers: a panic elsewhere cannot leave them half-written.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new request, whose answers go to `finish`; its token.
    fn open(&self, finish: Finish) -> u64 {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            nodes: None,
            answered: 0,
            acks_announced: 0,
            acks: 0,
            answers: Vec::new(),
            finish,
        };
        self.lock().insert(token, pending);
        token
    }

    /// How many subscribers `PUBLISH` says got request `token` (this node among them), or
    /// `None`: not published.
    fn published(&self, token: u64, receivers: Option<usize>) {
        let Some(receivers) = receivers else {
            return self.settle(token, Some(RequestError::Unpublished));
        };
        if let Some(p) = self.lock().get_mut(&token) {
            // This node is subscribed too; it does not answer itself.
            p.nodes = Some(receivers.saturating_sub(1));
        }
        self.settle(token, None);
    }

    /// An answer to request `token`: a node's (for a broadcast, its count of sockets), or
    /// one socket's acknowledgement of a broadcast.
    fn answer(&self, token: u64, answer: Message) {
        if let Some(p) = self.lock().get_mut(&token) {
            match answer.kind() {
                Some(kind::BROADCAST_CLIENT_COUNT) => {
                    p.answered += 1;
                    let count = answer.body.get("clientCount").and_then(|c| c.as_u64());
                    p.acks_announced += usize::try_from(count.unwrap_or(0)).unwrap_or(0);
                }
                Some(kind::BROADCAST_ACK) => {
                    p.acks += 1;
                    p.answers.push(answer);
                }
                _ => {
                    p.answered += 1;
                    p.answers.push(answer);
                }
            }
        }
        self.settle(token, None);
    }

    /// Ends request `token` if it is done, or now with `force`.
    fn settle(&self, token: u64, force: Option<RequestError>) {
        let mut pending = self.lock();
        let done = match pending.get(&token) {
            Some(p) => force.is_some() || p.done(),
            None => false,
        };
        let Some(p) = done.then(|| pending.remove(&token)).flatten() else {
            return;
        };
        drop(pending);
        (p.finish)(p.answers, force.map_or(Ok(()), Err));
    }
}

impl Inner {
    /// Publishes the request `encode(requestId)` on namespace `nsp`'s request channel;
    /// `finish` gets its answers. Returns its token, for [`expire`](Self::expire) (the
    /// caller arms the timer).
    pub(super) fn ask(
        self: &Arc<Self>,
        nsp: &str,
        encode: impl FnOnce(&str) -> Vec<u8>,
        finish: Finish,
    ) -> u64 {
        let token = self.asked.open(finish);
        let id = format!("{}-{token}", self.link.uid());
        let inner = Arc::clone(self);
        let then = Box::new(move |receivers| inner.asked.published(token, receivers));
        let channel = requests::request_channel(&self.key, nsp);
        self.link.publish_counted((channel, encode(&id)), then);
        token
    }

    /// Request `token`'s time is up: it ends with what came.
    pub(super) fn expire(&self, token: u64) {
        self.asked.settle(token, Some(RequestError::Timeout));
    }

    /// An answer on a response channel: for one of this node's requests, or ignored.
    pub(super) fn on_response(&self, bytes: &[u8]) {
        let Some(answer) = requests::decode(bytes) else {
            return debug!("Redis: ignored a malformed response");
        };
        let token = (answer.id())
            .and_then(|id| id.strip_prefix(self.link.uid()))
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|token| token.parse().ok());
        // Another node's, or one that ended already: ignored.
        if let Some(token) = token {
            self.asked.answer(token, answer);
        }
    }
}

/// Why a [`server_side_emit_with_ack`](crate::socketio::Operator::server_side_emit_with_ack)
/// did not get every node's answer; `responses` holds the ones that came (the reference
/// passes them along with its error too).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSideEmitError {
    /// Why.
    pub kind: RequestError,
    /// The answers that came, in the order they came.
    pub responses: Vec<Value>,
}

impl fmt::Display for ServerSideEmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} answers came)", self.kind, self.responses.len())
    }
}

impl std::error::Error for ServerSideEmitError {}

impl RedisAdapter {
    /// How long requests to the other nodes wait.
    pub(crate) fn requests_timeout(&self) -> Duration {
        self.inner.requests_timeout
    }

    /// Request `token`'s time is up.
    pub(crate) fn expire(&self, token: u64) {
        self.inner.expire(token);
    }

    /// Arms request `token`'s timer on the attached server's reactor; the request fails
    /// at once ([`RequestError::Queue`]) if that reactor cannot take it.
    pub(crate) fn arm(&self, token: u64, timeout: Duration) {
        let armed =
            (self.inner.io.get()).is_some_and(|io| io.cluster_timer(token, timeout).is_ok());
        if !armed {
            self.inner.asked.settle(token, Some(RequestError::Queue));
        }
    }

    /// Asks the other nodes for their sockets that `sel` names (`REMOTE_FETCH`); `then`
    /// gets them, or those that came by the timeout and why the others did not. Returns
    /// the request's token.
    pub(crate) fn fetch(
        &self,
        nsp: &str,
        sel: &Selection,
        then: impl FnOnce(Vec<SocketInfo>, Option<RequestError>) + Send + 'static,
    ) -> u64 {
        let (uid, fields) = (self.uid(), json!({ "opts": requests::opts(sel) }));
        let encode = |id: &str| requests::request(uid, Some(id), kind::REMOTE_FETCH, fields);
        let name = nsp.to_owned();
        let finish = Box::new(
            move |answers: Vec<Message>, result: Result<(), RequestError>| {
                let of = |a: &Message| requests::sockets_of(&name, a);
                then(answers.iter().flat_map(of).collect(), result.err());
            },
        );
        self.inner.ask(nsp, encode, finish)
    }

    /// Asks the other nodes for their rooms with members (`ALL_ROOMS`); `then` gets them,
    /// or those of the nodes that answered by the timeout and why the others did not.
    /// Returns the request's token.
    pub(crate) fn all_rooms(
        &self,
        nsp: &str,
        then: impl FnOnce(Vec<String>, Option<RequestError>) + Send + 'static,
    ) -> u64 {
        let uid = self.uid();
        let encode = |id: &str| requests::request(uid, Some(id), kind::ALL_ROOMS, json!({}));
        let finish = Box::new(
            move |answers: Vec<Message>, result: Result<(), RequestError>| {
                then(
                    answers.iter().flat_map(|a| a.rooms("rooms")).collect(),
                    result.err(),
                );
            },
        );
        self.inner.ask(nsp, encode, finish)
    }

    /// Makes the other nodes' sockets that `sel` names join or leave rooms, or
    /// disconnects them (`REMOTE_JOIN`, `REMOTE_LEAVE`, `REMOTE_DISCONNECT`; no answer).
    pub(crate) fn on_sockets(&self, nsp: &str, sel: &Selection, op: &Remote) {
        let opts = requests::opts(sel);
        let (kind, fields) = match op {
            Remote::Join(rooms) => (kind::REMOTE_JOIN, json!({"opts": opts, "rooms": rooms})),
            Remote::Leave(rooms) => (kind::REMOTE_LEAVE, json!({"opts": opts, "rooms": rooms})),
            Remote::Disconnect(close) => (
                kind::REMOTE_DISCONNECT,
                json!({"opts": opts, "close": close}),
            ),
            _ => return,
        };
        let channel = requests::request_channel(&self.inner.key, nsp);
        let request = requests::request(self.uid(), None, kind, fields);
        self.inner.link.publish((channel, request));
    }

    /// Sends a server-side event to the other nodes (`SERVER_SIDE_EMIT`, no answer).
    pub(crate) fn server_side_emit(&self, nsp: &str, event: &str, payload: &Payload) {
        let fields = json!({ "data": server_side_data(event, payload) });
        let request = requests::request(self.uid(), None, kind::SERVER_SIDE_EMIT, fields);
        let channel = requests::request_channel(&self.inner.key, nsp);
        self.inner.link.publish((channel, request));
    }

    /// Sends a server-side event to the other nodes and collects their answers. Returns
    /// the request's token.
    pub(crate) fn server_side_emit_with_ack(
        &self,
        nsp: &str,
        event: &str,
        payload: &Payload,
        then: impl FnOnce(Result<Vec<Value>, ServerSideEmitError>) + Send + 'static,
    ) -> u64 {
        let (uid, fields) = (
            self.uid(),
            json!({ "data": server_side_data(event, payload) }),
        );
        let encode = |id: &str| requests::request(uid, Some(id), kind::SERVER_SIDE_EMIT, fields);
        let finish = Box::new(
            move |answers: Vec<Message>, result: Result<(), RequestError>| {
                let responses = (answers.into_iter())
                    .map(|mut a| a.body.get_mut("data").map(Value::take).unwrap_or_default())
                    .collect();
                then(match result {
                    Ok(()) => Ok(responses),
                    Err(kind) => Err(ServerSideEmitError { kind, responses }),
                });
            },
        );
        self.inner.ask(nsp, encode, finish)
    }

    /// Broadcasts with acknowledgements to the other nodes' sockets that `sel` names
    /// (`BROADCAST`); `then` gets their acknowledgements (each socket's first argument).
    /// Returns the request's token.
    pub(crate) fn broadcast_with_ack(
        &self,
        nsp: &str,
        sel: &Selection,
        (event, payload): (&str, &Payload),
        timeout: Duration,
        then: impl FnOnce(Result<Vec<Payload>, BroadcastAckError>) + Send + 'static,
    ) -> u64 {
        let uid = self.uid();
        let encode = |id: &str| requests::broadcast(uid, id, nsp, sel, (event, payload), timeout);
        let finish = Box::new(
            move |answers: Vec<Message>, result: Result<(), RequestError>| {
                let responses = (answers.into_iter())
                    .map(|mut a| {
                        let arg = a
                            .body
                            .get_mut("packet")
                            .map(Value::take)
                            .unwrap_or_default();
                        Payload {
                            args: vec![arg],
                            bins: a.bins,
                        }
                    })
                    .collect();
                then(match result {
                    Ok(()) => Ok(responses),
                    Err(_) => Err(BroadcastAckError {
                        kind: AckError::Timeout,
                        responses,
                    }),
                });
            },
        );
        self.inner.ask(nsp, encode, finish)
    }
}

/// `[event, ...args]`, as JSON crosses Redis: a binary argument as Node's
/// `JSON.stringify` writes a `Buffer` (`{type: "Buffer", data: [bytes]}`).
fn server_side_data(event: &str, payload: &Payload) -> Value {
    fn unplace(v: &Value, payload: &Payload) -> Value {
        if let Some(bytes) = payload.binary(v) {
            return json!({ "type": "Buffer", "data": bytes.to_vec() });
        }
        match v {
            Value::Array(items) => items.iter().map(|i| unplace(i, payload)).collect(),
            Value::Object(map) => (map.iter())
                .map(|(k, v)| (k.clone(), unplace(v, payload)))
                .collect(),
            other => other.clone(),
        }
    }
    let mut data = vec![Value::from(event)];
    data.extend(payload.args.iter().map(|a| unplace(a, payload)));
    Value::Array(data)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn msg(json: &str) -> Message {
        requests::decode(json.as_bytes()).unwrap()
    }

    /// How a request ended: the answers' bodies, and whether all came.
    type End = (Vec<Value>, Result<(), RequestError>);

    /// A request whose end is sent on the returned channel.
    fn open(asked: &Asked) -> (u64, mpsc::Receiver<End>) {
        let (tx, rx) = mpsc::channel();
        let finish = Box::new(move |answers: Vec<Message>, result| {
            let bodies = answers.into_iter().map(|a| a.body).collect();
            tx.send((bodies, result)).unwrap();
        });
        (asked.open(finish), rx)
    }

    #[test]
    fn a_request_ends_once_every_other_node_answered_whenever_the_count_comes() {
        let asked = Asked::default();
        let (t, rx) = open(&asked);
        asked.answer(t, msg(r#"{"requestId":"x","n":1}"#)); // before PUBLISH's count
        asked.published(t, Some(3)); // this node and two others
        assert!(rx.try_recv().is_err(), "one of two");
        asked.answer(t, msg(r#"{"requestId":"x","n":2}"#));
        let (answers, result) = rx.try_recv().unwrap();
        assert_eq!((answers.len(), result), (2, Ok(())));
        asked.answer(t, msg(r#"{"requestId":"x","n":3}"#)); // late: nobody waits
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn alone_it_ends_at_once_and_unpublished_it_fails() {
        let asked = Asked::default();
        let (t, rx) = open(&asked);
        asked.published(t, Some(1));
        assert_eq!(rx.try_recv().unwrap(), (vec![], Ok(())));
        let (t, rx) = open(&asked);
        asked.published(t, None);
        assert_eq!(
            rx.try_recv().unwrap(),
            (vec![], Err(RequestError::Unpublished))
        );
    }

    #[test]
    fn a_broadcast_waits_for_each_nodes_count_then_as_many_acks() {
        let asked = Asked::default();
        let (t, rx) = open(&asked);
        asked.published(t, Some(3));
        asked.answer(t, msg(r#"{"type":8,"requestId":"x","clientCount":2}"#));
        asked.answer(t, msg(r#"{"type":9,"requestId":"x","packet":"a"}"#));
        asked.answer(t, msg(r#"{"type":8,"requestId":"x","clientCount":0}"#));
        assert!(rx.try_recv().is_err(), "one ack of two");
        asked.answer(t, msg(r#"{"type":9,"requestId":"x","packet":"b"}"#));
        let (answers, result) = rx.try_recv().unwrap();
        let packets: Vec<&Value> = answers.iter().map(|a| &a["packet"]).collect();
        assert_eq!((packets, result), (vec![&json!("a"), &json!("b")], Ok(())));
    }

    #[test]
    fn at_the_timeout_it_ends_with_what_came() {
        let asked = Asked::default();
        let (t, rx) = open(&asked);
        asked.published(t, Some(4));
        asked.answer(t, msg(r#"{"requestId":"x","n":1}"#));
        asked.settle(t, Some(RequestError::Timeout));
        let (answers, result) = rx.try_recv().unwrap();
        assert_eq!((answers.len(), result), (1, Err(RequestError::Timeout)));
    }
}
