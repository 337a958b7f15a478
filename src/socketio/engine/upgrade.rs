//! The upgrade from long-polling to WebSocket, on the probing connection: `2probe` is
//! answered `3probe` (and a held GET released with a noop), `5` moves the session and its
//! queue to the WebSocket; anything else abandons the probe.

use log::debug;

use super::packet::{self, Out, Packet};
use super::{Effect, Engine, SessKey, Transport, WsClose, WsRole, NORMAL};
use crate::id::ConnId;
use crate::Message;

impl<C: Default> Engine<C> {
    /// A frame on a probing WebSocket: `2probe`, then `5`; anything else abandons it.
    pub(super) fn on_probe_message(&mut self, s: SessKey, conn: ConnId, msg: Message) {
        let packet = match &msg {
            Message::Text(text) => packet::decode_text(text).ok(),
            _ => None,
        };
        let Some(sess) = self.sessions.get_mut(s) else {
            return;
        };
        let Some(probe) = sess.probe.as_mut().filter(|p| p.conn == conn) else {
            return;
        };
        match packet {
            Some(Packet::Ping { probe: true }) => {
                probe.probed = true;
                self.effects
                    .push(Effect::Send(conn, Out::PONG_PROBE.to_ws()));
                // "send a noop packet to any pending GET request" (engine.io-protocol,
                // Upgrade), so the client can pause polling.
                if let Transport::Polling { get } = &mut sess.transport {
                    if let Some(get) = get.take() {
                        let noop = self.gets.answer(get, b"6".to_vec());
                        self.effects.push(Effect::Respond(get, noop));
                    }
                }
            }
            Some(Packet::Upgrade) => {
                debug!("{}: upgraded to websocket", sess.sid);
                sess.probe = None;
                let old = std::mem::replace(&mut sess.transport, Transport::WebSocket(conn));
                if let Transport::Polling { get: Some(get) } = old {
                    let noop = self.gets.answer(get, b"6".to_vec());
                    self.effects.push(Effect::Respond(get, noop));
                }
                // What waited for a GET goes on the new transport, in order.
                for out in sess.queue.drain(..) {
                    self.effects.push(Effect::Send(conn, out.to_ws()));
                }
                sess.queued_bytes = 0;
                self.ws.insert(conn, WsRole::Transport(s));
                self.rearm(s);
            }
            _ => {
                debug!(
                    "{}: unexpected packet on the probe; upgrade abandoned",
                    sess.sid
                );
                self.abandon_probe(s, conn, NORMAL);
            }
        }
    }

    /// Gives up the upgrade on `conn`, closing it with `ws_close`; the session stays on
    /// polling.
    pub(super) fn abandon_probe(&mut self, s: SessKey, conn: ConnId, ws_close: WsClose) {
        if let Some(sess) = self.sessions.get_mut(s) {
            if sess.probe.as_ref().is_some_and(|p| p.conn == conn) {
                sess.probe = None;
            }
        }
        self.ws.insert(conn, WsRole::Done);
        self.effects.push(Effect::Close(conn, ws_close));
    }
}
