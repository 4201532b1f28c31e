/**
 * Enrolling an agent from the UI's point of view: adding a host mints no join
 * token; the token is created only when asked for, and its command — built by
 * the server — points agents at the configured public URL (BERTH_PUBLIC_URL),
 * not at whatever address the admin browses from.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callerFor, createSignedInUser, startTestServer, type TestServer, type TestUser } from "../infra/berth.ts";

/** Deliberately not the address the test talks to: the command must carry this one. */
const PUBLIC_URL = "https://berth.example.test";

let t: TestServer;
let admin: TestUser;

beforeAll(async () => {
  t = await startTestServer({ name: "join", env: { BERTH_PUBLIC_URL: PUBLIC_URL } });
  admin = await createSignedInUser(t.server, { email: "join-admin@example.test", role: "admin" });
});
afterAll(() => t?.stop());

describe("join command", () => {
  it("adding a host mints no token; asking for one returns the command with BERTH_PUBLIC_URL", async () => {
    const caller = await callerFor(t.server, admin);
    const host = await caller.hosts.create({ name: "join-web-01" });
    expect(host).toEqual({ hostId: expect.any(String), hostName: "join-web-01" });
    expect(await t.server.db.joinToken.count({ where: { hostId: host.hostId } }), "no token until asked for").toBe(0);

    expect(await caller.hosts.joinTarget({ hostId: host.hostId })).toEqual({ serverUrl: PUBLIC_URL, loopback: false });
    expect(await t.server.db.joinToken.count({ where: { hostId: host.hostId } }), "reading the target mints nothing").toBe(0);

    const join = await caller.hosts.createJoinToken({ hostId: host.hostId });
    expect(await t.server.db.joinToken.count({ where: { hostId: host.hostId } })).toBe(1);
    expect(join.env).toEqual([
      { name: "BERTH_SERVER_URL", value: PUBLIC_URL },
      { name: "BERTH_JOIN_TOKEN", value: join.token },
      { name: "BERTH_SERVER_FINGERPRINT", value: t.server.serverKey.fingerprint },
    ]);
    expect(join.command).toContain(`-e BERTH_SERVER_URL=${PUBLIC_URL} `);
    expect(join.command).toContain(`-e BERTH_JOIN_TOKEN=${join.token} `);
    expect(join.command).not.toContain(t.url);
    expect(join.command).not.toContain("localhost");
  });

  it("flags a public URL that only this machine can reach", async () => {
    const local = await startTestServer({ name: "join_local" });
    try {
      const user = await createSignedInUser(local.server, { email: "join-local@example.test", role: "admin" });
      const caller = await callerFor(local.server, user);
      const host = await caller.hosts.create({ name: "join-local-01" });
      // The test server's public URL is http://127.0.0.1:<port> (test/infra/berth.ts).
      expect(await caller.hosts.joinTarget({ hostId: host.hostId })).toEqual({ serverUrl: local.url, loopback: true });
    } finally {
      await local.stop();
    }
  });
});
