//! Fuzz drivers: each takes arbitrary bytes, drives one parser or state machine of the
//! library with them, and panics as soon as an invariant breaks. `fuzz/` runs them under
//! libFuzzer (`scripts/fuzz.sh`); `tests/fuzz_corpus.rs` replays the committed corpus and
//! every input that once broke one, on every test run.
//!
//! They live inside the crate, behind the `fuzzing` feature (which is not part of the API),
//! because what they check is internal: the connection's outbound queue and deadline, the
//! request parser's verdict, the engine's sessions. The state machines take time as an
//! argument, so a driver moves a clock of its own and needs no socket.

pub mod connection;
#[cfg(feature = "socketio")]
pub mod eio_packets;
#[cfg(feature = "socketio")]
pub mod engine;
pub mod frames;
pub mod request;
#[cfg(feature = "socketio")]
pub mod sio_packets;
pub(crate) mod wire;

use arbitrary::Unstructured;

/// Chunk ends over `len` bytes, from a small xorshift generator seeded by `seed`: chunks of
/// 1 to 64 bytes, so single bytes and line-straddling splits both occur.
pub(crate) fn split_points(seed: u8, len: usize) -> Vec<usize> {
    let mut state = u32::from(seed) | 0x100;
    let mut ends = Vec::new();
    let mut at = 0;
    while at < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        at = (at + 1 + (state % 64) as usize).min(len);
        ends.push(at);
    }
    ends
}

/// A byte string in a script: a `u16` length (little-endian), then that many bytes, or what
/// is left of the input if it ends first, so a cut or mutated script still reads.
pub(crate) fn read_bytes<'a>(u: &mut Unstructured<'a>) -> arbitrary::Result<&'a [u8]> {
    let len = usize::from(u.arbitrary::<u16>()?).min(u.len());
    u.bytes(len)
}

/// Writes a byte string as [`read_bytes`] reads it (at most 64 KiB of it), for seeds.
pub(crate) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}
