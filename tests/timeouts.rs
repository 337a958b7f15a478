//! Timeouts: handshake (slowloris), keepalive ping and pong timeout, close handshake and
//! lingering sockets. Every server here runs on a `ManualClock` with timeouts of seconds,
//! and time passes only when a test advances it, after it has seen the server reach the
//! state the timeout should cut short. The tests assert what happened (close codes,
//! `on_close` causes, what the client reads), never how fast, and a slow machine cannot
//! make a deadline pass early.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{
    advance_until_readable, client, client_frame, close_code, manual_clock, next_close,
    probe_server, raw_upgraded, read_data, read_frame, read_head, read_to_eof, round_trip, tcp,
    PATIENCE,
};
use tungstenite::Message;
use wsreactor::{Cause, CloseCode, Ctx};

/// Steps a little past a timeout of this length.
fn past(timeout: Duration) -> Duration {
    timeout + Duration::from_secs(1)
}

fn echo(ctx: &mut Ctx<'_>, msg: Message) {
    ctx.send(msg);
}

/// A connection that never completes its request is dropped: the client reads a clean end
/// and no response. (Without the timeout the read would wait out PATIENCE and fail.)
#[test]
fn stalled_handshake_is_closed_after_the_handshake_timeout() {
    let timeout = Duration::from_secs(10);
    let (clock, config) = manual_clock();
    let (addr, _closes) = probe_server(config.handshake_timeout(timeout), echo);
    let mut stream = tcp(addr);
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // Nothing shows when the server has accepted (and armed the deadline): step until the
    // connection ends.
    advance_until_readable(&clock, past(timeout), &stream);
    let got = read_to_eof(&mut stream).expect("the server closes the connection");
    assert!(got.is_empty(), "no response to an incomplete request");
}

/// A slowloris client keeps sending one header byte at a time; the deadline counts from
/// the accept, not from the last byte, so it is dropped long before its headers could
/// reach the 8 KiB limit (which would be answered with 431 instead).
#[test]
fn trickling_request_does_not_extend_the_handshake_timeout() {
    let timeout = Duration::from_secs(10);
    let (clock, config) = manual_clock();
    let (addr, _closes) = probe_server(config.handshake_timeout(timeout), echo);
    let mut other = client(addr);
    let mut trickler = tcp(addr);
    let mut sent = 0usize;
    let request = b"GET / HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain([b'a'; 16 << 10].iter());
    for byte in request {
        if trickler.write_all(&[*byte]).is_err() {
            break;
        }
        sent += 1;
        // The server has read the byte before a tenth of the timeout passes: a deadline
        // that each byte pushed back would never come.
        round_trip(&mut other);
        clock.advance(timeout / 10);
    }
    // The end comes as EOF, or as a reset when trickled bytes were still unread.
    let got = read_to_eof(&mut trickler).unwrap_or_default();
    assert!(
        got.is_empty(),
        "got a response: {:?}",
        String::from_utf8_lossy(&got)
    );
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
    let (idle, pong) = (Duration::from_secs(60), Duration::from_secs(30));
    let (clock, config) = manual_clock();
    let config = config.idle_timeout(Some(idle)).pong_timeout(pong);
    let (addr, closes) = probe_server(config, echo);
    // The idle deadline is armed with the 101, the pong deadline with the Ping.
    let mut peer = raw_upgraded(addr);

    clock.advance(past(idle));
    let (opcode, _) = read_frame(&mut peer).unwrap();
    assert_eq!(opcode, 0x9, "a Ping first");
    clock.advance(past(pong));
    let (opcode, payload) = read_frame(&mut peer).unwrap();
    assert_eq!((opcode, close_code(&payload)), (0x8, 1001));
    let why = next_close(&closes);
    assert_eq!(why.code, CloseCode::Away);
    assert_eq!(why.cause, Cause::IdleTimeout);
}

/// A peer that answers the keepalive pings stays open through many idle periods, and is
/// pinged again one idle period after each answer, even when the pong timeout is longer
/// than the idle timeout (and shorter than the five idle periods the test lets pass, so a
/// server that ignored the answers would have closed it).
#[test]
fn peer_answering_pings_stays_open() {
    let (idle, pong) = (Duration::from_secs(10), Duration::from_secs(30));
    let (clock, config) = manual_clock();
    let config = config.idle_timeout(Some(idle)).pong_timeout(pong);
    let (addr, closes) = probe_server(config, echo);
    let mut ws = client(addr);
    // Another client shows when the server has read each answer; it is pinged too, and
    // answers as it goes.
    let mut other = client(addr);
    for _ in 0..5 {
        clock.advance(past(idle));
        assert!(matches!(ws.read().unwrap(), Message::Ping(_)));
        // tungstenite queued the Pong; send it, and let the server read it.
        ws.flush().unwrap();
        round_trip(&mut other);
    }
    ws.send(Message::text("still open")).unwrap();
    assert_eq!(read_data(&mut ws), Message::text("still open"));
    assert!(closes.try_recv().is_err(), "nothing was closed");
}

/// Traffic postpones the keepalive: a client that keeps talking for several idle periods
/// is never pinged. (Time moves a quarter of the idle timeout between round trips; a ping
/// here means traffic did not count as life.)
#[test]
fn busy_connection_is_not_pinged() {
    let idle = Duration::from_secs(10);
    let (clock, config) = manual_clock();
    let config = config.idle_timeout(Some(idle)).pong_timeout(idle * 6);
    let (addr, _closes) = probe_server(config, echo);
    let mut ws = client(addr);
    let mut elapsed = Duration::ZERO;
    let mut round_trips = 0;
    while elapsed < idle * 4 {
        ws.send(Message::text("busy")).unwrap();
        let msg = ws.read().unwrap();
        assert_eq!(
            msg,
            Message::text("busy"),
            "after {round_trips} round trips"
        );
        round_trips += 1;
        clock.advance(idle / 4);
        elapsed += idle / 4;
    }
}

/// The server starts a close handshake and the peer never answers: after `close_timeout`
/// the socket is dropped and `on_close` reports `CloseTimeout` with the code that was sent.
#[test]
fn unanswered_server_close_times_out() {
    let timeout = Duration::from_secs(5);
    let (clock, config) = manual_clock();
    let (addr, closes) = probe_server(config.close_timeout(timeout), |ctx, _msg| {
        ctx.close(CloseCode::Normal, "bye")
    });
    let mut peer = raw_upgraded(addr);
    peer.write_all(&client_frame(true, 0x1, b"close me"))
        .unwrap();
    // The close deadline is armed with the Close frame.
    let (opcode, payload) = read_frame(&mut peer).unwrap();
    assert_eq!((opcode, close_code(&payload)), (0x8, 1000));
    // The peer does not answer; the server gives up and closes the TCP connection.
    clock.advance(past(timeout));
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
    let timeout = Duration::from_secs(5);
    let (clock, config) = manual_clock();
    let (addr, _closes) = probe_server(config.close_timeout(timeout), |ctx, _msg| {
        ctx.send(ctx.connections().to_string());
    });
    let mut counter = client(addr);
    let mut count = || -> usize {
        counter.send(Message::text("count")).unwrap();
        read_data(&mut counter).to_text().unwrap().parse().unwrap()
    };
    assert_eq!(count(), 1);

    let mut lingerer = tcp(addr);
    lingerer
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(read_head(&mut lingerer).starts_with("HTTP/1.1 426 "));
    // The response ends with the server's FIN; the lingerer keeps its side open. The
    // linger deadline was armed with the response.
    read_to_eof(&mut lingerer).expect("the rest of the response, then EOF");

    clock.advance(past(timeout));
    // A count may be served in the pass that notices the time, before the drop.
    let deadline = Instant::now() + PATIENCE;
    while count() > 1 {
        assert!(
            Instant::now() < deadline,
            "the lingering socket was never dropped"
        );
    }
    drop(lingerer);
}
