//! [`Handle`]: reaching the reactors from other threads, and each other.
//!
//! Each reactor has one door: a bounded command queue and the `mio::Waker` that rouses it.
//! Handles and the other reactors knock there; the reactor drains its queue when woken. A
//! sender never blocks: a full queue answers [`SendError::Full`], a stopped reactor
//! [`SendError::Stopped`]. Only the first command after a drain pays for the wake-up
//! syscall.
//!
//! A command for several reactors (publish, broadcast, shutdown) is all or nothing: a slot
//! is reserved in every queue it goes to before it enters any, so a full queue refuses it
//! whole, and it never reaches some reactors twice on a retry. Each queue is first in,
//! first out, so what one thread sends reaches every reactor in the order it was sent.

#[cfg(feature = "socketio")]
use std::any::Any;
#[cfg(feature = "socketio")]
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
#[cfg(feature = "socketio")]
use std::sync::{Mutex, PoisonError};
#[cfg(feature = "redis")]
use std::sync::{OnceLock, Weak};

use mio::net::TcpStream;
use mio::Waker;

use crate::id::ConnId;
use crate::queue::{Queue, Taker, Ticket};
use crate::reactor::core::Moved;
use crate::{CloseCode, Message};

/// Work for a reactor, from another thread or another reactor.
#[derive(Debug)]
pub(crate) enum Command {
    Send(ConnId, Message),
    /// The room's name is shared by the copies sent to each reactor.
    Publish(Arc<str>, Message),
    Broadcast(Message),
    Close(ConnId, CloseCode, String),
    Notify,
    Shutdown,
    /// A connection another reactor accepted for this one (`Spread::HandOff`).
    Adopt(TcpStream, SocketAddr),
    /// A connection another reactor read a request on that this one is to serve
    /// (`Handler::route`), with that request.
    Take(Box<Moved>),
}

/// A set of a server's reactors (at most 256): whom a command goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reactors([u64; crate::slab::TAGS / 64]);

impl Reactors {
    /// Reactors `0..n` but `except`.
    pub(crate) fn all_but(n: usize, except: Option<usize>) -> Self {
        let mut set = Reactors::default();
        (0..n)
            .filter(|&r| Some(r) != except)
            .for_each(|r| set.insert(r));
        set
    }

    pub(crate) fn insert(&mut self, r: usize) {
        self.0[r / 64] |= 1 << (r % 64);
    }

    pub(crate) fn contains(&self, r: usize) -> bool {
        self.0
            .get(r / 64)
            .is_some_and(|word| word & (1 << (r % 64)) != 0)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|&word| word == 0)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..crate::slab::TAGS).filter(|&r| self.contains(r))
    }
}

/// Why a [`Handle`] could not pass a command on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The command queue is full; the reactor is behind. Try again later or drop it. With
    /// several reactors: the queue of one the command was for; none of them took it.
    Full,
    /// The server has stopped (for a command to one connection: its reactor has).
    Stopped,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Full => "the server's command queue is full",
            SendError::Stopped => "the server has stopped",
        })
    }
}

impl std::error::Error for SendError {}

/// One reactor's way in: its queue and the waker that rouses it.
struct Door {
    queue: Arc<Queue<Command>>,
    waker: Waker,
    /// Set by the first sender after a drain; cleared by the reactor before draining.
    woken: AtomicBool,
}

/// When the reactors a command goes to are woken for it.
#[derive(Debug)]
pub(crate) enum Wake<'a> {
    /// At once: a handle's command (its thread has no pass to end).
    Now,
    /// By the sending reactor at the end of its pass ([`Mesh::wake`]), which adds them
    /// here: what one reactor sends another in a pass is taken in one pass of the other,
    /// so a publish's frames there are written in one batch per pass, as here.
    Later(&'a mut Reactors),
}

impl Door {
    /// Sends into a place reserved before (this door is reactor `r`'s); the command back
    /// if the reactor has stopped.
    fn send(&self, r: usize, command: Command, wake: &mut Wake<'_>) -> Result<(), Command> {
        self.queue.send_reserved(command)?;
        self.wake(r, wake);
        Ok(())
    }

    /// Wakes the reactor (`r`), now or later, unless a command since its last drain has.
    fn wake(&self, r: usize, wake: &mut Wake<'_>) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        match wake {
            // A reactor whose poller is gone has stopped; its commands die with its queue.
            Wake::Now => drop(self.waker.wake()),
            Wake::Later(owed) => owed.insert(r),
        }
    }

    fn is_stopped(&self) -> bool {
        self.queue.is_closed()
    }
}

/// The doors of every reactor of a server, and what each tells the others.
pub(crate) struct Mesh {
    doors: Box<[Door]>,
    /// What the handlers of the reactors share, by name: the Socket.IO endpoints of one
    /// path find each other there.
    #[cfg(feature = "socketio")]
    shared: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    /// Connections each reactor holds, as it last said (once per pass): for
    /// `max_connections`, the total, and handing connections to the least loaded.
    loads: Box<[AtomicUsize]>,
    /// The cluster the server's rooms span, if any: publishes go there too.
    #[cfg(feature = "redis")]
    cluster: OnceLock<crate::cluster::Cluster>,
}

impl fmt::Debug for Mesh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mesh")
            .field("reactors", &self.doors.len())
            .finish_non_exhaustive()
    }
}

impl Mesh {
    /// Reactors in the server.
    pub(crate) fn len(&self) -> usize {
        self.doors.len()
    }

    /// The `T` shared by every reactor under `name`, made by `make` for the first that
    /// asks. (Each name is for one type; one holding another is replaced.)
    #[cfg(feature = "socketio")]
    pub(crate) fn shared<T: Any + Send + Sync>(
        &self,
        name: &str,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        // A map of `Arc`s: a panic elsewhere cannot leave it half-written.
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let found = shared.get(name).map(|any| Arc::clone(any).downcast::<T>());
        if let Some(Ok(found)) = found {
            return found;
        }
        let made = Arc::new(make());
        shared.insert(
            name.to_owned(),
            Arc::clone(&made) as Arc<dyn Any + Send + Sync>,
        );
        made
    }

    /// The cluster the server's rooms span, if one is attached.
    #[cfg(feature = "redis")]
    #[inline]
    pub(crate) fn cluster(&self) -> Option<&crate::cluster::Cluster> {
        self.cluster.get()
    }

    /// Every reactor.
    pub(crate) fn all(&self) -> Reactors {
        Reactors::all_but(self.len(), None)
    }

    /// Reactor `r` holds `conns` connections now.
    pub(crate) fn set_load(&self, r: usize, conns: usize) {
        // Called every pass; the counts of all reactors share a cache line, so a store of
        // an unchanged count would still take the line from the other reactors' cores.
        if self.loads[r].load(Ordering::Relaxed) != conns {
            self.loads[r].store(conns, Ordering::Relaxed);
        }
    }

    /// Connections the reactors said they held, `r`'s own count excepted.
    pub(crate) fn load_of_others(&self, r: usize) -> usize {
        let others = self.loads.iter().enumerate().filter(|&(i, _)| i != r);
        others.map(|(_, n)| n.load(Ordering::Relaxed)).sum()
    }

    /// Queues a command for reactor `r`; why not, with the command, if it cannot.
    pub(crate) fn push(
        &self,
        r: usize,
        command: Command,
        mut wake: Wake<'_>,
    ) -> Result<(), (SendError, Command)> {
        let Some(door) = self.doors.get(r) else {
            return Err((SendError::Stopped, command));
        };
        door.queue.push(command)?;
        door.wake(r, &mut wake);
        Ok(())
    }

    /// Wakes the reactors a pass owed a wake ([`Wake::Later`]), and forgets them.
    pub(crate) fn wake(&self, owed: &mut Reactors) {
        for r in owed.iter() {
            let _ = self.doors[r].waker.wake();
        }
        *owed = Reactors::default();
    }

    /// A place in reactor `r`'s queue, for a command to send later; `None` if the queue is
    /// full or the reactor has stopped. Given back if dropped unused.
    pub(crate) fn reserve(&self, r: usize) -> Option<Place<'_>> {
        let door = self.doors.get(r)?;
        Some(Place(door, r, door.queue.ticket()?))
    }

    /// Queues a command (made by `make` for each) for every reactor of `to` that still
    /// runs, or for none: [`SendError::Full`] if one of their queues is full,
    /// [`SendError::Stopped`] if none runs.
    pub(crate) fn push_all(
        &self,
        to: &Reactors,
        make: impl Fn() -> Command,
        mut wake: Wake<'_>,
    ) -> Result<(), SendError> {
        let doors =
            || (self.doors.iter().enumerate()).filter_map(|(r, d)| to.contains(r).then_some(d));
        for (i, door) in doors().enumerate() {
            if !door.is_stopped() && !door.queue.try_reserve() {
                // A door that stopped meanwhile keeps its place: nobody reserves there again.
                let taken = doors().take(i).filter(|d| !d.is_stopped());
                taken.for_each(|door| door.queue.unreserve());
                return Err(SendError::Full);
            }
        }
        let mut delivered = false;
        let live =
            (self.doors.iter().enumerate()).filter(|(r, d)| to.contains(*r) && !d.is_stopped());
        for (r, door) in live {
            delivered |= door.send(r, make(), &mut wake).is_ok();
        }
        match delivered {
            true => Ok(()),
            false => Err(SendError::Stopped),
        }
    }

    /// Wakes every reactor for a pass without a command.
    fn wake_all(&self) {
        for door in self.doors.iter() {
            let _ = door.waker.wake();
        }
    }
}

/// A place reserved in reactor `.1`'s queue ([`Mesh::reserve`]), given back if dropped.
pub(crate) struct Place<'a>(&'a Door, usize, Ticket<Command>);

impl Place<'_> {
    /// Queues the command in this place; `false` if the reactor stopped meanwhile (the
    /// command is dropped).
    pub(crate) fn send(self, command: Command, mut wake: Wake<'_>) -> bool {
        let Place(door, r, ticket) = self;
        let sent = ticket.send(command).is_ok();
        if sent {
            door.wake(r, &mut wake);
        }
        sent
    }
}

/// A cheap, cloneable, thread-safe way to act on a running server.
///
/// Every method queues a command for a reactor's thread and returns at once, so `Ok(())`
/// means **accepted for delivery**: the command is in the reactor's queue and will run
/// within a pass or so. It cannot mean more: which connections exist is known only on the
/// reactor's thread, and a connection may end between the call and the command. There, a
/// command for a connection that is gone (or closing) does nothing, and a stale id never
/// reaches a newer connection. `Err` says the command was not accepted:
/// [`SendError::Full`] or [`SendError::Stopped`].
///
/// With several reactors ([`Config::reactors`](crate::Config::reactors)) a handle talks to
/// all of them: [`send`](Self::send) and [`close`](Self::close) go to the reactor their
/// [`ConnId`] names; [`publish`](Self::publish), [`broadcast`](Self::broadcast),
/// [`notify`](Self::notify) and [`shutdown`](Self::shutdown) to every reactor, all or
/// nothing (one full queue refuses the command for all). What one thread sends arrives in
/// the order it was sent.
///
/// To know what became of a message, send it from a callback on the reactor's thread:
/// [`ServerCtx::send_to`](crate::ServerCtx::send_to) answers a
/// [`SendStatus`](crate::SendStatus) (`Closed` for a connection that is gone) and
/// [`ServerCtx::close_conn`](crate::ServerCtx::close_conn) a `bool`.
///
/// ```
/// let server = wsreactor::Server::bind("127.0.0.1:0")?;
/// let (handle, thread) = server.spawn(wsreactor::Echo);
/// handle.publish("news", "hello subscribers").unwrap(); // nobody in the room yet: no-op
/// handle.shutdown().unwrap();
/// thread.join().unwrap()?;
/// assert_eq!(handle.shutdown(), Err(wsreactor::SendError::Stopped));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    mesh: Arc<Mesh>,
}

/// A [`Handle`] that does not keep the server's queues alive.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) struct WeakHandle(Weak<Mesh>);

#[cfg(feature = "redis")]
impl WeakHandle {
    /// The handle, while the server's queues are still there.
    pub(crate) fn upgrade(&self) -> Option<Handle> {
        self.0.upgrade().map(|mesh| Handle { mesh })
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    /// A handle to reactors woken by `wakers` (one each), with queues of `capacity`
    /// commands, and each reactor's end of its queue.
    pub(crate) fn new(wakers: Vec<Waker>, capacity: usize) -> (Handle, Vec<Inbox>) {
        let (mut doors, mut takers) = (Vec::new(), Vec::new());
        for waker in wakers {
            let (queue, taker) = Queue::new(capacity);
            doors.push(Door {
                queue,
                waker,
                woken: AtomicBool::new(false),
            });
            takers.push(taker);
        }
        let loads = doors.iter().map(|_| AtomicUsize::new(0)).collect();
        let mesh = Arc::new(Mesh {
            doors: doors.into(),
            #[cfg(feature = "socketio")]
            shared: Mutex::default(),
            loads,
            #[cfg(feature = "redis")]
            cluster: OnceLock::new(),
        });
        let inboxes = (takers.into_iter().enumerate())
            .map(|(reactor, taker)| Inbox {
                taker,
                mesh: Arc::clone(&mesh),
                reactor,
            })
            .collect();
        (Handle { mesh }, inboxes)
    }

    /// The reactors this handle reaches.
    pub(crate) fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// Sends a message to one connection. A [`Message::Close`] starts the close handshake
    /// as [`close`](Self::close) does. `Ok(())`: accepted for delivery (queued for the
    /// reactor), not "the connection exists": on the reactor the message goes the way of
    /// [`ServerCtx::send_to`](crate::ServerCtx::send_to), and nobody is told if it is then
    /// [`Closed`](crate::SendStatus::Closed) or [`Dropped`](crate::SendStatus::Dropped).
    pub fn send(&self, to: ConnId, msg: impl Into<Message>) -> Result<(), SendError> {
        let command = Command::Send(to, msg.into());
        (self.mesh)
            .push(to.reactor(), command, Wake::Now)
            .map_err(|(e, _)| e)
    }

    /// Sends a message to every member of a room, on every reactor (encoded once per
    /// reactor, shared by its members), and with a `cluster::Cluster` attached (feature
    /// `redis`), on every node: published to the others once it is
    /// accepted here.
    pub fn publish(&self, room: &str, msg: impl Into<Message>) -> Result<(), SendError> {
        let msg = msg.into();
        #[cfg(feature = "redis")]
        if let Some(cluster) = self.mesh.cluster() {
            self.publish_here(room, msg.clone())?;
            cluster.publish(room, &msg);
            return Ok(());
        }
        self.publish_here(room, msg)
    }

    /// [`publish`](Self::publish) on this server's reactors only.
    pub(crate) fn publish_here(&self, room: &str, msg: Message) -> Result<(), SendError> {
        let room: Arc<str> = room.into();
        let make = || Command::Publish(Arc::clone(&room), msg.clone());
        self.mesh.push_all(&self.mesh.all(), make, Wake::Now)
    }

    /// Has other nodes' publishes go to this server's rooms, and its publishes to them;
    /// `false` if the cluster serves another server, or this one has a cluster.
    #[cfg(feature = "redis")]
    pub(crate) fn attach(&self, cluster: &crate::cluster::Cluster) -> bool {
        self.mesh.cluster().is_none()
            && cluster.attach(self)
            && self.mesh.cluster.set(cluster.clone()).is_ok()
    }

    /// A reference that does not keep the server's queues alive (the cluster's, whose
    /// own is held by them).
    #[cfg(feature = "redis")]
    pub(crate) fn downgrade(&self) -> WeakHandle {
        WeakHandle(Arc::downgrade(&self.mesh))
    }

    /// Sends a message to every open connection.
    pub fn broadcast(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        let msg = msg.into();
        let make = || Command::Broadcast(msg.clone());
        self.mesh.push_all(&self.mesh.all(), make, Wake::Now)
    }

    /// Starts the close handshake on a connection. The code and reason are made valid on
    /// the reactor as [`ServerCtx::close_conn`](crate::ServerCtx::close_conn) describes: a
    /// code that may not be sent goes out as 1011 (logged as a warning), a reason longer
    /// than 123 bytes is cut. `Ok(())`: accepted for delivery (queued for the reactor), not
    /// "the connection exists"; on the reactor it goes the way of `close_conn`, and a
    /// connection that is gone or already closing is left as it is.
    pub fn close(&self, id: ConnId, code: CloseCode, reason: &str) -> Result<(), SendError> {
        let command = Command::Close(id, code, reason.to_owned());
        (self.mesh)
            .push(id.reactor(), command, Wake::Now)
            .map_err(|(e, _)| e)
    }

    /// Has every reactor call [`Handler::on_notify`](crate::Handler::on_notify) on its
    /// thread: the way to hand the handler work through a queue of its own (what
    /// `socketio::IoHandle` does). Notifications that arrive before the handler runs are
    /// coalesced into one call; cheap to call often.
    pub fn notify(&self) -> Result<(), SendError> {
        (self.mesh).push_all(&self.mesh.all(), || Command::Notify, Wake::Now)
    }

    /// Has reactor `r` alone call `on_notify` (see [`notify`](Self::notify)).
    #[cfg(feature = "socketio")]
    pub(crate) fn notify_one(&self, r: usize) -> Result<(), SendError> {
        (self.mesh)
            .push(r, Command::Notify, Wake::Now)
            .map_err(|(e, _)| e)
    }

    /// Shuts the server down gracefully: every reactor stops accepting, sends 1001 (Going
    /// Away) to each of its connections, waits for their close handshakes up to the close
    /// timeout, and then stops; `run` returns once all have.
    /// The close timeout counts on the server's clock: with a
    /// [`ManualClock`](crate::ManualClock), the test moves it (see there).
    pub fn shutdown(&self) -> Result<(), SendError> {
        (self.mesh).push_all(&self.mesh.all(), || Command::Shutdown, Wake::Now)
    }

    /// Wakes every reactor for a pass without a command (a
    /// [`ManualClock`](crate::ManualClock) moved). A reactor that has stopped ignores it.
    pub(crate) fn wake(&self) {
        self.mesh.wake_all();
    }
}

/// A reactor's end of its command queue (dropped when it stops: senders are told).
pub(crate) struct Inbox {
    taker: Taker<Command>,
    mesh: Arc<Mesh>,
    reactor: usize,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("reactor", &self.reactor)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// Takes up to `max` commands. Clearing the flag first means a command sent during the
    /// drain either is taken now or wakes the reactor again.
    pub(crate) fn drain(&self, max: usize) -> impl Iterator<Item = Command> + '_ {
        let door = &self.mesh.doors[self.reactor];
        door.woken.store(false, Ordering::Release);
        self.taker.take(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Key;

    /// A handle to `n` reactors with queues of `capacity`; the polls keep the wakers valid.
    fn mesh(n: usize, capacity: usize) -> (Handle, Vec<Inbox>, Vec<mio::Poll>) {
        let polls: Vec<mio::Poll> = (0..n).map(|_| mio::Poll::new().unwrap()).collect();
        let wakers = (polls.iter())
            .map(|p| Waker::new(p.registry(), mio::Token(0)).unwrap())
            .collect();
        let (handle, inboxes) = Handle::new(wakers, capacity);
        (handle, inboxes, polls)
    }

    fn queued(inbox: &Inbox) -> usize {
        inbox.drain(usize::MAX).count()
    }

    #[test]
    fn a_command_for_several_reactors_takes_a_place_in_all_their_queues_or_in_none() {
        let (handle, inboxes, _polls) = mesh(3, 1);
        handle
            .send(ConnId::from_parts(2 << 24, 0), "fills reactor 2")
            .unwrap();
        assert_eq!(handle.publish("room", "to all"), Err(SendError::Full));
        assert_eq!(handle.shutdown(), Err(SendError::Full));
        assert_eq!(inboxes.iter().map(queued).collect::<Vec<_>>(), [0, 0, 1]);
        // Draining gave the place back: now every queue takes one.
        handle.broadcast("to all").unwrap();
        assert_eq!(inboxes.iter().map(queued).collect::<Vec<_>>(), [1, 1, 1]);
        let mut some = Reactors::default();
        some.insert(0);
        some.insert(2);
        let mesh = handle.mesh();
        mesh.push_all(&some, || Command::Notify, Wake::Now).unwrap();
        assert_eq!(inboxes.iter().map(queued).collect::<Vec<_>>(), [1, 0, 1]);
        assert_eq!(some.iter().collect::<Vec<_>>(), [0, 2]);
        assert!(!some.contains(1) && !some.contains(255) && !some.is_empty());
    }

    #[test]
    fn stopped_reactors_are_skipped_and_answer_stopped_alone() {
        let (handle, mut inboxes, _polls) = mesh(2, 4);
        drop(inboxes.pop()); // reactor 1 stops
        let on_1 = ConnId::from_parts(1 << 24, 0);
        assert_eq!(handle.send(on_1, "x"), Err(SendError::Stopped));
        handle.broadcast("reaches reactor 0").unwrap();
        assert_eq!(queued(&inboxes[0]), 1);
        drop(inboxes.pop());
        assert_eq!(handle.broadcast("nobody"), Err(SendError::Stopped));
    }
}
