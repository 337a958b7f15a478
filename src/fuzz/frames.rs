//! Frames after the upgrade, differentially: the same bytes from the peer, read whole and
//! in arbitrary pieces, must give the handler the same messages, draw the same control
//! frames back (pongs, our Close) and end with the same `on_close` report. The decoder
//! judges bytes as they arrive (1002, 1007, 1009 before a frame is complete) and takes a
//! whole small message by a shorter path than one that spans reads, so how the bytes
//! arrive is what could change an outcome here; the `http_request` target found that kind
//! of fault in the request parser.

use super::connection::{Driver, UPGRADE};
use crate::config::Config;
use crate::error::Disconnect;
use crate::Message;

/// `data[0]` seeds where the bytes are split, the rest is what the peer sends after its
/// upgrade request.
pub fn run(data: &[u8]) {
    let [seed, bytes @ ..] = data else {
        return;
    };
    let whole = outcome(&[bytes.len()], bytes);
    let ends = super::split_points(*seed, bytes.len());
    let split = outcome(&ends, bytes);
    assert_eq!(whole, split, "split at {ends:?}");
}

/// What the handler heard and the peer got back.
#[derive(Debug, PartialEq)]
struct Outcome {
    messages: Vec<Message>,
    control: Vec<(u8, Vec<u8>)>,
    closed: Option<Disconnect>,
}

/// Opens a connection, hands it `bytes` in chunks ending at `ends` (each read and answered
/// before the next arrives), then the peer's EOF.
fn outcome(ends: &[usize], bytes: &[u8]) -> Outcome {
    // Small size limits, so the decoder's size checks are reached; a budget per pass and a
    // queue that never stop reading, so only the bytes decide.
    let config = Config::default()
        .max_frame_size(1024)
        .max_message_size(4096)
        .messages_per_pass(usize::MAX)
        .backpressure_soft_limit(usize::MAX / 2)
        .max_backpressure(usize::MAX / 2);
    let mut driver = Driver::with_config(config, false, false);
    driver.receive(UPGRADE.to_vec());
    let mut start = 0;
    for &end in ends {
        driver.receive(bytes[start..end].to_vec());
        driver.flush(usize::MAX);
        driver.check();
        start = end;
    }
    driver.end();
    Outcome {
        messages: std::mem::take(&mut driver.messages),
        control: driver.control_frames().to_vec(),
        closed: driver.closed.take(),
    }
}

/// The seeds of the corpus: the Autobahn groups' frames from the `connection` seeds, as
/// one byte stream each.
pub fn seeds() -> Vec<Vec<u8>> {
    let mask = |head: u8, payload: &[u8]| {
        super::connection::client_frame(head, Some([1, 2, 3, 4]), payload)
    };
    let streams: Vec<Vec<Vec<u8>>> = vec![
        vec![mask(0x81, b"hello"), mask(0x82, &[0xab; 200])],
        vec![mask(0x01, b"Hel"), mask(0x89, b"ping"), mask(0x80, b"lo")],
        vec![mask(0x81, &[0xce, 0xba, 0xe1, 0xbd]), mask(0x81, b"after")],
        vec![mask(0x01, &[0xce, 0xba, 0xe1]), mask(0x80, &[0xbd, 0xb9])],
        vec![mask(0x81, b"x"), mask(0xc1, b"rsv"), mask(0x81, b"y")],
        vec![mask(0x82, &[0; 2000])],
        vec![mask(0x88, &[0x03, 0xe8, b'o', b'k']), mask(0x81, b"late")],
        vec![mask(0x88, &[0x03, 0xed]), mask(0x89, b"")],
        vec![mask(0x09, b""), mask(0x83, b"")],
        vec![super::connection::client_frame(0x81, None, b"unmasked")],
    ];
    let mut seeds = Vec::new();
    for (i, frames) in streams.into_iter().enumerate() {
        let mut seed = vec![(i as u8).wrapping_mul(53)];
        seed.extend(frames.concat());
        seeds.push(seed);
    }
    seeds
}
