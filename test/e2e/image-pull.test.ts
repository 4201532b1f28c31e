/**
 * Pulling an image from the host page in a real headless Chromium, against a
 * real Berth (production build), a real registry and the machine's dockerd:
 * type a reference (shown normalised), pull, watch the per-layer progress
 * bars end complete, and find the image in the host's images.
 *
 * Needs `npm run build` first (the server serves the production build).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { startTestAgent, startTestServer, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, LAYERED_TEST_IMAGE } from "../infra/docker.ts";
import { startTestRegistry, type TestRegistry } from "../infra/registry.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const ADMIN = { email: `puller-${suffix}@example.test`, password: "correct horse battery staple" };
const SOURCE = `berth-test/e2e-pull-source-${suffix}:latest`;

let t: TestServer;
let browser: TestBrowser;
let agent: TestAgent;
let registry: TestRegistry;
let hostId = "";
let reference = "";

beforeAll(async () => {
  const build = promisify(execFile)("docker", ["build", "-q", "-t", SOURCE, "-"], { timeout: 120_000 });
  build.child.stdin!.end(`FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 8000000 /dev/urandom > /blob.bin\n`);
  await build;
  registry = await startTestRegistry({ auth: "none" });
  await registry.push(SOURCE, `e2e/pulled-${suffix}:v1`);
  reference = `${registry.host}/e2e/pulled-${suffix}:v1`;
  // The daemon must not have it yet: the pull below really pulls.
  await dockerCli(["image", "rm", "--force", reference, SOURCE]);
  t = await startTestServer({ withNext: true, name: "e2e_pull", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  const team = await t.server.db.team.create({ data: { name: `pull-team-${suffix}` } });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `e2e-pull-host-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(30_000);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await agent?.kill();
  await t?.stop();
  await registry?.stop();
  await dockerCli(["image", "rm", "--force", reference]).catch(() => undefined);
});

describe("pulling an image", () => {
  it("pulls from a registry with per-layer progress bars, then lists the image", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.goto(`${t.url}/hosts/${hostId}?tab=images`);
    await page.getByTestId("pull-image").click();
    await page.getByTestId("pull-reference").fill("Not/Valid");
    await page.getByText(/Invalid image reference "Not\/Valid"/).waitFor();
    await page.getByTestId("pull-reference").fill(reference);
    expect(await page.getByTestId("pull-normalised").textContent()).toContain(reference);
    await page.getByTestId("pull-submit").click();
    const progress = page.locator(`[data-testid="pull-host-e2e-pull-host-${suffix}"]`);
    await page.getByTestId("pull-layer").first().waitFor();
    await progress.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    const statuses = await page.getByTestId("pull-layer").evaluateAll((items) => items.map((i) => i.getAttribute("data-status")));
    const layers = JSON.parse(await dockerCli(["image", "inspect", "--format", "{{json .RootFS.Layers}}", reference])) as string[];
    expect(statuses).toHaveLength(layers.length);
    for (const status of statuses) expect(["Pull complete", "Already exists"]).toContain(status);
    await page.screenshot({ path: screenshotPath("image-pull-done") });
    await page.getByTestId("pull-done").click();
    await page.getByText(reference).first().waitFor();
  });
});
