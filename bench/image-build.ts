/**
 * Build benchmark: the same context built through Berth vs `docker build`
 * directly, on the same daemon, in the same run, --no-cache both ways.
 *
 *   node --import tsx bench/image-build.ts [--rounds 3] [--mb 40]
 *
 * The context: `--mb` MB of random files (so sending the context is real
 * work) and a Dockerfile FROM the busybox test image that COPYs them, runs a
 * step and sets a label. `docker build` gets the folder (the CLI tars it and
 * sends it over the Docker API). Through Berth, the same folder as a tar,
 * the two ways the page sends one, builds driven over a /browser socket:
 *  - streamed (a .tar, what the goal is about): the build starts announcing
 *    the tar, then the tar is POSTed to /api/build-context with the build's
 *    uploadContextId and forwarded to the agent as it arrives;
 *  - stored first (a zip, .tar.gz or folder): POST, then the build.
 * Each Berth time covers the upload and the build, up to the build's end on
 * the socket. Both use the classic builder. Goal: ≤ 1.2× docker build.
 *
 * The upload client is node:http, one request writing the tar as the browser
 * sends a file. (undici's fetch, in this same process as the server, took
 * 3–7 s to send the 40 MB that node:http sends to the same route in
 * 0.6–1.2 s: that measured the client, not Berth.) The peak RSS of this
 * process (server + client) above its level before each build is reported:
 * the streamed path must not buffer the context.
 * Results go to bench/results/image-build-<timestamp>.json.
 */
import { execFile } from "node:child_process";
import http from "node:http";
import { randomBytes } from "node:crypto";
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

  /** POSTs `body` as the page does (a raw tar), answering the status and text. */
  const post = (query: Record<string, string>, body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${url}/api/build-context?${new URLSearchParams(query)}`, {
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
  /** The peak RSS above the level when it started, sampled every 20 ms. */
  const rssWatch = () => {
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    return () => (clearInterval(timer), (peak - base) / (1024 * 1024));
  };

  const build = async (fields: { contextId: string | null; upload: { format: "tar"; bytes: number } | null }) => {
    let buildId = "";
    const early: TImageBuildEnd[] = [];
    let resolveEnd!: (end: TImageBuildEnd) => void;
    const ended = new Promise<TImageBuildEnd>((resolve) => (resolveEnd = resolve));
    socket.on(ServerEvent.imageBuildEnd, (end: TImageBuildEnd) => (buildId ? end.buildId === buildId && resolveEnd(end) : early.push(end)));
    socket.on(ServerEvent.imageBuildOutput, (frame: TImageBuildOutputFrame) => socket.emit(ClientEvent.imageBuildAck, { buildId: frame.buildId, seq: frame.seq }));
    const ack = await emitWithAck<TImageBuildStarted>(socket, ClientEvent.imageBuild, { hostId: join.hostId, ...fields, tags: [TAG_BERTH], noCache: true });
    if (!ack.ok) throw new Error(ack.message);
    buildId = ack.buildId;
    for (const end of early) if (end.buildId === buildId) resolveEnd(end);
    return {
      started: ack,
      async end() {
        const end = await ended;
        socket.off(ServerEvent.imageBuildOutput);
        socket.off(ServerEvent.imageBuildEnd);
        if (end.error) throw new Error(end.error);
      },
    };
  };
  const viaBerthStreamed = async () => {
    const rss = rssWatch();
    const start = performance.now();
    const { started, end } = await build({ contextId: null, upload: { format: "tar", bytes: tarball.length } });
    const uploaded = post({ hostId: join.hostId, format: "tar", contextId: started.uploadContextId! }, tarball).then((r) => {
      if (r.status !== 200) throw new Error(`upload: ${r.status} ${r.text}`);
      return performance.now() - start;
    });
    await end();
    return { ms: performance.now() - start, uploadMs: await uploaded, rssMb: rss() };
  };
  const viaBerthStored = async () => {
    const rss = rssWatch();
    const start = performance.now();
    const response = await post({ hostId: join.hostId, format: "tar" }, tarball);
    if (response.status !== 200) throw new Error(`upload: ${response.status} ${response.text}`);
    const uploadMs = performance.now() - start;
    const { contextId } = JSON.parse(response.text) as { contextId: string };
    await (await build({ contextId, upload: null })).end();
    return { ms: performance.now() - start, uploadMs, rssMb: rss() };
  };
  const direct = async () => {
    const start = performance.now();
    await dockerCli(["build", "--no-cache", "-q", "-t", TAG_DIRECT, context], { timeoutMs: 300_000 });
    return performance.now() - start;
  };

  type Run = { ms: number; uploadMs: number; rssMb: number };
  const streamedRuns: Run[] = [];
  const storedRuns: Run[] = [];
  const directRuns: number[] = [];
  const order = ["direct", "streamed", "stored"] as const;
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate which goes first, so none always meets a warmer page cache.
    for (let i = 0; i < order.length; i++) {
      const which = order[(i + round) % order.length];
      await dockerCli(["image", "rm", "--force", TAG_BERTH, TAG_DIRECT]).catch(() => undefined);
      await sleep(500);
      if (which === "streamed") streamedRuns.push(await viaBerthStreamed());
      else if (which === "stored") storedRuns.push(await viaBerthStored());
      else directRuns.push(await direct());
    }
  }
  socket.disconnect();
  const directMedian = median(directRuns);
  const streamedMedian = median(streamedRuns.map((r) => r.ms));
  const storedMedian = median(storedRuns.map((r) => r.ms));
  console.log(`\nBuild of a ${MB} MB context (COPY + RUN + LABEL on the busybox image), --no-cache, ${ROUNDS} rounds each`);
  console.log(
    table(
      ["path", "median", "runs", "ratio"],
      [
        ["docker build (CLI, classic builder, same daemon)", fmtMs(directMedian), directRuns.map(fmtMs).join(", "), "1.00x"],
        ["Berth, .tar streamed (build, then upload forwarded as it arrives)", fmtMs(streamedMedian), streamedRuns.map((r) => fmtMs(r.ms)).join(", "), fmtRatio(streamedMedian / directMedian)],
        ["Berth, stored first (zip/.tar.gz/folder: upload, then build)", fmtMs(storedMedian), storedRuns.map((r) => fmtMs(r.ms)).join(", "), fmtRatio(storedMedian / directMedian)],
      ],
    ),
  );
  console.log(`goal: ≤ 1.2x (the streamed .tar); runs' ratios to the direct run of their round: ${streamedRuns.map((r, i) => fmtRatio(r.ms / directRuns[i]!)).join(", ")}`);
  console.log(`upload done after (streamed: the build took the last byte): ${streamedRuns.map((r) => fmtMs(r.uploadMs)).join(", ")}; stored: ${storedRuns.map((r) => fmtMs(r.uploadMs)).join(", ")}`);
  console.log(`peak RSS of server + client above the start of the run: streamed ${streamedRuns.map((r) => `${r.rssMb.toFixed(0)} MB`).join(", ")}; stored ${storedRuns.map((r) => `${r.rssMb.toFixed(0)} MB`).join(", ")}`);
  const file = await writeResults("image-build", {
    rounds: ROUNDS,
    contextMb: MB,
    directRuns,
    streamedRuns,
    storedRuns,
    ratio: streamedMedian / directMedian,
    storedRatio: storedMedian / directMedian,
  });
  console.log(`\nwritten to ${file}`);
} finally {
  await agent?.kill();
  await server?.stop();
  await dockerCli(["image", "rm", "--force", TAG_BERTH, TAG_DIRECT]).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
}
