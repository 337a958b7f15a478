//! The engine's bookkeeping checked against itself, for the fuzz driver
//! (`crate::fuzz::engine`), which calls [`Engine::audit`] after every step: every index
//! (sids, WebSocket roles, held GETs, timers) agrees with the sessions it points at, queues
//! are within `max_buffer`, and every deadline has a reactor timer armed by it.

use std::time::Instant;

use super::packet::Out;
use super::{Engine, IdMap, SessKey, Transport, WsRole};
use crate::id::TimerId;

/// What the engine holds, for the driver's checks at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Census {
    pub(crate) sessions: usize,
    /// WebSocket connections the engine knows (transports, probes, closed ones not yet
    /// reported closed).
    pub(crate) ws: usize,
    pub(crate) held_gets: usize,
    pub(crate) timers: usize,
}

impl<C> Engine<C> {
    /// Panics on the first inconsistency. Call it between entry points (after
    /// [`flush`](Self::flush)); `pending` are the reactor timers set and not fired yet.
    pub(crate) fn audit(&self, pending: &[(Instant, TimerId)]) -> Census {
        assert!(
            self.effects.is_empty() && self.dirty.is_empty() && self.overflowed.is_empty(),
            "work left after a flush"
        );
        let due: IdMap<TimerId, Instant> = pending.iter().map(|&(at, id)| (id, at)).collect();
        assert_eq!(
            due.len(),
            self.timers.len(),
            "the engine's timers are the pending ones"
        );
        // The earliest timer pending for each session.
        let mut first: IdMap<SessKey, Instant> = IdMap::default();
        for (id, &s) in &self.timers {
            let Some(&at) = due.get(id) else {
                panic!("{id}: an engine timer not pending");
            };
            first.entry(s).and_modify(|t| *t = at.min(*t)).or_insert(at);
        }
        assert_eq!(
            self.by_sid.len(),
            self.sessions.len(),
            "one sid per session"
        );
        for (sid, &s) in &self.by_sid {
            let sess = self.sessions.get(s);
            assert!(
                sess.is_some_and(|sess| sess.sid == *sid),
                "{sid}: stale index"
            );
        }
        for (s, sess) in self.sessions.iter() {
            let sid = &sess.sid;
            let bytes: usize = sess.queue.iter().map(Out::len).sum();
            assert_eq!(bytes, sess.queued_bytes, "{sid}: queued bytes miscounted");
            assert!(
                sess.queued_bytes <= self.settings.max_buffer,
                "{sid}: {} bytes queued, over max_buffer",
                sess.queued_bytes
            );
            assert!(!sess.dirty, "{sid}: dirty after a flush");
            assert_eq!(
                sess.closed,
                sess.draining.is_some(),
                "{sid}: closed, not draining"
            );
            match sess.transport {
                Transport::WebSocket(conn) => {
                    assert!(
                        matches!(self.ws.get(&conn), Some(WsRole::Transport(t)) if *t == s),
                        "{sid}: its WebSocket {conn} is not its transport"
                    );
                    assert!(sess.probe.is_none(), "{sid}: a probe after the upgrade");
                    assert!(
                        sess.queue.is_empty() || sess.paced_until.is_some(),
                        "{sid}: packets wait on a WebSocket that is not paced"
                    );
                }
                Transport::Polling { get } => {
                    if let Some(conn) = get {
                        assert_eq!(self.gets.session(conn), Some(s), "{sid}: GET not held");
                    }
                }
            }
            if let Some(probe) = &sess.probe {
                assert!(
                    matches!(self.ws.get(&probe.conn), Some(WsRole::Probe(p)) if *p == s),
                    "{sid}: its probe {} is not one",
                    probe.conn
                );
            }
            let next = sess.next_deadline();
            if let Some(next) = next {
                let armed = sess.armed.filter(|&armed| armed <= next);
                let Some(armed) = armed else {
                    panic!("{sid}: no timer armed by its deadline");
                };
                let timer = first.get(&s).is_some_and(|&at| at <= armed);
                assert!(timer, "{sid}: its armed timer is not pending");
            }
        }
        for (conn, role) in &self.ws {
            match *role {
                WsRole::Transport(s) => assert!(
                    self.sessions.get(s).is_some_and(|sess| !sess.closed
                        && matches!(sess.transport, Transport::WebSocket(c) if c == *conn)),
                    "{conn}: the transport of no open session"
                ),
                WsRole::Probe(s) => assert!(
                    (self.sessions.get(s))
                        .is_some_and(|sess| sess.probe.as_ref().is_some_and(|p| p.conn == *conn)),
                    "{conn}: the probe of no session"
                ),
                WsRole::Done => {}
            }
        }
        for (conn, s) in self.gets.iter() {
            let held = self.sessions.get(s).is_some_and(
                |sess| matches!(sess.transport, Transport::Polling { get: Some(c) } if c == conn),
            );
            assert!(held, "{conn}: held for no session");
        }
        Census {
            sessions: self.sessions.len(),
            ws: self.ws.len(),
            held_gets: self.gets.iter().count(),
            timers: self.timers.len(),
        }
    }
}
