// The official socket.io-client (Node) against examples/socketio_chat.rs served over https
// (--tls with the committed test certificate, tests/tls/): long-polling over https, WebSocket
// over wss://, and the default (polling, then the upgrade). The client checks the chain and the
// name against tests/tls/ca.pem, as a real client would, not with rejectUnauthorized false:
// the message and its "Reply to:", an ack, binary both ways. scripts/socketio-test.sh builds
// the example with --features socketio,tls first; the test starts the server on a free port.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const binary = process.env.SOCKETIO_CHAT || join(root, "target", "debug", "examples", "socketio_chat");
const tlsDir = join(root, "tests", "tls");
const ca = readFileSync(join(tlsDir, "ca.pem"));
const LIMIT = { timeout: 30_000 };

let server;
let url;
const clients = [];

before(async () => {
  server = spawn(binary, ["127.0.0.1:0", "--tls", join(tlsDir, "cert.pem"), join(tlsDir, "key.pem")], {
    cwd: root,
    env: { ...process.env, RUST_LOG: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  url = await new Promise((resolve, reject) => {
    let out = "";
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/socket\.io chat on (https:\/\/[\d.]+:\d+)\//);
      if (m) resolve(m[1]);
    };
    server.stdout.on("data", onData);
    server.stderr.on("data", onData);
    server.once("exit", (code) => reject(new Error(`server exited early (${code}): ${out}`)));
  });
});

after(() => {
  for (const socket of clients) socket.disconnect();
  server?.kill("SIGTERM");
});

/** A connected client trusting only the test CA; rejects on connect_error. */
function connect(opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ca, ...opts });
  clients.push(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** The arguments of the next `event` on `socket`, without the offset that connection state
 * recovery (on in the example) appends, last, to events emitted without an ack. */
function next(socket, event) {
  return new Promise((resolve) =>
    socket.once(event, (...args) => {
      assert.match(args.at(-1), /^\d+$/, `an offset ends ${JSON.stringify(args)}`);
      resolve(args.slice(0, -1));
    }),
  );
}

/** The message/reply exchange, an ack (`echo` answers its arguments) and binary both ways
 * (`file` to a room: the other member gets the bytes, the ack their length). */
async function exchange(a, b, room) {
  const reply = next(a, "message");
  a.send("hello over tls");
  assert.deepEqual(await reply, ["Reply to: hello over tls"]);

  const echoed = await new Promise((resolve) => a.emit("echo", "x", { n: 1 }, (...got) => resolve(got)));
  assert.deepEqual(echoed, ["x", { n: 1 }]);

  await a.emitWithAck("join", room);
  await b.emitWithAck("join", room);
  const bytes = Buffer.from([0, 1, 2, 0x1e, 0xfe, 0xff]);
  const received = next(b, "file");
  assert.equal(await a.emitWithAck("file", room, "blob.bin", bytes), bytes.length);
  const [, name, data] = await received;
  assert.equal(name, "blob.bin");
  assert.deepEqual(Buffer.from(data), bytes);
}

for (const transport of ["polling", "websocket"]) {
  test(`${transport} only over TLS: reply, ack, binary`, LIMIT, async () => {
    const a = await connect({ transports: [transport] });
    const b = await connect({ transports: [transport] });
    assert.equal(a.io.engine.transport.name, transport);
    await exchange(a, b, `tls-${transport}`);
    assert.equal(a.io.engine.transport.name, transport, "no upgrade was offered to take");
  });
}

test("default over TLS: https long-polling upgrades to wss://, then reply, ack, binary", LIMIT, async () => {
  const a = await connect();
  const b = await connect();
  for (const socket of [a, b]) {
    if (socket.io.engine.transport.name !== "websocket") {
      await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
    }
  }
  assert.equal(a.io.engine.transport.name, "websocket");
  await exchange(a, b, "tls-default");
});

test("a client that does not trust the test CA is refused by its own TLS check", LIMIT, async () => {
  await assert.rejects(connect({ ca: undefined, transports: ["websocket"] }), (err) => {
    assert.match(String(err.description?.message ?? err.description ?? err), /certificate/i);
    return true;
  });
});
