//! What a handler asks of a [`Request`] beyond its raw parts: query parameters and
//! cookies. Kept apart from `http.rs`, which owns the request's representation and the
//! response framing; these only read the public accessors.

use std::borrow::Cow;

use crate::http::Request;

impl Request {
    /// The query's `name=value` pairs in order, percent-decoded and with `+` as a space
    /// (`application/x-www-form-urlencoded`, decoded by the `form_urlencoded` crate).
    /// Bytes that are not UTF-8 after decoding are replaced lossily, so a peer's input
    /// never fails the call. Empty when there is no query.
    ///
    /// ```
    /// use wsreactor::Request;
    /// let req = Request::from_parts("GET", "/chat?room=news&nick=J%C3%BCrgen+K", []);
    /// let pairs: Vec<(String, String)> = req
    ///     .query_pairs()
    ///     .map(|(k, v)| (k.into_owned(), v.into_owned()))
    ///     .collect();
    /// assert_eq!(pairs, [("room".into(), "news".into()), ("nick".into(), "Jürgen K".into())]);
    /// ```
    pub fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        form_urlencoded::parse(self.query().unwrap_or_default().as_bytes())
    }

    /// The first query parameter of this name, decoded as in
    /// [`query_pairs`](Self::query_pairs); names are compared exactly. A parameter
    /// without `=` has the empty value.
    ///
    /// ```
    /// use wsreactor::{Accept, Handler, Message, Request, Response, Ctx};
    ///
    /// struct TokenCheck;
    ///
    /// impl Handler for TokenCheck {
    ///     fn on_upgrade(&mut self, req: &Request) -> Result<Accept, Response> {
    ///         match req.query_param("token") {
    ///             Some(token) if token == "s3cret" => Ok(Accept::default()),
    ///             _ => Err(Response::status_text(401)),
    ///         }
    ///     }
    ///     fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
    ///         ctx.send(msg);
    ///     }
    /// }
    ///
    /// let ok = Request::from_parts("GET", "/ws?token=s3cret", []);
    /// assert!(TokenCheck.on_upgrade(&ok).is_ok());
    /// let wrong = Request::from_parts("GET", "/ws?token=guess", []);
    /// assert_eq!(TokenCheck.on_upgrade(&wrong).unwrap_err().status(), 401);
    /// assert_eq!(Request::from_parts("GET", "/ws?flag", []).query_param("flag").as_deref(), Some(""));
    /// ```
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The cookies the client sent, `(name, value)` in order, from every `Cookie` header
    /// (HTTP/1.1 clients send one; proxies may split it).
    ///
    /// The header is `name=value` pairs separated by `;` (RFC 6265 §4.2.1, as user agents
    /// write it in §5.4). Parsing is lenient, as servers must be with real clients:
    /// whitespace around names and values is dropped, a value in double quotes loses
    /// them, a pair without `=` or with an empty name is skipped, and nothing is
    /// percent-decoded (RFC 6265 defines no encoding; decode if your application encoded).
    /// Names are case-sensitive.
    ///
    /// ```
    /// use wsreactor::Request;
    /// let req = Request::from_parts("GET", "/", [("Cookie", "sid=abc123; theme=\"dark\"; junk")]);
    /// let cookies: Vec<_> = req.cookies().collect();
    /// assert_eq!(cookies, [("sid", "abc123"), ("theme", "dark")]);
    /// ```
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers()
            .filter(|(name, _)| name.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, value)| value.split(';'))
            .filter_map(parse_cookie_pair)
    }

    /// The value of the first cookie of this name (case-sensitive), parsed as in
    /// [`cookies`](Self::cookies).
    ///
    /// ```
    /// use wsreactor::Request;
    /// let req = Request::from_parts("GET", "/ws", [("Cookie", "sid=abc123; theme=dark")]);
    /// assert_eq!(req.cookie("sid"), Some("abc123"));
    /// assert_eq!(req.cookie("SID"), None);
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }
}

/// One `name=value` of a Cookie header, or `None` for a pair that names nothing.
fn parse_cookie_pair(pair: &str) -> Option<(&str, &str)> {
    // RFC 6265 §4.2.1 separates pairs with "; ", but clients and proxies also send bare
    // ";" or extra spaces, so whitespace is trimmed rather than required.
    let (name, value) = pair.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let value = value.trim();
    // cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ): the quotes are not
    // part of the value.
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, headers: &[(&str, &str)]) -> Request {
        Request::from_parts("GET", target, headers.iter().copied())
    }

    macro_rules! cookies {
        ($($header:expr => [$(($n:expr, $v:expr)),*];)*) => {$(
            let r = req("/", &[("Cookie", $header)]);
            let got: Vec<(&str, &str)> = r.cookies().collect();
            let want: Vec<(&str, &str)> = vec![$(($n, $v)),*];
            assert_eq!(got, want, "Cookie: {:?}", $header);
        )*};
    }

    #[test]
    fn cookie_headers() {
        cookies! {
            "a=1" => [("a", "1")];
            "a=1; b=2" => [("a", "1"), ("b", "2")];
            "a=1;b=2" => [("a", "1"), ("b", "2")];
            "  a = 1 ;  b=2  " => [("a", "1"), ("b", "2")];
            "a=\"quoted\"" => [("a", "quoted")];
            "a=\"" => [("a", "\"")];
            "a=" => [("a", "")];
            "a=b=c" => [("a", "b=c")];
            "noequals; a=1" => [("a", "1")];
            "=nameless; a=1" => [("a", "1")];
            "" => [];
            ";;;" => [];
            "a=%41" => [("a", "%41")];
        }
    }

    #[test]
    fn every_cookie_header_counts_and_names_are_case_sensitive() {
        let r = req(
            "/",
            &[("cookie", "a=1"), ("X", "y"), ("COOKIE", "b=2; A=3")],
        );
        assert_eq!(r.cookie("a"), Some("1"));
        assert_eq!(r.cookie("b"), Some("2"));
        assert_eq!(r.cookie("A"), Some("3"));
        assert_eq!(r.cookie("c"), None);
        assert_eq!(req("/", &[]).cookie("a"), None);
    }

    #[test]
    fn query_pairs_decode() {
        let r = req("/p?a=1&b=x%20y+z&a=2&&c&%FF=%E2%82%AC", &[]);
        let pairs: Vec<(String, String)> = r
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let want = [
            ("a", "1"),
            ("b", "x y z"),
            ("a", "2"),
            ("c", ""),
            ("\u{FFFD}", "€"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, want);
        assert_eq!(r.query_param("a").as_deref(), Some("1"));
        assert_eq!(r.query_param("missing"), None);
    }

    #[test]
    fn no_query_no_pairs() {
        assert_eq!(req("/p", &[]).query_pairs().count(), 0);
        assert_eq!(req("/p?", &[]).query_pairs().count(), 0);
        assert_eq!(req("/p?#frag", &[]).query_param("x"), None);
    }
}
