//! Fault isolation: a panic in any callback costs the connection it was serving (close
//! 1011, or 500 before the upgrade), never the server or the other connections.

mod common;

use std::sync::mpsc;

use common::{client, client_at, raw_request, spawn_server, upgrade_request, PATIENCE};
use tungstenite::protocol::frame::coding::CloseCode as WireCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::Message;
use wsreactor::{Accept, Cause, CloseCode, Ctx, Disconnect, Handler, Request, Response};

/// Echoes, and panics on request: in `on_upgrade` for `/panic-upgrade`, in `on_open` for
/// `/panic-open`, in `on_message` for "boom", and in `on_close` after a close with 4000.
struct Fragile {
    closed: mpsc::Sender<Disconnect>,
}

impl Handler for Fragile {
    fn on_upgrade(&mut self, req: &Request) -> Result<Accept, Response> {
        assert_ne!(req.path(), "/panic-upgrade", "test panic in on_upgrade");
        Ok(Accept::default())
    }

    fn on_open(&mut self, _ctx: &mut Ctx<'_>, req: &Request) {
        assert_ne!(req.path(), "/panic-open", "test panic in on_open");
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        assert_ne!(msg, Message::text("boom"), "test panic in on_message");
        ctx.send(msg);
    }

    fn on_close(&mut self, _ctx: &mut Ctx<'_>, why: &Disconnect) {
        let _ = self.closed.send(why.clone());
        assert_ne!(why.code, CloseCode::Library(4000), "test panic in on_close");
    }
}

fn fragile_server() -> (std::net::SocketAddr, mpsc::Receiver<Disconnect>) {
    let (closed, rx) = mpsc::channel();
    let addr = spawn_server(wsreactor::Config::default(), Fragile { closed });
    (addr, rx)
}

fn expect_close_frame(ws: &mut common::Client) -> CloseFrame {
    match ws.read() {
        Ok(Message::Close(Some(frame))) => frame,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

fn assert_echoes(ws: &mut common::Client, text: &str) {
    ws.send(Message::text(text)).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text(text));
}

#[test]
fn panic_in_on_message_closes_only_that_connection_with_1011() {
    let (addr, closes) = fragile_server();
    let mut bystander = client(addr);
    let mut victim = client(addr);

    victim.send(Message::text("boom")).unwrap();
    assert_eq!(expect_close_frame(&mut victim).code, WireCode::Error);
    let why = closes.recv_timeout(PATIENCE).unwrap();
    assert_eq!(
        (why.code, why.cause),
        (CloseCode::Error, Cause::HandlerPanic)
    );

    assert_echoes(&mut bystander, "unaffected");
    assert_echoes(&mut client(addr), "newcomer served");
}

#[test]
fn panic_in_on_open_closes_with_1011_and_in_on_upgrade_answers_500() {
    let (addr, closes) = fragile_server();
    let mut bystander = client(addr);

    let mut opened = client_at(addr, "/panic-open");
    assert_eq!(expect_close_frame(&mut opened).code, WireCode::Error);
    let why = closes.recv_timeout(PATIENCE).unwrap();
    assert_eq!(why.cause, Cause::HandlerPanic);

    let head = raw_request(addr, upgrade_request(addr, "/panic-upgrade").as_bytes());
    assert!(head.starts_with("HTTP/1.1 500 "), "got {head:?}");

    assert_echoes(&mut bystander, "unaffected");
}

#[test]
fn panic_in_on_close_is_contained() {
    let (addr, closes) = fragile_server();
    let mut bystander = client(addr);
    let mut leaver = client(addr);
    leaver
        .close(Some(CloseFrame {
            code: WireCode::Library(4000),
            reason: "".into(),
        }))
        .unwrap();
    while leaver.read().is_ok() {}
    let why = closes.recv_timeout(PATIENCE).unwrap();
    assert_eq!(why.code, CloseCode::Library(4000));

    assert_echoes(&mut bystander, "unaffected");
}
