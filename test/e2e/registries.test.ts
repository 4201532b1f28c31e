/**
 * Registries in a real headless Chromium against a real Berth (production
 * build, Postgres) and a real password-protected registry (Debian's
 * docker-registry with htpasswd) that the docker CLI pushed an image into.
 * A team admin — not a global admin — adds the registry with its
 * credentials, tests the connection, and browses repository → tag →
 * manifest: the digest shown is the one `docker push` printed and the layers
 * are as many as `docker image inspect` counts. A wrong password is shown in
 * words. Needs `npx next build` first.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserWithPassword } from "../../server/services/setup.ts";
import { startTestServer, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, LAYERED_TEST_IMAGE } from "../infra/docker.ts";
import { REGISTRY_PASSWORD, REGISTRY_USER, startTestRegistry, type TestRegistry } from "../infra/registry.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const MANAGER = { email: `reg-manager-${suffix}@example.test`, password: "correct horse battery staple" };

let t: TestServer;
let browser: TestBrowser;
let registry: TestRegistry;
let pushedDigest = "";
let layerCount = 0;
const consoleErrors: string[] = [];

beforeAll(async () => {
  registry = await startTestRegistry({ auth: "htpasswd" });
  pushedDigest = await registry.push(LAYERED_TEST_IMAGE, "team/layered:2.0");
  layerCount = Number(await dockerCli(["image", "inspect", "--format", "{{len .RootFS.Layers}}", LAYERED_TEST_IMAGE]));
  t = await startTestServer({ withNext: true, name: "e2e_registries" });
  const user = await createUserWithPassword(t.server.auth, { name: "Registry Manager", email: MANAGER.email, password: MANAGER.password, role: "user" });
  const team = await t.server.db.team.create({ data: { name: `builders-${suffix}` } });
  await t.server.db.teamMember.create({ data: { teamId: team.id, userId: user.id, roleId: "role_admin" } });
  const second = await t.server.db.team.create({ data: { name: `testers-${suffix}` } });
  await t.server.db.teamMember.create({ data: { teamId: second.id, userId: user.id, roleId: "role_admin" } });
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(15_000);
  browser.page.on("console", (m) => {
    // A refused registry call is an HTTP error the page shows in words; the browser logs it too.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) consoleErrors.push(`${browser.page.url()}: ${m.text()}`);
  });
  browser.page.on("pageerror", (e) => consoleErrors.push(`${browser.page.url()}: pageerror ${e.message}`));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await registry?.stop();
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

  it("logged no errors in the browser console", () => {
    expect(consoleErrors).toEqual([]);
  });
});
