//! Serving one readable connection: reading within its budget, parsing the request or the
//! frames, and calling the handler for what arrived.

use std::io;

use log::debug;
use tungstenite::error::Error as WsError;
use tungstenite::protocol::{Role, WebSocketContext};

use super::core::{arm, Core};
use super::token::ConnId;
use super::{guard, panicked, run_on_close};
use crate::conn::io::{Io, ReadBuf};
use crate::conn::upgrade::{self, Parsed};
use crate::conn::Phase;
use crate::ctx::Ctx;
use crate::error::{Cause, Disconnect};
use crate::handler::Handler;
use crate::http::{Request, Response};
use crate::{CloseCode, Message};

/// Reads from one connection, within its budget, and acts on what arrived.
pub(super) fn service<H: Handler>(
    core: &mut Core,
    rbuf: &mut ReadBuf,
    handler: &mut H,
    id: ConnId,
) {
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    if conn.paused {
        return;
    }
    rbuf.begin(std::mem::take(&mut conn.carry), conn.peer_closed);
    let more = match conn.phase {
        Phase::Handshake(_) => read_handshake(core, rbuf, handler, id),
        Phase::HttpBody { .. } => {
            read_http_body(core, rbuf, handler, id);
            false
        }
        Phase::Open(_) => read_frames(core, rbuf, handler, id),
        Phase::HttpHeld { .. } | Phase::Linger { .. } => {
            read_discard(core, rbuf, id);
            false
        }
    };
    // Edge-triggered: input left behind raises no new event, so ask for another pass.
    if more || rbuf.more_pending() {
        core.schedule(id);
    }
    if core.conns.get_mut(id).is_some_and(|c| c.out.pending() > 0) {
        core.mark_dirty(id);
    }
    run_on_close(core, handler);
}

/// Reads the upgrade request; on success opens the WebSocket and reads the frames that
/// came with it. `true` if input is left for another pass.
fn read_handshake<H: Handler>(
    core: &mut Core,
    rbuf: &mut ReadBuf,
    handler: &mut H,
    id: ConnId,
) -> bool {
    let max = core.config.max_handshake_bytes;
    let Some(conn) = core.conns.get_mut(id) else {
        return false;
    };
    let Phase::Handshake(hs) = &mut conn.phase else {
        return false;
    };
    let parsed = match rbuf.fill(&mut conn.sock) {
        Ok([]) => {
            core.remove(id, Disconnect::reset());
            return false;
        }
        Ok(bytes) => hs.push(bytes, max),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
        Err(_) => {
            core.remove(id, Disconnect::reset());
            return false;
        }
    };
    match parsed {
        Parsed::Partial => false,
        Parsed::Reject(response) => {
            respond_and_close(core, id, &response);
            false
        }
        Parsed::Http {
            mut request,
            body_len,
            tail,
            keep_alive,
        } => {
            if body_len > core.config.max_http_body {
                respond_and_close(core, id, &Response::status_text(413));
                return false;
            }
            request.body = tail;
            if request.body.len() < body_len {
                let request = Box::new(request);
                conn.phase = Phase::HttpBody {
                    request,
                    need: body_len,
                    keep_alive,
                };
                return false;
            }
            // Pipelined requests are not served: answer this one, then close.
            let keep_alive = keep_alive && request.body.len() == body_len;
            request.body.truncate(body_len);
            dispatch_http(core, handler, id, request, keep_alive);
            false
        }
        Parsed::Upgrade { request, key, tail } => {
            let accept = match guard(|| handler.on_upgrade(&request)) {
                Some(Ok(accept)) => accept,
                Some(Err(response)) => {
                    respond_and_close(core, id, &response);
                    return false;
                }
                None => {
                    respond_and_close(core, id, &Response::status_text(500));
                    return false;
                }
            };
            let ws_config = core.ws_config;
            let idle = core.config.idle_timeout;
            let Some(conn) = core.conns.get_mut(id) else {
                return false;
            };
            upgrade::write_accept(&key, accept.protocol.as_deref(), &mut conn.out.buf);
            // The tail goes to tungstenite directly, so the guard sees it here; a verdict on
            // it is kept and reported by the first read.
            let _ = conn.utf8.scan(&tail);
            let ws = WebSocketContext::from_partially_read(tail, Role::Server, Some(ws_config));
            conn.phase = Phase::Open(Box::new(ws));
            conn.opened = true;
            conn.deadline = None;
            let peer = conn.peer;
            if let Some(idle) = idle {
                core.set_deadline(id, core.now + idle);
            }
            core.mark_dirty(id);
            if guard(|| handler.on_open(&mut Ctx { core, id, peer }, &request)).is_none() {
                core.fail(id, panicked());
            }
            run_on_close(core, handler);
            // The tail may already hold frames.
            read_frames(core, rbuf, handler, id)
        }
    }
}

fn respond_and_close(core: &mut Core, id: ConnId, response: &Response) {
    if let Some(conn) = core.conns.get_mut(id) {
        response.write_to(&mut conn.out.buf, false);
        core.finish(id, Disconnect::reset());
    }
}

/// Reads more of a plain HTTP request's body.
fn read_http_body<H: Handler>(core: &mut Core, rbuf: &mut ReadBuf, handler: &mut H, id: ConnId) {
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    let Phase::HttpBody {
        request,
        need,
        keep_alive,
    } = &mut conn.phase
    else {
        return;
    };
    match rbuf.fill(&mut conn.sock) {
        Ok([]) => return core.remove(id, Disconnect::reset()),
        Ok(bytes) => request.body.extend_from_slice(bytes),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
        Err(_) => return core.remove(id, Disconnect::reset()),
    }
    if request.body.len() < *need {
        return;
    }
    let keep_alive = *keep_alive && request.body.len() == *need;
    request.body.truncate(*need);
    let request = std::mem::take(&mut **request);
    dispatch_http(core, handler, id, request, keep_alive);
}

/// Hands a complete plain HTTP request to the handler, which answers now or holds it.
fn dispatch_http<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    id: ConnId,
    request: Request,
    keep_alive: bool,
) {
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    conn.phase = Phase::HttpHeld { keep_alive };
    let peer = conn.peer;
    match guard(|| handler.on_http(&mut Ctx { core, id, peer }, &request)) {
        Some(Some(response)) => {
            core.respond(id, &response);
        }
        Some(None) => {
            if let Some(idle) = core.config.idle_timeout {
                core.set_deadline(id, core.now + idle);
            }
        }
        None => {
            core.respond(id, &Response::status_text(500));
        }
    }
    run_on_close(core, handler);
}

/// Reads frames until the socket has nothing more this pass or the connection's budget is
/// spent, delivering each message. `true` if input is left for another pass.
fn read_frames<H: Handler>(
    core: &mut Core,
    rbuf: &mut ReadBuf,
    handler: &mut H,
    id: ConnId,
) -> bool {
    let budget = core.config.messages_per_pass;
    let soft = core.config.backpressure_soft_limit;
    let mut handled = 0;
    let more = loop {
        let Some(conn) = core.conns.get_mut(id) else {
            return false;
        };
        let Phase::Open(ws) = &mut conn.phase else {
            return false;
        };
        // Fairness, then backpressure: what was read but not decoded waits in `carry`
        // (frames tungstenite already holds wait in its own buffer).
        if handled == budget || conn.out.pending() > soft {
            conn.carry = rbuf.take_rest();
            break true;
        }
        handled += 1;
        let mut io = Io {
            sock: &mut conn.sock,
            rbuf,
            utf8: &mut conn.utf8,
            out: &mut conn.out.buf,
        };
        match ws.read(&mut io) {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                // After a close has started, data is drained but not delivered.
                if conn.closing.is_some() {
                    continue;
                }
                let peer = conn.peer;
                if guard(|| handler.on_message(&mut Ctx { core, id, peer }, msg)).is_none() {
                    core.fail(id, panicked());
                }
                run_on_close(core, handler);
            }
            Ok(Message::Close(frame)) => {
                if conn.closing.is_none() {
                    let (code, reason) = match frame {
                        Some(f) => (f.code, f.reason.to_string()),
                        None => (CloseCode::Status, String::new()),
                    };
                    conn.closing = Some(Disconnect::new(code, reason, Cause::PeerClosed));
                }
            }
            // Pings are answered by tungstenite (the pong is already in `out`).
            Ok(_) => {}
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break false,
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                let why = conn.closing.take().unwrap_or_else(Disconnect::reset);
                core.finish(id, why);
                return false;
            }
            Err(err) => {
                match Disconnect::for_ws_error(&err) {
                    Some(why) => {
                        debug!("{id} failed: {err}");
                        core.fail(id, why);
                    }
                    None => core.finish(id, Disconnect::reset()),
                }
                return false;
            }
        }
    };
    // Any inbound traffic counts as life for keepalive.
    let idle = core.config.idle_timeout;
    if let Some(conn) = core.conns.get_mut(id) {
        if rbuf.got_bytes() && conn.closing.is_none() {
            conn.awaiting_pong = false;
            if let Some(idle) = idle {
                let at = core.now + idle;
                conn.deadline = Some(at);
                // Usually later than the armed entry, which re-arms when it pops; but
                // after a keepalive Ping the armed entry is the pong timeout, which may
                // be later than the next idle deadline.
                arm(&mut core.timers, conn, id, at);
            }
        }
    }
    more
}

/// While a request is held, or after our half is shut: discard what the peer sends, drop
/// it at EOF.
fn read_discard(core: &mut Core, rbuf: &mut ReadBuf, id: ConnId) {
    let Some(conn) = core.conns.get_mut(id) else {
        return;
    };
    match rbuf.fill(&mut conn.sock) {
        Ok([]) => core.remove(id, Disconnect::reset()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(_) => core.remove(id, Disconnect::reset()),
    }
}
