// A server process as /proc shows it: alive or not, resident memory, open descriptors, CPU.
import { readFileSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";

// Clock ticks per second, the unit of utime and stime in /proc/PID/stat.
const TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** `{ alive, rssKib, fds, cpuS }` of `pid`; `alive` is false for a process that is gone or a
 * zombie (killed, not yet reaped by the script that started it), and the rest are then null. */
export function sample(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name, in parentheses, may hold spaces: the fields are after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return dead();
    const cpuS = (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return { alive: true, rssKib, fds, cpuS };
  } catch {
    return dead();
  }
}

function dead() {
  return { alive: false, rssKib: null, fds: null, cpuS: null };
}
