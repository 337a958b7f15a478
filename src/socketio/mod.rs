//! Socket.IO v5 over Engine.IO v4 (feature `socketio`): the official `socket.io-client`
//! (Node or browser) talks to a wsreactor server, on WebSocket or HTTP long-polling.
//!
//! # Quick start
//!
//! The server of every Socket.IO tutorial:
//!
//! ```no_run
//! use wsreactor::socketio::{Options, SocketIo};
//!
//! # fn main() -> std::io::Result<()> {
//! let mut io = SocketIo::new(Options::default());
//! io.of("/").on_connection(|socket| {
//!     log::info!("{} connected", socket.id());
//!     socket.on("message", |socket, msg, _ack| {
//!         let text = msg.text(0).unwrap_or_default().to_owned();
//!         socket.emit("message", format!("Reply to: {text}")).ok();
//!     });
//!     // The client called `socket.emit("ping", cb)`: answer its callback.
//!     socket.on("ping", |socket, _msg, ack| {
//!         if let Some(ack) = ack {
//!             ack.send(socket, "pong");
//!         }
//!     });
//!     socket.on_disconnect(|socket, reason| log::info!("{} left: {reason}", socket.id()));
//! });
//! wsreactor::Server::bind("127.0.0.1:3000")?.run(io)
//! # }
//! ```
//!
//! A [`SocketIo`] is a [`Handler`]: it owns the path `/socket.io/` (plain
//! HTTP for long-polling, upgrades for WebSocket), serves the browser client there if told
//! where it is ([`SocketIo::serve_client`]), and passes everything else to a fallback
//! handler ([`SocketIo::fallback`]; by default 404).
//!
//! # Middlewares, listeners, dynamic namespaces
//!
//! As a Node app writes them:
//!
//! - [`Namespace::middleware`] (`namespace.use`): every connection goes through them in
//!   order before it is accepted; they read the [`Handshake`] and attach typed data to
//!   [`Socket::data_mut`]; the first [`ConnectError`] is the client's `connect_error`
//!   (`err.message`, `err.data`). [`Namespace::auth`] is a shorthand for one.
//! - An event from the client goes to the socket's catch-all listeners
//!   ([`Socket::on_any`]), then its packet middlewares ([`Socket::middleware`],
//!   `socket.use`; a refusal goes to [`Socket::on_error`]), then every listener of the
//!   event ([`Socket::on`]), in the order they were added; the first to answer the
//!   [`Ack`] answers the client.
//! - [`Socket::on_any_outgoing`] hears what is emitted to the socket;
//!   [`Socket::on_disconnecting`] runs while it is still in its rooms,
//!   [`Socket::on_disconnect`] once it has left them.
//! - [`SocketIo::of_dynamic`] (`io.of(regex)` / `io.of(fn)`): namespaces made when a
//!   client first connects to a name a predicate accepts, at most
//!   [`Options::max_child_namespaces`] at once.
//!
//! # The server's side: broadcasts, utilities, the io handle, recovery
//!
//! - [`Socket::to`], [`Socket::broadcast`] and [`Socket::nsp`] select sockets of a
//!   namespace by rooms ([`Broadcast::to`], [`Broadcast::except`]) for one operation:
//!   [`emit`](Broadcast::emit), [`emit_with_ack`](Broadcast::emit_with_ack) (every
//!   answer, as `io.timeout(ms).emit(.., cb)`), [`volatile`](Broadcast::volatile),
//!   [`fetch_sockets`](Broadcast::fetch_sockets), [`sockets_join`](Broadcast::sockets_join),
//!   [`sockets_leave`](Broadcast::sockets_leave),
//!   [`disconnect_sockets`](Broadcast::disconnect_sockets). Each is one query (namespace,
//!   rooms, except, flags) answered in one place, `adapter.rs`: the reference's adapter,
//!   where one that also asks other nodes would plug in.
//! - [`IoHandle`] ([`SocketIo::handle`]) does the same from any thread, through a bounded
//!   queue: a background job's `io.to(room).emit(..)`.
//! - [`Options::connection_state_recovery`]: a client whose connection dropped gets its
//!   socket back ([`Socket::recovered`]).
//!
//! # Layers
//!
//! ```text
//! Handler callbacks ─► Engine.IO sessions (engine/): polling GET/POST, WebSocket frames,
//!                      upgrade, heartbeat; packets: engine/packet.rs
//!                  ─► Socket.IO (namespace.rs): namespaces, sockets, events, acks, rooms;
//!                      packets and binary placeholders: packet.rs, attachments
//!                      reassembled: attachments.rs; middlewares and
//!                      listeners: middleware.rs, listeners.rs; dynamic namespaces:
//!                      dynamic.rs; operations on selected sockets: adapter.rs;
//!                      recovery: recovery.rs
//!                  ─► your callbacks, with a Socket (socket.rs) to emit, join, broadcast
//!                      (broadcast.rs); other threads: an IoHandle (io_handle.rs)
//! ```
//!
//! The protocol layers are sans I/O and unit-tested with time passed in; after each
//! callback the endpoint hands what they queued to the reactor, so everything one callback
//! emits to a long-polling client leaves in one response. One reactor timer per session
//! (its earliest deadline among heartbeat, upgrade, connect and ack timeouts), no scan.
//!
//! # JSON as JavaScript writes it
//!
//! Payloads are read as `JSON.parse` reads them and written as `JSON.stringify` writes
//! them, so what a client sends comes back as the reference server would send it:
//!
//! - object keys keep the order they came in (serde_json's `preserve_order`);
//! - numbers keep their text (`arbitrary_precision`): `98765432109876540000` or `1e+21`
//!   go back out as sent; [`Value::as_f64`](serde_json::Value::as_f64) and friends still
//!   read them;
//! - a string may hold lone surrogates (a JavaScript string cut inside an emoji:
//!   `"cut:\ud83c"`). A Rust string cannot, so each lone surrogate U+D800 + n reaches the
//!   app as the private-use character U+10F800 + n, and every character of
//!   U+10F800..=U+10FFFF the server sends goes out as the lone surrogate it stands for.
//!   `format!("Reply to: {text}")` thus answers `"Reply to: cut:\ud83c"`, as the
//!   reference does; a client that sends a real character of that range (the last 2048
//!   code points of Plane 16) gets a lone surrogate back;
//! - nesting is read up to 256 levels (the event's own array counts): serde_json and a
//!   `Value`'s drop recurse per level, and 256 fit a 2 MiB thread stack in a debug build.
//!   A deeper packet is dropped (logged at debug level) and the session goes on, where the
//!   reference runs the handler (and echoes up to a few thousand levels).
//!
//! Cargo unifies features: with `socketio`, every user of serde_json in the same build
//! gets `preserve_order` and `arbitrary_precision` (the latter changes how numbers
//! deserialize into untagged or flattened serde types).
//!
//! # Every transport alike
//!
//! A session behaves the same on long-polling and WebSocket: `max_payload` bounds a POST
//! (413) and a WebSocket message (closed with 1009) alike; a client whose held GET's
//! connection closes is disconnected at once (`transport error`, through
//! [`Handler::on_http_closed`]), as one whose WebSocket
//! closes; on [`Handle::shutdown`](crate::Handle::shutdown) every socket gets
//! `on_disconnect` with `server shutting down`, a held GET is answered with a close
//! packet and a WebSocket is closed with 1001 (through
//! [`Handler::on_shutdown`]).
//!
//! # Browsers of other origins, balancers, gatekeeping
//!
//! The Engine.IO options a deployment needs, as the reference has them:
//! [`Options::cors`] lets pages of other origins in (the npm `cors` package's rules, see
//! [`Cors`]), [`Options::allow_request`] refuses handshakes before a session opens
//! (`403`), and [`Options::cookie`] sets the `io` cookie with the session id for
//! balancers with sticky sessions. A namespace's [`auth`](Namespace::auth) check comes
//! after, with what the client sent in its `auth`.
//!
//! # Threading
//!
//! Callbacks are `'static` but not `Send`: like the reactor, they run on its thread and
//! may share state through `Rc<RefCell<..>>`. Build the [`SocketIo`] on the thread that
//! runs the server.
//!
//! # Several reactors
//!
//! On a server with several reactors ([`Config::reactors`](crate::Config::reactors)) each
//! runs a [`SocketIo`] of its own, made on its thread by the closure given to
//! [`Server::run_with`](crate::Server::run_with), and holds the sessions opened on it
//! (`examples/socketio_chat.rs` runs so with `--reactors N`). The closure configures each
//! the same way; an [`IoHandle`] for other threads is taken there from any of them (it
//! reaches all). A
//! session id names its reactor (its first byte), and every request of the session,
//! long-polling or the upgrade to WebSocket, is handed to that reactor with the bytes
//! already read ([`Handler::route`]), whichever reactor it arrived on: what
//! `@socket.io/sticky` does between processes, within one.
//!
//! The server's side of the API reaches the sockets of every reactor, as an adapter across
//! nodes does in the reference: an operation made with a [`Broadcast`] or an [`IoHandle`]
//! (emit, with or without acknowledgements, volatile, `sockets_join`, `sockets_leave`,
//! `disconnect_sockets`, `fetch_sockets`) goes into the queue of every reactor's endpoint,
//! all or none (a full queue is [`SendError::Full`](crate::SendError::Full)), and each runs
//! it on its own sockets, encoding an event once. Answers meet before the caller gets
//! them: an [`IoHandle`]'s on its channel, a callback's on its reactor
//! ([`Broadcast::emit_with_ack`], [`Broadcast::fetch_sockets_then`]). What answers at once
//! answers for the reactor it runs on: [`Broadcast::fetch_sockets`], the counts that
//! operations return, [`Socket::room_size`]. Connection state recovery finds a socket
//! only on the reactor that held it: a client that reconnects through another gets a new
//! one.
//!
//! # Not implemented
//!
//! - Parsers other than the default one (msgpack, custom): the default parser is what the
//!   stock client speaks.
//! - Engine.IO v3 (`allowEIO3`, Socket.IO 2 clients) and WebTransport.
//! - HTTP compression of polling responses (`perMessageDeflate` is
//!   [`Options::per_message_deflate`]).
//! - Adapters across processes other than the Redis one (feature `redis`: `RedisAdapter`,
//!   the classic pub/sub mode of `@socket.io/redis-adapter`, with `serverSideEmit` and
//!   `serverCount`): not its sharded mode, nor the cluster, Postgres or MongoDB adapters.
//!   Every operation on
//!   sockets selected by rooms goes through one query and one place that answers it
//!   (`adapter.rs`), where another adapter would plug in.
//! - Of the `cors` package's options, `preflightContinue` and `optionsSuccessStatus`
//!   (preflights are always answered `204`), and options computed per request (a
//!   [`Cors::predicate`] decides per origin); of the `cookie` option, leaving `Path` out
//!   (`path: false`), `Expires` ([`SessionCookie::max_age`] instead), `Priority` and a
//!   custom `encode`. `allowRequest` sees no peer address ([`Options::allow_request`]).
//! - Asynchronous middlewares (a `next` called later): a middleware decides before it
//!   returns (see [`Namespace::middleware`] for what to do instead).
//! - Removing one listener (`off(event, listener)`): a closure has no identity to name it
//!   by; [`Socket::off`] removes all of an event's.
//! - Emitting through a dynamic parent to all its children (`io.of(regex).emit`), and the
//!   `new_namespace` event.

mod adapter;
pub(crate) mod attachments;
mod broadcast;
mod bundle;
mod dynamic;
mod eio;
mod endpoint;
pub(crate) mod engine;
mod handshake;
mod io_handle;
mod json;
mod listeners;
mod middleware;
mod namespace;
pub(crate) mod packet;
mod payload;
pub(crate) mod peers;
mod reason;
mod recovery;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod server_side;
mod sid;
mod socket;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use self::adapter::{BroadcastAckError, QueryError, QueryResult, RequestError, SocketInfo};
pub use self::broadcast::Broadcast;
pub use self::eio::{Data, EngineIo, EngineSocket};
pub use self::engine::cookie::{SameSite, SessionCookie};
pub use self::engine::cors::Cors;
pub use self::engine::http::Forbidden;
pub use self::handshake::Handshake;
#[cfg(feature = "redis")]
pub use self::io_handle::ServerSideReply;
pub use self::io_handle::{AckReply, IoHandle, Operator};
pub use self::middleware::ConnectError;
pub use self::namespace::Namespace;
pub use self::payload::Payload;
pub use self::reason::DisconnectReason;
pub use self::recovery::Recovery;
#[cfg(feature = "redis")]
pub use self::redis::{RedisAdapter, RedisOptions, ServerSideEmitError};
#[cfg(feature = "redis")]
pub use self::server_side::ServerSideAck;
pub use self::socket::{Ack, AckError, EmitError, Socket};
#[cfg(feature = "redis")]
pub use crate::redis::RedisError;
/// The type-keyed map of [`Socket::data`] and [`SocketInfo::data`] (the `http` crate's), so
/// helpers taking it need no dependency of their own.
pub use http::Extensions;

use self::bundle::Bundle;
use self::endpoint::{endpoint_handler, Endpoint};
use self::engine::http::AllowRequest;
use self::engine::Settings;
use self::namespace::Sio;
use crate::http::{Request, Response};
use crate::rooms::RoomLimits;
use crate::{Accept, Ctx, DeflateConfig, Handler};

/// Engine.IO and Socket.IO settings, with the reference server's defaults.
///
/// ```
/// use std::time::Duration;
/// let options = wsreactor::socketio::Options::default()
///     .ping_interval(Duration::from_millis(300))
///     .cors(wsreactor::socketio::Cors::any());
/// let io = wsreactor::socketio::SocketIo::new(options);
/// assert_eq!(io.connections(), 0);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    pub(crate) path: String,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) max_buffer: usize,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) cors: Option<Cors>,
    pub(crate) allow_request: Option<AllowRequest>,
    pub(crate) cookie: Option<SessionCookie>,
    pub(crate) room_limits: RoomLimits,
    pub(crate) max_child_namespaces: usize,
    pub(crate) recovery: Option<Recovery>,
    pub(crate) per_message_deflate: Option<DeflateConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            path: "/socket.io/".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
            max_buffer: 1 << 20,
            upgrade_timeout: Duration::from_millis(10_000),
            connect_timeout: Duration::from_millis(45_000),
            cors: None,
            allow_request: None,
            cookie: None,
            room_limits: RoomLimits::default(),
            max_child_namespaces: 1000,
            recovery: None,
            per_message_deflate: None,
        }
    }
}

impl Options {
    /// The path of the endpoint. Default `/socket.io/` (Engine.IO's own is `/engine.io/`).
    pub fn path(mut self, path: &str) -> Self {
        let trimmed = path.trim_matches('/');
        self.path = if trimmed.is_empty() {
            "/".into()
        } else {
            format!("/{trimmed}/")
        };
        self
    }

    /// How often the server pings each client. Default 25 s.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// How long a client has to answer a ping before it is disconnected (`ping timeout`).
    /// Default 20 s.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Largest packet a client may send, in bytes, announced to clients as `maxPayload`
    /// (the reference's `maxHttpBufferSize`). Default 1,000,000. A long-polling POST over
    /// it is answered 413; a WebSocket message over it ends the session (`transport
    /// error`) and its connection is closed with 1009, as the reference's does. A WebSocket
    /// message is read whole before it is measured, so
    /// [`Config::max_message_size`](crate::Config::max_message_size) (1 MiB by default)
    /// bounds the memory one costs.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Bytes queued for a long-polling client between its GETs; over it the session ends
    /// (`transport error`). Default 1 MiB. WebSocket clients are bounded by
    /// [`Config::max_backpressure`](crate::Config::max_backpressure).
    pub fn max_buffer(mut self, bytes: usize) -> Self {
        self.max_buffer = bytes;
        self
    }

    /// How long an upgrade to WebSocket may take from its probe to its `5`. Default 10 s;
    /// past it the probe is closed and the session stays on polling.
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = timeout;
        self
    }

    /// How long a client may stay connected without joining a namespace. Default 45 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Lets web pages of other origins use the endpoint: CORS headers on every response
    /// and answers to preflights, as the reference's `cors` option gives them (see
    /// [`Cors`]). Default: none, which same-origin pages and non-browser clients need.
    ///
    /// ```
    /// use wsreactor::socketio::{Cors, Options, SocketIo};
    /// let io = SocketIo::new(Options::default().cors(Cors::origin("https://app.example.com")));
    /// # assert_eq!(io.connections(), 0);
    /// ```
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = Some(cors);
        self
    }

    /// Decides on each handshake before a session opens, as the reference's
    /// `allowRequest`: the first GET of long-polling, or a WebSocket upgrade without a
    /// `sid` (the requests that follow belong to the session and are not asked about).
    /// `Err` refuses it: long-polling is answered `403 {"code":4,"message":"Forbidden"}`
    /// (or the [`Forbidden::message`] given), with CORS headers so that an allowed page
    /// can read it; a WebSocket upgrade `400` with the message as text. The official
    /// client reports either as `connect_error`. Default: every handshake is allowed.
    ///
    /// It sees the request's path, query, headers (`Origin`, `Cookie`, `Authorization`)
    /// but not the peer's address; it runs on the reactor's thread, so it must be quick,
    /// and is `Send + Sync` so that `Options` stays `Send` and cheap to clone. To vet a
    /// client by what it sends in Socket.IO's `auth`, see [`Namespace::auth`].
    ///
    /// ```
    /// use wsreactor::socketio::{Forbidden, Options, SocketIo};
    /// let options = Options::default().allow_request(|req| {
    ///     match req.header("origin") {
    ///         None | Some("https://app.example.com") => Ok(()),
    ///         Some(_) => Err(Forbidden::message("unknown origin")),
    ///     }
    /// });
    /// let io = SocketIo::new(options);
    /// # assert_eq!(io.connections(), 0);
    /// ```
    pub fn allow_request(
        mut self,
        allow: impl Fn(&Request) -> Result<(), Forbidden> + Send + Sync + 'static,
    ) -> Self {
        self.allow_request = Some(AllowRequest(Arc::new(allow)));
        self
    }

    /// Sets a cookie with the session id on the long-polling handshake response, as the
    /// reference's `cookie` option does, for load balancers that route each client to one
    /// server by cookie (long-polling needs every request of a session on the server that
    /// holds it). [`SessionCookie::default()`] is the reference's `cookie: true`:
    /// `io=<sid>; Path=/; HttpOnly; SameSite=Lax`. Default: no cookie.
    ///
    /// A WebSocket handshake gets none, as from the reference: its session is one
    /// connection. A browser page of another origin keeps the cookie only with
    /// [`Cors::credentials`] and the client's `withCredentials: true`.
    pub fn cookie(mut self, cookie: SessionCookie) -> Self {
        self.cookie = Some(cookie);
        self
    }

    /// Rooms one socket may be in at once, besides the room named after its id. Default
    /// 256 (as [`Config::max_rooms_per_connection`](crate::Config::max_rooms_per_connection),
    /// with the same cost per membership). Past it `Socket::join` answers
    /// [`JoinError::TooManyRooms`](crate::JoinError::TooManyRooms). A socket's rooms are
    /// left when it disconnects, on the reactor's thread, at about 1 µs per room.
    pub fn max_rooms_per_socket(mut self, rooms: usize) -> Self {
        self.room_limits.max_rooms = rooms;
        self
    }

    /// Longest room name a socket may join, in bytes. Default 256. Longer →
    /// [`JoinError::NameTooLong`](crate::JoinError::NameTooLong).
    pub fn max_room_name_len(mut self, bytes: usize) -> Self {
        self.room_limits.max_name_len = bytes;
        self
    }

    /// Child namespaces of [dynamic parents](SocketIo::of_dynamic) that may exist at once.
    /// Default 1000. Clients choose the names they connect to, so without a bound any
    /// client could make namespaces until memory runs out (the reference keeps every child
    /// forever unless `cleanupEmptyChildNamespaces`). Past the limit a new name takes the
    /// place of an empty child, or is refused (`Invalid namespace`) when none is empty.
    /// An empty child costs about as much as a namespace made with [`SocketIo::of`]
    /// (a few hundred bytes, its name, the room maps it grew to).
    pub fn max_child_namespaces(mut self, children: usize) -> Self {
        self.max_child_namespaces = children;
        self
    }

    /// Turns on connection state recovery (the reference's `connectionStateRecovery`,
    /// Socket.IO 4.6): a client whose connection drops (`transport close`, `transport
    /// error`, `ping timeout`, ...) and that reconnects within the window gets the same
    /// socket back: its id, rooms and [`data`](Socket::data), and the events it missed,
    /// in order; [`Socket::recovered`] says so. Default off.
    ///
    /// It costs what the reference's does: each event emitted without acknowledgement and
    /// not volatile carries an offset as its **last argument** (the client sends the last
    /// one back when it reconnects; its listeners see it too) and is kept for the window;
    /// see [`Recovery`] for the bounds. A disconnection the client or the server asked for
    /// is not recoverable, nor is an event with an acknowledgement.
    pub fn connection_state_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Compresses the WebSocket transport's messages with permessage-deflate when the
    /// client offers it (the reference's `perMessageDeflate`, whose threshold is 1 KiB too).
    /// Default off, as in the reference, whatever
    /// [`Config::deflate`](crate::Config::deflate) says for the server's other
    /// WebSockets; long-polling responses are not compressed (the reference's
    /// `httpCompression` is not implemented).
    pub fn per_message_deflate(mut self, deflate: DeflateConfig) -> Self {
        self.per_message_deflate = Some(deflate);
        self
    }

    pub(crate) fn settings(&self) -> Settings {
        Settings {
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            max_payload: self.max_payload,
            max_buffer: self.max_buffer,
            upgrade_timeout: self.upgrade_timeout,
            cors: self.cors.clone(),
            allow_request: self.allow_request.clone(),
            cookie: self.cookie.clone(),
            deflate: self.per_message_deflate,
        }
    }
}

/// The fallback of an endpoint by default: 404 for other paths.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl Handler for NotFound {
    fn on_upgrade(&mut self, _req: &Request) -> Result<Accept, Response> {
        Err(Response::status_text(404))
    }

    fn on_http(&mut self, _ctx: &mut Ctx<'_>, _req: &Request) -> Option<Response> {
        Some(Response::status_text(404))
    }
}

/// A Socket.IO server: a [`Handler`] for [`Server::run`](crate::Server::run).
///
/// Configure namespaces with [`of`](Self::of) before running; requests for other paths go
/// to the fallback `F` ([`NotFound`] unless set with [`fallback`](Self::fallback)).
pub struct SocketIo<F = NotFound> {
    ep: Endpoint<Sio>,
    bundle: Option<Bundle>,
    fallback: F,
}

impl<F: fmt::Debug> fmt::Debug for SocketIo<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIo")
            .field("path", &self.ep.path)
            .field("sessions", &self.ep.engine.len())
            .field("namespaces", &self.ep.app.namespaces)
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl SocketIo {
    /// A server with these options and no namespace yet: a client connecting to a
    /// namespace that was not made with [`of`](Self::of) gets `connect_error`
    /// (`Invalid namespace`).
    pub fn new(options: Options) -> Self {
        let mut app = Sio::new(
            options.connect_timeout,
            options.room_limits,
            options.max_child_namespaces,
        );
        app.recovery = options.recovery.clone();
        SocketIo {
            ep: Endpoint::new(options.path.clone(), options.settings(), app),
            bundle: None,
            fallback: NotFound,
        }
    }
}

impl<F> SocketIo<F> {
    /// The namespace `name` (`/` is the main one), made on first use. It is a namespace of
    /// its own even if a [dynamic parent](Self::of_dynamic) would accept its name: a name
    /// that exists is never looked up among the parents, as in the reference.
    pub fn of(&mut self, name: &str) -> &mut Namespace {
        self.ep.app.namespace(name)
    }

    /// A parent of dynamic namespaces (the reference's `io.of(/^\/dyn-\d+$/)` and
    /// `io.of((name, auth, next) => next(null, ok))`): a client connecting to a name no
    /// namespace has, that `accept` accepts, gets a child namespace of that name, made on
    /// the spot with the middlewares and connection handlers configured on the returned
    /// parent. `accept` gets the name and the [`Handshake`] (its `auth` is what the
    /// reference passes). Parents are asked in the order they were made; the first that
    /// accepts makes the child, and [`Socket::namespace`] is the child's name. A name no
    /// parent accepts is refused with `connect_error` (`Invalid namespace`).
    ///
    /// Children stay once empty, and at most [`Options::max_child_namespaces`] exist at
    /// once (see there). Broadcasting to every child through the parent is not
    /// implemented.
    ///
    /// ```
    /// use wsreactor::socketio::{Options, SocketIo};
    /// let mut io = SocketIo::new(Options::default());
    /// // `io.of(/^\/game-\d+$/)`, without a regex engine
    /// io.of_dynamic(|name, _handshake| {
    ///     name.strip_prefix("/game-")
    ///         .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    /// })
    /// .on_connection(|socket| {
    ///     let game = socket.namespace().to_owned(); // "/game-42"
    ///     socket.emit("welcome", game).ok();
    /// });
    /// ```
    pub fn of_dynamic(
        &mut self,
        accept: impl FnMut(&str, &Handshake) -> bool + 'static,
    ) -> &mut Namespace {
        self.ep.app.parent(accept)
    }

    /// Serves the browser client from `dir` (`node_modules/socket.io-client/dist/`) at
    /// `<path>socket.io.js`, `<path>socket.io.min.js` and their source maps, with the
    /// reference's headers. The files are read now; `socket.io.js` must be there.
    pub fn serve_client(&mut self, dir: impl AsRef<Path>) -> io::Result<()> {
        self.bundle = Some(Bundle::load(dir.as_ref())?);
        Ok(())
    }

    /// Sends what is not this endpoint's (other paths, their connections and timers) to
    /// `fallback`: a page, a plain WebSocket service, an [`EngineIo`] endpoint. Timers
    /// share one id space ([`TimerId`](crate::TimerId)): the endpoint keeps the ids it set
    /// and passes every other timer to the fallback.
    pub fn fallback<G>(self, fallback: G) -> SocketIo<G> {
        SocketIo {
            ep: self.ep,
            bundle: self.bundle,
            fallback,
        }
    }

    /// A handle to act on this server's sockets from any thread (`io.to(room).emit(..)` in a
    /// background job); see [`IoHandle`]. Can be taken before the server runs.
    pub fn handle(&self) -> IoHandle {
        match &self.ep.app.inbox {
            Some(inbox) => inbox.handle(),
            // Only out while operations run on the reactor's thread, never here.
            None => IoHandle::new().0,
        }
    }

    /// Joins this server to a cluster through Redis ([`RedisAdapter`]): its broadcasts
    /// reach the sockets of the other nodes, theirs reach its sockets. With several
    /// reactors, attach the same adapter (a clone) to every reactor's server.
    #[cfg(feature = "redis")]
    pub fn adapter(&mut self, redis: &RedisAdapter) {
        let io = self.handle();
        io.join_cluster(redis);
        redis.attach(io);
        (self.ep.app.namespaces.iter()).for_each(|n| redis.serve(&n.name));
        self.ep.app.redis = Some(redis.clone());
    }

    /// Engine.IO sessions open now (each client connection counts once, whatever its
    /// namespaces).
    pub fn connections(&self) -> usize {
        self.ep.engine.len()
    }
}

endpoint_handler!(SocketIo, |this, req| this
    .bundle
    .as_ref()
    .and_then(|bundle| bundle.serve(req, &this.ep.path)));
