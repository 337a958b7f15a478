// What the browser tests share: one Chromium setup (Debian's chromium driven by
// playwright-core), and starting an example on a free port, over http or https.
import { spawn, execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// The committed test-only certificate (tests/tls/README.md), for 127.0.0.1 among others.
const cert = join(root, "tests", "tls", "cert.pem");
const key = join(root, "tests", "tls", "key.pem");

/** Builds and starts an example on 127.0.0.1:0, with `--tls` when `tls` and then `args`; resolves with the
 * server process and the address its log line matching `ready` names. Every example is
 * built with the same features (one binary serves both schemes), so test files running in
 * parallel never rebuild one another's binary with other features. */
export function startExample({ example, tls = false, args: extra = [], env = {}, ready }) {
  execFileSync("cargo", ["build", "--quiet", "--features", "socketio,tls", "--example", example], {
    cwd: root,
    stdio: "inherit",
  });
  const args = ["127.0.0.1:0", ...(tls ? ["--tls", cert, key] : []), ...extra];
  return new Promise((resolve, reject) => {
    const proc = spawn(join(root, "target", "debug", "examples", example), args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    // A log line that never matches (the example changed its wording) fails the test
    // instead of hanging CI.
    const timer = setTimeout(() => {
      proc.kill();
      reject(new Error(`${example} did not log ${ready} within 60 s: ${out}`));
    }, 60_000);
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, base: m[1] });
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${example} exited early (${code}): ${out}`));
    });
  });
}

/** The base64 SHA-256 of the test certificate's public key (its SubjectPublicKeyInfo), the
 * form Chromium's --ignore-certificate-errors-spki-list takes. */
function testKeyPin() {
  const spki = new X509Certificate(readFileSync(cert)).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

/** Headless Chromium on a fresh profile (a persistent context is Playwright's form of
 * --user-data-dir). Over https it accepts the test certificate by its key's pin and no other
 * certificate error: narrower than --ignore-certificate-errors, and with no CA to install in
 * an NSS database. (Chain and name checks against tests/tls/ca.pem are the Node client's
 * part, tests/socketio/tls.test.mjs.) The pin is honoured only with --user-data-dir, which
 * the persistent context passes. */
export function launchChromium() {
  const profile = mkdtempSync(join(tmpdir(), "wsreactor-chromium-"));
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      `--ignore-certificate-errors-spki-list=${testKeyPin()}`,
    ],
  });
}
