//! The Socket.IO endpoint's HTTP options over real sockets, as a browser or a balancer
//! sees them: CORS headers (held answers included), `allow_request` on both transports,
//! the `io` cookie. The rules themselves are unit-tested in src/socketio/engine/.

mod common;

use std::net::SocketAddr;
use std::thread;

use common::{exchange, expect_eof, read_head, tcp, upgrade_request, StrictResponse};
use wsreactor::socketio::{Cors, Forbidden, Options, SessionCookie, SocketIo};
use wsreactor::Server;

const APP: &str = "http://app.example";

/// A Socket.IO server with these options and the main namespace; `Options` is `Send`, the
/// server it configures is built on the thread that runs it.
fn spawn(options: Options) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0").expect("bind");
    let addr = server.local_addr().expect("local_addr");
    thread::spawn(move || {
        let mut io = SocketIo::new(options);
        io.of("/").on_connection(|_| {});
        server.run(io)
    });
    addr
}

fn header<'r>(response: &'r StrictResponse, name: &str) -> Option<&'r str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn request(method: &str, target: &str, origin: &str, body: &str) -> String {
    format!(
        "{method} /socket.io/?{target} HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn a_page_of_an_allowed_origin_reads_every_answer_and_gets_the_cookie() {
    let options = Options::default()
        .cors(Cors::origin(APP).credentials(true))
        .cookie(SessionCookie::default());
    let addr = spawn(options);
    let mut conn = tcp(addr);
    let cors_ok = |r: &StrictResponse, what: &str| {
        assert_eq!(
            header(r, "Access-Control-Allow-Origin"),
            Some(APP),
            "{what}"
        );
        assert_eq!(
            header(r, "Access-Control-Allow-Credentials"),
            Some("true"),
            "{what}"
        );
    };

    let open = exchange(
        &mut conn,
        &request("GET", "EIO=4&transport=polling", APP, ""),
    );
    assert_eq!(open.status, 200);
    cors_ok(&open, "handshake");
    let body = String::from_utf8(open.body.clone()).unwrap();
    let open_packet: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    let sid = open_packet["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        header(&open, "Set-Cookie"),
        Some(format!("io={sid}; HttpOnly; SameSite=Lax; Path=/").as_str())
    );
    let q = format!("EIO=4&transport=polling&sid={sid}");

    let preflight = format!(
        "OPTIONS /socket.io/?{q} HTTP/1.1\r\nHost: x\r\nOrigin: {APP}\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n"
    );
    let preflight = exchange(&mut conn, &preflight);
    assert_eq!((preflight.status, preflight.body.len()), (204, 0));
    cors_ok(&preflight, "preflight");
    assert_eq!(
        header(&preflight, "Access-Control-Allow-Headers"),
        Some("content-type")
    );

    // A GET held until the POST on another connection gives it something to say: its
    // answer, made later, carries the headers its own request was given. (Should the POST
    // overtake it, the GET is answered at once, alike; engine/tests/http.rs pins the held
    // path without sockets.)
    let mut held = tcp(addr);
    std::io::Write::write_all(&mut held, request("GET", &q, APP, "").as_bytes()).unwrap();
    let ok = exchange(&mut conn, &request("POST", &q, APP, "40"));
    assert_eq!((ok.status, ok.body.as_slice()), (200, &b"ok"[..]));
    cors_ok(&ok, "POST");
    assert_eq!(header(&ok, "Set-Cookie"), None, "the handshake's only");
    let answer = common::read_strict(&mut held, "GET");
    assert!(answer.body.starts_with(b"40{\"sid\":"), "{answer:?}");
    cors_ok(&answer, "held GET");

    // errors too, so the page can read why
    let gone = exchange(
        &mut conn,
        &request("GET", "EIO=4&transport=polling&sid=nope", APP, ""),
    );
    assert_eq!(gone.status, 400);
    cors_ok(&gone, "400");
}

#[test]
fn the_websocket_handshake_sets_no_cookie() {
    let addr = spawn(Options::default().cookie(SessionCookie::default()));
    let mut ws = tcp(addr);
    let upgrade = upgrade_request(addr, "/socket.io/?EIO=4&transport=websocket");
    std::io::Write::write_all(&mut ws, upgrade.as_bytes()).unwrap();
    let head = read_head(&mut ws);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
}

#[test]
fn allow_request_refuses_handshakes_on_both_transports() {
    let options = Options::default().allow_request(|req| match req.query_param("token") {
        Some(token) if token == "s3cret" => Ok(()),
        _ => Err(Forbidden::message("who are you?")),
    });
    let addr = spawn(options);

    let mut conn = tcp(addr);
    let refused = exchange(
        &mut conn,
        &request("GET", "EIO=4&transport=polling", APP, ""),
    );
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body, br#"{"code":4,"message":"who are you?"}"#);
    let open = exchange(
        &mut conn,
        &request("GET", "EIO=4&transport=polling&token=s3cret", APP, ""),
    );
    assert_eq!(open.status, 200);
    assert!(open.body.starts_with(b"0{\"sid\":"));

    // A refused upgrade is answered before any handshake, then the connection closes.
    let mut ws = tcp(addr);
    let upgrade = upgrade_request(addr, "/socket.io/?EIO=4&transport=websocket");
    std::io::Write::write_all(&mut ws, upgrade.as_bytes()).unwrap();
    let refused = common::read_strict(&mut ws, "GET");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body, b"who are you?");
    assert_eq!(header(&refused, "Content-Type"), Some("text/html"));
    expect_eof(&mut ws);

    let mut ws = tcp(addr);
    let upgrade = upgrade_request(addr, "/socket.io/?EIO=4&transport=websocket&token=s3cret");
    std::io::Write::write_all(&mut ws, upgrade.as_bytes()).unwrap();
    let head = read_head(&mut ws);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}
