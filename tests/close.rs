//! Issue 11 §2 and §3 over real sockets: only valid Close frames go on the wire, whichever
//! API asks for one; a peer's close code is judged by the IANA registry and reported as
//! sent; frames and request heads that cannot be valid are refused as soon as the bytes
//! show it, not when the rest has arrived or the handshake timer runs out.

mod common;

use std::io::Write;

use common::{
    client_frame, close_code, manual_clock, next_close, probe_server, raw_request, raw_upgraded,
    read_frame,
};
use tungstenite::protocol::frame::CloseFrame;
use wsreactor::{Cause, CloseCode, Ctx, Message};

/// Closes its connection as the text asks: `ctx <code>`, `send <code>`, `handle <code>`,
/// with a 200-byte reason for `send`.
fn closer(ctx: &mut Ctx<'_>, msg: Message) {
    let text = msg.to_text().unwrap_or_default().to_owned();
    let Some((how, code)) = text.split_once(' ') else {
        return;
    };
    let code = CloseCode::from(code.parse::<u16>().unwrap());
    match how {
        "ctx" => ctx.close(code, "asked"),
        "send" => {
            let reason = "é".repeat(100);
            ctx.send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })));
        }
        "handle" => ctx.handle().close(ctx.id(), code, "asked").unwrap(),
        _ => {}
    }
}

#[test]
fn every_close_api_puts_only_a_valid_code_and_reason_on_the_wire() {
    let (addr, closed) = probe_server(wsreactor::Config::default(), closer);
    for how in ["ctx", "send", "handle"] {
        for code in [1005, 1006, 1015, 1004, 2000, 999, 5000] {
            let mut peer = raw_upgraded(addr);
            let ask = format!("{how} {code}");
            peer.write_all(&client_frame(true, 0x1, ask.as_bytes()))
                .unwrap();
            let (opcode, payload) = read_frame(&mut peer).unwrap();
            assert_eq!((opcode, close_code(&payload)), (0x8, 1011), "{ask}");
            assert!(
                payload.len() <= 125,
                "{ask}: a control frame of {}",
                payload.len()
            );
            let reason = std::str::from_utf8(&payload[2..]).expect("cut on a char boundary");
            peer.write_all(&client_frame(true, 0x8, &payload)).unwrap();
            let why = next_close(&closed);
            assert_eq!(
                (why.code, why.cause),
                (CloseCode::Error, Cause::ServerClosed),
                "{ask}"
            );
            assert_eq!(why.reason, reason, "{ask}: on_close reports what was sent");
        }
    }
    // A valid code goes out as it is, 1014 included.
    let mut peer = raw_upgraded(addr);
    peer.write_all(&client_frame(true, 0x1, b"ctx 1014"))
        .unwrap();
    let (_, payload) = read_frame(&mut peer).unwrap();
    assert_eq!(close_code(&payload), 1014);
}

/// The peer's close frame with this code and reason.
fn peer_close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    client_frame(true, 0x8, &payload)
}

#[test]
fn a_peers_1014_is_echoed_and_reported_as_sent() {
    let (addr, closed) = probe_server(wsreactor::Config::default(), closer);
    let mut peer = raw_upgraded(addr);
    peer.write_all(&peer_close(1014, "bad gateway")).unwrap();
    let (opcode, payload) = read_frame(&mut peer).unwrap();
    assert_eq!((opcode, close_code(&payload)), (0x8, 1014), "echoed");
    let why = next_close(&closed);
    assert_eq!(
        (u16::from(why.code), why.cause, why.reason.as_str()),
        (1014, Cause::PeerClosed, "bad gateway")
    );
}

#[test]
fn a_peers_invalid_close_code_is_a_protocol_failure() {
    let (addr, closed) = probe_server(wsreactor::Config::default(), closer);
    for code in [1004, 1005, 1006, 1015, 1016, 2999, 999, 5000] {
        let mut peer = raw_upgraded(addr);
        peer.write_all(&peer_close(code, "")).unwrap();
        let (opcode, payload) = read_frame(&mut peer).unwrap();
        assert_eq!((opcode, close_code(&payload)), (0x8, 1002), "{code}");
        let why = next_close(&closed);
        assert_eq!(
            (why.code, why.cause),
            (CloseCode::Protocol, Cause::Protocol),
            "{code}"
        );
    }
}

#[test]
fn a_frame_header_that_must_be_refused_is_answered_before_its_payload() {
    let config = wsreactor::Config::default().max_frame_size(4096);
    let (addr, closed) = probe_server(config, closer);
    let mask = [1, 2, 3, 4];
    let cases: [(Vec<u8>, u16); 4] = [
        (vec![0x81, 0x7E, 0xFF, 0xFF], 1002), // unmasked, 65,535 bytes announced
        ([&[0xC2, 0xFE, 0x10, 0x00][..], &mask].concat(), 1002), // RSV1
        ([&[0x89, 0xFE, 0x00, 0x80][..], &mask].concat(), 1002), // ping of 128 bytes
        ([&[0x82, 0xFE, 0x10, 0x01][..], &mask].concat(), 1009), // over max_frame_size
    ];
    for (header, code) in cases {
        let mut peer = raw_upgraded(addr);
        // Only the header: the server must not wait for the payload.
        peer.write_all(&header).unwrap();
        let (opcode, payload) = read_frame(&mut peer).unwrap();
        assert_eq!((opcode, close_code(&payload)), (0x8, code), "{header:x?}");
        let why = next_close(&closed);
        assert_eq!((u16::from(why.code), why.cause), (code, Cause::Protocol));
    }
}

#[test]
fn a_request_that_cannot_be_http_is_answered_400_at_once() {
    // The clock never moves: a 400 cannot come from the handshake timeout.
    let (_clock, config) = manual_clock();
    let (addr, _closed) = probe_server(config, closer);
    let client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8e\x1b\x4c\x00\x20";
    for bytes in [&client_hello[..], b"\x00\x01\xfe\xff garbage"] {
        let head = raw_request(addr, bytes);
        assert!(head.starts_with("HTTP/1.1 400 "), "{head:?}");
    }
}
