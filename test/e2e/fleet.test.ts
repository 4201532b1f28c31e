/**
 * The whole first-run journey in a real headless Chromium, against a real
 * Berth (production Next build, Postgres), a real agent process and the
 * machine's real dockerd: set up the admin, add a host, enroll its agent with
 * the token read off the page, then run a container's lifecycle from the UI
 * and watch changes made outside Berth arrive without a reload.
 *
 * Needs `npx next build` first (the server serves the production build).
 */
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAgent, startTestServer, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL = "berth.test=e2e";
const suffix = Math.random().toString(36).slice(2, 8);
const HOST = `e2e-${suffix}`;
const WEB = `e2e-web-${suffix}`;
const CLI = `e2e-cli-${suffix}`;
const CHATTY = `e2e-chatty-${suffix}`;
const ADMIN = { name: "Erin Admin", email: `erin-${suffix}@example.test`, password: "correct horse battery staple" };

/** Live changes go event → invalidate → refetch; allow for the agent's event loop and a busy dockerd. */
const LIVE_MS = 20_000;

let t: TestServer;
let browser: TestBrowser;
let agent: TestAgent | null = null;

/** Waits until the element shows `text` (exactly, trimmed). */
async function expectText(locator: Locator, text: string, timeout = LIVE_MS): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^\\s*${text}\\s*$`) }).waitFor({ timeout });
}

/** A marker on `window` survives client-side navigation and refetches, never a reload. */
async function markPage(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __berthE2E?: string }).__berthE2E = "no-reload";
  });
}

async function pageWasNotReloaded(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __berthE2E?: string }).__berthE2E === "no-reload");
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  await runTestContainer({ name: WEB, labels: { "berth.test": "e2e" } });
  await runTestContainer({
    name: CHATTY,
    labels: { "berth.test": "e2e" },
    cmd: ["sh", "-c", "i=0; while true; do echo \"hello from berth $i\"; echo \"warning $i\" >&2; i=$((i+1)); sleep 0.2; done"],
  });
  t = await startTestServer({ withNext: true, name: "e2e" });
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(15_000);
});

afterAll(async () => {
  await browser?.close();
  await agent?.kill();
  if (agent) await rm(agent.stateDir, { recursive: true, force: true });
  await t?.stop();
  await removeContainersByLabel(LABEL);
});

describe("first run in a browser", () => {
  it("sets up the admin, enrolls a host and runs its containers live", async () => {
    const { page } = browser;
    const setupCode = t.server.setupCode;
    expect(setupCode, "a fresh server prints a setup code").toBeTruthy();

    // A fresh server sends every visitor to the setup page.
    await page.goto(`${t.url}/`);
    await page.waitForURL(`${t.url}/setup`);
    await page.getByLabel("Setup code").fill(setupCode!);
    await page.getByLabel("Name").fill(ADMIN.name);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Create admin account" }).click();

    // Signed in, on the (empty) fleet.
    await page.waitForURL(`${t.url}/`);
    await expectText(page.getByTestId("user-email"), ADMIN.email);
    await page.getByTestId("fleet-empty").waitFor();
    await markPage(page);

    // Add a host and read its one-time join token off the displayed command.
    await page.getByTestId("add-host-button").click();
    await page.getByLabel("Host name").fill(HOST);
    await page.getByTestId("create-host-submit").click();
    // The token is minted only when asked for.
    await page.getByTestId("create-join-token").click();
    const command = (await page.getByTestId("agent-command").textContent()) ?? "";
    const token = /BERTH_JOIN_TOKEN=(\S+)/.exec(command)?.[1];
    expect(token, `join token in: ${command}`).toBeTruthy();
    expect(command).toContain(`BERTH_SERVER_URL=${t.url}`);
    // The command names the server's key, so the agent trusts only this server.
    const fingerprint = /BERTH_SERVER_FINGERPRINT=(SHA256:[0-9a-f]{64})/.exec(command)?.[1];
    expect(fingerprint).toBe(t.server.serverKey.fingerprint);

    // A real agent joins with it; the dialog and the fleet row turn online by themselves.
    agent = await startTestAgent({ serverUrl: t.url, joinToken: token!, serverFingerprint: fingerprint! });
    await page.getByTestId("join-status").filter({ hasText: "The agent joined." }).waitFor({ timeout: LIVE_MS });
    await page.getByTestId("add-host-done").click();
    await expectText(page.getByTestId(`host-status-${HOST}`), "online");
    await page.getByTestId(`host-containers-${HOST}`).filter({ hasText: /[1-9]\d* running/ }).waitFor({ timeout: LIVE_MS });
    await page.screenshot({ path: screenshotPath("e2e-fleet"), fullPage: true });

    // The host view lists the test container as running.
    await page.getByTestId(`host-link-${HOST}`).click();
    await page.waitForURL(/\/hosts\/[^/]+$/);
    await expectText(page.getByTestId("host-status"), "online");
    await page.getByLabel("Filter containers").fill(`e2e-`);
    const state = page.getByTestId(`container-state-${WEB}`);
    await expectText(state, "running");

    // Stop, then start, from the row's actions.
    await page.getByTestId(`action-stop-${WEB}`).click();
    await expectText(state, "exited");
    expect(await page.getByTestId(`action-stop-${WEB}`).isDisabled()).toBe(true);
    await page.getByTestId(`action-start-${WEB}`).click();
    await expectText(state, "running");

    // A container started outside Berth appears on its own.
    await runTestContainer({ name: CLI, labels: { "berth.test": "e2e" } });
    await expectText(page.getByTestId(`container-state-${CLI}`), "running");
    await page.screenshot({ path: screenshotPath("e2e-host"), fullPage: true });

    // Its log, live: lines keep arriving, stderr is marked, search narrows the view.
    await page.getByLabel("Filter containers").fill(CHATTY);
    await page.getByTestId(`action-logs-${CHATTY}`).click();
    const drawer = page.getByTestId("logs-drawer");
    await drawer.getByTestId("logs-status").filter({ hasText: "Live" }).waitFor({ timeout: LIVE_MS });
    const lines = drawer.getByTestId("log-line");
    await lines.filter({ hasText: /hello from berth \d+/ }).first().waitFor({ timeout: LIVE_MS });
    // The list is virtualised (only what fits is in the DOM): new lines show as a higher number, not more rows.
    const newest = async () => Math.max(-1, ...(await lines.allTextContents()).map((text) => Number(/hello from berth (\d+)/.exec(text)?.[1] ?? -1)));
    const newestNow = await newest();
    await expect.poll(newest, { timeout: LIVE_MS, message: "followed lines keep arriving" }).toBeGreaterThan(newestNow);
    await expect
      .poll(() => drawer.locator('[data-stream="stderr"]').filter({ hasText: /warning \d+$/ }).count(), { timeout: LIVE_MS, message: "stderr lines are marked" })
      .toBeGreaterThan(0);
    await drawer.getByLabel("Search the log").fill("warning");
    await expect
      .poll(
        async () => {
          const texts = await lines.allTextContents();
          // An empty view would pass `.every` vacuously: the filtered view must still show lines.
          return texts.length > 0 && texts.every((text) => text.includes("warning"));
        },
        { timeout: LIVE_MS },
      )
      .toBe(true);
    await page.screenshot({ path: screenshotPath("e2e-logs") });
    // Download saves the whole log from the server, not just what the view holds.
    const [file] = await Promise.all([page.waitForEvent("download"), drawer.getByTestId("logs-download").click()]);
    const saved = await readFile((await file.path())!, "utf8");
    expect(saved).toMatch(/^\S+ stdout hello from berth 0$/m);
    expect(saved).toMatch(/^\S+ stderr warning 0$/m);
    // Stopped and started again outside Berth: the followed log marks both and goes on; the badge follows.
    const badge = drawer.getByTestId("logs-container-state");
    const lastWarning = async () => Number(/warning (\d+)$/.exec(await drawer.locator('[data-stream="stderr"]').last().innerText())?.[1] ?? NaN);
    await dockerCli(["stop", "-t", "2", CHATTY]);
    const stoppedAt = await lastWarning();
    expect(stoppedAt).toBeGreaterThan(0);
    await drawer.locator('[data-testid="log-marker"][data-event="exited"]').last().waitFor({ timeout: LIVE_MS });
    await expectText(badge, "exited");
    await dockerCli(["start", CHATTY]);
    await drawer.locator('[data-testid="log-marker"][data-event="started"]').last().waitFor({ timeout: LIVE_MS });
    await expectText(badge, "running");
    // The new run counts again from 0: the latest line shown is below where the first run stopped.
    await expect.poll(async () => lastWarning(), { timeout: LIVE_MS, message: "the new run's lines follow" }).toBeLessThan(stoppedAt);
    await page.screenshot({ path: screenshotPath("e2e-logs-restart") });
    await drawer.getByTestId("logs-drawer-close").click();
    await drawer.waitFor({ state: "hidden" });
    // Logs only: the host page keeps its live totals stream (host.stats) open meanwhile.
    await expect.poll(() => t.server.hub.openStreamsOfType("container.logs"), { timeout: LIVE_MS, message: "closing the drawer closes the stream" }).toBe(0);

    // A copy of this agent's identity on another machine is refused, and the page says so, live: here and in the fleet.
    const copied = await mkdtemp(path.join(os.tmpdir(), "berth-e2e-agent-copy-"));
    await cp(agent.stateDir, copied, { recursive: true });
    const copy = await startTestAgent({ serverUrl: t.url, stateDir: copied });
    try {
      await copy.waitForOutput(/another agent with this identity is already connected/, LIVE_MS);
      await page.getByTestId("host-duplicate-identity").filter({ hasText: "Two agents use this identity." }).waitFor({ timeout: LIVE_MS });
      await page.getByTestId("host-duplicate-addresses").filter({ hasText: /127\.0\.0\.1/ }).waitFor();
      await expectText(page.getByTestId("host-status"), "online");
      await page.screenshot({ path: screenshotPath("e2e-duplicate-identity"), fullPage: true });
      await page.getByTestId("nav-fleet").click();
      await page.getByTestId(`host-duplicate-${HOST}`).filter({ hasText: "two agents use this identity" }).waitFor({ timeout: LIVE_MS });
    } finally {
      await copy.kill();
      await rm(copied, { recursive: true, force: true });
    }

    expect(await page.getByTestId("toast-error").count(), "no action failed").toBe(0);
    expect(await pageWasNotReloaded(page), "everything above arrived without a page reload").toBe(true);
  });
});
