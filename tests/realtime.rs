//! Rooms, the cross-thread Handle, graceful shutdown, the upgrade hook and HTTP on the
//! same port.

mod common;

use std::io::Read;
use std::sync::mpsc::{channel, Sender};

use common::{client, client_at, raw_request, tcp, upgrade_request, PATIENCE};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;
use wsreactor::{
    Accept, Cause, Config, ConnId, Ctx, Disconnect, Handler, Request, Response, SendError, Server,
};

/// `join R`, `leave R`, `all R text` (everyone in R), `others R text` (all but me),
/// `everyone text`. Reports each open id and each close.
struct Rooms(Sender<(ConnId, Option<Disconnect>)>);

impl Handler for Rooms {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
        self.0.send((ctx.id(), None)).unwrap();
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        let text = msg.into_text().unwrap();
        let mut words = text.splitn(3, ' ');
        let (verb, room, rest) = (
            words.next().unwrap(),
            words.next().unwrap_or(""),
            words.next(),
        );
        let reply = match verb {
            "join" => match ctx.join(room) {
                Ok(joined) => joined.to_string(),
                Err(e) => format!("{e:?}"),
            },
            "leave" => ctx.leave(room).to_string(),
            "all" => ctx
                .publish(room, rest.unwrap_or_default())
                .unwrap()
                .to_string(),
            "others" => ctx
                .publish_to_others(room, rest.unwrap_or_default())
                .unwrap()
                .to_string(),
            "everyone" => ctx.broadcast(room).unwrap().to_string(),
            "rooms" => ctx.rooms().collect::<Vec<_>>().join(","),
            _ => return,
        };
        ctx.send(format!("ok {reply}"));
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>, why: &Disconnect) {
        // rooms are still visible here; everyone left in them hears about it
        let rooms: Vec<String> = ctx.rooms().map(str::to_owned).collect();
        for room in rooms {
            ctx.publish_to_others(&room, format!("{} left {room}", ctx.id()))
                .unwrap();
        }
        self.0.send((ctx.id(), Some(why.clone()))).unwrap();
    }
}

fn text(ws: &mut common::Client) -> String {
    match ws.read().unwrap() {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn say(ws: &mut common::Client, line: &str) -> String {
    ws.send(Message::text(line)).unwrap();
    text(ws)
}

#[test]
fn rooms_publish_to_members_with_or_without_the_sender() {
    let (tx, rx) = channel();
    let addr = common::spawn_server(Config::default(), Rooms(tx));
    let mut a = client(addr);
    let mut b = client(addr);
    let mut c = client(addr);
    for ws in [&mut a, &mut b] {
        assert_eq!(say(ws, "join red"), "ok true");
    }
    assert_eq!(
        say(&mut a, "join red"),
        "ok false",
        "joining twice is a no-op"
    );
    assert_eq!(say(&mut c, "join blue"), "ok true");
    assert_eq!(say(&mut a, "join blue"), "ok true");
    assert_eq!(say(&mut a, "rooms"), "ok red,blue");

    // io.to(room): everyone in it, the sender included; the publish reply comes after
    a.send(Message::text("all red hello red")).unwrap();
    assert_eq!(text(&mut a), "hello red");
    assert_eq!(text(&mut a), "ok 2");
    assert_eq!(text(&mut b), "hello red");

    // socket.to(room): all but the sender
    assert_eq!(say(&mut b, "others red from b"), "ok 1");
    assert_eq!(text(&mut a), "from b");

    // broadcast reaches every connection
    c.send(Message::text("everyone news")).unwrap();
    for ws in [&mut a, &mut b] {
        assert_eq!(text(ws), "news");
    }
    assert_eq!(text(&mut c), "news");
    assert_eq!(text(&mut c), "ok 3");

    // leaving stops delivery; c never saw red traffic
    assert_eq!(say(&mut b, "leave red"), "ok true");
    assert_eq!(say(&mut a, "all red only me"), "only me");
    assert_eq!(text(&mut a), "ok 1");

    // a closing connection leaves its rooms; on_close still saw them
    let ids: Vec<ConnId> = (0..3)
        .map(|_| rx.recv_timeout(PATIENCE).unwrap().0)
        .collect();
    drop(a);
    assert!(text(&mut c).ends_with("left blue"));
    let (gone, why) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(gone, ids[0]);
    assert_eq!(why.unwrap().cause, Cause::Reset);
    assert_eq!(say(&mut c, "all blue anyone?"), "anyone?");
    assert_eq!(text(&mut c), "ok 1", "only c is left in blue");
}

#[test]
fn handle_sends_publishes_closes_and_shuts_down_from_another_thread() {
    let (tx, rx) = channel();
    let server = Server::bind_with("127.0.0.1:0", Config::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle(); // taken before the server runs
    let (_, thread) = server.spawn(Rooms(tx));

    let mut a = client(addr);
    let mut b = client(addr);
    let a_id = rx.recv_timeout(PATIENCE).unwrap().0;
    let b_id = rx.recv_timeout(PATIENCE).unwrap().0;
    assert_eq!(say(&mut b, "join news"), "ok true");

    handle.send(a_id, "direct").unwrap();
    assert_eq!(text(&mut a), "direct");
    handle.publish("news", "headline").unwrap();
    assert_eq!(text(&mut b), "headline");
    handle.broadcast("to all").unwrap();
    assert_eq!(text(&mut a), "to all");
    assert_eq!(text(&mut b), "to all");

    handle
        .close(a_id, CloseCode::Library(4100), "kicked")
        .unwrap();
    assert!(matches!(a.read(), Ok(Message::Close(Some(f))) if f.code == CloseCode::Library(4100)));
    let _ = a.read(); // completes the close handshake
    let (id, why) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!((id, why.unwrap().cause), (a_id, Cause::ServerClosed));

    // a stale id is harmless
    handle.send(a_id, "into the void").unwrap();

    // graceful shutdown: b gets 1001, answers, and run() returns
    handle.shutdown().unwrap();
    match b.read() {
        Ok(Message::Close(Some(f))) => assert_eq!(f.code, CloseCode::Away),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let _ = b.read();
    let (id, why) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!((id, why.unwrap().cause), (b_id, Cause::Shutdown));
    thread.join().unwrap().unwrap();

    assert_eq!(handle.send(b_id, "late"), Err(SendError::Stopped));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is released"
    );
}

#[test]
fn shutdown_does_not_wait_past_the_close_timeout_for_a_silent_peer() {
    let timeout = std::time::Duration::from_secs(5);
    let (clock, config) = common::manual_clock();
    let server = Server::bind_with("127.0.0.1:0", config.close_timeout(timeout)).unwrap();
    let addr = server.local_addr().unwrap();
    let (handle, thread) = server.spawn(wsreactor::Echo);
    let mut silent = tcp(addr); // upgrades, then never reads or answers the close
    std::io::Write::write_all(&mut silent, upgrade_request(addr, "/").as_bytes()).unwrap();
    let head = common::read_head(&mut silent);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    handle.shutdown().unwrap();
    // The close frame is on its way (left unread), so the close timeout is armed: let
    // it pass.
    silent.peek(&mut [0u8; 1]).unwrap();
    clock.advance(timeout + std::time::Duration::from_secs(1));
    thread.join().unwrap().unwrap();
    // the server is gone: the socket reaches EOF after the close frame
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    assert_eq!(rest.first(), Some(&0x88), "a close frame was sent first");
}

#[test]
fn full_command_queue_answers_full_without_blocking() {
    let config = Config::default().command_queue_capacity(2);
    let server = Server::bind_with("127.0.0.1:0", config).unwrap();
    let handle = server.handle(); // the server is not running, so nothing drains
    assert_eq!(handle.broadcast("1"), Ok(()));
    assert_eq!(handle.broadcast("2"), Ok(()));
    assert_eq!(handle.broadcast("3"), Err(SendError::Full));
    drop(server);
    assert_eq!(handle.broadcast("4"), Err(SendError::Stopped));
}

/// Accepts `/ws` from the right origin with the `chat` subprotocol; serves `/` over HTTP.
struct Gate;

impl Handler for Gate {
    fn on_upgrade(&mut self, req: &Request) -> Result<Accept, Response> {
        if req.path() != "/ws" {
            return Err(Response::status_text(404));
        }
        if req.header("origin") != Some("http://good.example") {
            return Err(Response::status_text(403));
        }
        if req.query() == Some("token=none") {
            return Err(Response::status_text(401));
        }
        let offered = req.header("sec-websocket-protocol").unwrap_or_default();
        match offered.split(',').map(str::trim).find(|p| *p == "chat") {
            Some(p) => Ok(Accept::protocol(p)),
            None => Ok(Accept::default()),
        }
    }

    fn on_http(&mut self, _ctx: &mut Ctx<'_>, req: &Request) -> Option<Response> {
        Some(match req.path() {
            "/" => Response::new(200)
                .header("Content-Type", "text/html; charset=utf-8")
                .body("<h1>hi</h1>"),
            _ => Response::status_text(404),
        })
    }
}

fn upgrade_with(addr: std::net::SocketAddr, path: &str, extra: &str) -> String {
    let req = upgrade_request(addr, path).replace("\r\n\r\n", &format!("\r\n{extra}\r\n"));
    raw_request(addr, req.as_bytes())
}

#[test]
fn upgrade_hook_rejects_with_status_or_accepts_with_subprotocol() {
    let addr = common::spawn_server(Config::default(), Gate);
    let good = "Origin: http://good.example\r\n";
    assert!(upgrade_with(addr, "/nope", good).starts_with("HTTP/1.1 404 "));
    assert!(
        upgrade_with(addr, "/ws", "Origin: http://evil.example\r\n").starts_with("HTTP/1.1 403 ")
    );
    assert!(upgrade_with(addr, "/ws?token=none", good).starts_with("HTTP/1.1 401 "));
    let plain = upgrade_with(addr, "/ws", good);
    assert!(plain.starts_with("HTTP/1.1 101 ") && !plain.contains("Sec-WebSocket-Protocol"));
    let head = upgrade_with(
        addr,
        "/ws",
        &format!("{good}Sec-WebSocket-Protocol: v2, chat\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("Sec-WebSocket-Protocol: chat\r\n"), "{head}");
}

#[test]
fn plain_http_goes_to_the_hook_and_defaults_to_426() {
    let addr = common::spawn_server(Config::default(), Gate);
    let mut stream = tcp(addr);
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    std::io::Write::write_all(&mut stream, request).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap(); // Connection: close → EOF
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Content-Length: 11\r\n"));
    assert!(response.ends_with("\r\n\r\n<h1>hi</h1>"));
    assert!(raw_request(addr, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 404 "));

    let echo = common::echo_server();
    let head = raw_request(echo, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{head}"
    );
    assert!(head.contains("Upgrade: websocket\r\n"));
    // and a websocket on the same port still works
    let mut ws = client_at(echo, "/any");
    ws.send(Message::text("same port")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("same port"));
}

/// Room limits (issue 19): past `max_rooms_per_connection` or `max_room_name_len` a join
/// is refused with a typed error and changes nothing; leaving makes room again.
#[test]
fn joins_past_the_room_limits_are_refused() {
    let (tx, _rx) = channel();
    let config = Config::default()
        .max_rooms_per_connection(2)
        .max_room_name_len(8);
    let addr = common::spawn_server(config, Rooms(tx));
    let mut a = client(addr);
    assert_eq!(say(&mut a, "join red"), "ok true");
    assert_eq!(say(&mut a, "join 12345678"), "ok true", "exactly the limit");
    assert_eq!(say(&mut a, "join blue"), "ok TooManyRooms");
    assert_eq!(say(&mut a, "join red"), "ok false", "still a member");
    assert_eq!(say(&mut a, "rooms"), "ok red,12345678");
    assert_eq!(say(&mut a, "leave red"), "ok true");
    assert_eq!(say(&mut a, "join 123456789"), "ok NameTooLong");
    assert_eq!(say(&mut a, "join blue"), "ok true");
}
