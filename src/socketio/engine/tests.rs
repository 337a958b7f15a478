//! The engine driven by hand: requests and frames in, effects recorded, time passed in.

use super::record::{body_of, Rec};
use super::timing::PACE;
use super::*;
use crate::slab::Key;
use tungstenite::Bytes;

const INTERVAL: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_millis(200);
const UPGRADE: Duration = Duration::from_millis(1000);

/// Echoes every message; remembers opens, closes and deadlines.
#[derive(Default)]
struct EchoApp {
    opened: Vec<SessKey>,
    closed: Vec<(SessKey, DisconnectReason)>,
    deadlines: usize,
}

impl App for EchoApp {
    type Client = ();
    fn on_open(&mut self, _: &mut Engine<()>, s: SessKey, _: &Request, _: SocketAddr) {
        self.opened.push(s);
    }
    fn on_message(&mut self, eng: &mut Engine<()>, s: SessKey, msg: Incoming<'_>) {
        match msg {
            Incoming::Text(text) => eng.send(s, Out::message(text)),
            Incoming::Binary(bytes) => eng.send(s, Out::Binary(bytes)),
        };
    }
    fn on_close(&mut self, _: &mut Engine<()>, s: SessKey, reason: DisconnectReason) {
        self.closed.push((s, reason));
    }
    fn on_deadline(&mut self, _: &mut Engine<()>, _: SessKey) {
        self.deadlines += 1;
    }
}

struct Harness {
    eng: Engine<()>,
    app: EchoApp,
    wire: Rec,
    now: Instant,
}

fn conn(slot: u32) -> ConnId {
    ConnId::from_parts(slot, 0)
}

const PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    1,
));

impl Harness {
    fn new() -> Self {
        Harness::with(|_| {})
    }

    /// A harness whose settings `tweak` changes first.
    fn with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings {
            ping_interval: INTERVAL,
            ping_timeout: TIMEOUT,
            max_payload: 1000,
            max_buffer: 4096,
            upgrade_timeout: UPGRADE,
            cors: None,
            allow_request: None,
            cookie: None,
            deflate: None,
        };
        tweak(&mut settings);
        let now = Instant::now();
        Harness {
            eng: Engine::new(settings),
            app: EchoApp::default(),
            wire: Rec {
                now: Some(now),
                ..Rec::default()
            },
            now,
        }
    }

    /// A request on connection `c`; `None` if it is held.
    fn http(&mut self, c: u32, method: &str, query: &str, body: &str) -> Option<String> {
        let mut req = Request::from_parts(method, &format!("/socket.io/?{query}"), []);
        req.body = body.as_bytes().to_vec();
        self.request(c, &req).map(|r| body_of(&r))
    }

    /// `req` on connection `c`, answered whole; `None` if it is held.
    fn request(&mut self, c: u32, req: &Request) -> Option<Response> {
        let r = self.eng.on_http(
            &mut self.app,
            &mut self.wire,
            (conn(c), PEER, self.now),
            req,
        );
        if r.is_none() {
            self.wire.held.insert(conn(c));
        }
        self.eng.flush(&mut self.app, &mut self.wire);
        r
    }

    fn handshake(&mut self) -> String {
        let body = self.http(1, "GET", "EIO=4&transport=polling", "").unwrap();
        assert!(body.starts_with("200 0{"), "{body}");
        let open: serde_json::Value = serde_json::from_str(&body[5..]).unwrap();
        assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
        assert_eq!(open["pingInterval"], 300);
        assert_eq!(open["pingTimeout"], 200);
        assert_eq!(open["maxPayload"], 1000);
        open["sid"].as_str().unwrap().to_owned()
    }

    fn ws_open(&mut self, c: u32, query: &str) {
        let req = Request::from_parts("GET", &format!("/socket.io/?{query}"), []);
        self.eng.check_upgrade(&req).expect("upgrade accepted");
        self.eng
            .on_ws_open(&mut self.app, (conn(c), PEER, self.now), &req);
        self.eng.flush(&mut self.app, &mut self.wire);
    }

    fn ws_text(&mut self, c: u32, text: &str) {
        self.eng
            .on_ws_message(&mut self.app, conn(c), Message::text(text), self.now);
        self.eng.flush(&mut self.app, &mut self.wire);
    }

    fn ws_close(&mut self, c: u32) {
        self.eng
            .on_ws_close(&mut self.app, conn(c), &Disconnect::reset(), self.now);
        self.eng.flush(&mut self.app, &mut self.wire);
    }

    /// Moves time on, firing the timers that come due in order.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some((at, key)) = self.wire.pop_due(end) {
            self.now = self.now.max(at);
            self.wire.now = Some(self.now);
            self.eng.on_timer(&mut self.app, key, self.now);
            self.eng.flush(&mut self.app, &mut self.wire);
        }
        self.now = end;
        self.wire.now = Some(end);
    }

    fn responses(&mut self) -> Vec<(u32, String)> {
        let r = std::mem::take(&mut self.wire.responses);
        r.into_iter().map(|(c, b)| (c.slot(), b)).collect()
    }

    fn sent(&mut self) -> Vec<(u32, Message)> {
        let s = std::mem::take(&mut self.wire.sent);
        s.into_iter().map(|(c, m)| (c.slot(), m)).collect()
    }
}

fn q(sid: &str) -> String {
    format!("EIO=4&transport=polling&sid={sid}")
}

#[test]
fn bad_requests_get_the_reference_error_codes() {
    let mut h = Harness::new();
    let cases = [
        (
            "GET",
            "transport=polling",
            r#"400 {"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "GET",
            "EIO=abc&transport=polling",
            r#"400 {"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "GET",
            "EIO=4",
            r#"400 {"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "GET",
            "EIO=4&transport=abc",
            r#"400 {"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "POST",
            "EIO=4&transport=polling",
            r#"400 {"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            "PUT",
            "EIO=4&transport=polling",
            r#"400 {"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            "GET",
            "EIO=4&transport=polling&sid=nope",
            r#"400 {"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            "GET",
            "EIO=4&transport=websocket",
            r#"400 {"code":3,"message":"Bad request"}"#,
        ),
    ];
    for (method, query, want) in cases {
        assert_eq!(
            h.http(9, method, query, "").as_deref(),
            Some(want),
            "{method} {query}"
        );
    }
    let ws = |query: &str| Request::from_parts("GET", &format!("/socket.io/?{query}"), []);
    assert!(h
        .eng
        .check_upgrade(&ws("EIO=4&transport=websocket"))
        .is_ok());
    for bad in [
        "EIO=3&transport=websocket",
        "EIO=4",
        "EIO=4&transport=websocket&sid=x",
    ] {
        assert_eq!(
            h.eng.check_upgrade(&ws(bad)).unwrap_err().status(),
            400,
            "{bad}"
        );
    }
}

#[test]
fn a_held_get_is_answered_by_the_next_post() {
    let mut h = Harness::new();
    let sid = h.handshake();
    assert_eq!(
        h.http(2, "GET", &q(&sid), ""),
        None,
        "nothing to send: held"
    );
    let ok = h.http(3, "POST", &q(&sid), "4hello\x1ebAQIDBA==");
    assert_eq!(ok.as_deref(), Some("200 ok"));
    assert_eq!(h.responses(), [(2, "200 4hello\x1ebAQIDBA==".to_owned())]);
    // queued while no GET waits: the next GET takes it at once
    h.http(3, "POST", &q(&sid), "4again");
    assert_eq!(
        h.http(2, "GET", &q(&sid), "").as_deref(),
        Some("200 4again")
    );
}

#[test]
fn heartbeat_pings_and_closes_on_a_missing_pong() {
    let mut h = Harness::new();
    let sid = h.handshake();
    for _ in 0..3 {
        assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
        h.advance(INTERVAL);
        assert_eq!(h.responses(), [(2, "200 2".to_owned())]);
        h.advance(TIMEOUT / 2);
        assert_eq!(h.http(3, "POST", &q(&sid), "3").as_deref(), Some("200 ok"));
    }
    assert!(h.app.closed.is_empty());
    h.advance(INTERVAL + TIMEOUT);
    assert_eq!(
        h.app.closed,
        [(h.app.opened[0], DisconnectReason::PingTimeout)]
    );
    let gone = h.http(2, "GET", &q(&sid), "").unwrap();
    assert!(gone.starts_with("400 "), "{gone}");
}

#[test]
fn a_pong_after_the_deadline_is_too_late_even_before_the_timer_runs() {
    let mut h = Harness::new();
    let sid = h.handshake();
    h.advance(INTERVAL);
    // time passes without the timer getting a chance to run
    h.now += TIMEOUT;
    let late = h.http(3, "POST", &q(&sid), "3").unwrap();
    assert!(late.starts_with("400 {\"code\":1"), "{late}");
    assert_eq!(h.app.closed[0].1, DisconnectReason::PingTimeout);
}

#[test]
fn a_second_get_is_refused_and_closes_the_session() {
    let mut h = Harness::new();
    let sid = h.handshake();
    assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
    let second = h.http(3, "GET", &q(&sid), "").unwrap();
    assert!(second.starts_with("400 "), "{second}");
    assert_eq!(h.responses(), [(2, "200 1".to_owned())]);
    assert_eq!(h.app.closed[0].1, DisconnectReason::TransportError);
    assert!(h.http(2, "GET", &q(&sid), "").unwrap().starts_with("400 "));
}

#[test]
fn a_get_whose_connection_died_is_replaced_and_loses_nothing() {
    let mut h = Harness::new();
    let sid = h.handshake();
    assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
    h.wire.held.remove(&conn(2)); // the client went away
    h.http(3, "POST", &q(&sid), "4kept");
    assert!(h.responses().is_empty());
    assert_eq!(
        h.wire.stale,
        [conn(2)],
        "answered, refused: the request is gone"
    );
    assert_eq!(h.http(4, "GET", &q(&sid), "").as_deref(), Some("200 4kept"));
    assert!(h.app.closed.is_empty());
}

#[test]
fn a_client_close_ends_the_held_get_with_a_noop() {
    let mut h = Harness::new();
    let sid = h.handshake();
    assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
    assert_eq!(h.http(3, "POST", &q(&sid), "1").as_deref(), Some("200 ok"));
    assert_eq!(h.responses(), [(2, "200 6".to_owned())]);
    assert_eq!(h.app.closed[0].1, DisconnectReason::TransportClose);
    assert!(h.http(2, "GET", &q(&sid), "").unwrap().starts_with("400 "));
}

#[test]
fn invalid_packets_and_oversized_bodies() {
    let mut h = Harness::new();
    let sid = h.handshake();
    let big = "4".repeat(1001);
    assert_eq!(h.http(3, "POST", &q(&sid), &big).as_deref(), Some("413 "));
    let bad = h.http(3, "POST", &q(&sid), "abc").unwrap();
    assert!(bad.starts_with("400 "), "{bad}");
    assert_eq!(h.app.closed[0].1, DisconnectReason::ParseError);
}

#[test]
fn upgrade_moves_the_session_and_its_queue_to_websocket() {
    let mut h = Harness::new();
    let sid = h.handshake();
    assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
    h.ws_open(7, &format!("EIO=4&transport=websocket&sid={sid}"));
    h.ws_text(7, "2probe");
    assert_eq!(h.sent(), [(7, Message::text("3probe"))]);
    assert_eq!(
        h.responses(),
        [(2, "200 6".to_owned())],
        "held GET released"
    );
    // a GET during the upgrade is released at once too
    assert_eq!(h.http(2, "GET", &q(&sid), "").as_deref(), Some("200 6"));
    // packets sent before the upgrade completes wait, then go on the WebSocket in order
    h.http(3, "POST", &q(&sid), "4a\x1e4b");
    h.ws_text(7, "5");
    assert_eq!(
        h.sent(),
        [(7, Message::text("4a")), (7, Message::text("4b"))]
    );
    h.ws_text(7, "4c");
    assert_eq!(h.sent(), [(7, Message::text("4c"))]);
    // polling is over for this session, and so are more WebSockets
    assert!(h.http(2, "GET", &q(&sid), "").unwrap().starts_with("400 "));
    h.ws_open(8, &format!("EIO=4&transport=websocket&sid={sid}"));
    assert_eq!(h.wire.closed, [conn(8)]);
    // pings follow the session
    h.advance(INTERVAL);
    assert_eq!(h.sent(), [(7, Message::text("2"))]);
    h.ws_close(7);
    assert_eq!(h.app.closed[0].1, DisconnectReason::TransportClose);
    assert!(
        h.eng.ws.is_empty() || h.eng.ws.len() == 1,
        "only conn 8 waits for on_close"
    );
    h.ws_close(8);
    assert!(h.eng.ws.is_empty() && h.eng.sessions.len() == 0);
}

#[test]
fn an_upgrade_that_never_completes_is_dropped_and_polling_goes_on() {
    let mut h = Harness::new();
    let sid = h.handshake();
    h.ws_open(7, &format!("EIO=4&transport=websocket&sid={sid}"));
    h.ws_text(7, "2probe");
    h.sent();
    // the client keeps answering pings on polling, but never sends `5`
    for _ in 0..4 {
        h.advance(INTERVAL);
        assert_eq!(h.http(2, "GET", &q(&sid), "").as_deref(), Some("200 2"));
        h.http(3, "POST", &q(&sid), "3");
    }
    assert_eq!(
        h.wire.closed,
        [conn(7)],
        "probe closed at the upgrade timeout"
    );
    h.ws_close(7);
    assert!(h.eng.ws.is_empty());
    // a probe that is refused (or closes) leaves the session on polling
    h.ws_open(8, &format!("EIO=4&transport=websocket&sid={sid}"));
    h.ws_text(8, "4not a probe");
    assert_eq!(h.wire.closed, [conn(7), conn(8)]);
    h.ws_close(8);
    h.http(3, "POST", &q(&sid), "4still");
    assert_eq!(
        h.http(2, "GET", &q(&sid), "").as_deref(),
        Some("200 4still")
    );
    assert!(h.app.closed.is_empty());
}

#[test]
fn websocket_sessions_echo_and_end_on_bad_packets() {
    let mut h = Harness::new();
    h.ws_open(5, "EIO=4&transport=websocket");
    let sent = h.sent();
    let Message::Text(open) = &sent[0].1 else {
        panic!()
    };
    assert!(open.contains(r#""upgrades":[]"#), "{open}");
    h.ws_text(5, "4hi");
    h.eng.on_ws_message(
        &mut h.app,
        conn(5),
        Message::Binary(Bytes::from_static(&[1, 2])),
        h.now,
    );
    h.eng.flush(&mut h.app, &mut h.wire);
    assert_eq!(
        h.sent(),
        [
            (5, Message::text("4hi")),
            (5, Message::Binary(Bytes::from_static(&[1, 2])))
        ]
    );
    h.ws_text(5, "abc");
    assert_eq!(h.app.closed[0].1, DisconnectReason::ParseError);
    assert_eq!(h.wire.closed, [conn(5)]);
    h.ws_close(5);
    assert_eq!(h.app.closed.len(), 1, "on_close once");
    assert!(h.eng.ws.is_empty() && h.eng.sessions.len() == 0);
    // A WebSocket that closes first ends its session, and is not closed again (found by
    // fuzzing: the engine closed the connection the reactor had just reported closed).
    h.ws_open(6, "EIO=4&transport=websocket");
    h.ws_close(6);
    assert_eq!(h.app.closed[1].1, DisconnectReason::TransportClose);
    assert_eq!(h.wire.closed, [conn(5)]);
    assert!(h.eng.ws.is_empty() && h.eng.sessions.len() == 0);
}

#[test]
fn a_server_close_on_polling_drains_to_the_next_get() {
    let mut h = Harness::new();
    let sid = h.handshake();
    let s = h.app.opened[0];
    h.eng.send(s, Out::message("bye"));
    h.eng.close(s);
    h.eng.flush(&mut h.app, &mut h.wire);
    assert!(
        !h.eng.send(s, Out::message("late")),
        "closed sessions take nothing"
    );
    // The queue first, then the close packet alone (as the reference: a DISCONNECT in the
    // same payload as the close would reach the client's sockets after the close).
    assert_eq!(h.http(2, "GET", &q(&sid), "").as_deref(), Some("200 4bye"));
    assert_eq!(h.http(2, "GET", &q(&sid), "").as_deref(), Some("200 1"));
    assert!(h.http(2, "GET", &q(&sid), "").unwrap().starts_with("400 "));

    // and a client that never comes back is forgotten after the ping timeout
    let sid = h.handshake();
    let s = h.app.opened[1];
    h.eng.close(s);
    h.eng.flush(&mut h.app, &mut h.wire);
    h.advance(TIMEOUT);
    assert_eq!(h.eng.sessions.len(), 0);
    assert!(h.http(2, "GET", &q(&sid), "").unwrap().starts_with("400 "));
}

#[test]
fn a_closed_session_waits_for_its_drain_only() {
    // Found by fuzzing: an app deadline that outlived the close (an ack's timeout, say) had
    // its timer find nothing to run on the closed session, and come due again at once, in
    // a loop until the drain ended.
    let mut h = Harness::new();
    h.handshake();
    let s = h.app.opened[0];
    h.eng
        .set_app_deadline(s, Some(h.now + Duration::from_millis(50)));
    h.eng.close(s);
    h.eng.flush(&mut h.app, &mut h.wire);
    h.now += Duration::from_millis(50);
    h.wire.now = Some(h.now);
    let (_, timer) = h.wire.pop_due(h.now).expect("the deadline's timer");
    h.eng.on_timer(&mut h.app, timer, h.now);
    h.eng.flush(&mut h.app, &mut h.wire);
    assert_eq!(h.wire.pop_due(h.now), None, "a timer due again at once");
    // Set after the close, it arms nothing.
    h.eng
        .set_app_deadline(s, Some(h.now + Duration::from_millis(10)));
    h.eng.flush(&mut h.app, &mut h.wire);
    assert_eq!(h.wire.pop_due(h.now + TIMEOUT / 2), None);
    h.advance(TIMEOUT);
    assert_eq!((h.app.deadlines, h.eng.sessions.len()), (0, 0));
}

#[test]
fn a_polling_client_that_does_not_poll_cannot_pile_up_data() {
    let mut h = Harness::new();
    h.handshake();
    let s = h.app.opened[0];
    for _ in 0..5 {
        h.eng.send(s, Out::message(&"x".repeat(1000)));
    }
    h.eng.flush(&mut h.app, &mut h.wire);
    assert_eq!(h.app.closed[0].1, DisconnectReason::TransportError);
    assert_eq!(h.eng.sessions.len(), 0);
}

#[test]
fn max_buffer_bounds_what_waits_for_a_get_even_on_a_closed_session() {
    // Less than the open packet, which the handshake's answer takes at once.
    let mut h = Harness::with(|s| s.max_buffer = 64);
    let sid = h.handshake();
    assert!(h.app.closed.is_empty(), "the open packet never waited");
    assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
    // Found by fuzzing: a server close in the same callback as the overflow kept it all,
    // for the drain.
    let s = h.app.opened[0];
    for _ in 0..2 {
        h.eng.send(s, Out::message(&"x".repeat(40)));
    }
    h.eng.close(s);
    h.eng.flush(&mut h.app, &mut h.wire);
    assert_eq!(h.responses(), [(2, "200 1".to_owned())]);
    assert_eq!(h.eng.sessions.len(), 0);
}

#[test]
fn app_deadlines_fire_and_timer_keys_are_the_engines_own() {
    let mut h = Harness::new();
    h.handshake();
    let s = h.app.opened[0];
    h.eng
        .set_app_deadline(s, Some(h.now + Duration::from_millis(50)));
    h.eng.flush(&mut h.app, &mut h.wire);
    let timer = h.wire.timers.iter().map(|t| t.1).max().unwrap();
    assert!(h.eng.owns_timer(timer));
    let other = h.wire.next_timer.insert(());
    assert!(
        !h.eng.owns_timer(other),
        "a fallback handler's timers pass through"
    );
    assert!(!Engine::<()>::new(h.eng.settings.clone()).owns_timer(timer));
    h.advance(Duration::from_millis(50));
    assert_eq!(h.app.deadlines, 1);
    h.advance(Duration::from_millis(100));
    assert_eq!(h.app.deadlines, 1, "once");
}

#[test]
fn pacing_holds_later_packets_for_a_write_of_their_own() {
    let mut h = Harness::new();
    h.ws_open(5, "EIO=4&transport=websocket");
    h.sent();
    let s = h.app.opened[0];
    h.eng.send(s, Out::message("first"));
    h.eng.pace(s);
    h.eng.send(s, Out::message("second"));
    h.eng.flush(&mut h.app, &mut h.wire);
    assert_eq!(h.sent(), [(5, Message::text("4first"))]);
    h.advance(PACE);
    assert_eq!(h.sent(), [(5, Message::text("4second"))]);
    h.eng.send(s, Out::message("third"));
    h.eng.flush(&mut h.app, &mut h.wire);
    assert_eq!(h.sent(), [(5, Message::text("4third"))], "paced once");
}

// ---- every transport alike (issue 11 §7) ----

#[test]
fn a_held_get_whose_connection_closes_ends_the_session_at_once() {
    let mut h = Harness::new();
    let sid = h.handshake();
    assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
    h.wire.held.remove(&conn(2));
    assert!(h.eng.on_http_closed(&mut h.app, conn(2), h.now));
    assert_eq!(
        h.app.closed,
        [(h.app.opened[0], DisconnectReason::TransportError)]
    );
    assert_eq!(h.eng.len(), 0, "no wait for the heartbeat");
    assert!(h.http(3, "GET", &q(&sid), "").unwrap().starts_with("400 "));
    // a connection the engine held nothing on is not its business
    assert!(!h.eng.on_http_closed(&mut h.app, conn(9), h.now));
}

#[test]
fn a_get_that_was_answered_is_forgotten_so_its_connection_closing_is_not_news() {
    let mut h = Harness::new();
    let sid = h.handshake();
    assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
    h.http(3, "POST", &q(&sid), "4hi");
    assert_eq!(h.responses(), [(2, "200 4hi".to_owned())]);
    assert!(!h.eng.on_http_closed(&mut h.app, conn(2), h.now));
    assert!(h.app.closed.is_empty());
    // held again on the same (kept-alive) connection, then lost
    assert_eq!(h.http(2, "GET", &q(&sid), ""), None);
    assert!(h.eng.on_http_closed(&mut h.app, conn(2), h.now));
    assert_eq!(h.app.closed.len(), 1);
}

#[test]
fn shutdown_ends_every_session_alike_and_answers_held_gets_with_a_close_packet() {
    let mut h = Harness::new();
    let polling = h.handshake();
    assert_eq!(h.http(2, "GET", &q(&polling), ""), None);
    let idle = h.handshake(); // polling, between two GETs
    h.ws_open(5, "EIO=4&transport=websocket");
    h.sent();
    h.eng.on_shutdown(&mut h.app, h.now);
    h.eng.flush(&mut h.app, &mut h.wire);
    let reasons: Vec<_> = h.app.closed.iter().map(|c| c.1).collect();
    assert_eq!(reasons, [DisconnectReason::ServerShuttingDown; 3]);
    assert_eq!(h.responses(), [(2, "200 1".to_owned())]);
    assert_eq!(h.wire.closed, [conn(5)]);
    assert_eq!(h.wire.close_codes, [CloseCode::Away]);
    assert_eq!(h.eng.len(), 0);
    assert!(h.http(3, "GET", &q(&idle), "").unwrap().starts_with("400 "));
}

#[test]
fn max_payload_bounds_websocket_messages_too() {
    let mut h = Harness::new();
    h.ws_open(5, "EIO=4&transport=websocket");
    h.sent();
    let fits = format!("4{}", "x".repeat(999));
    h.ws_text(5, &fits);
    assert_eq!(h.sent().len(), 1, "1000 bytes: echoed");
    h.ws_text(5, &format!("4{}", "x".repeat(1000)));
    assert_eq!(h.app.closed[0].1, DisconnectReason::TransportError);
    assert_eq!(h.wire.closed, [conn(5)]);
    assert_eq!(h.wire.close_codes, [CloseCode::Size]);
    // binary too, and on a probe (the upgrade is abandoned; polling goes on)
    let sid = h.handshake();
    h.ws_open(7, &format!("EIO=4&transport=websocket&sid={sid}"));
    h.eng
        .on_ws_message(&mut h.app, conn(7), Message::binary(vec![0u8; 1001]), h.now);
    h.eng.flush(&mut h.app, &mut h.wire);
    assert_eq!(h.wire.closed[1], conn(7));
    assert_eq!(h.wire.close_codes[1], CloseCode::Size);
    assert_eq!(h.http(3, "POST", &q(&sid), "4a").as_deref(), Some("200 ok"));
}

mod http;
