// Two Chromium pages chat through the chat example: both join a room, a message typed in
// one appears in the other. The test builds, starts and stops the server itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { root, startExample, launchChromium } from "./helpers.mjs";

const screenshot = join(root, "target", "browser", "chat.png");
let server;
let browser; // a persistent BrowserContext
let base;

before(async () => {
  ({ proc: server, base } = await startExample({
    example: "chat",
    ready: /chat on (http:\/\/[\d.:]+)\//,
  }));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

async function openChat() {
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

test("two pages in the same room see each other's messages", async () => {
  const alice = await openChat();
  const bob = await openChat();
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

  mkdirSync(dirname(screenshot), { recursive: true });
  await alice.screenshot({ path: screenshot });
});
