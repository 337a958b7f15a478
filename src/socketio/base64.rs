//! Standard base64 with padding (RFC 4648 §4), for binary packets on long-polling.
//!
//! Engine.IO v4 sends binary packets in a polling payload as `b` + base64; a dozen lines
//! here spare the crate a dependency.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the base64 encoding of `data` to `out`.
pub(crate) fn encode(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len().div_ceil(3) * 4);
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend([0, 1, 2, 3].map(|i| ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend([
                ALPHABET[(n >> 18) as usize],
                ALPHABET[(n >> 12) as usize & 63],
            ]);
            out.extend_from_slice(b"==");
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend([0, 1, 2].map(|i| ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            out.push(b'=');
        }
        _ => {}
    }
}

fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes padded (or unpadded) standard base64; `None` for any other input.
pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let text = match text {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] if text.len() % 4 == 0 => rest,
        _ => text,
    };
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(data: &[u8]) -> String {
        let mut out = Vec::new();
        encode(data, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc_4648_vectors_round_trip() {
        // RFC 4648 §10
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(enc(plain.as_bytes()), coded);
            assert_eq!(decode(coded.as_bytes()).unwrap(), plain.as_bytes());
        }
        assert_eq!(enc(&[1, 2, 3, 4]), "AQIDBA==");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(enc(&all).as_bytes()).unwrap(), all);
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(decode(b"Zm9v!"), None);
        assert_eq!(decode(b"Z"), None);
        assert_eq!(decode(b"Zm=v"), None);
        assert_eq!(decode(b"Zm9vY"), None);
        assert_eq!(decode(b"Zm9vYg").unwrap(), b"foob", "padding is optional");
    }
}
