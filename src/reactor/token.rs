//! Connection ids, mio tokens, and the slab that maps one to the other.

use std::fmt;

use mio::Token;

/// The listening socket's token.
pub(crate) const LISTENER: Token = Token(usize::MAX);
/// The token of the waker that `Handle`s use.
pub(crate) const WAKER: Token = Token(usize::MAX - 1);

/// Identifies one connection for the life of the server.
///
/// The mio token is the slot; the generation makes an id that outlived its connection
/// harmless: sending to it does nothing, even after a newcomer reuses the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) slot: u32,
    pub(crate) gen: u32,
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.slot, self.gen)
    }
}

/// A vector of slots with a free list; each slot remembers its generation.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug)]
struct Slot<T> {
    gen: u32,
    value: Option<T>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The id the next [`insert`](Self::insert) will return.
    pub(crate) fn next_id(&self) -> ConnId {
        match self.free.last() {
            Some(&slot) => ConnId {
                slot,
                gen: self.slots[slot as usize].gen,
            },
            None => ConnId {
                slot: self.slots.len() as u32,
                gen: 0,
            },
        }
    }

    pub(crate) fn insert(&mut self, value: T) -> ConnId {
        let id = self.next_id();
        match self.free.pop() {
            Some(slot) => self.slots[slot as usize].value = Some(value),
            None => self.slots.push(Slot {
                gen: 0,
                value: Some(value),
            }),
        }
        self.len += 1;
        id
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Option<T> {
        let slot = self
            .slots
            .get_mut(id.slot as usize)
            .filter(|s| s.gen == id.gen)?;
        let value = slot.value.take()?;
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(id.slot);
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&T> {
        let slot = self
            .slots
            .get(id.slot as usize)
            .filter(|s| s.gen == id.gen)?;
        slot.value.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut T> {
        let slot = self
            .slots
            .get_mut(id.slot as usize)
            .filter(|s| s.gen == id.gen)?;
        slot.value.as_mut()
    }

    /// Ids of every live entry.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        let live = |(i, s): (usize, &Slot<T>)| {
            s.value.as_ref().map(|_| ConnId {
                slot: i as u32,
                gen: s.gen,
            })
        };
        self.slots.iter().enumerate().filter_map(live)
    }

    /// Every live entry.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }

    /// The live id at a mio token, if any.
    pub(crate) fn id_at(&self, token: Token) -> Option<ConnId> {
        let slot = self.slots.get(token.0)?;
        slot.value.as_ref()?;
        Some(ConnId {
            slot: token.0 as u32,
            gen: slot.gen,
        })
    }
}

impl ConnId {
    /// The id of no connection: what `Ctx::id` says in callbacks that serve none.
    pub(crate) const NONE: ConnId = ConnId {
        slot: u32::MAX,
        gen: u32::MAX,
    };

    pub(crate) fn token(self) -> Token {
        Token(self.slot as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_miss_after_slot_reuse() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(a.slot, b.slot, "the slot is reused");
        assert_ne!(a, b);
        assert_eq!(slab.get_mut(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get_mut(b), Some(&mut "b"));
        assert_eq!(slab.id_at(b.token()), Some(b));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn next_id_predicts_insert() {
        let mut slab = Slab::default();
        for _ in 0..3 {
            let predicted = slab.next_id();
            let id = slab.insert(());
            assert_eq!(predicted, id);
            slab.remove(id);
        }
        assert_eq!(slab.len(), 0);
        assert_eq!(slab.ids().count(), 0);
    }
}
