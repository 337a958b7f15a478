//! Plain WebSocket rooms across nodes (feature `redis`): [`Cluster`] joins servers,
//! one per machine or process, through Redis pub/sub, so that a publish to a room on one
//! node reaches the room's members on every node.
//!
//! ```no_run
//! use wsreactor::cluster::{Cluster, ClusterOptions};
//! use wsreactor::{Config, Ctx, Handler, Message, Request, Server};
//!
//! struct Lobby;
//!
//! impl Handler for Lobby {
//!     fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
//!         ctx.join("lobby").ok();
//!     }
//!
//!     fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
//!         ctx.publish("lobby", msg).ok(); // every member, on every node
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::connect("redis://127.0.0.1:6379", ClusterOptions::default())?;
//! let config = Config::default().cluster(cluster);
//! Server::bind_with("127.0.0.1:9001", config)?.run(Lobby)?;
//! # Ok(())
//! # }
//! ```
//!
//! What crosses: [`ServerCtx::publish`](crate::ServerCtx::publish),
//! [`Ctx::publish_to_others`](crate::Ctx::publish_to_others) and
//! [`Handle::publish`](crate::Handle::publish), text and binary. Each is delivered here as
//! without a cluster, and published once on the room's channel; every other node delivers
//! it to its members of the room, on all its reactors, once. A node ignores what it
//! published itself (the uid in the message), so nothing comes back. Not across:
//! `broadcast` (every connection of this server), `send_to`, joins and leaves, room sizes:
//! each node knows its own members only.
//!
//! The channel format is our own (`wire.rs`): channel `<key>#<room>`; payload: opcode (1
//! byte: 1 text, 2 binary), the uid's length (1 byte) and the uid, the room's length (2
//! bytes, big-endian) and the room, then the message's bytes. Every node subscribes to the
//! one pattern `<key>#*` rather than to each room it has members in: rooms come and go
//! with every join and leave, on any reactor, and a `SUBSCRIBE` per room would put a
//! message to the Redis thread on that path and miss what is published before Redis has
//! answered it; Redis matches each `PUBLISH` against one pattern per node instead, and a
//! node drops a publish for a room it has no members in after a lookup.
//!
//! Failures, as the Socket.IO adapter's: Redis unreachable at the start is an error of
//! [`Cluster::connect`]; lost later, local delivery goes on, both connections are made
//! again with backoff (100 ms doubling to 5 s, logged at `warn`), and what is published
//! meanwhile is dropped and counted ([`Cluster::dropped`]), as is what finds the bounded
//! queue to the publisher full ([`ClusterOptions::queue`]). A publish from another node
//! that a reactor's full command queue refuses is not delivered here, and logged.

mod wire;

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use log::{debug, warn};

use crate::handle::WeakHandle;
pub use crate::redis::RedisError;
use crate::redis::{Link, Topic};
use crate::{Handle, Message};

/// How a [`Cluster`] joins the others. Every node of a cluster must use the same
/// [`key`](Self::key).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterOptions {
    key: String,
    queue: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            key: "wsreactor".to_owned(),
            queue: 1024,
        }
    }
}

impl ClusterOptions {
    /// The prefix of every room's channel, `<key>#<room>` (default `wsreactor`): clusters
    /// sharing a Redis keep apart by key. It is part of a glob pattern (`<key>#*`), so
    /// it should not hold `*`, `?`, `[` or `\`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How many publishes may wait for the Redis publisher (default 1,024, at least 1);
    /// past it, a publish is not sent to the other nodes (it is still delivered here) and
    /// [`Cluster::dropped`] counts it. Its cost: the waiting messages' bytes.
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue.max(1);
        self
    }
}

/// A node's membership of a cluster of wsreactor servers joined through Redis: attach it
/// to a server with [`Config::cluster`](crate::Config::cluster) and publishing to a room
/// reaches its members on every node (see the [module](self)). One cluster serves one
/// server (all its reactors); a clone is the same membership.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    key: String,
    /// Shared with the subscriber thread's delivery.
    incoming: Arc<Incoming>,
}

/// What the subscriber thread needs to deliver another node's publish here.
#[derive(Default)]
struct Incoming {
    /// This node's uid, to ignore its own publishes; set once the link is made (nothing
    /// of ours can come before).
    uid: OnceLock<String>,
    /// The server the cluster serves, weakly: the server's handle holds the cluster.
    server: Mutex<Option<WeakHandle>>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("uid", &self.inner.link.uid())
            .field("key", &self.inner.key)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to Redis at `url` (`redis://127.0.0.1:6379`) and subscribes to the
    /// cluster's rooms; when it returns `Ok`, publishes of other nodes are being received
    /// (and delivered once it is attached to a server).
    ///
    /// # Errors
    /// [`RedisError::Url`] for a malformed URL, [`RedisError::Redis`] if Redis cannot be
    /// reached within 5 s or refuses the subscription, [`RedisError::Thread`].
    pub fn connect(url: &str, options: ClusterOptions) -> Result<Cluster, RedisError> {
        let incoming = Arc::new(Incoming::default());
        let topics = vec![Topic::Pattern(wire::pattern(&options.key))];
        let deliver = {
            let incoming = Arc::clone(&incoming);
            move |_channel: &str, payload: &[u8]| incoming.deliver(payload)
        };
        let link = Link::connect(url, topics, options.queue, deliver)?;
        let _ = incoming.uid.set(link.uid().to_owned());
        let key = options.key;
        Ok(Cluster {
            inner: Arc::new(Inner {
                link,
                key,
                incoming,
            }),
        })
    }

    /// This node's id in the cluster's messages (six random bytes in hex).
    pub fn uid(&self) -> &str {
        self.inner.link.uid()
    }

    /// Publishes not sent to the other nodes, since the start: the queue to the publisher
    /// was full, or Redis was unreachable. They were delivered here all the same.
    pub fn dropped(&self) -> u64 {
        self.inner.link.dropped()
    }

    /// Makes `server`'s handle the one other nodes' publishes go to; `false` if this
    /// cluster serves another server that is still there.
    pub(crate) fn attach(&self, server: &Handle) -> bool {
        let mut slot = self.inner.incoming.server();
        if slot.as_ref().and_then(WeakHandle::upgrade).is_some() {
            return false;
        }
        *slot = Some(server.downgrade());
        true
    }

    /// Publishes `msg` to `room` on the other nodes; never blocks (a full queue drops it,
    /// counted). A control frame is not published.
    pub(crate) fn publish(&self, room: &str, msg: &Message) {
        let uid = self.inner.link.uid();
        match wire::encode(uid, room, msg) {
            Some(bytes) => (self.inner.link).publish((wire::channel(&self.inner.key, room), bytes)),
            None => debug!("not published across nodes (a control frame or an overlong room)"),
        }
    }
}

impl Incoming {
    fn server(&self) -> std::sync::MutexGuard<'_, Option<WeakHandle>> {
        // An `Option` of a pointer: a panic elsewhere cannot leave it half-written.
        self.server.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A message on a room's channel, on the subscriber's thread: another node's publish,
    /// for this server's members of the room on every reactor.
    fn deliver(&self, payload: &[u8]) {
        let publish = match wire::decode(payload) {
            Ok(p) => p,
            Err(e) => return debug!("Redis: ignored a message on a room channel: {e:?}"),
        };
        if self
            .uid
            .get()
            .is_some_and(|uid| uid.as_bytes() == publish.uid)
        {
            return; // ours, delivered here already
        }
        let Some(server) = self.server().as_ref().and_then(WeakHandle::upgrade) else {
            return; // no server (yet, or any more): no member here
        };
        if let Err(e) = server.publish_here(publish.room, publish.msg) {
            warn!(
                "a publish to {:?} from another node was not delivered here: {e:?}",
                publish.room
            );
        }
    }
}
