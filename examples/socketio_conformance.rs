//! The server the official protocol test suites check, configured as their READMEs
//! describe the reference one (socketio/engine.io-protocol and socketio/socket.io-protocol,
//! `test-suite/`, run with `npm ci && npm test` against `http://localhost:3000`):
//!
//! - Engine.IO at `/engine.io/`, echoing every message;
//! - Socket.IO at `/socket.io/`: on connect, emit `auth` with the handshake's auth; answer
//!   `message` with `message-back` and the same arguments; ack `message-with-ack` with the
//!   same arguments; a namespace `/custom` that emits `auth` on connect;
//! - pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1,000,000, connectTimeout
//!   1000 ms, CORS `*`.
//!
//! `cargo run --features socketio --example socketio_conformance [ADDR]` (default
//! `127.0.0.1:3000`, or `WSREACTOR_ADDR`); with the `tls` feature too, `--tls CERT KEY` (or
//! `WSREACTOR_TLS_CERT` and `WSREACTOR_TLS_KEY`) serves it on https://.

// `with_reactors` goes unused: this example runs one reactor.
#[expect(dead_code)]
mod common;

use std::time::Duration;

use log::info;
use wsreactor::socketio::{Cors, EngineIo, Options, Socket, SocketIo};
use wsreactor::{Config, Server};

fn emit_auth(socket: &mut Socket<'_>) {
    let auth = socket.handshake().auth().clone();
    socket.emit("auth", auth).ok();
}

fn main() -> std::io::Result<()> {
    common::init_logging()?;
    let options = Options::default()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .cors(Cors::any());

    let engine = EngineIo::new(options.clone().path("/engine.io/"), |socket, data| {
        socket.send(data);
    });
    let mut io = SocketIo::new(options).fallback(engine);
    io.of("/").on_connection(|socket| {
        emit_auth(socket);
        socket.on("message", |socket, args, _ack| {
            socket.emit("message-back", args).ok();
        });
        socket.on("message-with-ack", |socket, args, ack| {
            if let Some(ack) = ack {
                ack.send(socket, args);
            }
        });
    });
    io.of("/custom").on_connection(emit_auth);

    let (config, tls) = common::with_tls(Config::default())?;
    let server = Server::bind_with(common::listen_addr("127.0.0.1:3000"), config)?;
    let http = if tls { "https" } else { "http" };
    info!("conformance server on {http}://{}/", server.local_addr()?);
    common::shutdown_on_signal(server.handle())?;
    server.run(io)
}
