// The socketio_chat example's page in headless Chromium, with the official browser client
// served by the example from this directory's node_modules: a message typed and sent with
// socket.send gets its "Reply to: ..." back. The test starts and stops the server itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { root, startExample, launchChromium } from "./helpers.mjs";

const screenshot = join(root, "target", "browser", "socketio_chat.png");
const clientDir = join(root, "tests", "browser", "node_modules", "socket.io-client", "dist");
let server;
let browser;
let base;

before(async () => {
  ({ proc: server, base } = await startExample({
    example: "socketio_chat",
    features: ["socketio"],
    env: { SOCKETIO_CLIENT_DIR: clientDir },
    ready: /socket\.io chat on (http:\/\/[\d.:]+)\//,
  }));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

test("the tutorial page: a message sent gets its reply", async () => {
  const page = await browser.newPage();
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

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot });
});
