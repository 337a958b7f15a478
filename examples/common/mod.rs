//! What the examples share: logging, the listen address, shutting down on a signal.

use wsreactor::Handle;

/// Logs with `env_logger`: `RUST_LOG` takes its usual filters (`debug`, `echo=debug`,
/// `wsreactor=trace,info`); without it, `info` for everything.
pub fn init_logging() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .try_init()
        .map_err(std::io::Error::other)
}

/// The first argument, else `WSREACTOR_ADDR`, else `default`.
pub fn listen_addr(default: &str) -> String {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("WSREACTOR_ADDR").ok())
        .unwrap_or_else(|| default.to_owned())
}

/// Ctrl-C or SIGTERM shuts the server down gracefully (close 1001 to every client).
pub fn shutdown_on_signal(handle: Handle) -> std::io::Result<()> {
    ctrlc::set_handler(move || {
        log::info!("shutting down");
        let _ = handle.shutdown();
    })
    .map_err(std::io::Error::other)
}
