/**
 * The authorization matrix: every tRPC procedure, every browser socket event
 * and every HTTP route, called by anonymous, session users of each role, a
 * member of another team, a global admin, and API tokens (all-permission and
 * narrowed, of a global admin and of team members). Whether each call must be
 * let through is computed from the checked-in policy table
 * (test/policy/policy.ts) and from what each caller holds as set up below —
 * never from the code's own declarations — so loosening a rule in the code
 * fails this file, and so does an entry point missing from the table.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_NAMESPACE, AgentEvent } from "../../agent/protocol.ts";
import { io } from "socket.io-client";
import { PERMISSIONS, type Permission } from "../../server/auth/permissions.ts";
import { appRouter } from "../../server/routers/_app.ts";
import type { AccessRule, ProcedureMeta } from "../../server/trpc.ts";
import { browserEvents } from "../../server/gateway/browser-hub.ts";
import { httpRoutes } from "../../server/gateway/http/routes.ts";
import { createApiToken } from "../../server/services/api-tokens.ts";
import { SERVED_AUTH_PATHS } from "../../server/auth/served-paths.ts";
import { AUTH_PATH_POLICY, BULK_ACTION_POLICY, HTTP_ROUTE_POLICY, PROCEDURE_POLICY, SOCKET_EVENT_POLICY, type PolicyRule } from "../policy/policy.ts";
import {
  callerFor,
  callerForToken,
  connectBrowserSocket,
  createSignedInUser,
  emitWithAck,
  startTestServer,
  waitFor,
  type TestServer,
  type TestUser,
} from "../infra/berth.ts";

type Member = "viewer" | "operator" | "teamAdmin" | "custom" | "otherTeam";
type SessionWho = Member | "globalAdmin";
type TokenWho = "adminToken" | "adminNarrowToken" | "operatorToken" | "operatorNarrowToken" | "managerNarrowToken";
type Who = "anonymous" | SessionWho | TokenWho;

const CUSTOM_PERMISSIONS: Permission[] = ["host.view", "audit.view"];
/** The built-in roles' permissions, written out here (an oracle independent of the seed migration). */
const ROLE_PERMISSIONS: Record<Exclude<Member, "otherTeam">, Permission[]> = {
  viewer: ["host.view", "container.logs"],
  operator: ["host.view", "container.logs", "container.operate", "container.exec", "container.commit", "image.pull", "image.push", "image.build", "image.remove"],
  teamAdmin: ["host.view", "container.logs", "container.operate", "container.exec", "container.create", "container.privileged", "container.commit", "image.pull", "image.push", "image.build", "image.remove", "host.manage", "team.manage", "audit.view", "registry.manage"],
  custom: CUSTOM_PERMISSIONS,
};

/**
 * What each caller holds. `inTeamA` = permissions in team-a and on host-a (the
 * team and host every fixture names). A global admin's token narrowed to some
 * permissions is no admin: its user is not a member of team-a, so it holds nothing there.
 */
type Holds = { via: "session" | "token" | null; globalAdmin: boolean; inTeamA: readonly Permission[] };
const NARROW = {
  adminNarrowToken: ["host.view", "container.logs", "audit.view", "team.manage"] as Permission[],
  operatorNarrowToken: ["host.view"] as Permission[],
  managerNarrowToken: ["host.view", "team.manage"] as Permission[],
};
const HOLDS: Record<Who, Holds> = {
  anonymous: { via: null, globalAdmin: false, inTeamA: [] },
  viewer: { via: "session", globalAdmin: false, inTeamA: ROLE_PERMISSIONS.viewer },
  operator: { via: "session", globalAdmin: false, inTeamA: ROLE_PERMISSIONS.operator },
  teamAdmin: { via: "session", globalAdmin: false, inTeamA: ROLE_PERMISSIONS.teamAdmin },
  custom: { via: "session", globalAdmin: false, inTeamA: CUSTOM_PERMISSIONS },
  otherTeam: { via: "session", globalAdmin: false, inTeamA: [] },
  globalAdmin: { via: "session", globalAdmin: true, inTeamA: PERMISSIONS },
  adminToken: { via: "token", globalAdmin: true, inTeamA: PERMISSIONS },
  adminNarrowToken: { via: "token", globalAdmin: false, inTeamA: [] },
  operatorToken: { via: "token", globalAdmin: false, inTeamA: ROLE_PERMISSIONS.operator },
  operatorNarrowToken: { via: "token", globalAdmin: false, inTeamA: NARROW.operatorNarrowToken },
  managerNarrowToken: { via: "token", globalAdmin: false, inTeamA: NARROW.managerNarrowToken },
};
const TOKENS: Record<TokenWho, { of: SessionWho; permissions: Permission[] | "all" }> = {
  adminToken: { of: "globalAdmin", permissions: "all" },
  adminNarrowToken: { of: "globalAdmin", permissions: NARROW.adminNarrowToken },
  operatorToken: { of: "operator", permissions: "all" },
  operatorNarrowToken: { of: "operator", permissions: NARROW.operatorNarrowToken },
  managerNarrowToken: { of: "teamAdmin", permissions: NARROW.managerNarrowToken },
};

/** Whether the policy table lets `who` through `rule` (for fixtures naming host-a / team-a). */
function tableAllows(rule: PolicyRule, who: Who): boolean {
  const holds = HOLDS[who];
  if (rule === "public") return true;
  if (holds.via === null) return false;
  // The call itself is open to any signed-in caller; each item is checked on its host (see "bulk actions, item by item").
  if (rule === "authed" || rule === "items:host") return true;
  if (rule === "session") return holds.via === "session";
  if (rule === "admin") return holds.globalAdmin;
  if (rule === "admin+session") return holds.globalAdmin && holds.via === "session";
  // Host-a, team-a and registry-a (shared with team-a only) are what every fixture names.
  const [scope, permission] = rule.split(":") as ["host" | "team" | "registry", Permission];
  if (scope !== "host" && scope !== "team" && scope !== "registry") throw new Error(`unknown rule in the policy table: ${rule}`);
  return holds.inTeamA.includes(permission);
}

/** The code's declared rule, spelled as the table spells rules (only for a readable diff; outcomes come from the table). */
function spell(rule: AccessRule | undefined): string {
  if (!rule) return "(none)";
  const r = rule as AccessRule & { permission?: string; session?: boolean };
  if (r.scope === "authenticated") return "authed";
  if (r.scope === "hostItems") return "items:host";
  if (r.scope === "admin") return r.session ? "admin+session" : "admin";
  if (r.scope === "host" || r.scope === "team" || r.scope === "registry") return `${r.scope}:${r.permission}`;
  return r.scope;
}

let t: TestServer;
const users = {} as Record<SessionWho, TestUser>;
const tokens = {} as Record<TokenWho, string>;
const fx = { hostId: "", otherHostId: "", teamId: "", otherTeamId: "", customRoleId: "", registryId: "" };
const MISSING = "does-not-exist-000000";
const removableRegistries: string[] = [];

/** Inputs that exercise the access check without destroying the fixtures the other calls need. */
const INPUTS: Record<string, () => unknown> = {
  "auth.setupStatus": () => undefined,
  "auth.setup": () => ({ code: "WRONG-CODE-0000", name: "x", email: "x@example.test", password: "correct horse battery" }),
  "auth.me": () => undefined,
  "account.sessions": () => undefined,
  "account.revokeSession": () => ({ sessionId: MISSING }),
  "account.tokens": () => undefined,
  "account.createToken": () => ({ name: "matrix", scope: { permissions: ["host.view"] } }),
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
  // Sets what the host already has (none), so the other calls see the fixture unchanged.
  "hosts.setBindPaths": () => ({ hostId: fx.hostId, paths: [] }),
  "hosts.remove": () => ({ hostId: MISSING }),
  "hosts.share": () => ({ hostId: MISSING, teamId: fx.teamId }),
  "hosts.unshare": () => ({ hostId: MISSING, teamId: fx.teamId }),
  "hosts.onChange": () => undefined,
  "containers.list": () => ({ hostId: fx.hostId }),
  "containers.byId": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.start": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.stop": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.restart": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.kill": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), signal: "SIGTERM" }),
  "containers.pause": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.unpause": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.rename": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), name: "renamed-by-matrix" }),
  "containers.remove": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), force: true }),
  "containers.update": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), memory: "64m" }),
  "containers.fleet": () => ({}),
  "containers.bulk": () => ({ action: "stop", items: [{ hostId: fx.hostId, containerId: "f".repeat(64) }] }),
  // No agent is connected: an allowed call fails after the access check (host offline / not found).
  "containers.create": () => ({ hostId: fx.hostId, spec: { image: "berth-test/busybox:latest", start: false } }),
  "containers.duplicate": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.recreate": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), spec: { image: "berth-test/busybox:latest" } }),
  "containers.spec": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.top": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.changes": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.layerSize": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.history": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "containers.removed": () => ({ hostId: fx.hostId }),
  "containers.commit": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), repository: "matrix/commit", tag: "v1" }),
  "containers.searchLogs": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), query: "matrix" }),
  "images.list": () => ({ hostId: fx.hostId }),
  "images.layers": () => ({ hostId: fx.hostId, imageId: "sha256:" + "f".repeat(64) }),
  "images.fleet": () => ({}),
  "images.checkUpdates": () => ({ hostId: fx.hostId, imageId: "sha256:" + "f".repeat(64) }),
  "hosts.diskUsage": () => ({ hostId: fx.hostId }),
  "images.tag": () => ({ hostId: fx.hostId, imageId: "sha256:" + "f".repeat(64), reference: "berth-matrix/tag:1" }),
  "images.untag": () => ({ hostId: fx.hostId, reference: "berth-matrix/none:1" }),
  "images.remove": () => ({ hostId: fx.hostId, imageId: "sha256:" + "f".repeat(64) }),
  "images.prunePreview": () => ({ hostId: fx.hostId, mode: "dangling" }),
  "images.prune": () => ({ hostId: fx.hostId, mode: "dangling", ids: ["sha256:" + "f".repeat(64)] }),
  "registries.list": () => undefined,
  "registries.byId": () => ({ registryId: fx.registryId }),
  // A name that is never free (registry-a exists): an allowed call fails with CONFLICT after the access check.
  "registries.create": () => ({ teamId: fx.teamId, name: "registry-a", url: "http://127.0.0.1:9" }),
  // Sets what the fixture already has, so the other calls see it unchanged.
  "registries.update": () => ({ registryId: fx.registryId, name: "registry-a" }),
  // A missing registry has no teams, so only admins would pass: each call removes a throwaway of team-a's.
  "registries.remove": () => ({ registryId: removableRegistries.pop() ?? MISSING }),
  "registries.share": () => ({ registryId: MISSING, teamId: fx.teamId }),
  "registries.unshare": () => ({ registryId: MISSING, teamId: fx.teamId }),
  // Port 9 (discard) refuses: an allowed call reaches the service and fails as unreachable.
  "registries.test": () => ({ registryId: fx.registryId }),
  "registries.repositories": () => ({ registryId: fx.registryId }),
  "registries.tags": () => ({ registryId: fx.registryId, repository: "team/app" }),
  "registries.manifest": () => ({ registryId: fx.registryId, repository: "team/app", reference: "latest" }),
  "audit.list": () => ({}),
  "audit.byId": () => ({ seq: 1n }),
  "audit.verify": () => undefined,
  "audit.prune": () => ({ before: new Date("2000-01-01") }),
  "audit.onEvent": () => undefined,
  "terminals.session": () => ({ sessionId: "00000000-0000-4000-8000-000000000000" }),
  "terminals.settings": () => undefined,
  // Sets what it already is (off), so the other calls see the fixture unchanged.
  "terminals.setRecordInput": () => ({ enabled: false }),
};

/** The same for every browser socket event (server/gateway/browser-hub.ts). */
const SOCKET_INPUTS: Record<string, () => unknown> = {
  "logs:open": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), follow: false }),
  "logs:close": () => ({ subscriptionId: MISSING }),
  "logs:ack": () => ({ subscriptionId: MISSING, seq: 1 }),
  "stats:open": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "stats:close": () => ({ subscriptionId: MISSING }),
  "terminal:open": () => ({ hostId: fx.hostId, containerId: "f".repeat(64), cmd: ["sh"] }),
  "terminal:attach": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "terminal:input": () => ({ terminalId: MISSING, data: "x" }),
  "terminal:resize": () => ({ terminalId: MISSING, cols: 80, rows: 24 }),
  "terminal:ack": () => ({ terminalId: MISSING, seq: 1 }),
  "terminal:close": () => ({ terminalId: MISSING }),
  // No agent is connected: an allowed pull fails after the access check (host offline).
  "image:pull": () => ({ hostId: fx.hostId, reference: "berth-matrix/none:1" }),
  "image:pull:ack": () => ({ pullId: MISSING, seq: 1 }),
  "image:pull:cancel": () => ({ pullId: MISSING }),
  "image:push": () => ({ hostId: fx.hostId, imageId: "sha256:" + "f".repeat(64), reference: "berth-matrix/none:1" }),
  "image:push:ack": () => ({ pushId: MISSING, seq: 1 }),
  "image:push:cancel": () => ({ pushId: MISSING }),
  // No agent is connected: an allowed build fails after the access check (host offline), before any upload is taken.
  "image:build": () => ({ hostId: fx.hostId, tags: ["berth-matrix/built:1"], dockerfileText: "FROM scratch\n" }),
  "image:build:ack": () => ({ buildId: MISSING, seq: 1 }),
  "image:build:cancel": () => ({ buildId: MISSING }),
};

/** The query string of one harmless call to each HTTP route. */
const HTTP_INPUTS: Record<string, () => Record<string, string>> = {
  "GET /api/audit/export": () => ({ format: "ndjson" }),
  "GET /api/logs/download": () => ({ hostId: fx.hostId, containerId: "f".repeat(64) }),
  "GET /api/terminal-recording": () => ({ sessionId: "00000000-0000-4000-8000-000000000000" }),
  // An empty body: an allowed caller is answered 400 (nothing to store).
  "POST /api/build-context": () => ({ hostId: fx.hostId, format: "tar" }),
};

type ProcedureDef = { _def: { meta?: ProcedureMeta; type: string } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, ProcedureDef>);
const socketEvents = Object.entries(browserEvents) as Array<[string, { access: AccessRule }]>;
const routes = httpRoutes.map((route) => `${route.method} ${route.path}`);

/** "these entry points of the code have no row in the table" — spelled as the rows to add. */
function missingRows(table: string, names: string[], rows: Record<string, PolicyRule>) {
  const missing = names.filter((name) => !Object.hasOwn(rows, name));
  return missing.length ? `test/policy/policy.ts ${table} has no row for: ${missing.map((m) => `"${m}"`).join(", ")} — add one per entry point` : "";
}
function staleRows(table: string, names: string[], rows: Record<string, PolicyRule>) {
  const stale = Object.keys(rows).filter((row) => !names.includes(row));
  return stale.length ? `test/policy/policy.ts ${table} names what the code does not have: ${stale.map((s) => `"${s}"`).join(", ")}` : "";
}

beforeAll(async () => {
  t = await startTestServer({ name: "authz" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "team-a" } });
  const other = await db.team.create({ data: { name: "team-b" } });
  const custom = await db.role.create({ data: { name: "Auditor", permissions: CUSTOM_PERMISSIONS } });
  const host = await db.host.create({ data: { name: "host-a", teams: { create: { teamId: team.id } } } });
  const hostB = await db.host.create({ data: { name: "host-b", teams: { create: { teamId: other.id } } } });
  const registry = await db.registry.create({ data: { name: "registry-a", url: "http://127.0.0.1:9", host: "127.0.0.1:9", teams: { create: { teamId: team.id } } } });
  Object.assign(fx, { hostId: host.id, otherHostId: hostB.id, teamId: team.id, otherTeamId: other.id, customRoleId: custom.id, registryId: registry.id });
  for (let i = 0; i < 20; i++) {
    const throwaway = await db.registry.create({ data: { name: `registry-throwaway-${i}`, url: "http://127.0.0.1:9", host: "127.0.0.1:9", teams: { create: { teamId: team.id } } } });
    removableRegistries.push(throwaway.id);
  }
  const memberships: Array<[Member, string, string]> = [
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
  for (const [who, spec] of Object.entries(TOKENS) as Array<[TokenWho, (typeof TOKENS)[TokenWho]]>) {
    const scope = spec.permissions === "all" ? ({ all: true } as const) : { permissions: spec.permissions };
    tokens[who] = (await createApiToken({ db, userId: users[spec.of].id, input: { name: who, scope, expiresInDays: 1 } })).token;
  }
});

afterAll(() => t?.stop());

describe("the policy table covers every entry point", () => {
  it("every tRPC procedure has a row, and every row a procedure", () => {
    const names = procedures.map(([path]) => path);
    expect(missingRows("PROCEDURE_POLICY", names, PROCEDURE_POLICY)).toBe("");
    expect(staleRows("PROCEDURE_POLICY", names, PROCEDURE_POLICY)).toBe("");
  });

  it("every browser socket event has a row, and every row an event", () => {
    const names = socketEvents.map(([name]) => name);
    expect(names.length).toBeGreaterThan(0);
    expect(missingRows("SOCKET_EVENT_POLICY", names, SOCKET_EVENT_POLICY)).toBe("");
    expect(staleRows("SOCKET_EVENT_POLICY", names, SOCKET_EVENT_POLICY)).toBe("");
  });

  it("every HTTP route has a row, and every row a route", () => {
    expect(routes.length).toBeGreaterThan(0);
    expect(missingRows("HTTP_ROUTE_POLICY", routes, HTTP_ROUTE_POLICY)).toBe("");
    expect(staleRows("HTTP_ROUTE_POLICY", routes, HTTP_ROUTE_POLICY)).toBe("");
  });

  it("every better-auth path Berth serves has a row, and every row is served", () => {
    expect(SERVED_AUTH_PATHS.length).toBeGreaterThan(0);
    expect(missingRows("AUTH_PATH_POLICY", [...SERVED_AUTH_PATHS], AUTH_PATH_POLICY)).toBe("");
    expect(staleRows("AUTH_PATH_POLICY", [...SERVED_AUTH_PATHS], AUTH_PATH_POLICY)).toBe("");
  });

  it("every entry point has a fixture in this matrix", () => {
    expect(procedures.map(([path]) => path).filter((path) => !(path in INPUTS))).toEqual([]);
    expect(socketEvents.map(([name]) => name).filter((name) => !(name in SOCKET_INPUTS))).toEqual([]);
    expect(routes.filter((route) => !(route in HTTP_INPUTS))).toEqual([]);
  });

  it("deny by default: every procedure and event declares a rule, and it is the table's", () => {
    const declared = [
      ...procedures.map(([path, p]) => [path, spell(p._def.meta?.access), PROCEDURE_POLICY[path]] as const),
      ...socketEvents.map(([name, def]) => [name, spell(def.access), SOCKET_EVENT_POLICY[name]] as const),
    ];
    expect(declared.length).toBeGreaterThan(0);
    expect(declared.filter(([, code, table]) => code !== table).map(([name, code, table]) => `${name}: code says ${code}, table says ${table}`)).toEqual([]);
  });
});

const WHO = Object.keys(HOLDS) as Who[];

async function callProcedure(who: Who, path: string): Promise<string | null> {
  const caller =
    who === "anonymous" ? await callerFor(t.server, null) : who in TOKENS ? await callerForToken(t.server, tokens[who as TokenWho]) : await callerFor(t.server, users[who as SessionWho]);
  const [ns, name] = path.split(".") as [string, string];
  const fn = (caller as unknown as Record<string, Record<string, (input: unknown) => Promise<unknown>>>)[ns]![name]!;
  try {
    const result = await fn(INPUTS[path]!());
    // Subscriptions hand back a stream once allowed: close it.
    if (result && typeof (result as AsyncIterator<unknown>).return === "function") await (result as AsyncIterator<unknown>).return!();
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? "UNKNOWN";
  }
}

function credentials(who: Who): { cookie?: string; token?: string } {
  if (who === "anonymous") return {};
  return who in TOKENS ? { token: tokens[who as TokenWho] } : { cookie: users[who as SessionWho].cookie };
}

describe.each(WHO)("tRPC, as %s", (who) => {
  it.each(Object.keys(PROCEDURE_POLICY))("%s", async (path) => {
    const rule = PROCEDURE_POLICY[path]!;
    const code = await callProcedure(who, path);
    const refused = code === "UNAUTHORIZED" || code === "FORBIDDEN";
    expect(refused, `${who} → ${path} (table: ${rule}) answered ${code ?? "ok"}`).toBe(!tableAllows(rule, who));
    if (refused) expect(code).toBe(who === "anonymous" ? "UNAUTHORIZED" : "FORBIDDEN");
  });
});

/**
 * `containers.bulk`: every action on an item of host-a (a container that does
 * not exist) and on an item of host-b (team-b's host, where only otherTeam and
 * global admins may act). An item the table refuses answers FORBIDDEN and is
 * never attempted; an allowed one reaches the service and answers NOT_FOUND.
 */
describe.each(WHO.filter((who) => who !== "anonymous"))("containers.bulk item by item, as %s", (who) => {
  it.each(Object.keys(BULK_ACTION_POLICY))("%s", async (action) => {
    const caller = who in TOKENS ? await callerForToken(t.server, tokens[who as TokenWho]) : await callerFor(t.server, users[who as SessionWho]);
    const results = await caller.containers.bulk({
      action: action as "stop",
      items: [
        { hostId: fx.hostId, containerId: "f".repeat(64) },
        { hostId: fx.otherHostId, containerId: "e".repeat(64) },
      ],
    });
    expect(results).toHaveLength(2);
    const [onA, onB] = results as Array<{ ok: boolean; code?: string }>;
    const allowedOnA = tableAllows(BULK_ACTION_POLICY[action]!, who);
    expect(onA!.code, `${who} → bulk ${action} on host-a (table: ${BULK_ACTION_POLICY[action]})`).toBe(allowedOnA ? "NOT_FOUND" : "FORBIDDEN");
    const permission = BULK_ACTION_POLICY[action]!.split(":")[1] as Permission;
    const allowedOnB = HOLDS[who].globalAdmin || (who === "otherTeam" && ROLE_PERMISSIONS.teamAdmin.includes(permission));
    expect(onB!.code, `${who} → bulk ${action} on host-b`).toBe(allowedOnB ? "NOT_FOUND" : "FORBIDDEN");
  });

  it("the code's per-action permissions are the table's", async () => {
    const { BULK_ACTIONS, LIFECYCLE_PERMISSION } = await import("../../server/services/container-lifecycle.ts");
    expect(Object.fromEntries(BULK_ACTIONS.map((a) => [a, `host:${LIFECYCLE_PERMISSION[a]}`]))).toEqual(BULK_ACTION_POLICY);
  });
});

describe.each(WHO)("browser socket, as %s", (who) => {
  it.each(Object.keys(SOCKET_EVENT_POLICY))("%s", async (name) => {
    const rule = SOCKET_EVENT_POLICY[name]!;
    if (who === "anonymous") {
      // No session, no socket: the handshake itself is refused, so no event can be sent.
      await expect(connectBrowserSocket(t.url, {})).rejects.toThrow("Sign in first");
      expect(tableAllows(rule, who), `the table lets anonymous send ${name}, but anonymous has no socket`).toBe(false);
      return;
    }
    const socket = await connectBrowserSocket(t.url, credentials(who));
    try {
      const ack = await emitWithAck(socket, name, SOCKET_INPUTS[name]!());
      const refused = !ack.ok && (ack.code === "UNAUTHORIZED" || ack.code === "FORBIDDEN");
      expect(refused, `${who} → ${name} (table: ${rule}) answered ${JSON.stringify(ack)}`).toBe(!tableAllows(rule, who));
    } finally {
      socket.disconnect();
    }
  });
});

describe.each(WHO)("HTTP routes, as %s", (who) => {
  it.each(Object.keys(HTTP_ROUTE_POLICY))("%s", async (route) => {
    const rule = HTTP_ROUTE_POLICY[route]!;
    const [method, path] = route.split(" ") as [string, string];
    const { cookie, token } = credentials(who);
    const headers: Record<string, string> = {};
    if (cookie) headers.cookie = cookie;
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${t.url}${path}?${new URLSearchParams(HTTP_INPUTS[route]!())}`, { method, headers });
    await response.body?.cancel();
    const refused = response.status === 401 || response.status === 403;
    expect(refused, `${who} → ${route} (table: ${rule}) answered HTTP ${response.status}`).toBe(!tableAllows(rule, who));
    if (refused) expect(response.status).toBe(who === "anonymous" ? 401 : 403);
  });
});

describe("better-auth paths", () => {
  it("the session-only ones do nothing for an API token, even an admin's all-permission one", async () => {
    const sessionOnly = Object.entries(AUTH_PATH_POLICY).filter(([, rule]) => rule === "session").map(([path]) => path);
    expect(sessionOnly.length).toBeGreaterThan(0);
    const db = t.server.db;
    const state = async () => ({
      password: (await db.account.findFirstOrThrow({ where: { userId: users.globalAdmin.id, providerId: "credential" }, select: { password: true } })).password,
      sessions: await db.session.count({ where: { userId: users.globalAdmin.id } }),
    });
    const before = await state();
    expect(before.sessions).toBeGreaterThan(0);
    for (const path of sessionOnly) {
      const response = await fetch(`${t.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokens.adminToken}`, "content-type": "application/json", origin: t.url },
        body: JSON.stringify({ currentPassword: "x".repeat(12), newPassword: "y".repeat(12), revokeOtherSessions: true }),
      });
      expect(response.status, `${path} with a token`).toBeLessThan(500);
      if (path.endsWith("/change-password")) expect(response.status).toBe(401);
    }
    // Nothing changed for the token's user: same password, same sessions, and the session still works.
    expect(await state()).toEqual(before);
    await expect(callerFor(t.server, users.globalAdmin)).resolves.toBeDefined();
  });

  it("a path not in the table is not served, even to an admin's session", async () => {
    for (const path of ["/api/auth/admin/set-role", "/api/auth/admin/list-users", "/api/auth/list-sessions", "/api/auth/update-user"]) {
      const response = await fetch(`${t.url}${path}`, {
        method: "POST",
        headers: { cookie: users.globalAdmin.cookie, "content-type": "application/json", origin: t.url },
        body: JSON.stringify({ userId: users.viewer.id, role: "admin" }),
      });
      expect(response.status, path).toBe(404);
    }
  });
});

describe("what callers see", () => {
  it("lists only the hosts of the caller's teams", async () => {
    const names = async (who: SessionWho) => (await (await callerFor(t.server, users[who])).hosts.list()).map((h) => h.name).sort();
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
    const call = (token: string | null, path: string, input: unknown) =>
      fetch(`${t.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    // The team admin's token narrowed to host.view and team.manage sees the host but cannot operate it.
    expect((await call(tokens.managerNarrowToken, "hosts.byId", { hostId: fx.hostId })).status).toBe(200);
    const start = await fetch(`${t.url}/api/trpc/containers.start`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.managerNarrowToken}`, "content-type": "application/json" },
      body: JSON.stringify({ json: { hostId: fx.hostId, containerId: "f".repeat(64) } }),
    });
    expect(start.status).toBe(403);
    // A global admin's narrowed token is no admin: not for admin procedures, not on a host of a team its user is not in.
    expect((await call(tokens.adminNarrowToken, "users.list", undefined)).status).toBe(403);
    expect((await call(tokens.adminNarrowToken, "hosts.byId", { hostId: fx.hostId })).status).toBe(403);
    expect((await call(null, "hosts.byId", { hostId: fx.hostId })).status).toBe(401);
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
      expect(errors).toHaveLength(3);
      expect(errors.every((e) => e.message === "Not authenticated")).toBe(true);
    } finally {
      socket.disconnect();
    }
  });
});
