/**
 * Registries in a real headless Chromium against a real Berth (production
 * build, Postgres) and a real password-protected registry (Debian's
 * docker-registry with htpasswd) that the docker CLI pushed an image into.
 * A team admin — not a global admin — adds the registry with its
 * credentials, tests the connection, and browses repository → tag →
 * manifest: the digest shown is the one `docker push` printed and the layers
 * are as many as `docker image inspect` counts. A wrong password is shown in
 * words.
 *
 * Then an image's whole way through the fleet, as the seeds tell it, on two
 * extra real dockerds of the manager's team: build it on host A from an
 * uploaded context (watching Docker's steps), push it into the registry with
 * per-layer progress bars (the stored credentials go with the push), pull it
 * on host B, and open its layer view there: the base layers B already had are
 * drawn shared. Tag, prune with a preview, and a failing build on the way.
 * Docker's CLI on each host is the oracle. Needs `npx next build` first.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { createUserWithPassword } from "../../server/services/setup.ts";
import { startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, LAYERED_TEST_IMAGE, startExtraDockerHost, type ExtraDockerHost } from "../infra/docker.ts";
import { REGISTRY_PASSWORD, REGISTRY_USER, startTestRegistry, type TestRegistry } from "../infra/registry.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const MANAGER = { email: `reg-manager-${suffix}@example.test`, password: "correct horse battery staple" };

let t: TestServer;
let browser: TestBrowser;
let registry: TestRegistry;
let pushedDigest = "";
let layerCount = 0;
const consoleErrors: string[] = [];
/** Two hosts of the manager's team, each its own dockerd (both test images loaded, nothing else). */
const hosts: { a: FlowHost; b: FlowHost } = {} as never;
type FlowHost = { name: string; id: string; docker: ExtraDockerHost; agent: TestAgent; cli: (args: string[], input?: string) => Promise<string> };
let work = "";
let contextTar = "";

/** Every extra dockerd started, for the teardown even if setup failed half-way. */
const dockers: ExtraDockerHost[] = [];

/** Runs the steps at once; throws the first failure only once all have settled (so afterAll finds all they started). */
async function allSettled(steps: Array<Promise<unknown>>) {
  const failed = (await Promise.allSettled(steps)).find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

beforeAll(async () => {
  // Independent pieces start together (each was waited for in turn: ~38 s of a ~160 s file): the registry
  // with its pushed image, the server, the two extra dockerds, the browser, the build context.
  let team = { id: "" };
  await allSettled([
    (async () => {
      registry = await startTestRegistry({ auth: "htpasswd" });
      pushedDigest = await registry.push(LAYERED_TEST_IMAGE, "team/layered:2.0");
    })(),
    (async () => (layerCount = Number(await dockerCli(["image", "inspect", "--format", "{{len .RootFS.Layers}}", LAYERED_TEST_IMAGE]))))(),
    (async () => {
      t = await startTestServer({ withNext: true, name: "e2e_registries" });
      const user = await createUserWithPassword(t.server.auth, { name: "Registry Manager", email: MANAGER.email, password: MANAGER.password, role: "user" });
      team = await t.server.db.team.create({ data: { name: `builders-${suffix}` } });
      await t.server.db.teamMember.create({ data: { teamId: team.id, userId: user.id, roleId: "role_admin" } });
      const second = await t.server.db.team.create({ data: { name: `testers-${suffix}` } });
      await t.server.db.teamMember.create({ data: { teamId: second.id, userId: user.id, roleId: "role_admin" } });
    })(),
    ...(["a", "b"] as const).map(async (key) => {
      dockers.push(await startExtraDockerHost(`flow${key}${suffix.slice(0, 4)}`));
    }),
    (async () => {
      browser = await launchBrowser();
    })(),
    (async () => {
      // The build context, a tar as a user would upload it.
      work = await mkdtemp(path.join(os.tmpdir(), "berth-e2e-flow-"));
      await mkdir(path.join(work, "context", "site"), { recursive: true });
      await writeFile(path.join(work, "context", "site", "index.html"), `<h1>app ${suffix}</h1>\n`);
      await writeFile(path.join(work, "context", "Dockerfile"), `FROM ${LAYERED_TEST_IMAGE}\nCOPY site/ /www/\nRUN head -c 3000000 /dev/urandom > /www/blob.bin\n`);
      contextTar = path.join(work, "app-context.tar");
      await promisify(execFile)("tar", ["-C", path.join(work, "context"), "-cf", contextTar, "."]);
    })(),
  ]);
  // The flow's two hosts, of the manager's team: each its dockerd (which reaches the registry) and its agent.
  await allSettled(
    (["a", "b"] as const).map(async (key) => {
      const docker = dockers.find((d) => d.name === `flow${key}${suffix.slice(0, 4)}`)!;
      await registry.exposeTo(docker);
      const name = `flow-${key}-${suffix}`;
      const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
      const agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost: docker.dockerHost });
      hosts[key] = { name, id: join.hostId, docker, agent, cli: (args, input) => dockerCli(args, { host: docker.dockerHost, input, timeoutMs: 120_000 }) };
      await waitForSnapshot(t.server, join.hostId);
    }),
  );
  browser.page.setDefaultTimeout(15_000);
  browser.page.on("console", (m) => {
    // A refused registry call is an HTTP error the page shows in words; the browser logs it too.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) consoleErrors.push(`${browser.page.url()}: ${m.text()}`);
  });
  browser.page.on("pageerror", (e) => consoleErrors.push(`${browser.page.url()}: pageerror ${e.message}`));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(Object.values(hosts).map((h) => h.agent.kill()));
  await Promise.all([t?.stop(), registry?.stop(), ...dockers.map((d) => d.stop())]);
  if (work) await rm(work, { recursive: true, force: true });
});

async function fillRegistryForm(page: Page, which: "add" | "edit", fields: { name?: string; url?: string; username?: string; password: string }) {
  const dialog = page.getByTestId(`registry-${which}-dialog`);
  if (fields.name !== undefined) await dialog.getByLabel("Name", { exact: true }).fill(fields.name);
  if (fields.url !== undefined) await dialog.getByLabel("Address", { exact: true }).fill(fields.url);
  if (fields.username !== undefined) await dialog.getByLabel("Username", { exact: true }).fill(fields.username);
  await dialog.getByLabel("Password or token", { exact: true }).fill(fields.password);
  await dialog.getByTestId("registry-save").click();
  await dialog.waitFor({ state: "hidden" });
}

async function expectTeams(page: Page, names: string[]) {
  const row = page.getByTestId("registry-row-ci-registry");
  for (const name of names) await row.getByText(name, { exact: false }).waitFor();
}

describe("registries in the browser", () => {
  it("a team admin adds a registry with a wrong password and is told so in words", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(MANAGER.email);
    await page.getByLabel("Password").fill(MANAGER.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.getByTestId("nav-registries").click();
    await page.waitForURL(`${t.url}/settings/registries`);
    await page.getByTestId("add-registry-button").click();
    await fillRegistryForm(page, "add", { name: "ci-registry", url: registry.url, username: REGISTRY_USER, password: "wrong-password" });
    await page.getByTestId("registry-row-ci-registry").waitFor();
    expect(await page.getByTestId("registry-row-ci-registry").textContent()).toContain("password stored");
    await page.getByTestId("registry-test-ci-registry").click();
    await page.getByText(/wrong username or password/).first().waitFor();
    await page.screenshot({ path: screenshotPath("registries-wrong-password") });
  });

  it("fixes the password, tests the connection, and browses repository → tag → layers", async () => {
    const page = browser.page;
    await page.getByTestId("registry-edit-ci-registry").click();
    await fillRegistryForm(page, "edit", { password: REGISTRY_PASSWORD });
    await page.getByTestId("registry-test-ci-registry").click();
    await page.getByText("ci-registry answers").waitFor();
    await page.getByTestId("registry-link-ci-registry").click();
    await page.getByTestId("repository-team/layered").click();
    await page.getByTestId("tag-2.0").click();
    await page.getByTestId("manifest-view").waitFor();
    expect((await page.getByTestId("manifest-digest").textContent())?.trim()).toBe(pushedDigest);
    expect(layerCount).toBeGreaterThan(1);
    expect(await page.getByTestId("manifest-layer").count()).toBe(layerCount);
    await page.screenshot({ path: screenshotPath("registries-manifest"), fullPage: true });
  });

  it("shares the registry with a second team the manager also administers", async () => {
    const page = browser.page;
    await page.getByText("All registries").click();
    await page.getByTestId("registry-edit-ci-registry").click();
    const dialog = page.getByTestId("registry-edit-dialog");
    await dialog.getByTestId(`registry-team-testers-${suffix}`).check();
    await expectTeams(page, [`builders-${suffix}`, `testers-${suffix}`]);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect(await page.getByTestId("registry-row-ci-registry").textContent()).toContain(`testers-${suffix}`);
    // What the page shows is what the database holds.
    const rows = await t.server.db.registryTeam.findMany({ where: { registry: { name: "ci-registry" } }, select: { team: { select: { name: true } } } });
    expect(rows.map((r) => r.team.name).sort()).toEqual([`builders-${suffix}`, `testers-${suffix}`]);
  });
});

describe("an image's way through the fleet: build on A, push, pull on B, its shared layers", () => {
  const app = () => `${registry.host}/team/app-${suffix}:v1`;
  const imageIdOn = (host: FlowHost, ref: string) => host.cli(["image", "inspect", "--format", "{{.Id}}", ref]);

  it("builds the image on host A from an uploaded context, watching Docker's steps", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/hosts/${hosts.a.id}?tab=images`);
    await page.getByTestId("build-image").click();
    await page.getByTestId("build-context-file").setInputFiles(contextTar);
    await page.getByTestId("build-context-chosen").getByText("app-context.tar").waitFor();
    await page.getByTestId("build-use-editor").uncheck();
    await page.getByTestId("build-tags").fill(app());
    await page.getByTestId("build-submit").click();
    await page.locator('[data-testid="build-output-panel"][data-phase="done"]').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId("build-step").allTextContents()).toEqual([
      `Step 1/3 : FROM ${LAYERED_TEST_IMAGE}`,
      "Step 2/3 : COPY site/ /www/",
      "Step 3/3 : RUN head -c 3000000 /dev/urandom > /www/blob.bin",
    ]);
    // The screenshot is taken while Docker's CLI checks the host (it took up to 5 s under load); the page is left alone meanwhile.
    const shot = page.screenshot({ path: screenshotPath("flow-build-done") });
    shot.catch(() => undefined); // awaited below; a failed expect in between must not leave it unhandled
    // Host A's dockerd has what the page says it built.
    const [catOut, builtId] = await Promise.all([hosts.a.cli(["run", "--rm", app(), "cat", "/www/index.html"]), imageIdOn(hosts.a, app())]);
    expect(catOut).toBe(`<h1>app ${suffix}</h1>`);
    expect(await page.getByTestId("build-success").textContent()).toContain(builtId.slice(7, 19));
    await shot;
    await page.keyboard.press("Escape");
    await page.locator("td", { hasText: app() }).first().waitFor();
  });

  it("a failing Dockerfile typed in the editor shows its step and Docker's error, and builds nothing", async () => {
    const page = browser.page;
    const failing = `berth-test/flow-failing-${suffix}:v1`;
    await page.getByTestId("build-image").click();
    const editor = page.getByTestId("build-dockerfile").locator(".cm-content");
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    // The first lines go in as one text input (as a paste does); the failing step is typed key by key. Typing all
    // of it took ~14 s at ~170 ms a key under load; keystrokes reaching the editor are still what the step proves.
    await page.keyboard.insertText(`FROM ${LAYERED_TEST_IMAGE}\nRUN echo step two\n`);
    await page.keyboard.type("RUN echo breaking && exit 7\n");
    await page.getByTestId("build-tags").fill(failing);
    await page.getByTestId("build-submit").click();
    await page.locator('[data-testid="build-output-panel"][data-phase="failed"]').waitFor({ timeout: 90_000 });
    expect(await page.getByTestId("build-error-step").textContent()).toBe("Step 3/3 : RUN echo breaking && exit 7");
    expect(await page.getByTestId("build-error").textContent()).toContain("returned a non-zero code: 7");
    await page.screenshot({ path: screenshotPath("flow-build-failed") });
    await expect(hosts.a.cli(["image", "inspect", failing])).rejects.toThrow(/No such image/);
    await page.keyboard.press("Escape");
  });

  it("pushes it into the password-protected registry with a progress bar per layer", async () => {
    const page = browser.page;
    const short = (await imageIdOn(hosts.a, app())).slice(7, 19);
    await page.getByTestId(`image-actions-${short}`).click();
    await page.getByTestId("image-push").click();
    await page.getByTestId("push-reference").fill(app());
    // The hint shows Docker's reading once the dialog holds the typed reference; only then is Push offered.
    await page.getByTestId("reference-normalised").getByText(`${registry.host}/team/app-${suffix}:v1`).waitFor();
    await page
      .getByTestId("push-submit")
      .click()
      .catch(async (error: unknown) => {
        // A CI run once found Push disabled here: say what the dialog held, so the next one can be read.
        const dialog = await page.getByTestId("push-dialog").innerText().catch(() => "(no dialog)");
        const value = await page.getByTestId("push-reference").inputValue().catch(() => "(no input)");
        throw new Error(`Push was not clickable; the field held ${JSON.stringify(value)}; the dialog read:\n${dialog}`, { cause: error });
      });
    await page.getByTestId("push-layer").first().waitFor();
    await page.locator('[data-testid="push-progress"][data-state="done"]').waitFor({ timeout: 90_000 });
    const statuses = await page.getByTestId("push-layer").evaluateAll((items) => items.map((i) => i.getAttribute("data-status")));
    const layers = JSON.parse(await hosts.a.cli(["image", "inspect", "--format", "{{json .RootFS.Layers}}", app()])) as string[];
    expect(statuses).toHaveLength(layers.length);
    for (const status of statuses) expect(status).toBe("Pushed");
    const shot = page.screenshot({ path: screenshotPath("flow-push-done") });
    shot.catch(() => undefined); // awaited below
    // The registry (asked with its own credentials, not through Berth) holds the digest the page shows.
    const digest = /sha256:[0-9a-f]{64}/.exec((await page.getByTestId("push-state").textContent()) ?? "")?.[0];
    const manifest = await fetch(`${registry.url}/v2/team/app-${suffix}/manifests/v1`, {
      method: "HEAD",
      headers: { authorization: "Basic " + Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString("base64"), accept: "application/vnd.docker.distribution.manifest.v2+json" },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get("docker-content-digest")).toBe(digest);
    await shot;
    await page.getByTestId("push-close").click();
  });

  it("pulls it on host B with progress; B's layer view draws the base layers it shares with the image B already had", async () => {
    const page = browser.page;
    await expect(imageIdOn(hosts.b, app())).rejects.toThrow(/No such image/);
    await page.goto(`${t.url}/hosts/${hosts.b.id}?tab=images`);
    await page.getByTestId("pull-image").click();
    await page.getByTestId("pull-reference").fill(app());
    expect(await page.getByTestId("pull-target-" + hosts.b.name).isChecked()).toBe(true);
    expect(await page.getByTestId("pull-target-" + hosts.a.name).isChecked()).toBe(false);
    await page.getByTestId("pull-submit").click();
    await page.locator(`[data-testid="pull-host-${hosts.b.name}"][data-state="done"]`).waitFor({ timeout: 90_000 });
    const statuses = await page.getByTestId("pull-layer").evaluateAll((items) => items.map((i) => i.getAttribute("data-status")));
    const [pulled, base] = await Promise.all([
      hosts.b.cli(["image", "inspect", "--format", "{{json .RootFS.Layers}}", app()]).then((out) => JSON.parse(out) as string[]),
      hosts.b.cli(["image", "inspect", "--format", "{{json .RootFS.Layers}}", LAYERED_TEST_IMAGE]).then((out) => JSON.parse(out) as string[]),
    ]);
    expect(statuses).toHaveLength(pulled.length);
    // B's base came from `docker load`, which keeps no registry digests: Docker downloads those blobs again
    // ("Pull complete") and then finds the layers it already stores; either way every layer ends complete.
    for (const status of statuses) expect(["Pull complete", "Already exists"]).toContain(status);
    // The same image on both hosts, by Docker's own ids.
    expect(await imageIdOn(hosts.b, app())).toBe(await imageIdOn(hosts.a, app()));
    await page.screenshot({ path: screenshotPath("flow-pull-done") });
    await page.getByTestId("pull-done").click();

    await page.locator('tr[data-testid^="image-row-"]', { hasText: app() }).click();
    const drawer = page.getByTestId("image-layers");
    await drawer.getByTestId("image-layer").first().waitFor();
    const drawn = drawer.getByTestId("image-layer");
    expect(await drawn.count()).toBe(pulled.length);
    const shared = await drawn.evaluateAll((items) => items.map((i) => i.getAttribute("data-shared") === "true"));
    expect(shared).toEqual(pulled.map((layer) => base.includes(layer)));
    expect(shared.filter(Boolean).length).toBeGreaterThan(0);
    // The row names the first few (named images first); its title names every one (a shared dockerd has many).
    expect(await drawn.first().getByTestId("image-layer-sharing").getAttribute("title")).toContain(LAYERED_TEST_IMAGE);
    expect(await drawn.last().getByTestId("image-layer-sharing").textContent()).toBe("only this image");
    await page.screenshot({ path: screenshotPath("flow-layers-on-b") });
    await page.keyboard.press("Escape");
  });

  it("on host A: tags the image, then prunes a dangling image after its preview", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/hosts/${hosts.a.id}?tab=images`);
    const id = await imageIdOn(hosts.a, app());
    const short = id.slice(7, 19);
    const tagged = `team/app-${suffix}:stable`;
    await page.getByTestId(`image-actions-${short}`).click();
    await page.getByTestId("image-tag").click();
    await page.getByTestId("tag-reference").fill(tagged);
    await page.getByTestId("tag-submit").click();
    await page.getByTestId("tag-dialog").waitFor({ state: "detached" });
    await page.getByTestId(`image-row-${short}`).getByText(tagged, { exact: true }).waitFor();
    expect(await imageIdOn(hosts.a, tagged)).toBe(id);

    // Two builds under one tag leave the first one dangling.
    const dangling = `berth-test/flow-dangle-${suffix}:1`;
    await hosts.a.cli(["build", "-q", "-t", dangling, "-"], `FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 400000 /dev/urandom > /d\n`);
    const old = await imageIdOn(hosts.a, dangling);
    await hosts.a.cli(["build", "-q", "-t", dangling, "-"], `FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 500000 /dev/urandom > /d\n`);
    await waitFor(() => t.server.db.image.findFirst({ where: { hostId: hosts.a.id, dockerId: old, repoTags: { isEmpty: true } }, select: { dockerId: true } }), { what: "the dangling image in Berth" });
    await page.getByTestId("prune-images").click();
    await page.getByTestId("prune-preview").waitFor();
    const rows = await page.getByTestId("prune-preview-row").allTextContents();
    expect(rows.some((row) => row.includes(old.slice(7, 19)))).toBe(true);
    expect(await page.getByTestId("prune-total").textContent()).toMatch(/frees \d/);
    await page.screenshot({ path: screenshotPath("flow-prune-preview") });
    await page.getByTestId("prune-confirm").click();
    await page.getByTestId("prune-result").getByText(/Removed \d+ images?, freed/).waitFor();
    await expect(imageIdOn(hosts.a, old)).rejects.toThrow(/No such image/i);
    expect(await imageIdOn(hosts.a, app())).toBe(id);
  });
});

describe("the browser console", () => {
  it("logged no errors in the browser console", () => {
    expect(consoleErrors).toEqual([]);
  });
});
