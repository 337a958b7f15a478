//! Limits and tunables, each with a default and a documented cost.

use std::io;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, ManualClock};
use crate::deflate::DeflateConfig;
use crate::rooms::RoomLimits;

/// Server configuration: every limit the server enforces, with a default.
///
/// Built by value with setters; [`Server::bind_with`](crate::Server::bind_with) rejects
/// combinations that make no sense (for example a soft backpressure limit above the hard one)
/// with `io::ErrorKind::InvalidInput`, so a running server never holds an invalid config.
///
/// ```
/// use std::time::Duration;
/// let config = wsreactor::Config::default()
///     .max_message_size(1 << 20)
///     .idle_timeout(Some(Duration::from_secs(60)));
/// assert_eq!(config.get_max_message_size(), 1 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    pub(crate) max_connections: usize,
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) max_handshake_bytes: usize,
    pub(crate) max_http_body: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) backpressure_soft_limit: usize,
    pub(crate) max_backpressure: usize,
    pub(crate) backpressure_policy: BackpressurePolicy,
    pub(crate) messages_per_pass: usize,
    pub(crate) command_queue_capacity: usize,
    pub(crate) max_rooms_per_connection: usize,
    pub(crate) max_room_name_len: usize,
    pub(crate) clock: Clock,
    pub(crate) reactors: usize,
    pub(crate) spread: Spread,
    pub(crate) deflate: Option<DeflateConfig>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    #[cfg(feature = "redis")]
    pub(crate) cluster: Option<crate::cluster::Cluster>,
}

/// Reactors a server may have: a [`ConnId`](crate::ConnId) names its reactor in 8 bits.
pub(crate) const MAX_REACTORS: usize = crate::slab::TAGS;

/// How new connections are spread over the reactors of a server with more than one
/// ([`Config::reactors`]); set with [`Config::spread`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spread {
    /// Each reactor listens on a socket of its own, all bound to the same port with
    /// `SO_REUSEPORT`, and the kernel picks one for each new connection by a hash of its
    /// addresses. No reactor touches another's connections, so a busy reactor slows only
    /// its own; the spread is as even as the hash makes it. The default.
    #[default]
    ReusePort,
    /// Reactor 0 accepts every connection and hands each to the reactors in turn (itself
    /// included) through their command queues: an even spread, at the cost of a queued
    /// command and a wake-up per connection, and every accept on one thread. What
    /// [`Server::from_listener`](crate::Server::from_listener) does with several
    /// reactors, since a socket made elsewhere cannot be shared by port.
    HandOff,
}

/// What happens to a message that would take a connection's outbound queue past
/// [`Config::max_backpressure`]; set with [`Config::backpressure_policy`].
///
/// A queue that big means the peer reads slower than it is sent to. `Close` treats that
/// as the peer's failure (uWebSockets closes too); `Drop` suits feeds where a newer
/// message replaces an older one (prices, positions), and leaves it to the sender, who is
/// told [`SendStatus::Dropped`](crate::SendStatus::Dropped), to decide. Under either
/// policy a peer whose queue stays above the soft limit for a whole idle timeout is closed
/// with 1008 ("peer is not reading").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackpressurePolicy {
    /// Drop the message and close the connection with 1008 (Policy Violation),
    /// `Cause::Backpressure`. The default.
    #[default]
    Close,
    /// Drop the message; the connection and what is already queued stay.
    Drop,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 10_000,
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            max_handshake_bytes: 8 * 1024,
            max_http_body: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(120)),
            pong_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            backpressure_soft_limit: 64 * 1024,
            max_backpressure: 1 << 20,
            backpressure_policy: BackpressurePolicy::Close,
            messages_per_pass: 64,
            command_queue_capacity: 1024,
            max_rooms_per_connection: 256,
            max_room_name_len: 256,
            clock: Clock::System,
            reactors: 1,
            spread: Spread::ReusePort,
            deflate: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "redis")]
            cluster: None,
        }
    }
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident / $getter:ident : $ty:ty ),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }

        #[doc = concat!("The current value of [`", stringify!($name), "`](Self::", stringify!($name), ").")]
        pub fn $getter(&self) -> $ty {
            self.$name
        }
    )*};
}
// The by-value setters of `DeflateConfig` too.
pub(crate) use setters;

impl Config {
    setters! {
        /// Open connections (including ones still in the handshake) held at once. Default
        /// 10,000. Past it a new socket gets `503 Service Unavailable` and is closed. Cost:
        /// one file descriptor and a few KiB per connection.
        max_connections / get_max_connections: usize,
        /// Largest message accepted, after reassembling fragments. Default 1 MiB. Over it the
        /// connection is closed with 1009 (Message Too Big). Cost: a peer may make the server
        /// hold this much per connection while a message arrives.
        max_message_size / get_max_message_size: usize,
        /// Largest single frame payload accepted. Default 1 MiB. Over it → close 1009.
        max_frame_size / get_max_frame_size: usize,
        /// Bytes of request line plus headers accepted in the upgrade request. Default 8 KiB.
        /// Over it → `431 Request Header Fields Too Large`.
        max_handshake_bytes / get_max_handshake_bytes: usize,
        /// Largest body accepted on a plain HTTP request (by `Content-Length`). Default 1 MiB.
        /// Over it → `413 Content Too Large`.
        max_http_body / get_max_http_body: usize,
        /// Time allowed from accept (or from the last response on a kept-alive HTTP
        /// connection) to a complete request. Default 10 s. Past it the socket is closed
        /// (defends against slowloris clients). A plain HTTP request the handler holds may
        /// wait up to `idle_timeout` for its answer.
        handshake_timeout / get_handshake_timeout: Duration,
        /// After this long without any inbound traffic the server sends a Ping. `None`
        /// disables keepalive. Default 120 s.
        idle_timeout / get_idle_timeout: Option<Duration>,
        /// How long a peer has to send anything after a keepalive Ping before the server
        /// closes it with 1001 (Going Away) and drops the socket. Default 30 s.
        pong_timeout / get_pong_timeout: Duration,
        /// How long the server waits for the peer's half of a close handshake (or for an HTTP
        /// response to drain) before dropping the socket. Default 5 s.
        close_timeout / get_close_timeout: Duration,
        /// Outbound bytes queued for a peer above which the server stops reading from it
        /// until the queue drains below this again. Default 64 KiB. Checked before each
        /// frame is decoded, so the queue passes it by at most what one message's callback
        /// sends. The first time in a reactor pass that it is passed, the queue is written
        /// at once, and reading goes on if the write brings it back below the limit (so
        /// echoing large messages does not stall); a second time in the same pass, reading
        /// stops until a later pass.
        backpressure_soft_limit / get_backpressure_soft_limit: usize,
        /// Outbound bytes queued for a peer that a new message may not take the queue past.
        /// Default 1 MiB. What happens to a message that would is
        /// [`backpressure_policy`](Self::backpressure_policy)'s choice (by default the
        /// connection is closed with 1008, Policy Violation). This bounds the memory a peer
        /// that never reads can make the server hold: at most this, or one message when a
        /// single message is larger (it is queued only on an empty queue).
        max_backpressure / get_max_backpressure: usize,
        /// What a send does when its message would take a connection's outbound queue past
        /// [`max_backpressure`](Self::max_backpressure). Default
        /// [`BackpressurePolicy::Close`]: the message is dropped and the connection closed
        /// with 1008, `Cause::Backpressure`. [`BackpressurePolicy::Drop`]: only the message
        /// is dropped. Either way the send answers
        /// [`SendStatus::Dropped`](crate::SendStatus::Dropped).
        backpressure_policy / get_backpressure_policy: BackpressurePolicy,
        /// Frames (messages and control frames) one connection gets handled per pass of
        /// the reactor before the others get their turn; the rest of its input waits for
        /// the next pass. Default 64. With the single socket read of at most 64 KiB per
        /// connection per pass, this bounds the work one peer can make the server do while
        /// the others wait. DoS warning: raising it lets a flooding peer delay every other
        /// connection by that many callbacks per pass.
        messages_per_pass / get_messages_per_pass: usize,
        /// Commands from [`Handle`](crate::Handle)s queued for the reactor at once. Default
        /// 1,024; past it `Handle` methods answer `SendError::Full` instead of blocking. The
        /// queue's slots are allocated up front.
        command_queue_capacity / get_command_queue_capacity: usize,
        /// Rooms one connection may be in at once. Default 256. Past it
        /// [`Ctx::join`](crate::Ctx::join) answers
        /// [`JoinError::TooManyRooms`](crate::JoinError::TooManyRooms) and nothing changes.
        /// Cost: about 270 bytes per membership (plus each room's name once), so at most
        /// about 70 KiB per connection with the defaults; and leaving every room when the
        /// connection closes runs on the reactor's thread at about 1 µs per room (0.3 ms
        /// for 256). DoS warning: an application that joins rooms its peers name lets each
        /// peer make the server hold, and later walk, this many; raising it raises both.
        max_rooms_per_connection / get_max_rooms_per_connection: usize,
        /// Longest room name accepted, in bytes. Default 256. Longer →
        /// [`JoinError::NameTooLong`](crate::JoinError::NameTooLong). Cost: a room's name
        /// is held once, shared by its members.
        max_room_name_len / get_max_room_name_len: usize,
        /// Reactors serving the port: threads, each with its own poller, connections,
        /// buffers and timers; a connection stays on the reactor that took it. Default 1,
        /// which runs on the thread of [`Server::run`](crate::Server::run) and nowhere else;
        /// `0` means one per core the process may use
        /// ([`std::thread::available_parallelism`]); at most 256. With more than one the
        /// server needs a handler per reactor
        /// ([`Server::run_with`](crate::Server::run_with)); connections are spread by
        /// [`spread`](Self::spread), and ids, rooms, broadcasts and [`Handle`](crate::Handle)s
        /// reach across reactors (see [`Server`](crate::Server)).
        reactors / get_reactors: usize,
        /// How new connections are spread over several reactors. Default
        /// [`Spread::ReusePort`]. Ignored with one reactor.
        spread / get_spread: Spread,
    }

    /// Offers permessage-deflate (RFC 7692) with these settings: a client that offers
    /// the extension gets compressed messages both ways. Default: off, as in Node `ws`,
    /// Socket.IO and uWebSockets, for what it costs: CPU for every message above the
    /// threshold, memory per connection (see [`DeflateConfig`]), and inflating what a peer
    /// sends, which is capped at [`max_message_size`](Self::max_message_size) (a message
    /// that inflates past it closes the connection with 1009 as soon as it does).
    pub fn deflate(mut self, deflate: DeflateConfig) -> Self {
        self.deflate = Some(deflate);
        self
    }

    /// The settings of [`deflate`](Self::deflate), if it is on.
    pub fn get_deflate(&self) -> Option<&DeflateConfig> {
        self.deflate.as_ref()
    }

    /// Runs the server on a [`ManualClock`] instead of the system clock, so that a test
    /// decides when timeouts, keepalive pings and timers fire. Default: the system clock.
    pub fn manual_clock(mut self, clock: ManualClock) -> Self {
        self.clock = Clock::Manual(clock);
        self
    }

    /// Serves every connection over TLS (`wss://`, `https://`) with this rustls
    /// configuration (feature `tls`). Default: none, plain TCP. The configuration is the
    /// caller's: certificates and their resolver, protocol versions, ALPN, client
    /// certificates, session resumption; [`tls::server_config_from_pem`](crate::tls::server_config_from_pem)
    /// builds one from PEM files. TLS sits under the connection: the limits, timeouts and
    /// the handler see plaintext as on plain TCP, `handshake_timeout` covers the TLS
    /// handshake too, and backpressure counts encrypted bytes not yet written.
    ///
    /// [`Server::bind_with`](crate::Server::bind_with) refuses (`InvalidInput`) a
    /// configuration rustls cannot start a session with, and one that accepts TLS 1.3
    /// early data (`max_early_data_size` above 0): 0-RTT data can be replayed, and the
    /// server reads only the data of the established session.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// The value of [`tls`](Self::tls), if set.
    #[cfg(feature = "tls")]
    pub fn get_tls(&self) -> Option<&Arc<rustls::ServerConfig>> {
        self.tls.as_ref()
    }

    /// Spans this server's rooms across the nodes of a [`Cluster`](crate::cluster::Cluster)
    /// joined through Redis (feature `redis`): publishing to a room reaches its members on
    /// every node (see [`cluster`](crate::cluster)). Default: none. A cluster serves one
    /// server at a time: binding a second one with it while the first is there is refused
    /// (`InvalidInput`).
    #[cfg(feature = "redis")]
    pub fn cluster(mut self, cluster: crate::cluster::Cluster) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The value of [`cluster`](Self::cluster), if set.
    #[cfg(feature = "redis")]
    pub fn get_cluster(&self) -> Option<&crate::cluster::Cluster> {
        self.cluster.as_ref()
    }

    /// Whether connections are served over TLS.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The room limits of each connection.
    pub(crate) fn room_limits(&self) -> RoomLimits {
        RoomLimits {
            max_rooms: self.max_rooms_per_connection,
            max_name_len: self.max_room_name_len,
        }
    }

    /// How many reactors the server runs: [`reactors`](Self::reactors) with `0` made one
    /// per available core (at most 256).
    pub(crate) fn reactor_count(&self) -> usize {
        match self.reactors {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_REACTORS)),
            n => n,
        }
    }

    /// Checks that the values fit together.
    pub(crate) fn validate(&self) -> io::Result<()> {
        let invalid =
            |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()));
        if self.max_connections == 0 {
            return invalid("max_connections must be at least 1");
        }
        if self.reactors > MAX_REACTORS {
            return invalid("reactors must be at most 256");
        }
        // A reactor's connections are slots of 24 bits (`ConnId` names its reactor above).
        if self.reactor_count() > 1 && self.max_connections > 1 << crate::slab::SLOT_BITS {
            return invalid("max_connections must be at most 16,777,216 with several reactors");
        }
        if self.max_frame_size == 0 || self.max_message_size == 0 {
            return invalid("max_message_size and max_frame_size must be at least 1");
        }
        if self.max_handshake_bytes < 256 {
            return invalid("max_handshake_bytes must be at least 256");
        }
        if self.messages_per_pass == 0 {
            return invalid("messages_per_pass must be at least 1");
        }
        if self.command_queue_capacity == 0 {
            return invalid("command_queue_capacity must be at least 1");
        }
        if self.backpressure_soft_limit > self.max_backpressure {
            return invalid("backpressure_soft_limit must not exceed max_backpressure");
        }
        if let Some(why) = self.deflate.as_ref().and_then(DeflateConfig::invalid) {
            return invalid(why);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            if tls.max_early_data_size > 0 {
                return invalid("TLS early data (max_early_data_size > 0) is not supported");
            }
            if let Err(e) = rustls::ServerConnection::new(Arc::clone(tls)) {
                let why = format!("the TLS configuration cannot start a session: {e}");
                return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn soft_limit_above_hard_limit_is_rejected() {
        let config = Config::default().backpressure_soft_limit(2 << 20);
        assert_eq!(
            config.validate().unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn reactors_are_checked_and_zero_is_one_per_core() {
        assert_eq!(Config::default().reactor_count(), 1);
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(
            Config::default().reactors(0).reactor_count(),
            cores.min(256)
        );
        assert!(Config::default().reactors(256).validate().is_ok());
        let too_many = Config::default().reactors(257).validate().unwrap_err();
        assert_eq!(too_many.kind(), io::ErrorKind::InvalidInput);
        let huge = Config::default().max_connections(usize::MAX);
        assert!(
            huge.clone().validate().is_ok(),
            "one reactor: no slot limit"
        );
        assert!(huge.reactors(2).validate().is_err());
    }
}
