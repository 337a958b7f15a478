//! TLS on a connection's socket, with rustls' sans-I/O [`ServerConnection`]: socket bytes
//! go through `read_tls` and `process_new_packets`, and the plaintext comes out of its
//! `reader()` into the reactor's shared read buffer; at the flush, the connection's queued
//! plaintext goes into its `writer()` and the records out through `write_tls`.
//!
//! The guarantees of a plain connection hold: the handshake timeout covers the TLS
//! handshake (the connection is in its request state until a whole request has been
//! decrypted); a TLS error (an alert, garbage) fails this connection only; every orderly
//! close sends `close_notify` after the last bytes; a peer's EOF without `close_notify` is
//! an EOF like any other (logged at debug: many clients never send one, and the WebSocket
//! close handshake or HTTP framing above already tells a complete exchange from a cut one).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use log::debug;
use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};

use super::io::{Got, OutBuf};

/// One connection's TLS session and its socket.
#[derive(Debug)]
pub(crate) struct TlsStream {
    sock: TcpStream,
    tls: ServerConnection,
    peer: SocketAddr,
    /// Encrypted bytes waiting in `tls` for the socket, as of the last read or flush.
    sealed: usize,
    /// Our `close_notify` is queued (rustls has no getter for it).
    notified: bool,
}

impl TlsStream {
    pub(crate) fn new(
        sock: TcpStream,
        peer: SocketAddr,
        config: &Arc<ServerConfig>,
    ) -> io::Result<Self> {
        let tls = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        Ok(TlsStream {
            sock,
            tls,
            peer,
            sealed: 0,
            notified: false,
        })
    }

    pub(crate) fn socket(&self) -> &TcpStream {
        &self.sock
    }

    pub(crate) fn sealed(&self) -> usize {
        self.sealed
    }

    /// Reads plaintext into `dst`, reading the socket (through rustls' own buffer, about
    /// 4 KiB a read) until `dst` is full, the socket has no more for now, or as many
    /// socket bytes as `dst` holds have been read: the same bound per pass as a plain
    /// socket's single read, however little plaintext the records carry (tiny records,
    /// empty ones, key updates). A TLS error is `InvalidData`, after the alert that tells
    /// the peer why was sent.
    pub(crate) fn read_some(&mut self, dst: &mut [u8]) -> io::Result<Got> {
        let (mut n, mut budget, mut drained) = (0, dst.len(), false);
        loop {
            // Plaintext already decrypted comes first.
            match self.tls.reader().read(&mut dst[n..]) {
                // The peer's close_notify: the end of its stream, after what came before.
                Ok(0) => return Ok(self.ended(n)),
                Ok(k) => {
                    n += k;
                    if n == dst.len() {
                        return Ok(Got::Bytes { n, more: true });
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    // Once, when the end itself is reported.
                    if n == 0 && !self.tls.is_handshaking() {
                        debug!("{}: TCP EOF without TLS close_notify", self.peer);
                    }
                    return Ok(self.ended(n));
                }
                Err(e) => return Err(e),
            }
            if drained || budget == 0 {
                return match (n, drained) {
                    (0, true) => Err(io::ErrorKind::WouldBlock.into()),
                    (n, drained) => Ok(Got::Bytes { n, more: !drained }),
                };
            }
            let mut sock = Metered::new(&mut self.sock, budget);
            match self.tls.read_tls(&mut sock) {
                // EOF: rustls noted it; its reader reports it once the plaintext is taken.
                Ok(0) => {}
                Ok(k) => {
                    budget = budget.saturating_sub(k);
                    drained = sock.short;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    continue;
                }
                Err(e) => {
                    // InvalidData: a handshake message over rustls' 64 KiB bound.
                    if e.kind() == io::ErrorKind::InvalidData {
                        debug!("{}: TLS failed: {e}", self.peer);
                    }
                    return Err(e);
                }
            }
            match self.tls.process_new_packets() {
                Ok(state) => self.sealed = state.tls_bytes_to_write(),
                Err(err) => {
                    debug!("{}: TLS failed: {err}", self.peer);
                    // The alert rustls queued for the peer; best effort, the socket is
                    // closed next.
                    let _ = self.tls.write_tls(&mut self.sock);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                }
            }
        }
    }

    /// The peer's stream has ended: the plaintext before the end first (and another
    /// read for the end), else the end.
    fn ended(&self, n: usize) -> Got {
        match n {
            0 => Got::Eof,
            n => Got::Bytes { n, more: true },
        }
    }

    /// Encrypts what `out` queued and writes it, until everything is out or the socket is
    /// full; with `end`, `close_notify` follows the last byte. Each turn seals as much
    /// plaintext as rustls' outbound buffer takes (64 KiB by default) into records of up
    /// to 16 KiB and writes them in one vectored write, so what a pass queued leaves as a
    /// few full records, not a record per frame. What rustls holds unwritten is at most
    /// that buffer, and counts against backpressure through `out`.
    pub(crate) fn flush(&mut self, out: &mut OutBuf, end: bool, lent: &[u8]) -> io::Result<bool> {
        loop {
            // The records already sealed are older than anything still in `out`.
            while self.tls.wants_write() {
                let mut sock = Metered::new(&mut self.sock, usize::MAX);
                match self.tls.write_tls(&mut sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) if sock.short => return self.blocked(out),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.blocked(out),
                    Err(e) => return Err(e),
                }
            }
            if out.queued() > 0 {
                // Takes less than offered once rustls' buffer is full; the loop writes
                // that batch and comes back for the rest.
                out.write_to(&mut self.tls.writer(), lent)?;
            } else if end && !self.notified {
                self.notified = true;
                self.tls.send_close_notify();
            } else {
                break;
            }
        }
        self.sealed = 0;
        out.set_sealed(0);
        Ok(true)
    }

    /// The socket is full with records still to write: counts them for backpressure.
    fn blocked(&mut self, out: &mut OutBuf) -> io::Result<bool> {
        // Only reads this: every complete record that arrived was processed as it was read.
        let state = (self.tls.process_new_packets()).map_err(io::Error::other)?;
        self.sealed = state.tls_bytes_to_write();
        out.set_sealed(self.sealed);
        Ok(false)
    }
}

/// A socket that remembers whether its last read or write moved fewer bytes than offered:
/// for a non-blocking socket, that the receive queue is drained or the send queue full,
/// which saves the extra call that would only see `WouldBlock`. Reads take at most
/// `limit` bytes.
struct Metered<'a> {
    sock: &'a mut TcpStream,
    limit: usize,
    short: bool,
}

impl<'a> Metered<'a> {
    fn new(sock: &'a mut TcpStream, limit: usize) -> Self {
        Metered {
            sock,
            limit,
            short: false,
        }
    }
}

impl Read for Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(self.limit);
        let n = self.sock.read(&mut buf[..len])?;
        self.short = n < len;
        Ok(n)
    }
}

impl Write for Metered<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sock.write(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let n = self.sock.write_vectored(bufs)?;
        self.short = n < bufs.iter().map(|b| b.len()).sum();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::thread;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use rustls::{ClientConfig, ClientConnection, RootCertStore};

    use super::*;

    fn test_file(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/tls")
            .join(name)
    }

    fn client_config() -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(test_file("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// A server session over loopback whose handshake is done on both sides, and the
    /// client's session and socket.
    fn established() -> (TlsStream, (ClientConnection, std::net::TcpStream)) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = thread::spawn(move || {
            let name = "localhost".try_into().unwrap();
            let mut conn = ClientConnection::new(client_config(), name).unwrap();
            let mut sock = std::net::TcpStream::connect(addr).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut sock).unwrap();
            }
            (conn, sock)
        });
        let (sock, peer) = listener.accept().unwrap();
        sock.set_nonblocking(true).unwrap();
        let config =
            crate::tls::server_config_from_pem(test_file("cert.pem"), test_file("key.pem"))
                .unwrap();
        let mut server = TlsStream::new(TcpStream::from_std(sock), peer, &config).unwrap();
        let (mut out, mut buf) = (OutBuf::default(), vec![0; 4096]);
        // Pumps the server's side until it has the client's Finished (a spin on
        // non-blocking calls, bounded by the handshake's few messages).
        while server.tls.is_handshaking() {
            match server.read_some(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => panic!("during the handshake: {other:?}"),
            }
            server.flush(&mut out, false, &[]).unwrap();
        }
        (server, client.join().unwrap())
    }

    #[test]
    fn ciphertext_the_socket_did_not_take_counts_as_pending() {
        let (mut server, _client) = established();
        // The client reads nothing.
        let mut out = OutBuf::default();
        // More than loopback's socket buffers hold: the flush stops on a full socket.
        out.buf.resize(32 << 20, b'x');
        assert!(
            !server.flush(&mut out, false, &[]).unwrap(),
            "the socket filled"
        );
        let sealed = server.sealed();
        assert!(sealed > 0, "records were left in rustls");
        // Sealed only as the socket takes it: at most rustls' 64 KiB buffer and the
        // overhead of its records.
        assert!(sealed <= (64 << 10) + 1024, "{sealed} bytes sealed ahead");
        assert_eq!(out.pending(), out.queued() + sealed);
        assert!(out.queued() > 0 && out.queued() < 32 << 20);
    }

    #[test]
    fn a_read_takes_no_more_socket_bytes_than_its_buffer_however_little_they_carry() {
        let (mut server, (mut client, mut sock)) = established();
        // 5,000 records of one byte each: 23 bytes on the wire per byte of data.
        let records = 5_000;
        let writer = thread::spawn(move || {
            for _ in 0..records / 1_000 {
                for _ in 0..1_000 {
                    client.writer().write_all(b"x").unwrap();
                }
                while client.wants_write() {
                    client.write_tls(&mut sock).unwrap();
                }
            }
            sock
        });
        // All of it is in the kernel's buffers before the server reads.
        let _sock = writer.join().unwrap();
        let (mut got, mut buf) = (0, vec![0; 64 << 10]);
        while got < records {
            match server.read_some(&mut buf) {
                Ok(Got::Bytes { n, .. }) => {
                    // 64 KiB of records at 23 bytes each carry 2,849 bytes, plus one
                    // record's remainder from the read before.
                    assert!(n <= 2_900, "{n} bytes of data from one read");
                    got += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, records);
    }
}
