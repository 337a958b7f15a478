//! The Engine.IO session state machine (`Engine`) driven by an arbitrary script, as the
//! reactor and an application drive it: long-polling requests (handshakes, GETs that are
//! held, POSTs of packets from the fuzzer, on known sessions or not), WebSocket transports
//! and upgrade probes opening, sending frames and closing, held requests whose connection
//! ends, time passing and timers firing (on time, late, or not yet), the application's
//! sends, closes, deadlines and pacing, and the server's shutdown. Effects go to the
//! engine tests' recording `Rec`. After every step the engine audits its own bookkeeping
//! (`Engine::audit`) and the driver checks what the world saw:
//!
//! - the application hears of a session closing at most once, only after it opened, and
//!   never after closing it itself; by the end (shutdown, every connection gone, time
//!   passed) every session it heard open has ended exactly once, and the engine holds
//!   nothing: no session, connection, held request or timer;
//! - no frame or close goes to a WebSocket the engine was not given, or has closed; every
//!   text frame is a packet a client can decode;
//! - every held GET is answered at most once, never after its connection was reported
//!   gone, and every answer is well-formed (a `200` to a GET is a payload that decodes);
//! - no timer spins: the timers due at one instant, and what they arm, run out;
//! - a polling session's queue stays within `max_buffer` (the audit).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use tungstenite::{Bytes, Utf8Bytes};

use super::{read_bytes, write_bytes};
use crate::error::{Cause, Disconnect};
use crate::http::{Request, Response};
use crate::id::ConnId;
use crate::slab::Key;
use crate::socketio::engine::audit::Census;
use crate::socketio::engine::packet::{decode_payload, decode_text, Incoming, Out};
use crate::socketio::engine::record::{body_of, Rec};
use crate::socketio::engine::{App, Engine, SessKey, Settings};
use crate::socketio::DisconnectReason;
use crate::{CloseCode, Message};

const PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    1,
));

/// The engine's settings, in units small enough that a short script reaches each limit.
#[derive(Debug, Arbitrary)]
struct Limits {
    /// In units of 10 ms, plus one unit, as the timeouts below.
    ping_interval: u8,
    ping_timeout: u8,
    upgrade_timeout: u8,
    /// In units of 8 bytes, plus 8.
    max_payload: u8,
    /// In units of 32 bytes, plus 32 (less than an open packet).
    max_buffer: u8,
}

impl Limits {
    fn settings(&self) -> Settings {
        let time = |units: u8| Duration::from_millis(10 * (1 + u64::from(units)));
        Settings {
            ping_interval: time(self.ping_interval),
            ping_timeout: time(self.ping_timeout),
            max_payload: 8 + 8 * usize::from(self.max_payload),
            max_buffer: 32 * (1 + usize::from(self.max_buffer)),
            upgrade_timeout: time(self.upgrade_timeout),
            cors: None,
            allow_request: None,
            cookie: None,
            deflate: None,
        }
    }
}

/// What one step of a script does: a tag byte, then its fields (integers little-endian,
/// byte strings after a `u16` length). Sessions and connections are picked by index among
/// those known, so mutated scripts keep hitting live ones.
#[derive(Debug)]
enum Step {
    /// A plain HTTP request: `method`, `transport` and `eio` pick the query's values
    /// (unknown ones included), `sid` a session (0: none, 255: an unknown sid), `conn` a
    /// kept-alive connection (0: a new one).
    Http {
        method: u8,
        transport: u8,
        eio: u8,
        sid: u8,
        conn: u8,
        body: Vec<u8>,
    },
    /// A long-polling GET of a known session, on a new connection.
    Poll { sid: u8 },
    /// A long-polling POST of `body` to a known session, on a new connection.
    Post { sid: u8, body: Vec<u8> },
    /// A WebSocket opens: a new session (`sid` 0), or a probe of a known one.
    WsOpen { sid: u8 },
    /// A text frame (made valid UTF-8) on a WebSocket the engine was given.
    WsText { conn: u8, text: Vec<u8> },
    /// A binary frame.
    WsBinary { conn: u8, bytes: Vec<u8> },
    /// A WebSocket ends, for one of the reasons the reactor reports.
    WsClose { conn: u8, cause: u8 },
    /// The connection of a held GET ends; the reactor reports it now or at a later
    /// [`Step::Report`].
    HttpGone { conn: u8, now: bool },
    /// The reactor reports the held GETs whose connection ended.
    Report,
    /// Time passes by `ms`; the timers due then fire late (`how` 0), each at its own time
    /// (1), or not yet (2: other events of the pass come first).
    Advance { ms: u16, how: u8 },
    /// The application sends a message to a session.
    Send {
        sid: u8,
        binary: bool,
        payload: Vec<u8>,
    },
    /// The application sends a volatile message with `bins` attachments.
    Volatile { sid: u8, text: Vec<u8>, bins: u8 },
    /// The application closes a session.
    Close { sid: u8 },
    /// The application sends `count` messages of 100 bytes to a session in one callback,
    /// then closes it if `close`.
    Burst { sid: u8, count: u8, close: bool },
    /// The application sets (`Some`, in ms from now) or clears its deadline for a session.
    Deadline { sid: u8, after: Option<u16> },
    /// The application paces a session's next packets.
    Pace { sid: u8 },
    /// A WebSocket passes its soft backpressure limit, or gets back under it.
    Backpressure { conn: u8 },
    /// The server shuts down; the script ends.
    Shutdown,
}

/// Step tags, in [`Step`]'s order.
const TAGS: u8 = 18;

impl Step {
    fn read(u: &mut Unstructured<'_>) -> arbitrary::Result<Step> {
        let bytes = |u: &mut Unstructured<'_>| Ok(read_bytes(u)?.to_vec());
        Ok(match u.arbitrary::<u8>()? % TAGS {
            0 => Step::Http {
                method: u.arbitrary()?,
                transport: u.arbitrary()?,
                eio: u.arbitrary()?,
                sid: u.arbitrary()?,
                conn: u.arbitrary()?,
                body: bytes(u)?,
            },
            1 => Step::Poll {
                sid: u.arbitrary()?,
            },
            2 => Step::Post {
                sid: u.arbitrary()?,
                body: bytes(u)?,
            },
            3 => Step::WsOpen {
                sid: u.arbitrary()?,
            },
            4 => Step::WsText {
                conn: u.arbitrary()?,
                text: bytes(u)?,
            },
            5 => Step::WsBinary {
                conn: u.arbitrary()?,
                bytes: bytes(u)?,
            },
            6 => Step::WsClose {
                conn: u.arbitrary()?,
                cause: u.arbitrary()?,
            },
            7 => Step::HttpGone {
                conn: u.arbitrary()?,
                now: u.arbitrary()?,
            },
            8 => Step::Report,
            9 => Step::Advance {
                ms: u.arbitrary()?,
                how: u.arbitrary()?,
            },
            10 => Step::Send {
                sid: u.arbitrary()?,
                binary: u.arbitrary()?,
                payload: bytes(u)?,
            },
            11 => Step::Volatile {
                sid: u.arbitrary()?,
                text: bytes(u)?,
                bins: u.arbitrary()?,
            },
            12 => Step::Close {
                sid: u.arbitrary()?,
            },
            13 => Step::Burst {
                sid: u.arbitrary()?,
                count: u.arbitrary()?,
                close: u.arbitrary()?,
            },
            14 => Step::Deadline {
                sid: u.arbitrary()?,
                after: u.arbitrary()?,
            },
            15 => Step::Pace {
                sid: u.arbitrary()?,
            },
            16 => Step::Backpressure {
                conn: u.arbitrary()?,
            },
            _ => Step::Shutdown,
        })
    }
}

/// Writes scripts in the format [`run`] reads: the seeds of the corpus.
#[derive(Debug)]
pub struct Script(Vec<u8>);

impl Script {
    /// A script with the limits the engine's unit tests use (ping interval 300 ms, ping
    /// timeout 200 ms, upgrade timeout 1 s, max payload 1000 bytes, max buffer 4 KiB).
    pub fn new() -> Script {
        Script(vec![29, 19, 99, 124, 127])
    }
    fn tag(mut self, tag: u8) -> Self {
        self.0.push(tag);
        self
    }
    fn byte(self, b: u8) -> Self {
        self.tag(b)
    }
    fn with(mut self, bytes: &[u8]) -> Self {
        write_bytes(&mut self.0, bytes);
        self
    }
    /// A request with these selectors (see [`Step::Http`]).
    pub fn http(self, [method, transport, eio, sid, conn]: [u8; 5], body: &[u8]) -> Self {
        let s = self.tag(0).byte(method).byte(transport).byte(eio);
        s.byte(sid).byte(conn).with(body)
    }
    /// A polling handshake.
    pub fn handshake(self) -> Self {
        self.http([0, 0, 0, 0, 0], b"")
    }
    /// A GET of session `sid` (1: the first opened).
    pub fn poll(self, sid: u8) -> Self {
        self.tag(1).byte(sid)
    }
    /// A POST of `body` to session `sid`.
    pub fn post(self, sid: u8, body: &[u8]) -> Self {
        self.tag(2).byte(sid).with(body)
    }
    /// A WebSocket opens, for session `sid` (0: a new session).
    pub fn ws_open(self, sid: u8) -> Self {
        self.tag(3).byte(sid)
    }
    /// A text frame on WebSocket `conn` (0: the first opened).
    pub fn ws_text(self, conn: u8, text: &str) -> Self {
        self.tag(4).byte(conn).with(text.as_bytes())
    }
    /// A binary frame.
    pub fn ws_binary(self, conn: u8, bytes: &[u8]) -> Self {
        self.tag(5).byte(conn).with(bytes)
    }
    /// WebSocket `conn` ends, the peer having closed it.
    pub fn ws_close(self, conn: u8) -> Self {
        self.tag(6).byte(conn).byte(0)
    }
    /// The connection of held GET `conn` (0: the first held) ends.
    pub fn http_gone(self, conn: u8, now: bool) -> Self {
        self.tag(7).byte(conn).byte(u8::from(now))
    }
    /// The reactor reports the held GETs whose connection ended.
    pub fn report(self) -> Self {
        self.tag(8)
    }
    /// Time passes; see [`Step::Advance`].
    pub fn advance(mut self, ms: u16, how: u8) -> Self {
        self.0.push(9);
        self.0.extend_from_slice(&ms.to_le_bytes());
        self.byte(how)
    }
    /// The application sends text to session `sid`.
    pub fn send(self, sid: u8, text: &str) -> Self {
        self.tag(10).byte(sid).byte(0).with(text.as_bytes())
    }
    /// The application sends a volatile message with `bins` attachments.
    pub fn volatile(self, sid: u8, bins: u8) -> Self {
        self.tag(11).byte(sid).with(b"v").byte(bins)
    }
    /// The application closes session `sid`.
    pub fn close(self, sid: u8) -> Self {
        self.tag(12).byte(sid)
    }
    /// The application sends `count` messages at once to session `sid`, then closes it if
    /// `close`.
    pub fn burst(self, sid: u8, count: u8, close: bool) -> Self {
        self.tag(13).byte(sid).byte(count).byte(u8::from(close))
    }
    /// The application's deadline for session `sid`, `ms` from now.
    pub fn deadline(mut self, sid: u8, ms: u16) -> Self {
        self.0.extend_from_slice(&[14, sid, 1]);
        self.0.extend_from_slice(&ms.to_le_bytes());
        self
    }
    /// The application paces session `sid`.
    pub fn pace(self, sid: u8) -> Self {
        self.tag(15).byte(sid)
    }
    /// WebSocket `conn` passes its soft backpressure limit (or gets back under it).
    pub fn backpressure(self, conn: u8) -> Self {
        self.tag(16).byte(conn)
    }
    /// The server shuts down.
    pub fn shutdown(self) -> Self {
        self.tag(17)
    }
    /// The script's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl Default for Script {
    fn default() -> Self {
        Script::new()
    }
}

/// An action of the application, run inside a callback as it would be
/// ([`App::on_notify`]).
#[derive(Debug)]
enum Action {
    Send(SessKey, Out),
    Volatile(SessKey, Utf8Bytes, Vec<Bytes>),
    Close(SessKey),
    Burst(SessKey, u8, bool),
    Deadline(SessKey, Option<Instant>),
    Pace(SessKey),
}

/// Echoes every message, as the engine tests' app; checks what it is told against what it
/// knows.
#[derive(Debug, Default)]
struct Echo {
    /// Every session opened, in order, with its sid.
    opened: Vec<(SessKey, Arc<str>)>,
    /// Open as the app sees them: from `on_open` until `on_close` or its own close.
    open: HashSet<SessKey>,
    /// Sessions that ended (told, or closed by the app), each once.
    ended: HashSet<SessKey>,
    /// Its deadlines, per session.
    deadlines: HashMap<SessKey, Instant>,
    action: Option<Action>,
}

impl Echo {
    fn close(&mut self, eng: &mut Engine<()>, s: SessKey) {
        eng.close(s);
        if self.open.remove(&s) {
            assert!(self.ended.insert(s), "{s:?} ended twice");
            self.deadlines.remove(&s);
        }
        assert!(!eng.send(s, Out::NOOP), "a closed session took a packet");
    }
}

impl App for Echo {
    type Client = ();

    fn on_open(&mut self, eng: &mut Engine<()>, s: SessKey, _: &Request, _: SocketAddr) {
        let sid = eng
            .sid(s)
            .unwrap_or_else(|| panic!("{s:?} opened with no sid"));
        assert!(self.open.insert(s), "{s:?} opened twice");
        self.opened.push((s, sid));
    }

    fn on_message(&mut self, eng: &mut Engine<()>, s: SessKey, msg: Incoming<'_>) {
        assert!(self.open.contains(&s), "a message for {s:?}, not open");
        let out = match msg {
            Incoming::Text(text) => Out::message(text),
            Incoming::Binary(bytes) => Out::Binary(bytes),
        };
        assert!(eng.send(s, out), "an open session refused a packet");
    }

    fn on_close(&mut self, eng: &mut Engine<()>, s: SessKey, _: DisconnectReason) {
        assert!(self.open.remove(&s), "on_close for {s:?}, not open");
        assert!(self.ended.insert(s), "{s:?} ended twice");
        self.deadlines.remove(&s);
        assert!(!eng.send(s, Out::NOOP), "a closed session took a packet");
    }

    fn on_deadline(&mut self, eng: &mut Engine<()>, s: SessKey) {
        assert!(self.open.contains(&s), "a deadline for {s:?}, not open");
        let (Some(at), Some(now)) = (self.deadlines.remove(&s), eng.now()) else {
            panic!("a deadline for {s:?}, none set");
        };
        assert!(at <= now, "a deadline run early");
    }

    fn on_notify(&mut self, eng: &mut Engine<()>) {
        let Some(action) = self.action.take() else {
            return;
        };
        match action {
            Action::Send(s, out) => {
                let open = self.open.contains(&s);
                assert_eq!(eng.send(s, out), open, "a send to {s:?} (open: {open})");
            }
            Action::Volatile(s, text, bins) => {
                let sent = eng.send_volatile(s, text, &bins);
                assert!(!sent || self.open.contains(&s), "sent to {s:?}, not open");
            }
            Action::Close(s) => self.close(eng, s),
            Action::Burst(s, count, close) => {
                let open = self.open.contains(&s);
                for _ in 0..count {
                    let sent = eng.send(s, Out::message(&"x".repeat(99)));
                    assert_eq!(sent, open, "a send to {s:?} (open: {open})");
                }
                if close {
                    self.close(eng, s);
                }
            }
            Action::Deadline(s, at) => {
                eng.set_app_deadline(s, at);
                match at {
                    Some(at) if self.open.contains(&s) => self.deadlines.insert(s, at),
                    _ => self.deadlines.remove(&s),
                };
            }
            Action::Pace(s) => eng.pace(s),
        }
    }
}

/// A WebSocket the engine was given, as the reactor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ws {
    Open,
    /// The engine closed it; the reactor has not reported it closed yet.
    Closing,
}

struct Driver {
    eng: Engine<()>,
    app: Echo,
    wire: Rec,
    now: Instant,
    next_conn: u32,
    /// WebSockets given to the engine and not reported closed, in the order they opened.
    ws: Vec<(ConnId, Ws)>,
    /// Connections that were answered and kept alive, ready for another request.
    idle: Vec<ConnId>,
    /// Held GETs, in the order they were held.
    held: Vec<ConnId>,
    /// Held GETs whose connection ended, not reported yet.
    gone: Vec<ConnId>,
    /// Effects of the wire checked so far: frames, closes, answers, refused answers.
    seen: [usize; 4],
    shut_down: bool,
}

/// Runs one script; panics when an invariant breaks.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(limits) = Limits::arbitrary(&mut u) else {
        return;
    };
    let mut driver = Driver::new(&limits);
    // `Unstructured` pads with zeros once the input is spent: stop there instead.
    while !u.is_empty() {
        let Ok(step) = Step::read(&mut u) else {
            break;
        };
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("{step:?}");
        }
        driver.step(step);
        driver.check();
        if driver.shut_down {
            break;
        }
    }
    driver.end();
}

impl Driver {
    fn new(limits: &Limits) -> Self {
        let now = Instant::now();
        Driver {
            eng: Engine::new(limits.settings()),
            app: Echo::default(),
            wire: Rec {
                now: Some(now),
                ..Rec::default()
            },
            now,
            next_conn: 0,
            ws: Vec::new(),
            idle: Vec::new(),
            held: Vec::new(),
            gone: Vec::new(),
            seen: [0; 4],
            shut_down: false,
        }
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Http {
                method,
                transport,
                eio,
                sid,
                conn,
                body,
            } => {
                let method = ["GET", "GET", "POST", "OPTIONS", "PUT"][usize::from(method % 5)];
                let transports = ["polling", "polling", "websocket", "flash"];
                let transport = transports[usize::from(transport % 4)];
                let eio = ["EIO=4&", "EIO=4&", "EIO=3&", ""][usize::from(eio % 4)];
                let mut query = format!("{eio}transport={transport}");
                match sid {
                    0 => {}
                    255 => query.push_str("&sid=unknown"),
                    i => {
                        if let Some(sid) = self.sid(i) {
                            query = format!("{query}&sid={sid}");
                        }
                    }
                }
                let conn = match conn {
                    0 => None,
                    i => self.idle_conn(i),
                };
                self.http(conn, method, &query, body);
            }
            Step::Poll { sid } => {
                if let Some(sid) = self.sid(sid) {
                    self.http(None, "GET", &polling(&sid), Vec::new());
                }
            }
            Step::Post { sid, body } => {
                if let Some(sid) = self.sid(sid) {
                    self.http(None, "POST", &polling(&sid), body);
                }
            }
            Step::WsOpen { sid } => self.ws_open(sid),
            Step::WsText { conn, text } => {
                let text = String::from_utf8_lossy(&text).into_owned();
                self.ws_message(conn, Message::text(text));
            }
            Step::WsBinary { conn, bytes } => self.ws_message(conn, Message::binary(bytes)),
            Step::WsClose { conn, cause } => {
                let Some(conn) = pick(&self.ws, conn).map(|(c, _)| c) else {
                    return;
                };
                let causes = [
                    Cause::PeerClosed,
                    Cause::Reset,
                    Cause::Protocol,
                    Cause::Backpressure,
                    Cause::IdleTimeout,
                    Cause::CloseTimeout,
                    Cause::HandlerPanic,
                    Cause::ServerClosed,
                ];
                let cause = causes[usize::from(cause) % causes.len()];
                self.ws_closed(conn, &Disconnect::new(CloseCode::Abnormal, "", cause));
            }
            Step::HttpGone { conn, now } => {
                let Some(conn) = pick(&self.held, conn) else {
                    return;
                };
                self.held.retain(|&c| c != conn);
                self.wire.held.remove(&conn);
                self.gone.push(conn);
                if now {
                    self.report();
                }
            }
            Step::Report => self.report(),
            Step::Advance { ms, how } => {
                let end = self.now + Duration::from_millis(u64::from(ms));
                match how % 3 {
                    0 => {
                        self.set_now(end);
                        self.fire_due();
                    }
                    1 => {
                        // Each due time in turn, as an idle reactor wakes for them; a
                        // few dozen, then the rest late (a long jump past a 10 ms
                        // heartbeat would take thousands, and find nothing new).
                        for _ in 0..32 {
                            let next = self.wire.timers.iter().map(|t| t.0).min();
                            let Some(at) = next.filter(|&at| at <= end) else {
                                break;
                            };
                            self.set_now(at.max(self.now));
                            self.fire_due();
                        }
                        self.set_now(end);
                        self.fire_due();
                    }
                    _ => self.set_now(end),
                }
            }
            Step::Send {
                sid,
                binary,
                payload,
            } => {
                let out = match binary {
                    true => Out::Binary(payload.into()),
                    false => Out::message(&app_text(&payload)),
                };
                self.act(sid, |s| Action::Send(s, out));
            }
            Step::Volatile { sid, text, bins } => {
                let text = app_text(&text);
                let bins = (0..bins % 4).map(|i| Bytes::from(vec![i; 3])).collect();
                let text = Utf8Bytes::from(format!("4{text}"));
                self.act(sid, |s| Action::Volatile(s, text, bins));
            }
            Step::Close { sid } => self.act(sid, Action::Close),
            Step::Burst { sid, count, close } => {
                self.act(sid, |s| Action::Burst(s, count, close));
            }
            Step::Deadline { sid, after } => {
                let at = after.map(|ms| self.now + Duration::from_millis(u64::from(ms)));
                self.act(sid, |s| Action::Deadline(s, at));
            }
            Step::Pace { sid } => self.act(sid, Action::Pace),
            Step::Backpressure { conn } => {
                if let Some((conn, _)) = pick(&self.ws, conn) {
                    if !self.wire.unwritable.remove(&conn) {
                        self.wire.unwritable.insert(conn);
                    }
                }
            }
            Step::Shutdown => self.shutdown(),
        }
    }

    /// The sid of opened session `i` (from 1), closed ones included.
    fn sid(&self, i: u8) -> Option<Arc<str>> {
        let n = self.app.opened.len();
        let i = usize::from(i).checked_sub(1)?;
        (n > 0).then(|| Arc::clone(&self.app.opened[i % n].1))
    }

    fn session(&self, i: u8) -> Option<SessKey> {
        let n = self.app.opened.len();
        (n > 0).then(|| self.app.opened[usize::from(i) % n].0)
    }

    fn idle_conn(&mut self, i: u8) -> Option<ConnId> {
        let n = self.idle.len();
        (n > 0).then(|| self.idle.remove(usize::from(i) % n))
    }

    fn new_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId::from_parts(self.next_conn, 0)
    }

    fn set_now(&mut self, now: Instant) {
        self.now = now;
        self.wire.now = Some(now);
    }

    fn http(&mut self, conn: Option<ConnId>, method: &str, query: &str, body: Vec<u8>) {
        let conn = conn.unwrap_or_else(|| self.new_conn());
        let mut req = Request::from_parts(method, &format!("/engine.io/?{query}"), []);
        req.body = body;
        let at = (conn, PEER, self.now);
        let response = self.eng.on_http(&mut self.app, &mut self.wire, at, &req);
        match response {
            Some(response) => {
                check_answer(method, &response);
                self.idle.push(conn);
            }
            None => {
                assert_eq!(method, "GET", "a {method} held");
                assert!(self.wire.held.insert(conn), "{conn} held twice");
                self.held.push(conn);
            }
        }
        self.flush();
    }

    fn ws_open(&mut self, sid: u8) {
        let query = match self.sid(sid) {
            Some(sid) => format!("EIO=4&transport=websocket&sid={sid}"),
            None => "EIO=4&transport=websocket".to_owned(),
        };
        let req = Request::from_parts("GET", &format!("/engine.io/?{query}"), []);
        if let Err(refused) = self.eng.check_upgrade(&req) {
            assert_eq!(refused.status(), 400, "an upgrade refused with {refused:?}");
            return;
        }
        let conn = self.new_conn();
        self.ws.push((conn, Ws::Open));
        self.eng
            .on_ws_open(&mut self.app, (conn, PEER, self.now), &req);
        self.flush();
    }

    fn ws_message(&mut self, conn: u8, msg: Message) {
        let Some((conn, _)) = pick(&self.ws, conn) else {
            return;
        };
        assert!(
            self.eng.owns_conn(conn),
            "{conn}: a WebSocket the engine forgot"
        );
        self.eng.on_ws_message(&mut self.app, conn, msg, self.now);
        self.flush();
    }

    fn ws_closed(&mut self, conn: ConnId, why: &Disconnect) {
        self.ws.retain(|(c, _)| *c != conn);
        self.wire.unwritable.remove(&conn);
        assert!(
            self.eng.owns_conn(conn),
            "{conn}: a WebSocket the engine forgot"
        );
        self.eng.on_ws_close(&mut self.app, conn, why, self.now);
        assert!(
            !self.eng.owns_conn(conn),
            "{conn}: remembered after its close"
        );
        self.flush();
    }

    /// The reactor reports the held GETs whose connection ended, in order.
    fn report(&mut self) {
        while !self.gone.is_empty() {
            let conn = self.gone.remove(0);
            let held = self.eng.on_http_closed(&mut self.app, conn, self.now);
            self.flush();
            // Reported again (the engine must have forgotten it).
            assert!(
                !held || !self.eng.on_http_closed(&mut self.app, conn, self.now),
                "{conn}: held after its close was reported"
            );
        }
    }

    /// Runs an application action in a callback.
    fn act(&mut self, i: u8, action: impl FnOnce(SessKey) -> Action) {
        let Some(s) = self.session(i) else {
            return;
        };
        self.app.action = Some(action(s));
        self.eng.on_notify(&mut self.app, self.now);
        self.flush();
    }

    /// Fires the timers due now, and what they arm that is due now too, which must run out.
    fn fire_due(&mut self) {
        let mut budget = 2 * self.wire.timers.len() + 4;
        while let Some((_, timer)) = self.wire.pop_due(self.now) {
            budget = budget
                .checked_sub(1)
                .unwrap_or_else(|| panic!("timers keep coming due at one instant"));
            if self.eng.owns_timer(timer) {
                self.eng.on_timer(&mut self.app, timer, self.now);
                self.flush();
            }
        }
    }

    fn shutdown(&mut self) {
        self.shut_down = true;
        self.eng.on_shutdown(&mut self.app, self.now);
        self.flush();
    }

    /// Hands the engine's effects to the wire, and checks them: against what was open and
    /// held when they were made.
    fn flush(&mut self) {
        self.eng.flush(&mut self.app, &mut self.wire);
        let [sent, closed, answers, stale] = self.seen;
        for (conn, msg) in &self.wire.sent[sent..] {
            let state = self.ws.iter().find(|(c, _)| c == conn).map(|(_, s)| *s);
            assert_eq!(state, Some(Ws::Open), "a frame to {conn}, not open");
            if let Message::Text(text) = msg {
                assert!(decode_text(text).is_ok(), "{conn}: sent {text:?}");
            }
        }
        for conn in &self.wire.closed[closed..] {
            let state = self.ws.iter_mut().find(|(c, _)| c == conn);
            let Some((_, state @ Ws::Open)) = state else {
                panic!("{conn} closed, not open");
            };
            *state = Ws::Closing;
        }
        for answer in &self.wire.answers[answers..] {
            check_answer("GET", answer);
        }
        for conn in &self.wire.stale[stale..] {
            assert!(self.gone.contains(conn), "an answer to {conn}, not held");
        }
        self.seen = [
            self.wire.sent.len(),
            self.wire.closed.len(),
            self.wire.answers.len(),
            self.wire.stale.len(),
        ];
        // Answered GETs: their connection is kept alive.
        let wire = &self.wire;
        let (still, answered): (Vec<ConnId>, Vec<ConnId>) =
            self.held.iter().partition(|c| wire.held.contains(c));
        self.held = still;
        self.idle.extend(answered);
    }

    /// The engine's own bookkeeping, between steps.
    fn check(&mut self) -> Census {
        self.eng.audit(&self.wire.timers)
    }

    /// The server stops, as the reactor stops: a shutdown if the script did not end with
    /// one, every connection closed and reported, then time for every timer to fire.
    fn end(&mut self) {
        if !self.shut_down {
            self.shutdown();
            self.check();
        }
        let shutdown = Disconnect::new(CloseCode::Away, "server shutting down", Cause::Shutdown);
        while let Some(&(conn, _)) = self.ws.first() {
            self.ws_closed(conn, &shutdown);
            self.check();
        }
        for conn in std::mem::take(&mut self.held) {
            self.wire.held.remove(&conn);
            self.gone.push(conn);
        }
        self.report();
        self.check();
        // With no session left, what fires arms nothing more.
        for _ in 0..2 {
            let Some(last) = self.wire.timers.iter().map(|t| t.0).max() else {
                break;
            };
            self.set_now(last.max(self.now));
            self.fire_due();
            self.check();
        }
        let census = self.check();
        let left = census.sessions + census.ws + census.held_gets + census.timers;
        assert_eq!(left, 0, "left at the end: {census:?}");
        assert!(self.app.open.is_empty(), "sessions never heard closed");
        assert_eq!(
            self.app.ended.len(),
            self.app.opened.len(),
            "sessions that never ended"
        );
    }
}

/// Item `i` of `items`, wrapping; `None` if there are none.
fn pick<T: Copy>(items: &[T], i: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(i) % items.len()])
}

/// Text an application sends: UTF-8, and without the record separator, which a polling
/// payload cannot carry (see [`EngineSocket::send`](crate::socketio::EngineSocket::send)).
fn app_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\x1e', " ")
}

fn polling(sid: &str) -> String {
    format!("EIO=4&transport=polling&sid={sid}")
}

/// An answer as a client reads it: a status the reference answers with, and a `200` to a
/// GET is a payload of packets it can decode, a `200` to a POST `ok`.
fn check_answer(method: &str, response: &Response) {
    let text = body_of(response);
    let (_, body) = text.split_once(' ').unwrap_or((&text, ""));
    match (response.status(), method) {
        (200, "GET") => {
            let packets: Result<Vec<_>, _> = decode_payload(body.as_bytes()).collect();
            assert!(packets.is_ok(), "a GET answered {body:?}");
        }
        (200, _) => assert_eq!(body, "ok", "a {method} answered {text:?}"),
        (400 | 403 | 413 | 503, _) => {}
        (status, _) => panic!("a {method} answered {status}"),
    }
}

/// The seeds of the corpus: the scripts of the engine's unit tests (held GETs, heartbeat,
/// a second GET, client and server closes, upgrades done and abandoned, WebSocket sessions,
/// max payload and max buffer, deadlines, pacing, shutdown).
pub fn seeds() -> Vec<Vec<u8>> {
    let open = || Script::new().handshake();
    let scripts = [
        open()
            .poll(1)
            .post(1, b"4hello\x1ebAQIDBA==")
            .poll(1)
            .post(1, b"4again")
            .poll(1),
        open()
            .poll(1)
            .advance(300, 0)
            .advance(100, 1)
            .post(1, b"3")
            .advance(500, 1),
        open().advance(300, 2).advance(200, 2).post(1, b"3"),
        open().poll(1).poll(1).poll(1),
        open()
            .poll(1)
            .http_gone(0, false)
            .post(1, b"4kept")
            .report()
            .poll(1),
        open().poll(1).post(1, b"1").poll(1),
        open().post(1, &[b'4'; 1001]).post(1, b"abc"),
        open()
            .poll(1)
            .ws_open(1)
            .ws_text(0, "2probe")
            .poll(1)
            .post(1, b"4a\x1e4b")
            .ws_text(0, "5")
            .ws_text(0, "4c")
            .ws_open(1)
            .advance(300, 0)
            .ws_close(0),
        open()
            .ws_open(1)
            .ws_text(0, "2probe")
            .advance(1100, 1)
            .ws_open(1)
            .ws_text(1, "4not a probe")
            .post(1, b"4still")
            .poll(1),
        Script::new()
            .ws_open(0)
            .ws_text(0, "4hi")
            .ws_binary(0, &[1, 2])
            .ws_text(0, "abc")
            .ws_close(0),
        open().send(0, "bye").close(0).poll(1).poll(1).poll(1),
        open().close(0).advance(200, 0),
        open()
            .send(0, &"x".repeat(1000))
            .send(0, &"x".repeat(1000))
            .send(0, &"x".repeat(1000))
            .send(0, &"x".repeat(1000))
            .send(0, &"x".repeat(1000)),
        open().deadline(0, 50).advance(50, 1).advance(100, 0),
        Script::new()
            .ws_open(0)
            .send(0, "first")
            .pace(0)
            .send(0, "second")
            .advance(1, 0)
            .send(0, "third"),
        open().poll(1).http_gone(0, true).poll(1),
        open()
            .poll(1)
            .handshake()
            .ws_open(0)
            .volatile(2, 2)
            .backpressure(0)
            .volatile(2, 1)
            .shutdown(),
        Script::new()
            .ws_open(0)
            .ws_text(0, &format!("4{}", "x".repeat(1000)))
            .handshake()
            .ws_open(1)
            .ws_binary(1, &[0; 1001]),
        Script::new()
            .http([2, 0, 0, 0, 0], b"")
            .http([0, 2, 0, 0, 0], b"")
            .http([0, 0, 2, 0, 0], b"")
            .http([0, 3, 0, 0, 0], b"")
            .http([0, 0, 0, 255, 0], b""),
    ];
    scripts.into_iter().map(Script::into_bytes).collect()
}
