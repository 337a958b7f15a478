//! Subprotocol choice (RFC 6455 §4.2.2): the server picks one of the offered values or
//! none; a handler that picks anything else gets its client a 500, and an error is logged.

mod common;

use std::sync::{Mutex, Once};

use common::{raw_request, spawn_server, upgrade_request};
use wsreactor::{Accept, Config, Handler, Request, Response};

/// Accepts with the subprotocol named in the query (`/?chosen`), or none for `/`.
struct Chooser;

impl Handler for Chooser {
    fn on_upgrade(&mut self, req: &Request) -> Result<Accept, Response> {
        Ok(req
            .query()
            .map_or_else(Accept::default, |p| Accept::protocol(p.replace("%20", " "))))
    }
}

/// Error lines logged in this test binary.
static ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Error
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            ERRORS.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn record_errors() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&Recorder).unwrap();
        log::set_max_level(log::LevelFilter::Error);
    });
}

#[test]
fn only_an_offered_subprotocol_is_accepted() {
    record_errors();
    let addr = spawn_server(Config::default(), Chooser);
    let offer = |path: &str, offers: &[&str]| {
        let mut req = upgrade_request(addr, path);
        for offer in offers {
            req = req.replacen(
                "\r\n\r\n",
                &format!("\r\nSec-WebSocket-Protocol: {offer}\r\n\r\n"),
                1,
            );
        }
        raw_request(addr, req.as_bytes())
    };
    for (path, offers, chosen) in [
        ("/?chat", &["chat, superchat"][..], "chat"),
        ("/?superchat", &["chat,superchat"], "superchat"),
        // A repeated header is one list.
        ("/?v2", &["chat, superchat", " v2 "], "v2"),
    ] {
        let head = offer(path, offers);
        assert!(head.starts_with("HTTP/1.1 101 "), "{path}: {head}");
        let line = format!("\r\nSec-WebSocket-Protocol: {chosen}\r\n");
        assert!(head.contains(&line), "{path}: {head}");
    }
    let head = offer("/", &["chat"]);
    assert!(
        head.starts_with("HTTP/1.1 101 ") && !head.contains("Sec-WebSocket-Protocol"),
        "{head}"
    );

    for (path, offers) in [
        ("/?mqtt", &["chat, superchat"][..]),
        ("/?Chat", &["chat"]),
        // the whole offered list is not one of its values
        ("/?chat,%20superchat", &["chat, superchat"]),
        ("/?chat", &[]),
        ("/?", &["chat"]),
    ] {
        let before = ERRORS.lock().unwrap().len();
        let head = offer(path, offers);
        assert!(head.starts_with("HTTP/1.1 500 "), "{path}: {head}");
        assert!(!head.contains("Sec-WebSocket"), "{head}");
        let errors = ERRORS.lock().unwrap();
        assert!(
            errors[before..].iter().any(|e| e.contains("did not offer")),
            "{path}: an error is logged: {errors:?}"
        );
    }
}
