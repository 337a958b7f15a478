// The soak's counters and failures. Every failure is printed as it happens (the first few of
// each kind; the rest are counted), so a broken server shows at once, not only in the report.

/** How a failure is named in the report; any of them fails the soak. */
export const FAILURES = [
  "lost", // sent, and its connection ended before the answer came
  "corrupted", // an answer that is not what was sent (bytes, type, order)
  "stuck", // no answer within the bound
  "unexpected answer", // a close code, status, reason or event other than the expected one
  "unexpected close", // a connection the soak did not end, ended
  "server died",
  "driver error", // an exception in the driver itself
  "rss growth",
  "fd leak",
];

const PRINTED_PER_KIND = 10;

export class Tally {
  constructor() {
    this.counts = new Map();
    this.failures = new Map(FAILURES.map((kind) => [kind, 0]));
    this.started = Date.now();
  }

  /** Adds `n` to the counter `name`. */
  add(name, n = 1) {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  get(name) {
    return this.counts.get(name) ?? 0;
  }

  /** Records a failure of `kind` (one of FAILURES) and prints it. */
  fail(kind, detail) {
    if (!this.failures.has(kind)) throw new Error(`unknown failure kind ${kind}`);
    const seen = this.failures.get(kind) + 1;
    this.failures.set(kind, seen);
    if (seen <= PRINTED_PER_KIND) {
      const at = ((Date.now() - this.started) / 1000).toFixed(1);
      console.error(`soak: FAIL at ${at} s: ${kind}: ${detail}`);
      if (seen === PRINTED_PER_KIND) console.error(`soak: (further "${kind}" failures are only counted)`);
    }
  }

  /** The number of failures of every kind. */
  failed() {
    let n = 0;
    for (const count of this.failures.values()) n += count;
    return n;
  }
}
