//! Socket.IO load for `scripts/bench-socketio.sh`: the same load against any Socket.IO
//! server (ours, Node's `socket.io`, socketioxide), speaking the wire protocol over WebSocket.
//!
//! ```text
//! cargo bench --bench socketio_load -- ADDR PID [IDLE_CLIENTS] [CLIENTS] [WINDOW] [SECONDS]
//! ```
//!
//! 1. Memory: connects `IDLE_CLIENTS` (default 2000) to the main namespace and reads the
//!    server's RSS (`/proc/PID/status`) before and after: bytes per connected client.
//! 2. Throughput: `CLIENTS` (default 32) each keep `WINDOW` (default 64) `message` events
//!    in flight for `SECONDS` (default 10) and count the `message` replies, per second and
//!    per second of the server's CPU time (`/proc/PID/stat`, all its threads).
//!
//! The client side is kept cheap so the server is what is measured: frames are encoded
//! once and replies compared, not decoded. Every reply must be `message` with
//! `"Reply to: hello"`, optionally followed by a connection state recovery offset (a
//! string), and every event must get one (a client waits for the replies still due when
//! the window ends); anything else fails the run. Prints one line of `key=value` figures,
//! among them the mean reply size (servers that add offsets send a few bytes more) and how
//! much CPU the rest of the machine used during the window.

#[path = "../examples/loadgen/proc.rs"]
mod proc;
// Only the cluster bench reads non-blocking sockets.
#[allow(dead_code)]
#[path = "common/sio.rs"]
mod sio;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sio::{text_frame, Client};

/// The event every client sends.
const EVENT: &[u8] = br#"42["message","hello"]"#;

/// The start of the only reply counted: the event's `message` answer.
const REPLY: &[u8] = br#"42["message","Reply to: hello""#;

/// Whether `payload` is the reply to [`EVENT`]: [`REPLY`], then `]`, or a recovery offset
/// (a JSON string without escapes: the servers' offsets are digits, base64url and dots)
/// and `]`.
fn is_reply(payload: &[u8]) -> bool {
    match payload.strip_prefix(REPLY) {
        Some(b"]") => true,
        Some(rest) => rest
            .strip_prefix(b",\"")
            .and_then(|r| r.strip_suffix(b"\"]"))
            .is_some_and(|offset| {
                !offset.is_empty() && !offset.contains(&b'"') && !offset.contains(&b'\\')
            }),
        None => false,
    }
}

/// How long a client waits, once the window is over, for the replies still due.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

impl Client {
    /// Reads the buffered replies (once first if there is none), takes them off `in_flight`,
    /// and returns how many there were and their bytes. Anything but a reply to [`EVENT`] (or
    /// an Engine.IO ping), or more replies than events, is an error.
    fn read_replies(&mut self, in_flight: &mut u64) -> io::Result<(u64, u64)> {
        let (mut got, mut bytes, mut wrong) = (0, 0, None);
        self.read_frames(|p| {
            if is_reply(p) {
                got += 1;
                bytes += p.len() as u64;
            } else if p != b"2" {
                wrong.get_or_insert_with(|| String::from_utf8_lossy(p).into_owned());
            }
        })?;
        if let Some(p) = wrong {
            return Err(io::Error::other(format!("not the reply: {p}")));
        }
        *in_flight = (in_flight.checked_sub(got))
            .ok_or_else(|| io::Error::other("more replies than events"))?;
        Ok((got, bytes))
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.len() < 2 {
        eprintln!("usage: socketio_load ADDR PID [IDLE_CLIENTS] [CLIENTS] [WINDOW] [SECONDS]");
        eprintln!("(run by scripts/bench-socketio.sh; nothing to do without a server)");
        return Ok(());
    }
    let (addr, pid) = (args[0].clone(), args[1].as_str());
    let num = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (idle, clients, window, seconds) = (num(2, 2000), num(3, 32), num(4, 64), num(5, 10));

    proc::raise_fd_limit()?;

    // 1. Memory per connected client.
    thread::sleep(Duration::from_millis(500));
    let before = proc::rss_bytes(pid)? / 1024;
    let mut held = Vec::with_capacity(idle as usize);
    for _ in 0..idle {
        held.push(Client::connect(&addr)?);
    }
    thread::sleep(Duration::from_millis(1000));
    let after = proc::rss_bytes(pid)? / 1024;
    let per_client = (after.saturating_sub(before)) as f64 * 1024.0 / idle as f64;
    drop(held);
    thread::sleep(Duration::from_millis(500));

    // 2. Event echo throughput.
    let replies = Arc::new(AtomicU64::new(0));
    let reply_bytes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let event = text_frame(EVENT);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, replies, reply_bytes, stop, event) = (
                addr.clone(),
                replies.clone(),
                reply_bytes.clone(),
                stop.clone(),
                event.clone(),
            );
            thread::spawn(move || -> io::Result<()> {
                let mut client = Client::connect(&addr)?;
                client.stream.write_all(&event.repeat(window as usize))?;
                let mut in_flight = window;
                while !stop.load(Ordering::Relaxed) {
                    let (got, bytes) = client.read_replies(&mut in_flight)?;
                    replies.fetch_add(got, Ordering::Relaxed);
                    reply_bytes.fetch_add(bytes, Ordering::Relaxed);
                    if in_flight <= window / 2 {
                        client
                            .stream
                            .write_all(&event.repeat((window - in_flight) as usize))?;
                        in_flight = window;
                    }
                }
                // Every event sent must be answered: a server that drops one fails the run.
                client.stream.set_read_timeout(Some(DRAIN_TIMEOUT))?;
                while in_flight > 0 {
                    client
                        .read_replies(&mut in_flight)
                        .map_err(|e| match e.kind() {
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                                io::Error::other(format!("{in_flight} events never answered"))
                            }
                            _ => e,
                        })?;
                }
                Ok(())
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(1)); // warm-up
    let count = || {
        (
            replies.load(Ordering::Relaxed),
            reply_bytes.load(Ordering::Relaxed),
        )
    };
    let (start, (counted, counted_bytes)) = (Instant::now(), count());
    let (cpu0, self0, busy0) = (
        proc::cpu_seconds(pid)?,
        proc::cpu_seconds("self")?,
        proc::machine_busy_seconds()?,
    );
    thread::sleep(Duration::from_secs(seconds));
    let (elapsed, (total, total_bytes)) = (start.elapsed(), count());
    let cpu = proc::cpu_seconds(pid)? - cpu0;
    let load_cpu = proc::cpu_seconds("self")? - self0;
    let others = (proc::machine_busy_seconds()? - busy0 - cpu - load_cpu).max(0.0);
    stop.store(true, Ordering::Relaxed);
    let mut failed = 0;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("client: {e}");
                failed += 1;
            }
            Err(_) => failed += 1,
        }
    }
    let (total, secs) = (total - counted, elapsed.as_secs_f64());
    println!(
        "idle_clients={idle} rss_before_kib={before} rss_after_kib={after} bytes_per_client={per_client:.0} \
         clients={clients} window={window} seconds={secs:.1} replies={total} reply_bytes={:.1} \
         events_per_sec={:.0} server_cpu_sec={cpu:.2} events_per_cpu_sec={:.0} others_cpu_pct={:.0}",
        (total_bytes - counted_bytes) as f64 / total.max(1) as f64,
        total as f64 / secs,
        total as f64 / cpu.max(1e-9),
        others / secs * 100.0,
    );
    if failed > 0 {
        return Err(io::Error::other(format!(
            "{failed} of {clients} clients failed"
        )));
    }
    Ok(())
}
