// Connection state recovery, in parity (parity/harness.mjs): the official client against the
// reference server and ours, both started with --recovery and serving the /recovery
// namespace (parity/reference.mjs says what it does). A subject connects through a TCP proxy
// (parity/proxy.mjs), an observer straight to the server; the test drops the subject's TCP
// connections, waits until the observer hears that the server noticed, has more events
// emitted while the subject is away, and reconnects it with `socket.connect()` (the client
// sends its pid and offset itself).
//
// What is recorded besides the harness's entries: at each connection, the client's
// `socket.recovered` and its id as a label (`id1`, `id2`: a new label for a new id); an
// event's offset as a label too (`o1`, `o2`...: the same offset, the same label), which
// socket.io-client takes from an event's last argument once it has a pid; `state`, what the
// server answers about the socket (its data, its rooms with its own as `<id>` and the
// scenario's as `<room>`, and whether the server restored it).
import { parity, both, Run, STALL_MS } from "./parity/harness.mjs";
import { proxy } from "./parity/proxy.mjs";

/** A run with proxies, labels for ids and offsets, and the recovery scenario's steps. */
class RecoveryRun extends Run {
  constructor(...args) {
    super(...args);
    /** The room the subjects join. */
    this.room = `${this.id}:room`;
    this.proxies = [];
    this.labels = {};
    /** The last offset each client received, as sent. */
    this.offsets = {};
  }

  /** A proxy in front of the server, closed with the run. */
  async proxy() {
    const p = await proxy(this.url);
    this.proxies.push(p);
    return p;
  }

  /** The auth of a subject called `name`. */
  subject(name) {
    return { run: this.id, name, room: this.room };
  }

  /** `value`'s label among `name`'s values of a kind: `${kind}1` for the first seen... */
  label(name, kind, value) {
    const seen = (this.labels[`${name}\0${kind}`] ??= new Map());
    if (!seen.has(value)) seen.set(value, `${kind}${seen.size + 1}`);
    return seen.get(value);
  }

  connected(name, socket) {
    this.note(name, "connect", { recovered: socket.recovered, id: this.label(name, "id", socket.id) });
  }

  event(name, socket, event, args) {
    const last = args.at(-1);
    // socket.io-client's rule for what it sends back as its offset.
    if (socket._pid && typeof last === "string") {
      this.offsets[name] = last;
      args = [...args.slice(0, -1), this.label(name, "o", last)];
    }
    super.event(name, socket, event, args);
  }

  /** Asks the server about `socket` (`state`) and records the answer. */
  async state(name, socket) {
    const answer = await new Promise((resolve) => socket.emit("state", resolve));
    const rooms = answer.rooms
      .map((room) => (room === socket.id ? "<id>" : room === this.room ? "<room>" : room))
      .sort();
    this.note(name, "state", { ...answer, rooms });
  }

  /** Connects `socket` again; resolves once it connected or was refused. */
  reconnect(name, socket) {
    const outcomes = () => this.seen[name].filter(([kind]) => kind === "connect" || kind === "connect_error").length;
    const before = outcomes();
    socket.connect();
    return this.wait(name, () => outcomes() > before, ["stalled", "reconnect"]);
  }

  /** Resolves with `promise`, a proxy's wait; past STALL_MS, `["stalled", what]` is
   * recorded for `name`, and the run goes on. */
  bounded(name, promise, what) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.seen[name].push(["stalled", what]);
        resolve();
      }, STALL_MS);
      promise.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Drops the subject's connections through `p`, and keeps the way down until the
   * observer hears that the server noticed. Over long-polling the server notices a
   * connection gone only while it holds a GET on it (otherwise only at the ping timeout),
   * so the drop waits for one.
   */
  async drop(p) {
    if (this.transport === "polling") await this.bounded("subject", p.held(), "held GET");
    p.drop();
    await this.until("observer", "event", "left", "subject");
    p.restore();
  }

  close() {
    super.close();
    for (const p of this.proxies) p.close();
  }
}

/** The observer and the subject (through a proxy, returned too). */
async function setup(r) {
  const p = await r.proxy();
  const observer = await r.client("observer", "/recovery", { auth: { run: r.id, observe: r.id } });
  const subject = await r.client("subject", "/recovery", { url: p.url, auth: r.subject("subject") });
  return { p, observer, subject };
}

/** `n` events from..to as the subject records them, with offset labels from `o<from>`
 * (one offset per event, in order). */
const n = (from, to, firstLabel = from) =>
  Array.from({ length: to - from + 1 }, (_, k) => ["event", "n", from + k, `o${firstLabel + k}`]);

/** What the subject's state answers. */
const state = (name, recovered) => ["state", { data: { name }, rooms: ["<id>", "<room>"], recovered }];

/** Disconnect reasons, per transport: the client's and the server's. */
const REASONS = {
  websocket: { client: "transport close", server: "transport close" },
  polling: { client: "transport error", server: "transport error" },
};

/** `expected` per transport, from a function of the transport's reasons. */
const perTransport = (expected) =>
  Object.fromEntries(Object.entries(REASONS).map(([transport, reasons]) => [transport, expected(reasons)]));

/**
 * The subject drops out and misses n 3 and 4; a client `name` connects (not through the
 * proxy) with the pid and offset `forge(r, subject)` makes; then the subject comes back.
 */
const impostor = (name, forge) => async (r) => {
  const { p, observer, subject } = await setup(r);
  subject.emit("burst", 1, 2);
  await r.until("subject", "event", "n", 2);
  await r.drop(p);
  await r.ack("observer", observer, "more", r.room, 3, 2);
  const other = await r.client(name, "/recovery", { auth: { ...r.subject(name), ...forge(r, subject) } });
  await r.state(name, other);
  await r.reconnect("subject", subject);
  await r.state("subject", subject);
};

/** What the reference shows for `impostor(name, ...)`: a new session for `name`, the
 * subject's own back. */
const impostorExpected = (name) =>
  perTransport((reasons) => ({
    observer: [
      ["connect", { recovered: false, id: "id1" }],
      ["event", "emitted", 2, "o1"],
      ["event", "left", "subject", reasons.server, "o2"],
      ["ack", "more"],
    ],
    [name]: [["connect", { recovered: false, id: "id1" }], state(name, false)],
    subject: [
      ["connect", { recovered: false, id: "id1" }],
      ...n(1, 2),
      ["disconnect", reasons.client],
      ...n(3, 4),
      ["connect", { recovered: true, id: "id1" }],
      state("subject", true),
    ],
  }));

const scenarios = [
  {
    name: "the connection dropped mid-stream: recovered with its id, rooms and data; every event once, in order",
    async run(r) {
      const { p, observer, subject } = await setup(r);
      await r.state("subject", subject);
      subject.emit("burst", 1, 3);
      await r.until("subject", "event", "n", 3);
      if (r.transport === "websocket") {
        // What the server writes from now on is sent as it sees it, and never arrives. The
        // drop waits until all of it left the server: a write still under way when the
        // connection goes makes the server's reason "transport error".
        p.freeze();
        subject.emit("burst", 4, 3);
        await r.until("observer", "event", "emitted", 6);
        await r.bounded("subject", p.lost('"n",6'), "lost n 6");
      } else {
        // A held GET's response cannot be lost without the server noticing at the ping
        // timeout only: over long-polling, the events come before the drop.
        subject.emit("burst", 4, 3);
        await r.until("subject", "event", "n", 6);
      }
      await r.drop(p);
      await r.ack("observer", observer, "more", r.room, 7, 3);
      await r.reconnect("subject", subject);
      await r.state("subject", subject);
      subject.emit("burst", 10, 2);
      await r.until("subject", "event", "n", 11);
      await r.until("observer", "event", "emitted", 11);
    },
    expected: perTransport((reasons) => ({
      observer: [
        ["connect", { recovered: false, id: "id1" }],
        ["event", "emitted", 3, "o1"],
        ["event", "emitted", 6, "o2"],
        ["event", "left", "subject", reasons.server, "o3"],
        ["ack", "more"],
        ["event", "emitted", 11, "o4"],
      ],
      subject: [
        ["connect", { recovered: false, id: "id1" }],
        state("subject", false),
        ...n(1, 3),
        // Over WebSocket, 4 to 6 were lost on the way; over long-polling they came.
        ...(reasons === REASONS.websocket ? [] : n(4, 6)),
        ["disconnect", reasons.client],
        // What it missed comes before `connect`: the server sends it first.
        ...(reasons === REASONS.websocket ? n(4, 9) : n(7, 9)),
        ["connect", { recovered: true, id: "id1" }],
        state("subject", true),
        ...n(10, 11),
      ],
    })),
  },
  {
    name: "a client that never received an event has no offset: a new session",
    async run(r) {
      const { p, observer, subject } = await setup(r);
      await r.state("subject", subject);
      await r.drop(p);
      await r.ack("observer", observer, "more", r.room, 1, 2);
      await r.reconnect("subject", subject);
      await r.state("subject", subject);
      subject.emit("burst", 3, 2);
      await r.until("subject", "event", "n", 4);
      await r.until("observer", "event", "emitted", 4);
    },
    expected: perTransport((reasons) => ({
      observer: [
        ["connect", { recovered: false, id: "id1" }],
        ["event", "left", "subject", reasons.server, "o1"],
        ["ack", "more"],
        ["event", "emitted", 4, "o2"],
      ],
      subject: [
        ["connect", { recovered: false, id: "id1" }],
        state("subject", false),
        ["disconnect", reasons.client],
        ["connect", { recovered: false, id: "id2" }],
        state("subject", false),
        ...n(3, 4, 1),
      ],
    })),
  },
  {
    name: "an unknown pid: a new session; the session stays for its owner",
    run: impostor("unknown pid", (r) => ({ pid: "forged", offset: r.offsets.subject })),
    expected: impostorExpected("unknown pid"),
  },
  {
    name: "a known pid with an unknown offset: a new session; the session stays for its owner",
    // The pid the subject's client sends back: socket.io-client keeps it in `_pid`.
    run: impostor("unknown offset", (_r, subject) => ({ pid: subject._pid, offset: "forged" })),
    expected: impostorExpected("unknown offset"),
  },
];

parity(scenarios, { args: ["--recovery"], RunClass: RecoveryRun });
