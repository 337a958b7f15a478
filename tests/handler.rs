//! The handler API: the closure form, lifecycle callbacks, sending across connections,
//! closing with a code, and panics isolated to one connection.

mod common;

use std::sync::mpsc::{channel, Sender};

use common::{client, client_at, spawn_server, PATIENCE};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::Message;
use wsreactor::{Cause, Config, ConnId, Ctx, Disconnect, Handler, Request};

#[test]
fn closure_reply_is_sent_and_none_is_silent() {
    let addr = spawn_server(Config::default(), |msg: Message| match msg.to_text() {
        Ok("quiet") => None,
        _ => Some(msg),
    });
    let mut ws = client(addr);
    ws.send(Message::text("quiet")).unwrap();
    ws.send(Message::text("loud")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("loud"));
}

#[derive(Debug)]
enum Seen {
    Open(ConnId, String),
    Close(ConnId, Disconnect),
}

/// Relays `to:<slot>.<gen>:<text>` to another connection, `close` closes with 4000,
/// `panic` panics; reports opens and closes to the test.
struct Relay(Sender<Seen>);

impl Handler for Relay {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, req: &Request) {
        self.0
            .send(Seen::Open(ctx.id(), req.target().to_owned()))
            .unwrap();
        ctx.send(ctx.id().to_string());
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        let text = msg.to_text().unwrap_or_default().to_owned();
        if text == "close" {
            ctx.close(CloseCode::Library(4000), "asked to");
        } else if text == "panic" {
            panic!("handler bug (expected by the test)");
        } else if let Some((to, body)) = text.strip_prefix("to:").and_then(|r| r.split_once(':')) {
            let relayed = format!("from {}: {body}", ctx.id());
            let delivered = ids_seen()
                .iter()
                .any(|id| id.to_string() == to && ctx.send_to(*id, relayed.clone()).is_queued());
            ctx.send(if delivered {
                "delivered"
            } else {
                "no such connection"
            });
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>, why: &Disconnect) {
        self.0.send(Seen::Close(ctx.id(), why.clone())).unwrap();
    }
}

thread_local! {
    static IDS: std::cell::RefCell<Vec<ConnId>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn ids_seen() -> Vec<ConnId> {
    IDS.with(|ids| ids.borrow().clone())
}

struct Recording<H>(H);

impl<H: Handler> Handler for Recording<H> {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, req: &Request) {
        IDS.with(|ids| ids.borrow_mut().push(ctx.id()));
        self.0.on_open(ctx, req)
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        self.0.on_message(ctx, msg)
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_>, why: &Disconnect) {
        self.0.on_close(ctx, why)
    }
}

fn next(rx: &std::sync::mpsc::Receiver<Seen>) -> Seen {
    rx.recv_timeout(PATIENCE).expect("an event from the server")
}

#[test]
fn lifecycle_send_to_close_and_panic() {
    let (tx, rx) = channel();
    let addr = spawn_server(Config::default(), Recording(Relay(tx)));

    let mut a = client_at(addr, "/room?x=1");
    let Seen::Open(a_id, target) = next(&rx) else {
        panic!()
    };
    assert_eq!(target, "/room?x=1");
    assert_eq!(a.read().unwrap(), Message::text(a_id.to_string()));

    let mut b = client(addr);
    let Seen::Open(b_id, _) = next(&rx) else {
        panic!()
    };
    assert_ne!(a_id, b_id);
    assert_eq!(b.read().unwrap(), Message::text(b_id.to_string()));

    // a → b by id
    a.send(Message::text(format!("to:{b_id}:hello"))).unwrap();
    assert_eq!(a.read().unwrap(), Message::text("delivered"));
    assert_eq!(
        b.read().unwrap(),
        Message::text(format!("from {a_id}: hello"))
    );

    // the client closes: both sides see code and reason
    b.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .unwrap();
    assert!(matches!(b.read(), Ok(Message::Close(Some(f))) if f.reason == "bye"));
    let Seen::Close(id, why) = next(&rx) else {
        panic!()
    };
    assert_eq!(
        (id, why.code, why.reason.as_str(), why.cause),
        (b_id, CloseCode::Normal, "bye", Cause::PeerClosed)
    );

    // a stale id reaches nobody
    a.send(Message::text(format!("to:{b_id}:anyone?"))).unwrap();
    assert_eq!(a.read().unwrap(), Message::text("no such connection"));

    // the server closes with a code and reason
    a.send(Message::text("close")).unwrap();
    match a.read() {
        Ok(Message::Close(Some(f))) => {
            assert_eq!(
                (f.code, f.reason.as_str()),
                (CloseCode::Library(4000), "asked to")
            )
        }
        other => panic!("expected close, got {other:?}"),
    }
    // reading on sends the client's half of the close handshake; then the server hangs up
    assert!(matches!(
        a.read(),
        Err(tungstenite::Error::ConnectionClosed)
    ));
    let Seen::Close(id, why) = next(&rx) else {
        panic!()
    };
    assert_eq!(
        (id, why.code, why.cause),
        (a_id, CloseCode::Library(4000), Cause::ServerClosed)
    );

    // a panicking callback costs its connection (1011), not the server
    let mut c = client(addr);
    let Seen::Open(c_id, _) = next(&rx) else {
        panic!()
    };
    c.read().unwrap();
    c.send(Message::text("panic")).unwrap();
    assert!(matches!(c.read(), Ok(Message::Close(Some(f))) if f.code == CloseCode::Error));
    let Seen::Close(id, why) = next(&rx) else {
        panic!()
    };
    assert_eq!((id, why.cause), (c_id, Cause::HandlerPanic));

    let mut d = client(addr);
    let Seen::Open(d_id, _) = next(&rx) else {
        panic!()
    };
    assert_eq!(d.read().unwrap(), Message::text(d_id.to_string()));
}

#[test]
fn a_program_can_drive_the_reactor_from_its_own_loop() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let mut server = wsreactor::Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let passes = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut echo = wsreactor::Echo;
            let mut passes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                server
                    .poll(&mut echo, Some(Duration::from_millis(5)))
                    .unwrap();
                passes += 1; // the program's own work would go here
            }
            passes
        })
    };
    let mut ws = client(addr);
    ws.send(Message::text("stepped")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("stepped"));
    stop.store(true, Ordering::Relaxed);
    assert!(
        passes.join().unwrap() >= 2,
        "poll returns after each bounded pass"
    );
}

/// `on_start` runs once, before any connection: a periodic timer it sets fires with nobody
/// connected, and keeps firing for clients that come later.
#[test]
fn on_start_sets_a_timer_that_runs_without_connections() {
    use std::sync::mpsc;
    use std::time::Duration;
    use wsreactor::{ServerCtx, TimerId};

    const TICK: Duration = Duration::from_secs(5);

    struct Ticker {
        ticks: mpsc::Sender<usize>,
        starts: usize,
    }

    impl Handler for Ticker {
        fn on_start(&mut self, ctx: &mut ServerCtx<'_>) {
            self.starts += 1;
            ctx.set_timer(TICK);
            // Time may move only once the timer is set: tell the test.
            let _ = self.ticks.send(usize::MAX);
        }
        fn on_timer(&mut self, ctx: &mut ServerCtx<'_>, _timer: TimerId) {
            let reached = ctx.broadcast(format!("tick after {} start", self.starts));
            let reached = reached.unwrap();
            let _ = self.ticks.send(reached);
            ctx.set_timer(TICK);
        }
    }

    let (clock, config) = common::manual_clock();
    let (tx, ticks) = mpsc::channel();
    let addr = common::spawn_server(
        config,
        Ticker {
            ticks: tx,
            starts: 0,
        },
    );
    assert_eq!(
        ticks.recv_timeout(common::PATIENCE),
        Ok(usize::MAX),
        "started"
    );
    clock.advance(TICK);
    assert_eq!(
        ticks.recv_timeout(common::PATIENCE),
        Ok(0),
        "the first tick reaches nobody"
    );
    let mut ws = common::client(addr);
    clock.advance(TICK);
    assert_eq!(ticks.recv_timeout(common::PATIENCE), Ok(1));
    assert_eq!(ws.read().unwrap(), Message::text("tick after 1 start"));
}

/// Reports every message it is lent or handed, as `(text?, payload)`, and echoes it with
/// `Ctx::send`, which copies a lent one straight into the outbound buffer.
struct Lender(Sender<(Option<String>, Vec<u8>)>);

impl Handler for Lender {
    fn on_message_ref(&mut self, ctx: &mut Ctx<'_>, msg: wsreactor::MessageRef<'_>) {
        let text = msg.as_text().map(str::to_owned);
        assert_eq!(text.is_some(), msg.is_text());
        self.0.send((text, msg.as_bytes().to_vec())).unwrap();
        ctx.send(msg);
    }
}

#[test]
fn on_message_ref_gets_every_message_lent_or_owned_and_send_echoes_it_verbatim() {
    use common::{client_frame, raw_upgraded, read_frame};
    use std::io::Write;
    let (tx, rx) = channel();
    let addr = spawn_server(Config::default(), Lender(tx));
    let mut stream = raw_upgraded(addr);
    let large = vec![7u8; 100_000];
    let long_text = "κόσμε ✓ ".repeat(10_000);
    // Whole in one read (lent): ASCII, non-ASCII text, binary. Then collected in their own
    // buffer: a fragmented text, and a binary and a text frame larger than one read.
    let mut wire = Vec::new();
    wire.extend(client_frame(true, 0x1, b"ascii"));
    wire.extend(client_frame(true, 0x1, "κόσμε ✓".as_bytes()));
    wire.extend(client_frame(true, 0x2, &[0, 255, 1]));
    wire.extend(client_frame(false, 0x1, b"frag"));
    wire.extend(client_frame(true, 0x0, "ment é".as_bytes()));
    wire.extend(client_frame(true, 0x2, &large));
    wire.extend(client_frame(true, 0x1, long_text.as_bytes()));
    stream.write_all(&wire).unwrap();
    let expected: [(u8, &[u8]); 6] = [
        (0x1, b"ascii"),
        (0x1, "κόσμε ✓".as_bytes()),
        (0x2, &[0, 255, 1]),
        (0x1, "fragment é".as_bytes()),
        (0x2, &large),
        (0x1, long_text.as_bytes()),
    ];
    for (opcode, payload) in expected {
        let (text, got) = rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(got, payload);
        let want_text = (opcode == 0x1).then(|| String::from_utf8(payload.to_vec()).unwrap());
        assert_eq!(text, want_text);
        assert_eq!(read_frame(&mut stream).unwrap(), (opcode, payload.to_vec()));
    }
}

#[test]
fn a_whole_small_text_frame_that_is_not_utf8_is_failed_with_1007_before_the_handler() {
    use common::{client_frame, close_code, raw_upgraded, read_frame};
    use std::io::Write;
    let (tx, rx) = channel();
    let addr = spawn_server(Config::default(), Lender(tx));
    let mut stream = raw_upgraded(addr);
    stream
        .write_all(&client_frame(true, 0x1, b"ok \xff"))
        .unwrap();
    let (opcode, payload) = read_frame(&mut stream).unwrap();
    assert_eq!((opcode, close_code(&payload)), (0x8, 1007));
    assert!(rx.try_recv().is_err(), "the handler saw nothing");
}
