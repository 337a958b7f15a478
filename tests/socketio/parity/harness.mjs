// The parity harness: the official socket.io-client runs the same script against the
// reference server (npm socket.io, reference.mjs) and against ours
// (examples/socketio_parity.rs), and each scenario expects the same observation from both:
// every client's events in order with their arguments, connect_error messages and data, ack
// answers, disconnect reasons. The reference's observation must also equal the scenario's
// `expected` literal, so a test still fails if both servers drift the same way (an upgrade
// of socket.io included). ../parity.test.mjs and ../recovery.test.mjs are its test files.
//
// SOCKETIO_PARITY names our server's binary (default: the debug build of the example, which
// scripts/socketio-test.sh builds first).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { io } from "socket.io-client";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const ours = process.env.SOCKETIO_PARITY || join(root, "target", "debug", "examples", "socketio_parity");
/** How long a client waits for something that should come; past it, the wait is recorded. */
export const STALL_MS = 3000;
const TRANSPORTS = ["websocket", "polling"];

/** Starts a parity server; resolves with its URL once it prints it. */
function start(command, args, cwd) {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, [...args, "0"], {
      cwd,
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const server = {
      url: null,
      stop: () =>
        new Promise((done) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return done();
          proc.once("exit", done);
          proc.kill("SIGTERM");
        }),
    };
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(/parity server on (http:\/\/[\d.]+:\d+)/);
      if (m && !server.url) {
        server.url = m[1];
        resolve(server);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.once("exit", (code) => {
      if (!server.url) reject(new Error(`${command} exited early (${code}): ${out}`));
    });
  });
}

/** A value as the observation records it: functions (an ack to answer), undefined and
 * binary (with its type: Buffer, ArrayBuffer...) made comparable. */
function plain(value) {
  if (typeof value === "function") return "<ack>";
  if (value === undefined) return "<undefined>";
  if (Buffer.isBuffer(value)) return { Buffer: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { ArrayBuffer: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return { [value.constructor.name]: bytes.toString("hex") };
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/**
 * One run of a scenario against one server: its clients, and what each saw
 * (`seen[name]`, a list of entries: `["connect"]`, `["connect_error", message, data]`,
 * `["event", name, ...args]`, `["ack", event, ...answer]`, `["disconnect", reason]`).
 * A subclass may record connections and events its own way (`connected`, `event`).
 */
export class Run {
  constructor(url, transport, id) {
    this.url = url;
    this.transport = transport;
    /** Names the run's rooms: the same for both servers, new for every run. */
    this.id = id;
    this.seen = {};
    this.sockets = [];
    this.waiters = [];
  }

  /**
   * A client `name` on namespace `nsp`, resolved once connected or refused. `auth`: its
   * handshake's; `via`: a socket whose connection it shares (multiplexing); `url`: where
   * it connects instead of the server (a proxy); `setup`: called before it connects
   * (listeners for what comes right after the connection).
   */
  client(name, nsp, { auth, via, url = this.url, setup } = {}) {
    const socket = via
      ? via.io.socket(nsp, { auth })
      : io(url + nsp, { forceNew: true, reconnection: false, transports: [this.transport], auth });
    this.sockets.push(socket);
    this.seen[name] = [];
    socket.on("connect", () => this.connected(name, socket));
    socket.on("connect_error", (err) => this.note(name, "connect_error", err.message, err.data));
    socket.on("disconnect", (reason) => this.note(name, "disconnect", reason));
    socket.onAny((event, ...args) => this.event(name, socket, event, args));
    setup?.(socket);
    return new Promise((resolve) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", () => resolve(socket));
    });
  }

  /** Records that `socket` connected. */
  connected(name, _socket) {
    this.note(name, "connect");
  }

  /** Records an event `socket` received. */
  event(name, _socket, event, args) {
    this.note(name, "event", event, ...args);
  }

  /** Emits with an ack; records and resolves with the answer. */
  ack(name, socket, event, ...args) {
    return new Promise((resolve) =>
      socket.emit(event, ...args, (...answer) => {
        this.note(name, "ack", event, ...answer);
        resolve(answer);
      }),
    );
  }

  note(name, ...entry) {
    if (this.closed) return; // what the run's end causes is not the scenario's
    this.seen[name].push(plain(entry));
    this.waiters = this.waiters.filter((wake) => !wake());
  }

  /** Resolves once `name` has seen an entry that starts with `prefix`; one that does not
   * come in STALL_MS is recorded as `["stalled", ...prefix]`, and the run goes on. */
  until(name, ...prefix) {
    const found = () => this.seen[name].some((e) => isDeepStrictEqual(e.slice(0, prefix.length), prefix));
    return this.wait(name, found, ["stalled", ...prefix]);
  }

  /** Resolves once `found()` holds, checked after every entry; past STALL_MS, `stall` is
   * recorded for `name`, and the run goes on. */
  wait(name, found, stall) {
    return new Promise((resolve) => {
      if (found()) return resolve();
      const timer = setTimeout(() => {
        this.seen[name].push(stall);
        resolve();
      }, STALL_MS);
      this.waiters.push(() => found() && (clearTimeout(timer), resolve(), true));
    });
  }

  close() {
    this.closed = true;
    for (const socket of this.sockets) socket.disconnect();
  }
}

/** The same expected observation for both transports. */
export const both = (expected) => ({ websocket: expected, polling: expected });

/** Observations side by side, a line per client, for a failure's message. */
function show(observations) {
  return Object.entries(observations)
    .flatMap(([who, seen]) => [
      `${who}:`,
      ...Object.entries(seen).map(([name, entries]) => `  ${name}: ${JSON.stringify(entries)}`),
    ])
    .join("\n");
}

/** Runs a scenario against one server: what its clients saw. */
async function observe(RunClass, server, scenario, transport, id) {
  const r = new RunClass(server.url, transport, id);
  try {
    await scenario.run(r);
  } finally {
    r.close();
  }
  return r.seen;
}

/**
 * Registers a test per scenario and transport, run against both servers, each started
 * with `args` (before the port). A scenario: `name`; `run(r)` drives the clients through
 * `r`, an instance of `RunClass` (the same function is run against both servers);
 * `expected`: what the reference shows, per transport; `ours`: what ours shows where it
 * differs on purpose (say why); `todo`: how ours differs, per
 * transport, while it does (the test keeps running).
 */
export function parity(scenarios, { args = [], RunClass = Run } = {}) {
  let reference;
  let wsreactor;

  before(async () => {
    [reference, wsreactor] = await Promise.all([
      start(process.execPath, [join(here, "reference.mjs"), ...args], here),
      start(ours, args, root),
    ]);
  });

  after(async () => {
    await Promise.all([reference?.stop(), wsreactor?.stop()]);
  });

  for (const [i, scenario] of scenarios.entries()) {
    for (const transport of TRANSPORTS) {
      const todo = scenario.todo?.[transport];
      test(`${scenario.name} [${transport}]`, { timeout: 30_000, todo }, async () => {
        const id = `${i}-${transport}`;
        const [theirs, mine] = await Promise.all([
          observe(RunClass, reference, scenario, transport, id),
          observe(RunClass, wsreactor, scenario, transport, id),
        ]);
        const expected = scenario.expected[transport];
        // A scenario where ours differs on purpose says what ours shows instead (`ours`).
        const wanted = scenario.ours?.[transport] ?? theirs;
        assert.deepEqual(mine, wanted, `ours against the reference\n${show({ ours: mine, reference: theirs })}`);
        assert.deepEqual(theirs, expected, `the reference against the expected\n${show({ reference: theirs, expected })}`);
      });
    }
  }
}
