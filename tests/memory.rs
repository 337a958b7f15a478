//! Memory under a client that sends as fast as it can and never reads its replies: with
//! the default limits the server's memory stays bounded, whatever the client sends.
//!
//! Bound asserted: the process's peak resident memory grows by less than 16 MiB while the
//! client tries to push 256 MiB. What the server may hold for that client: its outbound
//! queue (paused at 64 KiB, closed past `max_backpressure` = 1 MiB), the frame being
//! decoded (at most one read's worth here), the reactor's 64 KiB read buffer; the rest of
//! the 16 MiB is allocator and thread-stack slack. The client's unsent bytes sit in kernel
//! socket buffers, which are not resident memory of the process.
//!
//! A test binary of its own with a single test, so no other test's allocations blur the
//! figure; the client runs in this process too, writing one reused 64 KiB chunk.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::thread;

use common::{client, client_frame, raw_upgraded, spawn_server};
use tungstenite::Message;
use wsreactor::{Config, Echo};

const FLOOD: usize = 256 << 20;
const BOUND_KIB: u64 = 16 << 10;

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_client_that_never_reads_cannot_grow_server_memory() {
    let addr = spawn_server(Config::default(), Echo);
    let mut other = client(addr);
    let mut round_trip = || {
        other.send(Message::text("tick")).unwrap();
        assert_eq!(other.read().unwrap(), Message::text("tick"));
    };
    round_trip();
    let baseline = status_kib("VmRSS:");

    let flooder = raw_upgraded(addr);
    let mut writer = flooder.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let chunk: Vec<u8> = (0..64)
            .flat_map(|_| client_frame(true, 0x2, &[0x5a; 1018]))
            .collect();
        let mut sent = 0;
        while sent < FLOOD {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    // Let the server run: each round trip is at least one pass, and each pass may read
    // 64 KiB from the flooder, so 8,192 of them could take in all 256 MiB.
    for _ in 0..(FLOOD >> 16) * 2 {
        if flood.is_finished() {
            break;
        }
        round_trip();
    }
    let (rss, peak) = (status_kib("VmRSS:"), status_kib("VmHWM:"));
    flooder.shutdown(Shutdown::Both).unwrap();
    let sent = flood.join().unwrap();

    eprintln!(
        "client pushed {} MiB; resident {} KiB -> {} KiB (peak {} KiB)",
        sent >> 20,
        baseline,
        rss,
        peak
    );
    assert!(
        peak.saturating_sub(baseline) < BOUND_KIB,
        "peak resident memory grew by {} KiB (bound {BOUND_KIB} KiB)",
        peak - baseline
    );
}
