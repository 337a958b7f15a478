//! Reading one connection: its input within its budget, each event it yields handed to the
//! handler as it comes, so the handler's replies count against the connection's
//! backpressure before the next frame is decoded.

use std::net::SocketAddr;

use super::core::Core;
use super::dispatch::{self, dispatch};
use crate::conn::io::ReadBuf;
use crate::conn::{Event, Input, Pass};
use crate::handler::Handler;
use crate::id::ConnId;

/// Reads from one connection, within its budget, and acts on what arrived.
pub(super) fn read<H: Handler>(core: &mut Core, rbuf: &mut ReadBuf, handler: &mut H, id: ConnId) {
    let Some(entry) = core.conns.get_mut(id) else {
        return;
    };
    // Paused: not read until its queue drains (the flush resumes it).
    if entry.conn.is_paused() {
        return;
    }
    let peer = entry.conn.peer();
    rbuf.begin(std::mem::take(&mut entry.conn.carry), entry.peer_closed);
    let mut pass = Pass::with_early_flush();
    core.reading = Some(id);
    // Until the input is used up, or a callback ended the connection (what it published
    // is still written below); once, when its queue passes the soft limit, the connection
    // is written and read on.
    loop {
        read_on(core, rbuf, handler, (id, peer), &mut pass);
        if !pass.take_flush() {
            break;
        }
        // (The batch holds nothing for it: the reader gets its copy of a publish at once.)
        core.flush_lent(id, rbuf.filled());
    }
    core.reading = None;
    core.write_batch();
    // Replies that point into the read buffer go out before the next connection's read
    // reuses it (as uWebSockets writes a large reply from where it lies).
    if core.conns.get(id).is_some_and(|e| e.conn.out.has_lent()) {
        core.flush_lent(id, rbuf.filled());
    }
    // Edge-triggered: input left behind raises no new event, so ask for another pass.
    if pass.more || rbuf.more_pending() {
        core.schedule(id);
    }
    core.settle(id);
}

/// Hands the handler each event the connection yields until it yields none.
#[inline(always)]
fn read_on<H: Handler>(
    core: &mut Core,
    rbuf: &mut ReadBuf,
    handler: &mut H,
    (id, peer): (ConnId, SocketAddr),
    pass: &mut Pass,
) {
    while let Some(entry) = core.conns.get_mut(id) {
        let input = Input {
            rbuf,
            src: &mut entry.sock,
            pass,
        };
        match entry.conn.read(input, &core.config, core.now) {
            Some(Event::Message(msg)) => {
                dispatch::message(core, handler, (id, &peer), msg.rebuilt())
            }
            Some(event) => dispatch(core, handler, (id, &peer), event),
            None => break,
        }
    }
}
