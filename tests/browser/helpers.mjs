// What the browser tests share: one Chromium setup (Debian's chromium driven by
// playwright-core), and starting an example on a free port.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Builds and starts an example on 127.0.0.1:0; resolves with the server process and the
 * http:// address its log line matching `ready` names. */
export function startExample({ example, features = [], env = {}, ready }) {
  const featureArgs = features.length ? ["--features", features.join(",")] : [];
  execFileSync("cargo", ["build", "--quiet", ...featureArgs, "--example", example], {
    cwd: root,
    stdio: "inherit",
  });
  return new Promise((resolve, reject) => {
    const proc = spawn(join(root, "target", "debug", "examples", example), ["127.0.0.1:0"], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(ready);
      if (m) resolve({ proc, base: m[1] });
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => reject(new Error(`${example} exited early (${code}): ${out}`)));
  });
}

/** Headless Chromium on a fresh profile (a persistent context is Playwright's form of
 * --user-data-dir). */
export function launchChromium() {
  const profile = mkdtempSync(join(tmpdir(), "wsreactor-chromium-"));
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}
