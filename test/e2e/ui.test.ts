/**
 * The first user's walk through the UI in a real headless Chromium, against a
 * real Berth (production Next build, Postgres), a real agent and the
 * machine's real dockerd:
 * - signed out, signed in, on a phone (390×844) and in both themes, no page
 *   logs a console error or throws;
 * - the Add host dialog shows the server's public URL, warns that it is a
 *   loopback address, and mints a join token only when asked;
 * - at phone width every main page fits without sideways scrolling, the
 *   header collapses into a menu and table actions stay reachable
 *   (screenshots of each page, dark and light, in test/artifacts/);
 * - the theme follows the system, a chosen one is remembered and applied
 *   before the first frame;
 * - an Operator's open host page loses its Stop button, without a reload,
 *   the moment an admin demotes them to Viewer.
 *
 * Needs `npx next build` first (the server serves the production build).
 */
import { rm } from "node:fs/promises";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserWithPassword } from "../../server/services/setup.ts";
import { startTestAgent, startTestServer, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL_KEY = "berth.test";
const LABEL_VALUE = "e2e-ui";
const suffix = Math.random().toString(36).slice(2, 8);
const HOST = `e2e-ui-${suffix}`;
const WEB = `e2e-ui-web-${suffix}`;
const TEAM = `ui-team-${suffix}`;
const ADMIN = { email: `uma-${suffix}@example.test`, password: "correct horse battery staple" };
const OPERATOR = { name: "Otto Operator", email: `otto-${suffix}@example.test`, password: "operator horse battery staple" };
const PHONE = { width: 390, height: 844 };

/** Live changes go event → invalidate → refetch; allow for the agent's event loop and a busy dockerd. */
const LIVE_MS = 20_000;

let t: TestServer;
let admin: TestBrowser;
let operator: TestBrowser | null = null;
let agent: TestAgent | null = null;
let hostId = "";
let teamId = "";

/** Every console error and uncaught page error of every page, named by where it happened. */
const consoleErrors: string[] = [];

function watchConsole(context: BrowserContext, who: string) {
  const watch = (page: Page) => {
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(`${who} ${page.url()}: console.error ${message.text()}`);
    });
    page.on("pageerror", (error) => consoleErrors.push(`${who} ${page.url()}: pageerror ${error.message}`));
  };
  context.pages().forEach(watch);
  context.on("page", watch);
}

/** Records the theme in force when the first frame is drawn (requestAnimationFrame runs just before it). */
async function recordFirstFrameTheme(context: BrowserContext) {
  await context.addInitScript(() => {
    requestAnimationFrame(() => {
      (window as unknown as { __firstFrameTheme?: string }).__firstFrameTheme = document.documentElement.dataset.theme;
    });
  });
}

const firstFrameTheme = (page: Page) => page.evaluate(() => (window as unknown as { __firstFrameTheme?: string }).__firstFrameTheme);
const currentTheme = (page: Page) => page.evaluate(() => document.documentElement.dataset.theme);

async function expectText(locator: Locator, text: string, timeout = LIVE_MS): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`) }).waitFor({ timeout });
}

/** How wide the page is laid out: more than the viewport means sideways scrolling. */
const scrollWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);

/** An element is reachable when, scrolled into view (its own container scrolls too), it lies inside the viewport. */
async function expectReachable(page: Page, locator: Locator, what: string) {
  await locator.scrollIntoViewIfNeeded();
  const box = await locator.boundingBox();
  expect(box, `${what} is laid out`).not.toBeNull();
  const viewport = page.viewportSize()!;
  expect(box!.x, `${what} starts inside the screen`).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width, `${what} ends inside the screen`).toBeLessThanOrEqual(viewport.width);
}

async function signIn(page: Page, email: string, password: string) {
  await page.goto(`${t.url}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${t.url}/`);
}

const joinTokens = () => t.server.db.joinToken.count({ where: { host: { name: HOST } } });

beforeAll(async () => {
  await removeContainersByLabel(`${LABEL_KEY}=${LABEL_VALUE}`);
  await runTestContainer({ name: WEB, labels: { [LABEL_KEY]: LABEL_VALUE } });
  t = await startTestServer({ withNext: true, name: "e2e_ui", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  // The operator and their team exist before anyone signs in (their UI is covered by test/e2e/access.test.ts).
  const team = await t.server.db.team.create({ data: { name: TEAM } });
  teamId = team.id;
  const user = await createUserWithPassword(t.server.auth, { name: OPERATOR.name, email: OPERATOR.email, password: OPERATOR.password, role: "user" });
  await t.server.db.teamMember.create({ data: { teamId, userId: user.id, roleId: "role_operator" } });

  admin = await launchBrowser();
  admin.page.setDefaultTimeout(15_000);
  watchConsole(admin.context, "admin");
  await recordFirstFrameTheme(admin.context);
  await admin.page.setViewportSize(PHONE);
  await admin.page.emulateMedia({ colorScheme: "dark" });
});

afterAll(async () => {
  await operator?.close();
  await admin?.close();
  await agent?.kill();
  if (agent) await rm(agent.stateDir, { recursive: true, force: true });
  await t?.stop();
  await removeContainersByLabel(`${LABEL_KEY}=${LABEL_VALUE}`);
});

describe("the UI for a first user", () => {
  it("signed-out pages fit a phone and log no errors", async () => {
    const page = admin.page;
    // The console sends a signed-out visitor to sign in; the setup page, once set up, too.
    for (const path of ["/", "/setup", "/login"]) {
      await page.goto(`${t.url}${path}`);
      await page.waitForURL(`${t.url}/login`);
      await page.getByTestId("login-form").waitFor();
      expect(await scrollWidth(page), `${path} at 390 px`).toBeLessThanOrEqual(PHONE.width);
    }
    await page.screenshot({ path: screenshotPath("phone-login-dark"), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it("opened at another address than BERTH_PUBLIC_URL, the sign-in page says where to go before anyone types a password", async () => {
    const page = admin.page;
    // The server listens on 127.0.0.1 and is set up for it; "localhost" reaches the same server under another origin.
    const elsewhere = t.url.replace("127.0.0.1", "localhost");
    expect(elsewhere).not.toBe(t.url);
    await page.goto(`${t.url}/login`);
    await page.getByTestId("login-form").waitFor();
    expect(await page.getByTestId("address-notice").count(), "no notice at Berth's own address").toBe(0);

    await page.goto(`${elsewhere}/login`);
    const notice = page.getByTestId("address-notice");
    await notice.waitFor();
    expect(await notice.textContent()).toContain(`BERTH_PUBLIC_URL=${new URL(elsewhere).origin}`);
    expect(await page.getByTestId("address-notice-link").getAttribute("href")).toBe(`${t.url}/login`);
    // Trying anyway is refused by the sign-in endpoint (no session is made there), and the error says where Berth is.
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    const error = page.getByTestId("form-error");
    await error.waitFor();
    expect(await error.textContent()).toContain(`only accepted at ${t.url}`);
    await page.screenshot({ path: screenshotPath("login-other-address"), fullPage: true });
    // The refused request is the one console error this step expects (the browser logs the 403).
    const refused = consoleErrors.filter((line) => line.includes(elsewhere));
    expect(refused.length, refused.join("\n")).toBeLessThanOrEqual(1);
    consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((line) => !line.includes(elsewhere)));
    expect(consoleErrors).toEqual([]);

    await page.getByTestId("address-notice-link").click();
    await page.waitForURL(`${t.url}/login`);
    expect(await page.getByTestId("address-notice").count()).toBe(0);
  });

  it("Add host shows the public URL, warns it is loopback, and mints a token only when asked", async () => {
    const page = admin.page;
    await signIn(page, ADMIN.email, ADMIN.password);
    await page.getByTestId("fleet-empty").waitFor();

    await page.getByTestId("add-host-button").click();
    const dialog = page.getByTestId("add-host-dialog");
    await dialog.getByLabel("Host name").fill(HOST);
    await dialog.getByRole("checkbox", { name: TEAM }).check();
    await page.getByTestId("create-host-submit").click();

    // The host exists; its join step shows where the agent will connect, and warns: 127.0.0.1 is this machine only.
    await expectText(page.getByTestId("join-server-url"), t.url);
    await page.getByTestId("public-url-warning").filter({ hasText: "BERTH_PUBLIC_URL" }).waitFor();
    expect(await page.getByTestId("agent-command").count(), "no command before a token").toBe(0);
    expect(await joinTokens(), "opening the join step minted no token").toBe(0);
    expect(await scrollWidth(page), "the dialog at 390 px").toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: screenshotPath("phone-add-host-dark") });

    await page.getByTestId("create-join-token").click();
    const command = (await page.getByTestId("agent-command").textContent()) ?? "";
    expect(command).toContain(`BERTH_SERVER_URL=${t.url}`);
    const token = /BERTH_JOIN_TOKEN=(\S+)/.exec(command)?.[1];
    expect(token, `join token in: ${command}`).toBeTruthy();
    expect(await joinTokens(), "one token, minted by the click").toBe(1);

    agent = await startTestAgent({ serverUrl: t.url, joinToken: token! });
    await page.getByTestId("join-status").filter({ hasText: "The agent joined." }).waitFor({ timeout: LIVE_MS });
    await page.getByTestId("add-host-done").click();
    await expectText(page.getByTestId(`host-status-${HOST}`), "online");

    // The host page's Join token dialog opens without minting either.
    await page.getByTestId(`host-link-${HOST}`).click();
    await page.waitForURL(/\/hosts\/[^/]+$/);
    hostId = new URL(page.url()).pathname.split("/").pop()!;
    await page.getByTestId("new-join-token").click();
    await page.getByTestId("join-token-dialog").getByTestId("create-join-token").waitFor();
    expect(await joinTokens(), "opening the host's Join token dialog minted nothing").toBe(1);
    await page.getByTestId("join-token-dialog").getByTestId("create-join-token").click();
    await page.getByTestId("join-token-dialog").getByTestId("agent-command").waitFor();
    expect(await joinTokens()).toBe(2);
    await page.keyboard.press("Escape");
    expect(consoleErrors).toEqual([]);
  });

  it("every main page fits a phone in both themes, with a menu for the header and reachable table actions", async () => {
    const page = admin.page;
    const pages: Array<{ name: string; path: string; ready: (p: Page) => Locator }> = [
      { name: "fleet", path: "/", ready: (p) => p.getByTestId(`host-row-${HOST}`) },
      { name: "host", path: `/hosts/${hostId}`, ready: (p) => p.getByTestId(`container-state-${WEB}`).filter({ hasText: "running" }) },
      { name: "containers", path: "/containers", ready: (p) => p.getByTestId("fleet-count").filter({ hasText: "shown of" }) },
      { name: "audit", path: "/audit", ready: (p) => p.getByTestId("audit-row").first() },
      { name: "users", path: "/settings/users", ready: (p) => p.getByTestId(`user-row-${OPERATOR.email}`) },
      { name: "teams", path: "/settings/teams", ready: (p) => p.getByTestId(`team-row-${TEAM}`) },
      { name: "team", path: `/settings/teams/${teamId}`, ready: (p) => p.getByTestId(`member-row-${OPERATOR.email}`) },
      { name: "roles", path: "/settings/roles", ready: (p) => p.getByTestId("role-card-Operator") },
      { name: "account", path: "/account", ready: (p) => p.getByTestId("account-sessions") },
    ];

    // The header is a menu button on a phone; its panel holds the navigation and the theme.
    await page.goto(`${t.url}/`);
    await page.getByTestId(`host-row-${HOST}`).waitFor();
    expect(await page.getByTestId("nav-audit").isVisible(), "no inline navigation at 390 px").toBe(false);
    await page.getByTestId("mobile-menu-button").click();
    await page.getByTestId("mobile-menu").waitFor();
    expect(await scrollWidth(page), "the open menu at 390 px").toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: screenshotPath("phone-menu-dark") });
    await page.getByTestId("mobile-nav-audit").click();
    await page.waitForURL(`${t.url}/audit`);
    expect(await page.getByTestId("mobile-menu").count(), "following a link closes the menu").toBe(0);

    const walk = async (theme: "dark" | "light") => {
      for (const { name, path, ready } of pages) {
        await page.goto(`${t.url}${path}`);
        await ready(page).waitFor({ timeout: LIVE_MS });
        expect(await currentTheme(page), `${name} in the ${theme} theme`).toBe(theme);
        expect(await firstFrameTheme(page), `${name}: the ${theme} theme was in force at the first frame`).toBe(theme);
        expect(await scrollWidth(page), `${name} (${theme}) at 390 px`).toBeLessThanOrEqual(PHONE.width);
        await page.screenshot({ path: screenshotPath(`phone-${name}-${theme}`), fullPage: true });
      }
      // A table's actions can be reached on a phone: the table scrolls inside its own frame.
      await page.goto(`${t.url}/hosts/${hostId}`);
      await expectText(page.getByTestId(`container-state-${WEB}`), "running");
      await expectReachable(page, page.getByTestId(`action-stop-${WEB}`), "the Stop button");
      // The log drawer (over the /browser socket) on a phone.
      await page.getByTestId(`action-logs-${WEB}`).click();
      await page.getByTestId("logs-tail").waitFor();
      expect(await scrollWidth(page), `the log drawer (${theme}) at 390 px`).toBeLessThanOrEqual(PHONE.width);
      await page.screenshot({ path: screenshotPath(`phone-logs-${theme}`) });
      await page.keyboard.press("Escape");
      await page.goto(`${t.url}/settings/teams/${teamId}`);
      await expectReachable(page, page.getByTestId(`remove-member-${OPERATOR.email}`), "the Remove member button");
    };

    // The system says dark and nothing is chosen: dark.
    await walk("dark");

    // Choose light in the menu: applied at once, and remembered for every later page (before its first frame).
    await page.getByTestId("mobile-menu-button").click();
    await page.getByTestId("mobile-theme-light").click();
    expect(await currentTheme(page)).toBe("light");
    expect(await page.evaluate(() => localStorage.getItem("berth-theme"))).toBe("light");
    await walk("light");

    // Signing out from the phone menu; the signed-out page keeps the chosen theme.
    await page.getByTestId("mobile-menu-button").click();
    await page.getByTestId("mobile-sign-out").click();
    await page.waitForURL(`${t.url}/login`);
    await page.getByTestId("login-form").waitFor();
    expect(await currentTheme(page)).toBe("light");
    expect(await scrollWidth(page)).toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: screenshotPath("phone-login-light"), fullPage: true });
    await signIn(page, ADMIN.email, ADMIN.password);

    // Back to following the system, which then changes: the page follows without a reload.
    await page.getByTestId("mobile-menu-button").click();
    await page.getByTestId("mobile-theme-system").click();
    expect(await currentTheme(page)).toBe("dark");
    await page.emulateMedia({ colorScheme: "light" });
    await page.waitForFunction(() => document.documentElement.dataset.theme === "light");
    await page.emulateMedia({ colorScheme: "dark" });
    await page.waitForFunction(() => document.documentElement.dataset.theme === "dark");

    expect(consoleErrors).toEqual([]);
  });

  it("an Operator's open host page loses Stop the moment an admin demotes them", async () => {
    operator = await launchBrowser();
    const opage = operator.page;
    opage.setDefaultTimeout(15_000);
    watchConsole(operator.context, "operator");
    await signIn(opage, OPERATOR.email, OPERATOR.password);
    await opage.goto(`${t.url}/hosts/${hostId}`);
    await expectText(opage.getByTestId(`container-state-${WEB}`), "running");
    const stop = opage.getByTestId(`action-stop-${WEB}`);
    await stop.waitFor();
    expect(await stop.isEnabled(), "an Operator may stop it").toBe(true);
    await opage.evaluate(() => {
      (window as unknown as { __noReload?: boolean }).__noReload = true;
    });

    // The admin (desktop width now) changes the Operator's role in the team to Viewer.
    const page = admin.page;
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(`${t.url}/settings/teams/${teamId}`);
    const role = page.getByTestId(`member-role-${OPERATOR.email}`);
    await role.selectOption({ label: "Viewer" });
    await page.waitForFunction((email) => {
      const select = document.querySelector<HTMLSelectElement>(`[data-testid="member-role-${email}"]`);
      return select?.value === "role_viewer" && !select.disabled;
    }, OPERATOR.email);

    // The Operator's page, untouched, drops Stop/Start/Restart but keeps showing the container.
    await stop.waitFor({ state: "detached", timeout: LIVE_MS });
    expect(await opage.getByTestId(`action-restart-${WEB}`).count()).toBe(0);
    await expectText(opage.getByTestId(`container-state-${WEB}`), "running");
    expect(await opage.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload), "the page was not reloaded").toBe(true);
    await opage.screenshot({ path: screenshotPath("e2e-demoted-operator"), fullPage: true });

    expect(consoleErrors).toEqual([]);
  });
});
