//! One node of a Socket.IO cluster joined through Redis, wire-compatible with Node's
//! `@socket.io/redis-adapter`: its twin `tests/cluster/node-server.mjs` (socket.io 4.8 +
//! the adapter 8.x) behaves the same, so Rust and Node nodes can be mixed freely.
//!
//! `cargo run --features redis --example socketio_cluster [ADDR]` (default
//! `127.0.0.1:3000`, or `WSREACTOR_ADDR`; `--reactors N`, `--tls CERT KEY` and `--deflate`
//! as the other examples take them), joining Redis at `WSREACTOR_REDIS` (default
//! `redis://127.0.0.1:6379`). Every socket of the main namespace joins the room `all`, and
//! the room `quiet` too if its `auth` has `quiet: true`. Events:
//! - `broadcast` (any arguments) → `broadcast` with the same arguments to the room `all`
//!   on every node (`io.to("all").emit(..)`);
//! - `broadcast_except` (any arguments) → the same, but not to the members of `quiet`
//!   (`io.to("all").except("quiet").emit(..)`);
//! - `count` with an ack → answers the number of sockets in the cluster (`fetch_sockets`
//!   across reactors and nodes: `(await io.fetchSockets()).length`);
//! - `ask_others` with an ack → sends the server-side event `ping` to the other nodes with
//!   an ack (`io.serverSideEmit("ping", (err, replies) => ..)`) and answers the list of
//!   their replies (those that came, after a timeout);
//! - `ask_all` → sends `question` with an ack to the room `all` on every node (5 s
//!   timeout: `io.to("all").timeout(5000).emitWithAck("question")`) and sends the asking
//!   socket the event `answers` with the list of answers (each socket's first argument);
//! - the server-side event `ping` from another node → answers this node's address.

mod common;

use std::time::Duration;

use log::{info, warn};
use wsreactor::serde_json::Value;
use wsreactor::socketio::{Options, RedisAdapter, RedisOptions, SocketIo};
use wsreactor::{Config, Server};

fn main() -> std::io::Result<()> {
    common::init_logging()?;
    let url = std::env::var("WSREACTOR_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // One adapter for the process (one node of the cluster), shared by every reactor.
    let redis = RedisAdapter::connect(&url, RedisOptions::default()).map_err(|e| {
        std::io::Error::other(format!(
            "cannot join the cluster through Redis at {url}: {e}"
        ))
    })?;
    let config = common::with_reactors(Config::default())?;
    let (config, tls) = common::with_tls(config)?;
    let server = Server::bind_with(common::listen_addr("127.0.0.1:3000"), config)?;
    let http = if tls { "https" } else { "http" };
    let addr = server.local_addr()?;
    info!(
        "socket.io cluster node {} on {http}://{addr}/ ({} reactor(s), Redis {url})",
        redis.uid(),
        server.reactors()
    );
    common::shutdown_on_signal(server.handle())?;
    let me = format!("{http}://{addr}/");
    server.run_with(|_reactor| socket_io(&redis, &me))
}

/// The Socket.IO server of one reactor; `me` is this node's address.
fn socket_io(redis: &RedisAdapter, me: &str) -> SocketIo {
    let mut options = Options::default();
    if let Some(deflate) = common::deflate() {
        options = options.per_message_deflate(deflate);
    }
    let mut io = SocketIo::new(options);
    io.adapter(redis);
    let me = me.to_owned();
    io.of("/").on_server_side("ping", move |_args, ack| {
        if let Some(ack) = ack {
            ack.send(me.as_str());
        }
    });
    let handle = io.handle();
    io.of("/").on_connection(move |socket| {
        socket.join("all").ok();
        let quiet = socket
            .handshake()
            .auth()
            .get("quiet")
            .and_then(|q| q.as_bool());
        if quiet == Some(true) {
            socket.join("quiet").ok();
        }
        socket.on("broadcast", |socket, args, _ack| {
            socket.nsp().to("all").emit("broadcast", args).ok();
        });
        socket.on("broadcast_except", |socket, args, _ack| {
            let everyone_but_quiet = socket.nsp().to("all").except("quiet");
            everyone_but_quiet.emit("broadcast", args).ok();
        });
        socket.on("count", |socket, _args, ack| {
            // The sockets of every reactor and every node.
            let answered = socket.nsp().fetch_sockets_then(move |socket, sockets| {
                // A node that did not answer in time: the count of those that did.
                let sockets = sockets.unwrap_or_else(|partial| {
                    warn!("count: {partial}");
                    partial.found
                });
                if let Some(ack) = ack {
                    ack.send(socket, sockets.len() as u64);
                }
            });
            if let Err(e) = answered {
                warn!("count: {e}");
            }
        });
        let handle = handle.clone();
        socket.on("ask_all", move |socket, _args, _ack| {
            // The answers go back as an event: this callback has no socket to ack with.
            let (to, handle) = (socket.id().to_owned(), handle.clone());
            let asked = socket.nsp().to("all").emit_with_ack(
                "question",
                (),
                Duration::from_secs(5),
                move |answers| {
                    let answers = answers.unwrap_or_else(|e| e.responses);
                    let answers: Vec<Value> =
                        answers.into_iter().flat_map(|a| a.into_args()).collect();
                    handle
                        .socket("/", &to)
                        .emit("answers", Value::from(answers))
                        .ok();
                },
            );
            if let Err(e) = asked {
                warn!("ask_all: {e}");
            }
        });
        socket.on("ask_others", |socket, _args, ack| {
            let asked =
                socket
                    .nsp()
                    .server_side_emit_with_ack("ping", (), move |socket, replies| {
                        // After a timeout: the answers that came.
                        let replies = replies.unwrap_or_else(|e| e.responses);
                        if let Some(ack) = ack {
                            ack.send(socket, Value::from(replies));
                        }
                    });
            if let Err(e) = asked {
                warn!("ask_others: {e}");
            }
        });
    });
    io
}
