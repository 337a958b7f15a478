//! [`Handshake`]: what a socket was opened with (Socket.IO's `socket.handshake`): the HTTP
//! request that opened its Engine.IO session, where it came from, when, and the `auth` its
//! client sent to the namespace.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::Request;

/// The Engine.IO query parameters, which `query` leaves out: they describe the transport,
/// not the app.
const ENGINE_PARAMS: [&str; 4] = ["EIO", "transport", "t", "sid"];

/// What one Engine.IO session was opened with, shared by its sockets.
#[derive(Debug)]
pub(crate) struct Opening {
    request: Request,
    address: SocketAddr,
    issued: SystemTime,
    query: Vec<(String, String)>,
}

impl Opening {
    /// `issued`: the wall-clock time the session opened (only reported, never used to
    /// decide anything, so it is read where the session opens, not from the reactor's
    /// clock).
    pub(crate) fn new(request: Request, address: SocketAddr, issued: SystemTime) -> Self {
        let query = request
            .query_pairs()
            .filter(|(name, _)| !ENGINE_PARAMS.contains(&name.as_ref()))
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Opening {
            request,
            address,
            issued,
            query,
        }
    }
}

/// The details of a socket's handshake, as the reference server's `socket.handshake`
/// gives them: headers, query, address, time, and the `auth` payload.
///
/// Cheap to clone (the request is shared by every socket of the connection); `Send` and
/// `Sync`, so [`fetch_sockets`](super::Broadcast::fetch_sockets) can hand it to another
/// thread.
///
/// ```
/// # use wsreactor::socketio::{Options, SocketIo};
/// # let mut io = SocketIo::new(Options::default());
/// io.of("/").on_connection(|socket| {
///     let hs = socket.handshake();
///     log::info!("{} from {} (room {:?})", socket.id(), hs.address(), hs.query_param("room"));
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Handshake {
    opening: Arc<Opening>,
    auth: Value,
}

impl Handshake {
    pub(crate) fn new(opening: Arc<Opening>, auth: Value) -> Self {
        Handshake { opening, auth }
    }

    /// The HTTP request that opened the connection (the first long-polling GET, or the
    /// WebSocket upgrade): method, target, headers, cookies.
    pub fn request(&self) -> &Request {
        &self.opening.request
    }

    /// The first header of this name (case-insensitive), from [`request`](Self::request).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.opening.request.header(name)
    }

    /// The request target as sent (`handshake.url`): `/socket.io/?EIO=4&transport=polling&x=1`.
    pub fn url(&self) -> &str {
        self.opening.request.target()
    }

    /// The query parameters, percent-decoded, in order, without Engine.IO's own (`EIO`,
    /// `transport`, `t`, `sid`): what the client passed as `io(url, { query })`.
    pub fn query(&self) -> &[(String, String)] {
        &self.opening.query
    }

    /// The first query parameter of this name, if any.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        (self.opening.query.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The address the connection came from (`handshake.address`).
    pub fn address(&self) -> SocketAddr {
        self.opening.address
    }

    /// When the connection was opened (`handshake.time`, as a [`SystemTime`]).
    pub fn time(&self) -> SystemTime {
        self.opening.issued
    }

    /// When the connection was opened, in milliseconds since the Unix epoch
    /// (`handshake.issued`).
    pub fn issued(&self) -> u64 {
        let since = self.opening.issued.duration_since(UNIX_EPOCH);
        since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Whether the connection is encrypted (`handshake.secure`): it came over TLS
    /// ([`Request::is_secure`]).
    pub fn secure(&self) -> bool {
        self.opening.request.is_secure()
    }

    /// Whether the request came from another origin (`handshake.xdomain`: it has an
    /// `Origin` header).
    pub fn xdomain(&self) -> bool {
        self.opening.request.header("origin").is_some()
    }

    /// The `auth` object the client sent to this namespace (`{}` if none).
    pub fn auth(&self) -> &Value {
        &self.auth
    }
}

impl Handshake {
    /// As the reference's `socket.handshake` serialises (what a Node node of a cluster
    /// reads from `fetchSockets`): `headers` (names in lower case), `time` (ISO 8601, UTC),
    /// `address`, `xdomain`, `secure`, `issued` (ms), `url`, `query`, `auth`.
    #[cfg(feature = "redis")]
    pub(crate) fn to_json(&self) -> Value {
        let headers: serde_json::Map<String, Value> = (self.request().headers())
            .map(|(n, v)| (n.to_ascii_lowercase(), Value::from(v)))
            .collect();
        let query: serde_json::Map<String, Value> = (self.query().iter())
            .map(|(n, v)| (n.clone(), Value::from(v.as_str())))
            .collect();
        serde_json::json!({
            "headers": headers,
            "time": iso_8601(self.issued()),
            "address": self.address().ip().to_string(),
            "xdomain": self.xdomain(),
            "secure": self.secure(),
            "issued": self.issued(),
            "url": self.url(),
            "query": query,
            "auth": self.auth(),
        })
    }
}

impl Handshake {
    /// A socket of another node's handshake, from what [`to_json`](Self::to_json) (or the
    /// reference) wrote; what is missing or malformed is left empty.
    #[cfg(feature = "redis")]
    pub(crate) fn from_json(json: &Value) -> Self {
        let text = |field: &str| json.get(field).and_then(Value::as_str).unwrap_or_default();
        let headers: Vec<(&str, &str)> = match json.get("headers") {
            Some(Value::Object(h)) => (h.iter())
                .filter_map(|(n, v)| Some((n.as_str(), v.as_str()?)))
                .collect(),
            _ => Vec::new(),
        };
        let url = match text("url") {
            "" => "/",
            url => url,
        };
        let request = Request::from_parts("GET", url, headers);
        let ip = text("address").parse().unwrap_or([0, 0, 0, 0].into());
        let issued = json.get("issued").and_then(Value::as_u64).unwrap_or(0);
        let issued = UNIX_EPOCH + std::time::Duration::from_millis(issued);
        let opening = Opening::new(request, SocketAddr::new(ip, 0), issued);
        let auth = json.get("auth").cloned().unwrap_or(Value::Null);
        Handshake::new(Arc::new(opening), auth)
    }
}

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (days to a civil date: Howard
/// Hinnant's `civil_from_days`).
#[cfg(feature = "redis")]
fn iso_8601(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_leaves_out_the_engine_parameters_and_decodes() {
        let req = Request::from_parts(
            "GET",
            "/socket.io/?EIO=4&transport=polling&t=abc&room=a%20b&sid=x&room=c",
            [("Origin", "http://app")],
        );
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let opening = Opening::new(req, SocketAddr::from(([127, 0, 0, 1], 9)), at);
        let hs = Handshake::new(Arc::new(opening), Value::Null);
        assert_eq!(
            hs.query(),
            [("room".into(), "a b".into()), ("room".into(), "c".into())]
        );
        assert_eq!(hs.query_param("room"), Some("a b"));
        assert_eq!(hs.query_param("EIO"), None);
        assert_eq!(hs.issued(), 1_700_000_000_123);
        assert!(hs.xdomain());
        assert!(!hs.secure(), "a plain connection");
        assert!(hs.url().starts_with("/socket.io/?EIO=4"));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn serialises_as_the_reference_does() {
        let req = Request::from_parts("GET", "/socket.io/?EIO=4&x=1", [("X-Test", "a")]);
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let opening = Opening::new(req, SocketAddr::from(([10, 0, 0, 2], 9)), at);
        let hs = Handshake::new(Arc::new(opening), serde_json::json!({"t": 1}));
        let json = hs.to_json();
        assert_eq!(json["headers"]["x-test"], "a");
        assert_eq!(json["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(json["address"], "10.0.0.2");
        assert_eq!(json["query"], serde_json::json!({"x": "1"}));
        assert_eq!(
            (json["issued"].as_u64(), &json["auth"]["t"]),
            (Some(1_700_000_000_123), &serde_json::json!(1))
        );
        let back = Handshake::from_json(&json);
        assert_eq!(
            (back.header("x-test"), back.query_param("x")),
            (Some("a"), Some("1"))
        );
        assert_eq!(
            (back.issued(), back.address().ip().to_string()),
            (1_700_000_000_123, "10.0.0.2".into())
        );
        assert_eq!(back.auth(), hs.auth());
        assert_eq!(iso_8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
