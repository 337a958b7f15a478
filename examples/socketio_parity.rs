//! The wsreactor side of the parity tests (`tests/socketio/parity.test.mjs`): the scenarios of
//! `tests/socketio/parity/reference.mjs` (npm `socket.io`, the reference server), one
//! namespace each, written with the wsreactor API. The tests run the same client script
//! against both servers and expect the same observations, so a change here needs the same
//! change there (and the other way round).
//!
//! `cargo run --features socketio --example socketio_parity [--recovery] [PORT]` (default
//! 0: any free port) prints `parity server on http://127.0.0.1:PORT` once it listens.
//! `--recovery` turns on connection state recovery with its defaults, as the reference's
//! flag does: it is server-wide, so `tests/socketio/recovery.test.mjs` runs a server of its
//! own with it.
//!
//! Every scenario names its rooms after `auth.run` (one run per scenario, transport and
//! server), so the sockets of an earlier run cannot reach a later one's. A client whose auth
//! has `observe` joins that room: it hears what its scenario reports there.

// `listen_addr` goes unused: this server takes a port, as the reference does.
#[expect(dead_code)]
mod common;

use std::io;
use std::time::Duration;

use serde_json::{json, Value};
use wsreactor::socketio::{
    AckError, Broadcast, BroadcastAckError, ConnectError, IoHandle, Namespace, Options, Payload,
    Recovery, Socket, SocketIo,
};
use wsreactor::Server;

/// The event reporting an ack's outcome: `answered<suffix>` with the answer's arguments, or
/// `ack-error<suffix>` with the error's message (the reference's `err.message`).
fn outcome(suffix: &str, result: Result<Payload, AckError>) -> (String, Payload) {
    match result {
        Ok(answer) => (format!("answered{suffix}"), answer),
        Err(e) => (format!("ack-error{suffix}"), e.to_string().into()),
    }
}

/// `auth[key]` if it is a string.
fn auth_str(socket: &Socket<'_>, key: &str) -> Option<String> {
    socket.handshake().auth()[key].as_str().map(str::to_owned)
}

/// On connection: join the observers' room if asked to.
fn observe(socket: &mut Socket<'_>) {
    if let Some(room) = auth_str(socket, "observe") {
        // A room name a test chose: within the limits.
        socket.join(&room).ok();
    }
}

/// Refused without `token: "ok"`: a message, with data for a wrong token.
fn auth(nsp: &mut Namespace) {
    nsp.auth(|auth, _req| match auth.get("token") {
        Some(token) if token == "ok" => Ok(()),
        None => Err(ConnectError::new("no token")),
        Some(_) => Err(ConnectError::new("not authorized")
            .with_data(json!({ "code": 4001, "reason": "bad token" }))),
    })
    .on_connection(|socket| {
        let auth = socket.handshake().auth().clone();
        socket.emit("welcome", auth).ok();
    });
}

/// Acks both ways: the server asks `question` (its answer comes back as `answered`); `sum`
/// and `nothing` are answered by the server.
fn acks(nsp: &mut Namespace) {
    nsp.on_connection(|socket| {
        socket
            .emit_with_ack(
                "question",
                "2+2?",
                Duration::from_secs(5),
                |socket, result| {
                    let (event, payload) = outcome("", result);
                    socket.emit(&event, payload).ok();
                },
            )
            .ok();
        socket.on("sum", |socket, args, ack| {
            let sum: i64 = args.args().iter().filter_map(Value::as_i64).sum();
            if let Some(ack) = ack {
                ack.send(socket, Payload::new().arg(sum).arg("sum"));
            }
        });
        socket.on("nothing", |socket, _args, ack| {
            if let Some(ack) = ack {
                ack.send(socket, ());
            }
        });
    });
}

/// Two questions: `q1` may wait 10 s, `q2` only 200 ms. The outcome of each is emitted back
/// (`answered:qN` or `ack-error:qN`), once.
fn ack_timeout(nsp: &mut Namespace) {
    nsp.on_connection(|socket| {
        for (q, ms) in [("q1", 10_000), ("q2", 200)] {
            socket
                .emit_with_ack(
                    q,
                    format!("{q}?"),
                    Duration::from_millis(ms),
                    move |socket, result| {
                        let (event, payload) = outcome(&format!(":{q}"), result);
                        socket.emit(&event, payload).ok();
                    },
                )
                .ok();
        }
    });
}

/// The server side of the API: each socket joins its run's room and keeps `auth.name` in
/// its data. `ask` polls the run's room with an acknowledgement (300 ms) and tells the asker
/// `result` (the error's message or null, the answers sorted); `who` answers the names of the
/// run's sockets (fetch_sockets, sorted); `move` makes every socket of the run but `except`
/// join `to` (sockets_join), then `to` hears `moved`.
fn bcast(nsp: &mut Namespace, io: IoHandle) {
    nsp.on_connection(move |socket| {
        let run = auth_str(socket, "run").unwrap_or_default();
        let name = auth_str(socket, "name").unwrap_or_default();
        socket.data_mut().insert(Name(name));
        socket.join(&run).ok();
        let (asker, io) = (socket.id().to_owned(), io.clone());
        let room = run.clone();
        socket.on("ask", move |socket, _args, _ack| {
            let (io, asker) = (io.clone(), asker.clone());
            let report = move |outcome: Result<Vec<Payload>, BroadcastAckError>| {
                let (err, answers) = match outcome {
                    Ok(answers) => (Value::Null, answers),
                    Err(e) => (json!(e.kind.to_string()), e.responses),
                };
                let mut names: Vec<Value> =
                    answers.iter().filter_map(|a| a.get(0).cloned()).collect();
                names.sort_by_key(Value::to_string);
                let result = Payload::new().arg(err).arg(Value::Array(names));
                // The callback has no socket to emit with: the io handle reaches it.
                io.socket("/bcast", &asker).emit("result", result).ok();
            };
            let timeout = Duration::from_millis(300);
            socket
                .nsp()
                .to(&room)
                .emit_with_ack("poll", "yes?", timeout, report)
                .ok();
        });
        let room = run.clone();
        socket.on("who", move |socket, _args, ack| {
            let Some(ack) = ack else { return };
            let sockets = socket.nsp().to(&room).fetch_sockets();
            let mut names: Vec<String> = (sockets.iter())
                .filter_map(|s| s.data().get::<Name>().map(|n| n.0.clone()))
                .collect();
            names.sort();
            ack.send(socket, json!(names));
        });
        socket.on("move", move |socket, args, _ack| {
            let (Some(to), Some(except)) = (args.text(0), args.text(1)) else {
                return;
            };
            let (to, except) = (to.to_owned(), except.to_owned());
            socket
                .nsp()
                .to(&run)
                .except(&except)
                .sockets_join(&[&to])
                .ok(); // one reactor
            socket.nsp().to(&to).emit("moved", to.as_str()).ok();
        });
    });
}

/// A question (200 ms) its client leaves without answering; the outcome goes to the
/// observers, after `left`.
fn ack_disconnect(nsp: &mut Namespace) {
    nsp.on_connection(|socket| {
        observe(socket);
        let (Some(run), Some(name)) = (auth_str(socket, "run"), auth_str(socket, "name")) else {
            return;
        };
        let to = run.clone();
        socket.on_disconnect(move |socket, reason| {
            let left = Payload::new().arg(name.as_str()).arg(reason.as_str());
            socket.nsp().to(&to).emit("left", left).ok();
        });
        socket
            .emit_with_ack(
                "question",
                "still there?",
                Duration::from_millis(200),
                move |socket, result| {
                    let (event, payload) = outcome("", result);
                    socket.nsp().to(&run).emit(&event, payload).ok();
                },
            )
            .ok();
    });
}

/// The strings of a JSON array (a missing one: none).
fn strings(value: &Value) -> Vec<String> {
    let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A broadcast narrowed to the rooms `to`, minus the rooms `except`.
fn narrowed<'a>(mut b: Broadcast<'a>, to: &[String], except: &[String]) -> Broadcast<'a> {
    for room in to {
        b = b.to(room);
    }
    for room in except {
        b = b.except(room);
    }
    b
}

/// Rooms: `join` and `leave` answer the room's size; `shout` ({ to, except, text }) goes to
/// the rooms `to` but `except` without the sender (`shout`) and with it (`all`), then `done`
/// (round) to the whole run.
fn rooms(nsp: &mut Namespace) {
    nsp.on_connection(|socket| {
        let run = auth_str(socket, "run").unwrap_or_default();
        socket.join(&run).ok();
        socket.on("join", |socket, args, ack| {
            let (Some(room), Some(ack)) = (args.text(0).map(str::to_owned), ack) else {
                return;
            };
            // The test's room names are within the limits.
            socket.join(&room).ok();
            let size = socket.room_size(&room);
            ack.send(socket, json!(size));
        });
        socket.on("leave", |socket, args, ack| {
            let (Some(room), Some(ack)) = (args.text(0).map(str::to_owned), ack) else {
                return;
            };
            socket.leave(&room);
            let size = socket.room_size(&room);
            ack.send(socket, json!(size));
        });
        socket.on("shout", move |socket, args, ack| {
            let Some(msg) = args.get(0) else { return };
            let (to, except) = (strings(&msg["to"]), strings(&msg["except"]));
            let (text, round) = (msg["text"].clone(), msg["round"].clone());
            narrowed(socket.broadcast(), &to, &except)
                .emit("shout", text.clone())
                .ok();
            narrowed(socket.nsp(), &to, &except).emit("all", text).ok();
            socket.nsp().to(&run).emit("done", round).ok();
            if let Some(ack) = ack {
                ack.send(socket, "sent");
            }
        });
    });
}

/// Disconnects: `kick` (close) disconnects the sender; every socket's disconnect reason is
/// told to the observers (`left`, name, reason).
fn disconnect(nsp: &mut Namespace) {
    nsp.on_connection(|socket| {
        observe(socket);
        let (Some(run), Some(name)) = (auth_str(socket, "run"), auth_str(socket, "name")) else {
            return;
        };
        socket.on_disconnect(move |socket, reason| {
            let left = Payload::new().arg(name.as_str()).arg(reason.as_str());
            socket.nsp().to(&run).emit("left", left).ok();
        });
        socket.on("kick", |socket, args, _ack| {
            let close = args.get(0).and_then(Value::as_bool).unwrap_or(false);
            socket.disconnect(close);
        });
    });
}

/// Emits `n` (i) for i in from..from+count from the server to `room`; with `from_socket`,
/// the odd ones come from the socket itself instead (`socket.emit`).
fn numbered(socket: &mut Socket<'_>, room: &str, from: i64, count: i64, from_socket: bool) {
    for i in from..from + count {
        if from_socket && i % 2 != 0 {
            socket.emit("n", i).ok();
        } else {
            socket.nsp().to(room).emit("n", i).ok();
        }
    }
}

/// A subject's name, in its socket's data.
#[derive(Clone)]
struct Name(String);

/// Connection state recovery (run with `--recovery`). A subject (auth: run, name, room)
/// joins `room` and keeps `name` in its data, unless its session was restored (then both
/// come back). `burst` (from, count) emits numbered events to it, then tells the observers
/// `emitted` (the last number); `state` answers its data, rooms and whether it was
/// recovered; its disconnect reason is told to the observers (`left`, name, reason). An
/// observer's `more` (room, from, count) emits numbered events to the room, then answers.
fn recovery(nsp: &mut Namespace) {
    nsp.on_connection(|socket| {
        observe(socket);
        socket.on("more", |socket, args, ack| {
            let (Some(room), Some(from), Some(count)) = (
                args.text(0).map(str::to_owned),
                args.get(1).and_then(Value::as_i64),
                args.get(2).and_then(Value::as_i64),
            ) else {
                return;
            };
            numbered(socket, &room, from, count, false);
            if let Some(ack) = ack {
                ack.send(socket, ());
            }
        });
        let (Some(run), Some(name), Some(room)) = (
            auth_str(socket, "run"),
            auth_str(socket, "name"),
            auth_str(socket, "room"),
        ) else {
            return;
        };
        if !socket.recovered() {
            // A room name a test chose: within the limits.
            socket.join(&room).ok();
            socket.data_mut().insert(Name(name.clone()));
        }
        let to = run.clone();
        socket.on_disconnect(move |socket, reason| {
            let left = Payload::new().arg(name.as_str()).arg(reason.as_str());
            socket.nsp().to(&to).emit("left", left).ok();
        });
        socket.on("burst", move |socket, args, _ack| {
            let (Some(from), Some(count)) = (
                args.get(0).and_then(Value::as_i64),
                args.get(1).and_then(Value::as_i64),
            ) else {
                return;
            };
            numbered(socket, &room, from, count, true);
            socket.nsp().to(&run).emit("emitted", from + count - 1).ok();
        });
        socket.on("state", |socket, _args, ack| {
            let data = match socket.data().get::<Name>() {
                Some(Name(name)) => json!({ "name": name }),
                None => json!({}),
            };
            let state = json!({
                "data": data,
                "rooms": socket.rooms(),
                "recovered": socket.recovered(),
            });
            if let Some(ack) = ack {
                ack.send(socket, state);
            }
        });
    });
}

/// Binary: `bin` comes back as `bin-back` and as its ack, then `made` brings bytes the
/// server made.
fn binary(nsp: &mut Namespace) {
    nsp.on_connection(|socket| {
        socket.on("bin", |socket, args, ack| {
            socket.emit("bin-back", args.clone()).ok();
            if let Some(ack) = ack {
                ack.send(socket, args);
            }
            socket
                .emit("made", Payload::new().arg("made").bin(vec![1u8, 2, 3]))
                .ok();
        });
    });
}

fn main() -> io::Result<()> {
    common::init_logging()?;
    let (flags, ports): (Vec<String>, Vec<String>) = std::env::args()
        .skip(1)
        .partition(|arg| arg.starts_with("--"));
    let with_recovery = match flags.as_slice() {
        [] => false,
        [flag] if flag == "--recovery" => true,
        _ => {
            let e = format!("{flags:?}: the only flag is --recovery");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
    };
    let port: u16 = match ports.first() {
        Some(arg) => arg
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{arg:?}: {e}")))?,
        None => 0,
    };
    let mut options = Options::default();
    if with_recovery {
        options = options.connection_state_recovery(Recovery::default());
    }
    let mut io = SocketIo::new(options);
    // The reference always has its main namespace; the `kick` scenario's clients join it.
    io.of("/");
    auth(io.of("/auth"));
    acks(io.of("/acks"));
    ack_timeout(io.of("/ack-timeout"));
    ack_disconnect(io.of("/ack-disconnect"));
    rooms(io.of("/rooms"));
    disconnect(io.of("/disconnect"));
    binary(io.of("/binary"));
    recovery(io.of("/recovery"));
    let handle = io.handle();
    bcast(io.of("/bcast"), handle);

    let server = Server::bind(("127.0.0.1", port))?;
    // The line the tests wait for, on stdout (logs go to stderr).
    println!("parity server on http://{}", server.local_addr()?);
    common::shutdown_on_signal(server.handle())?;
    server.run(io)
}
