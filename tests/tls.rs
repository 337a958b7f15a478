//! TLS (feature `tls`): wss:// and https:// with the test certificates of `tests/tls/`
//! (test-only keys), against a rustls client. Round trips, plain HTTP, the handshake
//! timeout over a silent or cut-off TLS handshake (manual clock), garbage, close_notify on
//! every orderly close, backpressure through the encrypted queue, many handshakes at once.

mod common;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::{
    advance_until_readable, exchange, manual_clock, read_to_eof, spawn_server, tcp, PATIENCE,
};
use tungstenite::protocol::WebSocket;
use tungstenite::Message;
use wsreactor::tls::rustls::pki_types::pem::PemObject;
use wsreactor::tls::rustls::pki_types::CertificateDer;
use wsreactor::tls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use wsreactor::tls::{server_config_from_pem, TlsConfigError};
use wsreactor::{
    Cause, CloseCode, Config, ConnId, Ctx, Disconnect, Handler, Request, Response, Server,
};

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn test_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

/// `config` serving the test certificate.
fn with_test_cert(config: Config) -> Config {
    let tls = server_config_from_pem(test_file("cert.pem"), test_file("key.pem")).unwrap();
    config.tls(tls)
}

/// A client that trusts the test CA only.
fn client_config() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(test_file("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A TLS client for `localhost` on `addr`; the handshake runs with its first read or write.
fn tls(addr: SocketAddr) -> Tls {
    let conn = ClientConnection::new(client_config(), "localhost".try_into().unwrap()).unwrap();
    StreamOwned::new(conn, tcp(addr))
}

/// A WebSocket client over TLS, upgraded.
fn wss(addr: SocketAddr) -> WebSocket<Tls> {
    upgrade(tls(addr), addr)
}

fn upgrade(stream: Tls, addr: SocketAddr) -> WebSocket<Tls> {
    let url = format!("wss://localhost:{}/", addr.port());
    let (ws, _) = tungstenite::client(url, stream).expect("upgrade over TLS");
    ws
}

/// The next data or close message, pings skipped.
fn read_data(ws: &mut WebSocket<Tls>) -> Message {
    loop {
        match ws.read().unwrap() {
            Message::Ping(_) | Message::Pong(_) => continue,
            msg => return msg,
        }
    }
}

fn round_trip(ws: &mut WebSocket<Tls>, text: &str) {
    ws.send(Message::text(text)).unwrap();
    assert_eq!(read_data(ws), Message::text(text));
}

/// After the WebSocket has ended: the TLS stream ends with the server's `close_notify`
/// (rustls reads `Ok(0)`; an EOF without one is `UnexpectedEof`).
fn expect_close_notify(stream: &mut Tls) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "bytes after the close: {rest:?}"),
        Err(e) => panic!("the TLS stream did not end with close_notify: {e}"),
    }
}

/// Echoes; `bye` makes the server close with 1000; `GET /hello` answers over HTTP.
/// Reports every opened connection and every `on_close`.
struct Service {
    opened: mpsc::Sender<ConnId>,
    closed: mpsc::Sender<Disconnect>,
}

impl Handler for Service {
    fn on_http(&mut self, _ctx: &mut Ctx<'_>, req: &Request) -> Option<Response> {
        Some(match req.path() {
            "/hello" => Response::new(200).body("hello over TLS"),
            _ => Response::status_text(404),
        })
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
        let _ = self.opened.send(ctx.id());
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        if msg.to_text().is_ok_and(|t| t == "bye") {
            ctx.close(CloseCode::Normal, "bye");
        } else {
            ctx.send(msg);
        }
    }

    fn on_close(&mut self, _ctx: &mut Ctx<'_>, why: &Disconnect) {
        let _ = self.closed.send(why.clone());
    }
}

struct Running {
    addr: SocketAddr,
    handle: wsreactor::Handle,
    opened: mpsc::Receiver<ConnId>,
    closed: mpsc::Receiver<Disconnect>,
}

fn service(config: Config) -> Running {
    let (opened_tx, opened) = mpsc::channel();
    let (closed_tx, closed) = mpsc::channel();
    let server = Server::bind_with("127.0.0.1:0", with_test_cert(config)).unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let handler = Service {
        opened: opened_tx,
        closed: closed_tx,
    };
    thread::spawn(move || server.run(handler));
    Running {
        addr,
        handle,
        opened,
        closed,
    }
}

#[test]
fn messages_round_trip_over_wss_small_and_larger_than_a_record() {
    let server = service(Config::default());
    let mut ws = wss(server.addr);
    round_trip(&mut ws, "hello");
    // 200 KB: more than one TLS record (16 KiB) and more than one seal batch (64 KiB).
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(read_data(&mut ws), Message::binary(big));
    // Many small messages queued in one pass leave as one batch and arrive in order.
    for i in 0..100 {
        ws.write(Message::text(format!("m{i}"))).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..100 {
        assert_eq!(read_data(&mut ws), Message::text(format!("m{i}")));
    }
}

#[test]
fn plain_http_is_served_over_tls_with_keep_alive() {
    let server = service(Config::default());
    let mut stream = tls(server.addr);
    for _ in 0..2 {
        let response = exchange(
            &mut stream,
            "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n",
        );
        assert_eq!(response.status, 200);
        assert!(response.keep_alive);
        assert_eq!(response.body, b"hello over TLS");
    }
    // A response that closes the connection ends the TLS stream with close_notify.
    let response = exchange(
        &mut stream,
        "GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 404);
    assert!(!response.keep_alive);
    expect_close_notify(&mut stream);
}

#[test]
fn a_server_close_ends_with_close_notify() {
    let server = service(Config::default());
    let mut ws = wss(server.addr);
    ws.send(Message::text("bye")).unwrap();
    match read_data(&mut ws) {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the server's Close, got {other:?}"),
    }
    // tungstenite answers the Close; then the server lingers, sends close_notify, shuts down.
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    expect_close_notify(ws.get_mut());
    let why = server.closed.recv_timeout(PATIENCE).unwrap();
    assert_eq!(
        (why.code, why.cause),
        (CloseCode::Normal, Cause::ServerClosed)
    );
}

#[test]
fn a_client_close_ends_with_close_notify() {
    let server = service(Config::default());
    let mut ws = wss(server.addr);
    round_trip(&mut ws, "before");
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    expect_close_notify(ws.get_mut());
    let why = server.closed.recv_timeout(PATIENCE).unwrap();
    assert_eq!(why.cause, Cause::PeerClosed);
}

/// Steps a little past a timeout of this length.
fn past(timeout: Duration) -> Duration {
    timeout + Duration::from_secs(1)
}

/// The connection ends with nothing sent (no response, no TLS record): a clean EOF, or a
/// reset when the server closed with the client's bytes unread.
fn expect_closed_silently(stream: &mut TcpStream) {
    match read_to_eof(stream) {
        Ok(got) => assert!(got.is_empty(), "got {got:?}"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn a_client_that_never_sends_a_client_hello_is_closed_at_the_handshake_timeout() {
    let timeout = Duration::from_secs(10);
    let (clock, config) = manual_clock();
    let server = service(config.handshake_timeout(timeout));
    let mut silent = tcp(server.addr);
    advance_until_readable(&clock, past(timeout), &silent);
    expect_closed_silently(&mut silent);
}

#[test]
fn a_client_hello_cut_off_midway_is_closed_at_the_handshake_timeout() {
    let timeout = Duration::from_secs(10);
    let (clock, config) = manual_clock();
    let server = service(config.handshake_timeout(timeout));
    let mut hello = Vec::new();
    let mut conn = ClientConnection::new(client_config(), "localhost".try_into().unwrap()).unwrap();
    conn.write_tls(&mut hello).unwrap();
    assert!(hello.len() > 100, "a ClientHello: {} bytes", hello.len());
    let mut stalled = tcp(server.addr);
    stalled.write_all(&hello[..hello.len() / 2]).unwrap();
    // A whole TLS connection meanwhile is unaffected, and shows that the server has read
    // the half hello before time moves.
    let mut other = wss(server.addr);
    round_trip(&mut other, "sync");
    advance_until_readable(&clock, past(timeout), &stalled);
    expect_closed_silently(&mut stalled);
    round_trip(&mut other, "still here");
}

#[test]
fn a_completed_tls_handshake_without_a_request_is_closed_at_the_handshake_timeout() {
    let timeout = Duration::from_secs(10);
    let (clock, config) = manual_clock();
    let server = service(config.handshake_timeout(timeout));
    let mut idle = tls(server.addr);
    // Completes the TLS handshake, sends no HTTP request.
    while idle.conn.is_handshaking() {
        idle.conn.complete_io(&mut idle.sock).unwrap();
    }
    advance_until_readable(&clock, past(timeout), &idle.sock);
    let mut rest = Vec::new();
    let ended = idle.read_to_end(&mut rest);
    // Dropped, not an orderly close: the TCP EOF may come without close_notify. Session
    // tickets are the only plaintext-free records it may read first; no HTTP response.
    assert!(
        matches!(&ended, Err(e) if e.kind() == ErrorKind::UnexpectedEof) || ended.is_ok(),
        "{ended:?}"
    );
    assert!(rest.is_empty(), "no response: {rest:?}");
}

/// Deterministic noise (xorshift), not a TLS record.
fn noise(len: usize, mut x: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn garbage_closes_that_connection_only_and_quickly() {
    let server = service(Config::default());
    let mut other = wss(server.addr);
    round_trip(&mut other, "before");
    // Random bytes; then a record header claiming a handshake, followed by noise.
    let mut fake_record = vec![0x16, 0x03, 0x01, 0x01, 0x00];
    fake_record.extend(noise(256, 7));
    for garbage in [
        noise(4096, 1),
        fake_record,
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ] {
        let mut stream = tcp(server.addr);
        stream.write_all(&garbage).unwrap();
        // Closed without the clock moving (it is the system clock, and PATIENCE is the
        // read timeout: a server that waited would fail this with a timeout).
        match read_to_eof(&mut stream) {
            // rustls' alert, if the reset did not overtake it.
            Ok(got) => assert!(got.is_empty() || got[0] == 0x15, "not an alert: {got:?}"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        }
    }
    round_trip(&mut other, "after");
}

#[test]
fn many_tls_handshakes_at_once() {
    let server = service(Config::default());
    let mut streams: Vec<Tls> = (0..100).map(|_| tls(server.addr)).collect();
    // Every ClientHello is out before any handshake completes: the server holds 100
    // handshakes in progress at once.
    for stream in &mut streams {
        stream.conn.write_tls(&mut stream.sock).unwrap();
    }
    let mut clients: Vec<_> = streams
        .into_iter()
        .map(|stream| upgrade(stream, server.addr))
        .collect();
    for (i, ws) in clients.iter_mut().enumerate() {
        ws.send(Message::text(format!("#{i}"))).unwrap();
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(read_data(ws), Message::text(format!("#{i}")));
    }
}

#[test]
fn a_peer_that_does_not_read_is_closed_for_backpressure_and_gets_its_data_intact() {
    let server = service(Config::default().max_backpressure(1 << 20));
    let mut ws = wss(server.addr);
    round_trip(&mut ws, "hi");
    let id = server.opened.recv_timeout(PATIENCE).unwrap();
    // 128 KiB messages, numbered, from another thread while the client reads nothing: the
    // socket fills, rustls holds encrypted records, the queue grows past 1 MiB.
    let chunk = 128 << 10;
    let message = |i: usize| -> Vec<u8> { (0..chunk).map(|j| (i + j) as u8).collect() };
    let mut sent = 0;
    let why = loop {
        match server.closed.try_recv() {
            Ok(why) => break why,
            Err(mpsc::TryRecvError::Empty) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 10_000, "never closed: {sent} messages queued");
        if server.handle.send(id, message(sent)).is_ok() {
            sent += 1;
        }
        thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(
        (why.code, why.cause),
        (CloseCode::Policy, Cause::Backpressure)
    );
    // What was queued before the overflow arrives whole and in order, then the Close, then
    // close_notify.
    let mut got = 0;
    loop {
        match ws.read() {
            Ok(Message::Binary(data)) => {
                assert!(data[..] == message(got)[..], "message {got} damaged");
                got += 1;
            }
            Ok(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| f.code), Some(CloseCode::Policy));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("after {got} messages: {e}"),
        }
    }
    assert!(got > 0 && got < sent, "got {got} of {sent}");
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    expect_close_notify(ws.get_mut());
}

#[test]
fn the_pem_helper_names_what_is_wrong() {
    let missing = server_config_from_pem(test_file("nope.pem"), test_file("key.pem"));
    match missing {
        Err(TlsConfigError::Pem { path, source }) => {
            assert!(path.ends_with("nope.pem"));
            assert!(matches!(source, rustls::pki_types::pem::Error::Io(_)));
        }
        other => panic!("{other:?}"),
    }
    let err = io::Error::from(
        server_config_from_pem(test_file("nope.pem"), test_file("key.pem")).unwrap_err(),
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(matches!(
        server_config_from_pem(test_file("key.pem"), test_file("key.pem")),
        Err(TlsConfigError::NoCertificate { .. })
    ));
    assert!(matches!(
        server_config_from_pem(test_file("cert.pem"), test_file("cert.pem")),
        Err(TlsConfigError::NoKey { .. })
    ));
    // The CA's certificate with the server's key: a pair that does not match.
    assert!(matches!(
        server_config_from_pem(test_file("ca.pem"), test_file("key.pem")),
        Err(TlsConfigError::Rejected(_))
    ));
}

#[test]
fn early_data_is_refused_at_bind() {
    let tls = server_config_from_pem(test_file("cert.pem"), test_file("key.pem")).unwrap();
    let mut tls = Arc::unwrap_or_clone(tls);
    tls.max_early_data_size = 16 << 10;
    let err = Server::bind_with("127.0.0.1:0", Config::default().tls(Arc::new(tls))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn a_plain_client_of_a_tls_server_gets_no_plaintext_answer() {
    let addr = spawn_server(with_test_cert(Config::default()), wsreactor::Echo);
    let mut stream = tcp(addr);
    stream
        .write_all(common::upgrade_request(addr, "/").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/"), "a plaintext response");
}

#[test]
fn past_max_connections_a_tls_client_is_closed_without_a_plaintext_503() {
    let server = service(Config::default().max_connections(1));
    let mut held = wss(server.addr);
    round_trip(&mut held, "holding the only slot");
    let mut refused = tls(server.addr);
    let mut got = Vec::new();
    let ended = refused.read_to_end(&mut got);
    assert!(got.is_empty(), "{got:?}");
    // The server read the ClientHello and shut down without a byte of its own: rustls
    // sees the EOF mid-handshake (a reset if the hello was still unread is fine too).
    let err = ended.expect_err("no TLS session");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    round_trip(&mut held, "still served");
}

#[cfg(feature = "socketio")]
#[test]
fn socket_io_long_polling_works_over_https() {
    use wsreactor::socketio::{Options, SocketIo};
    let config = with_test_cert(Config::default());
    let addr = common::spawn_built(config, || {
        let mut io = SocketIo::new(Options::default());
        io.of("/").on_connection(|socket| {
            let secure = socket.handshake().secure();
            socket.emit("secure", secure).ok();
        });
        io
    });
    let mut stream = tls(addr);
    let (status, open) = common::sio::http(
        &mut stream,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        "",
    );
    assert_eq!(status, 200);
    assert!(open.starts_with("0{\"sid\":"), "{open}");
    let q = common::sio::polling_query(&open);
    assert_eq!(common::sio::http(&mut stream, "POST", &q, "40").0, 200);
    let (_, connected) = common::sio::http(&mut stream, "GET", &q, "");
    assert!(
        connected.ends_with("42[\"secure\",true]"),
        "socket.handshake.secure over https: {connected}"
    );
}
