//! Connection limits: `max_connections` answers 503 without disturbing open connections,
//! and a flood of new connections cannot starve the open ones.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    blocking_echo, client, probe_server, read_head, read_to_eof, tcp, upgrade_request, PATIENCE,
};
use tungstenite::Message;
use wsreactor::Config;

#[test]
fn connections_past_max_get_503_and_open_ones_keep_working() {
    let (blocked, _) = mpsc::channel();
    let (_, release) = mpsc::channel();
    let config = Config::default().max_connections(2);
    let (addr, closes) = probe_server(config, blocking_echo(blocked, release));
    let mut first = client(addr);
    let mut second = client(addr);

    for _ in 0..3 {
        let mut refused = tcp(addr);
        refused
            .write_all(upgrade_request(addr, "/").as_bytes())
            .unwrap();
        let head = read_head(&mut refused);
        assert!(head.starts_with("HTTP/1.1 503 "), "got {head:?}");
    }

    for ws in [&mut first, &mut second] {
        ws.send(Message::text("still here")).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text("still here"));
    }
    assert!(closes.try_recv().is_err(), "no open connection was closed");

    // Once a connection is gone its slot is free again (the server ends it a moment after
    // the close handshake, so retry until then).
    first.close(None).unwrap();
    while first.read().is_ok() {}
    drop(first);
    common::next_close(&closes);
    let deadline = Instant::now() + PATIENCE;
    let mut third = loop {
        let mut stream = tcp(addr);
        stream
            .write_all(upgrade_request(addr, "/").as_bytes())
            .unwrap();
        let head = read_head(&mut stream);
        if head.starts_with("HTTP/1.1 101") {
            break tungstenite::WebSocket::from_raw_socket(
                stream,
                tungstenite::protocol::Role::Client,
                None,
            );
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        thread::sleep(Duration::from_millis(10));
    };
    third.send(Message::text("in")).unwrap();
    assert_eq!(third.read().unwrap(), Message::text("in"));
}

/// A refused client usually has its request on the wire before the server looks at it.
/// Closing a socket with unread bytes sends a reset instead of a FIN, and some stacks drop
/// received data on a reset; the server reads what arrived first, so the 503 ends cleanly.
#[test]
fn refused_client_reads_the_503_and_a_clean_end_even_with_its_request_unread() {
    let (blocked_tx, blocked) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let config = Config::default().max_connections(1);
    let (addr, _closes) = probe_server(config, blocking_echo(blocked_tx, release_rx));
    let mut holder = client(addr);

    holder.send(Message::text("block")).unwrap();
    blocked.recv_timeout(PATIENCE).unwrap();
    // The reactor is stuck: this connection and its request wait in the kernel.
    let mut refused = tcp(addr);
    refused
        .write_all(upgrade_request(addr, "/").as_bytes())
        .unwrap();
    release.send(()).unwrap();

    let head = read_head(&mut refused);
    assert!(head.starts_with("HTTP/1.1 503 "), "got {head:?}");
    let rest = read_to_eof(&mut refused).expect("a clean end (FIN), not a reset");
    assert!(rest.is_empty());

    holder.send(Message::text("after")).unwrap();
    assert_eq!(holder.read().unwrap(), Message::text("after"));
}

/// A hundred connections arrive at once; an open client's message is handled after only
/// a bounded number of them have been accepted (64 per pass), not after all. (The flood is
/// kept under the listener's backlog of 128, past which the kernel itself makes clients
/// wait.)
#[test]
fn a_connection_flood_does_not_starve_open_clients() {
    const FLOOD: usize = 100;
    let (blocked_tx, blocked) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let (addr, _closes) = probe_server(Config::default(), blocking_echo(blocked_tx, release_rx));
    let mut open = client(addr);
    let mut blocker = client(addr);

    blocker.send(Message::text("block")).unwrap();
    blocked.recv_timeout(PATIENCE).unwrap();
    let flood: Vec<TcpStream> = (0..FLOOD).map(|_| tcp(addr)).collect();
    open.send(Message::text("count")).unwrap();
    release.send(()).unwrap();

    let held: usize = open.read().unwrap().to_text().unwrap().parse().unwrap();
    assert!(
        held < 2 + FLOOD,
        "all {FLOOD} new connections were accepted before an open client was served"
    );
    drop(flood);
}
