//! Sending with permessage-deflate: which connections get a message compressed, and
//! compressing a message sent to many once for all who negotiated the same parameters
//! (as uWebSockets' shared compressor does).

use super::core::Core;
use crate::conn::frame::OpCode;
use crate::ctx::SendStatus;
use crate::deflate::Params;
use crate::id::ConnId;
use crate::Bytes;

impl Core {
    /// `send_frame` once some connection may have negotiated permessage-deflate: the
    /// message queued compressed if this connection negotiated it and the message is long
    /// enough; `None` to send it as it is. Cold, never inlined, and the payload only
    /// borrowed, so that the uncompressed path keeps only the branch that leads here:
    /// measured with scripts/callgrind-echo.sh, 876 instructions per echo against 873
    /// without the branch (881 when this took the payload and sent it either way).
    #[cold]
    #[inline(never)]
    pub(super) fn send_deflated(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        payload: &[u8],
    ) -> Option<SendStatus> {
        let params =
            (self.conns.get(id)).and_then(|e| e.conn.deflate_for(opcode, payload.len()))?;
        Some(self.send_compressed(id, opcode, payload, &params, &mut None))
    }

    /// `send_many` once some connection may have negotiated permessage-deflate. Each
    /// distinct set of parameters without server context takeover is compressed once and
    /// its bytes shared by every recipient that negotiated it; a connection with context
    /// takeover compresses for itself.
    #[inline(never)]
    pub(super) fn send_many_deflating(
        &mut self,
        ids: &[ConnId],
        opcode: OpCode,
        payload: Bytes,
    ) -> usize {
        // Compressed once per (window, level): a server has one or two of those.
        let mut done: Vec<(Params, Bytes)> = Vec::new();
        let mut sent = 0;
        for &id in ids {
            let params =
                (self.conns.get(id)).and_then(|e| e.conn.deflate_for(opcode, payload.len()));
            let status = match params {
                None => self.send_plain(id, opcode, payload.clone()),
                Some(params) => {
                    let mut shared = (done.iter())
                        .find(|(p, _)| same_stream(p, &params))
                        .map(|(_, bytes)| bytes.clone());
                    let fresh = shared.is_none();
                    let status = self.send_compressed(id, opcode, &payload, &params, &mut shared);
                    if let (true, Some(bytes)) = (fresh, shared) {
                        done.push((params, bytes));
                    }
                    status
                }
            };
            sent += usize::from(status.is_queued());
        }
        sent
    }

    /// Queues `payload` compressed for connection `id`, which negotiated `params`: with
    /// its own compressor under server context takeover; otherwise `shared`, the bytes
    /// compressed already for the same parameters, or compressed now (and left in
    /// `shared` for the next recipient).
    fn send_compressed(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        payload: &[u8],
        params: &Params,
        shared: &mut Option<Bytes>,
    ) -> SendStatus {
        if !params.server_no_context_takeover {
            let status = self.queue(id, |conn, config, now| {
                conn.send_compressing(opcode, payload, config, now)
            });
            if status.is_queued() {
                self.deflater.count();
            }
            return status;
        }
        let compressed = match shared {
            Some(bytes) => bytes.clone(),
            None => shared
                .insert(self.deflater.compress(params, payload))
                .clone(),
        };
        self.queue(id, |conn, config, now| {
            conn.send_compressed(opcode, compressed, config, now)
        })
    }
}

/// Whether a message compressed for `a` (without context takeover) is the same bytes for `b`.
fn same_stream(a: &Params, b: &Params) -> bool {
    (a.server_window, a.level) == (b.server_window, b.level)
}
