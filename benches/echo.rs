//! Echo throughput in messages/s against an in-process server over loopback, for regressions.
//!
//! `cargo bench --bench echo`. The server runs on a thread of this process; the client side
//! is the load generator's (`examples/loadgen`), which keeps a fixed number of messages in
//! flight per connection and checks every echo byte for byte. Criterion reports "elements"
//! per second: one element is one verified echo. For figures comparable with other servers
//! use `scripts/bench-peers.sh`, which runs the server in its own process on its own core.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wsreactor::{Echo, Server};

// The load generator's client and event loop, shared rather than written twice; the bench
// uses only part of their surface.
#[allow(dead_code)]
#[path = "../examples/loadgen/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "../examples/loadgen/fleet.rs"]
mod fleet;
#[allow(dead_code)]
#[path = "../examples/loadgen/stats.rs"]
mod stats;
#[allow(dead_code)]
#[path = "../examples/loadgen/transport.rs"]
mod transport;

use client::Workload;
use fleet::Fleet;
use transport::Security;

/// (name, connections, messages in flight per connection, payload bytes, binary)
const CASES: [(&str, usize, usize, usize, bool); 3] = [
    ("1x1x32B_text", 1, 1, 32, false),
    ("100x16x32B_text", 100, 16, 32, false),
    ("10x4x16KiB_binary", 10, 4, 16 * 1024, true),
];

fn spawn_server() -> SocketAddr {
    let server = Server::bind("127.0.0.1:0").expect("bind");
    let addr = server.local_addr().expect("local_addr");
    thread::spawn(move || server.run(Echo));
    addr
}

fn echo(c: &mut Criterion) {
    let addr = spawn_server();
    let mut group = c.benchmark_group("echo");
    group.throughput(Throughput::Elements(1));
    for (name, conns, inflight, size, binary) in CASES {
        let host = addr.to_string();
        let workload = Workload::new(size, binary, inflight, u64::MAX, &host, "/", false);
        let mut fleet = Fleet::new(addr, conns, workload, Security::Plain).expect("poll");
        fleet.connect_all(Duration::from_secs(20)).expect("connect");
        assert_eq!(fleet.opened, conns, "{:?}", fleet.failures);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let target = fleet.tally.echoes + iters;
                fleet
                    .run_while(|f| f.tally.echoes < target && f.failures.is_empty())
                    .expect("poll");
                assert!(fleet.failures.is_empty(), "{:?}", fleet.failures);
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);
