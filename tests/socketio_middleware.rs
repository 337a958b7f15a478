//! Socket.IO as a Node app uses it beyond events: namespace middlewares, several listeners
//! of one event, catch-all listeners, packet middlewares, `disconnecting`, dynamic
//! namespaces. A raw WebSocket client speaks the packets, so each test reads exactly what
//! the client would see. (The official client's view is in tests/socketio/.)

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;

use common::sio::spawn;
use common::{client_at, Client};
use serde_json::{json, Value};
use tungstenite::Message;
use wsreactor::socketio::{ConnectError, EmitError, Options, SocketIo};

/// A WebSocket Engine.IO session, its open packet read; no namespace joined.
fn session(addr: std::net::SocketAddr) -> Client {
    let mut ws = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
    let open = recv(&mut ws);
    assert!(open.starts_with(r#"0{"sid":"#), "{open}");
    ws
}

fn send(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).unwrap();
}

fn recv(ws: &mut Client) -> String {
    match ws.read().unwrap() {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("{other:?}"),
    }
}

/// The JSON after a packet's header (`42/nsp,[...]` → `[...]`).
fn body(packet: &str) -> Value {
    let start = packet.find(['[', '{']).expect("a JSON body");
    serde_json::from_str(&packet[start..]).unwrap()
}

/// Records lines on the server's thread; `trace` answers them (and forgets them).
#[derive(Clone, Default)]
struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    fn push(&self, line: impl Into<String>) {
        self.0.borrow_mut().push(line.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

#[derive(Clone, Debug, PartialEq)]
struct User(String);

/// `/` with three middlewares (the second added by `auth`); each connection's
/// `trace` tells which ran.
fn guarded_io() -> SocketIo {
    let trace = Trace::default();
    let mut io = SocketIo::new(Options::default());
    let (t1, t2, t3) = (trace.clone(), trace.clone(), trace.clone());
    io.of("/")
        .middleware(move |socket| {
            t1.push("first");
            let name = socket.handshake().auth()["name"].as_str().unwrap_or("?");
            let user = User(name.to_owned());
            socket.data_mut().insert(user);
            assert!(!socket.connected(), "not yet");
            assert_eq!(socket.join("early"), Err(wsreactor::JoinError::NotOpen));
            assert_eq!(socket.emit("early", ()), Err(EmitError::Disconnected));
            Ok(())
        })
        .auth(move |auth, _req| {
            t2.push("auth");
            match auth["token"].as_str() {
                Some("ok") => Ok(()),
                _ => Err(ConnectError::new("unauthorized").with_data(json!({ "code": 401 }))),
            }
        })
        .middleware(move |socket| {
            t3.push("third");
            // A listener added here is the socket's once it is accepted.
            socket.on("whoami", |socket, _args, ack| {
                let user = socket.data().get::<User>().cloned();
                if let Some(ack) = ack {
                    ack.send(socket, user.map(|u| u.0).unwrap_or_default());
                }
            });
            Ok(())
        })
        .on_connection(move |socket| {
            let user = socket.data().get::<User>().cloned();
            let lines = trace.take();
            let others = socket.broadcast().emit("peer", ()).unwrap();
            socket
                .emit("welcome", json!([user.map(|u| u.0), lines, others]))
                .ok();
        });
    io
}

#[test]
fn middlewares_run_in_order_and_the_first_refusal_is_the_clients_connect_error() {
    let addr = spawn(guarded_io);
    let mut refused = session(addr);
    send(&mut refused, r#"40{"name":"eve","token":"no"}"#);
    assert_eq!(
        recv(&mut refused),
        r#"44{"message":"unauthorized","data":{"code":401}}"#,
        "message and data, as next(err) sends them"
    );

    let mut ws = session(addr);
    send(&mut ws, r#"40{"name":"ada","token":"ok"}"#);
    assert!(recv(&mut ws).starts_with(r#"40{"sid":"#));
    // The refused socket ran two middlewares and never joined: nobody else is there.
    assert_eq!(
        body(&recv(&mut ws)),
        json!([
            "welcome",
            ["ada", ["first", "auth", "first", "auth", "third"], 0]
        ])
    );
    // The data a middleware attached is there for the events, and so is its listener.
    send(&mut ws, r#"421["whoami"]"#);
    assert_eq!(recv(&mut ws), r#"431["ada"]"#);

    // The refused client may try again on the same connection, and get in.
    send(&mut refused, r#"40{"name":"bob","token":"ok"}"#);
    assert!(recv(&mut refused).starts_with(r#"40{"sid":"#));
    assert_eq!(
        body(&recv(&mut refused)),
        json!(["welcome", ["bob", ["first", "auth", "third"], 1]])
    );
    assert_eq!(recv(&mut ws), r#"42["peer"]"#);
}

#[test]
fn every_listener_of_an_event_runs_in_order_and_the_first_ack_answers() {
    let addr = spawn(|| {
        let mut io = SocketIo::new(Options::default());
        io.of("/").on_connection(|socket| {
            socket.on("ev", |socket, args, ack| {
                let answered = ack.is_some_and(|ack| ack.send(socket, "first"));
                socket
                    .emit("ran", json!(["one", args.args(), answered]))
                    .ok();
            });
            socket.on("ev", |socket, args, ack| {
                let answered = ack.is_some_and(|ack| ack.send(socket, "second"));
                socket
                    .emit("ran", json!(["two", args.args(), answered]))
                    .ok();
            });
            // A catch-all listener runs first, so its answer is the one.
            socket.on_any(|socket, event, _args, ack| {
                if let (Some(ack), "asked") = (ack, event) {
                    ack.send(socket, "from on_any");
                }
            });
            socket.on("asked", |socket, _args, ack| {
                let answered = ack.is_some_and(|ack| ack.send(socket, "from on"));
                socket.emit("ran", json!(["asked", answered])).ok();
            });
            socket.on("gone", |socket, _args, _ack| {
                socket.emit("ran", "gone").ok();
            });
            let removed = socket.off("gone");
            let counts = json!([
                removed,
                socket.listener_count("ev"),
                socket.listener_count("gone")
            ]);
            socket.emit("counts", counts).ok();
        });
        io
    });
    let mut ws = session(addr);
    send(&mut ws, "40");
    recv(&mut ws);
    assert_eq!(recv(&mut ws), r#"42["counts",[1,2,0]]"#);
    send(&mut ws, r#"427["ev",{"n":1}]"#);
    assert_eq!(recv(&mut ws), r#"437["first"]"#, "one answer");
    assert_eq!(recv(&mut ws), r#"42["ran",["one",[{"n":1}],true]]"#);
    assert_eq!(recv(&mut ws), r#"42["ran",["two",[{"n":1}],false]]"#);
    send(&mut ws, r#"428["asked"]"#);
    assert_eq!(recv(&mut ws), r#"438["from on_any"]"#);
    assert_eq!(recv(&mut ws), r#"42["ran",["asked",false]]"#);
    send(&mut ws, r#"42["gone"]"#);
    send(&mut ws, r#"42["ev"]"#);
    assert_eq!(
        recv(&mut ws),
        r#"42["ran",["one",[],false]]"#,
        "no ack asked"
    );
}

#[test]
fn catch_all_listeners_then_packet_middlewares_then_listeners() {
    let addr = spawn(|| {
        let mut io = SocketIo::new(Options::default());
        io.of("/").on_connection(|socket| {
            let trace = Trace::default();
            let t = trace.clone();
            socket.on_any(move |_socket, event, args, _ack| {
                t.push(format!("any {event} {}", args.args().len()));
            });
            let t = trace.clone();
            socket.prepend_any(move |_socket, event, _args, _ack| {
                t.push(format!("prepended {event}"))
            });
            let t = trace.clone();
            socket.middleware(move |_socket, event, args| {
                t.push(format!("middleware {event}"));
                match event {
                    "forbidden" => Err("forbidden event".into()),
                    _ => {
                        // Middlewares may rewrite the arguments.
                        *args = wsreactor::socketio::Payload::new().arg("rewritten");
                        Ok(())
                    }
                }
            });
            socket.on_error(|socket, err| {
                socket.emit("refused", err.to_string()).ok();
            });
            let t = trace.clone();
            socket.on("forbidden", move |_socket, _args, _ack| {
                t.push("forbidden ran")
            });
            let t = trace.clone();
            socket.on("ev", move |_socket, args, _ack| {
                t.push(format!("on ev {}", args.text(0).unwrap_or_default()));
            });
            let t = trace.clone();
            socket.on_any_outgoing(move |_socket, event, _args| t.push(format!("out {event}")));
            socket.on("trace", move |socket, _args, ack| {
                let lines = trace.take();
                socket.emit("trace", json!(lines)).ok();
                if let Some(ack) = ack {
                    ack.send(socket, "acked");
                }
            });
        });
        io
    });
    let mut ws = session(addr);
    send(&mut ws, "40");
    recv(&mut ws);
    send(&mut ws, r#"42["ev",1,2]"#);
    send(&mut ws, r#"42["forbidden"]"#);
    assert_eq!(recv(&mut ws), r#"42["refused","forbidden event"]"#);
    send(&mut ws, r#"423["trace"]"#);
    assert_eq!(
        body(&recv(&mut ws)),
        json!([
            "trace",
            [
                "prepended ev",
                "any ev 2",
                "middleware ev",
                "on ev rewritten",
                "prepended forbidden",
                "any forbidden 0",
                "middleware forbidden",
                "out refused",
                "prepended trace",
                "any trace 0",
                "middleware trace",
            ]
        ])
    );
    assert_eq!(recv(&mut ws), r#"433["acked"]"#);
    // The emit of `trace` was heard going out; the ack was not.
    send(&mut ws, r#"42["trace"]"#);
    assert_eq!(
        body(&recv(&mut ws)),
        json!([
            "trace",
            [
                "out trace",
                "prepended trace",
                "any trace 0",
                "middleware trace"
            ]
        ])
    );
}

#[test]
fn disconnecting_sees_the_rooms_and_disconnect_does_not() {
    let (tx, seen) = mpsc::channel();
    let addr = spawn(move || {
        let mut io = SocketIo::new(Options::default());
        io.of("/").on_connection(move |socket| {
            socket.join("r1").unwrap();
            for phase in ["disconnecting", "disconnect"] {
                let tx = tx.clone();
                let report = move |socket: &mut wsreactor::socketio::Socket<'_>, reason| {
                    let rooms = socket.rooms().len();
                    let line = format!("{phase} {reason} {rooms} {}", socket.connected());
                    tx.send(line).unwrap();
                };
                match phase {
                    "disconnecting" => socket.on_disconnecting(report),
                    _ => socket.on_disconnect(report),
                }
            }
        });
        io
    });
    let mut ws = session(addr);
    send(&mut ws, "40");
    recv(&mut ws);
    send(&mut ws, "41");
    assert_eq!(
        seen.recv().unwrap(),
        "disconnecting client namespace disconnect 2 false"
    );
    assert_eq!(
        seen.recv().unwrap(),
        "disconnect client namespace disconnect 0 false"
    );
}

/// Two parents: `/game-<digits>`, whose middleware refuses `auth.banned`, and any other
/// name under `/g`; at most two children.
fn dynamic_io() -> SocketIo {
    let mut io = SocketIo::new(Options::default().max_child_namespaces(2));
    io.of_dynamic(|name, _handshake| {
        name.strip_prefix("/game-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
    .middleware(|socket| match socket.handshake().auth()["banned"] {
        Value::Bool(true) => Err(ConnectError::new("banned")),
        _ => Ok(()),
    })
    .on_connection(|socket| {
        let name = socket.namespace().to_owned();
        socket.emit("game", name).ok();
    });
    io.of_dynamic(|name, handshake| name.starts_with("/g") && handshake.auth().is_object())
        .on_connection(|socket| {
            let name = socket.namespace().to_owned();
            socket.emit("other", name).ok();
        });
    io
}

#[test]
fn dynamic_namespaces_are_made_by_the_first_parent_that_accepts_the_name() {
    let addr = spawn(dynamic_io);
    let mut ws = session(addr);
    send(&mut ws, "40/game-7,");
    assert!(recv(&mut ws).starts_with(r#"40/game-7,{"sid":"#));
    assert_eq!(recv(&mut ws), r#"42/game-7,["game","/game-7"]"#);
    // A name the first parent refuses goes to the second.
    send(&mut ws, "40/game-x,");
    assert!(recv(&mut ws).starts_with(r#"40/game-x,{"sid":"#));
    assert_eq!(recv(&mut ws), r#"42/game-x,["other","/game-x"]"#);
    // No parent: invalid.
    send(&mut ws, "40/nope,");
    assert_eq!(recv(&mut ws), r#"44/nope,{"message":"Invalid namespace"}"#);
    // The parent's middleware guards its children.
    let mut other = session(addr);
    send(&mut other, r#"40/game-7,{"banned":true}"#);
    assert_eq!(recv(&mut other), r#"44/game-7,{"message":"banned"}"#);
}

#[test]
fn child_namespaces_are_bounded_and_an_empty_one_makes_room() {
    let addr = spawn(dynamic_io);
    let mut ws = session(addr);
    for n in [1, 2] {
        send(&mut ws, &format!("40/game-{n},"));
        assert!(recv(&mut ws).starts_with(&format!("40/game-{n},{{")));
        recv(&mut ws);
    }
    // Two children, both in use: a third name is refused, an existing one is not.
    send(&mut ws, "40/game-3,");
    assert_eq!(
        recv(&mut ws),
        r#"44/game-3,{"message":"Invalid namespace"}"#
    );
    let mut other = session(addr);
    send(&mut other, "40/game-2,");
    assert!(recv(&mut other).starts_with("40/game-2,{"));
    assert_eq!(recv(&mut other), r#"42/game-2,["game","/game-2"]"#);
    // Once /game-1 is empty, its place goes to the next new name.
    send(&mut ws, "41/game-1,");
    send(&mut ws, "40/game-3,");
    assert!(recv(&mut ws).starts_with("40/game-3,{"));
    assert_eq!(recv(&mut ws), r#"42/game-3,["game","/game-3"]"#);
    send(&mut ws, "40/game-1,");
    assert_eq!(
        recv(&mut ws),
        r#"44/game-1,{"message":"Invalid namespace"}"#
    );
}
