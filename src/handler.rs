//! The callbacks a program supplies: the [`Handler`] trait, closures, and [`Echo`].

use crate::ctx::{Ctx, ServerCtx};
use crate::error::Disconnect;
use crate::http::{Request, Response};
use crate::{Message, TimerId};

/// What a server does with its connections. Every method has a default, so a handler
/// implements only what it needs; the default `on_message` echoes.
///
/// All callbacks run on the reactor thread, one at a time: a slow callback delays every
/// connection, so hand long work to another thread.
///
/// ```no_run
/// use wsreactor::{Ctx, Disconnect, Handler, Message, Request, Server};
///
/// struct Shout;
///
/// impl Handler for Shout {
///     fn on_open(&mut self, ctx: &mut Ctx<'_>, req: &Request) {
///         ctx.send(format!("welcome to {}", req.path()));
///     }
///     fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
///         if let Ok(text) = msg.to_text() {
///             ctx.send(text.to_uppercase());
///         }
///     }
///     fn on_close(&mut self, ctx: &mut Ctx<'_>, why: &Disconnect) {
///         log::info!("{} left: {why}", ctx.id());
///     }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// Server::bind("127.0.0.1:8080")?.run(Shout)
/// # }
/// ```
pub trait Handler {
    /// Sees an upgrade request before it is accepted. Return `Err(response)` to refuse it
    /// (401, 403 for a bad `Origin`, 404 for an unknown path), or accept, optionally
    /// choosing a subprotocol. Default: accept.
    fn on_upgrade(&mut self, _req: &Request) -> Result<Accept, Response> {
        Ok(Accept::default())
    }

    /// Answers a request on the same port that is not a WebSocket upgrade (its body, by
    /// `Content-Length`, is in `req`). Return `None` to hold the request and answer later
    /// with [`ServerCtx::respond`] (long-polling); a held request waits at most the idle timeout.
    /// Default: `426 Upgrade Required`.
    fn on_http(&mut self, _ctx: &mut Ctx<'_>, _req: &Request) -> Option<Response> {
        Some(Response::status_text(426).header("Upgrade", "websocket"))
    }

    /// A connection completed its upgrade.
    fn on_open(&mut self, _ctx: &mut Ctx<'_>, _req: &Request) {}

    /// A complete Text or Binary message arrived. Default: send it back.
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        ctx.send(msg);
    }

    /// A connection that was opened has ended; called exactly once for each.
    fn on_close(&mut self, _ctx: &mut Ctx<'_>, _why: &Disconnect) {}

    /// A connection whose request [`on_http`](Self::on_http) held (returned `None` for)
    /// ended before the request was answered: the peer closed it or it failed, the held
    /// request's timeout passed, or the server is stopping. Called once per request held
    /// and never answered, as soon as the reactor sees it, so a long-polling server learns
    /// at once that its client is gone. `ctx.id()` is the id `on_http` saw; answering it is
    /// no longer possible ([`ServerCtx::respond`] returns `false`).
    fn on_http_closed(&mut self, _ctx: &mut Ctx<'_>) {}

    /// [`Handle::shutdown`](crate::Handle::shutdown) was called. Runs once, before
    /// anything is closed: requests held now can still be answered (their responses are
    /// written before the connections close), WebSockets can still be sent a last
    /// message. When it returns, every WebSocket is closed with 1001 and every other
    /// connection once its response is out; unanswered held requests then get
    /// [`on_http_closed`](Self::on_http_closed).
    fn on_shutdown(&mut self, _ctx: &mut ServerCtx<'_>) {}

    /// A timer set with [`ServerCtx::set_timer`] is due. It serves no connection, so its
    /// context is the server's: reach connections by id (`send_to`, `respond`), rooms
    /// (`publish`), or set the next timer.
    fn on_timer(&mut self, _ctx: &mut ServerCtx<'_>, _timer: TimerId) {}
}

/// Accepting an upgrade, optionally with a subprotocol (`Sec-WebSocket-Protocol`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    pub(crate) protocol: Option<String>,
}

impl Accept {
    /// Accepts with this subprotocol, which should be one the client offered.
    pub fn protocol(name: impl Into<String>) -> Self {
        Accept {
            protocol: Some(name.into()),
        }
    }
}

/// The echo handler: every Text and Binary message goes back verbatim.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {}

/// A closure is a handler: it is called for each message and its `Some` return is the
/// reply. `|msg| Some(msg)` is an echo server.
impl<F> Handler for F
where
    F: FnMut(Message) -> Option<Message>,
{
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        if let Some(reply) = self(msg) {
            ctx.send(reply);
        }
    }
}
