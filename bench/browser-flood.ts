/**
 * Browser flood benchmark: does the page stay responsive and bounded while a
 * container writes as fast as a busy service does?
 *
 *   npm run build && node --import tsx bench/browser-flood.ts [--seconds 10] [--rate 10000]
 *
 * A real Berth (production build, Postgres), a real agent, headless Chromium.
 * Two phases of `--seconds` each, ~`--rate` lines/s:
 *   1. the container's log view open while the container writes;
 *   2. a terminal running the same writer.
 * Measured in the tab through the Chrome DevTools Protocol (`Performance.getMetrics`:
 * JSHeapUsedSize, peak over the phase) and in the page (the longest gap between
 * two animation frames, and the longest long task). Goals: heap < 300 MB,
 * longest frame < 100 ms. Results go to bench/results/browser-flood-<timestamp>.json.
 */
import { randomBytes } from "node:crypto";
import type { Page } from "playwright-core";
import { createDockerClient } from "../agent/docker/client.ts";
import { createHost } from "../server/services/hosts.ts";
import { startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../test/infra/berth.ts";
import { launchBrowser, type TestBrowser } from "../test/infra/browser.ts";
import { buildTestImages, dockerCli, TEST_IMAGE } from "../test/infra/docker.ts";
import { removeLabelledContainers } from "./lib/containers.ts";
import { intArg, sleep, table, writeResults } from "./lib/stats.ts";

const SECONDS = intArg("seconds", 10);
const RATE = intArg("rate", 10_000);
const LABEL = { key: "berth.bench", value: "browser-flood" };
const suffix = randomBytes(3).toString("hex");
const ADMIN = { email: `flood-${suffix}@example.test`, password: "correct horse battery staple" };
/** About RATE lines a second: batches of RATE/10 lines every 100 ms, for SECONDS. */
const writer = `i=0; while [ $i -lt ${SECONDS * 10} ]; do seq 1 ${RATE / 10} | sed "s/$/ of a busy service writing as fast as it can/"; usleep 100000; i=$((i+1)); done`;

const docker = createDockerClient(process.env.DOCKER_SOCKET ?? "/var/run/docker.sock");
let server: TestServer | null = null;
let agent: TestAgent | null = null;
let browser: TestBrowser | null = null;

/**
 * Starts the in-page probes: the longest gap between animation frames and the longest long task.
 * Passed as source text: tsx's transpiled functions reference helpers that do not exist in the page.
 */
async function startProbes(page: Page) {
  await page.evaluate(`(() => {
    const state = { maxFrameGap: 0, maxLongTask: 0, frames: 0, stop: false };
    window.__flood = state;
    let last = performance.now();
    const tick = (now) => {
      state.maxFrameGap = Math.max(state.maxFrameGap, now - last);
      state.frames++;
      last = now;
      if (!state.stop) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) state.maxLongTask = Math.max(state.maxLongTask, entry.duration);
    }).observe({ type: "longtask", buffered: false });
  })()`);
}

async function readProbes(page: Page): Promise<{ maxFrameGap: number; maxLongTask: number; frames: number }> {
  return page.evaluate(`(() => { window.__flood.stop = true; return { ...window.__flood }; })()`);
}

/** Runs `during` for the phase while sampling the tab's JS heap through CDP every 250 ms. */
async function phase(page: Page, during: () => Promise<void>) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const heap = async () => {
    const { metrics } = await cdp.send("Performance.getMetrics");
    return metrics.find((m) => m.name === "JSHeapUsedSize")?.value ?? 0;
  };
  const startHeap = await heap();
  let peakHeap = startHeap;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakHeap = Math.max(peakHeap, await heap());
      await sleep(250);
    }
  })();
  await startProbes(page);
  await during();
  const probes = await readProbes(page);
  sampling = false;
  await sampler;
  await cdp.detach();
  return { startHeapMb: startHeap / 1048576, peakHeapMb: peakHeap / 1048576, ...probes };
}

try {
  await buildTestImages();
  await removeLabelledContainers(docker, LABEL);
  const containerId = await dockerCli(["run", "-d", "--init", "--name", `bench-flood-${suffix}`, "--label", `${LABEL.key}=${LABEL.value}`, TEST_IMAGE, "sleep", "3600"]);
  server = await startTestServer({ withNext: true, name: "bench_flood", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  const db = server.server.db;
  const team = await db.team.create({ data: { name: `bench-flood-${suffix}` } });
  const join = await createHost({ db, bus: server.server.deps.bus, name: `bench-flood-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);
  await waitFor(() => db.container.findFirst({ where: { hostId: join.hostId, dockerId: containerId, state: "running" } }), { what: "the container", timeoutMs: 30_000 });

  browser = await launchBrowser();
  const page = browser.page;
  page.setDefaultTimeout(30_000);
  await page.goto(`${server.url}/login`);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${server.url}/`);
  await page.goto(`${server.url}/hosts/${join.hostId}/containers/${containerId}`);

  // Phase 1: the log view open while the container floods its log (written by a docker exec into PID 1's stdout).
  await page.getByTestId("container-tab-logs").click();
  await sleep(1_000);
  const logs = await phase(page, async () => {
    await dockerCli(["exec", containerId, "sh", "-c", `${writer} > /proc/1/fd/1`]);
    await sleep(1_000);
  });

  // Phase 2: a terminal running the writer (the terminal opened first: its start-up is not the flood's cost).
  await page.getByTestId("container-tab-terminal").click();
  await page.getByTestId("terminal-open").click();
  await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor();
  await sleep(1_000);
  const terminal = await phase(page, async () => {
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type(`${writer}; exit\n`);
    await page.locator('[data-testid="terminal-view"][data-status="ended"]').waitFor({ timeout: (SECONDS + 60) * 1000 });
  });

  const row = (name: string, r: typeof logs) => [
    name,
    `${r.startHeapMb.toFixed(1)} MB`,
    `${r.peakHeapMb.toFixed(1)} MB`,
    `${r.maxFrameGap.toFixed(0)} ms`,
    `${r.maxLongTask.toFixed(0)} ms`,
    String(r.frames),
  ];
  console.log(`\n~${RATE} lines/s for ${SECONDS} s into an open view`);
  console.log(table(["view", "heap at start", "peak JS heap", "longest frame", "longest task", "frames drawn"], [row("log view", logs), row("terminal", terminal)]));
  console.log("goals: peak heap < 300 MB, longest frame < 100 ms");
  const file = await writeResults("browser-flood", { seconds: SECONDS, rate: RATE, logs, terminal });
  console.log(`\nwritten to ${file}`);
} finally {
  await browser?.close();
  await agent?.kill();
  await server?.stop();
  await removeLabelledContainers(docker, LABEL);
}
