/**
 * The audit trail on a real Postgres: one event per audited action with the
 * right outcome, denied attempts recorded, append-only enforced by the
 * database, tampering found by verify, retention audited, streamed exports,
 * and no action when its record cannot be written.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditChain } from "../../server/services/audit/verify.ts";
import { callerFor, createSignedInUser, startTestServer, type TestServer, type TestUser } from "../infra/berth.ts";

let t: TestServer;
let admin: TestUser;
let viewer: TestUser;
let hostId: string;
let sql: pg.Client;

const events = (action: string) =>
  t.server.db.auditEvent.findMany({ where: { action }, orderBy: { seq: "asc" }, select: { seq: true, outcome: true, actorLabel: true, error: true, params: true, target: true, hostId: true, ip: true, userAgent: true, requestId: true } });

beforeAll(async () => {
  t = await startTestServer({ name: "audit" });
  sql = new pg.Client({ connectionString: t.database.url });
  await sql.connect();
  admin = await createSignedInUser(t.server, { role: "admin", email: "admin@example.test" });
  viewer = await createSignedInUser(t.server, { email: "viewer@example.test" });
  const team = await t.server.db.team.create({ data: { name: "ops" } });
  hostId = (await t.server.db.host.create({ data: { name: "h1", teams: { create: { teamId: team.id } } } })).id;
  await t.server.db.teamMember.create({ data: { teamId: team.id, userId: viewer.id, roleId: "role_viewer" } });
});

afterAll(async () => {
  await sql?.end();
  await t?.stop();
});

describe("recording", () => {
  it("writes exactly one event per audited action, with its outcome and request facts", async () => {
    const caller = await callerFor(t.server, admin);
    await caller.teams.create({ name: "audited-team" });
    const created = await events("teams.create");
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ outcome: "SUCCESS", actorLabel: "admin@example.test", target: "name:audited-team", ip: "127.0.0.1", userAgent: "vitest" });
    expect(created[0]!.requestId).toBeTruthy();

    await expect(caller.teams.create({ name: "audited-team" })).rejects.toThrow(/already exists/);
    const after = await events("teams.create");
    expect(after).toHaveLength(2);
    expect(after[1]).toMatchObject({ outcome: "FAILURE", error: expect.stringMatching(/already exists/) });

    // Reads are not audited.
    await caller.teams.list();
    expect(await events("teams.list")).toHaveLength(0);
  });

  it("records a container action that Docker or the agent refused, with the error text", async () => {
    const caller = await callerFor(t.server, admin);
    await expect(caller.containers.stop({ hostId, containerId: "a".repeat(64) })).rejects.toThrow(/not found/i);
    const [stop] = await events("containers.stop");
    expect(stop).toMatchObject({ outcome: "FAILURE", hostId, target: `containerId:${"a".repeat(64)}`, error: expect.stringMatching(/not found/i) });
  });

  it("records attempts refused for lack of permission", async () => {
    const caller = await callerFor(t.server, viewer);
    await expect(caller.containers.stop({ hostId, containerId: "b".repeat(64) })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const denied = await t.server.db.auditEvent.findMany({ where: { action: "containers.stop", outcome: "DENIED" } });
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ actorLabel: "viewer@example.test", hostId, error: expect.stringMatching(/container\.operate/) });
  });

  it("redacts secrets from parameters", async () => {
    const caller = await callerFor(t.server, admin);
    await caller.users.invite({ name: "New", email: "new@example.test", password: "a very secret password" });
    const [invite] = await events("users.invite");
    expect(JSON.stringify(invite!.params)).not.toContain("a very secret password");
    expect(invite!.params).toMatchObject({ password: "[redacted]", email: "new@example.test" });
  });

  it("records sign-in success, failure and sign-out through the real auth endpoints", async () => {
    const post = (path: string, body: unknown, cookie?: string) =>
      fetch(`${t.url}/api/auth/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: t.url, "user-agent": "audit-test", ...(cookie ? { cookie } : {}) },
        body: JSON.stringify(body),
      });
    expect((await post("sign-in/email", { email: "viewer@example.test", password: "wrong password!!" })).status).toBe(401);
    const ok = await post("sign-in/email", { email: "viewer@example.test", password: viewer.password });
    expect(ok.status).toBe(200);
    const cookie = ok.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    expect((await post("sign-out", {}, cookie)).status).toBe(200);
    const signIns = await t.server.db.auditEvent.findMany({ where: { action: "auth.signIn", userAgent: "audit-test" }, orderBy: { seq: "asc" } });
    expect(signIns.map((e) => e.outcome)).toEqual(["FAILURE", "SUCCESS"]);
    expect(signIns[0]!.actorLabel).toBe("viewer@example.test");
    expect(signIns[0]!.ip).toBe("127.0.0.1");
    expect(await t.server.db.auditEvent.count({ where: { action: "auth.signOut", userAgent: "audit-test" } })).toBe(1);
  });
});

describe("integrity", () => {
  it("the database refuses UPDATE and DELETE on audit rows", async () => {
    await expect(sql.query(`UPDATE audit_event SET "actorLabel" = 'someone else' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(sql.query(`DELETE FROM audit_event WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(sql.query(`TRUNCATE audit_event`)).rejects.toThrow(/append-only/);
  });

  it("verify passes on the untouched chain, through the UI procedure and the CLI", async () => {
    const caller = await callerFor(t.server, admin);
    const result = await caller.audit.verify();
    expect(result).toMatchObject({ ok: true });
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "server/cli/audit-verify.ts"], {
      env: { ...process.env, DATABASE_URL: t.database.url, BERTH_LOG_LEVEL: "warn" },
    });
    expect(stdout).toMatch(/audit trail intact/);
  });

  it("retention deletes the oldest events, records itself, and the chain still verifies", async () => {
    const caller = await callerFor(t.server, admin);
    const before = await t.server.db.auditEvent.count();
    const cutoff = (await t.server.db.auditEvent.findFirstOrThrow({ where: { seq: 3n }, select: { at: true } })).at;
    const { deleted } = await caller.audit.prune({ before: new Date(cutoff.getTime() + 1) });
    expect(deleted).toBe(3);
    expect(await t.server.db.auditEvent.count()).toBe(before - 3 + 1);
    const [retention] = await events("audit.retention");
    expect(retention!.params).toMatchObject({ deleted: 3, deletedThroughSeq: "3" });
    expect(await verifyAuditChain(t.server.db)).toMatchObject({ ok: true, firstSeq: "4" });
  });

  it("with the trigger bypassed by a superuser, verify names the tampered event", async () => {
    const target = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "users.invite" }, select: { seq: true } });
    await sql.query("BEGIN");
    await sql.query("SET LOCAL session_replication_role = replica"); // disables triggers; superuser only
    await sql.query(`UPDATE audit_event SET "actorLabel" = 'nobody@example.test' WHERE seq = $1`, [target.seq]);
    await sql.query("COMMIT");
    expect(await verifyAuditChain(t.server.db)).toMatchObject({ ok: false, brokenSeq: target.seq.toString(), reason: expect.stringMatching(/edited/) });
    const cli = await promisify(execFile)(process.execPath, ["--import", "tsx", "server/cli/audit-verify.ts"], {
      env: { ...process.env, DATABASE_URL: t.database.url, BERTH_LOG_LEVEL: "warn" },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(cli).toMatchObject({ code: 1, stderr: expect.stringContaining(`BROKEN at event ${target.seq}`) });
  });
});

describe("review", () => {
  it("filters, searches and pages newest first with a keyset cursor", async () => {
    const caller = await callerFor(t.server, admin);
    const first = await caller.audit.list({ filter: {}, limit: 2 });
    expect(first.events).toHaveLength(2);
    expect(first.events[0]!.seq).toBeGreaterThan(first.events[1]!.seq);
    const second = await caller.audit.list({ filter: {}, limit: 2, before: first.nextBefore! });
    expect(second.events[0]!.seq).toBeLessThan(first.events[1]!.seq);
    const denied = await caller.audit.list({ filter: { outcome: "DENIED" }, limit: 50 });
    expect(denied.events.length).toBeGreaterThan(0);
    expect(denied.events.every((e) => e.outcome === "DENIED")).toBe(true);
    const search = await caller.audit.list({ filter: { q: "viewer contain" }, limit: 50 });
    expect(search.events.map((e) => e.action)).toContain("containers.stop");
    // A word inside an action, and an email address typed whole, are found too.
    const byWord = await caller.audit.list({ filter: { q: "stop" }, limit: 50 });
    expect(byWord.events.length).toBeGreaterThan(0);
    expect(byWord.events.every((e) => /stop/i.test(`${e.action} ${e.target ?? ""} ${e.error ?? ""} ${JSON.stringify(e.params)}`))).toBe(true);
    const byEmail = await caller.audit.list({ filter: { q: "viewer@example.test" }, limit: 50 });
    expect(byEmail.events.some((e) => e.actorLabel === "viewer@example.test")).toBe(true);
    const byActor = await caller.audit.list({ filter: { actor: "viewer@" }, limit: 50 });
    expect(byActor.events.length).toBeGreaterThan(0);
    expect(byActor.events.every((e) => e.actorLabel.startsWith("viewer@"))).toBe(true);
  });

  it("shows a reviewer without audit.view nothing", async () => {
    const caller = await callerFor(t.server, viewer);
    expect((await caller.audit.list({ filter: {}, limit: 50 })).events).toEqual([]);
  });

  it("exports the current filter as CSV and NDJSON, streamed", async () => {
    const url = (format: string) => `${t.url}/api/audit/export?format=${format}&filter=${encodeURIComponent(JSON.stringify({ outcome: "DENIED" }))}`;
    const csv = await fetch(url("csv"), { headers: { cookie: admin.cookie } });
    expect(csv.headers.get("content-type")).toMatch(/text\/csv/);
    const lines = (await csv.text()).trim().split("\n");
    expect(lines[0]).toMatch(/^seq,at,outcome,action/);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.slice(1).every((l) => l.includes('"DENIED"'))).toBe(true);
    const ndjson = await fetch(url("ndjson"), { headers: { cookie: admin.cookie } });
    const rows = (await ndjson.text()).trim().split("\n").map((l) => JSON.parse(l) as { outcome: string });
    expect(rows.length).toBe(lines.length - 1);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.outcome === "DENIED")).toBe(true);
    expect((await fetch(url("csv"))).status).toBe(401);
  });
});

describe("no action without its record", () => {
  it("refuses the action when the audit trail cannot be written", async () => {
    await sql.query(`ALTER TABLE audit_event ADD CONSTRAINT audit_blocked CHECK (false) NOT VALID`);
    try {
      const caller = await callerFor(t.server, admin);
      await expect(caller.teams.create({ name: "unrecorded" })).rejects.toMatchObject({ code: "SERVICE_UNAVAILABLE" });
      expect(await t.server.db.team.findUnique({ where: { name: "unrecorded" } })).toBeNull();
    } finally {
      await sql.query(`ALTER TABLE audit_event DROP CONSTRAINT audit_blocked`);
    }
  });
});
