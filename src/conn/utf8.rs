//! Incremental UTF-8 validation of masked text, for the [`FrameGuard`](super::guard::FrameGuard).

use std::str;

/// Unmasked payload validated per step (stack bytes); a multiple of 8 so every step starts
/// at the same mask phase.
pub(crate) const SCRATCH: usize = 2048;

/// The scratch buffer for payloads this small or smaller.
const SMALL_SCRATCH: usize = 128;

/// Incremental UTF-8 validation over a stream cut at arbitrary points.
#[derive(Debug, Default)]
pub(crate) struct Utf8Validator {
    /// The start of a code point cut off at the end of the previous input.
    partial: [u8; 4],
    partial_len: usize,
}

impl Utf8Validator {
    /// Unmasks `masked` (the mask rotated to its first byte) and validates it.
    pub(crate) fn feed_masked(&mut self, masked: &[u8], mask: [u8; 4]) -> Result<(), usize> {
        // The stack buffer is zeroed before use: a small payload (the common chat message)
        // gets a small one, so it does not pay for clearing 2 KiB.
        let (mut small, mut large);
        let scratch: &mut [u8] = if masked.len() <= SMALL_SCRATCH {
            small = [0u8; SMALL_SCRATCH];
            &mut small
        } else {
            large = [0u8; SCRATCH];
            &mut large
        };
        for (i, chunk) in masked.chunks(SCRATCH).enumerate() {
            let plain = &mut scratch[..chunk.len()];
            unmask(plain, chunk, mask);
            self.feed(plain).map_err(|valid| i * SCRATCH + valid)?;
        }
        Ok(())
    }

    /// Validates the next bytes of the text. `Err(n)`: the first `n` bytes continue it
    /// validly and the next byte cannot be part of valid UTF-8. A code point cut off at the
    /// end is kept for the next call, not reported.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(), usize> {
        let mut rest = input;
        // Finish a code point cut off last time, one byte at a time (at most three).
        while self.partial_len > 0 {
            let Some((&byte, after)) = rest.split_first() else {
                return Ok(());
            };
            self.partial[self.partial_len] = byte;
            self.partial_len += 1;
            match str::from_utf8(&self.partial[..self.partial_len]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_none() => {}
                Err(_) => return Err(input.len() - rest.len()),
            }
            rest = after;
        }
        let done = input.len() - rest.len();
        match str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(done + e.valid_up_to()),
            Err(e) => {
                // The input ends inside a code point that may still complete.
                let tail = &rest[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                Ok(())
            }
        }
    }
}

/// `dst = src ^ mask` (RFC 6455 §5.3), eight bytes at a time.
fn unmask(dst: &mut [u8], src: &[u8], mask: [u8; 4]) {
    let mask8 = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut dst8 = dst.chunks_exact_mut(8);
    let mut src8 = src.chunks_exact(8);
    for (d, s) in (&mut dst8).zip(&mut src8) {
        let word = u64::from_ne_bytes(s.try_into().unwrap_or_default());
        d.copy_from_slice(&(word ^ mask8).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so at mask phase 0.
    for (i, (d, s)) in dst8
        .into_remainder()
        .iter_mut()
        .zip(src8.remainder())
        .enumerate()
    {
        *d = s ^ mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_agrees_with_std_however_the_input_is_cut() {
        let samples: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "ascii, then 𝄞 and € and ü".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited",
            b"\xed\xa0\x80",     // a surrogate
            b"\xc0\x80",         // overlong
            b"ok\x80",           // stray continuation byte
            b"\xff",             // never valid
            b"\xe2\x82A",        // a code point cut short by another
            b"\xf0\x9f\x98",     // cut off at the end: not (yet) invalid
            b"\xe2\x82\xac\xe2", // a whole code point, then the start of another
        ];
        for sample in samples {
            // Where std says the invalid sequence starts, and the byte that ends it.
            let invalid = match str::from_utf8(sample) {
                Err(e) => e
                    .error_len()
                    .map(|len| (e.valid_up_to(), e.valid_up_to() + len)),
                Ok(_) => None,
            };
            for cut in 0..=sample.len() {
                for cut2 in cut..=sample.len() {
                    let mut v = Utf8Validator::default();
                    let mut seen = 0;
                    let mut passed = None;
                    for piece in [&sample[..cut], &sample[cut..cut2], &sample[cut2..]] {
                        if let Err(valid) = v.feed(piece) {
                            passed = Some(seen + valid);
                            break;
                        }
                        seen += piece.len();
                    }
                    let at = format!("{sample:x?} cut at {cut}, {cut2}");
                    match (invalid, passed) {
                        (None, None) => {}
                        (Some((start, end)), Some(n)) => {
                            assert!((start..=end).contains(&n), "{at}: passed {n}");
                            // What was let through is still a valid (maybe unfinished) start.
                            let through = str::from_utf8(&sample[..n]);
                            assert!(through.map_or_else(|e| e.error_len().is_none(), |_| true));
                        }
                        _ => panic!("{at}: std says {invalid:?}, validator {passed:?}"),
                    }
                }
            }
        }
    }
}
