//! The connection state machine driven by hand, one section per state (as smoltcp tests its
//! TCP socket): bytes in from a scripted peer, events and written bytes checked, time
//! passed in. No sockets, no sleeping: every timeout here runs in microseconds.

use std::time::Duration;

use super::peer::Peer;
use super::*;

const IDLE: Duration = Duration::from_secs(120);
const PONG: Duration = Duration::from_secs(30);
const CLOSE: Duration = Duration::from_secs(5);
const HANDSHAKE: Duration = Duration::from_secs(10);
const MS: Duration = Duration::from_millis(1);

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// A connection, its clock and its peer.
struct Harness {
    conn: Connection,
    config: Config,
    now: Instant,
    rbuf: ReadBuf,
    peer: Peer,
    /// The `on_close` reports owed so far.
    closed: Vec<Disconnect>,
}

impl Harness {
    fn new(config: Config) -> Self {
        let now = Instant::now();
        Harness {
            conn: Connection::new(([127, 0, 0, 1], 9).into(), now, &config),
            config,
            now,
            rbuf: ReadBuf::new(),
            peer: Peer::default(),
            closed: Vec::new(),
        }
    }

    /// A connection whose upgrade was accepted, with the 101 already written.
    fn open(config: Config) -> Self {
        let mut h = Harness::new(config);
        let events = h.recv(UPGRADE);
        assert!(matches!(events[..], [Event::Upgrade(_)]), "{events:?}");
        assert!(h.conn.is_open());
        assert!(h.written().starts_with(b"HTTP/1.1 101 "));
        h
    }

    /// The peer sends `bytes`; one read pass runs. Upgrades are accepted; the events are
    /// returned (and `on_close` reports kept).
    fn recv(&mut self, bytes: &[u8]) -> Vec<Event<'static>> {
        if !bytes.is_empty() {
            self.peer.chunks.push_back(bytes.to_vec());
        }
        self.pass().0
    }

    /// One read pass over what the peer has sent; also whether input is left for another.
    fn pass(&mut self) -> (Vec<Event<'static>>, bool) {
        self.rbuf
            .begin(std::mem::take(&mut self.conn.carry), self.peer.eof);
        let mut pass = Pass::default();
        let mut events = Vec::new();
        loop {
            let input = Input {
                rbuf: &mut self.rbuf,
                src: &mut self.peer,
                pass: &mut pass,
            };
            let event = self.conn.read(input, &self.config, self.now);
            let Some(event) = event.map(Event::into_owned) else {
                break;
            };
            match &event {
                Event::Upgrade(_) => self.conn.accept(&Accept::default(), &self.config, self.now),
                Event::Closed(why) => self.closed.push(why.clone()),
                _ => {}
            }
            events.push(event);
        }
        (events, pass.more)
    }

    /// Time passes; the connection's timer runs if it is due.
    fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.conn.poll_at().is_some_and(|at| at <= self.now) {
            let owed = self.conn.on_timeout(&self.config, self.now);
            self.closed.extend(owed);
        }
    }

    /// Everything queued, as the peer receives it; the queue is then written out.
    fn written(&mut self) -> Vec<u8> {
        let mut wire = Vec::new();
        let all_out = self.conn.out.write_to(&mut wire, &[]).unwrap();
        assert!(all_out);
        self.conn.on_flushed(all_out, &self.config);
        wire
    }

    /// The frames written, as `(opcode, payload)`.
    fn frames(&mut self) -> Vec<(u8, Vec<u8>)> {
        decode(&self.written())
    }

    fn send_text(&mut self, text: &str) -> Sent {
        let payload = Bytes::copy_from_slice(text.as_bytes());
        (self.conn).send(OpCode::Text, payload, &self.config, self.now)
    }
}

/// A client frame: final, masked (with a zero key, so the payload reads as sent).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    client_frame(0x8, &payload)
}

/// Server frames (unmasked) as `(opcode, payload)`.
fn decode(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let (len, at) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        frames.push((bytes[0] & 0x0f, bytes[at..at + len].to_vec()));
        bytes = &bytes[at + len..];
    }
    frames
}

fn close_code(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

// ---- Request: reading a request head ----

#[test]
fn request_partial_head_waits_for_the_rest() {
    let mut h = Harness::new(Config::default());
    assert!(h.recv(&UPGRADE[..20]).is_empty());
    assert!(!h.conn.is_open());
    let events = h.recv(&UPGRADE[20..]);
    assert!(matches!(&events[..], [Event::Upgrade(req)] if req.path() == "/chat"));
    assert!(h.conn.is_open());
}

#[test]
fn request_not_complete_by_the_handshake_timeout_is_dropped() {
    let mut h = Harness::new(Config::default());
    h.recv(b"GET / HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(h.conn.poll_at(), Some(h.now + HANDSHAKE));
    h.advance(HANDSHAKE - MS);
    assert!(!h.conn.is_done(), "not before its time");
    // Trickled bytes do not extend it: the deadline counts from the accept.
    h.recv(b"X-Slow: a\r\n");
    h.advance(MS);
    assert!(h.conn.is_done());
    assert!(h.closed.is_empty(), "never opened: no on_close");
    assert!(
        h.written().is_empty(),
        "no response to an incomplete request"
    );
}

#[test]
fn request_head_over_the_limit_is_answered_431_and_closed() {
    let mut h = Harness::new(Config::default().max_handshake_bytes(1024));
    let mut head = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    head.resize(2048, b'a');
    let events = h.recv(&head);
    assert!(
        matches!(&events[..], [Event::Rejected { status: 431, reason }] if reason.contains("too large")),
        "reported for the log: {events:?}"
    );
    assert!(h.written().starts_with(b"HTTP/1.1 431 "));
    assert!(
        h.conn.is_shut(),
        "lingering, our half shut once the response is out"
    );
    h.advance(CLOSE);
    assert!(h.conn.is_done());
}

#[test]
fn request_that_cannot_be_http_is_answered_400_at_once() {
    // A TLS ClientHello on the plain port, and binary garbage: no line end, no blank line.
    for bytes in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"\x00\xff\xfe",
    ] {
        let mut h = Harness::new(Config::default());
        let events = h.recv(&bytes[..1]);
        assert!(
            matches!(&events[..], [Event::Rejected { status: 400, .. }]),
            "{events:?}"
        );
        assert!(
            h.written().starts_with(b"HTTP/1.1 400 "),
            "answered on its first byte, not at the handshake timeout"
        );
        assert!(h.conn.is_shut());
    }
}

#[test]
fn request_refused_by_the_handler_gets_its_response_then_linger() {
    let mut h = Harness::new(Config::default());
    h.peer.chunks.push_back(UPGRADE.to_vec());
    h.rbuf.begin(Vec::new(), false);
    let mut pass = Pass::default();
    let input = Input {
        rbuf: &mut h.rbuf,
        src: &mut h.peer,
        pass: &mut pass,
    };
    let event = h.conn.read(input, &h.config, h.now);
    assert!(matches!(event, Some(Event::Upgrade(_))));
    (h.conn).refuse(&Response::status_text(403), &h.config, h.now);
    let input = Input {
        rbuf: &mut h.rbuf,
        src: &mut h.peer,
        pass: &mut pass,
    };
    assert!(h.conn.read(input, &h.config, h.now).is_none());
    assert!(!h.conn.is_open());
    assert!(h.written().starts_with(b"HTTP/1.1 403 "));
}

#[test]
fn request_eof_drops_the_connection() {
    let mut h = Harness::new(Config::default());
    h.peer.eof = true;
    h.recv(b"");
    assert!(h.conn.is_done());
    assert!(h.closed.is_empty());
}

// ---- HttpBody and HttpHeld: plain HTTP ----

#[test]
fn http_body_arriving_in_pieces_is_handed_over_whole() {
    let mut h = Harness::new(Config::default());
    assert!(h
        .recv(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        .is_empty());
    let events = h.recv(b"world");
    assert!(matches!(&events[..], [Event::Http(req)] if req.body == b"helloworld"));
    assert!(h.conn.is_held());
}

#[test]
fn http_kept_alive_goes_back_to_reading_requests_with_a_new_handshake_timeout() {
    let mut h = Harness::new(Config::default());
    let events = h.recv(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(&events[..], [Event::Http(_)]));
    assert_eq!(
        h.conn.poll_at(),
        Some(h.now + IDLE),
        "held at most the idle timeout"
    );
    h.now += Duration::from_secs(1);
    assert!(h
        .conn
        .respond(&Response::new(200).body("a"), &h.config, h.now));
    assert!(
        !h.conn.respond(&Response::new(200), &h.config, h.now),
        "answered once"
    );
    assert_eq!(h.conn.poll_at(), Some(h.now + HANDSHAKE));
    assert!(h.written().starts_with(b"HTTP/1.1 200 "));
    let events = h.recv(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(&events[..], [Event::Http(req)] if req.path() == "/b"));
}

/// A keep-alive client that sends request after request and never reads the responses:
/// past the soft limit the next request is not read until the queue drains, so the queue
/// holds at most the soft limit and one response, not every answer (found while bounding
/// the queue in the `connection` fuzz driver).
#[test]
fn http_kept_alive_is_not_read_while_its_responses_pile_up() {
    let mut h = Harness::new(Config::default().backpressure_soft_limit(1000));
    let page = Response::new(200).body(vec![b'x'; 800]);
    let mut answered = 0;
    for _ in 0..10 {
        for event in h.recv(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") {
            assert!(matches!(event, Event::Http(_)));
            assert!(h.conn.respond(&page, &h.config, h.now));
            answered += 1;
        }
        // The socket takes nothing: the peer does not read.
        h.conn.on_flushed(false, &h.config);
    }
    assert_eq!(
        answered, 2,
        "the third request waits for the queue to drain"
    );
    assert!(h.conn.is_paused());
    assert!(h.conn.out.pending() < 2 * 1000);
    let wire = h.written();
    assert_eq!(wire.windows(8).filter(|w| w == b"HTTP/1.1").count(), 2);
    assert!(!h.conn.is_paused(), "drained: reading resumes");
    let events = h.pass().0;
    assert!(matches!(&events[..], [Event::Http(_)]), "{events:?}");
}

#[test]
fn http_held_request_times_out_after_the_idle_timeout() {
    let mut h = Harness::new(Config::default());
    h.recv(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
    h.advance(IDLE - MS);
    assert!(h.conn.is_held());
    h.advance(MS);
    assert!(h.conn.is_done());
}

#[test]
fn http_connection_close_lingers_after_the_response() {
    let mut h = Harness::new(Config::default());
    h.recv(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    h.conn.respond(&Response::new(204), &h.config, h.now);
    assert!(h.conn.wants_flush());
    h.written();
    assert!(h.conn.is_shut());
    // The peer's EOF ends it before the close timeout.
    h.peer.eof = true;
    h.recv(b"");
    assert!(h.conn.is_done());
}

#[test]
fn http_held_head_is_answered_without_a_body_however_late() {
    let mut h = Harness::new(Config::default());
    let events = h.recv(b"HEAD /poll HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(&events[..], [Event::Http(req)] if req.method() == "HEAD"));
    h.advance(IDLE - MS);
    let page = Response::new(200).body("hello");
    assert!(h.conn.respond(&page, &h.config, h.now));
    assert_eq!(
        h.written(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"
    );
    // The next request on the connection is a GET: it gets the body.
    h.recv(b"GET /poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(h.conn.respond(&page, &h.config, h.now));
    assert!(h.written().ends_with(b"Connection: close\r\n\r\nhello"));
}

#[test]
fn http_head_with_a_body_is_held_as_head() {
    let mut h = Harness::new(Config::default());
    h.recv(b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\na");
    let events = h.recv(b"b");
    assert!(matches!(&events[..], [Event::Http(req)] if req.body == b"ab"));
    h.conn
        .respond(&Response::new(404).body("none"), &h.config, h.now);
    assert!(h
        .written()
        .ends_with(b"Content-Length: 4\r\nConnection: keep-alive\r\n\r\n"));
}

#[test]
fn http_head_refused_by_the_library_gets_no_body() {
    let config = Config::default().max_http_body(4).max_handshake_bytes(1024);
    let mut big = b"HEAD / HTTP/1.1\r\nX-Big: ".to_vec();
    big.resize(2048, b'a');
    for (request, status) in [
        (
            &b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"[..],
            413,
        ),
        (
            b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            501,
        ),
        (b"\r\nHEAD / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (&big, 431),
    ] {
        let mut h = Harness::new(config.clone());
        h.recv(request);
        let written = String::from_utf8(h.written()).unwrap();
        let status_line = format!("HTTP/1.1 {status} ");
        assert!(written.starts_with(&status_line), "{written}");
        assert!(
            written.ends_with("Connection: close\r\n\r\n"),
            "{written:?}"
        );
        assert!(h.conn.is_shut());
    }
}

// ---- Open: exchanging frames ----

#[test]
fn open_frames_in_are_messages_out_including_those_in_the_upgrade_tail() {
    let mut h = Harness::new(Config::default());
    let mut bytes = UPGRADE.to_vec();
    bytes.extend(client_frame(0x1, b"in the tail"));
    let events = h.recv(&bytes);
    assert!(
        matches!(&events[..], [Event::Upgrade(_), Event::Message(m)] if m.as_text() == Some("in the tail"))
    );
    let events = h.recv(&client_frame(0x2, b"\x01\x02"));
    assert!(matches!(&events[..], [Event::Message(m)] if !m.is_text() && m.as_bytes() == [1, 2]));
}

#[test]
fn open_pings_are_answered_without_an_event() {
    let mut h = Harness::open(Config::default());
    assert!(h.recv(&client_frame(0x9, b"hi")).is_empty());
    assert_eq!(h.frames(), [(0xA, b"hi".to_vec())]);
}

#[test]
fn open_idle_peer_is_pinged_after_the_idle_timeout() {
    let mut h = Harness::open(Config::default());
    assert_eq!(h.conn.poll_at(), Some(h.now + IDLE));
    h.advance(IDLE - MS);
    assert!(h.frames().is_empty());
    h.advance(MS);
    assert_eq!(h.frames(), [(0x9, vec![])]);
    assert_eq!(h.conn.poll_at(), Some(h.now + PONG));
    assert!(h.closed.is_empty());
}

#[test]
fn open_traffic_postpones_the_ping() {
    let mut h = Harness::open(Config::default());
    h.advance(IDLE / 2);
    h.recv(&client_frame(0x1, b"alive"));
    h.advance(IDLE / 2 + MS);
    assert!(h.frames().is_empty(), "traffic counts as life");
    h.advance(IDLE / 2);
    assert_eq!(h.frames(), [(0x9, vec![])]);
}

#[test]
fn open_pong_received_starts_a_new_idle_period() {
    let mut h = Harness::open(Config::default());
    h.advance(IDLE);
    assert_eq!(h.frames(), [(0x9, vec![])]);
    h.advance(PONG - MS);
    assert!(h.recv(&client_frame(0xA, b"")).is_empty());
    assert_eq!(h.conn.poll_at(), Some(h.now + IDLE));
    h.advance(IDLE);
    assert_eq!(h.frames(), [(0x9, vec![])], "pinged again, not closed");
    assert!(h.closed.is_empty());
}

#[test]
fn open_no_pong_within_the_pong_timeout_closes_1001() {
    let mut h = Harness::open(Config::default());
    h.advance(IDLE);
    h.frames();
    h.advance(PONG);
    let why = h.closed.pop().expect("on_close owed");
    assert_eq!((why.code, why.cause), (CloseCode::Away, Cause::IdleTimeout));
    let frames = h.frames();
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].0, close_code(&frames[0].1)), (0x8, 1001));
    assert!(!h.conn.is_open());
}

#[test]
fn open_without_keepalive_never_times_out() {
    let mut h = Harness::open(Config::default().idle_timeout(None));
    assert_eq!(h.conn.poll_at(), None);
    h.advance(IDLE * 100);
    assert!(h.conn.is_open() && h.frames().is_empty());
}

#[test]
fn open_reading_stops_at_the_budget_and_the_rest_waits_for_the_next_pass() {
    let mut h = Harness::open(Config::default().messages_per_pass(4));
    // Larger than the decoder's 1 KiB buffer in all: some input stays undecoded.
    let texts: Vec<String> = (0..6).map(|i| format!("{i}").repeat(600)).collect();
    let burst: Vec<u8> = texts
        .iter()
        .flat_map(|t| client_frame(0x1, t.as_bytes()))
        .collect();
    h.peer.chunks.push_back(burst);
    let (first, more) = h.pass();
    assert_eq!(first.len(), 4);
    assert!(more, "input left: another pass is owed");
    assert!(
        !h.conn.carry.is_empty(),
        "what was read but not decoded is carried"
    );
    let (rest, more) = h.pass();
    assert!(!more);
    let got: Vec<String> = (first.into_iter().chain(rest))
        .map(|e| match e {
            Event::Message(m) => m.as_text().unwrap().to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, texts, "every message, whole and in order");
}

#[test]
fn open_paused_above_the_soft_limit_and_resumed_when_drained() {
    let mut h = Harness::open(Config::default().backpressure_soft_limit(100));
    for _ in 0..3 {
        assert_eq!(h.send_text(&"x".repeat(50)), Sent::Queued);
    }
    // The socket took nothing: the queue stays above the soft limit.
    assert_eq!(h.conn.on_flushed(false, &h.config), Flushed::default());
    assert!(h.conn.is_paused());
    // Not read while paused: a pending frame is not decoded.
    h.peer.chunks.push_back(client_frame(0x1, b"later"));
    let (events, more) = h.pass();
    assert!(events.is_empty() && more, "stops at once, resumes later");
    let mut wire = Vec::new();
    assert!(h.conn.out.write_to(&mut wire, &[]).unwrap());
    let flushed = h.conn.on_flushed(true, &h.config);
    assert!(flushed.resume);
    assert!(!h.conn.is_paused());
    let (events, _) = h.pass();
    assert!(matches!(&events[..], [Event::Message(m)] if m.as_text() == Some("later")));
}

#[test]
fn open_a_pass_that_may_write_early_reads_on_once_its_queue_is_out() {
    let mut h = Harness::open(Config::default().backpressure_soft_limit(100));
    let burst: Vec<u8> = (["one", "two", "three"].iter())
        .flat_map(|t| client_frame(0x1, t.as_bytes()))
        .collect();
    h.peer.chunks.push_back(burst);
    h.rbuf.begin(Vec::new(), false);
    let mut pass = Pass::with_early_flush();
    let next = |h: &mut Harness, pass: &mut Pass| {
        let input = Input {
            rbuf: &mut h.rbuf,
            src: &mut h.peer,
            pass,
        };
        let event = h.conn.read(input, &h.config, h.now);
        event.map(|e| match e {
            Event::Message(m) => m.as_text().unwrap_or_default().to_string(),
            other => panic!("{other:?}"),
        })
    };
    assert_eq!(next(&mut h, &mut pass).as_deref(), Some("one"));
    // A reply that takes the queue past the soft limit: the pass asks to be written.
    assert_eq!(h.send_text(&"x".repeat(200)), Sent::Queued);
    assert_eq!(next(&mut h, &mut pass), None);
    assert!(pass.take_flush(), "write the queue now");
    assert!(h.conn.carry.is_empty(), "the rest stays where it was read");
    assert_eq!(h.frames().len(), 1, "the reply goes out");
    assert_eq!(
        next(&mut h, &mut pass).as_deref(),
        Some("two"),
        "and reading goes on"
    );
    // Once per pass: past the limit again, the rest waits for the next pass.
    assert_eq!(h.send_text(&"x".repeat(200)), Sent::Queued);
    assert_eq!(next(&mut h, &mut pass), None);
    assert!(!pass.take_flush());
    assert!(pass.more && !h.conn.carry.is_empty());
    h.frames();
    let (rest, _) = h.pass();
    assert!(matches!(&rest[..], [Event::Message(m)] if m.as_text() == Some("three")));
}

#[test]
fn open_paused_for_a_whole_idle_period_is_closed_1008() {
    let mut h = Harness::open(Config::default().backpressure_soft_limit(10));
    h.send_text(&"x".repeat(50));
    h.conn.on_flushed(false, &h.config);
    assert!(h.conn.is_paused());
    h.advance(IDLE);
    let why = h.closed.pop().expect("on_close owed");
    assert_eq!(
        (why.code, why.cause),
        (CloseCode::Policy, Cause::Backpressure)
    );
}

#[test]
fn open_queue_past_the_hard_limit_fails_with_1008() {
    let mut h = Harness::open(Config::default().max_backpressure(1000));
    let chunk = "x".repeat(400);
    assert_eq!(h.send_text(&chunk), Sent::Queued);
    assert_eq!(h.send_text(&chunk), Sent::Queued);
    match h.send_text(&chunk) {
        Sent::Failed(why) => assert_eq!(
            (why.code, why.cause),
            (CloseCode::Policy, Cause::Backpressure)
        ),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(h.send_text("after"), Sent::Refused);
}

#[test]
fn open_protocol_error_fails_the_connection_with_1002() {
    let mut h = Harness::open(Config::default());
    let events = h.recv(&[0xF0, 0x80, 0, 0, 0, 0]); // reserved bits and opcode
    assert!(matches!(&events[..], [Event::Closed(why)] if why.code == CloseCode::Protocol));
    let frames = h.frames();
    assert_eq!((frames[0].0, close_code(&frames[0].1)), (0x8, 1002));
}

#[test]
fn open_peer_reset_without_a_close_frame_is_1006() {
    let mut h = Harness::open(Config::default());
    h.peer.eof = true;
    let events = h.recv(b"");
    assert!(
        matches!(&events[..], [Event::Closed(why)] if why.cause == Cause::Reset && why.code == CloseCode::Abnormal)
    );
}

// ---- Closing: a close handshake under way ----

#[test]
fn closing_ours_ends_when_the_peer_answers() {
    let mut h = Harness::open(Config::default());
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    assert!(h
        .conn
        .close(frame.clone(), Cause::ServerClosed, &h.config, h.now));
    assert!(
        !h.conn.close(frame, Cause::ServerClosed, &h.config, h.now),
        "once"
    );
    assert_eq!(h.conn.poll_at(), Some(h.now + CLOSE));
    assert_eq!(
        h.send_text("late"),
        Sent::Refused,
        "nothing after our close"
    );
    let frames = h.frames();
    assert_eq!((frames[0].0, close_code(&frames[0].1)), (0x8, 1000));
    // Data the peer sent before it saw our close is drained, not delivered.
    let mut bytes = client_frame(0x1, b"in flight");
    bytes.extend(close_frame(1000, ""));
    let events = h.recv(&bytes);
    assert!(
        matches!(&events[..], [Event::Closed(why)] if why.cause == Cause::ServerClosed && why.reason == "bye")
    );
    assert!(!h.conn.is_open());
}

#[test]
fn closing_theirs_is_answered_and_reported() {
    let mut h = Harness::open(Config::default());
    let events = h.recv(&close_frame(4000, "done"));
    assert!(matches!(&events[..], [Event::Closed(why)]
        if why.cause == Cause::PeerClosed && why.code == CloseCode::from(4000) && why.reason == "done"));
    let frames = h.frames();
    assert_eq!(
        (frames[0].0, close_code(&frames[0].1)),
        (0x8, 4000),
        "echoed"
    );
}

#[test]
fn closing_unanswered_times_out_with_the_code_sent() {
    let mut h = Harness::open(Config::default());
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    h.conn.close(frame, Cause::ServerClosed, &h.config, h.now);
    h.advance(CLOSE - MS);
    assert!(h.closed.is_empty());
    h.advance(MS);
    let why = h.closed.pop().expect("on_close owed");
    assert_eq!(
        (why.code, why.cause),
        (CloseCode::Normal, Cause::CloseTimeout)
    );
    assert!(h.conn.is_done());
}

/// Starts our close handshake as a shutdown does: 1001 "server shutting down".
fn close_for_shutdown(h: &mut Harness) {
    let frame = CloseFrame {
        code: CloseCode::Away,
        reason: "server shutting down".into(),
    };
    assert!(h.conn.close(frame, Cause::Shutdown, &h.config, h.now));
}

fn assert_reset_after_our_close(why: &Disconnect) {
    assert_eq!(
        (why.code, why.reason.as_str(), why.cause),
        (CloseCode::Away, "server shutting down", Cause::Reset),
        "the code sent, and that the peer reset"
    );
}

#[test]
fn closing_ours_then_the_peers_eof_reports_the_code_sent_and_a_reset() {
    let mut h = Harness::open(Config::default());
    close_for_shutdown(&mut h);
    h.peer.eof = true;
    let events = h.recv(b"");
    let [Event::Closed(why)] = &events[..] else {
        panic!("{events:?}");
    };
    assert_reset_after_our_close(why);
}

#[test]
fn closing_ours_then_a_socket_error_on_read_reports_the_code_sent_and_a_reset() {
    let mut h = Harness::open(Config::default());
    close_for_shutdown(&mut h);
    h.peer.reset = true;
    let events = h.recv(b"");
    let [Event::Closed(why)] = &events[..] else {
        panic!("{events:?}");
    };
    assert_reset_after_our_close(why);
}

#[test]
fn closing_ours_then_a_failed_write_reports_the_code_sent_and_a_reset() {
    let mut h = Harness::open(Config::default());
    close_for_shutdown(&mut h);
    // What the reactor does when writing the queue fails (EPIPE, ECONNRESET).
    let why = h.conn.reset().expect("on_close owed");
    assert_reset_after_our_close(&why);
    assert!(h.conn.is_done());
}

#[test]
fn open_reset_without_any_close_frame_is_still_1006() {
    let mut h = Harness::open(Config::default());
    let why = h.conn.reset().expect("on_close owed");
    assert_eq!((why.code, why.cause), (CloseCode::Abnormal, Cause::Reset));
    let mut h = Harness::open(Config::default());
    h.peer.reset = true;
    let events = h.recv(b"");
    assert!(
        matches!(&events[..], [Event::Closed(why)] if why.code == CloseCode::Abnormal && why.cause == Cause::Reset)
    );
}

// ---- Linger: done, flushing, waiting for the peer's EOF ----

#[test]
fn linger_shuts_down_once_everything_is_out_and_waits_for_eof() {
    let mut h = Harness::open(Config::default());
    h.recv(&close_frame(1000, ""));
    assert!(h.conn.wants_flush());
    let mut wire = Vec::new();
    h.conn.out.write_to(&mut wire, &[]).unwrap();
    assert_eq!(
        h.conn.on_flushed(false, &h.config),
        Flushed::default(),
        "not all out"
    );
    let flushed = h.conn.on_flushed(true, &h.config);
    assert!(flushed.shutdown);
    assert!(h.conn.is_shut() && !h.conn.wants_flush());
    // What the peer still sends is discarded; its EOF ends the connection.
    assert!(h.recv(&client_frame(0x1, b"ignored")).is_empty());
    assert!(!h.conn.is_done());
    h.peer.eof = true;
    h.recv(b"");
    assert!(h.conn.is_done());
    assert_eq!(
        h.closed.len(),
        1,
        "on_close owed once, not again at the drop"
    );
}

#[test]
fn linger_without_the_peers_eof_ends_at_the_close_timeout() {
    let mut h = Harness::open(Config::default());
    h.recv(&close_frame(1000, ""));
    h.written();
    h.advance(CLOSE);
    assert!(h.conn.is_done());
    assert_eq!(h.closed.len(), 1);
}

// ---- Open: frames refused on their header (issue 11 §3) ----

#[test]
fn open_a_header_that_must_be_refused_fails_at_once_without_its_payload() {
    // Only the header is sent: the verdict may not wait for the payload it announces.
    let mask = [0u8; 4];
    let masked = |b0: u8, len: &[u8]| [&[b0][..], len, &mask].concat();
    let cases: [(Vec<u8>, u16); 9] = [
        (vec![0x81, 0x7E, 0xFF, 0xFF], 1002), // unmasked text of 65,535 bytes
        (masked(0xC1, &[0xFE, 0x10, 0x00]), 1002), // RSV1, no extension negotiated
        (masked(0x83, &[0xFE, 0x10, 0x00]), 1002), // reserved data opcode
        (masked(0x8B, &[0x85]), 1002),        // reserved control opcode
        (masked(0x09, &[0x85]), 1002),        // fragmented ping
        (masked(0x89, &[0xFE, 0x00, 0x7E]), 1002), // ping of 126 bytes
        (masked(0x80, &[0x85]), 1002),        // continuation of nothing
        (masked(0x82, &[0xFE, 0x04, 0x01]), 1009), // over max_frame_size
        (masked(0x82, &[0xFF, 0, 0, 1, 0, 0, 0, 0, 0]), 1009), // 2^40 bytes
    ];
    for (header, code) in cases {
        let mut h = Harness::open(Config::default().max_frame_size(1024));
        let events = h.recv(&header);
        let [Event::Closed(why)] = &events[..] else {
            panic!("{header:x?}: {events:?}");
        };
        assert_eq!((u16::from(why.code), why.cause), (code, Cause::Protocol));
        let frames = h.frames();
        assert_eq!((frames[0].0, close_code(&frames[0].1)), (0x8, code));
        assert!(!h.conn.is_open(), "failed, not waiting for an answer");
    }
}

#[test]
fn open_fragments_over_max_message_size_fail_1009_on_the_header_that_passes_it() {
    let mut h = Harness::open(Config::default().max_message_size(1000));
    let mut first = client_frame(0x2, &[7; 600]);
    first[0] &= 0x7F; // not final
    assert!(h.recv(&first).is_empty());
    // 600 + 401 > 1000: refused on the header alone.
    let events = h.recv(&[0x80, 0x80 | 126, 0x01, 0x91, 0, 0, 0, 0]);
    assert!(matches!(&events[..], [Event::Closed(why)]
        if why.code == CloseCode::Size && why.cause == Cause::Protocol));
}

#[test]
fn open_frames_before_a_refused_header_are_delivered_first() {
    let mut h = Harness::open(Config::default());
    let mut bytes = client_frame(0x1, b"first");
    bytes.extend_from_slice(&[0x81, 0x7E, 0xFF, 0xFF]);
    let events = h.recv(&bytes);
    assert!(
        matches!(&events[..], [Event::Message(m), Event::Closed(why)]
        if m.as_text() == Some("first") && why.code == CloseCode::Protocol)
    );
}

// ---- Closing: codes on the wire (issue 11 §2) ----

#[test]
fn closing_theirs_with_1014_is_echoed_and_reported_as_sent() {
    let mut h = Harness::open(Config::default());
    let events = h.recv(&close_frame(1014, "bad gateway"));
    assert!(matches!(&events[..], [Event::Closed(why)]
        if why.cause == Cause::PeerClosed && u16::from(why.code) == 1014 && why.reason == "bad gateway"));
    let frames = h.frames();
    assert_eq!((frames[0].0, close_code(&frames[0].1)), (0x8, 1014));
}

#[test]
fn closing_theirs_in_the_upgrade_tail_after_a_message() {
    let mut h = Harness::new(Config::default());
    let mut bytes = UPGRADE.to_vec();
    bytes.extend(client_frame(0x1, b"hi"));
    bytes.extend(close_frame(1012, ""));
    let events = h.recv(&bytes);
    assert!(
        matches!(&events[..], [Event::Upgrade(_), Event::Message(_), Event::Closed(why)]
        if u16::from(why.code) == 1012 && why.cause == Cause::PeerClosed)
    );
}

#[test]
fn closing_theirs_without_a_code_is_answered_without_one() {
    let mut h = Harness::open(Config::default());
    let events = h.recv(&client_frame(0x8, b""));
    assert!(matches!(&events[..], [Event::Closed(why)]
        if why.cause == Cause::PeerClosed && why.code == CloseCode::Status));
    assert_eq!(h.frames(), [(0x8, vec![])]);
}

#[test]
fn closing_theirs_with_an_invalid_code_is_a_protocol_failure() {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let mut h = Harness::open(Config::default());
        let events = h.recv(&close_frame(code, ""));
        let [Event::Closed(why)] = &events[..] else {
            panic!("{code}: {events:?}");
        };
        assert_eq!(
            (why.code, why.cause),
            (CloseCode::Protocol, Cause::Protocol)
        );
        let frames = h.frames();
        assert_eq!(
            (frames[0].0, close_code(&frames[0].1)),
            (0x8, 1002),
            "{code}"
        );
    }
    // An invalid reason is 1007.
    let mut h = Harness::open(Config::default());
    let events = h.recv(&client_frame(0x8, b"\x03\xe8\xc0\x80"));
    assert!(matches!(&events[..], [Event::Closed(why)]
        if why.code == CloseCode::Invalid && why.cause == Cause::Protocol));
}

#[test]
fn closing_ours_with_a_code_that_may_not_be_sent_sends_1011() {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let mut h = Harness::open(Config::default());
        let frame = CloseFrame {
            code: code.into(),
            reason: "why".into(),
        };
        assert!(h.conn.close(frame, Cause::ServerClosed, &h.config, h.now));
        let frames = h.frames();
        assert_eq!(
            (frames[0].0, frames[0].1.clone()),
            (0x8, b"\x03\xf3why".to_vec())
        );
        h.advance(CLOSE);
        let why = h.closed.pop().expect("on_close owed");
        assert_eq!(why.code, CloseCode::Error, "reports what was sent");
    }
    // The codes that may be sent go out as they are.
    for code in [1000, 1003, 1007, 1010, 1014, 3000, 4999] {
        let mut h = Harness::open(Config::default());
        let frame = CloseFrame {
            code: code.into(),
            reason: "".into(),
        };
        h.conn.close(frame, Cause::ServerClosed, &h.config, h.now);
        assert_eq!(close_code(&h.frames()[0].1), code);
    }
}

#[test]
fn closing_ours_with_a_long_reason_cuts_it_on_a_char_boundary() {
    let mut h = Harness::open(Config::default());
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "é".repeat(100).into(), // 200 bytes
    };
    h.conn.close(frame, Cause::ServerClosed, &h.config, h.now);
    let frames = h.frames();
    assert_eq!(
        frames[0].1.len(),
        2 + 122,
        "a control frame carries at most 125 bytes"
    );
    let reason = std::str::from_utf8(&frames[0].1[2..]).expect("cut on a boundary");
    h.recv(&close_frame(1000, ""));
    assert_eq!(h.closed.pop().unwrap().reason, reason);
}

#[test]
fn http_held_request_dropped_unanswered_is_reported_answered_one_is_not() {
    let mut h = Harness::new(Config::default());
    h.recv(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
    h.peer.eof = true;
    h.recv(b"");
    assert!(
        h.conn.is_done() && h.conn.dropped_unanswered(),
        "on_http_closed owed"
    );

    let mut h = Harness::new(Config::default());
    h.recv(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
    h.conn.respond(&Response::new(200), &h.config, h.now);
    h.written();
    h.peer.eof = true;
    h.recv(b"");
    assert!(h.conn.is_done() && !h.conn.dropped_unanswered());
}
