//! Socket.IO on several reactors: every request of a session reaches the reactor that
//! holds the session, whichever reactor it arrives on, the upgrade to WebSocket too; and
//! the server's side of the API (rooms, broadcasts, fetches, acknowledgements, the io
//! handle) reaches the sockets of every reactor.
//!
//! The reactors are dealt connections in turn (`Spread::HandOff`), so which reactor a
//! request arrives on is known: the n-th connection the test opens lands on reactor
//! n mod 2. Nothing waits for time to pass.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::sio::{http, polling_query};
use common::{client_at, read_response, tcp};
use serde_json::json;
use tungstenite::Message;
use wsreactor::socketio::{BroadcastAckError, IoHandle, Options, Payload, SocketIo};
use wsreactor::{Config, Server, Spread};

/// Two reactors, each with a Socket.IO endpoint whose `echo` is emitted back.
fn spawn() -> SocketAddr {
    let config = Config::default().reactors(2).spread(Spread::HandOff);
    let server = Server::bind_with("127.0.0.1:0", config).unwrap();
    let addr = server.local_addr().unwrap();
    server.spawn_with(|_reactor| {
        let mut io = SocketIo::new(Options::default());
        io.of("/").on_connection(|socket| {
            socket.on("echo", |socket, args, _ack| {
                socket.emit("echo", args).ok();
            });
        });
        io
    });
    addr
}

/// The reactor a session id names: its first byte.
fn reactor_of(q: &str) -> u8 {
    let sid = q.rsplit("sid=").next().unwrap();
    URL_SAFE_NO_PAD.decode(&sid[..4]).unwrap()[0]
}

/// One request on a connection of its own (the next reactor in turn gets it).
fn once(addr: SocketAddr, method: &str, target: &str, body: &str) -> (u16, String) {
    http(&mut tcp(addr), method, target, body)
}

/// Opens a polling session on the next connection, joined to `/` (two more requests, on
/// the two reactors).
fn session(addr: SocketAddr) -> String {
    let (_, open) = once(addr, "GET", "/socket.io/?EIO=4&transport=polling", "");
    let q = polling_query(&open);
    assert_eq!(once(addr, "POST", &q, "40"), (200, "ok".into()));
    let (_, connected) = once(addr, "GET", &q, "");
    assert!(connected.starts_with("40{"), "{connected}");
    q
}

#[test]
fn a_polling_session_is_served_by_its_reactor_whichever_reactor_a_request_reaches() {
    let addr = spawn();
    let on_0 = session(addr); // opened on connection 0: reactor 0
    let on_1 = session(addr); // connection 3: reactor 1
    assert_eq!((reactor_of(&on_0), reactor_of(&on_1)), (0, 1));
    for round in 0..10 {
        for q in [&on_0, &on_1] {
            let event = format!(r#"42["echo",{round}]"#);
            assert_eq!(once(addr, "POST", q, &event), (200, "ok".into()));
            assert_eq!(once(addr, "GET", q, ""), (200, event));
        }
    }
    // A GET held by its session's reactor, answered when an event comes in on another
    // connection (each of them arriving on the other reactor first, or not).
    for q in [&on_0, &on_1] {
        let mut held = tcp(addr);
        write_get(&mut held, q);
        assert_eq!(once(addr, "POST", q, r#"42["echo","late"]"#).0, 200);
        let (head, body) = read_response(&mut held);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, br#"42["echo","late"]"#);
    }
}

#[test]
fn the_upgrade_to_websocket_reaches_the_sessions_reactor() {
    let addr = spawn();
    let q = session(addr); // reactor 0; the upgrade below arrives on reactor 1
    assert_eq!(reactor_of(&q), 0);
    let sid = q.rsplit("sid=").next().unwrap();
    let mut ws = client_at(
        addr,
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
    );
    ws.send(Message::text("2probe")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("3probe"));
    ws.send(Message::text("5")).unwrap();
    ws.send(Message::text(r#"42["echo","over ws"]"#)).unwrap();
    let echoed = json!(["echo", "over ws"]).to_string();
    assert_eq!(ws.read().unwrap(), Message::text(format!("42{echoed}")));
}

#[test]
fn an_unknown_or_foreign_sid_is_answered_as_the_reference_does() {
    let addr = spawn();
    // A sid naming a reactor that does not exist is served where it arrives: unknown.
    let nowhere = URL_SAFE_NO_PAD.encode([9u8; 15]);
    let target = format!("/socket.io/?EIO=4&transport=polling&sid={nowhere}");
    let (status, body) = once(addr, "GET", &target, "");
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
    // One naming reactor 1 that reactor 1 never made: routed there, unknown there.
    let mut stranger = [1u8; 15];
    stranger[0] = 1;
    let target = format!(
        "/socket.io/?EIO=4&transport=polling&sid={}",
        URL_SAFE_NO_PAD.encode(stranger)
    );
    assert_eq!(once(addr, "GET", &target, "").0, 400);
}

fn write_get(conn: &mut TcpStream, q: &str) {
    use std::io::Write;
    write!(conn, "GET {q} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
}

/// Two reactors whose endpoints join each socket to the rooms of its `auth.rooms`, and
/// answer `shout` (to the others of a room), `who` (every reactor's sockets, acked) and
/// `ask` (every socket is asked `q`; the answers go to the test). Reactor 0's io handle
/// and the answers to `ask` come back to the test.
fn spawn_rooms() -> (
    SocketAddr,
    IoHandle,
    mpsc::Receiver<Result<Vec<String>, String>>,
) {
    let config = Config::default().reactors(2).spread(Spread::HandOff);
    let server = Server::bind_with("127.0.0.1:0", config).unwrap();
    let addr = server.local_addr().unwrap();
    let (handles, handle) = mpsc::channel();
    let (asked, answers) = mpsc::channel();
    server.spawn_with(move |reactor| {
        let mut io = SocketIo::new(Options::default());
        let asked = asked.clone();
        io.of("/").on_connection(move |socket| {
            let auth = socket.handshake().auth().clone();
            for room in auth["rooms"].as_array().into_iter().flatten() {
                socket.join(room.as_str().unwrap()).unwrap();
            }
            socket.on("shout", |socket, args, _ack| {
                let room = args.text(0).unwrap().to_owned();
                socket
                    .to(&room)
                    .emit("heard", args.text(1).unwrap())
                    .unwrap();
            });
            socket.on("who", |socket, _args, ack| {
                let ack = ack.unwrap();
                socket
                    .nsp()
                    .fetch_sockets_then(move |socket, all| {
                        ack.send(socket, json!(all.unwrap().len()));
                    })
                    .unwrap();
            });
            let asked = asked.clone();
            socket.on("ask", move |socket, _args, _ack| {
                let asked = asked.clone();
                let wait = Duration::from_secs(20);
                let reply = move |answers: Result<Vec<Payload>, BroadcastAckError>| {
                    let texts = |all: Vec<Payload>| {
                        let mut texts: Vec<String> =
                            all.iter().map(|p| p.text(0).unwrap().to_owned()).collect();
                        texts.sort();
                        texts
                    };
                    let report = answers.map(texts).map_err(|e| e.to_string());
                    asked.send(report).unwrap();
                };
                socket.nsp().emit_with_ack("q", (), wait, reply).unwrap();
            });
            socket.emit("ready", ()).unwrap();
        });
        if reactor == 0 {
            handles.send(io.handle()).unwrap();
        }
        io
    });
    (addr, handle.recv().unwrap(), answers)
}

/// A WebSocket Socket.IO client in `rooms` (on the next reactor in turn), `ready` read.
fn member(addr: SocketAddr, rooms: &[&str]) -> common::Client {
    let mut ws = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
    ws.read().unwrap();
    ws.send(Message::text(format!("40{}", json!({ "rooms": rooms }))))
        .unwrap();
    assert!(ws.read().unwrap().to_text().unwrap().starts_with("40{"));
    assert_eq!(ws.read().unwrap(), Message::text(r#"42["ready"]"#));
    ws
}

/// The next packet that is not a ping (answered).
fn packet(ws: &mut common::Client) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).unwrap(),
            Message::Text(t) => return t.to_string(),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Answers the question the next packet asks (`42<id>["q"]`) with `answer`.
fn answer(ws: &mut common::Client, answer: &str) {
    let asked = packet(ws);
    let id = asked
        .strip_prefix("42")
        .and_then(|rest| rest.strip_suffix(r#"["q"]"#))
        .unwrap_or_else(|| panic!("not a question: {asked}"));
    ws.send(Message::text(format!("43{id}{}", json!([answer]))))
        .unwrap();
}

#[test]
fn rooms_broadcasts_and_fetches_reach_the_sockets_of_every_reactor() {
    let (addr, io, answers) = spawn_rooms();
    let mut a = member(addr, &["lobby"]); // reactor 0
    let mut b = member(addr, &["lobby"]); // reactor 1
    let mut c = member(addr, &[]); // reactor 0

    // In a callback: to a room's others, on both reactors.
    b.send(Message::text(r#"42["shout","lobby","hi"]"#))
        .unwrap();
    assert_eq!(packet(&mut a), r#"42["heard","hi"]"#);
    c.send(Message::text(r#"42["shout","lobby","from c"]"#))
        .unwrap();
    for ws in [&mut a, &mut b] {
        assert_eq!(packet(ws), r#"42["heard","from c"]"#);
    }
    // Every reactor's sockets, for a callback's ack.
    b.send(Message::text(r#"421["who"]"#)).unwrap();
    assert_eq!(packet(&mut b), "431[3]");
    // A question to everyone, every answer back to the callback that asked.
    a.send(Message::text(r#"42["ask"]"#)).unwrap();
    answer(&mut a, "from a");
    answer(&mut b, "from b");
    answer(&mut c, "from c");
    let all = answers.recv_timeout(common::PATIENCE).unwrap();
    assert_eq!(all.unwrap(), ["from a", "from b", "from c"]);

    // From another thread: the io handle of reactor 0 reaches reactor 1's sockets.
    io.to("lobby").emit("news", 1).unwrap();
    for ws in [&mut a, &mut b] {
        assert_eq!(packet(ws), r#"42["news",1]"#);
    }
    let everyone = io.of("/").fetch_sockets().unwrap();
    assert_eq!(
        everyone
            .recv_timeout(common::PATIENCE)
            .unwrap()
            .unwrap()
            .len(),
        3
    );
    io.of("/").except("lobby").sockets_join(&["late"]).unwrap();
    let late = io.to("late").fetch_sockets().unwrap();
    assert_eq!(
        late.recv_timeout(common::PATIENCE).unwrap().unwrap().len(),
        1,
        "c alone"
    );
    let asked = io
        .to("lobby")
        .emit_with_ack("q", (), common::PATIENCE)
        .unwrap();
    answer(&mut a, "a again");
    answer(&mut b, "b again");
    let texts: Vec<String> = (asked.recv_timeout(common::PATIENCE).unwrap().unwrap())
        .iter()
        .map(|p| p.text(0).unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), 2);
    io.to("lobby").disconnect_sockets(false).unwrap();
    for ws in [&mut a, &mut b] {
        assert_eq!(packet(ws), "41");
    }
}
