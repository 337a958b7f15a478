//! The event loop: one `mio::Poll`, one thread, every connection.
//!
//! One pass ([`Reactor::tick`]):
//! 1. `poll` for readiness, no longer than the earliest timer (zero if work is left over);
//! 2. accept, at most 64 per pass (`accept.rs`);
//! 3. read each connection that is readable, or had input left over last pass, once: one
//!    socket read of at most 64 KiB and at most `Config::messages_per_pass` frames (its
//!    fairness budget), handing every event its state machine yields to the handler
//!    (`read.rs`, `dispatch.rs`), whose sends only queue bytes; a connection stops early
//!    once its outbound queue passes the soft backpressure limit;
//! 4. fire due timers: each connection's deadline (its state machine decides what it
//!    means: handshake, keepalive, close timeout), then the handler's own;
//! 5. run commands from [`Handle`](crate::Handle)s (bounded per pass);
//! 6. write each connection with queued bytes once: replies are batched per pass, not
//!    written per message (and small frames published to one room in a row are copied
//!    into each member's queue together: `batch.rs`);
//! 7. run the `on_close` callbacks owed.
//!
//! Shutdown: stop accepting, close every connection with 1001, keep passing until they are
//! gone or the close timeout passes, then stop.
//!
//! A server may run several reactors (`Config::reactors`), each on its own thread with its
//! own poller, connections, buffers and timers, listening on the same port
//! (`listen.rs`). They share nothing on the way from a read to a callback to a write; what
//! one sends another (a message for its connection, a publish) goes through the other's
//! command queue, as a [`Handle`]'s commands do.
//!
//! The reactor does I/O and scheduling only: what a connection does with bytes and time is
//! decided by [`Connection`](crate::conn::Connection). Time is read once per pass, from
//! the configured clock, and passed down.
mod accept;
mod batch;
mod census;
pub(crate) mod compress;
pub(crate) mod core;
mod dispatch;
mod listen;
mod read;
pub(crate) mod rejects;
pub(crate) mod timers;
pub(crate) mod token;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Poll, Waker};
use tungstenite::protocol::frame::CloseFrame;

use self::accept::{adopt, Acceptor, Backlog};
use self::census::{Census, Registry};
use self::core::{Core, Siblings};
use self::dispatch::{on_server, run_on_close, taken};
use self::listen::listen;
use self::read::read;
use self::token::{LISTENER, WAKER};
use crate::clock::Clock;
use crate::config::Config;
use crate::conn::io::ReadBuf;
use crate::error::{Cause, Disconnect};
use crate::handle::{Command, Handle, Inbox};
use crate::handler::Handler;
use crate::id::ConnId;
use crate::CloseCode;

/// Handle commands run per pass, so a flood of them cannot starve the sockets.
const COMMANDS_PER_PASS: usize = 1024;

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Closing every connection; stop by the deadline at the latest.
    ShuttingDown(Instant),
    Stopped,
}

/// One reactor: poll, listener, connections.
#[derive(Debug)]
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    /// `None` once shutdown has started (the port is released at once), and on the
    /// reactors that take their connections from reactor 0's (`Spread::HandOff`).
    acceptor: Option<Acceptor>,
    rbuf: ReadBuf,
    clock: Clock,
    core: Core,
    /// Dropped when the server stops, so handles answer `Stopped`.
    inbox: Option<Inbox>,
    /// The last drain hit `COMMANDS_PER_PASS`; drain again without waiting for a wake.
    more_commands: bool,
    /// `on_start` has run.
    started: bool,
    state: State,
}

/// The reactors of a server listening on `addr` (reactor 0 first), as many as
/// `config` says, and the handle that reaches them all.
pub(crate) fn bind(addr: SocketAddr, config: &Config) -> io::Result<(Vec<Reactor>, Handle)> {
    let listeners = listen(addr, config.reactor_count(), config.spread)?;
    start(listeners, config)
}

/// The reactors of a server on a socket made elsewhere: with several, reactor 0 accepts
/// and hands connections over (`Spread::HandOff`), since they cannot share its port.
pub(crate) fn adopt_listener(
    listener: TcpListener,
    config: &Config,
) -> io::Result<(Vec<Reactor>, Handle)> {
    let mut listeners = vec![Some(listener)];
    listeners.resize_with(config.reactor_count(), || None);
    start(listeners, config)
}

/// One reactor per listener slot (`None`: it takes connections from reactor 0).
fn start(
    listeners: Vec<Option<TcpListener>>,
    config: &Config,
) -> io::Result<(Vec<Reactor>, Handle)> {
    let polls = (listeners.iter())
        .map(|_| Poll::new())
        .collect::<io::Result<Vec<_>>>()?;
    let wakers = (polls.iter())
        .map(|poll| Waker::new(poll.registry(), WAKER))
        .collect::<io::Result<Vec<_>>>()?;
    let (handle, inboxes) = Handle::new(wakers, config.command_queue_capacity);
    #[cfg(feature = "redis")]
    if let Some(cluster) = &config.cluster {
        if !handle.attach(cluster) {
            let why = "this Cluster serves another server already (one Cluster per server)";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
    }
    if let Clock::Manual(manual) = &config.clock {
        manual.attach(handle.clone());
    }
    let hand_off = listeners.len() > 1 && listeners[1..].iter().all(Option::is_none);
    let registry = (listeners.len() > 1).then(|| Registry::new(listeners.len()));
    let parts = polls.into_iter().zip(listeners).zip(inboxes).enumerate();
    let reactors = parts
        .map(|(index, ((poll, listener), inbox))| {
            let acceptor = match listener {
                Some(listener) => Some(Acceptor::new(listener, &poll, hand_off)?),
                None => None,
            };
            let clock = config.clock.clone();
            let siblings = match &registry {
                Some(rooms) => Some(Siblings::new(
                    Census::new(index, Arc::clone(rooms)),
                    poll.registry().try_clone()?,
                )),
                None => None,
            };
            let core = Core::new(index, config.clone(), handle.clone(), siblings, clock.now());
            Ok(Reactor {
                poll,
                events: Events::with_capacity(1024),
                acceptor,
                rbuf: ReadBuf::new(),
                core,
                clock,
                inbox: Some(inbox),
                more_commands: false,
                started: false,
                state: State::Running,
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok((reactors, handle))
}

impl Reactor {
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.acceptor {
            Some(acceptor) => acceptor.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server has shut down",
            )),
        }
    }

    /// This reactor's number among the server's.
    pub(crate) fn index(&self) -> usize {
        self.core.reactor
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state != State::Stopped
    }

    /// How long the next `poll` may sleep, counted from the last pass's time.
    fn poll_timeout(&self, cap: Option<Duration>) -> Option<Duration> {
        let core = &self.core;
        // `owed`: `on_start` sent other reactors commands; they are woken after this poll.
        if !core.ready.is_empty() || !core.dirty.is_empty() || self.more_commands {
            return Some(Duration::ZERO);
        }
        if !core.owed.is_empty() {
            return Some(Duration::ZERO);
        }
        let now = core.now;
        let timer = core.timers.next_timeout(now);
        let user_timer = core.user_timers.next_timeout(now);
        let accept = match self.acceptor.as_ref().map(|a| a.backlog) {
            None | Some(Backlog::Drained) => None,
            Some(Backlog::More) => Some(Duration::ZERO),
            Some(Backlog::PausedUntil(t)) => Some(t.saturating_duration_since(now)),
        };
        let shutdown = match self.state {
            State::ShuttingDown(deadline) => Some(deadline.saturating_duration_since(now)),
            _ => None,
        };
        // A count of unlogged rejections is logged when its window ends, event or not.
        let rejects = (core.rejects.due()).map(|t| t.saturating_duration_since(now));
        [cap, timer, user_timer, accept, shutdown, rejects]
            .into_iter()
            .flatten()
            .min()
    }

    /// One pass of the loop; sleeps at most `cap` (forever if `None` and nothing is due).
    pub(crate) fn tick<H: Handler>(
        &mut self,
        handler: &mut H,
        cap: Option<Duration>,
    ) -> io::Result<()> {
        if self.state == State::Stopped {
            return Ok(());
        }
        if !std::mem::replace(&mut self.started, true) {
            // Before the first poll, which may sleep until a connection arrives: the
            // timers `on_start` sets must count in the poll timeout.
            self.core.now = self.clock.now();
            on_server(&mut self.core, handler, "on_start", |h, ctx| {
                h.on_start(ctx)
            });
        }
        let timeout = self.poll_timeout(cap);
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        // The one read of the clock per pass; everything below gets this time.
        self.core.now = self.clock.now();
        let mut woken = std::mem::take(&mut self.more_commands);
        let Reactor {
            poll,
            events,
            acceptor,
            rbuf,
            core,
            ..
        } = self;

        if let Some(acceptor) = acceptor.as_mut().filter(|a| a.backlog.due(core.now)) {
            acceptor.accept(poll, core, rbuf);
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    if let Some(acceptor) = acceptor {
                        acceptor.accept(poll, core, rbuf);
                    }
                    continue;
                }
                WAKER => {
                    woken = true;
                    continue;
                }
                _ => {}
            }
            let Some(id) = core.conns.key_at(event.token().0) else {
                continue;
            };
            if event.is_read_closed() {
                if let Some(entry) = core.conns.get_mut(id) {
                    entry.peer_closed = true;
                }
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                core.schedule(id);
            }
            if event.is_writable()
                && core
                    .conns
                    .get(id)
                    .is_some_and(|e| e.conn.wants_flush() || e.conn.is_paused())
            {
                core.mark_dirty(id);
            }
        }
        // Once per connection per pass, however many events it had; what `read`
        // schedules now is for the next pass.
        for id in std::mem::take(&mut core.ready) {
            core.take_scheduled(id);
            read(core, rbuf, handler, id);
        }
        while let Some((at, id)) = core.timers.pop_expired(core.now) {
            core.on_timeout(id, at);
            run_on_close(core, handler);
        }
        while let Some(timer) = core.pop_timer() {
            on_server(core, handler, "on_timer", |h, ctx| h.on_timer(ctx, timer));
        }
        core.prune_timers();
        if woken {
            self.run_commands(handler);
        }
        flush_all(&mut self.core);
        run_on_close(&mut self.core, handler);
        self.core.rejects.roll(self.core.now);
        let core = &mut self.core;
        core.handle.mesh().set_load(core.reactor, core.conns.len());
        // What this pass sent the other reactors, they take in one pass of theirs.
        core.wake_owed();
        if let State::ShuttingDown(deadline) = self.state {
            // Done when every close handshake has finished and its last bytes are out;
            // waiting for the peers' EOF too would only delay the exit.
            let done = (self.core.conns.values()).all(|e| e.conn.is_shut());
            if done || self.core.now >= deadline {
                self.stop(handler);
            }
        }
        Ok(())
    }

    /// Runs up to `COMMANDS_PER_PASS` commands from handles.
    fn run_commands<H: Handler>(&mut self, handler: &mut H) {
        let (mut ran, mut shutdown, mut notify) = (0, false, false);
        let Some(inbox) = &self.inbox else { return };
        for command in inbox.drain(COMMANDS_PER_PASS) {
            ran += 1;
            let core = &mut self.core;
            match command {
                // Connections an endpoint serves take no raw frames (`ServerCtx::send_to`).
                Command::Send(id, msg) if !core.is_endpoint(id) => {
                    core.send(id, msg);
                }
                Command::Close(id, code, reason) if !core.is_endpoint(id) => {
                    let frame = CloseFrame {
                        code,
                        reason: reason.into(),
                    };
                    core.close(id, frame, Cause::ServerClosed);
                }
                Command::Send(..) | Command::Close(..) => {}
                // From a handle or another reactor: for this reactor's connections only.
                Command::Publish(room, msg) => {
                    core.publish_here(&room, msg, None);
                }
                Command::Broadcast(msg) => {
                    core.broadcast_here(msg, None);
                }
                Command::Notify => notify = true,
                Command::Shutdown => shutdown = true,
                // Taken from the acceptor; once shutting down, closed unserved.
                Command::Adopt(sock, peer) if self.state == State::Running => {
                    adopt(sock, peer, &self.poll, core);
                }
                Command::Adopt(..) => {}
                // A request another reactor read, for this one (`Handler::route`).
                Command::Take(moved) if self.state == State::Running => {
                    if let Some((id, peer, event)) = core.take_in(*moved) {
                        taken(core, handler, (id, &peer), event);
                    }
                }
                Command::Take(..) => {}
            }
        }
        self.more_commands = ran == COMMANDS_PER_PASS;
        run_on_close(&mut self.core, handler);
        if notify {
            on_server(&mut self.core, handler, "on_notify", |h, ctx| {
                h.on_notify(ctx)
            });
        }
        if shutdown {
            self.begin_shutdown(handler);
        }
    }

    /// Stops accepting, tells the handler, and starts closing every connection with 1001.
    fn begin_shutdown<H: Handler>(&mut self, handler: &mut H) {
        if self.state != State::Running {
            return;
        }
        // First, so the handler can still answer held requests and reach every client.
        on_server(&mut self.core, handler, "on_shutdown", |h, ctx| {
            h.on_shutdown(ctx)
        });
        // Nothing is left to accept; a pending retry would only wake the loop for nothing.
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.close(&self.poll);
        }
        let core = &mut self.core;
        let ids: Vec<ConnId> = core.conns.keys().collect();
        for id in ids {
            let frame = CloseFrame {
                code: CloseCode::Away,
                reason: "server shutting down".into(),
            };
            if core.conns.get(id).is_some_and(|e| e.conn.is_open()) {
                // `false` for connections already closing: their timers end them.
                core.close(id, frame, Cause::Shutdown);
            } else {
                // A response (one `on_shutdown` gave, say) is written before it closes.
                core.end_plain(id);
            }
        }
        run_on_close(core, handler);
        self.state = State::ShuttingDown(core.now + core.config.close_timeout);
    }

    /// Drops whatever is left and marks the server stopped.
    fn stop<H: Handler>(&mut self, handler: &mut H) {
        let ids: Vec<ConnId> = self.core.conns.keys().collect();
        for id in ids {
            let why = Disconnect::new(CloseCode::Away, "server shutting down", Cause::Shutdown);
            self.core.remove(id, why);
        }
        run_on_close(&mut self.core, handler);
        // Senders are told it stopped.
        self.inbox = None;
        self.core.handle.mesh().set_load(self.core.reactor, 0);
        self.state = State::Stopped;
    }
}

/// Writes every connection with queued bytes, once.
fn flush_all(core: &mut Core) {
    core.write_batch();
    let mut dirty = std::mem::take(&mut core.dirty);
    for &id in &dirty {
        core.flush(id);
    }
    // Its allocation back for the next pass (flushing queues nothing, as a rule).
    if core.dirty.is_empty() {
        dirty.clear();
        core.dirty = dirty;
    }
    core.end_flushes();
}
