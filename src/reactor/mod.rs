//! The event loop: one `mio::Poll`, one thread, every connection.
//!
//! One pass ([`Reactor::tick`]):
//! 1. `poll` for readiness, no longer than the earliest timer (zero if work is left over);
//! 2. accept (at most [`ACCEPTS_PER_PASS`]);
//! 3. read each connection that is readable, or had input left over last pass, once: one
//!    socket read of at most 64 KiB and at most `Config::messages_per_pass` frames (its
//!    fairness budget), handing every complete message to the handler, whose sends only
//!    queue bytes; a connection stops early once its outbound queue passes the soft
//!    backpressure limit;
//! 4. fire due timers (handshake, keepalive, close timeouts);
//! 5. write each connection with queued bytes once: replies are batched per pass, not
//!    written per message;
//! 6. run the `on_close` callbacks owed;
//! 7. run commands from [`Handle`](crate::Handle)s (bounded per pass).
//!
//! Shutdown: stop accepting, close every connection with 1001, keep passing until they are
//! gone or the close timeout passes, then stop.

pub(crate) mod core;
pub(crate) mod timers;
pub(crate) mod token;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use log::{debug, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll};
use tungstenite::error::Error as WsError;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocketContext};

use self::core::{arm, Core};
use self::token::{ConnId, LISTENER, WAKER};
use crate::config::Config;
use crate::conn::io::{Io, ReadBuf};
use crate::conn::upgrade::{self, Parsed};
use crate::conn::{Conn, Phase};
use crate::ctx::{truncate_reason, Ctx};
use crate::error::{Cause, Disconnect};
use crate::handle::{Command, Handle, Inbox};
use crate::handler::Handler;
use crate::http::{Request, Response};
use crate::{CloseCode, Message};

/// How long accepting pauses after an error such as `EMFILE`, so a full fd table costs a
/// retry every 100 ms instead of a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Connections accepted per pass at most. A flood of new connections is served in slices
/// between passes over the open ones instead of holding the loop until the backlog is
/// empty (DoS warning: each accept costs a few syscalls, so without a bound a fast enough
/// flood would keep the reactor in its accept loop).
const ACCEPTS_PER_PASS: usize = 64;

/// Sent to sockets accepted past `max_connections`, before closing them.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

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

/// What the listener still holds, as far as the reactor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backlog {
    /// Accepted until `WouldBlock`: the next connection brings a new event.
    Drained,
    /// The pass's accept budget ran out; the edge-triggered listener will not report the
    /// connections still waiting, so the next pass accepts without an event.
    More,
    /// Accepting failed for want of resources; retry at this time.
    PausedUntil(Instant),
}

impl Backlog {
    /// Whether this pass must accept without a listener event.
    fn due(self, now: Instant) -> bool {
        match self {
            Backlog::Drained => false,
            Backlog::More => true,
            Backlog::PausedUntil(t) => t <= now,
        }
    }
}

/// Accepts until `WouldBlock` or the pass's budget is spent. Errors never stop the server.
fn accept(
    listener: &mut TcpListener,
    poll: &Poll,
    core: &mut Core,
    rbuf: &mut ReadBuf,
    backlog: &mut Backlog,
) {
    if matches!(*backlog, Backlog::PausedUntil(t) if t > core.now) {
        return;
    }
    *backlog = Backlog::More;
    for _ in 0..ACCEPTS_PER_PASS {
        let (mut sock, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *backlog = Backlog::Drained;
                return;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                ) =>
            {
                continue
            }
            Err(e) => {
                // EMFILE, ENFILE, ENOBUFS...: the pending connection stays in the backlog,
                // and the listener would report it again at once. Back off instead of spinning.
                warn!("accept failed: {e}; retrying in {ACCEPT_BACKOFF:?}");
                *backlog = Backlog::PausedUntil(core.now + ACCEPT_BACKOFF);
                return;
            }
        };
        if core.conns.len() >= core.config.max_connections {
            debug!("refusing {peer}: at max_connections");
            refuse(sock, rbuf);
            continue;
        }
        let _ = sock.set_nodelay(true);
        let id = core.conns.next_id();
        if let Err(e) = poll.registry().register(
            &mut sock,
            id.token(),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("register {peer}: {e}");
            continue;
        }
        let id = core.conns.insert(Conn::new(sock, peer));
        debug!("{id} accepted from {peer}");
        core.set_deadline(id, core.now + core.config.handshake_timeout);
    }
}

/// Answers a connection past `max_connections` with 503 and closes it, holding nothing.
fn refuse(mut sock: TcpStream, rbuf: &mut ReadBuf) {
    // Closing a socket with unread bytes sends a reset instead of a FIN, and some stacks
    // drop received data on a reset, 503 included. The request has usually arrived by now:
    // read it (one read, at most 64 KiB), so the 503 ends with a FIN.
    rbuf.begin(Vec::new(), false);
    let _ = rbuf.fill(&mut sock);
    let _ = sock.write(OVER_CAPACITY);
    let _ = sock.shutdown(Shutdown::Write);
}

/// Reads from one connection, within its budget, and acts on what arrived.
fn service<H: Handler>(core: &mut Core, rbuf: &mut ReadBuf, handler: &mut H, id: ConnId) {
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    if conn.paused {
        return;
    }
    rbuf.begin(std::mem::take(&mut conn.carry), conn.peer_closed);
    let more = match conn.phase {
        Phase::Handshake(_) => read_handshake(core, rbuf, handler, id),
        Phase::HttpBody { .. } => {
            read_http_body(core, rbuf, handler, id);
            false
        }
        Phase::Open(_) => read_frames(core, rbuf, handler, id),
        Phase::HttpHeld { .. } | Phase::Linger { .. } => {
            read_discard(core, rbuf, id);
            false
        }
    };
    // Edge-triggered: input left behind raises no new event, so ask for another pass.
    if more || rbuf.more_pending() {
        core.schedule(id);
    }
    if core.conns.get_mut(id).is_some_and(|c| c.out.pending() > 0) {
        core.mark_dirty(id);
    }
    run_on_close(core, handler);
}

/// Reads the upgrade request; on success opens the WebSocket and reads the frames that
/// came with it. `true` if input is left for another pass.
fn read_handshake<H: Handler>(
    core: &mut Core,
    rbuf: &mut ReadBuf,
    handler: &mut H,
    id: ConnId,
) -> bool {
    let max = core.config.max_handshake_bytes;
    let Some(conn) = core.conns.get_mut(id) else {
        return false;
    };
    let Phase::Handshake(hs) = &mut conn.phase else {
        return false;
    };
    let parsed = match rbuf.fill(&mut conn.sock) {
        Ok([]) => {
            core.remove(id, Disconnect::reset());
            return false;
        }
        Ok(bytes) => hs.push(bytes, max),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
        Err(_) => {
            core.remove(id, Disconnect::reset());
            return false;
        }
    };
    match parsed {
        Parsed::Partial => false,
        Parsed::Reject(response) => {
            respond_and_close(core, id, &response);
            false
        }
        Parsed::Http {
            mut request,
            body_len,
            tail,
            keep_alive,
        } => {
            if body_len > core.config.max_http_body {
                respond_and_close(core, id, &Response::status_text(413));
                return false;
            }
            request.body = tail;
            if request.body.len() < body_len {
                let request = Box::new(request);
                conn.phase = Phase::HttpBody {
                    request,
                    need: body_len,
                    keep_alive,
                };
                return false;
            }
            // Pipelined requests are not served: answer this one, then close.
            let keep_alive = keep_alive && request.body.len() == body_len;
            request.body.truncate(body_len);
            dispatch_http(core, handler, id, request, keep_alive);
            false
        }
        Parsed::Upgrade { request, key, tail } => {
            let accept = match guard(|| handler.on_upgrade(&request)) {
                Some(Ok(accept)) => accept,
                Some(Err(response)) => {
                    respond_and_close(core, id, &response);
                    return false;
                }
                None => {
                    respond_and_close(core, id, &Response::status_text(500));
                    return false;
                }
            };
            let ws_config = core.ws_config;
            let idle = core.config.idle_timeout;
            let Some(conn) = core.conns.get_mut(id) else {
                return false;
            };
            upgrade::write_accept(&key, accept.protocol.as_deref(), &mut conn.out.buf);
            // The tail goes to tungstenite directly, so the guard sees it here; a verdict on
            // it is kept and reported by the first read.
            let _ = conn.utf8.scan(&tail);
            let ws = WebSocketContext::from_partially_read(tail, Role::Server, Some(ws_config));
            conn.phase = Phase::Open(Box::new(ws));
            conn.opened = true;
            conn.deadline = None;
            let peer = conn.peer;
            if let Some(idle) = idle {
                core.set_deadline(id, core.now + idle);
            }
            core.mark_dirty(id);
            if guard(|| handler.on_open(&mut Ctx { core, id, peer }, &request)).is_none() {
                core.fail(id, panicked());
            }
            run_on_close(core, handler);
            // The tail may already hold frames.
            read_frames(core, rbuf, handler, id)
        }
    }
}

fn respond_and_close(core: &mut Core, id: ConnId, response: &Response) {
    if let Some(conn) = core.conns.get_mut(id) {
        response.write_to(&mut conn.out.buf, false);
        core.finish(id, Disconnect::reset());
    }
}

/// Reads more of a plain HTTP request's body.
fn read_http_body<H: Handler>(core: &mut Core, rbuf: &mut ReadBuf, handler: &mut H, id: ConnId) {
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    let Phase::HttpBody {
        request,
        need,
        keep_alive,
    } = &mut conn.phase
    else {
        return;
    };
    match rbuf.fill(&mut conn.sock) {
        Ok([]) => return core.remove(id, Disconnect::reset()),
        Ok(bytes) => request.body.extend_from_slice(bytes),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
        Err(_) => return core.remove(id, Disconnect::reset()),
    }
    if request.body.len() < *need {
        return;
    }
    let keep_alive = *keep_alive && request.body.len() == *need;
    request.body.truncate(*need);
    let request = std::mem::take(&mut **request);
    dispatch_http(core, handler, id, request, keep_alive);
}

/// Hands a complete plain HTTP request to the handler, which answers now or holds it.
fn dispatch_http<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    id: ConnId,
    request: Request,
    keep_alive: bool,
) {
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    conn.phase = Phase::HttpHeld { keep_alive };
    let peer = conn.peer;
    match guard(|| handler.on_http(&mut Ctx { core, id, peer }, &request)) {
        Some(Some(response)) => {
            core.respond(id, &response);
        }
        Some(None) => {
            if let Some(idle) = core.config.idle_timeout {
                core.set_deadline(id, core.now + idle);
            }
        }
        None => {
            core.respond(id, &Response::status_text(500));
        }
    }
    run_on_close(core, handler);
}

/// Reads frames until the socket has nothing more this pass or the connection's budget is
/// spent, delivering each message. `true` if input is left for another pass.
fn read_frames<H: Handler>(
    core: &mut Core,
    rbuf: &mut ReadBuf,
    handler: &mut H,
    id: ConnId,
) -> bool {
    let budget = core.config.messages_per_pass;
    let soft = core.config.backpressure_soft_limit;
    let mut handled = 0;
    let more = loop {
        let Some(conn) = core.conns.get_mut(id) else {
            return false;
        };
        let Phase::Open(ws) = &mut conn.phase else {
            return false;
        };
        // Fairness, then backpressure: what was read but not decoded waits in `carry`
        // (frames tungstenite already holds wait in its own buffer).
        if handled == budget || conn.out.pending() > soft {
            conn.carry = rbuf.take_rest();
            break true;
        }
        handled += 1;
        let mut io = Io {
            sock: &mut conn.sock,
            rbuf,
            utf8: &mut conn.utf8,
            out: &mut conn.out.buf,
        };
        match ws.read(&mut io) {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                // After a close has started, data is drained but not delivered.
                if conn.closing.is_some() {
                    continue;
                }
                let peer = conn.peer;
                if guard(|| handler.on_message(&mut Ctx { core, id, peer }, msg)).is_none() {
                    core.fail(id, panicked());
                }
                run_on_close(core, handler);
            }
            Ok(Message::Close(frame)) => {
                if conn.closing.is_none() {
                    let (code, reason) = match frame {
                        Some(f) => (f.code, f.reason.to_string()),
                        None => (CloseCode::Status, String::new()),
                    };
                    conn.closing = Some(Disconnect::new(code, reason, Cause::PeerClosed));
                }
            }
            // Pings are answered by tungstenite (the pong is already in `out`).
            Ok(_) => {}
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break false,
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                let why = conn.closing.take().unwrap_or_else(Disconnect::reset);
                core.finish(id, why);
                return false;
            }
            Err(err) => {
                match Disconnect::for_ws_error(&err) {
                    Some(why) => {
                        debug!("{id} failed: {err}");
                        core.fail(id, why);
                    }
                    None => core.finish(id, Disconnect::reset()),
                }
                return false;
            }
        }
    };
    // Any inbound traffic counts as life for keepalive.
    let idle = core.config.idle_timeout;
    if let Some(conn) = core.conns.get_mut(id) {
        if rbuf.got_bytes() && conn.closing.is_none() {
            conn.awaiting_pong = false;
            if let Some(idle) = idle {
                let at = core.now + idle;
                conn.deadline = Some(at);
                // Usually later than the armed entry, which re-arms when it pops; but
                // after a keepalive Ping the armed entry is the pong timeout, which may
                // be later than the next idle deadline.
                arm(&mut core.timers, conn, id, at);
            }
        }
    }
    more
}

/// While a request is held, or after our half is shut: discard what the peer sends, drop
/// it at EOF.
fn read_discard(core: &mut Core, rbuf: &mut ReadBuf, id: ConnId) {
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    match rbuf.fill(&mut conn.sock) {
        Ok([]) => core.remove(id, Disconnect::reset()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(_) => core.remove(id, Disconnect::reset()),
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
