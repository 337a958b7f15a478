// Echo server on Node's `ws`, the comparison point for scripts/bench-peers.sh.
// `node echo.js [--tls CERT KEY] [--deflate] HOST:PORT`; no compression (the server default)
// unless `--deflate` (perMessageDeflate with ws's defaults: threshold 1 KiB, context
// takeover both ways), text stays text. With `--tls` it serves wss:// with that PEM
// certificate and key through Node's `https` server (OpenSSL), as the `ws` README shows
// for TLS.
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const tls = args.indexOf('--tls');
const files = tls >= 0 ? args.splice(tls, 3).slice(1) : null;
const deflate = args.indexOf('--deflate');
const perMessageDeflate = deflate >= 0 && args.splice(deflate, 1).length > 0;
if (files && files.length !== 2) {
  console.error('usage: node echo.js [--tls CERT KEY] [--deflate] HOST:PORT');
  process.exit(2);
}
const [host, port] = (args[0] || '127.0.0.1:8080').split(':');

let wss;
if (files) {
  const server = https.createServer({ cert: fs.readFileSync(files[0]), key: fs.readFileSync(files[1]) });
  wss = new WebSocketServer({ server, perMessageDeflate });
  server.listen(Number(port), host);
} else {
  wss = new WebSocketServer({ host, port: Number(port), perMessageDeflate });
}
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
