//! The open WebSocket side of a connection: decoding frames into messages, queueing
//! frames under backpressure, and the close handshake.

use super::*;

impl Connection {
    /// Decodes frames until there is a message, the socket has nothing more this pass, or
    /// the pass's budget is spent. A message the decoder left in place in the read buffer
    /// comes back as `Err(Lent)`: [`read`](Self::read) lends it from there.
    #[inline]
    pub(super) fn read_frames<R: Source>(
        &mut self,
        input: &mut Input<'_, '_, R>,
        config: &Config,
        now: Instant,
    ) -> Option<Result<Event<'static>, Lent>> {
        // The tail of the upgrade request, taken with its head: the first frames.
        if !self.carry.is_empty() {
            if !input.rbuf.put_back(&self.carry) {
                input.pass.more = true;
                return None;
            }
            self.carry = Vec::new();
        }
        let limits = Limits {
            max_frame: config.max_frame_size,
            max_message: config.max_message_size,
        };
        loop {
            let State::Open(open) = &mut self.state else {
                return None;
            };
            // Fairness, then backpressure: what was read but not decoded waits in `carry`
            // (past the soft limit, after the reactor has written the queue once, if it
            // offered to).
            let over = self.out.pending() > config.backpressure_soft_limit;
            if input.pass.handled == config.messages_per_pass || over {
                if over && std::mem::take(&mut input.pass.early_flush) {
                    input.pass.flush = true;
                    return None;
                }
                self.carry = input.rbuf.take_rest();
                input.pass.more = true;
                self.traffic(input, config, now);
                return None;
            }
            let bytes = match input.rbuf.chunk(input.src) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.traffic(input, config, now);
                    return None;
                }
                // EOF or a socket error without the peer's Close: a reset, reported with
                // the code we sent if we had started closing.
                Err(_) => {
                    let why = self.reset_report();
                    return self.finish(why, config, now).map(Event::Closed).map(Ok);
                }
            };
            if let Some(whole) = open.decoder.whole_message(bytes, limits) {
                let start = input.rbuf.consume(whole.used);
                input.pass.handled += 1;
                // After a close has started, data is drained but not delivered.
                if open.closing.is_none() {
                    return Some(Err(Lent {
                        at: start + whole.at,
                        len: whole.len,
                        text: whole.text,
                        ascii: whole.ascii,
                    }));
                }
                continue;
            }
            let (used, item) = open.decoder.decode_any(bytes, limits);
            input.rbuf.consume(used);
            let Some(item) = item else {
                continue;
            };
            input.pass.handled += 1;
            if let Some(event) = self.on_item(item, config, now) {
                return Some(Ok(event));
            }
        }
    }

    /// Acts on what the decoder found: `Some` ends the read with an event, `None` reads on.
    pub(super) fn on_item(
        &mut self,
        item: Item,
        config: &Config,
        now: Instant,
    ) -> Option<Event<'static>> {
        let State::Open(open) = &mut self.state else {
            return None;
        };
        match item {
            // After a close has started, data is drained but not delivered.
            Item::Message { text, payload } if open.closing.is_none() => {
                Some(Event::Message(MessageRef::payload(text, payload)))
            }
            Item::Message { .. } | Item::Pong => None,
            // "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
            // response, unless it already received a Close frame ... The Pong frame
            // MUST contain the identical Application data" (§5.5.2); not after our own
            // Close either, which ends what we send (§5.5.1).
            Item::Ping(payload) => {
                if !self.close_sent {
                    self.out.push_frame(OpCode::Pong, payload);
                }
                None
            }
            Item::Close(frame) => self.peer_closed(frame, config, now).map(Event::Closed),
            Item::Fail(code, reason) => {
                debug!("{} failed: {reason} ({code})", self.peer);
                let why = Disconnect::new(code, reason, Cause::Protocol);
                self.fail(why, config, now).map(Event::Closed)
            }
        }
    }

    /// The peer's Close frame, valid (the decoder judged it): it
    /// answers ours, or it starts the close handshake and we answer it. Either way the
    /// WebSocket is done.
    pub(super) fn peer_closed(
        &mut self,
        frame: Option<CloseFrame>,
        config: &Config,
        now: Instant,
    ) -> Option<Disconnect> {
        let State::Open(open) = &mut self.state else {
            return None;
        };
        if let Some(why) = open.closing.take() {
            return self.finish(why, config, now);
        }
        let why = match &frame {
            Some(f) => Disconnect::new(f.code, f.reason.as_str(), Cause::PeerClosed),
            None => Disconnect::new(CloseCode::Status, "", Cause::PeerClosed),
        };
        // "If an endpoint receives a Close frame and did not previously send a Close frame,
        // the endpoint MUST send a Close frame in response. (When sending a Close frame in
        // response, the endpoint typically echos the status code it received.)" (§5.5.1)
        self.send_close(frame);
        self.finish(why, config, now)
    }

    /// Any inbound traffic counts as life for keepalive: the idle period starts again.
    pub(super) fn traffic<R>(&mut self, input: &Input<'_, '_, R>, config: &Config, now: Instant) {
        let State::Open(open) = &mut self.state else {
            return;
        };
        if input.rbuf.got_bytes() && open.closing.is_none() {
            open.awaiting_pong = false;
            if let Some(idle) = config.idle_timeout {
                self.deadline = Some(now + idle);
            }
        }
    }

    /// Queues one data or control frame: the connection is open and not closing, and its
    /// queue stays within `max_backpressure` (a single frame larger than the limit still
    /// goes out on an empty queue, so the bound is max(limit, one message)). Over the limit
    /// `Config::backpressure_policy` decides: fail the connection with 1008, or drop this
    /// frame.
    #[inline]
    pub(crate) fn send(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        config: &Config,
        now: Instant,
    ) -> Sent {
        self.send_as(frame::first_byte(opcode), payload, config, now)
    }

    /// [`send`](Self::send) of a frame whose first byte is `first` (see `frame.rs`).
    #[inline]
    fn send_as(&mut self, first: u8, payload: Bytes, config: &Config, now: Instant) -> Sent {
        let len = frame::encoded_len(payload.len());
        self.admit_then(len, config, now, |out| out.push_with(first, payload))
    }

    /// The permessage-deflate parameters to send this message with, if it is to be
    /// compressed: the connection negotiated the extension, the message is data, and it
    /// is at least the threshold long.
    #[inline]
    pub(crate) fn deflate_for(&self, opcode: OpCode, len: usize) -> Option<Params> {
        let State::Open(open) = &self.state else {
            return None;
        };
        let data = matches!(opcode, OpCode::Text | OpCode::Binary);
        let params = open.deflate.as_deref().map(|d| d.params);
        params.filter(|p| data && len >= p.threshold)
    }

    /// Whether the connection negotiated permessage-deflate.
    pub(crate) fn deflates(&self) -> bool {
        matches!(&self.state, State::Open(open) if open.deflate.is_some())
    }

    /// [`send`](Self::send) for a message compressed by the reactor's shared compressor
    /// (the connection has no server context takeover): `compressed` goes out with RSV1.
    pub(crate) fn send_compressed(
        &mut self,
        opcode: OpCode,
        compressed: Bytes,
        config: &Config,
        now: Instant,
    ) -> Sent {
        self.send_as(
            frame::compressed_first_byte(opcode),
            compressed,
            config,
            now,
        )
    }

    /// [`send`](Self::send) for a message this connection compresses with its own
    /// compressor (server context takeover). The queue admits it by its uncompressed
    /// length, before it is compressed: a message compressed but then not sent would
    /// be in the compressor's window and not in the peer's, and every later message would
    /// inflate wrong.
    pub(crate) fn send_compressing(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        config: &Config,
        now: Instant,
    ) -> Sent {
        if let Some(refused) = self.admit(frame::encoded_len(payload.len()), config, now) {
            return refused;
        }
        let State::Open(open) = &mut self.state else {
            return Sent::Refused;
        };
        let Some(Deflating { params, compressor }) = open.deflate.as_deref_mut() else {
            return Sent::Refused;
        };
        let compressor = compressor.get_or_insert_with(|| {
            Box::new(Compressor::new(params.server_window, params.level, false))
        });
        let compressed = compressor.compress(payload);
        self.out
            .push_with(frame::compressed_first_byte(opcode), compressed);
        Sent::Queued
    }

    /// [`send`](Self::send) for a payload lent from elsewhere (a received message): copied
    /// into the queue as it is encoded.
    #[inline]
    pub(crate) fn send_slice(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        config: &Config,
        now: Instant,
    ) -> Sent {
        let len = frame::encoded_len(payload.len());
        self.admit_then(len, config, now, |out| out.push_slice(opcode, payload))
    }

    /// [`send`](Self::send) for a payload lent by this connection's read, `range` of the
    /// read buffer: queued by reference, written (or copied) before the pass moves on
    /// ([`OutBuf::push_lent`]).
    #[inline]
    pub(crate) fn send_lent(
        &mut self,
        opcode: OpCode,
        range: std::ops::Range<usize>,
        config: &Config,
        now: Instant,
    ) -> Sent {
        let len = frame::encoded_len(range.len());
        self.admit_then(len, config, now, |out| out.push_lent(opcode, range))
    }

    /// [`send`](Self::send) for a frame already encoded: a small message sent to many
    /// connections is encoded once and copied into each queue.
    #[inline]
    pub(crate) fn send_encoded(&mut self, frame: &[u8], config: &Config, now: Instant) -> Sent {
        self.admit_then(frame.len(), config, now, |out| out.push_encoded(frame))
    }

    /// [`send_encoded`](Self::send_encoded) for several frames, `frames` back to back and
    /// `each` one by one: queued together if they all fit within `max_backpressure`,
    /// otherwise sent one by one, as if published apart (the first may still go out on an
    /// empty queue, the drop policy drops only those that do not fit). Queued if any was.
    pub(crate) fn send_all_encoded<'a>(
        &mut self,
        frames: &[u8],
        each: impl Iterator<Item = &'a [u8]>,
        config: &Config,
        now: Instant,
    ) -> Sent {
        if self.can_send() && self.out.pending() + frames.len() <= config.max_backpressure {
            self.out.push_encoded(frames);
            return Sent::Queued;
        }
        let mut outcome = Sent::Refused;
        for frame in each {
            match self.send_encoded(frame, config, now) {
                Sent::Failed(why) => return Sent::Failed(why),
                Sent::Queued => outcome = Sent::Queued,
                other if !matches!(outcome, Sent::Queued) => outcome = other,
                _ => {}
            }
        }
        outcome
    }

    /// Whether `len` more bytes may be queued, as [`send`](Self::send) says; `Some` with
    /// what became of the frame if not.
    #[inline]
    fn admit(&mut self, len: usize, config: &Config, now: Instant) -> Option<Sent> {
        if !self.can_send() {
            return Some(Sent::Refused);
        }
        let pending = self.out.pending();
        if pending > 0 && pending + len > config.max_backpressure {
            return Some(self.overflow(config, now));
        }
        None
    }

    /// Queues what `push` writes (`len` bytes on the wire) if [`admit`](Self::admit) lets
    /// it in; what became of it otherwise.
    #[inline]
    fn admit_then(
        &mut self,
        len: usize,
        config: &Config,
        now: Instant,
        push: impl FnOnce(&mut OutBuf),
    ) -> Sent {
        if let Some(refused) = self.admit(len, config, now) {
            return refused;
        }
        push(&mut self.out);
        Sent::Queued
    }

    /// The queue would pass `max_backpressure`: drops the frame, or fails the connection
    /// with 1008, as the policy says.
    #[cold]
    pub(super) fn overflow(&mut self, config: &Config, now: Instant) -> Sent {
        if config.backpressure_policy == BackpressurePolicy::Drop {
            return Sent::Dropped;
        }
        let why = Disconnect::new(CloseCode::Policy, "backpressure", Cause::Backpressure);
        match self.fail(why, config, now) {
            Some(why) => Sent::Failed(why),
            None => Sent::Refused,
        }
    }

    /// Open, and no close frame sent yet.
    #[inline]
    pub(super) fn can_send(&self) -> bool {
        matches!(self.state, State::Open(_)) && !self.close_sent
    }

    /// Starts the close handshake (RFC 6455 §5.5.1): queues our Close frame; the
    /// connection ends when the peer answers or `close_timeout` passes. `false` if it is not
    /// open or a close frame was already sent. The frame is made valid first (see
    /// [`wire_frame`]); `on_close` will report what was sent.
    pub(crate) fn close(
        &mut self,
        frame: CloseFrame,
        cause: Cause,
        config: &Config,
        now: Instant,
    ) -> bool {
        if !self.can_send() {
            return false;
        }
        let frame = wire_frame(frame, self.peer);
        let why = Disconnect::new(frame.code, frame.reason.as_str(), cause);
        if !self.send_close(Some(frame)) {
            return false;
        }
        if let State::Open(open) = &mut self.state {
            open.closing = Some(why);
        }
        self.deadline = Some(now + config.close_timeout);
        true
    }

    /// Queues our Close frame if the WebSocket is open and has not sent one. Every Close
    /// frame we send passes here; `frame` is already valid on the wire.
    pub(super) fn send_close(&mut self, frame: Option<CloseFrame>) -> bool {
        if !self.can_send() {
            return false;
        }
        self.close_sent = true;
        let mut payload = Vec::new();
        if let Some(frame) = frame {
            payload.extend_from_slice(&u16::from(frame.code).to_be_bytes());
            payload.extend_from_slice(frame.reason.as_bytes());
        }
        frame::encode(&mut self.out.buf, OpCode::Close, &payload);
        true
    }

    /// Fails the connection (RFC 6455 §7.1.7): sends a close frame with the code if it
    /// still can, and ends the connection without waiting for the answer. Returns the
    /// `on_close` owed.
    pub(crate) fn fail(
        &mut self,
        mut why: Disconnect,
        config: &Config,
        now: Instant,
    ) -> Option<Disconnect> {
        if self.can_send() {
            let frame = CloseFrame {
                code: why.code,
                reason: why.reason.as_str().into(),
            };
            let frame = wire_frame(frame, self.peer);
            why.code = frame.code;
            why.reason.truncate(frame.reason.len());
            self.send_close(Some(frame));
        }
        self.finish(why, config, now)
    }
}

/// The Close frame we may send for `frame` (RFC 6455 §5.5, §7.4). A code that may not
/// appear on the wire (1004, 1005, 1006, 1015, 1016–2999, below 1000, 5000 and above)
/// becomes 1011 (Internal Error): the application asked to close, so the connection still
/// closes, and a code it should not have chosen is an error on our side of it; it is logged
/// as a warning. A reason is cut to the 123 bytes the frame has room for, on a character
/// boundary.
fn wire_frame(frame: CloseFrame, peer: SocketAddr) -> CloseFrame {
    let code = u16::from(frame.code);
    let code = if is_valid_close_code(code) {
        frame.code
    } else {
        warn!("{peer}: close code {code} may not be sent; sending 1011 (Internal Error)");
        CloseCode::Error
    };
    let reason = match truncate_reason(&frame.reason) {
        cut if cut.len() < frame.reason.len() => cut.into(),
        _ => frame.reason,
    };
    CloseFrame { code, reason }
}
