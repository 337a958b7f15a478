//! The Redis adapter against a real `redis-server` (the ignored tests: they need it on the
//! PATH; scripts/redis-cluster-test.sh installs it and runs them) and the failures that
//! need none: a malformed URL, Redis unreachable at the start. The cluster with Node
//! nodes is tests/cluster/, run by the same script.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wsreactor::socketio::{Options, RedisAdapter, RedisError, RedisOptions, SocketIo};

/// A port nobody listens on: bound, then released.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A redis-server of this test's own, killed when dropped.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    /// Starts one on a free port; returns once it accepts connections.
    fn start() -> Redis {
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-server on the PATH");
        let out = BufReader::new(child.stdout.take().unwrap());
        // Its log says so once it listens; a redis-server that exits ends the lines.
        let ready = (out.lines().map_while(Result::ok))
            .any(|line| line.contains("Ready to accept connections"));
        assert!(ready, "redis-server did not start");
        let url = format!("redis://127.0.0.1:{port}");
        Redis { child, url }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_malformed_url_is_refused() {
    let err = RedisAdapter::connect("http://nowhere", RedisOptions::default()).unwrap_err();
    assert!(matches!(err, RedisError::Url(_)), "{err:?}");
}

#[test]
fn redis_unreachable_at_the_start_is_an_error() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let err = RedisAdapter::connect(&url, RedisOptions::default()).unwrap_err();
    assert!(matches!(err, RedisError::Redis(_)), "{err:?}");
    assert!(err.to_string().starts_with("Redis: "), "{err}");
}

#[test]
#[ignore = "needs redis-server; scripts/redis-cluster-test.sh runs it"]
fn server_count_counts_the_subscribers_of_the_request_channel() {
    let redis = Redis::start();
    let adapter = RedisAdapter::connect(&redis.url, RedisOptions::default().key("k")).unwrap();
    assert_eq!(adapter.server_count("/").unwrap(), 0);
    // What a Node node of the cluster subscribes to for namespace `/chat`.
    let mut node = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut node = node.as_pubsub();
    node.subscribe("k-request#/chat#").unwrap();
    assert_eq!(adapter.server_count("/chat").unwrap(), 1);
    assert_eq!(adapter.server_count("/").unwrap(), 0);
}

#[test]
#[ignore = "needs redis-server; scripts/redis-cluster-test.sh runs it"]
fn broadcasts_made_while_redis_is_gone_are_dropped_and_counted() {
    let redis = Redis::start();
    let adapter = RedisAdapter::connect(&redis.url, RedisOptions::default()).unwrap();
    let mut io = SocketIo::new(Options::default());
    io.adapter(&adapter);
    let handle = io.handle();
    drop(redis);
    // Accepted here (local delivery does not depend on Redis), not published: the
    // publisher finds the connection gone. It runs on its own thread, so the count comes
    // when it has tried; the deadline only bounds a failure.
    handle.to("room").emit("ev", 1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while adapter.dropped() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(adapter.dropped(), 1);
}
