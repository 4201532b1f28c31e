/**
 * Create benchmark: the time from "create this container" to "it is running",
 * through Berth (tRPC caller → service → agent over socket.io → dockerode →
 * dockerd) against the raw Docker API (dockerode create + start) in the same run.
 *
 *   node --import tsx bench/create.ts [--reps 15]
 *
 * Both paths create the same container (test image, `sleep`, --init, a label)
 * and stop timing when Docker's start call returned (Berth's create answers
 * after the agent's start). Runs alternate so load on the machine hits both
 * alike. Goal: Berth ≤ 1.3× the direct path. Results go to bench/results/create-<timestamp>.json.
 */
import { randomBytes } from "node:crypto";
import { createDockerClient } from "../agent/docker/client.ts";
import { createHost } from "../server/services/hosts.ts";
import { callerFor, createSignedInUser, startTestAgent, startTestServer, waitForSnapshot, type TestAgent, type TestServer } from "../test/infra/berth.ts";
import { buildTestImages, TEST_IMAGE } from "../test/infra/docker.ts";
import { removeLabelledContainers } from "./lib/containers.ts";
import { fmtMs, fmtRatio, intArg, summarize, table, timed, writeResults } from "./lib/stats.ts";

const REPS = intArg("reps", 15);
const LABEL = { key: "berth.bench", value: "create" };
const suffix = randomBytes(3).toString("hex");
const docker = createDockerClient(process.env.DOCKER_SOCKET ?? "/var/run/docker.sock");

let server: TestServer | undefined;
let agent: TestAgent | undefined;
try {
  await buildTestImages();
  server = await startTestServer({ name: "bench-create" });
  const admin = await createSignedInUser(server.server, { role: "admin" });
  const caller = await callerFor(server.server, admin);
  const join = await createHost({ db: server.server.db, bus: server.server.deps.bus, name: "bench-create", teamIds: [], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);

  const direct: number[] = [];
  const berth: number[] = [];
  const labels = { [LABEL.key]: LABEL.value };
  // One warm-up each (first create on a fresh image/network path is slower for both).
  for (let i = -1; i < REPS; i++) {
    const d = await timed(async () => {
      const c = await docker.createContainer({ name: `bench-direct-${suffix}-${i + 1}`, Image: TEST_IMAGE, Cmd: ["sleep", "3600"], Labels: labels, HostConfig: { Init: true } });
      await c.start();
    });
    const b = await timed(() =>
      caller.containers.create({ hostId: join.hostId, spec: { image: TEST_IMAGE, name: `bench-berth-${suffix}-${i + 1}`, cmd: ["sleep", "3600"], labels, init: true } }),
    );
    if (i >= 0) {
      direct.push(d.ms);
      berth.push(b.ms);
    }
  }
  const ds = summarize(direct);
  const bs = summarize(berth);
  console.log(`\nCreate → running, ${REPS} containers each way (alternating)`);
  console.log(
    table(
      ["path", "p50", "p95", "ratio (p50)"],
      [
        ["direct (dockerode create + start)", fmtMs(ds.median), fmtMs(ds.p95), "1.00x"],
        ["Berth (tRPC → agent → dockerd)", fmtMs(bs.median), fmtMs(bs.p95), fmtRatio(bs.median / ds.median)],
      ],
    ),
  );
  console.log(`goal ≤ 1.30x: ${bs.median / ds.median <= 1.3 ? "met" : "NOT met"}`);
  const file = await writeResults("create", { reps: REPS, direct: ds, berth: bs, ratio: bs.median / ds.median });
  console.log(`\nwritten to ${file}`);
} finally {
  await agent?.kill();
  await server?.stop();
  await removeLabelledContainers(docker, LABEL);
}
