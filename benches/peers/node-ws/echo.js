// Echo server on Node's `ws`, the comparison point for scripts/bench-peers.sh.
// `node echo.js [--tls CERT KEY] HOST:PORT`; no compression (the server default), text
// stays text. With `--tls` it serves wss:// with that PEM certificate and key through
// Node's `https` server (OpenSSL), as the `ws` README shows for TLS.
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const tls = args.indexOf('--tls');
const files = tls >= 0 ? args.splice(tls, 3).slice(1) : null;
if (files && files.length !== 2) {
  console.error('usage: node echo.js [--tls CERT KEY] HOST:PORT');
  process.exit(2);
}
const [host, port] = (args[0] || '127.0.0.1:8080').split(':');

let wss;
if (files) {
  const server = https.createServer({ cert: fs.readFileSync(files[0]), key: fs.readFileSync(files[1]) });
  wss = new WebSocketServer({ server, perMessageDeflate: false });
  server.listen(Number(port), host);
} else {
  wss = new WebSocketServer({ host, port: Number(port), perMessageDeflate: false });
}
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
