//! [`Link`]: a node's two connections to Redis, shared by whatever crosses nodes through
//! it (the Socket.IO adapter, rooms). Nothing here knows what the messages mean.
//!
//! Two threads per link, each with its own connection (a connection in subscribed mode
//! cannot publish):
//! - the subscriber subscribes to a list of channels and patterns (more can be added while
//!   it runs) and hands every message, channel and payload bytes, to a `deliver` callback
//!   on its own thread; the callback passes it on to the reactor (an `IoHandle`'s bounded
//!   queue and waker, as any other thread does);
//! - the publisher takes messages from a bounded queue ([`Outbound`]) and publishes them.
//!   The reactor never waits for Redis: when that queue is full a message is dropped and
//!   counted ([`Link::dropped`]). Who needs to know how many subscribers received a
//!   message (`PUBLISH`'s answer: on a request channel, how many answers to expect) says
//!   so ([`Link::publish_counted`]).
//!
//! Either connection lost: the thread logs it and reconnects with backoff (100 ms doubling
//! to 5 s), subscribing again to everything; what is published meanwhile is dropped and
//! counted. Both threads end once every clone of the [`Link`] is dropped.

mod outbound;

use std::fmt;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use log::{info, warn};

pub(crate) use outbound::{Message, Receivers};
use outbound::{Outbound, Outgoing};

/// How long connecting to Redis may take, at the start and on every reconnection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long the subscriber waits for a message before it takes the subscriptions added
/// meanwhile and checks that the link is still wanted: a blocking pub/sub connection
/// cannot be asked to subscribe from another thread.
const SUBSCRIBER_TICK: Duration = Duration::from_millis(50);

/// Why joining a cluster through Redis failed, or a query to Redis did.
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL is not a Redis URL (`redis://host:port/db`).
    Url(::redis::RedisError),
    /// Redis could not be reached (within 5 s when connecting), or refused a command.
    Redis(::redis::RedisError),
    /// A thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Url(e) => write!(f, "invalid Redis URL: {e}"),
            RedisError::Redis(e) => write!(f, "Redis: {e}"),
            RedisError::Thread(e) => write!(f, "cannot start a Redis thread: {e}"),
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

/// What the subscriber listens to: a channel (`SUBSCRIBE`, counted by `PUBSUB NUMSUB`)
/// or a glob pattern (`PSUBSCRIBE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topic {
    Channel(String),
    Pattern(String),
}

/// A node's link to Redis (clone it: one uid, one pair of connections per node).
#[derive(Debug, Clone)]
pub(crate) struct Link {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// This node's id in the cluster's messages (the Node adapter's `uid`).
    uid: String,
    client: ::redis::Client,
    outbound: Outbound,
    /// Subscriptions added while running, for the subscriber thread.
    topics: Sender<Topic>,
}

impl Link {
    /// Connects to Redis at `url` (`redis://127.0.0.1:6379`), subscribes to `topics` and
    /// starts both threads; when it returns `Ok`, messages on `topics` are being handed to
    /// `deliver` (on the subscriber's thread). `queue`: how many messages may wait for the
    /// publisher (at least 1).
    ///
    /// # Errors
    /// [`RedisError::Url`] for a malformed URL, [`RedisError::Redis`] if Redis cannot be
    /// reached within 5 s or refuses the subscription, [`RedisError::Thread`].
    pub(crate) fn connect(
        url: &str,
        topics: Vec<Topic>,
        queue: usize,
        deliver: impl FnMut(&str, &[u8]) + Send + 'static,
    ) -> Result<Link, RedisError> {
        let client = ::redis::Client::open(url).map_err(RedisError::Url)?;
        let publisher = connect(&client).map_err(RedisError::Redis)?;
        let (outbound, queue) = Outbound::new(queue.max(1));
        let (added, more) = mpsc::channel();
        let shared = Arc::new(Shared {
            uid: uid(),
            client: client.clone(),
            outbound,
            topics: added,
        });
        let (ready, subscribed) = mpsc::channel();
        let weak = Arc::downgrade(&shared);
        let subscriber = Subscriber {
            link: weak.clone(),
            client: client.clone(),
            topics,
            more,
        };
        thread::Builder::new()
            .name("wsreactor-redis-sub".into())
            .spawn(move || subscriber.run(deliver, &ready))
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
        thread::Builder::new()
            .name("wsreactor-redis-pub".into())
            .spawn(move || publish(&weak, &client, publisher, &queue))
            .map_err(RedisError::Thread)?;
        Ok(Link { shared })
    }

    /// This node's id: six random bytes in hex.
    pub(crate) fn uid(&self) -> &str {
        &self.shared.uid
    }

    /// Adds a subscription (kept across reconnections; one made already is kept once);
    /// the subscriber takes it within 50 ms. Never blocks.
    pub(crate) fn subscribe(&self, topic: Topic) {
        // Only fails once the subscriber has ended, when there is nothing to add to.
        let _ = self.shared.topics.send(topic);
    }

    /// Hands a message to the publisher; never blocks: a full queue drops it and counts it.
    pub(crate) fn publish(&self, msg: Message) {
        self.shared.outbound.offer(Outgoing { msg, then: None });
    }

    /// As [`publish`](Self::publish), then tells `then` how many subscribers received it
    /// (`PUBLISH`'s answer: on a request channel, the nodes that will answer, this one
    /// included), or `None` if it was not published.
    pub(crate) fn publish_counted(&self, msg: Message, then: Receivers) {
        let then = Some(then);
        self.shared.outbound.offer(Outgoing { msg, then });
    }

    /// Messages not published because the publisher's queue was full or Redis was
    /// unreachable, since the start.
    pub(crate) fn dropped(&self) -> u64 {
        self.shared.outbound.dropped()
    }

    /// A new connection for one-off commands (`PUBSUB NUMSUB`); blocks for up to 5 s.
    pub(crate) fn connection(&self) -> Result<::redis::Connection, RedisError> {
        connect(&self.shared.client).map_err(RedisError::Redis)
    }
}

fn connect(client: &::redis::Client) -> ::redis::RedisResult<::redis::Connection> {
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

/// The subscriber thread's state: what it is subscribed to, and where more comes from.
struct Subscriber {
    link: Weak<Shared>,
    client: ::redis::Client,
    topics: Vec<Topic>,
    more: Receiver<Topic>,
}

impl Subscriber {
    /// Subscribes (telling `ready` the first time), then delivers messages until the link
    /// is gone; reconnects when Redis is lost.
    fn run(
        mut self,
        mut deliver: impl FnMut(&str, &[u8]),
        ready: &mpsc::Sender<::redis::RedisResult<()>>,
    ) {
        let mut first = true;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let subscribed = connect(&self.client).and_then(|mut con| {
                let mut pubsub = con.as_pubsub();
                pubsub.set_read_timeout(Some(SUBSCRIBER_TICK))?;
                self.topics.iter().try_for_each(|t| add(&mut pubsub, t))?;
                if first {
                    let _ = ready.send(Ok(()));
                    first = false;
                } else {
                    info!("Redis subscriber: subscribed again");
                }
                backoff = FIRST_BACKOFF;
                loop {
                    let msg = match pubsub.get_message() {
                        Ok(msg) => Some(msg),
                        Err(e) if e.is_timeout() => None,
                        Err(e) => return Err(e),
                    };
                    if self.link.strong_count() == 0 {
                        return Ok(()); // nobody to deliver to
                    }
                    for topic in self.more.try_iter() {
                        if !self.topics.contains(&topic) {
                            add(&mut pubsub, &topic)?;
                            self.topics.push(topic);
                        }
                    }
                    if let Some(msg) = msg {
                        deliver(msg.get_channel_name(), msg.get_payload_bytes());
                    }
                }
            });
            match subscribed {
                Ok(()) => return,
                Err(e) if first => {
                    let _ = ready.send(Err(e));
                    return;
                }
                Err(e) => warn!("Redis subscriber: {e}; next try in {backoff:?}"),
            }
            if self.link.strong_count() == 0 {
                return;
            }
            thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

fn add(pubsub: &mut ::redis::PubSub<'_>, topic: &Topic) -> ::redis::RedisResult<()> {
    match topic {
        Topic::Channel(c) => pubsub.subscribe(c),
        Topic::Pattern(p) => pubsub.psubscribe(p),
    }
}

/// The publisher thread: publishes what the queue holds until the link is gone. A
/// connection Redis dropped (a restart) shows only when it is used, so a message that
/// fails on it is sent again on a new one; one that fails on a new one too (Redis still
/// away) is dropped and counted, and the next waits out a backoff.
fn publish(
    link: &Weak<Shared>,
    client: &::redis::Client,
    con: ::redis::Connection,
    queue: &Receiver<Outgoing>,
) {
    let mut con = Some(con);
    let mut backoff = FIRST_BACKOFF;
    let mut lost = false;
    // Ends when every sender (the link's) is gone.
    while let Ok(out) = queue.recv() {
        let Some(link) = link.upgrade() else {
            return;
        };
        let (channel, bytes) = &out.msg;
        let mut attempt = || -> ::redis::RedisResult<usize> {
            let c = match con.as_mut() {
                Some(c) => c,
                None => con.insert(connect(client)?),
            };
            let sent = ::redis::cmd("PUBLISH").arg(channel).arg(bytes).query(c);
            if sent.is_err() {
                con = None;
            }
            sent
        };
        let sent = attempt().or_else(|_| attempt());
        match sent {
            Ok(receivers) => {
                if lost {
                    info!("Redis publisher: connected again");
                    lost = false;
                }
                backoff = FIRST_BACKOFF;
                if let Some(then) = out.then {
                    then(Some(receivers));
                }
            }
            Err(e) => {
                warn!("Redis publisher: {e}; a message dropped, next try in {backoff:?}");
                lost = true;
                out.drop_counted(&link.outbound);
                drop(link);
                thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
