//! The HTTP side of the port: the request a handler sees, and the responses it can send.
//!
//! wsreactor owns its HTTP layer (parsed with `httparse`), so a request that is not an
//! upgrade can be answered on the same port through
//! [`Handler::on_http`](crate::Handler::on_http).

use std::fmt::Write as _;

use log::error;

/// An HTTP request as received: an upgrade request, or a plain request for
/// [`Handler::on_http`](crate::Handler::on_http).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Came over TLS; set by the reactor, which knows the transport.
    pub(crate) secure: bool,
}

impl Request {
    /// Whether the request came over TLS (`https://`, `wss://`: [`Config::tls`]).
    /// `false` on a plain port, even behind a TLS-terminating proxy (read its headers, such
    /// as `X-Forwarded-Proto`, for that).
    ///
    /// [`Config::tls`]: crate::Config
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent, path and query: `/chat?room=1`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path without the query: `/chat`.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(&self.target, |(path, _)| path)
    }

    /// The query string without `?`, if any: `room=1`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The first header of this name (case-insensitive). Values that are not UTF-8 were
    /// replaced lossily.
    ///
    /// ```
    /// # let req = wsreactor::Request::from_parts("GET", "/", [("Origin", "http://a")]);
    /// assert_eq!(req.header("origin"), Some("http://a"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The subprotocols the client offers (`Sec-WebSocket-Protocol`), in its order of
    /// preference: the tokens of every such header, split at commas and trimmed, empty
    /// elements skipped (a repeated header is one list: RFC 6455 §11.3.4). Choose one with
    /// [`Accept::protocol`](crate::Accept::protocol).
    ///
    /// ```
    /// let req = wsreactor::Request::from_parts("GET", "/", [
    ///     ("Sec-WebSocket-Protocol", "chat, superchat"),
    ///     ("sec-websocket-protocol", " v2.chat ,"),
    /// ]);
    /// let offered: Vec<&str> = req.protocols().collect();
    /// assert_eq!(offered, ["chat", "superchat", "v2.chat"]);
    /// ```
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The extensions the client offers (`Sec-WebSocket-Extensions`), every such header
    /// joined into one list (RFC 6455 §11.3.2); `None` without any.
    pub(crate) fn extensions(&self) -> Option<String> {
        let mut values = (self.headers.iter())
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"))
            .map(|(_, v)| v.as_str());
        let first = values.next()?.to_owned();
        Some(values.fold(first, |list, v| list + ", " + v))
    }

    /// The body (plain HTTP requests with `Content-Length`; empty otherwise).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// All headers in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Builds a request by hand, for tests of handlers.
    pub fn from_parts<'a>(
        method: &str,
        target: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            body: Vec::new(),
            secure: false,
        }
    }
}

/// An HTTP response: a status, headers and a body. The server adds `Content-Length` and
/// `Connection`; it keeps an HTTP/1.1 connection open for the next request unless the
/// request said `Connection: close`.
///
/// The server frames the response for the request it answers, so a client that reuses the
/// connection never reads one response's bytes as the start of the next:
///
/// - An answer to `HEAD` goes without its body, with the `Content-Length` of that body:
///   answer `HEAD` with the response `GET` would get (RFC 9110 §9.3.2).
/// - A `204 No Content` goes without body or `Content-Length`; a `304 Not Modified` goes
///   without body, and with `Content-Length` only if the body was set (to the one a `200`
///   would have: RFC 9110 §8.6).
/// - A status that cannot end a request (1xx, or outside 100–999) is a handler bug: the
///   server logs an error and sends `500 Internal Server Error` instead.
/// - `Content-Length`, `Transfer-Encoding` and `Connection` are the server's: the
///   handler's own are dropped, except that `Connection: close` is honoured (the connection
///   closes after the response). Headers with an invalid name, or a value with CR, LF or
///   NUL, are dropped too.
///
/// ```
/// let page = wsreactor::Response::new(200)
///     .header("Content-Type", "text/html; charset=utf-8")
///     .body("<h1>hello</h1>");
/// assert_eq!(page.status(), 200);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with this status, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `text/plain` response whose body is the status's reason phrase.
    pub fn status_text(status: u16) -> Self {
        Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(format!("{status} {}\n", reason_phrase(status)))
    }

    /// A `200 OK` HTML page (`text/html; charset=utf-8`, `Cache-Control: no-cache`).
    pub fn html(page: impl Into<Vec<u8>>) -> Self {
        Response::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Cache-Control", "no-cache")
            .body(page)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Serializes the response into `out`, framed for the request it answers (see the
    /// type's docs). Returns whether the connection stays open: `framing.keep_alive`,
    /// unless the response itself says `Connection: close`.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>, framing: Framing) -> bool {
        let status = self.status;
        // "A client MUST be able to parse one or more 1xx responses received prior to a
        // final response" (RFC 9110 §15.2): a 1xx is never the last word, and 101 only
        // answers an accepted upgrade (`write_accept`). The status-code is 3DIGIT
        // (RFC 9112 §4).
        if !(200..=999).contains(&status) {
            error!("a handler answered with status {status}, which cannot end a request: sent 500");
            return Response::status_text(500).write_to(out, framing);
        }
        let mut keep_alive = framing.keep_alive;
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
        for (name, value) in &self.headers {
            if ["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
            {
                // The framing is ours to state, once; a handler may only ask to close.
                if name.eq_ignore_ascii_case("connection")
                    && value
                        .split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("close"))
                {
                    keep_alive = false;
                }
                continue;
            }
            // Header injection guard: a value with CR/LF would split the response, and a
            // name that is not a token would make the head unparseable (RFC 9110 §5.1,
            // §5.5: "Field values containing CR, LF, or NUL characters are invalid").
            if is_token(name) && !value.contains(['\r', '\n', '\0']) {
                let _ = write!(head, "{name}: {value}\r\n");
            }
        }
        // "A server MUST NOT send a Content-Length header field in any response with a
        // status code of 1xx (Informational) or 204 (No Content)"; in a 304 or an answer to
        // HEAD it may only be the length a 200 to GET would have had (RFC 9110 §8.6).
        let length = match status {
            204 => None,
            304 if self.body.is_empty() => None,
            _ => Some(self.body.len()),
        };
        if let Some(length) = length {
            let _ = write!(head, "Content-Length: {length}\r\n");
        }
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let _ = write!(head, "Connection: {connection}\r\n\r\n");
        out.extend_from_slice(head.as_bytes());
        // "Any response to a HEAD request and any response with a 1xx (Informational), 204
        // (No Content), or 304 (Not Modified) status code is always terminated by the first
        // empty line after the header fields ... because they cannot contain a message
        // body" (RFC 9112 §6.3 rule 1).
        if !(framing.head || status == 204 || status == 304) {
            out.extend_from_slice(&self.body);
        }
        keep_alive
    }
}

/// What the request says about its response's framing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Framing {
    /// The request was `HEAD`: the response goes without its body.
    pub(crate) head: bool,
    /// The connection stays open for another request.
    pub(crate) keep_alive: bool,
}

impl Framing {
    /// The framing of the response to `request`.
    pub(crate) fn of(request: &Request, keep_alive: bool) -> Self {
        Framing {
            // Methods are case-sensitive (RFC 9110 §9.1).
            head: request.method == "HEAD",
            keep_alive,
        }
    }
}

/// A header name is a token (RFC 9110 §5.1, §5.6.2).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The reason phrase of a status code (RFC 9110 §15).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_split_on_the_first_question_mark() {
        let req = Request::from_parts("GET", "/a/b?x=1?y", []);
        assert_eq!(req.path(), "/a/b");
        assert_eq!(req.query(), Some("x=1?y"));
        assert_eq!(Request::from_parts("GET", "/", []).query(), None);
    }

    #[test]
    fn response_bytes_have_length_and_close() {
        let mut out = Vec::new();
        Response::new(404)
            .header("X-A", "1")
            .body("nope")
            .write_to(&mut out, Framing::default());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
        );
    }

    #[test]
    fn header_values_with_newlines_are_dropped() {
        let mut out = Vec::new();
        Response::new(200)
            .header("X-A", "1\r\nSet-Cookie: x")
            .header("X-B c", "1")
            .header("", "1")
            .header("X-C", "a\0b")
            .write_to(&mut out, KEEP);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    const KEEP: Framing = Framing {
        head: false,
        keep_alive: true,
    };
    const HEAD: Framing = Framing {
        head: true,
        keep_alive: true,
    };

    fn text(response: &Response, framing: Framing) -> (String, bool) {
        let mut out = Vec::new();
        let keep_alive = response.write_to(&mut out, framing);
        (String::from_utf8(out).unwrap(), keep_alive)
    }

    #[test]
    fn head_gets_the_headers_and_length_of_get_without_the_body() {
        let page = Response::new(405).header("Allow", "GET").body("not here");
        let (get, _) = text(&page, KEEP);
        let (head, _) = text(&page, HEAD);
        assert_eq!(
            get,
            "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 8\r\n\
             Connection: keep-alive\r\n\r\nnot here"
        );
        assert_eq!(head, get.strip_suffix("not here").unwrap());
    }

    #[test]
    fn no_content_and_not_modified_carry_no_body_whatever_the_handler_set() {
        for framing in [KEEP, HEAD] {
            let (t, _) = text(&Response::new(204).body("x"), framing);
            assert_eq!(
                t,
                "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"
            );
            let (t, _) = text(&Response::new(304).header("ETag", "\"1\""), framing);
            assert_eq!(
                t,
                "HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\nConnection: keep-alive\r\n\r\n"
            );
            // A 304 given the body a 200 would have states its length, not its bytes.
            let (t, _) = text(&Response::new(304).body("abc"), framing);
            assert_eq!(
                t,
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n"
            );
        }
    }

    #[test]
    fn statuses_that_cannot_end_a_request_become_500() {
        for status in [0, 99, 100, 101, 103, 199, 1000, u16::MAX] {
            for framing in [KEEP, HEAD] {
                let (t, keep_alive) = text(&Response::new(status).body("x"), framing);
                let (want, _) = text(&Response::status_text(500), framing);
                assert_eq!((t, keep_alive), (want, true), "{status}");
            }
        }
        let (t, _) = text(&Response::new(999), KEEP);
        assert!(t.starts_with("HTTP/1.1 999 "), "{t}");
    }

    #[test]
    fn framing_headers_are_the_servers_and_connection_close_is_honoured() {
        let response = Response::new(200)
            .header("content-length", "99")
            .header("Transfer-Encoding", "chunked")
            .header("Connection", "keep-alive")
            .body("ab");
        let (t, keep_alive) = text(&response, KEEP);
        assert_eq!(
            (t.as_str(), keep_alive),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nab",
                true
            )
        );
        let response = Response::new(200).header("Connection", "Upgrade, Close");
        let (t, keep_alive) = text(&response, HEAD);
        assert_eq!(
            (t.as_str(), keep_alive),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                false
            )
        );
    }

    #[test]
    fn protocols_are_the_tokens_of_every_header() {
        let req = Request::from_parts(
            "GET",
            "/",
            [
                ("Sec-WebSocket-Protocol", "chat,,superchat "),
                ("X-Other", "no"),
                ("SEC-WEBSOCKET-PROTOCOL", "\tv2 , "),
            ],
        );
        assert_eq!(
            req.protocols().collect::<Vec<_>>(),
            ["chat", "superchat", "v2"]
        );
        assert_eq!(Request::from_parts("GET", "/", []).protocols().count(), 0);
    }
}
