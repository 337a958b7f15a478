//! The state every callback can touch: connections, the per-pass work lists, timers, rooms.
//!
//! Operations here drive a connection's state machine and then [`settle`](Core::settle)
//! what it decided: drop it, arm its timer, put it on the flush list, owe its `on_close`.
//! They only queue work; the reactor does the I/O and runs the callbacks.

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::Level;
use tungstenite::protocol::frame::CloseFrame;

use super::batch::Batch;
use super::census::Census;
use super::rejects::Rejects;
use super::timers::Timers;
use super::token::token;
use crate::config::Config;
use crate::conn::frame::{self, OpCode};
use crate::conn::io::{Spares, SHARE_MIN};
use crate::conn::transport::Transport;
use crate::conn::{Connection, Event, Sent};
use crate::ctx::SendStatus;
use crate::deflate;
use crate::error::{Cause, Disconnect, JoinError};
use crate::handle::{Command, Handle, Reactors, SendError, Wake};
use crate::http::Response;
use crate::id::{ConnId, TimerId};
use crate::message::Repr;
use crate::rooms::Rooms;
use crate::slab::Slab;
use crate::{Bytes, CloseCode, Message, MessageRef};

/// A connection and what the reactor keeps beside it: its socket (plain or TLS) and its
/// place in the per-pass work lists.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) sock: Transport,
    pub(crate) conn: Connection,
    /// The earliest deadline that has an entry in the timer heap.
    armed: Option<Instant>,
    /// On this pass's flush list.
    dirty: bool,
    /// On the list of connections to read.
    scheduled: bool,
    /// The poller reported the peer's FIN; reading goes on until the EOF is read.
    pub(crate) peer_closed: bool,
    /// Accepted for an endpoint ([`Accept::endpoint`](crate::Accept)): only the endpoint
    /// writes its frames, so the raw sends of handles and handlers skip it.
    pub(crate) endpoint: bool,
}

impl Entry {
    /// Puts the connection `id` (this entry) on the flush list, once.
    #[inline]
    fn mark_dirty(&mut self, id: ConnId, list: &mut Vec<ConnId>) {
        if !self.dirty {
            self.dirty = true;
            list.push(id);
        }
    }

    /// The entry as it arrives on another reactor: on none of its work lists, no timer
    /// armed there yet.
    fn moved(self) -> Self {
        Entry {
            armed: None,
            dirty: false,
            scheduled: false,
            ..self
        }
    }

    pub(crate) fn new(sock: Transport, conn: Connection) -> Self {
        Entry {
            sock,
            conn,
            armed: None,
            dirty: false,
            scheduled: false,
            peer_closed: false,
            endpoint: false,
        }
    }
}

/// A connection on its way to another reactor, with the request read on it (an
/// `Event::Upgrade` or `Event::Http`), which the other reactor's handler gets.
#[derive(Debug)]
pub(crate) struct Moved {
    entry: Entry,
    event: Event<'static>,
}

/// What a reactor with siblings (`Config::reactors` above 1) needs of its own.
#[derive(Debug)]
pub(crate) struct Siblings {
    /// Room sizes on every reactor.
    census: Census,
    /// Its poller's registry, to hand connections over and take them in.
    registry: mio::Registry,
}

impl Siblings {
    pub(crate) fn new(census: Census, registry: mio::Registry) -> Self {
        Siblings { census, registry }
    }
}

/// Connections plus the work queued for the end of the pass.
#[derive(Debug)]
pub(crate) struct Core {
    /// This reactor's number among the server's: the tag of its connections' ids.
    pub(crate) reactor: usize,
    pub(crate) conns: Slab<ConnId, Entry>,
    pub(crate) config: Config,
    /// The time of this pass, read once after `poll` returns.
    pub(crate) now: Instant,
    /// Connections' deadlines.
    pub(crate) timers: Timers<ConnId>,
    /// Timers set by the handler, and which of them are live (not fired, not cancelled).
    pub(crate) user_timers: Timers<TimerId>,
    live_timers: Slab<TimerId, ()>,
    /// Connections with bytes to write this pass.
    pub(crate) dirty: Vec<ConnId>,
    /// Connections to read this pass (readable events) or next pass (input left over),
    /// each at most once.
    pub(crate) ready: Vec<ConnId>,
    /// Ended connections whose `on_close` is owed.
    pub(crate) closed: Vec<(ConnId, SocketAddr, Disconnect)>,
    /// Ended connections that held an unanswered request: `on_http_closed` is owed.
    pub(crate) held_closed: Vec<(ConnId, SocketAddr)>,
    pub(crate) rooms: Rooms,
    /// With several reactors: what it needs to work with the others.
    siblings: Option<Siblings>,
    /// Reactors sent commands this pass, to wake at its end (`Wake::Later`).
    pub(crate) owed: Reactors,
    /// Handed out by `ServerCtx::handle`; reaches the other reactors too.
    pub(crate) handle: Handle,
    /// Reused list of recipients, so publishing does not allocate.
    scratch: Vec<ConnId>,
    /// Small frames published to one room, not yet in its members' queues (`batch.rs`).
    batch: Batch,
    /// The connection being read, whose callbacks are running.
    pub(crate) reading: Option<ConnId>,
    /// Drained outbound buffers, lent to the next connection that queues a frame.
    spares: Spares,
    /// The rate-limited log of rejected requests.
    pub(crate) rejects: Rejects,
    /// Some connection may have negotiated permessage-deflate: sends look at it.
    pub(crate) deflating: bool,
    /// The compressors connections without server context takeover share.
    pub(crate) deflater: deflate::Shared,
}

/// What a message becomes on the wire.
enum Outgoing {
    Frame(OpCode, Bytes),
    Close(CloseFrame),
    Nothing,
}

#[inline]
fn outgoing(msg: Message) -> Outgoing {
    let (opcode, payload) = match msg {
        Message::Text(text) => (OpCode::Text, Bytes::from(text)),
        Message::Binary(data) => (OpCode::Binary, data),
        Message::Ping(data) => (OpCode::Ping, data),
        Message::Pong(data) => (OpCode::Pong, data),
        Message::Close(frame) => {
            let normal = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            return Outgoing::Close(frame.unwrap_or(normal));
        }
        Message::Frame(_) => return Outgoing::Nothing,
    };
    // "All control frames MUST have a payload length of 125 bytes or less" (RFC 6455 §5.5)
    if matches!(opcode, OpCode::Ping | OpCode::Pong) && payload.len() > 125 {
        return Outgoing::Nothing;
    }
    Outgoing::Frame(opcode, payload)
}

impl Core {
    pub(crate) fn new(
        reactor: usize,
        config: Config,
        handle: Handle,
        siblings: Option<Siblings>,
        now: Instant,
    ) -> Self {
        Core {
            reactor,
            rooms: Rooms::new(config.room_limits()),
            siblings,
            owed: Reactors::default(),
            handle,
            scratch: Vec::new(),
            batch: Batch::default(),
            reading: None,
            spares: Spares::default(),
            rejects: Rejects::default(),
            deflating: config.deflate.is_some(),
            deflater: deflate::Shared::default(),
            conns: Slab::tagged(reactor),
            config,
            now,
            timers: Timers::default(),
            user_timers: Timers::default(),
            live_timers: Slab::default(),
            dirty: Vec::new(),
            ready: Vec::new(),
            closed: Vec::new(),
            held_closed: Vec::new(),
        }
    }

    /// Takes a newly accepted connection.
    pub(crate) fn insert(&mut self, sock: Transport, peer: SocketAddr) -> ConnId {
        let conn = Connection::new(peer, self.now, &self.config);
        let id = self.conns.insert(Entry::new(sock, conn));
        self.settle(id);
        id
    }

    /// Queues a message on a connection (large payloads by reference), and says what
    /// became of it.
    #[inline]
    pub(crate) fn send(&mut self, id: ConnId, msg: Message) -> SendStatus {
        match outgoing(msg) {
            Outgoing::Frame(opcode, payload) => self.send_frame(id, opcode, payload),
            Outgoing::Close(frame) => match self.close(id, frame, Cause::ServerClosed) {
                true => SendStatus::Queued,
                false => SendStatus::Closed,
            },
            // A frame that may not be sent (an oversized control frame, a raw frame).
            Outgoing::Nothing => SendStatus::Dropped,
        }
    }

    /// [`send`](Self::send) for a message that may be lent from the read buffer: its
    /// payload is copied into the queue as it is encoded.
    #[inline]
    pub(crate) fn send_ref(&mut self, id: ConnId, msg: MessageRef<'_>) -> SendStatus {
        let opcode = |text| if text { OpCode::Text } else { OpCode::Binary };
        let (opcode, payload, at) = match msg.into_repr() {
            Repr::LentText { payload, at } => (OpCode::Text, payload, at),
            Repr::LentBinary { payload, at } => (OpCode::Binary, payload, at),
            Repr::Payload { text, payload } => return self.send_frame(id, opcode(text), payload),
            Repr::Owned(msg) => return self.send(id, msg),
        };
        // With permessage-deflate on the server, through `send_frame`, which compresses it
        // for a connection that negotiated the extension.
        if self.deflating {
            return self.send_frame(id, opcode, Bytes::copy_from_slice(payload));
        }
        // A large payload back to the connection it came from: queued where it lies, and
        // written before the read buffer goes to another connection (`read`).
        if payload.len() >= SHARE_MIN && self.reading == Some(id) {
            let range = at..at + payload.len();
            return self.queue(id, |conn, config, now| {
                conn.send_lent(opcode, range, config, now)
            });
        }
        self.queue(id, |conn, config, now| {
            conn.send_slice(opcode, payload, config, now)
        })
    }

    /// Whether the connection is open and within its soft backpressure limit.
    #[cfg(feature = "socketio")]
    pub(crate) fn is_writable(&self, id: ConnId) -> bool {
        (self.conns.get(id)).is_some_and(|e| {
            e.conn.is_open() && e.conn.out.pending() <= self.config.backpressure_soft_limit
        })
    }

    /// Whether the connection came over TLS.
    pub(crate) fn is_secure(&self, id: ConnId) -> bool {
        self.conns.get(id).is_some_and(|e| e.sock.is_tls())
    }

    /// Whether an endpoint owns the connection's frames (see `Entry::endpoint`).
    pub(crate) fn is_endpoint(&self, id: ConnId) -> bool {
        self.conns.get(id).is_some_and(|e| e.endpoint)
    }

    /// Sends a message to every member of `room` but `except`, on every reactor: the
    /// others' members through their queues (all of them, or none if one is full), then
    /// this one's; with a cluster attached, once accepted here, to the other nodes too.
    /// Returns how many it was queued for here, plus the members the other reactors count
    /// now (which queue it on their next pass); the other nodes' are not counted.
    pub(crate) fn publish(
        &mut self,
        room: &str,
        msg: Message,
        except: Option<ConnId>,
    ) -> Result<usize, SendError> {
        let mut there = 0;
        if let Some(Siblings { census, .. }) = &self.siblings {
            let others = census.others_in(room);
            if !others.is_empty() {
                let name: Arc<str> = room.into();
                let make = || Command::Publish(Arc::clone(&name), msg.clone());
                let wake = Wake::Later(&mut self.owed);
                there = match self.handle.mesh().push_all(&others, make, wake) {
                    Ok(()) => census.members_on(room, &others),
                    Err(SendError::Full) => return Err(SendError::Full),
                    // Those reactors stopped, and their members with them.
                    Err(SendError::Stopped) => 0,
                };
            }
        }
        #[cfg(feature = "redis")]
        if let Some(cluster) = self.handle.mesh().cluster() {
            cluster.publish(room, &msg);
        }
        Ok(self.publish_here(room, msg, except) + there)
    }

    /// Sends a message to every member of `room` but `except` on this reactor. A payload
    /// of `SHARE_MIN` (2 KiB) or more is shared by every recipient (each gets only its own
    /// frame header), as is every payload once permessage-deflate is configured (each
    /// member's frame depends on what it negotiated). A smaller one is encoded once into
    /// the batch (`batch.rs`), which copies it into each member's queue together with the
    /// frames published to the room just before it; the connection being read, if a
    /// member, gets its copy at once. Returns how many members it is for, whichever way it
    /// goes: it reaches each unless its queue refuses it (closing, or over
    /// `max_backpressure`).
    pub(crate) fn publish_here(
        &mut self,
        room: &str,
        msg: Message,
        except: Option<ConnId>,
    ) -> usize {
        let Outgoing::Frame(opcode, payload) = outgoing(msg) else {
            return 0;
        };
        // With permessage-deflate each member's frame depends on what it negotiated: sent
        // one by one through `send_frame`, which compresses once for all (`send_many`).
        if payload.len() >= SHARE_MIN || self.deflating {
            self.write_batch();
            let mut ids = std::mem::take(&mut self.scratch);
            ids.extend(self.rooms.members(room).filter(|&id| Some(id) != except));
            self.send_each(&ids, opcode, payload);
            let addressed = ids.len();
            ids.clear();
            self.scratch = ids;
            return addressed;
        }
        let reader =
            (self.reading).filter(|&id| Some(id) != except && self.rooms.contains(room, id));
        let skip = [except, reader];
        if !self.batch.fits(room, skip) {
            self.write_batch_now();
        }
        if self.batch.is_empty() {
            self.batch.start(room, skip);
        }
        let start = self.batch.frames.len();
        frame::encode(&mut self.batch.frames, opcode, &payload);
        self.batch.ends.push(self.batch.frames.len());
        let skipped = except.filter(|&id| self.rooms.contains(room, id)).is_some() as usize;
        if let Some(id) = reader {
            // Taken out meanwhile: `queue` writes out whatever batch it finds.
            let batch = std::mem::take(&mut self.batch);
            let frame = &batch.frames[start..];
            self.queue(id, |conn, config, now| {
                conn.send_encoded(frame, config, now)
            });
            self.batch = batch;
        }
        self.rooms.len(room) - skipped
    }

    /// Writes the batch of small published frames into its members' queues, if there is
    /// one: before anything else is queued on a connection or membership changes, after
    /// each connection's read, and before the pass flushes (see `batch.rs`).
    #[inline]
    pub(crate) fn write_batch(&mut self) {
        if !self.batch.is_empty() {
            self.write_batch_now();
        }
    }

    #[inline(never)]
    fn write_batch_now(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let mut ids = std::mem::take(&mut self.scratch);
        ids.extend(
            self.rooms
                .members(batch.room())
                .filter(|&id| !batch.skips(id)),
        );
        for &id in &ids {
            self.queue(id, |conn, config, now| {
                conn.send_all_encoded(&batch.frames, batch.each_frame(), config, now)
            });
        }
        ids.clear();
        self.scratch = ids;
        self.batch = batch;
        self.batch.clear();
    }

    /// Sends a message to every open connection but `except`, on every reactor, as
    /// `publish` does; the other reactors' connections count as they last said.
    pub(crate) fn broadcast(
        &mut self,
        msg: Message,
        except: Option<ConnId>,
    ) -> Result<usize, SendError> {
        let mut there = 0;
        let mesh = self.handle.mesh();
        if mesh.len() > 1 {
            let others = Reactors::all_but(mesh.len(), Some(self.reactor));
            let make = || Command::Broadcast(msg.clone());
            there = match mesh.push_all(&others, make, Wake::Later(&mut self.owed)) {
                Ok(()) => mesh.load_of_others(self.reactor),
                Err(SendError::Full) => return Err(SendError::Full),
                Err(SendError::Stopped) => 0,
            };
        }
        Ok(self.broadcast_here(msg, except) + there)
    }

    /// Sends a message to every open connection of this reactor but `except`.
    pub(crate) fn broadcast_here(&mut self, msg: Message, except: Option<ConnId>) -> usize {
        let mut ids = std::mem::take(&mut self.scratch);
        let conns = self.conns.iter();
        ids.extend(
            conns
                .filter(|(id, e)| !e.endpoint && Some(*id) != except)
                .map(|(id, _)| id),
        );
        let sent = self.send_many(&ids, msg);
        ids.clear();
        self.scratch = ids;
        sent
    }

    /// Hands a message for a connection of another reactor to that reactor: `Queued` when
    /// its queue took it (what becomes of it there is not reported), `Full` when it is
    /// full, `Closed` when that reactor has stopped.
    pub(crate) fn send_elsewhere(&mut self, to: ConnId, msg: Message) -> SendStatus {
        let (command, wake) = (Command::Send(to, msg), Wake::Later(&mut self.owed));
        match self.handle.mesh().push(to.reactor(), command, wake) {
            Ok(()) => SendStatus::Queued,
            Err((SendError::Full, _)) => SendStatus::Full,
            Err((SendError::Stopped, _)) => SendStatus::Closed,
        }
    }

    /// Asks another reactor to close one of its connections; `false` if its queue is full
    /// or it has stopped.
    pub(crate) fn close_elsewhere(&mut self, id: ConnId, code: CloseCode, reason: &str) -> bool {
        let command = Command::Close(id, code, reason.to_owned());
        let wake = Wake::Later(&mut self.owed);
        self.handle.mesh().push(id.reactor(), command, wake).is_ok()
    }

    /// Wakes the reactors this pass sent commands to; the end of every pass.
    pub(crate) fn wake_owed(&mut self) {
        if !self.owed.is_empty() {
            self.handle.mesh().wake(&mut self.owed);
        }
    }

    /// Adds connection `id` to `room` within its limits (see `Rooms::join`).
    pub(crate) fn join(&mut self, id: ConnId, room: &str) -> Result<bool, JoinError> {
        self.write_batch();
        let joined = self.rooms.join(id, room)?;
        if let (true, Some(siblings)) = (joined, &mut self.siblings) {
            siblings.census.joined(room);
        }
        Ok(joined)
    }

    /// Takes connection `id` out of `room`; `false` if it was not a member.
    pub(crate) fn leave(&mut self, id: ConnId, room: &str) -> bool {
        self.write_batch();
        let left = self.rooms.leave(id, room);
        if let (true, Some(siblings)) = (left, &mut self.siblings) {
            siblings.census.left(room);
        }
        left
    }

    /// Takes connection `id` out of every room it is in.
    pub(crate) fn leave_all(&mut self, id: ConnId) {
        self.write_batch();
        if let Some(Siblings { census, .. }) = &mut self.siblings {
            self.rooms.rooms_of(id).for_each(|room| census.left(room));
        }
        self.rooms.leave_all(id);
    }

    /// Members of `room` on every reactor (see `Census` for what that costs).
    pub(crate) fn room_size(&self, room: &str) -> usize {
        match &self.siblings {
            Some(siblings) => siblings.census.size(room),
            None => self.rooms.len(room),
        }
    }

    /// Reactors in the server.
    pub(crate) fn reactors(&self) -> usize {
        self.handle.mesh().len()
    }

    /// Hands connection `id`, with the request `event` carries, to reactor `to`: it leaves
    /// this reactor (its poller and its slab, without `on_close`: it never opened here)
    /// and reaches `to`'s handler as if it had been read there. The event back if `to`'s
    /// queue is full or it has stopped: the caller answers the request here.
    pub(crate) fn hand_over<'r>(
        &mut self,
        id: ConnId,
        to: usize,
        event: Event<'r>,
    ) -> Result<(), Event<'r>> {
        self.write_batch();
        let (Some(siblings), Some(place)) = (&self.siblings, self.handle.mesh().reserve(to)) else {
            return Err(event);
        };
        if !cfg!(unix) {
            return Err(event);
        }
        let Some(entry) = self.conns.remove(id) else {
            return Ok(()); // gone already: nothing to serve
        };
        // Handed over as it upgrades: nothing of it points into this reactor's read buffer.
        debug_assert!(!entry.conn.out.has_lent());
        // Events for it here would be spurious reads of whatever takes its slot.
        let _ = poll_socket(&siblings.registry, &entry.sock, None);
        log::debug!("{id} handed to reactor {to}");
        let entry = entry.moved();
        let event = event.into_owned();
        let command = Command::Take(Box::new(Moved { entry, event }));
        place.send(command, Wake::Later(&mut self.owed));
        Ok(())
    }

    /// Takes in a connection another reactor handed over: its new id here, its peer and the
    /// request to hand the handler. `None` if it cannot be polled here (it is dropped).
    pub(crate) fn take_in(&mut self, moved: Moved) -> Option<(ConnId, SocketAddr, Event<'static>)> {
        let Moved { entry, event } = moved;
        let siblings = self.siblings.as_ref()?;
        let id = self.conns.next_key();
        if let Err(e) = poll_socket(&siblings.registry, &entry.sock, Some(token(id))) {
            log::warn!("taking over a connection: {e}");
            return None;
        }
        let peer = entry.conn.peer();
        let id = self.conns.insert(entry);
        self.settle(id);
        Some((id, peer, event))
    }

    /// Sends the payload to each of `ids` through `send_frame` (shared if large, compressed
    /// for those that negotiated permessage-deflate); how many queued it.
    fn send_each(&mut self, ids: &[ConnId], opcode: OpCode, payload: Bytes) -> usize {
        let sent = ids
            .iter()
            .filter(|&&id| self.send_frame(id, opcode, payload.clone()).is_queued());
        sent.count()
    }

    fn send_many(&mut self, ids: &[ConnId], msg: Message) -> usize {
        let Outgoing::Frame(opcode, payload) = outgoing(msg) else {
            return 0;
        };
        // With permessage-deflate each recipient's frame depends on what it negotiated;
        // the compressed bytes are shared (`send_deflated`).
        if payload.len() >= SHARE_MIN || self.deflating {
            return self.send_each(ids, opcode, payload);
        }
        // Small: encoded once, copied into each queue (no reference count to update per
        // recipient).
        let mut frame = Vec::with_capacity(frame::encoded_len(payload.len()));
        frame::encode(&mut frame, opcode, &payload);
        let sent = ids.iter().filter(|&&id| {
            let status = self.queue(id, |conn, config, now| {
                conn.send_encoded(&frame, config, now)
            });
            status.is_queued()
        });
        sent.count()
    }

    #[inline]
    pub(super) fn send_frame(&mut self, id: ConnId, opcode: OpCode, payload: Bytes) -> SendStatus {
        if self.deflating {
            if let Some(sent) = self.send_deflated(id, opcode, &payload) {
                return sent;
            }
        }
        self.send_plain(id, opcode, payload)
    }

    #[inline]
    pub(super) fn send_plain(&mut self, id: ConnId, opcode: OpCode, payload: Bytes) -> SendStatus {
        self.queue(id, |conn, config, now| {
            conn.send(opcode, payload, config, now)
        })
    }

    /// Queues a frame on connection `id` with `send` and says what became of it.
    #[inline]
    pub(super) fn queue(
        &mut self,
        id: ConnId,
        send: impl FnOnce(&mut Connection, &Config, Instant) -> Sent,
    ) -> SendStatus {
        self.write_batch();
        let Some(entry) = self.conns.get_mut(id) else {
            return SendStatus::Closed;
        };
        entry.conn.out.lend(&mut self.spares);
        match send(&mut entry.conn, &self.config, self.now) {
            Sent::Queued => {
                let over = entry.conn.out.pending() > self.config.backpressure_soft_limit;
                // Without looking the entry up again (the hot path).
                entry.mark_dirty(id, &mut self.dirty);
                match over {
                    false => SendStatus::Queued,
                    true => SendStatus::Backpressure,
                }
            }
            Sent::Refused => SendStatus::Closed,
            Sent::Dropped => SendStatus::Dropped,
            Sent::Failed(why) => {
                self.owe(id, Some(why));
                self.settle(id);
                SendStatus::Dropped
            }
        }
    }

    /// Logs a refused request (rate-limited): the peer, the status it was answered with,
    /// and why.
    pub(crate) fn rejected(
        &mut self,
        level: Level,
        peer: SocketAddr,
        status: u16,
        why: &dyn Display,
    ) {
        self.rejects.log(self.now, level, peer, status, why);
    }

    /// Answers a plain HTTP request the handler holds. `false` if the connection is gone
    /// or has no request waiting.
    pub(crate) fn respond(&mut self, id: ConnId, response: &Response) -> bool {
        let Some(entry) = self.conns.get_mut(id) else {
            return false;
        };
        let answered = entry.conn.respond(response, &self.config, self.now);
        self.settle(id);
        answered
    }

    /// Starts the close handshake. `false` if it is gone, not open, or already closing.
    pub(crate) fn close(&mut self, id: ConnId, frame: CloseFrame, cause: Cause) -> bool {
        self.write_batch();
        let Some(entry) = self.conns.get_mut(id) else {
            return false;
        };
        let started = entry.conn.close(frame, cause, &self.config, self.now);
        self.settle(id);
        started
    }

    /// Fails the connection (RFC 6455 §7.1.7) with the code and reason of `why`.
    pub(crate) fn fail(&mut self, id: ConnId, why: Disconnect) {
        self.write_batch();
        if let Some(entry) = self.conns.get_mut(id) {
            let owed = entry.conn.fail(why, &self.config, self.now);
            self.owe(id, owed);
            self.settle(id);
        }
    }

    /// Drops the connection now (the socket is closed). Owes `on_close` if it was open.
    pub(crate) fn remove(&mut self, id: ConnId, why: Disconnect) {
        self.write_batch();
        if let Some(entry) = self.conns.get_mut(id) {
            let owed = entry.conn.drop_now(why);
            self.owe(id, owed);
            self.settle(id);
        }
    }

    /// Ends a connection that is not an open WebSocket: what it has queued (a response) is
    /// written first; with nothing queued it is dropped now.
    pub(crate) fn end_plain(&mut self, id: ConnId) {
        self.write_batch();
        if let Some(entry) = self.conns.get_mut(id) {
            entry.conn.end_plain(&self.config, self.now);
            self.settle(id);
        }
    }

    /// A connection's deadline may have come.
    pub(crate) fn on_timeout(&mut self, id: ConnId, at: Instant) {
        self.write_batch();
        let Some(entry) = self.conns.get_mut(id) else {
            return;
        };
        if entry.armed == Some(at) {
            entry.armed = None;
        }
        let owed = entry.conn.on_timeout(&self.config, self.now);
        self.owe(id, owed);
        self.settle(id);
    }

    /// Records the `on_close` a transition owes.
    pub(crate) fn owe(&mut self, id: ConnId, why: Option<Disconnect>) {
        if let (Some(why), Some(entry)) = (why, self.conns.get(id)) {
            self.closed.push((id, entry.conn.peer(), why));
        }
    }

    /// Carries out what the connection's last transition decided: a connection that is
    /// done is dropped (closing its socket); otherwise its deadline is armed and, if it has
    /// bytes to write or a shutdown to do, it goes on the flush list.
    pub(crate) fn settle(&mut self, id: ConnId) {
        let Some(entry) = self.conns.get_mut(id) else {
            return;
        };
        if entry.conn.is_done() {
            if entry.conn.dropped_unanswered() {
                self.held_closed.push((id, entry.conn.peer()));
            }
            self.conns.remove(id);
            return;
        }
        // A later deadline needs no new entry: the earlier one pops, finds the deadline
        // later, and is armed again here.
        // What the transport encrypted while reading (a TLS handshake's answer) is
        // backlog to write like any other.
        entry.conn.out.set_sealed(entry.sock.sealed());
        if let Some(at) = entry.conn.poll_at() {
            if entry.armed.is_none_or(|armed| at < armed) {
                self.timers.schedule(at, id);
                entry.armed = Some(at);
            }
        }
        if entry.conn.wants_flush() {
            self.mark_dirty(id);
        }
    }

    /// Drops timer entries that can no longer matter (their connection is gone, or a
    /// connection's earlier entry covers it; a handler's timer that was cancelled) once
    /// they outnumber the live ones, so churn cannot grow the heaps by connections (or
    /// timers) per second × timeout.
    pub(crate) fn prune_timers(&mut self) {
        if self.timers.len() > 2 * self.conns.len() + 1024 {
            let conns = &self.conns;
            self.timers
                .retain(|&(at, id)| conns.get(id).is_some_and(|e| e.armed == Some(at)));
        }
        if self.user_timers.len() > 2 * self.live_timers.len() + 1024 {
            let live = &self.live_timers;
            self.user_timers.retain(|&(_, id)| live.get(id).is_some());
        }
    }

    /// Sets a handler timer `delay` from this pass's time.
    pub(crate) fn set_timer(&mut self, delay: Duration) -> TimerId {
        let id = self.live_timers.insert(());
        self.user_timers.schedule(self.now + delay, id);
        id
    }

    /// Cancels a handler timer; `false` if it already fired or was cancelled.
    pub(crate) fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.live_timers.remove(id).is_some()
    }

    /// The next handler timer due by this pass's time, ended.
    pub(crate) fn pop_timer(&mut self) -> Option<TimerId> {
        while let Some((_, id)) = self.user_timers.pop_expired(self.now) {
            if self.live_timers.remove(id).is_some() {
                return Some(id);
            }
        }
        None
    }

    /// The pass has flushed: the pool of spare buffers adjusts to what it used.
    pub(crate) fn end_flushes(&mut self) {
        self.spares.end_pass();
    }

    /// Puts the connection on this pass's flush list.
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(entry) = self.conns.get_mut(id) {
            entry.mark_dirty(id, &mut self.dirty);
        }
    }

    /// Takes a connection off the flush list and writes its queue once, through its
    /// transport; its state machine then applies backpressure and linger. A socket that
    /// fails is dropped.
    pub(crate) fn flush(&mut self, id: ConnId) {
        self.flush_lent(id, &[]);
    }

    /// [`flush`](Self::flush) for the connection just read, whose queue may hold payloads
    /// lent from the read buffer (`lent`: its [`filled`](crate::conn::io::ReadBuf::filled) bytes): what
    /// the socket does not take of them is copied, as the buffer goes to the next
    /// connection.
    pub(crate) fn flush_lent(&mut self, id: ConnId, lent: &[u8]) {
        let Some(entry) = self.conns.get_mut(id) else {
            return;
        };
        entry.dirty = false;
        let end = entry.conn.is_ending();
        let written = entry.sock.flush(&mut entry.conn.out, end, lent);
        if entry.conn.out.has_lent() {
            entry.conn.out.keep_lent(lent);
        }
        let flushed = match written {
            Ok(all_out) => {
                entry.conn.out.give_back(&mut self.spares);
                entry.conn.on_flushed(all_out, &self.config)
            }
            Err(_) => {
                // The peer is gone (reset, broken pipe); if we had sent a Close, that code
                // is what `on_close` reports.
                let owed = entry.conn.reset();
                self.owe(id, owed);
                return self.settle(id);
            }
        };
        if flushed.shutdown {
            // Best effort: a peer that already left makes this fail harmlessly.
            let _ = entry.sock.shutdown_write();
        }
        if flushed.resume {
            self.schedule(id);
        }
    }

    /// Puts the connection on the list of connections to read, once: this pass when
    /// called for a readiness event, the next pass when called while reading.
    pub(crate) fn schedule(&mut self, id: ConnId) {
        if let Some(entry) = self.conns.get_mut(id) {
            if !entry.scheduled {
                entry.scheduled = true;
                self.ready.push(id);
            }
        }
    }

    /// Takes a connection off the read list as it is read.
    pub(crate) fn take_scheduled(&mut self, id: ConnId) {
        if let Some(entry) = self.conns.get_mut(id) {
            entry.scheduled = false;
        }
    }
}

/// Registers a connection's socket with a reactor's poller, or (`token` `None`) takes it
/// off one: how a connection moves between reactors. By its descriptor, so it works under
/// TLS as on plain TCP; Unix only.
#[cfg(unix)]
fn poll_socket(
    registry: &mio::Registry,
    sock: &Transport,
    token: Option<mio::Token>,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = sock.socket().as_raw_fd();
    let fd = &mut mio::unix::SourceFd(&fd);
    match token {
        Some(token) => {
            let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
            registry.register(fd, token, interest)
        }
        None => registry.deregister(fd),
    }
}

#[cfg(not(unix))]
fn poll_socket(
    _registry: &mio::Registry,
    _sock: &Transport,
    _token: Option<mio::Token>,
) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::io::SHARE_MIN;
    use crate::slab::Key;
    use std::net::{TcpListener, TcpStream as StdStream};

    /// A core holding `n` open connections (the other ends are returned to keep them up).
    fn core_with_open(n: usize) -> (Core, Vec<ConnId>, Vec<StdStream>) {
        let poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        let (handle, _inbox) = Handle::new(vec![waker], 1);
        let mut core = Core::new(0, Config::default(), handle, None, Instant::now());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut ids, mut peers) = (Vec::new(), Vec::new());
        for _ in 0..n {
            peers.push(StdStream::connect(listener.local_addr().unwrap()).unwrap());
            let (sock, peer) = listener.accept().unwrap();
            sock.set_nonblocking(true).unwrap();
            let conn = Connection::opened(peer, core.now, &core.config);
            let sock = Transport::Plain(mio::net::TcpStream::from_std(sock));
            let entry = Entry::new(sock, conn);
            let id = core.conns.insert(entry);
            core.settle(id);
            ids.push(id);
        }
        (core, ids, peers)
    }

    #[test]
    fn publish_shares_large_payloads_instead_of_copying_them() {
        let (mut core, ids, _peers) = core_with_open(3);
        for &id in &ids {
            core.rooms.join(id, "room").unwrap();
        }
        let payload = "x".repeat(SHARE_MIN);
        let sent = core.publish_here("room", Message::text(payload), Some(ids[0]));
        assert_eq!(sent, 2);
        let front = |core: &Core, id| {
            let entry: &Entry = core.conns.get(id).unwrap();
            entry.conn.out.first_shared().unwrap().as_ptr()
        };
        assert_eq!(
            front(&core, ids[1]),
            front(&core, ids[2]),
            "both queues hold the same payload allocation"
        );
        let sender = &core.conns.get(ids[0]).unwrap().conn;
        assert_eq!(sender.out.pending(), 0, "not the sender");
        assert_eq!(core.dirty.len(), 2);
    }

    /// Writes the batch and every queue out, and reads what each peer got.
    fn written(core: &mut Core, peers: &mut [StdStream]) -> Vec<Vec<u8>> {
        use std::io::Read;
        core.write_batch();
        let mut lens = vec![];
        for id in std::mem::take(&mut core.dirty) {
            let pending = core.conns.get(id).map_or(0, |e| e.conn.out.pending());
            lens.push((id, pending));
            core.flush(id);
        }
        (peers.iter_mut().enumerate())
            .map(|(i, peer)| {
                let len = lens
                    .iter()
                    .find(|(id, _)| id.slot() as usize == i)
                    .map_or(0, |l| l.1);
                let mut got = vec![0; len];
                peer.read_exact(&mut got).unwrap();
                got
            })
            .collect()
    }

    /// Text frames as the server writes them.
    fn frames(texts: &[&str]) -> Vec<u8> {
        let mut out = vec![];
        for text in texts {
            frame::encode(&mut out, OpCode::Text, text.as_bytes());
        }
        out
    }

    #[test]
    fn publishes_in_a_row_reach_each_member_once_in_order_with_what_was_queued_between() {
        let (mut core, ids, mut peers) = core_with_open(3);
        for &id in &ids {
            core.join(id, "room").unwrap();
        }
        core.join(ids[0], "other").unwrap();
        assert_eq!(core.publish_here("room", Message::text("a"), None), 3);
        assert_eq!(core.publish_here("room", Message::text("b"), None), 3);
        let pending = |core: &Core, id| core.conns.get(id).unwrap().conn.out.pending();
        assert_eq!(pending(&core, ids[2]), 0, "batched, not queued yet");
        assert!(core.send(ids[1], Message::text("direct")).is_queued());
        assert_eq!(core.publish_here("other", Message::text("c"), None), 1);
        assert_eq!(
            core.publish_here("room", Message::text("d"), Some(ids[2])),
            2
        );
        let got = written(&mut core, &mut peers);
        assert_eq!(got[0], frames(&["a", "b", "c", "d"]));
        assert_eq!(got[1], frames(&["a", "b", "direct", "d"]));
        assert_eq!(got[2], frames(&["a", "b"]));
    }

    #[test]
    fn joining_leaving_and_closing_take_effect_after_what_was_published_before() {
        let (mut core, ids, mut peers) = core_with_open(4);
        for &id in &ids[..3] {
            core.join(id, "room").unwrap();
        }
        core.publish_here("room", Message::text("a"), None);
        core.join(ids[3], "room").unwrap();
        assert!(core.leave(ids[0], "room"));
        let normal = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        assert!(core.close(ids[1], normal, Cause::ServerClosed));
        assert_eq!(core.publish_here("room", Message::text("b"), None), 3);
        let got = written(&mut core, &mut peers);
        assert_eq!(got[0], frames(&["a"]), "left after a");
        assert_eq!(&got[1][..3], &frames(&["a"])[..], "a before the Close");
        assert_eq!(got[1][3], 0x88, "then the Close frame, and not b");
        assert_eq!(got[2], frames(&["a", "b"]));
        assert_eq!(got[3], frames(&["b"]), "joined after a");
    }

    #[test]
    fn the_connection_being_read_gets_its_copy_at_once_and_only_once() {
        let (mut core, ids, mut peers) = core_with_open(2);
        for &id in &ids {
            core.join(id, "room").unwrap();
        }
        core.reading = Some(ids[0]);
        assert_eq!(core.publish_here("room", Message::text("a"), None), 2);
        let pending = |core: &Core, id| core.conns.get(id).unwrap().conn.out.pending();
        assert_eq!(
            pending(&core, ids[0]),
            3,
            "queued at once (a Pong may follow)"
        );
        assert_eq!(pending(&core, ids[1]), 0);
        core.reading = None;
        let got = written(&mut core, &mut peers);
        assert_eq!(got, [frames(&["a"]), frames(&["a"])]);
    }

    #[test]
    fn a_batch_that_does_not_fit_is_queued_frame_by_frame_as_if_published_apart() {
        let (mut core, ids, mut peers) = core_with_open(2);
        core.config.max_backpressure = 100;
        core.config.backpressure_policy = crate::config::BackpressurePolicy::Drop;
        for &id in &ids {
            core.join(id, "room").unwrap();
        }
        assert!(core
            .send(ids[1], Message::binary(vec![7u8; 58]))
            .is_queued());
        let thirty = ["x".repeat(30), "y".repeat(30), "z".repeat(30)];
        for text in &thirty {
            core.publish_here("room", Message::text(text.as_str()), None);
        }
        let got = written(&mut core, &mut peers);
        let all: Vec<&str> = thirty.iter().map(String::as_str).collect();
        assert_eq!(got[0], frames(&all), "96 bytes fit on an empty queue");
        assert_eq!(
            &got[1][60..],
            &frames(&all[..1])[..],
            "60 + 32 fit, 60 + 64 do not"
        );
        assert!(core.conns.get(ids[1]).unwrap().conn.is_open());
    }

    #[test]
    fn over_the_hard_limit_a_send_fails_the_connection_with_1008() {
        let (mut core, ids, _peers) = core_with_open(1);
        core.config.max_backpressure = 10_000;
        let chunk = Message::binary(vec![0u8; 4_000]);
        core.config.backpressure_soft_limit = 5_000;
        assert_eq!(core.send(ids[0], chunk.clone()), SendStatus::Queued);
        assert_eq!(
            core.send(ids[0], chunk.clone()),
            SendStatus::Backpressure,
            "queued, over the soft limit"
        );
        assert_eq!(
            core.send(ids[0], chunk.clone()),
            SendStatus::Dropped,
            "the third would pass 10,000 bytes"
        );
        assert_eq!(core.send(ids[0], chunk), SendStatus::Closed, "closing");
        let (_, _, why) = core.closed.pop().expect("on_close owed");
        assert_eq!(
            (why.code, why.cause),
            (CloseCode::Policy, Cause::Backpressure)
        );
    }

    #[test]
    fn over_the_hard_limit_with_the_drop_policy_only_the_message_is_dropped() {
        let (mut core, ids, _peers) = core_with_open(1);
        core.config.max_backpressure = 10_000;
        core.config.backpressure_soft_limit = 5_000;
        core.config.backpressure_policy = crate::config::BackpressurePolicy::Drop;
        let chunk = Message::binary(vec![0u8; 4_000]);
        assert!(core.send(ids[0], chunk.clone()).is_queued());
        assert!(core.send(ids[0], chunk.clone()).is_queued());
        assert_eq!(core.send(ids[0], chunk), SendStatus::Dropped);
        assert!(core.closed.is_empty(), "no on_close: the connection stays");
        assert_eq!(
            core.send(ids[0], Message::text("small")),
            SendStatus::Backpressure
        );
        let entry = core.conns.get(ids[0]).unwrap();
        assert!(entry.conn.is_open() && entry.conn.out.pending() < 10_000);
    }

    #[test]
    fn churn_cannot_grow_the_timer_heaps_without_bound() {
        let (mut core, ids, _peers) = core_with_open(1);
        let t0 = core.now;
        // 5,000 connections that came and went left their entries behind
        for slot in 1..5_000 {
            let gone = ConnId::from_parts(slot, 0);
            core.timers.schedule(t0 + Duration::from_secs(60), gone);
        }
        core.prune_timers();
        assert_eq!(
            core.timers.len(),
            1,
            "only the live connection's entry is left"
        );
        let due = core.timers.pop_expired(t0 + IDLE_DEFAULT);
        assert_eq!(due.map(|(_, id)| id), Some(ids[0]));
        // and so did 5,000 handler timers set and cancelled
        let keep = core.set_timer(Duration::from_secs(1));
        for _ in 0..5_000 {
            let timer = core.set_timer(Duration::from_secs(60));
            assert!(core.cancel_timer(timer));
        }
        core.prune_timers();
        assert_eq!(core.user_timers.len(), 1);
        core.now += Duration::from_secs(61);
        assert_eq!(core.pop_timer(), Some(keep));
        assert_eq!(core.pop_timer(), None);
    }

    const IDLE_DEFAULT: Duration = Duration::from_secs(120);
}
