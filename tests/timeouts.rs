//! Timeouts: handshake (slowloris), keepalive ping and pong timeout, close handshake and
//! lingering sockets. Every timeout under test is set to milliseconds and the tests assert
//! what happened (close codes, `on_close` causes, what the client reads), never how fast.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    client, client_frame, close_code, next_close, probe_server, raw_upgraded, read_frame,
    read_head, read_to_eof, tcp, PATIENCE,
};
use tungstenite::Message;
use wsreactor::{Cause, CloseCode, Config, Ctx};

fn echo(ctx: &mut Ctx<'_>, msg: Message) {
    ctx.send(msg);
}

/// A connection that never completes its request is dropped: the client reads a clean end
/// and no response. (Without the timeout the read would wait out PATIENCE and fail.)
#[test]
fn stalled_handshake_is_closed_after_the_handshake_timeout() {
    let config = Config::default().handshake_timeout(Duration::from_millis(50));
    let (addr, _closes) = probe_server(config, echo);
    let mut stream = tcp(addr);
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let got = read_to_eof(&mut stream).expect("the server closes the connection");
    assert!(got.is_empty(), "no response to an incomplete request");
}

/// A slowloris client keeps sending one header byte at a time; the deadline counts from
/// the accept, not from the last byte, so it is dropped long before its headers could
/// reach the 8 KiB limit (which would be answered with 431 instead).
#[test]
fn trickling_request_does_not_extend_the_handshake_timeout() {
    let config = Config::default().handshake_timeout(Duration::from_millis(100));
    let (addr, _closes) = probe_server(config, echo);
    let mut reader = tcp(addr);
    let mut writer = reader.try_clone().unwrap();
    let trickle = thread::spawn(move || {
        let mut sent = 0usize;
        let request = b"GET / HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain([b'a'; 16 << 10].iter());
        for byte in request {
            if writer.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            thread::sleep(Duration::from_millis(1));
        }
        sent
    });
    // The end comes as EOF, or as a reset when trickled bytes were still unread.
    let got = read_to_eof(&mut reader).unwrap_or_default();
    assert!(
        got.is_empty(),
        "got a response: {:?}",
        String::from_utf8_lossy(&got)
    );
    let sent = trickle.join().unwrap();
    assert!(
        sent < 8 << 10,
        "the trickle ran to the header limit ({sent} bytes)"
    );
}

/// Keepalive: a peer that stops sending gets a Ping after `idle_timeout`; if nothing comes
/// back within `pong_timeout` the server sends Close 1001 and ends the connection, and
/// `on_close` reports `IdleTimeout`.
#[test]
fn silent_peer_gets_a_ping_then_close_1001() {
    let config = Config::default()
        .idle_timeout(Some(Duration::from_millis(50)))
        .pong_timeout(Duration::from_millis(50));
    let (addr, closes) = probe_server(config, echo);
    let mut peer = raw_upgraded(addr);

    let (opcode, _) = read_frame(&mut peer).unwrap();
    assert_eq!(opcode, 0x9, "a Ping first");
    let (opcode, payload) = read_frame(&mut peer).unwrap();
    assert_eq!((opcode, close_code(&payload)), (0x8, 1001));
    let why = next_close(&closes);
    assert_eq!(why.code, CloseCode::Away);
    assert_eq!(why.cause, Cause::IdleTimeout);
}

/// A peer that answers the keepalive pings stays open through many idle periods, and is
/// pinged again one idle period after each answer, even when the pong timeout is longer
/// than the idle timeout (here longer than the client waits for anything).
#[test]
fn peer_answering_pings_stays_open() {
    let config = Config::default()
        .idle_timeout(Some(Duration::from_millis(20)))
        .pong_timeout(PATIENCE * 3);
    let (addr, closes) = probe_server(config, echo);
    let mut ws = client(addr);
    for _ in 0..5 {
        // tungstenite queues the Pong and sends it on the next call.
        assert!(matches!(ws.read().unwrap(), Message::Ping(_)));
    }
    ws.send(Message::text("still open")).unwrap();
    loop {
        match ws.read().unwrap() {
            Message::Ping(_) => continue,
            msg => break assert_eq!(msg, Message::text("still open")),
        }
    }
    assert!(closes.try_recv().is_err(), "nothing was closed");
}

/// Traffic postpones the keepalive: a client that keeps talking for several idle periods
/// is never pinged. (The client sends every round trip, far more often than the 300 ms
/// idle timeout; a ping here means traffic did not count as life.)
#[test]
fn busy_connection_is_not_pinged() {
    let idle = Duration::from_millis(300);
    let config = Config::default()
        .idle_timeout(Some(idle))
        .pong_timeout(PATIENCE);
    let (addr, _closes) = probe_server(config, echo);
    let mut ws = client(addr);
    let start = Instant::now();
    let mut round_trips = 0;
    while start.elapsed() < idle * 4 {
        ws.send(Message::text("busy")).unwrap();
        let msg = ws.read().unwrap();
        assert_eq!(
            msg,
            Message::text("busy"),
            "after {round_trips} round trips"
        );
        round_trips += 1;
    }
}

/// The server starts a close handshake and the peer never answers: after `close_timeout`
/// the socket is dropped and `on_close` reports `CloseTimeout` with the code that was sent.
#[test]
fn unanswered_server_close_times_out() {
    let config = Config::default().close_timeout(Duration::from_millis(50));
    let (addr, closes) = probe_server(config, |ctx, _msg| ctx.close(CloseCode::Normal, "bye"));
    let mut peer = raw_upgraded(addr);
    peer.write_all(&client_frame(true, 0x1, b"close me"))
        .unwrap();
    let (opcode, payload) = read_frame(&mut peer).unwrap();
    assert_eq!((opcode, close_code(&payload)), (0x8, 1000));
    // The peer does not answer; the server gives up and closes the TCP connection.
    assert!(read_to_eof(&mut peer).unwrap().is_empty());
    let why = next_close(&closes);
    assert_eq!((why.code, why.reason.as_str()), (CloseCode::Normal, "bye"));
    assert_eq!(why.cause, Cause::CloseTimeout);
}

/// After answering a plain HTTP request the server shuts its side and waits for the
/// peer's EOF; a peer that never closes is dropped after `close_timeout`, freeing its
/// slot. Observed through `Ctx::connections` from another client.
#[test]
fn lingering_socket_is_dropped_after_the_close_timeout() {
    let config = Config::default().close_timeout(Duration::from_millis(50));
    let (addr, _closes) = probe_server(config, |ctx, _msg| ctx.send(ctx.connections().to_string()));
    let mut counter = client(addr);
    let mut count = || -> usize {
        counter.send(Message::text("count")).unwrap();
        counter.read().unwrap().to_text().unwrap().parse().unwrap()
    };
    assert_eq!(count(), 1);

    let mut lingerer = tcp(addr);
    lingerer
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(read_head(&mut lingerer).starts_with("HTTP/1.1 426 "));
    // The response ends with the server's FIN; the lingerer keeps its side open.
    read_to_eof(&mut lingerer).expect("the rest of the response, then EOF");

    let deadline = Instant::now() + PATIENCE;
    while count() > 1 {
        assert!(
            Instant::now() < deadline,
            "the lingering socket was never dropped"
        );
        thread::sleep(Duration::from_millis(10));
    }
    drop(lingerer);
}
