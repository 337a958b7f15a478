//! The HTTP side of the port: the request a handler sees, and the responses it can send.
//!
//! wsreactor owns its HTTP layer (parsed with `httparse`), so a request that is not an
//! upgrade can be answered on the same port through
//! [`Handler::on_http`](crate::Handler::on_http).

use std::fmt::Write as _;

/// An HTTP request as received: an upgrade request, or a plain request for
/// [`Handler::on_http`](crate::Handler::on_http).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
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
        }
    }
}

/// An HTTP response: a status, headers and a body. The server adds `Content-Length` and
/// `Connection`; it keeps an HTTP/1.1 connection open for the next request unless the
/// request said `Connection: close`.
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

    /// Serializes the response into `out`; `keep_alive` says whether the connection stays.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>, keep_alive: bool) {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        for (name, value) in &self.headers {
            // Header injection guard: a value with CR/LF would split the response.
            if !name.contains(['\r', '\n']) && !value.contains(['\r', '\n']) {
                let _ = write!(head, "{name}: {value}\r\n");
            }
        }
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let length = self.body.len();
        let _ = write!(
            head,
            "Content-Length: {length}\r\nConnection: {connection}\r\n\r\n"
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.body);
    }
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
            .write_to(&mut out, false);
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
            .write_to(&mut out, true);
        assert!(!String::from_utf8(out).unwrap().contains("Set-Cookie"));
    }
}
