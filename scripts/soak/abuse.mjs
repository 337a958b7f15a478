// Clients the server must stand up to without the others noticing: slow readers (send, never
// read), and bad input (frames that break RFC 6455, requests that are not HTTP), each
// checked for the standard answer.
import { openSync, readSync, closeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { Raw, frame, parseFrame, request } from "./raw.mjs";
import { MAX_SIZE } from "./payload.mjs";
import { Late, pause } from "./time.mjs";

/** The echo server's log, read as it grows: what it says about connections to `/soak/slow/`
 * paths, the only ones whose server-side reason the soak checks. */
export class ServerLog {
  constructor(path) {
    this.path = path;
    this.offset = 0;
    this.partial = "";
    this.paths = new Map(); // connection id -> path, while open
    this.reasons = new Map(); // path -> the reason it was closed, as logged
  }

  read() {
    const fd = openSync(this.path, "r");
    try {
      const chunk = Buffer.alloc(64 * 1024);
      let n;
      while ((n = readSync(fd, chunk, 0, chunk.length, this.offset)) > 0) {
        this.offset += n;
        const lines = (this.partial + chunk.toString("utf8", 0, n)).split("\n");
        this.partial = lines.pop();
        for (const line of lines) this.line(line);
      }
    } finally {
      closeSync(fd);
    }
  }

  // The echo example's lines: "#ID connected from PEER to PATH", "#ID disconnected: WHY".
  line(line) {
    const opened = / (#\S+) connected from \S+ to (\/soak\/slow\/\S+)$/.exec(line);
    if (opened) this.paths.set(opened[1], opened[2]);
    const closed = / (#\S+) disconnected: (.*)$/.exec(line);
    if (closed && this.paths.has(closed[1])) {
      this.reasons.set(this.paths.get(closed[1]), closed[2]);
      this.paths.delete(closed[1]);
    }
  }

  /** Why the server says it closed the connection to `path`; waits up to `ms` for the line
   * (the log trails the socket), then null. Forgets it once told. */
  async reason(path, ms) {
    for (const until = Date.now() + ms; ; ) {
      this.read();
      const reason = this.reasons.get(path);
      if (reason !== undefined || Date.now() > until) {
        this.reasons.delete(path);
        return reason ?? null;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

// No drain for this long: the server has stopped reading the slow reader.
const STALL_MS = 5000;

/** Keeps `count` slow readers going until the soak stops. Each upgrades, then sends 64 KiB
 * binary messages as fast as the socket takes them and never reads, so the echoes pile up
 * in the server. The server must stop reading it (its writes stall) and then close it, by
 * its policy, within `closeBoundMs` of the stall: the echo example's queue stays above the
 * soft limit for its idle timeout (120 s), Close 1008 "peer is not reading", dropped after
 * the close timeout (5 s), which resets the unread socket. The server's log must give that
 * reason for the connection. */
export async function slowReaders(soak, host, port, count, closeBoundMs, log) {
  let n = 0;
  await Promise.all(
    Array.from({ length: count }, async () => {
      while (!soak.stopping) {
        await slowReader(soak, host, port, `/soak/slow/${n++}`, closeBoundMs, log);
        await pause(1000, soak);
      }
    }),
  );
}

async function slowReader(soak, host, port, path, closeBoundMs, log) {
  const { tally } = soak;
  let raw;
  try {
    raw = await Raw.open(host, port, soak.bound);
    await raw.upgrade(host, port, path, soak.bound);
  } catch (e) {
    tally.fail(e instanceof Late ? "stuck" : "unexpected answer", `slow reader ${path}: ${e.message}`);
    raw?.destroy();
    return;
  }
  const socket = raw.socket;
  socket.pause(); // never read: what the server sends stays in the kernel's buffers
  socket.removeAllListeners("data");
  const message = frame({ opcode: 2, payload: randomBytes(MAX_SIZE) }); // one, sent again and again
  let lastDrain = Date.now();
  let stalledAt = null;
  let closedAt = null;
  const pump = () => {
    while (!raw.closed && socket.write(message));
  };
  socket.on("drain", () => {
    lastDrain = Date.now();
    pump();
  });
  pump();
  tally.add("slow.started");
  const ended = await new Promise((resolve) => {
    let off = () => {};
    const finish = (closed) => {
      clearInterval(timer);
      off();
      socket.removeListener("close", onClose);
      resolve(closed);
    };
    const onClose = () => {
      closedAt = Date.now();
      finish(true);
    };
    const timer = setInterval(() => {
      const now = Date.now();
      if (stalledAt === null && now - lastDrain > STALL_MS) {
        stalledAt = now;
        tally.add("slow.stalled");
      }
      if (stalledAt !== null && now - stalledAt > closeBoundMs) {
        tally.fail("stuck", `slow reader ${path}: still open ${now - stalledAt} ms after its writes stalled`);
        finish(false);
      }
    }, 1000);
    socket.on("close", onClose);
    off = soak.onStop(() => finish(false));
    if (raw.closed) onClose();
  });
  raw.destroy();
  if (!ended) {
    if (soak.stopping) tally.add("slow.still open at the stop (within the bound)");
    return; // else reported stuck
  }
  if (stalledAt === null) {
    tally.fail("unexpected close", `slow reader ${path}: closed before its writes stalled (${raw.error?.code ?? "EOF"})`);
    return;
  }
  const reason = await log.reason(path, 10_000);
  if (reason === null || !/^1008 \(.*peer is not reading\)$/.test(reason)) {
    tally.fail("unexpected answer", `slow reader ${path}: the server logged ${reason ?? "nothing"}, not 1008 "peer is not reading"`);
    return;
  }
  tally.add("slow.closed by policy");
  const late = closedAt - stalledAt;
  if (late > tally.get("slow.max close after stall ms")) tally.counts.set("slow.max close after stall ms", late);
}

// Bad input and the standard answer to it: a Close code (RFC 6455 §7.4.1) for a bad frame
// after the upgrade, an HTTP status for a bad request.
const BAD = [
  { name: "unmasked frame", bytes: () => frame({ opcode: 1, payload: Buffer.from("hi"), mask: false }), close: 1002 },
  { name: "reserved opcode 0x3", bytes: () => frame({ opcode: 3, payload: Buffer.from("hi") }), close: 1002 },
  { name: "RSV1 without an extension", bytes: () => frame({ opcode: 1, rsv: 0x40, payload: Buffer.from("hi") }), close: 1002 },
  { name: "fragmented ping", bytes: () => frame({ opcode: 9, fin: false }), close: 1002 },
  { name: "invalid UTF-8 text", bytes: () => frame({ opcode: 1, payload: Buffer.from([0x68, 0x69, 0xc3, 0x28]) }), close: 1007 },
  // Over the echo example's 16 MiB limit; only the header is sent: the answer must not wait for the payload.
  { name: "32 MiB announced", bytes: () => frame({ opcode: 2, length: 32 << 20 }), close: 1009 },
  { name: "garbage instead of HTTP", http: () => Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), randomBytes(61)]), status: 400 },
  { name: "upgrade without Sec-WebSocket-Key", http: (h, p) => request(h, p, "/soak/bad", { "Sec-WebSocket-Key": null }), status: 400 },
  { name: "Sec-WebSocket-Version 8", http: (h, p) => request(h, p, "/soak/bad", { "Sec-WebSocket-Key": randomBytes(16).toString("base64"), "Sec-WebSocket-Version": "8" }), status: 426 },
];

/** Sends one bad input after another, every `intervalMs`, until the soak stops; each must
 * get its answer and then the end of the connection. */
export async function badInput(soak, host, port, intervalMs) {
  for (let n = 0; !soak.stopping; n++) {
    const bad = BAD[n % BAD.length];
    soak.tally.add("bad.sent");
    try {
      const answer = await answerTo(bad, host, port, soak.bound);
      const expected = bad.close ? `close ${bad.close}` : `HTTP ${bad.status}`;
      if (answer === expected) soak.tally.add("bad.answered as expected");
      else soak.tally.fail("unexpected answer", `${bad.name}: ${answer}, expected ${expected}`);
    } catch (e) {
      soak.tally.fail(e instanceof Late ? "stuck" : "unexpected answer", `${bad.name}: ${e.message}`);
    }
    await pause(intervalMs, soak);
  }
}

/** What the server answered to `bad` ("close CODE" or "HTTP STATUS"), once the connection
 * has also ended. */
async function answerTo(bad, host, port, bound) {
  const raw = await Raw.open(host, port, bound);
  try {
    let answer;
    if (bad.http) {
      raw.socket.write(bad.http(host, port));
      const line = await raw.until((b) => b.indexOf("\r\n") + 1, bound, "status line");
      answer = `HTTP ${/^HTTP\/1\.1 (\d{3}) /.exec(raw.buffer.subarray(0, line - 1).toString("latin1"))?.[1]}`;
    } else {
      await raw.upgrade(host, port, `/soak/bad/${bad.name.replaceAll(" ", "-")}`, bound);
      raw.socket.write(bad.bytes());
      const first = await raw.until(parseFrame, bound, "close frame");
      if (first.opcode !== 8) return `a frame with opcode ${first.opcode}`;
      answer = `close ${first.payload.length >= 2 ? first.payload.readUInt16BE(0) : "without a code"}`;
      raw.socket.write(frame({ opcode: 8, payload: first.payload.subarray(0, 2) })); // the closing handshake
    }
    await raw.ended(bound);
    return answer;
  } finally {
    raw.destroy();
  }
}
