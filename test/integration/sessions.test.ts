/**
 * Identity: sessions are listed and revocable, a revoked session ends its
 * open live streams, sign-in is rate limited, passwords can be changed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callerFor, createSignedInUser, startTestServer, type TestServer, type TestUser } from "../infra/berth.ts";

let t: TestServer;
let user: TestUser;

beforeAll(async () => {
  t = await startTestServer({ name: "sessions" });
  user = await createSignedInUser(t.server, { email: "sess@example.test", role: "admin" });
});
afterAll(() => t?.stop());

const signIn = (email: string, password: string, ip = "unused") =>
  fetch(`${t.url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: t.url, "x-forwarded-for": ip },
    body: JSON.stringify({ email, password }),
  });

describe("sessions", () => {
  it("lists the caller's sessions and revokes one, which signs it out at once", async () => {
    const second = await signIn(user.email, user.password);
    const secondCookie = second.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const other: TestUser = { ...user, cookie: secondCookie };
    const caller = await callerFor(t.server, user);
    const sessions = await caller.account.sessions();
    expect(sessions.length).toBeGreaterThanOrEqual(2);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    const otherCaller = await callerFor(t.server, other);
    const otherId = (await otherCaller.account.sessions()).find((s) => s.current)!.id;
    await caller.account.revokeSession({ sessionId: otherId });
    await expect(callerFor(t.server, other)).rejects.toThrow(/not accepted/);
    expect((await caller.account.sessions()).map((s) => s.id)).not.toContain(otherId);
  });

  it("a revoked session's open live stream ends", async () => {
    const third = await signIn(user.email, user.password);
    const cookie = third.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const caller = await callerFor(t.server, { ...user, cookie });
    const sessionId = (await caller.account.sessions()).find((s) => s.current)!.id;
    const stream = (await caller.hosts.onChange()) as AsyncIterable<unknown>;
    const iterator = stream[Symbol.asyncIterator]();
    const next = iterator.next();
    const admin = await callerFor(t.server, user);
    await admin.account.revokeSession({ sessionId });
    const result = await Promise.race([next, new Promise((r) => setTimeout(() => r("still open"), 5000))]);
    expect(result).toEqual({ done: true, value: undefined });
  });
});

describe("sign-in", () => {
  it("changes the password through the auth endpoint and audits it", async () => {
    const fresh = await createSignedInUser(t.server, { email: "pw@example.test" });
    const response = await fetch(`${t.url}/api/auth/change-password`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: t.url, cookie: fresh.cookie },
      body: JSON.stringify({ currentPassword: fresh.password, newPassword: "a brand new passphrase", revokeOtherSessions: false }),
    });
    expect(response.status).toBe(200);
    const event = await t.server.db.auditEvent.findFirst({ where: { action: "auth.changePassword", actorLabel: "pw@example.test" } });
    expect(event?.outcome).toBe("SUCCESS");
    expect(JSON.stringify(event?.params)).not.toContain("brand new");
  });

  it("rate limits repeated attempts from one address, whatever X-Forwarded-For a client sends", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await signIn("nobody@example.test", "wrong password!!", `10.9.9.${i}`)).status);
    expect(statuses.slice(0, 5)).toHaveLength(5);
    expect(statuses.slice(0, 5).every((s) => s === 401)).toBe(true);
    expect(statuses).toContain(429);
  });

});
