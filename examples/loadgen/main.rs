//! A WebSocket load generator for any echo server, on mio (no async runtime).
//!
//! ```text
//! cargo run --release --example loadgen -- ws://127.0.0.1:8080/ -c 100 -k 16 -s 32 -d 10 --pid PID
//! cargo run --release --example loadgen -- ws://127.0.0.1:8080/ --idle -c 10000 --pid PID
//! cargo run --release --features tls --example loadgen -- wss://127.0.0.1:8443/ -c 100 --pid PID
//! ```
//!
//! `wss://` (with the `tls` feature) speaks TLS with a rustls client that trusts the CA
//! certificates of `--ca FILE` (default `tests/tls/ca.pem`, the CA of the committed test
//! certificate) and makes a full handshake on every connection (no resumption). The report
//! names what was negotiated.
//!
//! Load mode: `-c` connections each keep `-k` messages of `-s` bytes (text, or `--binary`) in
//! flight; after `-w` seconds of warm-up it measures for `-d` seconds. Every echo is checked
//! byte for byte and in order. It reports messages/s, payload MB/s (one direction), round-trip
//! latency percentiles and, with `--pid`, the server's CPU time per echoed message
//! (`/proc/PID/stat`), which is the steadier figure on a shared machine. It also reports
//! how much CPU the rest of the machine used during the window (`/proc/stat`), so a
//! measurement disturbed by other work can be recognised and repeated.
//!
//! Idle mode (`--idle`): opens `-c` connections, echoes one message on each, holds them all,
//! and with `--pid` reports the server's RSS growth per connection.
//!
//! `--deflate`: every connection must negotiate permessage-deflate; messages go compressed
//! both ways (see `client.rs`), so the server's CPU per message includes compressing and
//! inflating. The template (`a` to `z` over and over) compresses to almost nothing: a
//! best case for the ratio, the same for every server measured.
//!
//! Output: a human table on stderr and one JSON line on stdout. Exit status 1 if any echo
//! was wrong or any connection failed.
//!
//! Source addresses are spread over 127.0.0.1–127.0.0.250 when the target is on loopback,
//! so tens of thousands of connections do not run out of ephemeral ports; the open-file
//! limit is raised to its hard limit.

mod client;
mod fleet;
mod proc;
mod stats;
mod transport;

use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use client::Workload;
use fleet::Fleet;
use stats::{json_line, Json};
use transport::Security;

const USAGE: &str = "usage: loadgen [ws://|wss://]HOST:PORT[/PATH] [-c CONNS] [-k IN_FLIGHT] \
[-s BYTES] [--binary] [-w WARMUP_S] [-d DURATION_S] [--pid SERVER_PID] [--idle] [--settle S] \
[--label NAME] [--ca CA_PEM] [--deflate]";
/// The CA `wss://` trusts unless `--ca` says otherwise: the committed test CA.
const TEST_CA: &str = "tests/tls/ca.pem";

/// How long connecting everything may take before the run gives up on the rest.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);

struct Args {
    tls: bool,
    ca: String,
    host: String,
    path: String,
    conns: usize,
    inflight: usize,
    size: usize,
    binary: bool,
    warmup: f64,
    duration: f64,
    pid: Option<String>,
    idle: bool,
    settle: f64,
    label: String,
    deflate: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        tls: false,
        ca: TEST_CA.into(),
        host: String::new(),
        path: "/".into(),
        conns: 100,
        inflight: 1,
        size: 32,
        binary: false,
        warmup: 2.0,
        duration: 10.0,
        pid: None,
        idle: false,
        settle: 1.0,
        label: String::new(),
        deflate: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        fn num<T: std::str::FromStr>(s: String, name: &str) -> Result<T, String> {
            s.parse().map_err(|_| format!("{name}: not a number: {s}"))
        }
        match arg.as_str() {
            "-c" => a.conns = num(value("-c")?, "-c")?,
            "-k" => a.inflight = num(value("-k")?, "-k")?,
            "-s" => a.size = num(value("-s")?, "-s")?,
            "-w" => a.warmup = num(value("-w")?, "-w")?,
            "-d" => a.duration = num(value("-d")?, "-d")?,
            "--settle" => a.settle = num(value("--settle")?, "--settle")?,
            "--pid" => a.pid = Some(value("--pid")?),
            "--label" => a.label = value("--label")?,
            "--ca" => a.ca = value("--ca")?,
            "--binary" => a.binary = true,
            "--text" => a.binary = false,
            "--idle" => a.idle = true,
            "--deflate" => a.deflate = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if !s.starts_with('-') && a.host.is_empty() => {
                a.tls = s.starts_with("wss://");
                let s = s.strip_prefix("ws://").unwrap_or(s);
                let s = s.strip_prefix("wss://").unwrap_or(s);
                let (host, path) = s.find('/').map_or((s, "/"), |i| (&s[..i], &s[i..]));
                a.host = host.to_owned();
                a.path = path.to_owned();
            }
            s => return Err(format!("unknown argument {s}\n{USAGE}")),
        }
    }
    if a.host.is_empty() {
        return Err(USAGE.into());
    }
    if a.conns == 0 || a.inflight == 0 {
        return Err("-c and -k must be at least 1".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> std::io::Result<bool> {
    let fd_limit = proc::raise_fd_limit()?;
    if args.conns as u64 + 16 > fd_limit {
        eprintln!(
            "warning: {} connections but the open-file limit is {fd_limit}",
            args.conns
        );
    }
    let target = args
        .host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("host resolves to nothing"))?;
    let (per_conn, inflight) = if args.idle {
        (1, 1)
    } else {
        (u64::MAX, args.inflight)
    };
    let workload = Workload::new(
        args.size,
        args.binary,
        inflight,
        per_conn,
        &args.host,
        &args.path,
        args.deflate,
    );
    let security = if args.tls {
        // The host without its port (and an IPv6 address without its brackets).
        let host = args.host.rsplit_once(':').map_or(&*args.host, |(h, _)| h);
        Security::tls(&args.ca, host.trim_start_matches('[').trim_end_matches(']'))?
    } else {
        Security::Plain
    };
    let mut fleet = Fleet::new(target, args.conns, workload, security)?;
    let rss_before = args.pid.as_deref().map(proc::rss_bytes).transpose()?;
    let start = Instant::now();
    fleet.connect_all(CONNECT_PATIENCE)?;
    let connect_s = start.elapsed().as_secs_f64();
    if args.idle {
        idle(args, &mut fleet, rss_before, connect_s)
    } else {
        load(args, &mut fleet, connect_s)
    }
}

fn common_fields(a: &Args, f: &Fleet, mode: &str) -> Vec<(&'static str, Json)> {
    vec![
        ("label", Json::Str(a.label.clone())),
        ("mode", Json::Str(mode.into())),
        ("target", Json::Str(target(a, f))),
        ("tls", f.negotiated.clone().map_or(Json::Null, Json::Str)),
        ("conns", Json::Int(a.conns as u64)),
        ("inflight", Json::Int(f.workload.inflight as u64)),
        ("size", Json::Int(a.size as u64)),
        ("binary", Json::Bool(a.binary)),
        ("deflate", Json::Bool(a.deflate)),
        ("opened", Json::Int(f.opened as u64)),
    ]
}

fn load(a: &Args, f: &mut Fleet, connect_s: f64) -> std::io::Result<bool> {
    let pid = a.pid.as_deref();
    let warm_until = Instant::now() + Duration::from_secs_f64(a.warmup);
    f.run_while(|_| Instant::now() < warm_until)?;
    let cpu0 = pid.map(proc::cpu_seconds).transpose()?;
    let self0 = proc::cpu_seconds("self")?;
    let busy0 = proc::machine_busy_seconds()?;
    let t0 = Instant::now();
    f.tally.measuring = true;
    let end = t0 + Duration::from_secs_f64(a.duration);
    f.run_while(|_| Instant::now() < end)?;
    f.tally.measuring = false;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = match (pid, cpu0) {
        (Some(pid), Some(c0)) => Some(proc::cpu_seconds(pid)? - c0),
        _ => None,
    };
    let self_cpu = proc::cpu_seconds("self")? - self0;
    // CPU time of everything else on the machine during the window, in % of one core.
    let other_pct =
        (proc::machine_busy_seconds()? - busy0 - self_cpu - cpu.unwrap_or(0.0)).max(0.0) * 100.0
            / elapsed;

    let msgs = f.tally.window_echoes;
    let rate = msgs as f64 / elapsed;
    let mbps = rate * a.size as f64 / 1e6;
    let [p50, p99, p999] = f.tally.latencies.percentiles();
    let us_per_msg = cpu.map(|c| c * 1e6 / msgs.max(1) as f64);
    let wire_per_msg = f.tally.window_bytes as f64 / msgs.max(1) as f64;
    let live = f.live();
    let ok = f.failures.is_empty() && live == a.conns;

    let mut fields = common_fields(a, f, "load");
    fields.extend([
        ("connect_s", Json::Num(connect_s)),
        ("warmup_s", Json::Num(a.warmup)),
        ("duration_s", Json::Num(elapsed)),
        ("msgs", Json::Int(msgs)),
        ("msgs_per_s", Json::Num(rate)),
        ("mb_per_s", Json::Num(mbps)),
        ("p50_us", Json::Num(p50)),
        ("p99_us", Json::Num(p99)),
        ("p999_us", Json::Num(p999)),
        ("server_cpu_s", cpu.map_or(Json::Num(f64::NAN), Json::Num)),
        (
            "cpu_us_per_msg",
            us_per_msg.map_or(Json::Num(f64::NAN), Json::Num),
        ),
        ("server_bytes_per_msg", Json::Num(wire_per_msg)),
        ("client_cpu_pct", Json::Num(100.0 * self_cpu / elapsed)),
        ("other_cpu_pct", Json::Num(other_pct)),
        ("failures", Json::Int((a.conns - live) as u64)),
    ]);
    print_target(a, f);
    eprintln!(
        "load          {} conns x {} in flight x {} B {}{}",
        a.conns,
        a.inflight,
        a.size,
        if a.binary { "binary" } else { "text" },
        if a.deflate {
            ", permessage-deflate"
        } else {
            ""
        }
    );
    eprintln!(
        "window        {elapsed:.1} s after {:.1} s warm-up ({connect_s:.2} s to connect)",
        a.warmup
    );
    eprintln!("echoes        {msgs} verified = {rate:.0} msg/s, {mbps:.2} MB/s payload");
    eprintln!("latency       p50 {p50:.0} us, p99 {p99:.0} us, p99.9 {p999:.0} us");
    eprintln!("wire          {wire_per_msg:.1} bytes from the server per echo (WebSocket frames)");
    if let (Some(c), Some(u)) = (cpu, us_per_msg) {
        eprintln!("server cpu    {c:.2} s = {u:.3} us per message");
    }
    eprintln!(
        "client cpu    {:.0} % of one core",
        100.0 * self_cpu / elapsed
    );
    eprintln!("other cpu     {other_pct:.0} % of one core (the rest of the machine)");
    report_failures(a, f, live);
    println!("{}", json_line(&fields));
    Ok(ok)
}

fn idle(a: &Args, f: &mut Fleet, rss_before: Option<u64>, connect_s: f64) -> std::io::Result<bool> {
    let deadline = Instant::now() + CONNECT_PATIENCE;
    f.run_while(|f| !f.all_done() && Instant::now() < deadline)?;
    // Let the server finish its pass and the allocator settle before reading its RSS.
    let settled = Instant::now() + Duration::from_secs_f64(a.settle);
    f.run_while(|_| Instant::now() < settled)?;
    let held = f.live();
    let served = f.tally.echoes;
    let rss = match (a.pid.as_deref(), rss_before) {
        (Some(pid), Some(before)) => Some((before, proc::rss_bytes(pid)?)),
        _ => None,
    };
    let per_conn = rss.map(|(b, after)| after.saturating_sub(b) as f64 / held.max(1) as f64);
    let ok = f.failures.is_empty() && held == a.conns && served == a.conns as u64;

    let mut fields = common_fields(a, f, "idle");
    fields.extend([
        ("connect_s", Json::Num(connect_s)),
        ("held", Json::Int(held as u64)),
        ("echoed", Json::Int(served)),
        (
            "rss_before",
            rss.map_or(Json::Num(f64::NAN), |(b, _)| Json::Int(b)),
        ),
        (
            "rss_after",
            rss.map_or(Json::Num(f64::NAN), |(_, a)| Json::Int(a)),
        ),
        (
            "rss_per_conn",
            per_conn.map_or(Json::Num(f64::NAN), Json::Num),
        ),
        ("failures", Json::Int((a.conns - held) as u64)),
    ]);
    print_target(a, f);
    eprintln!(
        "idle          {held} of {} connections held, {served} echoed once ({connect_s:.2} s to connect)",
        a.conns
    );
    if let (Some((before, after)), Some(p)) = (rss, per_conn) {
        eprintln!(
            "server rss    {:.1} MiB -> {:.1} MiB = {:.0} B ({:.2} KiB) per connection",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            p,
            p / 1024.0
        );
    }
    report_failures(a, f, held);
    println!("{}", json_line(&fields));
    Ok(ok)
}

fn target(a: &Args, f: &Fleet) -> String {
    format!("{}://{}{}", f.security.scheme(), a.host, a.path)
}

fn print_target(a: &Args, f: &Fleet) {
    eprintln!("target        {}", target(a, f));
    if let Some(tls) = &f.negotiated {
        eprintln!("tls           {tls}");
    }
}

fn report_failures(a: &Args, f: &Fleet, live: usize) {
    if live < a.conns {
        eprintln!("failures      {} connections lost", a.conns - live);
    }
    for why in &f.failures {
        eprintln!("  {why}");
    }
}
