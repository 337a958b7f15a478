//! Generational keys and the slab that hands them out: the ground floor that the reactor,
//! rooms, the handle and the Socket.IO layer all build on, none of them reaching into
//! another for it.
//!
//! A key is a slot and a generation. Removing an entry bumps its slot's generation, so a
//! key that outlived its entry misses, even after a newcomer reuses the slot: sending to a
//! stale id does nothing instead of reaching a stranger.

use std::fmt;
use std::marker::PhantomData;

/// A slot and generation pair naming one entry of a [`Slab`].
pub(crate) trait Key: Copy {
    fn from_parts(slot: u32, gen: u32) -> Self;
    fn slot(self) -> u32;
    fn gen(self) -> u32;
}

/// Declares a key type: a slot and a generation, `Copy`, ordered, hashable, shown as
/// `#slot.gen`.
macro_rules! key_type {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name {
            slot: u32,
            gen: u32,
        }

        impl $crate::slab::Key for $name {
            fn from_parts(slot: u32, gen: u32) -> Self {
                $name { slot, gen }
            }
            fn slot(self) -> u32 {
                self.slot
            }
            fn gen(self) -> u32 {
                self.gen
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}#{}.{}", stringify!($name), self.slot, self.gen)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "#{}.{}", self.slot, self.gen)
            }
        }
    };
}
pub(crate) use key_type;

/// A vector of slots with a free list; each slot remembers its generation.
pub(crate) struct Slab<K, T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    key: PhantomData<K>,
}

#[derive(Debug)]
struct Slot<T> {
    gen: u32,
    value: Option<T>,
}

impl<K, T: fmt::Debug> fmt::Debug for Slab<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl<K, T> Default for Slab<K, T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            key: PhantomData,
        }
    }
}

impl<K: Key, T> Slab<K, T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The key the next [`insert`](Self::insert) will return.
    pub(crate) fn next_key(&self) -> K {
        match self.free.last() {
            Some(&slot) => K::from_parts(slot, self.slots[slot as usize].gen),
            None => K::from_parts(self.slots.len() as u32, 0),
        }
    }

    pub(crate) fn insert(&mut self, value: T) -> K {
        let key = self.next_key();
        match self.free.pop() {
            Some(slot) => self.slots[slot as usize].value = Some(value),
            None => self.slots.push(Slot {
                gen: 0,
                value: Some(value),
            }),
        }
        self.len += 1;
        key
    }

    pub(crate) fn remove(&mut self, key: K) -> Option<T> {
        let slot = self
            .slots
            .get_mut(key.slot() as usize)
            .filter(|s| s.gen == key.gen())?;
        let value = slot.value.take()?;
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(key.slot());
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn get(&self, key: K) -> Option<&T> {
        let slot = self
            .slots
            .get(key.slot() as usize)
            .filter(|s| s.gen == key.gen())?;
        slot.value.as_ref()
    }

    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut T> {
        let slot = self
            .slots
            .get_mut(key.slot() as usize)
            .filter(|s| s.gen == key.gen())?;
        slot.value.as_mut()
    }

    /// Keys of every live entry.
    pub(crate) fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.iter().map(|(key, _)| key)
    }

    /// Every live entry with its key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &T)> + '_ {
        (self.slots.iter().enumerate()).filter_map(|(i, s)| {
            (s.value.as_ref()).map(|value| (K::from_parts(i as u32, s.gen), value))
        })
    }

    /// Every live entry.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }

    /// The live key at a slot, if any (the reactor maps poller tokens to slots).
    pub(crate) fn key_at(&self, slot: usize) -> Option<K> {
        let s = self.slots.get(slot)?;
        s.value.as_ref()?;
        Some(K::from_parts(slot as u32, s.gen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    key_type! {
        struct TestKey;
    }

    #[test]
    fn stale_keys_miss_after_slot_reuse() {
        let mut slab: Slab<TestKey, &str> = Slab::default();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(a.slot(), b.slot(), "the slot is reused");
        assert_ne!(a, b);
        assert_eq!(slab.get_mut(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get_mut(b), Some(&mut "b"));
        assert_eq!(slab.key_at(b.slot() as usize), Some(b));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn next_key_predicts_insert() {
        let mut slab: Slab<TestKey, ()> = Slab::default();
        for _ in 0..3 {
            let predicted = slab.next_key();
            let key = slab.insert(());
            assert_eq!(predicted, key);
            slab.remove(key);
        }
        assert_eq!(slab.len(), 0);
        assert_eq!(slab.keys().count(), 0);
    }
}
