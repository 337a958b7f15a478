// A TCP proxy (node:net) in front of a server, for the recovery tests (../recovery.test.mjs):
// what goes through it can be cut the way a network cuts it. `drop()` destroys every
// connection on both sides: no WebSocket close frame, no HTTP response, just the TCP
// connection gone; until `restore()`, new connections are cut at once too (what a client
// sends after noticing, an Engine.IO close packet, does not arrive). `freeze()` stops passing
// what the server sends, so what the server writes next is lost on the way (`lost()` waits
// for it). `held()` waits for a long-polling GET the server holds.
import { createServer, connect } from "node:net";

/**
 * Starts a proxy in front of `target` (an `http://host:port` URL); resolves with
 * `{ url, freeze, lost, held, drop, restore, close }` once it listens on a free port.
 */
export function proxy(target) {
  const { hostname, port } = new URL(target);
  /** Each connection through the proxy: its two sockets, and whether a GET it passed to the
   * server waits for its response. */
  const pairs = new Set();
  let frozen = false;
  /** What the server sent while frozen. */
  let swallowed = "";
  let down = false;
  let waiters = [];
  const wake = () => (waiters = waiters.filter((check) => !check()));
  /** Resolves once `check()` holds, checked after everything the proxy passes or swallows. */
  const until = (check) =>
    new Promise((done) => {
      if (check()) return done();
      waiters.push(() => check() && (done(), true));
    });

  const server = createServer((client) => {
    if (down) return client.destroy();
    const upstream = connect(Number(port), hostname);
    const pair = { client, upstream, getPending: false };
    pairs.add(pair);
    client.on("data", (chunk) => {
      // A client writes each request's head at once, so a GET starts a chunk. It is
      // pending once written out: what was written is read before the connection's end.
      const get = chunk.subarray(0, 4).toString() === "GET ";
      upstream.write(chunk, () => {
        if (get) pair.getPending = true;
        wake();
      });
    });
    upstream.on("data", (chunk) => {
      if (frozen) {
        swallowed += chunk.toString("latin1");
        return wake();
      }
      pair.getPending = false;
      client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("close", end);
      socket.on("error", end);
    }
  });

  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        /** From now on, what the server sends goes nowhere (until `drop()`). */
        freeze() {
          frozen = true;
        },
        /** Resolves once what the server sent while frozen contains `text`: it was
         * written out, and will not arrive. */
        lost(text) {
          return until(() => swallowed.includes(text));
        },
        /** Resolves once a GET passed to the server waits for its response: a long-polling
         * server holds it, so it sees that connection go when it is dropped. */
        held() {
          return until(() => [...pairs].some((p) => p.getPending));
        },
        /** Destroys every connection through the proxy, both sides, and new ones until
         * `restore()`. */
        drop() {
          down = true;
          for (const { client, upstream } of pairs) {
            client.destroy();
            upstream.destroy();
          }
          pairs.clear();
          frozen = false;
          swallowed = "";
        },
        /** Lets connections through again. */
        restore() {
          down = false;
        },
        /** Drops everything and stops listening. */
        close() {
          this.drop();
          server.close();
        },
      });
    });
  });
}
