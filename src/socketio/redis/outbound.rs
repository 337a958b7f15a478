//! [`Outbound`]: the bounded queue between the reactor and the publisher thread, and its
//! drop policy: a message that finds it full (or the publisher gone) is dropped, the
//! newest one, and counted. The reactor never waits for Redis.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

/// A message to publish: its channel and its bytes.
pub(super) type Message = (String, Vec<u8>);

/// The sending end, with the count of what was not published.
#[derive(Debug)]
pub(super) struct Outbound {
    queue: SyncSender<Message>,
    dropped: AtomicU64,
}

impl Outbound {
    /// A queue holding at most `capacity` messages, and its receiving end.
    pub(super) fn new(capacity: usize) -> (Outbound, Receiver<Message>) {
        let (queue, rx) = mpsc::sync_channel(capacity);
        let dropped = AtomicU64::new(0);
        (Outbound { queue, dropped }, rx)
    }

    /// Queues `msg` for the publisher, or drops and counts it; never blocks.
    pub(super) fn offer(&self, msg: Message) {
        if self.queue.try_send(msg).is_err() {
            self.count_dropped();
        }
    }

    /// Counts a message that was not published (also: lost with the connection).
    pub(super) fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u8) -> Message {
        ("c".to_owned(), vec![n])
    }

    #[test]
    fn a_full_queue_drops_the_newest_and_counts_it() {
        let (out, rx) = Outbound::new(2);
        (1..=4).for_each(|n| out.offer(msg(n)));
        assert_eq!(out.dropped(), 2);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [msg(1), msg(2)]);
        out.offer(msg(5)); // room again
        assert_eq!(rx.try_recv().ok(), Some(msg(5)));
        assert_eq!(out.dropped(), 2);
    }

    #[test]
    fn with_the_publisher_gone_everything_is_counted() {
        let (out, rx) = Outbound::new(2);
        drop(rx);
        out.offer(msg(1));
        assert_eq!(out.dropped(), 1);
    }
}
