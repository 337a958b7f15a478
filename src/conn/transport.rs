//! What a connection's bytes travel over: the TCP socket itself, or TLS on it.
//!
//! The connection above never knows which: it reads plaintext through the reactor's
//! [`ReadBuf`](super::io::ReadBuf) (which reads a [`Transport`] as it would a socket) and
//! queues plaintext in its [`OutBuf`]; the reactor's flush hands that queue to
//! [`Transport::flush`]. With TLS (feature `tls`), encryption happens there, at the flush:
//! a message broadcast to many connections is encoded once and encrypted once per
//! recipient, and everything a connection queued in a pass leaves in one batch of records.

use std::io;
use std::net::{Shutdown, SocketAddr};

use mio::net::TcpStream;

use super::io::{Got, OutBuf, Source};
use crate::config::Config;

/// A connection's byte stream: reads give plaintext (as a [`Source`]), flushes take it.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP: `ws://`, `http://`.
    Plain(TcpStream),
    /// TLS on TCP: `wss://`, `https://`. Boxed: a TLS session is a few KiB, and a plain
    /// connection should not pay for the variant's size.
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::TlsStream>),
}

impl Transport {
    /// The transport the config asks for on a socket just accepted from `peer`. Fails only
    /// when rustls refuses to start a session with the configuration, which
    /// [`Config::validate`] already tried at bind.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    pub(crate) fn new(sock: TcpStream, peer: SocketAddr, config: &Config) -> io::Result<Self> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &config.tls {
            let stream = super::tls::TlsStream::new(sock, peer, tls)?;
            return Ok(Transport::Tls(Box::new(stream)));
        }
        Ok(Transport::Plain(sock))
    }

    /// Writes what `out` holds, once: until it is all out or the socket is full. `end`: no
    /// more bytes will ever be queued, so the stream may be ended after these (TLS sends its
    /// `close_notify`). `Ok(true)` when everything went out. Updates `out`'s count of
    /// encrypted bytes still waiting.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    /// `lent`: the read buffer's [`filled`](super::io::ReadBuf::filled) bytes while `out`
    /// holds payloads lent from there, empty otherwise.
    pub(crate) fn flush(&mut self, out: &mut OutBuf, end: bool, lent: &[u8]) -> io::Result<bool> {
        match self {
            Transport::Plain(sock) => out.write_to(sock, lent),
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => tls.flush(out, end, lent),
        }
    }

    /// Bytes already encrypted but not yet written: they count against backpressure.
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(self, Transport::Plain(_))
    }

    pub(crate) fn sealed(&self) -> usize {
        match self {
            Transport::Plain(_) => 0,
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => tls.sealed(),
        }
    }

    /// Shuts down our half of the TCP connection.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        self.socket().shutdown(Shutdown::Write)
    }

    /// The TCP socket under it (the reactor moves it between pollers).
    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(sock) => sock,
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => tls.socket(),
        }
    }
}

impl Source for Transport {
    #[inline]
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<Got> {
        match self {
            Transport::Plain(sock) => sock.read_some(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => tls.read_some(buf),
        }
    }
}
