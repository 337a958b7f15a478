//! Calling the handler: the one place that builds a callback's context, catches a
//! callback's panic, and runs the `on_close` callbacks owed.

use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};

use log::{debug, warn, Level};

use super::core::Core;
use super::rejects::clip;
use crate::conn::Event;
use crate::ctx::{Ctx, ServerCtx};
use crate::error::{Cause, Disconnect};
use crate::handler::Handler;
use crate::http::Response;
use crate::id::ConnId;
use crate::{CloseCode, MessageRef};

/// Hands one event of connection `id` (whose peer is `peer`) to the handler, then runs the
/// `on_close` callbacks owed. A message goes through [`message`], the hot path; everything
/// else happens a few times per connection.
pub(super) fn dispatch<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    at: (ConnId, &SocketAddr),
    event: Event<'_>,
) {
    dispatch_other(core, handler, at, event, Route::Ask);
    run_on_close(core, handler);
}

/// [`dispatch`] of a message.
#[inline]
pub(super) fn message<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    at: (ConnId, &SocketAddr),
    msg: MessageRef<'_>,
) {
    on_message(core, handler, at, msg);
    run_on_close(core, handler);
}

/// [`dispatch`] for a request another reactor read and handed over (`Handler::route`): it
/// is served here, not routed again.
pub(super) fn taken<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    at: (ConnId, &SocketAddr),
    event: Event<'_>,
) {
    dispatch_other(core, handler, at, event, Route::Here);
    run_on_close(core, handler);
}

/// Whether a request may go to another reactor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Ask the handler (with several reactors).
    Ask,
    /// It came from another reactor: serve it here.
    Here,
}

/// With several reactors, the reactor `Handler::route` names for a request, if another.
fn elsewhere<H: Handler>(core: &Core, handler: &mut H, event: &Event<'_>) -> Option<usize> {
    let (Event::Upgrade(request) | Event::Http(request)) = event else {
        return None;
    };
    let to = guard(|| handler.route(request)).flatten()?;
    (to != core.reactor && to < core.reactors()).then_some(to)
}

/// A request its reactor could not take (its queue is full): answered here, `503`.
fn busy(core: &mut Core, (id, peer): (ConnId, &SocketAddr), event: Event<'_>) {
    let unavailable = Response::status_text(503);
    match event {
        Event::Upgrade(_) => {
            if let Some(entry) = core.conns.get_mut(id) {
                entry.conn.refuse(&unavailable, &core.config, core.now);
            }
            core.settle(id);
        }
        _ => drop(core.respond(id, &unavailable)),
    }
    let why = "its reactor's queue is full (Handler::route)";
    core.rejected(Level::Warn, *peer, 503, &why);
}

#[inline(always)]
fn on_message<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    at: (ConnId, &SocketAddr),
    msg: MessageRef<'_>,
) {
    if call(core, handler, at, |h, ctx| h.on_message_ref(ctx, msg)).is_none() {
        core.fail(at.0, panicked());
    }
}

#[inline(never)]
fn dispatch_other<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    (id, peer): (ConnId, &SocketAddr),
    event: Event<'_>,
    route: Route,
) {
    if route == Route::Ask && core.reactors() > 1 {
        if let Some(to) = elsewhere(core, handler, &event) {
            if let Err(event) = core.hand_over(id, to, event) {
                busy(core, (id, peer), event);
            }
            return;
        }
    }
    match event {
        Event::Upgrade(mut request) => {
            request.secure = core.is_secure(id);
            let verdict = guard(|| handler.on_upgrade(&request));
            let Some(entry) = core.conns.get_mut(id) else {
                return;
            };
            let (config, now) = (&core.config, core.now);
            match verdict {
                Some(Ok(accept)) => match accept.check(&request) {
                    Ok(()) => {
                        entry.endpoint = accept.endpoint;
                        entry.conn.accept(&accept, config, now);
                        core.deflating |= entry.conn.deflates();
                    }
                    // A handler bug, like a panic: the client is not told the details.
                    Err(e) => {
                        entry.conn.refuse(&Response::status_text(500), config, now);
                        let why = format_args!("{id}: on_upgrade {e}");
                        core.rejects.log(now, Level::Error, *peer, 500, &why);
                    }
                },
                Some(Err(response)) => {
                    entry.conn.refuse(&response, config, now);
                    let why = format_args!("refused by on_upgrade ({})", clip(request.path()));
                    (core.rejects).log(now, Level::Info, *peer, response.status(), &why);
                }
                // The panic hook has logged it.
                None => entry.conn.refuse(&Response::status_text(500), config, now),
            }
            let opened = entry.conn.is_open();
            core.settle(id);
            if opened
                && call(core, handler, (id, peer), |h, ctx| h.on_open(ctx, &request)).is_none()
            {
                core.fail(id, panicked());
            }
        }
        Event::Http(mut request) => {
            request.secure = core.is_secure(id);
            match call(core, handler, (id, peer), |h, ctx| h.on_http(ctx, &request)) {
                Some(Some(response)) => {
                    core.respond(id, &response);
                }
                Some(None) => core.settle(id),
                None => {
                    core.respond(id, &Response::status_text(500));
                }
            }
        }
        Event::Message(msg) => on_message(core, handler, (id, peer), msg),
        Event::Closed(why) => core.owe(id, Some(why)),
        Event::Rejected { status, reason } => core.rejected(Level::Info, *peer, status, &reason),
    }
}

/// Calls the handler with the context of connection `id`. `None` if the callback
/// panicked (the caller decides what that costs the connection).
#[inline]
fn call<H: Handler, T>(
    core: &mut Core,
    handler: &mut H,
    (id, peer): (ConnId, &SocketAddr),
    f: impl FnOnce(&mut H, &mut Ctx<'_>) -> T,
) -> Option<T> {
    guard(|| f(handler, &mut Ctx::new(core, id, peer)))
}

/// Calls a handler callback that serves no connection (`on_start`, `on_timer`,
/// `on_shutdown`; `what` names it in the log if it panics), then runs the `on_close`
/// callbacks it caused.
pub(super) fn on_server<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    what: &str,
    f: impl FnOnce(&mut H, &mut ServerCtx<'_>),
) {
    if guard(|| f(handler, &mut ServerCtx::new(core))).is_none() {
        warn!("{what} panicked");
    }
    run_on_close(core, handler);
}

/// Runs the `on_close` callbacks owed, including any that they cause.
#[inline]
pub(super) fn run_on_close<H: Handler>(core: &mut Core, handler: &mut H) {
    if core.closed.is_empty() && core.held_closed.is_empty() {
        return;
    }
    run_owed(core, handler);
}

#[inline(never)]
fn run_owed<H: Handler>(core: &mut Core, handler: &mut H) {
    loop {
        if let Some((id, peer)) = core.held_closed.pop() {
            debug!("{id}: held request's connection closed");
            let ctx = &mut Ctx::new(core, id, &peer);
            if guard(|| handler.on_http_closed(ctx)).is_none() {
                warn!("on_http_closed panicked for {id}");
            }
            continue;
        }
        let Some((id, peer, why)) = core.closed.pop() else {
            break;
        };
        debug!("{id} closed: {why}");
        if guard(|| handler.on_close(&mut Ctx::new(core, id, &peer), &why)).is_none() {
            warn!("on_close panicked for {id}");
        }
        // After `on_close`, so it can still see the rooms it is leaving.
        core.leave_all(id);
    }
}

/// Runs a callback; a panic is caught (and logged by the panic hook) so it costs one
/// connection, not the server. `None` if it panicked.
#[inline]
fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).ok()
}

fn panicked() -> Disconnect {
    Disconnect::new(CloseCode::Error, "internal error", Cause::HandlerPanic)
}
