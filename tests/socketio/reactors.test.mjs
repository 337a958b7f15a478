// The official socket.io-client (Node) against examples/socketio_chat.rs on two reactors
// (`--reactors 2`), which are dealt connections in turn (WSREACTOR_SPREAD=handoff): a
// long-polling session's requests arrive on both reactors, and each one must reach the
// reactor that holds the session (its sid names it); rooms, broadcasts and "who is online"
// reach the sockets of both. scripts/socketio-test.sh builds the example first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { once, serveTheseTests, startServer as startChat } from "./chat-server.mjs";

const LIMIT = { timeout: 60_000 };
/** Round trips one session makes: each is a POST and a GET, on connections dealt to both reactors. */
const ROUND_TRIPS = 100;

/** Starts the example on two reactors, dealt connections in turn; resolves once it
 * listens. Recovery off: events carry no offset, so their arguments compare as sent. */
function startServer() {
  const env = { WSREACTOR_SPREAD: "handoff", SOCKETIO_RECOVERY_MS: "0" };
  return startChat("127.0.0.1:0", env, ["--reactors", "2"]);
}

const clients = [];

/** A long-polling-only client (no upgrade), connected; `name` goes in `auth`. */
function connect(url, name) {
  const socket = io(url, { forceNew: true, reconnection: false, transports: ["polling"], auth: { name } });
  clients.push(socket);
  socket.disconnects = [];
  socket.on("disconnect", (reason) => socket.disconnects.push(reason));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}


const chat = serveTheseTests(startServer, clients);

test("one long-polling session across many requests, whichever reactor each reaches", LIMIT, async () => {
  const socket = await connect(chat.url, "poller");
  const sid = socket.io.engine.id;
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const reply = once(socket, "message");
    socket.send(`n${i}`);
    assert.deepEqual(await reply, [`Reply to: n${i}`]);
    assert.deepEqual(await socket.emitWithAck("echo", { i }), { i }, "the ack, as sent");
  }
  assert.equal(socket.io.engine.id, sid, "the same Engine.IO session throughout");
  assert.equal(socket.io.engine.transport.name, "polling");
  assert.deepEqual(socket.disconnects, [], "never dropped");
});

test("rooms, broadcasts and who is online reach the sessions of both reactors", LIMIT, async () => {
  // Sessions open in turn on the two reactors' first connections; a few make sure both
  // reactors hold some.
  const names = ["ann", "ben", "cid", "dan"];
  const sockets = [];
  for (const name of names) sockets.push(await connect(chat.url, name));
  for (const socket of sockets) await socket.emitWithAck("join", "both");
  const heard = sockets.slice(1).map((s) => once(s, "chat"));
  sockets[0].emit("chat", { room: "both", text: "hello all" });
  for (const got of await Promise.all(heard)) {
    assert.deepEqual(got, [{ from: "ann", room: "both", text: "hello all" }]);
  }
  assert.deepEqual(await sockets[3].emitWithAck("who", "both"), names);
  const announced = sockets.map((s) => once(s, "announcement"));
  sockets[2].emit("announce", "to everyone");
  for (const got of await Promise.all(announced)) {
    assert.deepEqual(got, [{ from: "cid", text: "to everyone" }]);
  }
  for (const socket of sockets) assert.deepEqual(socket.disconnects, []);
});
