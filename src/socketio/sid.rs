//! Session and socket ids: 20 URL-safe characters that a peer cannot guess.
//!
//! On long-polling the sid is the only credential of a session (any request that names it
//! speaks for it), so ids must be unpredictable, not merely unique. Each id is 15 bytes
//! from the operating system's CSPRNG (`getrandom`) in base64url, as the reference's
//! `base64id` makes them (it reads Node's `crypto.randomBytes`): 120 random bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Random bytes per id: 15 encode to 20 base64url characters without padding.
const BYTES: usize = 15;

/// A fresh id of 20 characters (120 random bits).
///
/// # Panics
///
/// If the OS cannot give random bytes (on Linux, only where the `getrandom` syscall and
/// `/dev/urandom` are both unavailable). An id that is merely unique would hand sessions
/// to whoever guesses it, so none is made: the reactor catches the panic and drops the one
/// connection that asked, as it does for a panicking callback.
pub(crate) fn generate() -> String {
    let mut bytes = [0u8; BYTES];
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("no session id without the OS's random source: {e}");
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_and_url_safe() {
        let ids: HashSet<String> = (0..10_000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 20
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
    }
}
