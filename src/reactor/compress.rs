//! Sending with permessage-deflate: which connections get a message compressed, and with
//! which compressor. A message sent to many (publish, broadcast, a Socket.IO room) is
//! compressed once for all who negotiated the same window and level, as uWebSockets'
//! shared compressor does: the reactor's compressors remember what they last compressed
//! (see `deflate::Shared`).

use super::core::Core;
use crate::conn::frame::OpCode;
use crate::ctx::SendStatus;
use crate::id::ConnId;
use crate::Bytes;

impl Core {
    /// `send_frame` once some connection may have negotiated permessage-deflate: the
    /// message queued compressed if this connection negotiated it and the message is long
    /// enough; `None` to send it as it is. Cold, never inlined, and the payload only
    /// borrowed, so that the uncompressed path keeps only the branch that leads here
    /// (scripts/callgrind-echo.sh: 873-874 instructions per echo before issue 16,
    /// 876-883 after, on a loaded machine; 881-884 when this took the payload).
    #[cold]
    #[inline(never)]
    pub(super) fn send_deflated(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        payload: &Bytes,
    ) -> Option<SendStatus> {
        let params =
            (self.conns.get(id)).and_then(|e| e.conn.deflate_for(opcode, payload.len()))?;
        if !params.server_no_context_takeover {
            // Its own compressor; admitted before it compresses (see `send_compressing`).
            let status = self.queue(id, |conn, config, now| {
                conn.send_compressing(opcode, payload, config, now)
            });
            if status.is_queued() {
                self.deflater.count();
            }
            return Some(status);
        }
        let compressed = self.deflater.compress(&params, payload);
        Some(self.queue(id, |conn, config, now| {
            conn.send_compressed(opcode, compressed, config, now)
        }))
    }
}
