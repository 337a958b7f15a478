//! The examples as a user runs them: they serve, and Ctrl-C/SIGTERM shuts them down
//! gracefully (every client gets 1001, the process exits 0).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use common::{client_at, raw_request, PATIENCE};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// `cargo test` builds the examples next to the test binaries.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    dir.join("examples").join(name)
}

/// Starts an example on port 0 and reads the address it logs (`... ws://ADDR` or
/// `http://ADDR/`).
fn start(name: &str) -> (Child, SocketAddr) {
    start_with(name, &[], &[])
}

/// [`start`] with more arguments (after the address) and environment variables.
fn start_with(name: &str, args: &[&str], envs: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut child = Command::new(example(name))
        .arg("127.0.0.1:0")
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run example {name}: {e}"));
    let (tx, rx) = mpsc::channel();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let addr = line
                    .split("://")
                    .nth(1)
                    .map(|rest| rest.trim_end_matches('/'));
                let addr = addr
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse().ok());
                if let Some(addr) = addr {
                    let _ = tx.send(addr);
                }
            }
        });
    }
    let addr = rx
        .recv_timeout(PATIENCE)
        .expect("the example logs its address");
    (child, addr)
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn expect_going_away(ws: &mut common::Client) {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| f.code), Some(CloseCode::Away));
                return;
            }
            Ok(_) => continue,
            Err(e) => panic!("expected close 1001, got {e}"),
        }
    }
}

#[test]
fn echo_example_echoes_and_shuts_down_on_sigterm() {
    let (mut child, addr) = start("echo");
    let mut ws = client_at(addr, "/");
    ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(vec![1u8, 2, 3]));
    terminate(&child);
    expect_going_away(&mut ws);
    let _ = ws.read(); // answers the close
    assert!(child.wait().unwrap().success());
}

/// With two reactors handed connections in turn, the two clients are on different ones,
/// and SIGTERM closes both.
#[test]
fn echo_example_runs_reactors_and_shuts_them_all_down() {
    let spread = [("WSREACTOR_SPREAD", "handoff")];
    let (mut child, addr) = start_with("echo", &["--reactors", "2"], &spread);
    let mut clients = [client_at(addr, "/"), client_at(addr, "/")];
    for (n, ws) in clients.iter_mut().enumerate() {
        ws.send(Message::text(format!("to {n}"))).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text(format!("to {n}")));
    }
    terminate(&child);
    for ws in &mut clients {
        expect_going_away(ws);
        let _ = ws.read();
    }
    assert!(child.wait().unwrap().success());
}

/// `HEAD /` is not allowed (405), and its answer has no body: the page that follows on
/// the same connection is read whole, and nothing is left over.
#[test]
fn chat_example_answers_head_without_a_body() {
    let (mut child, addr) = start("chat");
    let mut c = common::tcp(addr);
    let head = common::exchange(&mut c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((head.status, head.body.len()), (405, 0));
    assert_eq!(head.content_length, Some("405 Method Not Allowed\n".len()));
    assert!(head.keep_alive);
    let page = common::exchange(
        &mut c,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(page.status, 200);
    assert!(page.body.starts_with(b"<!doctype html>"));
    common::expect_eof(&mut c);
    terminate(&child);
    assert!(child.wait().unwrap().success());
}

#[test]
fn chat_example_serves_page_and_socket_and_shuts_down_on_sigterm() {
    let (mut child, addr) = start("chat");
    let head = raw_request(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("text/html"), "{head}");
    assert!(raw_request(addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 404"));

    let mut a = client_at(addr, "/ws");
    assert_eq!(
        a.read().unwrap(),
        Message::text("* you are guest-1 in lobby")
    );
    let mut b = client_at(addr, "/ws");
    assert_eq!(
        b.read().unwrap(),
        Message::text("* you are guest-2 in lobby")
    );
    assert_eq!(a.read().unwrap(), Message::text("* guest-2 joined lobby"));
    b.send(Message::text("/nick bob")).unwrap();
    assert_eq!(b.read().unwrap(), Message::text("* you are now bob"));
    assert_eq!(a.read().unwrap(), Message::text("* guest-2 is now bob"));
    b.send(Message::text("hi all")).unwrap();
    assert_eq!(a.read().unwrap(), Message::text("bob: hi all"));
    a.send(Message::text("/join attic")).unwrap();
    assert_eq!(a.read().unwrap(), Message::text("* you are in attic"));
    assert_eq!(b.read().unwrap(), Message::text("* guest-1 left lobby"));
    b.send(Message::text("anyone?")).unwrap(); // a is elsewhere now
    a.send(Message::text("/nick al")).unwrap();
    assert_eq!(a.read().unwrap(), Message::text("* you are now al"));

    terminate(&child);
    expect_going_away(&mut a);
    expect_going_away(&mut b);
    let _ = a.read();
    let _ = b.read();
    assert!(child.wait().unwrap().success());
}

/// The Socket.IO example's background thread: a member of `clock` gets its ticks through
/// the io handle (volatile: no recovery offset), and SIGTERM stops the server and the
/// thread, so the process exits 0.
#[cfg(feature = "socketio")]
#[test]
fn socketio_chat_example_ticks_to_clock_members_and_shuts_down_on_sigterm() {
    let (mut child, addr) = start("socketio_chat");
    let mut ws = common::sio::ws_session(addr);
    ws.send(Message::text(r#"421["join","clock"]"#)).unwrap();
    let mut acked = false;
    let tick = loop {
        let frame = ws.read().unwrap();
        let text = frame.to_text().unwrap();
        acked |= text == "431[1]";
        if let Some(args) = text.strip_prefix("42") {
            let args: Vec<serde_json::Value> = serde_json::from_str(args).unwrap();
            if args[0] == "tick" {
                break args;
            }
        }
    };
    assert!(acked, "join's ack (the room's size) came before the tick");
    assert_eq!(tick.len(), 2, "the event and its time, no offset: {tick:?}");
    assert!(tick[1].as_u64().is_some_and(|ms| ms > 1_600_000_000_000));

    terminate(&child);
    expect_going_away(&mut ws);
    let _ = ws.read();
    assert!(child.wait().unwrap().success());
}
