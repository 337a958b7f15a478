//! The HTTP request head parser, differentially: the same bytes fed whole and split at
//! arbitrary points must give the same verdict. The parser judges lines as they arrive
//! (to answer garbage at once), so a split that changed what it concludes would be a bug;
//! the one allowed difference is timing: pieces may not have shown an invalid line yet.

use crate::conn::request::{Parsed, RequestHead};

/// `data[0]` seeds where the bytes are split, `data[1]` picks the head size limit (`0`:
/// the default 8 KiB; otherwise 16 bytes per unit), the rest is what the peer sends.
pub fn run(data: &[u8]) {
    let [seed, limit, bytes @ ..] = data else {
        return;
    };
    let max_bytes = match limit {
        0 => 8 * 1024,
        n => usize::from(*n) * 16,
    };
    let whole = verdict(bytes, &[bytes.len()], max_bytes);
    let chunks = super::split_points(*seed, bytes.len());
    let split = verdict(bytes, &chunks, max_bytes);
    let (whole, split) = (comparable(whole), comparable(split));
    // An unfinished line is judged again only once it has doubled (linear work however
    // slowly it comes), so pieces may stop short of the 400 the whole input gets at once;
    // the next bytes or the handshake timeout end it. Nothing else may differ.
    let judged_later =
        split == Parsed::Partial && matches!(&whole, Parsed::Reject(r, _) if r.status() == 400);
    if !judged_later {
        assert_eq!(whole, split, "split at {chunks:?}");
    }
}

/// The verdict as the peer sees it: a rejection's log note (which check caught it) may
/// depend on how the bytes arrived, its response may not.
fn comparable(parsed: Parsed) -> Parsed {
    match parsed {
        Parsed::Reject(response, _) => Parsed::Reject(response, ""),
        other => other,
    }
}

/// Feeds `bytes` in chunks ending at `ends` until a verdict; a head complete before the
/// last chunk gets the chunks after it appended to its tail, as a later read would bring.
fn verdict(bytes: &[u8], ends: &[usize], max_bytes: usize) -> Parsed {
    let mut head = RequestHead::default();
    let mut start = 0;
    for &end in ends {
        let parsed = head.push(&bytes[start..end], max_bytes);
        start = end;
        match parsed {
            Parsed::Partial => continue,
            Parsed::Upgrade {
                request,
                key,
                mut tail,
            } => {
                tail.extend_from_slice(&bytes[start..]);
                return Parsed::Upgrade { request, key, tail };
            }
            Parsed::Http {
                request,
                body_len,
                mut tail,
                keep_alive,
            } => {
                tail.extend_from_slice(&bytes[start..]);
                return Parsed::Http {
                    request,
                    body_len,
                    tail,
                    keep_alive,
                };
            }
            reject @ Parsed::Reject(..) => return reject,
        }
    }
    Parsed::Partial
}

/// The seeds of the corpus: the requests of the parser's and the server's tests, each with
/// a split seed and the default size limit.
pub fn seeds() -> Vec<Vec<u8>> {
    let requests: [&[u8]; 12] = [
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Protocol: chat, superchat\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\
          Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
        b"\r\n\r\nGET /index.html?a=1&b=%20 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
        b"POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HEAD / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET / HTTP/1.1\r\nX: 1\r\nX: 2\r\nX: 3\r\nX: 4\r\nX: 5\r\nX: 6\r\nX: 7\r\n\r\n",
    ];
    let mut seeds = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let mut seed = vec![(i as u8).wrapping_mul(37), 0];
        seed.extend_from_slice(request);
        seeds.push(seed);
    }
    // One with a small size limit (4 × 16 bytes), to reach 431.
    let mut small = vec![5, 4];
    small.extend_from_slice(requests[0]);
    seeds.push(small);
    seeds
}
