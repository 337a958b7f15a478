//! The byte plumbing between a socket, the reactor's shared read buffer and a connection's
//! outbound buffer.
//!
//! Reads: every connection reads through one 64 KiB buffer owned by the reactor, so an idle
//! connection holds no large read buffer of its own; tungstenite copies out of it what it
//! needs. Each connection gets one socket read per reactor pass (the fairness bound); a read
//! shorter than the buffer means the socket is drained, and the edge-triggered poll will
//! report new data, so no extra read is spent to see `WouldBlock`. Each chunk read for an
//! open WebSocket passes the connection's [`Utf8Guard`] before tungstenite sees it.
//!
//! Writes: tungstenite's control replies (pong, close) and our own frames go into the
//! connection's [`OutBuf`], which the reactor writes to the socket once per pass.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

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
        }
    }

    /// Starts a pass over one connection, with its budget of one socket read.
    pub(crate) fn begin(&mut self) {
        self.start = 0;
        self.end = 0;
        self.reads_left = 1;
        self.drained = false;
        self.eof = false;
    }

    /// Whether the pass ended on its budget with data possibly still in the socket: the
    /// connection must get another pass even without a new readiness event.
    pub(crate) fn more_pending(&self) -> bool {
        self.reads_left == 0 && !self.drained && !self.eof
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
                    self.drained = n < self.buf.len();
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

/// A connection's outbound bytes: written from `head`, compacted when drained.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    pub(crate) buf: Vec<u8>,
    head: usize,
}

/// Capacity kept after the buffer drains; above it the allocation is released so a burst
/// does not pin memory on an idle connection.
const KEEP_CAPACITY: usize = 16 * 1024;

impl OutBuf {
    /// Bytes waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.head
    }

    /// One write of the pending bytes. `Ok(true)` when everything went out.
    pub(crate) fn write_to(&mut self, sock: &mut TcpStream) -> io::Result<bool> {
        while self.pending() > 0 {
            match sock.write(&self.buf[self.head..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.head += n;
                    if self.pending() > 0 {
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

    /// Drops written bytes once they are the larger part of the buffer, so appends stay
    /// amortised O(1) without a memmove per partial write.
    fn compact(&mut self) {
        if self.head > self.buf.len() / 2 {
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
