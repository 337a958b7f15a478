// The client libraries the soak drives, as tests/socketio pins them (package.json and
// package-lock.json there; soak.sh installs them): `ws` and socket.io-client.
import { createRequire } from "node:module";

const require = createRequire(new URL("../../tests/socketio/package.json", import.meta.url));

export const { WebSocket } = require("ws");
export const { io } = require("socket.io-client");
