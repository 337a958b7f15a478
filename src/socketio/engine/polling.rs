//! The long-polling transport: the handshake GET, held GETs, POSTs of packets.

use std::net::SocketAddr;
use std::time::Instant;

use super::cors::CorsHeaders;
use super::http::{self, ErrorCode};
use super::packet::{self, Out};
use super::{App, Engine, IdMap, SessKey, Transport, Wire, MAX_SESSIONS};
use crate::http::{Request, Response};
use crate::id::ConnId;
use crate::socketio::reason::DisconnectReason;

/// The GETs the engine holds, by connection: the session each waits for (told that a
/// connection closed, the engine finds the session it held a GET for), and the CORS
/// headers its request was given, for the answer made later.
#[derive(Debug, Default)]
pub(super) struct HeldGets(IdMap<ConnId, (SessKey, CorsHeaders)>);

impl HeldGets {
    fn hold(&mut self, conn: ConnId, s: SessKey, cors: &CorsHeaders) {
        self.0.insert(conn, (s, cors.clone()));
    }

    /// Holds `conn` no more; the session it waited for, if it was held.
    pub(super) fn forget(&mut self, conn: ConnId) -> Option<SessKey> {
        self.0.remove(&conn).map(|(s, _)| s)
    }

    /// The session `conn` waits for, if it is held.
    #[cfg(feature = "fuzzing")]
    pub(super) fn session(&self, conn: ConnId) -> Option<SessKey> {
        self.0.get(&conn).map(|(s, _)| *s)
    }

    /// The GETs held, and the session each waits for.
    #[cfg(feature = "fuzzing")]
    pub(super) fn iter(&self) -> impl Iterator<Item = (ConnId, SessKey)> + '_ {
        self.0.iter().map(|(conn, (s, _))| (*conn, *s))
    }

    /// The answer to `conn`, which is held no more: `body` as a payload.
    pub(super) fn answer(&mut self, conn: ConnId, body: Vec<u8>) -> Response {
        let cors = self.0.remove(&conn).map(|(_, cors)| cors);
        let response = http::payload(body);
        match cors {
            Some(cors) => cors.apply(response),
            None => response,
        }
    }
}

impl<C: Default> Engine<C> {
    /// The handshake GET: a new session, whose open packet (and what the app queued on
    /// opening) is the answer, with the `io` cookie if configured.
    pub(super) fn open_polling<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        req: &Request,
        peer: SocketAddr,
        now: Instant,
    ) -> Response {
        if self.sessions.len() >= MAX_SESSIONS {
            return Response::status_text(503);
        }
        let s = self.open(Transport::Polling { get: None }, now);
        self.send_open(s, true);
        app.on_open(self, s, req, peer);
        // The handshake response carries the open packet (and whatever the app queued).
        let Some(sess) = self.sessions.get_mut(s) else {
            return Response::status_text(500);
        };
        let body = packet::encode_payload(sess.queue.iter());
        sess.queue.clear();
        sess.queued_bytes = 0;
        let response = http::payload(body);
        match &self.settings.cookie {
            Some(cookie) => response.header("Set-Cookie", &cookie.header(&sess.sid)),
            None => response,
        }
    }

    /// A GET with a sid: answered at once when there is something to say, else held (and
    /// answered later with `cors`).
    pub(super) fn poll<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        wire: &mut impl Wire,
        s: SessKey,
        conn: ConnId,
        cors: &CorsHeaders,
    ) -> Option<Response> {
        let sess = self.sessions.get_mut(s)?;
        let Transport::Polling { get } = &mut sess.transport else {
            return None;
        };
        if let Some(previous) = *get {
            if previous != conn && wire.is_held(previous) {
                // "a client MUST NOT have more than one active GET request. Should it
                // happen, the server MUST return an HTTP 400 error status and close the
                // session" (engine.io-protocol, Receiving data)
                self.end(app, s, DisconnectReason::TransportError, Out::CLOSE);
                return Some(http::error(ErrorCode::BadRequest));
            }
            // Whichever it was, it is held no more (answered, or its connection gone).
            self.gets.forget(previous);
            *get = None;
        }
        if let Some((body, last)) = sess.next_payload() {
            sess.took_queue();
            if last {
                self.remove(s);
            }
            return Some(http::payload(body));
        }
        if sess.probe.as_ref().is_some_and(|p| p.probed) {
            // The client is moving to WebSocket: end its polling cycle at once.
            return Some(http::payload(b"6".to_vec()));
        }
        sess.transport = Transport::Polling { get: Some(conn) };
        self.gets.hold(conn, s, cors);
        None
    }

    /// A POST with a sid: its packets, in order.
    pub(super) fn post<A: App<Client = C>>(
        &mut self,
        app: &mut A,
        s: SessKey,
        body: &[u8],
        now: Instant,
    ) -> Response {
        if body.len() > self.settings.max_payload {
            return http::too_large();
        }
        for packet in packet::decode_payload(body) {
            if !self.is_open(s) {
                break;
            }
            match packet {
                Ok(packet) => self.on_packet(app, s, packet, now),
                Err(_) => {
                    self.end(app, s, DisconnectReason::ParseError, Out::CLOSE);
                    return http::error(ErrorCode::BadRequest);
                }
            }
        }
        http::ok()
    }
}
