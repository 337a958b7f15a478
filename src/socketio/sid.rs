//! Session and socket ids: 20 URL-safe characters that a peer cannot guess.
//!
//! On long-polling the sid is the only credential of a session (any request that names it
//! speaks for it), so ids must be unpredictable, not merely unique. Each id is 15 bytes
//! from the operating system's CSPRNG (`getrandom`) in base64url, as the reference's
//! `base64id` makes them (it reads Node's `crypto.randomBytes`): 120 random bits.
//!
//! On a server with several reactors a session id also names the reactor that holds the
//! session, so that every request of the session is routed there (`Handler::route`, as
//! `@socket.io/sticky` routes by sid between processes): its first byte is the reactor's
//! number, the other 14 random (112 bits).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Random bytes per id: 15 encode to 20 base64url characters without padding.
const BYTES: usize = 15;

/// A fresh id of 20 characters (120 random bits), or (`reactor`) one that names a reactor
/// in its first byte (112 random bits).
///
/// # Panics
///
/// If the OS cannot give random bytes (on Linux, only where the `getrandom` syscall and
/// `/dev/urandom` are both unavailable). An id that is merely unique would hand sessions
/// to whoever guesses it, so none is made: the reactor catches the panic and drops the one
/// connection that asked, as it does for a panicking callback.
pub(crate) fn generate(reactor: Option<u8>) -> String {
    let mut bytes = [0u8; BYTES];
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("no session id without the OS's random source: {e}");
    }
    if let Some(reactor) = reactor {
        bytes[0] = reactor;
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The reactor an id made by [`generate`] with a reactor names; `None` for what is not
/// such an id. (An id made without one names a random reactor: the server only reads
/// this when it makes ids with one.)
pub(crate) fn reactor_of(id: &str) -> Option<usize> {
    // The first 4 characters are the first 3 bytes.
    let head = URL_SAFE_NO_PAD.decode(id.get(..4)?).ok()?;
    Some(usize::from(head[0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_and_url_safe() {
        let ids: HashSet<String> = (0..10_000).map(|_| generate(None)).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 20
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
    }

    #[test]
    fn an_id_names_its_reactor_and_stays_unguessable() {
        for reactor in [0, 1, 7, 255] {
            let ids: HashSet<String> = (0..1_000).map(|_| generate(Some(reactor))).collect();
            assert_eq!(ids.len(), 1_000);
            for id in &ids {
                assert_eq!((id.len(), reactor_of(id)), (20, Some(usize::from(reactor))));
            }
        }
        assert_eq!(reactor_of("abc"), None, "too short");
        assert_eq!(reactor_of("a*cdefgh"), None, "not base64url");
        assert_eq!(
            reactor_of("é-more-than-enough"),
            None,
            "not on a char boundary"
        );
    }
}
