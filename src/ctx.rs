//! [`Ctx`]: what a callback can do while it runs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::CloseFrame;

use crate::error::Cause;
use crate::handle::Handle;
use crate::http::Response;
use crate::reactor::core::Core;
use crate::reactor::token::ConnId;
use crate::{CloseCode, Message};

/// A callback's view of the server: the connection it serves and the others by id.
///
/// Sends are buffered and written once per reactor pass, after the callbacks of that pass
/// have run; closes start the close handshake at once but the connection is torn down
/// later. Nothing here blocks.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) id: ConnId,
    pub(crate) peer: SocketAddr,
}

impl Ctx<'_> {
    /// This connection's id, unique for the life of the server.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Connections currently held, including ones still in the handshake.
    pub fn connections(&self) -> usize {
        self.core.conns.len()
    }

    /// Queues a message to this connection. Does nothing once it is closing. If the
    /// connection's outbound queue would pass
    /// [`Config::max_backpressure`](crate::Config::max_backpressure), the message is dropped
    /// and the connection is closed with 1008; `on_close` reports it.
    pub fn send(&mut self, msg: impl Into<Message>) {
        self.core.send(self.id, msg.into());
    }

    /// Queues a message to another connection; `false` if that connection is gone,
    /// closing, or was just closed for backpressure. An id that outlived its connection
    /// never reaches a newer one.
    pub fn send_to(&mut self, to: ConnId, msg: impl Into<Message>) -> bool {
        self.core.send(to, msg.into())
    }

    /// Starts the close handshake on this connection with a code and reason (the reason is
    /// cut to the 123 bytes a close frame can carry). Messages that arrive afterwards are
    /// not delivered.
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.close_conn(self.id, code, reason);
    }

    /// Joins a room; `false` if already a member, or if this is not an open WebSocket
    /// connection. Connections leave all their rooms when they close (after `on_close`,
    /// which still sees them).
    pub fn join(&mut self, room: &str) -> bool {
        // Only open WebSocket connections are members: their `on_close` is what leaves.
        let open = self.core.conns.get(self.id).is_some_and(|c| c.opened);
        open && self.core.rooms.join(self.id, room)
    }

    /// Leaves a room; `false` if not a member.
    pub fn leave(&mut self, room: &str) -> bool {
        self.core.rooms.leave(self.id, room)
    }

    /// The rooms this connection is in, in the order it joined them.
    pub fn rooms(&self) -> impl Iterator<Item = &str> + '_ {
        self.core.rooms.rooms_of(self.id)
    }

    /// Members of a room.
    pub fn room_size(&self, room: &str) -> usize {
        self.core.rooms.len(room)
    }

    /// Sends a message to every member of a room, this connection included if it is one
    /// (Socket.IO's `io.to(room)`). The frame is encoded once and its bytes shared by all
    /// recipients. Returns how many it was queued for.
    pub fn publish(&mut self, room: &str, msg: impl Into<Message>) -> usize {
        self.core.publish(room, msg.into(), None)
    }

    /// Sends a message to every member of a room except this connection (Socket.IO's
    /// `socket.to(room)`).
    pub fn publish_to_others(&mut self, room: &str, msg: impl Into<Message>) -> usize {
        self.core.publish(room, msg.into(), Some(self.id))
    }

    /// Sends a message to every open connection, this one included.
    pub fn broadcast(&mut self, msg: impl Into<Message>) -> usize {
        self.core.broadcast(msg.into(), None)
    }

    /// Answers an HTTP request that [`Handler::on_http`](crate::Handler::on_http) held
    /// (returned `None` for). `false` if that connection is gone or has no request waiting.
    pub fn respond(&mut self, id: ConnId, response: Response) -> bool {
        self.core.respond(id, &response)
    }

    /// Whether connection `id` has an HTTP request waiting for [`respond`](Self::respond).
    pub fn is_held(&self, id: ConnId) -> bool {
        let conn = self.core.conns.get(id);
        conn.is_some_and(|c| matches!(c.phase, crate::conn::Phase::HttpHeld { .. }))
    }

    /// The time of this reactor pass, read once after `poll` returned. Timers set with
    /// [`set_timer`](Self::set_timer) count from it, so deadlines a handler computes from
    /// it line up with when its timers fire.
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// Calls [`Handler::on_timer`](crate::Handler::on_timer) with `key` after `delay`
    /// (on the first pass after it; never earlier).
    pub fn set_timer(&mut self, delay: Duration, key: u64) {
        let at = self.core.now + delay;
        self.core.user_timers.schedule(at, key);
    }

    /// A [`Handle`] to the server, for other threads.
    pub fn handle(&self) -> Handle {
        self.core.handle.clone()
    }

    /// Starts the close handshake on another connection; `false` if it is gone or closing.
    pub fn close_conn(&mut self, id: ConnId, code: CloseCode, reason: &str) -> bool {
        let frame = CloseFrame {
            code,
            reason: truncate_reason(reason).into(),
        };
        self.core.close(id, frame, Cause::ServerClosed)
    }
}

/// Cuts a close reason to 123 bytes on a character boundary (RFC 6455 §5.5: control frame
/// payloads are at most 125 bytes, two of which carry the code).
pub(crate) fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_reason;

    #[test]
    fn reasons_are_cut_on_char_boundaries() {
        assert_eq!(truncate_reason("bye"), "bye");
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123 && cut.len() >= 122);
        assert!(long.starts_with(cut));
    }
}
