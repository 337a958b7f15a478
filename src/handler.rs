//! The callbacks a program supplies: the [`Handler`] trait, closures, and [`Echo`].

use crate::ctx::{Ctx, ServerCtx};
use crate::deflate::DeflateConfig;
use crate::error::Disconnect;
use crate::http::{Request, Response};
use crate::{Message, MessageRef, TimerId};

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
    /// The server is about to serve: called once, on the reactor's thread, in its first
    /// pass (from [`Server::run`](crate::Server::run), [`Server::spawn`](crate::Server::spawn)
    /// or the first [`Server::poll`](crate::Server::poll)), before any connection is served.
    /// The place to start work that does not wait for a connection, such as a periodic
    /// timer ([`ServerCtx::set_timer`]). Default: nothing.
    fn on_start(&mut self, _ctx: &mut ServerCtx<'_>) {}

    /// Which reactor serves this request, on a server with several
    /// ([`Config::reactors`](crate::Config::reactors)): `Some(r)` for another reactor hands
    /// the connection, with the request already read, to reactor `r`, whose handler then
    /// gets the request as if it had arrived there ([`on_upgrade`](Self::on_upgrade) or
    /// [`on_http`](Self::on_http)) and serves the connection from then on. `None` (the
    /// default), or this reactor's number, serves it here.
    ///
    /// For sessions that span several requests, such as long-polling: the reactor that
    /// holds a session names itself in the session's id, and every request naming that id
    /// is routed there (what `@socket.io/sticky` does between processes; the
    /// `socketio` endpoints (feature `socketio`) do this). Called only with several reactors,
    /// for each upgrade and plain HTTP request, before anything else sees it; a request
    /// that was handed over is not routed again. A number past the last reactor is
    /// ignored. If that reactor's queue is full the request is answered `503` here. Moving a
    /// connection between reactors needs Unix; elsewhere requests are served where they
    /// arrive.
    fn route(&mut self, _req: &Request) -> Option<usize> {
        None
    }

    /// Sees an upgrade request before it is accepted. Return `Err(response)` to refuse it
    /// (401, 403 for a bad `Origin`, 404 for an unknown path), or accept, optionally
    /// choosing a subprotocol. Default: accept.
    fn on_upgrade(&mut self, _req: &Request) -> Result<Accept, Response> {
        Ok(Accept::default())
    }

    /// Answers a request on the same port that is not a WebSocket upgrade (its body, by
    /// `Content-Length`, is in `req`). Return `None` to hold the request and answer later
    /// with [`ServerCtx::respond`] (long-polling); a held request waits at most the idle timeout.
    /// Answer `HEAD` with what `GET` would get: the server sends its headers and length, not
    /// its body, however late the answer comes (see [`Response`] for how it is framed).
    /// Default: `426 Upgrade Required`, and the refusal is logged at `info` (rate-limited,
    /// as every request the library refuses is; see the README's Logging section).
    fn on_http(&mut self, ctx: &mut Ctx<'_>, req: &Request) -> Option<Response> {
        let why = format_args!(
            "plain HTTP {} {} (this handler serves WebSocket only)",
            req.method(),
            crate::reactor::rejects::clip(req.path())
        );
        ctx.rejected(426, &why);
        Some(Response::status_text(426).header("Upgrade", "websocket"))
    }

    /// A connection completed its upgrade.
    fn on_open(&mut self, _ctx: &mut Ctx<'_>, _req: &Request) {}

    /// A complete Text or Binary message arrived, owned. Default: send it back. Called by
    /// the default [`on_message_ref`](Self::on_message_ref); a handler that implements that
    /// one instead is not called here.
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        ctx.send(msg);
    }

    /// A complete Text or Binary message arrived, as the reactor holds it: lent from its
    /// read buffer if it arrived whole in one read (no allocation, no copy), owned
    /// otherwise ([`MessageRef`]). Default: make it owned (a copy if it was lent) and call
    /// [`on_message`](Self::on_message).
    ///
    /// Implement this one instead of `on_message` when most messages need not outlive the
    /// callback (an echo, a parse into your own types, a relay with
    /// [`Ctx::send`], which copies a lent message straight into the outbound buffer): it
    /// saves an allocation, a copy and a free per message, about a sixth of the library's
    /// own work per echoed 32-byte message (`scripts/callgrind-echo.sh`).
    fn on_message_ref(&mut self, ctx: &mut Ctx<'_>, msg: MessageRef<'_>) {
        self.on_message(ctx, msg.into_message());
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

    /// Another thread called [`Handle::notify`](crate::Handle::notify): look at what it
    /// left for the handler (a queue of its own). Calls that come close together are
    /// coalesced into one `on_notify` per reactor pass; none is lost: a `notify` after the
    /// handler started looking brings another call.
    fn on_notify(&mut self, _ctx: &mut ServerCtx<'_>) {}

    /// A timer set with [`ServerCtx::set_timer`] is due. It serves no connection, so its
    /// context is the server's: reach connections by id (`send_to`, `respond`), rooms
    /// (`publish`), or set the next timer.
    fn on_timer(&mut self, _ctx: &mut ServerCtx<'_>, _timer: TimerId) {}
}

/// Accepting an upgrade, optionally with a subprotocol (`Sec-WebSocket-Protocol`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    pub(crate) protocol: Option<String>,
    /// The connection's frames are an endpoint's (Engine.IO): raw sends from handles and
    /// other handlers never reach it.
    pub(crate) endpoint: bool,
    /// permessage-deflate for this connection; `None`: as `Config::deflate` says.
    pub(crate) deflate: Option<Option<DeflateConfig>>,
}

impl Accept {
    /// Accepts with this subprotocol, which must be one of the tokens the client offered
    /// ([`Request::protocols`]), spelled exactly as offered.
    ///
    /// Any other choice (a name the client did not offer, a list such as `chat, superchat`,
    /// an empty name, or any name when the client offered none) is refused: the client gets
    /// `500 Internal Server Error` and an error is logged, as when `on_upgrade` panics. The
    /// server "selects one or none of the acceptable protocols" (RFC 6455 §1.3), and a
    /// client fails a connection whose 101 names one it did not ask for (§4.1).
    ///
    /// ```
    /// use wsreactor::{Accept, Request, Response};
    ///
    /// fn on_upgrade(req: &Request) -> Result<Accept, Response> {
    ///     // prefer v2, then v1; without either, no subprotocol
    ///     let chosen = ["chat.v2", "chat.v1"]
    ///         .into_iter()
    ///         .find(|&p| req.protocols().any(|offered| offered == p));
    ///     Ok(chosen.map_or_else(Accept::default, Accept::protocol))
    /// }
    /// # let req = Request::from_parts("GET", "/", [("Sec-WebSocket-Protocol", "chat.v1, chat.v2")]);
    /// # assert_eq!(on_upgrade(&req), Ok(Accept::protocol("chat.v2")));
    /// ```
    pub fn protocol(name: impl Into<String>) -> Self {
        Accept {
            protocol: Some(name.into()),
            ..Accept::default()
        }
    }

    /// Negotiates permessage-deflate for this connection with these settings instead of
    /// [`Config::deflate`](crate::Config::deflate)'s; `None`: no compression for it,
    /// whatever the client offers.
    ///
    /// ```
    /// use wsreactor::{Accept, DeflateConfig};
    /// // Compress this connection's messages from 256 bytes on.
    /// let accept = Accept::default().deflate(Some(DeflateConfig::default().threshold(256)));
    /// # assert_ne!(accept, Accept::default());
    /// ```
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = Some(deflate);
        self
    }

    /// Accepts a connection whose every frame an endpoint (Socket.IO, Engine.IO) writes.
    #[cfg(feature = "socketio")]
    pub(crate) fn endpoint() -> Self {
        Accept {
            endpoint: true,
            ..Accept::default()
        }
    }

    /// Whether the choice fits `req`: no subprotocol, or one that `req` offered.
    pub(crate) fn check(&self, req: &Request) -> Result<(), NotOffered> {
        // "The value chosen MUST be derived from the client's handshake, specifically by
        // selecting one of the values from the |Sec-WebSocket-Protocol| field" (RFC 6455
        // §4.2.2 step 5, /subprotocol/).
        match &self.protocol {
            Some(p) if !req.protocols().any(|offered| offered == p) => Err(NotOffered(p.clone())),
            _ => Ok(()),
        }
    }
}

/// An [`Accept`] named a subprotocol the client did not offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotOffered(pub(crate) String);

impl std::fmt::Display for NotOffered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chose subprotocol {:?}, which the client did not offer",
            self.0
        )
    }
}

/// The echo handler: every Text and Binary message goes back verbatim.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_message_ref(&mut self, ctx: &mut Ctx<'_>, msg: MessageRef<'_>) {
        ctx.send(msg);
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_offered_subprotocol_can_be_chosen() {
        let offering = |values: &[&'static str]| {
            let headers = values.iter().map(|v| ("Sec-WebSocket-Protocol", *v));
            Request::from_parts("GET", "/", headers)
        };
        let req = offering(&["chat, superchat", "v2"]);
        for ok in ["chat", "superchat", "v2"] {
            assert_eq!(Accept::protocol(ok).check(&req), Ok(()), "{ok}");
        }
        assert_eq!(Accept::default().check(&req), Ok(()));
        assert_eq!(Accept::default().check(&offering(&[])), Ok(()));
        for bad in ["chat, superchat", "Chat", "", " chat", "mqtt", "chat,v2"] {
            assert_eq!(
                Accept::protocol(bad).check(&req),
                Err(NotOffered(bad.into())),
                "{bad:?}"
            );
        }
        assert!(Accept::protocol("chat").check(&offering(&[])).is_err());
    }
}
