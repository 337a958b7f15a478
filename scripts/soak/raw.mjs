// A WebSocket client by hand over a TCP socket, for what a well-behaved client library will
// not do: frames that break RFC 6455, requests that are not HTTP, and never reading.
import { connect } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { Late } from "./time.mjs";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; // RFC 6455 §1.3

/** A TCP connection to `host:port` whose input collects in `buffer`; `until(test, ms)`
 * waits for `test(buffer)` to hold and `ended()` for the peer's FIN or a reset. */
export class Raw {
  static open(host, port, ms) {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no TCP connection within ${ms} ms`));
      }, ms);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new Raw(socket));
      });
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.closed = false;
    this.error = null;
    this.waiters = new Set();
    socket.removeAllListeners("error");
    socket.on("data", (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on("error", (e) => {
      this.error = e;
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  wake() {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves with `test(buffer)`'s first truthy answer; rejects if the connection ends
   * first, or with `Late` if `ms` pass. */
  until(test, ms, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const answer = test(this.buffer);
        if (answer) finish(() => resolve(answer));
        else if (this.closed) finish(() => reject(new Error(`connection ended before ${what}`)));
      };
      const finish = (settle) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      const timer = setTimeout(() => finish(() => reject(new Late(what, ms))), ms);
      this.waiters.add(check);
      check();
    });
  }

  /** Resolves once the connection has ended (FIN or reset); rejects with `Late` after `ms`. */
  ended(ms) {
    return this.until(() => this.closed, ms, "end of the connection");
  }

  /** Sends the opening handshake for `path` and checks the 101 and its accept key; the
   * bytes after the response stay in `buffer`. */
  async upgrade(host, port, path, ms) {
    const key = randomBytes(16).toString("base64");
    this.socket.write(request(host, port, path, { "Sec-WebSocket-Key": key }));
    const end = await this.until((b) => b.indexOf("\r\n\r\n") + 1, ms, "upgrade response");
    const head = this.buffer.subarray(0, end - 1).toString("latin1");
    this.buffer = this.buffer.subarray(end + 3);
    const accept = createHash("sha1").update(key + GUID).digest("base64");
    if (!head.startsWith("HTTP/1.1 101 ") || !head.includes(`\r\nSec-WebSocket-Accept: ${accept}`)) {
      throw new Error(`upgrade refused: ${head.split("\r\n")[0]}`);
    }
  }

  destroy() {
    this.socket.destroy();
  }
}

/** An upgrade request for `path`, with `headers` added to (or replacing) the usual ones;
 * a header given as null is left out. */
export function request(host, port, path, headers = {}) {
  const all = {
    Host: `${host}:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Version": "13",
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, value]) => value !== null)
    .map(([name, value]) => `${name}: ${value}\r\n`);
  return `GET ${path} HTTP/1.1\r\n${lines.join("")}\r\n`;
}

/** A client frame (RFC 6455 §5.2). `length` announces another payload length than the
 * payload's (the payload is then cut or left out: only the header matters); `mask: false`
 * sends it unmasked, which a client must not; `rsv` sets the reserved bits (0x70). */
export function frame({ opcode, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = true, length }) {
  const announced = length ?? payload.length;
  const head = [(fin ? 0x80 : 0) | rsv | opcode];
  const maskBit = mask ? 0x80 : 0;
  let extended = Buffer.alloc(0);
  if (announced < 126) {
    head.push(maskBit | announced);
  } else if (announced < 65536) {
    head.push(maskBit | 126);
    extended = Buffer.alloc(2);
    extended.writeUInt16BE(announced);
  } else {
    head.push(maskBit | 127);
    extended = Buffer.alloc(8);
    extended.writeBigUInt64BE(BigInt(announced));
  }
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(payload.subarray(0, announced));
  if (mask) for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), extended, key, body]);
}

/** The first whole server frame in `buffer` as `{ opcode, payload, size }` (size: its bytes
 * on the wire), or null while it is incomplete. Server frames are unmasked. */
export function parseFrame(buffer) {
  if (buffer.length < 2) return null;
  let length = buffer[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return null;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return null;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  if (buffer.length < offset + length) return null;
  return { opcode: buffer[0] & 0x0f, payload: buffer.subarray(offset, offset + length), size: offset + length };
}
