//! The HTTP upgrade over real sockets: malformed requests get their status codes, slow and
//! eager clients get upgraded, and bytes after the headers are not lost.

mod common;

use std::io::Write;

use common::{client_frame, echo_server, raw_request, read_head, tcp, upgrade_request};
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::Message;

fn status(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Replaces (or with an empty value, removes) one header line of a valid request.
fn with_header(addr: std::net::SocketAddr, name: &str, value: Option<&str>) -> Vec<u8> {
    let req = upgrade_request(addr, "/");
    let mut lines: Vec<String> = req
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with(&format!("{name}:")))
        .map(str::to_owned)
        .collect();
    if let Some(value) = value {
        lines.push(format!("{name}: {value}"));
    }
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}

#[test]
fn bad_handshakes_get_their_status_codes() {
    let addr = echo_server();
    let valid = upgrade_request(addr, "/");
    let repeat = |line: &str| {
        let end = format!("\r\n{line}\r\n\r\n");
        valid.replacen("\r\n\r\n", &end, 1).into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("POST", valid.replacen("GET", "POST", 1).into_bytes(), 400),
        (
            "HTTP/1.0",
            valid.replacen("HTTP/1.1", "HTTP/1.0", 1).into_bytes(),
            400,
        ),
        ("no key", with_header(addr, "sec-websocket-key", None), 400),
        (
            "short key",
            with_header(addr, "sec-websocket-key", Some("c2hvcnQ=")),
            400,
        ),
        (
            "version 8",
            with_header(addr, "sec-websocket-version", Some("8")),
            426,
        ),
        ("no upgrade header", with_header(addr, "upgrade", None), 426),
        (
            "connection: close",
            with_header(addr, "connection", Some("close")),
            426,
        ),
        // RFC 6455 §11.3: these may not be repeated, even with the same value.
        ("two versions", repeat("Sec-WebSocket-Version: 8"), 400),
        (
            "the version twice",
            repeat("sec-websocket-version: 13"),
            400,
        ),
        (
            "two keys",
            repeat("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="),
            400,
        ),
        ("two hosts", repeat("Host: elsewhere"), 400),
        ("garbage", b"\x16\x03\x01 hello\r\n\r\n".to_vec(), 400),
        (
            "huge header",
            with_header(addr, "x-filler", Some(&"a".repeat(10_000))),
            431,
        ),
    ];
    for (name, request, expected) in cases {
        let head = raw_request(addr, &request);
        assert_eq!(status(&head), expected, "{name}: {head}");
    }
    let head = raw_request(addr, &with_header(addr, "sec-websocket-version", Some("8")));
    assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
    // and the server still upgrades a good client afterwards
    let head = raw_request(addr, valid.as_bytes());
    assert_eq!(status(&head), 101, "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
}

#[test]
fn handshake_sent_one_byte_at_a_time_upgrades() {
    let addr = echo_server();
    let mut stream = tcp(addr);
    for byte in upgrade_request(addr, "/slow").as_bytes() {
        stream.write_all(std::slice::from_ref(byte)).unwrap();
        stream.flush().unwrap();
    }
    assert_eq!(status(&read_head(&mut stream)), 101);
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
    ws.send(Message::text("after a slow start")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("after a slow start"));
}

#[test]
fn handshake_and_first_frames_in_one_write_lose_nothing() {
    let addr = echo_server();
    let mut stream = tcp(addr);
    let mut bytes = upgrade_request(addr, "/").into_bytes();
    bytes.extend(client_frame(true, 0x1, b"first"));
    bytes.extend(client_frame(true, 0x2, b"second"));
    stream.write_all(&bytes).unwrap();
    assert_eq!(status(&read_head(&mut stream)), 101);
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
    assert_eq!(ws.read().unwrap(), Message::text("first"));
    assert_eq!(ws.read().unwrap(), Message::binary(b"second".to_vec()));
}
