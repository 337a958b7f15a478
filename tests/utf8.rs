//! Invalid UTF-8 in text fails the connection with 1007 as soon as the invalid byte
//! arrives, not when the frame is complete (RFC 6455 §8.1; Autobahn 6.4.x).

mod common;

use std::io::Write;

use common::{client, client_frame, echo_server, read_head, tcp, upgrade_request, Client};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::Message;

/// The first `sent` bytes of a masked text frame whose payload is `payload`: the header
/// promises all of it, only part of it comes.
fn partial_frame(opcode: u8, payload: &[u8], sent: usize) -> Vec<u8> {
    let frame = client_frame(true, opcode, payload);
    let header = frame.len() - payload.len();
    frame[..header + sent].to_vec()
}

/// A long text payload with an invalid byte at `at`.
fn text_with_invalid_byte(at: usize) -> Vec<u8> {
    let mut payload = "valid κόσμε text ".repeat(100).into_bytes();
    payload[at] = 0xFF;
    payload
}

fn expect_close(ws: &mut Client, code: CloseCode) {
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, code, "{frame:?}"),
        other => panic!("expected a close frame with {code}, got {other:?}"),
    }
}

#[test]
fn invalid_byte_fails_the_connection_before_the_frame_is_complete() {
    let addr = echo_server();
    let mut ws = client(addr);
    let payload = text_with_invalid_byte(40);
    // The frame stays incomplete: only the close can end this read.
    ws.get_mut()
        .write_all(&partial_frame(0x1, &payload, 50))
        .unwrap();
    expect_close(&mut ws, CloseCode::Invalid);
}

#[test]
fn messages_before_the_invalid_byte_are_still_delivered() {
    let addr = echo_server();
    let mut ws = client(addr);
    let mut bytes = client_frame(true, 0x1, "first ✓".as_bytes());
    bytes.extend(partial_frame(0x1, &text_with_invalid_byte(10), 20));
    ws.get_mut().write_all(&bytes).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("first ✓"));
    expect_close(&mut ws, CloseCode::Invalid);
}

#[test]
fn invalid_text_in_the_same_packet_as_the_upgrade_is_caught() {
    let addr = echo_server();
    let mut stream = tcp(addr);
    let mut bytes = upgrade_request(addr, "/").into_bytes();
    bytes.extend(partial_frame(0x1, &text_with_invalid_byte(3), 8));
    stream.write_all(&bytes).unwrap();
    assert!(read_head(&mut stream).starts_with("HTTP/1.1 101"));
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
    expect_close(&mut ws, CloseCode::Invalid);
}

#[test]
fn binary_payload_is_not_checked_as_text() {
    let addr = echo_server();
    let mut ws = client(addr);
    let payload = text_with_invalid_byte(40);
    ws.get_mut()
        .write_all(&client_frame(true, 0x2, &payload))
        .unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(payload));
}

#[test]
fn a_code_point_split_across_fragments_is_valid() {
    let addr = echo_server();
    let mut ws = client(addr);
    let euro = "€".as_bytes();
    let mut bytes = client_frame(false, 0x1, &euro[..2]);
    bytes.extend(client_frame(true, 0x0, &euro[2..]));
    ws.get_mut().write_all(&bytes).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("€"));
}
