//! Slow consumers and floods: reading pauses above the soft backpressure limit and resumes
//! when the queue drains; past the hard limit the connection is closed with 1008; a paused
//! connection whose peer resets or goes silent is still reaped; and a flooding client gets
//! a bounded share of each pass, so other clients are answered before its backlog is.

mod common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{
    client, client_at, client_frame, close_code, manual_clock, next_close, probe_server,
    raw_upgraded, read_frame, spawn_server, Client, PATIENCE,
};
use tungstenite::Message;
use wsreactor::{
    BackpressurePolicy, Cause, CloseCode, Config, ConnId, Ctx, Disconnect, Handler, Request,
};

/// Frames in a flood, 1 KiB each: 32 MiB, far more than loopback socket buffers hold
/// (about 4 MiB each way on Linux), so a server that keeps reading would take them all.
const FLOOD_FRAMES: usize = 32 << 10;
const FRAME: usize = 1024;

/// Echoes; binary messages (the flood) are counted as they are handled.
fn counting_echo(count: Arc<AtomicUsize>) -> impl FnMut(&mut Ctx<'_>, Message) + Send {
    move |ctx, msg| {
        if msg.is_binary() {
            count.fetch_add(1, Ordering::SeqCst);
        }
        ctx.send(msg);
    }
}

/// `FLOOD_FRAMES` binary frames whose payloads start with their index, encoded up front
/// so the writer goes as fast as the socket lets it.
fn flood_bytes() -> Vec<u8> {
    let template = client_frame(true, 0x2, &[0u8; FRAME]);
    let header = template.len() - FRAME;
    let mask = template[header - 4..header].to_vec();
    let mut all = Vec::with_capacity(template.len() * FLOOD_FRAMES);
    for i in 0..FLOOD_FRAMES {
        let at = all.len() + header;
        all.extend_from_slice(&template);
        for (k, b) in (i as u32).to_be_bytes().iter().enumerate() {
            all[at + k] = b ^ mask[k];
        }
    }
    all
}

/// Starts a peer that writes the flood as fast as it can and never reads. Returns its
/// socket (for reading later) and the writer, which yields the number of whole frames it
/// got out before an error.
fn start_flood(addr: SocketAddr) -> (TcpStream, JoinHandle<usize>) {
    let bytes = flood_bytes();
    let frame_len = bytes.len() / FLOOD_FRAMES;
    let stream = raw_upgraded(addr);
    let mut writer = stream.try_clone().unwrap();
    let handle = thread::spawn(move || {
        let mut written = 0;
        for chunk in bytes.chunks(64 << 10) {
            if writer.write_all(chunk).is_err() {
                break;
            }
            written += chunk.len();
        }
        written / frame_len
    });
    (stream, handle)
}

/// Lets the server run `n` passes: each echo round trip of another client needs one.
fn let_server_run(other: &mut Client, n: usize) {
    for _ in 0..n {
        other.send(Message::text("tick")).unwrap();
        assert_eq!(other.read().unwrap(), Message::text("tick"));
    }
}

/// A flooding peer the server has stopped reading, and the client used to drive passes.
struct Paused {
    stream: TcpStream,
    writer: JoinHandle<usize>,
    _other: Client,
}

/// Floods until the server must have stopped reading: after 2,000 passes (each may read
/// 64 KiB, 125 MiB in all) it has handled under half the flood. Fails if it kept reading.
fn flood_until_paused(addr: SocketAddr, count: &AtomicUsize) -> Paused {
    let mut other = client(addr);
    let (stream, writer) = start_flood(addr);
    let_server_run(&mut other, 2_000);
    let handled = count.load(Ordering::SeqCst);
    assert!(
        handled < FLOOD_FRAMES / 2,
        "the server kept reading a peer that does not read: {handled} messages handled"
    );
    Paused {
        stream,
        writer,
        _other: other,
    }
}

#[test]
fn reading_pauses_above_the_soft_limit_and_resumes_when_drained() {
    let count = Arc::new(AtomicUsize::new(0));
    // The hard limit is out of the way: this is about the soft one.
    let config = Config::default().max_backpressure(1 << 30);
    let (addr, _closes) = probe_server(config, counting_echo(count.clone()));
    let flood = flood_until_paused(addr, &count);

    // Now the peer reads: every echo arrives, in order, as the server resumes reading.
    let mut reader = BufReader::new(flood.stream);
    for i in 0..FLOOD_FRAMES {
        let (opcode, payload) = read_frame(&mut reader).unwrap();
        assert_eq!(opcode, 0x2);
        assert_eq!(
            payload[..4],
            (i as u32).to_be_bytes(),
            "echo {i} out of order"
        );
    }
    assert_eq!(flood.writer.join().unwrap(), FLOOD_FRAMES);
}

#[test]
fn paused_connection_whose_peer_resets_is_closed() {
    let count = Arc::new(AtomicUsize::new(0));
    let (addr, closes) = probe_server(Config::default(), counting_echo(count.clone()));
    let flood = flood_until_paused(addr, &count);

    // Unblock the writer, then close with unread echoes: the kernel sends a reset.
    flood.stream.shutdown(std::net::Shutdown::Write).unwrap();
    flood.writer.join().unwrap();
    drop(flood.stream);
    let why = next_close(&closes);
    assert_eq!((why.code, why.cause), (CloseCode::Abnormal, Cause::Reset));
}

#[test]
fn paused_connection_whose_peer_never_reads_is_closed_1008_after_an_idle_period() {
    let count = Arc::new(AtomicUsize::new(0));
    let idle = Duration::from_secs(10);
    let (clock, config) = manual_clock();
    let config = config
        .idle_timeout(Some(idle))
        .pong_timeout(idle)
        .close_timeout(idle);
    let (addr, closes) = probe_server(config, counting_echo(count.clone()));
    let flood = flood_until_paused(addr, &count);

    // The peer does not read; the paused server does not read it either, so the idle
    // timer measures how long the queue has been stuck above the soft limit. Time has
    // not moved yet, so one idle period passes for every connection at once: the paused
    // one is closed, the client that drove the passes is only pinged.
    clock.advance(idle + Duration::from_secs(1));
    let why = next_close(&closes);
    assert_eq!(
        (why.code, why.cause),
        (CloseCode::Policy, Cause::Backpressure)
    );
    // Its close frame cannot go out; after the close timeout the socket is dropped, and
    // the writer gets its error.
    clock.advance(idle + Duration::from_secs(1));
    flood.writer.join().unwrap();
}

/// Forwards what `/source` sends to `/sink` and acknowledges each message to the source.
struct Forward {
    sink: Option<ConnId>,
    closed: mpsc::Sender<Disconnect>,
}

impl Handler for Forward {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, req: &Request) {
        if req.path() == "/sink" {
            self.sink = Some(ctx.id());
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        let forwarded = (self.sink).is_some_and(|sink| ctx.send_to(sink, msg).is_queued());
        ctx.send(if forwarded { "ok" } else { "dropped" });
    }

    fn on_close(&mut self, _ctx: &mut Ctx<'_>, why: &Disconnect) {
        let _ = self.closed.send(why.clone());
    }
}

/// A consumer that never reads while another client feeds it: its queue passes the hard
/// limit (1 MiB by default) and it is closed with 1008; the feeding client carries on.
#[test]
fn consumer_past_the_hard_limit_is_closed_1008_and_others_are_unaffected() {
    let (closed, closes) = mpsc::channel();
    // Time stands still (a manual clock nobody advances), so the close timeout cannot
    // pass before the sink reads its close frame after the fact.
    let (_clock, config) = manual_clock();
    let addr = spawn_server(config, Forward { sink: None, closed });
    let mut sink = common::tcp(addr);
    sink.write_all(common::upgrade_request(addr, "/sink").as_bytes())
        .unwrap();
    assert!(common::read_head(&mut sink).starts_with("HTTP/1.1 101"));
    let mut source = client_at(addr, "/source");

    // 16 MiB: more than the kernel buffers plus the hard limit.
    let chunk = Message::binary(vec![7u8; 512 << 10]);
    let mut replies = Vec::new();
    for _ in 0..32 {
        source.send(chunk.clone()).unwrap();
        replies.push(source.read().unwrap().into_text().unwrap().to_string());
    }
    let why = next_close(&closes);
    assert_eq!(
        (why.code, why.cause),
        (CloseCode::Policy, Cause::Backpressure)
    );
    assert!(
        replies.iter().any(|r| r == "dropped"),
        "the sink was cut off"
    );
    assert!(closes.try_recv().is_err(), "only the sink was closed");

    // What the sink reads ends with Close 1008.
    let mut reader = BufReader::new(sink);
    let last = loop {
        let (opcode, payload) = read_frame(&mut reader).unwrap();
        if opcode == 0x8 {
            break close_code(&payload);
        }
    };
    assert_eq!(last, 1008);
}

/// One client has 5,000 small messages queued at the server when another sends one. The
/// flooder gets `messages_per_pass` (64) of them handled per pass, so the other's message
/// is handled after at most 64 of the flood, not after all of it. (An ordering fact, not a
/// timing one: the reactor is held in a handler while both arrive.)
#[test]
fn a_flooding_client_cannot_starve_another() {
    // 7-byte frames, 35 KB: all of it fits in the server's socket receive queue (and in
    // one 64 KiB read), so all of it is there when the server next looks.
    const BACKLOG: usize = 5_000;
    let per_pass = Config::default().get_messages_per_pass();
    let flooded = Arc::new(AtomicUsize::new(0));
    let (blocked_tx, blocked) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let seen = flooded.clone();
    let (addr, _closes) = probe_server(Config::default(), move |ctx, msg| match msg.to_text() {
        Ok("block") => {
            blocked_tx.send(()).unwrap();
            release_rx.recv_timeout(PATIENCE).unwrap();
        }
        Ok("probe") => {
            ctx.send(seen.load(Ordering::SeqCst).to_string());
        }
        Ok("tick") => {
            ctx.send(msg);
        }
        _ => {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let mut other = client(addr);
    let mut flooder = raw_upgraded(addr);

    flooder
        .write_all(&client_frame(true, 0x1, b"block"))
        .unwrap();
    blocked.recv_timeout(PATIENCE).unwrap();
    let backlog: Vec<u8> = (0..BACKLOG)
        .flat_map(|_| client_frame(true, 0x2, b"x"))
        .collect();
    let (written_tx, written) = mpsc::channel();
    let writer = thread::spawn(move || {
        flooder.write_all(&backlog).unwrap();
        written_tx.send(()).unwrap();
        flooder
    });
    written
        .recv_timeout(PATIENCE)
        .expect("the backlog fits in the socket buffers");
    other.send(Message::text("probe")).unwrap();
    release.send(()).unwrap();

    let handled: usize = other.read().unwrap().to_text().unwrap().parse().unwrap();
    assert!(
        handled <= per_pass,
        "{handled} flood messages were handled before the other client's one"
    );
    // The flood is not lost, only spread over passes.
    let deadline = Instant::now() + PATIENCE;
    while flooded.load(Ordering::SeqCst) < BACKLOG {
        assert!(Instant::now() < deadline, "the flood was not fully served");
        let_server_run(&mut other, 1);
    }
    drop(writer.join().unwrap());
}

/// The case: one message larger than the hard limit, then a small one. `send`
/// says what became of each; under the default policy the second closes the connection
/// with 1008, under `BackpressurePolicy::Drop` only the second message is dropped.
#[test]
fn a_send_past_the_hard_limit_says_so_and_the_policy_decides_the_rest() {
    let big = 5 << 20;
    let statuses = |reported: Arc<std::sync::Mutex<String>>| {
        move |ctx: &mut Ctx<'_>, msg: Message| match msg.to_text() {
            Ok("go") => {
                let first = ctx.send(Message::binary(vec![7u8; big]));
                let second = ctx.send("after big");
                *reported.lock().unwrap() = format!("{first:?} {second:?}");
            }
            Ok("report") => {
                let report = reported.lock().unwrap().clone();
                ctx.send(report);
            }
            _ => {}
        }
    };
    let config = Config::default()
        .max_message_size(big + 1024)
        .max_frame_size(big + 1024);

    // Default: close 1008.
    let reported = Arc::default();
    let (addr, closed) = probe_server(config.clone(), statuses(Arc::clone(&reported)));
    let mut ws = client(addr);
    ws.send(Message::text("go")).unwrap();
    let why = next_close(&closed);
    assert_eq!(
        (why.code, why.cause),
        (CloseCode::Policy, Cause::Backpressure)
    );
    assert_eq!(*reported.lock().unwrap(), "Backpressure Dropped");

    // Drop: the big message arrives, the small one was dropped, the connection stays.
    let config = config.backpressure_policy(BackpressurePolicy::Drop);
    let (addr, closed) = probe_server(config, statuses(Arc::default()));
    let mut ws = client(addr);
    ws.send(Message::text("go")).unwrap();
    assert_eq!(common::read_data(&mut ws).len(), big);
    ws.send(Message::text("report")).unwrap();
    assert_eq!(
        common::read_data(&mut ws),
        Message::text("Backpressure Dropped")
    );
    assert!(closed.try_recv().is_err(), "still open");
}
