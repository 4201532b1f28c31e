/**
 * The authorization matrix: every tRPC procedure of the app router, called by
 * anonymous, Viewer, Operator, team Admin, a custom role, a member of another
 * team and a global admin. Each call must be refused or let through exactly
 * as the procedure's declared access rule says — and a procedure without a
 * rule, or without a fixture here, fails this file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_NAMESPACE, AgentEvent } from "../../agent/protocol.ts";
import { io } from "socket.io-client";
import type { Permission } from "../../server/auth/permissions.ts";
import { appRouter } from "../../server/routers/_app.ts";
import type { AccessRule, ProcedureMeta } from "../../server/trpc.ts";
import { browserEvents } from "../../server/gateway/browser-hub.ts";
import {
  callerFor,
  connectBrowserSocket,
  createSignedInUser,
  emitWithAck,
  startTestServer,
  waitFor,
  type TestServer,
  type TestUser,
} from "../infra/berth.ts";

type Who = "anonymous" | "viewer" | "operator" | "teamAdmin" | "custom" | "otherTeam" | "globalAdmin";
const CUSTOM_PERMISSIONS: Permission[] = ["host.view", "audit.view"];
const ROLE_PERMISSIONS: Record<Exclude<Who, "anonymous" | "globalAdmin" | "otherTeam">, Permission[]> = {
  viewer: ["host.view", "container.logs"],
  operator: ["host.view", "container.logs", "container.operate", "container.exec", "image.pull"],
  teamAdmin: ["host.view", "container.logs", "container.operate", "container.exec", "container.create", "image.pull", "host.manage", "team.manage", "audit.view"],
  custom: CUSTOM_PERMISSIONS,
};

let t: TestServer;
const users = {} as Record<Exclude<Who, "anonymous">, TestUser>;
const fx = { hostId: "", teamId: "", otherTeamId: "", customRoleId: "" };
const MISSING = "does-not-exist-000000";

/** Inputs that exercise the access check without destroying the fixtures the other calls need. */
const INPUTS: Record<string, () => unknown> = {
  "auth.setupStatus": () => undefined,
  "auth.setup": () => ({ code: "WRONG-CODE-0000", name: "x", email: "x@example.test", password: "correct horse battery" }),
  "auth.me": () => undefined,
  "account.sessions": () => undefined,
  "account.revokeSession": () => ({ sessionId: MISSING }),
  "account.tokens": () => undefined,
  "account.createToken": () => ({ name: "matrix" }),
  "account.revokeToken": () => ({ tokenId: MISSING }),
  "users.list": () => undefined,
  "users.invite": () => ({ name: "Invitee", email: `inv-${Math.random().toString(36).slice(2)}@example.test` }),
  "users.setGlobalAdmin": () => ({ userId: MISSING, globalAdmin: true }),
  "users.remove": () => ({ userId: MISSING }),
  "users.sessionsOf": () => ({ userId: MISSING }),
  "users.revokeSessionOf": () => ({ userId: MISSING, sessionId: MISSING }),
  "teams.list": () => undefined,
  "teams.byId": () => ({ teamId: fx.teamId }),
  "teams.create": () => ({ name: `t-${Math.random().toString(36).slice(2)}` }),
  "teams.remove": () => ({ teamId: MISSING }),
  "teams.setMember": () => ({ teamId: fx.teamId, userId: MISSING, roleId: "role_viewer" }),
  "teams.removeMember": () => ({ teamId: fx.teamId, userId: MISSING }),
  "roles.list": () => undefined,
  "roles.create": () => ({ name: `r-${Math.random().toString(36).slice(2)}`, permissions: ["host.view"] }),
  "roles.update": () => ({ roleId: MISSING, role: { name: "x", permissions: ["host.view"] } }),
  "roles.remove": () => ({ roleId: MISSING }),
  "hosts.list": () => undefined,
  "hosts.byId": () => ({ hostId: fx.hostId }),
  "hosts.create": () => ({ name: `h-${Math.random().toString(36).slice(2)}` }),
  "hosts.createJoinToken": () => ({ hostId: fx.hostId }),
  "hosts.joinTarget": () => ({ hostId: fx.hostId }),
  "hosts.revoke": () => ({ hostId: fx.hostId }),
  "hosts.remove": () => ({ hostId: MISSING }),
  "hosts.share": () => ({ hostId: MISSING, teamId: fx.teamId }),
  "hosts.unshare": () => ({ hostId: MISSING, teamId: fx.teamId }),
  "hosts.onChange": () => undefined,
  "containers.list": () => ({ hostId: fx.hostId }),
  "containers.byId": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.start": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.stop": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.restart": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "images.list": () => ({ hostId: fx.hostId }),
  "audit.list": () => ({}),
  "audit.byId": () => ({ seq: 1n }),
  "audit.verify": () => undefined,
  "audit.prune": () => ({ before: new Date("2000-01-01") }),
  "audit.onEvent": () => undefined,
};

/** The same for every browser socket event (server/gateway/browser-hub.ts). */
const SOCKET_INPUTS: Record<string, () => unknown> = {
  "logs:open": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), follow: false }),
  "logs:close": () => ({ subscriptionId: MISSING }),
  "logs:ack": () => ({ subscriptionId: MISSING, seq: 1 }),
};
const socketEvents = Object.entries(browserEvents) as Array<[string, { access: AccessRule }]>;

function allowed(rule: AccessRule, who: Who): boolean {
  if (rule.scope === "public") return true;
  if (who === "anonymous") return false;
  if (rule.scope === "authenticated") return true;
  if (who === "globalAdmin") return true;
  if (rule.scope === "admin" || who === "otherTeam") return false;
  return ROLE_PERMISSIONS[who].includes(rule.permission);
}

type ProcedureDef = { _def: { meta?: ProcedureMeta; type: string } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, ProcedureDef>);

beforeAll(async () => {
  t = await startTestServer({ name: "authz" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "team-a" } });
  const other = await db.team.create({ data: { name: "team-b" } });
  const custom = await db.role.create({ data: { name: "Auditor", permissions: CUSTOM_PERMISSIONS } });
  const host = await db.host.create({ data: { name: "host-a", teams: { create: { teamId: team.id } } } });
  await db.host.create({ data: { name: "host-b", teams: { create: { teamId: other.id } } } });
  Object.assign(fx, { hostId: host.id, teamId: team.id, otherTeamId: other.id, customRoleId: custom.id });
  const memberships: Array<[Exclude<Who, "anonymous" | "globalAdmin">, string, string]> = [
    ["viewer", team.id, "role_viewer"],
    ["operator", team.id, "role_operator"],
    ["teamAdmin", team.id, "role_admin"],
    ["custom", team.id, custom.id],
    ["otherTeam", other.id, "role_admin"],
  ];
  for (const [who, teamId, roleId] of memberships) {
    users[who] = await createSignedInUser(t.server, { email: `${who.toLowerCase()}@example.test` });
    await db.teamMember.create({ data: { teamId, userId: users[who].id, roleId } });
  }
  users.globalAdmin = await createSignedInUser(t.server, { email: "root@example.test", role: "admin" });
});

afterAll(() => t?.stop());

describe("deny by default", () => {
  it("every procedure declares an access rule", () => {
    const undeclared = procedures.filter(([, p]) => !p._def.meta?.access).map(([path]) => path);
    expect(undeclared).toEqual([]);
  });

  it("every procedure has a fixture in this matrix", () => {
    expect(procedures.map(([path]) => path).filter((path) => !(path in INPUTS))).toEqual([]);
  });

  it("every browser socket event declares an access rule and has a fixture", () => {
    expect(socketEvents.filter(([, def]) => !def.access).map(([name]) => name)).toEqual([]);
    expect(socketEvents.map(([name]) => name).filter((name) => !(name in SOCKET_INPUTS))).toEqual([]);
  });
});

const WHO: Who[] = ["anonymous", "viewer", "operator", "teamAdmin", "custom", "otherTeam", "globalAdmin"];

describe.each(WHO)("as %s", (who) => {
  it.each(procedures.map(([path]) => path))("%s follows its access rule", async (path) => {
    const rule = Object.fromEntries(procedures)[path]!._def.meta!.access!;
    const caller = await callerFor(t.server, who === "anonymous" ? null : users[who]);
    const [ns, name] = path.split(".") as [string, string];
    const fn = (caller as unknown as Record<string, Record<string, (input: unknown) => Promise<unknown>>>)[ns]![name]!;
    let code: string | null = null;
    try {
      const result = await fn(INPUTS[path]!());
      // Subscriptions hand back a stream once allowed: close it.
      if (result && typeof (result as AsyncIterator<unknown>).return === "function") await (result as AsyncIterator<unknown>).return!();
    } catch (error) {
      code = (error as { code?: string }).code ?? "UNKNOWN";
    }
    const refused = code === "UNAUTHORIZED" || code === "FORBIDDEN";
    expect(refused, `${who} → ${path} (${JSON.stringify(rule)}) answered ${code ?? "ok"}`).toBe(!allowed(rule, who));
    if (refused) expect(code).toBe(who === "anonymous" ? "UNAUTHORIZED" : "FORBIDDEN");
  });
});

describe.each(WHO)("on the browser socket, as %s", (who) => {
  it.each(socketEvents.map(([name]) => name))("%s follows its access rule", async (name) => {
    const rule = Object.fromEntries(socketEvents)[name]!.access;
    if (who === "anonymous") {
      // No session, no socket: the handshake itself is refused, so no event can be sent.
      await expect(connectBrowserSocket(t.url, {})).rejects.toThrow("Sign in first");
      expect(allowed(rule, who)).toBe(false);
      return;
    }
    const socket = await connectBrowserSocket(t.url, { cookie: users[who].cookie });
    try {
      const ack = await emitWithAck(socket, name, SOCKET_INPUTS[name]!());
      const refused = !ack.ok && (ack.code === "UNAUTHORIZED" || ack.code === "FORBIDDEN");
      expect(refused, `${who} → ${name} (${JSON.stringify(rule)}) answered ${JSON.stringify(ack)}`).toBe(!allowed(rule, who));
    } finally {
      socket.disconnect();
    }
  });
});

describe("what callers see", () => {
  it("lists only the hosts of the caller's teams", async () => {
    const names = async (who: Exclude<Who, "anonymous">) => (await (await callerFor(t.server, users[who])).hosts.list()).map((h) => h.name).sort();
    expect(await names("viewer")).toEqual(["host-a"]);
    expect(await names("otherTeam")).toEqual(["host-b"]);
    expect(await names("globalAdmin")).toEqual(expect.arrayContaining(["host-a", "host-b"]));
  });

  it("a member whose membership is removed loses access at once", async () => {
    const operator = await callerFor(t.server, users.operator);
    expect((await operator.hosts.byId({ hostId: fx.hostId })).name).toBe("host-a");
    const admin = await callerFor(t.server, users.teamAdmin);
    await admin.teams.removeMember({ teamId: fx.teamId, userId: users.operator.id });
    await expect(operator.hosts.byId({ hostId: fx.hostId })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("an API token acts as its user, narrowed to its permissions, from a header", async () => {
    const admin = await callerFor(t.server, users.globalAdmin);
    const { token } = await admin.account.createToken({ name: "ci", permissions: ["host.view"], expiresInDays: 1 });
    const call = (path: string, input: unknown) =>
      fetch(`${t.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await call("hosts.byId", { hostId: fx.hostId })).status).toBe(200);
    // A global admin's token narrowed to host.view cannot act as an admin.
    expect((await call("users.list", undefined)).status).toBe(403);
    const anonymous = await fetch(`${t.url}/api/trpc/hosts.byId?input=${encodeURIComponent(JSON.stringify({ json: { hostId: fx.hostId } }))}`);
    expect(anonymous.status).toBe(401);
  });
});

describe("socket events", () => {
  it("refuses every agent event from a browser session that has not proven an agent key", async () => {
    const socket = io(t.url + AGENT_NAMESPACE, {
      transports: ["websocket"],
      reconnection: false,
      extraHeaders: { cookie: users.globalAdmin.cookie },
    });
    const errors: Array<{ event: string; message: string }> = [];
    socket.on(AgentEvent.error, (e: { event: string; message: string }) => errors.push(e));
    try {
      await new Promise<void>((resolve) => socket.once(AgentEvent.hello, () => resolve()));
      for (const event of [AgentEvent.snapshotBegin, AgentEvent.change, AgentEvent.heartbeat]) socket.emit(event, {});
      await waitFor(() => errors.length >= 3, { what: "three refusals" });
      expect(errors.every((e) => e.message === "Not authenticated")).toBe(true);
    } finally {
      socket.disconnect();
    }
  });
});
