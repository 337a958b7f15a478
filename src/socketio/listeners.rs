//! A socket's listeners, and the order they run in: what `socket.on`, `onAny`,
//! `onAnyOutgoing`, `use`, the `error` event and the `disconnecting` / `disconnect` events
//! are in the reference server (lib/socket.ts), as [`Socket`] methods.
//!
//! An incoming event goes through, in order (socket.ts `onevent`, `dispatch`, `run`):
//!
//! 1. the catch-all listeners ([`Socket::on_any`]), even for an event no listener takes;
//! 2. the packet middlewares ([`Socket::middleware`]): the first `Err` stops the event and
//!    goes to the [`Socket::on_error`] listeners;
//! 3. if the socket is still connected, every listener of the event ([`Socket::on`]), in
//!    the order they were added.
//!
//! Each step stops as soon as the socket is gone (a listener disconnected it). Listeners
//! are `Rc<RefCell<..>>`, so a list can be copied before it runs (a listener may add
//! listeners) and a listener that would re-enter itself (an outgoing listener that emits)
//! is skipped, with a warning, instead of recursing.

use std::cell::RefCell;
use std::error::Error;
use std::rc::Rc;

use log::{debug, warn};

use super::engine::Engine;
use super::namespace::{Client, Sio, SocketKey};
use super::payload::Payload;
use super::reason::DisconnectReason;
use super::socket::{Ack, Socket};

type Shared<F> = Rc<RefCell<F>>;
type EventFn = dyn FnMut(&mut Socket<'_>, Payload, Option<Ack>);
type AnyFn = dyn FnMut(&mut Socket<'_>, &str, &Payload, Option<Ack>);
type OutgoingFn = dyn FnMut(&mut Socket<'_>, &str, &Payload);
type PacketMiddlewareFn =
    dyn FnMut(&mut Socket<'_>, &str, &mut Payload) -> Result<(), Box<dyn Error>>;
type ErrorFn = dyn FnMut(&mut Socket<'_>, &(dyn Error + 'static));
type DisconnectFn = dyn FnMut(&mut Socket<'_>, DisconnectReason);

/// Everything a socket listens with, each list in the order it runs.
#[derive(Default)]
pub(crate) struct Listeners {
    events: Vec<(Box<str>, Shared<EventFn>)>,
    any: Vec<Shared<AnyFn>>,
    outgoing: Vec<Shared<OutgoingFn>>,
    middlewares: Vec<Shared<PacketMiddlewareFn>>,
    errors: Vec<Shared<ErrorFn>>,
    disconnecting: Vec<Shared<DisconnectFn>>,
    disconnect: Vec<Shared<DisconnectFn>>,
}

/// Which of the two disconnect lists runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    /// Before the socket leaves its rooms (`disconnecting`).
    Disconnecting,
    /// After (`disconnect`).
    Disconnect,
}

/// Calls a listener unless it is already running (it would re-enter itself: skipped, and
/// `None`).
pub(crate) fn call<F: ?Sized, R>(
    listener: &Rc<RefCell<F>>,
    what: &str,
    f: impl FnOnce(&mut F) -> R,
) -> Option<R> {
    match listener.try_borrow_mut() {
        Ok(mut listener) => Some(f(&mut listener)),
        Err(_) => {
            warn!("{what} listener re-entered; skipped");
            None
        }
    }
}

fn exists(sio: &Sio, k: SocketKey) -> bool {
    sio.sockets.get(k).is_some()
}

/// A copy of one of `k`'s lists (empty once the socket is gone).
fn copy<T: Clone>(sio: &Sio, k: SocketKey, list: impl Fn(&Listeners) -> &Vec<T>) -> Vec<T> {
    sio.sockets
        .get(k)
        .map(|sock| list(&sock.listeners).clone())
        .unwrap_or_default()
}

/// An event from the client to socket `k`, through catch-all listeners, packet
/// middlewares and the event's listeners (see the module docs).
pub(crate) fn dispatch_event(
    eng: &mut Engine<Client>,
    sio: &mut Sio,
    k: SocketKey,
    event: &str,
    mut payload: Payload,
    ack: Option<Ack>,
) {
    for listener in copy(sio, k, |l| &l.any) {
        if !exists(sio, k) {
            return;
        }
        let ack = ack.as_ref().map(Ack::share);
        call(&listener, "on_any", |f| {
            f(&mut Socket::new(eng, sio, k), event, &payload, ack)
        });
    }
    for middleware in copy(sio, k, |l| &l.middlewares) {
        if !exists(sio, k) {
            return;
        }
        let verdict = call(&middleware, "packet middleware", |f| {
            f(&mut Socket::new(eng, sio, k), event, &mut payload)
        });
        match verdict {
            Some(Ok(())) => {}
            Some(Err(err)) => return report_error(eng, sio, k, event, &*err),
            // A middleware that cannot run cannot let the packet through.
            None => return,
        }
    }
    // "ignore packet received after disconnection" (socket.ts `dispatch`)
    if !sio.sockets.get(k).is_some_and(|sock| sock.connected) {
        debug!("{event:?} dropped: the socket disconnected");
        return;
    }
    // The first listener apart: the common case, one listener, allocates nothing.
    let (first, rest): (Shared<EventFn>, Vec<Shared<EventFn>>) = {
        let Some(sock) = sio.sockets.get(k) else {
            return;
        };
        let mut matching = (sock.listeners.events.iter())
            .filter(|(name, _)| **name == *event)
            .map(|(_, listener)| Rc::clone(listener));
        let Some(first) = matching.next() else {
            debug!("no listener for {event:?}");
            return;
        };
        (first, matching.collect())
    };
    // Each listener owns its arguments: all but the last get a copy.
    let mut payload = Some(payload);
    let last = rest.len();
    for (i, listener) in std::iter::once(&first).chain(&rest).enumerate() {
        if !exists(sio, k) {
            return;
        }
        let args = match i == last {
            true => payload.take().unwrap_or_default(),
            false => payload.clone().unwrap_or_default(),
        };
        let ack = ack.as_ref().map(Ack::share);
        call(listener, event, |f| {
            f(&mut Socket::new(eng, sio, k), args, ack)
        });
    }
}

/// A packet middleware refused an event: the `error` listeners hear why (the reference
/// emits `error` on the socket), or the log does if there are none.
fn report_error(
    eng: &mut Engine<Client>,
    sio: &mut Sio,
    k: SocketKey,
    event: &str,
    err: &(dyn Error + 'static),
) {
    let listeners = copy(sio, k, |l| &l.errors);
    if listeners.is_empty() {
        // The reference throws (an `error` event with no listener); a peer can cause
        // this at will, hence debug.
        debug!("{event:?} stopped by a packet middleware: {err}");
    }
    for listener in listeners {
        if !exists(sio, k) {
            return;
        }
        call(&listener, "on_error", |f| {
            f(&mut Socket::new(eng, sio, k), err)
        });
    }
}

/// Tells `k`'s outgoing listeners about an event about to be sent to it. For every packet
/// of an event to this socket, emitted to it or broadcast (the reference's adapter calls
/// `notifyOutgoingListeners` for each socket a broadcast reaches); not for acks.
pub(crate) fn notify_outgoing(
    eng: &mut Engine<Client>,
    sio: &mut Sio,
    k: SocketKey,
    event: &str,
    payload: &Payload,
) {
    // The common case, once per socket of a broadcast: nobody listens.
    if sio
        .sockets
        .get(k)
        .is_none_or(|sock| sock.listeners.outgoing.is_empty())
    {
        return;
    }
    for listener in copy(sio, k, |l| &l.outgoing) {
        if !exists(sio, k) {
            return;
        }
        call(&listener, "on_any_outgoing", |f| {
            f(&mut Socket::new(eng, sio, k), event, payload)
        });
    }
}

/// Runs `k`'s `disconnecting` or `disconnect` listeners.
pub(crate) fn disconnected(
    eng: &mut Engine<Client>,
    sio: &mut Sio,
    k: SocketKey,
    reason: DisconnectReason,
    phase: Phase,
) {
    let listeners = match phase {
        Phase::Disconnecting => copy(sio, k, |l| &l.disconnecting),
        Phase::Disconnect => copy(sio, k, |l| &l.disconnect),
    };
    for listener in listeners {
        if !exists(sio, k) {
            return;
        }
        call(&listener, "disconnect", |f| {
            f(&mut Socket::new(eng, sio, k), reason)
        });
    }
}

/// Adding and removing listeners. They can be added from the connection handler, a
/// namespace middleware (they are kept if the socket is accepted) or another listener;
/// once the socket is gone, adding does nothing.
impl Socket<'_> {
    fn listeners(&mut self) -> Option<&mut Listeners> {
        let sock = self.sio.sockets.get_mut(self.key)?;
        Some(&mut sock.listeners)
    }

    /// Listens to an event from the client (`socket.on(event, listener)`). The listener
    /// gets the arguments, and an [`Ack`] if the client asked for an acknowledgement.
    ///
    /// Several listeners of one event all run, in the order they were added, as Node's
    /// `EventEmitter` calls them; each gets its own copy of the arguments (a clone for all
    /// but the last) and its own `Ack`, of which the first [`Ack::send`] answers the
    /// client. Catch-all listeners and packet middlewares run first; see
    /// [`on_any`](Self::on_any) and [`middleware`](Self::middleware).
    ///
    /// ```
    /// # use wsreactor::socketio::{Options, SocketIo};
    /// # let mut io = SocketIo::new(Options::default());
    /// io.of("/").on_connection(|socket| {
    ///     socket.on("chat", |_socket, msg, _ack| log::debug!("chat: {:?}", msg.text(0)));
    ///     socket.on("chat", |socket, msg, _ack| {
    ///         socket.broadcast().emit("chat", msg).ok();
    ///     });
    /// });
    /// ```
    pub fn on(
        &mut self,
        event: &str,
        listener: impl FnMut(&mut Socket<'_>, Payload, Option<Ack>) + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.events
                .push((event.into(), Rc::new(RefCell::new(listener))));
        }
    }

    /// Removes every listener of `event` (Node's `removeAllListeners(event)`: a Rust
    /// closure has no identity to remove it by); returns how many there were.
    pub fn off(&mut self, event: &str) -> usize {
        let Some(l) = self.listeners() else {
            return 0;
        };
        let before = l.events.len();
        l.events.retain(|(name, _)| **name != *event);
        before - l.events.len()
    }

    /// How many listeners `event` has (`socket.listenerCount(event)`).
    pub fn listener_count(&self, event: &str) -> usize {
        self.sio.sockets.get(self.key).map_or(0, |sock| {
            (sock.listeners.events.iter())
                .filter(|(name, _)| **name == *event)
                .count()
        })
    }

    /// Listens to every event from the client (`socket.onAny`): the listener gets the
    /// event's name, its arguments and its [`Ack`] (shared with the event's listeners: the
    /// first to answer does). Catch-all listeners run before the packet middlewares and
    /// the event's listeners, also for an event that has none, as the reference's do.
    ///
    /// ```
    /// # use wsreactor::socketio::{Options, SocketIo};
    /// # let mut io = SocketIo::new(Options::default());
    /// io.of("/").on_connection(|socket| {
    ///     socket.on_any(|socket, event, args, _ack| {
    ///         log::debug!("{} sent {event} with {} arguments", socket.id(), args.args().len());
    ///     });
    /// });
    /// ```
    pub fn on_any(
        &mut self,
        listener: impl FnMut(&mut Socket<'_>, &str, &Payload, Option<Ack>) + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.any.push(Rc::new(RefCell::new(listener)));
        }
    }

    /// As [`on_any`](Self::on_any), but runs before the catch-all listeners added so far
    /// (`socket.prependAny`).
    pub fn prepend_any(
        &mut self,
        listener: impl FnMut(&mut Socket<'_>, &str, &Payload, Option<Ack>) + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.any.insert(0, Rc::new(RefCell::new(listener)));
        }
    }

    /// Removes every catch-all listener (`socket.offAny()`).
    pub fn off_any(&mut self) {
        if let Some(l) = self.listeners() {
            l.any.clear();
        }
    }

    /// Listens to every event sent to this client (`socket.onAnyOutgoing`): the listener
    /// gets the event's name and arguments before it is queued. It hears
    /// [`emit`](Self::emit), [`send`](Self::send) and
    /// [`emit_with_ack`](Self::emit_with_ack) (without the ack), not the answers to the
    /// client's acks, as the reference's does, and every broadcast that reaches this
    /// socket ([`Broadcast`](super::Broadcast), [`IoHandle`](super::IoHandle)). A listener
    /// that emits to its own socket does not hear that emit (it would recurse).
    pub fn on_any_outgoing(
        &mut self,
        listener: impl FnMut(&mut Socket<'_>, &str, &Payload) + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.outgoing.push(Rc::new(RefCell::new(listener)));
        }
    }

    /// As [`on_any_outgoing`](Self::on_any_outgoing), but runs before the outgoing
    /// listeners added so far (`socket.prependAnyOutgoing`).
    pub fn prepend_any_outgoing(
        &mut self,
        listener: impl FnMut(&mut Socket<'_>, &str, &Payload) + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.outgoing.insert(0, Rc::new(RefCell::new(listener)));
        }
    }

    /// Removes every outgoing listener (`socket.offAnyOutgoing()`).
    pub fn off_any_outgoing(&mut self) {
        if let Some(l) = self.listeners() {
            l.outgoing.clear();
        }
    }

    /// Adds a packet middleware (Socket.IO's `socket.use`): it runs for each event from the
    /// client, after the catch-all listeners and before the event's listeners, in the
    /// order middlewares were added, and may change the arguments. The first `Err` stops
    /// the event: no later middleware or listener sees it, and the error goes to the
    /// [`on_error`](Self::on_error) listeners (logged at debug level if there are none;
    /// the reference throws). The client is not told; if it asked for an ack, it waits
    /// for its own timeout.
    ///
    /// The error is the app's own, boxed (`Err("not allowed".into())`, or any error with
    /// `?`), and handed back as it is to `on_error`, which may downcast it.
    ///
    /// ```
    /// # use wsreactor::socketio::{Options, SocketIo};
    /// # let mut io = SocketIo::new(Options::default());
    /// io.of("/").on_connection(|socket| {
    ///     socket.middleware(|_socket, event, _args| match event {
    ///         "admin:reset" => Err("not an admin".into()),
    ///         _ => Ok(()),
    ///     });
    ///     socket.on_error(|socket, err| {
    ///         log::info!("{}: {err}", socket.id());
    ///         socket.disconnect(false);
    ///     });
    /// });
    /// ```
    pub fn middleware(
        &mut self,
        middleware: impl FnMut(&mut Socket<'_>, &str, &mut Payload) -> Result<(), Box<dyn Error>>
            + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.middlewares.push(Rc::new(RefCell::new(middleware)));
        }
    }

    /// Listens to the errors of this socket's packet middlewares (the reference's `error`
    /// event on a server socket), in the order added.
    pub fn on_error(
        &mut self,
        listener: impl FnMut(&mut Socket<'_>, &(dyn Error + 'static)) + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.errors.push(Rc::new(RefCell::new(listener)));
        }
    }

    /// Runs when the socket is leaving its namespace, with the reason, while it is still
    /// in its rooms (the reference's `disconnecting`): the place to tell them.
    /// [`connected`](Self::connected) is already `false` and emits to it are dropped (the
    /// client has left, or is told it is leaving); broadcasts to others go out.
    ///
    /// ```
    /// # use wsreactor::socketio::{Options, SocketIo};
    /// # let mut io = SocketIo::new(Options::default());
    /// io.of("/").on_connection(|socket| {
    ///     socket.on_disconnecting(|socket, _reason| {
    ///         let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    ///         for room in rooms {
    ///             let id = socket.id().to_owned();
    ///             socket.to(&room).emit("left", id).ok();
    ///         }
    ///     });
    /// });
    /// ```
    pub fn on_disconnecting(
        &mut self,
        listener: impl FnMut(&mut Socket<'_>, DisconnectReason) + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.disconnecting.push(Rc::new(RefCell::new(listener)));
        }
    }

    /// Runs when the socket has left its namespace, with the reason (the reference's
    /// `disconnect`): it is in no room any more (see
    /// [`on_disconnecting`](Self::on_disconnecting)), its [`data`](Self::data) is still
    /// there. Several listeners run in the order added.
    pub fn on_disconnect(
        &mut self,
        listener: impl FnMut(&mut Socket<'_>, DisconnectReason) + 'static,
    ) {
        if let Some(l) = self.listeners() {
            l.disconnect.push(Rc::new(RefCell::new(listener)));
        }
    }
}
