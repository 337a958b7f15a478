//! The ids a program holds: connections and timers. Both are generational, so an id that
//! outlived what it named is harmless.

use crate::slab::{key_type, split};

key_type! {
    /// Identifies one connection for the life of the server.
    ///
    /// An id that outlived its connection is harmless: sending to it or closing it does
    /// nothing, even after a new connection has taken its place. It names the reactor that
    /// holds the connection ([`reactor`](Self::reactor)), so it reaches it from any reactor
    /// or thread. Shown as `#slot.gen`, or `#reactor:slot.gen` on reactors other than 0.
    pub struct ConnId;
}

impl ConnId {
    /// The reactor that holds this connection, below
    /// [`Config::reactors`](crate::Config::reactors): 0 on a server with one reactor.
    ///
    /// ```
    /// use wsreactor::{Config, Ctx, Handler, Request, Server};
    ///
    /// struct Where;
    ///
    /// impl Handler for Where {
    ///     fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
    ///         // A connection's callbacks run on the reactor that holds it.
    ///         assert_eq!(ctx.id().reactor(), ctx.reactor());
    ///         ctx.send(format!("you are on reactor {}", ctx.reactor()));
    ///     }
    /// }
    ///
    /// let server = Server::bind_with("127.0.0.1:0", Config::default().reactors(2))?;
    /// let (handle, thread) = server.spawn_with(|_reactor| Where);
    /// handle.shutdown().unwrap();
    /// thread.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reactor(self) -> usize {
        split(self.slot).0 as usize
    }
}

key_type! {
    /// A timer set with [`ServerCtx::set_timer`](crate::ServerCtx::set_timer), as passed to
    /// [`Handler::on_timer`](crate::Handler::on_timer) when it is due. Cancelling it, or
    /// its firing, ends it; the id then names nothing.
    pub struct TimerId;
}
