//! Cost of decoding inbound frames: wsreactor's decoder against tungstenite's
//! `WebSocketContext` (which wsreactor used before) on the same bytes.
//!
//! `cargo bench --bench decode`. Two inputs: one 1 MiB masked text frame read in the 64 KiB
//! pieces the reactor reads (the path for payloads that span reads: unmask, validate as it
//! arrives, collect), and 64 KiB of 32-byte masked text frames in one piece (the chat
//! message path: each frame whole in the read buffer).

// The decoder is crate-private; the bench compiles its modules on their own (they depend on
// std, bytes and tungstenite only). Not every item of them is used here (nor, under
// `--all-targets`, what only their `#[test]` functions use).
#[allow(dead_code, unused_imports)]
#[path = "../src/conn/decode.rs"]
mod decode;
#[allow(dead_code, unused_imports)]
#[path = "../src/message.rs"]
mod message;
#[allow(dead_code, unused_imports)]
#[path = "../src/conn/utf8.rs"]
mod utf8;

/// What the decoder needs of permessage-deflate.
#[path = "../src/deflate/inflate.rs"]
mod deflate;

use std::io::{self, Read, Write};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use decode::{message_in, Decoder, Item, Limits};
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};

const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
const READ: usize = 64 * 1024;
const LIMITS: Limits = Limits {
    max_frame: usize::MAX,
    max_message: usize::MAX,
};

fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// Bytes in, and writes dropped: the stream tungstenite decodes from.
struct Stream<'a>(&'a [u8]);

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Stream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decodes `stream` in `READ`-byte pieces, each copied into one read buffer first as the
/// socket read does (the decoder unmasks in place); returns the messages.
fn decode_all(stream: &[u8]) -> usize {
    let mut decoder = Decoder::default();
    let mut messages = 0;
    let mut rbuf = vec![0; READ];
    for piece in stream.chunks(READ) {
        let buf = &mut rbuf[..piece.len()];
        buf.copy_from_slice(piece);
        let mut at = 0;
        while at < buf.len() {
            // As the connection does: a whole small message first, lent from the buffer.
            if let Some(whole) = decoder.whole_message(&mut buf[at..], LIMITS) {
                let from = at + whole.at;
                let payload = &buf[from..from + whole.len];
                black_box(message_in((payload, from), whole.text, whole.ascii).ok());
                messages += 1;
                at += whole.used;
                continue;
            }
            let (used, item) = decoder.decode_any(&buf[at..], LIMITS);
            match item {
                Some(Item::Message { payload, .. }) => {
                    black_box(payload);
                    messages += 1;
                }
                None => {}
                Some(other) => panic!("unexpected {other:?}"),
            }
            at += used;
        }
    }
    messages
}

/// tungstenite decoding `stream`, through 1 KiB reads as wsreactor configured it.
fn tungstenite_all(stream: &[u8]) -> usize {
    let config = WebSocketConfig::default().read_buffer_size(1024);
    let mut ws = WebSocketContext::new(Role::Server, Some(config));
    let mut input = Stream(stream);
    let mut messages = 0;
    // Until the end of the input, which tungstenite reports as an error once it has
    // handed out every message it buffered.
    while let Ok(msg) = ws.read(&mut input) {
        black_box(msg);
        messages += 1;
    }
    messages
}

fn bench(c: &mut Criterion) {
    let unit = "κόσμε ✓ the quick brown fox ";
    let large = masked_frame(0x1, unit.repeat((1 << 20) / unit.len()).as_bytes());
    let chat: Vec<u8> = std::iter::repeat_with(|| masked_frame(0x1, &unit.as_bytes()[..32]))
        .take(READ / 38)
        .flatten()
        .collect();
    for (group, stream, messages) in [
        ("1 MiB text frame", &large, 1),
        ("32 B text frames", &chat, READ / 38),
    ] {
        assert_eq!(decode_all(stream), messages);
        assert_eq!(tungstenite_all(stream), messages);
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Bytes(stream.len() as u64));
        g.bench_function("wsreactor decoder", |b| {
            b.iter(|| decode_all(black_box(stream)))
        });
        g.bench_function("tungstenite WebSocketContext", |b| {
            b.iter(|| tungstenite_all(black_box(stream)))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
