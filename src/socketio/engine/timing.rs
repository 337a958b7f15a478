//! Time in the engine: one deadline per session (heartbeat, upgrade, drain, pacing, the
//! app's), and one lazily armed reactor timer for it.

use std::time::{Duration, Instant};

use log::debug;

use super::packet::Out;
use super::{App, Effect, Engine, Heartbeat, SessKey, Session, Transport, WsRole, NORMAL};
use crate::socketio::reason::DisconnectReason;

/// How long [`Engine::pace`] holds packets back. A reactor pass is a few microseconds, less
/// than a client needs to wake up and read what came first; a millisecond (the poll
/// timeout's resolution) is more, and costs latency only after a namespace CONNECT.
pub(super) const PACE: Duration = Duration::from_millis(1);

impl<C> Session<C> {
    /// The earliest of the deadlines [`Engine::run_due`] acts on. A closed session waits
    /// only for its drain: its heartbeat, the app's deadline and the rest are over, and a
    /// timer armed for one would find nothing to do, and come due again at once.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        if self.closed {
            return self.draining;
        }
        let heartbeat = match self.heartbeat {
            Heartbeat::PingAt(at) | Heartbeat::PongBy(at) => at,
        };
        let probe = self.probe.as_ref().map(|p| p.deadline);
        let others = [probe, self.app_deadline, self.paced_until];
        Some(others.into_iter().flatten().fold(heartbeat, Instant::min))
    }
}

impl<C: Default> Engine<C> {
    /// Makes what is sent next to a WebSocket session wait for the next reactor pass, so
    /// what was sent so far leaves in a write of its own. The reference server paces its
    /// writes this way (a packet sent while a write is in flight waits for it to drain),
    /// and clients written against it, the protocol test suite among them, read a
    /// namespace's CONNECT answer and the connection handler's first emit as two events.
    pub(crate) fn pace(&mut self, s: SessKey) {
        let (Some(sess), Some(now)) = (self.sessions.get_mut(s), self.now) else {
            return;
        };
        if matches!(sess.transport, Transport::WebSocket(_)) && sess.paced_until.is_none() {
            sess.paced_until = Some(now + PACE);
            self.rearm(s);
        }
    }

    /// Ends the session on a pong that did not come in time, if its deadline passed but its
    /// timer has not fired yet this pass. `true` if it did.
    pub(super) fn overdue<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        s: SessKey,
        now: Instant,
    ) -> bool {
        let late = self.sessions.get_mut(s).is_some_and(
            |sess| matches!(sess.heartbeat, Heartbeat::PongBy(t) if t <= now && !sess.closed),
        );
        if late {
            self.end(app, s, DisconnectReason::PingTimeout, Out::CLOSE);
        }
        late
    }

    /// Runs whatever of the session is due.
    pub(super) fn run_due<A: App<Client = C>>(&mut self, app: &mut A, s: SessKey, now: Instant) {
        let timeout = self.settings.ping_timeout;
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        if sess.draining.is_some_and(|at| at <= now) {
            debug!("{}: drain timed out", sess.sid);
            self.remove(s);
            return;
        }
        if sess.closed {
            return;
        }
        if sess.paced_until.is_some_and(|at| at <= now) {
            sess.paced_until = None;
            if let Transport::WebSocket(conn) = sess.transport {
                for out in sess.queue.drain(..) {
                    self.effects.push(Effect::Send(conn, out.to_ws()));
                }
                sess.queued_bytes = 0;
            }
        }
        if let Some(probe) = sess.probe.take_if(|p| p.deadline <= now) {
            debug!("{}: upgrade timed out", sess.sid);
            self.ws.insert(probe.conn, WsRole::Done);
            self.effects.push(Effect::Close(probe.conn, NORMAL));
        }
        match sess.heartbeat {
            Heartbeat::PingAt(at) if at <= now => {
                // Counted from when the ping was due, not from when the timer ran, so a
                // late pass never extends the client's time.
                sess.heartbeat = Heartbeat::PongBy(at + timeout);
                self.send(s, Out::PING);
            }
            Heartbeat::PongBy(at) if at <= now => {
                self.end(app, s, DisconnectReason::PingTimeout, Out::CLOSE);
                return;
            }
            _ => {}
        }
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        if sess.app_deadline.is_some_and(|at| at <= now) {
            sess.app_deadline = None;
            app.on_deadline(self, s);
        }
    }

    /// Makes sure a reactor timer wakes the session by its earliest deadline.
    pub(super) fn rearm(&mut self, s: SessKey) {
        let (Some(sess), Some(now)) = (self.sessions.get_mut(s), self.now) else {
            return;
        };
        if let Some(next) = sess.next_deadline() {
            if sess.armed.is_none_or(|armed| next < armed) {
                sess.armed = Some(next);
                let delay = next.saturating_duration_since(now);
                self.effects.push(Effect::Timer(delay, s));
            }
        }
    }
}
