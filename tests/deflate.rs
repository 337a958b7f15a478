//! permessage-deflate (RFC 7692) over real sockets: negotiation in the 101, compressed
//! echoes both ways, the inflation cap, and a broadcast compressed once.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use wsreactor::{
    Accept, CloseCode, Config, Ctx, DeflateConfig, Handler, Message, Request, Response,
};

/// A raw connection upgraded with this `Sec-WebSocket-Extensions` offer (none if empty),
/// and the 101's extensions answer, if any.
fn upgraded(addr: SocketAddr, offer: &str) -> (TcpStream, Option<String>) {
    upgraded_at(addr, "/", offer)
}

fn upgraded_at(addr: SocketAddr, path: &str, offer: &str) -> (TcpStream, Option<String>) {
    let mut stream = tcp(addr);
    let mut request = upgrade_request(addr, path);
    if !offer.is_empty() {
        let header = format!("\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n");
        request = request.replacen("\r\n\r\n", &header, 1);
    }
    stream.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let answer = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .map(str::to_owned);
    (stream, answer)
}

/// A client's side of one DEFLATE context (RFC 7692 §7.2.1).
fn compress(c: &mut Compress, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 64);
    c.compress_vec(payload, &mut out, FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "the output had room");
    out.truncate(out.len() - 4);
    out
}

/// Inflates one message's payload as a client does (RFC 7692 §7.2.2).
fn inflate(d: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

fn deflate_config() -> Config {
    Config::default().deflate(DeflateConfig::default())
}

#[test]
fn the_101_answers_the_offer_only_when_deflate_is_on() {
    let on = spawn_server(deflate_config(), wsreactor::Echo);
    let (_, answer) = upgraded(on, "permessage-deflate; client_max_window_bits");
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    let (_, answer) = upgraded(on, "permessage-deflate; server_max_window_bits=10");
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
    );
    // Declined offers leave the extension out and the handshake succeeds.
    assert_eq!(upgraded(on, "permessage-deflate; bogus").1, None);
    assert_eq!(upgraded(on, "").1, None);
    // Off by default.
    let off = spawn_server(Config::default(), wsreactor::Echo);
    assert_eq!(upgraded(off, "permessage-deflate").1, None);
}

/// Echoes, but turns permessage-deflate off for requests to `/plain` and on (with a
/// threshold of 1 byte) for `/tiny`, whatever the server's config says.
struct PerPath;

impl Handler for PerPath {
    fn on_upgrade(&mut self, req: &Request) -> Result<Accept, Response> {
        Ok(match req.path() {
            "/plain" => Accept::default().deflate(None),
            "/tiny" => Accept::default().deflate(Some(DeflateConfig::default().threshold(1))),
            _ => Accept::default(),
        })
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        ctx.send(msg);
    }
}

#[test]
fn the_handler_may_choose_per_connection() {
    let addr = spawn_server(Config::default(), PerPath);
    let offer = |path: &str| {
        let (stream, answer) = upgraded_at(addr, path, "permessage-deflate");
        (stream, answer.is_some())
    };
    assert!(!offer("/").1, "the config has it off");
    assert!(!offer("/plain").1);
    let (mut tiny, on) = offer("/tiny");
    assert!(on);
    tiny.write_all(&client_frame(true, 0x1, b"hi")).unwrap();
    let (first, payload) = read_whole_frame(&mut tiny).unwrap();
    assert_eq!(first, 0xC1, "compressed from one byte on");
    assert_eq!(inflate(&mut Decompress::new(false), &payload), b"hi");
}

#[test]
fn compressed_messages_echo_compressed_above_the_threshold() {
    let addr = spawn_server(deflate_config(), wsreactor::Echo);
    let (mut stream, _) = upgraded(addr, "permessage-deflate");
    let mut client = Compress::new(Compression::default(), false);
    let mut reader = Decompress::new(false);
    let big = "{\"price\": 101.25, \"symbol\": \"ACME\"} ".repeat(100);
    for (text, first_byte) in [(big.as_str(), 0xC1), ("short", 0x81), (big.as_str(), 0xC1)] {
        // The client compresses every message, with context takeover.
        let mut frame = client_frame(true, 0x1, &compress(&mut client, text.as_bytes()));
        frame[0] |= 0x40;
        stream.write_all(&frame).unwrap();
        let (first, payload) = read_whole_frame(&mut stream).unwrap();
        assert_eq!(first, first_byte, "{}", text.len());
        let echoed = match first {
            0xC1 => inflate(&mut reader, &payload),
            _ => payload.clone(),
        };
        assert_eq!(echoed, text.as_bytes());
        if first == 0xC1 {
            assert!(payload.len() < text.len() / 5, "{}", payload.len());
            // No server context takeover: every message inflates on its own.
            reader = Decompress::new(false);
        }
    }
    // Binary, uncompressed by the client: the server still compresses its answer.
    stream
        .write_all(&client_frame(true, 0x2, &[9; 4000]))
        .unwrap();
    let (first, payload) = read_whole_frame(&mut stream).unwrap();
    assert_eq!(first, 0xC2);
    assert_eq!(inflate(&mut reader, &payload), vec![9; 4000]);
}

#[test]
fn with_server_context_takeover_later_messages_refer_back() {
    let deflate = DeflateConfig::default().server_no_context_takeover(false);
    let addr = spawn_server(Config::default().deflate(deflate), wsreactor::Echo);
    let (mut stream, answer) = upgraded(addr, "permessage-deflate");
    assert_eq!(answer.as_deref(), Some("permessage-deflate"));
    // Letters with little repetition in them, so only the second copy compresses well.
    let text: String = (0..3000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    let mut reader = Decompress::new(false);
    let mut sizes = Vec::new();
    for _ in 0..2 {
        stream
            .write_all(&client_frame(true, 0x1, text.as_bytes()))
            .unwrap();
        let (first, payload) = read_whole_frame(&mut stream).unwrap();
        assert_eq!(first, 0xC1);
        assert_eq!(inflate(&mut reader, &payload), text.as_bytes());
        sizes.push(payload.len());
    }
    assert!(sizes[1] < sizes[0] / 4, "{sizes:?}");
}

#[test]
fn a_compression_bomb_is_closed_with_1009() {
    let config = deflate_config().max_message_size(64 * 1024);
    let (addr, closed) = probe_server(config, |ctx: &mut Ctx<'_>, msg| {
        ctx.send(msg);
    });
    let (mut stream, _) = upgraded(addr, "permessage-deflate");
    // 256 MiB of zeros in about 256 KiB, sent in frames of 16 KiB. After the first MiB
    // each MiB is the same block (copies at distance 1), so one is compressed and repeated.
    let mut client = Compress::new(Compression::best(), false);
    let zeros = vec![0; 1 << 20];
    let mut bomb = compress(&mut client, &zeros);
    let again = compress(&mut client, &zeros);
    for _ in 1..256 {
        bomb.extend_from_slice(&again);
    }
    let chunks: Vec<&[u8]> = bomb.chunks(16 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let opcode = if i == 0 { 0x42 } else { 0x0 }; // RSV1 on the first frame
        if stream
            .write_all(&client_frame(last, opcode, chunk))
            .is_err()
        {
            break; // the server closed while the bomb was still going out
        }
    }
    let (opcode, payload) = read_frame(&mut stream).unwrap();
    assert_eq!((opcode, close_code(&payload)), (0x8, 1009));
    assert_eq!(next_close(&closed).code, CloseCode::Size);
}

/// Joins every connection to one room; a message `go` publishes 2,000 bytes of text to
/// it, then tells the sender how many messages the reactor compressed for that.
struct Room;

impl Handler for Room {
    fn on_open(&mut self, ctx: &mut Ctx<'_>, _req: &Request) {
        ctx.join("room").unwrap();
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, _msg: Message) {
        let before = ctx.deflated();
        let sent = ctx.publish("room", "news! ".repeat(333) + "..").unwrap();
        let compressed = ctx.deflated() - before;
        ctx.send(format!("{sent} {compressed}"));
    }
}

#[test]
fn a_broadcast_to_1000_compressed_subscribers_is_compressed_once() {
    let addr = spawn_server(deflate_config(), Room);
    let mut clients: Vec<(TcpStream, bool)> = (0..1000)
        .map(|i| match i % 100 {
            // A few do not offer the extension: they get the message as it is.
            0 => (upgraded(addr, "").0, false),
            _ => (upgraded(addr, "permessage-deflate").0, true),
        })
        .collect();
    // Every connection is open (its 101 was read), and so in the room: `on_open` runs
    // before the 101 is written.
    let (sender, _) = &mut clients[1];
    sender.write_all(&client_frame(true, 0x1, b"go")).unwrap();
    let want = "news! ".repeat(333) + "..";
    for (i, (stream, compressed)) in clients.iter_mut().enumerate() {
        let (first, payload) = read_whole_frame(stream).unwrap();
        let text = match first {
            0xC1 => inflate(&mut Decompress::new(false), &payload),
            _ => payload,
        };
        assert_eq!(first == 0xC1, *compressed, "client {i}");
        assert_eq!(text, want.as_bytes(), "client {i}");
    }
    let (first, report) = read_whole_frame(&mut clients[1].0).unwrap();
    assert_eq!(first, 0x81);
    assert_eq!(String::from_utf8(report).unwrap(), "1000 1");
    let mut rest = [0u8; 1];
    clients[0].0.set_nonblocking(true).unwrap();
    assert!(clients[0].0.read(&mut rest).is_err(), "nothing more");
}

#[cfg(feature = "socketio")]
#[test]
fn socket_io_compresses_only_with_its_own_option() {
    use wsreactor::socketio::{Options, SocketIo};
    let path = "/socket.io/?EIO=4&transport=websocket";
    // The server's other WebSockets compress; Socket.IO's does not by default.
    let off = spawn_built(deflate_config(), || SocketIo::new(Options::default()));
    assert_eq!(upgraded_at(off, path, "permessage-deflate").1, None);
    let options = Options::default().per_message_deflate(DeflateConfig::default());
    let on = spawn_built(Config::default(), move || SocketIo::new(options));
    let (mut stream, answer) = upgraded_at(on, path, "permessage-deflate");
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    // The Engine.IO open packet, under the threshold: not compressed.
    let (first, open) = read_whole_frame(&mut stream).unwrap();
    assert_eq!((first, open[0]), (0x81, b'0'));
}
