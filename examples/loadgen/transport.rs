//! What a client connection's bytes travel over: plain TCP (`ws://`), or TLS (`wss://`)
//! with a rustls client (the `tls` feature; the crate's re-exported rustls, so the load
//! generator adds no dependency of its own).
//!
//! Both look the same to the client: `read` fills a buffer with plaintext and comes back
//! short only once the socket has nothing more for now (so a short read still means "wait
//! for the next edge"), and `write` takes what the socket takes now. Over TLS every
//! `write` seals what it is given into as few records as fit rustls' outbound buffer, the
//! way a browser's TLS stack sends what one task queued.

use std::io::{self, Read, Write};
#[cfg(feature = "tls")]
use std::sync::Arc;

use mio::net::TcpStream;
#[cfg(feature = "tls")]
use wsreactor::tls::rustls::{
    self, client::Resumption, pki_types::pem::PemObject, pki_types::CertificateDer,
    pki_types::ServerName, ClientConfig, ClientConnection, RootCertStore,
};

/// How every connection of a run is secured; made once, started per connection.
pub enum Security {
    Plain,
    #[cfg(feature = "tls")]
    Tls {
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    },
}

impl Security {
    /// TLS trusting the CA certificates in the PEM file `ca` for `host` (an IP address or
    /// a DNS name, without the port).
    #[cfg(feature = "tls")]
    pub fn tls(ca: &str, host: &str) -> io::Result<Self> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| invalid(format!("{ca}: {e}")))? {
            let cert = cert.map_err(|e| invalid(format!("{ca}: {e}")))?;
            roots.add(cert).map_err(|e| invalid(format!("{ca}: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Every connection a full handshake, as from as many separate clients: the server
        // keeps the same per-connection state it would for them.
        config.resumption = Resumption::disabled();
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| invalid(format!("{host}: not a server name: {e}")))?;
        Ok(Security::Tls {
            config: Arc::new(config),
            name,
        })
    }

    #[cfg(not(feature = "tls"))]
    pub fn tls(_ca: &str, _host: &str) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "wss:// needs the load generator built with `--features tls`",
        ))
    }

    /// The transport of one new connection.
    pub fn start(&self) -> io::Result<Transport> {
        match self {
            Security::Plain => Ok(Transport::Plain),
            #[cfg(feature = "tls")]
            Security::Tls { config, name } => {
                let conn = ClientConnection::new(Arc::clone(config), name.clone())
                    .map_err(io::Error::other)?;
                Ok(Transport::Tls(Box::new(conn)))
            }
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Security::Plain => "ws",
            #[cfg(feature = "tls")]
            Security::Tls { .. } => "wss",
        }
    }
}

pub enum Transport {
    Plain,
    #[cfg(feature = "tls")]
    Tls(Box<ClientConnection>),
}

impl Transport {
    /// Reads plaintext into `buf`: fewer bytes than it holds only once the socket had no
    /// more; `Ok(0)` at the end of the stream; `WouldBlock` when there is nothing.
    pub fn read(&mut self, sock: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => sock.read(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => read_tls(tls, sock, buf),
        }
    }

    /// Writes from `buf` until all of it is out or the socket is full; returns how many
    /// bytes of `buf` it took. Over TLS it also writes the records rustls has pending (the
    /// handshake's), with `buf` empty too.
    pub fn write(&mut self, sock: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain => write_plain(sock, buf),
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => write_tls(tls, sock, buf),
        }
    }

    /// What was negotiated (`TLSv1_3 TLS13_AES_256_GCM_SHA384 X25519`), or `None` on plain
    /// TCP and before the handshake completed.
    pub fn negotiated(&self) -> Option<String> {
        match self {
            Transport::Plain => None,
            #[cfg(feature = "tls")]
            Transport::Tls(tls) => {
                let version = tls.protocol_version()?;
                let suite = tls.negotiated_cipher_suite()?;
                let group = tls.negotiated_key_exchange_group()?;
                Some(format!(
                    "{version:?} {:?} {:?}",
                    suite.suite(),
                    group.name()
                ))
            }
        }
    }
}

fn write_plain(sock: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut taken = 0;
    while taken < buf.len() {
        match sock.write(&buf[taken..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => taken += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(taken)
}

#[cfg(feature = "tls")]
fn read_tls(tls: &mut ClientConnection, sock: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    loop {
        // Plaintext already decrypted first.
        if n == buf.len() {
            return Ok(n);
        }
        match tls.reader().read(&mut buf[n..]) {
            // The server's close_notify: the end, after what came before it.
            Ok(0) => return Ok(n),
            Ok(k) => {
                n += k;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // The end without close_notify: an end like any other, after the plaintext.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
            Err(e) => return Err(e),
        }
        match tls.read_tls(sock) {
            // EOF: rustls noted it; its reader reports it next turn.
            Ok(0) => {}
            Ok(_) => {
                tls.process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => return Ok(n),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(feature = "tls")]
fn write_tls(tls: &mut ClientConnection, sock: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut taken = 0;
    loop {
        // The records already sealed go before anything more.
        while tls.wants_write() {
            match tls.write_tls(sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(taken),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if taken == buf.len() {
            return Ok(taken);
        }
        // Before the handshake completes rustls keeps this for later (up to its buffer
        // limit); after it, it seals it at once, as much as its outbound buffer takes.
        match tls.writer().write(&buf[taken..])? {
            0 => return Ok(taken),
            k => taken += k,
        }
    }
}
