/**
 * Process memory as the kernel reports it (/proc/<pid>/status), so Berth's
 * processes and their direct-path baselines are measured the same way.
 */
import { readdir, readFile } from "node:fs/promises";

export type Memory = { rssBytes: number; hwmBytes: number };

/** VmRSS (resident now) and VmHWM (peak resident) of one process. */
export async function readMemory(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kb("VmRSS"), hwmBytes: kb("VmHWM") };
}

/** `pid` and every process below it, with each one's command name. */
export async function processTree(pid: number): Promise<{ pid: number; comm: string }[]> {
  const children = new Map<number, number[]>();
  const comms = new Map<number, string>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const close = stat.lastIndexOf(")");
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      comms.set(Number(entry), stat.slice(stat.indexOf("(") + 1, close));
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process exited while we looked.
    }
  }
  const found: { pid: number; comm: string }[] = [];
  const queue = [pid];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    if (!comms.has(next)) continue;
    found.push({ pid: next, comm: comms.get(next)! });
    queue.push(...(children.get(next) ?? []));
  }
  return found;
}

/** Sum of VmRSS over `pid` and its descendants (tsx may run helpers beside node). */
export async function treeRss(pid: number): Promise<{ rssBytes: number; processes: string[] }> {
  let rssBytes = 0;
  const processes: string[] = [];
  for (const proc of await processTree(pid)) {
    try {
      rssBytes += (await readMemory(proc.pid)).rssBytes;
      processes.push(`${proc.comm}(${proc.pid})`);
    } catch {
      // Exited between listing and reading.
    }
  }
  return { rssBytes, processes };
}

/** The pid of the dockerd serving `socketPath` (its --host names it; the default daemon may only have a pidfile). */
export async function dockerdPid(socketPath: string): Promise<number | null> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if ((await readFile(`/proc/${entry}/comm`, "utf8")).trim() !== "dockerd") continue;
      const args = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0");
      if (args.some((arg) => arg.endsWith(socketPath))) return Number(entry);
    } catch {
      // The process exited while we looked.
    }
  }
  if (socketPath !== "/var/run/docker.sock") return null;
  try {
    const pid = Number((await readFile("/var/run/docker.pid", "utf8")).trim());
    return (await readFile(`/proc/${pid}/comm`, "utf8")).trim() === "dockerd" ? pid : null;
  } catch {
    return null;
  }
}
