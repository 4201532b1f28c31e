/**
 * Images in a real headless Chromium, against a real Berth (production
 * build), two extra real dockerds with their agents and a real registry:
 * the fleet Images page shows one image id present on both hosts as one row
 * naming both, the Unused filter keeps only images no container uses, the
 * host page shows its disk usage bars, and "Check for updates" flags a tag
 * whose registry got a new image, on the host page and on the fleet page.
 *
 * Needs `npm run build` first (the server serves the production build).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { startTestAgent, startTestServer, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, startExtraDockerHost, TEST_IMAGE, type ExtraDockerHost } from "../infra/docker.ts";
import { startTestRegistry, type TestRegistry } from "../infra/registry.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const ADMIN = { email: `images-${suffix}@example.test`, password: "correct horse battery staple" };
const V1 = `berth-test/e2e-images-v1-${suffix}:latest`;
const V2 = `berth-test/e2e-images-v2-${suffix}:latest`;

let t: TestServer;
let browser: TestBrowser;
let registry: TestRegistry;
const docks: ExtraDockerHost[] = [];
const agents: TestAgent[] = [];
const hostIds: string[] = [];
let reference = "";

const short = (id: string) => id.replace(/^sha256:/, "").slice(0, 12);

beforeAll(async () => {
  await dockerCli(["build", "-q", "-t", V1, "-"], { input: `FROM ${TEST_IMAGE}\nRUN echo v1-${suffix} > /version\n` });
  await dockerCli(["build", "-q", "-t", V2, "-"], { input: `FROM ${TEST_IMAGE}\nRUN echo v2-${suffix} > /version\n` });
  const [reg, a, b] = await Promise.all([startTestRegistry({ auth: "none" }), startExtraDockerHost(`e2eimg1${suffix.slice(0, 3)}`), startExtraDockerHost(`e2eimg2${suffix.slice(0, 3)}`)]);
  registry = reg;
  docks.push(a!, b!);
  await registry.exposeTo(docks[0]!);
  await registry.push(V1, `e2e/app-${suffix}:1`);
  reference = `${registry.host}/e2e/app-${suffix}:1`;
  await registry.docker(["pull", reference], { host: docks[0]!.dockerHost });
  await dockerCli(["run", "-d", "--init", "--name", `e2e-img-user-${suffix}`, TEST_IMAGE, "sleep", "3600"], { host: docks[0]!.dockerHost });
  t = await startTestServer({ withNext: true, name: "e2e_images", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  const team = await t.server.db.team.create({ data: { name: `images-team-${suffix}` } });
  for (const [i, dock] of docks.entries()) {
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `img-host-${i + 1}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
    hostIds.push(join.hostId);
    agents.push(await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost: dock.dockerHost }));
  }
  await Promise.all(hostIds.map((id) => waitForSnapshot(t.server, id)));
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(30_000);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(agents.map((a) => a.kill()));
  await t?.stop();
  await registry?.stop();
  await Promise.all(docks.map((d) => d.stop()));
  await dockerCli(["image", "rm", "--force", V1, V2]).catch(() => undefined);
});

describe("images in the browser", () => {
  it("groups an image across hosts, filters unused ones, shows disk usage and flags an update", async () => {
    const page = browser.page;
    const baseId = short(await dockerCli(["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE], { host: docks[0]!.dockerHost }));
    const appId = short(await dockerCli(["image", "inspect", "--format", "{{.Id}}", reference], { host: docks[0]!.dockerHost }));

    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);

    // The fleet view: the base image is on both hosts, one row naming both; its container is linked.
    await page.getByTestId("nav-images").click();
    await page.waitForURL(`${t.url}/images`);
    const hosts = page.getByTestId(`fleet-image-hosts-${baseId}`);
    await hosts.waitFor();
    expect((await hosts.locator("a").allTextContents()).sort()).toEqual(["img-host-1", "img-host-2"]);
    expect(await page.getByTestId(`fleet-image-${baseId}`).count()).toBe(1);
    await page.getByTestId(`fleet-image-used-by-${baseId}`).getByText(`e2e-img-user-${suffix}`).waitFor();

    // Unused: the pulled image stays, the base image (a container uses it) goes.
    await page.getByTestId("fleet-images-filter-unused").click();
    await page.getByTestId(`fleet-image-${baseId}`).waitFor({ state: "detached" });
    await page.getByTestId(`fleet-image-${appId}`).waitFor();
    await page.screenshot({ path: screenshotPath("images-fleet-unused"), fullPage: true });

    // The host page: disk usage bars for the four kinds.
    await page.goto(`${t.url}/hosts/${hostIds[0]}?tab=images`);
    await page.getByTestId("disk-usage-total").waitFor();
    for (const kind of ["images", "containers", "volumes", "buildCache"]) await page.getByTestId(`disk-usage-${kind}`).first().waitFor();
    const containersRow = page.getByTestId("disk-usage-containers").first();
    expect(await containersRow.getAttribute("data-count")).toBe("1");

    // A new image under the same tag in the registry: "Check for updates" flags it.
    await page.getByTestId("images-check-updates").click();
    await page.getByTestId(`image-update-${appId}`).filter({ hasText: "up to date" }).waitFor();
    await registry.push(V2, `e2e/app-${suffix}:1`);
    await page.getByTestId("images-check-updates").click();
    await page.getByTestId(`image-update-${appId}`).filter({ hasText: "update available" }).waitFor();
    await page.getByTestId("images-filter-updates").click();
    expect(await page.locator('[data-testid^="image-row-"]').count()).toBe(1);
    await page.screenshot({ path: screenshotPath("images-host-update"), fullPage: true });

    // The fleet view says so too.
    await page.getByTestId("nav-images").click();
    await page.getByTestId(`fleet-image-update-${appId}`).waitFor();
    await page.getByTestId("fleet-images-filter-updates").click();
    await page.getByTestId(`fleet-image-${baseId}`).waitFor({ state: "detached" });
    expect(await page.locator('[data-testid^="fleet-image-hosts-"]').count()).toBe(1);
    await page.screenshot({ path: screenshotPath("images-fleet-update"), fullPage: true });
  });
});
