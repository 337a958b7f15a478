//! Why a connection ended.

use std::fmt;

use tungstenite::protocol::frame::coding::CloseCode;

#[cfg(test)]
use crate::conn::decode::is_valid_close_code;

/// Why a connection ended, as passed to [`Handler::on_close`](crate::Handler::on_close).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// The close code sent or received: the first Close frame of the connection, ours or
    /// the peer's. When the server had sent a Close and the peer then dropped the
    /// connection without answering (reset, EOF, a socket error), it is the code sent and
    /// [`cause`](Self::cause) is [`Cause::Reset`]. [`CloseCode::Abnormal`] (1006) only
    /// when no close frame was sent either way; [`CloseCode::Status`] (1005) when the
    /// peer's close frame carried no code. A peer's code is reported as sent, including
    /// codes tungstenite has no name for (1014 is `CloseCode::from(1014)`).
    pub code: CloseCode,
    /// The close reason sent or received, from the same frame as `code` (often empty).
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
    /// The peer broke the protocol (1002; a close frame with a code that may not be sent
    /// counts), sent invalid UTF-8 (1007) or a frame or message over the size limit
    /// (1009); the server closed with that code, as soon as the bytes showed it.
    Protocol,
    /// The peer did not read what it was sent: its outbound queue passed
    /// [`Config::max_backpressure`](crate::Config::max_backpressure), or stayed above the
    /// soft limit for a whole idle timeout (1008).
    Backpressure,
    /// The peer sent nothing within the keepalive's Ping and pong timeout (1001).
    IdleTimeout,
    /// The connection dropped without completing a close handshake: reset, EOF, or a
    /// socket error. If the server had already sent a Close (a handler's or a `Handle`'s
    /// close, a shutdown's 1001), `code` and `reason` are the ones it sent; otherwise 1006.
    Reset,
    /// The peer did not answer our close frame within the close timeout.
    CloseTimeout,
    /// A handler callback panicked while serving this connection (1011).
    HandlerPanic,
    /// The server is shutting down (1001).
    Shutdown,
}

/// Why a connection (or a Socket.IO socket) could not join a room.
///
/// Returned by [`Ctx::join`](crate::Ctx::join) and, with the `socketio` feature,
/// `Socket::join`; nothing changed. The limits are
/// [`Config::max_rooms_per_connection`](crate::Config::max_rooms_per_connection) and
/// [`Config::max_room_name_len`](crate::Config::max_room_name_len) (Socket.IO:
/// `Options::max_rooms_per_socket` and `Options::max_room_name_len`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// Not an open WebSocket connection (still in its handshake, plain HTTP, or gone), or
    /// a Socket.IO socket that has disconnected.
    NotOpen,
    /// Already in as many rooms as the limit allows; leave one first.
    TooManyRooms,
    /// The room's name is longer than the limit, in bytes.
    NameTooLong,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JoinError::NotOpen => "not an open connection",
            JoinError::TooManyRooms => "already in as many rooms as allowed",
            JoinError::NameTooLong => "room name longer than allowed",
        })
    }
}

impl std::error::Error for JoinError {}

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
}

/// Cuts a close reason to 123 bytes on a character boundary (RFC 6455 §5.5: control frame
/// payloads are at most 125 bytes, two of which carry the code).
pub(crate) fn truncate_reason(reason: &str) -> &str {
    prefix(reason, 123)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub(crate) fn prefix(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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
    fn reasons_are_cut_on_char_boundaries() {
        assert_eq!(truncate_reason("bye"), "bye");
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123 && cut.len() >= 122);
        assert!(long.starts_with(cut));
    }

    #[test]
    fn close_codes_are_judged_by_the_iana_registry() {
        let valid: Vec<u16> = (0..=u16::MAX).filter(|&c| is_valid_close_code(c)).collect();
        let mut want: Vec<u16> = [1000, 1001, 1002, 1003].into();
        want.extend(1007..=1014);
        want.extend(3000..=4999);
        assert_eq!(valid, want);
    }

    #[test]
    fn display_names_code_cause_and_reason() {
        let d = Disconnect::new(CloseCode::Normal, "bye", Cause::PeerClosed);
        assert_eq!(d.to_string(), "1000 (PeerClosed: bye)");
    }
}
