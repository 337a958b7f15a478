//! The server-side API of Socket.IO over real sockets: the io handle from other threads,
//! server-side utilities (fetch, join, leave, disconnect), broadcasts with acknowledgements,
//! volatile emits, and the plain `Handle` kept out of Socket.IO's connections.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::sio::{http, polling_session, spawn};
use common::{client, manual_clock, spawn_built, tcp, PATIENCE};
use serde_json::json;
use tungstenite::Message;
use wsreactor::socketio::{AckError, EmitError, IoHandle, Options, SocketIo};
use wsreactor::{Ctx, Handler, ManualClock, Request, Response, SendError};

/// Sockets join the rooms named in their `auth.rooms` and keep `auth.name` as their data.
#[derive(Clone, Debug, PartialEq)]
struct Name(String);

fn rooms_io(options: Options) -> SocketIo {
    let mut io = SocketIo::new(options);
    io.of("/").on_connection(|socket| {
        let auth = socket.handshake().auth().clone();
        for room in auth["rooms"].as_array().into_iter().flatten() {
            socket.join(room.as_str().unwrap_or_default()).ok();
        }
        let name = auth["name"].as_str().unwrap_or_default().to_owned();
        socket.data_mut().insert(Name(name));
        socket.emit("ready", ()).ok();
    });
    io
}

/// A server whose io handle comes back to the test thread.
fn spawn_rooms(config: wsreactor::Config) -> (std::net::SocketAddr, IoHandle) {
    let (tx, rx) = mpsc::channel();
    let addr = spawn_built(config, move || {
        let io = rooms_io(Options::default());
        tx.send(io.handle()).unwrap();
        io
    });
    (addr, rx.recv().unwrap())
}

/// A WebSocket client connected to `/` with this auth, its `ready` read.
fn ws_with(addr: std::net::SocketAddr, auth: serde_json::Value) -> common::Client {
    ws_on_clock(addr, auth, None)
}

/// `ws_with` on a server with a manual clock, which must pass for the first emit after
/// the connect packet (Engine.IO paces them apart on WebSocket).
fn ws_on_clock(
    addr: std::net::SocketAddr,
    auth: serde_json::Value,
    clock: Option<&ManualClock>,
) -> common::Client {
    let mut ws = common::client_at(addr, "/socket.io/?EIO=4&transport=websocket&x=1");
    ws.read().unwrap();
    ws.send(Message::text(format!("40{auth}"))).unwrap();
    assert!(ws.read().unwrap().to_text().unwrap().starts_with("40{"));
    if let Some(clock) = clock {
        common::advance_until_readable(clock, Duration::from_millis(10), ws.get_ref());
    }
    assert_eq!(ws.read().unwrap(), Message::text(r#"42["ready"]"#));
    ws
}

fn text(ws: &mut common::Client) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).unwrap(),
            Message::Text(t) => return t.to_string(),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn all_rooms_names_every_room_with_members_sorted() {
    let (addr, io) = spawn_rooms(wsreactor::Config::default());
    let _a = ws_with(addr, json!({ "rooms": ["b", "a"] }));
    let _b = ws_with(addr, json!({ "rooms": ["b"] }));
    let rooms = io.all_rooms("/").unwrap().recv().unwrap().unwrap();
    // Each socket's own room, "a" and "b" once.
    assert_eq!(rooms.len(), 4, "{rooms:?}");
    assert!(
        rooms.windows(2).all(|w| w[0] < w[1]),
        "sorted, once each: {rooms:?}"
    );
    assert!(["a", "b"].iter().all(|r| rooms.iter().any(|n| n == r)));
    assert_eq!(
        io.all_rooms("/none").unwrap().recv().unwrap().unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn the_io_handle_emits_to_rooms_from_another_thread_on_both_transports() {
    let (addr, io) = spawn_rooms(wsreactor::Config::default());
    let mut red = ws_with(addr, json!({ "rooms": ["red"], "name": "r" }));
    let mut blue = ws_with(addr, json!({ "rooms": ["blue"], "name": "b" }));
    // A polling client in "red": it gets the event with its next GET.
    let q = polling_session(addr);

    thread::spawn(move || {
        io.of("/").to("red").emit("news", "for red").unwrap();
        io.emit("all", 1).unwrap();
        assert_eq!(
            io.of("/").emit("connect", 1),
            Err(EmitError::Reserved("connect".into()))
        );
    })
    .join()
    .unwrap();

    assert_eq!(text(&mut red), r#"42["news","for red"]"#);
    assert_eq!(text(&mut red), r#"42["all",1]"#);
    assert_eq!(
        text(&mut blue),
        r#"42["all",1]"#,
        "blue skipped the red news"
    );
    let mut get = tcp(addr);
    let (_, polled) = http(&mut get, "GET", &q, "");
    assert_eq!(polled, r#"42["all",1]"#, "the polling client is in no room");
}

#[test]
fn fetch_join_leave_and_disconnect_act_on_a_selection() {
    let (addr, io) = spawn_rooms(wsreactor::Config::default());
    let mut a = ws_with(addr, json!({ "rooms": ["lobby"], "name": "ada" }));
    let _b = ws_with(addr, json!({ "rooms": ["lobby", "vip"], "name": "bob" }));
    let mut c = ws_with(addr, json!({ "name": "cy" }));

    let names = |op: wsreactor::socketio::Operator| {
        let mut names: Vec<String> = (op.fetch_sockets().unwrap().recv().unwrap().unwrap())
            .iter()
            .map(|s| s.data().get::<Name>().unwrap().0.clone())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(io.of("/")), ["ada", "bob", "cy"]);
    let in_order: Vec<String> = (io.of("/").fetch_sockets().unwrap().recv().unwrap().unwrap())
        .iter()
        .map(|s| s.data().get::<Name>().unwrap().0.clone())
        .collect();
    assert_eq!(
        in_order,
        ["ada", "bob", "cy"],
        "in the order they connected, as the reference"
    );
    assert_eq!(names(io.of("/").to("lobby").except("vip")), ["ada"]);
    let lobby = io
        .of("/")
        .to("lobby")
        .fetch_sockets()
        .unwrap()
        .recv()
        .unwrap()
        .unwrap();
    let bob = lobby
        .iter()
        .find(|s| s.rooms().iter().any(|r| r == "vip"))
        .unwrap();
    assert_eq!(bob.rooms()[0], bob.id(), "its own room first");
    assert_eq!(bob.handshake().query_param("x"), Some("1"));
    assert_eq!(bob.handshake().auth()["name"], "bob");

    io.of("/").except("lobby").sockets_join(&["late"]).unwrap();
    assert_eq!(names(io.of("/").to("late")), ["cy"]);
    io.of("/").to("lobby").sockets_leave(&["lobby"]).unwrap();
    assert!(names(io.of("/").to("lobby")).is_empty());

    io.of("/").to("late").disconnect_sockets(false).unwrap();
    assert_eq!(text(&mut c), "41", "told it was disconnected");
    assert_eq!(names(io.of("/")), ["ada", "bob"]);
    // One socket by id.
    let ada = lobby.iter().find(|s| s.id() != bob.id()).unwrap();
    io.socket("/", ada.id()).emit("private", "hi").unwrap();
    assert_eq!(text(&mut a), r#"42["private","hi"]"#);
    // A namespace that does not exist has nobody.
    assert!(names(io.of("/nowhere")).is_empty());
}

#[test]
fn a_broadcast_with_ack_collects_every_answer_or_times_out_with_those_that_came() {
    let (clock, config) = manual_clock();
    let (addr, io) = spawn_rooms(config);
    let mut a = ws_on_clock(addr, json!({ "rooms": ["g"] }), Some(&clock));
    let mut b = ws_on_clock(addr, json!({ "rooms": ["g"] }), Some(&clock));

    // Both answer: the reply holds both answers.
    let reply = (io.of("/").to("g"))
        .emit_with_ack("vote?", "q1", Duration::from_secs(5))
        .unwrap();
    for (ws, answer) in [(&mut a, "yes"), (&mut b, "no")] {
        let asked = text(ws);
        let id = asked.strip_prefix("42").unwrap().split('[').next().unwrap();
        assert_eq!(asked, format!(r#"42{id}["vote?","q1"]"#));
        ws.send(Message::text(format!(r#"43{id}["{answer}"]"#)))
            .unwrap();
    }
    let answers = reply.recv_timeout(PATIENCE).unwrap().unwrap();
    let mut answers: Vec<String> = answers
        .iter()
        .map(|p| p.text(0).unwrap().to_owned())
        .collect();
    answers.sort();
    assert_eq!(answers, ["no", "yes"]);

    // One answers, the other does not: at the timeout, an error with the one answer.
    let reply = (io.of("/").to("g"))
        .emit_with_ack("vote?", "q2", Duration::from_secs(5))
        .unwrap();
    let asked = text(&mut a);
    let id = asked
        .strip_prefix("42")
        .unwrap()
        .split('[')
        .next()
        .unwrap()
        .to_owned();
    a.send(Message::text(format!(r#"43{id}["late yes"]"#)))
        .unwrap();
    text(&mut b);
    let failed = loop {
        clock.advance(Duration::from_secs(1));
        match reply.recv_timeout(common::TICK) {
            Ok(result) => break result.unwrap_err(),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(failed.kind, AckError::Timeout);
    assert_eq!(failed.responses.len(), 1);
    assert_eq!(failed.responses[0].text(0), Some("late yes"));

    // Nobody selected: answered at once, with no answers.
    let reply = (io.of("/").to("empty"))
        .emit_with_ack("vote?", (), Duration::from_secs(5))
        .unwrap();
    assert_eq!(reply.recv_timeout(PATIENCE).unwrap().unwrap(), []);
}

#[test]
fn a_recipient_that_disconnects_ends_the_wait_without_the_timeout() {
    let (addr, io) = spawn_rooms(wsreactor::Config::default());
    let mut a = ws_with(addr, json!({ "rooms": ["g"] }));
    let mut b = ws_with(addr, json!({ "rooms": ["g"] }));
    let reply = (io.of("/").to("g"))
        .emit_with_ack("vote?", (), Duration::from_secs(3600))
        .unwrap();
    let asked = text(&mut a);
    let id = asked
        .strip_prefix("42")
        .unwrap()
        .split('[')
        .next()
        .unwrap()
        .to_owned();
    a.send(Message::text(format!("43{id}[1]"))).unwrap();
    text(&mut b);
    b.send(Message::text("41")).unwrap(); // leaves the namespace unanswered
    let failed = reply.recv_timeout(PATIENCE).unwrap().unwrap_err();
    assert_eq!(failed.kind, AckError::Disconnected);
    assert_eq!(failed.responses.len(), 1);
}

#[test]
fn volatile_emits_skip_a_polling_client_with_no_get_waiting() {
    let (addr, io) = spawn_rooms(wsreactor::Config::default());
    let q = polling_session(addr);
    let mut ws = ws_with(addr, json!({}));
    io.of("/").volatile().emit("tick", 1).unwrap();
    io.of("/").emit("kept", 2).unwrap();
    // The WebSocket could take both; the polling client had no GET waiting.
    assert_eq!(text(&mut ws), r#"42["tick",1]"#);
    assert_eq!(text(&mut ws), r#"42["kept",2]"#);
    let (_, polled) = http(&mut tcp(addr), "GET", &q, "");
    assert_eq!(polled, r#"42["kept",2]"#);
}

#[test]
fn operations_queued_before_the_server_starts_run_when_it_does() {
    let server = wsreactor::Server::bind("127.0.0.1:0").unwrap();
    let stop = server.handle();
    let (handle_tx, handle_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    // SocketIo is not Send: it is built on the thread that runs it.
    let thread = thread::spawn(move || {
        let io = rooms_io(Options::default());
        handle_tx.send(io.handle()).unwrap();
        go_rx.recv().unwrap();
        server.run(io)
    });
    let handle = handle_rx.recv().unwrap();
    let fetched = handle.of("/").fetch_sockets().unwrap();
    go_tx.send(()).unwrap();
    assert_eq!(fetched.recv_timeout(PATIENCE).unwrap().unwrap().len(), 0);
    stop.shutdown().unwrap();
    thread.join().unwrap().unwrap();
    assert_eq!(
        handle.emit("late", 1),
        Err(EmitError::Queue(SendError::Stopped)),
        "a stopped server takes nothing"
    );
}

/// A plain WebSocket service beside Socket.IO, which broadcasts raw frames.
struct Raw;

impl Handler for Raw {
    fn on_upgrade(&mut self, _req: &Request) -> Result<wsreactor::Accept, Response> {
        Ok(wsreactor::Accept::default())
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: wsreactor::Message) {
        ctx.broadcast(msg.clone()).unwrap();
        let _ = ctx.handle().broadcast(msg);
    }
}

#[test]
fn raw_broadcasts_never_reach_socket_io_connections() {
    let (tx, rx) = mpsc::channel();
    let addr = spawn(move || {
        let io = rooms_io(Options::default());
        tx.send(io.handle()).unwrap();
        io.fallback(Raw)
    });
    let io = rx.recv().unwrap();
    let mut sio = ws_with(addr, json!({}));
    let mut raw = client(addr);
    raw.send(Message::text("raw")).unwrap();
    assert_eq!(raw.read().unwrap(), Message::text("raw"), "ctx.broadcast");
    assert_eq!(
        raw.read().unwrap(),
        Message::text("raw"),
        "Handle::broadcast"
    );
    // Both broadcasts have run: the Socket.IO client's next frame is this event.
    io.emit("after", 1).unwrap();
    assert_eq!(text(&mut sio), r#"42["after",1]"#);
}
