//! [`Broadcast`]: an operation on many sockets of a namespace (some rooms or all of it,
//! minus some rooms), as a callback on the reactor's thread sees it: the reference's
//! `BroadcastOperator`. It only builds the query; the adapter (`adapter.rs`) runs it.

use std::fmt;
use std::time::Duration;

use super::adapter::{BroadcastAckError, Operation, Selection, SocketInfo};
use super::engine::Engine;
use super::namespace::{Client, Sio};
use super::payload::Payload;
use super::socket::{check_event, EmitError};

/// An operation on the sockets of a namespace: all of them, or the members of some rooms
/// ([`to`](Self::to)), minus the members of others ([`except`](Self::except)). Made by
/// [`Socket::to`](super::Socket::to), [`Socket::broadcast`](super::Socket::broadcast) and
/// [`Socket::nsp`](super::Socket::nsp); from other threads, [`IoHandle`](super::IoHandle)
/// offers the same operations.
///
/// An event is encoded once for every recipient.
///
/// ```
/// # use std::time::Duration;
/// # use wsreactor::socketio::{Options, SocketIo};
/// # let mut io = SocketIo::new(Options::default());
/// io.of("/").on_connection(|socket| {
///     // Everyone in "game-1" but the players of team "red", this socket excluded.
///     socket.to("game-1").except("red").emit("score", 3).ok();
///     // Ask every socket of the namespace; the callback gets all answers.
///     socket.nsp().emit_with_ack("ready?", (), Duration::from_secs(5), |answers| {
///         log::info!("{} ready", answers.map_or_else(|e| e.responses.len(), |a| a.len()));
///     }).ok();
///     // Who is in the lobby?
///     let names: Vec<String> = socket.nsp().to("lobby").fetch_sockets()
///         .iter().map(|s| s.id().to_owned()).collect();
///     # let _ = names;
/// });
/// ```
pub struct Broadcast<'a> {
    eng: &'a mut Engine<Client>,
    sio: &'a mut Sio,
    ns: usize,
    sel: Selection,
}

impl fmt::Debug for Broadcast<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("rooms", &self.sel.rooms)
            .field("except", &self.sel.except)
            .field("volatile", &self.sel.volatile)
            .finish_non_exhaustive()
    }
}

impl<'a> Broadcast<'a> {
    pub(crate) fn new(eng: &'a mut Engine<Client>, sio: &'a mut Sio, ns: usize) -> Self {
        Broadcast {
            eng,
            sio,
            ns,
            sel: Selection::default(),
        }
    }

    /// Narrows to the members of `room` (several calls: members of any of them). A
    /// socket's id is a room too: `to(id)` is that one socket.
    pub fn to(mut self, room: &str) -> Self {
        self.sel.rooms.push(room.to_owned());
        self
    }

    /// Leaves out the members of `room`.
    pub fn except(mut self, room: &str) -> Self {
        self.sel.except.push(room.to_owned());
        self
    }

    /// Drops the event for a socket whose transport cannot take it now instead of queueing
    /// it (the reference's `volatile`): a long-polling client with no GET waiting, a
    /// WebSocket past its soft backpressure limit
    /// ([`Config::backpressure_soft_limit`](crate::Config)). For updates that the next one
    /// replaces: positions, tickers.
    pub fn volatile(mut self) -> Self {
        self.sel.volatile = true;
        self
    }

    /// Sends the event; returns how many sockets it was queued for.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself.
    pub fn emit(self, event: &str, payload: impl Into<Payload>) -> Result<usize, EmitError> {
        check_event(event)?;
        Ok(self.run(Operation::Emit {
            event: event.to_owned(),
            payload: payload.into(),
            ack: None,
        }))
    }

    /// Sends the event and asks every recipient to acknowledge it (the reference's
    /// `io.timeout(ms).emit(.., (err, responses) => ..)`). `callback` runs once, on the
    /// reactor's thread: with every answer (in the order they came) when all came; with a
    /// [`BroadcastAckError`] holding the answers that did come when `timeout` passed first
    /// ([`AckError::Timeout`](super::AckError::Timeout)) or when every recipient has
    /// answered or disconnected and some disconnected
    /// ([`AckError::Disconnected`](super::AckError::Disconnected)). With no recipient it
    /// runs at once with no answers. Returns how many sockets it was sent to.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself; the callback is
    /// dropped unrun.
    pub fn emit_with_ack(
        self,
        event: &str,
        payload: impl Into<Payload>,
        timeout: Duration,
        callback: impl FnOnce(Result<Vec<Payload>, BroadcastAckError>) + 'static,
    ) -> Result<usize, EmitError> {
        check_event(event)?;
        Ok(self.run(Operation::Emit {
            event: event.to_owned(),
            payload: payload.into(),
            ack: Some((timeout, Box::new(callback))),
        }))
    }

    /// The selected sockets (the reference's `fetchSockets`): id, handshake, rooms and a
    /// copy of their data.
    pub fn fetch_sockets(self) -> Vec<SocketInfo> {
        let (sio, eng, ns, sel) = (self.sio, self.eng, self.ns, self.sel);
        sio.apply(eng, ns, &sel, Operation::Fetch).sockets()
    }

    /// Makes the selected sockets join `rooms` (`socketsJoin`); returns how many joined
    /// all of them (past its room limits a socket joins what fits; see
    /// [`Socket::join`](super::Socket::join)).
    pub fn sockets_join(self, rooms: &[&str]) -> usize {
        let rooms = rooms.iter().map(|&r| r.to_owned()).collect();
        self.run(Operation::Join(rooms))
    }

    /// Makes the selected sockets leave `rooms` (`socketsLeave`); returns how many were
    /// selected.
    pub fn sockets_leave(self, rooms: &[&str]) -> usize {
        let rooms = rooms.iter().map(|&r| r.to_owned()).collect();
        self.run(Operation::Leave(rooms))
    }

    /// Disconnects the selected sockets (`disconnectSockets`); with `close`, their whole
    /// connections (every namespace). Their clients are told (`io server disconnect`) and
    /// do not reconnect. Returns how many were selected.
    pub fn disconnect_sockets(self, close: bool) -> usize {
        self.run(Operation::Disconnect { close })
    }

    fn run(self, op: Operation) -> usize {
        self.sio.apply(self.eng, self.ns, &self.sel, op).count()
    }
}
