// The official socket.io-client (Node) against examples/socketio_chat.rs: every transport,
// events and acks both ways, binary, rooms, namespaces and auth, reconnection after a
// restart, heartbeat timeouts. scripts/socketio-test.sh builds the example first; each
// test starts the servers it needs on free ports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { WebSocket } from "ws";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const binary = process.env.SOCKETIO_CHAT || join(root, "target", "debug", "examples", "socketio_chat");
const LIMIT = { timeout: 30_000 };

/** Starts the example; resolves once it listens. `log()` is what it has printed. */
function startServer(addr = "127.0.0.1:0", env = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, [addr], {
      cwd: root,
      env: { ...process.env, RUST_LOG: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/socket\.io chat on (http:\/\/[\d.]+:(\d+))\//);
      if (m && !server.url) {
        server.url = m[1];
        server.port = Number(m[2]);
        resolve(server);
      }
    };
    const server = { proc, log: () => out, url: null, port: 0 };
    server.stop = (signal = "SIGTERM") =>
      new Promise((done) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return done();
        proc.once("exit", done);
        proc.kill(signal);
      });
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.once("exit", (code) => {
      if (!server.url) reject(new Error(`server exited early (${code}): ${out}`));
    });
  });
}

const clients = [];

/** A connected client (its own Manager); `name` answers the server's `nickname?`. */
function connect(url, { name, ...opts } = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  clients.push(socket);
  socket.events = [];
  socket.onAny((event, ...args) => socket.events.push([event, ...args]));
  const named = new Promise((resolve) => {
    socket.on("nickname?", (ack) => {
      ack(name ?? "");
      resolve();
    });
  });
  const connected = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  // Named clients are ready once the server has its answer.
  return Promise.all([connected, name ? named : null]).then(() => socket);
}

/** The arguments of the next `event` on `socket`. */
function next(socket, event) {
  return new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
}

let chat;

before(async () => {
  chat = await startServer();
});

after(async () => {
  for (const socket of clients) socket.disconnect();
  await chat?.stop();
});

async function replyOver(transports) {
  const socket = await connect(chat.url, { transports });
  const reply = next(socket, "message");
  socket.send("hello");
  assert.deepEqual(await reply, ["Reply to: hello"]);
  assert.equal(socket.io.engine.transport.name, transports[0]);
  socket.disconnect();
}

test("websocket only: a message gets its reply", LIMIT, () => replyOver(["websocket"]));

test("long-polling only: a message gets its reply", LIMIT, () => replyOver(["polling"]));

test("default: long-polling upgrades to websocket, and messages flow", LIMIT, async () => {
  const socket = await connect(chat.url);
  if (socket.io.engine.transport.name !== "websocket") {
    await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
  }
  assert.equal(socket.io.engine.transport.name, "websocket");
  const reply = next(socket, "message");
  socket.send("after the upgrade");
  assert.deepEqual(await reply, ["Reply to: after the upgrade"]);
});

test("acks both ways: join answers the room size, the server's nickname? is answered", LIMIT, async () => {
  const alice = await connect(chat.url, { name: "alice", transports: ["websocket"] });
  const bob = await connect(chat.url, { name: "bob", transports: ["polling"] });
  assert.equal(await alice.emitWithAck("join", "acks"), 1);
  const joined = next(alice, "joined");
  assert.equal(await bob.emitWithAck("join", "acks"), 2);
  assert.deepEqual(await joined, [{ name: "bob", room: "acks" }], "the nickname ack named bob");
});

for (const transport of ["websocket", "polling"]) {
  test(`binary payloads both ways over ${transport}`, LIMIT, async () => {
    const a = await connect(chat.url, { name: "sender", transports: [transport] });
    const b = await connect(chat.url, { transports: [transport] });
    await a.emitWithAck("join", `files-${transport}`);
    await b.emitWithAck("join", `files-${transport}`);
    const bytes = Buffer.from([0, 1, 2, 0x1e, 0xfe, 0xff]);
    const received = next(b, "file");
    assert.equal(await a.emitWithAck("file", `files-${transport}`, "blob.bin", bytes), bytes.length);
    const [from, name, data] = await received;
    assert.equal(from, "sender");
    assert.equal(name, "blob.bin");
    assert.deepEqual(Buffer.from(data), bytes);
  });
}

test("rooms: three clients, broadcast to a room except the sender, and to all", LIMIT, async () => {
  const [a, b, c] = await Promise.all([
    connect(chat.url, { name: "a", transports: ["websocket"] }),
    connect(chat.url, { name: "b", transports: ["polling"] }),
    connect(chat.url, { name: "c", transports: ["websocket"] }),
  ]);
  await a.emitWithAck("join", "r1");
  await b.emitWithAck("join", "r1");
  await c.emitWithAck("join", "r2");
  const announced = [a, b, c].map((s) => next(s, "announcement"));
  a.emit("chat", { room: "r1", text: "hi r1" });
  a.emit("announce", "to everyone");
  for (const got of await Promise.all(announced)) {
    assert.deepEqual(got, [{ from: "a", text: "to everyone" }]);
  }
  // Per-client order is kept, so whoever got the chat had it before the announcement.
  const chats = (s) => s.events.filter(([event]) => event === "chat");
  assert.deepEqual(chats(b), [["chat", { from: "a", room: "r1", text: "hi r1" }]]);
  assert.deepEqual(chats(a), [], "not to the sender");
  assert.deepEqual(chats(c), [], "not to another room");
});

test("a second namespace, with auth; refusals are connect_error", LIMIT, async () => {
  await connect(chat.url, { name: "someone", transports: ["websocket"] });
  const admin = await connect(`${chat.url}/admin`, { auth: { token: "let-me-in" } });
  const stats = await admin.emitWithAck("stats");
  assert.ok(stats.connected >= 1, JSON.stringify(stats));

  await assert.rejects(connect(`${chat.url}/admin`, { auth: { token: "wrong" } }), {
    message: "not authorized",
  });
  await assert.rejects(connect(`${chat.url}/nope`), { message: "Invalid namespace" });
});

test("the server restarts: the client reconnects by itself and works again", LIMIT, async () => {
  const first = await startServer();
  const socket = await connect(first.url, {
    reconnection: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
  });
  const oldId = socket.id;
  const gone = next(socket, "disconnect");
  await first.stop();
  const [reason] = await gone;
  assert.match(reason, /transport (close|error)/);
  const back = new Promise((resolve) => socket.once("connect", resolve));
  const second = await startServer(`127.0.0.1:${first.port}`);
  try {
    await back;
    assert.notEqual(socket.id, oldId, "a new session");
    const reply = next(socket, "message");
    socket.send("again");
    assert.deepEqual(await reply, ["Reply to: again"]);
  } finally {
    socket.disconnect();
    await second.stop();
  }
});

test("heartbeat: a silent server or client is dropped after a short ping timeout", LIMIT, async () => {
  const env = { SOCKETIO_PING_INTERVAL_MS: "200", SOCKETIO_PING_TIMEOUT_MS: "200" };
  const server = await startServer("127.0.0.1:0", env);
  try {
    // The client notices a server that stopped pinging...
    const socket = await connect(server.url, {
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 300,
    });
    const gone = next(socket, "disconnect");
    server.proc.kill("SIGSTOP");
    const [reason] = await gone;
    server.proc.kill("SIGCONT");
    assert.equal(reason, "ping timeout");
    await new Promise((resolve) => socket.once("connect", resolve));
    const reply = next(socket, "message");
    socket.send("still here");
    assert.deepEqual(await reply, ["Reply to: still here"]);
    socket.disconnect();

    // ...and the server drops a client that stops answering its pings.
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
    const frames = [];
    ws.on("message", (data) => {
      frames.push(String(data));
      if (frames.length === 1) ws.send("40");
    });
    const [code] = await new Promise((resolve) => ws.once("close", (...args) => resolve(args)));
    assert.ok(frames.includes("2"), `pinged: ${frames}`);
    assert.ok(!frames.includes("3"), "we never ponged, and the server never does");
    assert.equal(code, 1000);
    const sid = JSON.parse(frames.find((f) => f.startsWith("40{")).slice(2)).sid;
    assert.match(server.log(), new RegExp(`${sid} \\(guest-\\d+\\) disconnected: ping timeout`));
  } finally {
    server.proc.kill("SIGCONT");
    await server.stop();
  }
});
