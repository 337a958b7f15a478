//! Broadcast cost: one publisher, N subscribers in a room, server CPU per delivery.
//!
//! `cargo bench --bench broadcast` runs N = 1,000 and 10,000 against wsreactor, each on a
//! server of one reactor and then of two (`BROADCAST_REACTORS`, default `1 2`): with two,
//! the kernel spreads the subscribers over both, so about half of each publish crosses to
//! the other reactor through its queue. The server runs in a child process (this binary
//! with `--serve`), so that 10,000 client sockets and 10,000 server sockets each fit under
//! the open-file limit. Prints deliveries/s and the server's CPU time per delivery (from
//! /proc/PID/stat), which is the steadier figure on a busy machine, and for more than one
//! reactor its ratio to the first count's figure in the same run.
//!
//! The two roles also run alone, which is how `scripts/bench-peers.sh` (scenarios f and g)
//! measures wsreactor and uWebSockets' pub/sub (`benches/peers/uws/pubsub.cpp`) with one
//! client, each process on its own core:
//!
//! ```text
//! broadcast --serve 127.0.0.1:PORT [--reactors N]   # wsreactor's Room server
//! broadcast --target 127.0.0.1:PORT --subscribers N [--deliveries D] [--batch B] [--pid PID] [--label NAME]
//! ```
//!
//! The publisher sends D / N messages. By default (and under `cargo bench`) it writes them
//! all at once; with `--batch B` it writes B, waits until every subscriber has received them,
//! and writes the next B. The shape matters to uWebSockets: it queues at most 32 published
//! messages per subscriber within one pass of its loop, then writes that subscriber's queue
//! out one `send` per message (the publisher's socket holds the loop's cork), so a burst of
//! hundreds of messages costs it a system call per delivery; batches of 32 or fewer do not.
//!
//! The client prints a human line on stderr and one JSON line on stdout (the load
//! generator's field names where they mean the same), and exits with status 1 if a delivery
//! was missing, extra or wrong. The server's protocol: a text message `sub` joins the room
//! and is answered `ok`; any other message is published to everyone in the room but its
//! sender. Every message published carries its sequence number, and every subscriber must
//! receive exactly the frames published, byte for byte and in order.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use wsreactor::{Config, Ctx, Handler, Message, Server};

// The load generator's /proc readings and JSON line, shared rather than written twice; the
// bench uses only part of them.
#[allow(dead_code)]
#[path = "../examples/loadgen/proc.rs"]
mod proc;
#[allow(dead_code)]
#[path = "../examples/loadgen/stats.rs"]
mod stats;

use stats::{json_line, Json};

/// Deliveries per case under `cargo bench`: a few hundred milliseconds of server CPU, which
/// the CPU clock's 10 ms ticks resolve to a few percent (`--deliveries` for more).
const DELIVERIES: usize = 1_000_000;
const PAYLOAD: usize = 32;
/// A round with no progress for this long has stalled.
const PATIENCE: Duration = Duration::from_secs(30);

/// Subscribers send `sub` to join the room; anything else is published to the room.
struct Room;

impl Handler for Room {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        if msg.to_text().is_ok_and(|t| t == "sub") {
            ctx.join("room").ok();
            ctx.send("ok");
        } else if let Err(e) = ctx.publish_to_others("room", msg) {
            // Only with several reactors, one of them far behind: the queue below takes
            // any burst the client writes. A refusal shows as a stall in the client, which
            // checks every delivery.
            eprintln!("broadcast: publish refused: {e}");
        }
    }
}

/// What one case measured.
struct Outcome {
    subscribers: usize,
    messages: usize,
    /// Messages published at once.
    batch: usize,
    elapsed: Duration,
    /// Server CPU seconds over the window, when its pid is known.
    server_cpu: Option<f64>,
    client_cpu: f64,
    /// CPU seconds the rest of the machine used over the window.
    other_cpu: f64,
}

impl Outcome {
    fn deliveries(&self) -> usize {
        self.subscribers * self.messages
    }

    fn us_per_delivery(&self) -> Option<f64> {
        self.server_cpu.map(|c| c * 1e6 / self.deliveries() as f64)
    }

    fn human(&self) -> String {
        let per = self.us_per_delivery().map_or(String::new(), |u| {
            format!(", server CPU {u:.3} µs/delivery")
        });
        let batch = if self.batch < self.messages {
            format!(" in batches of {}", self.batch)
        } else {
            String::new()
        };
        format!(
            "{:>6} subscribers{batch}: {:>12.0} deliveries/s{per}",
            self.subscribers,
            self.deliveries() as f64 / self.elapsed.as_secs_f64(),
        )
    }

    fn json(&self, label: &str) -> String {
        let secs = self.elapsed.as_secs_f64();
        json_line(&[
            ("label", Json::Str(label.into())),
            ("mode", Json::Str("broadcast".into())),
            ("conns", Json::Int(self.subscribers as u64)),
            ("size", Json::Int(PAYLOAD as u64)),
            ("published", Json::Int(self.messages as u64)),
            ("batch", Json::Int(self.batch as u64)),
            ("duration_s", Json::Num(secs)),
            ("msgs", Json::Int(self.deliveries() as u64)),
            ("msgs_per_s", Json::Num(self.deliveries() as f64 / secs)),
            (
                "server_cpu_s",
                self.server_cpu.map_or(Json::Null, Json::Num),
            ),
            (
                "cpu_us_per_msg",
                self.us_per_delivery().map_or(Json::Null, Json::Num),
            ),
            ("client_cpu_pct", Json::Num(100.0 * self.client_cpu / secs)),
            ("other_cpu_pct", Json::Num(100.0 * self.other_cpu / secs)),
            ("failures", Json::Int(0)),
        ])
    }
}

/// The command line: `--serve ADDR`, `--target ADDR ...`, or neither (`cargo bench`, which
/// passes `--bench`; `cargo test --benches` passes `--list`).
#[derive(Default)]
struct Args {
    serve: Option<String>,
    reactors: usize,
    target: Option<SocketAddr>,
    subscribers: Option<usize>,
    deliveries: Option<usize>,
    batch: usize,
    pid: Option<String>,
    label: String,
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| v.parse().map_err(|_| format!("not a number: {v}"));
        match arg.as_str() {
            "--serve" => a.serve = Some(value()?),
            "--reactors" => a.reactors = number(value()?)?,
            "--target" => a.target = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--subscribers" => a.subscribers = Some(number(value()?)?),
            "--deliveries" => a.deliveries = Some(number(value()?)?),
            "--batch" => a.batch = number(value()?)?,
            "--pid" => a.pid = Some(value()?),
            "--label" => a.label = value()?,
            "--list" => a.list = true,
            _ => {} // cargo's own flags (--bench)
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("broadcast: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if let Some(addr) = &args.serve {
        serve(addr, args.reactors.max(1))
    } else if let Some(target) = args.target {
        let subscribers = args.subscribers.unwrap_or(1_000);
        let deliveries = args.deliveries.unwrap_or(DELIVERIES);
        run(
            target,
            subscribers,
            deliveries,
            args.batch,
            args.pid.as_deref(),
        )
        .map(|outcome| {
            eprintln!("{}", outcome.human());
            println!("{}", outcome.json(&args.label));
        })
    } else if args.list {
        Ok(()) // there is nothing to list
    } else {
        cargo_bench()
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("broadcast: {e}");
            ExitCode::from(1)
        }
    }
}

/// The server role: the Room handler on `addr`, on `reactors` reactors; prints the
/// address it got.
fn serve(addr: &str, reactors: usize) -> std::io::Result<()> {
    // With several reactors, a publish takes a place in the other's command queue until it
    // runs there: room for any burst a client writes at once (places are allocated as they
    // are used).
    let config = (Config::default().max_connections(12_000))
        .reactors(reactors)
        .command_queue_capacity(1 << 20);
    let server = Server::bind_with(addr, config)?;
    println!("{}", server.local_addr()?);
    server.run_with(|_| Room)
}

/// `cargo bench`: both cases against a wsreactor server in a child process, on each
/// number of reactors `BROADCAST_REACTORS` names.
fn cargo_bench() -> std::io::Result<()> {
    println!("broadcast: 1 publisher, {PAYLOAD} B messages, {DELIVERIES} deliveries per case");
    let counts = std::env::var("BROADCAST_REACTORS").unwrap_or_else(|_| "1 2".into());
    let counts: Vec<usize> = counts
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    for subscribers in [1_000, 10_000] {
        let mut first = None;
        for &reactors in &counts {
            let (mut child, addr) = spawn_server(reactors)?;
            let outcome = run(
                addr,
                subscribers,
                DELIVERIES,
                0,
                Some(&child.id().to_string()),
            );
            child.kill()?;
            child.wait()?;
            let outcome = outcome?;
            println!("{} ({reactors} reactor(s))", outcome.human());
            let per = outcome.us_per_delivery().unwrap_or(0.0);
            match first {
                None => first = Some((reactors, per)),
                Some((one, base)) if base > 0.0 => println!(
                    "{:>41} CPU/delivery {:.2}x that of {one} reactor(s), same run",
                    "",
                    per / base
                ),
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// One case: `subscribers` join the room, one more connection publishes
/// `deliveries / subscribers` messages, `batch` at a time (0: all at once), each batch once
/// every subscriber has received the previous one in full.
fn run(
    addr: SocketAddr,
    subscribers: usize,
    deliveries: usize,
    batch: usize,
    pid: Option<&str>,
) -> std::io::Result<Outcome> {
    let messages = (deliveries / subscribers).max(1);
    let batch = if batch == 0 { messages } else { batch };
    let mut poll = Poll::new()?;
    let mut subs: Vec<mio::net::TcpStream> = (0..subscribers)
        .map(|_| subscribe(addr))
        .collect::<Result<_, _>>()?;
    for (i, sub) in subs.iter_mut().enumerate() {
        poll.registry()
            .register(sub, Token(i), Interest::READABLE)?;
    }
    let mut publisher = connect(addr)?;
    let outgoing: Vec<Vec<u8>> = (0..messages)
        .map(|seq| client_frame(&payload(seq)))
        .collect();
    // What each subscriber must read: the server's unmasked frames of the same payloads.
    let frame_len = 2 + PAYLOAD;
    let expected: Vec<u8> = (0..messages)
        .flat_map(|seq| {
            let mut frame = vec![0x81, PAYLOAD as u8];
            frame.extend_from_slice(&payload(seq));
            frame
        })
        .collect();
    let mut got = vec![0usize; subscribers];

    let cpu_before = pid.map(proc::cpu_seconds).transpose()?;
    let self_before = proc::cpu_seconds("self")?;
    let busy_before = proc::machine_busy_seconds()?;
    let start = Instant::now();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut published = 0;
    while published < messages {
        let next = (published + batch).min(messages);
        publisher.write_all(&outgoing[published..next].concat())?;
        published = next;
        // Every subscriber must now read up to here, and not a byte further.
        let target = published * frame_len;
        let mut caught_up = got.iter().filter(|&&g| g == target).count();
        while caught_up < subscribers {
            poll.poll(&mut events, Some(PATIENCE))?;
            if events.is_empty() {
                return Err(std::io::Error::other(format!(
                    "stalled: {caught_up} of {subscribers} subscribers got message {}",
                    published - 1
                )));
            }
            for event in &events {
                let i = event.token().0;
                loop {
                    match subs[i].read(&mut buf) {
                        Ok(0) => return Err(std::io::Error::other("server closed a subscriber")),
                        Ok(n) => {
                            if got[i] + n > target || expected[got[i]..got[i] + n] != buf[..n] {
                                return Err(std::io::Error::other(format!(
                                    "subscriber {i}: wrong or extra bytes at offset {}",
                                    got[i]
                                )));
                            }
                            got[i] += n;
                            if got[i] == target {
                                caught_up += 1;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let server_cpu = match (pid, cpu_before) {
        (Some(pid), Some(before)) => Some(proc::cpu_seconds(pid)? - before),
        _ => None,
    };
    let client_cpu = proc::cpu_seconds("self")? - self_before;
    let other_cpu =
        (proc::machine_busy_seconds()? - busy_before - client_cpu - server_cpu.unwrap_or(0.0))
            .max(0.0);
    Ok(Outcome {
        subscribers,
        messages,
        batch,
        elapsed,
        server_cpu,
        client_cpu,
        other_cpu,
    })
}

/// Message `seq`'s payload: its number in hex, then a fixed pattern (text, so UTF-8).
fn payload(seq: usize) -> [u8; PAYLOAD] {
    let mut p = [b'x'; PAYLOAD];
    p[..16].copy_from_slice(format!("{seq:016x}").as_bytes());
    p
}

fn spawn_server(reactors: usize) -> std::io::Result<(Child, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--serve",
            "127.0.0.1:0",
            "--reactors",
            &reactors.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line.trim().parse().map_err(std::io::Error::other)?;
    Ok((child, addr))
}

/// A connected, upgraded blocking socket.
fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    Ok(stream)
}

/// A subscriber: joined to the room (its `ok` checked), then non-blocking.
fn subscribe(addr: SocketAddr) -> std::io::Result<mio::net::TcpStream> {
    let mut stream = connect(addr)?;
    stream.write_all(&client_frame(b"sub"))?;
    let mut ok = [0u8; 4];
    stream.read_exact(&mut ok)?;
    if ok != [0x81, 2, b'o', b'k'] {
        return Err(std::io::Error::other(format!(
            "expected a text frame \"ok\" after sub, got {ok:?}"
        )));
    }
    stream.set_nonblocking(true)?;
    Ok(mio::net::TcpStream::from_std(stream))
}

/// A masked text frame with a zero mask (valid; the bench needs no randomness).
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}
