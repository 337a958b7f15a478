//! The event loop: one `mio::Poll`, one thread, every connection.
//!
//! One pass ([`Reactor::tick`]):
//! 1. `poll` for readiness, no longer than the earliest timer (zero if work is left over);
//! 2. accept, at most 64 per pass (`accept.rs`);
//! 3. read each connection that is readable, or had input left over last pass, once: one
//!    socket read of at most 64 KiB and at most `Config::messages_per_pass` frames (its
//!    fairness budget), handing every complete message to the handler, whose sends only
//!    queue bytes; a connection stops early once its outbound queue passes the soft
//!    backpressure limit (`service.rs`);
//! 4. fire due timers (handshake, keepalive, close timeouts, then the handler's own);
//! 5. run commands from [`Handle`](crate::Handle)s (bounded per pass);
//! 6. write each connection with queued bytes once: replies are batched per pass, not
//!    written per message;
//! 7. run the `on_close` callbacks owed.
//!
//! Shutdown: stop accepting, close every connection with 1001, keep passing until they are
//! gone or the close timeout passes, then stop.

mod accept;
pub(crate) mod core;
mod service;
pub(crate) mod timers;
pub(crate) mod token;

use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use log::{debug, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll};
use tungstenite::protocol::frame::CloseFrame;

use self::accept::{accept, Backlog};
use self::core::{arm, Core};
use self::service::service;
use self::token::{ConnId, LISTENER, WAKER};
use crate::config::Config;
use crate::conn::io::ReadBuf;
use crate::conn::Phase;
use crate::ctx::{truncate_reason, Ctx};
use crate::error::{Cause, Disconnect};
use crate::handle::{Command, Handle, Inbox};
use crate::handler::Handler;
use crate::{CloseCode, Message};

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

/// The reactor: poll, listener, connections.
#[derive(Debug)]
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    /// `None` once shutdown has started: the port is released at once.
    listener: Option<TcpListener>,
    backlog: Backlog,
    rbuf: ReadBuf,
    core: Core,
    /// Dropped when the server stops, so handles answer `Stopped`.
    inbox: Option<Inbox>,
    /// The last drain hit `COMMANDS_PER_PASS`; drain again without waiting for a wake.
    more_commands: bool,
    state: State,
}

impl Reactor {
    pub(crate) fn bind(addr: SocketAddr, config: Config) -> io::Result<Self> {
        config.validate()?;
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(addr)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let (handle, inbox) = Handle::new(waker, config.command_queue_capacity);
        Ok(Reactor {
            poll,
            events: Events::with_capacity(1024),
            listener: Some(listener),
            backlog: Backlog::Drained,
            rbuf: ReadBuf::new(),
            core: Core::new(config, handle),
            inbox: Some(inbox),
            more_commands: false,
            state: State::Running,
        })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server has shut down",
            )),
        }
    }

    pub(crate) fn handle(&self) -> Handle {
        self.core.handle.clone()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state != State::Stopped
    }

    /// How long the next `poll` may sleep.
    fn poll_timeout(&self, cap: Option<Duration>) -> Option<Duration> {
        let core = &self.core;
        if !core.ready.is_empty() || !core.dirty.is_empty() || self.more_commands {
            return Some(Duration::ZERO);
        }
        let now = Instant::now();
        let timer = core.timers.next_timeout(now);
        let user_timer = core.user_timers.next_timeout(now);
        let accept = match self.backlog {
            Backlog::Drained => None,
            Backlog::More => Some(Duration::ZERO),
            Backlog::PausedUntil(t) => Some(t.saturating_duration_since(now)),
        };
        let shutdown = match self.state {
            State::ShuttingDown(deadline) => Some(deadline.saturating_duration_since(now)),
            _ => None,
        };
        [cap, timer, user_timer, accept, shutdown]
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
        let timeout = self.poll_timeout(cap);
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        self.core.now = Instant::now();
        let mut woken = std::mem::take(&mut self.more_commands);
        let Reactor {
            poll,
            events,
            listener,
            backlog,
            rbuf,
            core,
            ..
        } = self;

        if backlog.due(core.now) {
            if let Some(listener) = listener {
                accept(listener, poll, core, rbuf, backlog);
            }
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    if let Some(listener) = listener {
                        accept(listener, poll, core, rbuf, backlog);
                    }
                    continue;
                }
                WAKER => {
                    woken = true;
                    continue;
                }
                _ => {}
            }
            let Some(id) = core.conns.id_at(event.token()) else {
                continue;
            };
            if event.is_read_closed() {
                if let Some(conn) = core.conns.get_mut(id) {
                    conn.peer_closed = true;
                }
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                core.schedule(id);
            }
            if event.is_writable() {
                if let Some(conn) = core.conns.get_mut(id) {
                    if conn.out.pending() > 0 || conn.paused {
                        core.mark_dirty(id);
                    }
                }
            }
        }
        // Once per connection per pass, however many events it had; what `service`
        // schedules now is for the next pass.
        for id in std::mem::take(&mut core.ready) {
            if let Some(conn) = core.conns.get_mut(id) {
                conn.scheduled = false;
            }
            service(core, rbuf, handler, id);
        }
        while let Some((at, id)) = core.timers.pop_expired(core.now) {
            on_timer(core, handler, id, at);
        }
        core.prune_timers();
        while let Some((_, key)) = core.user_timers.pop_expired(core.now) {
            let (id, peer) = (ConnId::NONE, SocketAddr::from(([0, 0, 0, 0], 0)));
            if guard(|| handler.on_timer(&mut Ctx { core, id, peer }, key)).is_none() {
                warn!("on_timer panicked");
            }
            run_on_close(core, handler);
        }
        if woken {
            self.run_commands(handler);
        }
        flush_all(&mut self.core);
        run_on_close(&mut self.core, handler);
        if let State::ShuttingDown(deadline) = self.state {
            // Done when every close handshake has finished and its last bytes are out;
            // waiting for the peers' EOF too would only delay the exit.
            let done =
                (self.core.conns.values()).all(|c| matches!(c.phase, Phase::Linger { shut: true }));
            if done || self.core.now >= deadline {
                self.stop(handler);
            }
        }
        Ok(())
    }

    /// Runs up to `COMMANDS_PER_PASS` commands from handles.
    fn run_commands<H: Handler>(&mut self, handler: &mut H) {
        let (mut ran, mut shutdown) = (0, false);
        let Some(inbox) = &self.inbox else { return };
        for command in inbox.drain(COMMANDS_PER_PASS) {
            ran += 1;
            let core = &mut self.core;
            match command {
                Command::Send(id, msg) => {
                    core.send(id, msg);
                }
                Command::Publish(room, msg) => {
                    core.publish(&room, msg, None);
                }
                Command::Broadcast(msg) => {
                    core.broadcast(msg, None);
                }
                Command::Close(id, code, reason) => {
                    let frame = CloseFrame {
                        code,
                        reason: truncate_reason(&reason).into(),
                    };
                    core.close(id, frame, Cause::ServerClosed);
                }
                Command::Shutdown => shutdown = true,
            }
        }
        self.more_commands = ran == COMMANDS_PER_PASS;
        run_on_close(&mut self.core, handler);
        if shutdown {
            self.begin_shutdown();
        }
    }

    /// Stops accepting and starts closing every connection with 1001.
    fn begin_shutdown(&mut self) {
        if self.state != State::Running {
            return;
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        // Nothing is left to accept; a pending retry would only wake the loop for nothing.
        self.backlog = Backlog::Drained;
        let core = &mut self.core;
        let ids: Vec<ConnId> = core.conns.ids().collect();
        for id in ids {
            let frame = CloseFrame {
                code: CloseCode::Away,
                reason: "server shutting down".into(),
            };
            let handshaking = core.conns.get_mut(id).is_some_and(|c| !c.opened);
            if handshaking {
                core.remove(id, Disconnect::reset());
            } else {
                // `false` for connections already closing or lingering: their timers end them.
                core.close(id, frame, Cause::Shutdown);
            }
        }
        self.state = State::ShuttingDown(core.now + core.config.close_timeout);
    }

    /// Drops whatever is left and marks the server stopped.
    fn stop<H: Handler>(&mut self, handler: &mut H) {
        let ids: Vec<ConnId> = self.core.conns.ids().collect();
        for id in ids {
            let why = Disconnect::new(CloseCode::Away, "server shutting down", Cause::Shutdown);
            self.core.remove(id, why);
        }
        run_on_close(&mut self.core, handler);
        self.inbox = None;
        self.state = State::Stopped;
    }
}

/// A connection's deadline may be due.
fn on_timer<H: Handler>(core: &mut Core, handler: &mut H, id: ConnId, at: Instant) {
    let now = core.now;
    let config = &core.config;
    let (pong_timeout, idle) = (config.pong_timeout, config.idle_timeout);
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    if conn.armed == Some(at) {
        conn.armed = None;
    }
    match conn.deadline {
        Some(deadline) if deadline <= now => {}
        Some(deadline) => return arm(&mut core.timers, conn, id, deadline),
        None => return,
    }
    conn.deadline = None;
    match &conn.phase {
        Phase::Handshake(_) | Phase::HttpBody { .. } | Phase::HttpHeld { .. } => {
            debug!("{id} request timed out");
            core.remove(id, Disconnect::reset());
        }
        Phase::Linger { .. } => core.remove(id, Disconnect::reset()),
        Phase::Open(_) if conn.closing.is_some() => {
            let mut why = conn.closing.take().unwrap_or_else(Disconnect::reset);
            why.cause = Cause::CloseTimeout;
            core.remove(id, why);
        }
        // Paused, it is not read, so silence says nothing; but its queue has stayed above
        // the soft limit for a whole idle period: it does not read what it is sent.
        Phase::Open(_) if conn.paused => {
            let why = Disconnect::new(
                CloseCode::Policy,
                "peer is not reading",
                Cause::Backpressure,
            );
            core.fail(id, why);
        }
        Phase::Open(_) if idle.is_some() && !conn.awaiting_pong => {
            conn.awaiting_pong = true;
            core.send(id, Message::Ping(Default::default()));
            core.set_deadline(id, now + pong_timeout);
        }
        Phase::Open(_) => {
            let why = Disconnect::new(CloseCode::Away, "idle timeout", Cause::IdleTimeout);
            core.fail(id, why);
        }
    }
    run_on_close(core, handler);
}

/// Writes every connection with queued bytes, once; applies backpressure.
fn flush_all(core: &mut Core) {
    let soft = core.config.backpressure_soft_limit;
    for id in std::mem::take(&mut core.dirty) {
        let Some(conn) = core.conns.get_mut(id) else {
            continue;
        };
        conn.dirty = false;
        if conn.flush().is_err() {
            core.remove(id, Disconnect::reset());
            continue;
        }
        let pending = conn.out.pending();
        if conn.paused && pending <= soft {
            conn.paused = false;
            core.schedule(id);
        } else if !conn.paused && pending > soft && matches!(conn.phase, Phase::Open(_)) {
            conn.paused = true;
        }
    }
}

/// Runs the `on_close` callbacks owed, including any that they cause.
fn run_on_close<H: Handler>(core: &mut Core, handler: &mut H) {
    while let Some((id, peer, why)) = core.closed.pop() {
        debug!("{id} closed: {why}");
        if guard(|| handler.on_close(&mut Ctx { core, id, peer }, &why)).is_none() {
            warn!("on_close panicked for {id}");
        }
        // After `on_close`, so it can still see the rooms it is leaving.
        core.rooms.leave_all(id);
    }
}

/// Runs a callback; a panic is caught (and logged by the panic hook) so it costs one
/// connection, not the server. `None` if it panicked.
fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).ok()
}

fn panicked() -> Disconnect {
    Disconnect::new(CloseCode::Error, "internal error", Cause::HandlerPanic)
}
