//! Socket.IO on several reactors: every request of a session reaches the reactor that
//! holds the session, whichever reactor it arrives on, the upgrade to WebSocket too.
//!
//! The reactors are dealt connections in turn (`Spread::HandOff`), so which reactor a
//! request arrives on is known: the n-th connection the test opens lands on reactor
//! n mod 2. Nothing waits for time to pass.

mod common;

use std::net::{SocketAddr, TcpStream};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::sio::{http, polling_query};
use common::{client_at, read_response, tcp};
use serde_json::json;
use tungstenite::Message;
use wsreactor::socketio::{Options, SocketIo};
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
