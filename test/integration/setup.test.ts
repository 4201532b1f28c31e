/**
 * First run: the setup code makes exactly one admin, and the embedded
 * database keeps Berth's state across restarts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../server/main.ts";
import { callerFor, freePort, startTestServer, type TestServer } from "../infra/berth.ts";

describe("first-run setup", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ name: "setup" });
  });
  afterAll(() => t?.stop());

  it("prints a setup code and reports that setup is needed", async () => {
    expect(t.server.setupCode).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    const anonymous = await callerFor(t.server, null);
    // The origin is the one this server was started with (BERTH_PUBLIC_URL), which the login page compares with its own.
    expect(await anonymous.auth.setupStatus()).toEqual({ needsSetup: true, publicOrigin: new URL(t.url).origin });
  });

  it("refuses a wrong code", async () => {
    const anonymous = await callerFor(t.server, null);
    await expect(
      anonymous.auth.setup({ code: "AAAA-BBBB-CCCC", name: "Mallory", email: "m@example.test", password: "correct horse battery" }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await t.server.db.user.count()).toBe(0);
  });

  it("lets exactly one of several racing browsers become admin", async () => {
    const anonymous = await callerFor(t.server, null);
    const attempts = await Promise.allSettled(
      ["a", "b", "c", "d"].map((who) =>
        anonymous.auth.setup({ code: t.server.setupCode!, name: who, email: `${who}@example.test`, password: "correct horse battery" }),
      ),
    );
    expect(attempts.filter((a) => a.status === "fulfilled")).toHaveLength(1);
    const users = await t.server.db.user.findMany({ select: { role: true } });
    expect(users).toEqual([{ role: "admin" }]);
    expect(await anonymous.auth.setupStatus()).toMatchObject({ needsSetup: false });
    // The code is spent.
    await expect(
      anonymous.auth.setup({ code: t.server.setupCode!, name: "late", email: "late@example.test", password: "correct horse battery" }),
    ).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it("lets the new admin sign in through the real endpoint with an httpOnly cookie", async () => {
    const admin = await t.server.db.user.findFirstOrThrow({ select: { email: true } });
    const response = await fetch(`${t.url}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: t.url },
      body: JSON.stringify({ email: admin.email, password: "correct horse battery" }),
    });
    expect(response.status).toBe(200);
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith("berth.session_token="));
    expect(cookie).toMatch(/HttpOnly/i);
    const wrong = await fetch(`${t.url}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: t.url },
      body: JSON.stringify({ email: admin.email, password: "wrong password!!" }),
    });
    expect(wrong.status).toBe(401);
  });

  it("refuses a sign-in sent from a page at another address, says where Berth is, and records it once", async () => {
    const admin = await t.server.db.user.findFirstOrThrow({ select: { email: true } });
    const before = await t.server.db.auditEvent.count({ where: { action: "auth.signIn" } });
    // The same server reached by another name: a browser on http://localhost:<port> sends this Origin.
    const elsewhere = t.url.replace("127.0.0.1", "localhost");
    const response = await fetch(`${t.url}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: elsewhere },
      body: JSON.stringify({ email: admin.email, password: "correct horse battery" }),
    });
    expect(response.status).toBe(403);
    expect(response.headers.getSetCookie().filter((c) => c.includes("session_token"))).toEqual([]);
    const body = (await response.json()) as { message?: string };
    expect(body.message).toContain(`only accepted at ${t.url}`);
    const rows = await t.server.db.auditEvent.findMany({ where: { action: "auth.signIn" }, orderBy: { seq: "asc" }, skip: before, select: { outcome: true, error: true } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.outcome).toBe("FAILURE");
    expect(rows[0]!.error).toContain(`from ${elsewhere}`);
  });
});

describe("embedded database", () => {
  it("runs without DATABASE_URL and keeps its data across restarts", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-embedded-"));
    const env = (port: number) => {
      const e: NodeJS.ProcessEnv = { ...process.env, BERTH_DATA_DIR: dataDir, BERTH_PORT: String(port), BERTH_HOST: "127.0.0.1", BERTH_LOG_LEVEL: "warn" };
      delete e.DATABASE_URL;
      return e;
    };
    try {
      const first = await startServer({ withNext: false, env: env(await freePort()) });
      expect(first.setupCode).toBeTruthy();
      await first.db.host.create({ data: { name: "kept" } });
      await first.stop();

      const second = await startServer({ withNext: false, env: env(await freePort()) });
      try {
        expect(await second.db.host.findMany({ select: { name: true } })).toEqual([{ name: "kept" }]);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
