//! Bad peers cost one connection: protocol violations and oversize messages get their close
//! codes, and a client that vanishes mid-message does not disturb the others.

mod common;

use std::io::Write;

use common::{client, client_frame, spawn_server};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;
use wsreactor::{Config, Echo};

fn close_code(ws: &mut common::Client) -> Option<CloseCode> {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return frame.map(|f| f.code),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[test]
fn oversized_message_closes_with_1009_and_others_carry_on() {
    let addr = spawn_server(
        Config::default()
            .max_message_size(1000)
            .max_frame_size(1000),
        Echo,
    );
    let mut bystander = client(addr);
    let mut ws = client(addr);
    ws.send(Message::binary(vec![7u8; 1001])).unwrap();
    assert_eq!(close_code(&mut ws), Some(CloseCode::Size));

    // fragments that add up past the limit, each under it
    let mut ws = client(addr);
    let mut frames = client_frame(false, 0x2, &[1u8; 600]);
    frames.extend(client_frame(true, 0x0, &[2u8; 600]));
    ws.get_mut().write_all(&frames).unwrap();
    assert_eq!(close_code(&mut ws), Some(CloseCode::Size));

    bystander.send(Message::text("still here")).unwrap();
    assert_eq!(bystander.read().unwrap(), Message::text("still here"));
}

#[test]
fn protocol_violations_close_with_1002_and_bad_utf8_with_1007() {
    let addr = common::echo_server();
    let cases: [(&str, Vec<u8>, CloseCode); 4] = [
        (
            "reserved bit",
            {
                let mut f = client_frame(true, 0x1, b"x");
                f[0] |= 0x40;
                f
            },
            CloseCode::Protocol,
        ),
        (
            "unknown opcode",
            client_frame(true, 0x3, b"x"),
            CloseCode::Protocol,
        ),
        (
            "continuation first",
            client_frame(true, 0x0, b"x"),
            CloseCode::Protocol,
        ),
        (
            "invalid utf-8",
            client_frame(true, 0x1, &[0xce, 0xba, 0xff]),
            CloseCode::Invalid,
        ),
    ];
    for (name, frame, code) in cases {
        let mut ws = client(addr);
        ws.get_mut().write_all(&frame).unwrap();
        assert_eq!(close_code(&mut ws), Some(code), "{name}");
    }
}

#[test]
fn unmasked_client_frame_is_a_protocol_error() {
    let addr = common::echo_server();
    let mut ws = client(addr);
    ws.get_mut().write_all(b"\x81\x02hi").unwrap();
    assert_eq!(close_code(&mut ws), Some(CloseCode::Protocol));
}

#[test]
fn client_vanishing_mid_message_does_not_disturb_others() {
    let addr = common::echo_server();
    let mut stays = client(addr);
    for _ in 0..20 {
        let mut leaves = client(addr);
        let frame = client_frame(true, 0x2, &[9u8; 100_000]);
        leaves.get_mut().write_all(&frame[..50_000]).unwrap();
        drop(leaves);
        stays.send(Message::text("ping-pong")).unwrap();
        assert_eq!(stays.read().unwrap(), Message::text("ping-pong"));
    }
}
