//! Engine.IO v4 sessions over long-polling and WebSocket, sans I/O.
//!
//! A session is what a client holds across transports: its sid, its heartbeat, the packets
//! waiting for it. It starts on one transport:
//!
//! ```text
//! polling:   GET (no sid) ─► open packet ─► GET held until packets are queued, POST "ok"
//!                 └─ upgrade: WS ?sid= ─► "2probe"/"3probe" ─► noop ends the held GET ─► "5"
//! websocket: WS (no sid) ─► open packet ─► one packet per frame
//! ```
//!
//! and ends on a close packet from either side, a ping unanswered for `ping_timeout`, an
//! undecodable packet, or its transport closing. A probe that never sends `5` is dropped
//! after `upgrade_timeout`; a polling session the server closes keeps its last packets
//! until the next GET takes them (or `ping_timeout` passes). Every path removes the session.
//!
//! Nothing here does I/O or reads a clock. Entry points take the time and record their
//! effects (frames, responses to held requests, closes, timers); [`Engine::flush`] hands
//! them to a [`Wire`] (the reactor's [`Ctx`]) after each callback, so all packets one
//! callback queued for a polling client leave in one response. Each session keeps one
//! deadline (the earliest of its heartbeat, upgrade, drain and application deadlines) and
//! arms one reactor timer for it, lazily: no per-tick scan over sessions.
//!
//! What runs on top (Socket.IO, or a bare echo) is an [`App`]: it is told of sessions
//! opening, messages and closes, and queues packets with [`Engine::send`].

#[cfg(feature = "fuzzing")]
pub(crate) mod audit;
pub(crate) mod cookie;
pub(crate) mod cors;
pub(crate) mod http;
pub(crate) mod packet;
mod polling;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod record;
mod timing;
mod upgrade;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;

use self::cookie::SessionCookie;
use self::cors::{Cors, CorsHeaders};
use self::http::{AllowRequest, ErrorCode, Query};
use self::packet::{Incoming, Out, Packet};
use self::polling::HeldGets;
use super::reason::DisconnectReason;
use super::sid;
use crate::deflate::DeflateConfig;
use crate::error::{Cause, Disconnect};
use crate::http::{Request, Response};
use crate::id::ConnId;
use crate::id::TimerId;
use crate::slab::{key_type, Slab};
use crate::{CloseCode, Message, ServerCtx};
use tungstenite::{Bytes, Utf8Bytes};

/// Engine.IO settings, from [`Options`](super::Options).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) max_buffer: usize,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) cors: Option<Cors>,
    pub(crate) allow_request: Option<AllowRequest>,
    pub(crate) cookie: Option<SessionCookie>,
    pub(crate) deflate: Option<DeflateConfig>,
}

/// Where the engine's effects go: the reactor's [`ServerCtx`], or a recorder in tests.
pub(crate) trait Wire {
    fn send(&mut self, conn: ConnId, msg: Message);
    /// `false` if the request is no longer held (its connection is gone).
    fn respond(&mut self, conn: ConnId, response: Response) -> bool;
    fn is_held(&mut self, conn: ConnId) -> bool;
    /// Whether a WebSocket takes more now: not past its soft backpressure limit.
    fn is_writable(&mut self, conn: ConnId) -> bool;
    fn close(&mut self, conn: ConnId, code: CloseCode, reason: &str);
    fn set_timer(&mut self, delay: Duration) -> TimerId;
}

impl Wire for ServerCtx<'_> {
    fn send(&mut self, conn: ConnId, msg: Message) {
        self.send_endpoint(conn, msg);
    }
    fn respond(&mut self, conn: ConnId, response: Response) -> bool {
        ServerCtx::respond(self, conn, response)
    }
    fn is_held(&mut self, conn: ConnId) -> bool {
        ServerCtx::is_held(self, conn)
    }
    fn is_writable(&mut self, conn: ConnId) -> bool {
        ServerCtx::is_writable(self, conn)
    }
    fn close(&mut self, conn: ConnId, code: CloseCode, reason: &str) {
        self.close_endpoint(conn, code, reason);
    }
    fn set_timer(&mut self, delay: Duration) -> TimerId {
        ServerCtx::set_timer(self, delay)
    }
}

/// What runs on Engine.IO sessions. `Client` is its state per session.
pub(crate) trait App {
    type Client: Default;
    /// A session opened (its open packet is queued).
    fn on_open(
        &mut self,
        eng: &mut Engine<Self::Client>,
        s: SessKey,
        req: &Request,
        peer: SocketAddr,
    );
    /// A message packet arrived.
    fn on_message(&mut self, eng: &mut Engine<Self::Client>, s: SessKey, msg: Incoming<'_>);
    /// The session ended for `reason`; nothing more can be sent to it.
    fn on_close(&mut self, eng: &mut Engine<Self::Client>, s: SessKey, reason: DisconnectReason);
    /// The deadline set with [`Engine::set_app_deadline`] has come.
    fn on_deadline(&mut self, eng: &mut Engine<Self::Client>, s: SessKey);
    /// The server started, this endpoint on reactor `reactor`; `handle` reaches it from
    /// other threads, `peers` (with several reactors) the endpoints of this path on all.
    fn on_start(
        &mut self,
        _handle: &crate::Handle,
        _reactor: usize,
        _peers: Option<std::sync::Arc<crate::socketio::peers::Peers>>,
    ) {
    }
    /// Another thread left work for the app ([`Handle::notify`](crate::Handle::notify)).
    fn on_notify(&mut self, _eng: &mut Engine<Self::Client>) {}
    /// A timer set with [`Engine::set_app_timer`] is due.
    #[cfg(feature = "redis")]
    fn on_app_timer(&mut self, _eng: &mut Engine<Self::Client>, _token: u64) {}
}

/// The close frame a WebSocket of the engine is closed with.
pub(crate) type WsClose = (CloseCode, &'static str);

/// How the engine closes a WebSocket it is done with.
const NORMAL: WsClose = (CloseCode::Normal, "");
/// A message over `max_payload`: what the reference's `ws` sends (its `maxPayload`).
const TOO_LARGE: WsClose = (CloseCode::Size, "max payload exceeded");
/// What the reactor closes every WebSocket with on shutdown.
const SHUTDOWN: WsClose = (CloseCode::Away, "server shutting down");

key_type! {
    /// A session's key: a slot and generation, so a stale key never reaches a newer
    /// session.
    pub(crate) struct SessKey;
}

#[derive(Debug)]
enum Transport {
    /// `get`: the GET request held until there is something to send.
    Polling {
        get: Option<ConnId>,
    },
    WebSocket(ConnId),
}

/// A WebSocket trying to take over a polling session.
#[derive(Debug)]
struct Probe {
    conn: ConnId,
    /// `2probe` was answered: the held GET was released, new ones get a noop at once.
    probed: bool,
    deadline: Instant,
}

#[derive(Debug, Clone, Copy)]
enum Heartbeat {
    PingAt(Instant),
    PongBy(Instant),
}

#[derive(Debug)]
struct Session<C> {
    sid: Arc<str>,
    transport: Transport,
    probe: Option<Probe>,
    /// Packets for a polling client, until a GET takes them.
    queue: VecDeque<Out>,
    queued_bytes: usize,
    heartbeat: Heartbeat,
    /// The app was told it ended; nothing more is sent but the drain.
    closed: bool,
    /// Closed by the server on polling: the queue, then a close packet, wait for the GETs
    /// until then.
    draining: Option<Instant>,
    /// On WebSocket: packets wait in `queue` until this time (see [`Engine::pace`]).
    paced_until: Option<Instant>,
    app_deadline: Option<Instant>,
    /// The earliest deadline a reactor timer is set for.
    armed: Option<Instant>,
    dirty: bool,
    client: C,
}

impl<C> Session<C> {
    /// What the next GET gets, if anything: the queued packets; once they are out and the
    /// session is draining, the close packet, alone (`true`: the session ends with it). As
    /// the reference, which closes the transport only after its buffer drained: the client
    /// handles a payload's packets in order, but a Socket.IO DISCONNECT in the same payload
    /// as the close would reach its sockets after the transport's close.
    fn next_payload(&self) -> Option<(Vec<u8>, bool)> {
        if !self.queue.is_empty() {
            Some((packet::encode_payload(self.queue.iter()), false))
        } else if self.draining.is_some() {
            Some((packet::encode_payload([&Out::CLOSE]), true))
        } else {
            None
        }
    }

    /// A GET took the queue.
    fn took_queue(&mut self) {
        self.queue.clear();
        self.queued_bytes = 0;
    }
}

/// A map keyed by ids the reactor hands out (connections, timers), looked up once or twice
/// per message: foldhash (hashbrown's default hasher) instead of SipHash, whose resistance to
/// chosen keys buys nothing for keys no peer chooses.
pub(crate) type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What a WebSocket connection on the endpoint is to the engine.
#[derive(Debug, Clone, Copy)]
enum WsRole {
    Transport(SessKey),
    Probe(SessKey),
    /// Closed by the engine; forgotten at its `on_close`.
    Done,
}

/// Sessions held at once, at most: polling sessions hold no connection, so
/// `max_connections` does not bound them.
const MAX_SESSIONS: usize = 1 << 24;

#[derive(Debug)]
enum Effect {
    Send(ConnId, Message),
    /// Sent only if the connection is writable when the effects are flushed.
    SendVolatile(ConnId, Message),
    Respond(ConnId, Response),
    Close(ConnId, WsClose),
    Timer(Duration, SessKey),
    /// A timer of the app's own ([`App::on_app_timer`]), with its token.
    #[cfg(feature = "redis")]
    AppTimer(Duration, u64),
}

/// All Engine.IO sessions of one endpoint.
#[derive(Debug)]
pub(crate) struct Engine<C> {
    pub(crate) settings: Settings,
    sessions: Slab<SessKey, Session<C>>,
    by_sid: HashMap<Arc<str>, SessKey>,
    ws: IdMap<ConnId, WsRole>,
    gets: HeldGets,
    dirty: Vec<SessKey>,
    /// Polling sessions whose queue passed `max_buffer`, ended at the next flush.
    overflowed: Vec<SessKey>,
    effects: Vec<Effect>,
    /// The reactor timers armed for sessions.
    timers: IdMap<TimerId, SessKey>,
    /// The reactor timers armed for the app, with their tokens.
    #[cfg(feature = "redis")]
    app_timers: IdMap<TimerId, u64>,
    /// The time the running entry point was given (the engine never reads a clock).
    /// `None` only before the first entry point; every session is opened by one, so
    /// wherever a session exists this is `Some`.
    now: Option<Instant>,
    /// With several reactors, this one's number, which its session ids name.
    reactor: Option<u8>,
}

impl<C: Default> Engine<C> {
    pub(crate) fn new(settings: Settings) -> Self {
        Engine {
            settings,
            sessions: Slab::default(),
            by_sid: HashMap::new(),
            ws: IdMap::default(),
            gets: HeldGets::default(),
            dirty: Vec::new(),
            overflowed: Vec::new(),
            effects: Vec::new(),
            timers: IdMap::default(),
            #[cfg(feature = "redis")]
            app_timers: IdMap::default(),
            now: None,
            reactor: None,
        }
    }

    /// Names `reactor` in every session id from now on (a server with several reactors
    /// routes each request to the session's).
    pub(crate) fn set_reactor(&mut self, reactor: u8) {
        self.reactor = Some(reactor);
    }

    // ---- what the app uses ----

    /// The time of the current callback: `Some` inside every entry point, so whenever the
    /// app has a session to act for.
    pub(crate) fn now(&self) -> Option<Instant> {
        self.now
    }

    /// Generates an unguessable id (for sockets), as session ids are made.
    pub(crate) fn new_id(&mut self) -> String {
        sid::generate(None)
    }

    pub(crate) fn client_mut(&mut self, s: SessKey) -> Option<&mut C> {
        self.sessions.get_mut(s).map(|sess| &mut sess.client)
    }

    pub(crate) fn sid(&mut self, s: SessKey) -> Option<Arc<str>> {
        self.sessions.get_mut(s).map(|sess| Arc::clone(&sess.sid))
    }

    /// Open sessions (not closed, not draining).
    pub(crate) fn len(&self) -> usize {
        self.sessions.values().filter(|s| !s.closed).count()
    }

    /// Queues a packet for the session; `false` if it is gone or closed. On WebSocket the
    /// frame goes out with this callback's writes; on polling it waits for a GET. A polling
    /// queue still past `max_buffer` at the next flush ends the session (transport error);
    /// one the server closed meanwhile loses its queue, and drains the close packet alone.
    pub(crate) fn send(&mut self, s: SessKey, out: Out) -> bool {
        let Some(sess) = self.sessions.get_mut(s) else {
            return false;
        };
        if sess.closed {
            return false;
        }
        match sess.transport {
            Transport::WebSocket(conn) if sess.paced_until.is_none() => {
                self.effects.push(Effect::Send(conn, out.to_ws()));
            }
            Transport::WebSocket(_) | Transport::Polling { .. } => {
                sess.queued_bytes += out.len();
                sess.queue.push_back(out);
                if sess.queued_bytes > self.settings.max_buffer {
                    // A client that does not poll cannot make the server hold unbounded data.
                    self.overflowed.push(s);
                }
                if !sess.dirty {
                    sess.dirty = true;
                    self.dirty.push(s);
                }
            }
        }
        true
    }

    /// Queues a packet and its attachments only if the session's transport can take them
    /// now (a volatile emit: the reference's `transport.writable`): a long-polling GET is
    /// waiting, or the WebSocket is within its soft backpressure limit when this
    /// callback's writes are flushed. `false` if dropped.
    pub(crate) fn send_volatile(&mut self, s: SessKey, text: Utf8Bytes, bins: &[Bytes]) -> bool {
        let Some(sess) = self.sessions.get_mut(s).filter(|sess| !sess.closed) else {
            return false;
        };
        match sess.transport {
            Transport::WebSocket(conn) if sess.paced_until.is_none() => {
                let packets =
                    std::iter::once(Out::Text(text)).chain(bins.iter().cloned().map(Out::Binary));
                for out in packets {
                    self.effects.push(Effect::SendVolatile(conn, out.to_ws()));
                }
                true
            }
            Transport::Polling { get: Some(_) } if sess.queue.is_empty() => {
                self.send(s, Out::Text(text));
                for bin in bins {
                    self.send(s, Out::Binary(bin.clone()));
                }
                true
            }
            _ => false,
        }
    }

    /// Closes the session from the server side; the app is not called back. On polling,
    /// what is queued still goes to the next GET, with a close packet.
    pub(crate) fn close(&mut self, s: SessKey) {
        self.teardown(s, None, NORMAL);
    }

    /// Sets (or clears) the one deadline of the app for this session; `App::on_deadline`
    /// runs when it comes.
    pub(crate) fn set_app_deadline(&mut self, s: SessKey, at: Option<Instant>) {
        if let Some(sess) = self.sessions.get_mut(s) {
            sess.app_deadline = at;
            self.rearm(s);
        }
    }

    // ---- routing ----

    /// Whether this WebSocket connection belongs to the engine.
    pub(crate) fn owns_conn(&self, conn: ConnId) -> bool {
        self.ws.contains_key(&conn)
    }

    /// Whether this timer is one of the engine's.
    pub(crate) fn owns_timer(&self, timer: TimerId) -> bool {
        #[cfg(feature = "redis")]
        if self.app_timers.contains_key(&timer) {
            return true;
        }
        self.timers.contains_key(&timer)
    }

    /// Calls [`App::on_app_timer`] with `token` after `delay` (reactor time).
    #[cfg(feature = "redis")]
    pub(crate) fn set_app_timer(&mut self, delay: Duration, token: u64) {
        self.effects.push(Effect::AppTimer(delay, token));
    }

    // ---- entry points ----

    /// Vets a WebSocket upgrade before the 101: transport, sid if any, and for a new
    /// session the app's [`allow_request`](Settings::allow_request) and the version. The
    /// reference refuses these before the handshake, with a `400` and its message as text.
    pub(crate) fn check_upgrade(&self, req: &Request) -> Result<(), Response> {
        let q = Query::parse(req);
        let refusal = match q.sid {
            _ if q.transport != Some("websocket") => {
                Some(http::upgrade_error(ErrorCode::UnknownTransport, None))
            }
            Some(sid) if !self.by_sid.contains_key(sid) => {
                Some(http::upgrade_error(ErrorCode::UnknownSid, None))
            }
            Some(_) => None,
            None => match self.allow(req) {
                Err(forbidden) => Some(forbidden.upgrade()),
                Ok(()) if q.eio != Some("4") => Some(http::upgrade_error(
                    ErrorCode::UnsupportedProtocolVersion,
                    None,
                )),
                Ok(()) => None,
            },
        };
        match refusal {
            Some(response) => Err(self.cors_headers(req).apply(response)),
            None => Ok(()),
        }
    }

    /// A plain HTTP request on the endpoint: a handshake, a GET (answered now or held:
    /// `None`), a POST of packets, or a CORS preflight. Every answer, now or later, carries
    /// the CORS headers for the request.
    pub(crate) fn on_http<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        wire: &mut impl Wire,
        at: (ConnId, SocketAddr, Instant),
        req: &Request,
    ) -> Option<Response> {
        self.now = Some(at.2);
        if let (Some(cors), "OPTIONS") = (&self.settings.cors, req.method()) {
            return Some(cors.preflight(req));
        }
        let cors = self.cors_headers(req);
        let response = self.serve(app, wire, at, req, &cors)?;
        Some(cors.apply(response))
    }

    /// [`on_http`](Self::on_http) without CORS; a GET held is answered with `cors`.
    fn serve<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        wire: &mut impl Wire,
        (conn, peer, now): (ConnId, SocketAddr, Instant),
        req: &Request,
        cors: &CorsHeaders,
    ) -> Option<Response> {
        let q = Query::parse(req);
        if !matches!(q.transport, Some("polling" | "websocket")) {
            return Some(http::error(ErrorCode::UnknownTransport));
        }
        let Some(sid) = q.sid else {
            if req.method() != "GET" {
                return Some(http::error(ErrorCode::BadHandshakeMethod));
            }
            if q.transport != Some("polling") {
                // A WebSocket handshake that did not ask for an upgrade.
                return Some(http::error(ErrorCode::BadRequest));
            }
            // The reference asks the app before it looks at the version.
            if let Err(forbidden) = self.allow(req) {
                return Some(forbidden.polling());
            }
            if q.eio != Some("4") {
                return Some(http::error(ErrorCode::UnsupportedProtocolVersion));
            }
            return Some(self.open_polling(app, req, peer, now));
        };
        let Some(&s) = self.by_sid.get(sid) else {
            return Some(http::error(ErrorCode::UnknownSid));
        };
        if self.overdue(app, s, now) {
            return Some(http::error(ErrorCode::UnknownSid));
        }
        let polling = self
            .sessions
            .get_mut(s)
            .is_some_and(|sess| matches!(sess.transport, Transport::Polling { .. }));
        if q.transport != Some("polling") || !polling {
            return Some(http::error(ErrorCode::BadRequest));
        }
        let response = match req.method() {
            "GET" => self.poll(app, wire, s, conn, cors),
            "POST" => Some(self.post(app, s, req.body(), now)),
            _ => Some(http::error(ErrorCode::BadRequest)),
        };
        self.rearm(s);
        response
    }

    /// A WebSocket opened on the endpoint: a new session, or a probe to upgrade one.
    pub(crate) fn on_ws_open<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        (conn, peer, now): (ConnId, SocketAddr, Instant),
        req: &Request,
    ) {
        self.now = Some(now);
        let q = Query::parse(req);
        let Some(sid) = q.sid else {
            if self.sessions.len() >= MAX_SESSIONS {
                self.ws.insert(conn, WsRole::Done);
                self.effects.push(Effect::Close(conn, NORMAL));
                return;
            }
            let s = self.open(Transport::WebSocket(conn), now);
            self.ws.insert(conn, WsRole::Transport(s));
            self.send_open(s, false);
            app.on_open(self, s, req, peer);
            return;
        };
        let deadline = now + self.settings.upgrade_timeout;
        let s = self.by_sid.get(sid).copied();
        let sess = s.and_then(|s| self.sessions.get_mut(s));
        // One WebSocket per session: a second probe, or one after the upgrade, is closed
        // (the reference accepts the handshake and then closes it).
        match (s, sess) {
            (Some(s), Some(sess))
                if matches!(sess.transport, Transport::Polling { .. })
                    && sess.probe.is_none()
                    && !sess.closed =>
            {
                debug!("{sid}: upgrade probe on {conn}");
                sess.probe = Some(Probe {
                    conn,
                    probed: false,
                    deadline,
                });
                self.ws.insert(conn, WsRole::Probe(s));
                self.rearm(s);
            }
            _ => {
                self.ws.insert(conn, WsRole::Done);
                self.effects.push(Effect::Close(conn, NORMAL));
            }
        }
    }

    /// A frame from a WebSocket of the endpoint.
    pub(crate) fn on_ws_message<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        conn: ConnId,
        msg: Message,
        now: Instant,
    ) {
        self.now = Some(now);
        let len = match &msg {
            Message::Text(text) => text.len(),
            Message::Binary(bytes) => bytes.len(),
            _ => 0,
        };
        match self.ws.get(&conn).copied() {
            Some(WsRole::Transport(s)) => {
                if self.overdue(app, s, now) {
                    return;
                }
                // `maxPayload` bounds a packet on every transport: on polling the POST
                // (413), on WebSocket the message, as the reference's `ws` does (1009).
                if len > self.settings.max_payload {
                    debug!("{conn}: message of {len} bytes over max_payload");
                    let reason = DisconnectReason::TransportError;
                    return self.end_with(app, s, reason, Out::CLOSE, TOO_LARGE);
                }
                match msg {
                    Message::Text(text) => match packet::decode_text(&text) {
                        Ok(packet) => self.on_packet(app, s, packet, now),
                        Err(_) => self.end(app, s, DisconnectReason::ParseError, Out::CLOSE),
                    },
                    Message::Binary(bytes) => app.on_message(self, s, Incoming::Binary(bytes)),
                    _ => {}
                }
                self.rearm(s);
            }
            Some(WsRole::Probe(s)) if len > self.settings.max_payload => {
                self.abandon_probe(s, conn, TOO_LARGE);
            }
            Some(WsRole::Probe(s)) => self.on_probe_message(s, conn, msg),
            Some(WsRole::Done) | None => {}
        }
    }

    /// A WebSocket of the endpoint closed (after `on_open`; exactly once).
    pub(crate) fn on_ws_close<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        conn: ConnId,
        why: &Disconnect,
        now: Instant,
    ) {
        self.now = Some(now);
        match self.ws.remove(&conn) {
            Some(WsRole::Transport(s)) => {
                let reason = match why.cause {
                    Cause::Protocol | Cause::Backpressure | Cause::HandlerPanic => {
                        DisconnectReason::TransportError
                    }
                    Cause::Shutdown => DisconnectReason::ServerShuttingDown,
                    _ => DisconnectReason::TransportClose,
                };
                self.end(app, s, reason, Out::CLOSE);
            }
            Some(WsRole::Probe(s)) => {
                if let Some(sess) = self.sessions.get_mut(s) {
                    debug!("{}: upgrade abandoned", sess.sid);
                    sess.probe = None;
                }
            }
            Some(WsRole::Done) | None => {}
        }
    }

    /// A connection closed while the engine held a GET on it (the client vanished, or its
    /// proxy gave up): the reference's "poll connection closed prematurely". The session
    /// ends at once (`transport error`), as it would on WebSocket, instead of at its next
    /// ping. `false` if the engine held no GET there.
    pub(crate) fn on_http_closed<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        conn: ConnId,
        now: Instant,
    ) -> bool {
        let Some(s) = self.gets.forget(conn) else {
            return false;
        };
        self.now = Some(now);
        let Some(sess) = self.sessions.get_mut(s) else {
            return true;
        };
        match &mut sess.transport {
            Transport::Polling { get } if *get == Some(conn) => *get = None,
            _ => return true,
        }
        debug!("{}: held GET's connection closed", sess.sid);
        if sess.closed {
            // Closed by the server and draining: the GET that would have drained it is
            // gone, and nobody is left to send the rest to.
            self.remove(s);
        } else {
            self.end(app, s, DisconnectReason::TransportError, Out::CLOSE);
        }
        true
    }

    /// Another thread left work for the app.
    pub(crate) fn on_notify<A: App<Client = C>>(&mut self, app: &mut A, now: Instant) {
        self.now = Some(now);
        app.on_notify(self);
    }

    /// The server is shutting down: every session ends (`server shutting down`), on
    /// every transport alike. A held GET gets a close packet, as the reference answers
    /// it; a WebSocket is closed with 1001, as the reactor closes all of them.
    pub(crate) fn on_shutdown<A: App<Client = C>>(&mut self, app: &mut A, now: Instant) {
        self.now = Some(now);
        let open: Vec<SessKey> = self.sessions.keys().collect();
        for s in open {
            if self.is_open(s) {
                let reason = DisconnectReason::ServerShuttingDown;
                self.end_with(app, s, reason, Out::CLOSE, SHUTDOWN);
            } else {
                // Draining a server close: its last GET will not come now.
                self.remove(s);
            }
        }
    }

    /// One of the engine's reactor timers fired.
    pub(crate) fn on_timer<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        timer: TimerId,
        now: Instant,
    ) {
        self.now = Some(now);
        #[cfg(feature = "redis")]
        if let Some(token) = self.app_timers.remove(&timer) {
            return app.on_app_timer(self, token);
        }
        let Some(s) = self.timers.remove(&timer) else {
            return;
        };
        if let Some(sess) = self.sessions.get_mut(s) {
            if sess.armed.is_some_and(|at| at <= now) {
                sess.armed = None;
            }
        }
        self.run_due(app, s, now);
        self.rearm(s);
    }

    /// Ends sessions that overflowed, hands the recorded effects to the wire, and answers
    /// held GETs of sessions with packets queued. A GET whose connection is gone is
    /// forgotten; its packets stay queued for the next one.
    pub(crate) fn flush<A: App<Client = C>>(&mut self, app: &mut A, wire: &mut impl Wire) {
        while let Some(s) = self.overflowed.pop() {
            let max = self.settings.max_buffer;
            let Some(sess) = self
                .sessions
                .get_mut(s)
                .filter(|sess| sess.queued_bytes > max)
            else {
                // Gone, or its queue taken since (the handshake's answer takes what the app
                // queued on opening).
                continue;
            };
            if sess.closed {
                // Closed by the server in the same callback: what it cannot hold is dropped,
                // and the next GET gets the close packet alone.
                sess.took_queue();
            } else {
                self.end(app, s, DisconnectReason::TransportError, Out::CLOSE);
            }
        }
        for effect in self.effects.drain(..) {
            match effect {
                Effect::Send(conn, msg) => wire.send(conn, msg),
                Effect::SendVolatile(conn, msg) => {
                    if wire.is_writable(conn) {
                        wire.send(conn, msg);
                    }
                }
                Effect::Respond(conn, response) => {
                    wire.respond(conn, response);
                }
                Effect::Close(conn, (code, reason)) => wire.close(conn, code, reason),
                Effect::Timer(delay, s) => {
                    self.timers.insert(wire.set_timer(delay), s);
                }
                #[cfg(feature = "redis")]
                Effect::AppTimer(delay, token) => {
                    self.app_timers.insert(wire.set_timer(delay), token);
                }
            }
        }
        for s in std::mem::take(&mut self.dirty) {
            let Some(sess) = self.sessions.get_mut(s) else {
                continue;
            };
            sess.dirty = false;
            let next = sess.next_payload();
            let Transport::Polling { get } = &mut sess.transport else {
                continue;
            };
            let (Some((body, last)), Some(conn)) = (next, get.take()) else {
                continue;
            };
            if wire.respond(conn, self.gets.answer(conn, body)) {
                sess.took_queue();
                if last {
                    self.remove(s);
                }
            }
        }
    }

    // ---- internals ----

    /// The CORS headers of the responses to `req` (none without the `cors` option).
    fn cors_headers(&self, req: &Request) -> CorsHeaders {
        self.settings
            .cors
            .as_ref()
            .map(|cors| cors.headers(req))
            .unwrap_or_default()
    }

    /// The app's verdict on a handshake request.
    fn allow(&self, req: &Request) -> Result<(), http::Forbidden> {
        match &self.settings.allow_request {
            Some(allow) => allow.check(req),
            None => Ok(()),
        }
    }

    fn open(&mut self, transport: Transport, now: Instant) -> SessKey {
        let sid: Arc<str> = sid::generate(self.reactor).into();
        let s = self.sessions.insert(Session {
            sid: Arc::clone(&sid),
            transport,
            probe: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            heartbeat: Heartbeat::PingAt(now + self.settings.ping_interval),
            closed: false,
            draining: None,
            paced_until: None,
            app_deadline: None,
            armed: None,
            dirty: false,
            client: C::default(),
        });
        debug!("{sid}: opened");
        self.by_sid.insert(sid, s);
        self.rearm(s);
        s
    }

    fn send_open(&mut self, s: SessKey, polling: bool) {
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        let st = &self.settings;
        let open = format!(
            r#"0{{"sid":"{}","upgrades":[{}],"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
            sess.sid,
            if polling { r#""websocket""# } else { "" },
            st.ping_interval.as_millis(),
            st.ping_timeout.as_millis(),
            st.max_payload
        );
        self.send(s, Out::Text(open.into()));
    }

    fn is_open(&mut self, s: SessKey) -> bool {
        self.sessions.get_mut(s).is_some_and(|sess| !sess.closed)
    }

    /// A packet from the session's transport.
    fn on_packet<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        s: SessKey,
        packet: Packet<'_>,
        now: Instant,
    ) {
        let interval = self.settings.ping_interval;
        match packet {
            Packet::Message(msg) => app.on_message(self, s, msg),
            Packet::Pong { .. } => {
                if let Some(sess) = self.sessions.get_mut(s) {
                    if let Heartbeat::PongBy(_) = sess.heartbeat {
                        sess.heartbeat = Heartbeat::PingAt(now + interval);
                    }
                }
            }
            // The client closes: a held GET ends with a noop, as the reference answers it.
            Packet::Close => self.end(app, s, DisconnectReason::TransportClose, Out::NOOP),
            // In v4 the server pings and the client answers; a ping from the client (other
            // than an upgrade probe, which comes on the new transport) is an error.
            Packet::Ping { .. } => self.end(app, s, DisconnectReason::TransportError, Out::CLOSE),
            Packet::Open | Packet::Upgrade | Packet::Noop => {}
        }
    }

    /// Ends the session for `reason` on the engine's initiative: the app is told, then the
    /// transport is closed. A held GET is answered with `reply`.
    fn end<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        s: SessKey,
        reason: DisconnectReason,
        reply: Out,
    ) {
        self.end_with(app, s, reason, reply, NORMAL);
    }

    /// [`end`](Self::end), closing a WebSocket transport with `ws_close`.
    fn end_with<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        s: SessKey,
        reason: DisconnectReason,
        reply: Out,
        ws_close: WsClose,
    ) {
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        if sess.closed {
            return;
        }
        sess.closed = true;
        debug!("{}: closed ({reason})", sess.sid);
        app.on_close(self, s, reason);
        self.teardown(s, Some(reply), ws_close);
    }

    /// Closes the transports. `reply`: answer a held GET with it and drop the session now;
    /// `None`: the server closes, so queued packets drain to one more GET first.
    fn teardown(&mut self, s: SessKey, reply: Option<Out>, ws_close: WsClose) {
        let (Some(sess), Some(now)) = (self.sessions.get_mut(s), self.now) else {
            return;
        };
        sess.closed = true;
        if let Some(probe) = sess.probe.take() {
            self.ws.insert(probe.conn, WsRole::Done);
            self.effects.push(Effect::Close(probe.conn, ws_close));
        }
        match (&mut sess.transport, reply) {
            (Transport::WebSocket(conn), _) => {
                let conn = *conn;
                // One the reactor reported closed is forgotten already, and takes nothing.
                if self.ws.contains_key(&conn) {
                    for out in sess.queue.drain(..) {
                        self.effects.push(Effect::Send(conn, out.to_ws()));
                    }
                    self.ws.insert(conn, WsRole::Done);
                    self.effects.push(Effect::Close(conn, ws_close));
                }
                self.remove(s);
            }
            (Transport::Polling { get }, Some(reply)) => {
                if let Some(get) = get.take() {
                    let response = self.gets.answer(get, packet::encode_payload([&reply]));
                    self.effects.push(Effect::Respond(get, response));
                }
                self.remove(s);
            }
            (Transport::Polling { .. }, None) => {
                // Bounded like a client's silence: the reference waits for the GET too.
                sess.draining = Some(now + self.settings.ping_timeout);
                if !sess.dirty {
                    sess.dirty = true;
                    self.dirty.push(s);
                }
                self.rearm(s);
            }
        }
    }

    fn remove(&mut self, s: SessKey) {
        if let Some(sess) = self.sessions.remove(s) {
            self.by_sid.remove(&sess.sid);
            if let Transport::Polling { get: Some(get) } = sess.transport {
                self.gets.forget(get);
            }
        }
    }
}

#[cfg(test)]
mod tests;
