// Verified echo over the `ws` client: long-lived connections under a steady load, and churn
// (connections opened, a few messages echoed, closed cleanly or dropped). Every echo is
// checked byte for byte, for its type (text or binary) and its order.
import { WebSocket } from "./clients.mjs";
import * as payload from "./payload.mjs";
import { Late, pause, within } from "./time.mjs";

const MAX_IN_FLIGHT = 16;

/** One connection whose every echo is checked against what was sent, in order. */
class Verified {
  constructor(url, tally, bound) {
    this.tally = tally;
    this.bound = bound;
    this.url = url;
    this.pending = []; // { data, binary, at, stuck }
    this.ending = false; // the soak is closing it: its end is expected
    this.onDrained = null;
    this.ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: bound });
    this.ws.on("error", () => {}); // the close that follows says what matters
    this.ws.on("message", (data, isBinary) => this.answer(data, isBinary));
    this.closed = new Promise((resolve) =>
      this.ws.on("close", (code) => {
        this.lose();
        resolve(code);
      }),
    );
  }

  /** Resolves once the handshake is done; rejects if it fails or takes longer than the bound. */
  opened() {
    return new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("close", (code) => reject(new Error(`closed during the handshake (${code})`)));
    });
  }

  /** Sends a random message, text or binary, and remembers it for the echo. */
  send() {
    const binary = Math.random() < 0.5;
    const size = payload.size();
    const data = binary ? payload.binary(size) : Buffer.from(payload.text(size));
    this.pending.push({ data, binary, at: Date.now(), stuck: false });
    this.ws.send(data, { binary });
    this.tally.add("echo.sent");
  }

  answer(data, isBinary) {
    const head = this.pending.shift();
    if (!head) {
      this.tally.fail("unexpected answer", `${this.url}: an echo of nothing (${data.length} bytes)`);
      return;
    }
    if (head.binary !== isBinary || !head.data.equals(data)) {
      const what = (binary, n) => `${binary ? "binary" : "text"} ${n} B`;
      this.tally.fail(
        "corrupted",
        `${this.url}: sent ${what(head.binary, head.data.length)}, echoed ${what(isBinary, data.length)}`,
      );
    } else {
      this.tally.add("echo.verified");
      this.tally.add(isBinary ? "echo.verified.binary" : "echo.verified.text");
      this.tally.add("echo.bytes", data.length);
    }
    const rtt = Date.now() - head.at;
    if (rtt > this.tally.get("echo.max rtt ms")) this.tally.counts.set("echo.max rtt ms", rtt);
    if (this.pending.length === 0 && this.onDrained) this.onDrained();
  }

  /** Resolves once every message sent has been echoed (or the connection ended). */
  drained() {
    if (this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onDrained = resolve;
      this.closed.then(resolve);
    });
  }

  /** Reports the messages unanswered for longer than the bound (once each). */
  watch(now) {
    for (const message of this.pending) {
      if (!message.stuck && now - message.at > this.bound) {
        message.stuck = true;
        this.tally.fail("stuck", `${this.url}: no echo of ${message.data.length} B after ${now - message.at} ms`);
      }
    }
  }

  lose() {
    if (this.pending.length === 0) return;
    if (this.ending) {
      // Dropped with messages in flight on purpose (or given up on at the stop).
      this.tally.add("echo.not awaited (dropped in flight)", this.pending.length);
      this.pending = [];
      return;
    }
    this.tally.fail("lost", `${this.url}: closed with ${this.pending.length} messages unanswered`);
    this.tally.add("echo.lost", this.pending.length);
    this.pending = [];
  }
}

/** `conns` connections to `url`, each sending 1 to 4 messages every `intervalMs` (at most
 * MAX_IN_FLIGHT unanswered) until the soak stops; one that ends unexpectedly is reported
 * and replaced. */
export async function load(soak, url, conns, intervalMs) {
  await Promise.all(Array.from({ length: conns }, (_, i) => loadOne(soak, `${url}soak/load/${i}`, intervalMs)));
}

async function loadOne(soak, url, intervalMs) {
  while (!soak.stopping) {
    const conn = new Verified(url, soak.tally, soak.bound);
    const unwatch = soak.watch((now) => conn.watch(now));
    try {
      await within(conn.opened(), soak.bound, "handshake");
      soak.tally.add("echo.load connections");
      while (!soak.stopping && conn.ws.readyState === WebSocket.OPEN) {
        const burst = 1 + Math.floor(Math.random() * 4);
        for (let i = 0; i < burst && conn.pending.length < MAX_IN_FLIGHT; i++) conn.send();
        await pause(intervalMs, soak);
      }
      if (soak.stopping) {
        await within(conn.drained(), soak.bound, "echo of the last messages").catch((e) =>
          soak.tally.fail("stuck", `${url}: ${e.message}`),
        );
        conn.ending = true;
        conn.ws.close(1000);
        await within(conn.closed, soak.bound, "close").catch(() => conn.ws.terminate());
      } else {
        soak.tally.fail("unexpected close", `${url}: closed by the server (${await conn.closed})`);
      }
    } catch (e) {
      soak.tally.fail(e instanceof Late ? "stuck" : "unexpected close", `${url}: ${e.message}`);
      conn.ending = true;
      conn.ws.terminate();
      await pause(1000, soak);
    } finally {
      unwatch();
    }
  }
}

// How a churned connection ends, in turn.
const ENDINGS = ["clean close", "dropped", "dropped with a message in flight"];

/** `workers` loops, each opening a connection to `url`, echoing 1 to 3 messages, ending it
 * (a clean close answered with 1000, or dropped with or without a message in flight), then
 * resting `restMs`, until the soak stops. */
export async function churn(soak, url, workers, restMs) {
  await Promise.all(Array.from({ length: workers }, (_, w) => churnOne(soak, url, w, restMs)));
}

async function churnOne(soak, url, worker, restMs) {
  for (let n = 0; !soak.stopping; n++) {
    const path = `${url}soak/churn/${worker}/${n}`;
    const conn = new Verified(path, soak.tally, soak.bound);
    const unwatch = soak.watch((now) => conn.watch(now));
    const ending = ENDINGS[n % ENDINGS.length];
    try {
      await within(conn.opened(), soak.bound, "handshake");
      const messages = 1 + Math.floor(Math.random() * 3);
      for (let i = 0; i < messages; i++) conn.send();
      // The watch reports an echo later than the bound; this only stops waiting for it.
      await within(conn.drained(), soak.bound + 2000, "echo");
      if (conn.ws.readyState !== WebSocket.OPEN) throw new Error(`closed by the server (${await conn.closed})`);
      conn.ending = true;
      if (ending === "clean close") {
        conn.ws.close(1000, "churn");
        const code = await within(conn.closed, soak.bound, "close answer");
        if (code !== 1000) soak.tally.fail("unexpected answer", `${path}: close 1000 answered with ${code}`);
      } else {
        if (ending !== "dropped") conn.send();
        conn.ws.terminate();
      }
      soak.tally.add(`churn.${ending}`);
    } catch (e) {
      const reported = e instanceof Late && e.what === "echo";
      if (!reported) soak.tally.fail(e instanceof Late ? "stuck" : "unexpected close", `${path}: ${e.message}`);
      conn.ending = true;
      conn.ws.terminate();
    } finally {
      unwatch();
    }
    await pause(restMs, soak);
  }
}
