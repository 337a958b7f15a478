// The tutorial server on Node's socket.io, doing what examples/socketio_chat.rs does per
// connection and per message: ask `nickname?` with a 5 s ack, answer each `message` with
// "Reply to: <message>". `node server.mjs [PORT]` (0, the default, picks a free one);
// prints the address it listens on.
import { createServer } from "node:http";
import { Server } from "socket.io";

const http = createServer();
const io = new Server(http);
const names = new Map();

io.on("connection", (socket) => {
  names.set(socket.id, `guest-${names.size + 1}`);
  socket.timeout(5000).emit("nickname?", (err, nick) => {
    if (!err && typeof nick === "string" && nick.trim()) names.set(socket.id, nick.trim());
  });
  socket.on("message", (msg) => {
    socket.emit("message", `Reply to: ${msg}`);
  });
  socket.on("disconnect", () => names.delete(socket.id));
});

http.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  const { address, port } = http.address();
  console.log(`socket.io (node ${process.version}) on http://${address}:${port}/`);
});
