//! Namespace middlewares (the reference's `namespace.use`, lib/namespace.ts `use` and
//! `run`): functions every connection to a namespace goes through, in order, before it is
//! accepted; the first to refuse sends the client `connect_error`.
//!
//! Each runs on the socket being connected: it has its id, its handshake and its
//! [`data`](Socket::data), not yet its rooms ([`connected`](Socket::connected) is `false`,
//! emits and joins are refused). What it attaches to `data` and the listeners it adds are
//! the socket's once it is accepted; a refused socket is dropped, never seen by the
//! namespace (no room, no connection handler, no `disconnect`).

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use super::engine::Engine;
use super::listeners::call;
use super::namespace::{Client, Sio, SocketKey};
use super::socket::Socket;

type MiddlewareFn = dyn FnMut(&mut Socket<'_>) -> Result<(), ConnectError>;

/// Refuses a connection to a namespace: the client gets `connect_error` with an `Error`
/// whose `message` is this message (and `data` this data), as `next(err)` in a reference
/// middleware sends `err.message` and `err.data`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    pub(crate) message: String,
    pub(crate) data: Option<Value>,
}

impl ConnectError {
    /// A refusal with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds details for the client (`err.data`).
    pub fn with_data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// The message the client sees (`err.message`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details the client sees (`err.data`), if any.
    pub fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }
}

/// A namespace's middlewares, in the order they run. Cheap to copy: a child namespace
/// starts with its parent's (parent-namespace.ts `createChild`).
#[derive(Clone, Default)]
pub(crate) struct Chain(Vec<Rc<RefCell<MiddlewareFn>>>);

impl Chain {
    pub(crate) fn push(
        &mut self,
        middleware: impl FnMut(&mut Socket<'_>) -> Result<(), ConnectError> + 'static,
    ) {
        self.0.push(Rc::new(RefCell::new(middleware)));
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Runs each middleware on socket `k` until one refuses.
    pub(crate) fn run(
        &self,
        eng: &mut Engine<Client>,
        sio: &mut Sio,
        k: SocketKey,
    ) -> Result<(), ConnectError> {
        for middleware in &self.0 {
            let verdict = call(middleware, "namespace middleware", |f| {
                f(&mut Socket::new(eng, sio, k))
            });
            // One that cannot run cannot let the socket in.
            verdict.unwrap_or_else(|| Err(ConnectError::new("middleware unavailable")))?;
        }
        Ok(())
    }
}
