//! The Socket.IO layer on Engine.IO sessions: namespaces, sockets, events, acks.
//!
//! One Engine.IO session (a "client") carries one socket per namespace it connected to.
//! Packets are decoded per client (a binary packet waits for its attachments, which
//! arrive as the next Engine.IO messages) and dispatched to the socket of their namespace.
//! Each client keeps one deadline for the engine: the earliest of its connect timeout
//! (no namespace joined yet) and its sockets' ack timeouts, kept in one heap per client.
//!
//! This file holds the state ([`Namespace`], each socket's `SocketState`, the per-session
//! `Client`, and `Sio` over them all) and the way a connection is accepted; the handles a
//! callback is lent to act on it ([`Socket`], `Broadcast`, [`Ack`]) are in `socket.rs`,
//! namespace middlewares in `middleware.rs`, a socket's listeners and the order they run
//! in in `listeners.rs`, dynamic namespaces in `dynamic.rs`.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::Extensions;

use log::debug;
use serde_json::Value;
use tungstenite::Bytes;

use super::adapter::Collectors;
use super::attachments::Reassembly;
use super::dynamic::Parent;
use super::engine::packet::{Incoming, Out};
use super::engine::{App, Engine, SessKey};
use super::handshake::{Handshake, Opening};
use super::io_handle::{Inbox, IoHandle};
use super::listeners::{self, call, Listeners, Phase};
use super::middleware::{Chain, ConnectError};
use super::packet::{self, Kind, Packet};
use super::payload::Payload;
use super::peers::{Peers, Team, WaitKey, Waiting};
use super::reason::DisconnectReason;
use super::recovery::{Recovery, Store};
#[cfg(feature = "redis")]
use super::server_side::ServerSideFn;
use super::socket::{send_packet, Ack, AckError, Socket};
use crate::http::Request;
use crate::rooms::{RoomLimits, Rooms};
use crate::slab::{key_type, Slab};

pub(crate) type AckFn = Box<dyn FnOnce(&mut Socket<'_>, Result<Payload, AckError>)>;
type ConnectionFn = dyn FnMut(&mut Socket<'_>);

key_type! {
    /// A socket's key: slot and generation.
    pub(crate) struct SocketKey;
}

/// A namespace: who may connect to it, what happens when they do, its rooms.
///
/// Made with [`SocketIo::of`](super::SocketIo::of), or as the parent of dynamic namespaces
/// with [`SocketIo::of_dynamic`](super::SocketIo::of_dynamic).
pub struct Namespace {
    pub(crate) name: String,
    middlewares: Chain,
    on_connection: Vec<Rc<RefCell<ConnectionFn>>>,
    /// Made on the fly for a parent (dynamic.rs).
    child: bool,
    pub(crate) rooms: Rooms<SocketKey>,
    pub(crate) members: HashSet<SocketKey>,
    /// Kept sessions and events, with recovery on; made on first use (recovery.rs).
    pub(crate) recovery: Option<Store>,
    /// Listeners of events from the other nodes of a cluster (server_side.rs).
    #[cfg(feature = "redis")]
    pub(crate) server_side: Vec<(Box<str>, Rc<RefCell<ServerSideFn>>)>,
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("middlewares", &self.middlewares.len())
            .field("sockets", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(crate) fn new(name: &str, limits: RoomLimits) -> Self {
        Namespace {
            name: name.to_owned(),
            middlewares: Chain::default(),
            on_connection: Vec::new(),
            child: false,
            rooms: Rooms::new(limits),
            members: HashSet::new(),
            recovery: None,
            #[cfg(feature = "redis")]
            server_side: Vec::new(),
        }
    }

    /// A child of a dynamic parent, with its middlewares and connection handlers.
    pub(crate) fn child(name: &str, parent: &Namespace, limits: RoomLimits) -> Self {
        Namespace {
            name: name.to_owned(),
            middlewares: parent.middlewares.clone(),
            on_connection: parent.on_connection.clone(),
            child: true,
            rooms: Rooms::new(limits),
            members: HashSet::new(),
            recovery: None,
            #[cfg(feature = "redis")]
            server_side: Vec::new(),
        }
    }

    pub(crate) fn is_child(&self) -> bool {
        self.child
    }

    /// Adds a middleware (Socket.IO's `namespace.use`): every connection to the namespace
    /// goes through the middlewares in the order they were added before it is accepted.
    /// Each gets the socket being connected: its [`handshake`](Socket::handshake) (headers,
    /// query, `auth`) to decide by, its [`data_mut`](Socket::data_mut) to attach what the
    /// connection handler and the socket's listeners will read. The first `Err` refuses:
    /// the client gets `connect_error` with the error's message and data (`err.message`,
    /// `err.data` in `socket.on("connect_error", (err) => ...)`), and the namespace never
    /// sees the socket.
    ///
    /// A middleware runs to completion on the reactor's thread; there is no deferred
    /// `next`. For work that takes time (a database, another service), start it and refuse
    /// with a message the client acts on (the official client does not retry a refusal by
    /// itself: its `connect_error` handler calls `socket.connect()` again, and by then the
    /// answer is known), or accept, check afterwards and
    /// [`disconnect`](Socket::disconnect) the socket if the check fails.
    ///
    /// ```
    /// use wsreactor::socketio::{ConnectError, Options, SocketIo};
    /// #[derive(Clone)]
    /// struct User(String);
    /// let mut io = SocketIo::new(Options::default());
    /// io.of("/")
    ///     .middleware(|socket| {
    ///         let token = socket.handshake().auth()["token"].as_str().map(str::to_owned);
    ///         match token {
    ///             Some(token) if token.starts_with("user:") => {
    ///                 socket.data_mut().insert(User(token[5..].to_owned()));
    ///                 Ok(())
    ///             }
    ///             _ => Err(ConnectError::new("unauthorized").with_data(json!({"retry": false}))),
    ///         }
    ///     })
    ///     .on_connection(|socket| {
    ///         let name = socket.data().get::<User>().map(|u| u.0.clone()).unwrap_or_default();
    ///         socket.emit("welcome", name).ok();
    ///     });
    /// # use wsreactor::serde_json::json;
    /// ```
    pub fn middleware(
        &mut self,
        middleware: impl FnMut(&mut Socket<'_>) -> Result<(), ConnectError> + 'static,
    ) -> &mut Self {
        self.middlewares.push(middleware);
        self
    }

    /// A [`middleware`](Self::middleware) that decides from the `auth` the client sent
    /// (`{}` if none) and the HTTP request that opened its connection. Each call adds one.
    pub fn auth(
        &mut self,
        mut check: impl FnMut(&Value, &Request) -> Result<(), ConnectError> + 'static,
    ) -> &mut Self {
        self.middleware(move |socket| {
            let handshake = socket.handshake();
            check(handshake.auth(), handshake.request())
        })
    }

    /// Adds a handler for each socket that connects (Socket.IO's `connection` event),
    /// after the middlewares accepted it and the client was told it is connected: the
    /// place to add its listeners. Several handlers run in the order added.
    pub fn on_connection(&mut self, handler: impl FnMut(&mut Socket<'_>) + 'static) -> &mut Self {
        self.on_connection.push(Rc::new(RefCell::new(handler)));
        self
    }

    /// Adds a listener of `event` sent by another node of the cluster with Node's
    /// `io.serverSideEmit(event, ...args)` (the reference's `io.on(event, listener)` on a
    /// namespace). It gets the arguments and, if the sender asked for an answer, a
    /// [`ServerSideAck`](super::ServerSideAck). With several reactors add it on each: an
    /// event runs the listeners of one. A node's own server-side events do not reach it
    /// (as in the reference). Events of a dynamic namespace's children are not listened
    /// to.
    #[cfg(feature = "redis")]
    pub fn on_server_side(
        &mut self,
        event: &str,
        listener: impl FnMut(Payload, Option<super::ServerSideAck>) + 'static,
    ) -> &mut Self {
        (self.server_side).push((event.into(), Rc::new(RefCell::new(listener))));
        self
    }

    /// Sockets connected to this namespace.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no socket is connected.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// What a socket handle needs even after its socket is gone.
#[derive(Debug)]
pub(crate) struct Info {
    pub(crate) sid: Arc<str>,
    pub(crate) ns: usize,
    pub(crate) handshake: Handshake,
    /// The private id its client recovers it with, with recovery on.
    pub(crate) pid: Option<Arc<str>>,
    pub(crate) recovered: bool,
    /// When it connected, in the endpoint's order (`fetch_sockets` answers in it).
    pub(crate) seq: u64,
}

pub(crate) struct PendingAck {
    id: u64,
    callback: AckFn,
}

pub(crate) struct SocketState {
    pub(crate) info: Rc<Info>,
    pub(crate) session: SessKey,
    pub(crate) listeners: Listeners,
    /// `socket.data`: whatever the app attached.
    pub(crate) data: Extensions,
    acks: Vec<PendingAck>,
    pub(crate) connected: bool,
}

impl fmt::Debug for SocketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketState")
            .field("sid", &self.info.sid)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

/// Socket.IO's state for one Engine.IO session.
#[derive(Debug, Default)]
pub(crate) struct Client {
    /// (namespace, socket) for each namespace it joined.
    sockets: Vec<(usize, SocketKey)>,
    /// Its binary packet waiting for attachments, if any.
    reassembly: Reassembly,
    connect_by: Option<Instant>,
    acks: BinaryHeap<Reverse<(Instant, SocketKey, u64)>>,
    opening: Option<Arc<Opening>>,
}

/// Every namespace and socket of a Socket.IO endpoint.
#[derive(Debug)]
pub(crate) struct Sio {
    pub(crate) namespaces: Vec<Namespace>,
    pub(crate) sockets: Slab<SocketKey, SocketState>,
    pub(crate) connect_timeout: Duration,
    /// The room limits of every namespace.
    room_limits: RoomLimits,
    /// Dynamic namespaces' parents, asked in order (dynamic.rs).
    pub(crate) parents: Vec<Parent>,
    /// How many child namespaces may exist at once.
    pub(crate) max_children: usize,
    /// Connection state recovery, if on.
    pub(crate) recovery: Option<Recovery>,
    /// Operations from [`IoHandle`](super::IoHandle)s; out only while they run.
    pub(crate) inbox: Option<Inbox>,
    /// Broadcasts waiting for acknowledgements.
    pub(crate) collectors: Collectors,
    /// With several reactors: operations of callbacks waiting for every reactor's part.
    pub(crate) waiting: Slab<WaitKey, Waiting>,
    /// With several reactors: the endpoints of this path on the others.
    pub(crate) team: Option<Team>,
    /// The id of the next packet that asks for an acknowledgement: one sequence for the
    /// endpoint, so a broadcast's id (the same for every recipient) never meets another
    /// pending id of one of them.
    next_ack: u64,
    /// Sockets made so far: each one's `Info::seq`.
    sockets_made: u64,
    /// The cluster this node's broadcasts are published to.
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<super::RedisAdapter>,
}

impl Sio {
    pub(crate) fn new(
        connect_timeout: Duration,
        room_limits: RoomLimits,
        max_children: usize,
    ) -> Self {
        let (_, inbox) = IoHandle::new();
        Sio {
            namespaces: Vec::new(),
            sockets: Slab::default(),
            connect_timeout,
            room_limits,
            parents: Vec::new(),
            max_children,
            recovery: None,
            inbox: Some(inbox),
            collectors: Collectors::default(),
            waiting: Slab::default(),
            team: None,
            next_ack: 0,
            sockets_made: 0,
            #[cfg(feature = "redis")]
            redis: None,
        }
    }

    /// The room limits of a namespace. Every socket is also in its own room
    /// (`join_unlimited`), which the limit does not count.
    pub(crate) fn room_limits(&self) -> RoomLimits {
        RoomLimits {
            max_rooms: self.room_limits.max_rooms.saturating_add(1),
            ..self.room_limits
        }
    }

    pub(crate) fn namespace(&mut self, name: &str) -> &mut Namespace {
        let i = match self.namespaces.iter().position(|n| n.name == name) {
            Some(i) => i,
            None => {
                let namespace = Namespace::new(name, self.room_limits());
                #[cfg(feature = "redis")]
                if let Some(redis) = &self.redis {
                    redis.serve(name);
                }
                self.namespaces.push(namespace);
                self.namespaces.len() - 1
            }
        };
        &mut self.namespaces[i]
    }

    /// A packet with its attachments, from a client.
    fn dispatch(&mut self, eng: &mut Engine<Client>, s: SessKey, packet: Packet, bins: Vec<Bytes>) {
        let namespaces = &self.namespaces;
        let joined = eng.client_mut(s).and_then(|c| {
            (c.sockets.iter())
                .find(|(i, _)| namespaces[*i].name == packet.nsp)
                .map(|&(_, k)| k)
        });
        match (packet.kind, joined) {
            (Kind::Connect, None) => self.connect(eng, s, &packet),
            (Kind::Event | Kind::BinaryEvent, Some(k)) => {
                self.event(eng, k, packet.data, bins, packet.id);
            }
            (Kind::Ack | Kind::BinaryAck, Some(k)) => {
                if let (Some(id), Some(Value::Array(args))) = (packet.id, packet.data) {
                    self.ack(eng, k, id, Payload { args, bins });
                }
            }
            (Kind::Disconnect, Some(k)) => {
                self.disconnect(eng, k, DisconnectReason::ClientNamespaceDisconnect, false);
            }
            // A second CONNECT, CONNECT_ERROR from a client, or a packet for a namespace
            // the client has not joined: the reference closes the connection.
            _ => {
                debug!(
                    "invalid state for a {:?} packet on {}",
                    packet.kind, packet.nsp
                );
                self.close_client(eng, s, DisconnectReason::ForcedServerClose, false);
            }
        }
    }

    /// A CONNECT: the namespace (or a new dynamic one), its middlewares, then the socket
    /// joins (namespace.ts `_add`, `run`, `_doConnect`).
    fn connect(&mut self, eng: &mut Engine<Client>, s: SessKey, packet: &Packet) {
        let Some(opening) = eng.client_mut(s).and_then(|c| c.opening.clone()) else {
            return;
        };
        let auth = packet
            .data
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let handshake = Handshake::new(opening, auth);
        let Some(ns) = self.resolve(&packet.nsp, &handshake) else {
            let text = packet::connect_error(&packet.nsp, "Invalid namespace", None);
            eng.send(s, Out::Text(text.into()));
            return;
        };
        let mut restored = self.restore(eng, ns, handshake.auth());
        let (sid, pid): (Arc<str>, Option<Arc<str>>) = match &restored {
            Some((kept, _)) => (kept.sid.as_str().into(), Some(kept.pid.as_str().into())),
            None => (
                eng.new_id().into(),
                self.recovery.as_ref().map(|_| eng.new_id().into()),
            ),
        };
        let data = (restored.as_mut())
            .map_or_else(Extensions::new, |(kept, _)| std::mem::take(&mut kept.data));
        self.sockets_made += 1;
        let seq = self.sockets_made;
        // Not connected yet: the middlewares see it, emits and joins are refused.
        let k = self.sockets.insert(SocketState {
            info: Rc::new(Info {
                sid: Arc::clone(&sid),
                ns,
                handshake,
                pid: pid.clone(),
                recovered: restored.is_some(),
                seq,
            }),
            session: s,
            listeners: Listeners::default(),
            data,
            acks: Vec::new(),
            connected: false,
        });
        let skip = restored.is_some() && self.store(ns).is_some_and(|st| st.skips_middlewares());
        let verdict = match skip {
            true => Ok(()),
            false => self.namespaces[ns].middlewares.clone().run(eng, self, k),
        };
        let name = &self.namespaces[ns].name;
        if eng.client_mut(s).is_none() {
            // "next called after client was closed - ignoring socket"
            self.sockets.remove(k);
            return;
        }
        if let Err(refused) = verdict {
            debug!("{name}: refused: {}", refused.message);
            let text = packet::connect_error(name, &refused.message, refused.data.as_ref());
            eng.send(s, Out::Text(text.into()));
            self.sockets.remove(k);
            return;
        }
        let Some(sock) = self.sockets.get_mut(k) else {
            return;
        };
        sock.connected = true;
        let namespace = &mut self.namespaces[ns];
        // "each socket joins a room identified by its own id"
        // Not counted against the limits: the protocol requires it, the server names it.
        namespace.rooms.join_unlimited(k, &sid);
        namespace.members.insert(k);
        let (rooms, missed) = restored.map(|(kept, missed)| (kept.rooms, missed)).unzip();
        for room in rooms.iter().flatten().filter(|r| **r != *sid) {
            // Within the limits when they were left; a join refused now stays out.
            let _ = namespace.rooms.join(k, room);
        }
        if let Some(client) = eng.client_mut(s) {
            client.sockets.push((ns, k));
            client.connect_by = None;
        }
        refresh_deadline(eng, s);
        // What it missed, in order, before CONNECT as the reference sends them: the client
        // holds them until CONNECT, then fires them before its `connect` event.
        for logged in missed.into_iter().flatten() {
            send_packet(eng, s, logged.text, &logged.bins);
        }
        // The client hears it is connected before, and apart from, the handler's first emit.
        let connect = packet::connect(&namespace.name, &sid, pid.as_deref());
        eng.send(s, Out::Text(connect.into()));
        eng.pace(s);
        debug!("{}: socket {sid} connected", namespace.name);
        for handler in namespace.on_connection.clone() {
            if self.sockets.get(k).is_none() {
                break;
            }
            call(&handler, "on_connection", |f| {
                f(&mut Socket::new(eng, self, k))
            });
        }
    }

    fn event(
        &mut self,
        eng: &mut Engine<Client>,
        k: SocketKey,
        data: Option<Value>,
        bins: Vec<Bytes>,
        id: Option<u64>,
    ) {
        let Some(Value::Array(mut args)) = data else {
            return;
        };
        let name = packet::event_name(args.remove(0));
        let ack = id.map(|id| Ack::new(k, id));
        listeners::dispatch_event(eng, self, k, &name, Payload { args, bins }, ack);
    }

    fn ack(&mut self, eng: &mut Engine<Client>, k: SocketKey, id: u64, payload: Payload) {
        let Some(sock) = self.sockets.get_mut(k) else {
            return;
        };
        // An ack that timed out, or that we never asked for, is ignored.
        let Some(i) = sock.acks.iter().position(|a| a.id == id) else {
            return;
        };
        let pending = sock.acks.swap_remove(i);
        (pending.callback)(&mut Socket::new(eng, self, k), Ok(payload));
    }

    /// A fresh id for a packet that asks for an acknowledgement.
    pub(crate) fn ack_id(&mut self) -> u64 {
        self.next_ack += 1;
        self.next_ack
    }

    /// Registers an ack callback for packet `id` to socket `k`, due by `deadline`; `false`
    /// (the callback dropped) if the socket is gone.
    pub(crate) fn expect_ack(
        &mut self,
        eng: &mut Engine<Client>,
        k: SocketKey,
        id: u64,
        deadline: Instant,
        callback: AckFn,
    ) -> bool {
        let Some(sock) = self.sockets.get_mut(k) else {
            return false;
        };
        sock.acks.push(PendingAck { id, callback });
        let s = sock.session;
        let Some(client) = eng.client_mut(s) else {
            return false;
        };
        client.acks.push(Reverse((deadline, k, id)));
        refresh_deadline(eng, s);
        true
    }

    /// Disconnects one socket from its namespace. `notify`: tell the client (a DISCONNECT
    /// packet), when the server decided it. Emits to it are dropped from then on; its
    /// `disconnecting` listeners run while it is still in its rooms, its `disconnect`
    /// listeners once it has left them (socket.ts `_onclose`); then its pending acks fail.
    pub(crate) fn disconnect(
        &mut self,
        eng: &mut Engine<Client>,
        k: SocketKey,
        reason: DisconnectReason,
        notify: bool,
    ) {
        let Some(sock) = self.sockets.get_mut(k) else {
            return;
        };
        if !sock.connected {
            return;
        }
        sock.connected = false;
        let (s, ns) = (sock.session, sock.info.ns);
        debug!("socket {} disconnected: {reason}", sock.info.sid);
        if notify {
            let text = packet::disconnect(&self.namespaces[ns].name);
            eng.send(s, Out::Text(text.into()));
        }
        listeners::disconnected(eng, self, k, reason, Phase::Disconnecting);
        if reason.is_recoverable() {
            self.persist(eng, k);
        }
        let namespace = &mut self.namespaces[ns];
        namespace.rooms.leave_all(k);
        namespace.members.remove(&k);
        if let Some(client) = eng.client_mut(s) {
            client.sockets.retain(|&(_, key)| key != k);
        }
        listeners::disconnected(eng, self, k, reason, Phase::Disconnect);
        let acks = match self.sockets.get_mut(k) {
            Some(sock) => std::mem::take(&mut sock.acks),
            None => Vec::new(),
        };
        for pending in acks {
            (pending.callback)(&mut Socket::new(eng, self, k), Err(AckError::Disconnected));
        }
        self.sockets.remove(k);
    }

    /// Disconnects every socket of the client and closes its connection (what is queued
    /// still goes out).
    pub(crate) fn close_client(
        &mut self,
        eng: &mut Engine<Client>,
        s: SessKey,
        reason: DisconnectReason,
        notify: bool,
    ) {
        for k in sockets_of(eng, s) {
            self.disconnect(eng, k, reason, notify);
        }
        eng.close(s);
    }
}

fn sockets_of(eng: &mut Engine<Client>, s: SessKey) -> Vec<SocketKey> {
    eng.client_mut(s)
        .map(|c| c.sockets.iter().map(|&(_, k)| k).collect())
        .unwrap_or_default()
}

/// Tells the engine the client's earliest deadline.
fn refresh_deadline(eng: &mut Engine<Client>, s: SessKey) {
    let Some(client) = eng.client_mut(s) else {
        return;
    };
    let ack = client.acks.peek().map(|Reverse((at, _, _))| *at);
    let next = [client.connect_by, ack].into_iter().flatten().min();
    eng.set_app_deadline(s, next);
}

impl App for Sio {
    type Client = Client;

    fn on_start(&mut self, handle: &crate::Handle, reactor: usize, peers: Option<Arc<Peers>>) {
        let Some(inbox) = &self.inbox else {
            return;
        };
        if let Some(peers) = &peers {
            let (peers, own) = (Arc::clone(peers), inbox.handle());
            self.team = Some(Team {
                reactor,
                peers,
                own,
            });
        }
        inbox.start(handle, reactor, peers);
    }

    fn on_notify(&mut self, eng: &mut Engine<Client>) {
        if let Some(inbox) = self.inbox.take() {
            inbox.run(self, eng);
            self.inbox = Some(inbox);
        }
    }

    /// A request of this node to the other nodes timed out.
    #[cfg(feature = "redis")]
    fn on_app_timer(&mut self, _eng: &mut Engine<Client>, token: u64) {
        if let Some(redis) = &self.redis {
            redis.expire(token);
        }
    }

    fn on_open(&mut self, eng: &mut Engine<Client>, s: SessKey, req: &Request, peer: SocketAddr) {
        let connect_by = eng.now().map(|now| now + self.connect_timeout);
        if let Some(client) = eng.client_mut(s) {
            client.connect_by = connect_by;
            let opening = Opening::new(req.clone(), peer, SystemTime::now());
            client.opening = Some(Arc::new(opening));
        }
        refresh_deadline(eng, s);
    }

    fn on_message(&mut self, eng: &mut Engine<Client>, s: SessKey, msg: Incoming<'_>) {
        let Some(client) = eng.client_mut(s) else {
            return;
        };
        match client.reassembly.push(msg) {
            Ok(Some((packet, bins))) => self.dispatch(eng, s, packet, bins),
            Ok(None) => {}
            Err(broken) => {
                debug!("{broken}");
                self.close_client(eng, s, DisconnectReason::ParseError, false);
            }
        }
    }

    fn on_close(&mut self, eng: &mut Engine<Client>, s: SessKey, reason: DisconnectReason) {
        for k in sockets_of(eng, s) {
            self.disconnect(eng, k, reason, false);
        }
    }

    fn on_deadline(&mut self, eng: &mut Engine<Client>, s: SessKey) {
        let (Some(now), Some(client)) = (eng.now(), eng.client_mut(s)) else {
            return;
        };
        if client.connect_by.is_some_and(|at| at <= now) {
            client.connect_by = None;
            if client.sockets.is_empty() {
                debug!("no namespace joined within the connect timeout");
                eng.close(s);
                return;
            }
        }
        loop {
            let Some(client) = eng.client_mut(s) else {
                return;
            };
            match client.acks.peek() {
                Some(Reverse((at, _, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((_, k, id))) = client.acks.pop() else {
                break;
            };
            let Some(sock) = self.sockets.get_mut(k) else {
                continue;
            };
            // Answered already, or failed on disconnect: nothing left to time out.
            let Some(i) = sock.acks.iter().position(|a| a.id == id) else {
                continue;
            };
            let pending = sock.acks.swap_remove(i);
            (pending.callback)(&mut Socket::new(eng, self, k), Err(AckError::Timeout));
        }
        refresh_deadline(eng, s);
    }
}
