/**
 * Stats benchmark: what live stats cost on the agent → server link, and how
 * that cost grows with viewers.
 *
 *   node --import tsx bench/stats.ts [--seconds 15] [--viewers 10]
 *
 * On the real dockerd and Postgres, with a real agent process and a real
 * server, one busy container, in the same run:
 *   - idle: no viewer, for the same period (heartbeats, reconciliation reports);
 *   - 1 viewer: one socket.io client signed in with a real session follows the container's stats;
 *   - N viewers: N such clients follow the same container at once;
 *   - raw Docker: the bytes of Docker's own stats stream for the same container
 *     and period (read with dockerode alongside the 1-viewer phase).
 * agent → server bytes are counted on the agent's socket at the server (every
 * message off the wire, `AgentHub.bytesReceivedFrom`). Goal: N viewers ≤ 1.1× one viewer.
 * Results go to bench/results/stats-<timestamp>.json.
 */
import { randomBytes } from "node:crypto";
import { createDockerClient } from "../agent/docker/client.ts";
import { ClientEvent, ServerEvent, type TStatsData } from "../server/gateway/browser-protocol.ts";
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
import { fmtRatio, intArg, sleep, table, writeResults } from "./lib/stats.ts";

const SECONDS = intArg("seconds", 15);
const VIEWERS = intArg("viewers", 10);
const LABEL = { key: "berth.bench", value: "stats" };
const suffix = randomBytes(3).toString("hex");

const docker = createDockerClient(process.env.DOCKER_SOCKET ?? "/var/run/docker.sock");
let server: TestServer | null = null;
let agent: TestAgent | null = null;
const sockets: BrowserTestSocket[] = [];

/** Bytes the agent sent during `work`, on its socket at the server: everything, and its stream frames. */
async function agentBytesDuring(hostId: string, work: () => Promise<void>): Promise<{ all: number; streams: number; others: string }> {
  const before = server!.server.hub.bytesReceivedFrom(hostId);
  await work();
  const after = server!.server.hub.bytesReceivedFrom(hostId);
  if (before === null || after === null) throw new Error("the agent disconnected during the measurement");
  // What else the agent sent meanwhile (inventory changes of other containers on this dockerd, heartbeats…).
  const others = Object.entries(after.byEvent)
    .map(([event, bytes]) => [event, bytes - (before.byEvent[event] ?? 0)] as const)
    .filter(([event, bytes]) => bytes > 0 && event !== "stream:data")
    .map(([event, bytes]) => `${event} ${(bytes / 1024).toFixed(1)}K`)
    .join(", ");
  return { all: after.all - before.all, streams: after.streams - before.streams, others };
}

/** Opens `n` viewers of the container's stats; resolves once each has a sample; returns how to close them and count samples. */
async function openViewers(url: string, cookie: string, hostId: string, containerId: string, n: number) {
  const viewers = await Promise.all(Array.from({ length: n }, () => connectBrowserSocket(url, { cookie })));
  sockets.push(...viewers);
  let samples = 0;
  const ids: string[] = [];
  for (const socket of viewers) {
    socket.on(ServerEvent.statsData, (data: TStatsData) => void (samples += data.samples.length));
    const ack = await emitWithAck<{ subscriptionId: string }>(socket, ClientEvent.statsOpen, { hostId, containerId });
    if (!ack.ok) throw new Error(`stats:open refused: ${ack.message}`);
    ids.push(ack.subscriptionId);
  }
  return {
    samples: () => samples,
    async close() {
      for (const [i, socket] of viewers.entries()) {
        await emitWithAck(socket, ClientEvent.statsClose, { subscriptionId: ids[i] });
        socket.disconnect();
      }
    },
  };
}

/** Docker's own stats stream of the container for `ms`: the bytes it sent. */
async function rawDockerBytes(containerId: string, ms: number): Promise<number> {
  const stream = (await docker.getContainer(containerId).stats({ stream: true })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  let bytes = 0;
  stream.on("data", (chunk: Buffer) => void (bytes += chunk.length));
  await sleep(ms);
  stream.destroy();
  return bytes;
}

try {
  await buildTestImages();
  await removeLabelledContainers(docker, LABEL);
  const containerId = await dockerCli([
    "run", "-d", "--init", "--name", `bench-stats-${suffix}`, "--label", `${LABEL.key}=${LABEL.value}`, TEST_IMAGE, "sh", "-c", "while true; do :; done",
  ]);
  server = await startTestServer({ name: "bench_stats" });
  const db = server.server.db;
  const team = await db.team.create({ data: { name: `bench-stats-${suffix}` } });
  const user = await createSignedInUser(server.server, { role: "admin", email: `bench-stats-${suffix}@example.test` });
  const join = await createHost({ db, bus: server.server.deps.bus, name: `bench-stats-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);
  await waitFor(() => db.container.findFirst({ where: { hostId: join.hostId, dockerId: containerId } }), { what: "the container in the mirror", timeoutMs: 30_000 });
  await sleep(5_000); // let the snapshot's aftermath settle

  const ms = SECONDS * 1000;

  // One viewer, with Docker's raw stream read alongside for the same period.
  const one = await openViewers(server.url, user.cookie, join.hostId, containerId, 1);
  await waitFor(() => one.samples() > 0, { what: "the first sample", timeoutMs: 20_000 });
  let raw = 0;
  const oneBytes = await agentBytesDuring(join.hostId, async () => {
    raw = await rawDockerBytes(containerId, ms);
  });
  const oneSamples = one.samples();
  const agentStreamsOne = server.server.hub.openStreamsOfType("container.stats");
  await one.close();
  await waitFor(() => server!.server.hub.openStreamsOfType("container.stats") === 0, { what: "the stream closed" });

  const many = await openViewers(server.url, user.cookie, join.hostId, containerId, VIEWERS);
  await waitFor(() => many.samples() >= VIEWERS, { what: "a sample at every viewer", timeoutMs: 20_000 });
  const manyBytes = await agentBytesDuring(join.hostId, () => sleep(ms));
  const agentStreamsMany = server.server.hub.openStreamsOfType("container.stats");
  const manySamples = many.samples();
  await many.close();
  await waitFor(() => server!.server.hub.openStreamsOfType("container.stats") === 0, { what: "the stream closed" });
  // Last, so the snapshot's aftermath is long over: what the link carries with nobody watching.
  const idle = await agentBytesDuring(join.hostId, () => sleep(ms));

  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const perS = (n: number) => `${Math.round(n / SECONDS)} B/s`;
  console.log(`\nStats of one busy container, ${SECONDS} s per phase`);
  console.log(
    table(
      ["phase", "agent streams", "agent → server (all)", "of which stream frames", "rate (all)", "ratio (all)", "ratio (frames)"],
      [
        ["idle (no viewer)", "0", kb(idle.all), kb(idle.streams), perS(idle.all), "—", "—"],
        ["1 viewer", String(agentStreamsOne), kb(oneBytes.all), kb(oneBytes.streams), perS(oneBytes.all), "1.00x", "1.00x"],
        [`${VIEWERS} viewers`, String(agentStreamsMany), kb(manyBytes.all), kb(manyBytes.streams), perS(manyBytes.all), fmtRatio(manyBytes.all / oneBytes.all), fmtRatio(manyBytes.streams / oneBytes.streams)],
      ],
    ),
  );
  console.log(`other agent traffic — idle: ${idle.others || "none"}; 1 viewer: ${oneBytes.others || "none"}; ${VIEWERS} viewers: ${manyBytes.others || "none"}`);
  console.log(`\n${VIEWERS} viewers vs 1 (goal ≤ 1.1x): ${fmtRatio(manyBytes.all / oneBytes.all)} on the whole socket, ${fmtRatio(manyBytes.streams / oneBytes.streams)} for the stats frames`);
  console.log(
    table(
      ["stream", "bytes", "rate", "ratio"],
      [
        ["raw Docker stats stream (dockerode, same period)", kb(raw), perS(raw), "1.00x"],
        ["agent → server, 1 viewer (everything on the socket)", kb(oneBytes.all), perS(oneBytes.all), fmtRatio(oneBytes.all / raw)],
        ["agent → server, 1 viewer (stats frames)", kb(oneBytes.streams), perS(oneBytes.streams), fmtRatio(oneBytes.streams / raw)],
      ],
    ),
  );
  console.log(`samples received: 1 viewer ${oneSamples}, ${VIEWERS} viewers ${manySamples} in total`);
  const file = await writeResults("stats", {
    seconds: SECONDS,
    viewers: VIEWERS,
    bytes: { idle, oneViewer: oneBytes, manyViewers: manyBytes, rawDocker: raw },
    agentStreams: { oneViewer: agentStreamsOne, manyViewers: agentStreamsMany },
    ratios: {
      manyVsOne: manyBytes.all / oneBytes.all,
      manyVsOneStatsFrames: manyBytes.streams / oneBytes.streams,
      agentVsRawDocker: oneBytes.all / raw,
      statsFramesVsRawDocker: oneBytes.streams / raw,
    },
    samples: { oneViewer: oneSamples, manyViewers: manySamples },
  });
  console.log(`\nwritten to ${file}`);
} finally {
  for (const socket of sockets) socket.disconnect();
  await agent?.kill();
  await server?.stop();
  await removeLabelledContainers(docker, LABEL);
}
