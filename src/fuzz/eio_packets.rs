//! The Engine.IO packet decoders, round-tripped: the input read as a WebSocket frame's text
//! (`decode_text`) and as a polling payload (`decode_payload`). What decodes is written
//! back with the encoders the server sends with (`Out`, `encode_payload`); that must
//! decode to the same packets, and encode to the same bytes a second time. No input may
//! panic.

use tungstenite::Utf8Bytes;

use crate::socketio::engine::packet::{
    decode_payload, decode_text, encode_payload, Incoming, Invalid, Out, Packet,
};
use crate::Message;

/// Reads `data` both ways and round-trips what decodes.
pub fn run(data: &[u8]) {
    // A frame's text is UTF-8 (the WebSocket layer refuses the rest before the engine).
    let text = String::from_utf8_lossy(data);
    if let Ok(packet) = decode_text(&text) {
        frame_round_trip(&packet);
    }
    let packets: Result<Vec<Packet<'_>>, Invalid> = decode_payload(data).collect();
    if let Ok(packets) = packets {
        payload_round_trip(&packets);
    }
}

/// A packet as the server would send it: [`Out`] for what it received.
fn encode(packet: &Packet<'_>) -> Out {
    let fixed = |text: &'static str| Out::Text(Utf8Bytes::from_static(text));
    match packet {
        Packet::Open => fixed("0"),
        Packet::Close => Out::CLOSE,
        Packet::Ping { probe: false } => Out::PING,
        Packet::Ping { probe: true } => fixed("2probe"),
        Packet::Pong { probe: false } => fixed("3"),
        Packet::Pong { probe: true } => Out::PONG_PROBE,
        Packet::Message(Incoming::Text(text)) => Out::message(text),
        Packet::Message(Incoming::Binary(bytes)) => Out::Binary(bytes.clone()),
        Packet::Upgrade => fixed("5"),
        Packet::Noop => Out::NOOP,
    }
}

/// A frame read as the engine reads one: text is a packet, binary a binary message.
fn read_frame(msg: &Message) -> Result<Packet<'_>, Invalid> {
    match msg {
        Message::Text(text) => decode_text(text),
        Message::Binary(bytes) => Ok(Packet::Message(Incoming::Binary(bytes.clone()))),
        other => panic!("a packet encoded as {other:?}"),
    }
}

fn frame_round_trip(packet: &Packet<'_>) {
    let frame = encode(packet).to_ws();
    let again = read_frame(&frame).unwrap_or_else(|_| panic!("{frame:?} does not decode"));
    assert_eq!(&again, packet, "{frame:?} decodes to another packet");
    assert_eq!(encode(&again).to_ws(), frame, "encoded twice, differently");
}

fn payload_round_trip(packets: &[Packet<'_>]) {
    let outs: Vec<Out> = packets.iter().map(encode).collect();
    let body = encode_payload(&outs);
    let again: Result<Vec<Packet<'_>>, Invalid> = decode_payload(&body).collect();
    let Ok(again) = again else {
        panic!("{:?} does not decode", String::from_utf8_lossy(&body));
    };
    assert_eq!(again, packets, "{body:?} decodes to other packets");
    let outs: Vec<Out> = again.iter().map(encode).collect();
    assert_eq!(encode_payload(&outs), body, "encoded twice, differently");
}

/// The seeds of the corpus: the packets and payloads of the engine's tests and of the
/// protocol's examples (engine.io-protocol, Packet encoding and Payload).
pub fn seeds() -> Vec<Vec<u8>> {
    let inputs: [&[u8]; 16] = [
        b"0",
        b"1",
        b"2probe",
        b"3probe",
        b"4hello",
        b"4\xe2\x82\xac",
        b"5",
        b"6",
        b"bAQIDBA==",
        b"bZm9vYg",
        b"bZh==",
        b"4hello\x1ebAQIDBA==\x1e2\x1e4\xe2\x82\xac",
        b"4a\x1e\xff",
        b"2\x1e3\x1e6\x1e1",
        br#"40{"token":"123"}"#,
        br#"451-["m",{"_placeholder":true,"num":0}]"#,
    ];
    inputs.iter().map(|input| input.to_vec()).collect()
}
