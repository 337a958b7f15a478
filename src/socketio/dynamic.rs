//! Dynamic namespaces (the reference's `io.of(regex)` and `io.of((name, auth, next) =>
//! ...)`, lib/parent-namespace.ts): a parent accepts names by a predicate, and a client
//! connecting to a name no namespace has yet, that a parent accepts, gets a child namespace
//! made on the spot with the parent's middlewares and connection handlers.
//!
//! Parents are asked in the order they were made; the first to accept makes the child.
//! Children are kept once empty (as the reference's are unless
//! `cleanupEmptyChildNamespaces`), and at most [`Options::max_child_namespaces`] exist at
//! once: past it a new name reuses the slot of an empty child, or is refused as an
//! invalid namespace when none is empty. Clients choose the names, so the limit is what
//! keeps their cost bounded.
//!
//! [`Options::max_child_namespaces`]: super::Options::max_child_namespaces

use std::fmt;

use log::debug;

use super::handshake::Handshake;
use super::namespace::{Namespace, Sio};

type AcceptFn = dyn FnMut(&str, &Handshake) -> bool;

/// A parent namespace: which names it takes, and what its children start with.
pub(crate) struct Parent {
    accept: Box<AcceptFn>,
    /// Configured as any namespace; never connected to itself.
    template: Namespace,
}

impl fmt::Debug for Parent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parent")
            .field("name", &self.template.name)
            .finish_non_exhaustive()
    }
}

impl Sio {
    /// A new parent namespace, named `/_<n>` as the reference names them.
    pub(crate) fn parent(
        &mut self,
        accept: impl FnMut(&str, &Handshake) -> bool + 'static,
    ) -> &mut Namespace {
        let name = format!("/_{}", self.parents.len());
        let template = Namespace::new(&name, self.room_limits());
        self.parents.push(Parent {
            accept: Box::new(accept),
            template,
        });
        let last = self.parents.len() - 1;
        &mut self.parents[last].template
    }

    /// The namespace a client connecting to `name` joins: the one of that name, else a
    /// child of the first parent that accepts it. `None`: an invalid namespace.
    pub(crate) fn resolve(&mut self, name: &str, handshake: &Handshake) -> Option<usize> {
        if let Some(i) = self.namespaces.iter().position(|n| n.name == name) {
            return Some(i);
        }
        let limits = self.room_limits();
        let parent = (self.parents.iter_mut()).find_map(|p| {
            let accepted = (p.accept)(name, handshake);
            accepted.then_some(&p.template)
        })?;
        let child = Namespace::child(name, parent, limits);
        let children = self.namespaces.iter().filter(|n| n.is_child()).count();
        if children < self.max_children {
            debug!("child namespace {name} made");
            #[cfg(feature = "redis")]
            if let Some(redis) = &self.redis {
                redis.serve(name);
            }
            self.namespaces.push(child);
            return Some(self.namespaces.len() - 1);
        }
        // No socket refers to an empty namespace: its slot can be reused.
        let Some(i) = (self.namespaces.iter()).position(|n| n.is_child() && n.is_empty()) else {
            debug!(
                "child namespace {name} refused: {} children, none empty",
                self.max_children
            );
            return None;
        };
        debug!(
            "child namespace {name} made in the place of {}",
            self.namespaces[i].name
        );
        self.namespaces[i] = child;
        Some(i)
    }
}
