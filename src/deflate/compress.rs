//! Compressing outbound messages: one connection's own compressor (context takeover), or
//! the reactor's, shared by every connection that negotiated no context takeover.

use flate2::{Compress, Compression, FlushCompress};

use super::inflate::TAIL;
use super::Params;
use crate::Bytes;

/// One DEFLATE stream of messages.
#[derive(Debug)]
pub(crate) struct Compressor {
    stream: Compress,
    /// Each message starts a new window (`server_no_context_takeover`).
    no_context_takeover: bool,
}

impl Compressor {
    pub(crate) fn new(window_bits: u8, level: u32, no_context_takeover: bool) -> Self {
        let level = Compression::new(level);
        Compressor {
            stream: Compress::new_with_window_bits(level, false, window_bits),
            no_context_takeover,
        }
    }

    /// `payload` compressed as one message's payload (RFC 7692 §7.2.1): the stream
    /// flushed to a byte boundary, without the four bytes that flush ends with.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Bytes {
        let stream = &mut self.stream;
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let mut input = payload;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.len());
            }
            let (before_in, before_out) = (stream.total_in(), stream.total_out());
            // Compressing into a vector only fails on invalid parameters, which `new`
            // rules out; an error would leave the output cut short, and the peer would
            // fail the connection on it.
            if stream
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            let used = (stream.total_in() - before_in) as usize;
            let made = (stream.total_out() - before_out) as usize;
            input = &input[used..];
            // Done when the input is used up and the flush fit (the output has room).
            if (input.is_empty() && out.len() < out.capacity()) || (used == 0 && made == 0) {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.no_context_takeover {
            self.stream.reset();
        }
        out.into()
    }
}

/// A window size and a level: what a message compressed without context takeover depends on.
type Stream = (u8, u32);

/// The reactor's compressors for connections without server context takeover, one per
/// window size and level in use, and how many messages were compressed.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    compressors: Vec<(Stream, Compressor)>,
    /// The payload compressed last, and what it became for each window and level: a
    /// message sent to many connections one after the other (a publish, a Socket.IO
    /// broadcast, which hand every recipient the same bytes) is compressed once. Holds at
    /// most one message, until the next is compressed.
    recent: Option<(Bytes, Vec<(Stream, Bytes)>)>,
    compressed: u64,
}

impl Shared {
    /// `payload` compressed for a connection that negotiated `params`: compressed now and
    /// counted, or as it was for the previous recipient of the same bytes.
    pub(crate) fn compress(&mut self, params: &Params, payload: &Bytes) -> Bytes {
        let key: Stream = (params.server_window, params.level);
        // The same allocation, held here since it was compressed, so the same bytes.
        let same = |(last, _): &(Bytes, _)| {
            last.as_ptr() == payload.as_ptr() && last.len() == payload.len()
        };
        if !self.recent.as_ref().is_some_and(same) {
            self.recent = None;
        }
        let (_, made) = (self.recent).get_or_insert_with(|| (payload.clone(), Vec::new()));
        if let Some((_, compressed)) = made.iter().find(|(k, _)| *k == key) {
            return compressed.clone();
        }
        self.compressed += 1;
        let at = match (self.compressors.iter()).position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let compressor = Compressor::new(key.0, key.1, true);
                self.compressors.push((key, compressor));
                self.compressors.len() - 1
            }
        };
        let compressed = self.compressors[at].1.compress(payload);
        made.push((key, compressed.clone()));
        compressed
    }

    /// Counts a message a connection compressed with its own compressor.
    pub(crate) fn count(&mut self) {
        self.compressed += 1;
    }

    /// Messages compressed so far.
    pub(crate) fn compressed(&self) -> u64 {
        self.compressed
    }
}

#[cfg(test)]
mod tests {
    use super::super::Inflate;
    use super::*;

    /// Inflates one message as a receiver does.
    fn inflate(inflate: &mut Inflate, compressed: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        inflate.feed(compressed, &mut out, 1 << 24).unwrap();
        inflate.finish(&mut out, 1 << 24).unwrap();
        out
    }

    #[test]
    fn messages_round_trip_with_and_without_context_takeover() {
        let text = "the same words again and again, ".repeat(500);
        for (bits, no_takeover) in [(15, true), (15, false), (9, true), (9, false)] {
            let mut c = Compressor::new(bits, 6, no_takeover);
            let mut d = Inflate::new(false);
            let first = c.compress(text.as_bytes());
            let second = c.compress(text.as_bytes());
            assert!(first.len() < text.len() / 10, "{bits}: {}", first.len());
            assert!(!first.ends_with(&TAIL));
            // With context takeover the second refers back to the first.
            assert_eq!(second.len() < first.len(), !no_takeover, "{bits}");
            assert_eq!(inflate(&mut d, &first), text.as_bytes());
            assert_eq!(inflate(&mut d, &second), text.as_bytes());
        }
        // Incompressible and empty payloads round-trip too.
        let noise: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut c = Compressor::new(15, 6, true);
        let mut d = Inflate::new(true);
        assert_eq!(inflate(&mut d, &c.compress(&noise)), noise);
        assert_eq!(inflate(&mut d, &c.compress(b"")), b"");
    }

    #[test]
    fn the_shared_compressor_counts_and_keeps_windows_apart() {
        let mut shared = Shared::default();
        let text = "abcabcabd".repeat(300);
        let (params, _) =
            super::super::negotiate(["permessage-deflate"], &Default::default()).unwrap();
        let small = Params {
            server_window: 10,
            ..params
        };
        let (one, other) = (Bytes::from(text.clone()), Bytes::from(text.clone()));
        let a = shared.compress(&params, &one);
        let b = shared.compress(&params, &other);
        assert_eq!(a, b, "no context carried from one message to the next");
        assert_eq!(shared.compressed(), 2, "the same text, but other bytes");
        // The same bytes again, for either window: compressed once per window.
        let c = shared.compress(&small, &other);
        assert_eq!(shared.compress(&params, &other), b);
        assert_eq!(shared.compress(&small, &other.clone()), c);
        assert_eq!(shared.compressed(), 3);
        assert_eq!(shared.compressors.len(), 2);
        assert_eq!(inflate(&mut Inflate::new(true), &c), text.as_bytes());
    }
}
