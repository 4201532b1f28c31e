/**
 * The fleet-wide Containers page in a real headless Chromium, against a real
 * Berth (production Next build, Postgres), a real agent and the machine's
 * real dockerd, with Docker's CLI as the oracle for what each click did:
 * - the list shows the host's containers and filters them by name on the server;
 * - two selected containers are stopped by one bulk action, each with its result shown;
 * - the row menu pauses, unpauses, renames and removes a container.
 *
 * Needs `npx next build` first (the server serves the production build).
 */
import { rm } from "node:fs/promises";
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { createUserWithPassword } from "../../server/services/setup.ts";
import { startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL = "berth.test=e2e-containers";
const suffix = Math.random().toString(36).slice(2, 8);
const NAMES = { a: `ct-${suffix}-a`, b: `ct-${suffix}-b`, c: `ct-${suffix}-c` };
const RENAMED = `ct-${suffix}-renamed`;
const ADMIN = { email: `ct-admin-${suffix}@example.test`, password: "correct horse battery staple" };
const LIVE_MS = 20_000;

let t: TestServer;
let browser: TestBrowser;
let agent: TestAgent | null = null;
const ids: Record<keyof typeof NAMES, string> = { a: "", b: "", c: "" };
const consoleErrors: string[] = [];

const state = (id: string) => dockerCli(["inspect", "--format", "{{.State.Status}}", id]);

async function expectText(locator: Locator, text: string, timeout = LIVE_MS): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`) }).waitFor({ timeout });
}

async function rowAction(page: Page, name: string, action: string, screenshot?: string) {
  await page.getByTestId(`actions-${name}`).click();
  if (screenshot) {
    await page.getByTestId(`menu-${action}-${name}`).waitFor();
    await page.screenshot({ path: screenshotPath(screenshot) });
  }
  await page.getByTestId(`menu-${action}-${name}`).click();
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  for (const key of Object.keys(NAMES) as Array<keyof typeof NAMES>) ids[key] = await runTestContainer({ name: NAMES[key], labels: { "berth.test": "e2e-containers" } });
  t = await startTestServer({ withNext: true, name: "e2e_containers" });
  await createUserWithPassword(t.server.auth, { name: "Admin", email: ADMIN.email, password: ADMIN.password, role: "admin" });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `ct-host-${suffix}`, ttlMinutes: 5, serverUrl: t.url });
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, join.hostId);
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(15_000);
  browser.page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`${browser.page.url()}: ${m.text()}`);
  });
  browser.page.on("pageerror", (e) => consoleErrors.push(`${browser.page.url()}: pageerror ${e.message}`));
});

afterAll(async () => {
  await browser?.close();
  await agent?.kill();
  if (agent) await rm(agent.stateDir, { recursive: true, force: true });
  await t?.stop();
  await removeContainersByLabel(LABEL);
});

describe("the fleet-wide Containers page", () => {
  it("lists the host's containers and filters them by name on the server", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.getByTestId("nav-containers").click();
    await page.waitForURL(`${t.url}/containers`);
    await page.getByTestId("containers-page").waitFor();

    await page.getByLabel("Filter by name").fill(`ct-${suffix}`);
    for (const name of Object.values(NAMES)) await expectText(page.getByTestId(`fleet-state-${name}`), "running");
    // The machine's dockerd holds other containers too: the filter leaves exactly ours.
    await expectText(page.getByTestId("fleet-count"), "3 containers shown of 3");
    await page.getByLabel("Filter by name").fill(`ct-${suffix}-b`);
    await expectText(page.getByTestId("fleet-count"), "1 container shown of 1");
    expect(await page.getByTestId(`fleet-row-${NAMES.a}`).count()).toBe(0);
    await page.getByLabel("Filter by name").fill(`ct-${suffix}`);
    await expectText(page.getByTestId("fleet-count"), "3 containers shown of 3");
  });

  it("stops two selected containers with one bulk action and shows each result", async () => {
    const page = browser.page;
    await page.getByTestId(`select-${NAMES.a}`).check();
    await page.getByTestId(`select-${NAMES.b}`).check();
    await expectText(page.getByTestId("bulk-count"), "2 containers selected on 1 host");
    await page.getByTestId("bulk-stop").click();
    for (const name of [NAMES.a, NAMES.b]) await page.locator(`[data-testid="bulk-result-${name}"][data-ok="true"]`).waitFor({ timeout: LIVE_MS * 2 });
    expect(await state(ids.a)).toBe("exited");
    expect(await state(ids.b)).toBe("exited");
    expect(await state(ids.c)).toBe("running");
    // The rows follow live.
    await expectText(page.getByTestId(`fleet-state-${NAMES.a}`), "exited");
    await expectText(page.getByTestId(`fleet-state-${NAMES.b}`), "exited");
    await page.screenshot({ path: screenshotPath("containers-bulk-stop"), fullPage: true });
    await page.getByTestId("bulk-clear").click();
  });

  it("pauses, unpauses, renames and removes from the row menu", async () => {
    const page = browser.page;
    await rowAction(page, NAMES.c, "pause", "containers-row-menu");
    await expectText(page.getByTestId(`fleet-state-${NAMES.c}`), "paused");
    expect(await state(ids.c)).toBe("paused");

    await rowAction(page, NAMES.c, "unpause");
    await expectText(page.getByTestId(`fleet-state-${NAMES.c}`), "running");
    expect(await state(ids.c)).toBe("running");

    await rowAction(page, NAMES.c, "rename");
    await page.getByTestId("rename-input").fill("-not a name");
    expect(await page.getByTestId("rename-dialog-confirm").isDisabled(), "invalid names are refused before submit").toBe(true);
    await page.getByTestId("rename-input").fill(RENAMED);
    await page.getByTestId("rename-dialog-confirm").click();
    await expectText(page.getByTestId(`fleet-state-${RENAMED}`), "running");
    expect(await dockerCli(["inspect", "--format", "{{.Name}}", ids.c])).toBe(`/${RENAMED}`);

    await rowAction(page, RENAMED, "remove");
    expect(await page.getByTestId("remove-force").isChecked(), "force is preselected for a running container").toBe(true);
    await page.getByTestId("remove-dialog-confirm").click();
    await page.getByTestId(`fleet-row-${RENAMED}`).waitFor({ state: "detached", timeout: LIVE_MS });
    await expect(dockerCli(["inspect", ids.c])).rejects.toThrow(/No such/);
    await waitFor(async () => (await page.getByTestId("fleet-count").textContent())?.includes("2 containers shown of 2"), { what: "count after removal", timeoutMs: LIVE_MS });
    await page.screenshot({ path: screenshotPath("containers-after-remove"), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });
});
