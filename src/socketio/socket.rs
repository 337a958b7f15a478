//! [`Socket`]: a client's connection to a namespace, as a callback sees it; [`Ack`] to
//! answer an event.
//!
//! These are views lent to callbacks; the state they act on (namespaces, sockets, the
//! packet dispatch) is in `namespace.rs`, and the socket's listeners (`on`, `on_any`,
//! `middleware`, ...) with the order they run in are in `listeners.rs`.

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use log::debug;
use serde_json::Value;
use tungstenite::{Bytes, Utf8Bytes};

use http::Extensions;

use super::broadcast::Broadcast;
use super::engine::packet::Out;
use super::engine::{Engine, SessKey};
use super::handshake::{Handshake, Opening};
use super::listeners::notify_outgoing;
use super::namespace::{Client, Info, Sio, SocketKey};
use super::packet;
use super::payload::Payload;
use super::reason::DisconnectReason;
use super::recovery::Audience;
use crate::error::JoinError;
use crate::http::Request;
use crate::SendError;

/// One client's connection to one namespace, lent to a callback (Socket.IO's `socket`).
///
/// Everything here queues: packets go out after the callback returns, all packets of one
/// callback in one write (or one long-polling response). Once the socket is disconnected
/// its emits do nothing and return `false`.
///
/// ```no_run
/// use serde_json::json;
/// use wsreactor::socketio::{Options, SocketIo};
///
/// # fn main() -> std::io::Result<()> {
/// let mut io = SocketIo::new(Options::default());
/// io.of("/").on_connection(|socket| {
///     socket.emit("welcome", json!({ "id": socket.id() })).ok();
///     socket.on("chat", |socket, msg, ack| {
///         socket.to("lobby").emit("chat", msg).ok();       // everyone in lobby but me
///         if let Some(ack) = ack {
///             ack.send(socket, "delivered");
///         }
///     });
///     socket.join("lobby").ok(); // Err only past the room limits
/// });
/// wsreactor::Server::bind("127.0.0.1:3000")?.run(io)
/// # }
/// ```
pub struct Socket<'a> {
    pub(crate) eng: &'a mut Engine<Client>,
    pub(crate) sio: &'a mut Sio,
    pub(crate) key: SocketKey,
    info: Rc<Info>,
    /// What `data_mut` lends once the socket is gone (never, while it is lent out).
    spare: Extensions,
}

impl fmt::Debug for Socket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.info.sid)
            .field("namespace", &self.namespace())
            .finish_non_exhaustive()
    }
}

/// Why an [`emit_with_ack`](Socket::emit_with_ack) got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    /// The client did not answer within the timeout.
    Timeout,
    /// The socket was disconnected first.
    Disconnected,
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AckError::Timeout => "operation has timed out",
            AckError::Disconnected => "socket has been disconnected",
        })
    }
}

impl std::error::Error for AckError {}

/// The right to answer one event that asked for an acknowledgement (the callback a
/// JavaScript client passed as the last argument of `emit`). An unanswered one costs
/// nothing.
///
/// Every listener of the event ([`on`](Socket::on), [`on_any`](Socket::on_any)) gets an
/// `Ack` for it; they share one answer: the first [`send`](Self::send) answers, later
/// ones return `false` (the reference's ack callback ignores its second call).
#[derive(Debug)]
pub struct Ack {
    socket: SocketKey,
    id: u64,
    /// Shared by the `Ack`s every listener of one event gets.
    answered: Arc<AtomicBool>,
}

impl Ack {
    pub(crate) fn new(socket: SocketKey, id: u64) -> Self {
        Ack {
            socket,
            id,
            answered: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Another right to the same answer, for the next listener.
    pub(crate) fn share(&self) -> Self {
        Ack {
            answered: Arc::clone(&self.answered),
            ..*self
        }
    }

    /// Sends the answer; the client's callback gets the payload's arguments. `false` if its
    /// socket is gone, or if another listener answered first. Any socket handle will do:
    /// the ack knows its own.
    ///
    /// ```
    /// # use wsreactor::socketio::{Options, SocketIo};
    /// # let mut io = SocketIo::new(Options::default());
    /// # io.of("/").on_connection(|socket| {
    /// // The client: `socket.emit("add", 2, 3, (sum) => console.log(sum))`
    /// socket.on("add", |socket, args, ack| {
    ///     let sum = args.get(0).and_then(|v| v.as_i64()).unwrap_or(0)
    ///         + args.get(1).and_then(|v| v.as_i64()).unwrap_or(0);
    ///     if let Some(ack) = ack {
    ///         ack.send(socket, wsreactor::serde_json::json!(sum));
    ///     }
    /// });
    /// # });
    /// ```
    pub fn send(self, socket: &mut Socket<'_>, payload: impl Into<Payload>) -> bool {
        let payload = payload.into();
        let Some(sock) = socket.sio.sockets.get_mut(self.socket) else {
            return false;
        };
        if !sock.connected || self.answered.swap(true, Ordering::Relaxed) {
            return false;
        }
        let nsp = &socket.sio.namespaces[sock.info.ns].name;
        let text = packet::ack(nsp, self.id, &payload.args, payload.bins.len());
        send_packet(socket.eng, sock.session, text.into(), &payload.bins)
    }
}

impl<'a> Socket<'a> {
    pub(crate) fn new(eng: &'a mut Engine<Client>, sio: &'a mut Sio, key: SocketKey) -> Self {
        let info = match sio.sockets.get_mut(key) {
            Some(sock) => Rc::clone(&sock.info),
            None => unreachable_info(),
        };
        Socket {
            eng,
            sio,
            key,
            info,
            spare: Extensions::new(),
        }
    }

    /// The socket's id (`socket.id`): 20 random characters, also the name of a room
    /// only this socket is in, so `to(id)` reaches it.
    pub fn id(&self) -> &str {
        &self.info.sid
    }

    /// The namespace's name, `/` for the main one.
    pub fn namespace(&self) -> &str {
        &self.sio.namespaces[self.info.ns].name
    }

    /// Whether this socket was restored by connection state recovery: same id, rooms and
    /// data as before its connection dropped, the events it missed sent again
    /// ([`Options::connection_state_recovery`](super::Options::connection_state_recovery)).
    /// The reference's `socket.recovered`. As there, a recovered socket is a new `socket`
    /// object: the connection handler runs for it again and registers its listeners anew
    /// (none are kept from before); its id, rooms and data are what came back.
    pub fn recovered(&self) -> bool {
        self.info.recovered
    }

    /// What the socket was opened with: headers, query, address, time, `auth`
    /// (Socket.IO's `socket.handshake`).
    pub fn handshake(&self) -> &Handshake {
        &self.info.handshake
    }

    /// The app's data on this socket (`socket.data`): values of any type, one per type,
    /// set by a middleware or a handler and kept until it disconnects.
    /// [`fetch_sockets`](super::Broadcast::fetch_sockets) returns a copy, hence
    /// `Clone + Send + Sync` on what goes in.
    ///
    /// ```
    /// # use wsreactor::socketio::{Options, SocketIo};
    /// #[derive(Clone)]
    /// struct User { name: String }
    /// # let mut io = SocketIo::new(Options::default());
    /// io.of("/").on_connection(|socket| {
    ///     socket.data_mut().insert(User { name: "ada".into() });
    ///     socket.on("whoami", |socket, _msg, ack| {
    ///         let name = socket.data().get::<User>().map(|u| u.name.clone());
    ///         if let Some(ack) = ack {
    ///             ack.send(socket, name.unwrap_or_default());
    ///         }
    ///     });
    /// });
    /// ```
    pub fn data(&self) -> &Extensions {
        match self.sio.sockets.get(self.key) {
            Some(sock) => &sock.data,
            None => &self.spare,
        }
    }

    /// The app's data on this socket, to change; see [`data`](Self::data).
    pub fn data_mut(&mut self) -> &mut Extensions {
        match self.sio.sockets.get_mut(self.key) {
            Some(sock) => &mut sock.data,
            None => &mut self.spare,
        }
    }

    /// Whether it is still connected.
    pub fn connected(&mut self) -> bool {
        self.state().is_some()
    }

    /// Sends an event to this client. [`on_any_outgoing`](Self::on_any_outgoing) listeners
    /// see it first.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself (`connect`,
    /// `disconnect`, ...: the reference server throws); [`EmitError::Disconnected`] once
    /// the socket is gone. Most handlers ignore the result: `socket.emit(..).ok();`.
    pub fn emit(&mut self, event: &str, payload: impl Into<Payload>) -> Result<(), EmitError> {
        let payload = payload.into();
        self.emit_packet(event, &payload, None)
    }

    /// Sends `payload` as the event `message` (Socket.IO's `socket.send`); errors as
    /// [`emit`](Self::emit).
    pub fn send(&mut self, payload: impl Into<Payload>) -> Result<(), EmitError> {
        self.emit("message", payload)
    }

    /// Sends an event and asks the client to acknowledge it. `callback` gets the client's
    /// answer, or [`AckError::Timeout`] after `timeout`, or [`AckError::Disconnected`].
    ///
    /// # Errors
    /// As [`emit`](Self::emit); then the callback is dropped unrun.
    pub fn emit_with_ack(
        &mut self,
        event: &str,
        payload: impl Into<Payload>,
        timeout: Duration,
        callback: impl FnOnce(&mut Socket<'_>, Result<Payload, super::AckError>) + 'static,
    ) -> Result<(), EmitError> {
        let payload = payload.into();
        check_event(event)?;
        let now = self.eng.now();
        let (Some(now), Some(_)) = (now, self.state()) else {
            return Err(EmitError::Disconnected);
        };
        let id = self.sio.ack_id();
        let callback = Box::new(callback);
        (self.sio).expect_ack(self.eng, self.key, id, now + timeout, callback);
        self.emit_packet(event, &payload, Some(id))
    }

    /// Joins a room of the namespace: `Ok(true)` if it joined, `Ok(false)` if it was
    /// already in it. Refused, with nothing changed, once the socket has disconnected
    /// ([`JoinError::NotOpen`]), past [`Options::max_rooms_per_socket`] rooms
    /// ([`JoinError::TooManyRooms`]; its own room does not count) or for a name longer than
    /// [`Options::max_room_name_len`] bytes ([`JoinError::NameTooLong`]).
    ///
    /// [`Options::max_rooms_per_socket`]: super::Options::max_rooms_per_socket
    /// [`Options::max_room_name_len`]: super::Options::max_room_name_len
    pub fn join(&mut self, room: &str) -> Result<bool, JoinError> {
        if self.state().is_none() {
            return Err(JoinError::NotOpen);
        }
        let key = self.key;
        self.sio.namespaces[self.info.ns].rooms.join(key, room)
    }

    /// Leaves a room; `false` if not in it.
    pub fn leave(&mut self, room: &str) -> bool {
        let key = self.key;
        self.sio.namespaces[self.info.ns].rooms.leave(key, room)
    }

    /// The rooms it is in, its own (named after its id) first.
    pub fn rooms(&self) -> Vec<&str> {
        self.sio.namespaces[self.info.ns]
            .rooms
            .rooms_of(self.key)
            .collect()
    }

    /// How many sockets are in a room of this namespace (0 for a room nobody is in); the
    /// Socket.IO counterpart of [`ServerCtx::room_size`](crate::ServerCtx::room_size). With
    /// several reactors, the sockets of this one (`socket.nsp().to(room)
    /// .fetch_sockets_then(..)` counts them all).
    pub fn room_size(&self, room: &str) -> usize {
        self.sio.namespaces[self.info.ns].rooms.len(room)
    }

    /// Everyone in `room` but this socket (`socket.to(room)`).
    pub fn to(&mut self, room: &str) -> Broadcast<'_> {
        self.broadcast().to(room)
    }

    /// Everyone in the namespace but this socket (`socket.broadcast`).
    pub fn broadcast(&mut self) -> Broadcast<'_> {
        let own_room = &self.info.sid;
        Broadcast::new(self.eng, self.sio, self.info.ns, self.key).except(own_room)
    }

    /// Everyone in the namespace, this socket included (`io.of(namespace)`); narrow it with
    /// [`Broadcast::to`].
    pub fn nsp(&mut self) -> Broadcast<'_> {
        Broadcast::new(self.eng, self.sio, self.info.ns, self.key)
    }

    /// Disconnects the socket from its namespace; the client is told and does not
    /// reconnect (`io server disconnect` on its side). With `close`, every namespace of its
    /// connection is disconnected and the connection closed.
    pub fn disconnect(&mut self, close: bool) {
        let Some(session) = self.state().map(|s| s.session) else {
            return;
        };
        let reason = DisconnectReason::ServerNamespaceDisconnect;
        if close {
            self.sio.close_client(self.eng, session, reason, true);
        } else {
            self.sio.disconnect(self.eng, self.key, reason, true);
        }
    }

    fn state(&mut self) -> Option<&mut super::namespace::SocketState> {
        self.sio.sockets.get_mut(self.key).filter(|s| s.connected)
    }

    fn emit_packet(
        &mut self,
        event: &str,
        payload: &Payload,
        id: Option<u64>,
    ) -> Result<(), EmitError> {
        check_event(event)?;
        if self.state().is_none() {
            return Err(EmitError::Disconnected);
        }
        // "Outgoing" listeners see every event before it is queued (socket.ts `emit`).
        notify_outgoing(self.eng, self.sio, self.key, event, payload);
        let session = self.state().map(|s| s.session);
        let session = session.ok_or(EmitError::Disconnected)?;
        // Kept for recovery as sent to this socket's own room (the reference broadcasts it
        // there); an event with an ack is not kept.
        let key = self.key;
        let kept = id.is_none().then_some(|| Audience::Socket(key));
        let (now, ns) = (self.eng.now(), self.info.ns);
        let text = (self.sio).encode_event(now, ns, (event, payload), id, kept);
        match send_packet(self.eng, session, text, &payload.bins) {
            true => Ok(()),
            false => Err(EmitError::Disconnected),
        }
    }
}

/// Why an event was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitError {
    /// The name is one the client reserves for itself (`connect`, `connect_error`,
    /// `disconnect`, `disconnecting`, `newListener`, `removeListener`); the reference
    /// server throws `"<name>" is a reserved event name`.
    Reserved(String),
    /// The socket is disconnected.
    Disconnected,
    /// An [`IoHandle`](super::IoHandle) could not queue the operation: the reactor is far
    /// behind ([`SendError::Full`]) or the server stopped ([`SendError::Stopped`]).
    Queue(SendError),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Reserved(name) => write!(f, "\"{name}\" is a reserved event name"),
            EmitError::Disconnected => f.write_str("socket has been disconnected"),
            EmitError::Queue(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for EmitError {}

/// Events a server may not emit: the client reserves them for its own use.
pub(crate) fn check_event(event: &str) -> Result<(), EmitError> {
    match event {
        "connect" | "connect_error" | "disconnect" | "disconnecting" | "newListener"
        | "removeListener" => {
            debug!("{event:?} is reserved; not emitted");
            Err(EmitError::Reserved(event.to_owned()))
        }
        _ => Ok(()),
    }
}

fn unreachable_info() -> Rc<Info> {
    // Sockets are only lent out while they exist; should that ever break, the handle is
    // inert rather than a panic.
    let address = SocketAddr::from(([0, 0, 0, 0], 0));
    let opening = Opening::new(Request::default(), address, UNIX_EPOCH);
    Rc::new(Info {
        sid: "".into(),
        ns: 0,
        handshake: Handshake::new(Arc::new(opening), Value::Null),
        pid: None,
        recovered: false,
        seq: 0,
    })
}

/// Queues an encoded packet and its attachments, adjacent.
pub(crate) fn send_packet(
    eng: &mut Engine<Client>,
    s: SessKey,
    text: Utf8Bytes,
    bins: &[Bytes],
) -> bool {
    if !eng.send(s, Out::Text(text)) {
        return false;
    }
    for bin in bins {
        eng.send(s, Out::Binary(bin.clone()));
    }
    true
}
