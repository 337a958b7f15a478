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
use crate::conn::{Conn, Phase};
use crate::error::{Cause, Disconnect};
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
    /// Connections with bytes to write this pass.
    pub(crate) dirty: Vec<ConnId>,
    /// Connections to read again next pass without waiting for an event.
    pub(crate) ready: Vec<ConnId>,
    /// Ended connections whose `on_close` is owed.
    pub(crate) closed: Vec<(ConnId, SocketAddr, Disconnect)>,
}

impl Core {
    pub(crate) fn new(config: Config) -> Self {
        Core {
            conns: Slab::default(),
            ws_config: config.ws_config(),
            config,
            now: Instant::now(),
            timers: Timers::default(),
            dirty: Vec::new(),
            ready: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// Encodes a message into a connection's outbound buffer. `false` if it was not queued.
    pub(crate) fn send(&mut self, id: ConnId, msg: Message) -> bool {
        let (opcode, payload) = match msg {
            Message::Text(text) => (OpCode::Text, Bytes::from(text)),
            Message::Binary(data) => (OpCode::Binary, data),
            Message::Ping(data) => (OpCode::Ping, data),
            Message::Pong(data) => (OpCode::Pong, data),
            Message::Close(frame) => {
                let frame = frame.unwrap_or(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                });
                return self.close(id, frame, Cause::ServerClosed);
            }
            Message::Frame(_) => return false,
        };
        // "All control frames MUST have a payload length of 125 bytes or less" (RFC 6455 §5.5)
        if matches!(opcode, OpCode::Ping | OpCode::Pong) && payload.len() > 125 {
            return false;
        }
        let limit = self.config.max_backpressure;
        let Some(conn) = self.conns.get_mut(id) else {
            return false;
        };
        if conn.writable_ws().is_none() {
            return false;
        }
        // A single message larger than the limit still goes out on an empty queue, so the
        // bound is max(limit, one message).
        let pending = conn.out.pending();
        if pending > 0 && pending + frame::encoded_len(payload.len()) > limit {
            let why = Disconnect::new(CloseCode::Policy, "backpressure", Cause::Backpressure);
            self.fail(id, why);
            return false;
        }
        conn.out.push_frame(opcode, payload);
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

    /// Puts the connection on this pass's flush list.
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(id);
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
