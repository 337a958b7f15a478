// A cluster of four nodes on one Redis: two of examples/socketio_cluster.rs (wsreactor; the
// first on two reactors that share one adapter and are dealt connections in turn) and two
// of its Node twin node-server.mjs (socket.io + @socket.io/redis-adapter), official clients
// on all four. A broadcast made on any node reaches the room's members on all exactly once,
// text and binary, and `except` is honoured across nodes. `count` (fetchSockets),
// `ask_others` (serverSideEmit with ack) and `ask_all` (a broadcast with acks) see every
// node, asked from a Rust node or a Node node. Redis restarted: local delivery goes on
// meanwhile, then the nodes reconnect and broadcasts cross again. A node that stops
// answering: a request from the others ends at its timeout with the answers that came;
// killed: the others carry on. The test runs its own redis-server on the port
// scripts/redis-cluster-test.sh picks (REDIS_PORT); the script builds the example first.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { io } from "socket.io-client";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const LIMIT = { timeout: 30_000 };

/** Starts a node; resolves with its URL once it listens (each prints the same line). */
function start(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { cwd, env: { ...process.env, RUST_LOG: "info", WSREACTOR_SPREAD: "handoff" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const node = { proc, url: null, log: () => out };
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/socket\.io cluster node .*?on (http:\/\/[\d.]+:\d+)\//);
      if (m && !node.url) {
        node.url = m[1];
        resolve(node);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.once("exit", (code) => node.url || reject(new Error(`node exited early (${code}): ${out}`)));
  });
}

let rust, rust2, node, node2, redis;
const clients = [];
const redisPort = Number(process.env.REDIS_PORT);
process.env.WSREACTOR_REDIS = `redis://127.0.0.1:${redisPort}`;

/** Starts redis-server (no persistence); resolves once it accepts connections. */
function startRedis() {
  return new Promise((resolve, reject) => {
    const proc = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("Ready to accept connections")) resolve(proc);
    });
    proc.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
}

function stop(proc) {
  return new Promise((done) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return done();
    proc.once("exit", done);
    proc.kill("SIGKILL");
  });
}

before(async () => {
  redis = await startRedis();
  const example = path.join(root, "target/debug/examples/socketio_cluster");
  rust = await start(example, ["127.0.0.1:0", "--reactors", "2"], root);
  rust2 = await start(example, ["127.0.0.1:0"], root);
  node = await start(process.execPath, [path.join(here, "node-server.mjs"), "0"], here);
  node2 = await start(process.execPath, [path.join(here, "node-server.mjs"), "0"], here);
});

after(async () => {
  for (const c of clients) c.disconnect();
  for (const n of [rust, rust2, node, node2]) if (n?.proc.signalCode === "SIGSTOP") n.proc.kill("SIGCONT");
  for (const p of [rust?.proc, rust2?.proc, node?.proc, node2?.proc, redis]) if (p) await stop(p);
});

/** A connected client of `server`; every `broadcast` it gets is recorded in `got`. */
function connect(server, name, quiet = false) {
  const socket = io(server.url, { forceNew: true, reconnection: false, transports: ["websocket"], auth: { quiet } });
  socket.name = name;
  socket.got = [];
  socket.on("broadcast", (...args) => socket.got.push(args));
  clients.push(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** Resolves once every socket has received a broadcast whose first argument is `mark`
 * (or, `mark` a function, one it accepts). */
function allHeard(sockets, mark) {
  const is = typeof mark === "function" ? mark : (m) => m === mark;
  return Promise.all(
    sockets.map(
      (s) =>
        new Promise((resolve) => {
          const check = () => s.got.some((a) => is(a[0])) && (s.off("broadcast", check), resolve());
          s.on("broadcast", check);
          check();
        }),
    ),
  );
}

const count = (socket, mark) => socket.got.filter((a) => a[0] === mark).length;

let sockets;

test("broadcasts cross nodes both ways, exactly once, text and binary, except honoured", LIMIT, async () => {
  sockets = [
    await connect(rust, "rust-a"),
    await connect(rust, "rust-quiet", true),
    await connect(node, "node-a"),
    await connect(node, "node-quiet", true),
    await connect(rust2, "rust2-a"),
    await connect(node2, "node2-a"),
  ];
  const [rustA, , nodeA] = sockets;
  const loud = sockets.filter((s) => !s.name.endsWith("quiet"));

  // Text, from each side.
  rustA.emit("broadcast", "from-rust", { n: 1, list: [1.5, -2, null, "x"] });
  nodeA.emit("broadcast", "from-node", { n: 2 });
  // Binary, from each side: a Buffer alone and nested in an object.
  rustA.emit("broadcast", "bin-rust", Buffer.from([1, 2, 3]), { inner: Buffer.from("hé") });
  nodeA.emit("broadcast", "bin-node", Buffer.from([4, 5]), { inner: Buffer.from([0, 255]) });
  // `except`, from each side: the quiet ones on both nodes must not get these.
  rustA.emit("broadcast_except", "except-rust");
  nodeA.emit("broadcast_except", "except-node");
  // Last from each origin: a node's broadcasts reach a client in the order they were made,
  // so once both ends arrived everywhere, everything before them has too (and duplicates,
  // which would come the same way).
  rustA.emit("broadcast", "end-rust");
  nodeA.emit("broadcast", "end-node");
  await allHeard(sockets, "end-rust");
  await allHeard(sockets, "end-node");

  for (const s of sockets) {
    for (const mark of ["from-rust", "from-node", "bin-rust", "bin-node", "end-rust", "end-node"]) {
      assert.equal(count(s, mark), 1, `${s.name} got ${mark} once`);
    }
    const quiet = s.name.endsWith("quiet");
    for (const mark of ["except-rust", "except-node"]) {
      assert.equal(count(s, mark), quiet ? 0 : 1, `${s.name} got ${mark} ${quiet ? "never" : "once"}`);
    }
    const find = (mark) => s.got.find((a) => a[0] === mark);
    assert.deepEqual(find("from-rust"), ["from-rust", { n: 1, list: [1.5, -2, null, "x"] }]);
    assert.deepEqual(find("from-node"), ["from-node", { n: 2 }]);
    const [, buf, { inner }] = find("bin-rust");
    assert.deepEqual([...Buffer.from(buf)], [1, 2, 3], `${s.name}: bin-rust's buffer`);
    assert.equal(Buffer.from(inner).toString(), "hé");
    const [, buf2, { inner: inner2 }] = find("bin-node");
    assert.deepEqual([...Buffer.from(buf2)], [4, 5], `${s.name}: bin-node's buffer`);
    assert.deepEqual([...Buffer.from(inner2)], [0, 255]);
  }
  assert.equal(loud.length, 4);
});

/** The answer to `event` with an ack. */
const ask = (socket, event) => socket.timeout(20_000).emitWithAck(event);

test("fetchSockets, serverSideEmit with ack and broadcast acks see every node, asked from either side", LIMIT, async () => {
  const urls = [rust, rust2, node, node2].map((n) => `${n.url}/`);
  for (const s of sockets) s.on("question", (cb) => cb(s.name));
  for (const s of sockets) {
    const home = urls.find((u) => u.startsWith(s.io.uri));
    assert.equal(await ask(s, "count"), sockets.length, `${s.name}: count`);
    const others = await ask(s, "ask_others");
    assert.deepEqual([...others].sort(), urls.filter((u) => u !== home).sort(), `${s.name}: ask_others`);
    const answers = new Promise((resolve) => s.once("answers", resolve));
    s.emit("ask_all");
    assert.deepEqual([...(await answers)].sort(), sockets.map((x) => x.name).sort(), `${s.name}: ask_all`);
  }
});

test("Redis restarted: local delivery goes on, then the nodes reconnect", LIMIT, async () => {
  const [rustA, rustQuiet, nodeA, nodeQuiet, rust2A, node2A] = sockets;
  await stop(redis);
  // Each node still delivers its own broadcasts to its own sockets.
  rustA.emit("broadcast", "outage-rust");
  nodeA.emit("broadcast", "outage-node");
  rust2A.emit("broadcast", "outage-rust2");
  node2A.emit("broadcast", "outage-node2");
  await allHeard([rustA, rustQuiet], "outage-rust");
  await allHeard([nodeA, nodeQuiet], "outage-node");
  await allHeard([rust2A], "outage-rust2");
  await allHeard([node2A], "outage-node2");
  redis = await startRedis();
  // Both nodes reconnect on their own (ours with backoff); what is published before they
  // have is lost (pub/sub keeps nothing), so each side repeats until the other side
  // hears one. The test's timeout bounds it.
  for (const [from, origin] of [[rustA, "rust"], [nodeA, "node"]]) {
    const heard = allHeard(sockets, (m) => typeof m === "string" && m.startsWith(`back-${origin}-`));
    let done = false;
    heard.then(() => (done = true));
    for (let i = 0; !done; i++) {
      from.emit("broadcast", `back-${origin}-${i}`);
      await Promise.race([heard, new Promise((r) => setTimeout(r, 100))]);
      if (i === 200) {
        // 20 s: say who has not heard, with the nodes' logs, before the test's timeout.
        const deaf = sockets.filter((s) => !s.got.some((a) => String(a[0]).startsWith(`back-${origin}-`)));
        const logs = [rust, rust2, node, node2].map((n) => n.log().slice(-2000)).join("\n----\n");
        throw new Error(`not heard by ${deaf.map((s) => s.name)}\n${logs}`);
      }
    }
  }
  for (const s of sockets) assert.equal(s.connected, true, `${s.name} stayed connected`);
});

test("a node that stops answering: requests end at their timeout; killed: the others carry on", LIMIT, async () => {
  const [rustA, , nodeA, , rust2A] = sockets;
  // Stopped, its connections to Redis stay: it is still counted, and never answers.
  node2.proc.kill("SIGSTOP");
  const others = await ask(rustA, "ask_others");
  assert.deepEqual([...others].sort(), [rust2, node].map((n) => `${n.url}/`).sort(), "the answers that came");
  await stop(node2.proc);
  const alive = sockets.filter((s) => s.name !== "node2-a");
  // Gone, it is not counted any more: no waiting for it.
  assert.equal(await ask(rust2A, "count"), alive.length);
  assert.deepEqual([...(await ask(nodeA, "ask_others"))].sort(), [rust, rust2].map((n) => `${n.url}/`).sort());
  rustA.emit("broadcast", "after-kill");
  await allHeard(alive, "after-kill");
  for (const s of alive) assert.equal(count(s, "after-kill"), 1, `${s.name} got after-kill once`);
});
