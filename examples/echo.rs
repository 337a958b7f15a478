//! The echo server: every Text and Binary message goes back verbatim.
//!
//! `cargo run --release --example echo [ADDR] [--reactors N] [--deflate]` listens on `127.0.0.1:8080`
//! unless the first argument or `WSREACTOR_ADDR` says otherwise. `--reactors N` (or
//! `WSREACTOR_REACTORS`) runs N reactors on the port, one thread each (default 1; 0: one
//! per core); at shutdown each logs how many connections it served. `WSREACTOR_SPREAD=handoff`
//! has reactor 0 hand connections to the others in turn instead of the kernel spreading
//! them by port (`Spread::HandOff`, for comparing the two).
//! `WSREACTOR_MAX_CONNECTIONS` raises the
//! connection limit (default 10,000) for benchmarks that hold more. `--deflate` (or
//! `WSREACTOR_DEFLATE=1`) offers permessage-deflate with its default settings
//! (`DeflateConfig::default()`: messages from 1 KiB compressed). With the `tls`
//! feature, `--tls CERT KEY` (or `WSREACTOR_TLS_CERT` and `WSREACTOR_TLS_KEY`) serves
//! `wss://` with that PEM certificate chain and key (`scripts/make-cert.sh` makes a local
//! pair in `target/tls/`). Logs (level from
//! `RUST_LOG`, default info) one line per connect and disconnect, and at debug one per
//! message. Ctrl-C or SIGTERM shuts it down gracefully.

mod common;

use log::{debug, info, log_enabled, Level};
use wsreactor::{Config, Ctx, Disconnect, Handler, MessageRef, Request, Server, ServerCtx};

/// One per reactor.
#[derive(Default)]
struct Echo {
    /// Connections this reactor has opened, for the spread's log line.
    opened: usize,
}

impl Handler for Echo {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, req: &Request) {
        self.opened += 1;
        info!(
            "{} connected from {} to {}",
            ctx.id(),
            ctx.peer_addr(),
            req.path()
        );
    }

    // The message as it lies in the reactor's read buffer: sent back without being copied
    // into a buffer of its own first.
    fn on_message_ref(&mut self, ctx: &mut Ctx<'_>, msg: MessageRef<'_>) {
        if log_enabled!(Level::Debug) {
            match msg.as_text() {
                Some(text) => debug!("{} received: {text}", ctx.id()),
                None => debug!("{} received {} bytes", ctx.id(), msg.len()),
            }
        }
        ctx.send(msg);
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>, why: &Disconnect) {
        info!("{} disconnected: {why}", ctx.id());
    }

    fn on_shutdown(&mut self, ctx: &mut ServerCtx<'_>) {
        info!(
            "reactor {} opened {} connections",
            ctx.reactor(),
            self.opened
        );
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
    if let Some(deflate) = common::deflate() {
        config = config.deflate(deflate);
    }
    let (config, tls) = common::with_tls(common::with_reactors(config)?)?;
    let server = Server::bind_with(common::listen_addr("127.0.0.1:8080"), config)?;
    let scheme = if tls { "wss" } else { "ws" };
    let reactors = server.reactors();
    let addr = server.local_addr()?;
    // Tests wait for "echo server listening on <url>/" (tests/browser, tests/examples.rs).
    let threads = if reactors == 1 {
        "1 reactor".to_owned()
    } else {
        format!("{reactors} reactors")
    };
    info!("echo server listening on {scheme}://{addr}/ ({threads})");
    common::shutdown_on_signal(server.handle())?;
    server.run_with(|_reactor| Echo::default())
}
