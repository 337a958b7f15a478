//! The byte plumbing between a socket, the reactor's shared read buffer and a connection's
//! outbound buffer.
//!
//! Reads: every connection reads through one 64 KiB buffer owned by the reactor, so an idle
//! connection holds no large read buffer of its own; tungstenite copies out of it what it
//! needs. Each connection gets one socket read per reactor pass (the fairness bound); a read
//! shorter than the buffer means the socket is drained, and the edge-triggered poll will
//! report new data, so no extra read is spent to see `WouldBlock`. The exception is the
//! peer's FIN: when it arrived with the data, the one event that reported both is spent,
//! and the EOF still has to be read, so once the poller has reported it reading goes on
//! until the read that returns 0. When a connection's pass ends before its input does
//! (message budget, backpressure), the rest is carried in a buffer of its own until its
//! next pass. Each chunk read for an open WebSocket passes the connection's [`Utf8Guard`]
//! before tungstenite sees it.
//!
//! Writes: tungstenite's control replies (pong, close) and our own frames go into the
//! connection's [`OutBuf`], which the reactor writes to the socket once per pass.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;
use tungstenite::Bytes;

use super::utf8::{InvalidUtf8, Utf8Guard};

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
    pub(crate) fn fill(&mut self, sock: &mut TcpStream) -> io::Result<&[u8]> {
        if self.is_empty() {
            self.refill(sock)?;
        }
        let chunk = &self.buf[self.start..self.end];
        self.start = self.end;
        Ok(chunk)
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The bytes read but not yet taken.
    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drops all but the first `keep` unread bytes.
    fn truncate(&mut self, keep: usize) {
        self.end = self.end.min(self.start + keep);
    }

    /// Moves unread bytes into `dst`.
    fn take_into(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.end - self.start);
        dst[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        n
    }

    /// One socket read into the empty buffer: the bytes read, 0 at EOF.
    fn refill(&mut self, sock: &mut TcpStream) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.drained || self.reads_left == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.reads_left -= 1;
        loop {
            match sock.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.drained = n < self.buf.len() && !self.to_eof;
                    self.start = 0;
                    self.end = n;
                    return Ok(n);
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

/// A connection's outbound bytes: frames shared with other connections (a message published
/// to a room is encoded once and its bytes shared), then bytes owned by this connection.
/// Everything in `shared` goes out before `buf`.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    shared: VecDeque<Bytes>,
    shared_len: usize,
    /// Owned bytes, appended to directly by encoders.
    pub(crate) buf: Vec<u8>,
    /// Bytes already written of the front segment: `shared[0]`, or `buf` when none is shared.
    head: usize,
}

/// Capacity kept after the buffer drains; above it the allocation is released so a burst
/// does not pin memory on an idle connection.
const KEEP_CAPACITY: usize = 16 * 1024;

/// Segments passed to one `writev`.
const MAX_IOVECS: usize = 64;

impl OutBuf {
    /// Bytes waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        self.shared_len + self.buf.len() - self.head
    }

    /// The oldest shared segment still queued.
    #[cfg(test)]
    pub(crate) fn shared_front(&self) -> Option<&Bytes> {
        self.shared.front()
    }

    /// Queues bytes shared with other connections, after everything queued so far.
    pub(crate) fn push_shared(&mut self, bytes: Bytes) {
        if !self.buf.is_empty() {
            // Keeps the order: what was owned so far becomes a segment (no copy).
            let owned = Bytes::from(std::mem::take(&mut self.buf));
            self.shared_len += owned.len();
            self.shared.push_back(owned);
        }
        self.shared_len += bytes.len();
        self.shared.push_back(bytes);
    }

    /// Writes pending bytes until done or the socket is full. `Ok(true)` when all went out.
    pub(crate) fn write_to(&mut self, sock: &mut TcpStream) -> io::Result<bool> {
        while self.pending() > 0 {
            let (written, offered) = if self.shared.is_empty() {
                (sock.write(&self.buf[self.head..]), self.pending())
            } else {
                let mut slices = Vec::with_capacity(MAX_IOVECS);
                slices.push(IoSlice::new(&self.shared[0][self.head..]));
                let middle = self.shared.iter().skip(1).take(MAX_IOVECS - 2);
                slices.extend(middle.map(|b| IoSlice::new(b)));
                slices.push(IoSlice::new(&self.buf));
                let offered = slices.iter().map(|s| s.len()).sum();
                (sock.write_vectored(&slices), offered)
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.consume(n);
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
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
        Ok(true)
    }

    /// Marks `n` bytes written, front first.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.shared.front() else {
                self.head += n;
                return;
            };
            let left = front.len() - self.head;
            if n < left {
                self.head += n;
                return;
            }
            n -= left;
            self.shared_len -= front.len();
            self.shared.pop_front();
            self.head = 0;
        }
    }

    /// Drops written owned bytes once they are the larger part of the buffer, so appends
    /// stay amortised O(1) without a memmove per partial write.
    fn compact(&mut self) {
        if self.shared.is_empty() && self.head > self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }
}

/// The stream tungstenite sees: reads come from the shared buffer, past the connection's
/// UTF-8 guard; writes land in the connection's outbound buffer and never block.
pub(crate) struct Io<'a> {
    pub(crate) sock: &'a mut TcpStream,
    pub(crate) rbuf: &'a mut ReadBuf,
    pub(crate) utf8: &'a mut Utf8Guard,
    pub(crate) out: &'a mut Vec<u8>,
}

impl Read for Io<'_> {
    /// Every byte read from the socket passes the guard first. When it finds invalid text,
    /// tungstenite still gets the bytes before it (earlier frames are delivered in order);
    /// the rest are dropped, and the next read fails with [`InvalidUtf8`].
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        while self.rbuf.is_empty() {
            if self.utf8.found_invalid() {
                return Err(InvalidUtf8::io_error());
            }
            if self.rbuf.refill(self.sock)? == 0 {
                return Ok(0);
            }
            if let Err(valid) = self.utf8.scan(self.rbuf.unread()) {
                self.rbuf.truncate(valid);
            }
        }
        Ok(self.rbuf.take_into(dst))
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A write-only stream for tungstenite calls that only write (starting a close).
pub(crate) struct Sink<'a>(pub(crate) &'a mut Vec<u8>);

impl Read for Sink<'_> {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (TcpStream::from_std(server), client)
    }

    #[test]
    fn shared_and_owned_bytes_keep_their_order() {
        let (mut sock, mut peer) = pair();
        let mut out = OutBuf::default();
        out.buf.extend_from_slice(b"a");
        out.push_shared(Bytes::from_static(b"bb"));
        out.buf.extend_from_slice(b"c");
        out.push_shared(Bytes::from_static(b"dd"));
        out.push_shared(Bytes::from_static(b"e"));
        assert_eq!(out.pending(), 7);
        assert!(out.write_to(&mut sock).unwrap());
        assert_eq!(out.pending(), 0);
        let mut got = [0u8; 7];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abbcdde");
    }

    #[test]
    fn partial_progress_is_kept_across_segments() {
        let mut out = OutBuf::default();
        out.buf.extend_from_slice(b"xy");
        out.push_shared(Bytes::from_static(b"123"));
        out.buf.extend_from_slice(b"z");
        out.consume(3); // "xy" and "1"
        assert_eq!(out.pending(), 3);
        assert_eq!(&out.shared[0][out.head..], b"23");
        out.consume(2);
        assert!(out.shared.is_empty());
        assert_eq!(&out.buf[out.head..], b"z");
    }

    #[test]
    fn carried_input_comes_first_and_what_is_left_is_carried_again() {
        let mut rbuf = ReadBuf::new();
        rbuf.begin(b"abcdef".to_vec(), false);
        assert!(rbuf.got_bytes(), "carried bytes are traffic too");
        let mut two = [0u8; 2];
        assert_eq!(rbuf.take_into(&mut two), 2);
        assert_eq!(&two, b"ab");
        assert_eq!(rbuf.take_rest(), b"cdef");
        assert_eq!(rbuf.take_rest(), b"");
    }

    #[test]
    fn the_socket_is_read_once_the_carry_is_used_up() {
        // The peer sends nothing: any socket read is `WouldBlock`.
        let (mut sock, _peer) = pair();
        let mut rbuf = ReadBuf::new();
        rbuf.begin(b"xyz".to_vec(), false);
        assert_eq!(rbuf.fill(&mut sock).unwrap(), b"xyz");
        let err = rbuf.fill(&mut sock).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(!rbuf.more_pending(), "a WouldBlock read means drained");
    }
}
