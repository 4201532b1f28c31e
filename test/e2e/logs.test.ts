/**
 * Logs at full depth in a real headless Chromium, against a real Berth
 * (production Next build, Postgres), two real agents and two real dockerd
 * (the machine's and a second one in its own network namespace):
 * - a container's log view: ANSI colours rendered (and markup in a line shown
 *   as text, never as markup), wrap, pause/resume, search over the whole log
 *   on the agent and a jump to a match;
 * - the merged view of two containers on two hosts, opened from the
 *   Containers page: both sources, coloured, in timestamp order, filterable.
 *
 * Needs `npx next build` first (the server serves the production build).
 */
import { rm } from "node:fs/promises";
import type { Locator } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { createUserWithPassword } from "../../server/services/setup.ts";
import { startTestAgent, startTestServer, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { removeContainersByLabel, runTestContainer, startExtraDockerHost, type ExtraDockerHost } from "../infra/docker.ts";

const LABEL = "berth.test=e2e-logs";
const suffix = Math.random().toString(36).slice(2, 8);
const NAMES = { main: `lg-${suffix}-main`, second: `lg-${suffix}-second` };
const ADMIN = { email: `lg-admin-${suffix}@example.test`, password: "correct horse battery staple" };
const LIVE_MS = 20_000;

let t: TestServer;
let browser: TestBrowser;
let second: ExtraDockerHost;
const agents: TestAgent[] = [];
const hostIds = { main: "", second: "" };
const consoleErrors: string[] = [];

async function expectText(locator: Locator, text: string, timeout = LIVE_MS): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`) }).waitFor({ timeout });
}

// Each writes a numbered line every 0.1 s: a red ANSI word, markup that must stay text, and a rare "needle".
const writer = (name: string) =>
  `i=0; while true; do printf '${name} %d \\033[31mred\\033[0m <b>not bold</b>\\n' $i; if [ $((i % 25)) -eq 7 ]; then echo "needle ${name} $i"; fi; i=$((i+1)); sleep 0.1; done`;

beforeAll(async () => {
  second = await startExtraDockerHost("logs2");
  await removeContainersByLabel(LABEL);
  await runTestContainer({ name: NAMES.main, labels: { "berth.test": "e2e-logs" }, cmd: ["sh", "-c", writer("main")] });
  await runTestContainer({ name: NAMES.second, labels: { "berth.test": "e2e-logs" }, cmd: ["sh", "-c", writer("second")], host: second.dockerHost });
  t = await startTestServer({ withNext: true, name: "e2e_logs" });
  await createUserWithPassword(t.server.auth, { name: "Admin", email: ADMIN.email, password: ADMIN.password, role: "admin" });
  for (const [key, dockerHost] of [["main", undefined], ["second", second.dockerHost]] as const) {
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `lg-${key}-${suffix}`, ttlMinutes: 5, serverUrl: t.url });
    hostIds[key] = join.hostId;
    agents.push(await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost }));
  }
  await Promise.all(Object.values(hostIds).map((id) => waitForSnapshot(t.server, id)));
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(15_000);
  await browser.page.setViewportSize({ width: 1400, height: 900 });
  browser.page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`${browser.page.url()}: ${m.text()}`);
  });
  browser.page.on("pageerror", (e) => consoleErrors.push(`${browser.page.url()}: pageerror ${e.message}`));
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(agents.map((a) => a.kill()));
  for (const a of agents) await rm(a.stateDir, { recursive: true, force: true });
  await t?.stop();
  await removeContainersByLabel(LABEL);
  await second?.stop();
});

describe("logs in a browser", () => {
  it("a container's log: colours rendered safely, wrap, pause, and a search over the whole log that jumps to a match", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.goto(`${t.url}/hosts/${hostIds.main}`);
    await page.getByLabel("Filter containers").fill(NAMES.main);
    await page.getByTestId(`action-logs-${NAMES.main}`).click();
    const drawer = page.getByTestId("logs-drawer");
    await drawer.getByTestId("logs-status").filter({ hasText: "Live" }).waitFor({ timeout: LIVE_MS });
    const coloured = drawer.locator('[data-testid="log-line"][data-ansi]').first();
    await coloured.waitFor({ timeout: LIVE_MS });
    // The red word is a styled span; the markup in the line is text, not an element.
    expect(await coloured.locator("span").first().getAttribute("style")).toContain("color:rgb(187,0,0)");
    expect(await coloured.textContent()).toMatch(/^main \d+ red <b>not bold<\/b>$/);
    expect(await drawer.getByTestId("logs-lines").locator("b").count()).toBe(0);

    await drawer.getByTestId("logs-wrap").click();
    expect(await drawer.getByTestId("logs-lines").getAttribute("data-wrap")).toBe("on");

    // Pause: the view stops, new lines are counted, resume shows them.
    await drawer.getByTestId("logs-pause").click();
    await expectText(drawer.getByTestId("logs-status"), "Paused");
    await drawer.getByTestId("logs-pause").filter({ hasText: /Resume · \d+ new lines/ }).waitFor({ timeout: LIVE_MS });
    const pausedCount = await drawer.getByTestId("log-line").count();
    await drawer.getByTestId("logs-pause").click();
    await expect.poll(() => drawer.getByTestId("log-line").count(), { timeout: LIVE_MS }).toBeGreaterThan(pausedCount);

    // Search the whole log on the agent, with a regex, and jump to a match.
    await drawer.getByTestId("logs-search-toggle").click();
    await drawer.getByTestId("log-search-query").fill("^needle main \\d+7$");
    await drawer.getByTestId("log-search-regex").click();
    await drawer.getByTestId("log-search-run").click();
    const matches = drawer.getByTestId("log-search-match");
    await matches.first().waitFor({ timeout: LIVE_MS });
    const texts = await matches.allTextContents();
    expect(texts.length).toBeGreaterThan(0);
    for (const text of texts) expect(text).toMatch(/needle main \d*7$/);
    await page.screenshot({ path: screenshotPath("logs-search") });
    await matches.first().click();
    await drawer.getByTestId("logs-jump").waitFor();
    const target = drawer.locator("[data-target]");
    await target.waitFor({ timeout: LIVE_MS });
    expect(await target.textContent()).toContain(/needle main \d+/.exec(texts[0]!)![0]);
    await page.screenshot({ path: screenshotPath("logs-jump") });
    await drawer.getByTestId("logs-back-to-live").click();
    await page.keyboard.press("Escape");
  });

  it("the merged view of two containers on two hosts, from the Containers page: both sources, in time order, filterable", async () => {
    const page = browser.page;
    await page.getByTestId("nav-containers").click();
    await page.waitForURL(`${t.url}/containers`);
    await page.getByLabel("Filter by name").fill(`lg-${suffix}`);
    for (const name of Object.values(NAMES)) await page.getByTestId(`select-${name}`).check();
    await expectText(page.getByTestId("bulk-count"), "2 containers selected on 2 hosts");
    await page.getByTestId("bulk-logs").click();
    await page.waitForURL(/\/logs\?c=/);
    const sources = page.getByTestId("merged-source");
    await expect.poll(() => sources.count()).toBe(2);
    const rows = page.getByTestId("logs-lines").locator("[data-index]");
    const sourceLabels = page.getByTestId("logs-lines").getByTestId("log-source");
    await expect.poll(async () => new Set(await sourceLabels.allTextContents()).size, { timeout: LIVE_MS, message: "lines from both containers" }).toBe(2);
    expect(new Set(await sourceLabels.allTextContents())).toEqual(new Set(Object.values(NAMES)));
    // In order of Docker's timestamps (each row's title), across both hosts.
    const stamps = await rows.evaluateAll((els) => els.map((el) => el.getAttribute("title") ?? ""));
    expect(stamps.length).toBeGreaterThan(4);
    expect(stamps).toEqual([...stamps].sort());
    await page.screenshot({ path: screenshotPath("logs-merged") });

    // Hide the second host's container: only the first's lines remain.
    await sources.filter({ hasText: NAMES.second }).click();
    await expect.poll(async () => [...new Set(await sourceLabels.allTextContents())], { timeout: LIVE_MS }).toEqual([NAMES.main]);
    expect(consoleErrors).toEqual([]);
  });
});
