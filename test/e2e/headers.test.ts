/**
 * The security headers on real pages, in a real Chromium: every page carries
 * the CSP (with frame-ancestors 'none') and its companions, and the app still
 * works under that policy: the setup form hydrates and submits, pages render
 * without a single CSP violation, and a same-origin websocket (what the log
 * drawer uses) may open.
 *
 * Needs `npx next build` first (the server serves the production build).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../infra/berth.ts";
import { launchBrowser, type TestBrowser } from "../infra/browser.ts";

let t: TestServer;
let browser: TestBrowser;
const consoleErrors: string[] = [];

beforeAll(async () => {
  t = await startTestServer({ withNext: true, name: "e2e_headers" });
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(20_000);
  browser.page.on("console", (message) => {
    if (message.type() === "error" || /Content[- ]Security[- ]Policy/i.test(message.text())) consoleErrors.push(message.text());
  });
});

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe("security headers on pages", () => {
  it("every page carries them, and the app works under the policy", async () => {
    const page = browser.page;
    const response = await page.goto(`${t.url}/setup`);
    const headers = response!.headers();
    expect(headers["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
    expect(headers["content-security-policy"]).toMatch(/script-src 'self'/);
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["x-frame-options"]).toBe("DENY");
    expect(headers["referrer-policy"]).toBe("strict-origin-when-cross-origin");

    // The form only submits once React has hydrated: inline scripts ran under the policy.
    await page.getByLabel("Setup code").fill(t.server.setupCode!);
    await page.getByLabel("Name").fill("Ada Admin");
    await page.getByLabel("Email").fill("ada@headers.test");
    await page.getByLabel("Password").fill("correct horse battery staple");
    await page.getByRole("button", { name: "Create admin account" }).click();
    await page.waitForURL(`${t.url}/`);
    await page.getByTestId("user-email").waitFor();

    const audit = await page.goto(`${t.url}/audit`);
    expect(audit!.headers()["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
    await page.getByTestId("audit-rows").waitFor();

    const opened = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`);
          ws.onopen = () => {
            ws.close();
            resolve("open");
          };
          ws.onerror = () => resolve("error");
        }),
    );
    expect(opened).toBe("open");
    expect(consoleErrors.filter((m) => /Content[- ]Security[- ]Policy|Refused to/i.test(m))).toEqual([]);
  });
});
