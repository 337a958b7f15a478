//! How many members each room has on each reactor, for a server with several: what
//! `room_size` answers and whom a publish must reach.
//!
//! A room's counters (one per reactor, each written only by its reactor) are shared by the
//! reactors that have members in it, found through a registry keyed by the room's name.
//! A reactor takes the registry's lock only when a room gets its first member there or
//! loses its last one, and to look up a room it has no member of; every other join, leave
//! and publish touches only its own map and the atomic counters. A counter goes from 0 to
//! 1 and back under the lock, so a room is never dropped from the registry while a reactor
//! counts members in it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::handle::Reactors;

/// Members of one room on each reactor.
#[derive(Debug)]
struct Counts(Box<[AtomicUsize]>);

impl Counts {
    fn new(reactors: usize) -> Self {
        Counts((0..reactors).map(|_| AtomicUsize::new(0)).collect())
    }

    fn get(&self, reactor: usize) -> usize {
        self.0[reactor].load(Ordering::Relaxed)
    }

    fn total(&self) -> usize {
        self.0.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    fn is_empty(&self) -> bool {
        self.total() == 0
    }
}

/// Every room with a member on some reactor. Shared by the reactors of one server.
#[derive(Debug)]
pub(crate) struct Registry {
    rooms: Mutex<HashMap<Arc<str>, Arc<Counts>>>,
    reactors: usize,
}

impl Registry {
    pub(crate) fn new(reactors: usize) -> Arc<Self> {
        Arc::new(Registry {
            rooms: Mutex::new(HashMap::new()),
            reactors,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<Counts>>> {
        // A map of counters: a panic elsewhere cannot leave it half-changed.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One reactor's view of the registry: the counters of the rooms it has members in.
#[derive(Debug)]
pub(crate) struct Census {
    reactor: usize,
    registry: Arc<Registry>,
    here: HashMap<Arc<str>, Arc<Counts>>,
}

impl Census {
    pub(crate) fn new(reactor: usize, registry: Arc<Registry>) -> Self {
        Census {
            reactor,
            registry,
            here: HashMap::new(),
        }
    }

    /// A member of `room` joined on this reactor.
    pub(crate) fn joined(&mut self, room: &str) {
        if let Some(counts) = self.here.get(room) {
            counts.0[self.reactor].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut rooms = self.registry.lock();
        let (name, counts) = match rooms.get_key_value(room) {
            Some((name, counts)) => (Arc::clone(name), Arc::clone(counts)),
            None => {
                let (name, counts) = (
                    Arc::from(room),
                    Arc::new(Counts::new(self.registry.reactors)),
                );
                rooms.insert(Arc::clone(&name), Arc::clone(&counts));
                (name, counts)
            }
        };
        counts.0[self.reactor].fetch_add(1, Ordering::Relaxed);
        drop(rooms);
        self.here.insert(name, counts);
    }

    /// A member of `room` left it on this reactor.
    pub(crate) fn left(&mut self, room: &str) {
        let Some(counts) = self.here.get(room) else {
            return;
        };
        if counts.get(self.reactor) > 1 {
            counts.0[self.reactor].fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let mut rooms = self.registry.lock();
        counts.0[self.reactor].store(0, Ordering::Relaxed);
        if counts.is_empty() {
            rooms.remove(room);
        }
        drop(rooms);
        self.here.remove(room);
    }

    /// Members of `room` on every reactor.
    pub(crate) fn size(&self, room: &str) -> usize {
        self.with_counts(room, Counts::total).unwrap_or(0)
    }

    /// The reactors other than this one with members of `room`.
    pub(crate) fn others_in(&self, room: &str) -> Reactors {
        let others = |counts: &Counts| {
            let mut with = Reactors::default();
            for r in (0..self.registry.reactors).filter(|&r| r != self.reactor) {
                if counts.get(r) > 0 {
                    with.insert(r);
                }
            }
            with
        };
        self.with_counts(room, others).unwrap_or_default()
    }

    /// Members of `room` on the reactors of `among`.
    pub(crate) fn members_on(&self, room: &str, among: &Reactors) -> usize {
        let count = |counts: &Counts| among.iter().map(|r| counts.get(r)).sum();
        self.with_counts(room, count).unwrap_or(0)
    }

    /// `f` of the room's counters: this reactor's own if it has members, else the
    /// registry's (under its lock); `None` if no reactor has a member.
    fn with_counts<T>(&self, room: &str, f: impl FnOnce(&Counts) -> T) -> Option<T> {
        match self.here.get(room) {
            Some(counts) => Some(f(counts)),
            None => self.registry.lock().get(room).map(|counts| f(counts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_add_up_over_reactors_and_empty_rooms_leave_the_registry() {
        let registry = Registry::new(3);
        let mut census: Vec<Census> = (0..3)
            .map(|r| Census::new(r, Arc::clone(&registry)))
            .collect();
        census[0].joined("lobby");
        census[0].joined("lobby");
        census[2].joined("lobby");
        assert_eq!(
            census[1].size("lobby"),
            3,
            "seen from a reactor without members"
        );
        assert_eq!(census[0].size("lobby"), 3);
        assert_eq!(census[0].others_in("lobby").iter().collect::<Vec<_>>(), [2]);
        assert_eq!(
            census[1].others_in("lobby").iter().collect::<Vec<_>>(),
            [0, 2]
        );
        let both = census[1].others_in("lobby");
        assert_eq!(census[1].members_on("lobby", &both), 3);
        census[0].left("lobby");
        census[0].left("lobby");
        assert_eq!(census[2].size("lobby"), 1);
        assert!(census[0].here.is_empty());
        assert_eq!(census[2].others_in("lobby").iter().count(), 0);
        census[2].left("lobby");
        assert!(
            registry.lock().is_empty(),
            "the last member took the room out"
        );
        assert_eq!(census[1].size("lobby"), 0);
        census[1].left("nowhere"); // not a member here: nothing happens
    }

    #[test]
    fn a_room_stays_registered_while_another_reactor_counts_members() {
        let registry = Registry::new(2);
        let (mut a, mut b) = (
            Census::new(0, Arc::clone(&registry)),
            Census::new(1, Arc::clone(&registry)),
        );
        a.joined("r");
        b.joined("r");
        a.left("r");
        b.joined("r");
        assert_eq!(a.size("r"), 2);
        b.left("r");
        b.left("r");
        assert_eq!(a.size("r"), 0);
        assert!(registry.lock().is_empty());
    }
}
