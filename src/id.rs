//! The ids a program holds: connections and timers. Both are generational, so an id that
//! outlived what it named is harmless.

use crate::slab::key_type;

key_type! {
    /// Identifies one connection for the life of the server.
    ///
    /// An id that outlived its connection is harmless: sending to it or closing it does
    /// nothing, even after a new connection has taken its place. Shown as `#slot.gen`.
    pub struct ConnId;
}

key_type! {
    /// A timer set with [`ServerCtx::set_timer`](crate::ServerCtx::set_timer), as passed to
    /// [`Handler::on_timer`](crate::Handler::on_timer) when it is due. Cancelling it, or
    /// its firing, ends it; the id then names nothing.
    pub struct TimerId;
}
