//! Server-side events: what the nodes of a cluster send each other, not their clients
//! (the reference's `io.serverSideEmit(event, ...args[, ack])`, received with
//! `io.on(event, (...args[, ack]) => ..)` on the namespace). Listeners are added with
//! [`Namespace::on_server_side`](super::Namespace::on_server_side); an event from another
//! node runs them on one reactor of this node, in the order they were added.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::listeners::call;
use super::namespace::Sio;
use super::payload::Payload;

/// A server-side listener: the event's arguments, and a way to answer if the sender
/// asked for one.
pub(crate) type ServerSideFn = dyn FnMut(Payload, Option<ServerSideAck>);

/// The answer a node that sent a server-side event with acknowledgement waits for. Every
/// listener of the event gets one; the first [`send`](Self::send) answers (the
/// reference's callback takes one argument and ignores later calls), a listener that
/// does not send leaves the sender waiting until its timeout. It can cross threads: the
/// answer may come from a job the listener started.
#[derive(Clone)]
pub struct ServerSideAck {
    reply: Arc<Mutex<Option<Reply>>>,
}

type Reply = Box<dyn FnOnce(Value) + Send>;

impl fmt::Debug for ServerSideAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSideAck").finish_non_exhaustive()
    }
}

impl ServerSideAck {
    pub(crate) fn new(reply: impl FnOnce(Value) + Send + 'static) -> Self {
        ServerSideAck {
            reply: Arc::new(Mutex::new(Some(Box::new(reply)))),
        }
    }

    /// Answers the sender with `value` (JSON: it crosses Redis as JSON); `false` if it was
    /// answered already.
    pub fn send(self, value: impl Into<Value>) -> bool {
        let reply = (self.reply.lock())
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match reply {
            Some(reply) => {
                reply(value.into());
                true
            }
            None => false,
        }
    }
}

impl Sio {
    /// Runs namespace `ns`'s listeners of `event` (a copy of the list: a listener may add
    /// listeners).
    pub(crate) fn server_side_event(
        &mut self,
        ns: usize,
        event: &str,
        payload: &Payload,
        ack: Option<&ServerSideAck>,
    ) {
        let listeners: Vec<_> = (self.namespaces[ns].server_side.iter())
            .filter(|(e, _)| &**e == event)
            .map(|(_, l)| l.clone())
            .collect();
        for listener in listeners {
            call(&listener, "server-side", |f| {
                f(payload.clone(), ack.cloned())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn the_first_answer_goes_the_others_do_not() {
        let (tx, rx) = mpsc::channel();
        let ack = ServerSideAck::new(move |v| tx.send(v).unwrap());
        let other = ack.clone();
        assert!(ack.send("a"));
        assert!(!other.send("b"));
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [Value::from("a")]);
    }
}
