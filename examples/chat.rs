//! A chat server with rooms, on plain WebSocket: the page at `/`, the socket at `/ws`.
//!
//! `cargo run --example chat [ADDR]` (default `127.0.0.1:8080`, or `WSREACTOR_ADDR`), then
//! open http://127.0.0.1:8080/ in two tabs. With the `tls` feature, `--tls CERT KEY` (or
//! `WSREACTOR_TLS_CERT` and `WSREACTOR_TLS_KEY`) serves it on https:// and wss://.
//!
//! Protocol (text frames): every client starts in room `lobby` as `guest-N`;
//! `/join ROOM` moves it to ROOM; `/nick NAME` renames it; any other text goes to everyone
//! else in its room as `NAME: text`. Arrivals, departures and renames are announced to the
//! room as lines starting with `* `. A background thread publishes the server's clock to
//! `lobby` every 10 s through a `Handle`.

// `with_reactors` goes unused: this example runs one reactor.
#[expect(dead_code)]
mod common;

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::{debug, info};
use wsreactor::{
    Accept, Config, ConnId, Ctx, Disconnect, Handler, Message, Request, Response, SendError, Server,
};

const PAGE: &str = include_str!("chat.html");
const LOBBY: &str = "lobby";

struct Member {
    name: String,
    room: String,
}

#[derive(Default)]
struct Chat {
    members: HashMap<ConnId, Member>,
    guests: u64,
}

impl Chat {
    fn command(&mut self, ctx: &mut Ctx<'_>, line: &str) {
        let Some(member) = self.members.get_mut(&ctx.id()) else {
            return;
        };
        if let Some(room) = line.strip_prefix("/join ").map(str::trim) {
            if room.is_empty() || room == member.room {
                return;
            }
            // The name comes from the peer: the server's room limits may refuse it.
            if let Err(e) = ctx.join(room) {
                ctx.send(format!("* cannot join {room}: {e}"));
                return;
            }
            ctx.leave(&member.room);
            ctx.publish_to_others(
                &member.room,
                format!("* {} left {}", member.name, member.room),
            )
            .ok();
            member.room = room.to_owned();
            ctx.publish_to_others(room, format!("* {} joined {room}", member.name))
                .ok();
            ctx.send(format!("* you are in {room}"));
        } else if let Some(name) = line.strip_prefix("/nick ").map(str::trim) {
            if name.is_empty() {
                return;
            }
            let old = std::mem::replace(&mut member.name, name.to_owned());
            ctx.publish_to_others(&member.room, format!("* {old} is now {name}"))
                .ok();
            ctx.send(format!("* you are now {name}"));
        } else {
            ctx.publish_to_others(&member.room, format!("{}: {line}", member.name))
                .ok();
        }
    }
}

impl Handler for Chat {
    fn on_upgrade(&mut self, req: &Request) -> Result<Accept, Response> {
        match req.path() {
            "/ws" => Ok(Accept::default()),
            _ => Err(Response::status_text(404)),
        }
    }

    fn on_http(&mut self, _ctx: &mut Ctx<'_>, req: &Request) -> Option<Response> {
        Some(match (req.method(), req.path()) {
            ("GET", "/") => Response::html(PAGE),
            ("GET", _) => Response::status_text(404),
            _ => Response::status_text(405).header("Allow", "GET"),
        })
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
        self.guests += 1;
        let name = format!("guest-{}", self.guests);
        info!("{} connected from {} as {name}", ctx.id(), ctx.peer_addr());
        ctx.join(LOBBY).ok(); // a fixed, short name: only a closed connection fails
                              // `Err(Full)` comes only with several reactors, one of them behind: not here.
        ctx.publish_to_others(LOBBY, format!("* {name} joined {LOBBY}"))
            .ok();
        ctx.send(format!("* you are {name} in {LOBBY}"));
        self.members.insert(
            ctx.id(),
            Member {
                name,
                room: LOBBY.to_owned(),
            },
        );
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        let Ok(line) = msg.to_text() else { return };
        debug!("{} received: {line:?}", ctx.id());
        self.command(ctx, line);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>, why: &Disconnect) {
        info!("{} disconnected: {why}", ctx.id());
        if let Some(member) = self.members.remove(&ctx.id()) {
            ctx.publish_to_others(
                &member.room,
                format!("* {} left {}", member.name, member.room),
            )
            .ok();
        }
    }
}

/// `HH:MM:SS` UTC, without a date-time dependency.
fn clock() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

fn main() -> std::io::Result<()> {
    common::init_logging()?;
    let (config, tls) = common::with_tls(Config::default())?;
    let server = Server::bind_with(common::listen_addr("127.0.0.1:8080"), config)?;
    let addr = server.local_addr()?;
    let (http, ws) = if tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    info!("chat on {http}://{addr}/ (socket at {ws}://{addr}/ws)");
    let handle = server.handle();
    common::shutdown_on_signal(handle.clone())?;
    thread::spawn(move || loop {
        thread::sleep(Duration::from_secs(10));
        match handle.publish(LOBBY, format!("* server time {} UTC", clock())) {
            Err(SendError::Stopped) => break,
            Err(SendError::Full) | Ok(()) => {}
        }
    });
    server.run(Chat::default())
}
