/**
 * Pushing, tagging and pruning images from the host page in a real headless
 * Chromium, against a real Berth (production build), a real registry and an
 * extra real dockerd (its images are this test's own, so pruning is safe):
 * push an image watching its per-layer progress bars end "Pushed", tag it,
 * then prune a dangling image after its preview. Docker's CLI checks each.
 *
 * Needs `npm run build` first (the server serves the production build).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, LAYERED_TEST_IMAGE, startExtraDockerHost, type ExtraDockerHost } from "../infra/docker.ts";
import { startTestRegistry, type TestRegistry } from "../infra/registry.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const ADMIN = { email: `pusher-${suffix}@example.test`, password: "correct horse battery staple" };
const SOURCE = `berth-test/e2e-push-${suffix}:v1`;

let t: TestServer;
let browser: TestBrowser;
let agent: TestAgent;
let registry: TestRegistry;
let docker: ExtraDockerHost;
let hostId = "";
let sourceId = "";

const onHost = (args: string[], input?: string) => dockerCli(args, { host: docker.dockerHost, input, timeoutMs: 120_000 });
const idOf = (ref: string) => onHost(["image", "inspect", "--format", "{{.Id}}", ref]);

beforeAll(async () => {
  [registry, docker] = await Promise.all([startTestRegistry({ auth: "none" }), startExtraDockerHost(`e2epush${suffix.slice(0, 4)}`)]);
  await registry.exposeTo(docker);
  await onHost(["build", "-q", "-t", SOURCE, "-"], `FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 8000000 /dev/urandom > /blob.bin\n`);
  sourceId = await idOf(SOURCE);
  t = await startTestServer({ withNext: true, name: "e2e_push", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  const team = await t.server.db.team.create({ data: { name: `push-team-${suffix}` } });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `e2e-push-host-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost: docker.dockerHost });
  await waitForSnapshot(t.server, hostId);
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(30_000);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await agent?.kill();
  await t?.stop();
  await Promise.all([registry?.stop(), docker?.stop()]);
});

describe("pushing, tagging and pruning images", () => {
  it("pushes an image with per-layer progress bars, tags it, and prunes a dangling image after its preview", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.goto(`${t.url}/hosts/${hostId}?tab=images`);
    const short = sourceId.slice(7, 19);

    // Push: a digest is refused as you type; a tag in the registry pushes with a bar per layer.
    const reference = `${registry.host}/e2e/pushed-${suffix}:v1`;
    await page.getByTestId(`image-actions-${short}`).click();
    await page.getByTestId("image-push").click();
    await page.getByTestId("push-reference").fill(`${registry.host}/e2e/x@sha256:${"a".repeat(64)}`);
    await page.getByText(/A digest cannot be created or pushed to/).waitFor();
    await page.getByTestId("push-reference").fill(reference);
    expect(await page.getByTestId("reference-normalised").textContent()).toContain(reference);
    await page.getByTestId("push-submit").click();
    await page.getByTestId("push-layer").first().waitFor();
    await page.locator('[data-testid="push-progress"][data-state="done"]').waitFor({ timeout: 60_000 });
    const statuses = await page.getByTestId("push-layer").evaluateAll((items) => items.map((i) => i.getAttribute("data-status")));
    const layers = JSON.parse(await onHost(["image", "inspect", "--format", "{{json .RootFS.Layers}}", SOURCE])) as string[];
    expect(statuses).toHaveLength(layers.length);
    for (const status of statuses) expect(status).toBe("Pushed");
    await page.screenshot({ path: screenshotPath("image-push-done") });
    // The registry has what the page says: its digest is the one the CLI's pull reports.
    const digest = /sha256:[0-9a-f]{64}/.exec((await page.getByTestId("push-state").textContent()) ?? "")?.[0];
    expect(digest).toBeTruthy();
    await onHost(["rmi", reference]);
    expect(await onHost(["pull", reference])).toContain(`Digest: ${digest}`);
    await page.getByTestId("push-close").click();

    // Tag: the new name shows in the image's row, and Docker has it.
    const tagged = `e2e/tagged-${suffix}:v2`;
    await page.getByTestId(`image-actions-${short}`).click();
    await page.getByTestId("image-tag").click();
    await page.getByTestId("tag-reference").fill(tagged);
    await page.getByTestId("tag-submit").click();
    // The dialog lives in the row (its hint names the tag too): wait for it to go, then for the tag itself.
    await page.getByTestId("tag-dialog").waitFor({ state: "detached" });
    await page.getByTestId(`image-row-${short}`).getByText(tagged, { exact: true }).waitFor();
    expect(await idOf(tagged)).toBe(sourceId);

    // Prune: a dangling image (the first of two builds under one tag) is in the preview with the bytes it frees.
    const dangling = `berth-test/e2e-dangle-${suffix}:1`;
    await onHost(["build", "-q", "-t", dangling, "-"], `FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 400000 /dev/urandom > /d\n`);
    const old = await idOf(dangling);
    await onHost(["build", "-q", "-t", dangling, "-"], `FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 500000 /dev/urandom > /d\n`);
    await waitFor(() => t.server.db.image.findFirst({ where: { hostId, dockerId: old, repoTags: { isEmpty: true } }, select: { dockerId: true } }), { what: "the dangling image in Berth" });
    await page.getByTestId("prune-images").click();
    await page.getByTestId("prune-preview").waitFor();
    const rows = await page.getByTestId("prune-preview-row").allTextContents();
    expect(rows.some((row) => row.includes(old.slice(7, 19)))).toBe(true);
    expect(await page.getByTestId("prune-total").textContent()).toMatch(/frees \d/);
    await page.screenshot({ path: screenshotPath("image-prune-preview") });
    await page.getByTestId("prune-confirm").click();
    await page.getByTestId("prune-result").getByText(/Removed \d+ images?, freed/).waitFor();
    await expect(idOf(old)).rejects.toThrow(/No such image/i);
    expect(await idOf(dangling)).not.toBe(old);
  });
});
