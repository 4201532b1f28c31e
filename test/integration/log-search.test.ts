/**
 * Search over a container's whole log, run on the agent (`containers.searchLogs`
 * → `container.logs.search`), on a real 1,000,000-line log in a real dockerd.
 * The oracle is Docker's own CLI piped into grep: `docker logs ID 2>&1 | grep`.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { callerFor, createSignedInUser, startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer, type TestUser } from "../infra/berth.ts";
import { dockerCli, removeContainersByLabel, TEST_IMAGE } from "../infra/docker.ts";

const LABEL = "berth.test=log-search";
const LINES = 1_000_000;
const suffix = Math.random().toString(36).slice(2, 8);

let t: TestServer;
let agent: TestAgent;
let hostId = "";
let admin: TestUser;
let containerId = "";
/** The whole log as the CLI prints it (`docker logs`, stdout and stderr), line i at index i-1. */
let cliLines: string[] = [];
/**
 * That same CLI output, saved once: grep reads this file instead of a fresh `docker logs` per search.
 * Reading 1,000,000 lines back out of dockerd is the slow part (tens of seconds on a loaded machine),
 * and a finished container's log does not change, so every read would print the same bytes.
 */
let work = "";
let cliLog = "";

function sh(script: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("sh", ["-c", script], { maxBuffer: 256 << 20 }, (error, stdout, stderr) => {
      // grep exits 1 when nothing matches: that is an answer, not a failure.
      if (error && (error as { code?: number }).code !== 1) reject(new Error(`${script}: ${stderr || error.message}`));
      else resolve(stdout);
    }),
  );
}

/**
 * `docker logs ID 2>&1 | grep -n <flags> -e <pattern>`: [line number, text] of every match. The whole log is
 * grepped from the CLI's saved output (see `cliLog`); a since/until window asks Docker's CLI again.
 */
async function cliGrep(flags: string, pattern: string, window = ""): Promise<Array<[number, string]>> {
  const quoted = `'${pattern.replace(/'/g, "'\\''")}'`;
  const out = await sh(window ? `docker logs ${window} ${containerId} 2>&1 | grep -n ${flags} -e ${quoted}` : `grep -n ${flags} -e ${quoted} ${cliLog}`);
  return out
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const colon = line.indexOf(":");
      return [Number(line.slice(0, colon)), line.slice(colon + 1)];
    });
}

async function search(input: Record<string, unknown>) {
  const caller = await callerFor(t.server, admin);
  // A generous budget: the answers are compared with grep's, whatever the machine's load.
  return caller.containers.searchLogs({ hostId, containerId, query: "x", timeBudgetMs: 120_000, ...input });
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  // A line of 48 digits (for the catastrophic pattern), then 1,000,000 numbered lines; those ending in 4242 say "Needle", those ending in 777 "needle"; a few on stderr.
  containerId = await dockerCli([
    "create", "--init", "--name", `log-search-${suffix}`, "--label", LABEL, TEST_IMAGE,
    "sh", "-c", `echo ${"1".repeat(48)}; seq 1 ${LINES} | sed -e 's/^\\(.*4242\\)$/Needle \\1/' -e 's/^\\(.*777\\)$/needle \\1/'; echo 'needle on stderr 0777' >&2`,
  ]);
  await dockerCli(["start", containerId]);
  // The server and agent start while dockerd takes in the million lines: neither waits for the other.
  const logWritten = (async () => {
    await dockerCli(["wait", containerId], { timeoutMs: 300_000 });
    work = await mkdtemp(path.join(os.tmpdir(), "berth-log-search-"));
    cliLog = path.join(work, "docker-logs.txt");
    await sh(`docker logs ${containerId} > ${cliLog} 2>&1`);
    cliLines = (await readFile(cliLog, "utf8")).split("\n");
    if (cliLines[cliLines.length - 1] === "") cliLines.pop();
  })();
  const berthStarted = (async () => {
    t = await startTestServer({ name: "log-search" });
    admin = await createSignedInUser(t.server, { role: "admin", email: "admin@log-search.test" });
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: "search-host", teamIds: [], ttlMinutes: 5, serverUrl: t.url });
    hostId = join.hostId;
    agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
    await waitForSnapshot(t.server, hostId);
    await waitFor(() => t.server.db.container.findFirst({ where: { hostId, dockerId: containerId } }), { what: "the container in the mirror" });
  })();
  // Both settle before a failure is thrown, so afterAll finds whatever was started.
  for (const outcome of await Promise.allSettled([logWritten, berthStarted])) if (outcome.status === "rejected") throw outcome.reason;
}, 600_000);

afterAll(async () => {
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(LABEL);
  if (work) await rm(work, { recursive: true, force: true });
});

// Each search may use its 120 s budget on a loaded machine (the answers, not the time, are what is tested here;
// bench/log-search.ts measures the speed): the suite's 60 s test timeout would cut it first.
describe("agent-side log search over 1,000,000 lines", { timeout: 240_000 }, () => {
  it("the log really has 1,000,002 lines (the CLI says so)", () => {
    expect(cliLines.length).toBe(LINES + 2);
  });

  it("finds a plain, case-sensitive text exactly where grep does, with its context lines", async () => {
    const expected = await cliGrep("-F", "Needle");
    expect(expected.length).toBe(100); // 4242, 14242, …, 994242
    const result = await search({ query: "Needle", caseSensitive: true, context: 2 });
    expect(result.truncated).toBeNull();
    expect(result.scannedLines).toBe(LINES + 2);
    expect(result.matches.map((m) => m.line.text)).toEqual(expected.map(([, text]) => text));
    expect(result.matches.length).toBeGreaterThan(0);
    for (const [i, match] of result.matches.entries()) {
      const n = expected[i]![0];
      expect(match.before.map((l) => l.text)).toEqual(cliLines.slice(n - 3, n - 1));
      expect(match.after.map((l) => l.text)).toEqual(cliLines.slice(n, n + 2));
      expect(Number.isNaN(Date.parse(match.line.ts))).toBe(false);
    }
  });

  it("ignores case when asked, and says when it stopped at 1,000 matches", async () => {
    const expected = await cliGrep("-i -F", "needle");
    expect(expected.length).toBeGreaterThan(1000);
    const result = await search({ query: "needle", caseSensitive: false, context: 0 });
    expect(result.truncated).toBe("matches");
    expect(result.matches.map((m) => m.line.text)).toEqual(expected.slice(0, 1000).map(([, text]) => text));
  });

  it("matches a regular expression like grep -E, stdout and stderr alike", async () => {
    const expected = await cliGrep("-E", "^needle (on stderr )?[0-9]*0777$");
    expect(expected.length).toBeGreaterThan(50);
    const result = await search({ query: "^needle (on stderr )?\\d*0777$", regex: true, caseSensitive: true, context: 1 });
    expect(result.truncated).toBeNull();
    expect(result.matches.map((m) => m.line.text)).toEqual(expected.map(([, text]) => text));
    // Docker copies stdout and stderr separately: where the stderr line lands is Docker's business, that it is found is ours.
    expect(result.matches.filter((m) => m.line.stream === "stderr").map((m) => m.line.text)).toEqual(["needle on stderr 0777"]);
  });

  it("searches only between since and until (Docker's own window, as the CLI applies it)", async () => {
    // sed quits at line 400,500: the rest of the log would only be read to be thrown away.
    const stamped = (await sh(`docker logs --timestamps ${containerId} 2>&1 | sed -n '400000p;400500{p;q}'`)).trim().split("\n");
    const [since, until] = stamped.map((line) => line.split(" ")[0]!);
    const expected = await cliGrep("-E", "[0-9]", `--since ${since} --until ${until}`);
    expect(expected.length).toBeGreaterThan(400);
    const result = await search({ query: "[0-9]", regex: true, since, until, context: 0 });
    expect(result.matches.map((m) => m.line.text)).toEqual(expected.map(([, text]) => text));
    expect(result.scannedLines).toBe(expected.length);
  });

  it("refuses a malformed pattern with the engine's words", async () => {
    await expect(search({ query: "(unclosed", regex: true })).rejects.toThrow(/Invalid regular expression/);
  });

  it("a catastrophic pattern cannot hold the agent: the search answers within its budget and the agent stays responsive", async () => {
    // (\d+\d+)+y against the 48-digit first line: exponential backtracking in JavaScript's engine.
    const result = await t.server.hub.request(hostId, "container.logs.search", {
      containerId,
      query: "(\\d+\\d+)+y",
      regex: true,
      caseSensitive: false,
      context: 0,
      since: null,
      until: null,
      maxMatches: 10,
      timeBudgetMs: 2_000,
    }, { timeoutMs: 30_000 });
    expect(result.truncated).toBe("time");
    expect(result.scannedLines).toBeLessThan(LINES);
    const ping = await t.server.hub.request(hostId, "host.ping", {});
    expect(ping.dockerVersion).toMatch(/\d/);
  });
});
