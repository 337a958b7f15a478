//! [`IoHandle`]: the Socket.IO server from any thread (a background job, an HTTP route of
//! another server, a worker's reply): the reference's `io.of(nsp).to(room).emit(..)`.
//!
//! Operations go through a bounded queue of the endpoint's own; the reactor is woken with
//! a notification (once per drain, as the [`Handle`] does) and runs them through the
//! adapter, like the same operations made in a callback. Nothing here blocks; answers
//! (`fetch_sockets`, acknowledgements) come back on a channel the caller may wait on.
//!
//! On a server with several reactors every reactor has an endpoint and a queue: an
//! operation goes into all of them (all or none), and the answers meet (`peers.rs`).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use log::{debug, warn};

use super::adapter::{
    queried, BroadcastAckError, Operation, QueryResult, RequestError, Selection, SocketInfo,
};
use super::engine::Engine;
use super::namespace::{Client, Sio};
use super::payload::Payload;
use super::peers::{Answer, Gather, Part, Peers, WaitKey};
use super::socket::{check_event, EmitError};
use crate::queue::{Queue, Taker, Ticket};
use crate::{Handle, SendError};

/// Operations an [`IoHandle`] may have waiting for the reactor; past it, calls answer
/// [`SendError::Full`].
const QUEUE: usize = 1024;

/// The answer to an [`Operator::emit_with_ack`]: every answer, or the error and the
/// answers that came.
pub type AckReply = Receiver<Result<Vec<Payload>, BroadcastAckError>>;

/// The answer to an [`Operator::server_side_emit_with_ack`]: every other node's answer,
/// or the error and the answers that came.
#[cfg(feature = "redis")]
pub type ServerSideReply = Receiver<Result<Vec<serde_json::Value>, super::ServerSideEmitError>>;

/// A cheap, cloneable, thread-safe way to act on the sockets of a running
/// [`SocketIo`](super::SocketIo): its namespaces, rooms and sockets, with Socket.IO's
/// verbs. Made with [`SocketIo::handle`](super::SocketIo::handle), before or after the
/// server starts (operations made before it wait for it).
///
/// Every call queues an operation and returns at once: `Ok` means accepted for delivery,
/// as for the [`Handle`]; [`EmitError::Queue`] with [`SendError::Full`] when the reactor
/// is behind by 1,024 operations, [`SendError::Stopped`] once the server has stopped.
/// Operations run on the reactor's thread in the order they were queued. Never wait on an
/// answer ([`Operator::fetch_sockets`], [`Operator::emit_with_ack`]: `recv`) in a callback,
/// which runs on that same thread: the answer would come after the callback returns, so
/// the wait never ends; there, [`Socket::nsp`](super::Socket::nsp) answers at once.
///
/// The plain [`Handle`] cannot write into Socket.IO's connections (raw frames would break
/// the protocol): its `send`, `close` and `broadcast` skip them.
///
/// With several reactors, the handle of any reactor's [`SocketIo`](super::SocketIo)
/// reaches the sockets of all: each operation goes into every reactor's queue, all or none
/// ([`SendError::Full`] if one is full), and answers gather every reactor's part.
///
/// ```no_run
/// use std::time::Duration;
/// use wsreactor::socketio::{Options, SocketIo};
///
/// # fn main() -> std::io::Result<()> {
/// let mut io = SocketIo::new(Options::default());
/// io.of("/").on_connection(|socket| {
///     socket.join("ticks").ok();
/// });
/// let handle = io.handle();
/// std::thread::spawn(move || loop {
///     std::thread::sleep(Duration::from_secs(1));
///     // setInterval(() => io.to("ticks").emit("tick", Date.now()), 1000)
///     if handle.of("/").to("ticks").emit("tick", "now").is_err() {
///         break; // server stopped (or far behind)
///     }
/// });
/// wsreactor::Server::bind("127.0.0.1:3000")?.run(io)
/// # }
/// ```
#[derive(Clone)]
pub struct IoHandle {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Arc<Queue<Queued>>,
    /// Set once its endpoint's reactor starts; until then operations wait in the queue.
    started: OnceLock<Started>,
    /// Set by the first sender after a drain; cleared by the reactor before draining.
    notified: AtomicBool,
    /// The cluster broadcasts made through this handle are published to.
    #[cfg(feature = "redis")]
    redis: OnceLock<super::RedisAdapter>,
}

/// What an endpoint's handle knows once its reactor runs.
struct Started {
    handle: Handle,
    reactor: usize,
    /// With several reactors: every reactor's endpoint of this path.
    peers: Option<Arc<Peers>>,
}

impl fmt::Debug for IoHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoHandle").finish_non_exhaustive()
    }
}

/// An operation for an endpoint: on the sockets of namespace `nsp` that `sel` names.
pub(crate) struct Queued {
    nsp: String,
    sel: Selection,
    op: Remote,
    /// Made by an `IoHandle` before the server started: the endpoint also passes it to
    /// the other reactors' endpoints when it runs it.
    everywhere: bool,
}

impl Queued {
    /// An operation for this endpoint's sockets only.
    pub(crate) fn here(nsp: &str, sel: &Selection, op: Remote) -> Self {
        Queued {
            nsp: nsp.to_owned(),
            sel: sel.clone(),
            op,
            everywhere: false,
        }
    }
}

/// What to do; answers go to a [`Gather`] shared by every reactor the operation went to.
#[derive(Clone)]
pub(crate) enum Remote {
    Emit(String, Payload),
    EmitWithAck(String, Payload, Duration, Arc<Gather>),
    Fetch(Arc<Gather>),
    Join(Vec<String>),
    Leave(Vec<String>),
    Disconnect(bool),
    /// Another node's server-side event, for this endpoint's listeners.
    #[cfg(feature = "redis")]
    ServerSide(String, Payload, Option<super::ServerSideAck>),
    /// Arms the timer of this node's request `token` to the other nodes.
    #[cfg(feature = "redis")]
    ClusterTimer(u64, Duration),
    /// The whole answer to an operation a callback of this reactor made.
    Part(WaitKey, Arc<PartCell>),
}

/// The rooms of [`IoHandle::all_rooms`], from this node's reactors and the other nodes:
/// the names so far, why some node's are missing, and the parts still to come.
struct RoomsAnswer {
    state: Mutex<(BTreeSet<String>, Option<RequestError>, usize)>,
    tx: std::sync::mpsc::SyncSender<QueryResult<String>>,
}

impl RoomsAnswer {
    fn add(&self, rooms: impl Iterator<Item = String>, failed: Option<RequestError>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0.extend(rooms);
        state.1 = state.1.or(failed);
        state.2 -= 1;
        if state.2 == 0 {
            let rooms = std::mem::take(&mut state.0).into_iter().collect();
            // A caller that stopped waiting dropped its end: nobody to tell.
            let _ = self.tx.send(queried(rooms, state.1));
        }
    }
}

/// A part handed over once (a [`Remote`] is cloned for each reactor; a part goes to one).
pub(crate) struct PartCell(std::sync::Mutex<Option<Part>>);

impl PartCell {
    pub(crate) fn new(part: Part) -> Arc<Self> {
        Arc::new(PartCell(std::sync::Mutex::new(Some(part))))
    }

    fn take(&self) -> Option<Part> {
        (self.0.lock())
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl IoHandle {
    /// A handle and the endpoint's end of its queue.
    pub(crate) fn new() -> (IoHandle, Inbox) {
        let (queue, taker) = Queue::new(QUEUE);
        let shared = Arc::new(Shared {
            queue,
            started: OnceLock::new(),
            notified: AtomicBool::new(false),
            #[cfg(feature = "redis")]
            redis: OnceLock::new(),
        });
        let inbox = Inbox {
            taker,
            shared: Arc::clone(&shared),
        };
        (IoHandle { shared }, inbox)
    }

    /// Every socket of the namespace `nsp` (`/` is the main one); narrow with
    /// [`Operator::to`] and [`Operator::except`]. A namespace that does not exist has no
    /// sockets: operations on it do nothing.
    pub fn of(&self, nsp: &str) -> Operator {
        Operator {
            io: self.clone(),
            nsp: nsp.to_owned(),
            sel: Selection::default(),
        }
    }

    /// The members of `room` in the main namespace (`io.to(room)`).
    pub fn to(&self, room: &str) -> Operator {
        self.of("/").to(room)
    }

    /// One socket of a namespace, by id (its own room): `emit`, `emit_with_ack`, join,
    /// leave, disconnect it.
    pub fn socket(&self, nsp: &str, id: &str) -> Operator {
        self.of(nsp).to(id)
    }

    /// Sends an event to every socket of the main namespace (`io.emit`).
    ///
    /// # Errors
    /// As [`Operator::emit`].
    pub fn emit(&self, event: &str, payload: impl Into<Payload>) -> Result<(), EmitError> {
        self.of("/").emit(event, payload)
    }

    /// Queues an operation (made by `make` for each reactor) on every reactor's endpoint,
    /// or on none; answers to a [`Gather`] are expected from as many as took it.
    pub(crate) fn push(
        &self,
        nsp: &str,
        sel: &Selection,
        make: impl FnMut() -> Remote,
        gather: Option<&Gather>,
    ) -> Result<(), SendError> {
        if let Some(Started {
            peers: Some(peers), ..
        }) = self.shared.started.get()
        {
            let sent = peers.send(None, nsp, sel, make)?;
            if let Some(gather) = gather {
                gather.expect(sent, true);
            }
            return if sent == 0 {
                Err(SendError::Stopped)
            } else {
                Ok(())
            };
        }
        // One reactor, or not started yet: this endpoint passes it on when it runs it.
        let mut make = make;
        let op = Queued {
            everywhere: true,
            ..Queued::here(nsp, sel, make())
        };
        self.shared.queue.push(op).map_err(|(e, _)| e)?;
        if let Some(gather) = gather {
            gather.expect(1, false);
        }
        self.notify();
        Ok(())
    }

    /// The rooms of namespace `nsp` that have members, on every reactor and, in a
    /// cluster, every node (the reference's `io.of(nsp).adapter.allRooms()`), sorted, on
    /// the returned channel. A socket's own room (its id) is one of them. If some node has
    /// not answered by `RedisOptions::requests_timeout` (feature `redis`), a
    /// [`QueryError`](super::QueryError) with the rooms of this node and of the nodes
    /// that answered.
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn all_rooms(&self, nsp: &str) -> Result<Receiver<QueryResult<String>>, SendError> {
        let (tx, rx) = mpsc::sync_channel(1);
        #[cfg(feature = "redis")]
        let cluster = self.redis().cloned();
        #[cfg(feature = "redis")]
        let parts = 1 + usize::from(cluster.is_some());
        #[cfg(not(feature = "redis"))]
        let parts = 1;
        let rooms = Arc::new(RoomsAnswer {
            state: Mutex::new((BTreeSet::new(), None, parts)),
            tx,
        });
        let here = Arc::clone(&rooms);
        let gather = Gather::new(Answer::Then(Box::new(move |part| {
            let sockets = match part {
                Some(Part::Sockets(sockets, _)) => sockets,
                _ => Vec::new(),
            };
            here.add(sockets.iter().flat_map(|s| s.rooms().iter().cloned()), None);
        })));
        let fetch = || Remote::Fetch(gather.clone());
        self.push(nsp, &Selection::default(), fetch, Some(&gather))?;
        #[cfg(feature = "redis")]
        if let Some(redis) = cluster {
            let token = redis.all_rooms(nsp, move |names, failed| {
                rooms.add(names.into_iter(), failed);
            });
            redis.arm(token, redis.requests_timeout());
        }
        Ok(rx)
    }

    /// Broadcasts made through this handle (and its clones) are published to `redis`.
    #[cfg(feature = "redis")]
    pub(crate) fn join_cluster(&self, redis: &super::RedisAdapter) {
        let _ = self.shared.redis.set(redis.clone());
    }

    #[cfg(feature = "redis")]
    pub(crate) fn redis(&self) -> Option<&super::RedisAdapter> {
        self.shared.redis.get()
    }

    /// Delivers another node's broadcast to this server's sockets (every reactor's), not
    /// published again.
    #[cfg(feature = "redis")]
    pub(crate) fn emit_from_cluster(
        &self,
        nsp: &str,
        sel: &Selection,
        event: &str,
        payload: &Payload,
    ) -> Result<(), SendError> {
        let op = || Remote::Emit(event.to_owned(), payload.clone());
        self.push(nsp, sel, op, None)
    }

    /// Runs another node's server-side event on this endpoint's listeners (one reactor's:
    /// the reference runs them once per node).
    #[cfg(feature = "redis")]
    pub(crate) fn server_side(
        &self,
        nsp: &str,
        event: String,
        payload: Payload,
        ack: Option<super::ServerSideAck>,
    ) -> Result<(), SendError> {
        self.here(nsp, Remote::ServerSide(event, payload, ack))
    }

    /// Arms, on this endpoint's reactor, the timer of this node's request `token` to the
    /// other nodes.
    #[cfg(feature = "redis")]
    pub(crate) fn cluster_timer(&self, token: u64, timeout: Duration) -> Result<(), SendError> {
        self.here("/", Remote::ClusterTimer(token, timeout))
    }

    /// Queues an operation for this endpoint only.
    #[cfg(feature = "redis")]
    fn here(&self, nsp: &str, op: Remote) -> Result<(), SendError> {
        let queued = Queued::here(nsp, &Selection::default(), op);
        self.shared.queue.push(queued).map_err(|(e, _)| e)?;
        self.notify();
        Ok(())
    }

    /// Wakes this endpoint's reactor to run its queue (once per drain).
    fn notify(&self) {
        if self.shared.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        // Before the server starts nobody is notified: `on_start` drains the queue.
        let Some(started) = self.shared.started.get() else {
            return;
        };
        if started.handle.notify_one(started.reactor).is_err() {
            // Its command queue is full: the next operation notifies it again.
            self.shared.notified.store(false, Ordering::Release);
        }
    }

    /// Takes a place in this endpoint's queue (see [`Peers::send`]).
    pub(crate) fn reserve(&self) -> bool {
        self.shared.queue.try_reserve()
    }

    pub(crate) fn unreserve(&self) {
        self.shared.queue.unreserve();
    }

    /// Queues an operation in a place taken with `reserve`; `false` if the endpoint's
    /// reactor has stopped.
    pub(crate) fn send_reserved(&self, op: Queued) -> bool {
        let sent = self.shared.queue.send_reserved(op).is_ok();
        if sent {
            self.notify();
        }
        sent
    }

    /// A place held in this endpoint's queue, for an answer that comes later.
    pub(crate) fn ticket(&self) -> Option<Ticket<Queued>> {
        self.shared.queue.ticket()
    }

    /// Queues an operation in a place held with `ticket`.
    pub(crate) fn deliver(&self, place: Ticket<Queued>, op: Queued) {
        if place.send(op).is_ok() {
            self.notify();
        }
    }
}

/// An operation being built on some sockets of a namespace, from any thread: the
/// cross-thread twin of [`Broadcast`](super::Broadcast), with the same selection rules.
#[derive(Debug, Clone)]
pub struct Operator {
    io: IoHandle,
    nsp: String,
    sel: Selection,
}

impl Operator {
    /// Narrows to the members of `room` (several calls: members of any of them).
    pub fn to(mut self, room: &str) -> Self {
        self.sel.rooms.push(room.to_owned());
        self
    }

    /// Leaves out the members of `room`.
    pub fn except(mut self, room: &str) -> Self {
        self.sel.except.push(room.to_owned());
        self
    }

    /// Drops the event for sockets that cannot take it now; see
    /// [`Broadcast::volatile`](super::Broadcast::volatile).
    pub fn volatile(mut self) -> Self {
        self.sel.volatile = true;
        self
    }

    /// Sends an event to the selected sockets.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself;
    /// [`EmitError::Queue`] if the operation was not accepted (queue full, server stopped).
    pub fn emit(self, event: &str, payload: impl Into<Payload>) -> Result<(), EmitError> {
        check_event(event)?;
        let payload = payload.into();
        // Encoded now (the payload moves into the operation), published once accepted.
        #[cfg(feature = "redis")]
        let cluster = (self.io.redis().cloned())
            .map(|redis| (redis.encode(&self.nsp, &self.sel, event, &payload), redis));
        let op = Remote::Emit(event.to_owned(), payload);
        self.queue(op, None).map_err(EmitError::Queue)?;
        #[cfg(feature = "redis")]
        if let Some((msg, redis)) = cluster {
            redis.publish(msg);
        }
        Ok(())
    }

    /// Sends an event and collects every recipient's acknowledgement, as
    /// [`Broadcast::emit_with_ack`](super::Broadcast::emit_with_ack) does; the result
    /// arrives on the returned channel (`recv`, `recv_timeout` or `try_recv` it; it is
    /// disconnected without a value if the server stops first).
    ///
    /// # Errors
    /// As [`emit`](Self::emit).
    pub fn emit_with_ack(
        self,
        event: &str,
        payload: impl Into<Payload>,
        timeout: Duration,
    ) -> Result<AckReply, EmitError> {
        check_event(event)?;
        let (tx, rx) = mpsc::sync_channel(1);
        let gather = Gather::new(Answer::Acks(tx));
        let payload = payload.into();
        #[cfg(feature = "redis")]
        let cluster = self.cluster_part(&gather);
        let op = Remote::EmitWithAck(event.to_owned(), payload.clone(), timeout, gather.clone());
        self.clone()
            .queue(op, Some(&gather))
            .map_err(EmitError::Queue)?;
        #[cfg(feature = "redis")]
        if let Some(redis) = cluster {
            let what = (event, &payload);
            let token =
                redis.broadcast_with_ack(&self.nsp, &self.sel, what, timeout, move |acks| {
                    gather.add(Part::Acks(acks));
                });
            redis.arm(token, timeout);
        }
        Ok(rx)
    }

    /// The selected sockets, as [`Broadcast::fetch_sockets`](super::Broadcast::fetch_sockets)
    /// reports them, on the returned channel: every reactor's and, in a cluster, every
    /// node's; if some node has not answered by `RedisOptions::requests_timeout` (feature
    /// `redis`), a [`QueryError`](super::QueryError) with the sockets that came.
    ///
    /// ```no_run
    /// # let io = wsreactor::socketio::SocketIo::new(Default::default());
    /// # let handle = io.handle();
    /// let online = match handle.of("/").fetch_sockets()?.recv() {
    ///     Ok(Ok(sockets)) => sockets,
    ///     Ok(Err(partial)) => partial.found, // a node of the cluster did not answer
    ///     Err(_) => Vec::new(),              // the server stopped
    /// };
    /// println!("{} online", online.len());
    /// # Ok::<(), wsreactor::SendError>(())
    /// ```
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn fetch_sockets(self) -> Result<Receiver<QueryResult<SocketInfo>>, SendError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let gather = Gather::new(Answer::Sockets(tx));
        #[cfg(feature = "redis")]
        let cluster = self.cluster_part(&gather);
        self.clone()
            .queue(Remote::Fetch(gather.clone()), Some(&gather))?;
        #[cfg(feature = "redis")]
        if let Some(redis) = cluster {
            let token = redis.fetch(&self.nsp, &self.sel, move |sockets, failed| {
                gather.add(Part::Sockets(sockets, failed));
            });
            redis.arm(token, redis.requests_timeout());
        }
        Ok(rx)
    }

    /// Makes the selected sockets join `rooms`.
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn sockets_join(self, rooms: &[&str]) -> Result<(), SendError> {
        let rooms = rooms.iter().map(|&r| r.to_owned()).collect();
        self.everywhere(Remote::Join(rooms))
    }

    /// Makes the selected sockets leave `rooms`.
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn sockets_leave(self, rooms: &[&str]) -> Result<(), SendError> {
        let rooms = rooms.iter().map(|&r| r.to_owned()).collect();
        self.everywhere(Remote::Leave(rooms))
    }

    /// Disconnects the selected sockets; with `close`, their whole connections.
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn disconnect_sockets(self, close: bool) -> Result<(), SendError> {
        self.everywhere(Remote::Disconnect(close))
    }

    /// Sends an event to the other nodes of the cluster, for their listeners
    /// ([`Namespace::on_server_side`](super::Namespace::on_server_side); the reference's
    /// `io.of(nsp).serverSideEmit(event, ...args)`). Not to this node's (nor to any
    /// socket); the rooms of this operator do not apply. Arguments cross Redis as JSON: a
    /// binary one arrives as Node's `JSON.stringify` writes a `Buffer`. Without a
    /// [`RedisAdapter`](super::RedisAdapter) there are no other nodes: nothing happens.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself (the reference
    /// refuses those here too).
    #[cfg(feature = "redis")]
    pub fn server_side_emit(
        self,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), EmitError> {
        check_event(event)?;
        if let Some(redis) = self.io.redis() {
            redis.server_side_emit(&self.nsp, event, &payload.into());
        }
        Ok(())
    }

    /// As [`server_side_emit`](Self::server_side_emit), and collects each other node's
    /// answer (its listener's [`ServerSideAck`](super::ServerSideAck); the reference's
    /// `serverSideEmit(event, ...args, (err, responses) => ..)`) on the returned channel:
    /// every node's, or, after
    /// [`RedisOptions::requests_timeout`](super::RedisOptions::requests_timeout) (reactor
    /// time), a [`ServerSideEmitError`](super::ServerSideEmitError) with those that came.
    /// With no other node, no answer, at once. Do not wait on it in a callback: the timer
    /// runs on the reactor's thread.
    ///
    /// # Errors
    /// As [`server_side_emit`](Self::server_side_emit).
    #[cfg(feature = "redis")]
    pub fn server_side_emit_with_ack(
        self,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<super::ServerSideReply, EmitError> {
        check_event(event)?;
        let (tx, rx) = mpsc::sync_channel(1);
        match self.io.redis() {
            Some(redis) => {
                let send = move |replies| drop(tx.send(replies));
                let token =
                    redis.server_side_emit_with_ack(&self.nsp, event, &payload.into(), send);
                redis.arm(token, redis.requests_timeout());
            }
            None => drop(tx.send(Ok(Vec::new()))),
        }
        Ok(rx)
    }

    /// Runs a join, leave or disconnection here and asks the other nodes to run it.
    fn everywhere(self, op: Remote) -> Result<(), SendError> {
        self.io.push(&self.nsp, &self.sel, || op.clone(), None)?;
        #[cfg(feature = "redis")]
        if let Some(redis) = self.io.redis() {
            redis.on_sockets(&self.nsp, &self.sel, &op);
        }
        Ok(())
    }

    /// With a cluster, one more part of `gather`'s answer is to come: the other nodes'.
    #[cfg(feature = "redis")]
    fn cluster_part(&self, gather: &Gather) -> Option<super::RedisAdapter> {
        let redis = self.io.redis()?.clone();
        gather.expect(1, false);
        Some(redis)
    }

    fn queue(self, op: Remote, gather: Option<&Gather>) -> Result<(), SendError> {
        self.io.push(&self.nsp, &self.sel, || op.clone(), gather)
    }
}

/// The endpoint's end of the queue.
pub(crate) struct Inbox {
    taker: Taker<Queued>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl Inbox {
    /// The server started, this endpoint on reactor `reactor` (with `peers`, the other
    /// reactors' endpoints): from now on senders wake it.
    pub(crate) fn start(&self, handle: &Handle, reactor: usize, peers: Option<Arc<Peers>>) {
        if let Some(peers) = &peers {
            peers.join(reactor, self.handle());
        }
        let handle = handle.clone();
        let _ = self.shared.started.set(Started {
            handle,
            reactor,
            peers,
        });
        // Operations queued before the start have notified nobody.
        if self.shared.notified.swap(false, Ordering::AcqRel) {
            IoHandle {
                shared: Arc::clone(&self.shared),
            }
            .notify();
        }
    }

    /// A handle for this inbox.
    pub(crate) fn handle(&self) -> IoHandle {
        IoHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// With several reactors, the others' endpoints and this one's reactor.
    pub(crate) fn peers(&self) -> Option<(&Arc<Peers>, usize)> {
        let started = self.shared.started.get()?;
        Some((started.peers.as_ref()?, started.reactor))
    }

    /// Runs what is queued, up to one queue's worth per pass (more: another pass).
    pub(crate) fn run(&self, sio: &mut Sio, eng: &mut Engine<Client>) {
        // Cleared first: an operation queued during the drain is taken now or notifies.
        self.shared.notified.store(false, Ordering::Release);
        let mut ran = 0;
        for queued in self.taker.take(QUEUE) {
            ran += 1;
            if queued.everywhere {
                self.pass_on(&queued);
            }
            run_one(sio, eng, queued);
        }
        if ran == QUEUE {
            self.handle().notify();
        }
    }

    /// Passes an operation made before the server started to the other reactors'
    /// endpoints. It was accepted for all of them then; one whose queue is full now misses
    /// it (logged).
    fn pass_on(&self, queued: &Queued) {
        let gather = match &queued.op {
            Remote::EmitWithAck(.., gather) | Remote::Fetch(gather) => Some(gather),
            _ => None,
        };
        let sent = match self.peers() {
            Some((peers, me)) => {
                let (nsp, sel) = (&queued.nsp, &queued.sel);
                match peers.send(Some(me), nsp, sel, || queued.op.clone()) {
                    Ok(sent) => sent,
                    Err(e) => {
                        warn!("an operation queued before the start reached one reactor: {e}");
                        0
                    }
                }
            }
            None => 0,
        };
        if let Some(gather) = gather {
            gather.expect(sent, true);
        }
    }
}

fn run_one(sio: &mut Sio, eng: &mut Engine<Client>, queued: Queued) {
    let Queued { nsp, sel, op, .. } = queued;
    if let Remote::Part(key, part) = op {
        if let Some(part) = part.take() {
            sio.answered(eng, key, part);
        }
        return;
    }
    #[cfg(feature = "redis")]
    if let Remote::ClusterTimer(token, timeout) = op {
        return eng.set_app_timer(timeout, token);
    }
    let Some(ns) = sio.namespaces.iter().position(|n| n.name == nsp) else {
        debug!("operation on namespace {nsp:?}, which does not exist");
        // Whoever waits for an answer gets this reactor's empty one.
        match op {
            Remote::EmitWithAck(.., gather) => gather.add(Part::Acks(Ok(Vec::new()))),
            Remote::Fetch(gather) => gather.add(Part::Sockets(Vec::new(), None)),
            _ => {}
        }
        return;
    };
    let op = match op {
        Remote::Emit(event, payload) => Operation::Emit {
            event,
            payload,
            ack: None,
        },
        Remote::EmitWithAck(event, payload, timeout, gather) => Operation::Emit {
            event,
            payload,
            ack: Some((timeout, Box::new(move |acks| gather.add(Part::Acks(acks))))),
        },
        Remote::Fetch(gather) => {
            let sockets = sio.apply(eng, ns, &sel, Operation::Fetch).sockets();
            gather.add(Part::Sockets(sockets, None));
            return;
        }
        Remote::Join(rooms) => Operation::Join(rooms),
        Remote::Leave(rooms) => Operation::Leave(rooms),
        Remote::Disconnect(close) => Operation::Disconnect { close },
        #[cfg(feature = "redis")]
        Remote::ServerSide(event, payload, ack) => {
            return sio.server_side_event(ns, &event, &payload, ack.as_ref());
        }
        #[cfg(feature = "redis")]
        Remote::ClusterTimer(..) => return,
        Remote::Part(..) => return,
    };
    sio.apply(eng, ns, &sel, op);
}
