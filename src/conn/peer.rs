//! A scripted peer for driving a [`Connection`](super::Connection) without a socket: the
//! unit tests' and the fuzz drivers' side of the stream.

use std::collections::VecDeque;
use std::io::{self, Read};

/// The peer's side of the stream: chunks to deliver, then `WouldBlock` (or EOF).
#[derive(Debug, Default)]
pub(crate) struct Peer {
    pub(crate) chunks: VecDeque<Vec<u8>>,
    pub(crate) eof: bool,
    /// After the chunks: `ConnectionReset` instead of EOF or `WouldBlock`.
    pub(crate) reset: bool,
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(chunk) = self.chunks.front_mut() else {
            return if self.reset {
                Err(io::ErrorKind::ConnectionReset.into())
            } else if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.chunks.pop_front();
        }
        Ok(n)
    }
}
