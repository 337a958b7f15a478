//! [`Handle`]: reaching the reactor from other threads.
//!
//! Commands go through a bounded queue; the reactor drains it when woken by a `mio::Waker`.
//! A sender never blocks: a full queue answers [`SendError::Full`], a stopped server
//! [`SendError::Stopped`]. Only the first command after a drain pays for the wake-up
//! syscall.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use mio::Waker;

use crate::id::ConnId;
use crate::{CloseCode, Message};

/// Work for the reactor, sent from another thread.
#[derive(Debug)]
pub(crate) enum Command {
    Send(ConnId, Message),
    Publish(String, Message),
    Broadcast(Message),
    Close(ConnId, CloseCode, String),
    Notify,
    Shutdown,
}

/// Why a [`Handle`] could not pass a command on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The command queue is full; the reactor is behind. Try again later or drop it.
    Full,
    /// The server has stopped.
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

/// A cheap, cloneable, thread-safe way to act on a running server.
///
/// Every method queues a command for the reactor's thread and returns at once, so
/// `Ok(())` means **accepted for delivery**: the command is in the reactor's queue and will
/// run within a pass or so. It cannot mean more: which connections exist is known only on
/// the reactor's thread, and a connection may end between the call and the command. There,
/// a command for a connection that is gone (or closing) does nothing, and a stale id
/// never reaches a newer connection. `Err` says the command was not accepted:
/// [`SendError::Full`] or [`SendError::Stopped`].
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
    tx: SyncSender<Command>,
    waker: Arc<Waker>,
    /// Set by the first sender after a drain; cleared by the reactor before draining.
    woken: Arc<AtomicBool>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    /// A handle and the reactor's end of its queue.
    pub(crate) fn new(waker: Waker, capacity: usize) -> (Handle, Inbox) {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let woken = Arc::new(AtomicBool::new(false));
        let handle = Handle {
            tx,
            waker: Arc::new(waker),
            woken: Arc::clone(&woken),
        };
        (handle, Inbox { rx, woken })
    }

    /// Sends a message to one connection. A [`Message::Close`] starts the close handshake
    /// as [`close`](Self::close) does. `Ok(())`: accepted for delivery (queued for the
    /// reactor), not "the connection exists": on the reactor the message goes the way of
    /// [`ServerCtx::send_to`](crate::ServerCtx::send_to), and nobody is told if it is then
    /// [`Closed`](crate::SendStatus::Closed) or [`Dropped`](crate::SendStatus::Dropped).
    pub fn send(&self, to: ConnId, msg: impl Into<Message>) -> Result<(), SendError> {
        self.push(Command::Send(to, msg.into()))
    }

    /// Sends a message to every member of a room (encoded once, shared by all).
    pub fn publish(&self, room: &str, msg: impl Into<Message>) -> Result<(), SendError> {
        self.push(Command::Publish(room.to_owned(), msg.into()))
    }

    /// Sends a message to every open connection.
    pub fn broadcast(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        self.push(Command::Broadcast(msg.into()))
    }

    /// Starts the close handshake on a connection. The code and reason are made valid on
    /// the reactor as [`ServerCtx::close_conn`](crate::ServerCtx::close_conn) describes: a
    /// code that may not be sent goes out as 1011 (logged as a warning), a reason longer
    /// than 123 bytes is cut. `Ok(())`: accepted for delivery (queued for the reactor), not
    /// "the connection exists"; on the reactor it goes the way of `close_conn`, and a
    /// connection that is gone or already closing is left as it is.
    pub fn close(&self, id: ConnId, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.push(Command::Close(id, code, reason.to_owned()))
    }

    /// Has the reactor call [`Handler::on_notify`](crate::Handler::on_notify) on its
    /// thread: the way to hand the handler work through a queue of its own (what
    /// `socketio::IoHandle` does). Notifications that arrive before the handler runs are
    /// coalesced into one call; cheap to call often.
    pub fn notify(&self) -> Result<(), SendError> {
        self.push(Command::Notify)
    }

    /// Shuts the server down gracefully: it stops accepting, sends 1001 (Going Away) to
    /// every connection, waits for their close handshakes up to the close timeout, and then
    /// `run` returns.
    /// The close timeout counts on the server's clock: with a
    /// [`ManualClock`](crate::ManualClock), the test moves it (see there).
    pub fn shutdown(&self) -> Result<(), SendError> {
        self.push(Command::Shutdown)
    }

    /// Wakes the reactor for a pass without a command (a [`ManualClock`](crate::ManualClock)
    /// moved). A server that has stopped ignores it.
    pub(crate) fn wake(&self) {
        let _ = self.waker.wake();
    }

    fn push(&self, command: Command) -> Result<(), SendError> {
        self.tx.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => SendError::Full,
            TrySendError::Disconnected(_) => SendError::Stopped,
        })?;
        if !self.woken.swap(true, Ordering::AcqRel) {
            self.waker.wake().map_err(|_| SendError::Stopped)?;
        }
        Ok(())
    }
}

/// The reactor's end of the command queue.
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: Receiver<Command>,
    woken: Arc<AtomicBool>,
}

impl Inbox {
    /// Takes up to `max` commands. Clearing the flag first means a command sent during the
    /// drain either is taken now or wakes the reactor again.
    pub(crate) fn drain(&self, max: usize) -> impl Iterator<Item = Command> + '_ {
        self.woken.store(false, Ordering::Release);
        self.rx.try_iter().take(max)
    }
}
