/**
 * Building an image from the host page in a real headless Chromium, against
 * a real Berth (production build) and the machine's dockerd: open Build,
 * upload a context (a tar, through the file input), keep the context's
 * Dockerfile or type one in the editor, watch the steps arrive, see success
 * and the image in the host's images, then open its layers; and a failing
 * Dockerfile shows its step and Docker's error. Docker's CLI is the oracle.
 *
 * Needs `npm run build` first (the server serves the production build).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { startTestAgent, startTestServer, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, TEST_IMAGE } from "../infra/docker.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const ADMIN = { email: `builder-${suffix}@example.test`, password: "correct horse battery staple" };
const TAG = `berth-test/e2e-built-${suffix}:v1`;
const FAILING = `berth-test/e2e-failing-${suffix}:v1`;

let t: TestServer;
let browser: TestBrowser;
let agent: TestAgent;
let hostId = "";
let work = "";
let tarball = "";

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "berth-e2e-build-"));
  const context = path.join(work, "context");
  await promisify(execFile)("mkdir", ["-p", path.join(context, "site")]);
  await writeFile(path.join(context, "site", "index.html"), `<h1>built ${suffix}</h1>\n`);
  await writeFile(path.join(context, "Dockerfile"), `FROM ${TEST_IMAGE}\nCOPY site/ /www/\nRUN echo "built from the context's Dockerfile" > /origin\n`);
  tarball = path.join(work, "context.tar");
  await promisify(execFile)("tar", ["-C", context, "-cf", tarball, "."]);
  t = await startTestServer({ withNext: true, name: "e2e_build", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  const team = await t.server.db.team.create({ data: { name: `build-team-${suffix}` } });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `e2e-build-host-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
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
  await dockerCli(["image", "rm", "--force", TAG, FAILING]).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

describe("building an image", () => {
  it("uploads a context, streams the steps, and lists the new image with its layers", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.goto(`${t.url}/hosts/${hostId}?tab=images`);
    await page.getByTestId("build-image").click();
    await page.getByTestId("build-context-file").setInputFiles(tarball);
    await page.getByTestId("build-context-chosen").getByText("context.tar").waitFor();
    // Keep the context's own Dockerfile: the editor's is not used.
    await page.getByTestId("build-use-editor").uncheck();
    await page.getByTestId("build-tags").fill(TAG);
    await page.getByTestId("build-no-cache").check();
    await page.getByTestId("build-submit").click();
    await page.locator('[data-testid="build-output-panel"][data-phase="done"]').waitFor({ timeout: 90_000 });
    const steps = await page.getByTestId("build-step").allTextContents();
    expect(steps).toEqual([`Step 1/3 : FROM ${TEST_IMAGE}`, "Step 2/3 : COPY site/ /www/", `Step 3/3 : RUN echo "built from the context's Dockerfile" > /origin`]);
    await page.getByTestId("build-success").waitFor();
    await page.screenshot({ path: screenshotPath("image-build-done") });

    // Docker's CLI says what was built.
    expect(await dockerCli(["run", "--rm", TAG, "cat", "/origin", "/www/index.html"])).toBe(`built from the context's Dockerfile\n<h1>built ${suffix}</h1>`);
    const imageId = await dockerCli(["image", "inspect", "--format", "{{.Id}}", TAG]);
    expect(await page.getByTestId("build-success").textContent()).toContain(imageId.replace(/^sha256:/, "").slice(0, 12));

    // Its layers, from the success banner.
    await page.getByTestId("build-show-layers").click();
    await page.getByText(`RUN echo "built from the context's Dockerfile" > /origin`).first().waitFor();
    await page.keyboard.press("Escape");
    // And the host's images list has it (the live inventory brought it).
    await page.locator("td", { hasText: TAG }).first().waitFor();
  });

  it("a failing Dockerfile typed in the editor shows its step and Docker's error", async () => {
    const page = browser.page;
    await page.getByTestId("build-image").click();
    const editor = page.getByTestId("build-dockerfile").locator(".cm-content");
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.type(`FROM ${TEST_IMAGE}\nRUN echo step two\nRUN echo breaking && exit 7\n`);
    await page.getByTestId("build-tags").fill(FAILING);
    await page.getByTestId("build-submit").click();
    await page.locator('[data-testid="build-output-panel"][data-phase="failed"]').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId("build-error-step").textContent()).toBe("Step 3/3 : RUN echo breaking && exit 7");
    expect(await page.getByTestId("build-error").textContent()).toContain("returned a non-zero code: 7");
    expect(await page.locator('[data-testid="build-step"][data-failed="true"]').textContent()).toBe("Step 3/3 : RUN echo breaking && exit 7");
    await page.screenshot({ path: screenshotPath("image-build-failed") });
    await expect(dockerCli(["image", "inspect", FAILING])).rejects.toThrow(/No such image/);
  });
});
