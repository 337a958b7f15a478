//! The Socket.IO endpoint over real sockets: long-polling, WebSocket, binary, acks, the
//! fallback handler, and bad input. (The official client is tested in tests/socketio/.)

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::sio::{held_get, http, polling_query, polling_session, spawn, ws_session};
use common::{client_at, read_response, spawn_built, tcp};
use serde_json::json;
use tungstenite::{Bytes, Message};
use wsreactor::socketio::{Options, Payload, SocketIo};
use wsreactor::{ConnId, Ctx, Handler, Request, Response, Server, ServerCtx, TimerId};

/// `echo` is emitted back and acked with its arguments; connecting emits `hello`.
fn echo_io() -> SocketIo {
    let mut io = SocketIo::new(Options::default());
    io.of("/").on_connection(|socket| {
        socket.emit("hello", json!({ "id": socket.id() })).ok();
        socket.on("echo", |socket, args, ack| {
            socket.emit("echo", args.clone()).ok();
            if let Some(ack) = ack {
                ack.send(socket, args);
            }
        });
    });
    io
}

#[test]
fn long_polling_carries_a_whole_socket_io_session() {
    let addr = spawn(echo_io);
    let mut conn = tcp(addr);
    let (status, open) = http(&mut conn, "GET", "/socket.io/?EIO=4&transport=polling", "");
    assert_eq!(status, 200);
    let q = polling_query(&open);

    // keep-alive: the same connection posts and polls
    assert_eq!(http(&mut conn, "POST", &q, "40"), (200, "ok".into()));
    let (_, connected) = http(&mut conn, "GET", &q, "");
    let (connect, hello) = connected.split_once('\x1e').expect("two packets");
    assert!(connect.starts_with(r#"40{"sid":""#), "{connected}");
    assert!(hello.starts_with(r#"42["hello",{"id":"#), "{connected}");

    // Two events (one asking for an ack), then a binary record no packet announced: a
    // Socket.IO parse error, so the session ends once its queue has drained.
    let post = "42[\"echo\",\"x\"]\x1e421[\"echo\",{\"a\":1}]\x1ebAQID";
    assert_eq!(http(&mut conn, "POST", &q, post), (200, "ok".into()));
    let (status, reply) = http(&mut conn, "GET", &q, "");
    assert_eq!(status, 200);
    assert_eq!(
        reply, "42[\"echo\",\"x\"]\x1e42[\"echo\",{\"a\":1}]\x1e431[{\"a\":1}]",
        "echoes, the ack"
    );
    let close = http(&mut conn, "GET", &q, "");
    assert_eq!(close, (200, "1".into()), "then the close packet, alone");
    assert_eq!(http(&mut conn, "GET", &q, "").0, 400, "session gone");
}

#[test]
fn websocket_events_acks_and_binary_attachments() {
    let addr = spawn(echo_io);
    let mut ws = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
    let open = ws.read().unwrap();
    assert!(open.to_text().unwrap().starts_with(r#"0{"sid":"#));
    ws.send(Message::text("40")).unwrap();
    assert!(ws.read().unwrap().to_text().unwrap().starts_with("40{"));
    assert!(ws
        .read()
        .unwrap()
        .to_text()
        .unwrap()
        .starts_with(r#"42["hello""#));

    ws.send(Message::text(r#"427["echo",1,"two"]"#)).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text(r#"42["echo",1,"two"]"#));
    assert_eq!(ws.read().unwrap(), Message::text(r#"437[1,"two"]"#));

    ws.send(Message::text(
        r#"451-8["echo",{"_placeholder":true,"num":0}]"#,
    ))
    .unwrap();
    ws.send(Message::Binary(Bytes::from_static(&[0, 255, 30])))
        .unwrap();
    let placeholder = r#"[{"_placeholder":true,"num":0}]"#;
    assert_eq!(
        ws.read().unwrap(),
        Message::text(format!(r#"451-["echo",{}"#, &placeholder[1..]))
    );
    assert_eq!(
        ws.read().unwrap(),
        Message::Binary(Bytes::from_static(&[0, 255, 30]))
    );
    assert_eq!(
        ws.read().unwrap(),
        Message::text(format!("461-8{placeholder}"))
    );
    assert_eq!(
        ws.read().unwrap(),
        Message::Binary(Bytes::from_static(&[0, 255, 30]))
    );
}

#[test]
fn bad_packets_close_the_connection_and_the_server_goes_on() {
    let addr = spawn(echo_io);
    for garbage in ["4abc", "42{}", "\u{e9}", "40/nope,", "42[\"echo\"]"] {
        let mut ws = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
        ws.read().unwrap();
        ws.send(Message::text(garbage)).unwrap();
        let answer = match ws.read() {
            Ok(Message::Close(_)) | Err(_) => "closed".to_owned(),
            Ok(msg) => msg.to_text().unwrap().to_owned(),
        };
        match garbage {
            // an unknown namespace is refused, not fatal
            "40/nope," => assert_eq!(answer, r#"44/nope,{"message":"Invalid namespace"}"#),
            _ => assert_eq!(answer, "closed", "{garbage:?}"),
        }
    }
    let mut ws = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
    assert!(ws.read().unwrap().to_text().unwrap().starts_with("0{"));
}

/// Serves `/hello`, and ticks to its own WebSocket clients on a timer.
#[derive(Default)]
struct Fallback {
    ticking: Vec<ConnId>,
    /// The key each timer stands for.
    keys: HashMap<TimerId, u64>,
}

impl Handler for Fallback {
    fn on_http(&mut self, _ctx: &mut Ctx<'_>, req: &Request) -> Option<Response> {
        Some(match req.path() {
            "/hello" => Response::new(200).body("hello"),
            _ => Response::status_text(404),
        })
    }
    fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
        self.ticking.push(ctx.id());
        let timer = ctx.set_timer(Duration::from_millis(1));
        self.keys.insert(timer, 7);
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        ctx.send(msg);
    }
    fn on_timer(&mut self, ctx: &mut ServerCtx<'_>, timer: TimerId) {
        let Some(key) = self.keys.remove(&timer) else {
            return;
        };
        for &id in &self.ticking {
            ctx.send_to(id, format!("tick {key}"));
        }
    }
}

#[test]
fn other_paths_their_connections_and_timers_go_to_the_fallback() {
    let ping_interval = Duration::from_secs(5);
    let (clock, config) = common::manual_clock();
    let addr = spawn_built(config, move || {
        let mut io = SocketIo::new(Options::default().ping_interval(ping_interval))
            .fallback(Fallback::default());
        io.of("/").on_connection(|socket| {
            socket.send(Payload::new().arg("hi")).ok();
        });
        io
    });
    let mut conn = tcp(addr);
    assert_eq!(http(&mut conn, "GET", "/hello", ""), (200, "hello".into()));
    assert_eq!(
        http(&mut conn, "GET", "/socket.io/socket.io.js", "").0,
        404,
        "no bundle set"
    );

    // a Socket.IO client pinged every 5 s keeps the engine's timers busy meanwhile
    let mut sio = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
    sio.read().unwrap();
    let mut plain = client_at(addr, "/plain");
    // Both timers are armed (with the open packet, and in on_open with the 101): let
    // them come due.
    clock.advance(ping_interval);
    assert_eq!(plain.read().unwrap(), Message::text("tick 7"));
    plain.send(Message::text("echo")).unwrap();
    assert_eq!(plain.read().unwrap(), Message::text("echo"));
    assert_eq!(sio.read().unwrap(), Message::text("2"), "engine pings too");
}

// ---- issue 11 §6: JSON as JavaScript writes it; §7: every transport alike ----

/// `echo_io` with these options, reporting each socket's disconnect reason.
fn reporting_io(options: Options, reasons: mpsc::Sender<String>) -> SocketIo {
    let mut io = SocketIo::new(options);
    io.of("/").on_connection(move |socket| {
        let reasons = reasons.clone();
        socket.on_disconnect(move |_socket, reason| {
            let _ = reasons.send(reason.to_string());
        });
        socket.on("echo", |socket, args, ack| {
            socket.emit("echo", args.clone()).ok();
            if let Some(ack) = ack {
                ack.send(socket, args);
            }
        });
        socket.on("message", |socket, args, _ack| {
            let text = args.text(0).unwrap_or_default().to_owned();
            socket.emit("message", format!("Reply to: {text}")).ok();
        });
    });
    io
}

#[test]
fn strings_numbers_keys_and_depth_javascript_writes_come_back_as_sent() {
    let (tx, reasons) = mpsc::channel();
    let addr = spawn(move || reporting_io(Options::default(), tx));
    let mut ws = ws_session(addr);
    // a string cut inside an emoji, a key with a lone surrogate, key order, numbers
    // past u64 and f64's integers
    let args = r#""cut:\ud83c",{"b":1,"\udc00a":[2.5,1e+21]},98765432109876540000,5e-324"#;
    ws.send(Message::text(format!(r#"42["echo",{args}]"#)))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::text(format!(r#"42["echo",{args}]"#))
    );
    ws.send(Message::text(r#"42["message","cut:\ud83c"]"#))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::text(r#"42["message","Reply to: cut:\ud83c"]"#)
    );
    // nesting: 256 levels (the event's own array is one) come back; deeper packets
    // are dropped, the session stays
    let nest = |n| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    ws.send(Message::text(format!(r#"42["echo",{}]"#, nest(255))))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::text(format!(r#"42["echo",{}]"#, nest(255)))
    );
    ws.send(Message::text(format!(r#"42["echo",{}]"#, nest(100_000))))
        .unwrap();
    ws.send(Message::text(r#"42["echo","still here"]"#))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::text(r#"42["echo","still here"]"#)
    );
    assert!(reasons.try_recv().is_err(), "nobody disconnected");

    // and over long-polling
    let q = polling_session(addr);
    let mut conn = tcp(addr);
    let body = r#"42["message","cut:\ud83c"]"#;
    assert_eq!(http(&mut conn, "POST", &q, body), (200, "ok".into()));
    assert_eq!(
        http(&mut conn, "GET", &q, ""),
        (200, r#"42["message","Reply to: cut:\ud83c"]"#.into())
    );
}

#[test]
fn a_polling_client_whose_held_get_dies_is_gone_at_once() {
    let (tx, reasons) = mpsc::channel();
    let addr = spawn(move || reporting_io(Options::default(), tx));
    let q = polling_session(addr);
    let get = held_get(addr, &q);
    thread::sleep(Duration::from_millis(50)); // held by now
    drop(get);
    // the heartbeat would take 45 s
    let reason = reasons
        .recv_timeout(Duration::from_secs(2))
        .expect("noticed");
    assert_eq!(reason, "transport error");
    let mut conn = tcp(addr);
    assert_eq!(http(&mut conn, "GET", &q, "").0, 400, "the session is gone");
}

#[test]
fn shutdown_tells_every_socket_and_answers_a_held_get_with_a_close_packet() {
    let (tx, reasons) = mpsc::channel();
    let server = Server::bind("127.0.0.1:0").unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let done = thread::spawn(move || server.run(reporting_io(Options::default(), tx)));
    let mut ws = ws_session(addr);
    let q = polling_session(addr);
    let mut get = held_get(addr, &q);
    thread::sleep(Duration::from_millis(50));
    handle.shutdown().unwrap();
    let (head, body) = read_response(&mut get);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"1", "a close packet");
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("{other:?}"),
    }
    let mut got = vec![reasons.recv().unwrap(), reasons.recv().unwrap()];
    got.dedup();
    assert_eq!(got, ["server shutting down"]);
    drop(ws);
    done.join().unwrap().unwrap();
}

#[test]
fn max_payload_bounds_websocket_messages_as_it_bounds_polling_posts() {
    let (tx, reasons) = mpsc::channel();
    let options = Options::default().max_payload(1000);
    let addr = spawn(move || reporting_io(options, tx));
    let q = polling_session(addr);
    let big = format!(r#"42["echo","{}"]"#, "x".repeat(1000));
    let mut conn = tcp(addr);
    assert_eq!(http(&mut conn, "POST", &q, &big).0, 413);

    let mut ws = ws_session(addr);
    ws.send(Message::text(big)).unwrap();
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reasons.recv_timeout(Duration::from_secs(2)).unwrap(),
        "transport error"
    );
}

/// Room limits apply to sockets too (issue 19); a socket's own room does not count.
#[test]
fn socket_joins_past_the_room_limits_are_refused() {
    let addr = spawn(|| {
        let options = Options::default()
            .max_rooms_per_socket(1)
            .max_room_name_len(8);
        let mut io = SocketIo::new(options);
        io.of("/").on_connection(|socket| {
            socket.on("join", |socket, args, _ack| {
                let room = args.text(0).unwrap_or_default().to_owned();
                let answer = match socket.join(&room) {
                    Ok(joined) => joined.to_string(),
                    Err(e) => format!("{e:?}"),
                };
                socket.emit("joined", answer).ok();
            });
        });
        io
    });
    let mut ws = ws_session(addr);
    let mut join = |room: &str| {
        ws.send(Message::text(format!(r#"42["join","{room}"]"#)))
            .unwrap();
        ws.read().unwrap().to_text().unwrap().to_owned()
    };
    assert_eq!(join("red"), r#"42["joined","true"]"#);
    assert_eq!(join("blue"), r#"42["joined","TooManyRooms"]"#);
    assert_eq!(join("red"), r#"42["joined","false"]"#);
    assert_eq!(join("123456789"), r#"42["joined","NameTooLong"]"#);
}
