// The Node twin of examples/socketio_cluster.rs: socket.io 4.8 with @socket.io/redis-adapter
// 8 on `redis` (`broadcast`, `broadcast_except`, `count`, `ask_all`, `ask_others`, and `ping`
// from other nodes, as there). `node node-server.mjs PORT` (0: any free port), Redis at WSREACTOR_REDIS.
// Prints its URL once the adapter's subscriptions are in place.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createClient } from "redis";
import { createAdapter } from "@socket.io/redis-adapter";

const port = Number(process.argv[2] ?? process.env.WSREACTOR_ADDR?.split(":").pop() ?? 3000);
const url = process.env.WSREACTOR_REDIS ?? "redis://127.0.0.1:6379";
const pub = createClient({ url });
const sub = pub.duplicate();
// The adapter publishes without catching: with Redis gone, a publish that finds the socket
// ended rejects, and an unhandled rejection would end the process (Node 15+). A node
// carries on without Redis, as ours does.
process.on("unhandledRejection", (e) => console.error("unhandled", e?.message ?? e));
pub.on("error", (e) => console.error("redis", e.message));
sub.on("error", (e) => console.error("redis", e.message));
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http);
io.adapter(createAdapter(pub, sub));
// Every node answers `ping` from another node with its own address.
io.of("/").on("ping", (cb) => cb(`http://127.0.0.1:${http.address().port}/`));
io.on("connection", (socket) => {
  socket.join("all");
  if (socket.handshake.auth?.quiet === true) socket.join("quiet");
  socket.on("broadcast", (...args) => io.to("all").emit("broadcast", ...args));
  socket.on("broadcast_except", (...args) => io.to("all").except("quiet").emit("broadcast", ...args));
  socket.on("count", async (cb) => cb((await io.fetchSockets()).length));
  socket.on("ask_all", async () => {
    let answers;
    try {
      answers = await io.to("all").timeout(5000).emitWithAck("question");
    } catch (err) {
      answers = [];
    }
    socket.emit("answers", answers);
  });
  // After a timeout: the replies that came.
  socket.on("ask_others", (cb) => io.serverSideEmit("ping", (err, replies) => cb(replies)));
});
// The adapter subscribes without waiting; a PING on the subscriber connection is answered
// after its (p)subscribe commands, so once it returns they are in place.
await sub.ping();
http.listen(port, "127.0.0.1", () => console.log(`socket.io cluster node on http://127.0.0.1:${http.address().port}/`));
