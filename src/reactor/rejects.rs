//! The log of rejected requests: one line per rejection, with the peer and the reason, so an
//! operator sees why clients are turned away; at most [`LINES_PER_WINDOW`] lines per second
//! per reactor, so a flood of bad requests cannot fill a disk. What is over the budget is
//! counted and reported in one line when the second is over.
//!
//! Time is the reactor's pass time, passed in: the log reads no clock of its own, and tests
//! drive it with a [`ManualClock`](crate::ManualClock).

use std::fmt::Display;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::Level;

/// Rejections logged per window at most.
pub(crate) const LINES_PER_WINDOW: u32 = 10;

/// The window the budget is counted over.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// Where the current window stands.
#[derive(Debug, Default)]
pub(crate) struct Rejects {
    /// When the current window began; `None` before the first rejection.
    since: Option<Instant>,
    /// Lines logged in it.
    logged: u32,
    /// Rejections not logged in it.
    suppressed: u64,
}

impl Rejects {
    /// Logs one rejection at `level`, if the window's budget allows; counts it otherwise.
    /// `status`: the HTTP status the peer was answered with.
    pub(crate) fn log(
        &mut self,
        now: Instant,
        level: Level,
        peer: SocketAddr,
        status: u16,
        reason: &dyn Display,
    ) {
        self.roll(now);
        if self.since.is_none() {
            self.since = Some(now);
        }
        if self.logged < LINES_PER_WINDOW {
            self.logged += 1;
            log::log!(level, "rejected {peer} with {status}: {reason}");
        } else {
            self.suppressed += 1;
        }
    }

    /// Ends the window if it is over by `now`, logging how many rejections it did not.
    /// The reactor calls this every pass (one comparison when there is nothing to do).
    #[inline]
    pub(crate) fn roll(&mut self, now: Instant) {
        let Some(since) = self.since else {
            return;
        };
        if now < since + WINDOW {
            return;
        }
        if self.suppressed > 0 {
            log::warn!(
                "{} more rejected requests not logged in {WINDOW:?} (at most {LINES_PER_WINDOW} are)",
                self.suppressed
            );
        }
        *self = Rejects::default();
    }

    /// When [`roll`](Self::roll) has a line to log: the end of a window with suppressed
    /// rejections. The reactor wakes for it, so the count is not held back until the next
    /// event.
    pub(crate) fn due(&self) -> Option<Instant> {
        match self.since {
            Some(since) if self.suppressed > 0 => Some(since + WINDOW),
            _ => None,
        }
    }
}

/// `text` (a path the peer chose) cut to at most 100 bytes on a character boundary, so a
/// log line stays a line's length whatever the request.
pub(crate) fn clip(text: &str) -> &str {
    crate::error::prefix(text, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_budget_per_window_then_one_line_for_the_rest() {
        let (t0, peer) = (Instant::now(), ([127, 0, 0, 1], 9).into());
        let mut rejects = Rejects::default();
        for _ in 0..LINES_PER_WINDOW {
            rejects.log(t0, Level::Info, peer, 400, &"bad");
        }
        assert_eq!((rejects.logged, rejects.suppressed), (LINES_PER_WINDOW, 0));
        assert_eq!(rejects.due(), None, "nothing suppressed: nothing to report");
        for _ in 0..5 {
            rejects.log(t0 + WINDOW / 2, Level::Info, peer, 400, &"bad");
        }
        assert_eq!(rejects.suppressed, 5);
        assert_eq!(rejects.due(), Some(t0 + WINDOW));
        rejects.roll(t0 + WINDOW - Duration::from_millis(1));
        assert_eq!(rejects.suppressed, 5, "the window is not over");
        rejects.roll(t0 + WINDOW);
        assert_eq!(
            (rejects.since, rejects.logged, rejects.suppressed),
            (None, 0, 0)
        );
        rejects.log(t0 + WINDOW, Level::Info, peer, 400, &"bad");
        assert_eq!((rejects.since, rejects.logged), (Some(t0 + WINDOW), 1));
    }

    #[test]
    fn clipped_paths_end_on_a_char_boundary() {
        assert_eq!(clip("/chat"), "/chat");
        let long = "é".repeat(100);
        assert_eq!(clip(&long).len(), 100);
        assert_eq!(clip(&format!("x{long}")).len(), 99);
    }
}
