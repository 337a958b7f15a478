//! permessage-deflate (RFC 7692): compressed messages, negotiated per connection.
//!
//! tungstenite (0.30, the newest release) does not implement the extension, so it is ours,
//! a layer beside the frame codec: `offer.rs` answers the client's offer in the upgrade,
//! `inflate.rs` decompresses a message whose first frame has RSV1 set (the decoder feeds
//! it, output capped at `max_message_size`), `compress.rs` compresses what the server sends
//! above [`DeflateConfig::threshold`]. DEFLATE itself is flate2's (on zlib-rs).
//!
//! Memory is where the extension costs. Without context takeover (the server's side by
//! default) a message is compressed on its own, so one compressor per reactor serves every
//! connection and a broadcast is compressed once for all who negotiated the same window;
//! with it, each connection keeps its own compressor (zlib-rs at level 6: 371 KiB with a
//! 15-bit window, 245 KiB with 9 bits, mostly hash tables). The client's side keeps an
//! inflater per connection from its first compressed message on while the client may
//! refer back to earlier messages (46 KiB: the 32 KiB window and the state); with
//! `client_no_context_takeover` it is freed after every message. (Figures: bytes
//! allocated, counted by a global allocator, flate2 1.1.11 on zlib-rs 0.6.9.)

mod compress;
mod inflate;
mod offer;

pub(crate) use compress::{Compressor, Shared};
pub(crate) use inflate::{Inflate, InflateError};
pub(crate) use offer::negotiate;

/// permessage-deflate settings ([`Config::deflate`](crate::Config::deflate)); every client
/// that offers the extension gets it with these.
///
/// ```
/// use wsreactor::{Config, DeflateConfig};
/// let config = Config::default().deflate(DeflateConfig::default().threshold(512));
/// assert_eq!(config.get_deflate().map(|d| d.get_threshold()), Some(512));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    pub(crate) threshold: usize,
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_max_window_bits: u8,
    pub(crate) level: u32,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            threshold: 1024,
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            level: 6,
        }
    }
}

impl DeflateConfig {
    crate::config::setters! {
        /// Smallest message, in bytes, the server compresses. Default 1,024 (engine.io's
        /// and Node `ws`'s): below it the frame header and the DEFLATE block cost about as
        /// much as they save, and compressing costs CPU. Received messages are inflated
        /// whatever their size.
        threshold / get_threshold: usize,
        /// Compress each message on its own (`server_no_context_takeover` in every answer).
        /// Default `true`: one compressor per reactor serves all connections and a
        /// broadcast is compressed once; `false` keeps a compressor per connection (371 KiB
        /// with a 15-bit window at level 6) for better ratios on similar messages, and a
        /// broadcast is compressed for each recipient. A client that asks for it gets it
        /// either way (RFC 7692 §7.1.1.1).
        server_no_context_takeover / get_server_no_context_takeover: bool,
        /// Ask clients to compress each message on their own (`client_no_context_takeover`
        /// in every answer). Default `false`: the client may refer back to its earlier
        /// messages, so each connection keeps an inflater between messages (46 KiB, from
        /// its first compressed message on); `true` frees it after every message.
        client_no_context_takeover / get_client_no_context_takeover: bool,
        /// The server's LZ77 window, 9 to 15 bits. Default 15. A client that offers a
        /// smaller `server_max_window_bits` gets that; one that offers 8 is declined (the
        /// zlib format's raw streams start at 9), so it talks uncompressed. Checked by
        /// [`Server::bind_with`](crate::Server::bind_with).
        server_max_window_bits / get_server_max_window_bits: u8,
        /// zlib compression level, 0 (stored) to 9. Default 6, zlib's and Node `ws`'s.
        /// Checked by [`Server::bind_with`](crate::Server::bind_with).
        level / get_level: u32,
    }

    /// Why the settings cannot be used, if they cannot.
    pub(crate) fn invalid(&self) -> Option<&'static str> {
        if !(9..=15).contains(&self.server_max_window_bits) {
            return Some("deflate server_max_window_bits must be 9 to 15");
        }
        if self.level > 9 {
            return Some("deflate level must be 0 to 9");
        }
        None
    }
}

/// What one connection negotiated (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// The server's LZ77 window in bits (`server_max_window_bits`), 9 to 15.
    pub(crate) server_window: u8,
    /// Each message the server sends is compressed on its own.
    pub(crate) server_no_context_takeover: bool,
    /// Each message the client sends is compressed on its own.
    pub(crate) client_no_context_takeover: bool,
    /// From the settings: messages this long or longer are compressed.
    pub(crate) threshold: usize,
    /// From the settings: the zlib level.
    pub(crate) level: u32,
}
