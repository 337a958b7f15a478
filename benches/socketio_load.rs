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

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

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

/// A client's WebSocket: raw frames on a blocking socket.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    len: usize,
}

/// A masked client text frame (RFC 6455 §5.3; the mask need not be random for a benchmark).
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x81];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The header and payload lengths of the complete server frame at the start of `bytes`.
fn frame_at(bytes: &[u8]) -> Option<(usize, usize)> {
    let (head, len) = match *bytes.get(1)? & 0x7f {
        126 => (
            4,
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
        ),
        127 => {
            let n: [u8; 8] = bytes.get(2..10)?.try_into().ok()?;
            (10, u64::from_be_bytes(n) as usize)
        }
        n => (2, n as usize),
    };
    (bytes.len() >= head + len).then_some((head, len))
}

impl Client {
    /// Connects, upgrades, reads the Engine.IO open packet, joins the main namespace.
    fn connect(addr: &str) -> io::Result<Client> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut client = Client {
            stream,
            buf: vec![0; 256 * 1024],
            len: 0,
        };
        let head_end = loop {
            client.fill()?;
            if let Some(i) = client.buf[..client.len]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break i + 4;
            }
        };
        if !client.buf.starts_with(b"HTTP/1.1 101") {
            return Err(io::Error::other("upgrade refused"));
        }
        client.buf.copy_within(head_end..client.len, 0);
        client.len -= head_end;
        let mut opened = false;
        client.until(|payload| {
            opened = payload.starts_with(b"0{");
            opened
        })?;
        client.stream.write_all(&text_frame(b"40"))?;
        client.until(|payload| payload.starts_with(b"40{"))?;
        Ok(client)
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.len == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        match self.stream.read(&mut self.buf[self.len..])? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                self.len += n;
                Ok(())
            }
        }
    }

    /// Hands each complete buffered frame's payload to `f`, reading once first if there is
    /// none. Engine.IO pings are answered here.
    fn read_frames(&mut self, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        while !self.has_frame() {
            self.fill()?;
        }
        let mut at = 0;
        let mut pongs = 0;
        loop {
            let rest = &self.buf[at..self.len];
            let Some((head, len)) = frame_at(rest) else {
                break;
            };
            if rest[0] & 0x0f == 0x8 {
                return Err(io::Error::other("closed by the server"));
            }
            let payload = &rest[head..head + len];
            if payload == b"2" {
                pongs += 1;
            }
            f(payload);
            at += head + len;
        }
        self.buf.copy_within(at..self.len, 0);
        self.len -= at;
        for _ in 0..pongs {
            self.stream.write_all(&text_frame(b"3"))?;
        }
        Ok(())
    }

    fn has_frame(&self) -> bool {
        frame_at(&self.buf[..self.len]).is_some()
    }

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

    /// Reads frames until `f` says one was the one awaited.
    fn until(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
        let mut done = false;
        while !done {
            self.read_frames(|p| done |= f(p))?;
        }
        Ok(())
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
