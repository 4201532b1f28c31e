/**
 * Build benchmark: the same context built through Berth vs `docker build`
 * directly, on the same daemon, in the same run, --no-cache both ways.
 *
 *   node --import tsx bench/image-build.ts [--rounds 3] [--mb 40]
 *
 * The context: `--mb` MB of random files (so sending the context is real
 * work) and a Dockerfile FROM the busybox test image that COPYs them, runs a
 * step and sets a label. Through Berth the context is uploaded to the server
 * (POST /api/build-context, as the page does) and the build driven over a
 * /browser socket; the time covers upload + build. `docker build` gets the
 * same folder. Both use the classic builder. Goal: ≤ 1.2× docker build.
 * Results go to bench/results/image-build-<timestamp>.json.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ClientEvent, ServerEvent, type TImageBuildEnd, type TImageBuildOutputFrame, type TImageBuildStarted } from "../server/gateway/browser-protocol.ts";
import { createHost } from "../server/services/hosts.ts";
import { connectBrowserSocket, createSignedInUser, emitWithAck, startTestAgent, startTestServer, waitForSnapshot, type TestAgent, type TestServer } from "../test/infra/berth.ts";
import { buildTestImages, dockerCli, TEST_IMAGE } from "../test/infra/docker.ts";
import { fmtMs, fmtRatio, intArg, sleep, table, writeResults } from "./lib/stats.ts";

const ROUNDS = intArg("rounds", 3);
const MB = intArg("mb", 40);
const suffix = randomBytes(3).toString("hex");
const TAG_BERTH = `berth-bench/build-berth-${suffix}:1`;
const TAG_DIRECT = `berth-bench/build-direct-${suffix}:1`;
const run = promisify(execFile);

let server: TestServer | null = null;
let agent: TestAgent | null = null;
let work = "";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  await buildTestImages();
  work = await mkdtemp(path.join(os.tmpdir(), "berth-bench-build-"));
  const context = path.join(work, "context");
  await mkdir(path.join(context, "data"), { recursive: true });
  for (let i = 0; i < MB; i++) await writeFile(path.join(context, "data", `part-${i}.bin`), randomBytes(1_000_000));
  await writeFile(path.join(context, "Dockerfile"), [`FROM ${TEST_IMAGE}`, "COPY data/ /data/", "RUN du -s /data > /size.txt", 'LABEL bench="build"', ""].join("\n"));
  const tarball = (await run("tar", ["-C", context, "-cf", "-", "."], { encoding: "buffer", maxBuffer: (MB + 8) << 20 })).stdout;

  server = await startTestServer({ name: "bench_build", env: { BERTH_BUILD_CONTEXT_MAX_MB: String(MB * 2 + 16) } });
  const db = server.server.db;
  const team = await db.team.create({ data: { name: `bench-build-${suffix}` } });
  const user = await createSignedInUser(server.server, { role: "admin", email: `bench-build-${suffix}@example.test` });
  const join = await createHost({ db, bus: server.server.deps.bus, name: `bench-build-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);
  const socket = await connectBrowserSocket(server.url, { cookie: user.cookie });
  const url = server.url;

  /**
   * POSTs the tar as the page sends a file: one request, written with
   * node:http. (undici's fetch, running in this same process as the server,
   * took 3–7 s to send 40 MB that node:http sends to the same route in
   * 0.6–1.2 s: that measured the client, not Berth.)
   */
  const upload = (target: string, body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(target, {
        method: "POST",
        headers: { cookie: user.cookie, origin: url, "content-type": "application/octet-stream", "content-length": body.length },
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  const viaBerth = async () => {
    let buildId = "";
    const start = performance.now();
    const response = await upload(`${url}/api/build-context?${new URLSearchParams({ hostId: join.hostId, format: "tar" })}`, tarball);
    if (response.status !== 200) throw new Error(`upload: ${response.status} ${response.text}`);
    const uploaded = performance.now() - start;
    const { contextId } = JSON.parse(response.text) as { contextId: string };
    const ended = new Promise<TImageBuildEnd>((resolve) => {
      socket.on(ServerEvent.imageBuildEnd, (end: TImageBuildEnd) => end.buildId === buildId && resolve(end));
    });
    socket.on(ServerEvent.imageBuildOutput, (frame: TImageBuildOutputFrame) => socket.emit(ClientEvent.imageBuildAck, { buildId: frame.buildId, seq: frame.seq }));
    const ack = await emitWithAck<TImageBuildStarted>(socket, ClientEvent.imageBuild, { hostId: join.hostId, contextId, tags: [TAG_BERTH], noCache: true });
    if (!ack.ok) throw new Error(ack.message);
    buildId = ack.buildId;
    const end = await ended;
    socket.off(ServerEvent.imageBuildOutput);
    socket.off(ServerEvent.imageBuildEnd);
    if (end.error) throw new Error(end.error);
    return { ms: performance.now() - start, uploadMs: uploaded };
  };
  const direct = async () => {
    const start = performance.now();
    await dockerCli(["build", "--no-cache", "-q", "-t", TAG_DIRECT, context], { timeoutMs: 300_000 });
    return performance.now() - start;
  };

  const berthRuns: Array<{ ms: number; uploadMs: number }> = [];
  const directRuns: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so neither always meets a warmer page cache.
    for (const which of round % 2 ? ["berth", "direct"] : ["direct", "berth"]) {
      await dockerCli(["image", "rm", "--force", TAG_BERTH, TAG_DIRECT]).catch(() => undefined);
      await sleep(500);
      if (which === "berth") berthRuns.push(await viaBerth());
      else directRuns.push(await direct());
    }
  }
  socket.disconnect();
  const berthMedian = median(berthRuns.map((r) => r.ms));
  const directMedian = median(directRuns);
  console.log(`\nBuild of a ${MB} MB context (COPY + RUN + LABEL on the busybox image), --no-cache, ${ROUNDS} rounds each`);
  console.log(
    table(
      ["path", "median", "runs", "ratio"],
      [
        ["docker build (CLI, classic builder, same daemon)", fmtMs(directMedian), directRuns.map(fmtMs).join(", "), "1.00x"],
        ["Berth (upload → server → agent → Docker, socket output)", fmtMs(berthMedian), berthRuns.map((r) => fmtMs(r.ms)).join(", "), fmtRatio(berthMedian / directMedian)],
      ],
    ),
  );
  console.log(`goal: ≤ 1.2x; of Berth's time, the upload to the server took ${berthRuns.map((r) => fmtMs(r.uploadMs)).join(", ")}`);
  const file = await writeResults("image-build", { rounds: ROUNDS, contextMb: MB, berthRuns, directRuns, ratio: berthMedian / directMedian });
  console.log(`\nwritten to ${file}`);
} finally {
  await agent?.kill();
  await server?.stop();
  await dockerCli(["image", "rm", "--force", TAG_BERTH, TAG_DIRECT]).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
}
