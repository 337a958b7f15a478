//! [`Outbound`]: the bounded queue between the reactor and the publisher thread, and its
//! drop policy: a message that finds it full (or the publisher gone) is dropped, the
//! newest one, and counted. The reactor never waits for Redis.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

/// A message to publish: its channel and its bytes.
pub(crate) type Message = (String, Vec<u8>);

/// Told how many subscribers received a message (`PUBLISH`'s answer), or `None` when it
/// was not published (dropped, or Redis lost); called on whichever thread knows.
pub(crate) type Receivers = Box<dyn FnOnce(Option<usize>) + Send>;

/// A message and who wants to know how many received it.
pub(crate) struct Outgoing {
    pub(crate) msg: Message,
    pub(crate) then: Option<Receivers>,
}

impl Outgoing {
    /// It was not published: tells whoever waits, and counts it.
    pub(crate) fn drop_counted(self, out: &Outbound) {
        out.count_dropped();
        if let Some(then) = self.then {
            then(None);
        }
    }
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("channel", &self.msg.0)
            .field("bytes", &self.msg.1.len())
            .finish_non_exhaustive()
    }
}

/// The sending end, with the count of what was not published.
#[derive(Debug)]
pub(crate) struct Outbound {
    queue: SyncSender<Outgoing>,
    dropped: AtomicU64,
}

impl Outbound {
    /// A queue holding at most `capacity` messages, and its receiving end.
    pub(crate) fn new(capacity: usize) -> (Outbound, Receiver<Outgoing>) {
        let (queue, rx) = mpsc::sync_channel(capacity);
        let dropped = AtomicU64::new(0);
        (Outbound { queue, dropped }, rx)
    }

    /// Queues `msg` for the publisher, or drops and counts it; never blocks.
    pub(crate) fn offer(&self, msg: Outgoing) {
        if let Err(e) = self.queue.try_send(msg) {
            let (mpsc::TrySendError::Full(msg) | mpsc::TrySendError::Disconnected(msg)) = e;
            msg.drop_counted(self);
        }
    }

    /// Counts a message that was not published (also: lost with the connection).
    pub(crate) fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::Mutex;

    fn msg(n: u8) -> Outgoing {
        let msg = ("c".to_owned(), vec![n]);
        Outgoing { msg, then: None }
    }

    fn bytes(rx: &Receiver<Outgoing>) -> Vec<u8> {
        rx.try_iter().map(|o| o.msg.1[0]).collect()
    }

    #[test]
    fn a_full_queue_drops_the_newest_and_counts_it() {
        let (out, rx) = Outbound::new(2);
        (1..=4).for_each(|n| out.offer(msg(n)));
        assert_eq!(out.dropped(), 2);
        assert_eq!(bytes(&rx), [1, 2]);
        out.offer(msg(5)); // room again
        assert_eq!(bytes(&rx), [5]);
        assert_eq!(out.dropped(), 2);
    }

    #[test]
    fn with_the_publisher_gone_everything_is_counted_and_told() {
        let (out, rx) = Outbound::new(2);
        drop(rx);
        let told = Arc::new(Mutex::new(Vec::new()));
        let t = Arc::clone(&told);
        let then: Receivers = Box::new(move |n| t.lock().unwrap().push(n));
        out.offer(Outgoing {
            then: Some(then),
            ..msg(1)
        });
        assert_eq!(out.dropped(), 1);
        assert_eq!(*told.lock().unwrap(), [None]);
    }
}
