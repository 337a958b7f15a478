//! HTTP/1.1 request heads, sans I/O: bytes in, a verdict out: a WebSocket upgrade
//! (RFC 6455 §4.2), a plain request with its body length and keep-alive (RFC 9112), or a
//! rejection.
//!
//! The request may arrive a byte at a time; [`RequestHead::push`] keeps what it was given and
//! parses the whole head once, when the blank line that ends the headers has arrived (or the
//! size limit is reached). Bytes after the blank line are returned untouched: they are the
//! first WebSocket frames. Before that, each line is judged on its own as it arrives, so
//! input that cannot be HTTP/1.1 (binary garbage, a TLS ClientHello on the plain port) is
//! answered `400` at once, not at the handshake timeout. Both keep the work linear in the
//! bytes received, however slowly they come.

use tungstenite::handshake::derive_accept_key;

use crate::http::{Request, Response};

/// Headers accepted in one request; more → 431. Browsers send about 15.
const MAX_HEADERS: usize = 64;

/// The verdict on the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The headers are not complete yet.
    Partial,
    /// A valid WebSocket upgrade request. `tail` holds the bytes after the headers.
    Upgrade {
        request: Request,
        key: String,
        tail: Vec<u8>,
    },
    /// A complete request head that does not ask for an upgrade: for the HTTP hook. A body
    /// of `body_len` bytes follows; `tail` holds what of it (or beyond) has arrived.
    Http {
        request: Request,
        body_len: usize,
        tail: Vec<u8>,
        keep_alive: bool,
    },
    /// An invalid request, answered with this response and then closed; why, for the log.
    Reject(Response, &'static str),
}

/// The buffer of one connection's request head.
#[derive(Debug, Default)]
pub(crate) struct RequestHead {
    buf: Vec<u8>,
    /// `buf[..checked]` is whole lines, each judged valid.
    checked: usize,
    /// How long the unfinished line after them was when it was last judged. It is judged
    /// again once it has doubled, so a line trickled in a byte at a time costs linear work,
    /// and an invalid byte is found by the time the line is twice as long as where it is.
    probed: usize,
    /// The request line is judged whole: the lines after it are header lines.
    past_request_line: bool,
    /// Header lines judged whole: past [`MAX_HEADERS`] the answer is 431 at once, as the
    /// parser gives when the head arrives whole, whatever invalid line may follow.
    headers: usize,
}

/// What the lines received so far say.
enum Lines {
    /// Valid so far.
    Plausible,
    /// A line that cannot be part of a valid request head.
    Invalid,
    /// More header lines than [`MAX_HEADERS`].
    TooMany,
    /// An empty line after the request line: the head is complete.
    Ended,
}

impl RequestHead {
    /// Adds received bytes and tells whether the request is complete. `max_bytes` caps the
    /// request line plus headers.
    pub(crate) fn push(&mut self, bytes: &[u8], max_bytes: usize) -> Parsed {
        let search_from = self.buf.len().saturating_sub(3);
        self.buf.extend_from_slice(bytes);
        let has_end = self.buf[search_from..].windows(4).any(|w| w == b"\r\n\r\n");
        if !has_end && self.buf.len() < max_bytes {
            match self.judge_lines() {
                Lines::Plausible => return Parsed::Partial,
                Lines::Invalid => return reject(400, "not an HTTP/1.1 request"),
                Lines::TooMany => return reject(431, "too many headers"),
                Lines::Ended => {}
            }
        }
        parse(&self.buf, max_bytes)
    }

    /// The request received so far is a `HEAD` (its answer has no body), as far as its
    /// first bytes tell; for requests refused before they parse whole. Empty lines before
    /// the request line are skipped, as the parser does (RFC 9112 §2.2).
    pub(crate) fn is_head(&self) -> bool {
        let start = self.buf.iter().position(|&b| b != b'\r' && b != b'\n');
        start.is_some_and(|i| self.buf[i..].starts_with(b"HEAD "))
    }

    /// Judges the lines completed since the last call, and the unfinished one if it has
    /// doubled since it was last judged. httparse tells a partial line from an invalid one
    /// (`Status::Partial` is not an error), and its grammar is line by line: a request
    /// line, then header lines (RFC 9112 §2.1).
    fn judge_lines(&mut self) -> Lines {
        while let Some(at) = self.buf[self.checked..].iter().position(|&b| b == b'\n') {
            let end = self.checked + at + 1;
            let line = &self.buf[self.checked..end];
            // httparse skips empty lines before the request line (RFC 9112 §2.2).
            let empty = matches!(line, b"\r\n" | b"\n");
            if empty && self.past_request_line {
                return Lines::Ended;
            }
            if !self.line_is_plausible(line) {
                return Lines::Invalid;
            }
            if self.past_request_line {
                self.headers += 1;
                if self.headers > MAX_HEADERS {
                    return Lines::TooMany;
                }
            }
            self.past_request_line |= !empty;
            self.checked = end;
            self.probed = 0;
        }
        let unfinished = self.buf.len() - self.checked;
        if unfinished > 0 && unfinished >= 2 * self.probed {
            self.probed = unfinished;
            if !self.line_is_plausible(&self.buf[self.checked..]) {
                return Lines::Invalid;
            }
        }
        Lines::Plausible
    }

    /// Whether httparse finds nothing invalid in this line, or this start of one.
    fn line_is_plausible(&self, line: &[u8]) -> bool {
        if self.past_request_line {
            let mut header = [httparse::EMPTY_HEADER; 1];
            httparse::parse_headers(line, &mut header).is_ok()
        } else {
            // No room for headers: the request line alone can only be partial or invalid.
            let mut req = httparse::Request::new(&mut []);
            req.parse(line).is_ok()
        }
    }
}

/// Parses a buffer that holds a whole request head (or has reached `max_bytes`). Only the
/// first `max_bytes` are judged, so the verdict does not depend on how much arrived past
/// the limit, or in how many reads: a head that does not end within them is `431`, unless
/// they already hold an invalid line (`400`), as when they arrive one at a time.
pub(crate) fn parse(buf: &[u8], max_bytes: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let window = &buf[..buf.len().min(max_bytes)];
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => return reject(431, "too many headers"),
        Ok(httparse::Status::Partial) if buf.len() >= max_bytes => {
            return reject(431, "request head too large")
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return reject(400, "malformed request head"),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return reject(400, "malformed request line");
    };
    let request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        secure: false,
    };

    // An upgrade is asked for by `Upgrade: websocket` plus a `Connection` header whose
    // comma-separated list holds `upgrade`, both case-insensitive (RFC 6455 §4.2.1 items 3, 4).
    let has_token = |name: &str, token: &str| {
        request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let count = |name: &str| {
        (request.headers.iter())
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    };
    // "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
    // message that lacks a Host header field and to any that contains more than one Host
    // header field line" (RFC 9112 §3.2): two could name two different origins.
    if count("host") > 1 {
        return reject(400, "repeated Host header");
    }
    if !(has_token("upgrade", "websocket") && has_token("connection", "upgrade")) {
        // Bodies are delimited by Content-Length only (RFC 9112 §6.3).
        if request.header("transfer-encoding").is_some() {
            return reject(501, "Transfer-Encoding is not supported");
        }
        // "If a message is received without Transfer-Encoding and with an invalid
        // Content-Length header field, then the message framing is invalid ... the server
        // MUST respond with a 400 (Bad Request) status code and then close the connection"
        // (RFC 9112 §6.3 item 5). `Content-Length = 1*DIGIT` (RFC 9110 §8.6), so no sign,
        // and a repeated header, which could disagree, is refused whatever its values.
        let mut lengths = (request.headers.iter())
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.trim());
        let body_len = match (lengths.next(), lengths.next()) {
            (None, _) => 0,
            (Some(v), None) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                match v.parse() {
                    Ok(len) => len,
                    Err(_) => return reject(400, "invalid Content-Length"),
                }
            }
            _ => return reject(400, "invalid or repeated Content-Length"),
        };
        // HTTP/1.1 keeps the connection unless told otherwise (RFC 9112 §9.3).
        let keep_alive = version == 1 && !has_token("connection", "close");
        let tail = buf[head_len..].to_vec();
        return Parsed::Http {
            request,
            body_len,
            tail,
            keep_alive,
        };
    }
    // "An HTTP/1.1 or higher GET request" (§4.2.1 item 1) with a Host header (item 2).
    if method != "GET" || version != 1 || request.header("host").is_none() {
        return reject(400, "upgrade that is not an HTTP/1.1 GET with a Host");
    }
    // "The |Sec-WebSocket-Key| header field MUST NOT appear more than once in an HTTP
    // request" (§11.3.1), nor may |Sec-WebSocket-Version| (§11.3.5); |Sec-WebSocket-Accept|
    // belongs in one response only (§11.3.3), so a client that sends it twice is not
    // speaking the protocol either. (|Sec-WebSocket-Protocol| and |Sec-WebSocket-Extensions|
    // MAY repeat: their values form one list, §11.3.2, §11.3.4.)
    if [
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-accept",
    ]
    .iter()
    .any(|name| count(name) > 1)
    {
        return reject(400, "repeated Sec-WebSocket header");
    }
    // "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded,
    // is 16 bytes in length" (§4.2.1 item 5).
    let key = match request.header("sec-websocket-key") {
        Some(key) if is_base64_of_16_bytes(key.trim()) => key.trim().to_owned(),
        _ => return reject(400, "missing or invalid Sec-WebSocket-Key"),
    };
    // "A |Sec-WebSocket-Version| header field, with a value of 13" (§4.2.1 item 6); otherwise
    // answer with the versions we speak (§4.4).
    if request.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Parsed::Reject(
            Response::status_text(426).header("Sec-WebSocket-Version", "13"),
            "unsupported Sec-WebSocket-Version",
        );
    }
    Parsed::Upgrade {
        request,
        key,
        tail: buf[head_len..].to_vec(),
    }
}

fn reject(status: u16, reason: &'static str) -> Parsed {
    Parsed::Reject(Response::status_text(status), reason)
}

/// 16 bytes encode to 22 base64 characters plus `==`.
fn is_base64_of_16_bytes(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes[22..] == *b"=="
        && bytes[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// What a `101 Switching Protocols` names besides the accept key.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AcceptHeaders<'a> {
    /// The subprotocol chosen (`Sec-WebSocket-Protocol`).
    pub(crate) protocol: Option<&'a str>,
    /// The extensions accepted, with their parameters (`Sec-WebSocket-Extensions`).
    pub(crate) extensions: Option<&'a str>,
}

/// The `101 Switching Protocols` response for a request with this key.
pub(crate) fn write_accept(key: &str, headers: AcceptHeaders<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: ",
    );
    out.extend_from_slice(derive_accept_key(key.as_bytes()).as_bytes());
    if let Some(protocol) = headers.protocol.filter(|p| !p.contains(['\r', '\n'])) {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
    }
    // Built by `deflate::negotiate` from tokens it matched exactly: no line breaks.
    if let Some(extensions) = headers.extensions {
        out.extend_from_slice(b"\r\nSec-WebSocket-Extensions: ");
        out.extend_from_slice(extensions.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(lines: &[&str]) -> Vec<u8> {
        let mut s = lines.join("\r\n");
        s.push_str("\r\n\r\n");
        s.into_bytes()
    }

    fn valid(extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = [
            "GET /chat HTTP/1.1",
            "Host: example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for e in extra {
            if let Some(added) = e.strip_prefix('+') {
                v.push(added.to_string());
                continue;
            }
            let name = e.split(':').next().unwrap();
            v.retain(|l| !l.starts_with(name));
            if !e.ends_with(':') {
                v.push(e.to_string());
            }
        }
        v
    }

    /// Found by the `http_request` fuzz target: an over-long head with an invalid line past
    /// the limit was 400 when it arrived whole and 431 when it arrived in pieces (the
    /// limit was met before the line was judged). Now only the first `max_bytes` count.
    #[test]
    fn an_over_long_head_gets_one_answer_however_it_arrives() {
        let req = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Version; 13\r\n\r\n";
        let whole = status_of(&RequestHead::default().push(req, 64));
        let mut head = RequestHead::default();
        let pieces = req.chunks(20).map(|c| head.push(c, 64));
        let last = pieces
            .filter(|p| *p != Parsed::Partial)
            .map(|p| status_of(&p));
        assert_eq!(whole, 431);
        assert_eq!(last.collect::<Vec<_>>().first(), Some(&431));
    }

    /// Found by the `http_request` fuzz target: 65 headers then an invalid line were 431
    /// whole (the parser counts first) and 400 in pieces (lines were judged, not counted).
    #[test]
    fn too_many_headers_is_431_however_the_head_arrives() {
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for _ in 0..MAX_HEADERS {
            req.extend_from_slice(b"X: 1\r\n");
        }
        req.extend_from_slice(b"bad line\r\n\r\n");
        assert_eq!(status_of(&RequestHead::default().push(&req, 8192)), 431);
        let mut head = RequestHead::default();
        let verdicts = req.chunks(7).map(|c| head.push(c, 8192));
        let first = verdicts.map(|p| status_of(&p)).find(|&s| s != 0);
        assert_eq!(first, Some(431));
    }

    fn status_of(parsed: &Parsed) -> u16 {
        match parsed {
            Parsed::Reject(r, _) => r.status(),
            Parsed::Upgrade { .. } => 101,
            Parsed::Http { .. } => 426,
            Parsed::Partial => 0,
        }
    }

    /// `verdict!(status, [replaced, removed ("Name:") or added ("+Name: value") header
    /// lines...])`
    macro_rules! verdict {
        ($($name:ident: $status:expr, [$($line:expr),*];)*) => {$(
            #[test]
            fn $name() {
                let lines = valid(&[$($line),*]);
                let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                assert_eq!(status_of(&parse(&request(&lines), 8192)), $status);
            }
        )*};
    }

    verdict! {
        accepts_valid_request: 101, [];
        tokens_are_case_insensitive_and_listed: 101,
            ["Upgrade: WebSocket", "Connection: keep-alive, UPGRADE"];
        post_is_bad_request: 400, ["GET /chat HTTP/1.1:", "POST /chat HTTP/1.1"];
        http_1_0_is_bad_request: 400, ["GET /chat HTTP/1.1:", "GET /chat HTTP/1.0"];
        missing_host_is_bad_request: 400, ["Host:"];
        missing_key_is_bad_request: 400, ["Sec-WebSocket-Key:"];
        short_key_is_bad_request: 400, ["Sec-WebSocket-Key: dGhlIHNhbXBsZQ=="];
        non_base64_key_is_bad_request: 400, ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!=="];
        version_8_is_upgrade_required: 426, ["Sec-WebSocket-Version: 8"];
        missing_version_is_upgrade_required: 426, ["Sec-WebSocket-Version:"];
        no_upgrade_header_is_plain_http: 426, ["Upgrade:"];
        connection_without_upgrade_is_plain_http: 426, ["Connection: keep-alive"];
        // RFC 6455 §11.3: the headers that may appear once, repeated with the same value or
        // another, in any case; and the two that may repeat.
        repeated_key_is_bad_request: 400, ["+Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="];
        repeated_key_other_value_is_bad_request: 400,
            ["+sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA=="];
        repeated_version_is_bad_request: 400, ["+Sec-WebSocket-Version: 13"];
        repeated_version_other_value_is_bad_request: 400, ["+Sec-WebSocket-Version: 8"];
        repeated_version_other_case_is_bad_request: 400, ["+SEC-WEBSOCKET-VERSION: 13"];
        one_accept_header_is_ignored: 101, ["+Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="];
        repeated_accept_is_bad_request: 400, [
            "+Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "+Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        ];
        repeated_protocol_is_one_list: 101,
            ["+Sec-WebSocket-Protocol: chat", "+Sec-WebSocket-Protocol: superchat, v2"];
        repeated_extensions_is_one_list: 101, [
            "+Sec-WebSocket-Extensions: permessage-deflate",
            "+Sec-WebSocket-Extensions: x-webkit-deflate-frame"
        ];
        // RFC 9112 §3.2: one Host, or 400; upgrade or not.
        repeated_host_is_bad_request: 400, ["+Host: other.example"];
        repeated_host_on_plain_http_is_bad_request: 400,
            ["Upgrade:", "+Host: example.com"];
    }

    #[test]
    fn repeated_websocket_headers_are_refused_in_any_order_and_split() {
        // The input: two versions that disagree, the wrong one first.
        let req = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
            Sec-WebSocket-Version: 8\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        assert_eq!(status_of(&parse(req, 8192)), 400);
        let mut hs = RequestHead::default();
        let verdicts: Vec<u16> = req
            .iter()
            .map(|b| status_of(&hs.push(&[*b], 8192)))
            .collect();
        assert_eq!(
            verdicts.iter().rev().skip(1).max(),
            Some(&0),
            "partial until the end"
        );
        assert_eq!(verdicts.last(), Some(&400));
    }

    #[test]
    fn content_length_must_be_one_run_of_digits() {
        let with = |lines: &str| {
            let req = format!("POST /x HTTP/1.1\r\nHost: a\r\n{lines}\r\n\r\nabcde");
            match parse(req.as_bytes(), 8192) {
                Parsed::Http { body_len, .. } => Ok(body_len),
                other => Err(status_of(&other)),
            }
        };
        assert_eq!(with("Content-Length: 5"), Ok(5));
        assert_eq!(with("Content-Length:  5 "), Ok(5));
        assert_eq!(with("X-A: 1"), Ok(0));
        // Two lengths could disagree: one intermediary frames by the first, we by another.
        assert_eq!(with("Content-Length: 5\r\nContent-Length: 0"), Err(400));
        assert_eq!(with("Content-Length: 5\r\ncontent-length: 5"), Err(400));
        for bad in [
            "+5",
            "-0",
            "5, 5",
            "0x5",
            "",
            "5 5",
            "99999999999999999999999",
        ] {
            assert_eq!(with(&format!("Content-Length: {bad}")), Err(400), "{bad:?}");
        }
    }

    #[test]
    fn a_refused_head_request_is_known_to_be_head() {
        for (bytes, head) in [
            (&b"HEAD / HTTP/1.1\r\nBad Header\r\n\r\n"[..], true),
            (b"\r\nHEAD / HTTP/1.1\r\nX-Big: aaaa", true),
            (b"HEAD", false),
            (b"GET / HTTP/1.1\r\n\r\n", false),
            (b"HEADER / HTTP/1.1\r\n\r\n", false),
            (b"head / HTTP/1.1\r\n\r\n", false),
            (b"", false),
        ] {
            let mut hs = RequestHead::default();
            hs.push(bytes, 8192);
            assert_eq!(hs.is_head(), head, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn version_426_names_the_supported_version() {
        let lines = valid(&["Sec-WebSocket-Version: 8"]);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let Parsed::Reject(resp, _) = parse(&request(&lines), 8192) else {
            panic!()
        };
        let mut out = Vec::new();
        resp.write_to(&mut out, crate::http::Framing::default());
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Sec-WebSocket-Version: 13\r\n"));
    }

    #[test]
    fn plain_http_reports_body_length_and_keep_alive() {
        let req = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab";
        let Parsed::Http {
            request,
            body_len,
            tail,
            keep_alive,
        } = parse(req, 8192)
        else {
            panic!()
        };
        assert_eq!(
            (request.method(), body_len, &tail[..], keep_alive),
            ("POST", 5, &b"ab"[..], true)
        );
        let req = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        assert!(matches!(
            parse(req, 8192),
            Parsed::Http {
                keep_alive: false,
                body_len: 0,
                ..
            }
        ));
        let req = b"GET / HTTP/1.0\r\n\r\n";
        assert!(matches!(
            parse(req, 8192),
            Parsed::Http {
                keep_alive: false,
                ..
            }
        ));
        let req = b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n";
        assert_eq!(status_of(&parse(req, 8192)), 400);
        let req = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status_of(&parse(req, 8192)), 501);
    }

    #[test]
    fn garbage_is_bad_request() {
        assert_eq!(
            status_of(&parse(b"\x16\x03\x01\x02\x00\r\n\r\n", 8192)),
            400
        );
    }

    /// The first bytes of a TLS 1.2 ClientHello (a record header, then the handshake).
    const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8e\x1b";

    #[test]
    fn input_that_cannot_be_http_is_bad_request_before_the_blank_line() {
        let cases: &[&[u8]] = &[
            CLIENT_HELLO,
            b"\x00\x01\x02\xff\xfe",
            b"GET / HTTP/1.1 extra\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n Folded: y\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b",
            b"PRI * HTTP/2.0\r\n",
            b"GET / HTTP/1.1\r\nHo(st",
        ];
        for bytes in cases {
            let verdict = RequestHead::default().push(bytes, 8192);
            assert_eq!(
                status_of(&verdict),
                400,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        // Trickled in: refused on the first byte that cannot be HTTP.
        let mut hs = RequestHead::default();
        assert_eq!(status_of(&hs.push(&CLIENT_HELLO[..1], 8192)), 400);
        let mut hs = RequestHead::default();
        let head = b"GET / HTTP/1.1\r\nX-Ok: 1\r\n\x01";
        for (i, b) in head.iter().enumerate() {
            let verdict = hs.push(std::slice::from_ref(b), 8192);
            let want = if i + 1 == head.len() { 400 } else { 0 };
            assert_eq!(status_of(&verdict), want, "after {} bytes", i + 1);
        }
    }

    #[test]
    fn valid_heads_are_not_refused_early_however_they_arrive() {
        let heads: &[&[u8]] = &[
            b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
            // empty lines before the request line are skipped (RFC 9112 §2.2)
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\nHost: x\n\n",
        ];
        for head in heads {
            for step in [1, 2, 3, 7, head.len()] {
                let mut hs = RequestHead::default();
                let mut verdict = Parsed::Partial;
                for piece in head.chunks(step) {
                    assert_eq!(verdict, Parsed::Partial);
                    verdict = hs.push(piece, 8192);
                }
                assert!(
                    matches!(verdict, Parsed::Http { .. }),
                    "{:?} in pieces of {step}: {verdict:?}",
                    String::from_utf8_lossy(head)
                );
            }
        }
    }

    #[test]
    fn oversized_headers_are_431() {
        let big = format!("X-Big: {}", "a".repeat(9000));
        let lines = valid(&[&big]);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(status_of(&parse(&request(&lines), 8192)), 431);
        // and incrementally, before the end of the headers arrives
        let mut hs = RequestHead::default();
        let bytes = request(&lines);
        assert_eq!(status_of(&hs.push(&bytes[..8500], 8192)), 431);
    }

    #[test]
    fn too_many_headers_are_431() {
        let many: Vec<String> = (0..100).map(|i| format!("X-{i}: 1")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let lines = valid(&many);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(status_of(&parse(&request(&lines), 1 << 20)), 431);
    }

    #[test]
    fn byte_at_a_time_keeps_the_tail() {
        let lines = valid(&[]);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let mut bytes = request(&lines);
        bytes.extend_from_slice(b"\x81\x80tail");
        let mut hs = RequestHead::default();
        let mut verdict = Parsed::Partial;
        for b in &bytes {
            assert_eq!(verdict, Parsed::Partial);
            verdict = hs.push(std::slice::from_ref(b), 8192);
            if verdict != Parsed::Partial {
                // the rest arrives later; a real connection hands it to the decoder
                break;
            }
        }
        let Parsed::Upgrade { request, key, tail } = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(request.path(), "/chat");
        assert_eq!(key, KEY);
        assert!(tail.is_empty(), "the blank line completes the request");

        let Parsed::Upgrade { tail, .. } = RequestHead::default().push(&bytes, 8192) else {
            panic!()
        };
        assert_eq!(tail, b"\x81\x80tail");
    }

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        // RFC 6455 §1.3: the key "dGhlIHNhbXBsZSBub25jZQ==" gives this accept value.
        let mut out = Vec::new();
        let headers = AcceptHeaders {
            protocol: Some("chat"),
            extensions: Some("permessage-deflate"),
        };
        write_accept(KEY, headers, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
        assert!(text.contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}

/// Randomised inputs: arbitrary bytes and mutated valid requests, fed whole and in pieces.
#[cfg(test)]
mod props {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// A small header limit, so the 431 path is reached too.
    const MAX: usize = 1024;

    fn valid_request() -> Vec<u8> {
        b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n\x81\x80tail"
            .to_vec()
    }

    #[derive(Debug, Clone)]
    enum Edit {
        Flip(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Edit::Flip(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
            any::<usize>().prop_map(Edit::Remove),
            any::<usize>().prop_map(Edit::Truncate),
        ]
    }

    fn mutate(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
        for edit in edits {
            let len = bytes.len();
            match *edit {
                Edit::Flip(i, b) if len > 0 => bytes[i % len] ^= b,
                Edit::Insert(i, b) => bytes.insert(i % (len + 1), b),
                Edit::Remove(i) if len > 0 => {
                    bytes.remove(i % len);
                }
                Edit::Truncate(i) => bytes.truncate(i % (len + 1)),
                _ => {}
            }
        }
        bytes
    }

    /// Arbitrary bytes, or a valid request with a few random edits.
    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..2048),
            vec(edit(), 0..8).prop_map(|edits| mutate(valid_request(), &edits)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// However the request is cut into reads, the first verdict is the one the bytes
        /// received so far get in one piece (the end-of-headers search across reads),
        /// except that an unfinished line is judged only once it has doubled: fed in pieces,
        /// an invalid byte in it may still be `Partial` where one piece says 400.
        #[test]
        fn split_feeding_agrees_with_one_piece(
            bytes in input(),
            cuts in vec(1usize..64, 1..32),
        ) {
            let mut hs = RequestHead::default();
            let mut fed = 0;
            let mut verdict = Parsed::Partial;
            for len in cuts.iter().cycle() {
                if fed == bytes.len() {
                    break;
                }
                let end = (fed + len).min(bytes.len());
                verdict = hs.push(&bytes[fed..end], MAX);
                fed = end;
                if verdict != Parsed::Partial {
                    break;
                }
            }
            let whole = RequestHead::default().push(&bytes[..fed], MAX);
            let refused = matches!(&whole, Parsed::Reject(r, _) if r.status() == 400);
            if verdict == Parsed::Partial && refused {
                return Ok(());
            }
            prop_assert_eq!(verdict, whole);
        }

        /// An upgrade is granted only to a request that meets RFC 6455 §4.2.1, and the
        /// tail handed to the decoder is exactly what followed the headers.
        #[test]
        fn upgrades_are_granted_only_to_valid_requests(bytes in input()) {
            if let Parsed::Upgrade { request, key, tail } = RequestHead::default().push(&bytes, MAX) {
                prop_assert_eq!(request.method.as_str(), "GET");
                prop_assert!(request.header("host").is_some());
                prop_assert!(is_base64_of_16_bytes(&key));
                prop_assert!(bytes.ends_with(&tail));
                prop_assert!(bytes.len() - tail.len() <= MAX);
            }
        }
    }
}
