// The official socket.io-client against the socketio_chat example, on each transport:
// events with acks whose every reply is checked, a plain event and its reply after each
// (re)connection, and reconnections both ways: a clean disconnect and connect (a new
// session), and a dropped transport (the client reconnects by itself and, connection state
// recovery being on in the example, must get its session back).
import { isDeepStrictEqual } from "node:util";
import { io } from "./clients.mjs";
import * as payload from "./payload.mjs";
import { Late, pause, within } from "./time.mjs";

/** How a client connects: long-polling only, WebSocket only, or polling upgraded to WebSocket. */
const TRANSPORTS = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"], upgrade: true },
};

/** Runs one client per entry of `kinds` (keys of TRANSPORTS) against `url`, each emitting an
 * event with an ack every `intervalMs` and reconnecting every `reconnectEvery` acks or so,
 * until the soak stops. */
export async function clients(soak, url, kinds, intervalMs, reconnectEvery) {
  await Promise.all(kinds.map((kind, i) => client(soak, url, kind, `${kind}-${i}`, intervalMs, reconnectEvery)));
}

async function client(soak, url, kind, name, intervalMs, reconnectEvery) {
  const { tally, bound } = soak;
  const socket = io(url, {
    ...TRANSPORTS[kind],
    forceNew: true,
    auth: { name: `soak-${name}` },
    timeout: bound,
    reconnectionDelay: 500,
    reconnectionDelayMax: 2000,
  });
  let expectDisconnect = false;
  socket.on("disconnect", (reason) => {
    if (!expectDisconnect) tally.fail("unexpected close", `socket.io ${name}: disconnected (${reason})`);
  });
  socket.on("connect_error", (e) => tally.fail("unexpected answer", `socket.io ${name}: connect_error ${e.message}`));
  socket.io.on("open", () => socket.io.engine.on("upgrade", () => tally.add("sio.upgrades")));
  const connected = () =>
    socket.connected ? Promise.resolve() : within(new Promise((resolve) => socket.once("connect", resolve)), bound, "connect");
  for (let round = 0; !soak.stopping; round++) {
    try {
      await connected();
      await reply(soak, socket, name);
      const acks = Math.ceil(reconnectEvery * (0.5 + Math.random()));
      for (let i = 0; i < acks && !soak.stopping; i++) {
        await ack(soak, socket, name);
        await pause(intervalMs, soak);
      }
      if (soak.stopping) break;
      expectDisconnect = true;
      if (round % 2 === 0) {
        socket.disconnect();
        socket.connect();
        await connected();
        if (socket.recovered) tally.fail("unexpected answer", `socket.io ${name}: recovered after a clean disconnect`);
        tally.add("sio.reconnected (new session)");
      } else {
        socket.io.engine.close(); // the transport ends; the client reconnects by itself
        await connected();
        if (!socket.recovered) tally.fail("unexpected answer", `socket.io ${name}: not recovered after its transport dropped`);
        tally.add("sio.reconnected (recovered)");
      }
    } catch (e) {
      tally.fail(e instanceof Late ? "stuck" : "unexpected answer", `socket.io ${name}: ${e.message}`);
      await pause(1000, soak);
    }
    expectDisconnect = false;
  }
  expectDisconnect = true;
  socket.disconnect();
}

/** `message` (a text) must come back as `message` "Reply to: <text>", with the offset that
 * connection state recovery adds (which the next recovery needs). */
async function reply(soak, socket, name) {
  const text = `soak ${name} ${Date.now()}`;
  const got = within(new Promise((resolve) => socket.once("message", (...args) => resolve(args))), soak.bound, "reply");
  socket.emit("message", text);
  const args = await got;
  if (args[0] !== `Reply to: ${text}` || !/^\d+$/.test(args[1])) {
    soak.tally.fail("corrupted", `socket.io ${name}: "${text}" got ${JSON.stringify(args).slice(0, 200)}`);
  } else {
    soak.tally.add("sio.replies verified");
  }
}

let seq = 0;

/** `echo` with an ack: the example acks the arguments as received; text, numbers, nested
 * objects and (one time in three) bytes, which must all come back equal. */
async function ack(soak, socket, name) {
  const args = [++seq, payload.text(payload.size()), { n: seq, nested: [true, null, -1.5, { s: payload.text(16) }] }];
  if (seq % 3 === 0) args.push(payload.binary(payload.size()));
  // With a timeout the callback gets an error first: the ack's time ran out, or the
  // connection ended before it came.
  const [err, ...got] = await new Promise((resolve) =>
    socket.timeout(soak.bound).emit("echo", ...args, (...answer) => resolve(answer)),
  );
  if (err) {
    if (/timed out/.test(err.message)) soak.tally.fail("stuck", `socket.io ${name}: no ack of #${args[0]} within ${soak.bound} ms`);
    else soak.tally.fail("lost", `socket.io ${name}: ack of #${args[0]}: ${err.message}`);
    return;
  }
  if (!isDeepStrictEqual(bytes(got), bytes(args))) {
    const shape = (list) => list.map((v) => (typeof v === "string" ? `text ${v.length}` : Buffer.isBuffer(v) ? `${v.length} bytes` : typeof v));
    soak.tally.fail("corrupted", `socket.io ${name}: ack of #${args[0]} differs: sent ${shape(args)}, got ${shape(bytes(got))}`);
    return;
  }
  soak.tally.add(`sio.acks verified (${socket.io.engine.transport.name})`);
}

/** `value` with every binary form (Buffer, ArrayBuffer, typed array) made a Buffer, which
 * is how the client may hand bytes back depending on the transport. */
function bytes(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(bytes);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bytes(v)]));
  return value;
}
