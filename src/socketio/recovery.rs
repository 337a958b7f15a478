//! Connection state recovery (Socket.IO 4.6): a client that comes back within
//! [`Recovery::max_disconnection_duration`] gets its socket back: the same id, its rooms
//! and data, and the events it missed, in order.
//!
//! As the reference's `SessionAwareAdapter` does it, per namespace:
//! - every event emitted without acknowledgement and not volatile gets an **offset**,
//!   appended as its last argument (how the client knows the last one it processed), and
//!   is kept in a log with its selection (rooms, except) for the window;
//! - a socket disconnected for a reason the network caused (`transport close`, `ping
//!   timeout`, ...) is kept as a session under its **private id** (`pid`, sent only to
//!   its client in the CONNECT packet): id, rooms, data;
//! - a CONNECT whose auth carries `pid` and `offset` of a kept session restores it and
//!   replays the logged events after that offset that its rooms would have received.
//!
//! Memory is bounded: sessions and events older than the window are dropped (checked
//! whenever one is added or looked up), and the log also keeps at most
//! [`Recovery::max_log_bytes`] of encoded events, oldest dropped first: a client whose
//! offset fell out of the log gets a new session, as one past the window does.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use http::Extensions;
use tungstenite::{Bytes, Utf8Bytes};

use log::debug;
use serde_json::Value;

use super::adapter::Selection;
use super::engine::Engine;
use super::namespace::{Client, Sio, SocketKey};

/// Settings of connection state recovery (the reference's `connectionStateRecovery`
/// option), for [`Options::connection_state_recovery`](super::Options::connection_state_recovery).
///
/// ```
/// use std::time::Duration;
/// use wsreactor::socketio::{Options, Recovery};
///
/// let options = Options::default().connection_state_recovery(
///     Recovery::default().max_disconnection_duration(Duration::from_secs(30)),
/// );
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub(crate) max_disconnection_duration: Duration,
    pub(crate) skip_middlewares: bool,
    pub(crate) max_log_bytes: usize,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_log_bytes: 16 << 20,
        }
    }
}

impl Recovery {
    /// How long a disconnected socket's state and the events it may miss are kept.
    /// Default 2 minutes, as the reference.
    pub fn max_disconnection_duration(mut self, window: Duration) -> Self {
        self.max_disconnection_duration = window;
        self
    }

    /// Whether a recovered socket skips the namespace's middlewares (it passed them
    /// when it first connected). Default `true`, as the reference.
    pub fn skip_middlewares(mut self, skip: bool) -> Self {
        self.skip_middlewares = skip;
        self
    }

    /// The most bytes of encoded events one namespace's log keeps (oldest dropped
    /// first), whatever the window. Default 16 MiB. The reference keeps every event of the
    /// window, which a busy server pays for in memory.
    pub fn max_log_bytes(mut self, bytes: usize) -> Self {
        self.max_log_bytes = bytes;
        self
    }
}

/// What a disconnected socket leaves to come back to.
#[derive(Debug)]
pub(crate) struct Session {
    /// The key the socket had: the audience of what was emitted to it alone.
    key: SocketKey,
    pub(crate) sid: String,
    pub(crate) pid: String,
    pub(crate) rooms: Vec<String>,
    pub(crate) data: Extensions,
    disconnected_at: Instant,
}

/// Who an event was for.
#[derive(Debug, Clone)]
pub(crate) enum Audience {
    /// One socket (`socket.emit`): its own room, named by its key (cheaper to keep than
    /// its id; a restored socket's old key is in its [`Session`]).
    Socket(SocketKey),
    /// A broadcast's selection (boxed: most events are a socket's own).
    Rooms(Box<Selection>),
}

/// An event as it went out; its packet's text (offset included) is the next `len` bytes of
/// the store's `texts`, its attachments (if any) are in its `bins` under its offset. Small:
/// one is written per event.
#[derive(Debug)]
struct Logged {
    emitted_at: Instant,
    audience: Audience,
    len: u32,
}

/// An event to send again, as it went out.
#[derive(Debug)]
pub(crate) struct Missed {
    pub(crate) text: Utf8Bytes,
    pub(crate) bins: Vec<Bytes>,
}

impl Logged {
    /// Whether the socket kept as `session` was among its recipients (the reference's
    /// `shouldIncludePacket`, on the rooms it was in).
    fn reaches(&self, session: &Session) -> bool {
        let rooms = &session.rooms;
        match &self.audience {
            Audience::Socket(k) => *k == session.key,
            Audience::Rooms(sel) => {
                let (to, except) = (&sel.rooms, &sel.except);
                let included = to.is_empty() || rooms.iter().any(|r| to.contains(r));
                included && !rooms.iter().any(|r| except.contains(r))
            }
        }
    }
}

/// One namespace's kept sessions and event log.
#[derive(Debug)]
pub(crate) struct Store {
    settings: Recovery,
    sessions: HashMap<String, Session>,
    /// Pids in the order they were kept, to drop the expired from the front.
    expiry: VecDeque<(Instant, String)>,
    log: VecDeque<Logged>,
    /// The logged packets' texts, end to end: one copy of a few dozen bytes per event, and
    /// nothing to allocate or free per event, where sharing each packet's buffer cost both.
    texts: VecDeque<u8>,
    /// The attachments of logged binary events, by offset.
    bins: BTreeMap<u64, Vec<Bytes>>,
    log_bytes: usize,
    /// The offset of the log's first event; the others follow it one by one.
    first_offset: u64,
    /// When the log's first event leaves the window (`None`: not known since the last
    /// prune, or no event).
    front_expires: Option<Instant>,
    next_offset: u64,
}

impl Store {
    pub(crate) fn new(settings: Recovery) -> Self {
        Store {
            settings,
            sessions: HashMap::new(),
            expiry: VecDeque::new(),
            log: VecDeque::new(),
            texts: VecDeque::new(),
            bins: BTreeMap::new(),
            first_offset: 0,
            front_expires: None,
            log_bytes: 0,
            next_offset: 0,
        }
    }

    pub(crate) fn skips_middlewares(&self) -> bool {
        self.settings.skip_middlewares
    }

    /// The offset the next logged event will have (the client sends it back as a
    /// decimal string).
    pub(crate) fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Logs an event sent to `audience` at `now`, whose packet carries `next_offset()`.
    pub(crate) fn log(&mut self, now: Instant, audience: Audience, text: &str, bins: &[Bytes]) {
        self.texts.extend(text.as_bytes());
        self.log_bytes += text.len();
        if !bins.is_empty() {
            self.log_bytes += bins.iter().map(Bytes::len).sum::<usize>();
            self.bins.insert(self.next_offset, bins.to_vec());
        }
        // A packet is far below 4 GiB (`max_payload`-sized at most).
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        self.log.push_back(Logged {
            emitted_at: now,
            audience,
            len,
        });
        self.next_offset += 1;
        // Checked per event without touching the log's (cold) front; pruned in batches.
        let window = self.settings.max_disconnection_duration;
        let front_expires = match self.front_expires {
            Some(at) => at,
            None => {
                let first = self.log.front().map_or(now, |front| front.emitted_at);
                *self.front_expires.insert(first + window)
            }
        };
        if self.log_bytes > self.settings.max_log_bytes || now > front_expires {
            self.prune(now);
        }
    }

    /// Keeps a socket disconnected at `now` for the window: its key, id, pid, rooms, data.
    pub(crate) fn persist(
        &mut self,
        now: Instant,
        (key, sid, pid): (SocketKey, String, String),
        rooms: Vec<String>,
        data: Extensions,
    ) {
        self.expiry.push_back((now, pid.clone()));
        let session = Session {
            key,
            sid,
            pid: pid.clone(),
            rooms,
            data,
            disconnected_at: now,
        };
        self.sessions.insert(pid, session);
        self.prune(now);
    }

    /// The session kept under `pid` and the events after `offset` it would have
    /// received, if both are still kept. A session restored is taken (a pid is good for
    /// one socket: the reference keeps it, so two clients could get the same id); one
    /// asked for with an offset no longer kept stays for its own client to claim.
    pub(crate) fn restore(
        &mut self,
        now: Instant,
        pid: &str,
        offset: &str,
    ) -> Option<(Session, Vec<Missed>)> {
        self.prune(now);
        let offset: u64 = offset.parse().ok()?;
        // Offsets are consecutive: the one asked for is at its distance from the front.
        let first = self.log.front().map(|_| self.first_offset)?;
        let at = usize::try_from(offset.checked_sub(first)?).ok()?;
        if at >= self.log.len() {
            return None;
        }
        let session = self.sessions.remove(pid)?;
        let mut missed = Vec::new();
        let mut start = 0;
        for (i, logged) in self.log.iter().enumerate() {
            let end = start + logged.len as usize;
            if i > at && logged.reaches(&session) {
                let bytes: Vec<u8> = self.texts.range(start..end).copied().collect();
                // Logged from a `&str`: valid UTF-8.
                if let Ok(text) = String::from_utf8(bytes) {
                    let offset = self.first_offset + i as u64;
                    let bins = self.bins.get(&offset).cloned().unwrap_or_default();
                    missed.push(Missed {
                        text: text.into(),
                        bins,
                    });
                }
            }
            start = end;
        }
        Some((session, missed))
    }

    fn prune(&mut self, now: Instant) {
        let window = self.settings.max_disconnection_duration;
        let expired = |at: Instant| now.saturating_duration_since(at) > window;
        while let Some((at, pid)) = self.expiry.front() {
            if !expired(*at) {
                break;
            }
            // A pid kept twice (never: pids are random) or already restored is skipped.
            if self
                .sessions
                .get(pid)
                .is_some_and(|s| s.disconnected_at == *at)
            {
                self.sessions.remove(pid);
            }
            self.expiry.pop_front();
        }
        // Past the size bound, down to 15/16 of it: the next batch comes after as many
        // bytes again, not at the next event.
        let cap = self.settings.max_log_bytes;
        let target = match self.log_bytes > cap {
            true => cap - cap / 16,
            false => cap,
        };
        while let Some(front) = self.log.front() {
            if !expired(front.emitted_at) && self.log_bytes <= target {
                break;
            }
            let len = front.len as usize;
            self.texts.drain(..len);
            self.log_bytes -= len;
            if let Some(bins) = self.bins.remove(&self.first_offset) {
                self.log_bytes -= bins.iter().map(Bytes::len).sum::<usize>();
            }
            self.first_offset += 1;
            self.log.pop_front();
        }
        self.front_expires = self.log.front().map(|front| front.emitted_at + window);
    }
}

impl Sio {
    /// The session a CONNECT's `auth` asks to recover (`pid` and `offset`, strings, as
    /// the reference requires), and the events it missed.
    pub(crate) fn restore(
        &mut self,
        eng: &Engine<Client>,
        ns: usize,
        auth: &Value,
    ) -> Option<(Session, Vec<Missed>)> {
        let (pid, offset) = (auth.get("pid")?.as_str()?, auth.get("offset")?.as_str()?);
        let now = eng.now()?;
        let found = self.store(ns)?.restore(now, pid, offset);
        debug!(
            "recovery of {pid}: {}",
            if found.is_some() { "done" } else { "none kept" }
        );
        found
    }

    /// Keeps socket `k`, which is disconnecting for a reason the network caused.
    pub(crate) fn persist(&mut self, eng: &Engine<Client>, k: SocketKey) {
        let Some(sock) = self.sockets.get(k) else {
            return;
        };
        let (Some(pid), Some(now)) = (sock.info.pid.clone(), eng.now()) else {
            return;
        };
        let (ns, sid, data) = (sock.info.ns, sock.info.sid.to_string(), sock.data.clone());
        let rooms = self.namespaces[ns]
            .rooms
            .rooms_of(k)
            .map(str::to_owned)
            .collect();
        if let Some(store) = self.store(ns) {
            store.persist(now, (k, sid, pid.to_string()), rooms, data);
        }
    }

    /// Namespace `ns`'s store, made on first use; `None` with recovery off.
    pub(crate) fn store(&mut self, ns: usize) -> Option<&mut Store> {
        let settings = self.recovery.as_ref()?;
        let namespace = self.namespaces.get_mut(ns)?;
        Some(
            namespace
                .recovery
                .get_or_insert_with(|| Store::new(settings.clone())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slab::Key;

    fn sel(rooms: &[&str], except: &[&str]) -> Audience {
        Audience::Rooms(Box::new(Selection {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: except.iter().map(|r| r.to_string()).collect(),
            volatile: false,
        }))
    }

    fn persist(store: &mut Store, at: Instant, pid: &str, rooms: &[&str]) {
        let rooms = rooms.iter().map(|r| r.to_string()).collect();
        let ids = (
            SocketKey::from_parts(0, 0),
            "sid".to_owned(),
            pid.to_owned(),
        );
        store.persist(at, ids, rooms, Extensions::new());
    }

    fn texts(missed: &[Missed]) -> Vec<&str> {
        missed.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn restores_the_events_after_the_offset_that_its_rooms_would_have_received() {
        let t0 = Instant::now();
        let mut store = Store::new(Recovery::default());
        let first = store.next_offset().to_string();
        store.log(t0, sel(&[], &[]), "all", &[]);
        store.log(t0, sel(&["a"], &[]), "to a", &[]);
        persist(&mut store, t0, "p", &["sid", "a"]);
        store.log(t0, sel(&["b"], &[]), "to b", &[]);
        store.log(t0, sel(&[], &["a"]), "all but a", &[]);
        store.log(
            t0,
            sel(&["a", "b"], &["x"]),
            "a or b",
            &[Bytes::from_static(b"z")],
        );

        let (s, missed) = store.restore(t0, "p", &first).unwrap();
        assert_eq!(s.rooms, ["sid", "a"]);
        assert_eq!(texts(&missed), ["to a", "a or b"]);
        assert_eq!(missed[1].bins, [Bytes::from_static(b"z")]);
        assert!(
            store.restore(t0, "p", &first).is_none(),
            "a pid recovers once"
        );
    }

    #[test]
    fn nothing_is_restored_past_the_window_or_for_an_offset_no_longer_kept() {
        let t0 = Instant::now();
        let window = Duration::from_secs(10);
        let settings = Recovery::default().max_disconnection_duration(window);
        let mut store = Store::new(settings.clone());
        let offset = store.next_offset().to_string();
        store.log(t0, sel(&[], &[]), "e", &[]);
        persist(&mut store, t0, "p", &[]);
        assert!(store
            .restore(t0 + window + Duration::from_millis(1), "p", &offset)
            .is_none());

        // Within the window, but the log dropped the offset for its size.
        let mut store = Store::new(settings.max_log_bytes(8));
        let offset = store.next_offset().to_string();
        store.log(t0, sel(&[], &[]), "12345", &[]);
        store.log(t0, sel(&[], &[]), "67890", &[]);
        persist(&mut store, t0, "p", &[]);
        assert!(store.restore(t0, "p", &offset).is_none());
        assert_eq!(store.log_bytes, 5, "one event kept");

        // Garbage offsets and unknown pids.
        let mut store = Store::new(Recovery::default());
        store.log(t0, sel(&[], &[]), "e", &[]);
        persist(&mut store, t0, "p", &[]);
        assert!(store.restore(t0, "nope", "0").is_none());
        assert!(store.restore(t0, "p", "-1").is_none());
        assert!(
            store.restore(t0, "p", "7").is_none(),
            "an offset never given"
        );
        assert!(
            store.restore(t0, "p", "0").is_some(),
            "still there for its client"
        );
    }

    #[test]
    fn the_log_drops_what_left_the_window_as_events_come() {
        let t0 = Instant::now();
        let window = Duration::from_secs(10);
        let mut store = Store::new(Recovery::default().max_disconnection_duration(window));
        store.log(t0, sel(&[], &[]), "old", &[]);
        store.log(t0 + Duration::from_secs(5), sel(&[], &[]), "mid", &[]);
        assert_eq!(store.log.len(), 2);
        store.log(
            t0 + window + Duration::from_secs(1),
            sel(&[], &[]),
            "new",
            &[],
        );
        assert_eq!(store.log.len(), 2, "the first left the window");
        assert_eq!((store.first_offset, store.log_bytes), (1, 6));
        // Past the size bound, down to 15/16 of it at once.
        let mut store = Store::new(Recovery::default().max_log_bytes(160));
        for _ in 0..17 {
            store.log(t0, sel(&[], &[]), "0123456789", &[]);
        }
        assert_eq!(store.log_bytes, 150);
    }

    #[test]
    fn the_newest_offset_restores_with_nothing_missed() {
        let t0 = Instant::now();
        let mut store = Store::new(Recovery::default());
        store.log(t0, sel(&[], &[]), "e", &[]);
        let last = (store.next_offset.saturating_sub(1)).to_string();
        persist(&mut store, t0, "p", &[]);
        let (_, missed) = store.restore(t0, "p", &last).unwrap();
        assert!(missed.is_empty());
    }
}
