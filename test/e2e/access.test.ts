/**
 * Teams, roles and the audit trail in a real headless Chromium, against a real
 * Berth (production Next build, Postgres), a real agent and the machine's real
 * dockerd. An admin sets Berth up, creates a team, adds a host owned by it and
 * enrolls its agent, and invites a Viewer of that team — all by clicking. In a
 * second browser the Viewer sees the fleet and the running container but no
 * Stop button; a forged stop request from their page is refused (HTTP 403) and
 * the container keeps running. The admin then finds the refused attempt in the
 * audit UI and opens it.
 *
 * Needs `npx next build` first (the server serves the production build).
 */
import { rm } from "node:fs/promises";
import type { Locator } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserWithPassword } from "../../server/services/setup.ts";
import { startTestAgent, startTestServer, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL_KEY = "berth.test";
const LABEL_VALUE = "e2e-access";
const suffix = Math.random().toString(36).slice(2, 8);
const TEAM = `ops-${suffix}`;
const HOST = `e2e-access-${suffix}`;
const WEB = `e2e-access-web-${suffix}`;
const ADMIN = { name: "Ada Admin", email: `ada-${suffix}@example.test`, password: "correct horse battery staple" };
const VIEWER = { name: "Vic Viewer", email: `vic-${suffix}@example.test` };

/** Live changes go event → invalidate → refetch; allow for the agent's event loop and a busy dockerd. */
const LIVE_MS = 20_000;

let t: TestServer;
let admin: TestBrowser;
let viewer: TestBrowser | null = null;
let manager: TestBrowser | null = null;
let agent: TestAgent | null = null;
let containerId = "";

async function expectText(locator: Locator, text: string, timeout = LIVE_MS): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`) }).waitFor({ timeout });
}

beforeAll(async () => {
  await removeContainersByLabel(`${LABEL_KEY}=${LABEL_VALUE}`);
  containerId = await runTestContainer({ name: WEB, labels: { [LABEL_KEY]: LABEL_VALUE } });
  t = await startTestServer({ withNext: true, name: "e2e_access" });
  admin = await launchBrowser();
  admin.page.setDefaultTimeout(15_000);
});

afterAll(async () => {
  await viewer?.close();
  await manager?.close();
  await admin?.close();
  await agent?.kill();
  if (agent) await rm(agent.stateDir, { recursive: true, force: true });
  await t?.stop();
  await removeContainersByLabel(`${LABEL_KEY}=${LABEL_VALUE}`);
});

describe("teams, roles and the audit trail in a browser", () => {
  it("a Viewer sees the fleet but cannot stop a container, and the admin finds the refused attempt", async () => {
    const page = admin.page;

    // --- The admin sets Berth up.
    await page.goto(`${t.url}/`);
    await page.waitForURL(`${t.url}/setup`);
    await page.getByLabel("Setup code").fill(t.server.setupCode!);
    await page.getByLabel("Name").fill(ADMIN.name);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Create admin account" }).click();
    await page.waitForURL(`${t.url}/`);
    await expectText(page.getByTestId("user-email"), ADMIN.email);

    // --- Settings → Teams: a new team.
    await page.getByTestId("nav-settings").click();
    await page.waitForURL(`${t.url}/settings/users`);
    await page.getByTestId("settings-teams").click();
    await page.getByTestId("new-team-button").click();
    await page.getByLabel("Team name").fill(TEAM);
    await page.getByTestId("create-team-submit").click();
    await page.waitForURL(/\/settings\/teams\/[^/]+$/);
    await expectText(page.getByTestId("team-name"), TEAM);

    // --- Fleet → Add host, owned by the team; a real agent joins with the token read off the page.
    await page.getByTestId("nav-fleet").click();
    await page.getByTestId("add-host-button").click();
    const addHost = page.getByTestId("add-host-dialog");
    await addHost.getByLabel("Host name").fill(HOST);
    await addHost.getByRole("checkbox", { name: TEAM }).check();
    await page.getByTestId("create-host-submit").click();
    // The token is minted only when asked for.
    await page.getByTestId("create-join-token").click();
    const command = (await page.getByTestId("agent-command").textContent()) ?? "";
    const token = /BERTH_JOIN_TOKEN=(\S+)/.exec(command)?.[1];
    expect(token, `join token in: ${command}`).toBeTruthy();
    agent = await startTestAgent({ serverUrl: t.url, joinToken: token! });
    await page.getByTestId("join-status").filter({ hasText: "The agent joined." }).waitFor({ timeout: LIVE_MS });
    await page.getByTestId("add-host-done").click();
    await expectText(page.getByTestId(`host-status-${HOST}`), "online");
    await expectText(page.getByTestId(`host-teams-${HOST}`), TEAM);

    // --- Settings → Users → Invite: a Viewer of the team, with a password Berth generates and shows once.
    await page.getByTestId("nav-settings").click();
    await page.getByTestId("invite-user-button").click();
    const invite = page.getByTestId("invite-user-dialog");
    await invite.getByLabel("Name", { exact: true }).fill(VIEWER.name);
    await invite.getByLabel("Email").fill(VIEWER.email);
    await page.getByTestId("invite-team").selectOption({ label: TEAM });
    expect(await page.getByTestId("invite-role").inputValue(), "a team member starts as Viewer").toBe("role_viewer");
    await page.getByTestId("invite-submit").click();
    const password = ((await page.getByTestId("initial-password").textContent()) ?? "").trim();
    expect(password.length).toBeGreaterThanOrEqual(12);
    await page.getByTestId("invite-done").click();
    const viewerRow = page.getByTestId(`user-row-${VIEWER.email}`);
    await viewerRow.filter({ hasText: TEAM }).filter({ hasText: "Viewer" }).waitFor();

    // --- A second browser: the Viewer signs in, sees the fleet, the host and the running container — and no Stop.
    viewer = await launchBrowser();
    const vpage = viewer.page;
    vpage.setDefaultTimeout(15_000);
    await vpage.goto(`${t.url}/login`);
    await vpage.getByLabel("Email").fill(VIEWER.email);
    await vpage.getByLabel("Password").fill(password);
    await vpage.getByRole("button", { name: "Sign in" }).click();
    await vpage.waitForURL(`${t.url}/`);
    await expectText(vpage.getByTestId("user-email"), VIEWER.email);
    await expectText(vpage.getByTestId(`host-status-${HOST}`), "online");
    expect(await vpage.getByTestId("nav-settings").count(), "no Settings for a Viewer").toBe(0);
    expect(await vpage.getByTestId("nav-audit").count(), "no Audit for a Viewer").toBe(0);
    expect(await vpage.getByTestId("add-host-button").count(), "no Add host for a Viewer").toBe(0);
    await vpage.getByTestId(`host-link-${HOST}`).click();
    await vpage.waitForURL(/\/hosts\/[^/]+$/);
    const hostId = new URL(vpage.url()).pathname.split("/").pop()!;
    await expectText(vpage.getByTestId(`container-state-${WEB}`), "running");
    expect(await vpage.getByTestId(`action-stop-${WEB}`).count(), "no Stop button for a Viewer").toBe(0);
    expect(await vpage.getByTestId(`action-start-${WEB}`).count()).toBe(0);
    expect(await vpage.getByTestId("new-join-token").count(), "no Join token for a Viewer").toBe(0);
    expect(await vpage.getByTestId("remove-host").count(), "no Remove for a Viewer").toBe(0);
    await vpage.screenshot({ path: screenshotPath("e2e-access-viewer"), fullPage: true });

    // --- A forged stop request from the Viewer's page, with their session cookie: refused.
    const forged = await vpage.evaluate(
      async ({ hostId, containerId }) => {
        const response = await fetch("/api/trpc/containers.stop", {
          method: "POST",
          credentials: "include",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ json: { hostId, containerId } }),
        });
        return { status: response.status, body: await response.text() };
      },
      { hostId, containerId },
    );
    expect(forged.status, forged.body).toBe(403);
    expect(forged.body).toContain("container.operate");
    expect(await dockerCli(["inspect", "--format", "{{.State.Running}}", containerId]), "the container still runs").toBe("true");

    // --- The admin finds the refused attempt in the audit trail: Denied, by the Viewer.
    await page.getByTestId("nav-audit").click();
    await page.waitForURL(`${t.url}/audit`);
    await page.getByTestId("outcome-DENIED").click();
    await page.getByTestId("audit-actor").fill(VIEWER.email);
    await page.getByTestId("audit-actor").press("Enter");
    await page.waitForURL(/outcome=DENIED/);
    await page.waitForURL(/actor=/);
    const refused = page.locator('[data-testid="audit-row"][data-action="containers.stop"][data-outcome="DENIED"]');
    await refused.filter({ hasText: VIEWER.email }).waitFor({ timeout: LIVE_MS });
    expect(await page.getByTestId("audit-row").count(), "only the Viewer's refused attempts match").toBe(1);

    // Free-text search finds it too, by the container's id.
    await page.getByTestId("audit-search").fill(containerId.slice(0, 12));
    await page.getByTestId("audit-search").press("Enter");
    await page.waitForURL(/q=/);
    await refused.waitFor({ timeout: LIVE_MS });

    // Its detail names who, what, where and why.
    await refused.click();
    const detail = page.getByTestId("audit-detail-body");
    await detail.waitFor();
    await page.getByTestId("audit-detail-action").filter({ hasText: "containers.stop" }).waitFor();
    await expectText(page.getByTestId("audit-detail-outcome"), "denied");
    await page.getByTestId("audit-detail-actor").filter({ hasText: VIEWER.email }).waitFor();
    await page.getByTestId("audit-detail-error").filter({ hasText: "container.operate" }).waitFor();
    await page.getByTestId("audit-detail-params").filter({ hasText: containerId }).waitFor();
    await detail.filter({ hasText: HOST }).waitFor();
    await page.screenshot({ path: screenshotPath("e2e-access-audit"), fullPage: false });

    // The chain of everything above verifies.
    await page.getByTestId("audit-detail-close").click();
    await page.getByTestId("verify-chain").click();
    await page.locator('[data-testid="verify-result"][data-ok="true"]').waitFor();

    expect(await page.getByTestId("toast-error").count(), "no action failed for the admin").toBe(0);
  });
  it("a team manager is offered only the roles they hold, and a token's scope is an explicit choice", async () => {
    // A manager of the team (custom role: no container.operate) and a team Admin above them, set up server-side.
    const db = t.server.db;
    const team = await db.team.findUniqueOrThrow({ where: { name: TEAM }, select: { id: true } });
    const role = await db.role.create({ data: { name: `Manager-${suffix}`, permissions: ["host.view", "container.logs", "team.manage"] } });
    const MANAGER = { name: "Meg Manager", email: `meg-${suffix}@example.test`, password: "manager passphrase 123" };
    const boss = await createUserWithPassword(t.server.auth, { name: "Bo Boss", email: `bo-${suffix}@example.test`, password: "boss passphrase 12345", role: "user" });
    const meg = await createUserWithPassword(t.server.auth, { ...MANAGER, role: "user" });
    await db.teamMember.createMany({
      data: [
        { teamId: team.id, userId: meg.id, roleId: role.id },
        { teamId: team.id, userId: boss.id, roleId: "role_admin" },
      ],
    });

    manager = await launchBrowser();
    const mpage = manager.page;
    mpage.setDefaultTimeout(15_000);
    await mpage.goto(`${t.url}/login`);
    await mpage.getByLabel("Email").fill(MANAGER.email);
    await mpage.getByLabel("Password").fill(MANAGER.password);
    await mpage.getByRole("button", { name: "Sign in" }).click();
    await mpage.waitForURL(`${t.url}/`);

    // --- The team page: only roles within the manager's own permissions are offered.
    await mpage.goto(`${t.url}/account`);
    await mpage.getByTestId(`manage-team-${TEAM}`).click();
    await mpage.waitForURL(/\/settings\/teams\/[^/]+$/);
    const viewerRole = mpage.getByTestId(`member-role-${VIEWER.email}`);
    await viewerRole.waitFor();
    await expect.poll(() => viewerRole.locator("option").allTextContents()).toEqual(["Viewer", `Manager-${suffix}`]);
    // Their own row and the team Admin's are read-only for them, with no Remove button.
    await mpage.getByTestId(`member-locked-${MANAGER.email}`).waitFor();
    await mpage.getByTestId(`member-locked-bo-${suffix}@example.test`).waitFor();
    expect(await mpage.getByTestId(`remove-member-${MANAGER.email}`).count(), "no Remove on their own row").toBe(0);
    expect(await mpage.getByTestId(`remove-member-bo-${suffix}@example.test`).count(), "no Remove on a member above them").toBe(0);
    expect(await mpage.getByTestId(`member-role-bo-${suffix}@example.test`).isDisabled()).toBe(true);
    expect(await mpage.getByTestId(`remove-member-${VIEWER.email}`).count(), "Remove on a Viewer").toBe(1);
    await mpage.screenshot({ path: screenshotPath("e2e-access-team-manager"), fullPage: true });

    // A forged request to make themselves Admin is refused with the reason, and nothing changes.
    const forged = await mpage.evaluate(
      async ({ teamId, userId }) => {
        const response = await fetch("/api/trpc/teams.setMember", {
          method: "POST",
          credentials: "include",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ json: { teamId, userId, roleId: "role_admin" } }),
        });
        return { status: response.status, body: await response.text() };
      },
      { teamId: team.id, userId: meg.id },
    );
    expect(forged.status, forged.body).toBe(403);
    expect(forged.body).toContain("your own membership");
    expect((await db.teamMember.findUniqueOrThrow({ where: { teamId_userId: { teamId: team.id, userId: meg.id } } })).roleId).toBe(role.id);

    // --- Account → API tokens: nothing is chosen for the token's scope until the person picks.
    await mpage.goto(`${t.url}/account`);
    await mpage.getByTestId("new-token-button").click();
    const dialog = mpage.getByTestId("new-token-dialog");
    await dialog.getByLabel("Name", { exact: true }).fill("ci");
    expect(await mpage.getByTestId("token-submit").isDisabled(), "no scope chosen yet").toBe(true);
    await mpage.getByTestId("token-scope-some").check();
    await mpage.getByTestId("token-permissions").waitFor();
    await mpage.getByTestId("token-scope-all").check();
    expect(await mpage.getByTestId("token-permissions").count()).toBe(0);
    await mpage.getByTestId("token-submit").click();
    await mpage.getByTestId("token-result").waitFor();
    await mpage.getByTestId("token-done").click();
    await mpage.getByTestId("token-row-ci").filter({ hasText: "All of yours" }).waitFor();
    expect(await mpage.getByTestId("toast-error").count()).toBe(0);
  });
});
