/**
 * The agent's reductions of Docker's documents, against documents Docker
 * actually wrote (captured from dockerd 20.10 on cgroup v1, checked in here)
 * and figures worked out by hand the way `docker stats` computes them.
 */
import { describe, expect, it } from "vitest";
import { reduceStats } from "../../agent/docker/stats.ts";
import { toContainerEvent } from "../../agent/sync/inventory-sync.ts";
import { maskSecretsDeep } from "../../agent/redaction.ts";

/** A stats document from `GET /containers/{id}/stats?stream=false` of a busy-looping busybox. */
const DOCKER_STATS = {
  read: "2026-11-25T23:16:24.126549005Z",
  pids_stats: { current: 2 },
  blkio_stats: {
    io_service_bytes_recursive: [
      { major: 8, minor: 0, op: "Read", value: 4096 },
      { major: 8, minor: 0, op: "Write", value: 8192 },
      { major: 8, minor: 0, op: "Sync", value: 12288 },
      { major: 8, minor: 0, op: "Total", value: 12288 },
    ],
  },
  cpu_stats: { cpu_usage: { total_usage: 2399730164, percpu_usage: [1544913708, 854816456] }, system_cpu_usage: 27333350000000, online_cpus: 2 },
  precpu_stats: { cpu_usage: { total_usage: 1799118930 }, system_cpu_usage: 27331330000000, online_cpus: 2 },
  memory_stats: { usage: 737280, stats: { total_inactive_file: 4096, cache: 4096 }, limit: 25276026880 },
  networks: { eth0: { rx_bytes: 516, tx_bytes: 0 }, eth1: { rx_bytes: 100, tx_bytes: 42 } },
};

describe("reduceStats", () => {
  it("computes what `docker stats` shows", () => {
    const sample = reduceStats(DOCKER_STATS);
    // (2399730164 - 1799118930) / (27333350000000 - 27331330000000) * 2 cpus * 100 = 59.47 %
    expect(sample.cpuPercent).toBe(59.47);
    expect(sample.memUsage).toBe(737280 - 4096);
    expect(sample.memLimit).toBe(25276026880);
    expect(sample).toMatchObject({ netRx: 616, netTx: 42, blkRead: 4096, blkWrite: 8192, pids: 2, at: "2026-11-25T23:16:24.126Z" });
  });

  it("has no CPU figure for the stream's first document (no previous read)", () => {
    expect(reduceStats({ ...DOCKER_STATS, precpu_stats: {} }).cpuPercent).toBeNull();
  });

  it("survives a document of a stopped container (zeros, no networks)", () => {
    expect(reduceStats({ read: "0001-01-01T00:00:00Z", memory_stats: {}, blkio_stats: { io_service_bytes_recursive: null } })).toMatchObject({
      cpuPercent: null,
      memUsage: 0,
      netRx: 0,
      blkRead: 0,
      pids: 0,
    });
  });
});

describe("toContainerEvent", () => {
  const base = { Type: "container", Actor: { ID: "a".repeat(64), Attributes: { name: "web", image: "busybox" } }, time: 1764112000, timeNano: 1764112000123456789 };

  it("keeps the exit code of a die, the signal of a kill, the health of a health_status and the old name of a rename", () => {
    expect(toContainerEvent({ ...base, Action: "die", Actor: { ID: base.Actor.ID, Attributes: { ...base.Actor.Attributes, exitCode: "137" } } })).toMatchObject({
      action: "die",
      exitCode: 137,
      name: "web",
      at: new Date(1764112000123).toISOString(),
    });
    expect(toContainerEvent({ ...base, Action: "kill", Actor: { ID: base.Actor.ID, Attributes: { ...base.Actor.Attributes, signal: "9" } } })).toMatchObject({ action: "kill", signal: "9" });
    expect(toContainerEvent({ ...base, Action: "health_status: unhealthy" })).toMatchObject({ action: "health_status", health: "unhealthy" });
    expect(toContainerEvent({ ...base, Action: "rename", Actor: { ID: base.Actor.ID, Attributes: { name: "new", oldName: "/old" } } })).toMatchObject({ name: "new", oldName: "old" });
  });

  it("drops what the history does not keep", () => {
    expect(toContainerEvent({ ...base, Action: "exec_start: sh" })).toBeNull();
    expect(toContainerEvent({ ...base, Action: "attach" })).toBeNull();
    expect(toContainerEvent({ ...base, Type: "image", Action: "delete" })).toBeNull();
    expect(toContainerEvent({ ...base, Action: "start", Actor: { ID: "short" } })).toBeNull();
  });
});

describe("a commit's audit parameters", () => {
  it("mask ENV values of the Dockerfile changes, like every environment value", () => {
    const params = { repository: "team/app", changes: ["ENV MODE=prod DB_URL=postgres://u:p@db/x", "ENV LEGACY secret-value", "CMD run --token abc"] };
    expect(maskSecretsDeep(params)).toEqual({
      repository: "team/app",
      changes: ["ENV MODE=[redacted] DB_URL=[redacted]", "ENV LEGACY [redacted]", "CMD run --token [redacted]"],
    });
  });
});
