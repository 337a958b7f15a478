// The soak's driver (scripts/soak.sh starts the servers and runs it): for SOAK_SECONDS it
// runs, side by side, verified echo load, connection churn, slow readers and bad input
// against the echo example, and socket.io-client on every transport against the
// socketio_chat example; it samples both servers' RSS, descriptors and CPU, and writes a
// report. Exit status 1 on any failure (see tally.mjs), 0 otherwise.
//
// Environment (soak.sh sets the first group):
//   SOAK_SECONDS, SOAK_ECHO (ws://IP:PORT/), SOAK_ECHO_PID, SOAK_ECHO_LOG (its log file),
//   SOAK_SIO (http://IP:PORT), SOAK_SIO_PID, SOAK_REPORT and SOAK_SAMPLES (output files);
//   SOAK_WARMUP_S: excluded from the memory comparison (default 120, at most 2/3 of the run);
//   SOAK_SAMPLE_S: seconds between samples (10);
//   SOAK_BOUND_MS: an answer later than this is stuck (30000);
//   SOAK_RSS_TOLERANCE_KIB: the RSS growth from the middle sample to the end one that still
//   passes, per server (1024).
import { writeFileSync, appendFileSync } from "node:fs";
import { Tally, FAILURES } from "./tally.mjs";
import { sample } from "./proc.mjs";
import * as echo from "./echo.mjs";
import * as abuse from "./abuse.mjs";
import * as socketio from "./socketio.mjs";

// The pace: correctness over time, not throughput. Together with both servers this stays
// well under half a core (the report says how much it used).
const LOAD_CONNS = 4; // long-lived verified echo connections
const LOAD_INTERVAL_MS = 250; // each sends 1 to 4 messages this often (about 40 messages/s in all)
const CHURN_WORKERS = 2; // each opens, echoes, ends a connection, then rests
const CHURN_REST_MS = 250;
const SLOW_READERS = 2; // at any time
const BAD_INTERVAL_MS = 1000; // one bad input a second, in turn
const SIO_KINDS = ["polling", "polling", "websocket", "websocket", "upgrade"];
const SIO_INTERVAL_MS = 200; // between acks, per client
const SIO_RECONNECT_EVERY = 60; // acks between reconnections, on average
// A slow reader is closed by the echo example's idle timeout (120 s) after the server's last
// read of it, plus the close timeout (5 s). The server's last read comes after the client's
// writes stall: the kernel keeps taking in a little of the echo for a while (about 10 s
// measured, the close coming 130 s after the stall). The rest is slack.
const SLOW_CLOSE_BOUND_MS = 180_000;

const env = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined || value === "") {
    if (fallback === undefined) throw new Error(`${name} is not set`);
    return fallback;
  }
  return value;
};
const seconds = Number(env("SOAK_SECONDS"));
const warmup = Number(env("SOAK_WARMUP_S", String(Math.min(120, Math.floor((seconds * 2) / 3)))));
const sampleEvery = Number(env("SOAK_SAMPLE_S", "10"));
const rssTolerance = Number(env("SOAK_RSS_TOLERANCE_KIB", "1024"));
const echoUrl = new URL(env("SOAK_ECHO"));
const servers = [
  { name: "echo", pid: env("SOAK_ECHO_PID") },
  { name: "socket.io", pid: env("SOAK_SIO_PID") },
];
const reportPath = env("SOAK_REPORT");
const samplesPath = env("SOAK_SAMPLES");

const tally = new Tally();
const stopHooks = new Set();
const watchers = new Set();
const soak = {
  tally,
  bound: Number(env("SOAK_BOUND_MS", "30000")),
  stopping: false,
  /** Calls `hook` when the soak stops (at once if it has); returns a function that
   * unregisters it. */
  onStop(hook) {
    if (this.stopping) {
      hook();
      return () => {};
    }
    stopHooks.add(hook);
    return () => stopHooks.delete(hook);
  },
  /** Calls `watcher(now)` every second, to find what is stuck; returns a function that
   * unregisters it. */
  watch(watcher) {
    watchers.add(watcher);
    return () => watchers.delete(watcher);
  },
};

process.on("uncaughtException", (e) => tally.fail("driver error", e.stack));
process.on("unhandledRejection", (e) => tally.fail("driver error", e?.stack ?? String(e)));

const t0 = Date.now();
const elapsed = () => (Date.now() - t0) / 1000;

/** Both servers now, with the time since the start; records a dead one. */
function snapshot() {
  const at = { t: elapsed() };
  for (const server of servers) {
    at[server.name] = sample(server.pid);
    if (at[server.name].alive) server.last = at[server.name];
    else if (!server.dead) {
      server.dead = true;
      tally.fail("server died", `the ${server.name} server (pid ${server.pid}) is gone`);
    }
  }
  return at;
}

const columns = ["t_s", ...servers.flatMap((s) => [`${s.name}_rss_kib`, `${s.name}_fds`, `${s.name}_cpu_s`])];
writeFileSync(samplesPath, `${columns.join(",")}\n`);
function record(at) {
  const cells = [at.t.toFixed(1), ...servers.flatMap((s) => [at[s.name].rssKib, at[s.name].fds, at[s.name].cpuS])];
  appendFileSync(samplesPath, `${cells.join(",")}\n`);
}

const before = snapshot();
const samples = [];
record(before);
const cpu0 = process.cpuUsage();

console.log(
  `soak: ${seconds} s against ${echoUrl} and ${env("SOAK_SIO")}; warm-up ${warmup} s, ` +
    `samples every ${sampleEvery} s to ${samplesPath}`,
);
const host = echoUrl.hostname;
const port = Number(echoUrl.port);
const log = new abuse.ServerLog(env("SOAK_ECHO_LOG"));
const work = Promise.all([
  echo.load(soak, echoUrl.href, LOAD_CONNS, LOAD_INTERVAL_MS),
  echo.churn(soak, echoUrl.href, CHURN_WORKERS, CHURN_REST_MS),
  abuse.slowReaders(soak, host, port, SLOW_READERS, SLOW_CLOSE_BOUND_MS, log),
  abuse.badInput(soak, host, port, BAD_INTERVAL_MS),
  socketio.clients(soak, env("SOAK_SIO"), SIO_KINDS, SIO_INTERVAL_MS, SIO_RECONNECT_EVERY),
]);

// Every second: what is stuck, and whether the servers still run (a dead one ends the soak
// at once: there is nothing more to learn).
let lastSample = 0;
let lastProgress = 0;
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const now = Date.now();
    for (const watcher of watchers) watcher(now);
    const at = snapshot();
    const t = at.t;
    if (t - lastSample >= sampleEvery || t >= seconds) {
      lastSample = t;
      samples.push(at);
      record(at);
    }
    if (t - lastProgress >= 60) {
      lastProgress = t;
      console.log(`soak: ${Math.round(t)} s: ${progress()}`);
    }
    if (t >= seconds || servers.some((s) => s.dead)) {
      clearInterval(tick);
      resolve();
    }
  }, 1000);
});
const runSeconds = elapsed();

// Stop: every workload finishes what it has in flight (the bound applies) and closes.
soak.stopping = true;
for (const hook of stopHooks) hook();
stopHooks.clear();
const finished = await Promise.race([
  work.then(() => true),
  new Promise((resolve) => setTimeout(() => resolve(false), 2 * soak.bound).unref()),
]);
if (!finished) tally.fail("stuck", "the workloads did not finish within twice the bound after the stop");

// With every client gone, each server must be back to the descriptors it had before.
let after = snapshot();
for (const until = Date.now() + soak.bound; Date.now() < until && !settled(after); ) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  after = snapshot();
}
record(after);
for (const server of servers) {
  const [was, is] = [before[server.name].fds, after[server.name].fds];
  if (!server.dead && is !== was) {
    tally.fail("fd leak", `${server.name}: ${is} descriptors open with every client gone, ${was} before the soak`);
  }
}

// Memory over time: start after the warm-up, end as the load stopped, middle between them.
const steady = samples.filter((at) => at.t >= warmup);
const start = steady[0];
const end = steady.at(-1);
const middle = start && steady.reduce((best, at) => (Math.abs(at.t - (start.t + end.t) / 2) < Math.abs(best.t - (start.t + end.t) / 2) ? at : best));
if (start && end !== start && servers.every((s) => !s.dead)) {
  for (const server of servers) {
    const growth = end[server.name].rssKib - middle[server.name].rssKib;
    if (growth > rssTolerance) {
      tally.fail("rss growth", `${server.name}: RSS grew ${growth} KiB from the middle to the end (tolerance ${rssTolerance} KiB)`);
    }
  }
}

const report = render();
writeFileSync(reportPath, report);
console.log(report);
console.log(`soak: report written to ${reportPath}`);
process.exit(tally.failed() === 0 ? 0 : 1);

function settled(at) {
  return servers.every((s) => s.dead || at[s.name].fds === before[s.name].fds);
}

function progress() {
  const pick = ["echo.verified", "churn.clean close", "slow.closed by policy", "bad.answered as expected", "sio.replies verified"];
  const acks = [...tally.counts].filter(([name]) => name.startsWith("sio.acks")).reduce((n, [, v]) => n + v, 0);
  const failures = tally.failed();
  return `${pick.map((name) => `${name} ${tally.get(name)}`).join(", ")}, sio acks ${acks}; failures ${failures}`;
}

function render() {
  const lines = [];
  const failed = tally.failed();
  lines.push(`wsreactor soak, ${new Date(t0).toISOString()}: ${runSeconds.toFixed(0)} s of load (asked ${seconds} s), warm-up ${warmup} s, bound ${soak.bound} ms`);
  lines.push(failed === 0 ? "result: PASS" : `result: FAIL (${failed} failures)`);
  lines.push("");
  lines.push("failures:");
  for (const kind of FAILURES) lines.push(`  ${kind.padEnd(28)} ${tally.failures.get(kind)}`);
  lines.push("");
  lines.push("counters:");
  const counters = [...tally.counts].sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(...counters.map(([name]) => name.length));
  for (const [name, value] of counters) lines.push(`  ${name.padEnd(width)}  ${value}`);
  lines.push("");
  lines.push("servers (start: the first sample after the warm-up; end: as the load stopped; after: every client gone):");
  const head = ["", "t (s)", ...servers.flatMap((s) => [`${s.name} RSS KiB`, `${s.name} fds`])];
  const row = (label, at) =>
    at ? [label, at.t.toFixed(0), ...servers.flatMap((s) => [at[s.name].rssKib ?? "-", at[s.name].fds ?? "-"])] : [label, "-"];
  const rows = [head, row("before", before), row("start", start), row("middle", middle), row("end", end), row("after", after)];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? "").length)));
  for (const r of rows) lines.push(`  ${r.map((cell, i) => String(cell ?? "").padStart(widths[i])).join("  ")}`);
  if (start && middle && end) {
    const growth = servers.map((s) => `${s.name} ${signed(end[s.name].rssKib - middle[s.name].rssKib)} KiB`).join(", ");
    lines.push(`  RSS middle to end: ${growth} (tolerance ${rssTolerance} KiB each)`);
  } else {
    lines.push(`  (no sample after the warm-up: the run was too short or ended early)`);
  }
  lines.push("");
  const driverCpu = (process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1e6;
  const wall = elapsed();
  const cores = (s) => (s / wall).toFixed(3);
  const parts = [`driver ${cores(driverCpu)}`];
  let total = driverCpu;
  for (const server of servers) {
    const used = server.last.cpuS - before[server.name].cpuS; // up to its death, if it died
    parts.push(`${server.name} ${cores(used)}`);
    total += used;
  }
  lines.push(`CPU, in cores over ${wall.toFixed(0)} s: ${parts.join(", ")}; total ${cores(total)}`);
  return `${lines.join("\n")}\n`;
}

function signed(n) {
  return n >= 0 ? `+${n}` : `${n}`;
}
