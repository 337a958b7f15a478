//! The Redis adapter's failures that need no Redis: a malformed URL, and Redis unreachable
//! at the start (a clear error, at once). The cluster itself is tested against a real
//! Redis and Node nodes by scripts/redis-cluster-test.sh.

use std::net::TcpListener;

use wsreactor::socketio::{RedisAdapter, RedisError, RedisOptions};

#[test]
fn a_malformed_url_is_refused() {
    let err = RedisAdapter::connect("http://nowhere", RedisOptions::default()).unwrap_err();
    assert!(matches!(err, RedisError::Url(_)), "{err:?}");
}

#[test]
fn redis_unreachable_at_the_start_is_an_error() {
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let err = RedisAdapter::connect(&url, RedisOptions::default()).unwrap_err();
    assert!(matches!(err, RedisError::Redis(_)), "{err:?}");
    assert!(err.to_string().starts_with("Redis: "), "{err}");
}
