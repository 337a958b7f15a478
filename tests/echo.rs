//! Echo over real sockets: message kinds and sizes, fragmentation, ping, close, many clients.

mod common;

use std::thread;

use common::{client, echo_server};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::Message;

#[test]
fn text_binary_and_empty_messages_echo_verbatim() {
    let addr = echo_server();
    let mut ws = client(addr);
    let msgs = [
        Message::text("hello ✓"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(""),
        Message::binary(Vec::new()),
    ];
    for msg in msgs {
        ws.send(msg.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), msg);
    }
}

#[test]
fn sixteen_mib_message_echoes() {
    let addr = echo_server();
    let mut ws = client(addr);
    let payload: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(Message::binary(payload.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(payload));
}

#[test]
fn fragmented_message_is_reassembled() {
    use std::io::Write;
    let addr = echo_server();
    let mut ws = client(addr);
    let mut frames = common::client_frame(false, 0x1, b"frag");
    frames.extend(common::client_frame(false, 0x0, b"ment"));
    frames.extend(common::client_frame(true, 0x9, b"ping in the middle"));
    frames.extend(common::client_frame(true, 0x0, b"ed"));
    ws.get_mut().write_all(&frames).unwrap();
    // the control frame between fragments is answered at once, then the whole text comes
    assert_eq!(
        ws.read().unwrap(),
        Message::Pong("ping in the middle".into())
    );
    assert_eq!(ws.read().unwrap(), Message::text("fragmented"));
}

#[test]
fn ping_gets_pong_with_same_payload() {
    let addr = echo_server();
    let mut ws = client(addr);
    ws.send(Message::Ping("are you there".into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong("are you there".into()));
}

#[test]
fn close_handshake_echoes_code_and_reason() {
    let addr = echo_server();
    let mut ws = client(addr);
    ws.close(Some(CloseFrame {
        code: CloseCode::Library(4001),
        reason: "done here".into(),
    }))
    .unwrap();
    let reply = match ws.read() {
        Ok(Message::Close(frame)) => frame,
        other => panic!("expected the close reply, got {other:?}"),
    };
    let reply = reply.expect("a close frame with a code");
    assert_eq!(reply.code, CloseCode::Library(4001));
    assert_eq!(reply.reason.as_str(), "done here");
    // then the server closes the TCP connection
    assert!(matches!(
        ws.read(),
        Err(tungstenite::Error::ConnectionClosed)
    ));
}

#[test]
fn five_hundred_clients_each_echo_a_hundred_messages_in_order() {
    let addr = echo_server();
    let workers: Vec<_> = (0..10)
        .map(|w| {
            thread::spawn(move || {
                let mut clients: Vec<_> = (0..50).map(|_| client(addr)).collect();
                for round in 0..100 {
                    for (c, ws) in clients.iter_mut().enumerate() {
                        ws.send(Message::text(format!("{w}/{c}/{round}"))).unwrap();
                    }
                    for (c, ws) in clients.iter_mut().enumerate() {
                        assert_eq!(
                            ws.read().unwrap(),
                            Message::text(format!("{w}/{c}/{round}"))
                        );
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn pipelined_messages_come_back_in_order() {
    let addr = echo_server();
    let mut ws = client(addr);
    for i in 0..1000 {
        ws.write(Message::text(i.to_string())).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..1000 {
        assert_eq!(ws.read().unwrap(), Message::text(i.to_string()));
    }
}
