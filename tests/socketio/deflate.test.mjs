// permessage-deflate with Node clients: the `ws` client (which offers it by default)
// against the echo example with --deflate, and socket.io-client over its WebSocket
// transport against socketio_chat with --deflate (Options::per_message_deflate, off
// without it, as in the reference). scripts/socketio-test.sh builds both examples.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { WebSocket } from "ws";
import { startServer } from "./chat-server.mjs";

const LIMIT = { timeout: 30_000 };
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const stops = [];

after(async () => {
  for (const stop of stops) await stop();
});

/** The echo example with `--deflate` on a free port; resolves with its ws:// URL. */
function startEcho() {
  const proc = spawn(join(root, "target", "debug", "examples", "echo"), ["127.0.0.1:0", "--deflate"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  stops.push(() => new Promise((done) => (proc.exitCode !== null ? done() : (proc.once("exit", done), proc.kill()))));
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/echo server listening on (ws:\/\/[\d.:]+\/)/);
      if (m) resolve(m[1]);
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.once("exit", (code) => reject(new Error(`echo exited (${code}): ${out}`)));
  });
}

/** Sends `msg` on `ws` and resolves with the next message back. */
function echoOf(ws, msg) {
  return new Promise((resolve) => {
    ws.once("message", (data, isBinary) => resolve(isBinary ? data : data.toString()));
    ws.send(msg);
  });
}

test("the ws client negotiates permessage-deflate with the echo example; text and binary come back", LIMIT, async () => {
  const url = await startEcho();
  // Compress everything the client sends (its default threshold is 1 KiB too).
  const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 } });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  assert.match(ws.extensions, /^permessage-deflate/);
  const text = JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ id: i, name: "item", ok: true })));
  assert.equal(await echoOf(ws, text), text);
  const binary = Buffer.alloc(50_000, "wsreactor");
  assert.deepEqual(await echoOf(ws, binary), binary);
  assert.equal(await echoOf(ws, "short"), "short");
  ws.close();
});

/** A socket.io-client on the WebSocket transport; resolves once connected. */
function connect(url) {
  const socket = io(url, { forceNew: true, reconnection: false, transports: ["websocket"] });
  stops.push(async () => socket.disconnect());
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

for (const deflate of [true, false]) {
  test(`socket.io-client over WebSocket, perMessageDeflate ${deflate ? "on" : "off (the default)"}`, LIMIT, async () => {
    const server = await startServer("127.0.0.1:0", {}, deflate ? ["--deflate"] : []);
    stops.push(() => server.stop());
    const socket = await connect(server.url);
    // engine.io-client's Node transport is a `ws` WebSocket, which offered the extension.
    const extensions = socket.io.engine.transport.ws.extensions;
    assert.equal(/^permessage-deflate/.test(extensions), deflate, `extensions: ${extensions}`);
    const big = { rows: Array.from({ length: 500 }, (_, i) => `row ${i} of a table`) };
    assert.deepEqual(await socket.timeout(5000).emitWithAck("echo", big), big);
    socket.disconnect();
  });
}
