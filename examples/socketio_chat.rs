//! The Socket.IO server of every tutorial, on wsreactor: the official client (browser or
//! Node, WebSocket or long-polling) connects to `/socket.io/`; each `message` gets
//! `Reply to: <message>` back. Plus a chat with rooms.
//!
//! `cargo run --features socketio --example socketio_chat [ADDR]` (default
//! `127.0.0.1:3000`, or `WSREACTOR_ADDR`), then open http://127.0.0.1:3000/. The page loads
//! the browser client from `/socket.io/socket.io.js`, served from `SOCKETIO_CLIENT_DIR`
//! (default `tests/socketio/node_modules/socket.io-client/dist`, the client version the
//! tests pin: `(cd tests/socketio && npm ci)` installs it there, leaving the repository
//! root clean).
//!
//! Events of the main namespace:
//! - `message` (text) → `message` `"Reply to: " + text` (what `socket.send` sends);
//! - on connection the server asks `nickname?` with an acknowledgement (5 s); the answer
//!   names the client in the chat, else it stays `guest-N`;
//! - `join` (room, ack) → joins, tells the room's others `joined` (name, room), acks the
//!   room's size; `leave` (room);
//! - `chat` ({room, text}) → `chat` ({from, room, text}) to the room's others;
//! - `file` (room, name, bytes, ack) → `file` (from, name, bytes) to the room's others,
//!   acks the size: binary both ways;
//! - `announce` (text) → `announcement` ({from, text}) to everyone, the sender included;
//! - `echo` (args..., ack) → acks the same arguments, as received (JSON round trips).
//!
//! Namespace `/admin` takes `auth: { token }` equal to `SOCKETIO_ADMIN_TOKEN` (default
//! `let-me-in`), checked by a middleware (a refusal is `connect_error` `not authorized`
//! with `data` `{ "expected": "auth.token" }`), and answers `stats` (ack) with
//! `{ "connected": N }`.
//!
//! Dynamic namespaces `/game-<digits>` are made when a client first connects to one; each
//! answers `where` (ack) with its own name.
//!
//! Heartbeat: `SOCKETIO_PING_INTERVAL_MS`, `SOCKETIO_PING_TIMEOUT_MS` (25000 / 20000);
//! largest packet: `SOCKETIO_MAX_PAYLOAD` (bytes, 1000000).

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use log::{debug, info, warn};
use serde_json::json;
use wsreactor::socketio::{ConnectError, Options, Payload, Socket, SocketIo};
use wsreactor::{Accept, Ctx, Handler, Request, Response, Server};

const PAGE: &str = include_str!("socketio_chat.html");

/// The page at `/`; everything else but `/socket.io/` is 404.
struct Page;

impl Handler for Page {
    fn on_upgrade(&mut self, _req: &Request) -> Result<Accept, Response> {
        Err(Response::status_text(404))
    }

    fn on_http(&mut self, _ctx: &mut Ctx<'_>, req: &Request) -> Option<Response> {
        Some(match (req.method(), req.path()) {
            ("GET", "/") => Response::html(PAGE),
            _ => Response::status_text(404),
        })
    }
}

/// Names by socket id, and a counter for guests.
#[derive(Default)]
struct Chat {
    names: HashMap<String, String>,
    guests: u64,
}

type Shared = Rc<RefCell<Chat>>;

fn name_of(chat: &Shared, socket: &Socket<'_>) -> String {
    chat.borrow()
        .names
        .get(socket.id())
        .cloned()
        .unwrap_or_default()
}

fn on_connection(chat: &Shared, socket: &mut Socket<'_>) {
    let name = {
        let mut c = chat.borrow_mut();
        c.guests += 1;
        let name = format!("guest-{}", c.guests);
        c.names.insert(socket.id().to_owned(), name.clone());
        name
    };
    info!(
        "{} connected from {} as {name}",
        socket.id(),
        socket.handshake().address()
    );

    let asked = Rc::clone(chat);
    socket
        .emit_with_ack(
            "nickname?",
            (),
            Duration::from_secs(5),
            move |socket, answer| match answer.as_ref().ok().and_then(|p| p.text(0)) {
                Some(nick) if !nick.trim().is_empty() => {
                    let nick = nick.trim().to_owned();
                    info!("{} is {nick}", socket.id());
                    asked
                        .borrow_mut()
                        .names
                        .insert(socket.id().to_owned(), nick);
                }
                _ => debug!("{} kept its guest name", socket.id()),
            },
        )
        .ok();

    socket.on("message", |socket, msg, _ack| {
        let text = match msg.get(0) {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        debug!("{} says {text:?}", socket.id());
        socket.emit("message", format!("Reply to: {text}")).ok();
    });

    let c = Rc::clone(chat);
    socket.on("join", move |socket, args, ack| {
        let Some(room) = args.text(0).map(str::to_owned) else {
            return;
        };
        // The name comes from the client: the room limits may refuse it.
        if let Err(e) = socket.join(&room) {
            socket
                .emit("message", format!("cannot join {room}: {e}"))
                .ok();
            return;
        }
        let from = name_of(&c, socket);
        socket
            .to(&room)
            .emit("joined", json!({ "name": from, "room": room }))
            .ok();
        if let Some(ack) = ack {
            let size = socket.room_size(&room);
            ack.send(socket, json!(size));
        }
    });

    socket.on("leave", |socket, args, _ack| {
        if let Some(room) = args.text(0) {
            let room = room.to_owned();
            socket.leave(&room);
        }
    });

    let c = Rc::clone(chat);
    socket.on("chat", move |socket, args, _ack| {
        let Some(msg) = args.get(0) else { return };
        let (Some(room), Some(text)) = (msg["room"].as_str(), msg["text"].as_str()) else {
            return;
        };
        let (room, text) = (room.to_owned(), text.to_owned());
        let from = name_of(&c, socket);
        socket
            .to(&room)
            .emit("chat", json!({ "from": from, "room": room, "text": text }))
            .ok();
    });

    let c = Rc::clone(chat);
    socket.on("file", move |socket, args, ack| {
        let (Some(room), Some(name), Some(bytes)) = (
            args.text(0).map(str::to_owned),
            args.text(1).map(str::to_owned),
            args.get(2).and_then(|v| args.binary(v)).cloned(),
        ) else {
            return;
        };
        let size = bytes.len();
        let from = name_of(&c, socket);
        let file = Payload::new().arg(from).arg(name).bin(bytes);
        socket.to(&room).emit("file", file).ok();
        if let Some(ack) = ack {
            ack.send(socket, json!(size));
        }
    });

    socket.on("echo", |socket, args, ack| {
        if let Some(ack) = ack {
            ack.send(socket, args);
        }
    });

    let c = Rc::clone(chat);
    socket.on("announce", move |socket, args, _ack| {
        let text = args.text(0).unwrap_or_default().to_owned();
        let from = name_of(&c, socket);
        socket
            .nsp()
            .emit("announcement", json!({ "from": from, "text": text }))
            .ok();
    });

    let c = Rc::clone(chat);
    socket.on_disconnect(move |socket, reason| {
        let name = c.borrow_mut().names.remove(socket.id()).unwrap_or_default();
        info!("{} ({name}) disconnected: {reason}", socket.id());
    });
}

fn env_ms(name: &str) -> Option<Duration> {
    let value = std::env::var(name).ok()?;
    value.parse().ok().map(Duration::from_millis)
}

fn main() -> std::io::Result<()> {
    common::init_logging()?;
    let mut options = Options::default();
    if let Some(interval) = env_ms("SOCKETIO_PING_INTERVAL_MS") {
        options = options.ping_interval(interval);
    }
    if let Some(timeout) = env_ms("SOCKETIO_PING_TIMEOUT_MS") {
        options = options.ping_timeout(timeout);
    }
    if let Some(bytes) = std::env::var("SOCKETIO_MAX_PAYLOAD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options = options.max_payload(bytes);
    }
    let mut io = SocketIo::new(options).fallback(Page);
    let client_dir = std::env::var("SOCKETIO_CLIENT_DIR")
        .unwrap_or_else(|_| "tests/socketio/node_modules/socket.io-client/dist".into());
    if let Err(e) = io.serve_client(&client_dir) {
        warn!("not serving the browser client ({e}); run `(cd tests/socketio && npm ci)`, or set SOCKETIO_CLIENT_DIR");
    }

    let chat = Shared::default();
    let main_chat = Rc::clone(&chat);
    io.of("/")
        .on_connection(move |socket| on_connection(&main_chat, socket));

    let token = std::env::var("SOCKETIO_ADMIN_TOKEN").unwrap_or_else(|_| "let-me-in".into());
    io.of("/admin")
        .middleware(move |socket| {
            if socket.handshake().auth()["token"].as_str() == Some(token.as_str()) {
                Ok(())
            } else {
                let expected = json!({ "expected": "auth.token" });
                Err(ConnectError::new("not authorized").with_data(expected))
            }
        })
        .on_connection(move |socket| {
            info!("{} connected to /admin", socket.id());
            let chat = Rc::clone(&chat);
            socket.on("stats", move |socket, _args, ack| {
                if let Some(ack) = ack {
                    let connected = chat.borrow().names.len();
                    ack.send(socket, json!({ "connected": connected }));
                }
            });
        });

    io.of_dynamic(|name, _handshake| {
        name.strip_prefix("/game-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
    .on_connection(|socket| {
        socket.on("where", |socket, _args, ack| {
            if let Some(ack) = ack {
                let name = socket.namespace().to_owned();
                ack.send(socket, name);
            }
        });
    });

    let server = Server::bind(common::listen_addr("127.0.0.1:3000"))?;
    info!("socket.io chat on http://{}/", server.local_addr()?);
    common::shutdown_on_signal(server.handle())?;
    server.run(io)
}
