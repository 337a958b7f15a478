//! Why a socket was disconnected, named as Socket.IO names it.

use std::fmt;

/// Why a socket left its namespace, as passed to
/// [`Socket::on_disconnect`](super::Socket::on_disconnect). [`as_str`](Self::as_str) gives
/// the name the Socket.IO server uses, for logs that read like the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The connection ended on an error (a WebSocket protocol error, backpressure).
    TransportError,
    /// The connection was closed: the client left, or sent an Engine.IO close packet.
    TransportClose,
    /// The server closed the Engine.IO session.
    ForcedClose,
    /// The client did not answer a ping within `ping_timeout`.
    PingTimeout,
    /// The client sent a packet that could not be decoded.
    ParseError,
    /// The server called [`Socket::disconnect`](super::Socket::disconnect) with `close`:
    /// the whole connection was closed.
    ForcedServerClose,
    /// The client disconnected the socket from the namespace (`socket.disconnect()`).
    ClientNamespaceDisconnect,
    /// The server disconnected the socket from the namespace.
    ServerNamespaceDisconnect,
    /// The server is shutting down ([`Handle::shutdown`](crate::Handle::shutdown)).
    ServerShuttingDown,
}

impl DisconnectReason {
    /// Whether the network caused it, not a decision of the client or the server: a
    /// socket that ends so is kept for connection state recovery (the reference's
    /// `RECOVERABLE_DISCONNECT_REASONS`).
    pub(crate) fn is_recoverable(self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportError
                | DisconnectReason::TransportClose
                | DisconnectReason::ForcedClose
                | DisconnectReason::PingTimeout
                | DisconnectReason::ServerShuttingDown
                | DisconnectReason::ForcedServerClose
        )
    }

    /// The reference server's name: `"transport close"`, `"ping timeout"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedServerClose => "forced server close",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ServerShuttingDown => "server shutting down",
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
