/**
 * Terminals in a real headless Chromium, against a real Berth (production
 * Next build, Postgres), a real agent and the machine's dockerd:
 * - open a shell from the container page, run `top` (full screen), resize the
 *   window and see the TTY follow (`stty size` inside), exit;
 * - run `vi`, write a file, and check it with `docker exec` from the test;
 * - open the session's audit event and replay it: the player shows what the
 *   terminal showed;
 * - screenshots in test/artifacts/.
 *
 * Needs `npm run build` first (the server serves the production build).
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { launchBrowser, screenshotPath, type TestBrowser } from "../infra/browser.ts";
import { dockerCli, removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL = "berth.test=e2e-terminal";
const suffix = Math.random().toString(36).slice(2, 8);
const NAME = `e2e-term-${suffix}`;
const ADMIN = { email: `tess-${suffix}@example.test`, password: "correct horse battery staple" };

let t: TestServer;
let browser: TestBrowser;
let agent: TestAgent;
let hostId = "";
let containerId = "";

/** The visible text of the active terminal (xterm's DOM renderer: one div per row). */
const screen = (page: Page) => page.locator('[data-testid="terminal-view"]:visible .xterm-rows').innerText();
const waitForScreen = (page: Page, pattern: RegExp, what: string) =>
  waitFor(async () => pattern.test(await screen(page)), { what: `${what}; the terminal shows:\n${"(see screenshot)"}` });

async function typeInTerminal(page: Page, text: string) {
  await page.locator('[data-testid="terminal-view"]:visible .xterm-helper-textarea').focus();
  await page.keyboard.type(text, { delay: 5 });
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  containerId = await runTestContainer({ name: NAME, labels: { "berth.test": "e2e-terminal" } });
  t = await startTestServer({ withNext: true, name: "e2e_terminal", env: { BERTH_ADMIN_EMAIL: ADMIN.email, BERTH_ADMIN_PASSWORD: ADMIN.password } });
  const team = await t.server.db.team.create({ data: { name: `term-team-${suffix}` } });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `e2e-term-host-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
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
});

describe("terminals", () => {
  it("opens a shell, runs top full screen, follows a window resize, and exits", async () => {
    const page = browser.page;
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.goto(`${t.url}/hosts/${hostId}/containers/${containerId}`);
    await page.getByTestId("container-tab-terminal").click();
    await page.getByTestId("terminal-open").click();
    await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor();

    await typeInTerminal(page, "stty size\n");
    const before = await waitFor(async () => /^(\d+) (\d+)$/m.exec(await screen(page)), { what: "stty size before the resize" });
    const [rows, cols] = [Number(before[1]), Number(before[2])];
    expect(cols).toBeGreaterThan(80); // fitted to the element, not xterm's default 80x24

    await typeInTerminal(page, "top\n");
    await waitForScreen(page, /Mem:.*used/, "top's header");
    await waitForScreen(page, /PID\s+PPID\s+USER/, "top's process table");
    await page.screenshot({ path: screenshotPath("terminal-top") });
    await typeInTerminal(page, "q");

    await page.setViewportSize({ width: 900, height: 700 });
    await waitFor(async () => {
      await typeInTerminal(page, "clear; stty size\n");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const match = /^(\d+) (\d+)$/m.exec(await screen(page));
      return match && Number(match[2]) < cols && Number(match[1]) < rows ? match : null;
    }, { what: "a smaller TTY after the window shrank" });

    await typeInTerminal(page, "exit\n");
    await page.locator('[data-testid="terminal-view"][data-status="ended"]').waitFor();
    expect(await page.getByTestId("terminal-status").textContent()).toBe("process exited with code 0");
    await page.getByTestId("terminal-reconnect").waitFor();
  });

  it("writes a file with vi, which docker exec then reads", async () => {
    const page = browser.page;
    await page.setViewportSize({ width: 1280, height: 900 });
    // A new shell in a second tab.
    await page.getByTestId("terminal-open").click();
    await expect.poll(() => page.getByTestId("terminal-tab").count()).toBe(2);
    await page.locator('[data-testid="terminal-view"][data-status="open"]:visible').waitFor();
    await typeInTerminal(page, "vi /tmp/from-vi.txt\n");
    await waitForScreen(page, /from-vi\.txt/, "vi's status line");
    await typeInTerminal(page, "iwritten in vi through Berth");
    await waitForScreen(page, /written in vi through Berth/, "the typed text in vi");
    await page.keyboard.press("Escape");
    // vi reads ESC followed at once by ":" as one escape sequence (Alt-:): give it a moment alone.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await typeInTerminal(page, ":wq\n");
    await waitFor(async () => (await dockerCli(["exec", containerId, "cat", "/tmp/from-vi.txt"]).catch(() => "")) === "written in vi through Berth", {
      what: "the file vi wrote, read by docker exec",
      timeoutMs: 20_000,
    });
    await page.screenshot({ path: screenshotPath("terminal-vi-done") });
    await typeInTerminal(page, "exit\n");
    await page.locator('[data-testid="terminal-view"][data-status="ended"]:visible').waitFor();
  });

  it("replays the session from its audit event", async () => {
    const page = browser.page;
    const event = await t.server.db.auditEvent.findFirstOrThrow({
      where: { action: "containers.exec", outcome: "SUCCESS" },
      orderBy: { seq: "desc" },
      select: { seq: true, params: true },
    });
    const sessionId = (event.params as { sessionId: string }).sessionId;
    await waitFor(async () => (await t.server.db.terminalSession.findUnique({ where: { id: sessionId }, select: { endedAt: true } }))?.endedAt, { what: "the session closed" });
    await page.goto(`${t.url}/audit?event=${event.seq}`);
    const replay = page.getByTestId("session-replay");
    await replay.waitFor();
    expect(await page.getByTestId("session-replay-end").textContent()).toContain("exit code 0");
    // Play at 4x and let it reach the end: the player's screen shows what vi's session showed.
    await page.getByTestId("session-replay-speed-4").click();
    const player = page.getByTestId("session-replay-player");
    await player.locator(".ap-player").waitFor();
    await player.locator(".ap-player").click(); // start playing
    await waitFor(async () => /exit/.test(await player.locator(".ap-term").innerText().catch(() => "")), {
      what: "the replay reaching the shell's exit",
      timeoutMs: 60_000,
    });
    await page.screenshot({ path: screenshotPath("terminal-replay") });
    const download = await page.request.get(`${t.url}/api/terminal-recording?sessionId=${sessionId}&download=1`);
    expect(download.status()).toBe(200);
    const cast = (await download.text()).split("\n");
    expect(JSON.parse(cast[0]!)).toMatchObject({ version: 2 });
    expect(cast.slice(1).filter(Boolean).some((line) => (JSON.parse(line) as [number, string, string])[2].includes("from-vi.txt"))).toBe(true);
  });

  it("lets an admin turn on keystroke recording, audited", async () => {
    const page = browser.page;
    await page.goto(`${t.url}/settings/terminals`);
    const toggle = page.getByTestId("record-terminal-input");
    expect(await toggle.isChecked()).toBe(false);
    await toggle.check();
    await waitFor(async () => (await t.server.db.appSetting.findUnique({ where: { key: "terminal.recordInput" }, select: { value: true } }))?.value === true, {
      what: "the setting stored",
    });
    // The audit row is appended as the mutation returns, a moment after the setting is stored (a CI run looked too soon).
    const audited = await waitFor(
      () => t.server.db.auditEvent.findFirst({ where: { action: "terminals.setRecordInput", outcome: "SUCCESS" }, select: { params: true } }),
      { what: "the audit row of the change" },
    );
    expect(audited.params).toEqual({ enabled: true });
    await page.screenshot({ path: screenshotPath("terminal-settings") });
  });
});
