//! Several reactors on one port (`Config::reactors`): how connections spread, the handle
//! reaching every reactor, shutdown of all; ids, sends, rooms, publishing and broadcasting
//! across reactors, and a full queue as an answer.
//!
//! Nothing here waits for time to pass. Where connections land is learnt from the server
//! (each is told its reactor on open), and clients are opened until every reactor has some.

mod common;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use common::{client, read_data, Client};
use wsreactor::{
    CloseCode, Config, ConnId, Ctx, Handle, Handler, Message, Request, SendError, SendStatus,
    Server, Spread,
};

/// Connections opened before the test gives up on a reactor getting one. With the kernel's
/// hash spreading them evenly, missing one of four reactors with this many has a
/// probability of 4 × (3/4)^400, about 10^-49.
const MAX_TRIES: usize = 400;

/// Sends each client the reactor that holds it, and tells the test each connection's id.
struct Report(mpsc::Sender<ConnId>);

impl Handler for Report {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
        assert_eq!(ctx.id().reactor(), ctx.reactor());
        let _ = self.0.send(ctx.id());
        ctx.send(ctx.reactor().to_string());
    }
}

/// A server of `reactors` reactors spread by `spread`, its handle, the ids of the
/// connections it opens (in the order they open), and its thread.
fn serve(
    reactors: usize,
    spread: Spread,
) -> (
    SocketAddr,
    Handle,
    mpsc::Receiver<ConnId>,
    JoinHandle<std::io::Result<()>>,
) {
    let config = Config::default().reactors(reactors).spread(spread);
    let server = Server::bind_with("127.0.0.1:0", config).unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, ids) = mpsc::channel();
    let (handle, thread) = server.spawn_with(move |_| Report(tx.clone()));
    (addr, handle, ids, thread)
}

/// A client and the reactor that holds it, as the server said.
fn open(addr: SocketAddr) -> (Client, usize) {
    let mut ws = client(addr);
    let reactor = read_data(&mut ws).into_text().unwrap().parse().unwrap();
    (ws, reactor)
}

/// Opens clients until every reactor holds at least one; returns them by reactor.
fn on_every_reactor(addr: SocketAddr, reactors: usize) -> Vec<Vec<Client>> {
    let mut by_reactor: Vec<Vec<Client>> = (0..reactors).map(|_| Vec::new()).collect();
    for _ in 0..MAX_TRIES {
        let (ws, reactor) = open(addr);
        by_reactor[reactor].push(ws);
        if by_reactor.iter().all(|c| !c.is_empty()) {
            return by_reactor;
        }
    }
    let counts: Vec<usize> = by_reactor.iter().map(Vec::len).collect();
    panic!("after {MAX_TRIES} connections, some reactor has none: {counts:?}");
}

/// Every client gets Close 1001 and the server's thread ends.
fn shut_down(handle: &Handle, clients: Vec<Vec<Client>>, thread: JoinHandle<std::io::Result<()>>) {
    handle.shutdown().unwrap();
    for mut ws in clients.into_iter().flatten() {
        match read_data(&mut ws) {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected Close 1001, got {other:?}"),
        }
    }
    thread.join().unwrap().unwrap();
    assert_eq!(handle.shutdown(), Err(wsreactor::SendError::Stopped));
}

#[test]
fn connections_land_on_every_reactor_by_port_and_shutdown_closes_them_all() {
    for reactors in [2, 4] {
        let (addr, handle, _ids, thread) = serve(reactors, Spread::ReusePort);
        let clients = on_every_reactor(addr, reactors);
        shut_down(&handle, clients, thread);
    }
}

#[test]
fn the_hand_off_deals_connections_to_the_reactors_in_turn() {
    for reactors in [2, 4] {
        let (addr, handle, _ids, thread) = serve(reactors, Spread::HandOff);
        let mut clients: Vec<Vec<Client>> = (0..reactors).map(|_| Vec::new()).collect();
        for n in 0..3 * reactors {
            let (ws, reactor) = open(addr);
            assert_eq!(reactor, n % reactors, "connection {n}");
            clients[reactor].push(ws);
        }
        shut_down(&handle, clients, thread);
    }
}

#[test]
fn a_socket_made_elsewhere_is_shared_by_hand_off() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config::default().reactors(2); // ReusePort asked, HandOff done
    let server = Server::from_listener(listener, config).unwrap();
    let (tx, _ids) = mpsc::channel();
    let (handle, thread) = server.spawn_with(move |_| Report(tx.clone()));
    let reactors: Vec<usize> = (0..4).map(|_| open(addr).1).collect();
    assert_eq!(reactors, [0, 1, 0, 1]);
    handle.shutdown().unwrap();
    thread.join().unwrap().unwrap();
}

#[test]
fn the_handle_reaches_connections_on_every_reactor() {
    let (addr, handle, ids, thread) = serve(4, Spread::ReusePort);
    let mut clients = on_every_reactor(addr, 4);
    let ids: Vec<ConnId> = ids.try_iter().collect();
    assert_eq!(ids.len(), clients.iter().map(Vec::len).sum::<usize>());
    // The ids came in the order the connections opened, one client at a time.
    let mut by_reactor: Vec<Vec<ConnId>> = vec![Vec::new(); 4];
    for id in ids {
        by_reactor[id.reactor()].push(id);
    }
    for (reactor, ids) in by_reactor.iter().enumerate() {
        for (ws, &id) in clients[reactor].iter_mut().zip(ids) {
            handle.send(id, format!("to {id}")).unwrap();
            assert_eq!(read_data(ws), Message::text(format!("to {id}")));
        }
    }
    handle.broadcast("everyone").unwrap();
    for ws in clients.iter_mut().flatten() {
        assert_eq!(read_data(ws), Message::text("everyone"));
    }
    let id = by_reactor[3][0];
    handle.close(id, CloseCode::Library(4000), "bye").unwrap();
    match read_data(&mut clients[3][0]) {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Library(4000)),
        other => panic!("expected Close 4000, got {other:?}"),
    }
    clients[3].remove(0);
    shut_down(&handle, clients, thread);
}

#[test]
fn single_reactor_calls_refuse_several_reactors() {
    let config = Config::default().reactors(2);
    let server = Server::bind_with("127.0.0.1:0", config.clone()).unwrap();
    let err = server.run(wsreactor::Echo).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let mut server = Server::bind_with("127.0.0.1:0", config).unwrap();
    let err = server.poll(&mut wsreactor::Echo, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn one_reactor_runs_with_a_made_handler_on_the_calling_thread() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let caller = std::thread::current().id();
    let handle = server.handle();
    let thread = std::thread::spawn(move || {
        let here = std::thread::current().id();
        assert_ne!(here, caller);
        server.run_with(move |reactor| {
            assert_eq!((reactor, std::thread::current().id()), (0, here));
            wsreactor::Echo
        })
    });
    let mut ws = client(addr);
    ws.send(Message::text("hi")).unwrap();
    assert_eq!(read_data(&mut ws), Message::text("hi"));
    drop(ws);
    handle.shutdown().unwrap();
    thread.join().unwrap().unwrap();
}

/// What the room tests' clients ask of the server, in text: `name N` (remember me as N),
/// `to N TEXT` (send TEXT to N; answers the `SendStatus`), `close N`, `pub TEXT` (publish
/// to "room", the sender included; answers only if refused), `others TEXT`, `size` (of
/// "room"), `block` (hold this reactor until the test says). Every connection joins "room"
/// when it opens and is told its reactor.
#[derive(Clone)]
struct Hub {
    names: Arc<Mutex<HashMap<String, ConnId>>>,
    /// `block` says so here, then waits for a word on `release`.
    blocked: mpsc::Sender<()>,
    release: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl Handler for Hub {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
        ctx.join("room").unwrap();
        ctx.send(ctx.reactor().to_string());
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        let text = msg.into_text().unwrap();
        let (verb, rest) = text.split_once(' ').unwrap_or((&text, ""));
        let named = |name: &str| self.names.lock().unwrap()[name];
        match verb {
            "name" => {
                self.names.lock().unwrap().insert(rest.into(), ctx.id());
                ctx.send("ok");
            }
            "to" => {
                let (name, body) = rest.split_once(' ').unwrap();
                let status = ctx.send_to(named(name), body.to_owned());
                ctx.send(format!("{status:?}"));
            }
            "close" => {
                let closed = ctx.close_conn(named(rest), CloseCode::Library(4001), "bye");
                ctx.send(closed.to_string());
            }
            "pub" => {
                if let Err(e) = ctx.publish("room", rest.to_owned()) {
                    ctx.send(format!("refused: {e:?}"));
                }
            }
            "others" => {
                let reached = ctx.publish_to_others("room", rest.to_owned());
                ctx.send(format!("{reached:?}"));
            }
            "size" => {
                let size = ctx.room_size("room");
                ctx.send(size.to_string());
            }
            "block" => {
                self.blocked.send(()).unwrap();
                self.release.lock().unwrap().recv().unwrap();
            }
            _ => panic!("unknown verb {verb}"),
        }
    }
}

/// A server of `reactors` reactors running [`Hub`]s; the test's ends of `block`.
fn hub(
    config: Config,
) -> (
    SocketAddr,
    Handle,
    JoinHandle<std::io::Result<()>>,
    mpsc::Receiver<()>,
    mpsc::Sender<()>,
) {
    let server = Server::bind_with("127.0.0.1:0", config).unwrap();
    let addr = server.local_addr().unwrap();
    let (blocked, on_block) = mpsc::channel();
    let (release, released) = mpsc::channel();
    let hub = Hub {
        names: Arc::default(),
        blocked,
        release: Arc::new(Mutex::new(released)),
    };
    let (handle, thread) = server.spawn_with(move |_| hub.clone());
    (addr, handle, thread, on_block, release)
}

fn say(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).unwrap();
}

fn answer(ws: &mut Client, text: &str) -> String {
    say(ws, text);
    read_data(ws).into_text().unwrap().to_string()
}

#[test]
fn a_room_spanning_reactors_gets_every_message_once_and_in_order() {
    for reactors in [2, 4] {
        let config = Config::default().reactors(reactors);
        let (addr, handle, thread, _, _) = hub(config);
        let mut clients = on_every_reactor(addr, reactors);
        let members = clients.iter().map(Vec::len).sum::<usize>();
        for ws in clients.iter_mut().flatten() {
            assert_eq!(
                answer(ws, "size"),
                members.to_string(),
                "seen from every reactor"
            );
        }
        // Two publishers on two reactors, interleaved.
        const N: usize = 200;
        for i in 0..N {
            say(&mut clients[0][0], &format!("pub a{i}"));
            say(&mut clients[reactors - 1][0], &format!("pub b{i}"));
        }
        for ws in clients.iter_mut().flatten() {
            let (mut a, mut b) = (0, 0);
            while a + b < 2 * N {
                let got = read_data(ws).into_text().unwrap().to_string();
                match got.split_at(1) {
                    ("a", i) => {
                        assert_eq!(i, a.to_string(), "publisher a's order");
                        a += 1;
                    }
                    ("b", i) => {
                        assert_eq!(i, b.to_string(), "publisher b's order");
                        b += 1;
                    }
                    _ => panic!("unexpected {got:?} after {a} + {b}"),
                }
            }
        }
        // Every member has had all of them; nothing came twice if the next is the last.
        say(&mut clients[0][0], "pub end");
        for ws in clients.iter_mut().flatten() {
            assert_eq!(read_data(ws), Message::text("end"));
        }
        shut_down(&handle, clients, thread);
    }
}

#[test]
fn send_to_and_close_conn_reach_connections_on_other_reactors() {
    for reactors in [2, 4] {
        let config = Config::default().reactors(reactors).spread(Spread::HandOff);
        let (addr, handle, thread, _, _) = hub(config);
        // Dealt in turn: client i is on reactor i.
        let mut ring: Vec<Client> = (0..reactors)
            .map(|i| {
                let (mut ws, reactor) = open(addr);
                assert_eq!(reactor, i);
                assert_eq!(answer(&mut ws, &format!("name {i}")), "ok");
                ws
            })
            .collect();
        for i in 0..reactors {
            let next = (i + 1) % reactors;
            let status = answer(&mut ring[i], &format!("to {next} from {i}"));
            assert_eq!(status, format!("{:?}", SendStatus::Queued));
            assert_eq!(
                read_data(&mut ring[next]),
                Message::text(format!("from {i}"))
            );
        }
        assert_eq!(
            answer(&mut ring[0], "others hello"),
            format!("Ok({})", reactors - 1)
        );
        for ws in &mut ring[1..] {
            assert_eq!(read_data(ws), Message::text("hello"));
        }
        assert_eq!(
            answer(&mut ring[0], &format!("close {}", reactors - 1)),
            "true"
        );
        match read_data(&mut ring[reactors - 1]) {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Library(4001)),
            other => panic!("expected Close 4001, got {other:?}"),
        }
        ring.pop();
        shut_down(&handle, vec![ring], thread);
    }
}

/// Reactor 1 is held in a callback, so its queue (of one command) fills and stays full:
/// sends and publishes that need it are refused, and nothing reaches anyone twice.
#[test]
fn a_full_queue_is_an_answer_and_nothing_is_sent_in_part() {
    let config = (Config::default().reactors(2).spread(Spread::HandOff)).command_queue_capacity(1);
    let (addr, handle, thread, on_block, release) = hub(config);
    let (mut a, _) = open(addr); // reactor 0
    let (mut b, _) = open(addr); // reactor 1
    let (mut c, _) = open(addr); // reactor 0
    assert_eq!(answer(&mut b, "name b"), "ok");
    say(&mut b, "block");
    on_block.recv().unwrap();
    // The first takes the one place in reactor 1's queue; then it is full.
    assert_eq!(
        answer(&mut a, "to b one"),
        format!("{:?}", SendStatus::Queued)
    );
    assert_eq!(
        answer(&mut a, "to b two"),
        format!("{:?}", SendStatus::Full)
    );
    assert_eq!(
        answer(&mut a, "pub everyone"),
        format!("refused: {:?}", SendError::Full)
    );
    assert_eq!(
        answer(&mut a, "others everyone"),
        format!("Err({:?})", SendError::Full)
    );
    assert_eq!(handle.broadcast("from the handle"), Err(SendError::Full));
    release.send(()).unwrap();
    assert_eq!(read_data(&mut b), Message::text("one"));
    // Refused whole: reactor 0's members got nothing either. Now it goes through.
    say(&mut a, "pub after");
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(read_data(ws), Message::text("after"));
    }
    shut_down(&handle, vec![vec![a, b, c]], thread);
}
