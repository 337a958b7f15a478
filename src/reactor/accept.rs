//! Accepting connections: bounded per pass, backing off on resource errors, refusing past
//! `max_connections` with a clean 503, and (`Spread::HandOff`) handing them to the other
//! reactors in turn.

use std::io::{self, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use log::{debug, warn, Level};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Poll};

use super::core::Core;
use super::token::{token, LISTENER};
use crate::conn::io::ReadBuf;
use crate::conn::transport::Transport;
use crate::handle::{Command, Wake};

/// How long accepting pauses after an error such as `EMFILE`, so a full fd table costs a
/// retry every 100 ms instead of a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Connections accepted per pass at most. A flood of new connections is served in slices
/// between passes over the open ones instead of holding the loop until the backlog is
/// empty (DoS warning: each accept costs a few syscalls, so without a bound a fast enough
/// flood would keep the reactor in its accept loop).
const ACCEPTS_PER_PASS: usize = 64;

/// Sent to sockets accepted past `max_connections`, before closing them.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// What the listener still holds, as far as the reactor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backlog {
    /// Accepted until `WouldBlock`: the next connection brings a new event.
    Drained,
    /// The pass's accept budget ran out; the edge-triggered listener will not report the
    /// connections still waiting, so the next pass accepts without an event.
    More,
    /// Accepting failed for want of resources; retry at this time.
    PausedUntil(Instant),
}

impl Backlog {
    /// Whether this pass must accept without a listener event.
    pub(super) fn due(self, now: Instant) -> bool {
        match self {
            Backlog::Drained => false,
            Backlog::More => true,
            Backlog::PausedUntil(t) => t <= now,
        }
    }
}

/// A listening socket and what its reactor knows of it.
#[derive(Debug)]
pub(super) struct Acceptor {
    listener: TcpListener,
    pub(super) backlog: Backlog,
    /// With `Spread::HandOff`: the reactor the next connection goes to, in turn.
    hand_off: Option<usize>,
}

impl Acceptor {
    /// Listens with `poll`; `hand_off`: connections go to every reactor in turn.
    pub(super) fn new(mut listener: TcpListener, poll: &Poll, hand_off: bool) -> io::Result<Self> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Acceptor {
            listener,
            backlog: Backlog::Drained,
            hand_off: hand_off.then_some(0),
        })
    }

    pub(super) fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Stops listening: the port is released at once.
    pub(super) fn close(mut self, poll: &Poll) {
        let _ = poll.registry().deregister(&mut self.listener);
    }

    /// Accepts until `WouldBlock` or the pass's budget is spent. Errors never stop the
    /// server.
    pub(super) fn accept(&mut self, poll: &Poll, core: &mut Core, rbuf: &mut ReadBuf) {
        let backlog = &mut self.backlog;
        if matches!(*backlog, Backlog::PausedUntil(t) if t > core.now) {
            return;
        }
        *backlog = Backlog::More;
        for _ in 0..ACCEPTS_PER_PASS {
            let (sock, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *backlog = Backlog::Drained;
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS...: the pending connection stays in the
                    // backlog, and the listener would report it again at once. Back off
                    // instead of spinning.
                    warn!("accept failed: {e}; retrying in {ACCEPT_BACKOFF:?}");
                    *backlog = Backlog::PausedUntil(core.now + ACCEPT_BACKOFF);
                    return;
                }
            };
            // With several reactors the others' counts are as of their last pass, so the
            // server may pass the limit by what they accepted since.
            let held = core.conns.len() + core.handle.mesh().load_of_others(core.reactor);
            if held >= core.config.max_connections {
                // `warn`: the server is full, which its operator wants to know.
                let max = core.config.max_connections;
                core.rejected(
                    Level::Warn,
                    peer,
                    503,
                    &format_args!("at max_connections ({max})"),
                );
                refuse(sock, rbuf, core.config.is_tls());
                continue;
            }
            let Some(next) = &mut self.hand_off else {
                adopt(sock, peer, poll, core);
                continue;
            };
            let to = *next;
            *next = (to + 1) % core.handle.mesh().len();
            if to == core.reactor {
                adopt(sock, peer, poll, core);
            } else if let Err((_, Command::Adopt(sock, peer))) = (core.handle.mesh()).push(
                to,
                Command::Adopt(sock, peer),
                Wake::Later(&mut core.owed),
            ) {
                // Its queue is full (or it stopped): serve it here rather than drop it.
                adopt(sock, peer, poll, core);
            }
        }
    }
}

/// Takes an accepted connection on this reactor: registered with its poller, wrapped in
/// its transport, and held by the core.
pub(super) fn adopt(mut sock: TcpStream, peer: std::net::SocketAddr, poll: &Poll, core: &mut Core) {
    let _ = sock.set_nodelay(true);
    let id = core.conns.next_key();
    if let Err(e) = poll.registry().register(
        &mut sock,
        token(id),
        Interest::READABLE | Interest::WRITABLE,
    ) {
        warn!("register {peer}: {e}");
        return;
    }
    let sock = match Transport::new(sock, peer, &core.config) {
        Ok(sock) => sock,
        Err(e) => {
            warn!("{peer}: {e}");
            return;
        }
    };
    let id = core.insert(sock, peer);
    debug!("{id} accepted from {peer}");
}

/// Answers a connection past `max_connections` with 503 and closes it, holding nothing.
/// Over TLS it is only closed: a plaintext 503 would be garbage to a TLS client, and a TLS
/// handshake is the work the limit is there to refuse.
fn refuse(mut sock: TcpStream, rbuf: &mut ReadBuf, tls: bool) {
    // Closing a socket with unread bytes sends a reset instead of a FIN, and some stacks
    // drop received data on a reset, 503 included. The request has usually arrived by now:
    // read it (one read, at most 64 KiB), so the 503 ends with a FIN.
    rbuf.begin(Vec::new(), false);
    let _ = rbuf.fill(&mut sock);
    if !tls {
        let _ = sock.write(OVER_CAPACITY);
    }
    let _ = sock.shutdown(Shutdown::Write);
}
