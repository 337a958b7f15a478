//! Shared helpers: a server on a free port in a background thread, and blocking clients.
#![allow(dead_code)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::protocol::WebSocket;
use wsreactor::{Config, Ctx, Disconnect, Handler, ManualClock, Message, Server};

/// How long a client waits for any reply before the test fails (not a timing assertion:
/// only a hung server hits it).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How long a test looks for the effect of one step of a [`ManualClock`] before it takes
/// the next. Only the speed of such a loop depends on it, never its outcome.
pub const TICK: Duration = Duration::from_millis(20);

pub type Client = WebSocket<TcpStream>;

/// A manual clock and a default config that runs on it: time passes only when the test
/// calls `clock.advance`.
pub fn manual_clock() -> (ManualClock, Config) {
    let clock = ManualClock::new();
    let config = Config::default().manual_clock(clock.clone());
    (clock, config)
}

/// Advances `clock` by `step` until `stream` has something to read (bytes, EOF or an
/// error), looking for [`TICK`] after each step. For when the test cannot observe that the
/// server has armed the deadline it wants to pass: stepping again is harmless, so the
/// loop is correct whatever the scheduling. Panics after [`PATIENCE`].
pub fn advance_until_readable(clock: &ManualClock, step: Duration, stream: &TcpStream) {
    let deadline = Instant::now() + PATIENCE;
    stream.set_read_timeout(Some(TICK)).unwrap();
    loop {
        clock.advance(step);
        match stream.peek(&mut [0u8; 1]) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                assert!(Instant::now() < deadline, "nothing came as time passed");
            }
            _ => break,
        }
    }
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
}

/// The next data (or close) message, skipping the keepalive pings that time passing on a
/// manual clock may bring (tungstenite answers them on the next call).
pub fn read_data(ws: &mut Client) -> Message {
    loop {
        match ws.read().unwrap() {
            Message::Ping(_) | Message::Pong(_) => continue,
            msg => return msg,
        }
    }
}

/// One echo round trip on `ws` (pings skipped). When it returns, the server has run a
/// pass that polled after whatever few bytes this test had already written on its other
/// sockets (loopback queues a write at the receiver before `write` returns), so it has
/// read them: the test may now move time past them.
pub fn round_trip(ws: &mut Client) {
    ws.send(Message::text("sync")).unwrap();
    assert_eq!(read_data(ws), Message::text("sync"));
}

/// Starts a server with this config and handler on 127.0.0.1:0; it runs until the test
/// process exits.
pub fn spawn_server<H: Handler + Send + 'static>(config: Config, handler: H) -> SocketAddr {
    let server = Server::bind_with("127.0.0.1:0", config).expect("bind");
    let addr = server.local_addr().expect("local_addr");
    thread::spawn(move || server.run(handler));
    addr
}

/// As [`spawn_server`], for a handler that is not `Send` (a Socket.IO server, whose
/// callbacks are not): `build` makes it on the server's thread.
pub fn spawn_built<H: Handler + 'static>(
    config: Config,
    build: impl FnOnce() -> H + Send + 'static,
) -> SocketAddr {
    let server = Server::bind_with("127.0.0.1:0", config).expect("bind");
    let addr = server.local_addr().expect("local_addr");
    thread::spawn(move || server.run(build()));
    addr
}

/// An echo server with the default config, except room for 16 MiB messages.
pub fn echo_server() -> SocketAddr {
    let config = Config::default()
        .max_message_size(16 << 20)
        .max_frame_size(16 << 20);
    spawn_server(config, wsreactor::Echo)
}

/// A connected, upgraded tungstenite client.
pub fn client(addr: SocketAddr) -> Client {
    client_at(addr, "/")
}

pub fn client_at(addr: SocketAddr, path: &str) -> Client {
    let stream = tcp(addr);
    let (ws, _) = tungstenite::client(format!("ws://{addr}{path}"), stream).expect("upgrade");
    ws
}

/// A plain TCP connection with read/write timeouts.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends raw bytes and reads the HTTP response head (up to the blank line).
pub fn raw_request(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = tcp(addr);
    stream.write_all(request).unwrap();
    read_head(&mut stream)
}

/// Reads until `\r\n\r\n` or EOF.
pub fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) => panic!(
                "reading response head: {e}; got {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads one response: head, then `Content-Length` bytes of body.
pub fn read_response(stream: &mut impl Read) -> (String, Vec<u8>) {
    let head = read_head(stream);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Content-Length");
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

/// A valid upgrade request for `path`.
pub fn upgrade_request(addr: SocketAddr, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A masked client frame (RFC 6455 §5.3), mask fixed: tests need no randomness.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
    let len = payload.len();
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A handler made of a message closure that reports every `on_close` on a channel, so a
/// test can assert why a connection ended.
pub struct Probe<F> {
    on_message: F,
    closed: mpsc::Sender<Disconnect>,
}

impl<F: FnMut(&mut Ctx<'_>, Message)> Handler for Probe<F> {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        (self.on_message)(ctx, msg);
    }

    fn on_close(&mut self, _ctx: &mut Ctx<'_>, why: &Disconnect) {
        let _ = self.closed.send(why.clone());
    }
}

/// Starts a [`Probe`] server; the receiver gets one `Disconnect` per ended connection.
pub fn probe_server<F>(config: Config, on_message: F) -> (SocketAddr, mpsc::Receiver<Disconnect>)
where
    F: FnMut(&mut Ctx<'_>, Message) + Send + 'static,
{
    let (closed, rx) = mpsc::channel();
    let addr = spawn_server(config, Probe { on_message, closed });
    (addr, rx)
}

/// The next `on_close` report; panics if none comes within [`PATIENCE`].
pub fn next_close(rx: &mpsc::Receiver<Disconnect>) -> Disconnect {
    rx.recv_timeout(PATIENCE)
        .expect("on_close was not called within PATIENCE")
}

/// A raw TCP connection that has completed the upgrade: frames are read and written by
/// hand, so the test controls exactly what the peer does (and does not) send.
pub fn raw_upgraded(addr: SocketAddr) -> TcpStream {
    let mut stream = tcp(addr);
    stream
        .write_all(upgrade_request(addr, "/").as_bytes())
        .unwrap();
    let head = read_head(&mut stream);
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "upgrade refused: {head:?}"
    );
    stream
}

/// One server frame (unmasked, RFC 6455 §5.2): `(opcode, payload)`, the FIN bit dropped.
pub fn read_frame(stream: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    read_whole_frame(stream).map(|(first, payload)| (first & 0x0f, payload))
}

/// One server frame: its first byte (FIN, RSV1–3, opcode) and its payload.
pub fn read_whole_frame(stream: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext)?;
            u16::from_be_bytes(ext) as usize
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext)?;
            u64::from_be_bytes(ext) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload)?;
    Ok((head[0], payload))
}

/// The code of a close frame's payload (1005 when it carries none).
pub fn close_code(payload: &[u8]) -> u16 {
    match payload {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 1005,
    }
}

/// Reads until EOF; `Ok(bytes)` for a clean end (FIN), `Err` for a reset or a timeout.
pub fn read_to_eof(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all).map(|_| all)
}

/// A message handler that echoes, except that `"block"` stalls the whole reactor until the
/// test releases it, and `"count"` answers with the number of connections held. Blocking
/// the reactor is how these tests line up "what is queued in the kernel when the server
/// looks next" without timing: `blocked` fires once the reactor is stuck.
pub fn blocking_echo(
    blocked: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
) -> impl FnMut(&mut Ctx<'_>, Message) + Send + 'static {
    move |ctx, msg| match msg.to_text() {
        Ok("block") => {
            blocked.send(()).unwrap();
            release.recv_timeout(PATIENCE).unwrap();
        }
        Ok("count") => {
            ctx.send(ctx.connections().to_string());
        }
        _ => {
            ctx.send(msg);
        }
    }
}

/// One response as a strict HTTP/1.1 client reads it: see [`read_strict`].
#[derive(Debug)]
pub struct StrictResponse {
    pub status: u16,
    /// Every header line but `Content-Length` and `Connection`, in order.
    pub headers: Vec<(String, String)>,
    pub content_length: Option<usize>,
    pub keep_alive: bool,
    pub body: Vec<u8>,
}

/// Reads one response to a `method` request the way a strict client does (RFC 9112),
/// panicking on anything such a client would refuse: a status line other than
/// `HTTP/1.1 DDD reason`, a header line that is not `token: value`, `Transfer-Encoding`, a
/// repeated or non-numeric `Content-Length`, or one in a 1xx or 204, a `Connection` other
/// than `keep-alive` or `close`. The body is exactly what the framing announces: none for
/// `HEAD`, 1xx, 204 and 304 (RFC 9112 §6.3 rule 1), `Content-Length` bytes otherwise. The
/// head is read a byte at a time, so nothing past the response is consumed: a body byte too
/// many is the start of the next response's status line, and fails there, or in
/// [`expect_eof`] after the last response.
pub fn read_strict(stream: &mut impl Read, method: &str) -> StrictResponse {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 64 << 10, "response head too large");
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "response head cut off ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8(head).expect("response head is UTF-8");
    let mut lines = head.strip_suffix("\r\n\r\n").unwrap().split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .filter(|rest| rest.len() >= 4 && rest.as_bytes()[3] == b' ')
        .and_then(|rest| rest[..3].parse::<u16>().ok())
        .filter(|s| (100..=999).contains(s))
        .unwrap_or_else(|| panic!("bad status line {status_line:?} (excess bytes before it?)"));
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let (mut headers, mut content_length, mut connection) = (Vec::new(), None, None);
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header line {line:?}"));
        assert!(
            !name.is_empty() && name.bytes().all(tchar),
            "bad header name {name:?}"
        );
        let value = value.trim_matches([' ', '\t']);
        assert!(
            !value.contains(['\r', '\n', '\0']),
            "bad header value {value:?}"
        );
        if name.eq_ignore_ascii_case("content-length") {
            assert!(content_length.is_none(), "Content-Length twice in {head:?}");
            assert!(
                !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
                "{value:?}"
            );
            content_length = Some(value.parse::<usize>().unwrap());
        } else if name.eq_ignore_ascii_case("connection") {
            assert!(connection.is_none(), "Connection twice in {head:?}");
            connection = Some(value.to_owned());
        } else {
            assert!(!name.eq_ignore_ascii_case("transfer-encoding"), "{head:?}");
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    // "A server MUST NOT send a Content-Length header field in any response with a status
    // code of 1xx (Informational) or 204 (No Content)" (RFC 9110 §8.6).
    if status < 200 || status == 204 {
        assert_eq!(
            content_length, None,
            "Content-Length in a {status}: {head:?}"
        );
    }
    let keep_alive = match connection.as_deref() {
        Some("keep-alive") => true,
        Some("close") => false,
        other => panic!("Connection: {other:?} in {head:?}"),
    };
    let bodiless = method == "HEAD" || status < 200 || status == 204 || status == 304;
    let mut body = vec![
        0;
        if bodiless {
            0
        } else {
            content_length.expect("Content-Length")
        }
    ];
    stream.read_exact(&mut body).expect("the whole body");
    StrictResponse {
        status,
        headers,
        content_length,
        keep_alive,
        body,
    }
}

/// Writes `request` and reads its response strictly ([`read_strict`]); the method is the
/// request's first word.
pub fn exchange(stream: &mut (impl Read + Write), request: &str) -> StrictResponse {
    stream.write_all(request.as_bytes()).unwrap();
    let method = request.split(' ').next().unwrap();
    read_strict(stream, method)
}

/// The server sends nothing more and closes cleanly: no byte after the last response.
pub fn expect_eof(stream: &mut TcpStream) {
    let rest = read_to_eof(stream).expect("a clean close");
    assert!(
        rest.is_empty(),
        "excess bytes: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[cfg(feature = "socketio")]
pub mod sio;
