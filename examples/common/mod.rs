//! What the examples share: logging, the listen address and TLS, shutting down on a signal.

use std::io;

use wsreactor::{Config, DeflateConfig, Handle, Spread};

/// Logs with `env_logger`: `RUST_LOG` takes its usual filters (`debug`, `echo=debug`,
/// `wsreactor=trace,info`); without it, `info` for everything.
pub fn init_logging() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .try_init()
        .map_err(std::io::Error::other)
}

/// The first argument that is not an option (`--tls CERT KEY`, `--reactors N`,
/// `--deflate`), else `WSREACTOR_ADDR`, else `default`.
pub fn listen_addr(default: &str) -> String {
    let mut args = std::env::args().skip(1);
    let mut first = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls" => drop(args.nth(1)),
            "--reactors" => drop(args.next()),
            "--deflate" => {}
            _ => drop(first.get_or_insert(arg)),
        }
    }
    first
        .or_else(|| std::env::var("WSREACTOR_ADDR").ok())
        .unwrap_or_else(|| default.to_owned())
}

/// `config` with the reactors asked for: `--reactors N` (after the address), else
/// `WSREACTOR_REACTORS`, else 1 (`0`: one per core); `WSREACTOR_SPREAD=handoff` has
/// reactor 0 hand connections to the others in turn (`Spread::HandOff`) instead of the
/// kernel spreading them by port.
pub fn with_reactors(config: Config) -> io::Result<Config> {
    let mut args = std::env::args()
        .skip_while(|arg| arg != "--reactors")
        .skip(1);
    let value = match std::env::args().any(|arg| arg == "--reactors") {
        true => args.next(),
        false => std::env::var("WSREACTOR_REACTORS").ok(),
    };
    let reactors = match value {
        None => 1,
        Some(value) => value.parse().map_err(|_| {
            let why = format!("--reactors (or WSREACTOR_REACTORS) takes a number, not {value:?}");
            io::Error::new(io::ErrorKind::InvalidInput, why)
        })?,
    };
    let config = config.reactors(reactors);
    match std::env::var("WSREACTOR_SPREAD").as_deref() {
        Ok("handoff") => Ok(config.spread(Spread::HandOff)),
        _ => Ok(config),
    }
}

/// permessage-deflate's default settings when asked for: `--deflate` (after the
/// address), or `WSREACTOR_DEFLATE=1`.
pub fn deflate() -> Option<DeflateConfig> {
    let asked = std::env::args().skip(1).any(|arg| arg == "--deflate")
        || std::env::var("WSREACTOR_DEFLATE").as_deref() == Ok("1");
    asked.then(DeflateConfig::default)
}

/// The certificate chain and key files of `--tls CERT KEY`, else of `WSREACTOR_TLS_CERT`
/// and `WSREACTOR_TLS_KEY` (both set), else none.
fn tls_files() -> io::Result<Option<(String, String)>> {
    let mut args = std::env::args().skip_while(|arg| arg != "--tls").skip(1);
    if std::env::args().any(|arg| arg == "--tls") {
        return match (args.next(), args.next()) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "usage: --tls CERT KEY (PEM files)",
            )),
        };
    }
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    Ok(var("WSREACTOR_TLS_CERT").zip(var("WSREACTOR_TLS_KEY")))
}

/// `config`, serving TLS when asked to (`--tls CERT KEY`, or the two environment
/// variables); the second value is whether it does. `scripts/make-cert.sh` makes a pair
/// for local use. Asking for TLS in a build without the `tls` feature is an error.
pub fn with_tls(config: Config) -> io::Result<(Config, bool)> {
    let Some((cert, key)) = tls_files()? else {
        return Ok((config, false));
    };
    #[cfg(feature = "tls")]
    return Ok((
        config.tls(wsreactor::tls::server_config_from_pem(cert, key)?),
        true,
    ));
    #[cfg(not(feature = "tls"))]
    {
        let _ = (cert, key);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "built without TLS: add `--features tls`",
        ))
    }
}

/// Ctrl-C or SIGTERM shuts the server down gracefully (close 1001 to every client).
pub fn shutdown_on_signal(handle: Handle) -> std::io::Result<()> {
    ctrlc::set_handler(move || {
        log::info!("shutting down");
        let _ = handle.shutdown();
    })
    .map_err(std::io::Error::other)
}
