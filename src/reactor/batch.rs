//! Publishes to one room in a row, written to its members' queues together.
//!
//! A publisher that sends B small messages in one read, each published to a room of N
//! members, would otherwise cost B × N queue operations, each touching a member's record
//! and buffer: B passes over N records, which for a large room means B passes through
//! memory that does not fit the cache. The batch collects the B encoded frames and writes
//! them to each member once (one record touched, one copy), as uWebSockets' pub/sub drains
//! a subscriber's messages together at the end of its loop's pass.
//!
//! Deferring must not be observable: every member gets the frames in publish order and
//! before anything queued after them. So `Core` writes the batch out before anything else
//! reaches a connection's queue or changes who is in a room (a send, a close, a join or
//! leave, a connection ending), after each connection's read, and before flushing; the
//! connection being read, whose own frames (a Pong, a Close) may be queued while it is
//! read, gets its copy at once instead.

use crate::id::ConnId;

/// Encoded frames published to one room since the batch was last written out.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    room: String,
    /// Members that get none of it: the publisher's `except`, and the connection being read
    /// (which got its copies at once).
    skip: [Option<ConnId>; 2],
    /// Final, unmasked frames, back to back.
    pub(crate) frames: Vec<u8>,
    /// Where each frame ends in `frames`.
    pub(crate) ends: Vec<usize>,
}

impl Batch {
    /// Nothing waits to be written.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Whether a publish to `room` skipping `skip` may join this batch (an empty batch
    /// takes any).
    #[inline]
    pub(crate) fn fits(&self, room: &str, skip: [Option<ConnId>; 2]) -> bool {
        self.is_empty() || (self.skip == skip && self.room == room)
    }

    /// Makes an empty batch one for `room` skipping `skip`.
    pub(crate) fn start(&mut self, room: &str, skip: [Option<ConnId>; 2]) {
        debug_assert!(self.is_empty());
        self.room.clear();
        self.room.push_str(room);
        self.skip = skip;
    }

    /// The room it is for.
    pub(crate) fn room(&self) -> &str {
        &self.room
    }

    /// Whether `id` is one of the members that gets none of it.
    pub(crate) fn skips(&self, id: ConnId) -> bool {
        self.skip.contains(&Some(id))
    }

    /// Each frame, in order.
    pub(crate) fn each_frame(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.frames[a..b])
    }

    /// Empties it, keeping its allocations for the next.
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.ends.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_one_by_one_in_order() {
        let mut batch = Batch::default();
        assert!(batch.fits("a", [None, None]));
        batch.start("a", [None, None]);
        for frame in [&b"one"[..], b"", b"three"] {
            batch.frames.extend_from_slice(frame);
            batch.ends.push(batch.frames.len());
        }
        let frames: Vec<&[u8]> = batch.each_frame().collect();
        assert_eq!(frames, [&b"one"[..], b"", b"three"]);
        assert!(batch.fits("a", [None, None]));
        assert!(!batch.fits("b", [None, None]));
        batch.clear();
        assert!(batch.is_empty() && batch.fits("b", [None, None]));
    }
}
