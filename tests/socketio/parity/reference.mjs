// The reference server of the parity tests (../parity.test.mjs): npm socket.io (pinned in
// ../package.json) serving one namespace per scenario. examples/socketio_parity.rs is its
// counterpart on wsreactor; both must answer the same client script alike, so a change here
// needs the same change there (and the other way round).
//
// `node parity/reference.mjs [--recovery] PORT` (0: any free port) prints
// `parity server on http://127.0.0.1:PORT` once it listens. `--recovery` turns on connection
// state recovery (its defaults: 2 minutes, middlewares skipped), which is server-wide in
// socket.io: ../recovery.test.mjs runs a server of its own with it.
//
// Every scenario names its rooms after `auth.run` (one run per scenario, transport and
// server), so the sockets of an earlier run cannot reach a later one's. A client whose auth
// has `observe` joins that room: it hears what its scenario reports there.
import { createServer } from "node:http";
import { Server } from "socket.io";

const args = process.argv.slice(2);
const recovery = args.includes("--recovery");
const port = Number(args.filter((arg) => arg !== "--recovery")[0] ?? 0);
const httpServer = createServer();
const io = new Server(httpServer, recovery ? { connectionStateRecovery: {} } : {});

/** An ack callback that emits its outcome: `answered<suffix>` with the answer's arguments,
 * or `ack-error<suffix>` with the error's message. */
const outcome = (suffix, emit) => (err, ...args) =>
  err ? emit(`ack-error${suffix}`, err.message) : emit(`answered${suffix}`, ...args);

/** On connection: join the observers' room if asked to. */
function observe(socket) {
  const room = socket.handshake.auth.observe;
  if (typeof room === "string") socket.join(room);
}

// Refused without `token: "ok"`: a message, with data for a wrong token.
io.of("/auth")
  .use((socket, next) => {
    const { token } = socket.handshake.auth;
    if (token === "ok") return next();
    if (token === undefined) return next(new Error("no token"));
    const err = new Error("not authorized");
    err.data = { code: 4001, reason: "bad token" };
    next(err);
  })
  .on("connection", (socket) => socket.emit("welcome", socket.handshake.auth));

// Acks both ways: the server asks `question` (its answer comes back as `answered`); `sum`
// and `nothing` are answered by the server.
io.of("/acks").on("connection", (socket) => {
  socket.timeout(5000).emit("question", "2+2?", outcome("", (...a) => socket.emit(...a)));
  socket.on("sum", (...args) => {
    const ack = args.pop();
    ack(args.reduce((a, b) => a + b, 0), "sum");
  });
  socket.on("nothing", (ack) => ack());
});

// Two questions: `q1` may wait 10 s, `q2` only 200 ms. The outcome of each is emitted back
// (`answered:qN` or `ack-error:qN`), once.
io.of("/ack-timeout").on("connection", (socket) => {
  for (const [q, ms] of [["q1", 10_000], ["q2", 200]]) {
    socket.timeout(ms).emit(q, `${q}?`, outcome(`:${q}`, (...a) => socket.emit(...a)));
  }
});

// The server side of the API: each socket joins its run's room and keeps `auth.name` in its
// data. `ask` polls the run's room with an acknowledgement (300 ms) and tells the asker
// `result` (the error's message or null, the answers sorted); `who` answers the names of the
// run's sockets (fetchSockets, sorted); `move` makes every socket of the run but `except`
// join `to` (socketsJoin), then `to` hears `moved`.
io.of("/bcast").on("connection", (socket) => {
  const { run, name } = socket.handshake.auth;
  socket.data.name = name;
  socket.join(run);
  const nsp = io.of("/bcast");
  socket.on("ask", () => {
    nsp.to(run).timeout(300).emit("poll", "yes?", (err, responses) => {
      socket.emit("result", err ? err.message : null, [...responses].sort());
    });
  });
  socket.on("who", async (ack) => {
    const sockets = await nsp.in(run).fetchSockets();
    ack(sockets.map((s) => s.data.name).sort());
  });
  socket.on("move", (to, except) => {
    nsp.in(run).except(except).socketsJoin(to);
    nsp.to(to).emit("moved", to);
  });
});

// A question (200 ms) its client leaves without answering; the outcome goes to the
// observers, after `left`.
io.of("/ack-disconnect").on("connection", (socket) => {
  observe(socket);
  const { run, name } = socket.handshake.auth;
  if (name === undefined) return;
  const observers = io.of("/ack-disconnect").to(run);
  socket.on("disconnect", (reason) => observers.emit("left", name, reason));
  socket.timeout(200).emit("question", "still there?", outcome("", (...a) => observers.emit(...a)));
});

// Rooms: `join` and `leave` answer the room's size; `shout` ({ to, except, text }) goes to
// the rooms `to` but `except` without the sender (`shout`) and with it (`all`), then `done`
// (round) to the whole run.
io.of("/rooms").on("connection", (socket) => {
  const nsp = io.of("/rooms");
  const size = (room) => nsp.adapter.rooms.get(room)?.size ?? 0;
  socket.join(socket.handshake.auth.run);
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(size(room));
  });
  socket.on("leave", (room, ack) => {
    socket.leave(room);
    ack(size(room));
  });
  socket.on("shout", ({ to, except, text, round }, ack) => {
    let others = socket.to(to);
    let all = nsp.to(to);
    if (except) {
      others = others.except(except);
      all = all.except(except);
    }
    others.emit("shout", text);
    all.emit("all", text);
    nsp.to(socket.handshake.auth.run).emit("done", round);
    ack("sent");
  });
});

// Disconnects: `kick` (close) disconnects the sender; every socket's disconnect reason is
// told to the observers (`left`, name, reason).
io.of("/disconnect").on("connection", (socket) => {
  observe(socket);
  const { run, name } = socket.handshake.auth;
  if (name === undefined) return;
  socket.on("disconnect", (reason) => io.of("/disconnect").to(run).emit("left", name, reason));
  socket.on("kick", (close) => socket.disconnect(close));
});

// Binary: `bin` comes back as `bin-back` and as its ack, then `made` brings bytes the
// server made.
io.of("/binary").on("connection", (socket) => {
  socket.on("bin", (...args) => {
    const ack = args.pop();
    socket.emit("bin-back", ...args);
    ack(...args);
    socket.emit("made", "made", Buffer.from([1, 2, 3]));
  });
});

/** Emits `n` (i) for i in from..from+count from the server to `room`; with `socket`, the odd
 * ones come from the socket itself instead (`socket.emit`). */
function numbered(room, from, count, socket) {
  for (let i = from; i < from + count; i++) {
    (socket && i % 2 ? socket : io.of("/recovery").to(room)).emit("n", i);
  }
}

// Connection state recovery (run with --recovery). A subject (auth: run, name, room) joins
// `room` and keeps `name` in its data, unless its session was restored (then both come
// back). `burst` (from, count) emits numbered events to it, then tells the observers
// `emitted` (the last number); `state` answers its data, rooms and whether it was
// recovered; its disconnect reason is told to the observers (`left`, name, reason). An
// observer's `more` (room, from, count) emits numbered events to the room, then answers.
io.of("/recovery").on("connection", (socket) => {
  observe(socket);
  const { run, name, room } = socket.handshake.auth;
  socket.on("more", (room, from, count, ack) => {
    numbered(room, from, count);
    ack();
  });
  if (name === undefined) return;
  const observers = io.of("/recovery").to(run);
  if (!socket.recovered) {
    socket.join(room);
    socket.data.name = name;
  }
  socket.on("disconnect", (reason) => observers.emit("left", name, reason));
  socket.on("burst", (from, count) => {
    numbered(room, from, count, socket);
    observers.emit("emitted", from + count - 1);
  });
  socket.on("state", (ack) => ack({ data: socket.data, rooms: [...socket.rooms], recovered: socket.recovered }));
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`parity server on http://127.0.0.1:${httpServer.address().port}`);
});
