//! Why a connection ended, and how tungstenite's errors map onto close codes.

use std::fmt;

use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;

use crate::conn::utf8::InvalidUtf8;

/// Why a connection ended, as passed to [`Handler::on_close`](crate::Handler::on_close).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// The close code sent or received; [`CloseCode::Abnormal`] (1006) when the connection
    /// ended without a close frame.
    pub code: CloseCode,
    /// The close reason sent or received (often empty).
    pub reason: String,
    /// What ended the connection.
    pub cause: Cause,
}

/// What ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The peer started the close handshake.
    PeerClosed,
    /// The server side (a handler, or a `Handle`) started the close handshake.
    ServerClosed,
    /// The peer broke the protocol (1002), sent invalid UTF-8 (1007) or a message over the
    /// size limit (1009); the server closed with that code.
    Protocol,
    /// The peer did not read what it was sent: its outbound queue passed
    /// [`Config::max_backpressure`](crate::Config::max_backpressure), or stayed above the
    /// soft limit for a whole idle timeout (1008).
    Backpressure,
    /// The peer sent nothing within the keepalive's Ping and pong timeout (1001).
    IdleTimeout,
    /// The connection dropped without a close handshake: reset, EOF, or a socket error.
    Reset,
    /// The peer did not answer our close frame within the close timeout.
    CloseTimeout,
    /// A handler callback panicked while serving this connection (1011).
    HandlerPanic,
    /// The server is shutting down (1001).
    Shutdown,
}

impl Disconnect {
    pub(crate) fn new(code: CloseCode, reason: impl Into<String>, cause: Cause) -> Self {
        Disconnect {
            code,
            reason: reason.into(),
            cause,
        }
    }

    /// The connection dropped without a close frame (1006).
    pub(crate) fn reset() -> Self {
        Disconnect::new(CloseCode::Abnormal, "", Cause::Reset)
    }

    /// The disconnect that failing the connection for `err` causes, with the code the
    /// server sends (RFC 6455 §7.4.1). `None` for errors that are not the peer's fault at
    /// the protocol level (I/O errors, a closed connection).
    pub(crate) fn for_ws_error(err: &WsError) -> Option<Self> {
        let (code, reason) = match err {
            WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
                (CloseCode::Size, "message too big")
            }
            WsError::Capacity(_) => (CloseCode::Size, "capacity exceeded"),
            WsError::Utf8(_) => (CloseCode::Invalid, "invalid UTF-8"),
            // Found by the connection's UTF-8 guard before the frame was complete.
            WsError::Io(e) if InvalidUtf8::is(e) => (CloseCode::Invalid, "invalid UTF-8"),
            // EOF without a close frame is the peer leaving, not a frame we can answer.
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
            WsError::Protocol(ProtocolError::InvalidCloseSequence) => {
                (CloseCode::Protocol, "invalid close frame")
            }
            WsError::Protocol(_) => (CloseCode::Protocol, "protocol error"),
            WsError::AttackAttempt => (CloseCode::Policy, "attack attempt"),
            _ => return None,
        };
        Some(Disconnect::new(code, reason, Cause::Protocol))
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?}", u16::from(self.code), self.cause)?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_errors_map_to_rfc_close_codes() {
        let cases = [
            (WsError::Protocol(ProtocolError::NonZeroReservedBits), 1002),
            (WsError::Utf8("bad".into()), 1007),
            (WsError::Io(InvalidUtf8::io_error()), 1007),
            (
                WsError::Capacity(CapacityError::MessageTooLong {
                    size: 2,
                    max_size: 1,
                }),
                1009,
            ),
        ];
        for (err, code) in cases {
            let d = Disconnect::for_ws_error(&err).expect("a protocol-level error");
            assert_eq!(u16::from(d.code), code, "{err}");
            assert_eq!(d.cause, Cause::Protocol);
        }
        assert!(Disconnect::for_ws_error(&WsError::ConnectionClosed).is_none());
    }

    #[test]
    fn display_names_code_cause_and_reason() {
        let d = Disconnect::new(CloseCode::Normal, "bye", Cause::PeerClosed);
        assert_eq!(d.to_string(), "1000 (PeerClosed: bye)");
    }
}
