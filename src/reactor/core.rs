//! The state every callback can touch: connections, the per-pass work lists, timers.
//!
//! Operations here only queue work: bytes into outbound buffers, ids into the flush list,
//! owed `on_close` calls into `closed`. The reactor does the I/O and runs the callbacks.

use std::net::SocketAddr;
use std::time::Instant;

use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::WebSocketConfig;

use super::timers::Timers;
use super::token::{ConnId, Slab};
use crate::config::Config;
use crate::conn::frame::{self, OpCode};
use crate::conn::upgrade::Handshake;
use crate::conn::{Conn, Phase};
use crate::error::{Cause, Disconnect};
use crate::handle::Handle;
use crate::http::Response;
use crate::rooms::Rooms;
use crate::{Bytes, CloseCode, Message};

/// Connections plus the work queued for the end of the pass.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) conns: Slab<Conn>,
    pub(crate) config: Config,
    pub(crate) ws_config: WebSocketConfig,
    /// The time of this pass, read once after `poll` returns.
    pub(crate) now: Instant,
    pub(crate) timers: Timers,
    /// Timers set by the handler (`Ctx::set_timer`), by key.
    pub(crate) user_timers: Timers<u64>,
    /// Connections with bytes to write this pass.
    pub(crate) dirty: Vec<ConnId>,
    /// Connections to read this pass (readable events) or next pass (input left over),
    /// each at most once.
    pub(crate) ready: Vec<ConnId>,
    /// Ended connections whose `on_close` is owed.
    pub(crate) closed: Vec<(ConnId, SocketAddr, Disconnect)>,
    pub(crate) rooms: Rooms,
    /// Handed out by `Ctx::handle`.
    pub(crate) handle: Handle,
    /// Reused list of recipients, so publishing does not allocate.
    scratch: Vec<ConnId>,
}

/// What a message becomes on the wire.
enum Outgoing {
    Frame(OpCode, Bytes),
    Close(CloseFrame),
    Nothing,
}

fn outgoing(msg: Message) -> Outgoing {
    let (opcode, payload) = match msg {
        Message::Text(text) => (OpCode::Text, Bytes::from(text)),
        Message::Binary(data) => (OpCode::Binary, data),
        Message::Ping(data) => (OpCode::Ping, data),
        Message::Pong(data) => (OpCode::Pong, data),
        Message::Close(frame) => {
            let normal = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            return Outgoing::Close(frame.unwrap_or(normal));
        }
        Message::Frame(_) => return Outgoing::Nothing,
    };
    // "All control frames MUST have a payload length of 125 bytes or less" (RFC 6455 §5.5)
    if matches!(opcode, OpCode::Ping | OpCode::Pong) && payload.len() > 125 {
        return Outgoing::Nothing;
    }
    Outgoing::Frame(opcode, payload)
}

impl Core {
    pub(crate) fn new(config: Config, handle: Handle) -> Self {
        Core {
            rooms: Rooms::default(),
            handle,
            scratch: Vec::new(),
            conns: Slab::default(),
            ws_config: config.ws_config(),
            config,
            now: Instant::now(),
            timers: Timers::default(),
            user_timers: Timers::default(),
            dirty: Vec::new(),
            ready: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// Queues a message on a connection (large payloads by reference). `false` if it was
    /// not queued.
    pub(crate) fn send(&mut self, id: ConnId, msg: Message) -> bool {
        match outgoing(msg) {
            Outgoing::Frame(opcode, payload) => self.send_frame(id, opcode, payload),
            Outgoing::Close(frame) => self.close(id, frame, Cause::ServerClosed),
            Outgoing::Nothing => false,
        }
    }

    /// Sends a message to every member of `room` but `except`. A payload of
    /// `SHARE_MIN` (2 KiB) or more is shared by every recipient (each gets only its own
    /// frame header); a smaller one is copied, which costs less than sharing it. Returns
    /// how many it was queued for.
    pub(crate) fn publish(&mut self, room: &str, msg: Message, except: Option<ConnId>) -> usize {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.extend(self.rooms.members(room).filter(|&id| Some(id) != except));
        let sent = self.send_many(&ids, msg);
        ids.clear();
        self.scratch = ids;
        sent
    }

    /// Sends a message to every open connection but `except`, as `publish` does.
    pub(crate) fn broadcast(&mut self, msg: Message, except: Option<ConnId>) -> usize {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.extend(self.conns.ids().filter(|&id| Some(id) != except));
        let sent = self.send_many(&ids, msg);
        ids.clear();
        self.scratch = ids;
        sent
    }

    fn send_many(&mut self, ids: &[ConnId], msg: Message) -> usize {
        let Outgoing::Frame(opcode, payload) = outgoing(msg) else {
            return 0;
        };
        let sent = ids
            .iter()
            .filter(|&&id| self.send_frame(id, opcode, payload.clone()));
        sent.count()
    }

    fn send_frame(&mut self, id: ConnId, opcode: OpCode, payload: Bytes) -> bool {
        if !self.admit(id, frame::encoded_len(payload.len())) {
            return false;
        }
        if let Some(conn) = self.conns.get_mut(id) {
            conn.out.push_frame(opcode, payload);
        }
        self.mark_dirty(id);
        true
    }

    /// Whether `len` more bytes may be queued to `id`: it is open and not closing, and its
    /// queue stays within `max_backpressure`. Over the limit, the connection is failed
    /// with 1008. A single frame larger than the limit still goes out on an empty queue,
    /// so the bound is max(limit, one message).
    fn admit(&mut self, id: ConnId, len: usize) -> bool {
        let limit = self.config.max_backpressure;
        let Some(conn) = self.conns.get_mut(id) else {
            return false;
        };
        if conn.writable_ws().is_none() {
            return false;
        }
        let pending = conn.out.pending();
        if pending > 0 && pending + len > limit {
            let why = Disconnect::new(CloseCode::Policy, "backpressure", Cause::Backpressure);
            self.fail(id, why);
            return false;
        }
        true
    }

    /// Answers a plain HTTP request the handler holds. A kept-alive connection goes back to
    /// reading the next request; otherwise it closes after the response. `false` if the
    /// connection is gone or has no request waiting.
    pub(crate) fn respond(&mut self, id: ConnId, response: &Response) -> bool {
        let at = self.now + self.config.handshake_timeout;
        let Some(conn) = self.conns.get_mut(id) else {
            return false;
        };
        let Phase::HttpHeld { keep_alive } = conn.phase else {
            return false;
        };
        response.write_to(&mut conn.out.buf, keep_alive);
        if keep_alive {
            conn.phase = Phase::Handshake(Handshake::default());
            conn.deadline = Some(at);
            arm(&mut self.timers, conn, id, at);
        } else {
            self.finish(id, Disconnect::reset());
        }
        self.mark_dirty(id);
        true
    }

    /// Starts the close handshake; the connection ends when the peer answers or the close
    /// timeout passes. `false` if it is gone or already closing.
    pub(crate) fn close(&mut self, id: ConnId, frame: CloseFrame, cause: Cause) -> bool {
        let at = self.now + self.config.close_timeout;
        let Some(conn) = self.conns.get_mut(id) else {
            return false;
        };
        let why = Disconnect::new(frame.code, frame.reason.as_str(), cause);
        if !conn.send_close(frame) {
            return false;
        }
        conn.closing = Some(why);
        conn.deadline = Some(at);
        arm(&mut self.timers, conn, id, at);
        self.mark_dirty(id);
        true
    }

    /// Fails the connection (RFC 6455 §7.1.7): sends a close frame with the code if it
    /// still can, and ends the connection without waiting for the answer.
    pub(crate) fn fail(&mut self, id: ConnId, why: Disconnect) {
        if let Some(conn) = self.conns.get_mut(id) {
            let frame = CloseFrame {
                code: why.code,
                reason: why.reason.as_str().into(),
            };
            conn.send_close(frame);
            self.finish(id, why);
        }
    }

    /// Ends the connection: no more frames either way; what is queued is still written.
    /// Owes `on_close` if the connection was opened. Idempotent.
    pub(crate) fn finish(&mut self, id: ConnId, why: Disconnect) {
        let at = self.now + self.config.close_timeout;
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if matches!(conn.phase, Phase::Linger { .. }) {
            return;
        }
        conn.linger();
        conn.closing = None;
        if std::mem::take(&mut conn.opened) {
            self.closed.push((id, conn.peer, why));
        }
        conn.deadline = Some(at);
        arm(&mut self.timers, conn, id, at);
        self.mark_dirty(id);
    }

    /// Drops the connection now (the socket is closed). Owes `on_close` if it was open.
    pub(crate) fn remove(&mut self, id: ConnId, why: Disconnect) {
        if let Some(conn) = self.conns.remove(id) {
            if conn.opened {
                self.closed.push((id, conn.peer, why));
            }
        }
    }

    /// Drops timer entries that can no longer matter (their connection is gone, or a
    /// connection's earlier entry covers it) once they outnumber the live connections, so
    /// connection churn cannot grow the heap by connections per second × timeout.
    pub(crate) fn prune_timers(&mut self) {
        if self.timers.len() > 2 * self.conns.len() + 1024 {
            let conns = &self.conns;
            self.timers
                .retain(|&(at, id)| conns.get(id).is_some_and(|c| c.armed == Some(at)));
        }
    }

    /// Puts the connection on this pass's flush list.
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// Puts the connection on the list of connections to read, once: this pass when
    /// called for a readiness event, the next pass when called while reading.
    pub(crate) fn schedule(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.scheduled {
                conn.scheduled = true;
                self.ready.push(id);
            }
        }
    }

    /// Sets when the connection's timer acts next.
    pub(crate) fn set_deadline(&mut self, id: ConnId, at: Instant) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.deadline = Some(at);
            arm(&mut self.timers, conn, id, at);
        }
    }
}

/// Makes sure the timer heap wakes the reactor by `at` for this connection. A later
/// deadline needs no new entry: the earlier one pops, sees the later deadline, re-arms.
pub(crate) fn arm(timers: &mut Timers, conn: &mut Conn, id: ConnId, at: Instant) {
    if conn.armed.is_none_or(|armed| at < armed) {
        timers.schedule(at, id);
        conn.armed = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::io::SHARE_MIN;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;
    use tungstenite::protocol::{Role, WebSocketContext};

    /// A core holding `n` open connections (the other ends are returned to keep them up).
    fn core_with_open(n: usize) -> (Core, Vec<ConnId>, Vec<TcpStream>) {
        let poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        let (handle, _inbox) = Handle::new(waker, 1);
        let mut core = Core::new(Config::default(), handle);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut ids, mut peers) = (Vec::new(), Vec::new());
        for _ in 0..n {
            peers.push(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
            let (sock, peer) = listener.accept().unwrap();
            sock.set_nonblocking(true).unwrap();
            let mut conn = Conn::new(mio::net::TcpStream::from_std(sock), peer);
            conn.phase = Phase::Open(Box::new(WebSocketContext::new(Role::Server, None)));
            conn.opened = true;
            ids.push(core.conns.insert(conn));
        }
        (core, ids, peers)
    }

    #[test]
    fn publish_shares_large_payloads_instead_of_copying_them() {
        let (mut core, ids, _peers) = core_with_open(3);
        for &id in &ids {
            core.rooms.join(id, "room");
        }
        let payload = "x".repeat(SHARE_MIN);
        assert_eq!(
            core.publish("room", Message::text(payload), Some(ids[0])),
            2
        );
        let fronts: Vec<_> = ids[1..]
            .iter()
            .map(|&id| {
                core.conns
                    .get_mut(id)
                    .unwrap()
                    .out
                    .first_shared()
                    .unwrap()
                    .as_ptr()
            })
            .collect();
        assert_eq!(
            fronts[0], fronts[1],
            "both queues hold the same payload allocation"
        );
        assert_eq!(
            core.conns.get_mut(ids[0]).unwrap().out.pending(),
            0,
            "not the sender"
        );
        assert_eq!(core.dirty.len(), 2);
    }

    #[test]
    fn over_the_hard_limit_a_send_fails_the_connection_with_1008() {
        let (mut core, ids, _peers) = core_with_open(1);
        core.config.max_backpressure = 10_000;
        let chunk = Message::binary(vec![0u8; 4_000]);
        assert!(core.send(ids[0], chunk.clone()));
        assert!(core.send(ids[0], chunk.clone()));
        assert!(
            !core.send(ids[0], chunk),
            "the third would pass 10,000 bytes"
        );
        let (_, _, why) = core.closed.pop().expect("on_close owed");
        assert_eq!(
            (why.code, why.cause),
            (CloseCode::Policy, Cause::Backpressure)
        );
    }

    #[test]
    fn churn_cannot_grow_the_timer_heap_without_bound() {
        let (mut core, ids, _peers) = core_with_open(1);
        let t0 = core.now;
        // 5,000 connections that came and went left their entries behind
        for slot in 1..5_000 {
            let gone = ConnId { slot, gen: 0 };
            core.timers.schedule(t0 + Duration::from_secs(60), gone);
        }
        core.set_deadline(ids[0], t0 + Duration::from_secs(30));
        core.prune_timers();
        assert_eq!(
            core.timers.len(),
            1,
            "only the live connection's entry is left"
        );
        let due = core.timers.pop_expired(t0 + Duration::from_secs(31));
        assert_eq!(due.map(|(_, id)| id), Some(ids[0]));
    }
}
