//! [`EngineIo`]: bare Engine.IO, without Socket.IO on top: each message to a callback.
//!
//! For clients of `engine.io-client`, and for the Engine.IO protocol's own test suite,
//! which expects an endpoint that echoes every message.

use std::fmt;
use std::net::SocketAddr;

use tungstenite::Bytes;

use super::endpoint::{endpoint_handler, Endpoint};
use super::engine::packet::{Incoming, Out};
use super::engine::{App, Engine, SessKey};
use super::reason::DisconnectReason;
use super::{NotFound, Options};
use crate::http::Request;

/// An Engine.IO message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// A text message.
    Text(String),
    /// A binary message (base64 on long-polling, a binary frame on WebSocket).
    Binary(Bytes),
}

/// An Engine.IO session, lent to the message callback.
pub struct EngineSocket<'a> {
    eng: &'a mut Engine<()>,
    s: SessKey,
}

impl fmt::Debug for EngineSocket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineSocket").finish_non_exhaustive()
    }
}

impl EngineSocket<'_> {
    /// The session id (`sid`).
    pub fn id(&mut self) -> String {
        self.eng
            .sid(self.s)
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    /// Sends a message; `false` if the session is closed.
    ///
    /// Long-polling joins the packets of a response with the record separator `\x1e`
    /// (engine.io-protocol, Payload) and has no escape for it: a text message holding one
    /// reaches a polling client as two packets, the second of them garbled (the reference
    /// server sends it so too). Send such text as binary, or encoded.
    pub fn send(&mut self, data: Data) -> bool {
        let out = match data {
            Data::Text(text) => Out::message(&text),
            Data::Binary(bytes) => Out::Binary(bytes),
        };
        self.eng.send(self.s, out)
    }

    /// Closes the session (what is queued still goes out).
    pub fn close(&mut self) {
        self.eng.close(self.s);
    }
}

type MessageFn = dyn FnMut(&mut EngineSocket<'_>, Data);

pub(crate) struct Raw {
    on_message: Box<MessageFn>,
}

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Raw").finish_non_exhaustive()
    }
}

impl App for Raw {
    type Client = ();

    fn on_open(&mut self, _: &mut Engine<()>, _: SessKey, _: &Request, _: SocketAddr) {}

    fn on_message(&mut self, eng: &mut Engine<()>, s: SessKey, msg: Incoming<'_>) {
        let data = match msg {
            Incoming::Text(text) => Data::Text(text.to_owned()),
            Incoming::Binary(bytes) => Data::Binary(bytes),
        };
        (self.on_message)(&mut EngineSocket { eng, s }, data);
    }

    fn on_close(&mut self, _: &mut Engine<()>, _: SessKey, _: DisconnectReason) {}

    fn on_deadline(&mut self, _: &mut Engine<()>, _: SessKey) {}
}

/// A bare Engine.IO endpoint: a [`Handler`](crate::Handler) that hands each message to a
/// callback. Requests for other paths go to the fallback `F`.
///
/// ```no_run
/// use wsreactor::socketio::{EngineIo, Options};
///
/// # fn main() -> std::io::Result<()> {
/// let echo = EngineIo::new(Options::default().path("/engine.io/"), |socket, data| {
///     socket.send(data);
/// });
/// wsreactor::Server::bind("127.0.0.1:3000")?.run(echo)
/// # }
/// ```
pub struct EngineIo<F = NotFound> {
    ep: Endpoint<Raw>,
    fallback: F,
}

impl<F: fmt::Debug> fmt::Debug for EngineIo<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineIo")
            .field("path", &self.ep.path)
            .field("sessions", &self.ep.engine.len())
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl EngineIo {
    /// An endpoint at `options.path` calling `on_message` for every message.
    pub fn new(
        options: Options,
        on_message: impl FnMut(&mut EngineSocket<'_>, Data) + 'static,
    ) -> Self {
        let app = Raw {
            on_message: Box::new(on_message),
        };
        EngineIo {
            ep: Endpoint::new(options.path.clone(), options.settings(), app),
            fallback: NotFound,
        }
    }
}

impl<F> EngineIo<F> {
    /// Sends what is not this endpoint's (other paths, their connections and timers) to
    /// `fallback`, timers the endpoint did not set included (as for
    /// [`SocketIo::fallback`](super::SocketIo::fallback)).
    pub fn fallback<G>(self, fallback: G) -> EngineIo<G> {
        EngineIo {
            ep: self.ep,
            fallback,
        }
    }
}

endpoint_handler!(EngineIo, |_this, _req| None);
