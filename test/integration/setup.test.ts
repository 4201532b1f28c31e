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
    expect(await anonymous.auth.setupStatus()).toEqual({ needsSetup: true });
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
    expect(await anonymous.auth.setupStatus()).toEqual({ needsSetup: false });
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
