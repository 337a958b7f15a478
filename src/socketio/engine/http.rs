//! The HTTP face of Engine.IO: query parameters, and the responses the reference server
//! gives (status, content type, body), so clients and proxies see what they expect.

use crate::http::{Request, Response};

/// Error codes of the reference server (`Server.errors` in socketio/engine.io), answered
/// as `400 {"code":..,"message":..}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    fn message(self) -> &'static str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
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

/// Headers the endpoint adds to every response: CORS when configured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cors {
    pub(crate) origin: Option<String>,
}

impl Cors {
    pub(crate) fn apply(&self, response: Response) -> Response {
        match &self.origin {
            Some(origin) => {
                let response = response.header("Access-Control-Allow-Origin", origin);
                if origin == "*" {
                    response
                } else {
                    response.header("Vary", "Origin")
                }
            }
            None => response,
        }
    }

    /// The answer to a CORS preflight (`OPTIONS`), when CORS is configured.
    pub(crate) fn preflight(&self, req: &Request) -> Option<Response> {
        self.origin.as_ref()?;
        let mut response = Response::new(204).header(
            "Access-Control-Allow-Methods",
            "GET,HEAD,PUT,PATCH,POST,DELETE",
        );
        if let Some(headers) = req.header("access-control-request-headers") {
            response = response
                .header("Access-Control-Allow-Headers", headers)
                .header("Vary", "Access-Control-Request-Headers");
        }
        Some(self.apply(response))
    }

    pub(crate) fn error(&self, code: ErrorCode) -> Response {
        let body = format!(
            r#"{{"code":{},"message":"{}"}}"#,
            code as u8,
            code.message()
        );
        self.apply(
            Response::new(400)
                .header("Content-Type", "application/json")
                .body(body),
        )
    }

    /// A polling payload (GET). v4 payloads are always text: binary goes as base64.
    pub(crate) fn payload(&self, body: Vec<u8>) -> Response {
        self.apply(
            Response::new(200)
                .header("Content-Type", "text/plain; charset=UTF-8")
                .body(body),
        )
    }

    /// The answer to a POST whose packets were taken. `text/html` rather than `text/plain`,
    /// as the reference sends, so no user agent offers it as a download.
    pub(crate) fn ok(&self) -> Response {
        self.apply(
            Response::new(200)
                .header("Content-Type", "text/html")
                .body("ok"),
        )
    }

    /// A POST body over `maxPayload`.
    pub(crate) fn too_large(&self) -> Response {
        self.apply(Response::new(413))
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

    #[test]
    fn errors_are_json_with_the_reference_codes() {
        let cors = Cors {
            origin: Some("*".into()),
        };
        let mut out = Vec::new();
        cors.error(ErrorCode::UnknownSid)
            .write_to(&mut out, crate::http::Framing::default());
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert!(
            text.contains("Access-Control-Allow-Origin: *\r\n"),
            "{text}"
        );
        assert!(text.ends_with(r#"{"code":1,"message":"Session ID unknown"}"#));
    }
}
