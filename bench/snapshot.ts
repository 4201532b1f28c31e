/**
 * Snapshot benchmark: how much Berth adds on top of the raw Docker API when a
 * host's inventory is synced, and what an idle agent costs in memory.
 *
 *   node --import tsx bench/snapshot.ts [--containers 200] [--reps 7] [--e2e-reps 3] [--idle-seconds 10]
 *
 * DOCKER_HOST (a unix:// socket) picks another daemon, e.g. an extra test host.
 * On the real dockerd and Postgres it creates N idle containers
 * (label berth.bench=snapshot, removed at the end even on failure), then
 * measures in the same run:
 *   - direct: listContainers({all}) alone, and list + inspect each (concurrency
 *     16, like the agent): the Docker reads a snapshot cannot avoid;
 *   - agent: takeSnapshot(docker), in process;
 *   - server: applySnapshot for a new host (insert) and for the same host
 *     again (update), and a Postgres floor (same JSON into a temp table);
 *   - end to end: a real agent process joining a real server until all N
 *     containers are committed in Postgres;
 *   - idle RSS of a real agent vs a bare node process that only follows
 *     Docker events (and dockerd's own RSS for context).
 * Results are printed as ratios against the direct path and written to
 * bench/results/snapshot-<timestamp>.json.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type Docker from "dockerode";
import pg from "pg";
import { createDockerClient } from "../agent/docker/client.ts";
import {
  listContainerRecords,
  listImageRecords,
  listNetworkRecords,
  listVolumeRecords,
  readHostInfo,
  takeSnapshot,
} from "../agent/docker/inventory.ts";
import { ZSnapshot, type TSnapshot } from "../agent/protocol.ts";
import { createHost } from "../server/services/hosts.ts";
import { applySnapshot } from "../server/services/inventory.ts";
import { startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../test/infra/berth.ts";
import { buildTestImages, dockerCli } from "../test/infra/docker.ts";
import { createIdleContainers, mapLimited, removeLabelledContainers } from "./lib/containers.ts";
import { dockerdPid, readMemory, treeRss } from "./lib/proc.ts";
import { BENCH_DIR, fmtMb, fmtMs, fmtRatio, intArg, sleep, summarize, table, timed, writeResults, type Summary } from "./lib/stats.ts";

const N = intArg("containers", 200);
const REPS = intArg("reps", 7);
const E2E_REPS = intArg("e2e-reps", 3);
const APPLY_REPS = intArg("apply-reps", 5);
const IDLE_SECONDS = intArg("idle-seconds", 10);
const RSS_SAMPLES = 5;
const LABEL = { key: "berth.bench", value: "snapshot" };
/** Same as INSPECT_CONCURRENCY in agent/docker/inventory.ts (not exported). */
const INSPECT_CONCURRENCY = 16;
const suffix = randomBytes(3).toString("hex");
const DOCKER_HOST = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
if (!DOCKER_HOST.startsWith("unix://")) throw new Error(`DOCKER_HOST must be a unix:// socket (got ${DOCKER_HOST})`);
const SOCKET_PATH = DOCKER_HOST.slice("unix://".length);
/** Aborted on SIGINT/SIGTERM: stops launching containers before cleanup removes them. */
const aborted = new AbortController();

// ------------------------------------------------------------------ cleanup

const cleanups: { what: string; run: () => Promise<void> }[] = [];
let cleaning: Promise<void> | null = null;

/** Runs registered cleanups newest first; safe to call twice (signal + finally). */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (let next = cleanups.pop(); next; next = cleanups.pop()) {
      await next.run().catch((error: unknown) => console.error(`cleanup (${next!.what}) failed: ${String(error)}`));
    }
  })();
  return cleaning;
}

// `on`, not `once`: Ctrl-C under bench/run.ts arrives twice (terminal + forwarded) and a
// second default-handled SIGINT would kill us halfway through removing the containers.
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    if (cleaning) return;
    console.error(`\n${signal}: cleaning up`);
    aborted.abort();
    void cleanup().finally(() => process.exit(code));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

async function stopAgent(agent: TestAgent): Promise<void> {
  await stopChild(agent.process);
  await rm(agent.stateDir, { recursive: true, force: true });
}

function progress(message: string) {
  console.log(`[bench:snapshot] ${message}`);
}

// ------------------------------------------------------------------ direct path and agent side

/** The Docker reads a snapshot needs, nothing else: list, then inspect each. */
async function directListInspect(docker: Docker) {
  const summaries = await docker.listContainers({ all: true });
  return mapLimited(summaries, INSPECT_CONCURRENCY, (s) => docker.getContainer(s.Id).inspect());
}

async function measureDockerSide(docker: Docker) {
  const samples = {
    list: [] as number[],
    listInspect: [] as number[],
    takeSnapshot: [] as number[],
    parts: { containers: [] as number[], hostInfo: [] as number[], images: [] as number[], volumes: [] as number[], networks: [] as number[] },
  };
  const steps: Record<"list" | "listInspect" | "takeSnapshot", () => Promise<unknown>> = {
    list: () => docker.listContainers({ all: true }),
    listInspect: () => directListInspect(docker),
    takeSnapshot: () => takeSnapshot(docker),
  };
  const order = ["list", "listInspect", "takeSnapshot"] as const;
  // One untimed warm-up each: connection setup, JIT, dockerd caches.
  for (const step of order) await steps[step]();
  let snapshot: TSnapshot | null = null;
  for (let rep = 0; rep < REPS; rep++) {
    // Rotate the order so no step always runs right after the same one.
    for (let k = 0; k < order.length; k++) {
      const step = order[(rep + k) % order.length]!;
      const { ms, value } = await timed(steps[step]);
      samples[step].push(ms);
      if (step === "takeSnapshot") snapshot = value as TSnapshot;
    }
    // takeSnapshot runs these in parallel; alone, each shows its own share.
    samples.parts.containers.push((await timed(() => listContainerRecords(docker))).ms);
    samples.parts.hostInfo.push((await timed(() => readHostInfo(docker))).ms);
    samples.parts.images.push((await timed(() => listImageRecords(docker))).ms);
    samples.parts.volumes.push((await timed(() => listVolumeRecords(docker))).ms);
    samples.parts.networks.push((await timed(() => listNetworkRecords(docker))).ms);
  }
  return { samples, snapshot: snapshot! };
}

// ------------------------------------------------------------------ server side

async function measureServerSide(t: TestServer, snapshot: TSnapshot) {
  const { db, deps } = t.server;
  const json = JSON.stringify(snapshot);
  const parse: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    // What the hub does with a frame: the JSON decode is socket.io's, the zod parse the hub's.
    parse.push((await timed(async () => ZSnapshot.parse(JSON.parse(json)))).ms);
  }

  const insert: number[] = [];
  let updateHostId = "";
  for (let rep = 0; rep < APPLY_REPS; rep++) {
    const host = await db.host.create({ data: { name: `bench-apply-${rep}-${suffix}` }, select: { id: true } });
    updateHostId = host.id;
    insert.push((await timed(() => applySnapshot({ db, bus: deps.bus, hostId: host.id, snapshot }))).ms);
  }
  const update: number[] = [];
  for (let rep = 0; rep < APPLY_REPS; rep++) {
    update.push((await timed(() => applySnapshot({ db, bus: deps.bus, hostId: updateHostId, snapshot }))).ms);
  }
  const rows = await db.container.count({ where: { hostId: updateHostId, labels: { path: [LABEL.key], equals: LABEL.value } } });
  if (rows !== N) throw new Error(`applySnapshot stored ${rows} bench containers, expected ${N}`);

  // Floor: the same container JSON, one row per container, into a temp table through raw pg.
  const floor: number[] = [];
  const client = new pg.Client({ connectionString: t.database.url });
  await client.connect();
  try {
    await client.query(`CREATE TEMP TABLE bench_floor ("hostId" text, "dockerId" text, doc jsonb)`);
    const containersJson = JSON.stringify(snapshot.containers);
    for (let rep = 0; rep < APPLY_REPS; rep++) {
      await client.query("TRUNCATE bench_floor");
      floor.push(
        (
          await timed(() =>
            client.query(`INSERT INTO bench_floor SELECT $1, r->>'id', r FROM jsonb_array_elements($2::jsonb) AS r`, ["h", containersJson]),
          )
        ).ms,
      );
    }
  } finally {
    await client.end();
  }
  return { parse, insert, update, floor, snapshotBytes: Buffer.byteLength(json), containersBytes: Buffer.byteLength(JSON.stringify(snapshot.containers)) };
}

// ------------------------------------------------------------------ end to end

type E2eRun = { spawnToJoined: number; joinedToSent: number; sentToCommitted: number; spawnToCommitted: number; spawnToObserved: number };

async function measureEndToEnd(t: TestServer): Promise<{ runs: E2eRun[]; lastAgent: TestAgent }> {
  const { db, deps } = t.server;
  const runs: E2eRun[] = [];
  let lastAgent: TestAgent | null = null;
  for (let rep = 0; rep < E2E_REPS; rep++) {
    const join = await createHost({ db, bus: deps.bus, name: `bench-e2e-${rep}-${suffix}`, ttlMinutes: 5, serverUrl: t.url });
    let committedAt = 0;
    // applySnapshot publishes this right after its transaction commits: the exact moment the rows are in.
    const unsubscribe = deps.bus.subscribe((event) => {
      if (event.type === "inventory.changed" && event.hostId === join.hostId && event.kinds.length === 4 && !committedAt) {
        committedAt = performance.now();
      }
    });
    const spawnedAt = performance.now();
    const agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost: DOCKER_HOST });
    cleanups.push({ what: `agent ${rep}`, run: () => stopAgent(agent) });
    const mark = (pattern: RegExp) => agent.waitForOutput(pattern, 30_000).then(() => performance.now());
    const [joinedAt, sentAt] = await Promise.all([mark(/joined Berth as host/), mark(/snapshot sent.*: \d+ containers/)]);
    await waitForSnapshot(t.server, join.hostId);
    const where = { hostId: join.hostId, labels: { path: [LABEL.key], equals: LABEL.value } };
    await waitFor(async () => (await db.container.count({ where })) === N, { timeoutMs: 30_000, intervalMs: 20, what: `${N} containers in Postgres` });
    const observedAt = performance.now();
    unsubscribe();
    if (!committedAt) throw new Error("rows arrived but no inventory.changed event was seen");
    runs.push({
      spawnToJoined: joinedAt - spawnedAt,
      joinedToSent: sentAt - joinedAt,
      sentToCommitted: committedAt - sentAt,
      spawnToCommitted: committedAt - spawnedAt,
      spawnToObserved: observedAt - spawnedAt,
    });
    progress(`e2e ${rep + 1}/${E2E_REPS}: ${fmtMs(committedAt - spawnedAt)} to commit`);
    // The last agent stays up: its idle memory is measured next.
    if (rep < E2E_REPS - 1) await stopAgent(agent);
    else lastAgent = agent;
  }
  return { runs, lastAgent: lastAgent! };
}

// ------------------------------------------------------------------ idle memory

async function startEventsFollower(): Promise<{ child: ChildProcess; startMs: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, "lib", "events-follower.ts")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanups.push({ what: "events follower", run: () => stopChild(child) });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`events follower not ready in 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/^ready$/m.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`events follower exited (${code}):\n${output}`));
    });
  });
  return { child, startMs: performance.now() - started };
}

async function measureIdleMemory(agent: TestAgent) {
  const follower = await startEventsFollower();
  // The agent has been idle since its snapshot committed; after this both have sat idle >= IDLE_SECONDS.
  await sleep(IDLE_SECONDS * 1000);
  const dockerd = await dockerdPid(SOCKET_PATH);
  const samples = { agent: [] as number[], agentHwm: 0, agentTree: [] as number[], agentTreeProcs: [] as string[], follower: [] as number[], followerTree: [] as number[], followerTreeProcs: [] as string[], dockerd: [] as number[] };
  for (let i = 0; i < RSS_SAMPLES; i++) {
    if (i > 0) await sleep(1_000);
    const agentMem = await readMemory(agent.process.pid!);
    const agentTree = await treeRss(agent.process.pid!);
    const followerMem = await readMemory(follower.child.pid!);
    const followerTree = await treeRss(follower.child.pid!);
    samples.agent.push(agentMem.rssBytes);
    samples.agentHwm = agentMem.hwmBytes;
    samples.agentTree.push(agentTree.rssBytes);
    samples.agentTreeProcs = agentTree.processes;
    samples.follower.push(followerMem.rssBytes);
    samples.followerTree.push(followerTree.rssBytes);
    samples.followerTreeProcs = followerTree.processes;
    if (dockerd) samples.dockerd.push((await readMemory(dockerd)).rssBytes);
  }
  const followerHwm = (await readMemory(follower.child.pid!)).hwmBytes;
  await stopChild(follower.child);
  return { ...samples, followerHwm, followerStartMs: follower.startMs, dockerdPid: dockerd };
}

// ------------------------------------------------------------------ report

function row(label: string, s: Summary, direct: number, extra = ""): string[] {
  return [label, fmtMs(s.median), fmtMs(s.p95), String(s.n), fmtRatio(s.median / direct), extra];
}

async function main() {
  const docker = createDockerClient(SOCKET_PATH);
  const [dockerVersion] = await Promise.all([
    dockerCli(["version", "--format", "{{.Server.Version}}"], { host: DOCKER_HOST, timeoutMs: 15_000 }),
    buildTestImages(DOCKER_HOST),
  ]);
  const leftovers = await removeLabelledContainers(docker, LABEL);
  if (leftovers) progress(`removed ${leftovers} containers left by an earlier run`);
  const loadBefore = os.loadavg();

  progress(`creating ${N} containers (label ${LABEL.key}=${LABEL.value})`);
  const creating = timed(() =>
    createIdleContainers({ docker, count: N, label: LABEL, namePrefix: `berth-bench-snap-${suffix}`, signal: aborted.signal }),
  );
  cleanups.push({
    what: "bench containers",
    run: async () => {
      // Never remove while starts are in flight (see bench/lib/containers.ts).
      await creating.catch(() => undefined);
      const { ms, value } = await timed(() => removeLabelledContainers(docker, LABEL));
      progress(`removed ${value} bench containers in ${fmtMs(ms)}`);
    },
  });
  const created = await creating;
  if (aborted.signal.aborted) throw new Error("interrupted");
  const totalContainers = (await docker.listContainers({ all: true })).length;
  progress(`created ${N} in ${fmtMs(created.ms)}; dockerd holds ${totalContainers} containers in total`);

  progress(`docker side: ${REPS} reps`);
  const dockerSide = await measureDockerSide(docker);

  progress("starting a Berth server on a fresh Postgres database");
  const t = await startTestServer({ name: "bench_snapshot" });
  cleanups.push({ what: "server", run: () => t.stop() });

  progress(`server side: applySnapshot x${APPLY_REPS} insert + x${APPLY_REPS} update`);
  const serverSide = await measureServerSide(t, dockerSide.snapshot);

  progress(`end to end: ${E2E_REPS} agent processes`);
  const e2e = await measureEndToEnd(t);

  progress(`idle memory: ~${IDLE_SECONDS} s idle, ${RSS_SAMPLES} samples`);
  const memory = await measureIdleMemory(e2e.lastAgent);

  // ---------------------------------------------------------------- print
  // Other work on this machine (tests, builds) shares the two cores: show how busy it was.
  const loadAfter = os.loadavg();
  const d = dockerSide.samples;
  const S = {
    list: summarize(d.list),
    listInspect: summarize(d.listInspect),
    takeSnapshot: summarize(d.takeSnapshot),
    partContainers: summarize(d.parts.containers),
    partHostInfo: summarize(d.parts.hostInfo),
    partImages: summarize(d.parts.images),
    partVolumes: summarize(d.parts.volumes),
    partNetworks: summarize(d.parts.networks),
    parse: summarize(serverSide.parse),
    applyInsert: summarize(serverSide.insert),
    applyUpdate: summarize(serverSide.update),
    pgFloor: summarize(serverSide.floor),
    e2eSpawnToJoined: summarize(e2e.runs.map((r) => r.spawnToJoined)),
    e2eJoinedToSent: summarize(e2e.runs.map((r) => r.joinedToSent)),
    e2eSentToCommitted: summarize(e2e.runs.map((r) => r.sentToCommitted)),
    e2eSpawnToCommitted: summarize(e2e.runs.map((r) => r.spawnToCommitted)),
    e2eSpawnToObserved: summarize(e2e.runs.map((r) => r.spawnToObserved)),
  };
  const direct = S.listInspect.median;
  const snap = dockerSide.snapshot;
  console.log(
    `\nSnapshot sync: ${N} bench containers (${totalContainers} on dockerd, ${snap.images.length} images, ${snap.volumes.length} volumes, ` +
      `${snap.networks.length} networks); dockerd ${dockerVersion}, node ${process.version}, ${os.cpus().length} cores`,
  );
  console.log(`load average (1 min) ${loadBefore[0]!.toFixed(2)} at start, ${loadAfter[0]!.toFixed(2)} at end (${os.cpus().length} cores)`);
  console.log(`snapshot frame ${fmtMb(serverSide.snapshotBytes)} JSON (containers ${fmtMb(serverSide.containersBytes)}); ratio = median / direct list+inspect median\n`);
  console.log(
    table(
      ["step", "median", "p95", "n", "ratio", "note"],
      [
        row("direct: listContainers({all})", S.list, direct),
        row("direct: list + inspect each (conc 16)", S.listInspect, direct, "= 1 (the direct path)"),
        row("agent: takeSnapshot(docker)", S.takeSnapshot, direct, "takeSnapshot / direct"),
        row("  alone: listContainerRecords", S.partContainers, direct),
        row("  alone: readHostInfo (info+version)", S.partHostInfo, direct),
        row("  alone: listImageRecords", S.partImages, direct),
        row("  alone: listVolumeRecords", S.partVolumes, direct),
        row("  alone: listNetworkRecords", S.partNetworks, direct),
        row("server: JSON.parse + ZSnapshot.parse", S.parse, direct),
        row("server: applySnapshot, new host (insert)", S.applyInsert, direct, `applySnapshot / direct; ${fmtRatio(S.applyInsert.median / S.pgFloor.median)} of pg floor`),
        row("server: applySnapshot, same host (update)", S.applyUpdate, direct, `${fmtRatio(S.applyUpdate.median / S.pgFloor.median)} of pg floor`),
        row("pg floor: containers JSON -> temp table", S.pgFloor, direct, "raw pg, one INSERT..SELECT"),
        row("e2e: agent spawn -> joined", S.e2eSpawnToJoined, direct),
        row("e2e: joined -> snapshot sent", S.e2eJoinedToSent, direct),
        row("e2e: snapshot sent -> committed", S.e2eSentToCommitted, direct),
        row("e2e: agent spawn -> all rows committed", S.e2eSpawnToCommitted, direct, "end-to-end / direct"),
        row("e2e: ... observed (waitForSnapshot+count)", S.e2eSpawnToObserved, direct, "incl. polling"),
      ],
    ),
  );

  const M = {
    agent: summarize(memory.agent),
    agentTree: summarize(memory.agentTree),
    follower: summarize(memory.follower),
    followerTree: summarize(memory.followerTree),
    dockerd: summarize(memory.dockerd),
  };
  const last = (samples: number[]) => samples[samples.length - 1] ?? Number.NaN;
  const mrow = (label: string, s: Summary, samples: number[], note = "", ratio = true) => [
    label, fmtMb(s.median), fmtMb(s.min), fmtMb(s.max), fmtMb(last(samples)), String(s.n), ratio ? fmtRatio(s.median / M.follower.median) : "", note,
  ];
  console.log(`\nIdle RSS after >= ${IDLE_SECONDS} s idle (VmRSS from /proc; ratio = median / bare events follower median)\n`);
  console.log(
    table(
      ["process", "median", "min", "max", "last", "n", "ratio", "note"],
      [
        mrow("berth agent (node --import tsx agent/main.ts)", M.agent, memory.agent, `peak (VmHWM) ${fmtMb(memory.agentHwm)}`),
        mrow("  with child processes", M.agentTree, memory.agentTree, memory.agentTreeProcs.join(" ")),
        mrow("direct: node --import tsx, dockerode getEvents", M.follower, memory.follower, `peak ${fmtMb(memory.followerHwm)}; ready ${fmtMs(memory.followerStartMs)} after spawn`),
        mrow("  with child processes", M.followerTree, memory.followerTree, memory.followerTreeProcs.join(" ")),
        mrow(`dockerd (pid ${memory.dockerdPid ?? "?"}), for context`, M.dockerd, memory.dockerd, "", false),
      ],
    ),
  );

  const file = await writeResults("snapshot", {
    benchmark: "snapshot",
    finishedAt: new Date().toISOString(),
    config: { containers: N, reps: REPS, e2eReps: E2E_REPS, applyReps: APPLY_REPS, idleSeconds: IDLE_SECONDS, inspectConcurrency: INSPECT_CONCURRENCY },
    environment: { node: process.version, cores: os.cpus().length, loadavg1mStart: loadBefore[0], loadavg1mEnd: loadAfter[0], dockerVersion, totalContainers, images: snap.images.length, volumes: snap.volumes.length, networks: snap.networks.length },
    setup: { createContainersMs: created.ms },
    snapshotBytes: serverSide.snapshotBytes,
    containersBytes: serverSide.containersBytes,
    timingsMs: S,
    e2eRuns: e2e.runs,
    ratios: {
      takeSnapshotOverDirect: S.takeSnapshot.median / direct,
      applySnapshotInsertOverDirect: S.applyInsert.median / direct,
      applySnapshotUpdateOverDirect: S.applyUpdate.median / direct,
      applySnapshotInsertOverPgFloor: S.applyInsert.median / S.pgFloor.median,
      endToEndOverDirect: S.e2eSpawnToCommitted.median / direct,
      agentIdleRssOverFollower: M.agent.median / M.follower.median,
    },
    memoryBytes: { ...M, agentHwm: memory.agentHwm, followerHwm: memory.followerHwm, agentTreeProcesses: memory.agentTreeProcs, followerTreeProcesses: memory.followerTreeProcs },
  });
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
}

const started = performance.now();
let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`bench/snapshot failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanup();
  progress(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
process.exit(failed ? 1 : 0);
