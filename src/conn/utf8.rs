//! Incremental UTF-8 validation, for text that arrives in pieces (the [`Decoder`](super::decode::Decoder)
//! fails invalid text at its first invalid byte, not when the message is whole).

use std::str;

/// Incremental UTF-8 validation over a stream cut at arbitrary points.
#[derive(Debug, Default)]
pub(crate) struct Utf8Validator {
    /// The start of a code point cut off at the end of the previous input.
    partial: [u8; 4],
    partial_len: usize,
}

impl Utf8Validator {
    /// Validates the next bytes of the text. `Err(n)`: the first `n` bytes continue it
    /// validly and the next byte cannot be part of valid UTF-8. A code point cut off at the
    /// end is kept for the next call, not reported.
    /// No code point is cut off: the text fed so far is valid UTF-8 as it stands.
    pub(crate) fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

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
