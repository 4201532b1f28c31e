/**
 * Web hardening on a real server: security headers on every kind of response,
 * the browser socket refusing a cookie without a matching Origin, and client
 * addresses behind a proxy taken from the trusted hops only (a client cannot
 * write its own address into the audit trail or the sign-in rate limit).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callerFor, connectBrowserSocket, createSignedInUser, startTestServer, type TestServer, type TestUser } from "../infra/berth.ts";

let t: TestServer;
let https: TestServer;
let user: TestUser;

beforeAll(async () => {
  t = await startTestServer({ name: "webhard", env: { BERTH_TRUST_PROXY: "true", BERTH_TRUSTED_PROXIES: "127.0.0.1,10.0.0.0/8" } });
  user = await createSignedInUser(t.server, { email: "web@hard.test" });
});

afterAll(async () => {
  await t?.stop();
  await https?.stop();
});

function expectSecurityHeaders(response: Response) {
  const csp = response.headers.get("content-security-policy") ?? "";
  expect(csp).toMatch(/frame-ancestors 'none'/);
  expect(csp).toMatch(/default-src 'self'/);
  expect(csp).toMatch(/object-src 'none'/);
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  expect(response.headers.get("x-frame-options")).toBe("DENY");
  expect(response.headers.get("referrer-policy")).toBe("strict-origin-when-cross-origin");
}

describe("security headers", () => {
  it("are on tRPC, auth, export and not-found responses; HSTS only when the public URL is https", async () => {
    const responses = await Promise.all([
      fetch(`${t.url}/api/trpc/auth.setupStatus`),
      fetch(`${t.url}/api/trpc/auth.me`),
      fetch(`${t.url}/api/auth/get-session`, { headers: { cookie: user.cookie } }),
      fetch(`${t.url}/api/audit/export?format=csv`),
      fetch(`${t.url}/no-such-page`),
    ]);
    // auth.me is public: it answers null to a signed-out page rather than a 401.
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 401, 404]);
    for (const response of responses) {
      expectSecurityHeaders(response);
      expect(response.headers.get("strict-transport-security")).toBeNull();
    }
    https = await startTestServer({ name: "webhard_tls", env: { BERTH_PUBLIC_URL: "https://berth.example.test" } });
    const secured = await fetch(`${https.url}/api/trpc/auth.setupStatus`);
    expectSecurityHeaders(secured);
    expect(secured.headers.get("strict-transport-security")).toMatch(/max-age=\d{7,}/);
  });
});

describe("tRPC from another site", () => {
  it("refuses what another site made the browser send, with the session cookie; answers Berth's own pages and clients without Fetch Metadata", async () => {
    const me = (headers: Record<string, string>) => fetch(`${t.url}/api/trpc/auth.me`, { headers: { cookie: user.cookie, ...headers } });
    // A link on another site: a top-level GET, which a SameSite=Lax cookie still goes with.
    const crossSite = await me({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.text()).toMatch(/another site/);
    expect((await me({ "sec-fetch-site": "same-site" })).status).toBe(403);
    for (const site of ["same-origin", "none"]) {
      const answer = await me({ "sec-fetch-site": site });
      expect(answer.status).toBe(200);
      expect(JSON.stringify(await answer.json())).toContain(user.email);
    }
    expect((await me({})).status).toBe(200);
  });
});

describe("browser socket", () => {
  it("refuses a cookie without an Origin, and from another origin; accepts Berth's origin and a token without one", async () => {
    await expect(connectBrowserSocket(t.url, { cookie: user.cookie, origin: null })).rejects.toThrow(/origin/i);
    await expect(connectBrowserSocket(t.url, { cookie: user.cookie, origin: "https://evil.example" })).rejects.toThrow(/cross-site|origin/i);
    const ok = await connectBrowserSocket(t.url, { cookie: user.cookie, origin: t.url });
    ok.disconnect();
    // A script's token header is not a cookie another site could ride: no Origin needed.
    // (If account rules change so that this token cannot be made here, the cookie checks above still stand.)
    const token = await (await callerFor(t.server, user)).account.createToken({ name: "socket", scope: { all: true } }).catch(() => null);
    if (token) {
      const scripted = await connectBrowserSocket(t.url, { token: token.token, origin: null });
      scripted.disconnect();
    }
  });
});

describe("client address behind a proxy", () => {
  const signInFailure = async (email: string, forwardedFor: string) => {
    await fetch(`${t.url}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: t.url, "x-forwarded-for": forwardedFor },
      body: JSON.stringify({ email, password: "not the password" }),
    });
    return t.server.db.auditEvent.findFirstOrThrow({ where: { action: "auth.signIn", actorLabel: email }, select: { ip: true } });
  };

  it("takes the rightmost untrusted address of X-Forwarded-For, never the value a client wrote first", async () => {
    // The client wrote 6.6.6.6; the trusted proxy 10.1.2.3 appended the real peer 203.0.113.7.
    expect((await signInFailure("spoof-1@hard.test", "6.6.6.6, 203.0.113.7, 10.1.2.3")).ip).toBe("203.0.113.7");
    expect((await signInFailure("spoof-2@hard.test", "6.6.6.6, 198.51.100.9")).ip).toBe("198.51.100.9");
  });

  it("records the same address for tRPC calls", async () => {
    const response = await fetch(`${t.url}/api/trpc/teams.create`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: user.cookie, "x-forwarded-for": "6.6.6.6, 203.0.113.8" },
      body: JSON.stringify({ json: { name: "not-allowed" } }),
    });
    expect(response.status).toBe(403);
    const denied = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "teams.create", actorLabel: user.email }, select: { ip: true } });
    expect(denied.ip).toBe("203.0.113.8");
  });
});
