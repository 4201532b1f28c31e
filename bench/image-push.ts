/**
 * Push benchmark: a multi-layer image pushed through Berth vs `docker push`
 * directly, from the same daemon, in the same run.
 *
 *   node --import tsx bench/image-push.ts [--rounds 3] [--mb 20]
 *
 * The image: the busybox test image plus three layers of random bytes (`--mb`
 * each). Every measurement pushes to a fresh registry (Debian's
 * docker-registry on a new port) under a fresh repository name, so every
 * layer really uploads: Docker would otherwise skip layers the registry has
 * ("Layer already exists") or mount them from another repository. Both paths
 * include the `docker tag` that names the target. Berth's push is driven by a
 * /browser socket client (as the page does); the longest gap between two
 * progress frames is reported too. Results go to bench/results/image-push-<timestamp>.json.
 */
import { randomBytes } from "node:crypto";
import { ClientEvent, ServerEvent, type TImagePushEnd, type TImagePushProgressFrame, type TImagePushStarted } from "../server/gateway/browser-protocol.ts";
import { createHost } from "../server/services/hosts.ts";
import { connectBrowserSocket, createSignedInUser, emitWithAck, startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../test/infra/berth.ts";
import { buildTestImages, dockerCli, TEST_IMAGE } from "../test/infra/docker.ts";
import { startTestRegistry, type TestRegistry } from "../test/infra/registry.ts";
import { fmtMs, fmtRatio, intArg, sleep, table, writeResults } from "./lib/stats.ts";

const ROUNDS = intArg("rounds", 3);
const MB = intArg("mb", 20);
const suffix = randomBytes(3).toString("hex");
const SOURCE = `berth-bench/push-source-${suffix}:latest`;

let server: TestServer | null = null;
let agent: TestAgent | null = null;
const registries: TestRegistry[] = [];
const pushed: string[] = [];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  await buildTestImages();
  await dockerCli(["build", "-q", "-t", SOURCE, "-"], {
    input: [`FROM ${TEST_IMAGE}`, ...["a", "b", "c"].map((name) => `RUN head -c ${MB * 1_000_000} /dev/urandom > /${name}.bin`)].join("\n") + "\n",
    timeoutMs: 300_000,
  });
  const sourceId = await dockerCli(["image", "inspect", "--format", "{{.Id}}", SOURCE]);

  server = await startTestServer({ name: "bench_push" });
  const db = server.server.db;
  const team = await db.team.create({ data: { name: `bench-push-${suffix}` } });
  const user = await createSignedInUser(server.server, { role: "admin", email: `bench-push-${suffix}@example.test` });
  const join = await createHost({ db, bus: server.server.deps.bus, name: `bench-push-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);
  await waitFor(() => db.image.findUnique({ where: { hostId_dockerId: { hostId: join.hostId, dockerId: sourceId } }, select: { dockerId: true } }), { what: "the source image in Berth" });
  const socket = await connectBrowserSocket(server.url, { cookie: user.cookie });

  const freshTarget = async (name: string) => {
    const registry = await startTestRegistry({ auth: "none" });
    registries.push(registry);
    const reference = `${registry.host}/bench/push-${suffix}-${name}:v1`;
    pushed.push(reference);
    return reference;
  };
  const viaBerth = async (reference: string) => {
    let pushId = "";
    let last = 0;
    let maxGap = 0;
    let frames = 0;
    const start = performance.now();
    const ended = new Promise<TImagePushEnd>((resolve) => {
      socket.on(ServerEvent.imagePushEnd, (end: TImagePushEnd) => end.pushId === pushId && resolve(end));
    });
    socket.on(ServerEvent.imagePushProgress, (frame: TImagePushProgressFrame) => {
      const now = performance.now();
      if (last) maxGap = Math.max(maxGap, now - last);
      last = now;
      frames++;
      socket.emit(ClientEvent.imagePushAck, { pushId: frame.pushId, seq: frame.seq });
    });
    const ack = await emitWithAck<TImagePushStarted>(socket, ClientEvent.imagePush, { hostId: join.hostId, imageId: sourceId, reference });
    if (!ack.ok) throw new Error(ack.message);
    pushId = ack.pushId;
    const end = await ended;
    socket.off(ServerEvent.imagePushProgress);
    socket.off(ServerEvent.imagePushEnd);
    if (end.error) throw new Error(end.error);
    return { ms: performance.now() - start, maxGap, frames };
  };
  const direct = async (reference: string) => {
    const start = performance.now();
    await dockerCli(["tag", SOURCE, reference]);
    await dockerCli(["push", "--quiet", reference], { timeoutMs: 300_000 });
    return performance.now() - start;
  };

  const berthRuns: Array<{ ms: number; maxGap: number; frames: number }> = [];
  const directRuns: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so neither always meets a warmer disk.
    for (const which of round % 2 ? ["berth", "direct"] : ["direct", "berth"]) {
      const reference = await freshTarget(`${round}-${which}`);
      await sleep(500);
      if (which === "berth") berthRuns.push(await viaBerth(reference));
      else directRuns.push(await direct(reference));
      await registries.pop()!.stop();
    }
  }
  socket.disconnect();
  const berthMedian = median(berthRuns.map((r) => r.ms));
  const directMedian = median(directRuns);
  const worstGap = Math.max(...berthRuns.map((r) => r.maxGap));
  console.log(`\nPush of a ${3 * MB} MB, 4-layer image to a fresh local registry, ${ROUNDS} rounds each`);
  console.log(
    table(
      ["path", "median", "runs", "ratio"],
      [
        ["docker tag + docker push (CLI, same daemon)", fmtMs(directMedian), directRuns.map(fmtMs).join(", "), "1.00x"],
        ["Berth (browser socket → server → agent → Docker)", fmtMs(berthMedian), berthRuns.map((r) => fmtMs(r.ms)).join(", "), fmtRatio(berthMedian / directMedian)],
      ],
    ),
  );
  console.log(`progress: longest gap between two updates ${fmtMs(worstGap)}; frames per push ${berthRuns.map((r) => r.frames).join(", ")}`);
  const file = await writeResults("image-push", { rounds: ROUNDS, mbPerLayer: MB, berthRuns, directRuns, ratio: berthMedian / directMedian, worstProgressGapMs: worstGap });
  console.log(`\nwritten to ${file}`);
} finally {
  await agent?.kill();
  await server?.stop();
  for (const registry of registries) await registry.stop();
  for (const reference of pushed) await dockerCli(["image", "rm", reference]).catch(() => undefined);
  await dockerCli(["image", "rm", "--force", SOURCE]).catch(() => undefined);
}
