//! Socket.IO on several reactors: the endpoints of one path on every reactor, how an
//! operation on "the sockets of these rooms" reaches all of them, and how their answers
//! meet.
//!
//! Each reactor runs an endpoint of its own (a `SocketIo` made on its thread) holding the
//! sockets of its sessions. An operation made in a callback ([`Broadcast`](super::Broadcast))
//! or through an [`IoHandle`] goes into every endpoint's queue (`io_handle.rs`), all or
//! none: a place is reserved in each first, so a full queue refuses it whole. Each
//! endpoint runs it on its own sockets. Answers (fetched sockets, acknowledgements) come in
//! parts, one per reactor, and meet in a [`Gather`] any reactor may add to. The whole
//! answer goes to a thread waiting on an `IoHandle`'s channel, or, for a callback (which
//! runs on its own reactor's thread), into that reactor's queue, in a place held there
//! since the operation was sent ([`Ticket`]), so it is never refused.

use std::fmt;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use log::warn;

use super::adapter::{
    queried, BroadcastAckError, BroadcastAckFn, QueryResult, RequestError, Selection, SocketInfo,
};
use super::engine::Engine;
use super::io_handle::{IoHandle, PartCell, Queued, Remote};
use super::namespace::{Client, Sio, SocketKey};
use super::payload::Payload;
use super::socket::{AckError, Socket};
use crate::handle::SendError;
use crate::queue::Ticket;
use crate::slab::key_type;

/// Every reactor's endpoint of one path, as each starts. Shared by them (kept by the
/// server: `ServerCtx::shared`).
pub(crate) struct Peers {
    ways: Box<[OnceLock<IoHandle>]>,
}

impl fmt::Debug for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let started = self.ways.iter().filter(|w| w.get().is_some()).count();
        f.debug_struct("Peers")
            .field("reactors", &self.ways.len())
            .field("started", &started)
            .finish()
    }
}

impl Peers {
    pub(crate) fn new(reactors: usize) -> Self {
        Peers {
            ways: (0..reactors).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Reactor `reactor`'s endpoint has started; this is its way in.
    pub(crate) fn join(&self, reactor: usize, way: IoHandle) {
        let _ = self.ways[reactor].set(way);
    }

    /// The endpoints that have started, but `except`'s. One that has not started yet holds
    /// no socket (a reactor starts before it serves a connection), so it misses nothing.
    fn started(&self, except: Option<usize>) -> impl Iterator<Item = &IoHandle> + Clone {
        let ways = self.ways.iter().enumerate();
        ways.filter(move |&(r, _)| Some(r) != except)
            .filter_map(|(_, way)| way.get())
    }

    /// Queues an operation on namespace `nsp`'s sockets that `sel` names in every endpoint
    /// but `except`'s, made by `make` for each, or in none ([`SendError::Full`] if a queue
    /// is full). Returns how many took it (one that stopped meanwhile did not).
    pub(crate) fn send(
        &self,
        except: Option<usize>,
        nsp: &str,
        sel: &Selection,
        mut make: impl FnMut() -> Remote,
    ) -> Result<usize, SendError> {
        let ways = self.started(except);
        for (i, way) in ways.clone().enumerate() {
            if !way.reserve() {
                ways.take(i).for_each(IoHandle::unreserve);
                return Err(SendError::Full);
            }
        }
        let mut sent = 0;
        for way in ways {
            let op = Queued::here(nsp, sel, make());
            sent += usize::from(way.send_reserved(op));
        }
        Ok(sent)
    }
}

/// One reactor's part of an answer.
#[derive(Debug)]
pub(crate) enum Part {
    Acks(Result<Vec<Payload>, BroadcastAckError>),
    /// Sockets, and why some node's are missing, if they are.
    Sockets(Vec<SocketInfo>, Option<RequestError>),
    /// The other nodes' answers to a server-side event (one part: they come together).
    #[cfg(feature = "redis")]
    Replies(Result<Vec<serde_json::Value>, super::ServerSideEmitError>),
}

impl Part {
    /// This part and `more`, as one: the answers of both; the failure if either failed
    /// (a timeout before a disconnection, as one socket's answer reports it).
    fn merge(self, more: Part) -> Part {
        match (self, more) {
            (Part::Sockets(mut all, failed), Part::Sockets(more, also)) => {
                all.extend(more);
                Part::Sockets(all, failed.or(also))
            }
            (Part::Acks(a), Part::Acks(b)) => {
                let (kind_a, mut all) = split(a);
                let (kind_b, more) = split(b);
                all.extend(more);
                Part::Acks(match kind_a.max(kind_b) {
                    None => Ok(all),
                    Some(kind) => Err(BroadcastAckError {
                        kind: kind.0,
                        responses: all,
                    }),
                })
            }
            (part, other) => {
                warn!("parts of different answers met: {part:?} and {other:?}");
                part
            }
        }
    }
}

/// An acknowledgement failure, ordered so that the one to report is the greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failure(AckError);

impl PartialOrd for Failure {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Failure {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |f: &Failure| matches!(f.0, AckError::Timeout);
        rank(self).cmp(&rank(other))
    }
}

fn split(acks: Result<Vec<Payload>, BroadcastAckError>) -> (Option<Failure>, Vec<Payload>) {
    match acks {
        Ok(all) => (None, all),
        Err(e) => (Some(Failure(e.kind)), e.responses),
    }
}

/// Where a whole answer goes.
pub(crate) enum Answer {
    /// To a thread, on the channel it waits on.
    Acks(SyncSender<Result<Vec<Payload>, BroadcastAckError>>),
    Sockets(SyncSender<QueryResult<SocketInfo>>),
    /// To a function, on the thread that adds the last part (the Redis adapter's answer
    /// to another node, `all_rooms`); `None` if no part came.
    Then(Box<dyn FnOnce(Option<Part>) + Send>),
    /// To the reactor whose callback asked, in the place held for it in its queue; it
    /// finishes what [`Waiting`] entry `key` says.
    Origin {
        to: IoHandle,
        place: Ticket<Queued>,
        key: WaitKey,
    },
}

/// The parts of one answer, from any reactor.
pub(crate) struct Gather {
    state: Mutex<State>,
}

impl fmt::Debug for Gather {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather").finish_non_exhaustive()
    }
}

struct State {
    /// Parts sent for; `None` while more may be sent for.
    expected: Option<usize>,
    expecting: usize,
    got: usize,
    merged: Option<Part>,
    answer: Option<Answer>,
}

impl Gather {
    pub(crate) fn new(answer: Answer) -> Arc<Self> {
        Arc::new(Gather {
            state: Mutex::new(State {
                expected: None,
                expecting: 0,
                got: 0,
                merged: None,
                answer: Some(answer),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Counts and a part: a panic elsewhere cannot leave them half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `n` more parts were sent for; `last`: no more will be.
    pub(crate) fn expect(&self, n: usize, last: bool) {
        let mut state = self.lock();
        state.expecting += n;
        if last {
            state.expected = Some(state.expecting);
        }
        state.finish_if_done();
    }

    /// A reactor's part.
    pub(crate) fn add(&self, part: Part) {
        let mut state = self.lock();
        state.got += 1;
        state.merged = Some(match state.merged.take() {
            Some(merged) => merged.merge(part),
            None => part,
        });
        state.finish_if_done();
    }
}

impl State {
    fn finish_if_done(&mut self) {
        if self.expected != Some(self.got) {
            return;
        }
        let (Some(answer), merged) = (self.answer.take(), self.merged.take()) else {
            return;
        };
        // A caller that stopped waiting dropped its end: nobody to tell.
        match (answer, merged) {
            (Answer::Acks(tx), Some(Part::Acks(acks))) => drop(tx.send(acks)),
            (Answer::Acks(tx), _) => drop(tx.send(Ok(Vec::new()))),
            (Answer::Sockets(tx), Some(Part::Sockets(all, failed))) => {
                drop(tx.send(queried(all, failed)))
            }
            (Answer::Sockets(tx), _) => drop(tx.send(Ok(Vec::new()))),
            (Answer::Then(then), merged) => then(merged),
            (Answer::Origin { to, place, key }, merged) => {
                let part = PartCell::new(merged.unwrap_or(Part::Sockets(Vec::new(), None)));
                let op = Queued::here("", &Selection::default(), Remote::Part(key, part));
                to.deliver(place, op);
            }
        }
    }
}

/// What a fetch made in a callback calls with every reactor's (and node's) sockets: the
/// socket it was made from, and them.
pub(crate) type FetchFn = Box<dyn FnOnce(&mut Socket<'_>, QueryResult<SocketInfo>)>;

/// What a callback waits for, on its reactor, until every reactor's part has come.
pub(crate) enum Waiting {
    Acks(BroadcastAckFn),
    /// For the socket that asked, if it is still there.
    Sockets(SocketKey, FetchFn),
    #[cfg(feature = "redis")]
    Replies(SocketKey, RepliesFn),
}

/// What a server-side event with acknowledgement made in a callback calls with the other
/// nodes' answers: the socket it was made from, and them.
#[cfg(feature = "redis")]
pub(crate) type RepliesFn =
    Box<dyn FnOnce(&mut Socket<'_>, Result<Vec<serde_json::Value>, super::ServerSideEmitError>)>;

impl fmt::Debug for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::Acks(_) => f.write_str("Waiting::Acks"),
            Waiting::Sockets(k, _) => write!(f, "Waiting::Sockets({k:?})"),
            #[cfg(feature = "redis")]
            Waiting::Replies(k, _) => write!(f, "Waiting::Replies({k:?})"),
        }
    }
}

key_type! {
    /// An answer a callback waits for.
    pub(crate) struct WaitKey;
}

/// The endpoints of this path on the other reactors, as one reactor's endpoint knows them.
#[derive(Debug)]
pub(crate) struct Team {
    /// This reactor.
    pub(crate) reactor: usize,
    pub(crate) peers: Arc<Peers>,
    /// This endpoint's own way in, where whole answers for its callbacks arrive.
    pub(crate) own: IoHandle,
}

impl Sio {
    /// Queues an operation (made by `make` for each) in the other reactors' endpoints,
    /// all or none; how many took it (0 with one reactor).
    pub(crate) fn tell_others(
        &self,
        ns: usize,
        sel: &Selection,
        make: impl FnMut() -> Remote,
    ) -> Result<usize, SendError> {
        let Some(team) = &self.team else {
            return Ok(0);
        };
        let nsp = &self.namespaces[ns].name;
        team.peers.send(Some(team.reactor), nsp, sel, make)
    }

    /// Sends an operation that answers (made by `make` with the gather its parts go to)
    /// to the other reactors' endpoints, all or none; the whole answer comes back to this
    /// endpoint for `waiting`. The gather, and how many other reactors took it; `None`
    /// with one reactor and no cluster (`waiting` comes back: the caller finishes it
    /// here). On an error `waiting` is dropped unrun.
    pub(crate) fn wait_for_others(
        &mut self,
        ns: usize,
        sel: &Selection,
        waiting: Waiting,
        make: impl Fn(Arc<Gather>) -> Remote,
    ) -> Result<Result<(Arc<Gather>, usize), Waiting>, SendError> {
        let (gather, key) = match self.wait_here(waiting)? {
            Ok(waited) => waited,
            Err(waiting) => return Ok(Err(waiting)),
        };
        match self.tell_others(ns, sel, || make(Arc::clone(&gather))) {
            Ok(sent) => Ok(Ok((gather, sent))),
            Err(e) => {
                // Nothing was sent: dropping the gather gives its place back.
                self.waiting.remove(key);
                Err(e)
            }
        }
    }

    /// A gather whose whole answer comes back to this endpoint for `waiting` (its parts
    /// from other reactors or other nodes), and its key; `waiting` back if nothing but
    /// this reactor could answer (one reactor, no cluster).
    pub(crate) fn wait_here(
        &mut self,
        waiting: Waiting,
    ) -> Result<Result<(Arc<Gather>, WaitKey), Waiting>, SendError> {
        let own = match &self.team {
            Some(team) => team.own.clone(),
            #[cfg(feature = "redis")]
            None if self.redis.is_some() => {
                // One reactor, but other nodes answer too: the answer comes through this
                // endpoint's own queue (out only while it runs, when no callback asks).
                (self.inbox.as_ref().map(|i| i.handle())).ok_or(SendError::Full)?
            }
            None => return Ok(Err(waiting)),
        };
        let place = own.ticket().ok_or(SendError::Full)?;
        let key = self.waiting.insert(waiting);
        let gather = Gather::new(Answer::Origin {
            to: own,
            place,
            key,
        });
        Ok(Ok((gather, key)))
    }

    /// The whole answer for what a callback of this endpoint waits for has come.
    pub(crate) fn answered(&mut self, eng: &mut Engine<Client>, key: WaitKey, part: Part) {
        match (self.waiting.remove(key), part) {
            (Some(Waiting::Acks(callback)), Part::Acks(acks)) => callback(acks),
            (Some(Waiting::Sockets(origin, callback)), Part::Sockets(sockets, failed)) => {
                if self.sockets.get(origin).is_some_and(|s| s.connected) {
                    callback(
                        &mut Socket::new(eng, self, origin),
                        queried(sockets, failed),
                    );
                }
            }
            #[cfg(feature = "redis")]
            (Some(Waiting::Replies(origin, callback)), Part::Replies(replies)) => {
                if self.sockets.get(origin).is_some_and(|s| s.connected) {
                    callback(&mut Socket::new(eng, self, origin), replies);
                }
            }
            (waiting, part) => warn!("an answer for {waiting:?} was {part:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn acks(n: usize, failed: Option<AckError>) -> Part {
        let responses = (0..n).map(|i| Payload::from(i.to_string())).collect();
        Part::Acks(match failed {
            None => Ok(responses),
            Some(kind) => Err(BroadcastAckError { kind, responses }),
        })
    }

    #[test]
    fn acknowledgements_of_all_reactors_meet_and_the_worst_failure_is_reported() {
        let Part::Acks(Ok(all)) = acks(1, None).merge(acks(2, None)) else {
            panic!("both answered");
        };
        assert_eq!(all.len(), 3);
        let merged = acks(1, Some(AckError::Disconnected)).merge(acks(1, None));
        let merged = merged.merge(acks(1, Some(AckError::Timeout)));
        let Part::Acks(Err(e)) = merged else {
            panic!("failed");
        };
        assert_eq!((e.kind, e.responses.len()), (AckError::Timeout, 3));
    }

    #[test]
    fn a_thread_gets_the_answer_once_every_part_sent_for_has_come() {
        let (tx, rx) = mpsc::sync_channel(1);
        let gather = Gather::new(Answer::Acks(tx));
        gather.expect(1, false);
        gather.add(acks(1, None)); // the first part before the others are sent for
        assert!(rx.try_recv().is_err());
        gather.expect(2, true);
        gather.add(acks(2, None));
        assert!(rx.try_recv().is_err());
        gather.add(acks(0, Some(AckError::Disconnected)));
        let answer = rx.try_recv().unwrap().unwrap_err();
        assert_eq!(
            (answer.kind, answer.responses.len()),
            (AckError::Disconnected, 3)
        );
        let (tx, rx) = mpsc::sync_channel(1);
        Gather::new(Answer::Sockets(tx)).expect(0, true);
        assert!(
            rx.try_recv().unwrap().unwrap().is_empty(),
            "no reactor: nobody"
        );
    }
}
