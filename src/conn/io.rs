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
//! until the read that returns 0. When a connection's pass
//! ends before its input does (message budget, backpressure), the rest is carried in a
//! buffer of its own until its next pass.
//!
//! Writes: tungstenite's control replies (pong, close) and our own frames go into the
//! connection's [`OutBuf`], which the reactor writes to the socket once per pass.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

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
        if self.start == self.end {
            self.refill(sock)?;
        }
        let chunk = &self.buf[self.start..self.end];
        self.start = self.end;
        Ok(chunk)
    }

    /// Copies buffered bytes into `dst`, reading from the socket when empty.
    fn read_into(&mut self, sock: &mut TcpStream, dst: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            self.refill(sock)?;
        }
        let n = dst.len().min(self.end - self.start);
        dst[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }

    /// One socket read into the empty buffer; leaves it empty at EOF.
    fn refill(&mut self, sock: &mut TcpStream) -> io::Result<()> {
        if self.eof {
            return Ok(());
        }
        if self.drained || self.reads_left == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.reads_left -= 1;
        loop {
            match sock.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.drained = n < self.buf.len() && !self.to_eof;
                    self.start = 0;
                    self.end = n;
                    return Ok(());
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

/// The stream tungstenite sees: reads come from the shared buffer, writes land in the
/// connection's outbound buffer and never block.
pub(crate) struct Io<'a> {
    pub(crate) sock: &'a mut TcpStream,
    pub(crate) rbuf: &'a mut ReadBuf,
    pub(crate) out: &'a mut Vec<u8>,
}

impl Read for Io<'_> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        self.rbuf.read_into(self.sock, dst)
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

    /// A connected socket whose peer sends nothing: any socket read is `WouldBlock`.
    fn quiet_socket() -> (std::net::TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (sock, _) = listener.accept().unwrap();
        sock.set_nonblocking(true).unwrap();
        (peer, TcpStream::from_std(sock))
    }

    #[test]
    fn carried_input_comes_first_and_what_is_left_is_carried_again() {
        let (_peer, mut sock) = quiet_socket();
        let mut rbuf = ReadBuf::new();
        rbuf.begin(b"abcdef".to_vec(), false);
        assert!(rbuf.got_bytes(), "carried bytes are traffic too");
        let mut two = [0u8; 2];
        assert_eq!(rbuf.read_into(&mut sock, &mut two).unwrap(), 2);
        assert_eq!(&two, b"ab");
        assert_eq!(rbuf.take_rest(), b"cdef");
        assert_eq!(rbuf.take_rest(), b"");
    }

    #[test]
    fn the_socket_is_read_once_the_carry_is_used_up() {
        let (_peer, mut sock) = quiet_socket();
        let mut rbuf = ReadBuf::new();
        rbuf.begin(b"xyz".to_vec(), false);
        assert_eq!(rbuf.fill(&mut sock).unwrap(), b"xyz");
        let err = rbuf.fill(&mut sock).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(!rbuf.more_pending(), "a WouldBlock read means drained");
    }
}
