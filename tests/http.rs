//! Plain HTTP on the WebSocket port: bodies, keep-alive, held (long-poll) requests, timers.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

use common::{client, read_response, spawn_server, tcp};
use tungstenite::Message;
use wsreactor::{Config, ConnId, Ctx, Handler, Request, Response, ServerCtx, TimerId};

/// `POST /echo` answers with the body; `GET /poll` is held until a WebSocket client sends
/// `wake`; on open, a 1 ms timer sends the new connection `tick`.
#[derive(Default)]
struct Poller {
    held: Vec<ConnId>,
    /// Each timer and the connection it ticks to.
    ticking: HashMap<TimerId, ConnId>,
}

impl Handler for Poller {
    fn on_http(&mut self, ctx: &mut Ctx<'_>, req: &Request) -> Option<Response> {
        match req.path() {
            "/echo" => Some(Response::new(200).body(req.body().to_vec())),
            "/poll" => {
                self.held.push(ctx.id());
                None
            }
            _ => Some(Response::status_text(404)),
        }
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
        let timer = ctx.set_timer(Duration::from_millis(1));
        self.ticking.insert(timer, ctx.id());
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        if msg.to_text().is_ok_and(|t| t == "wake") {
            let woken = self
                .held
                .drain(..)
                .filter(|&id| ctx.respond(id, Response::new(200).body("woken")))
                .count();
            ctx.send(format!("woke {woken}"));
        }
    }

    fn on_timer(&mut self, ctx: &mut ServerCtx<'_>, timer: TimerId) {
        if let Some(id) = self.ticking.remove(&timer) {
            ctx.send_to(id, "tick");
        }
    }
}

#[test]
fn bodies_arrive_whole_and_keep_alive_serves_several_requests() {
    let addr = spawn_server(Config::default(), Poller::default());
    let mut stream = tcp(addr);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello")
        .unwrap();
    stream.flush().unwrap();
    stream.write_all(b" world").unwrap();
    let (head, body) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Connection: keep-alive\r\n"), "{head}");
    assert_eq!(body, b"hello world");

    // the same connection serves the next request, and closes when asked to
    stream
        .write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    assert!(head.contains("Connection: close\r\n"), "{head}");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn bodies_over_the_limit_get_413() {
    let addr = spawn_server(Config::default().max_http_body(10), Poller::default());
    let head = common::raw_request(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
    );
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
}

#[test]
fn held_request_is_answered_from_another_connections_callback() {
    let (clock, config) = common::manual_clock();
    let addr = spawn_server(config, Poller::default());
    let mut ws = client(addr);
    // on_open set the timer in the pass that sent the 101
    clock.advance(Duration::from_secs(1));
    assert_eq!(ws.read().unwrap(), Message::text("tick"), "timers fire");
    let mut polls: Vec<_> = (0..2).map(|_| tcp(addr)).collect();
    for poll in &mut polls {
        poll.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
    }
    // a client that gives up its poll does not break the others
    let mut gone = tcp(addr);
    gone.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    drop(gone);
    // every poll is in before the wake (the echo proves the server read them all)
    let mut probe = tcp(addr);
    probe
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n!")
        .unwrap();
    read_response(&mut probe);

    ws.send(Message::text("wake")).unwrap();
    let woke = ws.read().unwrap();
    assert!(
        woke == Message::text("woke 2") || woke == Message::text("woke 3"),
        "{woke:?}"
    );
    for poll in &mut polls {
        let (head, body) = read_response(poll);
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_eq!(body, b"woken");
    }
}

/// A timer never fires before its delay has passed, measured in the reactor's own time.
#[test]
fn timers_fire_no_earlier_than_their_delay_in_ctx_time() {
    struct Stopwatch(Option<std::time::Instant>, Option<ConnId>);
    impl Handler for Stopwatch {
        fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
            self.0 = Some(ctx.now());
            self.1 = Some(ctx.id());
            ctx.set_timer(Duration::from_secs(2));
        }
        fn on_timer(&mut self, ctx: &mut ServerCtx<'_>, _timer: TimerId) {
            if let (Some(start), Some(id)) = (self.0, self.1) {
                let waited = ctx.now().duration_since(start);
                ctx.send_to(id, format!("{}", waited >= Duration::from_secs(2)));
            }
        }
    }
    let (clock, config) = common::manual_clock();
    let addr = spawn_server(config, Stopwatch(None, None));
    let mut ws = client(addr);
    // Time moves in steps a fifth of the delay until the timer fires: an early timer
    // would report `false`.
    common::advance_until_readable(&clock, Duration::from_millis(400), ws.get_ref());
    assert_eq!(ws.read().unwrap(), Message::text("true"));
}
