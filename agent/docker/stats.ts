/**
 * Docker's stats stream (`GET /containers/{id}/stats?stream=1`), reduced on the
 * agent to the few numbers the charts draw. Docker writes one JSON document
 * (~2 KB) per second per container; the server gets ~200 bytes instead.
 *
 * Stats are samples, not a log: when the server has not acknowledged enough
 * frames, a sample is dropped rather than the stream paused (a paused stats
 * read would only deliver stale samples later).
 */
import type Docker from "dockerode";
import type { TStatsSample } from "../protocol.ts";

type DockerStats = {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op?: string; value?: number }> | null };
  pids_stats?: { current?: number };
};

const int = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.round(value) : 0);

/**
 * One Docker stats document → one sample, computed the way `docker stats`
 * computes it: CPU from the deltas against the previous read (percent of one
 * core), memory without the page cache (cgroup v1 `total_inactive_file`, v2
 * `inactive_file`), network and block I/O summed over interfaces and devices.
 */
export function reduceStats(raw: DockerStats): TStatsSample {
  const cpu = raw.cpu_stats;
  const pre = raw.precpu_stats;
  const cpuDelta = (cpu?.cpu_usage?.total_usage ?? 0) - (pre?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (cpu?.system_cpu_usage ?? 0) - (pre?.system_cpu_usage ?? 0);
  const cpus = cpu?.online_cpus || cpu?.cpu_usage?.percpu_usage?.length || 1;
  const havePrevious = Boolean(pre?.system_cpu_usage);
  const cpuPercent = havePrevious && systemDelta > 0 && cpuDelta >= 0 ? Math.round((cpuDelta / systemDelta) * cpus * 100 * 100) / 100 : null;
  const memStats = raw.memory_stats?.stats ?? {};
  const cache = memStats.total_inactive_file ?? memStats.inactive_file ?? 0;
  const usage = int(raw.memory_stats?.usage);
  let netRx = 0;
  let netTx = 0;
  for (const net of Object.values(raw.networks ?? {})) {
    netRx += int(net.rx_bytes);
    netTx += int(net.tx_bytes);
  }
  let blkRead = 0;
  let blkWrite = 0;
  for (const entry of raw.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = (entry.op ?? "").toLowerCase();
    if (op === "read") blkRead += int(entry.value);
    else if (op === "write") blkWrite += int(entry.value);
  }
  const at = raw.read && !raw.read.startsWith("0001-01-01") ? new Date(raw.read) : new Date();
  return {
    at: (Number.isNaN(at.getTime()) ? new Date() : at).toISOString(),
    cpuPercent,
    memUsage: Math.max(0, usage - int(cache)),
    memLimit: int(raw.memory_stats?.limit),
    netRx,
    netTx,
    blkRead,
    blkWrite,
    pids: int(raw.pids_stats?.current),
  };
}

export type StatsReader = { stop(): void };

/**
 * Follows one container's stats. `sample` gets each reduced sample; `raw`
 * (optional) the byte count Docker sent (the benchmark compares with it).
 * `end` is called once when Docker ends the stream (container removed,
 * dockerd gone) — never after `stop()`.
 */
export async function openContainerStats(
  docker: Docker,
  containerId: string,
  handlers: { sample(sample: TStatsSample): void; end(error: Error | null): void; rawBytes?(bytes: number): void },
): Promise<StatsReader> {
  const stream = (await docker.getContainer(containerId).stats({ stream: true })) as unknown as NodeJS.ReadableStream & { destroy?: () => void };
  let stopped = false;
  let buffer = "";
  let lastAt = "";
  stream.on("data", (chunk: Buffer) => {
    if (stopped) return;
    handlers.rawBytes?.(chunk.length);
    buffer += chunk.toString("utf8");
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!line) continue;
      try {
        const sample = reduceStats(JSON.parse(line) as DockerStats);
        // A busy daemon can hand out the same reading twice: a chart wants each moment once.
        if (sample.at <= lastAt) continue;
        lastAt = sample.at;
        handlers.sample(sample);
      } catch {
        // Not a stats document: skip it, the next second brings another.
      }
    }
    // One document is a few KB; a "line" this long is not one.
    if (buffer.length > 1024 * 1024) buffer = "";
  });
  let ended = false;
  const end = (error: Error | null) => {
    if (ended || stopped) return;
    ended = true;
    handlers.end(error);
  };
  stream.on("error", (error: Error) => end(error));
  stream.on("end", () => end(null));
  stream.on("close", () => end(null));
  return {
    stop() {
      stopped = true;
      stream.destroy?.();
    },
  };
}

/** How many running containers a host total follows at most (each is one Docker connection). */
export const HOST_STATS_MAX_CONTAINERS = 50;
const HOST_STATS_REFRESH_MS = 5_000;
const HOST_STATS_TICK_MS = 1_000;

/**
 * The host's totals: follows the stats of its running containers (up to
 * HOST_STATS_MAX_CONTAINERS, re-listed every few seconds) and emits, once a
 * second, the sum of their latest samples. Memory limit is the host's memory.
 */
export async function openHostStats(
  docker: Docker,
  handlers: { sample(sample: TStatsSample & { containers: number }): void; end(error: Error | null): void },
): Promise<StatsReader> {
  const info = await docker.info();
  const hostMemory = int(info.MemTotal);
  const readers = new Map<string, { reader: StatsReader | null; latest: TStatsSample | null }>();
  let stopped = false;

  const refresh = async () => {
    if (stopped) return;
    let running: string[];
    try {
      running = (await docker.listContainers({ filters: { status: ["running"] } })).map((c) => c.Id).slice(0, HOST_STATS_MAX_CONTAINERS);
    } catch (error) {
      return finish(error instanceof Error ? error : new Error(String(error)));
    }
    const wanted = new Set(running);
    for (const [id, entry] of readers) {
      if (wanted.has(id)) continue;
      entry.reader?.stop();
      readers.delete(id);
    }
    for (const id of running) {
      if (readers.has(id) || stopped) continue;
      const entry: { reader: StatsReader | null; latest: TStatsSample | null } = { reader: null, latest: null };
      readers.set(id, entry);
      openContainerStats(docker, id, {
        sample: (sample) => void (entry.latest = sample),
        end: () => {
          if (readers.get(id) === entry) readers.delete(id);
        },
      }).then(
        (reader) => {
          if (stopped || readers.get(id) !== entry) reader.stop();
          else entry.reader = reader;
        },
        () => {
          if (readers.get(id) === entry) readers.delete(id);
        },
      );
    }
  };

  const tick = () => {
    const total = { cpuPercent: 0, memUsage: 0, netRx: 0, netTx: 0, blkRead: 0, blkWrite: 0, pids: 0 };
    let containers = 0;
    for (const { latest } of readers.values()) {
      if (!latest) continue;
      containers++;
      total.cpuPercent += latest.cpuPercent ?? 0;
      total.memUsage += latest.memUsage;
      total.netRx += latest.netRx;
      total.netTx += latest.netTx;
      total.blkRead += latest.blkRead;
      total.blkWrite += latest.blkWrite;
      total.pids += latest.pids;
    }
    handlers.sample({ at: new Date().toISOString(), ...total, cpuPercent: Math.round(total.cpuPercent * 100) / 100, memLimit: hostMemory, containers });
  };

  const refreshTimer = setInterval(() => void refresh(), HOST_STATS_REFRESH_MS);
  const tickTimer = setInterval(tick, HOST_STATS_TICK_MS);
  let finished = false;
  function finish(error: Error | null) {
    if (finished) return;
    finished = true;
    stop();
    handlers.end(error);
  }
  function stop() {
    stopped = true;
    clearInterval(refreshTimer);
    clearInterval(tickTimer);
    for (const entry of readers.values()) entry.reader?.stop();
    readers.clear();
  }
  await refresh();
  return { stop };
}
