//! Cross-origin requests (CORS): which web pages of other origins may use the endpoint.
//!
//! The reference hands its `cors` option to the npm `cors` package (expressjs/cors), so
//! these are that package's rules: preflights (`OPTIONS`) are answered `204` with the
//! allowed methods and headers, every other response of the endpoint (errors included)
//! carries `Access-Control-Allow-Origin` for an allowed origin, and a response that
//! depends on the request's `Origin` says so with `Vary: Origin`, so that caches keep one
//! copy per origin. Where this differs from the package, the item says so.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::http::{Request, Response};

/// The methods a preflight allows unless told otherwise: the `cors` package's default.
const METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE";

type OriginFn = dyn Fn(&str) -> bool + Send + Sync;

#[derive(Clone)]
enum AllowOrigin {
    Any,
    List(Vec<String>),
    Predicate(Arc<OriginFn>),
}

impl fmt::Debug for AllowOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowOrigin::Any => f.write_str("Any"),
            AllowOrigin::List(list) => f.debug_tuple("List").field(list).finish(),
            AllowOrigin::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// Which web pages of other origins may use the endpoint, and with what: the reference's
/// `cors` option. Set with [`Options::cors`](super::super::Options::cors); without it the
/// endpoint sends no CORS headers, which same-origin pages and non-browser clients
/// (Node's `socket.io-client`, native apps) do not need.
///
/// An origin is allowed by [`any`](Self::any), [`origin`](Self::origin),
/// [`origins`](Self::origins) or [`predicate`](Self::predicate). A request from an
/// allowed origin gets `Access-Control-Allow-Origin` on every response, errors (400, 403,
/// 413) included, so the page's code can read them. A request from any other origin gets
/// no `Access-Control-*` header at all (only `Vary: Origin`), and the browser keeps the
/// response from the page; the server still serves it, as the reference does (CORS is
/// the browser's rule: to refuse requests, use
/// [`Options::allow_request`](super::super::Options::allow_request)). The `cors` package
/// sends the other `Access-Control-*` headers (credentials, methods) to refused origins
/// too; they have no effect without `Access-Control-Allow-Origin`.
///
/// Origins are compared byte for byte with the request's `Origin` header, as the package
/// compares them: write them as browsers send them, `scheme://host[:port]`, lowercase,
/// without a trailing slash (`https://app.example.com`, `http://localhost:5173`).
///
/// ```
/// use wsreactor::socketio::{Cors, Options, SocketIo};
///
/// // A page served from another port in development, sending its cookies
/// // (`withCredentials: true` in the client):
/// let dev = Cors::origin("http://localhost:5173").credentials(true);
/// // Several sites, or any subdomain:
/// let sites = Cors::origins(["https://example.com", "https://admin.example.com"]);
/// let subdomains = Cors::predicate(|origin| origin.ends_with(".example.com"));
/// for cors in [dev, sites, subdomains] {
///     let io = SocketIo::new(Options::default().cors(cors));
///     assert_eq!(io.connections(), 0);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Cors {
    origin: AllowOrigin,
    credentials: bool,
    methods: String,
    allowed_headers: Option<String>,
    exposed_headers: Option<String>,
    max_age: Option<Duration>,
}

impl Cors {
    fn new(origin: AllowOrigin) -> Self {
        Cors {
            origin,
            credentials: false,
            methods: METHODS.to_owned(),
            allowed_headers: None,
            exposed_headers: None,
            max_age: None,
        }
    }

    /// Any origin: `Access-Control-Allow-Origin: *` (the reference's `origin: "*"`, the
    /// `cors` package's default). With [`credentials`](Self::credentials) the request's
    /// own `Origin` is sent back instead (the package's `origin: true`), with
    /// `Vary: Origin`, since browsers refuse `*` on a request with credentials.
    pub fn any() -> Self {
        Cors::new(AllowOrigin::Any)
    }

    /// One origin, such as `https://app.example.com`; `"*"` is [`any`](Self::any).
    ///
    /// The `cors` package sends a single configured origin to every request, matching
    /// or not; here a request from another origin gets none, as with
    /// [`origins`](Self::origins). A browser treats both alike.
    pub fn origin(origin: &str) -> Self {
        if origin == "*" {
            return Cors::any();
        }
        Cors::origins([origin])
    }

    /// These origins: a request from one of them gets its `Origin` back in
    /// `Access-Control-Allow-Origin`.
    pub fn origins<I>(origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Cors::new(AllowOrigin::List(
            origins.into_iter().map(Into::into).collect(),
        ))
    }

    /// The origins `allow` says yes to (it gets the request's `Origin` header); a request
    /// without one is not allowed. It runs on the reactor's thread for every request to
    /// the endpoint, so it must be quick; it is `Send + Sync` so that
    /// [`Options`](super::super::Options) stays `Send` and cheap to clone.
    pub fn predicate(allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Cors::new(AllowOrigin::Predicate(Arc::new(allow)))
    }

    /// Lets pages send cookies and HTTP authentication (`withCredentials: true` in the
    /// client): `Access-Control-Allow-Credentials: true` on every response to an allowed
    /// origin, whose `Origin` is then always sent back by name, never `*`. Default: off.
    pub fn credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// The methods a preflight allows (`Access-Control-Allow-Methods`). Default
    /// `GET,HEAD,PUT,PATCH,POST,DELETE`, the `cors` package's; Engine.IO uses `GET` and
    /// `POST`.
    pub fn methods<I>(mut self, methods: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.methods = join(methods);
        self
    }

    /// The request headers a preflight allows (`Access-Control-Allow-Headers`), such as
    /// the client's `extraHeaders`. Default: whatever the preflight asks for
    /// (`Access-Control-Request-Headers` sent back, with `Vary` naming it), as the `cors`
    /// package does.
    pub fn allowed_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.allowed_headers = Some(join(headers));
        self
    }

    /// Response headers the page may read besides the safelisted ones
    /// (`Access-Control-Expose-Headers`). Default: none.
    pub fn exposed_headers<I>(mut self, headers: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.exposed_headers = Some(join(headers)).filter(|h| !h.is_empty());
        self
    }

    /// How long a browser may reuse a preflight's answer (`Access-Control-Max-Age`, whole
    /// seconds). Default: not sent, so browsers keep it 5 seconds; they cap it at 2 hours
    /// (Chromium) or 24 hours (Firefox).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// The `Access-Control-Allow-Origin` value for `origin` (the request's), if allowed,
    /// and whether the answer depends on `origin` (then `Vary: Origin`).
    fn allow_origin<'r>(&self, origin: Option<&'r str>) -> (Option<&'r str>, bool) {
        match &self.origin {
            AllowOrigin::Any if !self.credentials => (Some("*"), false),
            AllowOrigin::Any => (origin, true),
            AllowOrigin::List(list) => (origin.filter(|o| list.iter().any(|a| a == o)), true),
            AllowOrigin::Predicate(allow) => (origin.filter(|o| allow(o)), true),
        }
    }

    /// The headers of a response to `req`, which is not a preflight.
    pub(crate) fn headers(&self, req: &Request) -> CorsHeaders {
        let (allowed, varies) = self.allow_origin(req.header("origin"));
        let mut headers = CorsHeaders::default();
        if let Some(origin) = allowed {
            headers.allow(origin, self.credentials);
            headers.push(
                "Access-Control-Expose-Headers",
                self.exposed_headers.as_deref(),
            );
        }
        if varies {
            headers.push("Vary", Some("Origin"));
        }
        headers
    }

    /// The answer to a preflight: `204 No Content`, as the `cors` package answers it
    /// (without passing it on); to an origin not allowed, with no `Access-Control-*`
    /// header, so the browser does not send the request.
    pub(crate) fn preflight(&self, req: &Request) -> Response {
        let (allowed, varies) = self.allow_origin(req.header("origin"));
        let mut headers = CorsHeaders::default();
        let mut vary = Vec::new();
        if varies {
            vary.push("Origin");
        }
        if let Some(origin) = allowed {
            headers.allow(origin, self.credentials);
            headers.push("Access-Control-Allow-Methods", Some(&self.methods));
            let allowed_headers = match &self.allowed_headers {
                Some(configured) => Some(configured.as_str()),
                None => {
                    vary.push("Access-Control-Request-Headers");
                    req.header("access-control-request-headers")
                }
            };
            headers.push(
                "Access-Control-Allow-Headers",
                allowed_headers.filter(|h| !h.is_empty()),
            );
            let max_age = self.max_age.map(|age| age.as_secs().to_string());
            headers.push("Access-Control-Max-Age", max_age.as_deref());
            headers.push(
                "Access-Control-Expose-Headers",
                self.exposed_headers.as_deref(),
            );
        }
        if !vary.is_empty() {
            headers.push("Vary", Some(&vary.join(", ")));
        }
        headers.apply(Response::new(204))
    }
}

fn join<I>(items: I) -> String
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let items: Vec<I::Item> = items.into_iter().collect();
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    items.join(",")
}

/// The CORS headers of one response, decided from its request: kept with a held GET,
/// whose answer is made later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CorsHeaders(Vec<(&'static str, String)>);

impl CorsHeaders {
    fn push(&mut self, name: &'static str, value: Option<&str>) {
        if let Some(value) = value {
            self.0.push((name, value.to_owned()));
        }
    }

    fn allow(&mut self, origin: &str, credentials: bool) {
        self.push("Access-Control-Allow-Origin", Some(origin));
        self.push(
            "Access-Control-Allow-Credentials",
            credentials.then_some("true"),
        );
    }

    /// `response` with these headers added.
    pub(crate) fn apply(&self, response: Response) -> Response {
        self.0.iter().fold(response, |response, (name, value)| {
            response.header(name, value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Framing;

    /// The headers of a response as sent, CORS and `Vary` only, in order.
    fn cors_of(response: &Response) -> Vec<String> {
        let mut out = Vec::new();
        response.write_to(&mut out, Framing::default());
        let text = String::from_utf8(out).unwrap();
        let (head, _) = text.split_once("\r\n\r\n").unwrap();
        head.lines()
            .skip(1)
            .filter(|l| l.starts_with("Access-Control-") || l.starts_with("Vary:"))
            .map(str::to_owned)
            .collect()
    }

    fn request(method: &str, origin: Option<&str>) -> Request {
        let mut headers = vec![("Access-Control-Request-Headers", "x-token")];
        headers.extend(origin.map(|o| ("Origin", o)));
        if method != "OPTIONS" {
            headers.remove(0);
        }
        Request::from_parts(method, "/socket.io/?EIO=4&transport=polling", headers)
    }

    const ACAO: &str = "Access-Control-Allow-Origin: ";
    const CREDENTIALS: &str = "Access-Control-Allow-Credentials: true";
    const METHODS: &str = "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE";
    const HEADERS: &str = "Access-Control-Allow-Headers: x-token";
    const VARY: &str = "Vary: Origin";
    const VARY_BOTH: &str = "Vary: Origin, Access-Control-Request-Headers";

    /// Every origin form, with and without credentials, on a preflight and on another
    /// request, from the allowed origin, another one, and none.
    #[test]
    fn each_origin_form_answers_as_the_cors_package() {
        let a = Some("http://a.example");
        let evil = Some("http://evil.example");
        let named = [
            Cors::origin("http://a.example"),
            Cors::origins(["http://b.example", "http://a.example"]),
            Cors::predicate(|o| o.starts_with("http://a.")),
        ];
        for (i, cors) in named.into_iter().enumerate() {
            for credentials in [false, true] {
                let cors = cors.clone().credentials(credentials);
                let creds: &[&str] = if credentials { &[CREDENTIALS] } else { &[] };
                let allowed = |rest: &[&str]| -> Vec<String> {
                    let mut v = vec![format!("{ACAO}http://a.example")];
                    v.extend(creds.iter().chain(rest).map(|s| s.to_string()));
                    v
                };
                let table: [(&str, Option<&str>, Vec<String>); 6] = [
                    ("GET", a, allowed(&[VARY])),
                    ("GET", evil, vec![VARY.into()]),
                    ("GET", None, vec![VARY.into()]),
                    ("OPTIONS", a, allowed(&[METHODS, HEADERS, VARY_BOTH])),
                    ("OPTIONS", evil, vec![VARY.into()]),
                    ("OPTIONS", None, vec![VARY.into()]),
                ];
                for (method, origin, want) in table {
                    let req = request(method, origin);
                    let got = if method == "OPTIONS" {
                        cors.preflight(&req)
                    } else {
                        cors.headers(&req).apply(Response::new(200))
                    };
                    assert_eq!(
                        cors_of(&got),
                        want,
                        "form {i}, credentials {credentials}, {method} from {origin:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn any_origin_is_a_star_unless_credentials_make_it_the_requests_own() {
        let star = format!("{ACAO}*");
        let vary_headers = "Vary: Access-Control-Request-Headers";
        for origin in [Some("http://a.example"), None] {
            let req = request("GET", origin);
            let got = Cors::any().headers(&req).apply(Response::new(400));
            assert_eq!(cors_of(&got), [star.as_str()], "{origin:?}");
            let got = Cors::any().preflight(&request("OPTIONS", origin));
            assert_eq!(
                cors_of(&got),
                [star.as_str(), METHODS, HEADERS, vary_headers],
                "{origin:?}"
            );
        }
        assert_eq!(
            cors_of(
                &Cors::origin("*")
                    .headers(&request("GET", None))
                    .apply(Response::new(200))
            ),
            [star.as_str()],
            "\"*\" is any"
        );

        let cors = Cors::any().credentials(true);
        for origin in ["http://a.example", "http://evil.example"] {
            let got = cors
                .headers(&request("GET", Some(origin)))
                .apply(Response::new(200));
            let own = format!("{ACAO}{origin}");
            assert_eq!(cors_of(&got), [own.as_str(), CREDENTIALS, VARY]);
            let got = cors.preflight(&request("OPTIONS", Some(origin)));
            assert_eq!(
                cors_of(&got),
                [own.as_str(), CREDENTIALS, METHODS, HEADERS, VARY_BOTH]
            );
        }
        // no Origin to send back: never `*` with credentials
        let got = cors
            .headers(&request("GET", None))
            .apply(Response::new(200));
        assert_eq!(cors_of(&got), [VARY]);
    }

    #[test]
    fn preflights_are_204_and_carry_the_configured_lists() {
        let cors = Cors::origin("http://a.example")
            .methods(["GET", "POST"])
            .allowed_headers(["x-token", "authorization"])
            .exposed_headers(["x-trace"])
            .max_age(Duration::from_secs(600));
        let got = cors.preflight(&request("OPTIONS", Some("http://a.example")));
        assert_eq!(got.status(), 204);
        assert_eq!(
            cors_of(&got),
            [
                "Access-Control-Allow-Origin: http://a.example",
                "Access-Control-Allow-Methods: GET,POST",
                "Access-Control-Allow-Headers: x-token,authorization",
                "Access-Control-Max-Age: 600",
                "Access-Control-Expose-Headers: x-trace",
                VARY,
            ]
        );
        let got = cors
            .headers(&request("POST", Some("http://a.example")))
            .apply(Response::new(200));
        assert_eq!(
            cors_of(&got),
            [
                "Access-Control-Allow-Origin: http://a.example",
                "Access-Control-Expose-Headers: x-trace",
                VARY,
            ]
        );
        // A preflight that asks for no header gets none, but still varies on the ask.
        let req = Request::from_parts("OPTIONS", "/", [("Origin", "http://a.example")]);
        let got = Cors::origin("http://a.example").preflight(&req);
        assert_eq!(
            cors_of(&got),
            [
                "Access-Control-Allow-Origin: http://a.example",
                METHODS,
                VARY_BOTH
            ]
        );
    }

    #[test]
    fn options_stay_send_and_sync() {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<Cors>();
        send_sync::<crate::socketio::Options>();
    }
}
