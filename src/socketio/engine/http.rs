//! The HTTP face of Engine.IO: query parameters, and the responses the reference server
//! gives (status, content type, body), so clients and proxies see what they expect.

use std::fmt;
use std::sync::Arc;

use crate::http::{Request, Response};

/// Error codes of the reference server (`Server.errors` in socketio/engine.io), answered
/// as `{"code":..,"message":..}` ([`error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    Forbidden = 4,
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    fn message(self) -> &'static str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }
}

/// The Engine.IO query parameters of a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Query<'a> {
    pub(crate) eio: Option<&'a str>,
    pub(crate) transport: Option<&'a str>,
    pub(crate) sid: Option<&'a str>,
}

impl<'a> Query<'a> {
    /// Reads `EIO`, `transport` and `sid`; others (`t`, the cache buster) are ignored. The
    /// values Engine.IO uses never need percent-decoding.
    pub(crate) fn parse(req: &'a Request) -> Self {
        let mut q = Query::default();
        for pair in req.query().unwrap_or("").split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "EIO" => q.eio = Some(value),
                "transport" => q.transport = Some(value),
                "sid" => q.sid = Some(value).filter(|v| !v.is_empty()),
                _ => {}
            }
        }
        q
    }
}

/// The reference's answer to a request it refuses: `{"code":..,"message":..}` as JSON,
/// `403` for [`ErrorCode::Forbidden`] and `400` for the others (engine.io's
/// `abortRequest`).
pub(crate) fn error(code: ErrorCode) -> Response {
    error_with(code, code.message())
}

fn error_with(code: ErrorCode, message: &str) -> Response {
    let status = if code == ErrorCode::Forbidden {
        403
    } else {
        400
    };
    let body = serde_json::json!({ "code": code as u8, "message": message });
    Response::new(status)
        .header("Content-Type", "application/json")
        .body(body.to_string())
}

/// The reference's answer to an upgrade it refuses, written before any handshake:
/// `400 Bad Request` whatever the code, the message as `text/html` (engine.io's
/// `abortUpgrade`); the connection closes after it.
pub(crate) fn upgrade_error(code: ErrorCode, message: Option<&str>) -> Response {
    Response::new(400)
        .header("Content-Type", "text/html")
        .body(message.unwrap_or(code.message()))
}

/// A polling payload (GET). v4 payloads are always text: binary goes as base64.
pub(crate) fn payload(body: Vec<u8>) -> Response {
    Response::new(200)
        .header("Content-Type", "text/plain; charset=UTF-8")
        // As the reference: a cache between client and server must not answer a poll.
        .header("Cache-Control", "no-store")
        .body(body)
}

/// The answer to a POST whose packets were taken. `text/html` rather than `text/plain`,
/// as the reference sends, so no user agent offers it as a download.
pub(crate) fn ok() -> Response {
    Response::new(200)
        .header("Content-Type", "text/html")
        .body("ok")
}

/// A POST body over `maxPayload`.
pub(crate) fn too_large() -> Response {
    Response::new(413)
}

/// A handshake refused by [`Options::allow_request`](super::super::Options::allow_request):
/// a long-polling client is answered `403 {"code":4,"message":..}`, a WebSocket upgrade
/// `400` with the message as text, as the reference answers its `allowRequest` refusals.
/// The message is `Forbidden` unless given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forbidden {
    message: Option<String>,
}

impl Forbidden {
    /// A refusal with this message instead of `Forbidden` (the reference's
    /// `fn(message, false)`). Browsers keep it from the page unless CORS allows the page's
    /// origin, and a WebSocket client never sees it: the official client reports every
    /// refusal as `connect_error` with its own message (`xhr poll error`, `websocket
    /// error`).
    pub fn message(message: impl Into<String>) -> Self {
        Forbidden {
            message: Some(message.into()),
        }
    }

    /// The answer to a refused long-polling handshake.
    pub(crate) fn polling(&self) -> Response {
        let message = self
            .message
            .as_deref()
            .unwrap_or(ErrorCode::Forbidden.message());
        error_with(ErrorCode::Forbidden, message)
    }

    /// The answer to a refused WebSocket handshake.
    pub(crate) fn upgrade(&self) -> Response {
        upgrade_error(ErrorCode::Forbidden, self.message.as_deref())
    }
}

type AllowFn = dyn Fn(&Request) -> Result<(), Forbidden> + Send + Sync;

/// The app's say on each handshake ([`Options::allow_request`](super::super::Options::allow_request)).
#[derive(Clone)]
pub(crate) struct AllowRequest(pub(crate) Arc<AllowFn>);

impl AllowRequest {
    pub(crate) fn check(&self, req: &Request) -> Result<(), Forbidden> {
        (self.0)(req)
    }
}

impl fmt::Debug for AllowRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AllowRequest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_reads_engine_parameters() {
        let req = Request::from_parts(
            "GET",
            "/socket.io/?EIO=4&transport=polling&t=N8h&sid=ab",
            [],
        );
        let q = Query::parse(&req);
        assert_eq!(
            q,
            Query {
                eio: Some("4"),
                transport: Some("polling"),
                sid: Some("ab")
            }
        );
        let req = Request::from_parts("GET", "/socket.io/", []);
        assert_eq!(Query::parse(&req), Query::default());
        let req = Request::from_parts("GET", "/socket.io/?EIO&sid=", []);
        assert_eq!(Query::parse(&req).eio, Some(""));
        assert_eq!(Query::parse(&req).sid, None);
    }

    fn wire(response: &Response) -> String {
        let mut out = Vec::new();
        response.write_to(&mut out, crate::http::Framing::default());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn errors_are_json_with_the_reference_codes() {
        let text = wire(&error(ErrorCode::UnknownSid));
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert!(
            text.contains("Content-Type: application/json\r\n"),
            "{text}"
        );
        assert!(text.ends_with(r#"{"code":1,"message":"Session ID unknown"}"#));
        let text = wire(&error(ErrorCode::Forbidden));
        assert!(text.starts_with("HTTP/1.1 403 "), "{text}");
        assert!(text.ends_with(r#"{"code":4,"message":"Forbidden"}"#));
    }

    #[test]
    fn refusals_of_the_app_carry_its_message_as_the_reference_does() {
        let text = wire(&Forbidden::message(r#"go away "now""#).polling());
        assert!(text.starts_with("HTTP/1.1 403 "), "{text}");
        assert!(text.ends_with(r#"{"code":4,"message":"go away \"now\""}"#));
        let text = wire(&Forbidden::default().upgrade());
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert!(text.contains("Content-Type: text/html\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nForbidden"), "{text}");
        let text = wire(&Forbidden::message("banned").upgrade());
        assert!(text.ends_with("\r\n\r\nbanned"), "{text}");
    }
}
