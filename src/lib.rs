//! An embeddable WebSocket server on a single-threaded `mio` reactor.
//!
//! wsreactor holds thousands of WebSocket connections on one thread, with no async runtime.
//! It accepts sockets, does the HTTP upgrade itself (with `httparse`), decodes frames in
//! place in one shared read buffer (on `tungstenite`'s frame and message types), and calls
//! your code for each message. Echo is the default.
//!
//! # Quick start
//!
//! ```no_run
//! // Every Text and Binary message comes back verbatim.
//! # fn main() -> std::io::Result<()> {
//! wsreactor::Server::bind("127.0.0.1:8080")?.run(|msg| Some(msg))
//! # }
//! ```
//!
//! With callbacks for the whole life of a connection, implement [`Handler`]; with limits,
//! pass a [`Config`] to [`Server::bind_with`]. With the `socketio` feature, `socketio`
//! serves the official Socket.IO clients (WebSocket and long-polling). With the `tls`
//! feature, `Config::tls` serves `wss://` and `https://` (rustls), and `tls` loads PEM
//! certificates.
//!
//! # Data flow
//!
//! ```text
//! accept ──► HTTP upgrade (httparse; 101 or 4xx) ──► frames (decoded in place)
//!        ──► Handler::on_message ──► Ctx::send queues ──► one write per connection per pass
//! ```
//!
//! Each connection is a state machine that holds no socket and reads no clock: the reactor
//! lends it the bytes it read and the time of the pass, and hands the events it yields to
//! the handler. Tests can move that time themselves with a [`ManualClock`].
//!
//! Reads go through one 64 KiB buffer shared by the reactor; each connection gets one
//! socket read and at most 64 frames per pass, so a flooding peer cannot starve the
//! others. Replies are encoded straight into the connection's outbound buffer and written
//! once per pass.
//!
//! TLS is a transport under the connection: socket bytes are decrypted into the same read
//! buffer (at most 64 KiB of plaintext per connection per pass), and a connection's queue
//! is encrypted at its flush, so what a pass queued leaves in one batch of records and a
//! broadcast is encoded once, encrypted per recipient.
//!
//! # Limits
//!
//! Every limit is a [`Config`] field with a default: message and frame size (1 MiB,
//! close 1009 above), handshake size (8 KiB, 431) and time (10 s), keepalive (ping after
//! 120 s idle, close 1001 after 30 s more), outbound queue (stop reading above 64 KiB,
//! close 1008 above 1 MiB, or drop the message: [`BackpressurePolicy`]), frames handled
//! per connection per pass (64), connections (10,000, then 503), rooms per connection
//! (256) and room names (256 bytes). Refused requests are logged, at most 10 lines a
//! second per reactor.
//!
//! # Threading
//!
//! [`Server::run`] blocks its thread; every callback runs there, one at a time. A
//! [`Server`] is `Send`, so it can be moved to a thread of its own; [`Server::poll`] runs
//! a single bounded pass for programs with a loop of their own.
//!
//! [`Config::reactors`] runs several reactors on one port, one thread each, with a handler
//! each made on its thread ([`Server::run_with`]); connections stay on the reactor that
//! took them, and ids, rooms, publishing, broadcasting and [`Handle`]s reach across
//! reactors through bounded queues (see [`Server`]).
//!
//! `Message`, `CloseCode` and `Bytes` are re-exported from `tungstenite`, so its major
//! version is part of this crate's API.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![doc(test(attr(deny(warnings))))]

mod clock;
#[cfg(feature = "redis")]
pub mod cluster;
mod config;
mod conn;
mod ctx;
mod deflate;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod handle;
mod handler;
mod http;
mod id;
mod message;
mod queue;
mod reactor;
#[cfg(feature = "redis")]
mod redis;
mod request_ext;
mod rooms;
mod server;
mod slab;

// The README's examples compile as doctests. They use Socket.IO and TLS, so they need both
// features: `cargo test --all-features` (what CI runs) checks them.
#[cfg(all(doctest, feature = "socketio", feature = "tls"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use clock::ManualClock;
pub use config::{BackpressurePolicy, Config, Spread};
pub use ctx::{Ctx, SendStatus, ServerCtx};
pub use deflate::DeflateConfig;
pub use error::{Cause, Disconnect, JoinError};
pub use handle::{Handle, SendError};
pub use handler::{Accept, Echo, Handler};
pub use http::{Request, Response};
pub use id::{ConnId, TimerId};
pub use message::MessageRef;
pub use server::Server;
pub use tungstenite::protocol::frame::coding::CloseCode;
pub use tungstenite::{Bytes, Message, Utf8Bytes};

#[cfg(feature = "socketio")]
pub mod socketio;

#[cfg(feature = "tls")]
pub mod tls;

/// `serde_json`, re-exported because the [`socketio`] API takes and gives its `Value`:
/// an application uses this one (`wsreactor::serde_json::json!`, `Value`) and needs no
/// dependency of its own that could drift to another major version. Its major version is
/// part of this crate's API (feature `socketio`).
///
/// ```
/// use wsreactor::serde_json::{json, Value};
/// let hello: Value = json!({ "text": "hello", "n": 1 });
/// assert_eq!(hello["n"], 1);
/// ```
#[cfg(feature = "socketio")]
pub use serde_json;
