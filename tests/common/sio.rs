//! Helpers for the Socket.IO tests: a server whose handler is built on its own thread, and
//! raw Engine.IO clients on both transports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use tungstenite::Message;
use wsreactor::{Config, Handler};

use super::{client_at, read_response, tcp, Client};

/// A server whose handler is built on its own thread (Socket.IO callbacks are not `Send`).
pub fn spawn<H: Handler + 'static>(build: impl FnOnce() -> H + Send + 'static) -> SocketAddr {
    super::spawn_built(Config::default(), build)
}

pub fn http(
    stream: &mut (impl Read + Write),
    method: &str,
    target: &str,
    body: &str,
) -> (u16, String) {
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let (head, body) = read_response(stream);
    let status = head[9..12].parse().unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// A WebSocket session joined to `/`, its greeting read.
pub fn ws_session(addr: SocketAddr) -> Client {
    let mut ws = client_at(addr, "/socket.io/?EIO=4&transport=websocket");
    ws.read().unwrap();
    ws.send(Message::text("40")).unwrap();
    assert!(ws.read().unwrap().to_text().unwrap().starts_with("40{"));
    ws
}

/// The query string of the polling session whose handshake answered `open` (`0{"sid":..}`).
pub fn polling_query(open: &str) -> String {
    let open: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = open["sid"].as_str().unwrap();
    format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
}

/// A polling session joined to `/`: its query string, its first packets read.
pub fn polling_session(addr: SocketAddr) -> String {
    let mut conn = tcp(addr);
    let (_, open) = http(&mut conn, "GET", "/socket.io/?EIO=4&transport=polling", "");
    let q = polling_query(&open);
    assert_eq!(http(&mut conn, "POST", &q, "40"), (200, "ok".into()));
    let (_, connected) = http(&mut conn, "GET", &q, "");
    assert!(connected.starts_with("40{"), "{connected}");
    q
}

/// Sends a GET that the server holds, on a connection of its own.
pub fn held_get(addr: SocketAddr, q: &str) -> TcpStream {
    let mut conn = tcp(addr);
    write!(conn, "GET {q} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    conn
}
