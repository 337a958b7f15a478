//! What a callback can do while it runs: [`ServerCtx`] reaches the whole server (any
//! connection by id, rooms, timers); [`Ctx`] is that plus the connection being served.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::CloseFrame;

use crate::error::{Cause, JoinError};
use crate::handle::{Handle, SendError};
use crate::http::Response;
use crate::id::{ConnId, TimerId};
use crate::reactor::core::Core;
use crate::{CloseCode, Message, MessageRef};

/// What became of a message handed to [`Ctx::send`] or [`ServerCtx::send_to`], as
/// uWebSockets' `send` reports it. Known on the spot: the reactor's thread owns every
/// connection, so this is the truth at the time of the call (what a
/// [`Handle`](crate::Handle), on another thread, cannot know; see [`Handle::send`]).
///
/// Not `#[must_use]`: an echo handler may ignore it, and the default policy
/// ([`BackpressurePolicy::Close`](crate::BackpressurePolicy::Close)) still protects the
/// server. A producer that sends more than its peer reads checks it and slows down on
/// [`Backpressure`](Self::Backpressure), which comes well before a message is dropped.
///
/// ```
/// use wsreactor::{Ctx, Handler, Message, SendStatus};
///
/// /// Sends its backlog as fast as the peer reads it.
/// struct Feed {
///     backlog: Vec<Message>,
/// }
///
/// impl Handler for Feed {
///     fn on_message(&mut self, ctx: &mut Ctx<'_>, _msg: Message) {
///         while let Some(update) = self.backlog.pop() {
///             match ctx.send(update) {
///                 SendStatus::Queued => {}
///                 // Queued, but the peer is behind: go on at its next message.
///                 SendStatus::Backpressure => break,
///                 SendStatus::Dropped | SendStatus::Closed | SendStatus::Full => return,
///             }
///         }
///     }
/// }
/// # let _feed = Feed { backlog: Vec::new() };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Queued; it is written at the end of this reactor pass.
    Queued,
    /// Queued, but the connection's outbound queue is now above
    /// [`Config::backpressure_soft_limit`](crate::Config::backpressure_soft_limit): the
    /// peer reads slower than it is sent to. The caller should slow down; the server also
    /// stops reading that peer until its queue drains.
    Backpressure,
    /// Not queued: the message would have taken the queue past
    /// [`Config::max_backpressure`](crate::Config::max_backpressure). Under
    /// [`BackpressurePolicy::Close`](crate::BackpressurePolicy::Close) (the default) the
    /// connection is now closing with 1008 and `on_close` will report
    /// [`Cause::Backpressure`](crate::Cause::Backpressure); under
    /// [`BackpressurePolicy::Drop`](crate::BackpressurePolicy::Drop) it carries on. Also
    /// the answer for a message that may never be sent: a Ping or Pong over 125 bytes
    /// (RFC 6455 §5.5), a raw [`Message::Frame`].
    Dropped,
    /// Not queued: the connection is gone, closing (a Close was sent or received), or not
    /// a WebSocket (still in its handshake, or plain HTTP). For a [`Message::Close`]: the
    /// close handshake had already started.
    Closed,
    /// Not queued: the connection is on another reactor
    /// ([`Config::reactors`](crate::Config::reactors)), whose command queue is full (it is
    /// behind). Nothing else changed: try again later, or drop the message.
    Full,
}

impl SendStatus {
    /// Queued ([`Queued`](Self::Queued) or [`Backpressure`](Self::Backpressure)).
    pub fn is_queued(self) -> bool {
        matches!(self, SendStatus::Queued | SendStatus::Backpressure)
    }
}

/// A callback's view of the server: every connection by id, rooms, timers. What
/// [`Handler::on_timer`](crate::Handler::on_timer) gets, and what a [`Ctx`] derefs to.
///
/// Sends are buffered and written once per reactor pass, after the callbacks of that pass
/// have run; closes start the close handshake at once but the connection is torn down
/// later. Nothing here blocks.
///
/// With several reactors ([`Config::reactors`](crate::Config::reactors)) it reaches the
/// whole server: a connection of another reactor, by its id, and the members of a room
/// wherever they are. What goes to another reactor travels through its bounded command
/// queue and is written on its next pass; a full queue is an answer
/// ([`SendStatus::Full`], [`SendError::Full`]), never a wait or a silent drop.
#[derive(Debug)]
pub struct ServerCtx<'a> {
    core: &'a mut Core,
}

/// A connection callback's view: the connection it serves, and through
/// [`Deref`] everything a [`ServerCtx`] can do.
#[derive(Debug)]
pub struct Ctx<'a> {
    server: ServerCtx<'a>,
    id: ConnId,
    peer: &'a SocketAddr,
}

impl<'a> ServerCtx<'a> {
    #[inline]
    pub(crate) fn new(core: &'a mut Core) -> Self {
        ServerCtx { core }
    }

    /// Connections currently held, including ones still in the handshake. With several
    /// reactors, on all of them: this one's count now, the others' as of their last pass.
    pub fn connections(&self) -> usize {
        let core = &self.core;
        core.conns.len() + core.handle.mesh().load_of_others(core.reactor)
    }

    /// How many reactors the server runs ([`Config::reactors`](crate::Config::reactors)).
    pub fn reactors(&self) -> usize {
        self.core.reactors()
    }

    /// The reactor this callback runs on: 0 on a server with one
    /// ([`Config::reactors`](crate::Config::reactors)). A connection's callbacks run on its
    /// own ([`ConnId::reactor`]).
    pub fn reactor(&self) -> usize {
        self.core.reactor
    }

    /// Messages this reactor has compressed to send them (permessage-deflate,
    /// [`Config::deflate`](crate::Config::deflate)). A message published or broadcast to
    /// many connections that negotiated the same parameters without server context
    /// takeover counts once: they share its compressed bytes.
    pub fn deflated(&self) -> u64 {
        self.core.deflater.compressed()
    }

    /// Queues a message to a connection and says what became of it ([`SendStatus`]):
    /// [`Closed`](SendStatus::Closed) if that connection is gone or closing,
    /// [`Dropped`](SendStatus::Dropped) past the hard backpressure limit,
    /// [`Backpressure`](SendStatus::Backpressure) if queued above the soft limit. An id
    /// that outlived its connection never reaches a newer one. A [`Message::Close`] starts
    /// the close handshake as [`close_conn`](Self::close_conn) does, with the same rules
    /// for its code and reason.
    ///
    /// This is the synchronous counterpart of [`Handle::send`], whose `Ok` means only that
    /// the reactor accepted the command for delivery.
    ///
    /// A connection of another reactor ([`ConnId::reactor`]) is reached through that
    /// reactor's queue: [`Queued`](SendStatus::Queued) once its queue took the message
    /// (what becomes of it there is not reported, as for a [`Handle`]),
    /// [`Full`](SendStatus::Full) if the queue is full, [`Closed`](SendStatus::Closed) if
    /// that reactor has stopped.
    ///
    /// A connection that a Socket.IO or Engine.IO endpoint serves answers `Closed`: only the
    /// endpoint writes its frames (a raw frame would break its protocol), so no raw send
    /// reaches it, from a handler or a [`Handle`]; reach its sockets through the endpoint.
    ///
    /// It takes what [`Ctx::send`] takes: a received [`MessageRef`] is copied straight into
    /// the connection's queue (made owned first only for another reactor).
    #[inline]
    pub fn send_to<'m>(&mut self, to: ConnId, msg: impl Into<MessageRef<'m>>) -> SendStatus {
        if to.reactor() != self.core.reactor {
            // Its reactor skips endpoint connections, as this one does.
            return (self.core).send_elsewhere(to, msg.into().into_message());
        }
        match self.core.is_endpoint(to) {
            false => self.core.send_ref(to, msg.into()),
            true => SendStatus::Closed,
        }
    }

    /// `send_to` for the endpoint that owns the connection.
    #[cfg(feature = "socketio")]
    pub(crate) fn send_endpoint(&mut self, to: ConnId, msg: Message) {
        self.core.send(to, msg);
    }

    /// `close_conn` for the endpoint that owns the connection.
    #[cfg(feature = "socketio")]
    pub(crate) fn close_endpoint(&mut self, id: ConnId, code: CloseCode, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        self.core.close(id, frame, Cause::ServerClosed);
    }

    /// Starts the close handshake on a connection, with a code and reason; `false` if it is
    /// gone, closing, or not a WebSocket. (The synchronous counterpart of
    /// [`Handle::close`], whose `Ok` means only that the command was accepted.)
    ///
    /// Only a valid Close frame goes on the wire (RFC 6455 §5.5, §7.4), whichever API asks
    /// for it: the reason is cut to the 123 bytes a close frame can carry, on a character
    /// boundary, and a code that may not be sent (1004, 1005, 1006, 1015, 1016–2999, below
    /// 1000, 5000 and above) is sent as 1011 (Internal Error) and logged as a warning. The
    /// connection still closes, since that is what was asked; `on_close` reports the code
    /// and reason sent. The codes that may be sent are 1000–1003, 1007–1014 and 3000–4999.
    ///
    /// `false` for a connection a Socket.IO or Engine.IO endpoint serves, as in
    /// [`send_to`](Self::send_to). For a connection of another reactor: `true` once that
    /// reactor's queue took the request (it is carried out there as here), `false` if the
    /// queue is full or the reactor has stopped.
    pub fn close_conn(&mut self, id: ConnId, code: CloseCode, reason: &str) -> bool {
        if id.reactor() != self.core.reactor {
            return self.core.close_elsewhere(id, code, reason);
        }
        if self.core.is_endpoint(id) {
            return false;
        }
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        self.core.close(id, frame, Cause::ServerClosed)
    }

    /// Members of a room, on every reactor.
    ///
    /// With several reactors each keeps a counter per room, changed as members join and
    /// leave there; this adds them up (one atomic load per reactor). If this reactor has
    /// no member of the room, the counters are found under the lock of the server's room
    /// registry, which reactors otherwise take only when a room gets its first member on
    /// them or loses its last one.
    pub fn room_size(&self, room: &str) -> usize {
        self.core.room_size(room)
    }

    /// Sends a message to every member of a room, the connection being served included if
    /// it is one (Socket.IO's `io.to(room)`). The frame is encoded once per reactor and its
    /// bytes shared by the reactor's recipients. Returns how many members it is for; each
    /// gets it unless its queue refuses it (the member is closing, or over
    /// [`Config::max_backpressure`](crate::Config::max_backpressure)).
    ///
    /// Small messages published to one room in a row are written into the members' queues
    /// together, once per member, when anything else is queued, a member joins or leaves,
    /// the connection being read has been read, or the pass ends; nobody can tell the
    /// difference but in CPU: each member gets them in publish order and before anything
    /// sent after them.
    ///
    /// With several reactors, it reaches the members on every reactor exactly once: on the
    /// others through their queues (they write it on their next pass), and what one
    /// callback or thread publishes arrives everywhere in the order it was published. The
    /// count then includes the members the other reactors count now. It goes to all of
    /// them or to none: [`SendError::Full`] if the queue of a reactor with members is full
    /// (nothing was sent, here either). With one reactor it is never an error.
    pub fn publish(&mut self, room: &str, msg: impl Into<Message>) -> Result<usize, SendError> {
        self.core.publish(room, msg.into(), None)
    }

    /// Sends a message to every open connection but those a Socket.IO or Engine.IO
    /// endpoint serves (see [`send_to`](Self::send_to)), on every reactor, all or none, as
    /// [`publish`](Self::publish) does; the count includes the other reactors' connections
    /// as they last counted them (once per pass).
    pub fn broadcast(&mut self, msg: impl Into<Message>) -> Result<usize, SendError> {
        self.core.broadcast(msg.into(), None)
    }

    /// Answers an HTTP request that [`Handler::on_http`](crate::Handler::on_http) held
    /// (returned `None` for). `false` if that connection is gone or has no request waiting,
    /// or is on another reactor: a held request is answered on its own reactor, by the
    /// handler that held it.
    pub fn respond(&mut self, id: ConnId, response: Response) -> bool {
        self.core.respond(id, &response)
    }

    /// Whether connection `id` is open and within its soft backpressure limit.
    #[cfg(feature = "socketio")]
    pub(crate) fn is_writable(&self, id: ConnId) -> bool {
        self.core.is_writable(id)
    }

    /// Whether connection `id` has an HTTP request waiting for [`respond`](Self::respond)
    /// (`false` for a connection of another reactor).
    pub fn is_held(&self, id: ConnId) -> bool {
        self.core.conns.get(id).is_some_and(|e| e.conn.is_held())
    }

    /// The time of this reactor pass, read once after `poll` returned (from the
    /// [`ManualClock`](crate::ManualClock) if the server has one). Timers set with
    /// [`set_timer`](Self::set_timer) count from it.
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// Calls [`Handler::on_timer`](crate::Handler::on_timer) with the returned id after
    /// `delay` (on the first pass after it; never earlier), unless it is cancelled first.
    pub fn set_timer(&mut self, delay: Duration) -> TimerId {
        self.core.set_timer(delay)
    }

    /// Cancels a timer; `false` if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.core.cancel_timer(timer)
    }

    /// A [`Handle`] to the server, for other threads.
    pub fn handle(&self) -> Handle {
        self.core.handle.clone()
    }

    /// The `T` the handlers of every reactor share under `name`, made by `make` for the
    /// first that asks (the Socket.IO endpoints of one path find each other so).
    #[cfg(feature = "socketio")]
    pub(crate) fn shared<T: std::any::Any + Send + Sync>(
        &self,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> std::sync::Arc<T> {
        self.core.handle.mesh().shared(name, make)
    }
}

impl<'a> Ctx<'a> {
    #[inline]
    pub(crate) fn new(core: &'a mut Core, id: ConnId, peer: &'a SocketAddr) -> Self {
        Ctx {
            server: ServerCtx::new(core),
            id,
            peer,
        }
    }

    /// Logs that this connection's request was refused with `status` (rate-limited, at
    /// `info`), as the library's own refusals are.
    pub(crate) fn rejected(&mut self, status: u16, why: &dyn std::fmt::Display) {
        let peer = *self.peer;
        (self.server.core).rejected(log::Level::Info, peer, status, why);
    }

    /// This connection's id, unique for the life of the server.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        *self.peer
    }

    /// Queues a message to this connection and says what became of it ([`SendStatus`];
    /// ignoring it is fine). Nothing is queued once the connection is closing
    /// ([`Closed`](SendStatus::Closed)). A [`Message::Close`] starts the close handshake as
    /// [`close`](Self::close) does.
    ///
    /// If the connection's outbound queue would pass
    /// [`Config::max_backpressure`](crate::Config::max_backpressure), the message is
    /// dropped ([`Dropped`](SendStatus::Dropped)) and, under the default
    /// [`BackpressurePolicy::Close`](crate::BackpressurePolicy::Close), the connection is
    /// closed with 1008 (`on_close` reports it). A single message larger than the limit
    /// is still queued on an empty queue, so `send(5 MB)` then `send("after")` with the
    /// default 1 MiB limit closes the connection: the first answers
    /// [`Backpressure`](SendStatus::Backpressure), which is the moment to stop.
    ///
    /// It takes a [`Message`], anything that becomes one (`&str`, `String`, `Vec<u8>`,
    /// [`Bytes`](crate::Bytes), ...), or a received [`MessageRef`], whose payload is copied
    /// straight into the outbound buffer if it was lent (from 2 KiB, not copied: this
    /// connection is written from the read buffer as soon as its read is done).
    #[inline]
    pub fn send<'m>(&mut self, msg: impl Into<MessageRef<'m>>) -> SendStatus {
        self.server.core.send_ref(self.id, msg.into())
    }

    /// Starts the close handshake on this connection with a code and reason, made valid
    /// as [`ServerCtx::close_conn`] describes (an invalid code is sent as 1011, a long
    /// reason is cut). Messages that arrive afterwards are not delivered.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.server.close_conn(self.id, code, reason);
    }

    /// Joins a room: `Ok(true)` if it joined, `Ok(false)` if it was already a member.
    /// Refused, with nothing changed, if this is not an open WebSocket connection
    /// ([`JoinError::NotOpen`]), if it is already in
    /// [`Config::max_rooms_per_connection`](crate::Config::max_rooms_per_connection) rooms
    /// ([`JoinError::TooManyRooms`], default 256), or if the name is longer than
    /// [`Config::max_room_name_len`](crate::Config::max_room_name_len) bytes
    /// ([`JoinError::NameTooLong`], default 256). Connections leave all their rooms when
    /// they close (after `on_close`, which still sees them).
    pub fn join(&mut self, room: &str) -> Result<bool, JoinError> {
        let core = &mut self.server.core;
        // Only open WebSocket connections are members: their `on_close` is what leaves.
        if !core.conns.get(self.id).is_some_and(|e| e.conn.is_open()) {
            return Err(JoinError::NotOpen);
        }
        core.join(self.id, room)
    }

    /// Leaves a room; `false` if not a member.
    pub fn leave(&mut self, room: &str) -> bool {
        self.server.core.leave(self.id, room)
    }

    /// The rooms this connection is in, in the order it joined them.
    pub fn rooms(&self) -> impl Iterator<Item = &str> + '_ {
        self.server.core.rooms.rooms_of(self.id)
    }

    /// Sends a message to every member of a room except this connection (Socket.IO's
    /// `socket.to(room)`), on every reactor, as [`ServerCtx::publish`] does.
    pub fn publish_to_others(
        &mut self,
        room: &str,
        msg: impl Into<Message>,
    ) -> Result<usize, SendError> {
        self.server.core.publish(room, msg.into(), Some(self.id))
    }
}

impl<'a> Deref for Ctx<'a> {
    type Target = ServerCtx<'a>;

    fn deref(&self) -> &ServerCtx<'a> {
        &self.server
    }
}

impl DerefMut for Ctx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.server
    }
}
