//! JSON as JavaScript reads and writes it, on top of serde_json.
//!
//! A Socket.IO client's payload is what `JSON.stringify` wrote, and JavaScript strings are
//! UTF-16: a string cut in the middle of an emoji holds a *lone surrogate*, which
//! `JSON.stringify` writes as an escape (`"cut:\ud83c"`). JSON allows it; a Rust `String`
//! cannot hold it, and serde_json refuses it. So lone surrogates are mapped, reversibly:
//!
//! - reading, a lone surrogate U+D800 + n (0 ≤ n < 2048) becomes the character
//!   U+10F800 + n: the last 2048 code points of Plane 16, private use (and the two
//!   noncharacters U+10FFFE, U+10FFFF), which no encoding standard assigns;
//! - writing, every character U+10F800..=U+10FFFF goes out as the escape of the lone
//!   surrogate it stands for (`\ud83c`).
//!
//! A string a client sent therefore goes back to JavaScript as the same UTF-16 string,
//! lone surrogates included, whatever the app did with it in between (concatenated,
//! stored, relayed). The cost: a client sending a real character of U+10F800..=U+10FFFF
//! gets a lone surrogate back.
//!
//! The rest is serde_json's features (Cargo.toml): object keys keep their order, numbers
//! keep their text. Nesting is bounded here, at [`MAX_DEPTH`], by a scan before parsing:
//! serde_json, its `Value`'s drop and its printing recurse per level.

use std::io;

use serde::{Deserialize as _, Serialize};
use serde_json::ser::Formatter;
use serde_json::Value;

/// Arrays and objects nested deeper than this are refused (the packet is dropped; the
/// session stays). 256 levels parse, print and drop within a 2 MiB thread stack even in a
/// debug build (serde_json recurses, with frames of a few KiB there); the reference server
/// takes deeper ones, but JSON of this depth is past anything a chat or game sends.
pub(crate) const MAX_DEPTH: usize = 256;

/// Where lone surrogates go: U+D800 + n ↔ U+10F800 + n.
const MAPPED: u32 = 0x10_F800;
const SURROGATES: u32 = 0xD800;

/// Why a JSON text was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON.
    Invalid,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Parses one JSON text as JavaScript's `JSON.parse` would, lone surrogates mapped.
pub(crate) fn parse(text: &str) -> Result<Value, JsonError> {
    let scan = scan(text);
    if scan.depth > MAX_DEPTH {
        return Err(JsonError::TooDeep);
    }
    let mapped;
    let text = if scan.lone_surrogates {
        mapped = map_lone_surrogates(text);
        mapped.as_str()
    } else {
        text
    };
    let mut de = serde_json::Deserializer::from_str(text);
    // Depth was bounded above, by our limit rather than serde_json's 128.
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de).map_err(|_| JsonError::Invalid)?;
    de.end().map_err(|_| JsonError::Invalid)?;
    Ok(value)
}

/// Appends `value` as JSON (UTF-8: serde_json writes it, and our escapes are ASCII), the
/// mapped characters as lone surrogate escapes.
pub(crate) fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mut ser = serde_json::Serializer::with_formatter(out, Js);
    // Writing to a Vec cannot fail, and a `Value` (or a str) always serializes.
    let _ = value.serialize(&mut ser);
}

/// What one pass over a JSON text found.
#[derive(Debug, Default)]
struct Scan {
    depth: usize,
    lone_surrogates: bool,
}

/// Finds the nesting depth (brackets outside strings) and whether any `\u` escape is a
/// lone surrogate. No allocation, one pass.
fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    // Nesting past MAX_DEPTH takes more brackets than a text this short has, and a lone
    // surrogate takes an escape: most packets need no pass (the search is memchr's).
    if bytes.len() <= MAX_DEPTH && !bytes.contains(&b'\\') {
        return Scan::default();
    }
    let (mut depth, mut scan) = (0usize, Scan::default());
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                let (len, lone) = escape(bytes, i);
                scan.lone_surrogates |= lone.is_some();
                i += len;
                continue;
            }
            b'[' | b'{' if !in_string => {
                depth += 1;
                scan.depth = scan.depth.max(depth);
            }
            b']' | b'}' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    scan
}

/// The escape at `bytes[i]` (a backslash in a string): its length, and the code unit if it
/// is a lone surrogate. A surrogate pair is one 12-byte escape, which serde_json reads as
/// the character it is.
fn escape(bytes: &[u8], i: usize) -> (usize, Option<u32>) {
    match hex4(bytes, i) {
        Some(unit @ 0xD800..=0xDBFF) => match hex4(bytes, i + 6) {
            Some(0xDC00..=0xDFFF) => (12, None),
            _ => (6, Some(unit)),
        },
        Some(unit @ 0xDC00..=0xDFFF) => (6, Some(unit)),
        Some(_) => (6, None),
        // `\"`, `\\`, `\n`...; a bad escape is left for serde_json to refuse.
        None => (2, None),
    }
}

/// The code unit of the `\uXXXX` escape at `bytes[i..]`.
fn hex4(bytes: &[u8], i: usize) -> Option<u32> {
    if bytes.get(i..i + 2)? != b"\\u" {
        return None;
    }
    let digits = bytes.get(i + 2..i + 6)?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let digits = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// Rewrites each lone surrogate escape as the escaped surrogate pair of its mapped
/// character.
fn map_lone_surrogates(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut i, mut start, mut in_string) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                let (len, lone) = escape(bytes, i);
                if let Some(unit) = lone {
                    out.push_str(&text[start..i]);
                    let c = MAPPED + (unit - SURROGATES) - 0x1_0000;
                    let (high, low) = (0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
                    out.push_str(&format!("\\u{high:04x}\\u{low:04x}"));
                    start = i + len;
                }
                i += len;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&text[start..]);
    out
}

/// serde_json's compact format, but a mapped character is written as the lone surrogate
/// it stands for.
struct Js;

impl Formatter for Js {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Every mapped character is encoded F4 8F A0 80..F4 8F BF BF: most text has no
        // 0xF4 byte at all.
        if !fragment.as_bytes().contains(&0xF4) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let code = u32::from(c);
            if code >= MAPPED {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", code - MAPPED + SURROGATES)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        write(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn echo(text: &str) -> String {
        to_json(&parse(text).expect(text))
    }

    #[test]
    fn lone_surrogates_round_trip() {
        for text in [
            r#"["cut:\ud83c"]"#,
            r#"["\udc00"]"#,
            r#"["\ud83c\ud83c"]"#,
            r#"["a\udfffb\ud800"]"#,
            r#"{"\ud83cx":"\udc00"}"#,
        ] {
            assert_eq!(echo(text), text);
        }
        // a real pair is a real character, and goes out as UTF-8 like any other
        assert_eq!(echo(r#"["\ud83c\udf89"]"#), "[\"\u{1F389}\"]");
        // an escaped backslash before `u` is not an escape
        assert_eq!(echo(r#"["\\ud83c"]"#), r#"["\\ud83c"]"#);
        // what the app sees
        let v = parse(r#"["cut:\ud83c"]"#).unwrap();
        assert_eq!(v[0].as_str(), Some("cut:\u{10F83C}"));
        let out = to_json(&format!("Reply to: {}", v[0].as_str().unwrap()));
        assert_eq!(out, r#""Reply to: cut:\ud83c""#);
    }

    #[test]
    fn numbers_and_key_order_are_kept() {
        let text = r#"[98765432109876540000,1e+21,5e-324,1.7976931348623157e+308,0.1,{"b":1,"a":[2,{"z":0,"y":1}]}]"#;
        assert_eq!(echo(text), text);
        // past f64: JSON.parse reads Infinity; kept, in serde_json's spelling
        assert_eq!(echo("[1e400,-1E400]"), "[1e+400,-1e+400]");
        assert_eq!(parse("12").unwrap().as_u64(), Some(12));
        assert_eq!(json!({"b": 1, "a": 2}).to_string(), r#"{"b":1,"a":2}"#);
    }

    #[test]
    fn depth_is_bounded_by_a_scan() {
        let nest = |n| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let deep = nest(MAX_DEPTH);
        assert_eq!(echo(&deep), deep);
        assert_eq!(parse(&nest(MAX_DEPTH + 1)), Err(JsonError::TooDeep));
        assert_eq!(parse(&nest(100_000)), Err(JsonError::TooDeep));
        // brackets inside strings do not count
        let text = format!(r#"["{}"]"#, "[".repeat(1000));
        assert_eq!(echo(&text), text);
    }

    #[test]
    fn invalid_json_is_refused() {
        for text in [
            "",
            "[",
            r#"["\ud83"]"#,
            r#"["x"] ["#,
            "[1,]",
            "'a'",
            r#"["\q"]"#,
        ] {
            assert_eq!(parse(text), Err(JsonError::Invalid), "{text:?}");
        }
    }
}
