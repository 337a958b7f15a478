//! [`RedisAdapter`]: several servers, wsreactor or Node, as one Socket.IO cluster through
//! Redis pub/sub, wire-compatible with Node's `@socket.io/redis-adapter` 8.x (classic
//! pub/sub mode): a broadcast made on one node reaches the selected sockets of every node.
//!
//! Two threads per adapter, each with its own Redis connection (a connection in
//! subscribed mode cannot publish):
//! - the subscriber receives every broadcast of the cluster (`<key>#*`) and hands the
//!   ones of other nodes to the reactor through an [`IoHandle`]'s bounded queue and the
//!   reactor's waker, as any other thread does;
//! - the publisher takes this node's broadcasts from a bounded queue and publishes them.
//!   The reactor never waits for Redis: when that queue is full a broadcast is dropped for
//!   the other nodes (still delivered here) and counted ([`RedisAdapter::dropped`]).
//!
//! Either connection lost: the thread logs it and reconnects with backoff (100 ms doubling
//! to 5 s); local delivery goes on meanwhile, and what is published meanwhile is dropped
//! and counted.

mod outbound;
mod wire;

use std::fmt;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, OnceLock, Weak};
use std::thread;
use std::time::Duration;

use log::{debug, warn};

use super::adapter::Selection;
use super::namespace::Sio;
use super::payload::Payload;
use super::IoHandle;
use outbound::{Message, Outbound};

/// How long connecting to Redis may take, at the start and on every reconnection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How a [`RedisAdapter`] joins the cluster. Every node of a cluster must use the same
/// [`key`](Self::key).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    key: String,
    queue: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            key: "socket.io".to_owned(),
            queue: 1024,
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
}

/// Why [`RedisAdapter::connect`] or [`RedisAdapter::server_count`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL is not a Redis URL (`redis://host:port/db`).
    Url(redis::RedisError),
    /// Redis could not be reached, or refused a command.
    Redis(redis::RedisError),
    /// A thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Url(e) => write!(f, "invalid Redis URL: {e}"),
            RedisError::Redis(e) => write!(f, "Redis: {e}"),
            RedisError::Thread(e) => write!(f, "cannot start the Redis adapter's thread: {e}"),
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Url(e) | RedisError::Redis(e) => Some(e),
            RedisError::Thread(e) => Some(e),
        }
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
/// honoured, text and binary arguments alike. Other operations (acknowledgements,
/// `fetch_sockets`, joins, leaves, disconnections, server-side emits) stay on this node.
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
    /// This node's id in the cluster's messages (the Node adapter's `uid`).
    uid: String,
    key: String,
    client: redis::Client,
    outbound: Outbound,
    /// Where the other nodes' broadcasts go: the first attached server's handle.
    io: OnceLock<IoHandle>,
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("uid", &self.inner.uid)
            .field("key", &self.inner.key)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    /// Connects to Redis at `url` (`redis://127.0.0.1:6379`) and subscribes to the
    /// cluster's broadcasts; when it returns `Ok`, broadcasts of other nodes are being
    /// received.
    ///
    /// # Errors
    /// [`RedisError::Url`] for a malformed URL, [`RedisError::Redis`] if Redis cannot be
    /// reached within 5 s or refuses the subscription, [`RedisError::Thread`].
    pub fn connect(url: &str, options: RedisOptions) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(RedisError::Url)?;
        let publisher = connect(&client).map_err(RedisError::Redis)?;
        let (outbound, queue) = Outbound::new(options.queue);
        let inner = Arc::new(Inner {
            uid: uid(),
            key: options.key,
            client: client.clone(),
            outbound,
            io: OnceLock::new(),
        });
        let (ready, subscribed) = mpsc::channel();
        let weak = Arc::downgrade(&inner);
        thread::Builder::new()
            .name("wsreactor-redis-sub".into())
            .spawn(move || subscribe(&weak, &client, &ready))
            .map_err(RedisError::Thread)?;
        match subscribed.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(RedisError::Redis(e)),
            Err(_) => {
                return Err(RedisError::Thread(std::io::Error::other(
                    "subscriber ended",
                )))
            }
        }
        let (client, weak) = (inner.client.clone(), Arc::downgrade(&inner));
        thread::Builder::new()
            .name("wsreactor-redis-pub".into())
            .spawn(move || publish(&weak, &client, publisher, &queue))
            .map_err(RedisError::Thread)?;
        Ok(RedisAdapter { inner })
    }

    /// This node's id in the cluster.
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }

    /// Broadcasts not published because the publisher's queue was full or Redis was
    /// unreachable, since the start.
    pub fn dropped(&self) -> u64 {
        self.inner.outbound.dropped()
    }

    /// How many nodes answer requests for namespace `nsp` (the Node adapter's
    /// `serverCount`: subscribers of `<key>-request#<nsp>#`, by `PUBSUB NUMSUB`). Blocks
    /// for a round trip to Redis: call it off the reactor's thread. Only Node nodes are
    /// counted: a wsreactor node does not answer requests yet, so it does not subscribe
    /// there (a Node caller would wait for its answer until the timeout).
    ///
    /// # Errors
    /// [`RedisError::Redis`] if Redis cannot be reached.
    pub fn server_count(&self, nsp: &str) -> Result<usize, RedisError> {
        let mut con = connect(&self.inner.client).map_err(RedisError::Redis)?;
        let channel = format!("{}-request#{nsp}#", self.inner.key);
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
        let inner = &self.inner;
        let channel = wire::broadcast_channel(&inner.key, nsp, sel);
        (channel, wire::encode(&inner.uid, nsp, sel, event, payload))
    }

    /// Hands a broadcast to the publisher; never blocks (see [`RedisOptions::queue`]).
    pub(crate) fn publish(&self, msg: Message) {
        self.inner.outbound.offer(msg);
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

fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    client.get_connection_with_timeout(CONNECT_TIMEOUT)
}

/// Six random bytes in hex: as unguessable as the Node adapter's `uid2(6)`, which only
/// needs to differ between nodes.
fn uid() -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        // Unique within this process at least; nodes on other hosts differ by the time.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes.copy_from_slice(&nanos.to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The subscriber thread: subscribes (telling `ready` the first time), then delivers the
/// other nodes' broadcasts until the adapter is gone; reconnects when Redis is lost.
fn subscribe(
    inner: &Weak<Inner>,
    client: &redis::Client,
    ready: &mpsc::Sender<redis::RedisResult<()>>,
) {
    let Some(pattern) = inner.upgrade().map(|i| wire::broadcast_pattern(&i.key)) else {
        return;
    };
    let mut first = true;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let subscribed = connect(client).and_then(|mut con| {
            let mut pubsub = con.as_pubsub();
            pubsub.psubscribe(&pattern)?;
            if first {
                let _ = ready.send(Ok(()));
                first = false;
            }
            backoff = FIRST_BACKOFF;
            loop {
                let msg = pubsub.get_message()?;
                // The adapter is gone: nobody to deliver to.
                let Some(inner) = inner.upgrade() else {
                    return Ok(());
                };
                inner.deliver(msg.get_payload_bytes());
            }
        });
        match subscribed {
            Ok(()) => return,
            Err(e) if first => {
                let _ = ready.send(Err(e));
                return;
            }
            Err(e) => warn!("Redis subscriber: {e}; reconnecting in {backoff:?}"),
        }
        if inner.strong_count() == 0 {
            return;
        }
        thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

impl Inner {
    /// A message on a broadcast channel: another node's broadcast, for the sockets here.
    fn deliver(&self, bytes: &[u8]) {
        let b = match wire::decode(bytes) {
            Ok(b) => b,
            Err(e) => return debug!("Redis: ignored a message on a broadcast channel: {e:?}"),
        };
        if b.uid == self.uid {
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

/// The publisher thread: publishes what the queue holds until the adapter is gone; a
/// message that fails (Redis lost) is dropped and counted, then the connection is made
/// again with backoff.
fn publish(
    inner: &Weak<Inner>,
    client: &redis::Client,
    con: redis::Connection,
    queue: &Receiver<Message>,
) {
    let mut con = Some(con);
    let mut backoff = FIRST_BACKOFF;
    // Ends when every sender (the adapter's) is gone.
    while let Ok((channel, msg)) = queue.recv() {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if con.is_none() {
            match connect(client) {
                Ok(c) => con = Some(c),
                Err(e) => {
                    warn!("Redis publisher: {e}; retrying in {backoff:?}");
                    inner.outbound.count_dropped();
                    drop(inner);
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let Some(c) = con.as_mut() else { continue };
        let sent: redis::RedisResult<usize> =
            redis::cmd("PUBLISH").arg(&channel).arg(&msg).query(c);
        match sent {
            Ok(_) => backoff = FIRST_BACKOFF,
            Err(e) => {
                warn!("Redis publisher: {e}; reconnecting");
                inner.outbound.count_dropped();
                con = None;
            }
        }
    }
}
