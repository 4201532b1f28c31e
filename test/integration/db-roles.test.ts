/**
 * The deployment of docker-compose.yml on a real Postgres: migrations run as
 * the schema's owner (MIGRATION_DATABASE_URL), the server serves as a role
 * that owns neither audit_event nor its trigger. That role works normally
 * (sign-in, audited mutations, retention, verify) but cannot switch the
 * trigger off, drop it, or change or remove audit rows.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditChain } from "../../server/services/audit/verify.ts";
import { callerFor, createSignedInUser, startTestServer, type TestServer } from "../infra/berth.ts";
import { adminUrl, withAdmin } from "../infra/postgres.ts";

const id = randomBytes(4).toString("hex");
const OWNER = `berth_owner_${id}`;
const APP = `berth_app_${id}`;
const DB = `berth_test_roles_${id}`;
const PASSWORD = `pw_${randomBytes(8).toString("hex")}`;

function urlAs(user: string): string {
  const url = new URL(adminUrl());
  url.username = user;
  url.password = PASSWORD;
  url.pathname = `/${DB}`;
  return url.href;
}

let t: TestServer;
let app: pg.Client;

beforeAll(async () => {
  // What docker/postgres-init/10-berth-roles.sh does for docker compose.
  await withAdmin(async (client) => {
    await client.query(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
    await client.query(`CREATE ROLE ${APP} LOGIN PASSWORD '${PASSWORD}' NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await client.query(`CREATE DATABASE ${DB} OWNER ${OWNER}`);
    await client.query(`REVOKE ALL ON DATABASE ${DB} FROM PUBLIC`);
    await client.query(`GRANT CONNECT ON DATABASE ${DB} TO ${APP}`);
  });
  t = await startTestServer({
    name: "roles",
    database: { url: urlAs(APP), name: DB, drop: async () => undefined },
    env: { DATABASE_URL: urlAs(APP), MIGRATION_DATABASE_URL: urlAs(OWNER) },
  });
  app = new pg.Client({ connectionString: urlAs(APP) });
  await app.connect();
}, 300_000);

afterAll(async () => {
  await app?.end();
  await t?.stop();
  await withAdmin(async (client) => {
    await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [DB]);
    await client.query(`DROP DATABASE IF EXISTS ${DB}`);
    await client.query(`DROP ROLE IF EXISTS ${APP}`);
    await client.query(`DROP ROLE IF EXISTS ${OWNER}`);
  });
});

describe("the serving role", () => {
  it("works normally: sign-in, audited mutations, retention and verify", async () => {
    const admin = await createSignedInUser(t.server, { role: "admin", email: "admin@roles.test" });
    const caller = await callerFor(t.server, admin);
    await caller.teams.create({ name: "roles-team" });
    await caller.teams.create({ name: "roles-team-2" });
    expect(await t.server.db.auditEvent.count({ where: { action: "teams.create", outcome: "SUCCESS" } })).toBe(2);
    const second = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "teams.create" }, orderBy: { seq: "asc" }, select: { at: true } });
    const { deleted } = await caller.audit.prune({ before: new Date(second.at.getTime() + 1) });
    expect(deleted).toBeGreaterThan(0);
    expect(await verifyAuditChain(t.server.db)).toMatchObject({ ok: true });
  });

  it("owns neither the audit table nor its trigger, and cannot change or remove audit rows", async () => {
    const { rows } = await app.query<{ owner: string }>(`SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'audit_event'`);
    expect(rows).toEqual([{ owner: OWNER }]);
    await expect(app.query(`ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only`)).rejects.toThrow(/must be owner/);
    await expect(app.query(`ALTER TABLE audit_event DISABLE TRIGGER ALL`)).rejects.toThrow(/must be owner/);
    await expect(app.query(`DROP TRIGGER audit_event_append_only ON audit_event`)).rejects.toThrow(/must be owner/);
    await expect(app.query(`SET session_replication_role = replica`)).rejects.toThrow(/permission denied/);
    await expect(app.query(`UPDATE audit_event SET "actorLabel" = 'x'`)).rejects.toThrow(/permission denied/);
    await expect(app.query(`DELETE FROM audit_event`)).rejects.toThrow(/permission denied/);
    await expect(app.query(`TRUNCATE audit_event`)).rejects.toThrow(/permission denied/);
    await expect(app.query(`ALTER TABLE audit_event DROP COLUMN hash`)).rejects.toThrow(/must be owner/);
    // Reading and appending are what it needs.
    expect((await app.query(`SELECT count(*)::int AS n FROM audit_event`)).rows[0]).toMatchObject({ n: expect.any(Number) });
    expect(await verifyAuditChain(t.server.db)).toMatchObject({ ok: true });
  });
});
