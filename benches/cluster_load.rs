//! Cross-node broadcast load for `scripts/bench-cluster.sh`: one publisher on the first
//! node of a Socket.IO cluster joined through Redis, the room `all` with members on every
//! node, the same load against any cluster of `examples/socketio_cluster.rs` nodes or of
//! their Node twins (`tests/cluster/node-server.mjs`).
//!
//! ```text
//! cargo bench --bench cluster_load -- ADDRS PIDS [MEMBERS_PER_NODE] [PUBLISHES] [WINDOW] [SIZE] [THREADS]
//! ```
//!
//! `ADDRS` and `PIDS` are the nodes' addresses and process ids, comma-separated, in the
//! same order. `MEMBERS_PER_NODE` clients (default 500) connect to each node; every socket
//! joins `all` there. One more client, on the first node, publishes: an event
//! `broadcast` with one string argument of `SIZE` bytes (default 32), which the node
//! emits to `all` on every node. The string carries the publish's sequence number and its
//! send time (nanoseconds since the run started, on this process's monotonic clock), so
//! each member's receipt gives the delivery latency on the same clock.
//!
//! Publishes go as fast as they are delivered: at most `WINDOW` (default 16) are on their
//! way at once, a publish counting as delivered when every member (the publisher too, as
//! it is in `all`) has received it. A first publish, not measured, checks that every member
//! is reachable. Then `PUBLISHES` (default 2000) are measured: deliveries per second, per
//! second of the nodes' CPU time (the sum over the nodes, `/proc/PID/stat`, all threads),
//! and p50 / p99 delivery latency. `THREADS` (default 2) threads read the members'
//! sockets (mio, edge-triggered), so the client side is not what limits the rate.
//!
//! Every delivery is checked: each member must receive every publish exactly once and
//! nothing else but Engine.IO pings; a duplicate, a stranger or a publish still missing
//! 10 s after the last one fails the run. Prints one line of `key=value` figures (with
//! `REDIS_PID` set, Redis's CPU time too), the load's own CPU use (near 100 %: it may be
//! what limits the rate) and how much CPU the rest of the machine used.

#[path = "../examples/loadgen/proc.rs"]
mod proc;
#[path = "common/sio.rs"]
mod sio;

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use sio::{text_frame, Client};

/// What a member's broadcast frames start and end with around the published string.
const PREFIX: &[u8] = br#"42["broadcast",""#;
const SUFFIX: &[u8] = br#""]"#;
/// The published string: sequence number, a space, send time in ns, padding to SIZE.
const SEQ_DIGITS: usize = 10;
const TIME_DIGITS: usize = 20;
const MIN_SIZE: usize = SEQ_DIGITS + 1 + TIME_DIGITS;
/// How long the publisher waits for progress before it declares deliveries lost.
const STALL: Duration = Duration::from_secs(10);

/// What the reading threads and the publisher share.
struct Shared {
    /// The run's clock: send and receive times are measured from it.
    epoch: Instant,
    /// How many members must receive each publish.
    members: u32,
    /// Per publish (index = sequence number), how many members have received it.
    received: Vec<AtomicU32>,
    /// How many publishes every member has received.
    delivered: AtomicU64,
    publisher: Thread,
    stop: AtomicBool,
}

/// One member's socket and what it has received.
struct Member {
    client: Client,
    /// One bit per publish: received.
    seen: Vec<u64>,
    count: u64,
}

impl Member {
    fn new(client: Client, publishes: usize) -> Self {
        Member {
            client,
            seen: vec![0; publishes.div_ceil(64)],
            count: 0,
        }
    }

    /// Reads what the socket holds and checks each frame; the latencies of measured
    /// publishes (all but the first) go to `latencies`, in nanoseconds.
    fn read(&mut self, shared: &Shared, size: usize, latencies: &mut Vec<u64>) -> io::Result<()> {
        self.client.fill_until_would_block()?;
        let (seen, count) = (&mut self.seen, &mut self.count);
        let mut wrong = None;
        self.client.take_frames(|payload| {
            if payload == b"2" {
                return;
            }
            match parse(payload, size) {
                Some((seq, sent)) if seq < shared.received.len() => {
                    let (word, bit) = (seq / 64, 1u64 << (seq % 64));
                    if seen[word] & bit != 0 {
                        wrong.get_or_insert_with(|| format!("publish {seq} received twice"));
                        return;
                    }
                    seen[word] |= bit;
                    *count += 1;
                    let now = shared.epoch.elapsed().as_nanos() as u64;
                    if seq > 0 {
                        latencies.push(now.saturating_sub(sent));
                    }
                    let got = shared.received[seq].fetch_add(1, Ordering::AcqRel) + 1;
                    if got == shared.members {
                        shared.delivered.fetch_add(1, Ordering::AcqRel);
                        shared.publisher.unpark();
                    }
                }
                _ => {
                    let p = String::from_utf8_lossy(payload);
                    wrong.get_or_insert_with(|| format!("not a publish: {p}"));
                }
            }
        })?;
        wrong.map_or(Ok(()), |w| Err(io::Error::other(w)))
    }
}

/// The published string for publish `seq` sent at `sent` ns, `size` bytes.
fn message(seq: usize, sent: u64, size: usize) -> Vec<u8> {
    let mut m = format!("{seq:0SEQ_DIGITS$} {sent:0TIME_DIGITS$}").into_bytes();
    m.resize(size, b'x');
    m
}

/// The sequence number and send time in a member's frame, if it is a publish.
fn parse(payload: &[u8], size: usize) -> Option<(usize, u64)> {
    let m = payload.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if m.len() != size {
        return None;
    }
    let number = |digits: &[u8]| std::str::from_utf8(digits).ok()?.parse().ok();
    let seq = number(&m[..SEQ_DIGITS])?;
    let sent = number(&m[SEQ_DIGITS + 1..MIN_SIZE])?;
    Some((seq as usize, sent))
}

/// A reading thread: polls its members until told to stop; returns their delivery counts
/// and the latencies it measured.
fn read_members(
    mut members: Vec<Member>,
    shared: Arc<Shared>,
    size: usize,
) -> io::Result<(Vec<u64>, Vec<u64>)> {
    let mut poll = Poll::new()?;
    for (i, m) in members.iter_mut().enumerate() {
        m.client.stream.set_nonblocking(true)?;
        let fd = m.client.stream.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)?;
    }
    let mut latencies = Vec::new();
    // Frames may have arrived before the registration (edge-triggered: no event for them).
    for m in &mut members {
        m.read(&shared, size, &mut latencies)?;
    }
    let mut events = Events::with_capacity(1024);
    while !shared.stop.load(Ordering::Acquire) {
        match poll.poll(&mut events, Some(Duration::from_millis(50))) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        for event in &events {
            members[event.token().0].read(&shared, size, &mut latencies)?;
        }
    }
    Ok((members.iter().map(|m| m.count).collect(), latencies))
}

/// Writes `frame` on a non-blocking socket (the reading thread owns its other side).
fn send(stream: &mut std::net::TcpStream, mut frame: &[u8]) -> io::Result<()> {
    while !frame.is_empty() {
        match stream.write(frame) {
            Ok(n) => frame = &frame[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::yield_now(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits until at least `want` publishes are delivered to every member, or fails after
/// [`STALL`] without progress.
fn wait_delivered(shared: &Shared, want: u64) -> io::Result<()> {
    let mut last = (shared.delivered.load(Ordering::Acquire), Instant::now());
    loop {
        let done = shared.delivered.load(Ordering::Acquire);
        if done >= want {
            return Ok(());
        }
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > STALL {
            return Err(io::Error::other(format!(
                "deliveries stalled: {done} publishes reached every member, {want} awaited"
            )));
        }
        thread::park_timeout(Duration::from_millis(100));
    }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.len() < 2 {
        eprintln!(
            "usage: cluster_load ADDRS PIDS [MEMBERS_PER_NODE] [PUBLISHES] [WINDOW] [SIZE] [THREADS]"
        );
        eprintln!("(run by scripts/bench-cluster.sh; nothing to do without a cluster)");
        return Ok(());
    }
    let addrs: Vec<&str> = args[0].split(',').collect();
    let pids: Vec<&str> = args[1].split(',').collect();
    let num =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (per_node, publishes, window) = (num(2, 500), num(3, 2000), num(4, 16).max(1));
    let (size, threads) = (num(5, 32).max(MIN_SIZE), num(6, 2).max(1));
    let redis_pid = std::env::var("REDIS_PID").ok();
    proc::raise_fd_limit()?;

    let mut clients = Vec::with_capacity(addrs.len() * per_node + 1);
    let publisher = Client::connect(addrs[0])?;
    let mut out = publisher.stream.try_clone()?;
    clients.push(publisher);
    for addr in &addrs {
        for _ in 0..per_node {
            clients.push(Client::connect(addr)?);
        }
    }
    let members = clients.len();
    let total = publishes + 1; // the first one checks reachability, unmeasured
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        members: members as u32,
        received: (0..total).map(|_| AtomicU32::new(0)).collect(),
        delivered: AtomicU64::new(0),
        publisher: thread::current(),
        stop: AtomicBool::new(false),
    });
    let mut shares: Vec<Vec<Member>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, c) in clients.into_iter().enumerate() {
        shares[i % threads].push(Member::new(c, total));
    }
    let readers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let shared = shared.clone();
            thread::spawn(move || read_members(share, shared, size))
        })
        .collect();

    let publish = |seq: usize, out: &mut std::net::TcpStream| {
        let sent = shared.epoch.elapsed().as_nanos() as u64;
        let mut event = PREFIX.to_vec();
        event.extend_from_slice(&message(seq, sent, size));
        event.extend_from_slice(SUFFIX);
        send(out, &text_frame(&event))
    };
    let mut run = || -> io::Result<(f64, f64, f64, f64, f64)> {
        publish(0, &mut out)?;
        wait_delivered(&shared, 1)?;
        let cpu = || -> io::Result<f64> { pids.iter().map(|p| proc::cpu_seconds(p)).sum() };
        let redis_cpu = || redis_pid.as_deref().map_or(Ok(0.0), proc::cpu_seconds);
        let (start, cpu0, redis0, self0, busy0) = (
            Instant::now(),
            cpu()?,
            redis_cpu()?,
            proc::cpu_seconds("self")?,
            proc::machine_busy_seconds()?,
        );
        for seq in 1..total {
            // At most `window` publishes on their way once this one is sent.
            wait_delivered(&shared, (seq + 1).saturating_sub(window) as u64)?;
            publish(seq, &mut out)?;
        }
        wait_delivered(&shared, total as u64)?;
        let secs = start.elapsed().as_secs_f64();
        let (cpu, redis) = (cpu()? - cpu0, redis_cpu()? - redis0);
        let load = proc::cpu_seconds("self")? - self0;
        let others = (proc::machine_busy_seconds()? - busy0 - cpu - redis - load).max(0.0);
        Ok((secs, cpu, redis, load / secs * 100.0, others / secs * 100.0))
    };
    let result = run();
    shared.stop.store(true, Ordering::Release);
    let mut counts = Vec::with_capacity(members);
    let mut latencies = Vec::new();
    for r in readers {
        let (c, l) = r
            .join()
            .map_err(|_| io::Error::other("a reading thread panicked"))??;
        counts.extend(c);
        latencies.extend(l);
    }
    let (secs, cpu, redis, load, others) = result?;
    let short = counts.iter().filter(|&&c| c != total as u64).count();
    if short > 0 {
        return Err(io::Error::other(format!(
            "{short} of {members} members did not receive exactly {total} publishes"
        )));
    }
    let rss: u64 = pids
        .iter()
        .map(|p| proc::rss_bytes(p))
        .sum::<io::Result<_>>()?;
    latencies.sort_unstable();
    let deliveries = (publishes * members) as f64;
    println!(
        "nodes={} members={members} publishes={publishes} window={window} size={size} \
         seconds={secs:.2} deliveries={deliveries:.0} deliveries_per_sec={:.0} \
         node_cpu_sec={cpu:.2} deliveries_per_cpu_sec={:.0} p50_us={:.0} p99_us={:.0} \
         redis_cpu_sec={redis:.2} node_rss_mib={:.1} load_cpu_pct={load:.0} others_cpu_pct={others:.0}",
        addrs.len(),
        deliveries / secs,
        deliveries / cpu.max(1e-9),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        rss as f64 / (1024.0 * 1024.0),
    );
    Ok(())
}
