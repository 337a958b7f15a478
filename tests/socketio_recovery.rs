//! Connection state recovery over real sockets, time driven by a manual clock: a client
//! whose connection drops gets its socket back (id, rooms, data, missed events in order)
//! within the window, and a new one past it, after a disconnection it asked for, or with a
//! pid the server does not know. (The official client, against the reference server too,
//! is in tests/socketio/recovery.test.mjs.)

mod common;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use common::{client_at, manual_clock, spawn_built, Client};
use serde_json::{json, Value};
use tungstenite::Message;
use wsreactor::socketio::{IoHandle, Options, Recovery, SocketIo};
use wsreactor::ManualClock;

const WINDOW: Duration = Duration::from_secs(120);

#[derive(Clone)]
struct Name(String);

/// Sockets join `auth.room` and keep `auth.name` (unless recovered: then both come back);
/// each tells its client `state` (recovered, rooms, name) on connection.
fn server() -> (SocketAddr, IoHandle, ManualClock) {
    let (clock, config) = manual_clock();
    let (tx, rx) = mpsc::channel();
    let addr = spawn_built(config, move || {
        let options = Options::default()
            .connection_state_recovery(Recovery::default().max_disconnection_duration(WINDOW));
        let mut io = SocketIo::new(options);
        io.of("/").on_connection(|socket| {
            if !socket.recovered() {
                let auth = socket.handshake().auth().clone();
                socket.join(auth["room"].as_str().unwrap_or("none")).ok();
                let name = auth["name"].as_str().unwrap_or_default().to_owned();
                socket.data_mut().insert(Name(name));
            }
            let name = socket.data().get::<Name>().map(|n| n.0.clone());
            let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
            let state = json!({ "recovered": socket.recovered(), "rooms": rooms, "name": name });
            socket.emit("state", state).ok();
        });
        tx.send(io.handle()).unwrap();
        io
    });
    (addr, rx.recv().unwrap(), clock)
}

fn recv(ws: &mut Client) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).unwrap(),
            Message::Text(t) => return t.as_str().to_owned(),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The JSON after a packet's type digits.
fn body(packet: &str) -> Value {
    let start = packet.find(['[', '{']).expect("a JSON body");
    serde_json::from_str(&packet[start..]).unwrap()
}

/// Connects with `auth`; returns the client, the CONNECT packet's body, and the `state`
/// event's.
fn connect(addr: SocketAddr, clock: &ManualClock, auth: Value) -> (Client, Value, Value) {
    let mut ws = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
    recv(&mut ws);
    ws.send(Message::text(format!("40{auth}"))).unwrap();
    let connected = body(&recv(&mut ws));
    // Engine.IO paces the first emit after CONNECT apart from it: time must pass.
    common::advance_until_readable(clock, Duration::from_millis(10), ws.get_ref());
    let state = body(&recv(&mut ws));
    assert_eq!(state[0], "state");
    (ws, connected, state[1].clone())
}

/// Until the server has seen the socket `sid` go.
fn wait_gone(io: &IoHandle, sid: &str) {
    let patience = std::time::Instant::now() + common::PATIENCE;
    while (io.of("/").fetch_sockets().unwrap().recv().unwrap().unwrap())
        .iter()
        .any(|s| s.id() == sid)
    {
        assert!(std::time::Instant::now() < patience, "{sid} never left");
        std::thread::yield_now();
    }
}

/// An event's arguments with the offset (its last argument) apart.
fn event(packet: &str) -> (Value, String) {
    let mut args = body(packet);
    let offset = args.as_array_mut().unwrap().pop().unwrap();
    (args, offset.as_str().expect("a string offset").to_owned())
}

#[test]
fn a_dropped_client_gets_its_socket_rooms_data_and_missed_events_back() {
    let (addr, io, clock) = server();
    let (mut ws, connected, state) = connect(addr, &clock, json!({ "room": "g", "name": "ada" }));
    let (sid, pid) = (connected["sid"].clone(), connected["pid"].clone());
    assert!(pid.is_string(), "{connected}");
    assert_eq!(state["recovered"], false);
    // The state event was kept: it carries an offset too.
    io.of("/").to("g").emit("n", 1).unwrap();
    let (args, offset) = event(&recv(&mut ws));
    assert_eq!(args, json!(["n", 1]));

    // The TCP connection drops (no close frame, no close packet).
    drop(ws);
    wait_gone(&io, sid.as_str().unwrap());
    for n in 2..=4 {
        io.of("/").to("g").emit("n", n).unwrap();
    }
    io.of("/").to("elsewhere").emit("n", 99).unwrap();
    io.socket("/", sid.as_str().unwrap())
        .emit("direct", 5)
        .unwrap();

    let mut ws = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
    recv(&mut ws);
    let auth = json!({ "pid": pid, "offset": offset });
    ws.send(Message::text(format!("40{auth}"))).unwrap();
    // The missed events, in order, once each, before CONNECT (the reference's order);
    // then the handler's state.
    for n in 2..=4 {
        assert_eq!(event(&recv(&mut ws)).0, json!(["n", n]));
    }
    let direct = event(&recv(&mut ws)).0;
    assert_eq!(direct, json!(["direct", 5]), "its own room's too");
    let connected = body(&recv(&mut ws));
    assert_eq!((&connected["sid"], &connected["pid"]), (&sid, &pid));
    common::advance_until_readable(&clock, Duration::from_millis(10), ws.get_ref());
    let (state, _) = event(&recv(&mut ws));
    assert_eq!(state[1]["recovered"], true);
    assert_eq!(state[1]["name"], "ada");
    assert_eq!(state[1]["rooms"], json!([sid, "g"]));
    // It is in its rooms again.
    io.of("/").to("g").emit("n", 6).unwrap();
    assert_eq!(event(&recv(&mut ws)).0, json!(["n", 6]));
}

#[test]
fn past_the_window_after_leaving_on_purpose_or_with_a_forged_pid_it_is_a_new_socket() {
    let (addr, io, clock) = server();
    let (ws, connected, _) = connect(addr, &clock, json!({ "room": "g" }));
    let (sid, pid) = (connected["sid"].clone(), connected["pid"].clone());
    let mut probe = connect(addr, &clock, json!({ "room": "g" })).0;
    io.of("/").to("g").emit("n", 1).unwrap();
    let (_, offset) = event(&recv(&mut probe));
    drop(ws);
    wait_gone(&io, sid.as_str().unwrap());

    let forged = json!({ "pid": "not-a-pid", "offset": offset });
    let (_, c, state) = connect(addr, &clock, forged);
    assert_ne!(c["sid"], sid);
    assert_eq!(state["recovered"], false);

    clock.advance(WINDOW + Duration::from_secs(1));
    let late = json!({ "pid": pid, "offset": offset });
    let (mut ws, c, state) = connect(addr, &clock, late);
    assert_ne!(c["sid"], sid, "the window passed");
    assert_eq!(state["recovered"], false);

    // A client that leaves the namespace itself is not kept.
    let (sid, pid) = (c["sid"].clone(), c["pid"].clone());
    ws.send(Message::text("41")).unwrap();
    wait_gone(&io, sid.as_str().unwrap());
    let (_, c, state) = connect(addr, &clock, json!({ "pid": pid, "offset": offset }));
    assert_ne!(c["sid"], sid);
    assert_eq!(state["recovered"], false);
}

#[test]
fn events_with_an_ack_or_volatile_carry_no_offset() {
    let (addr, io, clock) = server();
    let (mut ws, _, _) = connect(addr, &clock, json!({ "room": "g" }));
    let _reply = (io.of("/").to("g"))
        .emit_with_ack("q", 1, Duration::from_secs(5))
        .unwrap();
    let asked = recv(&mut ws);
    assert!(asked.ends_with(r#"["q",1]"#), "{asked}");
    io.of("/").volatile().emit("v", 2).unwrap();
    assert_eq!(recv(&mut ws), r#"42["v",2]"#);
}
