//! Echo over real sockets: message kinds and sizes, fragmentation, ping, close, many clients.

mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::thread;

use common::{client, client_frame, echo_server, raw_upgraded, read_whole_frame};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::Message;
use wsreactor::{Config, Server};

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
    let addr = echo_server();
    let mut ws = client(addr);
    let mut frames = client_frame(false, 0x1, b"frag");
    frames.extend(client_frame(false, 0x0, b"ment"));
    frames.extend(client_frame(true, 0x9, b"ping in the middle"));
    frames.extend(client_frame(true, 0x0, b"ed"));
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

#[test]
fn large_pipelined_messages_echo_whole_and_in_order_through_a_small_send_buffer() {
    // Messages of 2 to 62 KiB mostly arrive whole in one read, so the echo writes them
    // from the reactor's read buffer; a send buffer of a few KiB (inherited from the
    // listener) makes those writes short, and what they leave must be copied before the
    // buffer is read again.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let size: libc::c_int = 4096;
    // SAFETY: a plain setsockopt on a socket this test owns, with a value of the right size.
    let set = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    let addr = listener.local_addr().unwrap();
    let server = Server::from_listener(listener, Config::default()).unwrap();
    thread::spawn(move || server.run(wsreactor::Echo));
    let mut stream = raw_upgraded(addr);
    let payloads: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            let len = 2048 + (i as usize * 7919) % 62_000;
            (0..len)
                .map(|j| (j as u32).wrapping_mul(i + 1) as u8)
                .collect()
        })
        .collect();
    let mut writer = stream.try_clone().unwrap();
    let sent = payloads.clone();
    let writing = thread::spawn(move || {
        for p in &sent {
            writer.write_all(&client_frame(true, 2, p)).unwrap();
        }
    });
    for (i, want) in payloads.iter().enumerate() {
        let (opcode, got) = read_whole_frame(&mut stream).unwrap();
        assert_eq!(opcode, 0x82, "message {i}: a final binary frame");
        assert!(got == *want, "message {i}: {} bytes differ", want.len());
    }
    writing.join().unwrap();
}
