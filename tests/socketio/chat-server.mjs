// The socketio_chat example as the Node tests start it: on a free port (or the address
// given), logging at info; resolves once it listens.
import { before, after } from "node:test";
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const binary = process.env.SOCKETIO_CHAT || join(root, "target", "debug", "examples", "socketio_chat");

/** Starts the example with `args` after the address and `env` added; resolves once it
 * listens. `log()` is what it has printed, `stop(signal)` ends it. */
export function startServer(addr = "127.0.0.1:0", env = {}, args = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, [addr, ...args], {
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

/** One server for every test of a file: `start()` runs before them; after them the
 * sockets in `clients` are disconnected and the server stopped. Its `url` and `log()`
 * once started. */
export function serveTheseTests(start, clients) {
  let server;
  before(async () => {
    server = await start();
  });
  after(async () => {
    for (const socket of clients) socket.disconnect();
    await server?.stop();
  });
  return {
    get url() {
      return server.url;
    },
    log: () => server.log(),
  };
}

/** The arguments of the next `event` on `emitter`, as its listeners get them. */
export function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}
