// The socketio_chat example's page in headless Chromium, with the official browser client
// served by the example from this directory's node_modules: a message typed and sent with
// socket.send gets its "Reply to: ..." back, over http and ws://, then over https and wss://
// (the example with --tls). The tests start and stop the servers themselves.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { root, startExample, launchChromium } from "./helpers.mjs";

const clientDir = join(root, "tests", "browser", "node_modules", "socket.io-client", "dist");
const servers = [];
let browser;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const server of servers) server.kill("SIGTERM");
});

for (const [scheme, tls] of [["http", false], ["https", true]]) {
  test(`the tutorial page: a message sent gets its reply (${scheme})`, async () => {
    const { proc, base } = await startExample({
      example: "socketio_chat",
      tls,
      env: { SOCKETIO_CLIENT_DIR: clientDir },
      ready: /socket\.io chat on (https?:\/\/[\d.:]+)\//,
    });
    servers.push(proc);
    assert.ok(base.startsWith(`${scheme}://`), base);
    const page = await browser.newPage();
    // What the page's client opens: long-polling on the page's scheme, then ws:// or wss://.
    const polls = [];
    const sockets = [];
    page.on("request", (r) => r.url().includes("transport=polling") && polls.push(r.url()));
    page.on("websocket", (ws) => sockets.push(ws.url()));
    const script = page.waitForResponse((r) => r.url().endsWith("/socket.io/socket.io.js"));
    await page.goto(`${base}/`);
    const served = await script;
    assert.equal(served.status(), 200);
    assert.match(served.headers()["content-type"], /^application\/javascript/);
    await page.waitForSelector("body[data-ready='1']", { timeout: 10_000 });

    await page.fill("#input", "hello from chromium");
    await page.click("#send");
    await page
      .locator("#messages li", { hasText: "Reply to: hello from chromium" })
      .waitFor({ timeout: 10_000 });

    // The page's client upgrades from long-polling to WebSocket by itself; replies go on.
    await page.waitForFunction(() => socket.io.engine.transport.name === "websocket", null, {
      timeout: 10_000,
    });
    await page.fill("#input", "second");
    await page.click("#send");
    await page.locator("#messages li", { hasText: "Reply to: second" }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator("#messages li").count(), 2);

    assert.ok(polls.length > 0 && polls.every((url) => url.startsWith(`${scheme}://`)), polls.join());
    const ws = tls ? "wss" : "ws";
    assert.ok(sockets.length > 0 && sockets.every((url) => url.startsWith(`${ws}://`)), sockets.join());

    const screenshot = join(root, "target", "browser", tls ? "socketio_chat-tls.png" : "socketio_chat.png");
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
  });
}
