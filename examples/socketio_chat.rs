//! The Socket.IO server of every tutorial, on wsreactor, grown the way real apps grow: the
//! official client (browser or Node, WebSocket or long-polling) connects to `/socket.io/`;
//! each `message` gets `Reply to: <message>` back. Plus a chat with rooms, a user name set by
//! a middleware, a clock ticking from a background thread, "who is online", an admin
//! namespace behind a token, and connection state recovery.
//!
//! `cargo run --features socketio --example socketio_chat [ADDR] [--reactors N]` (default
//! `127.0.0.1:3000`, or `WSREACTOR_ADDR`; N reactors, as the echo example takes them, each
//! with its own `SocketIo`), then open http://127.0.0.1:3000/ (with the `tls`
//! feature too, `--tls CERT KEY` or `WSREACTOR_TLS_CERT` and `WSREACTOR_TLS_KEY` serve it on
//! https://). The page loads
//! the browser client from `/socket.io/socket.io.js`, served from `SOCKETIO_CLIENT_DIR`
//! (default `tests/socketio/node_modules/socket.io-client/dist`, the client version the
//! tests pin: `(cd tests/socketio && npm ci)` installs it there, leaving the repository
//! root clean).
//!
//! The main namespace's middleware names each socket from `auth: { name }` (trimmed, at
//! most 32 characters; the socket id when absent or blank: a client that sends no auth
//! still connects) and keeps it in `socket.data`. Its events:
//! - `message` (text) → `message` `"Reply to: " + text` (what `socket.send` sends);
//! - `join` (room, ack) → joins, tells the room's others `joined` (name, room), acks the
//!   room's size (with several reactors: its sockets on the reactor that holds this
//!   client); `leave` (room). Joining `clock` brings a `tick` (milliseconds since the
//!   Unix epoch) every second, emitted from a background thread through the
//!   [`IoHandle`](wsreactor::socketio::IoHandle);
//! - `chat` ({room, text}) → `chat` ({from, room, text}) to the room's others;
//! - `file` (room, name, bytes, ack) → `file` (from, name, bytes) to the room's others,
//!   acks the size: binary both ways;
//! - `announce` (text) → `announcement` ({from, text}) to everyone, the sender included;
//! - `who` (room?, ack) → acks the names of the sockets online (in `room` if given),
//!   sorted, read from their `socket.data` with `fetch_sockets_then` (every reactor's);
//! - `echo` (args..., ack) → acks the same arguments, as received (JSON round trips).
//!
//! Connection state recovery is on, with a two-minute window: a client whose connection
//! drops and that comes back within it keeps its id, name and rooms and gets the events it
//! missed (`socket.recovered` on both sides). As with the reference server, every event
//! emitted without an ack and not volatile then carries an offset (a decimal string) as its
//! **last argument**, which the client's listeners see too.
//!
//! Namespace `/admin` takes `auth: { token }` equal to `SOCKETIO_ADMIN_TOKEN` (default
//! `let-me-in`), checked by a middleware (a refusal is `connect_error` `not authorized`
//! with `data` `{ "expected": "auth.token" }`), and answers `stats` (ack) with
//! `{ "connected": N }`, the sockets of the main namespace (on every reactor: a counter
//! they share).
//!
//! Dynamic namespaces `/game-<digits>` are made when a client first connects to one; each
//! answers `where` (ack) with its own name.
//!
//! Heartbeat: `SOCKETIO_PING_INTERVAL_MS`, `SOCKETIO_PING_TIMEOUT_MS` (25000 / 20000);
//! largest packet: `SOCKETIO_MAX_PAYLOAD` (bytes, 1000000); connection state recovery's
//! window: `SOCKETIO_RECOVERY_MS` (120000; 0 turns recovery off). `--deflate` (or
//! `WSREACTOR_DEFLATE=1`) turns on permessage-deflate for the WebSocket transport
//! (`Options::per_message_deflate`, the reference's `perMessageDeflate`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::{debug, info, warn};
use serde_json::{json, Value};
use wsreactor::socketio::{
    ConnectError, IoHandle, Options, Payload, QueryResult, Recovery, Socket, SocketInfo, SocketIo,
};
use wsreactor::{Accept, Config, Ctx, Handler, Request, Response, Server};

const PAGE: &str = include_str!("socketio_chat.html");

/// Longest user name kept, in characters: names are echoed to every room the user writes to.
const MAX_NAME: usize = 32;

/// The room whose members get the clock's ticks.
const CLOCK_ROOM: &str = "clock";

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

/// Who a socket of the main namespace is: set by its middleware, kept in `socket.data`
/// (so `fetch_sockets` reports it, and recovery restores it).
#[derive(Clone)]
struct User {
    name: String,
}

/// The main namespace's middleware: names the socket from `auth.name`, else its id.
fn name_from_auth(socket: &mut Socket<'_>) -> Result<(), ConnectError> {
    let asked = socket.handshake().auth()["name"].as_str().map(str::trim);
    let name = match asked {
        Some(name) if !name.is_empty() => name.chars().take(MAX_NAME).collect(),
        _ => socket.id().to_owned(),
    };
    socket.data_mut().insert(User { name });
    Ok(())
}

/// The name in a socket's data, else its id (the middleware names every socket; this is
/// for one it never saw).
fn name_or_id(user: Option<&User>, id: &str) -> String {
    user.map_or_else(|| id.to_owned(), |user| user.name.clone())
}

fn name_of(socket: &Socket<'_>) -> String {
    name_or_id(socket.data().get(), socket.id())
}

fn on_connection(online: &Arc<AtomicUsize>, socket: &mut Socket<'_>) {
    online.fetch_add(1, Ordering::Relaxed);
    let name = name_of(socket);
    let how = if socket.recovered() {
        "recovered"
    } else {
        "connected"
    };
    let from = socket.handshake().address();
    info!("{} {how} from {from} as {name}", socket.id());

    socket.on("message", |socket, msg, _ack| {
        debug!("{} says {:?}", socket.id(), msg.get(0));
        let reply = match msg.get(0) {
            Some(Value::String(text)) => format!("Reply to: {text}"),
            Some(other) => format!("Reply to: {other}"),
            None => "Reply to: ".to_owned(),
        };
        socket.emit("message", reply).ok();
    });

    socket.on("join", |socket, args, ack| {
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
        let from = name_of(socket);
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

    socket.on("chat", |socket, args, _ack| {
        let Some(msg) = args.get(0) else { return };
        let (Some(room), Some(text)) = (msg["room"].as_str(), msg["text"].as_str()) else {
            return;
        };
        let (room, text) = (room.to_owned(), text.to_owned());
        let from = name_of(socket);
        socket
            .to(&room)
            .emit("chat", json!({ "from": from, "room": room, "text": text }))
            .ok();
    });

    socket.on("file", |socket, args, ack| {
        let (Some(room), Some(name), Some(bytes)) = (
            args.text(0).map(str::to_owned),
            args.text(1).map(str::to_owned),
            args.get(2).and_then(|v| args.binary(v)).cloned(),
        ) else {
            return;
        };
        let size = bytes.len();
        let file = Payload::new().arg(name_of(socket)).arg(name).bin(bytes);
        socket.to(&room).emit("file", file).ok();
        if let Some(ack) = ack {
            ack.send(socket, json!(size));
        }
    });

    socket.on("announce", |socket, args, _ack| {
        let text = args.text(0).unwrap_or_default().to_owned();
        let from = name_of(socket);
        socket
            .nsp()
            .emit("announcement", json!({ "from": from, "text": text }))
            .ok();
    });

    // `fetch_sockets_then` answers once every reactor has (at once with one); an
    // `IoHandle`'s answer would be computed by this same thread, after this callback, so
    // waiting for it here would never end.
    socket.on("who", |socket, args, ack| {
        let Some(ack) = ack else { return };
        let room = args.text(0).map(str::to_owned);
        let everyone = socket.nsp();
        let selected = match &room {
            Some(room) => everyone.to(room),
            None => everyone,
        };
        let answer = move |socket: &mut Socket<'_>, sockets: QueryResult<SocketInfo>| {
            // Only a cluster (another node that does not answer) leaves some out.
            let sockets = sockets.unwrap_or_else(|partial| partial.found);
            let mut names: Vec<String> = (sockets.iter())
                .map(|s| name_or_id(s.data().get(), s.id()))
                .collect();
            names.sort();
            ack.send(socket, json!(names));
        };
        if let Err(e) = selected.fetch_sockets_then(answer) {
            warn!("who: {e}");
        }
    });

    socket.on("echo", |socket, args, ack| {
        if let Some(ack) = ack {
            ack.send(socket, args);
        }
    });

    let online = Arc::clone(online);
    socket.on_disconnect(move |socket, reason| {
        online.fetch_sub(1, Ordering::Relaxed);
        info!(
            "{} ({}) disconnected: {reason}",
            socket.id(),
            name_of(socket)
        );
    });
}

/// Emits `tick` to the room `clock` every second from this thread, through the io handle
/// (`setInterval(() => io.to("clock").emit("tick", Date.now()), 1000)`), until `stop`
/// hangs up.
///
/// The ticks are volatile: each one replaces the last, so a client that cannot take one
/// now (a long-polling client between two GETs, a WebSocket behind on its writes) skips it
/// instead of getting a backlog of stale times, and they are not kept for recovery (no
/// offset, nothing replayed to a client that comes back).
fn clock(io: IoHandle, stop: Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_secs(1)) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH);
        let millis = now.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // A tick the reactor cannot queue now (far behind, or stopping) is skipped.
        if let Err(e) = io.to(CLOCK_ROOM).volatile().emit("tick", millis) {
            debug!("tick skipped: {e}");
        }
    }
}

fn env_ms(name: &str) -> Option<Duration> {
    let value = std::env::var(name).ok()?;
    value.parse().ok().map(Duration::from_millis)
}

fn options() -> Options {
    let mut options = Options::default();
    let window = env_ms("SOCKETIO_RECOVERY_MS").unwrap_or(Duration::from_secs(120));
    if !window.is_zero() {
        let recovery = Recovery::default().max_disconnection_duration(window);
        options = options.connection_state_recovery(recovery);
    }
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
    if let Some(deflate) = common::deflate() {
        options = options.per_message_deflate(deflate);
    }
    options
}

/// The Socket.IO server of one reactor; `online` is shared by all of them.
fn socket_io(online: &Arc<AtomicUsize>) -> SocketIo<Page> {
    let mut io = SocketIo::new(options()).fallback(Page);
    let client_dir = std::env::var("SOCKETIO_CLIENT_DIR")
        .unwrap_or_else(|_| "tests/socketio/node_modules/socket.io-client/dist".into());
    if let Err(e) = io.serve_client(&client_dir) {
        warn!("not serving the browser client ({e}); run `(cd tests/socketio && npm ci)`, or set SOCKETIO_CLIENT_DIR");
    }

    let counted = Arc::clone(online);
    io.of("/")
        .middleware(name_from_auth)
        .on_connection(move |socket| on_connection(&counted, socket));

    let token = std::env::var("SOCKETIO_ADMIN_TOKEN").unwrap_or_else(|_| "let-me-in".into());
    let online = Arc::clone(online);
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
            let online = Arc::clone(&online);
            socket.on("stats", move |socket, _args, ack| {
                if let Some(ack) = ack {
                    let connected = online.load(Ordering::Relaxed);
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
    io
}

fn main() -> std::io::Result<()> {
    common::init_logging()?;
    let config = common::with_reactors(Config::default())?;
    let (config, tls) = common::with_tls(config)?;
    let server = Server::bind_with(common::listen_addr("127.0.0.1:3000"), config)?;
    let http = if tls { "https" } else { "http" };
    info!("socket.io chat on {http}://{}/", server.local_addr()?);
    common::shutdown_on_signal(server.handle())?;

    // Sockets of the main namespace on every reactor, for /admin's stats.
    let online = Arc::new(AtomicUsize::new(0));
    // The clock runs on its own thread, through reactor 0's io handle (which reaches
    // every reactor's sockets), until `stop_clock` hangs up.
    let (stop_clock, stopped) = mpsc::channel();
    let stopped = Mutex::new(Some(stopped));
    let ticker = Mutex::new(None);
    let served = server.run_with(|reactor| {
        let io = socket_io(&online);
        let stopped = (reactor == 0)
            .then(|| stopped.lock().ok()?.take())
            .flatten();
        if let Some(stopped) = stopped {
            let ticking = io.handle();
            let thread = thread::spawn(move || clock(ticking, stopped));
            if let Ok(mut ticker) = ticker.lock() {
                *ticker = Some(thread);
            }
        }
        io
    });
    drop(stop_clock);
    let ticker = ticker.into_inner().ok().flatten();
    if ticker.is_some_and(|t| t.join().is_err()) {
        warn!("the clock thread panicked");
    }
    served
}
