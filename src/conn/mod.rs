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
//! and pausing a peer that does not read (backpressure). A connection in `State::Done`
//! is to be dropped: the reactor releases its socket.
//!
//! The transitions are split by side: `http.rs` (request heads, bodies, held requests,
//! answering an upgrade) and `open.rs` (frames, sends, the close handshake); what time
//! decides, and the states, stay here.
//!
//! `Linger` writes what is still queued (a close frame, an HTTP response), then shuts down
//! our half of the TCP connection and waits for the peer's EOF, so the last bytes are not
//! lost to a reset.

pub(crate) mod decode;
pub(crate) mod frame;
mod http;
pub(crate) mod io;
mod open;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod peer;
pub(crate) mod request;
#[cfg(feature = "tls")]
mod tls;
pub(crate) mod transport;
pub(crate) mod utf8;

#[cfg(test)]
mod tests;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use log::{debug, warn};
use tungstenite::protocol::frame::CloseFrame;

use crate::config::{BackpressurePolicy, Config};
use crate::deflate::{self, Compressor, Params};
use crate::error::{truncate_reason, Cause, Disconnect};
use crate::handler::Accept;
use crate::http::{Framing, Request, Response};
use crate::message::MessageRef;
use crate::{Bytes, CloseCode};
use decode::{is_valid_close_code, Decoder, Item, Limits};
use frame::OpCode;
use io::{OutBuf, ReadBuf, Source};
use request::{Parsed, RequestHead};

/// Where a connection is in its life. Each variant holds what only it needs, so no
/// combination of flags can contradict the phase.
#[derive(Debug)]
enum State {
    /// Reading a request head: an upgrade, or a plain HTTP request.
    Request(RequestHead),
    /// A valid upgrade request is with the handler's `on_upgrade`; the answer is
    /// [`Connection::accept`] or [`Connection::refuse`]. `tail`: bytes after the head;
    /// `extensions`: the client's `Sec-WebSocket-Extensions`, as one list.
    Upgrading {
        key: String,
        tail: Vec<u8>,
        extensions: Option<String>,
    },
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
    /// To be dropped now. `unanswered`: it ended holding a request the handler never
    /// answered, so `on_http_closed` is owed.
    Done { unanswered: bool },
}

/// An open WebSocket.
#[derive(Debug)]
struct Open {
    decoder: Decoder,
    /// permessage-deflate, if negotiated. Boxed: most connections have none, and an idle
    /// one should not carry its fields (README: memory per idle connection).
    deflate: Option<Box<Deflating>>,
    /// Why it ends, once a close handshake has started (ours or the peer's).
    closing: Option<Disconnect>,
    /// A keepalive Ping is out and unanswered.
    awaiting_pong: bool,
}

/// permessage-deflate as a connection negotiated it.
#[derive(Debug)]
struct Deflating {
    params: Params,
    /// Its own compressor, with server context takeover, made at its first compressed
    /// message (without, the reactor's shared one serves it).
    compressor: Option<Box<Compressor>>,
}

/// What the handler is to hear about; a message may be lent from the read buffer (`'r`).
#[derive(Debug)]
pub(crate) enum Event<'r> {
    /// A valid upgrade request: answer with [`Connection::accept`] or
    /// [`Connection::refuse`] before anything else. (Requests are boxed so that the
    /// event a message travels in stays small.)
    Upgrade(Box<Request>),
    /// A complete plain HTTP request, now held: [`Connection::respond`] answers it.
    Http(Box<Request>),
    /// A Text or Binary message on the open WebSocket, lent or owned.
    Message(MessageRef<'r>),
    /// The WebSocket ended: `on_close` is owed, exactly once.
    Closed(Disconnect),
    /// The request was refused by the library (the response is queued, the connection
    /// closes after it): for the reactor's rate-limited log.
    Rejected { status: u16, reason: &'static str },
}

impl Event<'_> {
    /// The event with nothing borrowed: a lent message copied out.
    pub(crate) fn into_owned(self) -> Event<'static> {
        match self {
            Event::Upgrade(req) => Event::Upgrade(req),
            Event::Http(req) => Event::Http(req),
            Event::Message(msg) => {
                let (text, payload) = (msg.is_text(), Bytes::copy_from_slice(msg.as_bytes()));
                Event::Message(MessageRef::payload(text, payload))
            }
            Event::Closed(why) => Event::Closed(why),
            Event::Rejected { status, reason } => Event::Rejected { status, reason },
        }
    }
}

/// A whole message the decoder left in place in the read buffer: `len` bytes from byte
/// `at`; `ascii`: all of them are (a text that is not is still to be validated).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lent {
    at: usize,
    len: usize,
    text: bool,
    ascii: bool,
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
    /// The reactor may write the queue once during this pass, when it passes the soft
    /// backpressure limit, and read on ([`with_early_flush`](Self::with_early_flush)).
    early_flush: bool,
    /// The queue passed the soft limit: write it now, then read again
    /// ([`take_flush`](Self::take_flush)).
    flush: bool,
}

impl Pass {
    /// A pass in which, once, a queue that passes `Config::backpressure_soft_limit` is
    /// written out before reading stops: if the socket takes it, the rest of the input is
    /// decoded in place rather than copied aside for the next pass and back (a 64 KiB
    /// echo passes the default 64 KiB limit on its own). The reactor does the write
    /// ([`take_flush`](Self::take_flush)); without this a pass stops at the limit.
    pub(crate) fn with_early_flush() -> Self {
        Pass {
            early_flush: true,
            ..Pass::default()
        }
    }

    /// Whether the connection asked for its queue to be written now (and the pass to go
    /// on); the pass is open again after it.
    pub(crate) fn take_flush(&mut self) -> bool {
        let flush = std::mem::take(&mut self.flush);
        if flush {
            self.over = false;
        }
        flush
    }
}

/// The input of one read pass: the reactor's read buffer and the reader behind it. A
/// message is lent from the buffer (`'r`) for as long as the reactor does not read again.
pub(crate) struct Input<'r, 'a, R> {
    pub(crate) rbuf: &'r mut ReadBuf,
    pub(crate) src: &'a mut R,
    pub(crate) pass: &'a mut Pass,
}

/// One connection: its state, its outbound queue, its next deadline.
#[derive(Debug)]
pub(crate) struct Connection {
    peer: SocketAddr,
    state: State,
    pub(crate) out: OutBuf,
    /// When [`on_timeout`](Self::on_timeout) must run next (what for depends on the state).
    deadline: Option<Instant>,
    /// Input read but left for the next pass (its budget ran out), or the tail of an
    /// accepted upgrade request, the WebSocket's first bytes.
    pub(crate) carry: Vec<u8>,
    /// Not read until its outbound queue drains to the soft limit: an open WebSocket, or a
    /// keep-alive connection between requests (a client that sends requests and never
    /// reads the responses would otherwise grow the queue without bound).
    paused: bool,
    /// Our Close frame is queued: nothing more is sent (§5.5.1). (Here, not in the boxed
    /// open state, so a send to many connections reads one record per connection.)
    close_sent: bool,
}

impl Connection {
    /// A connection just accepted at `now`: it has `handshake_timeout` to send a request.
    pub(crate) fn new(peer: SocketAddr, now: Instant, config: &Config) -> Self {
        Connection {
            peer,
            state: State::Request(RequestHead::default()),
            out: OutBuf::default(),
            deadline: Some(now + config.handshake_timeout),
            carry: Vec::new(),
            paused: false,
            close_sent: false,
        }
    }

    /// A connection whose upgrade was accepted, for tests of what sits above it.
    #[cfg(test)]
    pub(crate) fn opened(peer: SocketAddr, now: Instant, config: &Config) -> Self {
        let mut conn = Connection::new(peer, now, config);
        conn.state = State::Upgrading {
            key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
            tail: Vec::new(),
            extensions: None,
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
        self.paused && matches!(self.state, State::Open(_) | State::Request(_))
    }

    /// Lingering with everything written and our half shut: nothing is left to send.
    pub(crate) fn is_shut(&self) -> bool {
        matches!(self.state, State::Linger { shut: true })
    }

    /// The reactor must drop it now.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done { .. })
    }

    /// Done, and it ended holding a request the handler never answered.
    pub(crate) fn dropped_unanswered(&self) -> bool {
        matches!(self.state, State::Done { unanswered: true })
    }

    /// Lingering, its last bytes not yet all out: nothing more will be queued, so the
    /// transport may end its stream after them (TLS `close_notify`).
    pub(crate) fn is_ending(&self) -> bool {
        matches!(self.state, State::Linger { shut: false })
    }

    /// There is something to write, or a shutdown to do once it is written.
    pub(crate) fn wants_flush(&self) -> bool {
        self.out.pending() > 0 || matches!(self.state, State::Linger { shut: false })
    }

    /// Reads and decodes input until there is an event for the handler (`Some`) or this
    /// pass is over (`None`: drained, budget spent, backpressure, or the state does not
    /// read any more this pass). Call again after handling each event.
    #[inline]
    pub(crate) fn read<'r, R: Source>(
        &mut self,
        mut input: Input<'r, '_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event<'r>> {
        if input.pass.over {
            return None;
        }
        let event = match &mut self.state {
            State::Open(_) => match self.read_frames(&mut input, config, now) {
                // The message the decoder left in place, lent from the read buffer once
                // its text is validated; the pass goes on. A text that is not UTF-8 fails
                // the connection (RFC 6455 §8.1).
                Some(Err(lent)) => {
                    let payload = input.rbuf.lent(lent.at, lent.len);
                    match decode::message_in((payload, lent.at), lent.text, lent.ascii) {
                        Ok(msg) => {
                            input.pass.started = true;
                            return Some(Event::Message(msg));
                        }
                        Err((_, fail)) => self.on_item(fail, config, now),
                    }
                }
                Some(Ok(event)) => Some(event),
                None => None,
            },
            _ => self.read_other(&mut input, config, now),
        };
        input.pass.started = true;
        // A message or an accepted upgrade lets the pass go on; anything else ends it.
        input.pass.over = !matches!(event, Some(Event::Message(_) | Event::Upgrade(_)));
        event
    }

    /// [`read`](Self::read) in the states that are not an open WebSocket.
    #[inline(never)]
    fn read_other<R: Source>(
        &mut self,
        input: &mut Input<'_, '_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Event<'static>> {
        match &mut self.state {
            State::Request(_) => self.read_request(input, config, now),
            State::HttpBody { .. } => self.read_body(input, config, now),
            // `read` reads frames.
            State::Open(_) => None,
            // Only as the pass's first act: a state reached during the pass (a held
            // request, a failure) leaves the rest of the input for later.
            State::HttpHeld { .. } | State::Linger { .. } if !input.pass.started => {
                self.discard(input);
                None
            }
            State::HttpHeld { .. } | State::Linger { .. } | State::Upgrading { .. } => None,
            State::Done { .. } => None,
        }
    }

    /// Ends the connection: no more frames either way; what is queued is still written,
    /// for at most `close_timeout`. Returns the `on_close` owed, if it was open.
    fn finish(&mut self, why: Disconnect, config: &Config, now: Instant) -> Option<Disconnect> {
        if matches!(self.state, State::Linger { .. } | State::Done { .. }) {
            return None;
        }
        let was_open = self.is_open();
        self.state = State::Linger { shut: false };
        self.deadline = Some(now + config.close_timeout);
        was_open.then_some(why)
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
        self.end_now();
        was_open.then_some(why)
    }

    /// Enters `Done`, remembering whether a held request goes unanswered.
    fn end_now(&mut self) {
        if !self.is_done() {
            let unanswered = self.is_held();
            self.state = State::Done { unanswered };
        }
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
            State::Linger { .. } | State::Done { .. } => return self.drop_now(Disconnect::reset()),
            State::Open(open) => open,
        };
        if let Some(mut why) = open.closing.take() {
            why.cause = Cause::CloseTimeout;
            return self.drop_now(why);
        }
        if self.paused {
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
        let reads = matches!(self.state, State::Open(_) | State::Request(_));
        match &mut self.state {
            State::Linger { shut } if all_out && !*shut => {
                *shut = true;
                Flushed {
                    shutdown: true,
                    resume: false,
                }
            }
            _ if reads && self.paused && pending <= soft => {
                self.paused = false;
                Flushed {
                    shutdown: false,
                    resume: true,
                }
            }
            _ if reads && !self.paused && pending > soft => {
                self.paused = true;
                Flushed::default()
            }
            _ => Flushed::default(),
        }
    }
}
