/**
 * The audit trail against more than a careless admin, on a real Postgres, a
 * real dockerd and a real agent:
 * - a flood of refused anonymous calls is one row per source and minute;
 * - sign-in, sign-out and agent join are refused when their record cannot be written;
 * - a signed checkpoint outside the database catches a history rewritten and
 *   re-hashed by a superuser (which plain verification cannot);
 * - audit rows carry the container's and host's names, searchable by name;
 * - `auth.setup` after setup answers a clear 4xx.
 */
import { execFile } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveServerKey, verifyServerSignature } from "../../server/crypto/server-key.ts";
import { hashEvent } from "../../server/services/audit/append.ts";
import { verifyAuditChain } from "../../server/services/audit/verify.ts";
import { createHost } from "../../server/services/hosts.ts";
import {
  callerFor,
  createSignedInUser,
  startTestAgent,
  startTestServer,
  waitFor,
  waitForSnapshot,
  type TestAgent,
  type TestServer,
  type TestUser,
} from "../infra/berth.ts";
import { removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL = "berth.test=audit-hardening";
const suffix = Math.random().toString(36).slice(2, 8);
const SECRET = "audit-hardening-secret-0123456789abcdefghijklmnop";

let t: TestServer;
let admin: TestUser;
let sql: pg.Client;
let webhook: http.Server;
const webhookBodies: unknown[] = [];

async function blockAuditTrail<T>(work: () => Promise<T>): Promise<T> {
  await sql.query(`ALTER TABLE audit_event ADD CONSTRAINT audit_blocked CHECK (false) NOT VALID`);
  try {
    return await work();
  } finally {
    await sql.query(`ALTER TABLE audit_event DROP CONSTRAINT audit_blocked`);
  }
}

const post = (urlPath: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.url}${urlPath}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: t.url, ...headers },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  webhook = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      webhookBodies.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  webhook.listen(0, "127.0.0.1");
  await once(webhook, "listening");
  t = await startTestServer({
    name: "audithard",
    env: { BERTH_SECRET: SECRET, BERTH_AUDIT_CHECKPOINT_WEBHOOK: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/checkpoints` },
  });
  sql = new pg.Client({ connectionString: t.database.url });
  await sql.connect();
  admin = await createSignedInUser(t.server, { role: "admin", email: "admin@hard.test" });
});

afterAll(async () => {
  await sql?.end();
  await t?.stop();
  webhook?.close();
  await removeContainersByLabel(LABEL);
});

describe("refused anonymous calls", () => {
  it("a batch of 100 anonymous calls writes one row for its source and minute, with the count", async () => {
    const before = await t.server.db.auditEvent.count({ where: { actorType: "ANONYMOUS" } });
    // Batches hold at most 20 calls (MAX_TRPC_BATCH): five full batches make the 100.
    const answers: Array<{ error?: { json: { data: { code: string } } } }> = [];
    for (let batch = 0; batch < 5; batch++) {
      const paths = Array.from({ length: 20 }, () => "teams.create").join(",");
      const body = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [String(i), superjson.serialize({ name: `flood-${batch}-${i}` })]));
      const response = await fetch(`${t.url}/api/trpc/${paths}?batch=1`, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "flood-test" },
        body: JSON.stringify(body),
      });
      answers.push(...((await response.json()) as typeof answers));
    }
    expect(answers).toHaveLength(100);
    expect(answers.filter((a) => a.error?.json.data.code === "UNAUTHORIZED")).toHaveLength(100);
    // The window is a minute; the server writes the row when it closes, or now when asked (shutdown does too).
    await (t.server as { flushAuditAggregates?: () => Promise<void> }).flushAuditAggregates?.();
    const rows = await t.server.db.auditEvent.findMany({ where: { actorType: "ANONYMOUS", seq: { gt: 0n } }, select: { action: true, outcome: true, ip: true, params: true } });
    expect(rows.length - before).toBe(1);
    const row = rows[rows.length - 1]!;
    expect(row).toMatchObject({ outcome: "DENIED", ip: "127.0.0.1" });
    expect(row.params).toMatchObject({ count: 100, actions: { "teams.create": 100 } });
    expect(await verifyAuditChain(t.server.db)).toMatchObject({ ok: true });
  });
});

describe("no sign-in, sign-out or join without its record", () => {
  it("sign-in is refused, and leaves no usable session, when the trail cannot be written", async () => {
    const user = await createSignedInUser(t.server, { email: "signin@hard.test" });
    const sessionsBefore = await t.server.db.session.count({ where: { userId: user.id } });
    const response = await blockAuditTrail(() => post("/api/auth/sign-in/email", { email: user.email, password: user.password }));
    expect(response.status).toBe(503);
    const cookie = response.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const session = cookie ? await t.server.auth.api.getSession({ headers: new Headers({ cookie }) }) : null;
    expect(session).toBeNull();
    expect(await t.server.db.session.count({ where: { userId: user.id } })).toBe(sessionsBefore);
    // With the trail writable again, the same sign-in works and is recorded.
    expect((await post("/api/auth/sign-in/email", { email: user.email, password: user.password })).status).toBe(200);
    expect(await t.server.db.auditEvent.count({ where: { action: "auth.signIn", outcome: "SUCCESS", actorLabel: user.email } })).toBe(2);
  });

  it("sign-out is refused, and the session stays, when the trail cannot be written", async () => {
    const user = await createSignedInUser(t.server, { email: "signout@hard.test" });
    const response = await blockAuditTrail(() => post("/api/auth/sign-out", {}, { cookie: user.cookie }));
    expect(response.status).toBe(503);
    expect(await t.server.auth.api.getSession({ headers: new Headers({ cookie: user.cookie }) })).not.toBeNull();
    expect((await post("/api/auth/sign-out", {}, { cookie: user.cookie })).status).toBe(200);
    expect(await t.server.db.auditEvent.count({ where: { action: "auth.signOut", actorLabel: user.email } })).toBe(1);
  });

  it("an agent's join is refused, and its token stays unused, when the trail cannot be written", async () => {
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `join-blocked-${suffix}`, ttlMinutes: 5, serverUrl: t.url });
    let agent: TestAgent | null = null;
    try {
      await blockAuditTrail(async () => {
        agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
        await agent.waitForOutput(/audit trail cannot be written/i, 30_000);
      });
      expect(await t.server.db.agent.count({ where: { hostId: join.hostId } })).toBe(0);
      const token = await t.server.db.joinToken.findFirstOrThrow({ where: { hostId: join.hostId }, select: { usedAt: true } });
      expect(token.usedAt).toBeNull();
    } finally {
      await (agent as TestAgent | null)?.kill();
    }
  });
});

describe("names in audit targets", () => {
  it("a container stopped through tRPC is found in the audit by its name and by its host's name", async () => {
    const team = await t.server.db.team.create({ data: { name: `names-${suffix}` } });
    const hostName = `harbour-${suffix}`;
    const containerName = `lighthouse-${suffix}`;
    const containerId = await runTestContainer({ name: containerName, labels: { "berth.test": "audit-hardening" } });
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: hostName, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
    const agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
    try {
      await waitForSnapshot(t.server, join.hostId);
      await waitFor(() => t.server.db.container.findFirst({ where: { hostId: join.hostId, dockerId: containerId } }), { what: "the container in the mirror" });
      const caller = await callerFor(t.server, admin);
      await caller.containers.stop({ hostId: join.hostId, containerId });

      const byContainer = await caller.audit.list({ filter: { q: containerName }, limit: 50 });
      expect(byContainer.events.map((e) => e.action)).toContain("containers.stop");
      const byHost = await caller.audit.list({ filter: { q: hostName, action: "containers." }, limit: 50 });
      expect(byHost.events.map((e) => e.action)).toContain("containers.stop");
      const stop = byContainer.events.find((e) => e.action === "containers.stop")!;
      expect(stop).toMatchObject({ hostName, targetName: containerName });
      expect(await verifyAuditChain(t.server.db)).toMatchObject({ ok: true });
    } finally {
      await agent.kill();
    }
  });
});

describe("setup after setup", () => {
  it("answers a clear 4xx, not a 500", async () => {
    const response = await post("/api/trpc/auth.setup", superjson.serialize({ code: "AAAA-BBBB-CCCC", name: "Late", email: "late@hard.test", password: "correct horse battery" }));
    const body = (await response.json()) as { error: { json: { message: string; data: { httpStatus: number } } } };
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(body.error.json.message).toMatch(/already set up/i);
  });
});

describe("checkpoints anchor the chain outside the database", () => {
  const cli = (args: string[]) =>
    promisify(execFile)(process.execPath, ["--import", "tsx", "server/cli/audit-verify.ts", ...args], {
      env: { ...process.env, DATABASE_URL: t.database.url, BERTH_SECRET: SECRET, BERTH_LOG_LEVEL: "warn" },
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

  it("signs {seq, headHash, at} with the server key into the data dir, the log and the webhook", async () => {
    const caller = await callerFor(t.server, admin);
    await caller.teams.create({ name: `checkpointed-${suffix}` });
    const written = await t.server.writeAuditCheckpoint();
    const head = await t.server.db.auditEvent.findFirstOrThrow({ orderBy: { seq: "desc" }, select: { seq: true, hash: true } });
    expect(written).toMatchObject({ seq: head.seq.toString(), headHash: head.hash });

    const file = path.join(t.dataDir, "audit-checkpoints.ndjson");
    const lines = (await readFile(file, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    expect(lines.length).toBeGreaterThan(0);
    const last = lines[lines.length - 1]!;
    expect(last).toMatchObject({ seq: head.seq.toString(), headHash: head.hash });
    // The signature verifies with the key derived from BERTH_SECRET (the verifier's own copy, not the file's).
    const message = `berth-audit-checkpoint-v1\n${last.seq}\n${last.headHash}\n${last.at}`;
    expect(verifyServerSignature(deriveServerKey(SECRET).publicKey, message, last.signature!)).toBe(true);
    expect(verifyServerSignature(deriveServerKey(SECRET + "x").publicKey, message, last.signature!)).toBe(false);
    await waitFor(() => webhookBodies.some((b) => (b as { seq?: string }).seq === head.seq.toString()), { what: "the checkpoint at the webhook" });
  });

  it("a history rewritten and re-hashed after the checkpoint passes plain verify but not verify --checkpoint, which names the seq", async () => {
    const file = path.join(t.dataDir, "audit-checkpoints.ndjson");
    expect((await cli(["--checkpoint", file])).code).toBe(0);
    const lines = (await readFile(file, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { seq: string });
    const checkpointSeq = BigInt(lines[lines.length - 1]!.seq);

    // A superuser edits an old event, then recomputes every later hash so the chain is consistent again.
    const target = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "teams.create" }, orderBy: { seq: "asc" }, select: { seq: true } });
    await sql.query("BEGIN");
    await sql.query("SET LOCAL session_replication_role = replica");
    await sql.query(`UPDATE audit_event SET "actorLabel" = 'nobody@example.test' WHERE seq = $1`, [target.seq]);
    const rows = await t.server.db.auditEvent.findMany({ where: { seq: { gte: target.seq } }, orderBy: { seq: "asc" } });
    let prevHash = (await t.server.db.auditEvent.findFirstOrThrow({ where: { seq: target.seq - 1n }, select: { hash: true } })).hash;
    for (const row of rows) {
      const actorLabel = row.seq === target.seq ? "nobody@example.test" : row.actorLabel;
      const hash = hashEvent({ ...row, actorLabel, prevHash });
      await sql.query(`UPDATE audit_event SET "actorLabel" = $1, "prevHash" = $2, hash = $3 WHERE seq = $4`, [actorLabel, prevHash, hash, row.seq]);
      prevHash = hash;
    }
    await sql.query("COMMIT");

    expect(await verifyAuditChain(t.server.db)).toMatchObject({ ok: true });
    expect((await cli([])).code).toBe(0);
    const checked = await cli(["--checkpoint", file]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain(`checkpoint at event ${checkpointSeq}`);
  });

  it("a checkpoint whose signature does not verify is refused", async () => {
    const file = path.join(t.dataDir, "audit-checkpoints.ndjson");
    const forged = path.join(t.dataDir, "forged.ndjson");
    const [first] = (await readFile(file, "utf8")).trim().split("\n");
    const line = JSON.parse(first!) as Record<string, string>;
    await import("node:fs/promises").then((fs) => fs.writeFile(forged, JSON.stringify({ ...line, headHash: "f".repeat(64) }) + "\n"));
    const checked = await cli(["--checkpoint", forged]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toMatch(/signature/i);
  });
});
