//! TLS (`wss://`, `https://`), feature `tls`: a rustls server configuration from PEM files.
//!
//! The server takes any `rustls::ServerConfig` through [`Config::tls`](crate::Config::tls);
//! [`server_config_from_pem`] builds the common one, a certificate chain and its key read
//! from files, with rustls' safe defaults (TLS 1.3 and 1.2) and the `aws-lc-rs` crypto provider.
//! [`rustls`] is re-exported so that a configuration built by hand uses the same version.
//!
//! ```no_run
//! use wsreactor::{tls, Config, Server};
//!
//! fn main() -> std::io::Result<()> {
//!     let tls = tls::server_config_from_pem("cert.pem", "key.pem")?;
//!     let server = Server::bind_with("127.0.0.1:8443", Config::default().tls(tls))?;
//!     server.run(|msg| Some(msg)) // wss://127.0.0.1:8443
//! }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Why [`server_config_from_pem`] failed. `Into<std::io::Error>` (kind `InvalidInput`,
/// or the kind of the I/O error that stopped reading a file), for `main` functions that
/// return `io::Result`.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The file could not be read, or is not valid PEM.
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong (`pem::Error::Io` when reading it failed).
        source: pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY` section).
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair: a key that does not match the certificate, or a key type
    /// the crypto provider does not support.
    Rejected(rustls::Error),
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsConfigError::Pem { path, source } => write!(f, "{}: {source}", path.display()),
            TlsConfigError::NoCertificate { path } => {
                write!(f, "{}: no PEM certificate found", path.display())
            }
            TlsConfigError::NoKey { path } => {
                write!(f, "{}: no PEM private key found", path.display())
            }
            TlsConfigError::Rejected(e) => write!(f, "certificate and key refused: {e}"),
        }
    }
}

impl std::error::Error for TlsConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsConfigError::Pem { source, .. } => Some(source),
            TlsConfigError::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TlsConfigError> for std::io::Error {
    fn from(err: TlsConfigError) -> Self {
        let kind = match &err {
            TlsConfigError::Pem {
                source: pem::Error::Io(e),
                ..
            } => e.kind(),
            _ => std::io::ErrorKind::InvalidInput,
        };
        std::io::Error::new(kind, err)
    }
}

/// A server configuration serving the certificate chain in `cert_path` (PEM, the server's
/// certificate first, then its intermediates) with the private key in `key_path` (PEM,
/// PKCS#8, PKCS#1 or SEC1): rustls' safe default protocol versions, cipher suites and key
/// exchanges (X25519MLKEM768 first), with the `aws-lc-rs` provider; no client certificates, no ALPN (clients then speak
/// HTTP/1.1, which is all this server speaks).
///
/// # Errors
/// A file that cannot be read or parsed, a file without a certificate or a key, or a pair
/// rustls refuses ([`TlsConfigError`]).
pub fn server_config_from_pem(
    cert_path: impl AsRef<Path>,
    key_path: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
    let pem_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsConfigError::Pem { path, source }
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(pem_error(cert_path))?;
    if certs.is_empty() {
        let path = cert_path.to_owned();
        return Err(TlsConfigError::NoCertificate { path });
    }
    let key = match PrivateKeyDer::from_pem_file(key_path) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            let path = key_path.to_owned();
            return Err(TlsConfigError::NoKey { path });
        }
        Err(e) => return Err(pem_error(key_path)(e)),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(TlsConfigError::Rejected)?;
    Ok(Arc::new(config))
}
