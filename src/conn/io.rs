//! The byte plumbing between a socket, the reactor's shared read buffer and a connection's
//! outbound buffer.
//!
//! Reads: every connection reads through one 64 KiB buffer owned by the reactor, so an idle
//! connection holds no large read buffer of its own; tungstenite copies out of it what it
//! needs. Each connection gets one read of its [`Source`] per reactor pass (the fairness
//! bound: at most 64 KiB of socket bytes, plain or TLS); a read shorter than the buffer
//! means the socket is drained (a TLS source says so itself), and the edge-triggered poll
//! will report new data, so no extra read is spent to see `WouldBlock`. The exception is the
//! peer's FIN: when it arrived with the data, the one event that reported both is spent,
//! and the EOF still has to be read, so once the poller has reported it reading goes on
//! until the read that returns 0. When a connection's pass ends before its input does
//! (message budget, backpressure), the rest is carried in a buffer of its own until its
//! next pass. An open WebSocket's decoder reads the buffer in place.
//!
//! Writes: every frame we send (data, pong, close) goes into the
//! connection's [`OutBuf`], which the reactor writes to the socket once per pass (through
//! the connection's [`Transport`](super::transport::Transport), which encrypts it first
//! when the connection is TLS). A large message sent back to the connection it came from
//! is queued where it lies in the read buffer, which keeps what a pass reads in place
//! until the pass moves to the next connection: that connection is written then, and what
//! the socket does not take is copied ([`OutBuf::keep_lent`]).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::ops::Range;

use tungstenite::Bytes;

use super::frame::{self, OpCode};

/// Bytes one socket read may bring in; also the most one connection reads per pass.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The reactor's read buffer, lent to one connection at a time.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    reads_left: u8,
    drained: bool,
    eof: bool,
    /// The poller reported the peer's FIN: a short read does not mean drained.
    to_eof: bool,
}

impl ReadBuf {
    pub(crate) fn new() -> Self {
        ReadBuf {
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            reads_left: 0,
            drained: false,
            eof: false,
            to_eof: false,
        }
    }

    /// Starts a pass over one connection: first the input it carried over from its last
    /// pass, then a budget of one socket read. `peer_closed`: the poller has reported the
    /// peer's FIN, so the EOF is still to be read even after a short read.
    pub(crate) fn begin(&mut self, carry: Vec<u8>, peer_closed: bool) {
        self.buf[..carry.len()].copy_from_slice(&carry);
        self.start = 0;
        self.end = carry.len();
        self.reads_left = 1;
        self.drained = false;
        self.eof = false;
        self.to_eof = peer_closed;
    }

    /// Whether the pass ended on its budget with data possibly still in the socket: the
    /// connection must get another pass even without a new readiness event.
    pub(crate) fn more_pending(&self) -> bool {
        self.reads_left == 0 && !self.drained && !self.eof
    }

    /// Takes the input this pass did not consume, for the connection to carry over.
    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf[self.start..self.end].to_vec();
        self.start = self.end;
        rest
    }

    /// Whether this pass read any bytes.
    pub(crate) fn got_bytes(&self) -> bool {
        self.end > 0
    }

    /// Takes all buffered bytes, reading once from the socket (within the budget) when
    /// there are none; empty at EOF. `WouldBlock` when the budget is spent or the socket
    /// is drained.
    pub(crate) fn fill(&mut self, src: &mut impl Source) -> io::Result<&[u8]> {
        if self.is_empty() {
            self.refill(src)?;
        }
        let chunk = &self.buf[self.start..self.end];
        self.start = self.end;
        Ok(chunk)
    }

    /// The buffered bytes, without taking them (reading once from the socket, within the
    /// budget, when there are none). Errors as [`fill`](Self::fill), and `UnexpectedEof`
    /// at EOF.
    pub(crate) fn chunk(&mut self, src: &mut impl Source) -> io::Result<&mut [u8]> {
        if self.is_empty() && self.refill(src)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(&mut self.buf[self.start..self.end])
    }

    /// The `len` bytes at `at`, already consumed: a message the decoder left in place. It
    /// stays there until the pass moves to another connection (the next
    /// [`begin`](Self::begin)).
    #[inline]
    pub(crate) fn lent(&self, at: usize, len: usize) -> &[u8] {
        self.buf.get(at..at + len).unwrap_or_default()
    }

    /// The bytes this pass has read so far, where lent messages lie: what a connection's
    /// queue is written from while it holds messages lent from here.
    pub(crate) fn filled(&self) -> &[u8] {
        &self.buf[..self.end]
    }

    /// Takes the first `n` buffered bytes; returns where they start in the buffer.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) -> usize {
        let at = self.start;
        self.start = (at + n).min(self.end);
        at
    }

    /// Puts `bytes` back before the buffered ones; `false` (and nothing changed) if they
    /// do not fit. Only before anything of the pass was lent (it moves the buffered bytes):
    /// the tail of an upgrade request, as the connection opens.
    pub(crate) fn put_back(&mut self, bytes: &[u8]) -> bool {
        let unread = self.end - self.start;
        if bytes.len() + unread > self.buf.len() {
            return false;
        }
        self.buf.copy_within(self.start..self.end, bytes.len());
        self.buf[..bytes.len()].copy_from_slice(bytes);
        self.start = 0;
        self.end = bytes.len() + unread;
        true
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// One read of the source into the empty buffer: the bytes read, 0 at EOF;
    /// `WouldBlock` when none came (the source is drained, or, when it says it holds
    /// more, its budget went on bytes that carry no data: the pass ends, another follows).
    fn refill(&mut self, src: &mut impl Source) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.drained || self.reads_left == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.reads_left -= 1;
        // After what this pass already read (a carry), never over it: a message lent from
        // there may still be queued for writing (`OutBuf::push_lent`). No room: the pass
        // ends with more to read.
        let at = self.end;
        if at == self.buf.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        loop {
            match src.read_some(&mut self.buf[at..]) {
                Ok(Got::Eof) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(Got::Bytes { n, more }) => {
                    self.drained = !more && !self.to_eof;
                    self.start = at;
                    self.end = at + n;
                    return match n {
                        0 => Err(io::ErrorKind::WouldBlock.into()),
                        n => Ok(n),
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.drained = true;
                    return Err(e);
                }
            }
        }
    }
}

/// What one read of a [`Source`] brought.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Got {
    /// `n` bytes. `more`: the source may hold more now, so the connection needs another
    /// pass without waiting for a readiness event (edge-triggered, none would come).
    /// `n` may be 0 with `more` when the read's budget went on bytes that carry no data
    /// (TLS records without any).
    Bytes { n: usize, more: bool },
    /// The peer ended its stream.
    Eof,
}

/// What a connection's input is read from: a socket (any `Read`: a read that fills the
/// buffer may have left more behind, a shorter one drained it), or a transport that
/// decodes its socket's bytes first ([`Transport`](super::transport::Transport)). Each
/// read takes at most one buffer's worth of the socket's bytes: the fairness bound.
pub(crate) trait Source {
    /// One read into `buf`; `WouldBlock` when nothing is there.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<Got>;
}

impl<R: Read> Source for R {
    #[inline]
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<Got> {
        Ok(match self.read(buf)? {
            0 => Got::Eof,
            n => Got::Bytes {
                n,
                more: n == buf.len(),
            },
        })
    }
}

/// A connection's outbound bytes, in order: frames and control bytes copied into `buf`,
/// and large payloads queued by reference ([`Large`]), each to be written after a given
/// prefix of `buf`. Echoing or broadcasting a large message then costs no copy of it in
/// user space: the payload goes to the socket from where it lies, in the same vectored
/// write as the headers around it.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    /// Copied bytes; `buf[..head]` is already written. Appending here always lands after
    /// every queued large payload.
    pub(crate) buf: Vec<u8>,
    head: usize,
    /// Large payloads `(at, payload)`: `payload` goes out right after `buf[..at]`.
    large: VecDeque<(usize, Large)>,
    /// Some of `large` is lent from the read buffer.
    lent: bool,
    /// Bytes of `large`'s first payload already written.
    large_head: usize,
    /// Unwritten bytes in `large`.
    large_pending: usize,
    /// Bytes taken from this queue and encrypted by the transport (TLS) but not yet
    /// written: still this connection's backlog, so they count in [`pending`](Self::pending).
    sealed: usize,
}

/// A payload queued by reference.
#[derive(Debug)]
enum Large {
    /// Its own allocation, or one shared with other queues (a broadcast).
    Shared(Bytes),
    /// These bytes of the reactor's read buffer ([`ReadBuf::filled`]), lent by the
    /// connection being read: written, or else copied ([`OutBuf::keep_lent`]), before the
    /// pass moves to another connection.
    Lent(Range<usize>),
}

impl Large {
    fn len(&self) -> usize {
        match self {
            Large::Shared(bytes) => bytes.len(),
            Large::Lent(range) => range.len(),
        }
    }

    /// Its bytes; a lent payload's are in `lent` (empty once the pass is over).
    fn bytes<'a>(&'a self, lent: &'a [u8]) -> &'a [u8] {
        match self {
            Large::Shared(bytes) => bytes,
            Large::Lent(range) => {
                debug_assert!(range.end <= lent.len(), "written after its pass");
                lent.get(range.clone()).unwrap_or_default()
            }
        }
    }
}

/// Capacity a frame queued on an empty buffer reserves when no spare buffer is at hand
/// ([`Spares`]): a pass's replies usually fit, so it is not grown from a few bytes.
const FIRST_CAPACITY: usize = 1024;

/// Drained outbound buffers, kept by the reactor for the next connection that queues a
/// frame: a busy connection allocates no buffer per pass, and an idle one holds none.
/// Buffers of at most [`SPARE_MAX`] bytes, as many as the busiest recent pass gave back
/// (at least [`SPARES`]): a broadcast to 10,000 connections every pass reuses 10,000
/// buffers instead of allocating and freeing most of them each time. Once passes give back
/// fewer, it shrinks by an eighth a pass, back to [`SPARES`] (at most 1 MiB).
#[derive(Debug)]
pub(crate) struct Spares {
    bufs: Vec<Vec<u8>>,
    /// Buffers given back this pass.
    given: usize,
    /// How many it may keep.
    keep: usize,
}

impl Default for Spares {
    fn default() -> Self {
        Spares {
            bufs: Vec::new(),
            given: 0,
            keep: SPARES,
        }
    }
}

impl Spares {
    /// The pass's flushes are done: sets how many it keeps from what this pass gave back,
    /// and frees the rest.
    pub(crate) fn end_pass(&mut self) {
        self.keep = (self.keep - self.keep / 8).max(self.given).max(SPARES);
        self.given = 0;
        self.bufs.truncate(self.keep);
    }
}

const SPARES: usize = 16;
/// As much as echoing one pass's read takes: with 4 KiB, sixteen 256-byte echoes in a pass
/// outgrew it, and their buffer was grown and freed on every pass (`callgrind-echo.sh -s
/// 256`: 664 instructions per echo, 552 with this; quick alternating runs 0.31-0.39 µs per
/// echo against uWebSockets' 0.28-0.29, 0.27 with this).
const SPARE_MAX: usize = READ_CHUNK;
// What an idle reactor may hold in spares.
const _: () = assert!(SPARES * SPARE_MAX <= 1 << 20);

/// Payloads from this size on are queued by reference instead of copied: below it a copy
/// costs less than an extra `iovec` and the reference count.
pub(crate) const SHARE_MIN: usize = 2 * 1024;

/// Slices handed to one `writev`; the rest waits for the next write of the same pass.
const MAX_IOVECS: usize = 64;

impl OutBuf {
    /// Bytes waiting to be written: queued here, or already encrypted by the transport.
    /// What backpressure counts.
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.queued() + self.sealed
    }

    /// Bytes queued here and not yet handed to the socket (or to TLS).
    #[inline]
    pub(crate) fn queued(&self) -> usize {
        self.buf.len() - self.head + self.large_pending
    }

    /// Records what the transport holds encrypted and unwritten.
    pub(crate) fn set_sealed(&mut self, bytes: usize) {
        self.sealed = bytes;
    }

    /// The oldest payload queued by reference.
    #[cfg(test)]
    pub(crate) fn first_shared(&self) -> Option<&Bytes> {
        self.large.front().and_then(|(_, large)| match large {
            Large::Shared(bytes) => Some(bytes),
            Large::Lent(_) => None,
        })
    }

    /// Queues one final, unmasked frame; large payloads are shared, not copied.
    #[inline]
    pub(crate) fn push_frame(&mut self, opcode: OpCode, payload: Bytes) {
        self.push_with(frame::first_byte(opcode), payload);
    }

    /// [`push_frame`](Self::push_frame) with this first byte (`frame::first_byte`, or
    /// `frame::compressed_first_byte` for a message compressed with permessage-deflate).
    #[inline]
    pub(crate) fn push_with(&mut self, first: u8, payload: Bytes) {
        if self.buf.capacity() == 0 {
            self.buf.reserve(FIRST_CAPACITY);
        }
        if payload.len() < SHARE_MIN {
            frame::encode_with(&mut self.buf, first, &payload);
        } else {
            frame::encode_head(&mut self.buf, first, payload.len());
            self.large_pending += payload.len();
            self.large
                .push_back((self.buf.len(), Large::Shared(payload)));
        }
    }

    /// Queues one final, unmasked frame whose payload is `range` of the read buffer, lent
    /// by the connection being read ([`ReadBuf::lent`]): not copied if the connection is
    /// written ([`write_to`](Self::write_to)) before the pass moves on, which
    /// must then write it or [`keep_lent`](Self::keep_lent) it.
    #[inline]
    pub(crate) fn push_lent(&mut self, opcode: OpCode, range: Range<usize>) {
        if self.buf.capacity() == 0 {
            self.buf.reserve(FIRST_CAPACITY);
        }
        frame::encode_head(&mut self.buf, frame::first_byte(opcode), range.len());
        self.large_pending += range.len();
        self.large.push_back((self.buf.len(), Large::Lent(range)));
        self.lent = true;
    }

    /// Whether payloads lent from the read buffer are queued.
    #[inline]
    pub(crate) fn has_lent(&self) -> bool {
        self.lent
    }

    /// Copies what is still queued of the payloads lent from `lent` (the read buffer's
    /// [`filled`](ReadBuf::filled) bytes) into allocations of their own, before the read
    /// buffer goes to another connection.
    pub(crate) fn keep_lent(&mut self, lent: &[u8]) {
        for (_, large) in &mut self.large {
            if let Large::Lent(range) = large {
                *large = Large::Shared(Bytes::copy_from_slice(
                    lent.get(range.clone()).unwrap_or_default(),
                ));
            }
        }
        self.lent = false;
    }

    /// Queues one final, unmasked frame whose payload is lent: copied into the buffer, or,
    /// from `SHARE_MIN` on, into an allocation of its own that is queued like a shared
    /// payload (the buffer stays small enough to be kept as a spare when it drains).
    #[inline]
    pub(crate) fn push_slice(&mut self, opcode: OpCode, payload: &[u8]) {
        if payload.len() >= SHARE_MIN {
            return self.push_frame(opcode, Bytes::copy_from_slice(payload));
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve(FIRST_CAPACITY);
        }
        frame::encode(&mut self.buf, opcode, payload);
    }

    /// Queues a frame already encoded (copied).
    pub(crate) fn push_encoded(&mut self, frame: &[u8]) {
        if self.buf.capacity() == 0 {
            self.buf.reserve(FIRST_CAPACITY.max(frame.len()));
        }
        self.buf.extend_from_slice(frame);
    }

    /// Writes the queued bytes until done or the socket is full (one write, unless more
    /// slices are queued than one `writev` takes). `Ok(true)` when everything went out.
    /// A short write ends it: the socket's buffer is full (or, for TLS, rustls' outbound
    /// buffer). `lent`: the read buffer's [`filled`](ReadBuf::filled) bytes while payloads
    /// lent from there are queued ([`push_lent`](Self::push_lent)), empty otherwise.
    pub(crate) fn write_to(&mut self, sock: &mut impl Write, lent: &[u8]) -> io::Result<bool> {
        while self.queued() > 0 {
            let (written, offered) = if self.large.is_empty() {
                let bytes = &self.buf[self.head..];
                (sock.write(bytes), bytes.len())
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = self.slices(lent, &mut slices);
                let offered = slices[..n].iter().map(|s| s.len()).sum();
                (sock.write_vectored(&slices[..n]), offered)
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.advance(n);
                    if n < offered {
                        // A short write means the socket buffer is full: wait for writable.
                        self.compact();
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.compact();
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        self.head = 0;
        self.buf.clear();
        self.lent = false;
        Ok(true)
    }

    /// Takes a spare buffer if this queue has none, before a frame is queued.
    #[inline]
    pub(crate) fn lend(&mut self, spares: &mut Spares) {
        if self.buf.capacity() == 0 {
            if let Some(buf) = spares.bufs.pop() {
                self.buf = buf;
            }
        }
    }

    /// Once the queue has drained, gives its buffer up (kept as a spare, or freed): an idle
    /// connection holds none.
    pub(crate) fn give_back(&mut self, spares: &mut Spares) {
        if self.queued() > 0 || self.buf.capacity() == 0 {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        self.head = 0;
        spares.given += 1;
        if buf.capacity() <= SPARE_MAX && spares.bufs.len() < spares.keep.max(spares.given) {
            buf.clear();
            spares.bufs.push(buf);
        }
    }

    /// Fills `slices` with the pending bytes in order; returns how many it used.
    fn slices<'a>(&'a self, lent: &'a [u8], slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let mut pos = self.head;
        for (i, (at, large)) in self.large.iter().enumerate() {
            if n + 2 > slices.len() {
                return n;
            }
            if pos < *at {
                slices[n] = IoSlice::new(&self.buf[pos..*at]);
                n += 1;
            }
            let skip = if i == 0 { self.large_head } else { 0 };
            slices[n] = IoSlice::new(large.bytes(lent).get(skip..).unwrap_or_default());
            n += 1;
            pos = *at;
        }
        if pos < self.buf.len() && n < slices.len() {
            slices[n] = IoSlice::new(&self.buf[pos..]);
            n += 1;
        }
        n
    }

    /// Marks `n` bytes, in queue order, as written.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            match self.large.front() {
                Some(&(at, ref large)) if self.head == at => {
                    let left = large.len() - self.large_head;
                    if n < left {
                        self.large_head += n;
                        self.large_pending -= n;
                        return;
                    }
                    n -= left;
                    self.large_pending -= left;
                    self.large_head = 0;
                    self.large.pop_front();
                }
                Some(&(at, _)) => {
                    let step = n.min(at - self.head);
                    self.head += step;
                    n -= step;
                }
                None => {
                    self.head += n;
                    return;
                }
            }
        }
    }

    /// Drops written bytes once they are the larger part of the buffer, so appends stay
    /// amortised O(1) without a memmove per partial write.
    fn compact(&mut self) {
        if self.head > self.buf.len() / 2 {
            self.buf.drain(..self.head);
            for (at, _) in &mut self.large {
                *at -= self.head;
            }
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queues `n` echoes of `size` bytes on `out` (borrowing a spare buffer, as the
    /// reactor does) and writes them out; returns the buffer's capacity before it went
    /// back.
    fn a_pass(out: &mut OutBuf, spares: &mut Spares, n: usize, size: usize) -> usize {
        out.lend(spares);
        for _ in 0..n {
            out.push_slice(OpCode::Text, &vec![b'x'; size]);
        }
        let capacity = out.buf.capacity();
        assert!(out.write_to(&mut Vec::new(), &[]).unwrap());
        out.give_back(spares);
        capacity
    }

    #[test]
    fn a_drained_buffer_as_large_as_a_pass_of_echoes_is_kept_and_lent_again() {
        let mut spares = Spares::default();
        let mut out = OutBuf::default();
        // Sixteen 1 KiB echoes: past the 4 KiB the pool once kept, within one pass's read.
        let grown = a_pass(&mut out, &mut spares, 16, 1024);
        assert!(grown > 16 * 1024);
        assert_eq!(out.buf.capacity(), 0, "an idle queue holds no buffer");
        spares.end_pass();
        out.lend(&mut spares);
        assert_eq!(out.buf.capacity(), grown, "the next pass reuses it");
        out.give_back(&mut spares);
        // One larger than a pass's read is freed (frames below `SHARE_MIN` are copied in).
        let huge = a_pass(&mut out, &mut spares, 40, SHARE_MIN - 48);
        assert!(huge > SPARE_MAX);
        assert!(spares.bufs.iter().all(|b| b.capacity() <= SPARE_MAX));
    }

    #[test]
    fn the_spare_pool_follows_the_busiest_recent_pass_then_shrinks_to_its_floor() {
        let mut spares = Spares::default();
        // As in a pass: every queue fills (while the others hold their buffers), then all
        // are written.
        let mut outs: Vec<OutBuf> = (0..100).map(|_| OutBuf::default()).collect();
        for out in &mut outs {
            out.lend(&mut spares);
            out.push_slice(OpCode::Text, b"echo");
        }
        for out in &mut outs {
            assert!(out.write_to(&mut Vec::new(), &[]).unwrap());
            out.give_back(&mut spares);
        }
        spares.end_pass();
        assert_eq!(spares.bufs.len(), 100, "a busy pass's buffers are all kept");
        for _ in 0..40 {
            spares.end_pass();
        }
        assert_eq!(spares.bufs.len(), SPARES, "idle passes shrink it back");
        let held: usize = spares.bufs.iter().map(Vec::capacity).sum();
        assert!(held <= 1 << 20, "at most 1 MiB held when idle");
    }

    #[test]
    fn a_large_lent_payload_is_queued_as_its_own_allocation_and_written_in_order() {
        let mut out = OutBuf::default();
        let large = vec![9u8; SHARE_MIN];
        out.push_slice(OpCode::Text, b"small");
        out.push_slice(OpCode::Binary, &large);
        out.push_slice(OpCode::Text, b"after");
        assert!(out.first_shared().is_some_and(|b| b[..] == large[..]));
        assert!(out.buf.len() < 32, "headers and small frames only");
        let mut wire = Vec::new();
        assert!(out.write_to(&mut wire, &[]).unwrap());
        let mut want = Vec::new();
        frame::encode(&mut want, OpCode::Text, b"small");
        frame::encode(&mut want, OpCode::Binary, &large);
        frame::encode(&mut want, OpCode::Text, b"after");
        assert_eq!(wire, want);
    }

    #[test]
    fn lent_payloads_go_out_in_order_and_what_a_short_write_leaves_is_kept() {
        // The read buffer's bytes: two messages lent from it.
        let lent: Vec<u8> = (0..3 * SHARE_MIN).map(|i| (i % 251) as u8).collect();
        let (first, second) = (0..SHARE_MIN, SHARE_MIN..3 * SHARE_MIN);
        let mut want = Vec::new();
        frame::encode(&mut want, OpCode::Binary, &lent[first.clone()]);
        frame::encode(&mut want, OpCode::Text, b"between");
        frame::encode(&mut want, OpCode::Binary, &lent[second.clone()]);
        for max in [1, 100, SHARE_MIN + 3, 1 << 20] {
            let mut out = OutBuf::default();
            out.push_lent(OpCode::Binary, first.clone());
            out.push_slice(OpCode::Text, b"between");
            out.push_lent(OpCode::Binary, second.clone());
            assert!(out.has_lent());
            assert_eq!(out.pending(), want.len());
            let mut sock = Trickle {
                got: Vec::new(),
                max,
                calls: 0,
            };
            // The write while the read buffer is at hand; then the buffer goes to another
            // connection, so what is left of the lent payloads is copied.
            let done = out.write_to(&mut sock, &lent).unwrap();
            out.keep_lent(&lent);
            assert!(!out.has_lent());
            assert_eq!(done, max == 1 << 20);
            let mut rounds = 0;
            while !out.write_to(&mut sock, &[]).unwrap() {
                rounds += 1;
                assert!(rounds < 1_000_000, "no progress");
            }
            assert!(sock.got == want, "max {max}: bytes differ");
        }
    }

    /// A source that hands out its bytes, at most `max` per read.
    struct Feed {
        bytes: Vec<u8>,
        max: usize,
    }

    impl Read for Feed {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.bytes.len().min(self.max).min(buf.len());
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn a_read_after_the_carry_lands_after_it_so_what_was_lent_stays_put() {
        let mut rbuf = ReadBuf::new();
        rbuf.begin(b"carried".to_vec(), false);
        let (lent, at) = {
            let bytes = rbuf.chunk(&mut Quiet).unwrap();
            assert_eq!(&bytes[..], b"carried");
            let at = rbuf.consume(7);
            (rbuf.lent(at, 7).to_vec(), at)
        };
        let mut sock = Feed {
            bytes: b"read".to_vec(),
            max: 64,
        };
        assert_eq!(&rbuf.chunk(&mut sock).unwrap()[..], b"read");
        assert_eq!(
            &rbuf.filled()[at..at + 7],
            &lent[..],
            "the carry is where it was"
        );
        assert_eq!(rbuf.filled(), b"carriedread");
    }

    /// A reader with nothing to read yet, as a quiet non-blocking socket.
    struct Quiet;

    impl Read for Quiet {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    #[test]
    fn carried_input_comes_first_and_what_is_left_is_carried_again() {
        let mut rbuf = ReadBuf::new();
        rbuf.begin(b"abcdef".to_vec(), false);
        assert!(rbuf.got_bytes(), "carried bytes are traffic too");
        let mut two = [0u8; 2];
        let bytes = rbuf.chunk(&mut Quiet).unwrap();
        two.copy_from_slice(&bytes[..2]);
        rbuf.consume(2);
        assert_eq!(&two, b"ab");
        assert_eq!(rbuf.take_rest(), b"cdef");
        assert_eq!(rbuf.take_rest(), b"");
    }

    #[test]
    fn the_socket_is_read_once_the_carry_is_used_up() {
        // The peer sends nothing: any socket read is `WouldBlock`.
        let mut sock = Quiet;
        let mut rbuf = ReadBuf::new();
        rbuf.begin(b"xyz".to_vec(), false);
        assert_eq!(rbuf.fill(&mut sock).unwrap(), b"xyz");
        let err = rbuf.fill(&mut sock).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(!rbuf.more_pending(), "a WouldBlock read means drained");
    }

    /// A socket that takes at most `max` bytes per write and refuses every third write.
    struct Trickle {
        got: Vec<u8>,
        max: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.max - n);
                self.got.extend_from_slice(&b[..take]);
                n += take;
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn payload(len: usize, seed: u8) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(seed))
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn shared_payloads_go_out_in_order_through_short_writes() {
        let frames = [
            (OpCode::Text, payload(5, 3)),
            (OpCode::Binary, payload(SHARE_MIN, 5)),
            (OpCode::Binary, payload(70_000, 7)),
            (OpCode::Text, payload(130, 11)),
            (OpCode::Binary, payload(SHARE_MIN + 1, 13)),
        ];
        // What the peer must receive: the frames in order, with a pong that tungstenite
        // appended to the buffer directly after the third.
        let mut want = Vec::new();
        for (i, (op, p)) in frames.iter().enumerate() {
            frame::encode(&mut want, *op, p);
            if i == 2 {
                want.extend_from_slice(b"\x8a\x00");
            }
        }
        for max in [1, 7, 1000, 4096, 1 << 20] {
            let mut out = OutBuf::default();
            let mut sock = Trickle {
                got: Vec::new(),
                max,
                calls: 0,
            };
            for (i, (op, p)) in frames.iter().enumerate() {
                out.push_frame(*op, p.clone());
                if i == 2 {
                    out.buf.extend_from_slice(b"\x8a\x00");
                }
            }
            assert_eq!(out.pending(), want.len());
            let mut rounds = 0;
            while !out.write_to(&mut sock, &[]).unwrap() {
                rounds += 1;
                assert!(rounds < 1_000_000, "no progress");
            }
            assert_eq!(out.pending(), 0);
            assert!(sock.got == want, "max {max}: bytes differ");
        }
    }
}
