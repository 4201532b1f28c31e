/**
 * Relay benchmark: what a live stream costs when the browser sits on another
 * server replica than the agent (frames relayed replica → replica, see
 * server/gateway/stream-relay.ts) against the same stream on the agent's own
 * replica.
 *
 *   node --import tsx bench/relay.ts [--follow-seconds 5] [--reps 3] [--terminal-mb 20]
 *
 * On the real dockerd and Postgres, in the same run, two replicas share one
 * database; the agent is connected to the first:
 *   - log follow throughput: a container printing as fast as it can, followed
 *     by a /browser socket client (acknowledging each frame as a page does)
 *     on the first replica, then on the second, alternating; also dockerode
 *     directly, for scale;
 *   - terminal bulk output: `container.exec` writing N MB through
 *     `AgentLink.openStream` (each frame acknowledged) on each replica.
 * Ratios are across / same replica. Results go to bench/results/relay-<timestamp>.json.
 */
import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { createDockerClient } from "../agent/docker/client.ts";
import { LogDecoder } from "../agent/docker/logs.ts";
import { ClientEvent, ServerEvent, type TLogsData, type TLogsEnd } from "../server/gateway/browser-protocol.ts";
import type { OpenStream } from "../server/services/agent-link.ts";
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
import { fmtRatio, intArg, sleep, summarize, table, writeResults } from "./lib/stats.ts";

const FOLLOW_SECONDS = intArg("follow-seconds", 5);
const REPS = intArg("reps", 3);
const TERMINAL_MB = intArg("terminal-mb", 20);
const LABEL = { key: "berth.bench", value: "relay" };
const SECRET = randomBytes(32).toString("hex");
const suffix = randomBytes(3).toString("hex");

/** Lines a /browser socket client receives in `ms` while following, acknowledging every frame. */
async function followThroughBerth(socket: BrowserTestSocket, hostId: string, containerId: string, ms: number): Promise<number> {
  let count = 0;
  let subscriptionId: string | null = null;
  const early: TLogsData[] = [];
  let endReason: string | null = null;
  const take = (data: TLogsData) => {
    count += data.lines.length;
    socket.emit(ClientEvent.logsAck, { subscriptionId: data.subscriptionId, seq: data.seq });
  };
  const onData = (data: TLogsData) => {
    if (data.subscriptionId === subscriptionId) take(data);
    else if (!subscriptionId) early.push(data);
  };
  const onEnd = (end: TLogsEnd) => {
    if (end.subscriptionId === subscriptionId && end.reason) endReason = end.reason;
  };
  socket.on(ServerEvent.logsData, onData);
  socket.on(ServerEvent.logsEnd, onEnd);
  const ack = await emitWithAck<{ subscriptionId: string }>(socket, ClientEvent.logsOpen, { hostId, containerId, tail: 0, follow: true });
  if (!ack.ok) throw new Error(ack.message);
  subscriptionId = ack.subscriptionId;
  for (const data of early.splice(0)) if (data.subscriptionId === subscriptionId) take(data);
  await sleep(ms);
  const got = count;
  await emitWithAck(socket, ClientEvent.logsClose, { subscriptionId });
  socket.off(ServerEvent.logsData, onData);
  socket.off(ServerEvent.logsEnd, onEnd);
  if (endReason) throw new Error(`the log ended early: ${endReason}`);
  return got;
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

/** Runs `head -c N` of `yes` in a terminal opened through `server`'s AgentLink; resolves with bytes and milliseconds. */
async function terminalBulk(server: TestServer, hostId: string, containerId: string, bytes: number): Promise<{ bytes: number; ms: number }> {
  const started = performance.now();
  let received = 0;
  let stream: OpenStream | null = null;
  let lastSeq = 0;
  const done = new Promise<void>((resolve, reject) => {
    const sink = {
      data: (data: { bytes: Uint8Array } | { exitCode: number | null }, seq: number) => {
        if ("bytes" in data) received += data.bytes.byteLength;
        lastSeq = seq;
        stream?.ack(seq);
      },
      end: (error: Error | null) => (error ? reject(error) : resolve()),
    };
    server.server.hub
      .openStream(hostId, "container.exec", { containerId, cmd: ["sh", "-c", `yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c ${bytes}`], user: "", workingDir: "", env: [], cols: 200, rows: 50 }, sink)
      .then((open) => {
        stream = open;
        if (lastSeq) open.ack(lastSeq);
      }, reject);
  });
  await done;
  return { bytes: received, ms: performance.now() - started };
}

const docker = createDockerClient("/var/run/docker.sock");
let first: TestServer | null = null;
let second: TestServer | null = null;
let agent: TestAgent | null = null;

try {
  await buildTestImages();
  await removeLabelledContainers(docker, LABEL);
  first = await startTestServer({ name: "bench-relay", env: { BERTH_SECRET: SECRET } });
  second = await startTestServer({ database: first.database, env: { BERTH_SECRET: SECRET } });
  const admin = await createSignedInUser(second.server, { role: "admin" });
  const join = await createHost({ db: first.server.db, bus: first.server.deps.bus, name: "bench-relay", teamIds: [], ttlMinutes: 5, serverUrl: first.url });
  agent = await startTestAgent({ serverUrl: first.url, joinToken: join.token });
  await waitForSnapshot(first.server, join.hostId);

  const create = async (name: string, cmd: string[]) => {
    const id = await dockerCli(["create", "--init", "--name", `${name}-${suffix}`, "--label", `${LABEL.key}=${LABEL.value}`, TEST_IMAGE, ...cmd]);
    await dockerCli(["start", id]);
    await waitFor(() => first!.server.db.container.findFirst({ where: { hostId: join.hostId, dockerId: id } }), { what: `${name} mirrored` });
    return id;
  };
  const flood = await create("bench-relay-flood", ["yes", "flood line of the benchmark log, with some text to make it look real"]);
  const shell = await create("bench-relay-shell", ["sleep", "3600"]);

  const onFirst = await connectBrowserSocket(first.url, { cookie: admin.cookie });
  const onSecond = await connectBrowserSocket(second.url, { cookie: admin.cookie });
  const ms = FOLLOW_SECONDS * 1000;
  // Warm-up (JIT, the replica-to-replica connection), then alternate so drift hits every path alike.
  await followThroughBerth(onFirst, join.hostId, flood, 1_000);
  await followThroughBerth(onSecond, join.hostId, flood, 1_000);
  const follow = { direct: [] as number[], same: [] as number[], across: [] as number[] };
  for (let rep = 0; rep < REPS; rep++) {
    follow.direct.push((await followDirect(docker, flood, ms)) / FOLLOW_SECONDS);
    follow.same.push((await followThroughBerth(onFirst, join.hostId, flood, ms)) / FOLLOW_SECONDS);
    follow.across.push((await followThroughBerth(onSecond, join.hostId, flood, ms)) / FOLLOW_SECONDS);
  }
  onFirst.disconnect();
  onSecond.disconnect();
  await dockerCli(["rm", "-f", flood]);
  const followSummary = { direct: summarize(follow.direct), same: summarize(follow.same), across: summarize(follow.across) };

  const bytes = TERMINAL_MB * 1024 * 1024;
  await terminalBulk(first, join.hostId, shell, 1024 * 1024);
  await terminalBulk(second, join.hostId, shell, 1024 * 1024);
  const terminal = { same: [] as number[], across: [] as number[] };
  for (let rep = 0; rep < REPS; rep++) {
    for (const [path, server] of [["same", first], ["across", second]] as const) {
      const run = await terminalBulk(server, join.hostId, shell, bytes);
      // A TTY turns each "\n" into "\r\n": at least the bytes asked for arrive.
      if (run.bytes < bytes) throw new Error(`${path}: ${run.bytes} bytes of ${bytes}`);
      terminal[path].push(run.bytes / (1024 * 1024) / (run.ms / 1000));
    }
  }
  const terminalSummary = { same: summarize(terminal.same), across: summarize(terminal.across) };

  const lps = (n: number) => `${Math.round(n).toLocaleString()} lines/s`;
  console.log(`\nLog follow throughput: a container printing as fast as it can, one viewer acknowledging each frame (${FOLLOW_SECONDS} s × ${REPS}, median / best)`);
  console.log(
    table(
      ["path", "median", "best", "vs same replica (median)"],
      [
        ["direct (dockerode follow, for scale)", lps(followSummary.direct.median), lps(followSummary.direct.max), "-"],
        ["browser on the agent's replica", lps(followSummary.same.median), lps(followSummary.same.max), "1.00x"],
        ["browser on another replica (relayed)", lps(followSummary.across.median), lps(followSummary.across.max), fmtRatio(followSummary.across.median / followSummary.same.median)],
      ],
    ),
  );
  const mbps = (n: number) => `${n.toFixed(1)} MB/s`;
  console.log(`\nTerminal bulk output: ${TERMINAL_MB} MB through container.exec, each frame acknowledged (${REPS} reps, median / best)`);
  console.log(
    table(
      ["path", "median", "best", "vs same replica (median)"],
      [
        ["AgentLink on the agent's replica", mbps(terminalSummary.same.median), mbps(terminalSummary.same.max), "1.00x"],
        ["AgentLink on another replica (relayed)", mbps(terminalSummary.across.median), mbps(terminalSummary.across.max), fmtRatio(terminalSummary.across.median / terminalSummary.same.median)],
      ],
    ),
  );
  console.log("(ratio = across / same; the relay adds one socket.io hop between replicas, both on this machine)");
  const file = await writeResults("relay", {
    followSeconds: FOLLOW_SECONDS,
    reps: REPS,
    follow: {
      direct: { ...followSummary.direct, samples: follow.direct },
      same: { ...followSummary.same, samples: follow.same },
      across: { ...followSummary.across, samples: follow.across },
      ratio: followSummary.across.median / followSummary.same.median,
    },
    terminalMb: TERMINAL_MB,
    terminal: {
      same: { ...terminalSummary.same, samples: terminal.same },
      across: { ...terminalSummary.across, samples: terminal.across },
      ratio: terminalSummary.across.median / terminalSummary.same.median,
    },
  });
  console.log(`\nwritten to ${file}`);
} finally {
  await agent?.kill();
  await second?.stop();
  await first?.stop();
  await removeLabelledContainers(docker, LABEL);
}
