//! One connection's state machine: HTTP upgrade → open WebSocket → lingering close.
//!
//! ```text
//!   accept ──► Handshake ──101──► Open ──close handshake / failure──► Linger ──EOF/timeout──► gone
//!               │  ▲  │             (closing: our Close sent,                ▲
//!               │  │  └── 4xx ─────  waiting for the peer's) ───────────────┤
//!               │  └─ keep-alive ─┐                                         │
//!               └─► HttpBody ──► HttpHeld ──response (Connection: close)────┘
//! ```
//!
//! `Linger` writes what is still queued (a close frame, an HTTP response), then shuts down
//! our half of the TCP connection and waits for the peer's EOF, so the last bytes are not
//! lost to a reset.

pub(crate) mod frame;
pub(crate) mod io;
pub(crate) mod upgrade;
pub(crate) mod utf8;

use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use mio::net::TcpStream;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::WebSocketContext;

use crate::error::Disconnect;
use crate::http::Request;
use io::{OutBuf, Sink};
use upgrade::Handshake;
use utf8::Utf8Guard;

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Reading a request head: an upgrade, or a plain HTTP request.
    Handshake(Handshake),
    /// Reading the body of a plain HTTP request (into `request.body`).
    HttpBody {
        request: Box<Request>,
        need: usize,
        keep_alive: bool,
    },
    /// A plain HTTP request is with the handler, which answers now or later.
    HttpHeld { keep_alive: bool },
    /// Exchanging frames. `Conn::closing` is set once a close handshake has started.
    Open(Box<WebSocketContext>),
    /// Done: flushing what is queued, then waiting for the peer's EOF.
    Linger { shut: bool },
}

/// A connection and everything the reactor tracks for it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) sock: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) phase: Phase,
    pub(crate) out: OutBuf,
    /// Fails text with invalid UTF-8 before the rest of its frame arrives.
    pub(crate) utf8: Utf8Guard,
    /// When the connection's timer should act next (meaning depends on the phase).
    pub(crate) deadline: Option<Instant>,
    /// The earliest deadline that has an entry in the timer heap.
    pub(crate) armed: Option<Instant>,
    /// Why it ends, once a close has started or the peer's close arrived.
    pub(crate) closing: Option<Disconnect>,
    /// `on_open` ran, so `on_close` is owed.
    pub(crate) opened: bool,
    /// A keepalive ping is out and unanswered.
    pub(crate) awaiting_pong: bool,
    /// Queued in the reactor's flush list this pass.
    pub(crate) dirty: bool,
    /// Not read until its outbound queue drains below the soft limit.
    pub(crate) paused: bool,
    /// On the reactor's list of connections to read.
    pub(crate) scheduled: bool,
    /// The poller reported the peer's FIN; reading goes on until the EOF is read.
    pub(crate) peer_closed: bool,
    /// Input read from the socket but left for the next pass (its budget ran out).
    pub(crate) carry: Vec<u8>,
}

impl Conn {
    pub(crate) fn new(sock: TcpStream, peer: SocketAddr) -> Self {
        Conn {
            sock,
            peer,
            phase: Phase::Handshake(Handshake::default()),
            out: OutBuf::default(),
            utf8: Utf8Guard::default(),
            deadline: None,
            armed: None,
            closing: None,
            opened: false,
            awaiting_pong: false,
            dirty: false,
            paused: false,
            scheduled: false,
            peer_closed: false,
            carry: Vec::new(),
        }
    }

    /// The open WebSocket, if frames may still be sent on it.
    pub(crate) fn writable_ws(&mut self) -> Option<&mut WebSocketContext> {
        match &mut self.phase {
            Phase::Open(ws) if ws.can_write() => Some(ws),
            _ => None,
        }
    }

    /// Queues our Close frame (RFC 6455 §5.5.1) if the connection is open and has not sent
    /// one. Returns whether it did.
    pub(crate) fn send_close(&mut self, frame: CloseFrame) -> bool {
        let Phase::Open(ws) = &mut self.phase else {
            return false;
        };
        if !ws.can_write() {
            return false;
        }
        // Writes into `out` only; an error here means the context was already closed.
        ws.close(&mut Sink(&mut self.out.buf), Some(frame)).is_ok()
    }

    /// Enters `Linger`: the WebSocket is done; what is queued still goes out.
    pub(crate) fn linger(&mut self) {
        self.phase = Phase::Linger { shut: false };
    }

    /// Flushes queued bytes once; in `Linger`, shuts our half down when they are out.
    /// `Err` means the socket is dead.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        let all_out = self.out.write_to(&mut self.sock)?;
        if let Phase::Linger { shut } = &mut self.phase {
            if all_out && !*shut {
                *shut = true;
                // Best effort: a peer that already left makes this fail harmlessly.
                let _ = self.sock.shutdown(Shutdown::Write);
            }
        }
        Ok(())
    }
}
