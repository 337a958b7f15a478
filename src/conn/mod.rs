//! One connection as a state machine, sans I/O: bytes in, bytes out, time passed in.
//!
//! ```text
//!   accept ──► Request ──upgrade──► Upgrading ──accept (101)──► Open ──close / failure──► Linger ──► Done
//!               │ ▲  │                 └── refuse (4xx) ────────────(closing: our Close sent,  ▲
//!               │ │  └── 4xx ────────────────────────────────────── waiting for the peer's) ─┤
//!               │ └─ keep-alive ─┐                                                             │
//!               └─► HttpBody ──► HttpHeld ──response (Connection: close)───────────────────────┘
//! ```
//!
//! The [`Connection`] never touches a socket or a clock. The reactor hands it a reader
//! ([`Input`]) and the time of the pass; it returns [`Event`]s for the handler, queues what
//! must be written in its [`OutBuf`], and says when it next needs to run
//! ([`poll_at`](Connection::poll_at)). Every policy that depends on time lives here:
//! the handshake timeout, keepalive pings and the pong timeout, the close timeout, linger,
//! and pausing a peer that does not read (backpressure). A connection in [`State::Done`]
//! is to be dropped: the reactor releases its socket.
//!
//! `Linger` writes what is still queued (a close frame, an HTTP response), then shuts down
//! our half of the TCP connection and waits for the peer's EOF, so the last bytes are not
//! lost to a reset.

pub(crate) mod frame;
pub(crate) mod guard;
pub(crate) mod io;
pub(crate) mod request;
pub(crate) mod utf8;

#[cfg(test)]
mod tests;

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::time::Instant;

use log::{debug, warn};
use tungstenite::error::Error as WsError;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocketContext};

use crate::config::{BackpressurePolicy, Config};
use crate::error::{truncate_reason, Cause, Disconnect};
use crate::handler::Accept;
use crate::http::{Framing, Request, Response};
use crate::{Bytes, CloseCode, Message};
use frame::OpCode;
use guard::{is_valid_close_code, FrameGuard, Stopped, Verdict};
use io::{Io, OutBuf, ReadBuf, Sink};
use request::{Parsed, RequestHead};

/// Where a connection is in its life. Each variant holds what only it needs, so no
/// combination of flags can contradict the phase.
#[derive(Debug)]
enum State {
    /// Reading a request head: an upgrade, or a plain HTTP request.
    Request(RequestHead),
    /// A valid upgrade request is with the handler's `on_upgrade`; the answer is
    /// [`Connection::accept`] or [`Connection::refuse`]. `tail`: bytes after the head.
    Upgrading { key: String, tail: Vec<u8> },
    /// Reading the body of a plain HTTP request (into `request.body`).
    HttpBody {
        request: Box<Request>,
        need: usize,
        keep_alive: bool,
    },
    /// A plain HTTP request is with the handler, which answers now or later; `framing`
    /// remembers what the request says about the response (`HEAD`: no body).
    HttpHeld { framing: Framing },
    /// Exchanging frames.
    Open(Box<Open>),
    /// The WebSocket or the response is done: flushing what is queued, then waiting for the
    /// peer's EOF. `shut`: our half is shut down.
    Linger { shut: bool },
    /// To be dropped now.
    Done,
}

/// An open WebSocket.
#[derive(Debug)]
struct Open {
    ws: WebSocketContext,
    /// Why it ends, once a close handshake has started (ours or the peer's).
    closing: Option<Disconnect>,
    /// A keepalive Ping is out and unanswered.
    awaiting_pong: bool,
    /// Not read until its outbound queue drains below the soft limit.
    paused: bool,
}

/// What the handler is to hear about.
#[derive(Debug)]
pub(crate) enum Event {
    /// A valid upgrade request: answer with [`Connection::accept`] or
    /// [`Connection::refuse`] before anything else. (Requests are boxed so that the
    /// event a message travels in stays small.)
    Upgrade(Box<Request>),
    /// A complete plain HTTP request, now held: [`Connection::respond`] answers it.
    Http(Box<Request>),
    /// A Text or Binary message on the open WebSocket.
    Message(Message),
    /// The WebSocket ended: `on_close` is owed, exactly once.
    Closed(Disconnect),
    /// The request was refused by the library (the response is queued, the connection
    /// closes after it): for the reactor's rate-limited log.
    Rejected { status: u16, reason: &'static str },
}

/// What became of a frame handed to [`Connection::send`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    Queued,
    /// Not open, or closing: nothing was queued.
    Refused,
    /// The queue would pass `max_backpressure` and the policy is `Drop`: this frame was
    /// not queued; the connection carries on.
    Dropped,
    /// The queue would pass `max_backpressure` and the policy is `Close`: the connection
    /// failed with 1008 and `on_close` is owed.
    Failed(Disconnect),
}

/// What the reactor does after writing a connection's queue.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// Shut our half of the TCP connection down: lingering, and everything is out.
    pub(crate) shutdown: bool,
    /// The queue drained below the soft limit: read the connection again.
    pub(crate) resume: bool,
}

/// The state of one read pass over a connection, kept by the reactor between the events it
/// yields.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// Frames handled this pass, against `Config::messages_per_pass`.
    handled: usize,
    /// Something has been read or decoded this pass.
    started: bool,
    /// The pass is over (a request was handed over, the connection ended).
    over: bool,
    /// Input is left for another pass (budget or backpressure): schedule one.
    pub(crate) more: bool,
}

/// The input of one read pass: the reactor's read buffer and the reader behind it.
pub(crate) struct Input<'a, R> {
    pub(crate) rbuf: &'a mut ReadBuf,
    pub(crate) src: &'a mut R,
    pub(crate) pass: &'a mut Pass,
}

/// One connection: its state, its outbound queue, its next deadline.
#[derive(Debug)]
pub(crate) struct Connection {
    peer: SocketAddr,
    state: State,
    pub(crate) out: OutBuf,
    /// Refuses a frame as soon as its header (or its first invalid UTF-8 byte) arrives, and
    /// takes the peer's Close frame.
    guard: FrameGuard,
    /// When [`on_timeout`](Self::on_timeout) must run next (what for depends on the state).
    deadline: Option<Instant>,
    /// Input read but left for the next pass (its budget ran out).
    pub(crate) carry: Vec<u8>,
}

impl Connection {
    /// A connection just accepted at `now`: it has `handshake_timeout` to send a request.
    pub(crate) fn new(peer: SocketAddr, now: Instant, config: &Config) -> Self {
        Connection {
            peer,
            state: State::Request(RequestHead::default()),
            out: OutBuf::default(),
            guard: FrameGuard::new(config.max_frame_size, config.max_message_size),
            deadline: Some(now + config.handshake_timeout),
            carry: Vec::new(),
        }
    }

    /// A connection whose upgrade was accepted, for tests of what sits above it.
    #[cfg(test)]
    pub(crate) fn opened(peer: SocketAddr, now: Instant, config: &Config) -> Self {
        let mut conn = Connection::new(peer, now, config);
        conn.state = State::Upgrading {
            key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
            tail: Vec::new(),
        };
        conn.accept(&Accept::default(), config, now);
        conn.out = OutBuf::default();
        conn
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// When the connection needs [`on_timeout`](Self::on_timeout); `None`: never.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        self.deadline
    }

    /// The WebSocket is open (its `on_open` ran and `on_close` is owed), closing or not.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// A plain HTTP request waits for [`respond`](Self::respond).
    pub(crate) fn is_held(&self) -> bool {
        matches!(self.state, State::HttpHeld { .. })
    }

    /// Reading waits until the outbound queue drains.
    pub(crate) fn is_paused(&self) -> bool {
        matches!(&self.state, State::Open(open) if open.paused)
    }

    /// Lingering with everything written and our half shut: nothing is left to send.
    pub(crate) fn is_shut(&self) -> bool {
        matches!(self.state, State::Linger { shut: true })
    }

    /// The reactor must drop it now.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// There is something to write, or a shutdown to do once it is written.
    pub(crate) fn wants_flush(&self) -> bool {
        self.out.pending() > 0 || matches!(self.state, State::Linger { shut: false })
    }

    /// Reads and decodes input until there is an event for the handler (`Some`) or this
    /// pass is over (`None`: drained, budget spent, backpressure, or the state does not
    /// read any more this pass). Call again after handling each event.
    #[inline]
    pub(crate) fn read<R: Read>(
        &mut self,
        input: &mut Input<'_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event> {
        if input.pass.over {
            return None;
        }
        let event = match &mut self.state {
            State::Open(_) => self.read_frames(input, config, now),
            _ => self.read_other(input, config, now),
        };
        input.pass.started = true;
        // A message or an accepted upgrade lets the pass go on; anything else ends it.
        input.pass.over = !matches!(event, Some(Event::Message(_) | Event::Upgrade(_)));
        event
    }

    /// [`read`](Self::read) in the states that are not an open WebSocket.
    #[inline(never)]
    fn read_other<R: Read>(
        &mut self,
        input: &mut Input<'_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event> {
        match &mut self.state {
            State::Request(_) => self.read_request(input, config, now),
            State::HttpBody { .. } => self.read_body(input, config, now),
            State::Open(_) => self.read_frames(input, config, now),
            // Only as the pass's first act: a state reached during the pass (a held
            // request, a failure) leaves the rest of the input for later.
            State::HttpHeld { .. } | State::Linger { .. } if !input.pass.started => {
                self.discard(input);
                None
            }
            State::HttpHeld { .. } | State::Linger { .. } | State::Upgrading { .. } => None,
            State::Done => None,
        }
    }

    fn read_request<R: Read>(
        &mut self,
        input: &mut Input<'_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event> {
        let State::Request(head) = &mut self.state else {
            return None;
        };
        let parsed = match input.rbuf.fill(input.src) {
            Ok([]) => return self.drop_now(Disconnect::reset()).map(Event::Closed),
            Ok(bytes) => head.push(bytes, config.max_handshake_bytes),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(_) => return self.drop_now(Disconnect::reset()).map(Event::Closed),
        };
        // A request refused before it is parsed whole is still framed for its method.
        let head_method = matches!(parsed, Parsed::Reject(..)) && head.is_head();
        match parsed {
            Parsed::Partial => None,
            Parsed::Reject(response, reason) => {
                self.respond_and_close(&response, head_method, config, now);
                let status = response.status();
                Some(Event::Rejected { status, reason })
            }
            Parsed::Http {
                mut request,
                body_len,
                tail,
                keep_alive,
            } => {
                if body_len > config.max_http_body {
                    let head_method = Framing::of(&request, false).head;
                    self.respond_and_close(&Response::status_text(413), head_method, config, now);
                    let reason = "body over max_http_body";
                    return Some(Event::Rejected {
                        status: 413,
                        reason,
                    });
                }
                request.body = tail;
                if request.body.len() < body_len {
                    let request = Box::new(request);
                    self.state = State::HttpBody {
                        request,
                        need: body_len,
                        keep_alive,
                    };
                    return None;
                }
                Some(self.hold(request, body_len, keep_alive, config, now))
            }
            Parsed::Upgrade { request, key, tail } => {
                self.state = State::Upgrading { key, tail };
                Some(Event::Upgrade(Box::new(request)))
            }
        }
    }

    /// Reads more of a plain HTTP request's body.
    fn read_body<R: Read>(
        &mut self,
        input: &mut Input<'_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event> {
        let State::HttpBody { request, need, .. } = &mut self.state else {
            return None;
        };
        match input.rbuf.fill(input.src) {
            Ok([]) => return self.drop_now(Disconnect::reset()).map(Event::Closed),
            Ok(bytes) => request.body.extend_from_slice(bytes),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(_) => return self.drop_now(Disconnect::reset()).map(Event::Closed),
        }
        if request.body.len() < *need {
            return None;
        }
        let State::HttpBody {
            request,
            need,
            keep_alive,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return None;
        };
        Some(self.hold(*request, need, keep_alive, config, now))
    }

    /// A whole request with its body: held for the handler. A held request waits at most
    /// the idle timeout (or, without one, what is left of the handshake timeout).
    fn hold(
        &mut self,
        mut request: Request,
        body_len: usize,
        keep_alive: bool,
        config: &Config,
        now: Instant,
    ) -> Event {
        // Pipelined requests are not served: answer this one, then close.
        let keep_alive = keep_alive && request.body.len() == body_len;
        request.body.truncate(body_len);
        self.state = State::HttpHeld {
            framing: Framing::of(&request, keep_alive),
        };
        if let Some(idle) = config.idle_timeout {
            self.deadline = Some(now + idle);
        }
        Event::Http(Box::new(request))
    }

    /// Accepts the upgrade `Event::Upgrade` asked about: queues the 101 and opens the
    /// WebSocket, whose first frames may already be in the request's tail.
    pub(crate) fn accept(&mut self, accept: &Accept, config: &Config, now: Instant) {
        let State::Upgrading { key, mut tail } = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        request::write_accept(&key, accept.protocol.as_deref(), &mut self.out.buf);
        // The tail goes to tungstenite directly, so the guard sees it here; a verdict on it
        // is kept and reported by the first read.
        if let Err(keep) = self.guard.scan(&tail) {
            tail.truncate(keep);
        }
        let ws =
            WebSocketContext::from_partially_read(tail, Role::Server, Some(config.ws_config()));
        self.state = State::Open(Box::new(Open {
            ws,
            closing: None,
            awaiting_pong: false,
            paused: false,
        }));
        self.deadline = config.idle_timeout.map(|idle| now + idle);
    }

    /// Refuses the upgrade `Event::Upgrade` asked about with this response, then closes.
    pub(crate) fn refuse(&mut self, response: &Response, config: &Config, now: Instant) {
        // An upgrade request is a GET (RFC 6455 §4.2.1 item 1).
        self.respond_and_close(response, false, config, now);
    }

    /// Answers a held plain HTTP request, framed for it (a `HEAD` gets no body, however
    /// late the answer). A kept-alive connection goes back to reading the next request,
    /// with a new handshake timeout; otherwise it closes after the response. `false` if no
    /// request is held.
    pub(crate) fn respond(&mut self, response: &Response, config: &Config, now: Instant) -> bool {
        let State::HttpHeld { framing } = self.state else {
            return false;
        };
        if response.write_to(&mut self.out.buf, framing) {
            self.state = State::Request(RequestHead::default());
            self.deadline = Some(now + config.handshake_timeout);
        } else {
            self.finish(Disconnect::reset(), config, now);
        }
        true
    }

    /// Answers a request (`head`: a `HEAD` one) that is not served further, then closes.
    fn respond_and_close(
        &mut self,
        response: &Response,
        head: bool,
        config: &Config,
        now: Instant,
    ) {
        let framing = Framing {
            head,
            keep_alive: false,
        };
        response.write_to(&mut self.out.buf, framing);
        self.finish(Disconnect::reset(), config, now);
    }

    /// Decodes frames until there is a message, the socket has nothing more this pass, or
    /// the pass's budget is spent.
    fn read_frames<R: Read>(
        &mut self,
        input: &mut Input<'_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event> {
        loop {
            let State::Open(open) = &mut self.state else {
                return None;
            };
            // Fairness, then backpressure: what was read but not decoded waits in `carry`
            // (frames tungstenite already holds wait in its own buffer).
            if input.pass.handled == config.messages_per_pass
                || self.out.pending() > config.backpressure_soft_limit
            {
                self.carry = input.rbuf.take_rest();
                input.pass.more = true;
                self.traffic(input, config, now);
                return None;
            }
            input.pass.handled += 1;
            let mut io = Io {
                src: &mut *input.src,
                rbuf: &mut *input.rbuf,
                guard: &mut self.guard,
                out: &mut self.out.buf,
            };
            match open.ws.read(&mut io) {
                Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                    // After a close has started, data is drained but not delivered.
                    if open.closing.is_none() {
                        return Some(Event::Message(msg));
                    }
                }
                Ok(Message::Close(frame)) => {
                    if open.closing.is_none() {
                        let (code, reason) = match frame {
                            Some(f) => (f.code, f.reason.to_string()),
                            None => (CloseCode::Status, String::new()),
                        };
                        open.closing = Some(Disconnect::new(code, reason, Cause::PeerClosed));
                    }
                }
                // Pings are answered by tungstenite (the pong is already in `out`).
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    self.traffic(input, config, now);
                    return None;
                }
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    let why = open.closing.take().unwrap_or_else(Disconnect::reset);
                    return self.finish(why, config, now).map(Event::Closed);
                }
                Err(WsError::Io(e)) if matches!(Stopped::verdict(&e), Some(Verdict::Close(_))) => {
                    let Some(Verdict::Close(frame)) = Stopped::verdict(&e) else {
                        return None;
                    };
                    return self
                        .peer_closed(frame.clone(), config, now)
                        .map(Event::Closed);
                }
                Err(err) => {
                    let owed = match Disconnect::for_ws_error(&err) {
                        Some(why) => {
                            debug!("{} failed: {err}", self.peer);
                            self.fail(why, config, now)
                        }
                        // EOF or a socket error without the peer's Close: a reset, reported
                        // with the code we sent if we had started closing.
                        None => {
                            let why = self.reset_report();
                            self.finish(why, config, now)
                        }
                    };
                    return owed.map(Event::Closed);
                }
            }
        }
    }

    /// The peer's Close frame, valid (the guard judged it, tungstenite never saw it): it
    /// answers ours, or it starts the close handshake and we answer it. Either way the
    /// WebSocket is done.
    fn peer_closed(
        &mut self,
        frame: Option<CloseFrame>,
        config: &Config,
        now: Instant,
    ) -> Option<Disconnect> {
        let State::Open(open) = &mut self.state else {
            return None;
        };
        if let Some(why) = open.closing.take() {
            return self.finish(why, config, now);
        }
        let why = match &frame {
            Some(f) => Disconnect::new(f.code, f.reason.as_str(), Cause::PeerClosed),
            None => Disconnect::new(CloseCode::Status, "", Cause::PeerClosed),
        };
        // "If an endpoint receives a Close frame and did not previously send a Close frame,
        // the endpoint MUST send a Close frame in response. (When sending a Close frame in
        // response, the endpoint typically echos the status code it received.)" (§5.5.1)
        self.send_close(frame);
        self.finish(why, config, now)
    }

    /// Any inbound traffic counts as life for keepalive: the idle period starts again.
    fn traffic<R>(&mut self, input: &Input<'_, R>, config: &Config, now: Instant) {
        let State::Open(open) = &mut self.state else {
            return;
        };
        if input.rbuf.got_bytes() && open.closing.is_none() {
            open.awaiting_pong = false;
            if let Some(idle) = config.idle_timeout {
                self.deadline = Some(now + idle);
            }
        }
    }

    /// While a request is held, or after our half is shut: discard what the peer sends,
    /// drop the connection at its EOF.
    fn discard<R: Read>(&mut self, input: &mut Input<'_, R>) {
        match input.rbuf.fill(input.src) {
            Ok([]) => self.state = State::Done,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.state = State::Done,
        }
    }

    /// Queues one data or control frame: the connection is open and not closing, and its
    /// queue stays within `max_backpressure` (a single frame larger than the limit still
    /// goes out on an empty queue, so the bound is max(limit, one message)). Over the limit
    /// `Config::backpressure_policy` decides: fail the connection with 1008, or drop this
    /// frame.
    #[inline]
    pub(crate) fn send(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        config: &Config,
        now: Instant,
    ) -> Sent {
        if !self.can_send() {
            return Sent::Refused;
        }
        let pending = self.out.pending();
        if pending > 0 && pending + frame::encoded_len(payload.len()) > config.max_backpressure {
            return self.overflow(config, now);
        }
        self.out.push_frame(opcode, payload);
        Sent::Queued
    }

    /// The queue would pass `max_backpressure`: drops the frame, or fails the connection
    /// with 1008, as the policy says.
    #[cold]
    fn overflow(&mut self, config: &Config, now: Instant) -> Sent {
        if config.backpressure_policy == BackpressurePolicy::Drop {
            return Sent::Dropped;
        }
        let why = Disconnect::new(CloseCode::Policy, "backpressure", Cause::Backpressure);
        match self.fail(why, config, now) {
            Some(why) => Sent::Failed(why),
            None => Sent::Refused,
        }
    }

    /// Open, and no close frame sent yet.
    #[inline]
    fn can_send(&self) -> bool {
        matches!(&self.state, State::Open(open) if open.ws.can_write())
    }

    /// Starts the close handshake (RFC 6455 §5.5.1): queues our Close frame; the
    /// connection ends when the peer answers or `close_timeout` passes. `false` if it is not
    /// open or a close frame was already sent. The frame is made valid first (see
    /// [`wire_frame`]); `on_close` will report what was sent.
    pub(crate) fn close(
        &mut self,
        frame: CloseFrame,
        cause: Cause,
        config: &Config,
        now: Instant,
    ) -> bool {
        if !self.can_send() {
            return false;
        }
        let frame = wire_frame(frame, self.peer);
        let why = Disconnect::new(frame.code, frame.reason.as_str(), cause);
        if !self.send_close(Some(frame)) {
            return false;
        }
        if let State::Open(open) = &mut self.state {
            open.closing = Some(why);
        }
        self.deadline = Some(now + config.close_timeout);
        true
    }

    /// Queues our Close frame if the WebSocket is open and has not sent one. Every Close
    /// frame we send passes here; `frame` is already valid on the wire.
    fn send_close(&mut self, frame: Option<CloseFrame>) -> bool {
        let State::Open(open) = &mut self.state else {
            return false;
        };
        if !open.ws.can_write() {
            return false;
        }
        // Writes into `out` only; an error here means the context was already closed.
        (open.ws).close(&mut Sink(&mut self.out.buf), frame).is_ok()
    }

    /// Fails the connection (RFC 6455 §7.1.7): sends a close frame with the code if it
    /// still can, and ends the connection without waiting for the answer. Returns the
    /// `on_close` owed.
    pub(crate) fn fail(
        &mut self,
        mut why: Disconnect,
        config: &Config,
        now: Instant,
    ) -> Option<Disconnect> {
        if self.can_send() {
            let frame = CloseFrame {
                code: why.code,
                reason: why.reason.as_str().into(),
            };
            let frame = wire_frame(frame, self.peer);
            why.code = frame.code;
            why.reason.truncate(frame.reason.len());
            self.send_close(Some(frame));
        }
        self.finish(why, config, now)
    }

    /// Ends the connection: no more frames either way; what is queued is still written,
    /// for at most `close_timeout`. Returns the `on_close` owed, if it was open.
    fn finish(&mut self, why: Disconnect, config: &Config, now: Instant) -> Option<Disconnect> {
        if matches!(self.state, State::Linger { .. } | State::Done) {
            return None;
        }
        let was_open = self.is_open();
        self.state = State::Linger { shut: false };
        self.deadline = Some(now + config.close_timeout);
        was_open.then_some(why)
    }

    /// Ends a connection that is not an open WebSocket (the server is stopping): with bytes
    /// queued (a response), it lingers until they are out; otherwise it is dropped now.
    pub(crate) fn end_plain(&mut self, config: &Config, now: Instant) {
        if self.is_open() {
            return;
        }
        if self.out.pending() > 0 {
            self.finish(Disconnect::reset(), config, now);
        } else {
            self.state = State::Done;
        }
    }

    /// The connection dropped (EOF or a socket error) without completing a close
    /// handshake: dropped now, as [`drop_now`](Self::drop_now) with
    /// [`reset_report`](Self::reset_report).
    pub(crate) fn reset(&mut self) -> Option<Disconnect> {
        let why = self.reset_report();
        self.drop_now(why)
    }

    /// What `on_close` reports when the connection drops without the peer's Close: 1006
    /// (Abnormal), `Cause::Reset`; but if we had sent a Close, the code and reason we sent
    /// (the docs of `Disconnect::code` promise "the code sent or received", and one was
    /// sent), still with `Cause::Reset`, since the handshake did not complete.
    fn reset_report(&self) -> Disconnect {
        match &self.state {
            State::Open(open) => match &open.closing {
                Some(sent) => Disconnect::new(sent.code, sent.reason.as_str(), Cause::Reset),
                None => Disconnect::reset(),
            },
            _ => Disconnect::reset(),
        }
    }

    /// Drops the connection now (the reactor closes the socket). Returns the `on_close`
    /// owed, if it was open.
    pub(crate) fn drop_now(&mut self, why: Disconnect) -> Option<Disconnect> {
        let was_open = self.is_open();
        self.state = State::Done;
        was_open.then_some(why)
    }

    /// The deadline may have come. Returns the `on_close` owed, if this ends the
    /// WebSocket.
    pub(crate) fn on_timeout(&mut self, config: &Config, now: Instant) -> Option<Disconnect> {
        match self.deadline {
            Some(deadline) if deadline <= now => self.deadline = None,
            _ => return None,
        }
        let open = match &mut self.state {
            State::Request(_)
            | State::Upgrading { .. }
            | State::HttpBody { .. }
            | State::HttpHeld { .. } => {
                debug!("{} request timed out", self.peer);
                return self.drop_now(Disconnect::reset());
            }
            State::Linger { .. } | State::Done => return self.drop_now(Disconnect::reset()),
            State::Open(open) => open,
        };
        if let Some(mut why) = open.closing.take() {
            why.cause = Cause::CloseTimeout;
            return self.drop_now(why);
        }
        if open.paused {
            // Paused, it is not read, so silence says nothing; but its queue has stayed
            // above the soft limit for a whole idle period: it does not read what it is sent.
            let why = Disconnect::new(
                CloseCode::Policy,
                "peer is not reading",
                Cause::Backpressure,
            );
            return self.fail(why, config, now);
        }
        if config.idle_timeout.is_some() && !open.awaiting_pong {
            open.awaiting_pong = true;
            return match self.send(OpCode::Ping, Bytes::new(), config, now) {
                Sent::Failed(why) => Some(why),
                _ => {
                    self.deadline = Some(now + config.pong_timeout);
                    None
                }
            };
        }
        let why = Disconnect::new(CloseCode::Away, "idle timeout", Cause::IdleTimeout);
        self.fail(why, config, now)
    }

    /// The reactor wrote the queue (`all_out`: all of it). Applies backpressure: above
    /// the soft limit reading pauses, at or below it resumes.
    pub(crate) fn on_flushed(&mut self, all_out: bool, config: &Config) -> Flushed {
        let soft = config.backpressure_soft_limit;
        let pending = self.out.pending();
        match &mut self.state {
            State::Linger { shut } if all_out && !*shut => {
                *shut = true;
                Flushed {
                    shutdown: true,
                    resume: false,
                }
            }
            State::Open(open) if open.paused && pending <= soft => {
                open.paused = false;
                Flushed {
                    shutdown: false,
                    resume: true,
                }
            }
            State::Open(open) if !open.paused && pending > soft => {
                open.paused = true;
                Flushed::default()
            }
            _ => Flushed::default(),
        }
    }
}

/// The Close frame we may send for `frame` (RFC 6455 §5.5, §7.4). A code that may not
/// appear on the wire (1004, 1005, 1006, 1015, 1016–2999, below 1000, 5000 and above)
/// becomes 1011 (Internal Error): the application asked to close, so the connection still
/// closes, and a code it should not have chosen is an error on our side of it; it is logged
/// as a warning. A reason is cut to the 123 bytes the frame has room for, on a character
/// boundary.
fn wire_frame(frame: CloseFrame, peer: SocketAddr) -> CloseFrame {
    let code = u16::from(frame.code);
    let code = if is_valid_close_code(code) {
        frame.code
    } else {
        warn!("{peer}: close code {code} may not be sent; sending 1011 (Internal Error)");
        CloseCode::Error
    };
    let reason = match truncate_reason(&frame.reason) {
        cut if cut.len() < frame.reason.len() => cut.into(),
        _ => frame.reason,
    };
    CloseFrame { code, reason }
}
