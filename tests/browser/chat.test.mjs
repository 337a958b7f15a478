// Two Chromium pages chat through the chat example: both join a room, a message typed in
// one appears in the other; over http and ws://, then over https and wss:// (the example
// with --tls). And a page served over https opens wss:// to the echo example, and a page
// echoes compressed messages through the echo example with --deflate (Chromium always
// offers permessage-deflate). The tests build, start and stop the servers themselves.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { root, startExample, launchChromium } from "./helpers.mjs";

const servers = [];
let browser; // a persistent BrowserContext

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const server of servers) server.kill("SIGTERM");
});

/** Starts the chat example (with --tls when `tls`); resolves with its page's address. */
async function startChat(tls) {
  const { proc, base } = await startExample({
    example: "chat",
    tls,
    ready: /chat on (https?:\/\/[\d.:]+)\//,
  });
  servers.push(proc);
  return base;
}

async function openChat(base) {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector("body[data-ready='1']");
  return page;
}

async function say(page, text) {
  await page.fill("#input", text);
  await page.click("#send");
}

function logLine(page, text) {
  return page.locator("#log li", { hasText: text }).first().waitFor({ timeout: 10_000 });
}

for (const [scheme, tls] of [["http", false], ["https", true]]) {
  test(`two pages in the same room see each other's messages (${scheme})`, async () => {
    const base = await startChat(tls);
    assert.ok(base.startsWith(`${scheme}://`), base);
    const alice = await openChat(base);
    const bob = await openChat(base);
    await say(alice, "/nick alice");
    await logLine(alice, "* you are now alice");
    await say(bob, "/nick bob");
    await logLine(bob, "* you are now bob");

    await say(alice, "/join garden");
    await logLine(alice, "* you are in garden");
    await say(bob, "/join garden");
    await logLine(bob, "* you are in garden");
    await logLine(alice, "* bob joined garden");

    await say(alice, "hello from alice");
    await logLine(bob, "alice: hello from alice");
    await say(bob, "hi alice");
    await logLine(alice, "bob: hi alice");

    // the sender sees its own line once, marked as its own
    assert.equal(await alice.locator("#log li.me").count(), 1);

    await bob.close();
    await logLine(alice, "* bob left garden");

    const screenshot = join(root, "target", "browser", tls ? "chat-tls.png" : "chat.png");
    mkdirSync(dirname(screenshot), { recursive: true });
    await alice.screenshot({ path: screenshot });
  });
}

test("a page served over https opens wss:// to the echo example: text and binary come back", async () => {
  const base = await startChat(true);
  const { proc, base: echo } = await startExample({
    example: "echo",
    tls: true,
    ready: /echo server listening on (wss:\/\/[\d.:]+)/,
  });
  servers.push(proc);
  const page = await openChat(base);
  const echoed = await page.evaluate(
    (url) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.binaryType = "arraybuffer";
        const got = [];
        ws.onopen = () => {
          ws.send("hello over wss");
          ws.send(new Uint8Array([0, 1, 0xfe, 0xff]));
        };
        ws.onmessage = (e) => {
          got.push(typeof e.data === "string" ? e.data : Array.from(new Uint8Array(e.data)));
          if (got.length === 2) {
            ws.close();
            resolve({ got, secure: window.isSecureContext });
          }
        };
        ws.onerror = () => reject(new Error(`cannot open ${url}`));
      }),
    echo,
  );
  assert.deepEqual(echoed, { got: ["hello over wss", [0, 1, 0xfe, 0xff]], secure: true });
});

test("Chromium negotiates permessage-deflate with the echo example (--deflate): text and binary come back", async () => {
  const { proc, base: echo } = await startExample({
    example: "echo",
    args: ["--deflate"],
    ready: /echo server listening on (ws:\/\/[\d.:]+)/,
  });
  servers.push(proc);
  const page = await browser.newPage();
  // Above the server's 1 KiB threshold, so its answers go compressed; Chromium compresses
  // what it sends whatever the size.
  const text = "a line of a chat log, much like the one before it; ".repeat(400);
  const echoed = await page.evaluate(
    ({ url, text }) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.binaryType = "arraybuffer";
        const binary = Uint8Array.from({ length: 10_000 }, (_, i) => i % 7);
        const got = [];
        ws.onopen = () => {
          ws.send(text);
          ws.send(binary);
          ws.send("short");
        };
        ws.onmessage = (e) => {
          got.push(e.data);
          if (got.length === 3) {
            const back = new Uint8Array(got[1]);
            const same = back.length === binary.length && back.every((b, i) => b === binary[i]);
            ws.close();
            resolve({ extensions: ws.extensions, text: got[0] === text, binary: same, short: got[2] });
          }
        };
        ws.onerror = () => reject(new Error(`cannot open ${url}`));
      }),
    { url: echo, text },
  );
  await page.close();
  assert.match(echoed.extensions, /^permessage-deflate/);
  assert.deepEqual(
    { text: echoed.text, binary: echoed.binary, short: echoed.short },
    { text: true, binary: true, short: "short" },
  );
});
