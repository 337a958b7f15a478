//! [`Broadcast`]: an operation on many sockets of a namespace (some rooms or all of it,
//! minus some rooms), as a callback on the reactor's thread sees it: the reference's
//! `BroadcastOperator`. It only builds the query; the adapter (`adapter.rs`) runs it, on
//! every reactor's endpoint when there are several (`peers.rs`).

use std::fmt;
#[cfg(feature = "redis")]
use std::sync::Arc;
use std::time::Duration;

use super::adapter::{BroadcastAckError, Operation, QueryResult, Selection, SocketInfo};
use super::engine::Engine;
use super::io_handle::Remote;
use super::namespace::{Client, Sio, SocketKey};
use super::payload::Payload;
use super::peers::{Part, Waiting};
use super::socket::{check_event, EmitError, Socket};
use crate::SendError;

/// An operation on the sockets of a namespace: all of them, or the members of some rooms
/// ([`to`](Self::to)), minus the members of others ([`except`](Self::except)). Made by
/// [`Socket::to`](super::Socket::to), [`Socket::broadcast`](super::Socket::broadcast) and
/// [`Socket::nsp`](super::Socket::nsp); from other threads, [`IoHandle`](super::IoHandle)
/// offers the same operations.
///
/// An event is encoded once for every recipient (once per reactor).
///
/// On a server with several reactors ([`Config::reactors`](crate::Config::reactors)) every
/// operation reaches the sockets of every reactor: it is queued for the other reactors'
/// endpoints (all of them, or none: [`SendError::Full`] if one's queue is full), which run
/// it on their sockets on their next pass, and runs here at once. Counts are this reactor's
/// sockets. [`fetch_sockets`](Self::fetch_sockets) answers at once, so for this reactor's
/// sockets only; [`fetch_sockets_then`](Self::fetch_sockets_then) waits for every
/// reactor's.
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
    /// The socket it was made from.
    origin: SocketKey,
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
    pub(crate) fn new(
        eng: &'a mut Engine<Client>,
        sio: &'a mut Sio,
        ns: usize,
        origin: SocketKey,
    ) -> Self {
        Broadcast {
            eng,
            sio,
            ns,
            sel: Selection::default(),
            origin,
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

    /// Sends the event; returns how many sockets (of this reactor) it was queued for.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself;
    /// [`EmitError::Queue`] with [`SendError::Full`] if another reactor's queue is full
    /// (nobody got it).
    pub fn emit(self, event: &str, payload: impl Into<Payload>) -> Result<usize, EmitError> {
        check_event(event)?;
        let (event, payload) = (event.to_owned(), payload.into());
        let others = || Remote::Emit(event.clone(), payload.clone());
        (self.sio.tell_others(self.ns, &self.sel, others)).map_err(EmitError::Queue)?;
        #[cfg(feature = "redis")]
        self.sio.publish(self.ns, &self.sel, &event, &payload);
        Ok(self.run(Operation::Emit {
            event,
            payload,
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
    /// runs at once with no answers (with several reactors: once every reactor has said
    /// so). Returns how many sockets (of this reactor) it was sent to.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself, [`EmitError::Queue`]
    /// if a queue is full (as for [`emit`](Self::emit)); the callback is dropped unrun.
    pub fn emit_with_ack(
        self,
        event: &str,
        payload: impl Into<Payload>,
        timeout: Duration,
        callback: impl FnOnce(Result<Vec<Payload>, BroadcastAckError>) + 'static,
    ) -> Result<usize, EmitError> {
        check_event(event)?;
        let (event, payload) = (event.to_owned(), payload.into());
        let waiting = Waiting::Acks(Box::new(callback));
        let make = |gather| Remote::EmitWithAck(event.clone(), payload.clone(), timeout, gather);
        let waited = (self.sio.wait_for_others(self.ns, &self.sel, waiting, make))
            .map_err(EmitError::Queue)?;
        let ack = match waited {
            // This reactor's answers are its part.
            Ok((gather, others)) => {
                #[allow(unused_mut)] // without the `redis` feature
                let mut parts = others + 1;
                #[cfg(feature = "redis")]
                if let Some(redis) = self.sio.redis.clone() {
                    // The other nodes' answers are one more.
                    parts += 1;
                    let (nsp, g) = (&self.sio.namespaces[self.ns].name, Arc::clone(&gather));
                    let what = (event.as_str(), &payload);
                    let token =
                        redis.broadcast_with_ack(nsp, &self.sel, what, timeout, move |acks| {
                            g.add(Part::Acks(acks));
                        });
                    self.eng.set_app_timer(timeout, token);
                }
                gather.expect(parts, true);
                Box::new(move |acks| gather.add(Part::Acks(acks))) as _
            }
            Err(Waiting::Acks(callback)) => callback,
            Err(_) => return Ok(0),
        };
        Ok(self.run(Operation::Emit {
            event,
            payload,
            ack: Some((timeout, ack)),
        }))
    }

    /// The selected sockets (the reference's `fetchSockets`): id, handshake, rooms and a
    /// copy of their data. At once, so with several reactors, this reactor's sockets only:
    /// see [`fetch_sockets_then`](Self::fetch_sockets_then).
    pub fn fetch_sockets(self) -> Vec<SocketInfo> {
        let (sio, eng, ns, sel) = (self.sio, self.eng, self.ns, self.sel);
        sio.apply(eng, ns, &sel, Operation::Fetch).sockets()
    }

    /// The selected sockets of every reactor, as [`fetch_sockets`](Self::fetch_sockets)
    /// reports them, for `callback` once every reactor has answered (on this reactor's
    /// thread; with one reactor, at once), with the socket this was made from, to answer
    /// it (an [`Ack`](super::Ack)). Not called if that socket is gone by then. This
    /// reactor's sockets come first, in the order they connected, then each other
    /// reactor's. In a cluster (feature `redis`), every node's too: if some node has not
    /// answered by `RedisOptions::requests_timeout`, a [`QueryError`](super::QueryError)
    /// with the sockets that came.
    ///
    /// ```
    /// # use wsreactor::socketio::{Options, SocketIo};
    /// # let mut io = SocketIo::new(Options::default());
    /// io.of("/").on_connection(|socket| {
    ///     socket.on("who", |socket, _args, ack| {
    ///         socket.nsp().fetch_sockets_then(move |socket, sockets| {
    ///             // Only a cluster's node that does not answer leaves some out.
    ///             let sockets = sockets.unwrap_or_else(|partial| partial.found);
    ///             let ids: Vec<&str> = sockets.iter().map(|s| s.id()).collect();
    ///             if let Some(ack) = ack {
    ///                 ack.send(socket, wsreactor::serde_json::json!(ids));
    ///             }
    ///         }).ok();
    ///     });
    /// });
    /// ```
    ///
    /// # Errors
    /// [`SendError::Full`] if another reactor's queue (or, for the answer, this one's) is
    /// full; the callback is dropped unrun.
    pub fn fetch_sockets_then(
        self,
        callback: impl FnOnce(&mut Socket<'_>, QueryResult<SocketInfo>) + 'static,
    ) -> Result<(), SendError> {
        let (origin, ns) = (self.origin, self.ns);
        let waiting = Waiting::Sockets(origin, Box::new(callback));
        let waited = (self.sio).wait_for_others(ns, &self.sel, waiting, Remote::Fetch)?;
        let (sio, eng, sel) = (self.sio, self.eng, self.sel);
        let here = sio.apply(eng, ns, &sel, Operation::Fetch).sockets();
        match waited {
            Ok((gather, others)) => {
                gather.add(Part::Sockets(here, None));
                #[allow(unused_mut)] // without the `redis` feature
                let mut parts = others + 1;
                #[cfg(feature = "redis")]
                if let Some(redis) = sio.redis.clone() {
                    // The other nodes' sockets are one more.
                    parts += 1;
                    let g = Arc::clone(&gather);
                    let token =
                        redis.fetch(&sio.namespaces[ns].name, &sel, move |sockets, failed| {
                            g.add(Part::Sockets(sockets, failed));
                        });
                    eng.set_app_timer(redis.requests_timeout(), token);
                }
                gather.expect(parts, true);
            }
            Err(Waiting::Sockets(origin, callback)) => {
                if sio.sockets.get(origin).is_some_and(|s| s.connected) {
                    callback(&mut Socket::new(eng, sio, origin), Ok(here));
                }
            }
            Err(_) => {}
        }
        Ok(())
    }

    /// Makes the selected sockets join `rooms` (`socketsJoin`); returns how many (of this
    /// reactor) joined all of them (past its room limits a socket joins what fits; see
    /// [`Socket::join`](super::Socket::join)).
    ///
    /// # Errors
    /// [`SendError::Full`] if another reactor's queue is full (nobody joined).
    pub fn sockets_join(self, rooms: &[&str]) -> Result<usize, SendError> {
        let rooms: Vec<String> = rooms.iter().map(|&r| r.to_owned()).collect();
        self.everywhere(&Remote::Join(rooms.clone()))?;
        Ok(self.run(Operation::Join(rooms)))
    }

    /// Makes the selected sockets leave `rooms` (`socketsLeave`); returns how many (of
    /// this reactor) were selected.
    ///
    /// # Errors
    /// As [`sockets_join`](Self::sockets_join).
    pub fn sockets_leave(self, rooms: &[&str]) -> Result<usize, SendError> {
        let rooms: Vec<String> = rooms.iter().map(|&r| r.to_owned()).collect();
        self.everywhere(&Remote::Leave(rooms.clone()))?;
        Ok(self.run(Operation::Leave(rooms)))
    }

    /// Disconnects the selected sockets (`disconnectSockets`); with `close`, their whole
    /// connections (every namespace). Their clients are told (`io server disconnect`) and
    /// do not reconnect. Returns how many (of this reactor) were selected.
    ///
    /// # Errors
    /// As [`sockets_join`](Self::sockets_join).
    pub fn disconnect_sockets(self, close: bool) -> Result<usize, SendError> {
        self.everywhere(&Remote::Disconnect(close))?;
        Ok(self.run(Operation::Disconnect { close }))
    }

    /// Sends an event to the other nodes of the cluster, for their listeners, as
    /// [`Operator::server_side_emit`](super::Operator::server_side_emit) does.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself.
    #[cfg(feature = "redis")]
    pub fn server_side_emit(
        self,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), EmitError> {
        check_event(event)?;
        if let Some(redis) = &self.sio.redis {
            let nsp = &self.sio.namespaces[self.ns].name;
            redis.server_side_emit(nsp, event, &payload.into());
        }
        Ok(())
    }

    /// As [`server_side_emit`](Self::server_side_emit), and `callback` gets each other
    /// node's answer, on this reactor's thread, with the socket this was made from (not
    /// called if it is gone by then): every node's, or, after
    /// [`RedisOptions::requests_timeout`](super::RedisOptions::requests_timeout), a
    /// [`ServerSideEmitError`](super::ServerSideEmitError) with those that came. With no
    /// other node, at once with none.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself; [`EmitError::Queue`]
    /// if this reactor's queue cannot hold a place for the answer (the callback is dropped
    /// unrun).
    #[cfg(feature = "redis")]
    pub fn server_side_emit_with_ack(
        self,
        event: &str,
        payload: impl Into<Payload>,
        callback: impl FnOnce(&mut Socket<'_>, Result<Vec<serde_json::Value>, super::ServerSideEmitError>)
            + 'static,
    ) -> Result<(), EmitError> {
        check_event(event)?;
        let (origin, ns) = (self.origin, self.ns);
        let Some(redis) = self.sio.redis.clone() else {
            callback(&mut Socket::new(self.eng, self.sio, origin), Ok(Vec::new()));
            return Ok(());
        };
        let waiting = Waiting::Replies(origin, Box::new(callback));
        let (gather, _) = match self.sio.wait_here(waiting).map_err(EmitError::Queue)? {
            Ok(waited) => waited,
            Err(_) => return Ok(()), // a cluster always answers through the queue
        };
        gather.expect(1, true);
        let nsp = &self.sio.namespaces[ns].name;
        let token = redis.server_side_emit_with_ack(nsp, event, &payload.into(), move |replies| {
            gather.add(Part::Replies(replies));
        });
        self.eng.set_app_timer(redis.requests_timeout(), token);
        Ok(())
    }

    /// Queues a join, leave or disconnection for the other reactors and asks the other
    /// nodes to run it.
    fn everywhere(&self, op: &Remote) -> Result<usize, SendError> {
        let sent = self.sio.tell_others(self.ns, &self.sel, || op.clone())?;
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.sio.redis {
            redis.on_sockets(&self.sio.namespaces[self.ns].name, &self.sel, op);
        }
        Ok(sent)
    }

    fn run(self, op: Operation) -> usize {
        self.sio.apply(self.eng, self.ns, &self.sel, op).count()
    }
}
