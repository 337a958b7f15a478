//! Inflating compressed messages as their frames arrive, never past a cap.

use flate2::{Decompress, FlushDecompress, Status};

/// "the payload data of the ... message ... [ends with] 0x00 0x00 0xff 0xff" (RFC 7692
/// §7.2.1): the empty stored block a sync flush ends with, cut by the sender and put back
/// by the receiver.
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The least the output grows by.
const STEP: usize = 16 * 1024;

/// Why a message could not be inflated.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates to more than the cap: the rest is not inflated.
    TooBig,
    /// Not a valid DEFLATE stream.
    Corrupt,
}

/// One connection's inflating side: the decompressor, kept between messages while the
/// client may refer back to earlier ones (context takeover), dropped otherwise.
#[derive(Debug)]
pub(crate) struct Inflate {
    /// Made at the first compressed message; `None` between messages without context
    /// takeover, so an idle connection holds no window.
    stream: Option<Box<Decompress>>,
    /// The client compresses each message on its own (`client_no_context_takeover`).
    no_context_takeover: bool,
    /// The stream ended (a final DEFLATE block) before the message did: what follows in
    /// the message is ignored, and the next message starts a new stream.
    ended: bool,
}

impl Inflate {
    pub(crate) fn new(no_context_takeover: bool) -> Self {
        Inflate {
            stream: None,
            no_context_takeover,
            ended: false,
        }
    }

    /// Inflates `input`, more of the current message's compressed payload, onto `out`,
    /// which may not grow past `cap` bytes: `TooBig` as soon as it would, without
    /// inflating further.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        cap: usize,
    ) -> Result<(), InflateError> {
        if self.ended {
            return Ok(());
        }
        if out.len() > cap {
            return Err(InflateError::TooBig);
        }
        let stream = self
            .stream
            .get_or_insert_with(|| Box::new(Decompress::new(false)));
        let mut input = input;
        loop {
            // Room doubles, up to one byte past the cap, so that passing it is seen.
            if out.len() == out.capacity() {
                let want = (out.len() * 2)
                    .max(out.len() + STEP)
                    .min(cap.saturating_add(1));
                out.reserve_exact(want - out.len());
            }
            let (before_in, before_out) = (stream.total_in(), stream.total_out());
            let status = stream
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            let used = (stream.total_in() - before_in) as usize;
            let made = (stream.total_out() - before_out) as usize;
            input = &input[used..];
            if out.len() > cap {
                return Err(InflateError::TooBig);
            }
            if status == Status::StreamEnd {
                self.ended = true;
                return Ok(());
            }
            // Done when the input is used up and the output had room to spare (nothing
            // held back); stuck when a call moved nothing.
            let full = out.len() == out.capacity();
            if (input.is_empty() && !full) || (used == 0 && made == 0) {
                return Ok(());
            }
        }
    }

    /// The message's last frame is in: flushes what the decompressor holds onto `out`
    /// (RFC 7692 §7.2.2: the receiver appends the four bytes the sender removed), and
    /// readies for the next message.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, cap: usize) -> Result<(), InflateError> {
        let flushed = self.feed(&TAIL, out, cap);
        let restart = self.ended;
        self.ended = false;
        // "the receiving side ... can ... reset the LZ77 sliding window" for a client
        // without context takeover; a stream that ended cannot go on either.
        if self.no_context_takeover || restart || flushed.is_err() {
            self.stream = None;
        }
        flushed
    }
}
