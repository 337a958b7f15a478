//! The tutorial's Socket.IO server on socketioxide: the third server of
//! `scripts/bench-socketio.sh`, doing per connection and per message what
//! `examples/socketio_chat.rs` and `benches/peers/socketio/server.mjs` do under that load. A
//! middleware names the socket from `auth.name` (its id when absent) in its extensions, and
//! each `message` is answered with `message` "Reply to: <message>", on the main namespace.
//! socketioxide has no connection state recovery, so its replies carry no offset.
//!
//! The `message` listener is registered by the middleware, not by the connect handler as
//! socketioxide's examples do: socketioxide 0.18 sends the CONNECT packet and only then
//! spawns the connect handler, so events a client emits as soon as it is connected (the
//! load does, as socket.io-client flushes its buffered emits) can reach the socket before a
//! listener registered there exists, and are dropped without a trace. Under this load that
//! left one client in 32 with all its first 64 events unanswered in half the runs. The
//! middleware runs before the CONNECT packet is sent.
//!
//! Runtime: socketioxide's README and examples run on `#[tokio::main]`, tokio's multi-thread
//! runtime, and its own memory benchmark (`e2e/heaptrack`) serves with hyper's http1 and
//! upgrades as here. The script pins the process to one core with `taskset`, like the
//! other servers, and tokio sizes its worker pool from that affinity mask: one worker.
//!
//! `peer-socketioxide ADDR`; prints the address it listens on.

use std::convert::Infallible;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use socketioxide::extract::{Data, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use tokio::net::TcpListener;

/// Longest user name kept, in characters, as in the other two servers.
const MAX_NAME: usize = 32;

/// The socket's user name, set by the middleware (socket.io's `socket.data.name`). Kept and
/// not read, as in server.mjs: the load measures what keeping it costs.
#[derive(Clone)]
struct Name(#[allow(dead_code)] String);

/// Names the socket from `auth.name` (trimmed, at most 32 characters), else its id, and
/// answers its `message` events.
async fn prepare(socket: SocketRef, TryData(auth): TryData<Value>) -> Result<(), Infallible> {
    let asked = auth
        .as_ref()
        .ok()
        .and_then(|a| a["name"].as_str())
        .map(str::trim);
    let name = match asked {
        Some(name) if !name.is_empty() => name.chars().take(MAX_NAME).collect(),
        _ => socket.id.to_string(),
    };
    socket.extensions.insert(Name(name));
    socket.on("message", async |socket: SocketRef, Data::<Value>(msg)| {
        let reply = match msg {
            Value::String(text) => format!("Reply to: {text}"),
            other => format!("Reply to: {other}"),
        };
        socket.emit("message", &reply).ok();
    });
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let (svc, io) = SocketIo::new_svc();
    io.ns("/", { async || {} }.with(prepare));

    let listener = TcpListener::bind(&addr).await?;
    println!("socketioxide on http://{}/", listener.local_addr()?);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of fds or similar: keep serving the connections we have.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        // As the other servers do (Node's http server by default): no Nagle delay on replies.
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            conn.with_upgrades().await.ok()
        });
    }
}
