//! Deadlines for every connection in one min-heap, driving the poll timeout.
//!
//! Each connection keeps its own next deadline; the heap holds at most a few entries per
//! connection and is checked lazily. Postponing a deadline (traffic on an idle connection,
//! the common case) touches only the connection, never the heap: when the old entry pops,
//! the reactor sees the later deadline and re-arms. So the per-message cost is zero and
//! there is no per-tick scan. Time is passed in, so this is tested without sleeping.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::id::ConnId;

/// Pending wake-ups, earliest first, for connections or (with `K = TimerId`) handler timers.
#[derive(Debug)]
pub(crate) struct Timers<K = ConnId> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> Timers<K> {
    /// Wake `id` at `at`. An entry for a connection that is gone, or whose deadline moved
    /// later, is harmless: the caller checks when it pops.
    pub(crate) fn schedule(&mut self, at: Instant, id: K) {
        self.heap.push(Reverse((at, id)));
    }

    /// The next entry due at or before `now`, removed.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(Instant, K)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Entries pending.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the entries `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&(Instant, K)) -> bool) {
        self.heap.retain(|Reverse(entry)| keep(entry));
    }

    /// How long the reactor may sleep: until the earliest entry, or forever.
    pub(crate) fn next_timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::slab::Key;

    fn id(slot: u32) -> ConnId {
        ConnId::from_parts(slot, 0)
    }

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let t0 = Instant::now();
        let mut timers: Timers = Timers::default();
        timers.schedule(t0 + Duration::from_secs(3), id(3));
        timers.schedule(t0 + Duration::from_secs(1), id(1));
        timers.schedule(t0 + Duration::from_secs(2), id(2));

        assert_eq!(timers.next_timeout(t0), Some(Duration::from_secs(1)));
        assert_eq!(timers.pop_expired(t0), None);

        let later = t0 + Duration::from_millis(2500);
        assert_eq!(timers.pop_expired(later).map(|e| e.1), Some(id(1)));
        assert_eq!(timers.pop_expired(later).map(|e| e.1), Some(id(2)));
        assert_eq!(timers.pop_expired(later), None);
        assert_eq!(timers.next_timeout(later), Some(Duration::from_millis(500)));
        assert_eq!(
            timers.next_timeout(t0 + Duration::from_secs(9)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retain_drops_entries_and_keeps_the_order() {
        let t0 = Instant::now();
        let mut timers: Timers = Timers::default();
        for slot in 0..10 {
            timers.schedule(t0 + Duration::from_secs(u64::from(10 - slot)), id(slot));
        }
        timers.retain(|(_, id)| id.slot() % 2 == 0);
        assert_eq!(timers.len(), 5);
        let later = t0 + Duration::from_secs(60);
        let order: Vec<u32> = std::iter::from_fn(|| timers.pop_expired(later))
            .map(|(_, id)| id.slot())
            .collect();
        assert_eq!(order, [8, 6, 4, 2, 0]);
    }

    #[test]
    fn empty_means_sleep_forever() {
        assert_eq!(
            Timers::<ConnId>::default().next_timeout(Instant::now()),
            None
        );
    }
}
