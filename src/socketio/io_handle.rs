//! [`IoHandle`]: the Socket.IO server from any thread (a background job, an HTTP route of
//! another server, a worker's reply): the reference's `io.of(nsp).to(room).emit(..)`.
//!
//! Operations go through a bounded queue of the endpoint's own; the reactor is woken with
//! [`Handle::notify`] (once per drain, as the [`Handle`] does) and runs them through the
//! adapter, like the same operations made in a callback. Nothing here blocks; answers
//! (`fetch_sockets`, acknowledgements) come back on a channel the caller may wait on.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use log::debug;

use super::adapter::{BroadcastAckError, Operation, Selection, SocketInfo};
use super::engine::Engine;
use super::namespace::{Client, Sio};
use super::payload::Payload;
use super::socket::{check_event, EmitError};
use crate::{Handle, SendError};

/// Operations an [`IoHandle`] may have waiting for the reactor; past it, calls answer
/// [`SendError::Full`].
const QUEUE: usize = 1024;

/// The answer to an [`Operator::emit_with_ack`]: every answer, or the error and the
/// answers that came.
pub type AckReply = Receiver<Result<Vec<Payload>, BroadcastAckError>>;

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
    tx: SyncSender<Queued>,
    /// Set once the server starts; until then operations wait in the queue.
    handle: OnceLock<Handle>,
    /// Set by the first sender after a drain; cleared by the reactor before draining.
    notified: AtomicBool,
}

impl fmt::Debug for IoHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoHandle").finish_non_exhaustive()
    }
}

/// An operation from another thread, with where its answer goes.
struct Queued {
    nsp: String,
    sel: Selection,
    op: Remote,
}

enum Remote {
    Emit(String, Payload),
    EmitWithAck(
        String,
        Payload,
        Duration,
        SyncSender<Result<Vec<Payload>, BroadcastAckError>>,
    ),
    Fetch(SyncSender<Vec<SocketInfo>>),
    Join(Vec<String>),
    Leave(Vec<String>),
    Disconnect(bool),
}

impl IoHandle {
    /// A handle and the endpoint's end of its queue.
    pub(crate) fn new() -> (IoHandle, Inbox) {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let shared = Arc::new(Shared {
            tx,
            handle: OnceLock::new(),
            notified: AtomicBool::new(false),
        });
        let inbox = Inbox {
            rx,
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

    fn push(&self, op: Queued) -> Result<(), SendError> {
        self.shared.tx.try_send(op).map_err(|e| match e {
            TrySendError::Full(_) => SendError::Full,
            TrySendError::Disconnected(_) => SendError::Stopped,
        })?;
        if !self.shared.notified.swap(true, Ordering::AcqRel) {
            // Before the server starts nobody is notified: `on_start` drains the queue.
            if let Some(handle) = self.shared.handle.get() {
                handle.notify()?;
            }
        }
        Ok(())
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
        let op = Remote::Emit(event.to_owned(), payload.into());
        self.queue(op).map_err(EmitError::Queue)
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
        let op = Remote::EmitWithAck(event.to_owned(), payload.into(), timeout, tx);
        self.queue(op).map_err(EmitError::Queue)?;
        Ok(rx)
    }

    /// The selected sockets, as [`Broadcast::fetch_sockets`](super::Broadcast::fetch_sockets)
    /// reports them, on the returned channel.
    ///
    /// ```no_run
    /// # let io = wsreactor::socketio::SocketIo::new(Default::default());
    /// # let handle = io.handle();
    /// let online = handle.of("/").fetch_sockets()?.recv().unwrap_or_default();
    /// println!("{} online", online.len());
    /// # Ok::<(), wsreactor::SendError>(())
    /// ```
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn fetch_sockets(self) -> Result<Receiver<Vec<SocketInfo>>, SendError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.queue(Remote::Fetch(tx))?;
        Ok(rx)
    }

    /// Makes the selected sockets join `rooms`.
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn sockets_join(self, rooms: &[&str]) -> Result<(), SendError> {
        let rooms = rooms.iter().map(|&r| r.to_owned()).collect();
        self.queue(Remote::Join(rooms))
    }

    /// Makes the selected sockets leave `rooms`.
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn sockets_leave(self, rooms: &[&str]) -> Result<(), SendError> {
        let rooms = rooms.iter().map(|&r| r.to_owned()).collect();
        self.queue(Remote::Leave(rooms))
    }

    /// Disconnects the selected sockets; with `close`, their whole connections.
    ///
    /// # Errors
    /// The operation was not accepted (queue full, server stopped).
    pub fn disconnect_sockets(self, close: bool) -> Result<(), SendError> {
        self.queue(Remote::Disconnect(close))
    }

    fn queue(self, op: Remote) -> Result<(), SendError> {
        let (io, nsp, sel) = (self.io, self.nsp, self.sel);
        io.push(Queued { nsp, sel, op })
    }
}

/// The endpoint's end of the queue.
pub(crate) struct Inbox {
    rx: Receiver<Queued>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl Inbox {
    /// The server started: from now on senders wake it.
    pub(crate) fn start(&self, handle: &Handle) {
        let _ = self.shared.handle.set(handle.clone());
        // Operations queued before the start have notified nobody.
        if self.shared.notified.load(Ordering::Acquire) {
            let _ = handle.notify();
        }
    }

    /// A handle for this inbox.
    pub(crate) fn handle(&self) -> IoHandle {
        IoHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs what is queued, up to one queue's worth per pass (more: another pass).
    pub(crate) fn run(&self, sio: &mut Sio, eng: &mut Engine<Client>) {
        // Cleared first: an operation queued during the drain is taken now or notifies.
        self.shared.notified.store(false, Ordering::Release);
        let mut ran = 0;
        for queued in self.rx.try_iter().take(QUEUE) {
            ran += 1;
            run_one(sio, eng, queued);
        }
        if ran == QUEUE && !self.shared.notified.swap(true, Ordering::AcqRel) {
            if let Some(handle) = self.shared.handle.get() {
                let _ = handle.notify();
            }
        }
    }
}

fn run_one(sio: &mut Sio, eng: &mut Engine<Client>, Queued { nsp, sel, op }: Queued) {
    let Some(ns) = sio.namespaces.iter().position(|n| n.name == nsp) else {
        debug!("operation on namespace {nsp:?}, which does not exist");
        // Whoever waits for an answer gets the empty one.
        match op {
            Remote::EmitWithAck(.., reply) => drop(reply.send(Ok(Vec::new()))),
            Remote::Fetch(reply) => drop(reply.send(Vec::new())),
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
        Remote::EmitWithAck(event, payload, timeout, reply) => Operation::Emit {
            event,
            payload,
            ack: Some((timeout, Box::new(move |answers| drop(reply.send(answers))))),
        },
        Remote::Fetch(reply) => {
            let _ = reply.send(sio.apply(eng, ns, &sel, Operation::Fetch).sockets());
            return;
        }
        Remote::Join(rooms) => Operation::Join(rooms),
        Remote::Leave(rooms) => Operation::Leave(rooms),
        Remote::Disconnect(close) => Operation::Disconnect { close },
    };
    sio.apply(eng, ns, &sel, op);
}
