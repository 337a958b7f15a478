//! Cost of the frame guard (header checks, fail-fast UTF-8) on the read path, against the
//! work tungstenite does on the same bytes anyway (copy, unmask, validate).
//!
//! `cargo bench --bench utf8_guard`. Each input is one 1 MiB masked frame, scanned in the
//! 64 KiB pieces the reactor reads.

// The guard is crate-private; the bench compiles its modules on their own (they depend on
// std and tungstenite only). Not every item of them is used here (nor, under
// `--all-targets`, what only their `#[test]` functions use).
#[allow(dead_code, unused_imports)]
#[path = "../src/conn/guard.rs"]
mod guard;
#[allow(dead_code, unused_imports)]
#[path = "../src/conn/utf8.rs"]
mod utf8;

use std::io::{self, Read, Write};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use guard::FrameGuard;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};

const LEN: usize = 1 << 20;
const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
const READ: usize = 64 * 1024;

fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode, 0x80 | 127];
    f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
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

fn text(unit: &str) -> Vec<u8> {
    unit.repeat(LEN / unit.len()).into_bytes()
}

fn bench(c: &mut Criterion) {
    let ascii = text("the quick brown fox jumps over the lazy dog. ");
    let greek = text("κόσμε ✓ ");
    let mut g = c.benchmark_group("1 MiB frame");
    g.throughput(Throughput::Bytes(LEN as u64));
    for (name, opcode, payload) in [
        ("guard text ascii", 0x1, &ascii),
        ("guard text multibyte", 0x1, &greek),
        ("guard binary", 0x2, &ascii),
    ] {
        let frame = masked_frame(opcode, payload);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut guard = FrameGuard::new(usize::MAX, usize::MAX);
                for piece in frame.chunks(READ) {
                    guard.scan(black_box(piece)).expect("valid");
                }
            })
        });
    }
    // The read path without the guard: tungstenite decoding the same frame (copy, unmask,
    // validate), through 1 KiB reads as the server configures it.
    for (name, payload) in [
        ("tungstenite read text ascii", &ascii),
        ("tungstenite read text multibyte", &greek),
    ] {
        let frame = masked_frame(0x1, payload);
        g.bench_function(name, |b| {
            b.iter(|| {
                let config = WebSocketConfig::default().read_buffer_size(1024);
                let mut ws = WebSocketContext::new(Role::Server, Some(config));
                black_box(ws.read(&mut Stream(&frame)).expect("a message"))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
