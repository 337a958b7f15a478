//! Poller tokens: the reserved ones, and a connection's (its slot in the slab).

use mio::Token;

use crate::id::ConnId;
use crate::slab::Key;

/// The listening socket's token.
pub(crate) const LISTENER: Token = Token(usize::MAX);
/// The token of the waker that `Handle`s use.
pub(crate) const WAKER: Token = Token(usize::MAX - 1);

/// A connection's token: its slot. The slab tells which generation lives there now, so an
/// event for a connection that is gone finds its successor's id only if the slot was
/// reused, and then is a harmless spurious wake-up.
pub(crate) fn token(id: ConnId) -> Token {
    Token(id.slot() as usize)
}
