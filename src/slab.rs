//! Generational keys and the slab that hands them out: the ground floor that the reactor,
//! rooms, the handle and the Socket.IO layer all build on, none of them reaching into
//! another for it.
//!
//! A key is a slot and a generation. Removing an entry bumps its slot's generation, so a
//! key that outlived its entry misses, even after a newcomer reuses the slot: sending to a
//! stale id does nothing instead of reaching a stranger.
//!
//! A slab may be [tagged](Slab::tagged): the high bits of its keys' slots then name it (one
//! reactor's connections among several), and a key of another slab misses.

use std::fmt;
use std::marker::PhantomData;

/// Bits of a slot that index the slab; the bits above them hold its [tag](Slab::tagged).
pub(crate) const SLOT_BITS: u32 = 24;

/// Tags a slot may carry: 8 bits.
pub(crate) const TAGS: usize = 1 << (32 - SLOT_BITS);

/// A slot and generation pair naming one entry of a [`Slab`].
pub(crate) trait Key: Copy {
    fn from_parts(slot: u32, gen: u32) -> Self;
    fn slot(self) -> u32;
    fn gen(self) -> u32;
}

/// Declares a key type: a slot and a generation, `Copy`, ordered, hashable, shown as
/// `#slot.gen` (`#tag:slot.gen` for a key of a tagged slab).
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
                write!(f, "{}{}", stringify!($name), self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let (tag, slot) = $crate::slab::split(self.slot);
                match tag {
                    0 => write!(f, "#{}.{}", slot, self.gen),
                    tag => write!(f, "#{}:{}.{}", tag, slot, self.gen),
                }
            }
        }
    };
}
pub(crate) use key_type;

/// A slot's tag and its index in the slab.
pub(crate) fn split(slot: u32) -> (u32, u32) {
    (slot >> SLOT_BITS, slot & ((1 << SLOT_BITS) - 1))
}

/// A vector of slots with a free list; each slot remembers its generation.
pub(crate) struct Slab<K, T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    /// Added to every key's slot: the slab's tag in the high bits (0 if untagged).
    base: u32,
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
            base: 0,
            key: PhantomData,
        }
    }
}

impl<K, T> Slab<K, T> {
    /// A slab whose keys carry `tag` (below [`TAGS`]) in the high bits of their slot. It
    /// holds at most 2^24 entries at once (16,777,216); a key of a slab with another tag
    /// misses, as a stale key does.
    pub(crate) fn tagged(tag: usize) -> Self {
        debug_assert!(tag < TAGS);
        Slab {
            base: (tag as u32) << SLOT_BITS,
            ..Slab::default()
        }
    }
}

impl<K: Key, T> Slab<K, T> {
    /// Where `key`'s slot is in `slots` (past the end for a key of another tag).
    #[inline]
    fn index(&self, slot: u32) -> usize {
        slot.wrapping_sub(self.base) as usize
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The key the next [`insert`](Self::insert) will return.
    pub(crate) fn next_key(&self) -> K {
        match self.free.last() {
            Some(&slot) => K::from_parts(self.base + slot, self.slots[slot as usize].gen),
            None => K::from_parts(self.base + self.slots.len() as u32, 0),
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
        let index = self.index(key.slot());
        let slot = self.slots.get_mut(index).filter(|s| s.gen == key.gen())?;
        let value = slot.value.take()?;
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(index as u32);
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn get(&self, key: K) -> Option<&T> {
        let slot = (self.slots.get(self.index(key.slot()))).filter(|s| s.gen == key.gen())?;
        slot.value.as_ref()
    }

    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut T> {
        let index = self.index(key.slot());
        let slot = self.slots.get_mut(index).filter(|s| s.gen == key.gen())?;
        slot.value.as_mut()
    }

    /// Keys of every live entry.
    pub(crate) fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.iter().map(|(key, _)| key)
    }

    /// Every live entry with its key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &T)> + '_ {
        (self.slots.iter().enumerate()).filter_map(|(i, s)| {
            let key = K::from_parts(self.base + i as u32, s.gen);
            (s.value.as_ref()).map(|value| (key, value))
        })
    }

    /// Every live entry.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }

    /// The live key at a slot (tag included), if any: the reactor maps poller tokens to
    /// slots.
    pub(crate) fn key_at(&self, slot: usize) -> Option<K> {
        let slot = u32::try_from(slot).ok()?;
        let s = self.slots.get(self.index(slot))?;
        s.value.as_ref()?;
        Some(K::from_parts(slot, s.gen))
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
    fn a_tagged_slab_names_itself_in_its_keys_and_misses_the_keys_of_others() {
        let mut one: Slab<TestKey, &str> = Slab::tagged(1);
        let mut two: Slab<TestKey, &str> = Slab::tagged(2);
        let a = one.insert("a");
        let b = two.insert("b");
        assert_eq!((split(a.slot()), split(b.slot())), ((1, 0), (2, 0)));
        assert_eq!(a.gen(), b.gen());
        assert_eq!(
            (one.get(b), two.get(a)),
            (None, None),
            "same index, other tag"
        );
        assert_eq!(one.key_at(a.slot() as usize), Some(a));
        assert_eq!(one.key_at(b.slot() as usize), None);
        assert_eq!(one.keys().collect::<Vec<_>>(), [a]);
        assert_eq!(a.to_string(), "#1:0.0");
        assert_eq!(format!("{a:?}"), "TestKey#1:0.0");
        assert_eq!(one.remove(a), Some("a"));
        let again = one.insert("again");
        assert_eq!((split(again.slot()), again.gen()), ((1, 0), 1));
        let untagged: Slab<TestKey, ()> = Slab::default();
        assert_eq!(untagged.next_key().to_string(), "#0.0");
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
