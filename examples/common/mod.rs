//! What the examples share: logging, the listen address, shutting down on a signal.

use wsreactor::Handle;

/// Logs with `simple_logger` at the level from `RUST_LOG` (default info).
pub fn init_logging() -> std::io::Result<()> {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Info);
    simple_logger::SimpleLogger::new()
        .with_level(level)
        .init()
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
