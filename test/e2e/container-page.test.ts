/**
 * The container page in a real headless Chromium, against a real Berth
 * (production Next build, Postgres), a real agent and the machine's dockerd:
 * - from the host page's containers table to a container's page;
 * - its stats charts move (the CPU chart's canvas differs between two samples);
 * - its diff shows a file the container wrote (Docker's CLI says the same);
 * - commit it, then find the new image in the host's images;
 * - its history shows the lifecycle events Docker reported;
 * - screenshots in test/artifacts/.
 *
 * Needs `npm run build` first (the server serves the production build).
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, removeContainersByLabel, runTestContainer, TEST_IMAGE } from "../infra/docker.ts";

const LABEL = "berth.test=e2e-container-page";
const suffix = Math.random().toString(36).slice(2, 8);
const NAME = `e2e-page-${suffix}`;
const REPO = `berth-e2e/page-${suffix}`;
const ADMIN = { email: `pat-${suffix}@example.test`, password: "correct horse battery staple" };
const LIVE_MS = 30_000;

let t: TestServer;
let browser: TestBrowser;
let agent: TestAgent;
let hostId = "";
let containerId = "";

const samplesShown = (page: Page) => page.getByTestId("stats-charts").getAttribute("data-samples").then(Number);
const cpuCanvas = (page: Page) => page.getByTestId("stats-cpu").locator("canvas").evaluate((canvas) => (canvas as HTMLCanvasElement).toDataURL());

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  // Busy (its CPU chart moves) and it wrote a file into its writable layer.
  containerId = await runTestContainer({
    name: NAME,
    labels: { "berth.test": "e2e-container-page" },
    cmd: ["sh", "-c", "echo hello > /e2e-note.txt; while true; do :; done"],
  });
  t = await startTestServer({ withNext: true, name: "e2e_container_page", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  const team = await t.server.db.team.create({ data: { name: `page-team-${suffix}` } });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `e2e-page-host-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
  await waitFor(() => t.server.db.container.findFirst({ where: { hostId, dockerId: containerId } }), { what: "the container in the mirror" });
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(20_000);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(LABEL);
  await dockerCli(["image", "rm", "--force", `${REPO}:e2e`]).catch(() => undefined);
});

describe("a container's page", () => {
  it("opens from the host page, with live stats charts that move", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.goto(`${t.url}/hosts/${hostId}`);
    await page.getByTestId(`container-link-${NAME}`).click();
    await page.waitForURL(`${t.url}/hosts/${hostId}/containers/${containerId}`);
    expect(await page.getByTestId("container-name").textContent()).toBe(NAME);
    expect(await page.getByTestId("fact-state").textContent()).toBe("running");
    // The spot the lifecycle actions go in.
    await page.getByTestId("container-actions").waitFor({ state: "attached" });

    await page.getByTestId("container-tab-stats").click();
    await waitFor(async () => (await samplesShown(page)) >= 3, { timeoutMs: LIVE_MS, what: "three samples on the charts" });
    const before = { samples: await samplesShown(page), canvas: await cpuCanvas(page), cpu: await page.getByTestId("stats-cpu-current").textContent() };
    await waitFor(async () => (await samplesShown(page)) > before.samples, { timeoutMs: LIVE_MS, what: "another sample" });
    // The canvas was redrawn with the new sample (a busy loop shows a non-zero CPU).
    await waitFor(async () => (await cpuCanvas(page)) !== before.canvas, { timeoutMs: LIVE_MS, what: "the CPU chart redrawn" });
    expect(before.cpu).toMatch(/^\d+\.\d %$/);
    expect(Number.parseFloat(before.cpu!)).toBeGreaterThan(0);
    await page.screenshot({ path: screenshotPath("container-page-stats"), fullPage: true });
  });

  it("shows the file the container wrote in its diff, as `docker diff` does", async () => {
    const page = browser.page;
    expect((await dockerCli(["diff", containerId])).split("\n")).toContain("A /e2e-note.txt");
    await page.getByTestId("container-tab-changes").click();
    const entry = page.locator('[data-testid="layer-path"][data-path="/e2e-note.txt"]');
    await entry.waitFor({ timeout: LIVE_MS });
    expect(await entry.getAttribute("data-kind")).toBe("added");
    expect(await page.getByTestId("layer-size-rw").textContent()).toMatch(/\d/);
    await page.screenshot({ path: screenshotPath("container-page-changes"), fullPage: true });
  });

  it("commits it to an image that is then in the host's images", async () => {
    const page = browser.page;
    await page.getByTestId("commit-repository").fill(REPO);
    await page.getByTestId("commit-tag").fill("e2e");
    await page.getByTestId("commit-changes").fill("ENV E2E=committed");
    await page.getByTestId("commit-submit").click();
    await page.getByTestId("commit-done").waitFor({ timeout: LIVE_MS });
    const env = await dockerCli(["image", "inspect", "--format", "{{json .Config.Env}}", `${REPO}:e2e`]);
    expect(JSON.parse(env)).toContain("E2E=committed");
    await page.getByTestId("commit-images-link").click();
    await page.waitForURL(`${t.url}/hosts/${hostId}?tab=images`);
    await page.getByText(`${REPO}:e2e`).first().waitFor({ timeout: LIVE_MS });
  });

  it("draws the committed image's layer stack: the base layer shared with the image it came from, the committed layer its own", async () => {
    const page = browser.page;
    const [committed, base] = await Promise.all([
      dockerCli(["image", "inspect", "--format", "{{json .RootFS.Layers}}", `${REPO}:e2e`]).then((s) => JSON.parse(s) as string[]),
      dockerCli(["image", "inspect", "--format", "{{json .RootFS.Layers}}", TEST_IMAGE]).then((s) => JSON.parse(s) as string[]),
    ]);
    await page.locator('tr[data-testid^="image-row-"]', { hasText: `${REPO}:e2e` }).click();
    const drawer = page.getByTestId("image-layers");
    await drawer.getByTestId("image-layer").first().waitFor({ timeout: LIVE_MS });
    const layers = drawer.getByTestId("image-layer");
    expect(await layers.count()).toBe(committed.length);
    // Drawn base first in the list (shown at the bottom): the base layers are shared, the commit's layer is not.
    const shared = await layers.evaluateAll((items) => items.map((i) => i.getAttribute("data-shared") === "true"));
    expect(shared).toEqual(committed.map((digest) => base.includes(digest)));
    // The row names the first few (named images first); its title names every one (a shared dockerd has many).
    expect(await layers.first().getByTestId("image-layer-sharing").getAttribute("title")).toContain(TEST_IMAGE);
    expect(await layers.last().getByTestId("image-layer-sharing").textContent()).toBe("only this image");
    await page.screenshot({ path: screenshotPath("image-layers") });
    await page.keyboard.press("Escape");
  });

  it("shows the lifecycle history Docker reported", async () => {
    const page = browser.page;
    // Something to record while the agent is watching: a restart (kill, die, start).
    await dockerCli(["restart", "--time", "1", containerId]);
    await page.goto(`${t.url}/hosts/${hostId}/containers/${containerId}`);
    await page.getByTestId("container-tab-history").click();
    await page.locator('[data-testid="history-event"][data-action="die"]').first().waitFor({ timeout: LIVE_MS });
    await page.locator('[data-testid="history-event"][data-action="start"]').first().waitFor({ timeout: LIVE_MS });
    const actions = await page.getByTestId("history-event").evaluateAll((items) => items.map((i) => i.getAttribute("data-action")));
    expect(actions.length).toBeGreaterThan(0);
    expect(actions).toEqual(expect.arrayContaining(["die", "start"]));
    await page.screenshot({ path: screenshotPath("container-page-history"), fullPage: true });
  });
});
