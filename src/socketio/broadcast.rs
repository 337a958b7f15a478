//! [`Broadcast`]: an operation on many sockets of a namespace (some rooms or all of it,
//! minus some rooms), as a callback on the reactor's thread sees it.

use std::collections::HashSet;
use std::fmt;

use tungstenite::Utf8Bytes;

use super::engine::Engine;
use super::namespace::{Client, Sio, SocketKey};
use super::packet;
use super::payload::Payload;
use super::socket::{check_event, send_packet, EmitError};

/// An event for many sockets of a namespace: some rooms (or all of it), minus some rooms,
/// minus the sender. The packet is encoded once.
pub struct Broadcast<'a> {
    eng: &'a mut Engine<Client>,
    sio: &'a mut Sio,
    ns: usize,
    rooms: Vec<String>,
    except_rooms: Vec<String>,
    except: Option<SocketKey>,
}

impl fmt::Debug for Broadcast<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("rooms", &self.rooms)
            .field("except_rooms", &self.except_rooms)
            .finish_non_exhaustive()
    }
}

impl<'a> Broadcast<'a> {
    pub(crate) fn new(
        eng: &'a mut Engine<Client>,
        sio: &'a mut Sio,
        ns: usize,
        except: Option<SocketKey>,
    ) -> Self {
        Broadcast {
            eng,
            sio,
            ns,
            rooms: Vec::new(),
            except_rooms: Vec::new(),
            except,
        }
    }

    /// Narrows to the members of `room` (several calls: members of any of them).
    pub fn to(mut self, room: &str) -> Self {
        self.rooms.push(room.to_owned());
        self
    }

    /// Leaves out the members of `room`.
    pub fn except(mut self, room: &str) -> Self {
        self.except_rooms.push(room.to_owned());
        self
    }

    /// Sends the event; returns how many sockets it was queued for.
    ///
    /// # Errors
    /// [`EmitError::Reserved`] for a name the client keeps for itself.
    pub fn emit(self, event: &str, payload: impl Into<Payload>) -> Result<usize, EmitError> {
        let payload = payload.into();
        check_event(event)?;
        let namespace = &self.sio.namespaces[self.ns];
        let text: Utf8Bytes = packet::event(
            &namespace.name,
            event,
            &payload.args,
            payload.bins.len(),
            None,
        )
        .into();
        let mut targets: Vec<SocketKey> = if self.rooms.is_empty() {
            namespace.members.iter().copied().collect()
        } else {
            let mut t: Vec<SocketKey> = (self.rooms.iter())
                .flat_map(|room| namespace.rooms.members(room))
                .collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        let excluded: HashSet<SocketKey> = (self.except_rooms.iter())
            .flat_map(|room| namespace.rooms.members(room))
            .chain(self.except)
            .collect();
        targets.retain(|k| !excluded.contains(k));
        let mut sent = 0;
        for k in targets {
            let Some(sock) = self.sio.sockets.get_mut(k).filter(|s| s.connected) else {
                continue;
            };
            if send_packet(self.eng, sock.session, text.clone(), &payload.bins) {
                sent += 1;
            }
        }
        Ok(sent)
    }
}
