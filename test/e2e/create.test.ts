/**
 * Creating a container from the browser, in a real Chromium against a real
 * Berth (production build), agent and dockerd:
 * - "Paste a docker run line" fills the form (image, name, ports, env, volumes);
 * - a container created from the form with a port, an env var and a volume
 *   runs, and `docker inspect` shows exactly those (the oracle is Docker);
 * - a form error shows before anything is sent.
 *
 * Needs `npx next build` first (the server serves the production build).
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { freePort, startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, removeContainersByLabel, TEST_IMAGE } from "../infra/docker.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const ADMIN = { email: `cara-${suffix}@example.test`, password: "correct horse battery staple" };
const NAME = `e2e-create-${suffix}`;
const VOL = `e2e-create-vol-${suffix}`;
const LABEL = `berth.test=e2e-create-${suffix}`;

let t: TestServer;
let browser: TestBrowser;
let agent: TestAgent;
let hostId = "";

beforeAll(async () => {
  t = await startTestServer({ withNext: true, name: "e2e_create", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `create-${suffix}`, teamIds: [], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(20_000);
  await browser.page.setViewportSize({ width: 1280, height: 900 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await agent?.kill();
  if (agent) await rm(agent.stateDir, { recursive: true, force: true });
  await t?.stop();
  await removeContainersByLabel(LABEL);
  await dockerCli(["volume", "rm", VOL]).catch(() => undefined);
});

describe("creating a container from the browser", () => {
  it("fills the form from a pasted docker run line, and creates a running container with a port, an env var and a volume", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);

    await page.goto(`${t.url}/hosts/${hostId}`);
    await page.getByTestId("new-container").click();
    await page.waitForURL(`${t.url}/hosts/${hostId}/container-create`);

    // A form error shows before anything is sent.
    await page.getByTestId("field-image").fill(TEST_IMAGE);
    await page.getByTestId("field-ports").fill("99999:80");
    await page.getByTestId("form-validation").waitFor();
    expect(await page.getByTestId("form-validation").textContent()).toContain("1 and 65535");
    expect(await page.getByTestId("create-submit").isDisabled()).toBe(true);

    const port = await freePort();
    await page.getByTestId("paste-line").fill(
      `docker run -d --name ${NAME} -p ${port}:80 -e "GREETING=hello from berth" -v ${VOL}:/data --label ${LABEL} --init ${TEST_IMAGE} httpd -f -p 80 -h /data`,
    );
    await page.getByTestId("fill-from-line").click();
    expect(await page.getByTestId("field-name").inputValue()).toBe(NAME);
    expect(await page.getByTestId("field-image").inputValue()).toBe(TEST_IMAGE);
    expect(await page.getByTestId("field-ports").inputValue()).toBe(`${port}:80`);
    expect(await page.getByTestId("field-env").inputValue()).toBe("GREETING=hello from berth");
    expect(await page.getByTestId("field-volumes").inputValue()).toBe(`${VOL}:/data`);
    expect(await page.getByTestId("field-command").inputValue()).toBe("httpd -f -p 80 -h /data");
    expect(await page.getByTestId("form-validation").count()).toBe(0);
    await page.screenshot({ path: screenshotPath("create-form-filled"), fullPage: true });

    await page.getByTestId("create-submit").click();
    await page.waitForURL(`${t.url}/hosts/${hostId}`);
    await page.getByTestId(`container-row-${NAME}`).waitFor();
    const c = JSON.parse(await dockerCli(["inspect", NAME]))[0];
    expect(c.State.Running).toBe(true);
    expect(c.Config.Env).toContain("GREETING=hello from berth");
    expect(c.HostConfig.PortBindings).toEqual({ "80/tcp": [{ HostIp: "", HostPort: String(port) }] });
    expect(c.HostConfig.Binds).toEqual([`${VOL}:/data`]);
    expect(c.Mounts.find((m: { Destination: string }) => m.Destination === "/data")).toMatchObject({ Type: "volume", Name: VOL });
    await waitFor(async () => (await page.getByTestId(`container-state-${NAME}`).textContent())?.toLowerCase().includes("running"), { timeoutMs: 20_000, what: "running badge" });
    await page.screenshot({ path: screenshotPath("create-host-page"), fullPage: true });
  });

  it("Edit & recreate changes a setting and keeps the name; Duplicate makes another", async () => {
    const page = browser.page;
    const before = JSON.parse(await dockerCli(["inspect", NAME]))[0];
    await page.goto(`${t.url}/hosts/${hostId}`);
    await page.getByTestId(`action-recreate-${NAME}`).click();
    await page.waitForURL(/container-create\?from=/);
    // The form comes filled with the container's settings, environment values masked.
    await waitFor(async () => (await page.getByTestId("field-env").inputValue()) === "GREETING=[redacted]", { timeoutMs: 20_000, what: "form filled from the container" });
    expect(await page.getByTestId("field-name").inputValue()).toBe(NAME);
    await page.getByTestId("field-env").fill("GREETING=[redacted]\nADDED=yes");
    await page.getByTestId("create-submit").click();
    await page.waitForURL(`${t.url}/hosts/${hostId}`, { timeout: 60_000 });
    const after = JSON.parse(await dockerCli(["inspect", NAME]))[0];
    expect(after.Id).not.toBe(before.Id);
    expect(after.State.Running).toBe(true);
    expect(after.Config.Env).toEqual(expect.arrayContaining(["GREETING=hello from berth", "ADDED=yes"]));
    await expect(dockerCli(["inspect", before.Id])).rejects.toThrow();

    // The list must show the new container before Duplicate is clicked: for a moment after the recreate its row may
    // still be the removed one, and duplicating that fails ("no such container"), as a CI run found.
    await page.locator(`[data-testid="container-link-${NAME}"][href$="/containers/${after.Id}"]`).waitFor({ timeout: 30_000 });
    await page.getByTestId(`action-duplicate-${NAME}`).click();
    const copies = await waitFor(async () => {
      const names = (await dockerCli(["ps", "--filter", `label=${LABEL}`, "--format", "{{.Names}}"])).split("\n").filter((n) => n && n !== NAME);
      return names.length ? names : null;
    }, { timeoutMs: 30_000, what: "a duplicate" });
    const copy = JSON.parse(await dockerCli(["inspect", copies[0]!]))[0];
    expect(copy.Config.Env).toEqual(expect.arrayContaining(["GREETING=hello from berth", "ADDED=yes"]));
    expect(copy.HostConfig.PortBindings).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "" }] });
  });

  it("shows Docker's own error when Docker refuses (name taken)", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/hosts/${hostId}/container-create`);
    await page.getByTestId("paste-line").fill(`docker run -d --name ${NAME} --label ${LABEL} ${TEST_IMAGE} sleep 60`);
    await page.getByTestId("fill-from-line").click();
    await page.getByTestId("create-submit").click();
    await page.getByTestId("form-error").waitFor();
    expect(await page.getByTestId("form-error").textContent()).toMatch(/Conflict\. The container name "\/e2e-create-\w+" is already in use/);
    await page.screenshot({ path: screenshotPath("create-docker-error"), fullPage: true });
  });
});
