//! The Redis adapter and plain rooms across nodes against a real `redis-server` (the
//! ignored tests: they need it on the PATH; scripts/redis-cluster-test.sh installs it and
//! runs them) and the failures that need none: a malformed URL, Redis unreachable at the
//! start. The cluster with Node nodes is tests/cluster/, run by the same script.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::sio::{spawn, ws_session};
use common::{client, manual_clock, read_data, spawn_built, Client};
use serde_json::{json, Value};
use wsreactor::cluster::{Cluster, ClusterOptions};
use wsreactor::socketio::{
    Options, RedisAdapter, RedisError, RedisOptions, RequestError, ServerSideEmitError, SocketIo,
};
use wsreactor::{Config, Ctx, Handle, Handler, Message, Server};

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
        Redis::start_on(free_port())
    }

    /// Starts one on `port` (again, after a restart); returns once it accepts connections.
    fn start_on(port: u16) -> Redis {
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

impl Redis {
    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A node of a plain cluster on this Redis.
    fn cluster(&self) -> Cluster {
        Cluster::connect(&self.url, ClusterOptions::default()).unwrap()
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
    // Itself, on the main namespace, as soon as it is connected.
    assert_eq!(adapter.server_count("/").unwrap(), 1);
    assert_eq!(adapter.server_count("/chat").unwrap(), 0);
    // What a Node node of the cluster subscribes to for namespace `/chat`.
    let mut node = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut node = node.as_pubsub();
    node.subscribe("k-request#/chat#").unwrap();
    assert_eq!(adapter.server_count("/chat").unwrap(), 1);
    assert_eq!(adapter.server_count("/").unwrap(), 1);
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

/// Waits until `adapter` counts `n` nodes on namespace `/` (its subscriptions are taken
/// by its subscriber thread); the deadline only bounds a failure.
fn wait_for_nodes(adapter: &RedisAdapter, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while adapter.server_count("/").unwrap() != n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(adapter.server_count("/").unwrap(), n);
}

/// What a Node node does: publishes requests, reads the answers on the response channel.
struct NodeNode {
    publisher: redis::Connection,
    answers: redis::Connection,
}

impl NodeNode {
    /// Reads the answers to its requests.
    fn new(url: &str) -> NodeNode {
        NodeNode::listening(url, "k-response#/#")
    }

    /// Reads what comes on `channel` (`k-request#/#`: it is one more node of the cluster,
    /// which gets the requests of the others).
    fn listening(url: &str, channel: &str) -> NodeNode {
        let client = redis::Client::open(url).unwrap();
        let mut answers = client.get_connection().unwrap();
        // By hand: redis-rs's PubSub unsubscribes when dropped.
        redis::cmd("SUBSCRIBE")
            .arg(channel)
            .exec(&mut answers)
            .unwrap();
        answers
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let publisher = client.get_connection().unwrap();
        NodeNode { publisher, answers }
    }

    fn request(&mut self, body: &[u8]) {
        self.publish("k-request#/#", body);
    }

    fn publish(&mut self, channel: &str, body: &[u8]) {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(body)
            .exec(&mut self.publisher)
            .unwrap();
    }

    /// The next answer's bytes.
    fn answer(&mut self) -> Vec<u8> {
        loop {
            let reply = self.answers.recv_response().unwrap();
            let Ok(parts) = redis::from_redis_value::<Vec<redis::Value>>(reply) else {
                continue;
            };
            if let [redis::Value::BulkString(kind), _, redis::Value::BulkString(payload)] =
                parts.as_slice()
            {
                if kind == b"message" {
                    return payload.clone();
                }
            }
        }
    }

    fn json_answer(&mut self) -> Value {
        serde_json::from_slice(&self.answer()).unwrap()
    }
}

#[test]
#[ignore = "needs redis-server; scripts/redis-cluster-test.sh runs it"]
fn a_node_node_gets_an_answer_to_every_request() {
    let redis = Redis::start();
    let adapter = RedisAdapter::connect(&redis.url, RedisOptions::default().key("k")).unwrap();
    let shared = adapter.clone();
    let addr = spawn(move || {
        let mut io = SocketIo::new(Options::default());
        io.adapter(&shared);
        io.of("/")
            .on_connection(|socket| {
                socket.join("all").ok();
                socket.data_mut().insert(json!({"name": "ada"}));
            })
            .on_server_side("ping", |args, ack| {
                if let Some(ack) = ack {
                    ack.send(json!({"pong": args.args()}));
                }
            });
        io
    });
    wait_for_nodes(&adapter, 1);
    let mut ws = ws_session(addr);
    let mut node = NodeNode::new(&redis.url);

    node.request(br#"{"uid":"n","requestId":"f","type":5,"opts":{"rooms":["all"],"except":[]}}"#);
    let fetched = node.json_answer();
    assert_eq!(fetched["requestId"], "f");
    let socket = &fetched["sockets"][0];
    let sid = socket["id"].as_str().unwrap().to_owned();
    assert_eq!(socket["rooms"], json!([sid, "all"]));
    assert_eq!(socket["data"], json!({"name": "ada"}));
    assert!(socket["handshake"]["url"]
        .as_str()
        .unwrap()
        .starts_with("/socket.io/"));

    node.request(br#"{"uid":"n","requestId":"s","type":0,"rooms":["all"]}"#);
    assert_eq!(
        node.json_answer(),
        json!({"requestId": "s", "sockets": [sid]})
    );

    // A join for a selection has no answer; the rooms show it.
    let join =
        json!({"uid": "n", "type": 2, "opts": {"rooms": [sid], "except": []}, "rooms": ["new"]});
    node.request(join.to_string().as_bytes());
    node.request(br#"{"uid":"n","requestId":"r","type":1}"#);
    let mut rooms = vec!["all".to_owned(), "new".to_owned(), sid.clone()];
    rooms.sort();
    assert_eq!(
        node.json_answer(),
        json!({"requestId": "r", "rooms": rooms})
    );

    node.request(br#"{"uid":"n","requestId":"p","type":6,"data":["ping",1,"a"]}"#);
    assert_eq!(
        node.json_answer(),
        json!({"type": 6, "requestId": "p", "data": {"pong": [1, "a"]}})
    );
    // Without requestId: run, not answered (the next answer is the next request's).

    // A broadcast with acknowledgements (msgpack, as the Node adapter writes it): the count
    // of sockets here, then each socket's answer.
    let packet = rmpv::Value::Map(vec![
        ("type".into(), 2.into()),
        (
            "data".into(),
            rmpv::Value::Array(vec!["q".into(), 7.into()]),
        ),
        ("nsp".into(), "/".into()),
    ]);
    let flags = rmpv::Value::Map(vec![("timeout".into(), 5000.into())]);
    let opts = rmpv::Value::Map(vec![
        ("rooms".into(), rmpv::Value::Array(vec!["all".into()])),
        ("except".into(), rmpv::Value::Array(vec![])),
        ("flags".into(), flags),
    ]);
    let request = rmpv::Value::Map(vec![
        ("uid".into(), "n".into()),
        ("requestId".into(), "b".into()),
        ("type".into(), 7.into()),
        ("packet".into(), packet),
        ("opts".into(), opts),
    ]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &request).unwrap();
    node.request(&bytes);
    let event = ws.read().unwrap().into_text().unwrap();
    let id = event
        .strip_prefix("42")
        .and_then(|rest| rest.strip_suffix(r#"["q",7]"#))
        .unwrap_or_else(|| panic!("{event}"));
    ws.send(Message::text(format!("43{id}[\"yes\"]"))).unwrap();
    assert_eq!(
        node.json_answer(),
        json!({"type": 8, "requestId": "b", "clientCount": 1})
    );
    let ack = rmpv::decode::read_value(&mut node.answer().as_slice()).unwrap();
    let field = |name: &str| {
        let rmpv::Value::Map(entries) = &ack else {
            panic!("{ack}")
        };
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("type"), Some(9.into()));
    assert_eq!(field("requestId"), Some("b".into()));
    assert_eq!(field("packet"), Some("yes".into()));

    // By socket id (older callers): answered by the node that has it only, so the next
    // answer is the second request's.
    node.request(br#"{"uid":"n","requestId":"gone","type":3,"sid":"nobody","room":"new"}"#);
    let leave = json!({"uid": "n", "requestId": "l", "type": 3, "sid": sid, "room": "new"});
    node.request(leave.to_string().as_bytes());
    assert_eq!(node.json_answer(), json!({"requestId": "l"}));
    node.request(br#"{"uid":"n","requestId":"r2","type":1}"#);
    let mut rooms = vec!["all".to_owned(), sid.clone()];
    rooms.sort();
    assert_eq!(
        node.json_answer(),
        json!({"requestId": "r2", "rooms": rooms})
    );

    // A disconnection for a selection: the socket is gone.
    let bye =
        json!({"uid": "n", "type": 4, "opts": {"rooms": ["all"], "except": []}, "close": false});
    node.request(bye.to_string().as_bytes());
    assert_eq!(ws.read().unwrap().into_text().unwrap(), "41");
}

/// Waits (up to 10 s, a bound on failure only: the threads run on their own) until
/// `cluster` has counted `n` publishes it could not send.
fn wait_dropped(cluster: &Cluster, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.dropped() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(cluster.dropped(), n);
}

/// A node of a plain WebSocket cluster: a server on `reactors` reactors whose members ask
/// `join` (answered `joined`, in the room `r`), and publish to `r` what they send: `pub
/// TEXT` as text, `others TEXT` to everyone but themselves, binary as it is.
fn node(cluster: &Cluster, reactors: usize) -> (SocketAddr, Handle) {
    let config = Config::default()
        .reactors(reactors)
        .cluster(cluster.clone());
    let server = Server::bind_with("127.0.0.1:0", config).unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    std::thread::spawn(move || server.run_with(|_reactor| Room));
    (addr, handle)
}

/// The handler of [`node`].
struct Room;

impl Handler for Room {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, msg: Message) {
        match &msg {
            Message::Text(t) if t.as_str() == "join" => {
                ctx.join("r").unwrap();
                ctx.send("joined");
            }
            Message::Text(t) if t.starts_with("pub ") => {
                ctx.publish("r", &t[4..]).unwrap();
            }
            Message::Text(t) if t.starts_with("others ") => {
                ctx.publish_to_others("r", &t[7..]).unwrap();
            }
            _ => drop(ctx.publish("r", msg).unwrap()),
        }
    }
}

/// A client of `addr` in the room `r`.
fn member(addr: SocketAddr) -> Client {
    let mut ws = client(addr);
    ws.send(Message::text("join")).unwrap();
    assert_eq!(read_data(&mut ws), Message::text("joined"));
    ws
}

/// Each of `members` reads `msg` next.
fn each_gets(members: &mut [&mut Client], msg: &Message) {
    for (i, ws) in members.iter_mut().enumerate() {
        assert_eq!(&read_data(ws), msg, "member {i}");
    }
}

#[test]
fn a_cluster_unreachable_at_the_start_is_an_error() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let err = Cluster::connect(&url, ClusterOptions::default()).unwrap_err();
    assert!(matches!(err, RedisError::Redis(_)), "{err:?}");
    let err = Cluster::connect("http://nowhere", ClusterOptions::default()).unwrap_err();
    assert!(matches!(err, RedisError::Url(_)), "{err:?}");
}

#[test]
#[ignore = "needs redis-server; scripts/redis-cluster-test.sh runs it"]
fn a_room_across_nodes_gets_each_publish_once_on_every_node() {
    let redis = Redis::start();
    let (one, two) = (redis.cluster(), redis.cluster());
    assert_ne!(one.uid(), two.uid());
    // The second node on two reactors: its members may be on either.
    let ((a, handle_a), (b, handle_b)) = (node(&one, 1), node(&two, 2));
    let (mut a1, mut a2) = (member(a), member(a));
    let (mut b1, mut b2, mut b3) = (member(b), member(b), member(b));
    let mut outsider = client(b); // on a node with members, not in the room

    a1.send(Message::text("pub from a")).unwrap();
    let text = Message::text("from a");
    each_gets(&mut [&mut a1, &mut a2, &mut b1, &mut b2, &mut b3], &text);
    b1.send(Message::binary(vec![0, 1, 255])).unwrap();
    let binary = Message::binary(vec![0, 1, 255]);
    each_gets(&mut [&mut a1, &mut a2, &mut b1, &mut b2, &mut b3], &binary);
    handle_a.publish("r", "from a's handle").unwrap();
    let handled = Message::text("from a's handle");
    each_gets(&mut [&mut a1, &mut a2, &mut b1, &mut b2, &mut b3], &handled);
    b2.send(Message::text("others not b2")).unwrap();
    let others = Message::text("not b2");
    each_gets(&mut [&mut a1, &mut a2, &mut b1, &mut b3], &others);
    // Nothing came twice, nor back to its node through Redis: each member's next
    // message is the last publish, from each side.
    for (handle, last) in [(&handle_b, "last from b"), (&handle_a, "last from a")] {
        handle.publish("r", last).unwrap();
        let last = Message::text(last);
        each_gets(&mut [&mut a1, &mut a2, &mut b1, &mut b2, &mut b3], &last);
    }
    outsider.send(Message::text("pub to r")).unwrap();
    each_gets(&mut [&mut a1, &mut b1], &Message::text("to r"));
    assert_eq!((one.dropped(), two.dropped()), (0, 0));
}

#[test]
#[ignore = "needs redis-server; scripts/redis-cluster-test.sh runs it"]
fn with_redis_gone_publishes_stay_local_and_are_counted_then_cross_again() {
    let redis = Redis::start();
    let port = redis.port();
    let (one, two) = (redis.cluster(), redis.cluster());
    let ((a, handle_a), (b, _)) = (node(&one, 1), node(&two, 1));
    let (mut a1, mut b1) = (member(a), member(b));

    drop(redis);
    // Delivered here (local delivery does not depend on Redis), not published: the
    // publisher finds the connection gone, drops it and counts it.
    handle_a.publish("r", "while down").unwrap();
    assert_eq!(read_data(&mut a1), Message::text("while down"));
    wait_dropped(&one, 1);

    let _redis = Redis::start_on(port);
    // Both nodes reconnect with backoff on their own threads: publish until one crosses
    // (the deadline bounds a failure only), then a last one, which arrives after them.
    let deadline = Instant::now() + Duration::from_secs(20);
    b1.get_mut()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let crossed = (0..).find_map(|i| {
        assert!(
            Instant::now() < deadline,
            "no publish crossed after Redis came back"
        );
        handle_a.publish("r", format!("probe {i}")).unwrap();
        match b1.read() {
            Ok(Message::Text(t)) => Some(t),
            Ok(other) => panic!("not a probe: {other:?}"),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => panic!("{e}"),
        }
    });
    assert!(crossed.unwrap().starts_with("probe "));
    b1.get_mut()
        .set_read_timeout(Some(common::PATIENCE))
        .unwrap();
    handle_a.publish("r", "after").unwrap();
    loop {
        match read_data(&mut b1) {
            Message::Text(t) if t.as_str() == "after" => break,
            Message::Text(t) if t.starts_with("probe ") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(two.dropped(), 0);
}

#[test]
#[ignore = "needs redis-server; scripts/redis-cluster-test.sh runs it"]
fn the_first_publish_after_a_redis_restart_crosses() {
    let redis = Redis::start();
    let port = redis.port();
    let (one, two) = (redis.cluster(), redis.cluster());
    let ((_, handle_a), (b, _)) = (node(&one, 1), node(&two, 1));
    let mut b1 = member(b);
    handle_a.publish("r", "before").unwrap();
    assert_eq!(read_data(&mut b1), Message::text("before"));

    // Restarted with nothing published meanwhile: the publisher's connection is dead and
    // it does not know yet.
    drop(redis);
    let redis = Redis::start_on(port);
    // Both subscribers back (they reconnect with backoff on their own threads; the
    // deadline bounds a failure only).
    let mut con = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let subscribers = |con: &mut redis::Connection| {
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(con).unwrap();
        clients.lines().filter(|c| c.contains(" psub=1 ")).count()
    };
    while subscribers(&mut con) < 2 {
        assert!(
            Instant::now() < deadline,
            "the subscribers did not come back"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    handle_a.publish("r", "first after").unwrap();
    assert_eq!(read_data(&mut b1), Message::text("first after"));
    assert_eq!(
        one.dropped(),
        0,
        "sent again on a new connection, not dropped"
    );
}

#[test]
#[ignore = "needs redis-server; scripts/redis-cluster-test.sh runs it"]
fn a_cluster_serves_one_server_at_a_time() {
    let redis = Redis::start();
    let cluster = Cluster::connect(&redis.url, ClusterOptions::default()).unwrap();
    let config = Config::default().cluster(cluster);
    let first = Server::bind_with("127.0.0.1:0", config.clone()).unwrap();
    let err = Server::bind_with("127.0.0.1:0", config.clone()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    drop(first);
    Server::bind_with("127.0.0.1:0", config).unwrap();
}

#[test]
#[ignore = "needs redis-server; scripts/redis-cluster-test.sh runs it"]
fn requests_to_other_nodes_gather_their_answers_or_end_at_the_timeout() {
    let redis = Redis::start();
    let options = RedisOptions::default().key("k");
    let adapter = RedisAdapter::connect(&redis.url, options).unwrap();
    let (clock, config) = manual_clock();
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = adapter.clone();
    let addr = spawn_built(config, move || {
        let mut io = SocketIo::new(Options::default());
        io.adapter(&shared);
        io.of("/");
        tx.send(io.handle()).unwrap();
        io
    });
    let io = rx.recv().unwrap();
    wait_for_nodes(&adapter, 1);
    // Two Node nodes: `a` answers, `b` does not.
    let mut a = NodeNode::listening(&redis.url, "k-request#/#");
    let b = NodeNode::listening(&redis.url, "k-request#/#");
    wait_for_nodes(&adapter, 3);
    // The next request from the Rust node (skipping the test's own).
    let next = |a: &mut NodeNode| loop {
        let request: Value = serde_json::from_slice(&a.answer()).unwrap();
        if request["uid"] == adapter.uid() {
            break request;
        }
    };
    let answer = |a: &mut NodeNode, data: Value| {
        let request = next(a);
        let mut reply = data;
        reply["requestId"] = request["requestId"].clone();
        a.publish("k-response#/#", reply.to_string().as_bytes());
        request
    };

    let mut sync = NodeNode::new(&redis.url);
    // Before time passes: the answers taken and the request's timer armed.
    let settle = |sync: &mut NodeNode| {
        // The answer is taken on the adapter's subscriber thread: a request published
        // after it, answered, means it was.
        sync.request(br#"{"uid":"test","requestId":"sync","type":1}"#);
        while sync.json_answer()["requestId"] != "sync" {}
        // The request's timer is armed on the reactor by an operation in its queue: one
        // queued after it (a broadcast with acks on a namespace nobody has, so nobody to
        // wait for) coming back means it ran.
        let flushed = io
            .of("/none")
            .emit_with_ack("x", (), Duration::from_secs(1))
            .unwrap();
        assert_eq!(flushed.recv().unwrap(), Ok(Vec::new()));
    };

    let replies = io.of("/").server_side_emit_with_ack("ping", 1).unwrap();
    let request = answer(&mut a, json!({"type": 6, "data": "pong"}));
    assert_eq!(
        (request["type"].as_u64(), &request["data"]),
        (Some(6), &json!(["ping", 1]))
    );
    settle(&mut sync);
    clock.advance(Duration::from_secs(5));
    let err = replies.recv().unwrap().unwrap_err();
    assert_eq!(
        err,
        ServerSideEmitError {
            kind: RequestError::Timeout,
            responses: vec![json!("pong")],
        }
    );

    // A query ends at the timeout too, with a typed error and what came.
    let fetched = io.of("/").fetch_sockets().unwrap();
    let request = answer(&mut a, json!({"sockets": []}));
    assert_eq!(request["type"], 5);
    settle(&mut sync);
    clock.advance(Duration::from_secs(5));
    let err = fetched.recv().unwrap().unwrap_err();
    assert_eq!((err.kind, err.found.len()), (RequestError::Timeout, 0));
    let rooms = io.all_rooms("/").unwrap();
    let request = answer(&mut a, json!({"rooms": ["from-a"]}));
    assert_eq!(request["type"], 1);
    settle(&mut sync);
    clock.advance(Duration::from_secs(5));
    let err = rooms.recv().unwrap().unwrap_err();
    assert_eq!(
        (err.kind, err.found),
        (RequestError::Timeout, vec!["from-a".to_owned()])
    );

    // Without requests_timeout passing: both answer, the sockets of both come.
    drop(b);
    wait_for_nodes(&adapter, 2);
    let fetched = io.of("/").to("all").fetch_sockets().unwrap();
    let socket = json!({
        "id": "remote-1",
        "handshake": {"url": "/socket.io/?EIO=4&q=1", "address": "::1", "issued": 5, "headers": {}, "auth": {"t": 2}},
        "rooms": ["remote-1", "all"],
        "data": {"name": "bob"},
    });
    let request = answer(&mut a, json!({"sockets": [socket]}));
    assert_eq!(request["type"], 5);
    assert_eq!(request["opts"]["rooms"], json!(["all"]));
    let sockets = fetched.recv().unwrap().unwrap();
    assert_eq!(sockets.len(), 1);
    let s = &sockets[0];
    assert_eq!(
        (s.id(), s.namespace(), s.rooms()),
        (
            "remote-1",
            "/",
            &["remote-1".to_owned(), "all".to_owned()][..]
        )
    );
    assert_eq!(s.data().get::<Value>(), Some(&json!({"name": "bob"})));
    assert_eq!(
        (s.handshake().query_param("q"), s.handshake().issued()),
        (Some("1"), 5)
    );
    assert_eq!(s.handshake().auth(), &json!({"t": 2}));

    // The rooms of every node: the socket here is in its own.
    let _ws = ws_session(addr);
    let rooms = io.all_rooms("/").unwrap();
    let request = answer(&mut a, json!({"rooms": ["x", "remote-1"]}));
    assert_eq!(request["type"], 1);
    let rooms = rooms.recv().unwrap().unwrap();
    assert_eq!(
        rooms.len(),
        3,
        "the other node's two and the socket's: {rooms:?}"
    );
    assert!(rooms.contains(&"remote-1".to_owned()) && rooms.contains(&"x".to_owned()));
    assert!(rooms.windows(2).all(|w| w[0] < w[1]), "sorted: {rooms:?}");

    // Joins, leaves and disconnections reach the other nodes, unanswered.
    io.of("/").to("all").sockets_join(&["x"]).unwrap();
    let join = next(&mut a);
    assert_eq!(join["type"], 2);
    assert_eq!(
        (&join["rooms"], &join["opts"]["rooms"]),
        (&json!(["x"]), &json!(["all"]))
    );
    assert!(join.get("requestId").is_none());
    io.of("/").disconnect_sockets(true).unwrap();
    let bye = next(&mut a);
    assert_eq!(
        (bye["type"].as_u64(), &bye["close"]),
        (Some(4), &json!(true))
    );
}
