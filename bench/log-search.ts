/**
 * Log search benchmark: Berth's agent-side search over a container's whole
 * log against what an operator would type on the host, in the same run.
 *
 *   node --import tsx bench/log-search.ts [--lines 1000000] [--reps 3]
 *
 * On the real dockerd and Postgres:
 *   - direct: `docker logs ID 2>&1 | grep -c -E PATTERN` (the CLI and grep);
 *   - Berth: `containers.searchLogs` through the server's tRPC router, a real
 *     agent reading Docker's log (with timestamps) and matching in its worker.
 * The pattern matches few lines, so both read the whole log. Goal: Berth ≤ 2×.
 * Results go to bench/results/log-search-<timestamp>.json.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createDockerClient } from "../agent/docker/client.ts";
import { createHost } from "../server/services/hosts.ts";
import { callerFor, createSignedInUser, startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../test/infra/berth.ts";
import { buildTestImages, dockerCli, TEST_IMAGE } from "../test/infra/docker.ts";
import { removeLabelledContainers } from "./lib/containers.ts";
import { fmtMs, fmtRatio, intArg, summarize, table, timed, writeResults } from "./lib/stats.ts";

const LINES = intArg("lines", 1_000_000);
const REPS = intArg("reps", 3);
const LABEL = { key: "berth.bench", value: "log-search" };
const PATTERN = "^line 9+7 of"; // 97, 997, 9997, … : a handful of matches, the whole log read
const suffix = randomBytes(3).toString("hex");

function sh(script: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("sh", ["-c", script], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => (error ? reject(new Error(`${script}: ${stderr || error.message}`)) : resolve(stdout))),
  );
}

let server: TestServer | null = null;
let agent: TestAgent | null = null;
const docker = createDockerClient("/var/run/docker.sock");

try {
  await buildTestImages();
  await removeLabelledContainers(docker, LABEL);
  console.log(`writing ${LINES.toLocaleString()} log lines…`);
  const id = await dockerCli([
    "create", "--init", "--name", `bench-log-search-${suffix}`, "--label", `${LABEL.key}=${LABEL.value}`, TEST_IMAGE,
    "sh", "-c", `seq 1 ${LINES} | sed 's/.*/line & of the benchmark log, with some text to make it look real/'`,
  ]);
  await dockerCli(["start", id]);
  await dockerCli(["wait", id], { timeoutMs: 600_000 });

  server = await startTestServer({ name: "bench-log-search" });
  const admin = await createSignedInUser(server.server, { role: "admin" });
  const join = await createHost({ db: server.server.db, bus: server.server.deps.bus, name: "bench", teamIds: [], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);
  await waitFor(() => server!.server.db.container.findFirst({ where: { hostId: join.hostId, dockerId: id } }), { what: "container mirrored" });
  const caller = await callerFor(server.server, admin);

  const viaCli = async () => Number((await sh(`docker logs ${id} 2>&1 | grep -c -E '${PATTERN}' || true`)).trim());
  const viaBerth = async () => {
    const result = await caller.containers.searchLogs({ hostId: join.hostId, containerId: id, query: PATTERN, regex: true, caseSensitive: true, context: 2, timeBudgetMs: 120_000 });
    if (result.truncated) throw new Error(`the search stopped early (${result.truncated})`);
    if (result.scannedLines !== LINES) throw new Error(`scanned ${result.scannedLines} lines, expected ${LINES}`);
    return result.matches.length;
  };

  // Warm up both once, then alternate so drift hits both alike.
  const expected = await viaCli();
  if ((await viaBerth()) !== expected) throw new Error("Berth and grep disagree on the matches");
  const samples = { cli: [] as number[], berth: [] as number[] };
  for (let rep = 0; rep < REPS; rep++) {
    samples.cli.push((await timed(viaCli)).ms);
    samples.berth.push((await timed(viaBerth)).ms);
  }
  const cli = summarize(samples.cli);
  const berth = summarize(samples.berth);
  const ratio = berth.median / cli.median;
  console.log(`\nRegex search over ${LINES.toLocaleString()} lines (/${PATTERN}/, ${expected} matches, ${REPS} reps, median / p95)`);
  console.log(
    table(
      ["path", "median", "p95", "lines/s", "ratio"],
      [
        ["docker logs | grep -E (CLI)", fmtMs(cli.median), fmtMs(cli.p95), Math.round(LINES / (cli.median / 1000)).toLocaleString(), "1.00x"],
        ["Berth agent-side search (tRPC → agent)", fmtMs(berth.median), fmtMs(berth.p95), Math.round(LINES / (berth.median / 1000)).toLocaleString(), fmtRatio(ratio)],
      ],
    ),
  );
  console.log(`goal ≤ 2.00x: ${ratio <= 2 ? "met" : "NOT met"}`);
  const file = await writeResults("log-search", { lines: LINES, reps: REPS, pattern: PATTERN, matches: expected, cli, berth, ratio });
  console.log(`\nwritten to ${file}`);
} finally {
  await agent?.kill();
  await server?.stop();
  await removeLabelledContainers(docker, LABEL);
}
