//! Several reactors on one port (`Config::reactors`): how connections spread, the handle
//! reaching every reactor, shutdown of all.
//!
//! Nothing here waits for time to pass. Where connections land is learnt from the server
//! (each is told its reactor on open), and clients are opened until every reactor has some.

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use common::{client, read_data, Client};
use wsreactor::{
    CloseCode, Config, ConnId, Ctx, Handle, Handler, Message, Request, Server, Spread,
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
