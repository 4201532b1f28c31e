/**
 * Pull benchmark: a multi-layer image from a local registry, pulled through
 * Berth vs `docker pull` directly, on the same daemon, in the same run.
 *
 *   node --import tsx bench/image-pull.ts [--rounds 3] [--mb 20]
 *
 * The image: the busybox test image plus three layers of random bytes
 * (`--mb` each), pushed to a real registry (Debian's docker-registry), then
 * removed locally so every round really downloads and extracts them.
 * Berth's pull is driven by a /browser socket client (as the page does); the
 * longest gap between two progress frames it received is reported too
 * (goal: an update at least every 250 ms). Goal for time: ≤ 1.2× docker pull.
 * Results go to bench/results/image-pull-<timestamp>.json.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { ClientEvent, ServerEvent, type TImagePullEnd, type TImagePullProgressFrame, type TImagePullStarted } from "../server/gateway/browser-protocol.ts";
import { createHost } from "../server/services/hosts.ts";
import { connectBrowserSocket, createSignedInUser, emitWithAck, startTestAgent, startTestServer, waitForSnapshot, type TestAgent, type TestServer } from "../test/infra/berth.ts";
import { buildTestImages, dockerCli, TEST_IMAGE } from "../test/infra/docker.ts";
import { startTestRegistry, type TestRegistry } from "../test/infra/registry.ts";
import { fmtMs, fmtRatio, intArg, sleep, table, writeResults } from "./lib/stats.ts";

const ROUNDS = intArg("rounds", 3);
const MB = intArg("mb", 20);
const suffix = randomBytes(3).toString("hex");
const SOURCE = `berth-bench/pull-source-${suffix}:latest`;

let server: TestServer | null = null;
let agent: TestAgent | null = null;
let registry: TestRegistry | null = null;
let reference = "";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  await buildTestImages();
  const build = promisify(execFile)("docker", ["build", "-q", "-t", SOURCE, "-"], { timeout: 300_000 });
  build.child.stdin!.end(
    [`FROM ${TEST_IMAGE}`, ...["a", "b", "c"].map((name) => `RUN head -c ${MB * 1_000_000} /dev/urandom > /${name}.bin`)].join("\n") + "\n",
  );
  await build;
  registry = await startTestRegistry({ auth: "none" });
  await registry.push(SOURCE, `bench/pull-${suffix}:v1`);
  reference = `${registry.host}/bench/pull-${suffix}:v1`;
  await dockerCli(["image", "rm", "--force", SOURCE, reference]);

  server = await startTestServer({ name: "bench_pull" });
  const db = server.server.db;
  const team = await db.team.create({ data: { name: `bench-pull-${suffix}` } });
  const user = await createSignedInUser(server.server, { role: "admin", email: `bench-pull-${suffix}@example.test` });
  const join = await createHost({ db, bus: server.server.deps.bus, name: `bench-pull-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);
  const socket = await connectBrowserSocket(server.url, { cookie: user.cookie });

  const viaBerth = async () => {
    let pullId = "";
    let last = 0;
    let maxGap = 0;
    let frames = 0;
    const start = performance.now();
    const ended = new Promise<TImagePullEnd>((resolve) => {
      socket.on(ServerEvent.imagePullEnd, (end: TImagePullEnd) => end.pullId === pullId && resolve(end));
    });
    socket.on(ServerEvent.imagePullProgress, (frame: TImagePullProgressFrame) => {
      const now = performance.now();
      if (last) maxGap = Math.max(maxGap, now - last);
      last = now;
      frames++;
      socket.emit(ClientEvent.imagePullAck, { pullId: frame.pullId, seq: frame.seq });
    });
    const ack = await emitWithAck<TImagePullStarted>(socket, ClientEvent.imagePull, { hostId: join.hostId, reference });
    if (!ack.ok) throw new Error(ack.message);
    pullId = ack.pullId;
    const end = await ended;
    socket.off(ServerEvent.imagePullProgress);
    socket.off(ServerEvent.imagePullEnd);
    if (end.error) throw new Error(end.error);
    return { ms: performance.now() - start, maxGap, frames };
  };
  const direct = async () => {
    const start = performance.now();
    await dockerCli(["pull", "--quiet", reference], { timeoutMs: 300_000 });
    return { ms: performance.now() - start };
  };

  const berthRuns: Array<{ ms: number; maxGap: number; frames: number }> = [];
  const directRuns: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so neither always meets a warmer registry.
    for (const which of round % 2 ? ["berth", "direct"] : ["direct", "berth"]) {
      await dockerCli(["image", "rm", "--force", reference]).catch(() => undefined);
      await sleep(500);
      if (which === "berth") berthRuns.push(await viaBerth());
      else directRuns.push((await direct()).ms);
    }
  }
  socket.disconnect();
  const berthMedian = median(berthRuns.map((r) => r.ms));
  const directMedian = median(directRuns);
  const worstGap = Math.max(...berthRuns.map((r) => r.maxGap));
  console.log(`\nPull of a ${3 * MB} MB, 4-layer image from a local registry, ${ROUNDS} rounds each`);
  console.log(
    table(
      ["path", "median", "runs", "ratio"],
      [
        ["docker pull (CLI, same daemon)", fmtMs(directMedian), directRuns.map(fmtMs).join(", "), "1.00x"],
        ["Berth (browser socket → server → agent → Docker)", fmtMs(berthMedian), berthRuns.map((r) => fmtMs(r.ms)).join(", "), fmtRatio(berthMedian / directMedian)],
      ],
    ),
  );
  console.log(`goal: ≤ 1.2x`);
  console.log(`progress: longest gap between two updates ${fmtMs(worstGap)} (goal ≤ 250 ms); frames per pull ${berthRuns.map((r) => r.frames).join(", ")}`);
  const file = await writeResults("image-pull", { rounds: ROUNDS, mbPerLayer: MB, berthRuns, directRuns, ratio: berthMedian / directMedian, worstProgressGapMs: worstGap });
  console.log(`\nwritten to ${file}`);
} finally {
  await agent?.kill();
  await server?.stop();
  await registry?.stop();
  await dockerCli(["image", "rm", "--force", reference]).catch(() => undefined);
  await dockerCli(["image", "rm", "--force", SOURCE]).catch(() => undefined);
}
