// What the soak sends: sizes from nothing to 64 KiB, text that is valid UTF-8 with every
// width of character (and JSON's escapes, for Socket.IO), random bytes for binary.
import { randomBytes, randomInt } from "node:crypto";

/** The largest payload the soak sends, in bytes. */
export const MAX_SIZE = 64 * 1024;

// The lengths at which a WebSocket frame header changes shape (RFC 6455 §5.2: 7-bit, 16-bit,
// 64-bit length), and the ends of the range: sent one time in ten.
const EDGES = [0, 1, 2, 125, 126, 127, 65535, MAX_SIZE];

// 1 to 4 bytes each in UTF-8, plus characters JSON has to escape.
const ALPHABET = [..."abcdefghijklmnopqrstuvwxyz0123456789 ", "é", "ж", "中", "€", "😀", "\n", "\t", '"', "\\"];

/** A size in bytes: an edge one time in ten, else log-uniform in 1..MAX_SIZE, so small
 * messages are as common as large ones. */
export function size() {
  if (randomInt(10) === 0) return EDGES[randomInt(EDGES.length)];
  return Math.min(MAX_SIZE, Math.floor(Math.exp(Math.random() * Math.log(MAX_SIZE + 1))));
}

/** Random text of about `bytes` bytes of UTF-8 (at most 3 more). */
export function text(bytes) {
  const parts = [];
  let length = 0;
  while (length < bytes) {
    const c = ALPHABET[randomInt(ALPHABET.length)];
    parts.push(c);
    length += Buffer.byteLength(c);
  }
  return parts.join("");
}

/** `bytes` random bytes. */
export function binary(bytes) {
  return randomBytes(bytes);
}
