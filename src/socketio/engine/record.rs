//! A [`Wire`] that records what the engine does to the world instead of doing it: frames
//! sent, answers to held requests, closes, timers. The engine's unit tests drive the engine
//! through it by hand, and its fuzz driver (`crate::fuzz::engine`) checks what it recorded
//! after every step. Time is the caller's: a timer set now counts from [`Rec::now`].

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::Wire;
use crate::http::{Framing, Response};
use crate::id::{ConnId, TimerId};
use crate::slab::Slab;
use crate::{CloseCode, Message};

/// Records what the engine does to the world.
#[derive(Debug, Default)]
pub(crate) struct Rec {
    pub(crate) sent: Vec<(ConnId, Message)>,
    /// Answers to held requests: status and body (see [`body_of`]).
    pub(crate) responses: Vec<(ConnId, String)>,
    /// The same answers, whole.
    pub(crate) answers: Vec<Response>,
    /// Connections whose request is held, unanswered.
    pub(crate) held: HashSet<ConnId>,
    /// Answers to connections with no request held (gone, or answered already): refused,
    /// as the reactor refuses them.
    pub(crate) stale: Vec<ConnId>,
    pub(crate) closed: Vec<ConnId>,
    pub(crate) close_codes: Vec<CloseCode>,
    /// Connections past their soft backpressure limit.
    pub(crate) unwritable: HashSet<ConnId>,
    /// Timers set and not fired yet: when each is due.
    pub(crate) timers: Vec<(Instant, TimerId)>,
    /// Timer ids handed out so far.
    pub(crate) next_timer: Slab<TimerId, ()>,
    pub(crate) now: Option<Instant>,
}

impl Rec {
    /// Takes the earliest timer due by `until`, if any.
    pub(crate) fn pop_due(&mut self, until: Instant) -> Option<(Instant, TimerId)> {
        let (i, _) = (self.timers.iter().enumerate())
            .filter(|(_, (at, _))| *at <= until)
            .min_by_key(|(_, timer)| **timer)?;
        Some(self.timers.swap_remove(i))
    }
}

impl Wire for Rec {
    fn send(&mut self, conn: ConnId, msg: Message) {
        self.sent.push((conn, msg));
    }
    fn respond(&mut self, conn: ConnId, response: Response) -> bool {
        if !self.held.remove(&conn) {
            self.stale.push(conn);
            return false;
        }
        self.responses.push((conn, body_of(&response)));
        self.answers.push(response);
        true
    }
    fn is_held(&mut self, conn: ConnId) -> bool {
        self.held.contains(&conn)
    }
    fn is_writable(&mut self, conn: ConnId) -> bool {
        !self.unwritable.contains(&conn)
    }
    fn close(&mut self, conn: ConnId, code: CloseCode, _reason: &str) {
        self.closed.push(conn);
        self.close_codes.push(code);
    }
    fn set_timer(&mut self, delay: Duration) -> TimerId {
        let now = self
            .now
            .expect("the driver sets the time before the engine runs");
        let timer = self.next_timer.insert(());
        self.timers.push((now + delay, timer));
        timer
    }
}

/// A response as `"<status> <body>"`, as the tests compare them.
pub(crate) fn body_of(response: &Response) -> String {
    let mut out = Vec::new();
    response.write_to(&mut out, Framing::default());
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    format!("{} {body}", head.get(9..12).unwrap_or("???"))
}
