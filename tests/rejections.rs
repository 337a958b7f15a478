//! Refused requests are logged (issue 19): once each, with the peer's address, the status
//! and the reason, at a level an operator sees; at most 10 lines a second per reactor, then
//! one line with the count of the rest. Time is a `ManualClock`: the second ends when the
//! test says.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use common::{manual_clock, read_head, spawn_server, tcp, upgrade_request};
use log::Level;
use wsreactor::{Accept, Handler, Request, Response};

/// The library's log lines at `info` and above, in order.
static LINES: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= Level::Info && metadata.target().starts_with("wsreactor")
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = (record.level(), record.args().to_string());
            LINES.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

/// Refuses `/private` with 403; on `/proto` chooses a subprotocol nobody offered (a
/// handler bug: 500). Plain HTTP gets the default `on_http` (426).
struct Gate;

impl Handler for Gate {
    fn on_upgrade(&mut self, req: &Request) -> Result<Accept, Response> {
        match req.path() {
            "/private" => Err(Response::status_text(403)),
            "/proto" => Ok(Accept::protocol("never-offered")),
            _ => Ok(Accept::default()),
        }
    }
}

/// Sends `request` on a new connection; returns the status line and the client's address
/// (the peer address the server logs). The server logs a rejection before it writes the
/// response, so when this returns the line is recorded.
fn send(addr: SocketAddr, request: &[u8]) -> (String, SocketAddr) {
    let mut stream: TcpStream = tcp(addr);
    let me = stream.local_addr().unwrap();
    stream.write_all(request).unwrap();
    let head = read_head(&mut stream);
    (head.lines().next().unwrap_or_default().to_owned(), me)
}

fn lines_since(from: usize) -> Vec<(Level, String)> {
    LINES.lock().unwrap()[from..].to_vec()
}

#[test]
fn each_rejection_is_logged_once_with_peer_and_reason_and_floods_are_capped() {
    log::set_logger(&Recorder).unwrap();
    log::set_max_level(log::LevelFilter::Info);

    let (clock, config) = manual_clock();
    let config = config.max_handshake_bytes(1024).max_http_body(100);
    let addr = spawn_server(config, Gate);
    let upgrade = |path: &str| upgrade_request(addr, path);
    let oversized = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(2048));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            b"\x16\x03\x01\x02\x00".to_vec(),
            400,
            "not an HTTP/1.1 request",
        ),
        (
            b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            426,
            "plain HTTP GET /page",
        ),
        (
            upgrade("/")
                .replace("Version: 13", "Version: 8")
                .into_bytes(),
            426,
            "unsupported Sec-WebSocket-Version",
        ),
        (oversized.into_bytes(), 431, "request head too large"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            501,
            "Transfer-Encoding",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n".to_vec(),
            413,
            "max_http_body",
        ),
        (
            upgrade("/private").into_bytes(),
            403,
            "refused by on_upgrade (/private)",
        ),
        (upgrade("/proto").into_bytes(), 500, "did not offer"),
    ];
    let n = cases.len();
    for (request, status, reason) in cases {
        let before = LINES.lock().unwrap().len();
        let (status_line, me) = send(addr, &request);
        assert!(
            status_line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status_line}"
        );
        let lines = lines_since(before);
        assert_eq!(lines.len(), 1, "logged once: {lines:?}");
        let (level, line) = &lines[0];
        let want = format!("rejected {me} with {status}: ");
        assert!(
            line.starts_with(&want) && line.contains(reason),
            "{line:?} should start with {want:?} and name {reason:?}"
        );
        let want_level = if status == 500 {
            Level::Error
        } else {
            Level::Info
        };
        assert_eq!(*level, want_level, "{line}");
    }

    // A flood in the same second: the budget (10 lines) is spent, the rest are counted.
    let before = LINES.lock().unwrap().len();
    for _ in 0..12 {
        send(addr, b"\x00\xff");
    }
    assert_eq!(lines_since(before).len(), 10 - n, "capped at 10 a second");

    // The next second: first the count of what was not logged, then logging resumes. The
    // advance wakes the reactor, which may log the count before `advance` returns: count
    // the lines from before it.
    let before = LINES.lock().unwrap().len();
    clock.advance(Duration::from_secs(1));
    let (_, me) = send(addr, b"\x00\xff");
    let lines = lines_since(before);
    let summary = lines.iter().position(|(_, l)| l.contains("not logged"));
    let summary = summary.unwrap_or_else(|| panic!("no count logged: {lines:?}"));
    let (level, text) = &lines[summary];
    let suppressed = 12 - (10 - n);
    assert!(
        text.starts_with(&format!("{suppressed} more rejected")),
        "{text}"
    );
    assert_eq!(*level, Level::Warn);
    let last = &lines.last().unwrap().1;
    assert!(
        last.starts_with(&format!("rejected {me} with 400")),
        "{lines:?}"
    );

    // At max_connections: 503, logged at warn.
    let (_clock, config) = manual_clock();
    let addr = spawn_server(config.max_connections(1), Gate);
    let held = tcp(addr);
    let before = LINES.lock().unwrap().len();
    let (status_line, me) = send(addr, upgrade_request(addr, "/").as_bytes());
    assert!(status_line.starts_with("HTTP/1.1 503 "), "{status_line}");
    let lines = lines_since(before);
    assert!(
        matches!(&lines[..], [(Level::Warn, l)]
            if l.starts_with(&format!("rejected {me} with 503: at max_connections"))),
        "{lines:?}"
    );
    drop(held);
}
