//! An Engine.IO endpoint on the reactor: the path it owns, the engine, the app on top.
//!
//! Each method handles the callback if it is the endpoint's (its path, its WebSocket
//! connections, its timers) and says so; the handler that holds it passes the rest on
//! to its fallback.

use crate::handler::Accept;
use crate::http::{Request, Response};
use crate::id::ConnId;
use crate::{Ctx, Disconnect, Message, ServerCtx, TimerId};

use super::engine::http::Query;
use super::engine::{App, Engine, Settings};
use super::peers::Peers;
use super::sid;

#[derive(Debug)]
pub(crate) struct Endpoint<A: App> {
    pub(crate) engine: Engine<A::Client>,
    pub(crate) app: A,
    pub(crate) path: String,
}

impl<A: App> Endpoint<A>
where
    A::Client: std::fmt::Debug,
{
    pub(crate) fn new(path: String, settings: Settings, app: A) -> Self {
        Endpoint {
            engine: Engine::new(settings),
            app,
            path,
        }
    }

    fn is_mine(&self, req: &Request) -> bool {
        req.path() == self.path
    }

    pub(crate) fn upgrade(&self, req: &Request) -> Option<Result<Accept, Response>> {
        self.is_mine(req)
            .then(|| self.engine.check_upgrade(req).map(|()| self.accept()))
    }

    /// The WebSocket transport's upgrade: the endpoint's own frames, compressed as its
    /// options say (not as `Config::deflate` does).
    fn accept(&self) -> Accept {
        Accept::endpoint().deflate(self.engine.settings.deflate)
    }

    pub(crate) fn http(&mut self, ctx: &mut Ctx<'_>, req: &Request) -> Option<Option<Response>> {
        if !self.is_mine(req) {
            return None;
        }
        let at = (ctx.id(), ctx.peer_addr(), ctx.now());
        let response = self.engine.on_http(&mut self.app, &mut **ctx, at, req);
        self.engine.flush(&mut self.app, &mut **ctx);
        Some(response)
    }

    pub(crate) fn open(&mut self, ctx: &mut Ctx<'_>, req: &Request) -> bool {
        if !self.is_mine(req) {
            return false;
        }
        let at = (ctx.id(), ctx.peer_addr(), ctx.now());
        self.engine.on_ws_open(&mut self.app, at, req);
        self.engine.flush(&mut self.app, &mut **ctx);
        true
    }

    /// `Some(msg)` back if the connection is not the endpoint's.
    pub(crate) fn message(&mut self, ctx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if !self.engine.owns_conn(ctx.id()) {
            return Some(msg);
        }
        let (id, now) = (ctx.id(), ctx.now());
        self.engine.on_ws_message(&mut self.app, id, msg, now);
        self.engine.flush(&mut self.app, &mut **ctx);
        None
    }

    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_>, why: &Disconnect) -> bool {
        let id: ConnId = ctx.id();
        if !self.engine.owns_conn(id) {
            return false;
        }
        let now = ctx.now();
        self.engine.on_ws_close(&mut self.app, id, why, now);
        self.engine.flush(&mut self.app, &mut **ctx);
        true
    }

    /// A connection that held a request closed; `false` if the engine held no GET there.
    pub(crate) fn http_closed(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let (id, now) = (ctx.id(), ctx.now());
        if !self.engine.on_http_closed(&mut self.app, id, now) {
            return false;
        }
        self.engine.flush(&mut self.app, &mut **ctx);
        true
    }

    /// The server started. With several reactors, session ids name this one, and the
    /// app meets the endpoints of this path on the others.
    pub(crate) fn start(&mut self, ctx: &mut ServerCtx<'_>) {
        let (reactor, reactors) = (ctx.reactor(), ctx.reactors());
        let mut peers = None;
        if reactors > 1 {
            // At most 256 reactors (`Config::reactors`): the number fits a byte.
            self.engine.set_reactor(reactor as u8);
            let name = format!("socketio endpoint {}", self.path);
            peers = Some(ctx.shared(&name, || Peers::new(reactors)));
        }
        self.app.on_start(&ctx.handle(), reactor, peers);
    }

    /// The reactor a request of a session names in its `sid` (see `sid.rs`).
    pub(crate) fn route(&self, req: &Request) -> Option<usize> {
        let sid = self.is_mine(req).then(|| Query::parse(req).sid).flatten()?;
        sid::reactor_of(sid)
    }

    /// Another thread left work for the app.
    pub(crate) fn notify(&mut self, ctx: &mut ServerCtx<'_>) {
        let now = ctx.now();
        self.engine.on_notify(&mut self.app, now);
        self.engine.flush(&mut self.app, ctx);
    }

    /// The server is stopping: every session ends now, on every transport.
    pub(crate) fn shutdown(&mut self, ctx: &mut ServerCtx<'_>) {
        let now = ctx.now();
        self.engine.on_shutdown(&mut self.app, now);
        self.engine.flush(&mut self.app, ctx);
    }

    pub(crate) fn timer(&mut self, ctx: &mut ServerCtx<'_>, timer: TimerId) -> bool {
        if !self.engine.owns_timer(timer) {
            return false;
        }
        let now = ctx.now();
        self.engine.on_timer(&mut self.app, timer, now);
        self.engine.flush(&mut self.app, ctx);
        true
    }
}

/// Implements [`Handler`](crate::Handler) for a type with an `ep: Endpoint` and a
/// `fallback: F`, trying the endpoint first; `$http` gets a say on plain HTTP requests the
/// endpoint does not own before the fallback does.
macro_rules! endpoint_handler {
    ($ty:ident, |$this:ident, $req:ident| $http:expr) => {
        impl<F: $crate::Handler> $crate::Handler for $ty<F> {
            fn route(&mut self, req: &$crate::Request) -> Option<usize> {
                self.ep.route(req).or_else(|| self.fallback.route(req))
            }

            fn on_upgrade(
                &mut self,
                req: &$crate::Request,
            ) -> Result<$crate::Accept, $crate::Response> {
                match self.ep.upgrade(req) {
                    Some(verdict) => verdict,
                    None => self.fallback.on_upgrade(req),
                }
            }

            fn on_http(
                &mut self,
                ctx: &mut $crate::Ctx<'_>,
                req: &$crate::Request,
            ) -> Option<$crate::Response> {
                if let Some(response) = self.ep.http(ctx, req) {
                    return response;
                }
                let ($this, $req) = (&*self, req);
                let extra: Option<$crate::Response> = $http;
                if extra.is_some() {
                    return extra;
                }
                self.fallback.on_http(ctx, req)
            }

            fn on_open(&mut self, ctx: &mut $crate::Ctx<'_>, req: &$crate::Request) {
                if !self.ep.open(ctx, req) {
                    self.fallback.on_open(ctx, req);
                }
            }

            fn on_message(&mut self, ctx: &mut $crate::Ctx<'_>, msg: $crate::Message) {
                if let Some(msg) = self.ep.message(ctx, msg) {
                    self.fallback.on_message(ctx, msg);
                }
            }

            fn on_close(&mut self, ctx: &mut $crate::Ctx<'_>, why: &$crate::Disconnect) {
                if !self.ep.close(ctx, why) {
                    self.fallback.on_close(ctx, why);
                }
            }

            fn on_http_closed(&mut self, ctx: &mut $crate::Ctx<'_>) {
                if !self.ep.http_closed(ctx) {
                    self.fallback.on_http_closed(ctx);
                }
            }

            fn on_start(&mut self, ctx: &mut $crate::ServerCtx<'_>) {
                self.ep.start(ctx);
                self.fallback.on_start(ctx);
            }

            fn on_notify(&mut self, ctx: &mut $crate::ServerCtx<'_>) {
                self.ep.notify(ctx);
                self.fallback.on_notify(ctx);
            }

            fn on_shutdown(&mut self, ctx: &mut $crate::ServerCtx<'_>) {
                self.ep.shutdown(ctx);
                self.fallback.on_shutdown(ctx);
            }

            fn on_timer(&mut self, ctx: &mut $crate::ServerCtx<'_>, timer: $crate::TimerId) {
                if !self.ep.timer(ctx, timer) {
                    self.fallback.on_timer(ctx, timer);
                }
            }
        }
    };
}

pub(crate) use endpoint_handler;
