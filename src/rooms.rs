//! Rooms: named groups of connections, as a two-way index.
//!
//! `room → members` serves publishing; `connection → rooms` makes leaving every room on
//! close cost the number of rooms the connection is in, not the number of rooms there are.
//! Room names are shared (`Arc<str>`) between both sides. Empty rooms are dropped.
//!
//! Each member is in at most `max_rooms` rooms and names are at most `max_name_len` bytes
//! ([`RoomLimits`]): an application that joins rooms named by its peers cannot be made to
//! hold unbounded memory, and leaving every room on close (run on the reactor's thread,
//! about 1 µs per room) stays short.
//!
//! All room state of one reactor lives behind this type; with several reactors each has
//! its own, and `reactor/census.rs` counts every room's members on each (a later backend,
//! Redis pub/sub across machines, would sit at the same seam). Members are connections by
//! default; the Socket.IO layer keeps one index per namespace whose members are its
//! sockets.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use crate::error::JoinError;
use crate::id::ConnId;

/// What one member may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoomLimits {
    /// Rooms one member may be in at once.
    pub(crate) max_rooms: usize,
    /// Bytes of a room's name.
    pub(crate) max_name_len: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        RoomLimits {
            max_rooms: 256,
            max_name_len: 256,
        }
    }
}

/// Room membership on one reactor.
#[derive(Debug)]
pub(crate) struct Rooms<K = ConnId> {
    /// Ordered, so publishing visits members in the order of their keys, which is the
    /// order of the reactor's slab (and, mostly, of their buffers' allocation): a large
    /// room is walked through memory, not jumped around in as a hash set's order would.
    members: HashMap<Arc<str>, BTreeSet<K>>,
    joined: HashMap<K, Vec<Arc<str>>>,
    limits: RoomLimits,
}

impl<K> Default for Rooms<K> {
    fn default() -> Self {
        Rooms::new(RoomLimits::default())
    }
}

impl<K> Rooms<K> {
    pub(crate) fn new(limits: RoomLimits) -> Self {
        Rooms {
            members: HashMap::new(),
            joined: HashMap::new(),
            limits,
        }
    }
}

impl<K: Copy + Ord + Hash> Rooms<K> {
    /// Adds `id` to `room` within the limits: `Ok(false)` if it was already a member
    /// (whatever the limits), `Err` if the name is too long or `id` is in as many rooms as
    /// it may be.
    pub(crate) fn join(&mut self, id: K, room: &str) -> Result<bool, JoinError> {
        if room.len() > self.limits.max_name_len {
            return Err(JoinError::NameTooLong);
        }
        if self.members.get(room).is_some_and(|m| m.contains(&id)) {
            return Ok(false);
        }
        let count = self.joined.get(&id).map_or(0, Vec::len);
        if count >= self.limits.max_rooms {
            return Err(JoinError::TooManyRooms);
        }
        Ok(self.join_unlimited(id, room))
    }

    /// Adds `id` to `room` whatever the limits (a Socket.IO socket's own room, which the
    /// protocol requires and whose name the server chose); `false` if already a member.
    pub(crate) fn join_unlimited(&mut self, id: K, room: &str) -> bool {
        let name = match self.members.get_key_value(room) {
            Some((name, _)) => Arc::clone(name),
            None => Arc::from(room),
        };
        if !self
            .members
            .entry(Arc::clone(&name))
            .or_default()
            .insert(id)
        {
            return false;
        }
        self.joined.entry(id).or_default().push(name);
        true
    }

    /// Removes `id` from `room`; `false` if it was not a member.
    pub(crate) fn leave(&mut self, id: K, room: &str) -> bool {
        let Some(members) = self.members.get_mut(room) else {
            return false;
        };
        if !members.remove(&id) {
            return false;
        }
        if members.is_empty() {
            self.members.remove(room);
        }
        if let Some(rooms) = self.joined.get_mut(&id) {
            rooms.retain(|r| &**r != room);
            if rooms.is_empty() {
                self.joined.remove(&id);
            }
        }
        true
    }

    /// Removes `id` from every room it is in.
    pub(crate) fn leave_all(&mut self, id: K) {
        for room in self.joined.remove(&id).unwrap_or_default() {
            if let Some(members) = self.members.get_mut(&room) {
                members.remove(&id);
                if members.is_empty() {
                    self.members.remove(&room);
                }
            }
        }
    }

    /// The members of `room` (none if it does not exist).
    pub(crate) fn members(&self, room: &str) -> impl Iterator<Item = K> + '_ {
        self.members.get(room).into_iter().flatten().copied()
    }

    /// Whether `id` is a member of `room`.
    pub(crate) fn contains(&self, room: &str, id: K) -> bool {
        self.members.get(room).is_some_and(|m| m.contains(&id))
    }

    /// The rooms `id` is in, in the order it joined them.
    pub(crate) fn rooms_of(&self, id: K) -> impl Iterator<Item = &str> + '_ {
        self.joined.get(&id).into_iter().flatten().map(|r| &**r)
    }

    /// Members of `room`.
    pub(crate) fn len(&self, room: &str) -> usize {
        self.members.get(room).map_or(0, BTreeSet::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(slot: u32) -> ConnId {
        crate::slab::Key::from_parts(slot, 0)
    }

    fn sorted(it: impl Iterator<Item = ConnId>) -> Vec<u32> {
        let mut v: Vec<u32> = it.map(crate::slab::Key::slot).collect();
        v.sort();
        v
    }

    #[test]
    fn join_and_leave_keep_both_indexes_in_step() {
        let mut rooms = Rooms::default();
        assert_eq!(rooms.join(id(1), "lobby"), Ok(true));
        assert_eq!(
            rooms.join(id(1), "lobby"),
            Ok(false),
            "joining twice is a no-op"
        );
        assert_eq!(rooms.join(id(2), "lobby"), Ok(true));
        assert_eq!(rooms.join(id(1), "games"), Ok(true));
        assert_eq!(sorted(rooms.members("lobby")), [1, 2]);
        assert_eq!(
            rooms.rooms_of(id(1)).collect::<Vec<_>>(),
            ["lobby", "games"]
        );

        assert!(rooms.leave(id(1), "lobby"));
        assert!(!rooms.leave(id(1), "lobby"));
        assert_eq!(sorted(rooms.members("lobby")), [2]);
        assert_eq!(rooms.rooms_of(id(1)).collect::<Vec<_>>(), ["games"]);
    }

    #[test]
    fn leave_all_empties_rooms_and_drops_them() {
        let mut rooms = Rooms::default();
        for r in ["a", "b", "c"] {
            rooms.join(id(7), r).unwrap();
        }
        rooms.join(id(8), "b").unwrap();
        rooms.leave_all(id(7));
        assert_eq!(rooms.rooms_of(id(7)).count(), 0);
        assert_eq!(rooms.len("a"), 0);
        assert_eq!(sorted(rooms.members("b")), [8]);
        assert!(!rooms.members.contains_key("a"), "empty rooms are dropped");
        assert!(!rooms.members.contains_key("c"));
        rooms.leave_all(id(8));
        assert!(rooms.members.is_empty() && rooms.joined.is_empty());
    }

    #[test]
    fn unknown_rooms_are_empty() {
        let mut rooms = Rooms::default();
        assert_eq!(rooms.members("nowhere").count(), 0);
        assert!(!rooms.leave(id(1), "nowhere"));
        rooms.leave_all(id(1));
    }

    #[test]
    fn room_names_are_shared_not_copied_per_member() {
        let mut rooms = Rooms::default();
        for slot in 0..100 {
            rooms.join(id(slot), "big").unwrap();
        }
        let (name, _) = rooms.members.get_key_value("big").unwrap();
        // one in the room map + one per member's list
        assert_eq!(Arc::strong_count(name), 101);
    }

    #[test]
    fn members_can_be_any_copyable_id() {
        let mut rooms: Rooms<(u32, u32)> = Rooms::default();
        assert_eq!(rooms.join((1, 7), "r"), Ok(true));
        assert_eq!(rooms.join((2, 7), "r"), Ok(true));
        rooms.leave_all((1, 7));
        assert_eq!(rooms.members("r").collect::<Vec<_>>(), [(2, 7)]);
    }

    #[test]
    fn joins_past_the_limits_are_refused_and_change_nothing() {
        let mut rooms = Rooms::new(RoomLimits {
            max_rooms: 2,
            max_name_len: 8,
        });
        assert_eq!(rooms.join(id(1), "a"), Ok(true));
        assert_eq!(rooms.join(id(1), "12345678"), Ok(true), "exactly the limit");
        assert_eq!(rooms.join(id(1), "c"), Err(JoinError::TooManyRooms));
        assert_eq!(
            rooms.join(id(1), "a"),
            Ok(false),
            "a member stays one at the limit"
        );
        assert_eq!(rooms.join(id(2), "123456789"), Err(JoinError::NameTooLong));
        assert_eq!(rooms.len("c") + rooms.len("123456789"), 0);
        assert!(
            !rooms.members.contains_key("c"),
            "no empty room left behind"
        );
        assert!(!rooms.joined.contains_key(&id(2)));
        // Leaving makes room again.
        assert!(rooms.leave(id(1), "a"));
        assert_eq!(rooms.join(id(1), "c"), Ok(true));
        // A room the server names itself may pass the limits.
        assert!(rooms.join_unlimited(id(1), "own room, named by the server"));
    }
}
