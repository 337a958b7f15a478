//! A bounded queue with many senders and one taker, whose places can be reserved: the way
//! into a reactor (its commands) and into a Socket.IO endpoint (its operations).
//!
//! A count of free places, not the channel, bounds it: a sender takes a place, then sends
//! into it; the taker gives the place back as it takes the item. So a message for several
//! queues can reserve a place in every one before it enters any (all or nothing), and a
//! place can be held for an answer that comes later ([`Ticket`]). Nothing blocks: a full
//! queue is `None` or [`SendError::Full`], a closed one (its taker gone)
//! [`SendError::Stopped`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use crate::handle::SendError;

/// The senders' side, shared.
pub(crate) struct Queue<T> {
    tx: Sender<T>,
    /// Places left: taken before a send, given back as the taker takes items.
    free: AtomicUsize,
    /// The taker is gone.
    closed: AtomicBool,
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("free", &self.free.load(Ordering::Relaxed))
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T> Queue<T> {
    /// A queue of `capacity` places and its taker.
    pub(crate) fn new(capacity: usize) -> (Arc<Queue<T>>, Taker<T>) {
        let (tx, rx) = mpsc::channel();
        let queue = Arc::new(Queue {
            tx,
            free: AtomicUsize::new(capacity),
            closed: AtomicBool::new(false),
        });
        let taker = Taker {
            rx,
            queue: Arc::clone(&queue),
        };
        (queue, taker)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Takes a place; `false` if the queue is full or closed.
    pub(crate) fn try_reserve(&self) -> bool {
        let take = |free: usize| free.checked_sub(1);
        !self.is_closed()
            && (self.free)
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, take)
                .is_ok()
    }

    /// Gives back a place taken and not used.
    pub(crate) fn unreserve(&self) {
        self.free.fetch_add(1, Ordering::AcqRel);
    }

    /// Sends into a place taken before; the item back if the queue has closed meanwhile.
    pub(crate) fn send_reserved(&self, item: T) -> Result<(), T> {
        self.tx.send(item).map_err(|mpsc::SendError(item)| {
            self.unreserve();
            item
        })
    }

    /// Takes a place and sends into it; why not, with the item, if it cannot.
    pub(crate) fn push(&self, item: T) -> Result<(), (SendError, T)> {
        if self.is_closed() {
            return Err((SendError::Stopped, item));
        }
        if !self.try_reserve() {
            return Err((SendError::Full, item));
        }
        (self.send_reserved(item)).map_err(|item| (SendError::Stopped, item))
    }

    /// A place held for an item to send later, from anywhere; `None` if the queue is full
    /// or closed.
    pub(crate) fn ticket(self: &Arc<Self>) -> Option<Ticket<T>> {
        self.try_reserve().then(|| Ticket(Some(Arc::clone(self))))
    }
}

/// A place held in a [`Queue`] for one item, given back if dropped unused.
pub(crate) struct Ticket<T>(Option<Arc<Queue<T>>>);

impl<T> fmt::Debug for Ticket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").finish_non_exhaustive()
    }
}

impl<T> Ticket<T> {
    /// Sends the item into the place; back if the queue has closed.
    pub(crate) fn send(mut self, item: T) -> Result<(), T> {
        match self.0.take() {
            Some(queue) => queue.send_reserved(item),
            None => Err(item),
        }
    }
}

impl<T> Drop for Ticket<T> {
    fn drop(&mut self) {
        if let Some(queue) = self.0.take() {
            queue.unreserve();
        }
    }
}

/// The taker's side.
pub(crate) struct Taker<T> {
    rx: Receiver<T>,
    queue: Arc<Queue<T>>,
}

impl<T> fmt::Debug for Taker<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Taker").field("queue", &self.queue).finish()
    }
}

impl<T> Taker<T> {
    /// Takes up to `max` items, giving their places back.
    pub(crate) fn take(&self, max: usize) -> impl Iterator<Item = T> + '_ {
        (self.rx.try_iter().take(max)).inspect(|_| self.queue.unreserve())
    }
}

impl<T> Drop for Taker<T> {
    /// Senders are told the queue is gone, and reserve no more places in it.
    fn drop(&mut self) {
        self.queue.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_bound_the_queue_and_come_back_as_items_are_taken() {
        let (queue, taker) = Queue::new(2);
        queue.push(1).unwrap();
        let ticket = queue.ticket().expect("the second place");
        assert_eq!(queue.push(3), Err((SendError::Full, 3)));
        assert_eq!(taker.take(10).collect::<Vec<_>>(), [1]);
        queue.push(3).unwrap();
        ticket.send(2).unwrap();
        assert_eq!(taker.take(10).collect::<Vec<_>>(), [3, 2]);
        drop(queue.ticket()); // unused: the place comes back
        assert!(queue.try_reserve() && queue.try_reserve() && !queue.try_reserve());
    }

    #[test]
    fn a_closed_queue_says_so_and_keeps_nothing() {
        let (queue, taker) = Queue::new(4);
        let ticket = queue.ticket().unwrap();
        drop(taker);
        assert_eq!(queue.push(1), Err((SendError::Stopped, 1)));
        assert!(queue.ticket().is_none());
        assert_eq!(ticket.send(2), Err(2));
    }
}
