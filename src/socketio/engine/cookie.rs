//! The `io` cookie: the session id in a cookie on the handshake response, for load
//! balancers that route a client's requests by cookie (sticky sessions), as the
//! reference's `cookie` option sets it.
//!
//! The reference sets it on the response to the first long-polling GET only: a WebSocket
//! session is one connection, which no balancer needs to route again, and the reference's
//! 101 goes out before its session exists (checked against engine.io 6.6: no
//! `Set-Cookie` on the upgrade). This does the same.

use std::time::Duration;

use cookie::time;

/// The cookie's `SameSite` attribute: whether browsers send it on requests from other
/// sites (RFC 6265bis §4.1.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Only on requests from the same site.
    Strict,
    /// Also on top-level navigations from other sites (the reference's default).
    Lax,
    /// On every request; browsers then require `Secure`, which is added unless
    /// [`SessionCookie::secure`] says otherwise.
    None,
}

/// The cookie that carries the Engine.IO session id (`io=<sid>`), the reference's
/// `cookie` option: set with [`Options::cookie`](super::super::Options::cookie).
///
/// `SessionCookie::default()` is the reference's `cookie: true`:
/// `io=<sid>; Path=/; HttpOnly; SameSite=Lax`. It is session-long (no `Max-Age`).
///
/// ```
/// use std::time::Duration;
/// use wsreactor::socketio::{Options, SameSite, SessionCookie, SocketIo};
///
/// // What an HAProxy `cookie` directive routes on, for a page served over HTTPS:
/// let cookie = SessionCookie::default()
///     .name("lb")
///     .same_site(Some(SameSite::Strict))
///     .secure(true)
///     .max_age(Duration::from_secs(3600));
/// let io = SocketIo::new(Options::default().cookie(cookie));
/// # assert_eq!(io.connections(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct SessionCookie {
    /// Name and attributes; the value is each session's id.
    template: cookie::Cookie<'static>,
}

impl Default for SessionCookie {
    fn default() -> Self {
        let mut template = cookie::Cookie::new("io", "");
        template.set_path("/");
        template.set_http_only(true);
        template.set_same_site(cookie::SameSite::Lax);
        SessionCookie { template }
    }
}

impl SessionCookie {
    /// The cookie's name. Default `io`. It must be an HTTP token (letters, digits and
    /// ``!#$%&'*+-.^_`|~``); anything else makes a `Set-Cookie` browsers ignore.
    pub fn name(mut self, name: &str) -> Self {
        self.template.set_name(name.to_owned());
        self
    }

    /// The paths the browser sends it to (`Path`). Default `/`.
    pub fn path(mut self, path: &str) -> Self {
        self.template.set_path(path.to_owned());
        self
    }

    /// The hosts the browser sends it to (`Domain`), such as `example.com` for every
    /// subdomain. Default: not sent, so only the host that set it.
    pub fn domain(mut self, domain: &str) -> Self {
        self.template.set_domain(domain.to_owned());
        self
    }

    /// Whether the page's scripts cannot read it (`HttpOnly`). Default `true`.
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.template.set_http_only(http_only);
        self
    }

    /// Whether the browser sends it over HTTPS only (`Secure`). Default `false`, or
    /// `true` with `SameSite=None`.
    pub fn secure(mut self, secure: bool) -> Self {
        self.template.set_secure(secure);
        self
    }

    /// The `SameSite` attribute; `None` leaves it out (the browser then treats it as
    /// `Lax`). Default `Some(SameSite::Lax)`.
    pub fn same_site(mut self, same_site: Option<SameSite>) -> Self {
        self.template.set_same_site(same_site.map(|s| match s {
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::None => cookie::SameSite::None,
        }));
        self
    }

    /// How long the browser keeps it (`Max-Age`, whole seconds). Default: not sent, so
    /// until the browser closes.
    pub fn max_age(mut self, age: Duration) -> Self {
        let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        self.template.set_max_age(time::Duration::seconds(secs));
        self
    }

    /// Whether the browser keeps it apart for each top-level site that embeds the page
    /// (`Partitioned`, CHIPS; implies `Secure`). Default `false`.
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.template.set_partitioned(partitioned);
        self
    }

    /// The `Set-Cookie` value for session `sid`.
    pub(crate) fn header(&self, sid: &str) -> String {
        let mut cookie = self.template.clone();
        cookie.set_value(sid.to_owned());
        cookie.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_references_cookie_true() {
        let header = SessionCookie::default().header("AbC-_0");
        assert_eq!(header, "io=AbC-_0; HttpOnly; SameSite=Lax; Path=/");
    }

    #[test]
    fn every_attribute_the_reference_takes_is_written() {
        let cookie = SessionCookie::default()
            .name("woot")
            .path("/custom")
            .domain("example.com")
            .http_only(false)
            .same_site(Some(SameSite::Strict))
            .secure(true)
            .max_age(Duration::from_millis(3_600_999))
            .partitioned(true);
        assert_eq!(
            cookie.header("sid"),
            "woot=sid; SameSite=Strict; Partitioned; Secure; Path=/custom; \
             Domain=example.com; Max-Age=3600"
        );
        // SameSite=None is only kept by browsers with Secure
        let none = SessionCookie::default().same_site(Some(SameSite::None));
        assert_eq!(
            none.header("s"),
            "io=s; HttpOnly; SameSite=None; Secure; Path=/"
        );
        let plain = SessionCookie::default().same_site(None).http_only(false);
        assert_eq!(plain.header("s"), "io=s; Path=/");
    }
}
