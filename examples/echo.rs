//! The echo server: every Text and Binary message goes back verbatim.
//!
//! `cargo run --release --example echo [ADDR]` listens on `127.0.0.1:8080` unless the first
//! argument or `WSREACTOR_ADDR` says otherwise. `WSREACTOR_MAX_CONNECTIONS` raises the
//! connection limit (default 10,000) for benchmarks that hold more. With the `tls`
//! feature, `--tls CERT KEY` (or `WSREACTOR_TLS_CERT` and `WSREACTOR_TLS_KEY`) serves
//! `wss://` with that PEM certificate chain and key (`scripts/make-cert.sh` makes a local
//! pair in `target/tls/`). Logs (level from
//! `RUST_LOG`, default info) one line per connect and disconnect, and at debug one per
//! message. Ctrl-C or SIGTERM shuts it down gracefully.

mod common;

use log::{debug, info};
use wsreactor::{Config, Ctx, Disconnect, Handler, Message, Request, Server};

struct Echo;

impl Handler for Echo {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, req: &Request) {
        info!(
            "{} connected from {} to {}",
            ctx.id(),
            ctx.peer_addr(),
            req.path()
        );
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        match &msg {
            Message::Text(text) => debug!("{} received: {}", ctx.id(), text.as_str()),
            other => debug!("{} received {} bytes", ctx.id(), other.len()),
        }
        ctx.send(msg);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>, why: &Disconnect) {
        info!("{} disconnected: {why}", ctx.id());
    }
}

fn main() -> std::io::Result<()> {
    common::init_logging()?;
    // Room for the Autobahn suite's 16 MiB messages (cases 9.x); the library default is 1 MiB.
    let mut config = Config::default()
        .max_message_size(16 << 20)
        .max_frame_size(16 << 20);
    if let Some(max) = std::env::var("WSREACTOR_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config = config.max_connections(max);
    }
    let (config, tls) = common::with_tls(config)?;
    let server = Server::bind_with(common::listen_addr("127.0.0.1:8080"), config)?;
    let scheme = if tls { "wss" } else { "ws" };
    info!(
        "echo server listening on {scheme}://{}",
        server.local_addr()?
    );
    common::shutdown_on_signal(server.handle())?;
    server.run(Echo)
}
