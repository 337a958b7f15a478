//! Session and socket ids: 20 URL-safe characters that a peer cannot guess.
//!
//! On long-polling the sid is the only credential of a session (any request that names it
//! speaks for it), so ids must be unpredictable, not merely unique. Each id is SipHash,
//! keyed by the standard library with 128 random bits from the OS, of a counter: a PRF
//! output, unpredictable without the key. This spares a `rand` dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Makes ids; one per endpoint.
#[derive(Debug)]
pub(crate) struct IdGen {
    keys: RandomState,
    counter: u64,
}

impl Default for IdGen {
    fn default() -> Self {
        IdGen {
            keys: RandomState::new(),
            counter: 0,
        }
    }
}

impl IdGen {
    /// A fresh id of 20 characters (120 random bits).
    pub(crate) fn next(&mut self) -> String {
        let mut id = String::with_capacity(20);
        for half in 0..2 {
            self.counter += 1;
            let mut h = self.keys.build_hasher();
            h.write_u64(self.counter);
            h.write_u8(half);
            let mut n = h.finish();
            for _ in 0..10 {
                id.push(URL_SAFE[(n & 63) as usize] as char);
                n >>= 6;
            }
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_url_safe_and_differ_between_generators() {
        let mut gen = IdGen::default();
        let ids: HashSet<String> = (0..10_000).map(|_| gen.next()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 20 && id.bytes().all(|b| URL_SAFE.contains(&b))));
        let other = IdGen::default().next();
        assert!(!ids.contains(&other), "keys differ per generator");
    }
}
