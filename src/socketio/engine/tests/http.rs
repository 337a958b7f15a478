//! The endpoint's HTTP options through the engine: CORS on every answer (held ones too),
//! `allow_request` on both transports, the `io` cookie.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::super::cors::Cors;
use super::super::http::{AllowRequest, Forbidden};
use super::*;

const APP: &str = "http://app.example";

/// A response as sent: its head's lines after the status line, and its body.
fn sent(response: &Response) -> (u16, Vec<String>, String) {
    let mut out = Vec::new();
    response.write_to(&mut out, crate::http::Framing::default());
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let lines = head.lines().skip(1).map(str::to_owned).collect();
    (response.status(), lines, body.to_owned())
}

/// Whether `response` has this header line (or one that goes on, as `Vary: Origin, ..`).
fn has(response: &Response, header: &str) -> bool {
    sent(response).1.iter().any(|l| l.starts_with(header))
}

fn from(origin: &str, method: &str, query: &str) -> Request {
    Request::from_parts(
        method,
        &format!("/socket.io/?{query}"),
        [("Origin", origin)],
    )
}

fn sid_of(open: &Response) -> String {
    let (_, _, body) = sent(open);
    let open: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

#[test]
fn cors_headers_go_on_every_answer_of_an_allowed_origin_errors_and_held_gets_included() {
    let mut h = Harness::with(|s| s.cors = Some(Cors::origin(APP).credentials(true)));
    let allowed = format!("Access-Control-Allow-Origin: {APP}");
    let credentials = "Access-Control-Allow-Credentials: true";
    let check = |what: &str, response: &Response, status: u16| {
        assert_eq!(response.status(), status, "{what}");
        for header in [allowed.as_str(), credentials, "Vary: Origin"] {
            assert!(
                has(response, header),
                "{what}: no {header}: {:?}",
                sent(response)
            );
        }
    };

    let open = h
        .request(1, &from(APP, "GET", "EIO=4&transport=polling"))
        .unwrap();
    check("handshake", &open, 200);
    let sid = sid_of(&open);
    let preflight = h.request(2, &from(APP, "OPTIONS", &q(&sid))).unwrap();
    check("preflight", &preflight, 204);

    // errors
    let unknown = h
        .request(2, &from(APP, "GET", "EIO=4&transport=polling&sid=nope"))
        .unwrap();
    check("400 unknown sid", &unknown, 400);
    let mut big = from(APP, "POST", &q(&sid));
    big.body = vec![b'4'; 1001];
    check("413", &h.request(2, &big).unwrap(), 413);
    let refused = h
        .eng
        .check_upgrade(&from(APP, "GET", "EIO=4&transport=websocket&sid=nope"))
        .unwrap_err();
    check("refused upgrade", &refused, 400);

    // a held GET is answered later with the headers its own request was given
    assert!(h.request(3, &from(APP, "GET", &q(&sid))).is_none());
    let mut post = from("http://other.example", "POST", &q(&sid));
    post.body = b"4hello".to_vec();
    let other = h.request(4, &post).unwrap();
    assert!(!has(&other, &allowed), "{:?}", sent(&other));
    assert_eq!(h.responses(), [(3, "200 4hello".to_owned())]);
    check("held GET", &h.wire.answers[0], 200);
    // ... and so is one the upgrade releases with a noop
    assert!(h.request(3, &from(APP, "GET", &q(&sid))).is_none());
    h.ws_open(5, &format!("EIO=4&transport=websocket&sid={sid}"));
    h.ws_text(5, "2probe");
    assert_eq!(h.responses(), [(3, "200 6".to_owned())]);
    check("noop", &h.wire.answers[1], 200);
}

#[test]
fn another_origin_gets_no_cors_header_but_is_served() {
    let mut h = Harness::with(|s| {
        s.cors = Some(Cors::origins([APP, "http://admin.example"]).credentials(true));
    });
    let evil = "http://evil.example";
    let open = h
        .request(1, &from(evil, "GET", "EIO=4&transport=polling"))
        .unwrap();
    let (status, headers, _) = sent(&open);
    assert_eq!(status, 200, "CORS is the browser's rule, not a refusal");
    assert!(headers.contains(&"Vary: Origin".to_owned()), "{headers:?}");
    assert!(
        !headers.iter().any(|l| l.starts_with("Access-Control-")),
        "{headers:?}"
    );
    let preflight = h.request(2, &from(evil, "OPTIONS", "EIO=4")).unwrap();
    let (status, headers, _) = sent(&preflight);
    assert_eq!(status, 204);
    assert!(
        !headers.iter().any(|l| l.starts_with("Access-Control-")),
        "{headers:?}"
    );
}

#[test]
fn without_the_cors_option_no_header_and_options_is_no_preflight() {
    let mut h = Harness::new();
    let open = h
        .request(1, &from(APP, "GET", "EIO=4&transport=polling"))
        .unwrap();
    let (_, headers, _) = sent(&open);
    assert!(
        !headers
            .iter()
            .any(|l| l.starts_with("Access-Control-") || l.starts_with("Vary")),
        "{headers:?}"
    );
    let options = h
        .request(2, &from(APP, "OPTIONS", "EIO=4&transport=polling"))
        .unwrap();
    assert_eq!(
        body_of(&options),
        r#"400 {"code":2,"message":"Bad handshake method"}"#
    );
}

/// A harness whose `allow_request` wants `token=ok` in the query, counting its calls.
fn guarded(message: Option<&'static str>) -> (Harness, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let h = Harness::with(move |s| {
        s.cors = Some(Cors::any());
        s.allow_request = Some(AllowRequest(Arc::new(move |req: &Request| {
            seen.fetch_add(1, Ordering::Relaxed);
            match (req.query().unwrap_or("").contains("token=ok"), message) {
                (true, _) => Ok(()),
                (false, None) => Err(Forbidden::default()),
                (false, Some(message)) => Err(Forbidden::message(message)),
            }
        })));
    });
    (h, calls)
}

#[test]
fn allow_request_refuses_a_polling_handshake_with_403_and_cors() {
    let (mut h, calls) = guarded(None);
    let refused = h
        .request(1, &from(APP, "GET", "EIO=4&transport=polling"))
        .unwrap();
    assert_eq!(body_of(&refused), r#"403 {"code":4,"message":"Forbidden"}"#);
    assert!(has(&refused, "Access-Control-Allow-Origin: *"));
    // asked before the version is looked at, as the reference does
    let old = h.http(1, "GET", "EIO=3&transport=polling", "").unwrap();
    assert_eq!(old, r#"403 {"code":4,"message":"Forbidden"}"#);
    assert!(h.app.opened.is_empty());
    assert_eq!(h.eng.len(), 0);

    let sid = sid_of(
        &h.request(1, &from(APP, "GET", "EIO=4&transport=polling&token=ok"))
            .unwrap(),
    );
    assert_eq!(h.app.opened.len(), 1);
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    // the session's own requests are not asked about
    assert_eq!(
        h.http(2, "POST", &q(&sid), "4hi").as_deref(),
        Some("200 ok")
    );
    assert_eq!(h.http(2, "GET", &q(&sid), "").as_deref(), Some("200 4hi"));
    h.ws_open(3, &format!("EIO=4&transport=websocket&sid={sid}"));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[test]
fn allow_request_refuses_a_websocket_handshake_with_400_and_its_message() {
    let (mut h, calls) = guarded(Some("no token"));
    let refused = h
        .eng
        .check_upgrade(&from(APP, "GET", "EIO=4&transport=websocket"))
        .unwrap_err();
    let (status, headers, body) = sent(&refused);
    assert_eq!((status, body.as_str()), (400, "no token"));
    assert!(headers.contains(&"Content-Type: text/html".to_owned()));
    assert!(headers.contains(&"Access-Control-Allow-Origin: *".to_owned()));
    // a polling refusal carries the message in its JSON
    let refused = h.http(1, "GET", "EIO=4&transport=polling", "").unwrap();
    assert_eq!(refused, r#"403 {"code":4,"message":"no token"}"#);

    h.ws_open(2, "EIO=4&transport=websocket&token=ok");
    assert_eq!(h.app.opened.len(), 1);
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    // other refusals of an upgrade take the same shape, with the reference's messages
    let refused = h
        .eng
        .check_upgrade(&from(APP, "GET", "EIO=4&transport=websocket&sid=nope"))
        .unwrap_err();
    assert_eq!(sent(&refused).2, "Session ID unknown");
    assert_eq!(calls.load(Ordering::Relaxed), 3, "a sid is not a handshake");
}

#[test]
fn the_io_cookie_goes_on_the_polling_handshake_only() {
    use super::super::cookie::SessionCookie;
    let mut h = Harness::with(|s| s.cookie = Some(SessionCookie::default()));
    let open = h
        .request(1, &from(APP, "GET", "EIO=4&transport=polling"))
        .unwrap();
    let sid = sid_of(&open);
    let cookies: Vec<String> = sent(&open)
        .1
        .into_iter()
        .filter(|l| l.starts_with("Set-Cookie:"))
        .collect();
    assert_eq!(
        cookies,
        [format!(
            "Set-Cookie: io={sid}; HttpOnly; SameSite=Lax; Path=/"
        )]
    );
    // the session's later answers, now or held, set none
    let post = {
        let mut post = from(APP, "POST", &q(&sid));
        post.body = b"4hi".to_vec();
        h.request(2, &post).unwrap()
    };
    let get = h.request(2, &from(APP, "GET", &q(&sid))).unwrap();
    assert_eq!(body_of(&get), "200 4hi");
    assert!(h.request(2, &from(APP, "GET", &q(&sid))).is_none());
    h.http(3, "POST", &q(&sid), "4again");
    for response in [&post, &get, &h.wire.answers[0]] {
        assert!(!has(response, "Set-Cookie"), "{:?}", sent(response));
    }
    // without the option, none at all
    let mut h = Harness::new();
    let open = h.request(1, &from(APP, "GET", "EIO=4&transport=polling"));
    assert!(!has(&open.unwrap(), "Set-Cookie"));
}
