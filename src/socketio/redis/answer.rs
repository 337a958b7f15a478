//! How this node answers the other nodes' requests (the Node adapter's `onrequest`), on
//! the subscriber's thread: each request becomes operations on this node's sockets
//! (every reactor's, through the attached [`IoHandle`]), and their results, once
//! gathered, the answer handed to the publisher.
//!
//! As in the Node adapter: a join, leave or disconnection for a selection (`opts`) gets
//! no answer, one for a socket id (`sid`, older callers) is answered only by the node
//! that has the socket; a server-side event without `requestId` is not answered; a
//! broadcast with acknowledgements is answered with how many sockets here it went to
//! (`BROADCAST_CLIENT_COUNT`), then each socket's acknowledgement (`BROADCAST_ACK`).

use std::sync::Arc;

use log::{debug, warn};

use super::requests::{self, kind, Message};
use super::Inner;
use crate::socketio::adapter::{Selection, SocketInfo};
use crate::socketio::io_handle::{IoHandle, Remote};
use crate::socketio::peers::{Answer, Gather, Part};
use crate::socketio::ServerSideAck;
use crate::SendError;

impl Inner {
    /// A request from another node for namespace `nsp`.
    pub(super) fn on_request(self: &Arc<Self>, nsp: &str, bytes: &[u8]) {
        let Some(req) = requests::decode(bytes) else {
            return debug!("Redis: ignored a malformed request");
        };
        if req.text("uid") == Some(self.link.uid()) {
            return; // ours: the other nodes answer it
        }
        let Some(io) = self.io.get() else {
            return; // no server attached yet: no namespace, no socket
        };
        if let Err(e) = self.answer(io, nsp, &req) {
            warn!(
                "a request from node {:?} was not run here: {e}",
                req.text("uid")
            );
        }
    }

    fn answer(self: &Arc<Self>, io: &IoHandle, nsp: &str, req: &Message) -> Result<(), SendError> {
        let id = req.id().map(str::to_owned);
        let sel = req.selection();
        match (req.kind(), id) {
            (Some(kind::SOCKETS), Some(id)) => {
                let sel = Selection {
                    rooms: req.rooms("rooms"),
                    ..Selection::default()
                };
                self.fetch(io, nsp, &sel, move |sockets| {
                    requests::socket_ids(&id, &sockets)
                })
            }
            (Some(kind::ALL_ROOMS), Some(id)) => {
                self.fetch(io, nsp, &Selection::default(), move |sockets| {
                    let mut rooms: Vec<&str> = (sockets.iter())
                        .flat_map(|s| s.rooms().iter().map(String::as_str))
                        .collect();
                    rooms.sort_unstable();
                    rooms.dedup();
                    requests::rooms(&id, &rooms)
                })
            }
            (Some(kind::REMOTE_FETCH), Some(id)) => {
                let sel = sel.unwrap_or_default();
                self.fetch(io, nsp, &sel, move |sockets| {
                    requests::fetched(&id, &sockets)
                })
            }
            (Some(k @ (kind::REMOTE_JOIN | kind::REMOTE_LEAVE | kind::REMOTE_DISCONNECT)), id) => {
                let op = match k {
                    kind::REMOTE_JOIN | kind::REMOTE_LEAVE => {
                        let mut rooms = req.rooms("rooms");
                        rooms.extend(req.text("room").map(str::to_owned));
                        if k == kind::REMOTE_JOIN {
                            Remote::Join(rooms)
                        } else {
                            Remote::Leave(rooms)
                        }
                    }
                    _ => Remote::Disconnect(
                        req.body
                            .get("close")
                            .and_then(|c| c.as_bool())
                            .unwrap_or(false),
                    ),
                };
                match (sel, req.text("sid"), id) {
                    (Some(sel), ..) => io.push(nsp, &sel, || op.clone(), None),
                    (None, Some(sid), Some(id)) => self.on_socket(io, nsp, sid, op, id),
                    _ => Ok(()),
                }
            }
            (Some(kind::SERVER_SIDE_EMIT), id) => {
                let Some((event, payload)) = req.event("/data") else {
                    return Ok(());
                };
                let ack = id.map(|id| {
                    let (inner, channel) = (Arc::clone(self), self.response_channel(nsp));
                    ServerSideAck::new(move |data| {
                        inner
                            .link
                            .publish((channel, requests::server_side_ack(&id, &data)));
                    })
                });
                io.server_side(nsp, event, payload, ack)
            }
            (Some(kind::BROADCAST), Some(id)) => {
                let (Some(sel), Some((event, payload))) = (sel, req.event("/packet/data")) else {
                    return Ok(());
                };
                let timeout = req.timeout().unwrap_or(self.requests_timeout);
                let (inner, channel) = (Arc::clone(self), self.response_channel(nsp));
                let gather = Gather::new(Answer::Then(Box::new(move |part| {
                    let acks = match part {
                        Some(Part::Acks(acks)) => acks,
                        _ => Ok(Vec::new()),
                    };
                    // A socket that did not answer (timed out, gone) is counted too, so
                    // the asker waits for it until its own timeout, as with a Node node.
                    let (count, acks) = match acks {
                        Ok(acks) => (acks.len(), acks),
                        Err(e) => (e.responses.len() + 1, e.responses),
                    };
                    let publish = |bytes| inner.link.publish((channel.clone(), bytes));
                    publish(requests::client_count(&id, count));
                    acks.iter()
                        .for_each(|a| publish(requests::broadcast_ack(&id, a)));
                })));
                let make =
                    || Remote::EmitWithAck(event.clone(), payload.clone(), timeout, gather.clone());
                io.push(nsp, &sel, make, Some(&gather))
            }
            (kind, _) => {
                debug!("Redis: ignored a request of type {kind:?}");
                Ok(())
            }
        }
    }

    /// Where this node's answers for namespace `nsp` go (the Node adapter's default).
    fn response_channel(&self, nsp: &str) -> String {
        requests::response_channel(&self.key, nsp)
    }

    /// Fetches the sockets here that `sel` names, then publishes `answer(them)`.
    fn fetch(
        self: &Arc<Self>,
        io: &IoHandle,
        nsp: &str,
        sel: &Selection,
        answer: impl FnOnce(Vec<SocketInfo>) -> Vec<u8> + Send + 'static,
    ) -> Result<(), SendError> {
        let channel = self.response_channel(nsp);
        self.fetch_then(io, nsp, sel, move |inner, sockets| {
            inner.link.publish((channel, answer(sockets)));
        })
    }

    /// Fetches the sockets here that `sel` names, then calls `then` with them (on the
    /// thread that completes the fetch).
    fn fetch_then(
        self: &Arc<Self>,
        io: &IoHandle,
        nsp: &str,
        sel: &Selection,
        then: impl FnOnce(&Inner, Vec<SocketInfo>) + Send + 'static,
    ) -> Result<(), SendError> {
        let inner = Arc::clone(self);
        let gather = Gather::new(Answer::Then(Box::new(move |part| {
            let sockets = match part {
                Some(Part::Sockets(sockets, _)) => sockets,
                _ => Vec::new(),
            };
            then(&inner, sockets);
        })));
        io.push(nsp, sel, || Remote::Fetch(gather.clone()), Some(&gather))
    }

    /// An operation on the socket `sid` (its own room), answered only if it is here.
    fn on_socket(
        self: &Arc<Self>,
        io: &IoHandle,
        nsp: &str,
        sid: &str,
        op: Remote,
        id: String,
    ) -> Result<(), SendError> {
        let sel = Selection {
            rooms: vec![sid.to_owned()],
            ..Selection::default()
        };
        let (way, name, to) = (io.clone(), nsp.to_owned(), sel.clone());
        self.fetch_then(io, nsp, &sel, move |inner, sockets| {
            if !sockets.is_empty() && way.push(&name, &to, || op.clone(), None).is_ok() {
                let channel = inner.response_channel(&name);
                inner.link.publish((channel, requests::done(&id)));
            }
        })
    }
}
