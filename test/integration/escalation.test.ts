/**
 * No escalation, ever — each rule of issue 8 as a spec, on a real server and
 * a real Postgres:
 *
 * - an API token never obtains more than it has: no account management
 *   (tokens, sessions, password) with a token, "all of my permissions" is an
 *   explicit choice, and a narrowed token of a global admin is no admin anywhere;
 * - role ceiling: nobody assigns a role above what they hold in the team,
 *   nobody but a global admin changes their own membership, the last member
 *   who can manage a team cannot remove or demote themselves;
 * - "another user's X" paths act on, and notify, the user the X belongs to.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientEvent } from "../../server/gateway/browser-protocol.ts";
import type { FleetEvent } from "../../server/events/bus.ts";
import { resolveApiToken, type TApiTokenScope } from "../../server/services/api-tokens.ts";
import { createUserWithPassword } from "../../server/services/setup.ts";
import {
  callerFor,
  callerForToken,
  connectBrowserSocket,
  createSignedInUser,
  emitWithAck,
  startTestServer,
  type TestServer,
  type TestUser,
} from "../infra/berth.ts";
import { createTestDatabase } from "../infra/postgres.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TOKEN_SCOPE_MIGRATION = "20261125130000_api_token_all_permissions";

let t: TestServer;
const fx = { teamId: "", hostId: "", managerRoleId: "", soloTeamId: "" };
const users = {} as Record<"admin" | "manager" | "teamAdmin" | "viewer" | "outsider" | "member", TestUser>;

const trpcGet = (token: string, path: string, input?: unknown) =>
  fetch(`${t.url}/api/trpc/${path}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`}`, {
    headers: { authorization: `Bearer ${token}` },
  });
const trpcPost = (token: string, path: string, input: unknown) =>
  fetch(`${t.url}/api/trpc/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ json: input }),
  });

/** Events published on the bus while `action` runs. */
async function busEventsDuring(action: () => Promise<unknown>): Promise<FleetEvent[]> {
  const seen: FleetEvent[] = [];
  const unsubscribe = t.server.deps.bus.subscribe((event) => seen.push(event));
  try {
    await action();
  } finally {
    unsubscribe();
  }
  return seen;
}

const accessChangedFor = (events: FleetEvent[]) => events.filter((e) => e.type === "access.changed").map((e) => (e as { userId: string | null }).userId);

async function newToken(user: TestUser, scope: { all: true } | { permissions: string[] }) {
  const caller = await callerFor(t.server, user);
  return caller.account.createToken({ name: `t-${Math.random().toString(36).slice(2, 8)}`, scope: scope as TApiTokenScope, expiresInDays: 1 });
}

beforeAll(async () => {
  t = await startTestServer({ name: "escalation" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "esc-team" } });
  const solo = await db.team.create({ data: { name: "esc-solo" } });
  const host = await db.host.create({ data: { name: "esc-host", teams: { create: { teamId: team.id } } } });
  // A manager who may manage the team but holds fewer permissions than the built-in Admin role.
  const manager = await db.role.create({ data: { name: "Manager", permissions: ["host.view", "container.logs", "team.manage"] } });
  Object.assign(fx, { teamId: team.id, hostId: host.id, managerRoleId: manager.id, soloTeamId: solo.id });
  users.admin = await createSignedInUser(t.server, { role: "admin", email: "admin@esc.test" });
  users.manager = await createSignedInUser(t.server, { email: "manager@esc.test" });
  users.teamAdmin = await createSignedInUser(t.server, { email: "teamadmin@esc.test" });
  users.viewer = await createSignedInUser(t.server, { email: "viewer@esc.test" });
  users.outsider = await createSignedInUser(t.server, { email: "outsider@esc.test" });
  users.member = await createSignedInUser(t.server, { email: "member@esc.test" });
  await db.teamMember.createMany({
    data: [
      { teamId: team.id, userId: users.manager.id, roleId: manager.id },
      { teamId: team.id, userId: users.teamAdmin.id, roleId: "role_admin" },
      { teamId: team.id, userId: users.viewer.id, roleId: "role_viewer" },
      { teamId: team.id, userId: users.member.id, roleId: "role_viewer" },
      // The global admin is the only member, and so the only manager, of the solo team.
      { teamId: solo.id, userId: users.admin.id, roleId: "role_admin" },
    ],
  });
});

afterAll(() => t?.stop());

describe("an API token cannot manage accounts", () => {
  it("cannot create, list or revoke tokens, nor list or revoke sessions, even with all of its user's permissions", async () => {
    const { token, id } = await newToken(users.admin, { all: true });
    const before = await t.server.db.apiToken.count();
    const attempts = [
      await trpcGet(token, "account.tokens"),
      await trpcPost(token, "account.createToken", { name: "minted", scope: { all: true }, expiresInDays: null }),
      await trpcPost(token, "account.revokeToken", { tokenId: id }),
      await trpcGet(token, "account.sessions"),
      await trpcPost(token, "account.revokeSession", { sessionId: "whatever" }),
      await trpcGet(token, "users.sessionsOf", { userId: users.viewer.id }),
      await trpcPost(token, "users.revokeSessionOf", { userId: users.viewer.id, sessionId: "whatever" }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([403, 403, 403, 403, 403, 403, 403]);
    expect(await attempts[1]!.text()).toMatch(/browser session/);
    expect(await t.server.db.apiToken.count()).toBe(before);
    expect(await resolveApiToken(t.server.db, token), "the token did not revoke itself either").not.toBeNull();
  });

  it("a narrowed token cannot mint itself an unlimited one", async () => {
    const { token } = await newToken(users.viewer, { permissions: ["host.view"] });
    const response = await trpcPost(token, "account.createToken", { name: "escalated", scope: { all: true }, expiresInDays: null });
    expect(response.status).toBe(403);
    expect(await t.server.db.apiToken.findFirst({ where: { name: "escalated" } })).toBeNull();
  });

  it("cannot change its user's password or reach better-auth's session endpoints", async () => {
    const { token } = await newToken(users.member, { all: true });
    const passwordOf = async () => (await t.server.db.account.findFirstOrThrow({ where: { userId: users.member.id, providerId: "credential" }, select: { password: true } })).password;
    const before = await passwordOf();
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json", origin: t.url };
    const change = await fetch(`${t.url}/api/auth/change-password`, {
      method: "POST",
      headers,
      body: JSON.stringify({ currentPassword: users.member.password, newPassword: "taken over by a token", revokeOtherSessions: true }),
    });
    expect(change.status).toBe(401);
    // better-auth's own session listing is not served at all (see the last test of this file).
    const list = await fetch(`${t.url}/api/auth/list-sessions`, { headers });
    expect([401, 404]).toContain(list.status);
    // The stored password hash is untouched (no sign-in to prove it: the file stays under the sign-in rate limit).
    expect(await passwordOf()).toBe(before);
  });
});

describe('"all of my permissions" is an explicit choice', () => {
  it("an empty permission list no longer means everything", async () => {
    const caller = await callerFor(t.server, users.viewer);
    const before = await t.server.db.apiToken.count();
    await expect(caller.account.createToken({ name: "implicit", permissions: [], expiresInDays: 1 } as never)).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.account.createToken({ name: "empty", scope: { permissions: [] }, expiresInDays: 1 } as never)).rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect(await t.server.db.apiToken.count()).toBe(before);
  });

  it("a token made with { all: true } says so, and holds what its user holds", async () => {
    const made = await newToken(users.viewer, { all: true });
    const listed = (await (await callerFor(t.server, users.viewer)).account.tokens()).find((row) => row.id === made.id);
    expect(listed).toMatchObject({ allPermissions: true, permissions: [] });
    const viaToken = await callerForToken(t.server, made.token);
    expect((await viaToken.hosts.byId({ hostId: fx.hostId })).name).toBe("esc-host");
    await expect(viaToken.containers.start({ hostId: fx.hostId, containerId: "f".repeat(64) })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});

describe("existing tokens keep working through the migration", () => {
  it('a token stored with an empty list (which meant "all") becomes an explicit all-permission token; a narrowed one stays narrowed', async () => {
    const database = await createTestDatabase("esc_mig");
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const dir = path.join(ROOT, "prisma", "migrations");
      const folders = (await readdir(dir)).filter((name) => /^\d{14}_/.test(name)).sort();
      const mine = folders.indexOf(TOKEN_SCOPE_MIGRATION);
      expect(mine, `${TOKEN_SCOPE_MIGRATION} in ${folders.join(", ")}`).toBeGreaterThan(0);
      // The schema as it was before, with tokens written the old way.
      for (const folder of folders.slice(0, mine)) await client.query(await readFile(path.join(dir, folder, "migration.sql"), "utf8"));
      await client.query(`INSERT INTO "user" (id, name, email, "emailVerified", "createdAt", "updatedAt") VALUES ('u1', 'U', 'u@example.test', true, now(), now())`);
      await client.query(`INSERT INTO api_token (id, "userId", name, prefix, "tokenHash", permissions) VALUES ('t_all', 'u1', 'old', 'bat_a', 'h1', '{}'), ('t_narrow', 'u1', 'old', 'bat_b', 'h2', '{host.view}')`);
      await client.query(await readFile(path.join(dir, TOKEN_SCOPE_MIGRATION, "migration.sql"), "utf8"));
      const rows = await client.query(`SELECT id, permissions, "allPermissions" FROM api_token ORDER BY id`);
      expect(rows.rows).toEqual([
        { id: "t_all", permissions: [], allPermissions: true },
        { id: "t_narrow", permissions: ["host.view"], allPermissions: false },
      ]);
    } finally {
      await client.end();
      await database.drop();
    }
  });
});

describe("a narrowed token of a global admin is no global admin", () => {
  let token = "";
  beforeAll(async () => {
    // Some events only a global admin may review (no team, no host).
    await (await callerFor(t.server, users.admin)).teams.create({ name: "esc-global-event" });
    token = (await newToken(users.admin, { permissions: ["host.view", "container.logs", "audit.view", "team.manage"] })).token;
  });

  it("is not an admin for procedures, host access, listings or the UI's flags", async () => {
    const caller = await callerForToken(t.server, token);
    const me = await caller.auth.me();
    expect(me?.role).toBe("user");
    expect(me?.access.isGlobalAdmin).toBe(false);
    await expect(caller.users.list()).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(caller.hosts.byId({ hostId: fx.hostId })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(caller.teams.byId({ teamId: fx.teamId })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await caller.hosts.list()).toEqual([]);
    // Only the solo team, where its user is a member.
    expect((await caller.teams.list()).map((team) => team.name)).toEqual(["esc-solo"]);
  });

  it("sees no audit event beyond its user's teams, in the list and in the export", async () => {
    const all = await (await callerFor(t.server, users.admin)).audit.list({ filter: {} });
    expect(all.events.some((e) => e.teamId === null && e.hostId === null), "the admin's session sees global events").toBe(true);
    const caller = await callerForToken(t.server, token);
    const listed = await caller.audit.list({ filter: {} });
    expect(listed.events.filter((e) => e.teamId !== fx.soloTeamId)).toEqual([]);
    const exported = await fetch(`${t.url}/api/audit/export?format=ndjson`, { headers: { authorization: `Bearer ${token}` } });
    expect(exported.status).toBe(200);
    const rows = (await exported.text()).split("\n").filter(Boolean).map((line) => JSON.parse(line) as { teamId: string | null });
    expect(rows.filter((row) => row.teamId !== fx.soloTeamId)).toEqual([]);
  });

  it("cannot read a host's logs over HTTP or the browser socket", async () => {
    const download = await fetch(`${t.url}/api/logs/download?hostId=${fx.hostId}&containerId=${"f".repeat(64)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(download.status).toBe(403);
    const socket = await connectBrowserSocket(t.url, { token });
    try {
      expect(await emitWithAck(socket, ClientEvent.logsOpen, { hostId: fx.hostId, containerId: "f".repeat(64) })).toMatchObject({ ok: false, code: "FORBIDDEN" });
    } finally {
      socket.disconnect();
    }
  });

  it("cannot take revokeToken's admin path to revoke someone else's token", async () => {
    const victim = await newToken(users.viewer, { permissions: ["host.view"] });
    expect((await trpcPost(token, "account.revokeToken", { tokenId: victim.id })).status).toBe(403);
    expect(await resolveApiToken(t.server.db, victim.token)).not.toBeNull();
  });
});

describe("role ceiling", () => {
  it("nobody assigns a role holding a permission they do not hold in the team", async () => {
    const manager = await callerFor(t.server, users.manager);
    await expect(manager.teams.setMember({ teamId: fx.teamId, userId: users.outsider.id, roleId: "role_admin" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringMatching(/"Admin".*container\.operate.*you do not hold/),
    });
    await expect(manager.teams.setMember({ teamId: fx.teamId, userId: users.viewer.id, roleId: "role_operator" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await t.server.db.teamMember.findUnique({ where: { teamId_userId: { teamId: fx.teamId, userId: users.outsider.id } } })).toBeNull();
    expect((await t.server.db.teamMember.findUniqueOrThrow({ where: { teamId_userId: { teamId: fx.teamId, userId: users.viewer.id } } })).roleId).toBe("role_viewer");
    // At or below the ceiling is fine.
    await manager.teams.setMember({ teamId: fx.teamId, userId: users.outsider.id, roleId: "role_viewer" });
    await manager.teams.removeMember({ teamId: fx.teamId, userId: users.outsider.id });
  });

  it("a narrowed token's ceiling is the token's, not its user's", async () => {
    const { token } = await newToken(users.teamAdmin, { permissions: ["host.view", "team.manage"] });
    const viaToken = await callerForToken(t.server, token);
    await expect(viaToken.teams.setMember({ teamId: fx.teamId, userId: users.outsider.id, roleId: "role_viewer" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringMatching(/container\.logs/),
    });
  });

  it("nobody changes or ends their own membership, except a global admin", async () => {
    const manager = await callerFor(t.server, users.manager);
    const own = /your own/;
    await expect(manager.teams.setMember({ teamId: fx.teamId, userId: users.manager.id, roleId: "role_admin" })).rejects.toMatchObject({ code: "FORBIDDEN", message: expect.stringMatching(own) });
    await expect(manager.teams.setMember({ teamId: fx.teamId, userId: users.manager.id, roleId: "role_viewer" })).rejects.toMatchObject({ code: "FORBIDDEN", message: expect.stringMatching(own) });
    await expect(manager.teams.removeMember({ teamId: fx.teamId, userId: users.manager.id })).rejects.toMatchObject({ code: "FORBIDDEN", message: expect.stringMatching(own) });
    const teamAdmin = await callerFor(t.server, users.teamAdmin);
    await expect(teamAdmin.teams.setMember({ teamId: fx.teamId, userId: users.teamAdmin.id, roleId: "role_viewer" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await t.server.db.teamMember.findUniqueOrThrow({ where: { teamId_userId: { teamId: fx.teamId, userId: users.manager.id } } })).roleId).toBe(fx.managerRoleId);
  });

  it("a manager cannot demote or remove a member whose role is above their own", async () => {
    const manager = await callerFor(t.server, users.manager);
    await expect(manager.teams.removeMember({ teamId: fx.teamId, userId: users.teamAdmin.id })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(manager.teams.setMember({ teamId: fx.teamId, userId: users.teamAdmin.id, roleId: "role_viewer" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await t.server.db.teamMember.findUniqueOrThrow({ where: { teamId_userId: { teamId: fx.teamId, userId: users.teamAdmin.id } } })).roleId).toBe("role_admin");
  });

  it("the last member who can manage a team cannot remove or demote themselves", async () => {
    const admin = await callerFor(t.server, users.admin);
    const last = /last member who can manage/;
    await expect(admin.teams.removeMember({ teamId: fx.soloTeamId, userId: users.admin.id })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringMatching(last) });
    await expect(admin.teams.setMember({ teamId: fx.soloTeamId, userId: users.admin.id, roleId: "role_viewer" })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringMatching(last) });
    // Still able to manage: allowed.
    await admin.teams.setMember({ teamId: fx.soloTeamId, userId: users.admin.id, roleId: fx.managerRoleId });
    // With a second manager, the global admin may leave.
    await admin.teams.setMember({ teamId: fx.soloTeamId, userId: users.member.id, roleId: "role_admin" });
    await admin.teams.removeMember({ teamId: fx.soloTeamId, userId: users.admin.id });
    expect(await t.server.db.teamMember.count({ where: { teamId: fx.soloTeamId } })).toBe(1);
  });
});

describe("another user's X acts on that user", () => {
  it("revokeSessionOf refuses a session that is not the named user's, and leaves it alive", async () => {
    const admin = await callerFor(t.server, users.admin);
    const victim = await createSignedInUser(t.server, { email: "victim@esc.test" });
    const session = await t.server.db.session.findFirstOrThrow({ where: { userId: victim.id }, select: { id: true } });
    const events = await busEventsDuring(() =>
      expect(admin.users.revokeSessionOf({ userId: users.viewer.id, sessionId: session.id })).rejects.toMatchObject({ code: "NOT_FOUND" }),
    );
    expect(accessChangedFor(events)).toEqual([]);
    await expect(callerFor(t.server, victim)).resolves.toBeDefined();
  });

  it("revokeSessionOf ends the session and notifies its owner", async () => {
    const admin = await callerFor(t.server, users.admin);
    const victim = await createSignedInUser(t.server, { email: "victim2@esc.test" });
    const session = await t.server.db.session.findFirstOrThrow({ where: { userId: victim.id }, select: { id: true } });
    const events = await busEventsDuring(() => admin.users.revokeSessionOf({ userId: victim.id, sessionId: session.id }));
    expect(accessChangedFor(events)).toEqual([victim.id]);
    await expect(callerFor(t.server, victim)).rejects.toThrow(/not accepted/);
  });

  it("sessionsOf lists the named user's sessions only", async () => {
    const admin = await callerFor(t.server, users.admin);
    const listed = (await admin.users.sessionsOf({ userId: users.viewer.id })).map((s) => s.id).sort();
    const owned = (await t.server.db.session.findMany({ where: { userId: users.viewer.id }, select: { id: true } })).map((s) => s.id).sort();
    expect(owned.length).toBeGreaterThan(0);
    expect(listed).toEqual(owned);
  });

  it("an admin revoking someone's token notifies the token's owner, not the admin", async () => {
    const victim = await newToken(users.viewer, { permissions: ["host.view"] });
    const admin = await callerFor(t.server, users.admin);
    const events = await busEventsDuring(() => admin.account.revokeToken({ tokenId: victim.id }));
    expect(accessChangedFor(events)).toEqual([users.viewer.id]);
    expect(await resolveApiToken(t.server.db, victim.token)).toBeNull();
  });

  it("a user revoking their own token notifies themselves", async () => {
    const own = await newToken(users.viewer, { permissions: ["host.view"] });
    const viewer = await callerFor(t.server, users.viewer);
    const events = await busEventsDuring(() => viewer.account.revokeToken({ tokenId: own.id }));
    expect(accessChangedFor(events)).toEqual([users.viewer.id]);
  });

  it("a user cannot revoke another user's token or session through their own account", async () => {
    const victim = await newToken(users.member, { permissions: ["host.view"] });
    const victimSession = await t.server.db.session.findFirstOrThrow({ where: { userId: users.member.id }, select: { id: true } });
    const viewer = await callerFor(t.server, users.viewer);
    await expect(viewer.account.revokeToken({ tokenId: victim.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(viewer.account.revokeSession({ sessionId: victimSession.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await resolveApiToken(t.server.db, victim.token)).not.toBeNull();
    expect(await t.server.db.session.findUnique({ where: { id: victimSession.id }, select: { id: true } })).not.toBeNull();
  });

  it("membership and admin changes notify the member concerned", async () => {
    const admin = await callerFor(t.server, users.admin);
    // Sign-ins are rate limited per address: users that need no session are created without one.
    const target = await createUserWithPassword(t.server.auth, { name: "Target", email: "target@esc.test", password: "target passphrase 1", role: "user" });
    expect(accessChangedFor(await busEventsDuring(() => admin.teams.setMember({ teamId: fx.teamId, userId: target.id, roleId: "role_viewer" })))).toEqual([target.id]);
    expect(accessChangedFor(await busEventsDuring(() => admin.teams.removeMember({ teamId: fx.teamId, userId: target.id })))).toEqual([target.id]);
    expect(accessChangedFor(await busEventsDuring(() => admin.users.setGlobalAdmin({ userId: target.id, globalAdmin: true })))).toEqual([target.id]);
    expect(accessChangedFor(await busEventsDuring(() => admin.users.remove({ userId: target.id })))).toEqual([target.id]);
  });
});

// Last in this file: on code that lets these through, they change the admin's own sessions.
describe("better-auth endpoints Berth does not serve are closed", () => {
  it("an admin session cannot set roles, passwords or sessions behind Berth's audit trail and notices", async () => {
    const target = await createUserWithPassword(t.server.auth, { name: "Bypass", email: "bypass@esc.test", password: "bypass passphrase 1", role: "user" });
    const post = (path: string, body: unknown) =>
      fetch(`${t.url}/api/auth/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: t.url, cookie: users.admin.cookie },
        body: JSON.stringify(body),
      });
    const answers = [
      await post("admin/set-role", { userId: target.id, role: "admin" }),
      await post("admin/set-user-password", { userId: target.id, newPassword: "chosen by the admin 123" }),
      await post("admin/impersonate-user", { userId: target.id }),
      await post("admin/revoke-user-sessions", { userId: target.id }),
      await post("update-user", { name: "Renamed" }),
      await post("revoke-sessions", {}),
    ];
    expect(answers.map((r) => r.status)).toEqual([404, 404, 404, 404, 404, 404]);
    expect(await t.server.db.user.findUniqueOrThrow({ where: { id: target.id }, select: { role: true } })).toEqual({ role: "user" });
    await expect(callerFor(t.server, users.admin), "the admin's own sessions are intact").resolves.toBeDefined();
  });
});
