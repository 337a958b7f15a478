//! Broadcast throughput: one publisher, N subscribers in a room, deliveries per second.
//!
//! `cargo bench --bench broadcast` runs N = 1,000 and 10,000, each on a server of one
//! reactor and then of two (`BROADCAST_REACTORS`, default `1 2`): with two, the kernel
//! spreads the subscribers over both, so about half of each publish crosses to the other
//! reactor through its queue. The server runs in a child process (this binary,
//! re-executed), so that 10,000 client sockets and 10,000 server sockets each fit under
//! the open-file limit. Prints deliveries/s and the server's CPU time per delivery (from
//! /proc/PID/stat), which is the steadier figure on a busy machine, and for more than one
//! reactor its ratio to the first count's figure in the same run. Every delivery is
//! counted, byte for byte, on every subscriber.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use wsreactor::{Config, Ctx, Handler, Message, Server};

const ROLE: &str = "WSREACTOR_BENCH_ROLE";
/// The server's reactors, for the child.
const REACTORS: &str = "WSREACTOR_BENCH_REACTORS";
/// Deliveries per case: enough for the CPU clock's 10 ms ticks to resolve 1 % of it.
const DELIVERIES: usize = 1_000_000;
const PAYLOAD: usize = 32;

/// Subscribers send `sub` to join the room; anything else is published to the room.
struct Room;

impl Handler for Room {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        if msg.to_text().is_ok_and(|t| t == "sub") {
            ctx.join("room").ok();
            ctx.send("ok");
        } else if let Err(e) = ctx.publish_to_others("room", msg) {
            // Never with the queue below: the publisher's burst fits in it. A refusal
            // shows as a stall in the parent, which counts every delivery.
            log::error!("publish refused: {e}");
        }
    }
}

fn main() -> std::io::Result<()> {
    if std::env::var_os(ROLE).is_some() {
        let reactors = std::env::var(REACTORS).ok().and_then(|n| n.parse().ok());
        // Room for every message of the burst a case publishes at once, on every reactor.
        let config = (Config::default().max_connections(12_000))
            .reactors(reactors.unwrap_or(1))
            .command_queue_capacity(DELIVERIES / 1_000 + 64);
        let server = Server::bind_with("127.0.0.1:0", config)?;
        println!("{}", server.local_addr()?);
        return server.run_with(|_| Room);
    }
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo test --benches` lists benches; there is nothing to list
    }
    println!("broadcast: 1 publisher, {PAYLOAD} B messages, {DELIVERIES} deliveries per case");
    let counts = std::env::var("BROADCAST_REACTORS").unwrap_or_else(|_| "1 2".into());
    let counts: Vec<usize> = counts
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    for subscribers in [1_000, 10_000] {
        let mut first = None;
        for &reactors in &counts {
            let cpu = run(subscribers, reactors)?;
            match first {
                None => first = Some((reactors, cpu)),
                Some((one, base)) => println!(
                    "{:>41} CPU/delivery {:.2}x that of {one} reactor(s), same run",
                    "",
                    cpu / base
                ),
            }
        }
    }
    Ok(())
}

/// One case; returns the server's CPU µs per delivery.
fn run(subscribers: usize, reactors: usize) -> std::io::Result<f64> {
    let messages = DELIVERIES / subscribers;
    let (mut child, addr) = spawn_server(reactors)?;
    let mut poll = Poll::new()?;
    let mut subs: Vec<mio::net::TcpStream> = (0..subscribers)
        .map(|_| subscribe(addr))
        .collect::<Result<_, _>>()?;
    for (i, sub) in subs.iter_mut().enumerate() {
        poll.registry()
            .register(sub, Token(i), Interest::READABLE)?;
    }
    let mut publisher = connect(addr)?;
    let frame = client_frame(&[b'x'; PAYLOAD]);
    let per_sub = messages * (2 + PAYLOAD);
    let mut got = vec![0usize; subscribers];
    let mut done = 0;

    let cpu_before = cpu_time(child.id())?;
    let start = Instant::now();
    for _ in 0..messages {
        publisher.write_all(&frame)?;
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    while done < subscribers {
        poll.poll(&mut events, Some(Duration::from_secs(30)))?;
        if events.is_empty() {
            return Err(std::io::Error::other(format!(
                "stalled: {done}/{subscribers} done"
            )));
        }
        for event in &events {
            let i = event.token().0;
            loop {
                match subs[i].read(&mut buf) {
                    Ok(0) => return Err(std::io::Error::other("server closed a subscriber")),
                    Ok(n) => {
                        got[i] += n;
                        if got[i] == per_sub {
                            done += 1;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time(child.id())? - cpu_before;
    child.kill()?;
    child.wait()?;

    let deliveries = (subscribers * messages) as f64;
    let per_delivery = cpu.as_secs_f64() * 1e6 / deliveries;
    println!(
        "{subscribers:>6} subscribers, {reactors} reactor(s): {:>12.0} deliveries/s, server CPU {per_delivery:.3} µs/delivery",
        deliveries / elapsed.as_secs_f64(),
    );
    Ok(per_delivery)
}

fn spawn_server(reactors: usize) -> std::io::Result<(Child, SocketAddr)> {
    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, "server")
        .env(REACTORS, reactors.to_string())
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

/// A subscriber: joined to the room (its `ok` read), then non-blocking.
fn subscribe(addr: SocketAddr) -> std::io::Result<mio::net::TcpStream> {
    let mut stream = connect(addr)?;
    stream.write_all(&client_frame(b"sub"))?;
    let mut ok = [0u8; 4];
    stream.read_exact(&mut ok)?;
    stream.set_nonblocking(true)?;
    Ok(mio::net::TcpStream::from_std(stream))
}

/// A masked text frame with a zero mask (valid; the bench needs no randomness).
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// utime + stime of a process.
fn cpu_time(pid: u32) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split(' ')
        .collect();
    let ticks: u64 =
        fields[12].parse::<u64>().unwrap_or(0) + fields[13].parse::<u64>().unwrap_or(0);
    Ok(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}
