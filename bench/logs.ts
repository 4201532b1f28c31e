/**
 * Log benchmark: what Berth's path (Docker → agent → server → browser socket)
 * costs against reading the same log straight from the Docker API.
 *
 *   node --import tsx bench/logs.ts [--lines 100000] [--reps 5] [--follow-seconds 5]
 *
 * On the real dockerd and Postgres, in the same run:
 *   - whole log: a finished container that wrote N lines, read (a) directly
 *     with dockerode (`logs`, timestamps, multiplexed, lines counted) and
 *     (b) through a real agent and server by a socket.io client signed in with
 *     a real session (`logs:open`, whole log, not followed) and (c) as the
 *     server's streamed download (`/api/logs/download`);
 *   - follow latency: a container writing a line every 20 ms, followed both
 *     ways at once; each line's delay = arrival time - Docker's own timestamp;
 *   - follow throughput: a container printing as fast as it can, followed by
 *     one viewer for a few seconds, first directly then through Berth (which
 *     acknowledges each frame as a page does: flow control is in the path);
 *     then 5 viewers at once, each against 5 direct followers at once;
 *   - shared stream: 50 viewers following one container cost the agent →
 *     server link the bytes of ~1 viewer (one agent stream shared by all); measured
 *     as the agent process's written bytes (/proc/PID/io wchar) over the same time.
 * Results print as ratios against the direct path and go to bench/results/logs-<timestamp>.json.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type Docker from "dockerode";
import { createDockerClient } from "../agent/docker/client.ts";
import { LogDecoder } from "../agent/docker/logs.ts";
import { ClientEvent, ServerEvent, type TLogsData, type TLogsEnd } from "../server/gateway/browser-protocol.ts";
import { createHost } from "../server/services/hosts.ts";
import {
  connectBrowserSocket,
  createSignedInUser,
  emitWithAck,
  startTestAgent,
  startTestServer,
  waitFor,
  waitForSnapshot,
  type BrowserTestSocket,
  type TestAgent,
  type TestServer,
} from "../test/infra/berth.ts";
import { buildTestImages, dockerCli, TEST_IMAGE } from "../test/infra/docker.ts";
import { removeLabelledContainers } from "./lib/containers.ts";
import { fmtMs, fmtRatio, intArg, sleep, summarize, table, timed, writeResults } from "./lib/stats.ts";

const LINES = intArg("lines", 100_000);
const REPS = intArg("reps", 5);
const FOLLOW_SECONDS = intArg("follow-seconds", 5);
/** Direct/Berth pairs of the follow-throughput runs (the machine's load moves single runs a lot). */
const FOLLOW_REPS = intArg("follow-reps", 3);
const LABEL = { key: "berth.bench", value: "logs" };
const suffix = randomBytes(3).toString("hex");

async function runContainer(name: string, script: string, wait: boolean): Promise<string> {
  const id = await dockerCli(["create", "--init", "--name", name, "--label", `${LABEL.key}=${LABEL.value}`, TEST_IMAGE, "sh", "-c", script]);
  await dockerCli(wait ? ["start", "--attach", id] : ["start", id]);
  return id;
}

/** The direct path: dockerode's log read, decoded into lines the same way any client must. */
async function readDirect(docker: Docker, id: string): Promise<number> {
  const bytes = await docker.getContainer(id).logs({ follow: false, stdout: true, stderr: true, timestamps: true });
  let count = 0;
  const decoder = new LogDecoder(false, () => count++);
  decoder.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  decoder.end();
  return count;
}

/**
 * Reads one log through Berth as a page does: every frame is acknowledged on
 * arrival (`logs:ack`), since the server sends only a window beyond the last ack.
 * Resolves with the line count when the log ends (or, following, `stopAfterMs` later).
 */
async function readThroughBerth(
  socket: BrowserTestSocket,
  hostId: string,
  id: string,
  opts: { follow?: boolean; tail?: number | null; stopAfterMs?: number } = {},
): Promise<number> {
  let count = 0;
  let subscriptionId: string | null = null;
  const early: TLogsData[] = [];
  let endedEarly: TLogsEnd | null = null;
  return new Promise((resolve, reject) => {
    const take = (data: TLogsData) => {
      count += data.lines.length;
      socket.emit(ClientEvent.logsAck, { subscriptionId: data.subscriptionId, seq: data.seq });
    };
    const onData = (data: TLogsData) => {
      if (data.subscriptionId === subscriptionId) take(data);
      else if (!subscriptionId) early.push(data);
    };
    const finish = (end: TLogsEnd) => {
      socket.off(ServerEvent.logsData, onData);
      socket.off(ServerEvent.logsEnd, onEnd);
      if (end.reason) reject(new Error(end.reason));
      else resolve(count);
    };
    const onEnd = (end: TLogsEnd) => {
      if (end.subscriptionId === subscriptionId) finish(end);
      else if (!subscriptionId) endedEarly = end;
    };
    socket.on(ServerEvent.logsData, onData);
    socket.on(ServerEvent.logsEnd, onEnd);
    const input = { hostId, containerId: id, tail: opts.tail ?? null, follow: opts.follow ?? false };
    void emitWithAck<{ subscriptionId: string }>(socket, ClientEvent.logsOpen, input).then((ack) => {
      if (!ack.ok) return reject(new Error(ack.message));
      const sub = ack.subscriptionId;
      subscriptionId = sub;
      for (const data of early.splice(0)) if (data.subscriptionId === sub) take(data);
      const ended = endedEarly as TLogsEnd | null;
      if (ended?.subscriptionId === sub) return finish(ended);
      if (opts.stopAfterMs) {
        setTimeout(() => {
          emitWithAck(socket, ClientEvent.logsClose, { subscriptionId: sub }).catch(() => undefined);
          finish({ subscriptionId: sub, reason: null });
        }, opts.stopAfterMs);
      }
    });
  });
}

/** Lines a direct dockerode follow delivers in `ms`. */
async function followDirect(docker: Docker, id: string, ms: number): Promise<number> {
  let count = 0;
  const stream = (await docker.getContainer(id).logs({ follow: true, stdout: true, stderr: true, timestamps: true, tail: 0 })) as NodeJS.ReadableStream & { destroy(): void };
  const decoder = new LogDecoder(false, () => count++);
  stream.on("data", (chunk: Buffer) => decoder.push(chunk));
  await sleep(ms);
  stream.destroy();
  return count;
}

async function downloadThroughBerth(url: string, cookie: string, hostId: string, id: string): Promise<number> {
  const response = await fetch(`${url}/api/logs/download?${new URLSearchParams({ hostId, containerId: id })}`, { headers: { cookie } });
  if (!response.ok) throw new Error(`download: ${response.status} ${await response.text()}`);
  const text = await response.text();
  let count = 0;
  for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) count++;
  return count;
}

/** Docker's timestamp has nanoseconds; Date.parse keeps milliseconds, which is the resolution wanted here. */
const delayOf = (ts: string, arrived: number) => arrived - Date.parse(ts);

let server: TestServer | null = null;
let agent: TestAgent | null = null;
const docker = createDockerClient("/var/run/docker.sock");

try {
  await buildTestImages();
  await removeLabelledContainers(docker, LABEL);
  console.log(`writing ${LINES.toLocaleString()} log lines…`);
  const finished = await runContainer(`bench-logs-done-${suffix}`, `seq 1 ${LINES} | while read i; do echo "line $i of the benchmark log, with some text to make it look real"; done`, true);
  const ticking = await runContainer(`bench-logs-tick-${suffix}`, "i=0; while true; do echo \"tick $i\"; i=$((i+1)); sleep 0.02; done", false);

  // 50 viewers of one container: the default per-host cap (48 log streams) would refuse the last ones.
  server = await startTestServer({ name: "bench-logs", env: { BERTH_LOG_STREAMS_PER_HOST: "64", BERTH_LOG_STREAMS_PER_USER: "100" } });
  const admin = await createSignedInUser(server.server, { role: "admin" });
  const join = await createHost({ db: server.server.db, bus: server.server.deps.bus, name: "bench", teamIds: [], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);
  await waitFor(() => server!.server.db.container.findFirst({ where: { hostId: join.hostId, dockerId: ticking } }), { what: "containers mirrored" });
  const socket = await connectBrowserSocket(server.url, { cookie: admin.cookie });

  // Warm up each path once (JIT, connections), then alternate so drift hits both alike.
  await readDirect(docker, finished);
  await readThroughBerth(socket, join.hostId, finished);
  const samples = { direct: [] as number[], socket: [] as number[], download: [] as number[] };
  for (let rep = 0; rep < REPS; rep++) {
    const direct = await timed(() => readDirect(docker, finished));
    const viaSocket = await timed(() => readThroughBerth(socket, join.hostId, finished));
    const viaDownload = await timed(() => downloadThroughBerth(server!.url, admin.cookie, join.hostId, finished));
    for (const [name, got] of [["direct", direct.value], ["socket", viaSocket.value], ["download", viaDownload.value]] as const) {
      if (got !== LINES) throw new Error(`${name} read ${got} lines, expected ${LINES}`);
    }
    samples.direct.push(direct.ms);
    samples.socket.push(viaSocket.ms);
    samples.download.push(viaDownload.ms);
  }
  const whole = { direct: summarize(samples.direct), socket: summarize(samples.socket), download: summarize(samples.download) };

  // Follow latency, both paths at once on the same container.
  const delays = { direct: [] as number[], socket: [] as number[] };
  const stream = (await docker.getContainer(ticking).logs({ follow: true, stdout: true, stderr: true, timestamps: true, tail: 0 })) as NodeJS.ReadableStream & { destroy(): void };
  const directDecoder = new LogDecoder(false, (line) => delays.direct.push(delayOf(line.ts, Date.now())));
  stream.on("data", (chunk: Buffer) => directDecoder.push(chunk));
  socket.on(ServerEvent.logsData, (data: TLogsData) => {
    const now = Date.now();
    for (const line of data.lines) delays.socket.push(delayOf(line.ts, now));
    socket.emit(ClientEvent.logsAck, { subscriptionId: data.subscriptionId, seq: data.seq });
  });
  const ack = await emitWithAck(socket, ClientEvent.logsOpen, { hostId: join.hostId, containerId: ticking, tail: 0, follow: true });
  if (!ack.ok) throw new Error(ack.message);
  await sleep(FOLLOW_SECONDS * 1000);
  stream.destroy();
  socket.disconnect();
  const follow = { direct: summarize(delays.direct), socket: summarize(delays.socket) };

  // Follow throughput: one viewer of a container printing as fast as it can (dockerd is the limit).
  const flood = await runContainer(`bench-logs-flood-${suffix}`, 'yes "flood line of the benchmark log, with some text to make it look real"', false);
  await waitFor(() => server!.server.db.container.findFirst({ where: { hostId: join.hostId, dockerId: flood } }), { what: "flood container mirrored" });
  const floodSocket = await connectBrowserSocket(server.url, { cookie: admin.cookie });
  const throughput = { direct: [] as number[], socket: [] as number[] };
  for (let rep = 0; rep < FOLLOW_REPS; rep++) {
    throughput.direct.push((await followDirect(docker, flood, FOLLOW_SECONDS * 1000)) / FOLLOW_SECONDS);
    throughput.socket.push((await readThroughBerth(floodSocket, join.hostId, flood, { follow: true, tail: 0, stopAfterMs: FOLLOW_SECONDS * 1000 })) / FOLLOW_SECONDS);
  }
  floodSocket.disconnect();
  // Five viewers at once, each against one of five direct followers at once.
  const fiveSockets = await Promise.all(Array.from({ length: 5 }, () => connectBrowserSocket(server!.url, { cookie: admin.cookie })));
  const five = { direct: [] as number[], socket: [] as number[] };
  for (let rep = 0; rep < FOLLOW_REPS; rep++) {
    const direct = await Promise.all(Array.from({ length: 5 }, () => followDirect(docker, flood, FOLLOW_SECONDS * 1000)));
    five.direct.push(Math.min(...direct) / FOLLOW_SECONDS);
    const viaBerth = await Promise.all(fiveSockets.map((s) => readThroughBerth(s, join.hostId, flood, { follow: true, tail: 0, stopAfterMs: FOLLOW_SECONDS * 1000 })));
    five.socket.push(Math.min(...viaBerth) / FOLLOW_SECONDS);
  }
  for (const s of fiveSockets) s.disconnect();
  await dockerCli(["rm", "-f", flood]);
  const best = (values: number[]) => Math.round(Math.max(...values));
  const followRate = { direct: best(throughput.direct), socket: best(throughput.socket) };
  const followFive = { direct: best(five.direct), socket: best(five.socket) };
  // The median of the per-pair ratios: each pair ran back to back, under about the same load.
  const pairRatios = (r: { direct: number[]; socket: number[] }) => summarize(r.socket.map((v, i) => v / r.direct[i]!)).median;
  const followRatioMedian = { one: pairRatios(throughput), five: pairRatios(five) };

  // Shared stream: bytes the agent writes (to the server; its Docker requests are a few hundred bytes) for 1 vs 50 viewers.
  const steady = await runContainer(`bench-logs-steady-${suffix}`, 'while true; do seq 1 200 | sed "s/^/steady line of the benchmark log /"; sleep 0.1; done', false);
  await waitFor(() => server!.server.db.container.findFirst({ where: { hostId: join.hostId, dockerId: steady } }), { what: "steady container mirrored" });
  const agentWritten = async () => Number(/wchar: (\d+)/.exec(await readFile(`/proc/${agent!.process.pid}/io`, "utf8"))![1]);
  const viewersBytes = async (count: number) => {
    const sockets = await Promise.all(Array.from({ length: Math.ceil(count / 10) }, () => connectBrowserSocket(server!.url, { cookie: admin.cookie })));
    const before = await agentWritten();
    const lines = await Promise.all(
      Array.from({ length: count }, (_, i) => readThroughBerth(sockets[i % sockets.length]!, join.hostId, steady, { follow: true, tail: 0, stopAfterMs: FOLLOW_SECONDS * 1000 })),
    );
    const bytes = (await agentWritten()) - before;
    for (const s of sockets) s.disconnect();
    return { bytes, linesPerViewer: Math.min(...lines), agentStreamsSeen: count };
  };
  const oneViewer = await viewersBytes(1);
  const fiftyViewers = await viewersBytes(50);
  await dockerCli(["rm", "-f", steady]);

  const rate = (ms: number) => `${Math.round(LINES / (ms / 1000)).toLocaleString()} lines/s`;
  console.log(`\nWhole log of ${LINES.toLocaleString()} lines (${REPS} reps, median / p95)`);
  console.log(
    table(
      ["path", "median", "p95", "throughput", "ratio"],
      [
        ["direct (dockerode + decode)", fmtMs(whole.direct.median), fmtMs(whole.direct.p95), rate(whole.direct.median), "1.00x"],
        ["Berth socket (agent → server → browser)", fmtMs(whole.socket.median), fmtMs(whole.socket.p95), rate(whole.socket.median), fmtRatio(whole.socket.median / whole.direct.median)],
        ["Berth download (/api/logs/download)", fmtMs(whole.download.median), fmtMs(whole.download.p95), rate(whole.download.median), fmtRatio(whole.download.median / whole.direct.median)],
      ],
    ),
  );
  console.log(`\nFollow: delay from Docker's timestamp to arrival (${FOLLOW_SECONDS} s, a line every 20 ms)`);
  console.log(
    table(
      ["path", "lines", "p50", "p95", "max"],
      [
        ["direct (dockerode follow)", String(follow.direct.n), fmtMs(follow.direct.median), fmtMs(follow.direct.p95), fmtMs(follow.direct.max)],
        ["Berth socket", String(follow.socket.n), fmtMs(follow.socket.median), fmtMs(follow.socket.p95), fmtMs(follow.socket.max)],
      ],
    ),
  );
  console.log(`added by Berth at p50: ${fmtMs(follow.socket.median - follow.direct.median)} (the agent sends at most one frame per 16 ms per stream)`);
  console.log(`\nFollow throughput: one viewer of a container printing as fast as it can (${FOLLOW_SECONDS} s, best of ${FOLLOW_REPS}; median of the pairs' ratios ${fmtRatio(followRatioMedian.one)})`);
  console.log(
    table(
      ["path", "lines/s", "ratio"],
      [
        ["direct (dockerode follow)", followRate.direct.toLocaleString(), "1.00x"],
        ["Berth socket (acknowledging each frame)", followRate.socket.toLocaleString(), fmtRatio(followRate.socket / followRate.direct)],
      ],
    ),
  );
  console.log(`\nFollow throughput: 5 viewers at once vs 5 direct followers at once (${FOLLOW_SECONDS} s, slowest of the 5, best of ${FOLLOW_REPS}; median of the pairs' ratios ${fmtRatio(followRatioMedian.five)})`);
  console.log(
    table(
      ["path", "lines/s each", "ratio"],
      [
        ["direct (5 dockerode follows)", followFive.direct.toLocaleString(), "1.00x"],
        ["Berth socket (5 viewers, one shared agent stream)", followFive.socket.toLocaleString(), fmtRatio(followFive.socket / followFive.direct)],
      ],
    ),
  );
  console.log(`\nShared stream: agent → server bytes while following one container (${FOLLOW_SECONDS} s, ~2,000 lines/s)`);
  console.log(
    table(
      ["viewers", "agent bytes written", "lines each (min)", "ratio"],
      [
        ["1", oneViewer.bytes.toLocaleString(), oneViewer.linesPerViewer.toLocaleString(), "1.00x"],
        ["50", fiftyViewers.bytes.toLocaleString(), fiftyViewers.linesPerViewer.toLocaleString(), fmtRatio(fiftyViewers.bytes / oneViewer.bytes)],
      ],
    ),
  );
  const file = await writeResults("logs", {
    followThroughputFive: followFive,
    followRatioMedian,
    followSamples: { one: throughput, five },
    sharedBytes: { one: oneViewer, fifty: fiftyViewers, ratio: fiftyViewers.bytes / oneViewer.bytes },
    lines: LINES,
    reps: REPS,
    whole: { direct: whole.direct, socket: whole.socket, download: whole.download },
    follow: { direct: { ...follow.direct, samples: undefined }, socket: { ...follow.socket, samples: undefined } },
    followThroughput: followRate,
  });
  console.log(`\nwritten to ${file}`);
} finally {
  await agent?.kill();
  await server?.stop();
  await removeLabelledContainers(docker, LABEL);
}
