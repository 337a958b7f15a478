//! [`RedisAdapter`]: several servers, wsreactor or Node, as one Socket.IO cluster through
//! Redis pub/sub, wire-compatible with Node's `@socket.io/redis-adapter` 8.x (classic
//! pub/sub mode): a broadcast made on one node reaches the selected sockets of every node.
//!
//! The connections, threads, bounded queue and reconnection are the crate's Redis
//! [`Link`](crate::redis::Link); this module subscribes it to the cluster's broadcasts
//! (`<key>#*`), hands the ones of other nodes to the reactor through an [`IoHandle`]'s
//! bounded queue and the reactor's waker, and publishes this node's broadcasts. When the
//! publisher's queue is full a broadcast is dropped for the other nodes (still delivered
//! here) and counted ([`RedisAdapter::dropped`]).
//!
//! The adapter's requests and responses: `requests.rs` (their messages and channels),
//! `answer.rs` (answering the other nodes'), `ask.rs` (this node's, and their answers).

mod answer;
mod ask;
mod requests;
mod wire;

use std::fmt;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use log::{debug, warn};

use super::adapter::Selection;
use super::namespace::Sio;
use super::payload::Payload;
use super::IoHandle;
use crate::redis::{Link, Message, RedisError, Topic};
pub use ask::ServerSideEmitError;

/// How a [`RedisAdapter`] joins the cluster. Every node of a cluster must use the same
/// [`key`](Self::key).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    key: String,
    queue: usize,
    requests_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            key: "socket.io".to_owned(),
            queue: 1024,
            requests_timeout: Duration::from_secs(5),
        }
    }
}

impl RedisOptions {
    /// The prefix of every channel name (the Node adapter's `key` option); default
    /// `socket.io`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How many broadcasts may wait for the publisher (default 1,024, at least 1); past
    /// it, a broadcast is not published (it is still delivered to this node's sockets)
    /// and [`RedisAdapter::dropped`] counts it. Its cost: the waiting messages' bytes.
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue.max(1);
        self
    }

    /// How long this node waits for the other nodes' answers to a request (the Node
    /// adapter's `requestsTimeout`; default 5 s); also how long a broadcast with
    /// acknowledgements asked by a Node node waits here when it names no timeout.
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }
}

/// A node's membership of a Socket.IO cluster joined through Redis, shared by the
/// [`SocketIo`](super::SocketIo) of every reactor of this process (clone it; one node,
/// one uid, one pair of connections). Attach it with
/// [`SocketIo::adapter`](super::SocketIo::adapter).
///
/// Broadcasts ([`Broadcast::emit`](super::Broadcast::emit),
/// [`Operator::emit`](super::Operator::emit)) are delivered here and published for the
/// other nodes; theirs are delivered to the sockets here, `to` and `except` rooms
/// honoured, text and binary arguments alike.
///
/// The server-side utilities reach every node too, as with the Node adapter:
/// [`Broadcast::fetch_sockets_then`](super::Broadcast::fetch_sockets_then) and
/// [`Operator::fetch_sockets`](super::Operator::fetch_sockets) gather every node's sockets;
/// `sockets_join`, `sockets_leave` and `disconnect_sockets` run on every node;
/// `emit_with_ack` collects every node's acknowledgements; `server_side_emit` and
/// `server_side_emit_with_ack` send to the other nodes' listeners
/// ([`Namespace::on_server_side`](super::Namespace::on_server_side)). A request waits for
/// as many answers as `PUBLISH` says nodes got it, at most
/// [`RedisOptions::requests_timeout`] (reactor time); then it ends with what came
/// ([`RequestError::Timeout`](super::RequestError::Timeout) in a
/// [`ServerSideEmitError`], a [`BroadcastAckError`](super::BroadcastAckError) or a
/// [`QueryError`](super::QueryError)). [`Broadcast::fetch_sockets`](super::Broadcast::fetch_sockets) answers at
/// once, so for this reactor only.
///
/// It answers every request of the Node adapter (`fetchSockets`, `allRooms`,
/// `socketsJoin`, `socketsLeave`, `disconnectSockets`, `serverSideEmit` with and without
/// acknowledgement, broadcasts with acknowledgements) for the namespaces of this node, so
/// a Node node counts it in its `serverCount` and never waits for it until a timeout.
/// In a `fetchSockets` answer a socket's `data` is the `serde_json::Value` its
/// [`data`](super::Socket::data) holds, if any (`{}` otherwise).
///
/// ```no_run
/// use wsreactor::socketio::{Options, RedisAdapter, RedisOptions, SocketIo};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = RedisAdapter::connect("redis://127.0.0.1:6379", RedisOptions::default())?;
/// let mut io = SocketIo::new(Options::default());
/// io.adapter(&redis);
/// io.of("/").on_connection(|socket| {
///     socket.join("all").ok();
///     socket.on("broadcast", |socket, payload, _ack| {
///         // Reaches the room's members on every node of the cluster.
///         socket.nsp().to("all").emit("broadcast", payload).ok();
///     });
/// });
/// wsreactor::Server::bind("127.0.0.1:3000")?.run(io)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    /// This node's requests waiting for answers.
    asked: ask::Asked,
    key: String,
    requests_timeout: Duration,
    /// Where the other nodes' broadcasts go: the first attached server's handle.
    io: OnceLock<IoHandle>,
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("uid", &self.uid())
            .field("key", &self.inner.key)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    /// Connects to Redis at `url` (`redis://127.0.0.1:6379`) and subscribes to the
    /// cluster's broadcasts and to the main namespace's requests; when it returns `Ok`,
    /// broadcasts of other nodes are being received, and other nodes count this one
    /// ([`server_count`](Self::server_count)) for `/`. Other namespaces take part as they
    /// are made (their subscriptions are taken within 50 ms).
    ///
    /// # Errors
    /// [`RedisError::Url`] for a malformed URL, [`RedisError::Redis`] if Redis cannot be
    /// reached within 5 s or refuses the subscription, [`RedisError::Thread`].
    pub fn connect(url: &str, options: RedisOptions) -> Result<Self, RedisError> {
        // The subscriber starts before the adapter exists: what it receives meanwhile
        // finds no adapter, as it would find no server attached.
        let adapter: Arc<OnceLock<Weak<Inner>>> = Arc::default();
        let slot = Arc::clone(&adapter);
        let deliver = move |channel: &str, bytes: &[u8]| {
            if let Some(inner) = slot.get().and_then(Weak::upgrade) {
                inner.deliver(channel, bytes);
            }
        };
        // The main namespace's requests from the start, so that other nodes count this
        // one once `connect` returns (every server has it, as Node's does); the others'
        // as they are made ([`serve`](Self::serve)).
        let key = &options.key;
        let topics = vec![
            Topic::Pattern(wire::broadcast_pattern(key)),
            Topic::Channel(requests::request_channel(key, "/")),
            Topic::Channel(requests::response_channel(key, "/")),
        ];
        let link = Link::connect(url, topics, options.queue, deliver)?;
        let inner = Arc::new(Inner {
            link,
            asked: ask::Asked::default(),
            key: options.key,
            requests_timeout: options.requests_timeout,
            io: OnceLock::new(),
        });
        let _ = adapter.set(Arc::downgrade(&inner));
        Ok(RedisAdapter { inner })
    }

    /// This node's id in the cluster.
    pub fn uid(&self) -> &str {
        self.inner.link.uid()
    }

    /// Broadcasts not published because the publisher's queue was full or Redis was
    /// unreachable, since the start.
    pub fn dropped(&self) -> u64 {
        self.inner.link.dropped()
    }

    /// How many nodes answer requests for namespace `nsp` (the Node adapter's
    /// `serverCount`: subscribers of `<key>-request#<nsp>#`, by `PUBSUB NUMSUB`), this
    /// one included once it has the namespace: Node and wsreactor nodes alike. Blocks for
    /// a round trip to Redis: call it off the reactor's thread.
    ///
    /// # Errors
    /// [`RedisError::Redis`] if Redis cannot be reached.
    pub fn server_count(&self, nsp: &str) -> Result<usize, RedisError> {
        let mut con = self.inner.link.connection()?;
        let channel = requests::request_channel(&self.inner.key, nsp);
        let (_, count): (String, usize) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query(&mut con)
            .map_err(RedisError::Redis)?;
        Ok(count)
    }

    /// A broadcast of this node, as published for the others.
    pub(crate) fn encode(
        &self,
        nsp: &str,
        sel: &Selection,
        event: &str,
        payload: &Payload,
    ) -> Message {
        let channel = wire::broadcast_channel(&self.inner.key, nsp, sel);
        (channel, wire::encode(self.uid(), nsp, sel, event, payload))
    }

    /// Hands a broadcast to the publisher; never blocks (see [`RedisOptions::queue`]).
    pub(crate) fn publish(&self, msg: Message) {
        self.inner.link.publish(msg);
    }

    /// Takes part in namespace `nsp`'s requests: answers the other nodes' and gets the
    /// answers to its own (the Node adapter subscribes these channels per namespace).
    pub(crate) fn serve(&self, nsp: &str) {
        let (key, link) = (&self.inner.key, &self.inner.link);
        link.subscribe(Topic::Channel(requests::request_channel(key, nsp)));
        link.subscribe(Topic::Channel(requests::response_channel(key, nsp)));
        let specific = requests::specific_response_channel(key, nsp, link.uid());
        link.subscribe(Topic::Channel(specific));
    }

    /// Other nodes' broadcasts go to `io`'s server (the first one attached).
    pub(crate) fn attach(&self, io: IoHandle) {
        let _ = self.inner.io.set(io);
    }
}

impl Sio {
    /// Publishes a broadcast made on this node for the other nodes, if in a cluster.
    pub(crate) fn publish(&self, ns: usize, sel: &Selection, event: &str, payload: &Payload) {
        if let Some(redis) = &self.redis {
            redis.publish(redis.encode(&self.namespaces[ns].name, sel, event, payload));
        }
    }
}

impl Inner {
    /// A message on one of the channels: a request, an answer, or a broadcast.
    fn deliver(self: &Arc<Self>, channel: &str, bytes: &[u8]) {
        let Some(rest) = channel.strip_prefix(&self.key) else {
            return;
        };
        if let Some(nsp) = rest.strip_prefix("-request#") {
            // `<key>-request#<nsp>#`
            self.on_request(nsp.strip_suffix('#').unwrap_or(nsp), bytes);
        } else if rest.starts_with("-response#") {
            self.on_response(bytes);
        } else {
            self.on_broadcast(bytes);
        }
    }

    /// A message on a broadcast channel: another node's broadcast, for the sockets here.
    fn on_broadcast(&self, bytes: &[u8]) {
        let b = match wire::decode(bytes) {
            Ok(b) => b,
            Err(e) => return debug!("Redis: ignored a message on a broadcast channel: {e:?}"),
        };
        if b.uid == self.link.uid() {
            return; // ours, delivered here already
        }
        let Some(io) = self.io.get() else {
            return; // no server attached yet, so no socket to deliver to
        };
        if let Err(e) = io.emit_from_cluster(&b.nsp, &b.sel, &b.event, &b.payload) {
            warn!(
                "a broadcast from node {} was not delivered here: {e}",
                b.uid
            );
        }
    }
}
