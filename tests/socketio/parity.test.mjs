// Parity: the official socket.io-client runs the same script against the reference server
// (npm socket.io, parity/reference.mjs) and against ours (examples/socketio_parity.rs), and
// each scenario expects the same observation from both (parity/harness.mjs runs them).
//
// To add a scenario: serve it on a namespace of its own in both servers, then add an entry
// to `scenarios` below: `run(r)` drives the clients through `r` (the same function is run
// against both servers), `expected` is what the reference shows. A scenario in which ours
// differs keeps running, marked `todo` with the difference.
import { parity, both } from "./parity/harness.mjs";


/** The arguments of the binary scenario's `bin`, as they come back (Buffers, over either
 * transport). */
const binArgs = [{ Buffer: "0001021efeff" }, { nested: { buf: { Buffer: "6869" } }, n: 1 }, "text", { Buffer: "" }];

/**
 * The scenarios. `run(r)` drives the clients (the same function for both servers);
 * `expected`: what the reference shows, per transport; `todo`: how ours differs, per
 * transport, while it does; `ours`: what ours shows where it differs on purpose (say why).
 */
const scenarios = [
  {
    name: "namespace auth refuses with connect_error: a message, and data",
    async run(r) {
      await r.client("no token", "/auth");
      await r.client("bad token", "/auth", { auth: { token: "bad" } });
      await r.client("ok", "/auth", { auth: { token: "ok", extra: [1, "two"] } });
      await r.until("ok", "event", "welcome");
    },
    expected: both({
      "no token": [["connect_error", "no token", "<undefined>"]],
      "bad token": [["connect_error", "not authorized", { code: 4001, reason: "bad token" }]],
      ok: [["connect"], ["event", "welcome", { token: "ok", extra: [1, "two"] }]],
    }),
  },
  {
    name: "a namespace the server does not have: connect_error Invalid namespace",
    async run(r) {
      await r.client("client", "/nope");
    },
    expected: both({ client: [["connect_error", "Invalid namespace", "<undefined>"]] }),
  },
  {
    name: "acks both ways: the client answers the server's question, the server answers the client",
    async run(r) {
      const s = await r.client("client", "/acks", {
        setup: (s) => s.on("question", (_q, ack) => ack("four", 4, Buffer.from([4]))),
      });
      await r.until("client", "event", "answered");
      await r.ack("client", s, "sum", 1, 2, 3);
      await r.ack("client", s, "nothing");
    },
    expected: both({
      client: [
        ["connect"],
        ["event", "question", "2+2?", "<ack>"],
        ["event", "answered", "four", 4, { Buffer: "04" }],
        ["ack", "sum", 6, "sum"],
        ["ack", "nothing"],
      ],
    }),
  },
  {
    // Order, not time: the late answer to q2 and the answer to q1 are sent only once q2's
    // timeout was heard, so a server that took the late answer shows `answered:q2` first.
    name: "an ack the client does not answer in time fails once; a late answer is ignored",
    async run(r) {
      const held = {};
      await r.client("client", "/ack-timeout", {
        setup: (s) => {
          s.on("q1", (_q, ack) => (held.q1 = ack));
          s.on("q2", (_q, ack) => (held.q2 = ack));
        },
      });
      await r.until("client", "event", "ack-error:q2");
      held.q2("late");
      held.q1("on time");
      await r.until("client", "event", "answered:q1");
    },
    expected: both({
      client: [
        ["connect"],
        ["event", "q1", "q1?", "<ack>"],
        ["event", "q2", "q2?", "<ack>"],
        ["event", "ack-error:q2", "operation has timed out"],
        ["event", "answered:q1", "on time"],
      ],
    }),
  },
  {
    name: "an ack pending when its client leaves",
    // Deliberate: ours fails the ack at once with AckError::Disconnected ('socket has been
    // disconnected'): the answer can no longer come, and the app learns it now rather than
    // at the timeout. The reference keeps its timer and fails it with 'operation has timed out'.
    ours: both({
      observer: [
        ["connect"],
        ["event", "left", "subject", "client namespace disconnect"],
        ["event", "ack-error", "socket has been disconnected"],
      ],
      subject: [["connect"], ["event", "question", "still there?", "<ack>"], ["disconnect", "io client disconnect"]],
    }),
    async run(r) {
      await r.client("observer", "/ack-disconnect", { auth: { run: r.id, observe: r.id } });
      const s = await r.client("subject", "/ack-disconnect", { auth: { run: r.id, name: "subject" } });
      await r.until("subject", "event", "question");
      s.disconnect();
      await r.until("observer", "event", "ack-error");
    },
    expected: both({
      observer: [
        ["connect"],
        ["event", "left", "subject", "client namespace disconnect"],
        ["event", "ack-error", "operation has timed out"],
      ],
      subject: [["connect"], ["event", "question", "still there?", "<ack>"], ["disconnect", "io client disconnect"]],
    }),
  },
  {
    name: "rooms: join and leave, broadcast to rooms with except, with and without the sender",
    async run(r) {
      const [R, Q] = [`${r.id}:r`, `${r.id}:quiet`];
      const auth = { run: r.id };
      const s = {};
      for (const name of ["a", "b", "c", "d"]) s[name] = await r.client(name, "/rooms", { auth });
      await r.ack("a", s.a, "join", R);
      await r.ack("b", s.b, "join", R);
      await r.ack("c", s.c, "join", R);
      await r.ack("c", s.c, "join", Q);
      await r.ack("d", s.d, "join", Q);
      await r.ack("a", s.a, "shout", { to: [R], except: [Q], text: "one", round: 1 });
      for (const name of ["b", "c", "d"]) await r.until(name, "event", "done", 1);
      await r.ack("b", s.b, "leave", R);
      await r.ack("a", s.a, "shout", { to: [R, Q], text: "two", round: 2 });
      for (const name of ["b", "c", "d"]) await r.until(name, "event", "done", 2);
    },
    expected: both({
      a: [
        ["connect"],
        ["ack", "join", 1],
        ["event", "all", "one"],
        ["event", "done", 1],
        ["ack", "shout", "sent"],
        ["event", "all", "two"],
        ["event", "done", 2],
        ["ack", "shout", "sent"],
      ],
      b: [
        ["connect"],
        ["ack", "join", 2],
        ["event", "shout", "one"],
        ["event", "all", "one"],
        ["event", "done", 1],
        ["ack", "leave", 2],
        ["event", "done", 2],
      ],
      c: [
        ["connect"],
        ["ack", "join", 3],
        ["ack", "join", 1],
        ["event", "done", 1],
        ["event", "shout", "two"],
        ["event", "all", "two"],
        ["event", "done", 2],
      ],
      d: [
        ["connect"],
        ["ack", "join", 2],
        ["event", "done", 1],
        ["event", "shout", "two"],
        ["event", "all", "two"],
        ["event", "done", 2],
      ],
    }),
  },
  {
    name: "the server disconnects a socket: io server disconnect",
    async run(r) {
      await r.client("observer", "/disconnect", { auth: { run: r.id, observe: r.id } });
      const s = await r.client("subject", "/disconnect", { auth: { run: r.id, name: "subject" } });
      s.emit("kick", false);
      await r.until("observer", "event", "left", "subject");
      await r.until("subject", "disconnect");
    },
    expected: both({
      observer: [["connect"], ["event", "left", "subject", "server namespace disconnect"]],
      subject: [["connect"], ["disconnect", "io server disconnect"]],
    }),
  },
  {
    name: "the server disconnects a socket and closes its connection: every namespace hears it",
    async run(r) {
      await r.client("observer", "/disconnect", { auth: { run: r.id, observe: r.id } });
      const s = await r.client("subject", "/disconnect", { auth: { run: r.id, name: "subject" } });
      await r.client("subject on /", "/", { via: s });
      s.emit("kick", true);
      await r.until("observer", "event", "left", "subject");
      await r.until("subject", "disconnect");
      await r.until("subject on /", "disconnect");
    },
    expected: both({
      observer: [["connect"], ["event", "left", "subject", "server namespace disconnect"]],
      subject: [["connect"], ["disconnect", "io server disconnect"]],
      "subject on /": [["connect"], ["disconnect", "io server disconnect"]],
    }),
  },
  {
    name: "the client leaves: the server's reasons",
    async run(r) {
      await r.client("observer", "/disconnect", { auth: { run: r.id, observe: r.id } });
      const leaves = await r.client("leaves", "/disconnect", { auth: { run: r.id, name: "leaves" } });
      leaves.disconnect();
      await r.until("observer", "event", "left", "leaves");
      const closes = await r.client("closes", "/disconnect", { auth: { run: r.id, name: "closes" } });
      closes.io.engine.close();
      await r.until("observer", "event", "left", "closes");
    },
    expected: both({
      observer: [
        ["connect"],
        ["event", "left", "leaves", "client namespace disconnect"],
        ["event", "left", "closes", "transport close"],
      ],
      leaves: [["connect"], ["disconnect", "io client disconnect"]],
      closes: [["connect"], ["disconnect", "forced close"]],
    }),
  },
  {
    name: "binary payloads round-trip: events and acks, nested and empty buffers",
    async run(r) {
      const s = await r.client("client", "/binary");
      const nested = { nested: { buf: Buffer.from("hi") }, n: 1 };
      const bytes = Buffer.from([0, 1, 2, 0x1e, 0xfe, 0xff]);
      await r.ack("client", s, "bin", bytes, nested, "text", Buffer.alloc(0));
      await r.until("client", "event", "made");
    },
    expected: both({
      client: [
        ["connect"],
        ["event", "bin-back", ...binArgs],
        ["ack", "bin", ...binArgs],
        ["event", "made", "made", { Buffer: "010203" }],
      ],
    }),
  },
  {
    name: "the server side: a broadcast with acks (all answer; one does not), fetchSockets, socketsJoin",
    async run(r) {
      // Each client answers `poll` with its name, but `mute`.
      const join = (name, mute) =>
        r.client(name, "/bcast", {
          auth: { run: r.id, name },
          setup: (s) => s.on("poll", (_q, ack) => mute || ack(name)),
        });
      const a = await join("a");
      await join("b");
      a.emit("ask");
      await r.until("a", "event", "result", null);
      await r.ack("a", a, "who");
      const c = await join("c", true);
      a.emit("ask");
      await r.until("a", "event", "result", "operation has timed out");
      await r.ack("a", a, "who");
      a.emit("move", "moved", c.id);
      await r.until("a", "event", "moved");
      await r.until("b", "event", "moved");
    },
    expected: both({
      a: [
        ["connect"],
        ["event", "poll", "yes?", "<ack>"],
        ["event", "result", null, ["a", "b"]],
        ["ack", "who", ["a", "b"]],
        ["event", "poll", "yes?", "<ack>"],
        ["event", "result", "operation has timed out", ["a", "b"]],
        ["ack", "who", ["a", "b", "c"]],
        ["event", "moved", "moved"],
      ],
      b: [
        ["connect"],
        ["event", "poll", "yes?", "<ack>"],
        ["event", "poll", "yes?", "<ack>"],
        ["event", "moved", "moved"],
      ],
      c: [["connect"], ["event", "poll", "yes?", "<ack>"]],
    }),
  },
];

parity(scenarios);
