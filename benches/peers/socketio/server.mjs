// The tutorial server on Node's socket.io, doing what examples/socketio_chat.rs does per
// connection and per message: connection state recovery on (2-minute window), a
// middleware that names the socket from `auth.name` (its id when absent) in `socket.data`,
// and each `message` answered with "Reply to: <message>". `node server.mjs [PORT]` (0, the
// default, picks a free one); prints the address it listens on.
import { createServer } from "node:http";
import { Server } from "socket.io";

const http = createServer();
const io = new Server(http, { connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 } });

io.use((socket, next) => {
  const name = typeof socket.handshake.auth.name === "string" ? socket.handshake.auth.name.trim() : "";
  socket.data.name = name ? name.slice(0, 32) : socket.id;
  next();
});

io.on("connection", (socket) => {
  socket.on("message", (msg) => {
    socket.emit("message", `Reply to: ${msg}`);
  });
});

http.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  const { address, port } = http.address();
  console.log(`socket.io (node ${process.version}) on http://${address}:${port}/`);
});
