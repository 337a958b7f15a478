//! Errors from `Server::bind` name the address and keep the kind of their cause.

use std::io::ErrorKind;
use std::net::SocketAddr;

use wsreactor::{Config, Server};

#[test]
fn a_port_in_use_names_the_address() {
    let first = Server::bind("127.0.0.1:0").unwrap();
    let taken = first.local_addr().unwrap();
    let err = Server::bind(taken).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    let msg = err.to_string();
    assert!(msg.contains(&taken.to_string()), "{msg}");
    assert!(msg.starts_with("cannot bind "), "{msg}");
    // The cause is still there, in std's words.
    assert!(msg.to_lowercase().contains("in use"), "{msg}");
}

#[test]
fn an_invalid_port_names_the_address() {
    let err = Server::bind("127.0.0.1:99999").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1:99999"), "{msg}");
    assert!(msg.contains("invalid port"), "{msg}");
}

#[test]
fn an_address_without_a_port_names_the_address() {
    let err = Server::bind("localhost").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"localhost\""), "{err}");
}

#[test]
fn no_address_at_all_says_so() {
    let none: &[SocketAddr] = &[];
    let err = Server::bind(none).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("no address"), "{err}");
}

#[test]
fn a_config_error_is_not_reported_as_a_bind_error() {
    let bad = Config::default().max_message_size(0);
    let err = Server::bind_with("127.0.0.1:0", bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!err.to_string().contains("cannot bind"), "{err}");
}
