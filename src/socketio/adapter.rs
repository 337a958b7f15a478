//! The adapter seam: every operation on "the sockets of these rooms" is one [`Selection`]
//! of one namespace and one [`Operation`], answered in one place ([`Sio::apply`]).
//!
//! This is the reference's `Adapter` (socket.io-adapter): `broadcast`,
//! `broadcastWithAck`, `fetchSockets`, `addSockets`, `delSockets` and
//! `disconnectSockets` all take the same `BroadcastOptions` (`rooms`, `except`, `flags`).
//! Here the local adapter answers them from the namespace's room index; the callers (a
//! [`Broadcast`](super::Broadcast) on the reactor's thread, an
//! [`IoHandle`](super::IoHandle) from any thread) only build the query, so an adapter
//! that also asks other nodes hooks in here and nowhere else.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use http::Extensions;
use tungstenite::Utf8Bytes;

use super::engine::Engine;
use super::handshake::Handshake;
use super::listeners::notify_outgoing;
use super::namespace::{Client, Sio, SocketKey};
use super::packet;
use super::payload::Payload;
use super::reason::DisconnectReason;
use super::recovery::Audience;
use super::socket::{send_packet, AckError, Socket};
use crate::slab::{key_type, Slab};

/// Which sockets of a namespace an operation is for: members of any of `rooms` (every
/// socket if none), minus members of any of `except`. A socket's own room is its id, so
/// `except: [id]` leaves one socket out (how `socket.broadcast` is built).
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub(crate) rooms: Vec<String>,
    pub(crate) except: Vec<String>,
    /// Emits are dropped for sockets whose transport cannot take them now, not queued.
    pub(crate) volatile: bool,
}

/// Gets every answer of a broadcast with acknowledgement, or the error and the answers
/// that came.
pub(crate) type BroadcastAckFn = Box<dyn FnOnce(Result<Vec<Payload>, BroadcastAckError>)>;

/// What to do with the selected sockets.
pub(crate) enum Operation {
    /// `event` was checked (not reserved) by the caller.
    Emit {
        event: String,
        payload: Payload,
        ack: Option<(Duration, BroadcastAckFn)>,
    },
    Fetch,
    Join(Vec<String>),
    Leave(Vec<String>),
    /// `close`: the whole connection, every namespace of it.
    Disconnect {
        close: bool,
    },
}

/// What an operation did.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Emits queued, sockets that joined or left or were disconnected.
    Count(usize),
    Sockets(Vec<SocketInfo>),
}

impl Outcome {
    pub(crate) fn count(self) -> usize {
        match self {
            Outcome::Count(n) => n,
            Outcome::Sockets(s) => s.len(),
        }
    }

    pub(crate) fn sockets(self) -> Vec<SocketInfo> {
        match self {
            Outcome::Sockets(s) => s,
            Outcome::Count(_) => Vec::new(),
        }
    }
}

/// Why a request to the other nodes of a cluster (feature `redis`: the Redis adapter) did
/// not get every answer. Without another node to ask, never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// Some nodes had not answered when the timeout passed (`RedisOptions::requests_timeout`,
    /// or the emit's own): a node gone, or Redis lost meanwhile.
    Timeout,
    /// The request was not published: Redis unreachable, or the publisher's queue full
    /// (`RedisOptions::queue`).
    Unpublished,
    /// This node's reactor could not take the request's timer (its queue full): it was
    /// not sent.
    Queue,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::Timeout => "timeout reached before every node answered",
            RequestError::Unpublished => "the request could not be published to Redis",
            RequestError::Queue => "the reactor's queue is full",
        })
    }
}

impl std::error::Error for RequestError {}

/// What a query of every node ([`IoHandle::all_rooms`](super::IoHandle::all_rooms),
/// [`Operator::fetch_sockets`](super::Operator::fetch_sockets),
/// [`Broadcast::fetch_sockets_then`](super::Broadcast::fetch_sockets_then)) found when some
/// node did not answer: why, and what this node and the nodes that answered hold (the
/// reference rejects `fetchSockets` with "timeout reached" and drops those).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueryError<T> {
    /// Why.
    pub kind: RequestError,
    /// What came: this node's, and the answers of the nodes that answered.
    pub found: Vec<T>,
}

impl<T> fmt::Display for QueryError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} found)", self.kind, self.found.len())
    }
}

impl<T: fmt::Debug> std::error::Error for QueryError<T> {}

/// What a query of every node answers: everything, or what came and why not everything.
pub type QueryResult<T> = Result<Vec<T>, QueryError<T>>;

/// What a query of every node answers: everything, or what came ([`QueryError`]).
pub(crate) fn queried<T>(found: Vec<T>, failed: Option<RequestError>) -> QueryResult<T> {
    match failed {
        None => Ok(found),
        Some(kind) => Err(QueryError { kind, found }),
    }
}

/// A socket as [`fetch_sockets`](super::Broadcast::fetch_sockets) reports it (the
/// reference's `RemoteSocket` details: `id`, `handshake`, `rooms`, `data`): a snapshot,
/// which can cross threads. To act on it, select it by its id, which is also a room:
/// `nsp().to(info.id()).emit(..)`.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    id: String,
    namespace: String,
    handshake: Handshake,
    rooms: Vec<String>,
    data: Extensions,
}

impl SocketInfo {
    /// A socket of another node, as its `fetchSockets` answer described it.
    #[cfg(feature = "redis")]
    pub(crate) fn remote(
        id: String,
        namespace: &str,
        handshake: Handshake,
        rooms: Vec<String>,
        data: serde_json::Value,
    ) -> Self {
        let mut extensions = Extensions::new();
        extensions.insert(data);
        SocketInfo {
            id,
            namespace: namespace.to_owned(),
            handshake,
            rooms,
            data: extensions,
        }
    }

    /// The socket's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its namespace's name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// What it was opened with.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The rooms it was in, its own (named after its id) first.
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// A copy of its [`data`](super::Socket::data).
    pub fn data(&self) -> &Extensions {
        &self.data
    }
}

/// Why a broadcast with acknowledgement did not get every answer; `responses` holds the
/// ones that came (the reference passes them along with its error too).
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastAckError {
    /// [`AckError::Timeout`]: some recipients had not answered when the timeout passed;
    /// [`AckError::Disconnected`]: some disconnected before answering (known at once, not
    /// at the timeout).
    pub kind: AckError,
    /// The answers that came, in the order they came.
    pub responses: Vec<Payload>,
}

impl fmt::Display for BroadcastAckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} answers came)", self.kind, self.responses.len())
    }
}

impl std::error::Error for BroadcastAckError {}

key_type! {
    /// A broadcast waiting for its acknowledgements.
    pub(crate) struct CollectorKey;
}

/// The answers of one broadcast with acknowledgement.
pub(crate) struct Collector {
    expected: usize,
    lost: usize,
    responses: Vec<Payload>,
    callback: BroadcastAckFn,
}

impl Sio {
    /// The connected sockets of namespace `ns` that `sel` names.
    pub(crate) fn select(&self, ns: usize, sel: &Selection) -> Vec<SocketKey> {
        let namespace = &self.namespaces[ns];
        let mut targets: Vec<SocketKey> = if sel.rooms.is_empty() {
            namespace.members.iter().copied().collect()
        } else {
            let mut t: Vec<SocketKey> = (sel.rooms.iter())
                .flat_map(|room| namespace.rooms.members(room))
                .collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        if !sel.except.is_empty() {
            let excluded: HashSet<SocketKey> = (sel.except.iter())
                .flat_map(|room| namespace.rooms.members(room))
                .collect();
            targets.retain(|k| !excluded.contains(k));
        }
        targets.retain(|&k| self.sockets.get(k).is_some_and(|s| s.connected));
        targets
    }

    /// Runs `op` on the sockets of namespace `ns` that `sel` names.
    pub(crate) fn apply(
        &mut self,
        eng: &mut Engine<Client>,
        ns: usize,
        sel: &Selection,
        op: Operation,
    ) -> Outcome {
        let targets = self.select(ns, sel);
        match op {
            Operation::Emit {
                event,
                payload,
                ack,
            } => Outcome::Count(self.emit_to(eng, ns, &targets, sel, &event, payload, ack)),
            Operation::Fetch => {
                let mut targets = targets;
                // In the order they connected, as the reference's sockets Map gives them.
                targets.sort_by_key(|&k| self.sockets.get(k).map_or(0, |s| s.info.seq));
                let sockets = targets.iter().filter_map(|&k| self.socket_info(ns, k));
                Outcome::Sockets(sockets.collect())
            }
            Operation::Join(rooms) => {
                let namespace = &mut self.namespaces[ns];
                let mut joined_all = 0;
                for &k in &targets {
                    // Each socket joins what its limits allow; `Socket::join` reports why not.
                    let refused = (rooms.iter())
                        .filter(|room| namespace.rooms.join(k, room).is_err())
                        .count();
                    joined_all += usize::from(refused == 0);
                }
                Outcome::Count(joined_all)
            }
            Operation::Leave(rooms) => {
                let namespace = &mut self.namespaces[ns];
                for &k in &targets {
                    for room in &rooms {
                        namespace.rooms.leave(k, room);
                    }
                }
                Outcome::Count(targets.len())
            }
            Operation::Disconnect { close } => {
                let reason = DisconnectReason::ServerNamespaceDisconnect;
                for &k in &targets {
                    match (close, self.sockets.get(k).map(|s| s.session)) {
                        (true, Some(session)) => self.close_client(eng, session, reason, true),
                        _ => self.disconnect(eng, k, reason, true),
                    }
                }
                Outcome::Count(targets.len())
            }
        }
    }

    /// Encodes the event once and queues it for every target.
    #[allow(clippy::too_many_arguments)]
    fn emit_to(
        &mut self,
        eng: &mut Engine<Client>,
        ns: usize,
        targets: &[SocketKey],
        sel: &Selection,
        event: &str,
        payload: Payload,
        ack: Option<(Duration, BroadcastAckFn)>,
    ) -> usize {
        let id = ack.as_ref().map(|_| self.ack_id());
        // As the reference: events with an ack or volatile are not kept for recovery.
        let kept =
            (id.is_none() && !sel.volatile).then_some(|| Audience::Rooms(Box::new(sel.clone())));
        let text = self.encode_event(eng.now(), ns, (event, &payload), id, kept);
        let mut sent = Vec::with_capacity(targets.len());
        for &k in targets {
            // The reference's adapter tells every recipient's outgoing listeners.
            notify_outgoing(eng, self, k, event, &payload);
            let Some(sock) = self.sockets.get(k).filter(|s| s.connected) else {
                continue;
            };
            let queued = match sel.volatile {
                true => eng.send_volatile(sock.session, text.clone(), &payload.bins),
                false => send_packet(eng, sock.session, text.clone(), &payload.bins),
            };
            if queued {
                sent.push(k);
            }
        }
        if let (Some((timeout, callback)), Some(id)) = (ack, id) {
            self.collect_acks(eng, &sent, id, timeout, callback);
        }
        sent.len()
    }

    /// Waits for the answers of `sent` to the packet `id`; with nobody to wait for, the
    /// callback runs now with no answers.
    fn collect_acks(
        &mut self,
        eng: &mut Engine<Client>,
        sent: &[SocketKey],
        id: u64,
        timeout: Duration,
        callback: BroadcastAckFn,
    ) {
        let (Some(now), false) = (eng.now(), sent.is_empty()) else {
            return callback(Ok(Vec::new()));
        };
        let key = self.collectors.insert(Collector {
            expected: sent.len(),
            lost: 0,
            responses: Vec::with_capacity(sent.len()),
            callback,
        });
        for &k in sent {
            let answer = Box::new(move |socket: &mut Socket<'_>, result| {
                socket.sio.collect(key, result);
            });
            self.expect_ack(eng, k, id, now + timeout, answer);
        }
    }

    /// One recipient's answer (or why there is none).
    fn collect(&mut self, key: CollectorKey, result: Result<Payload, AckError>) {
        let Some(c) = self.collectors.get_mut(key) else {
            return; // finished already (the first timeout ends it)
        };
        let failed = match result {
            Ok(payload) => {
                c.responses.push(payload);
                None
            }
            Err(AckError::Disconnected) => {
                c.lost += 1;
                None
            }
            Err(AckError::Timeout) => Some(AckError::Timeout),
        };
        let done = c.responses.len() + c.lost == c.expected;
        let failed = failed.or((c.lost > 0).then_some(AckError::Disconnected));
        if !done && failed != Some(AckError::Timeout) {
            return;
        }
        let Some(c) = self.collectors.remove(key) else {
            return;
        };
        match failed {
            None => (c.callback)(Ok(c.responses)),
            Some(kind) => (c.callback)(Err(BroadcastAckError {
                kind,
                responses: c.responses,
            })),
        }
    }

    /// Encodes an event for namespace `ns`. With recovery on, an event `kept` for an
    /// audience gets the next offset as its last argument and goes in the namespace's log
    /// (recovery.rs).
    pub(crate) fn encode_event(
        &mut self,
        now: Option<Instant>,
        ns: usize,
        (event, payload): (&str, &Payload),
        id: Option<u64>,
        kept: Option<impl FnOnce() -> Audience>,
    ) -> Utf8Bytes {
        let (args, nbins) = (&payload.args, payload.bins.len());
        let logged = match (self.store(ns), now, kept) {
            (Some(store), Some(now), Some(audience)) => Some((store.next_offset(), now, audience)),
            _ => None,
        };
        let nsp = &self.namespaces[ns].name;
        let Some((offset, now, audience)) = logged else {
            return packet::event(nsp, event, args, nbins, (id, None)).into();
        };
        let text: Utf8Bytes = packet::event(nsp, event, args, nbins, (id, Some(offset))).into();
        if let Some(store) = self.store(ns) {
            store.log(now, audience(), text.as_str(), &payload.bins);
        }
        text
    }

    fn socket_info(&self, ns: usize, k: SocketKey) -> Option<SocketInfo> {
        let sock = self.sockets.get(k)?;
        let namespace = &self.namespaces[ns];
        Some(SocketInfo {
            id: sock.info.sid.to_string(),
            namespace: namespace.name.clone(),
            handshake: sock.info.handshake.clone(),
            rooms: namespace.rooms.rooms_of(k).map(str::to_owned).collect(),
            data: sock.data.clone(),
        })
    }
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("expected", &self.expected)
            .field("lost", &self.lost)
            .field("responses", &self.responses.len())
            .finish_non_exhaustive()
    }
}

/// The collectors of one endpoint.
pub(crate) type Collectors = Slab<CollectorKey, Collector>;
