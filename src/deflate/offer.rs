//! Answering the client's permessage-deflate offers (RFC 7692 §5, §7.1).
//!
//! `Sec-WebSocket-Extensions` is a list of offers in the client's order of preference,
//! each an extension name followed by `; name[=value]` parameters (RFC 6455 §9.1). The
//! first permessage-deflate offer we can honour is accepted; one we cannot is declined and
//! the next is tried; with none left the 101 names no extension, and the connection goes
//! on uncompressed: an offer never fails the handshake.

use super::{DeflateConfig, Params};

/// The parameters and the `Sec-WebSocket-Extensions` value to answer with, for the first
/// acceptable permessage-deflate offer in these header values; `None` to decline them all.
pub(crate) fn negotiate<'a>(
    values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(Params, String)> {
    values
        .into_iter()
        .flat_map(|value| split(value, b',').unwrap_or_default())
        .filter_map(|offer| {
            let mut parts = split(offer, b';')?.into_iter();
            match parts.next()? {
                "permessage-deflate" => accept(parts, config),
                _ => None,
            }
        })
        .next()
}

/// The answer to one permessage-deflate offer with these parameters, or `None` to decline
/// it. "A server MUST decline an extension negotiation offer for this extension if any of
/// the following conditions are met: The negotiation offer contains an extension parameter
/// not defined for use in an offer. The negotiation offer contains an extension parameter
/// with an invalid value. The negotiation offer contains multiple extension parameters
/// with the same name. The server doesn't support the offered configuration." (§7)
fn accept<'a>(
    params: impl Iterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(Params, String)> {
    let mut seen = [false; 4];
    let mut server_no_context_takeover = config.server_no_context_takeover;
    let mut offered_window = None;
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim_end(), Some(unquote(value.trim_start())?)),
            None => (param, None),
        };
        let index = match name {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return None,
        };
        if std::mem::replace(&mut seen[index], true) {
            return None;
        }
        match (index, value) {
            // "If a received extension negotiation offer includes the
            // server_no_context_takeover extension parameter, the server MUST include it in
            // the response" (§7.1.1.1 with §7.1.1); neither takeover parameter has a value.
            (0, None) => server_no_context_takeover = true,
            (1, None) => {}
            (2, Some(value)) => offered_window = Some(window_bits(value)?),
            // The client's window: ours to read with 15 bits whatever it is (the answer
            // need not name it, §7.1.2.2), but its value must still be valid.
            (3, None) => {}
            (3, Some(value)) => _ = window_bits(value)?,
            _ => return None,
        }
    }
    // "A server accepts an extension negotiation offer with this parameter by including the
    // server_max_window_bits extension parameter in the extension negotiation response ...
    // with the same or smaller value as the offer" (§7.1.2.1). zlib writes raw DEFLATE with
    // 9 bits or more: an offer of 8 is a configuration we do not support.
    let server_window = match offered_window {
        Some(bits) => bits.min(config.server_max_window_bits),
        None => config.server_max_window_bits,
    };
    if server_window < 9 {
        return None;
    }
    let params = Params {
        server_window,
        server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        threshold: config.threshold,
        level: config.level,
    };
    let mut answer = String::from("permessage-deflate");
    if params.server_no_context_takeover {
        answer.push_str("; server_no_context_takeover");
    }
    // "A server MAY include the client_no_context_takeover extension parameter in the
    // corresponding extension negotiation response to the offer" (§7.1.1.2), offered or not.
    if params.client_no_context_takeover {
        answer.push_str("; client_no_context_takeover");
    }
    if offered_window.is_some() || server_window < 15 {
        answer.push_str(&format!("; server_max_window_bits={server_window}"));
    }
    Some((params, answer))
}

/// A window size: "a decimal integer value without leading zeroes between 8 to 15,
/// inclusive" (§7.1.2.1, §7.1.2.2).
fn window_bits(value: &str) -> Option<u8> {
    match value.as_bytes() {
        [b'8'..=b'9'] | [b'1', b'0'..=b'5'] => value.parse().ok(),
        _ => None,
    }
}

/// A parameter value as a token or a quoted string (RFC 6455 §9.1); the only values this
/// extension defines are digits, so a quoted one with an escape in it is declined.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(quoted) => quoted
            .strip_suffix('"')
            .filter(|v| !v.contains(['\\', '"'])),
        None => Some(value),
    }
}

/// `list` cut at each `sep` outside quoted strings, the pieces trimmed, empty ones left
/// out (`1#element` allows them, RFC 9110 §5.6.1); `None` if a quoted string is not closed.
fn split(list: &str, sep: u8) -> Option<Vec<&str>> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in list.as_bytes().iter().enumerate() {
        match (quoted, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, _, b'"') => quoted = !quoted,
            (false, _, b) if b == sep => {
                pieces.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    pieces.push(list[start..].trim());
    pieces.retain(|p| !p.is_empty());
    Some(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer to these header values with the default settings (server without
    /// context takeover, 15 bits), or `None` for no extension.
    fn answer(values: &[&str]) -> Option<String> {
        answer_with(values, DeflateConfig::default())
    }

    fn answer_with(values: &[&str], config: DeflateConfig) -> Option<String> {
        negotiate(values.iter().copied(), &config).map(|(_, answer)| answer)
    }

    const PLAIN: &str = "permessage-deflate; server_no_context_takeover";

    #[test]
    fn accepted_offers_are_answered_with_what_the_server_will_do() {
        let cases: &[(&str, &str)] = &[
            ("permessage-deflate", PLAIN),
            // What browsers send.
            ("permessage-deflate; client_max_window_bits", PLAIN),
            ("permessage-deflate;client_no_context_takeover", PLAIN),
            ("permessage-deflate; server_no_context_takeover", PLAIN),
            (
                "permessage-deflate; server_max_window_bits=10",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
            ),
            (
                "permessage-deflate; server_max_window_bits=15",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
            ),
            (
                "permessage-deflate; server_max_window_bits = \"9\"",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
            ),
            ("permessage-deflate; client_max_window_bits=8", PLAIN),
            // Other extensions are passed over; the first acceptable offer wins.
            ("x-webkit-deflate-frame, permessage-deflate", PLAIN),
            ("foo; bar=\"a, b; c\", permessage-deflate", PLAIN),
            (
                "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=12, permessage-deflate",
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
            ),
        ];
        for (offer, want) in cases {
            assert_eq!(answer(&[offer]).as_deref(), Some(*want), "{offer}");
        }
        // Repeated headers form one list.
        assert_eq!(
            answer(&["foo", "permessage-deflate; x=1", "permessage-deflate"]).as_deref(),
            Some(PLAIN)
        );
    }

    #[test]
    fn offers_section_7_1_says_to_decline_are_declined() {
        let declined = [
            "",
            "foo",
            "permessage-deflat",
            "Permessage-Deflate",
            // unknown parameter
            "permessage-deflate; foo",
            "permessage-deflate; mux=1",
            // repeated parameters
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            // values where none is allowed, none where one is needed
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=",
            "permessage-deflate; server_max_window_bits",
            // invalid window sizes
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; server_max_window_bits=",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; client_max_window_bits=\"1\\5\"",
            "permessage-deflate; client_max_window_bits=\"15",
            // valid, but zlib writes no raw stream with an 8-bit window
            "permessage-deflate; server_max_window_bits=8",
        ];
        for offer in declined {
            assert_eq!(answer(&[offer]), None, "{offer}");
        }
    }

    #[test]
    fn the_settings_shape_the_answer() {
        let config = DeflateConfig::default()
            .server_no_context_takeover(false)
            .client_no_context_takeover(true)
            .server_max_window_bits(11);
        let (params, answer) = negotiate(["permessage-deflate"], &config).unwrap();
        assert_eq!(
            answer,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=11"
        );
        assert_eq!(
            params,
            Params {
                server_window: 11,
                server_no_context_takeover: false,
                client_no_context_takeover: true,
                threshold: 1024,
                level: 6,
            }
        );
        // The client asks for a smaller window and no server context: it gets both.
        let offer = "permessage-deflate; server_no_context_takeover; server_max_window_bits=9";
        let (params, _) = negotiate([offer], &config).unwrap();
        assert!(params.server_no_context_takeover);
        assert_eq!(params.server_window, 9);
        // A larger window than ours is answered with ours.
        let offer = "permessage-deflate; server_max_window_bits=14";
        assert_eq!(
            answer_with(&[offer], config).as_deref(),
            Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=11")
        );
    }
}
