/**
 * Audit trail benchmark: how fast a reviewer can search a large, hash-chained
 * audit trail through Berth, against the same SQL sent straight to Postgres.
 *
 *   node --import tsx bench/audit.ts [--events 1000000] [--runs 30] [--batch 2500] [--export-days 14] [--case-seconds 30] [--keep-database]
 *
 * On the real Postgres it starts a Berth server on a fresh migrated database
 * (dropped at the end, even on failure), creates 20 teams and 100 hosts, and
 * seeds N audit events: ~200 actors, ~35 actions, 90/7/3 % outcomes, 90 days.
 * The events form a valid chain (`hashEvent` in Node, in seq order, under the
 * append lock) and are bulk-inserted with plain pg (INSERT ... SELECT FROM
 * unnest), then VACUUM ANALYZE. It then measures, in the same run:
 *   - review queries: `listAuditEvents` (limit 50) per filter, p50/p95 over
 *     varied parameters, against the same plan written by hand over plain pg
 *     (the floor) and against the one plain statement left to the planner
 *     (naive); all three must return the same rows on every run;
 *   - tRPC: `audit.list` through `callerFor` for a global admin and for a
 *     reviewer whose audit.view covers 3 teams (and their hosts);
 *   - NDJSON export of a time window through GET /api/audit/export of the
 *     running server (rows/s, and this process's RSS while it streams);
 *   - `verifyAuditChain` over the whole chain (events/s), against the same
 *     walk through plain pg.
 * Results are printed as ratios against the direct path and written to
 * bench/results/audit-<timestamp>.json.
 */
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import pg from "pg";
import { principalFromSession } from "../server/context.ts";
import type { Db } from "../server/db/client.ts";
import { auditScopeFor } from "../server/routers/audit.ts";
import { AUDIT_LOCK_KEY, GENESIS_HASH, hashEvent } from "../server/services/audit/append.ts";
import { listAuditEvents, type AuditScope, type TAuditFilter } from "../server/services/audit/query.ts";
import { verifyAuditChain } from "../server/services/audit/verify.ts";
import { callerFor, createSignedInUser, startTestServer, type TestServer, type TestUser } from "../test/infra/berth.ts";
import { fmtMb, fmtMs, fmtRatio, intArg, summarize, table, timed, writeResults, type Summary } from "./lib/stats.ts";

const N = intArg("events", 1_000_000);
const RUNS = intArg("runs", 30);
const BATCH = intArg("batch", 2_500);
const EXPORT_DAYS = intArg("export-days", 14);
/** A case stops early (never below 10 runs) once it has spent this long: a slow query must not eat the run. */
const CASE_SECONDS = intArg("case-seconds", 30);
/** Leaves the seeded database behind (its name is printed) for EXPLAIN sessions; drop it by hand. */
const KEEP_DATABASE = process.argv.includes("--keep-database");
const WARMUP = 3;
const LIMIT = 50;
const TEAMS = 20;
const HOSTS = 100;
const USERS = 200;
const CONTAINERS_PER_HOST = 20;
const SPAN_DAYS = 90;
const DAY_MS = 86_400_000;

// ------------------------------------------------------------------ cleanup

const cleanups: { what: string; run: () => Promise<void> }[] = [];
let cleaning: Promise<void> | null = null;

/** Runs registered cleanups newest first; safe to call twice (signal + finally). */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (let next = cleanups.pop(); next; next = cleanups.pop()) {
      await next.run().catch((error: unknown) => console.error(`cleanup (${next!.what}) failed: ${String(error)}`));
    }
  })();
  return cleaning;
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    if (cleaning) return;
    console.error(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(code));
  });
}

function progress(message: string) {
  console.log(`[bench:audit] ${message}`);
}

/**
 * Stops the server, waiting at most 15 s: a background transaction cut off by
 * the shutdown (the offline sweep) can leave server.stop() waiting on the pool
 * for ever. The database is dropped either way (drop ends its connections).
 */
async function stopServer(t: TestServer): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    t.server.stop().then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 15_000))),
  ]);
  clearTimeout(timer);
  if (!stopped) progress("the server did not stop within 15 s; going on");
  await rm(t.dataDir, { recursive: true, force: true });
  if (KEEP_DATABASE) progress(`kept database ${t.database.name} (${t.database.url}); DROP DATABASE "${t.database.name}" when done`);
  else await t.database.drop();
}

// ------------------------------------------------------------------ a fleet and its people

/** Deterministic PRNG (mulberry32): the same data set on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(20261123);
const randInt = (min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const hex = (chars: number) => {
  let out = "";
  while (out.length < chars) out += Math.floor(rand() * 2 ** 32).toString(16).padStart(8, "0");
  return out.slice(0, chars);
};
const cuidLike = () => `c${Array.from({ length: 24 }, () => "0123456789abcdefghijklmnopqrstuvwxyz"[Math.floor(rand() * 36)]).join("")}`;

/** Samples `items` with the given weights (binary search over the running total). */
function weighted<T>(items: readonly T[], weights: readonly number[]): () => T {
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) cumulative.push((total += w));
  return () => {
    const x = rand() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return items[lo]!;
  };
}
/** Zipf-like weights: a few busy actors and hosts, a long tail of quiet ones. */
const zipf = (n: number, s: number) => Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);

const FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara", "zoe", "liam", "noah", "emma", "ava", "mia", "lucas", "ethan", "chloe", "sofia"];
const LAST = ["smith", "jones", "garcia", "miller", "davis", "wilson", "taylor", "brown", "moore", "martin", "lee", "walker", "hall", "young", "king", "wright", "lopez", "hill", "scott", "green"];
const DOMAINS = ["acme.io", "example.com", "ops.example.net"];
const TEAM_NAMES = ["platform", "payments", "search", "data", "web", "mobile-api", "identity", "billing", "infra", "observability", "ml", "growth", "support", "security", "edge", "storage", "messaging", "ci", "marketing-site", "partners"];
const SERVICES = ["nginx", "web-frontend", "payments-api", "auth-service", "billing-worker", "redis", "postgres", "grafana", "prometheus", "node-exporter", "loki", "traefik", "rabbitmq", "search-indexer", "mailer", "scheduler", "minio", "kafka", "zookeeper", "cron-runner", "api-gateway", "image-resizer", "metrics-agent", "backup"];
const IMAGES = ["nginx:1.27", "redis:7.4", "postgres:16", "grafana/grafana:11.2.0", "registry.acme.io/payments-api:2.14.1", "registry.acme.io/web-frontend:5.3.0", "traefik:3.1", "rabbitmq:3.13-management"];
const BROWSERS = [
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
  "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
];

type Fleet = {
  teams: { id: string; name: string }[];
  hosts: { id: string; name: string; teamIds: string[]; containers: { id: string; name: string }[] }[];
  users: { id: string; email: string; ips: string[]; userAgent: string; tokenId: string }[];
};

/** Teams, hosts and their team links are real rows (scopes resolve through them); actors are only names. */
async function createFleet(db: Db): Promise<Fleet> {
  const teams = TEAM_NAMES.slice(0, TEAMS).map((name) => ({ id: cuidLike(), name }));
  const hosts = Array.from({ length: HOSTS }, (_, i) => {
    const names = new Set<string>();
    while (names.size < CONTAINERS_PER_HOST) names.add(`${pick(SERVICES)}-${randInt(1, 3)}`);
    // Every tenth host is shared with a second team.
    const teamIds = [teams[i % TEAMS]!.id, ...(i % 10 === 0 ? [teams[(i + 7) % TEAMS]!.id] : [])];
    return { id: cuidLike(), name: `${TEAM_NAMES[i % TEAMS]}-node-${String(i).padStart(3, "0")}`, teamIds, containers: [...names].map((name) => ({ id: hex(64), name })) };
  });
  const users = Array.from({ length: USERS }, (_, i) => ({
    id: cuidLike(),
    email: `${FIRST[i % FIRST.length]}.${LAST[Math.floor(i / FIRST.length) % LAST.length]}@${DOMAINS[i % DOMAINS.length]}`,
    ips: [`10.${randInt(0, 255)}.${randInt(0, 255)}.${randInt(1, 254)}`, `198.51.100.${randInt(1, 254)}`],
    userAgent: pick(BROWSERS),
    tokenId: cuidLike(),
  }));
  await db.team.createMany({ data: teams });
  await db.host.createMany({ data: hosts.map((h) => ({ id: h.id, name: h.name, status: "ONLINE" as const })) });
  await db.hostTeam.createMany({ data: hosts.flatMap((h) => h.teamIds.map((teamId) => ({ hostId: h.id, teamId }))) });
  return { teams, hosts, users };
}

// ------------------------------------------------------------------ events

type Kind = "container" | "image" | "host" | "hostCreate" | "hostTeam" | "agent" | "team" | "teamCreate" | "role" | "user" | "self" | "auth" | "audit";
const ACTIONS: { name: string; weight: number; kind: Kind }[] = [
  { name: "containers.start", weight: 10, kind: "container" },
  { name: "containers.stop", weight: 10, kind: "container" },
  { name: "containers.restart", weight: 14, kind: "container" },
  { name: "containers.remove", weight: 3, kind: "container" },
  { name: "containers.create", weight: 3, kind: "container" },
  { name: "containers.exec", weight: 6, kind: "container" },
  { name: "containers.rename", weight: 0.5, kind: "container" },
  { name: "images.pull", weight: 5, kind: "image" },
  { name: "images.remove", weight: 1, kind: "image" },
  { name: "hosts.create", weight: 0.2, kind: "hostCreate" },
  { name: "hosts.createJoinToken", weight: 0.3, kind: "host" },
  { name: "hosts.revoke", weight: 0.05, kind: "host" },
  { name: "hosts.remove", weight: 0.05, kind: "host" },
  { name: "hosts.share", weight: 0.2, kind: "hostTeam" },
  { name: "hosts.unshare", weight: 0.05, kind: "hostTeam" },
  { name: "host.join", weight: 0.3, kind: "agent" },
  { name: "agent.authenticate", weight: 2, kind: "agent" },
  { name: "teams.create", weight: 0.05, kind: "teamCreate" },
  { name: "teams.remove", weight: 0.02, kind: "team" },
  { name: "teams.setMember", weight: 0.6, kind: "team" },
  { name: "teams.removeMember", weight: 0.2, kind: "team" },
  { name: "roles.create", weight: 0.03, kind: "role" },
  { name: "roles.update", weight: 0.05, kind: "role" },
  { name: "users.invite", weight: 0.2, kind: "user" },
  { name: "users.setGlobalAdmin", weight: 0.03, kind: "user" },
  { name: "users.remove", weight: 0.03, kind: "user" },
  { name: "users.createToken", weight: 0.3, kind: "self" },
  { name: "users.revokeToken", weight: 0.2, kind: "self" },
  { name: "users.revokeSession", weight: 0.3, kind: "self" },
  { name: "auth.signIn", weight: 15, kind: "auth" },
  { name: "auth.signOut", weight: 8, kind: "auth" },
  { name: "auth.changePassword", weight: 0.2, kind: "auth" },
  { name: "audit.export", weight: 0.2, kind: "audit" },
  { name: "audit.verify", weight: 0.05, kind: "audit" },
];
const FAILURES: Partial<Record<Kind, string[]>> = {
  container: ["No such container", "Container is not running", "Docker: conflict: unable to remove a running container", "The host's agent is offline", "Timed out after 30 s waiting for the agent"],
  image: ["pull access denied: repository does not exist or may require docker login", "manifest unknown", "Timed out after 30 s waiting for the agent"],
  auth: ["Invalid email or password"],
};
const DENIED_PERMISSION: Partial<Record<Kind, string>> = { container: "container.operate", image: "image.pull", host: "host.manage", hostTeam: "host.manage", team: "team.manage" };

type HashedFields = Parameters<typeof hashEvent>[0];

/** One plausible event for `seq`/`at` (everything but the chain links). */
function eventFactory(fleet: Fleet) {
  const action = weighted(ACTIONS, ACTIONS.map((a) => a.weight));
  const user = weighted(fleet.users, zipf(fleet.users.length, 0.8));
  const host = weighted(fleet.hosts, zipf(fleet.hosts.length, 0.6));
  return (seq: bigint, at: Date): Omit<HashedFields, "prevHash"> => {
    const a = action();
    const u = user();
    const roll = rand();
    const outcome = roll < 0.9 ? "SUCCESS" : roll < 0.97 ? "FAILURE" : "DENIED";
    const viaToken = a.kind !== "auth" && rand() < 0.08;
    let actorType = viaToken ? "API_TOKEN" : "USER";
    let actorId: string | null = u.id;
    let actorLabel = viaToken ? `${u.email} (token ${u.tokenId})` : u.email;
    let teamId: string | null = null;
    let hostId: string | null = null;
    let target: string | null = null;
    let params: Record<string, unknown> = {};
    let userAgent: string | null = viaToken ? "berth-cli/0.4.2 node/20.19.0" : u.userAgent;
    let ip: string | null = u.ips[seq % 7n === 0n ? 1 : 0]!;
    let requestId: string | null = `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
    switch (a.kind) {
      case "container": {
        const h = host();
        const c = pick(h.containers);
        hostId = h.id;
        target = `containerId:${c.id}`;
        params = { hostId: h.id, containerId: c.id, name: c.name };
        break;
      }
      case "image": {
        const h = host();
        hostId = h.id;
        target = `hostId:${h.id}`;
        params = { hostId: h.id, reference: pick(IMAGES) };
        break;
      }
      case "host": {
        const h = host();
        hostId = h.id;
        target = `hostId:${h.id}`;
        params = { hostId: h.id, ttlMinutes: 60 };
        break;
      }
      case "hostCreate": {
        const h = pick(fleet.hosts);
        target = `name:${h.name}`;
        params = { name: h.name, ttlMinutes: 60 };
        break;
      }
      case "hostTeam": {
        const h = pick(fleet.hosts);
        hostId = h.id;
        teamId = pick(fleet.teams).id;
        target = `teamId:${teamId}`;
        params = { hostId, teamId };
        break;
      }
      case "agent": {
        const h = host();
        actorType = "AGENT";
        actorId = `agent_${h.id.slice(1, 13)}`;
        actorLabel = `agent ${actorId}`;
        hostId = h.id;
        params = { hostName: h.name, agentVersion: "0.1.0" };
        userAgent = "berth-agent/0.1.0";
        ip = `10.20.${randInt(0, 3)}.${randInt(2, 250)}`;
        requestId = hex(20);
        break;
      }
      case "team": {
        teamId = pick(fleet.teams).id;
        const member = pick(fleet.users);
        target = `userId:${member.id}`;
        params = { teamId, userId: member.id, roleId: pick(["role_viewer", "role_operator", "role_admin"]) };
        break;
      }
      case "teamCreate": {
        const name = `${pick(TEAM_NAMES)}-${randInt(2, 9)}`;
        target = `name:${name}`;
        params = { name };
        break;
      }
      case "role": {
        const name = pick(["Auditor", "Deployer", "On-call", "Read-only"]);
        target = `name:${name}`;
        params = { name, description: `${name} role`, permissions: ["host.view", "audit.view"] };
        break;
      }
      case "user": {
        const other = pick(fleet.users);
        target = `userId:${other.id}`;
        params = a.name === "users.invite" ? { name: other.email.split("@")[0], email: other.email, password: "[redacted]" } : { userId: other.id };
        break;
      }
      case "self": {
        target = `tokenId:${u.tokenId}`;
        params = { tokenId: u.tokenId };
        break;
      }
      case "auth": {
        if (outcome !== "SUCCESS" && a.name === "auth.signIn") {
          actorType = "ANONYMOUS";
          actorId = null;
          params = { email: u.email };
        }
        requestId = null;
        break;
      }
      case "audit": {
        params = a.name === "audit.export" ? { format: pick(["csv", "ndjson"]), filter: { outcome: "DENIED" } } : {};
        break;
      }
    }
    const error =
      outcome === "SUCCESS"
        ? null
        : outcome === "FAILURE"
          ? pick(FAILURES[a.kind] ?? ["Not found", "A team with this name already exists", "Something went wrong on the server"])
          : DENIED_PERMISSION[a.kind]
            ? `You need the "${a.name === "containers.exec" ? "container.exec" : DENIED_PERMISSION[a.kind]}" permission for this`
            : "Only an administrator can do this";
    return { seq, at, actorType, actorId, actorLabel, teamId, hostId, target, action: a.name, params, outcome, error, ip, userAgent, requestId };
  };
}

const COLUMNS = ["seq", "at", "actorType", "actorId", "actorLabel", "teamId", "hostId", "target", "action", "params", "outcome", "error", "ip", "userAgent", "requestId", "prevHash", "hash"] as const;
const COLUMN_TYPES = ["bigint", "timestamptz", `"AuditActorType"`, "text", "text", "text", "text", "text", "text", "jsonb", `"AuditOutcome"`, "text", "text", "text", "text", "text", "text"];
const SELECT_COLUMNS = COLUMNS.map((c) => `"${c}"`).join(", ");
const INSERT_SQL =
  `INSERT INTO audit_event (${SELECT_COLUMNS}) SELECT * FROM unnest(` +
  COLUMN_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(", ") +
  ")";

type SeedResult = {
  events: number;
  firstSeq: string;
  lastSeq: string;
  firstAt: string;
  lastAt: string;
  totalMs: number;
  buildMs: number;
  insertMs: number;
  dropIndexesMs: number;
  createIndexesMs: number;
  vacuumAnalyzeMs: number;
  indexes: string[];
};

/**
 * Seeds `count` events after the current end of the chain, holding the append
 * lock throughout (a session advisory lock on the key the app's appends take
 * per transaction). Secondary indexes are dropped first and rebuilt from their
 * own definitions afterwards (one sorted build each instead of a million GIN
 * and btree inserts). Node builds and hashes batches in seq order (the chain
 * is sequential) while two connections insert the previous ones, so Postgres'
 * per-row work (mostly the generated tsvector) runs on the other core.
 */
async function seedEvents(url: string, fleet: Fleet, count: number): Promise<SeedResult> {
  const connect = async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query("SET synchronous_commit = off");
    await client.query("SET maintenance_work_mem = '512MB'");
    return client;
  };
  const started = performance.now();
  const lock = await connect();
  const writers = [await connect(), await connect()];
  try {
    await lock.query("SELECT pg_advisory_lock($1)", [AUDIT_LOCK_KEY]);
    const last = (await lock.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1`)).rows[0];

    const dropStarted = performance.now();
    const indexes = (
      await lock.query<{ indexname: string; indexdef: string }>(
        `SELECT i.indexname, i.indexdef FROM pg_indexes i
         JOIN pg_class c ON c.relname = i.indexname JOIN pg_index x ON x.indexrelid = c.oid JOIN pg_am am ON am.oid = c.relam
         WHERE i.schemaname = current_schema() AND i.tablename = 'audit_event' AND NOT x.indisprimary
         ORDER BY am.amname = 'btree', i.indexname`,
      )
    ).rows;
    for (const index of indexes) await lock.query(`DROP INDEX "${index.indexname}"`);
    const dropIndexesMs = performance.now() - dropStarted;

    const makeEvent = eventFactory(fleet);
    const endAt = Date.now() - 60_000;
    const startAt = endAt - SPAN_DAYS * DAY_MS;
    const meanGapMs = ((endAt - startAt) / count) * 0.999;
    let atMs = startAt;
    let seq = BigInt(last?.seq ?? 0);
    let prevHash = last?.hash ?? GENESIS_HASH;
    const firstSeq = seq + 1n;
    const firstAt = new Date(atMs);
    let buildMs = 0;
    const inFlight: (Promise<unknown> | null)[] = writers.map(() => null);
    const insertStarted = performance.now();
    for (let done = 0, batch = 0; done < count; batch++) {
      const size = Math.min(BATCH, count - done);
      const buildStarted = performance.now();
      const columns = COLUMNS.map(() => new Array<unknown>(size));
      for (let i = 0; i < size; i++) {
        seq += 1n;
        // Exponential gaps: bursts and lulls, never backwards.
        atMs += Math.floor(-Math.log(1 - rand()) * meanGapMs);
        const fields: HashedFields = { ...makeEvent(seq, new Date(atMs)), prevHash };
        const hash = hashEvent(fields);
        columns[0]![i] = seq.toString();
        columns[1]![i] = fields.at.toISOString();
        columns[2]![i] = fields.actorType;
        columns[3]![i] = fields.actorId;
        columns[4]![i] = fields.actorLabel;
        columns[5]![i] = fields.teamId;
        columns[6]![i] = fields.hostId;
        columns[7]![i] = fields.target;
        columns[8]![i] = fields.action;
        columns[9]![i] = JSON.stringify(fields.params);
        columns[10]![i] = fields.outcome;
        columns[11]![i] = fields.error;
        columns[12]![i] = fields.ip;
        columns[13]![i] = fields.userAgent;
        columns[14]![i] = fields.requestId;
        columns[15]![i] = prevHash;
        columns[16]![i] = hash;
        prevHash = hash;
      }
      buildMs += performance.now() - buildStarted;
      const w = batch % writers.length;
      await inFlight[w];
      inFlight[w] = writers[w]!.query(INSERT_SQL, columns);
      done += size;
      if (done % (BATCH * 20) === 0) progress(`  ${done.toLocaleString("en-US")} events (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    }
    await Promise.all(inFlight);
    const insertMs = performance.now() - insertStarted;

    // Two builds at a time, the largest (GIN) first: the other connection gets through the btrees meanwhile.
    const indexStarted = performance.now();
    const queue = [...indexes];
    await Promise.all(
      writers.map(async (writer) => {
        for (let index = queue.shift(); index; index = queue.shift()) await writer.query(index.indexdef);
      }),
    );
    const createIndexesMs = performance.now() - indexStarted;
    await lock.query("SELECT pg_advisory_unlock($1)", [AUDIT_LOCK_KEY]);
    // A long-lived append-only table is vacuumed (visibility map, hint bits) and analyzed: measure that state.
    const vacuumAnalyzeMs = (await timed(() => lock.query("VACUUM (ANALYZE) audit_event"))).ms;
    return {
      events: count,
      firstSeq: firstSeq.toString(),
      lastSeq: seq.toString(),
      firstAt: firstAt.toISOString(),
      lastAt: new Date(atMs).toISOString(),
      totalMs: performance.now() - started,
      buildMs,
      insertMs,
      dropIndexesMs,
      createIndexesMs,
      vacuumAnalyzeMs,
      indexes: indexes.map((i) => i.indexname),
    };
  } finally {
    await Promise.all([lock, ...writers].map((c) => c.end()));
  }
}

// ------------------------------------------------------------------ review queries

type Query = { filter: TAuditFilter; before?: bigint; scope: AuditScope };
type Via = "service" | "trpc-admin" | "trpc-reviewer";
type Case = { name: string; via: Via; make: () => Query };
type CaseResult = {
  name: string;
  via: Via;
  berth: Summary;
  direct: Summary;
  naive: Summary;
  rows: { min: number; max: number; mean: number } | null;
  example: Query;
  error?: string;
};

/** Same as toSearchQuery in server/services/audit/query.ts: each typed word, quoted, a prefix. */
function searchQuery(q: string): string | null {
  const words = q
    .split(/\s+/)
    .filter((word) => /[\p{L}\p{N}]/u.test(word))
    .slice(0, 8);
  return words.length ? words.map((word) => `'${word.replace(/\\/g, "\\\\").replace(/'/g, "''")}':*`).join(" & ") : null;
}
const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
/** Same as WALK_ROWS, WALK_MAX_ROWS and RANDOM_READ_FACTOR in server/services/audit/query.ts (not exported). */
const WALK_ROWS = 5_000;
const WALK_MAX_ROWS = 100_000;
const RANDOM_READ_FACTOR = 10;

/** A condition with `$?` placeholders. */
type Cond = { text: string; values: unknown[] };
const cond = (text: string, ...values: unknown[]): Cond => ({ text, values });

/** Numbers the placeholders: each statement sends exactly its own values. */
function render(conds: Cond[]): { where: string; values: unknown[] } {
  const values: unknown[] = [];
  const parts = conds.map((c) => {
    let i = 0;
    return c.text.replace(/\$\?/g, () => `$${values.push(c.values[i++])}`);
  });
  return { where: parts.length ? parts.join(" AND ") : "TRUE", values };
}

function pageSql(conds: Cond[]): { text: string; values: unknown[] } {
  const { where, values } = render(conds);
  return { text: `SELECT ${SELECT_COLUMNS} FROM audit_event WHERE ${where} ORDER BY seq DESC LIMIT ${LIMIT + 1}`, values };
}

async function pageSeqs(client: pg.Client, conds: Cond[]): Promise<string[]> {
  const { text, values } = pageSql(conds);
  return (await client.query<{ seq: string }>(text, values)).rows.map((r) => r.seq);
}

/**
 * The naive path: the one statement a person writes first for the page, every
 * filter a plain predicate left to the planner (what the service sent before
 * bench/audit.ts, apart from the search text, which it resolved to at most
 * 100,000 seqs first).
 */
async function naiveRows(client: pg.Client, query: Query): Promise<string[]> {
  const f = query.filter;
  const conds: Cond[] = [];
  if (f.from) conds.push(cond("at >= $?", f.from));
  if (f.to) conds.push(cond("at < $?", f.to));
  if (f.actor) conds.push(cond(`("actorId" = $? OR "actorLabel" ILIKE $?)`, f.actor, likePrefix(f.actor)));
  if (f.teamId) conds.push(cond(`"teamId" = $?`, f.teamId));
  if (f.hostId) conds.push(cond(`"hostId" = $?`, f.hostId));
  if (f.action) conds.push(cond("action LIKE $?", likePrefix(f.action)));
  if (f.outcome) conds.push(cond("outcome = $?", f.outcome));
  const tsquery = f.q ? searchQuery(f.q) : null;
  if (tsquery) conds.push(cond("search @@ to_tsquery('simple', $?)", tsquery));
  if (query.scope) conds.push(cond(`("teamId" = ANY($?::text[]) OR "hostId" = ANY($?::text[]))`, query.scope.teamIds, query.scope.hostIds));
  if (query.before) conds.push(cond("seq < $?", query.before.toString()));
  return (await pageSeqs(client, conds)).slice(0, LIMIT);
}

/**
 * The direct path (the floor): the plan Berth's service runs, written by hand
 * over plain pg: a time range becomes a seq range (two probes of the `at`
 * index), the actor prefix goes through lower(), and filters without a
 * (key, seq) index walk the newest rows in bounded steps before the indexes
 * collect the sparse rest (see selectEvents in server/services/audit/query.ts).
 */
async function directRows(client: pg.Client, query: Query): Promise<string[]> {
  const f = query.filter;
  const take = LIMIT + 1;
  const conds: Cond[] = [];
  let below: bigint | null = null;
  let lowest = 1n;
  if (query.scope) conds.push(cond(`("teamId" = ANY($?::text[]) OR "hostId" = ANY($?::text[]))`, query.scope.teamIds, query.scope.hostIds));
  if (f.from) {
    const first = (await client.query<{ seq: string }>(`SELECT seq FROM audit_event WHERE at >= $1 ORDER BY at, seq LIMIT 1`, [f.from])).rows[0];
    if (!first) return [];
    conds.push(cond("seq >= $?", first.seq), cond("at >= $?", f.from));
    lowest = BigInt(first.seq);
  }
  if (f.to) {
    const last = (await client.query<{ seq: string }>(`SELECT seq FROM audit_event WHERE at < $1 ORDER BY at DESC, seq DESC LIMIT 1`, [f.to])).rows[0];
    if (!last) return [];
    conds.push(cond("seq <= $?", last.seq), cond("at < $?", f.to));
    below = BigInt(last.seq) + 1n;
  }
  if (f.actor) conds.push(cond(`("actorId" = $? OR lower("actorLabel") LIKE $?)`, f.actor, likePrefix(f.actor.toLowerCase())));
  if (f.teamId) conds.push(cond(`"teamId" = $?`, f.teamId));
  if (f.hostId) conds.push(cond(`"hostId" = $?`, f.hostId));
  if (f.action) conds.push(cond("action LIKE $?", likePrefix(f.action)));
  if (f.outcome) conds.push(cond("outcome = $?", f.outcome));
  if (query.before !== undefined && (below === null || query.before < below)) below = query.before;
  const tsquery = f.q ? searchQuery(f.q) : null;
  const rowByRow = tsquery ? [cond("ts_match_vq(search, to_tsquery('simple', $?))", tsquery)] : [];
  const indexed = tsquery ? [cond("search @@ to_tsquery('simple', $?)", tsquery)] : [];
  const unordered = !(f.hostId || f.teamId || f.outcome) && Boolean(tsquery || query.scope || f.action || f.actor);
  if (!unordered) return (await pageSeqs(client, [...conds, ...(below === null ? [] : [cond("seq < $?", below.toString())]), ...indexed])).slice(0, LIMIT);

  const top = below ?? BigInt((await client.query<{ top: string }>(`SELECT max(seq) + 1 AS top FROM audit_event`)).rows[0]!.top);
  const seqs: string[] = [];
  let upper = top;
  let step = BigInt(Math.max(WALK_ROWS, 20 * take));
  for (;;) {
    const floor = upper - step;
    seqs.push(...(await pageSeqs(client, [...conds, cond("seq < $?", upper.toString()), cond("seq >= $?", floor.toString()), ...rowByRow])).slice(0, take - seqs.length));
    upper = floor;
    if (seqs.length >= take || upper <= lowest) return seqs.slice(0, LIMIT);
    const walked = Number(top - upper);
    const density = seqs.length / walked;
    const rowsToFill = (take - seqs.length) / density;
    const matchesLeft = density * Number(upper - lowest);
    if (walked + rowsToFill > WALK_MAX_ROWS || rowsToFill > RANDOM_READ_FACTOR * matchesLeft) break;
    step = BigInt(Math.ceil(Math.min(Math.max(2 * rowsToFill, 1_000), WALK_MAX_ROWS - walked)));
  }
  const { where, values } = render([...conds, cond("seq < $?", upper.toString()), ...indexed]);
  const sparse =
    `WITH matches AS MATERIALIZED (SELECT seq FROM audit_event WHERE ${where}) ` +
    `SELECT ${SELECT_COLUMNS} FROM audit_event WHERE seq IN (SELECT seq FROM matches ORDER BY seq DESC LIMIT ${take - seqs.length}) ORDER BY seq DESC`;
  seqs.push(...(await client.query<{ seq: string }>(sparse, values)).rows.map((r) => r.seq));
  return seqs.slice(0, LIMIT);
}

function describeQuery(query: Query): Record<string, unknown> {
  return { filter: query.filter, before: query.before?.toString(), scope: query.scope ? { teams: query.scope.teamIds.length, hosts: query.scope.hostIds.length } : null };
}

type Path = "berth" | "direct" | "naive";
const PATHS: Path[] = ["berth", "direct", "naive"];

async function measureCases(opts: {
  t: TestServer;
  direct: pg.Client;
  cases: Case[];
  callers: Record<Exclude<Via, "service">, Awaited<ReturnType<typeof callerFor>>>;
}): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of opts.cases) {
    const samples: Record<Path, number[]> = { berth: [], direct: [], naive: [] };
    const rows: number[] = [];
    const example = c.make();
    const caseStarted = performance.now();
    let error: string | undefined;
    try {
      for (let run = -WARMUP; run < RUNS; run++) {
        const query = run === -WARMUP ? example : c.make();
        const paths: Record<Path, () => Promise<string[]>> = {
          berth: async () => {
            if (c.via === "service") return (await listAuditEvents({ db: opts.t.server.db, ...query, limit: LIMIT })).events.map((e) => e.seq.toString());
            // tRPC resolves the caller's scope itself (auditScopeFor), as for a real request.
            const page = await opts.callers[c.via].audit.list({ filter: query.filter, before: query.before, limit: LIMIT });
            return page.events.map((e) => e.seq.toString());
          },
          direct: () => directRows(opts.direct, query),
          naive: () => naiveRows(opts.direct, query),
        };
        // Rotate the order, so no path always finds the cache another one warmed.
        const timings = {} as Record<Path, { ms: number; value: string[] }>;
        for (let k = 0; k < PATHS.length; k++) {
          const path = PATHS[(run + WARMUP + k) % PATHS.length]!;
          timings[path] = await timed(paths[path]);
        }
        for (const path of ["direct", "naive"] as const) {
          if (timings.berth.value.join(",") !== timings[path].value.join(",")) {
            throw new Error(
              `Berth and the ${path} SQL returned different rows for ${JSON.stringify(describeQuery(query))}: ` +
                `berth ${timings.berth.value.slice(0, 3).join(",")}... (${timings.berth.value.length}), ${path} ${timings[path].value.slice(0, 3).join(",")}... (${timings[path].value.length})`,
            );
          }
        }
        if (run < 0) continue;
        for (const path of PATHS) samples[path].push(timings[path].ms);
        rows.push(timings.berth.value.length);
        if (run >= 9 && performance.now() - caseStarted > CASE_SECONDS * 1000) break;
      }
    } catch (caught) {
      // A broken case is reported in the table (and fails the run at the end); the others still run.
      error = (caught instanceof Error ? caught.message : String(caught)).trim().split("\n").filter(Boolean).pop()!.slice(0, 300);
    }
    const result: CaseResult = {
      name: c.name,
      via: c.via,
      berth: summarize(samples.berth),
      direct: summarize(samples.direct),
      naive: summarize(samples.naive),
      rows: rows.length ? { min: Math.min(...rows), max: Math.max(...rows), mean: rows.reduce((sum, r) => sum + r, 0) / rows.length } : null,
      example,
      error,
    };
    results.push(result);
    progress(
      error
        ? `  ${c.name}: FAILED after ${rows.length} runs: ${error}`
        : `  ${c.name}: p50 ${fmtMs(result.berth.median)} / direct ${fmtMs(result.direct.median)} / naive ${fmtMs(result.naive.median)}, ` +
            `p95 ${fmtMs(result.berth.p95)} / ${fmtMs(result.direct.p95)} / ${fmtMs(result.naive.p95)} (n ${result.berth.n})`,
    );
  }
  return results;
}

// ------------------------------------------------------------------ export

type ExportResult = {
  filter: TAuditFilter;
  rows: number;
  bytes: number;
  ms: number;
  rowsPerSec: number;
  rssBaselineBytes: number;
  rssPeakBytes: number;
  rssEndBytes: number;
  heapPeakBytes: number;
  rssTrace: { rows: number; rssBytes: number }[];
  /** Second pass: heap still in use after a full GC at each fifth of the rows (flat = nothing accumulates). */
  retained: { rows: number; heapUsedBytes: number; rssBytes: number }[];
  direct: { rows: number; bytes: number; ms: number; rowsPerSec: number };
};

/** A full GC on demand (for the retained-heap samples only): V8's gc, exposed at run time. */
function exposeGc(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

/** Streams the export over real HTTP, counting lines as they arrive (nothing is kept); `onRows` sees progress. */
async function streamExport(t: TestServer, admin: TestUser, filter: TAuditFilter, onRows: (rows: number) => void) {
  const url = `${t.url}/api/audit/export?format=ndjson&filter=${encodeURIComponent(JSON.stringify(filter))}`;
  const response = await fetch(url, { headers: { cookie: admin.cookie } });
  if (!response.ok || !response.body) throw new Error(`export failed: ${response.status} ${await response.text()}`);
  let rows = 0;
  let bytes = 0;
  let firstLine = "";
  const decoder = new TextDecoder();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    if (!firstLine) firstLine = decoder.decode(chunk.subarray(0, Math.max(0, chunk.indexOf(10))));
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
    onRows(rows);
  }
  return { rows, bytes, first: JSON.parse(firstLine) as { at: string; seq: string } };
}

/**
 * The export runs in this process (startTestServer is in-process), so this
 * process's memory is the server's (plus the fetch reading it, which keeps nothing).
 */
async function measureExport(t: TestServer, admin: TestUser, direct: pg.Client, filter: TAuditFilter, expectedRows: number): Promise<ExportResult> {
  const rssBaselineBytes = process.memoryUsage().rss;
  let rssPeakBytes = rssBaselineBytes;
  let heapPeakBytes = process.memoryUsage().heapUsed;
  let rows = 0;
  const rssTrace: { rows: number; rssBytes: number }[] = [];
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    rssPeakBytes = Math.max(rssPeakBytes, m.rss);
    heapPeakBytes = Math.max(heapPeakBytes, m.heapUsed);
    rssTrace.push({ rows, rssBytes: m.rss });
  }, 50);
  const started = performance.now();
  let streamed: Awaited<ReturnType<typeof streamExport>>;
  try {
    streamed = await streamExport(t, admin, filter, (n) => (rows = n));
  } finally {
    clearInterval(sampler);
  }
  const ms = performance.now() - started;
  if (streamed.rows !== expectedRows) throw new Error(`export streamed ${streamed.rows} rows, expected ${expectedRows}`);
  if (filter.to && new Date(streamed.first.at) >= filter.to) throw new Error(`export row ${streamed.first.seq} is outside the filter`);

  // Second pass, not timed: a full GC at every fifth of the rows, to tell garbage from growth.
  const gc = exposeGc();
  const retained: ExportResult["retained"] = [];
  const sample = (n: number) => {
    gc();
    const m = process.memoryUsage();
    retained.push({ rows: n, heapUsedBytes: m.heapUsed, rssBytes: m.rss });
  };
  sample(0);
  let next = 1;
  await streamExport(t, admin, filter, (n) => {
    if (n >= (next * expectedRows) / 5 && next < 5) {
      sample(n);
      next++;
    }
  });
  sample(expectedRows);

  // Floor: the same rows through plain pg, keyset pages of 1000 over the same seq range, one JSON line each.
  const directStarted = performance.now();
  const bound = async (sql: string, at: Date | undefined) => (at ? ((await direct.query<{ seq: string }>(sql, [at])).rows[0]?.seq ?? null) : null);
  const lo = (await bound(`SELECT seq FROM audit_event WHERE at >= $1 ORDER BY at, seq LIMIT 1`, filter.from)) ?? "0";
  const hi = await bound(`SELECT seq FROM audit_event WHERE at < $1 ORDER BY at DESC, seq DESC LIMIT 1`, filter.to);
  let directRows = 0;
  let directBytes = 0;
  let before = hi === null ? null : (BigInt(hi) + 1n).toString();
  for (;;) {
    const page: pg.QueryResult<Record<string, unknown>> = await direct.query(
      `SELECT ${SELECT_COLUMNS} FROM audit_event WHERE seq >= $1 AND at >= $2 AND at < $3${before ? " AND seq < $4" : ""} ORDER BY seq DESC LIMIT 1000`,
      before ? [lo, filter.from, filter.to, before] : [lo, filter.from, filter.to],
    );
    for (const row of page.rows) directBytes += JSON.stringify(row).length + 1;
    directRows += page.rows.length;
    if (page.rows.length < 1000) break;
    before = page.rows[page.rows.length - 1]!.seq as string;
  }
  const directMs = performance.now() - directStarted;
  if (directRows !== expectedRows) throw new Error(`direct export read ${directRows} rows, expected ${expectedRows}`);
  return {
    filter,
    rows: streamed.rows,
    bytes: streamed.bytes,
    ms,
    rowsPerSec: streamed.rows / (ms / 1000),
    rssBaselineBytes,
    rssPeakBytes,
    rssEndBytes: rssTrace[rssTrace.length - 1]?.rssBytes ?? Number.NaN,
    heapPeakBytes,
    rssTrace: rssTrace.filter((_, i) => i % 10 === 0),
    retained,
    direct: { rows: directRows, bytes: directBytes, ms: directMs, rowsPerSec: directRows / (directMs / 1000) },
  };
}

// ------------------------------------------------------------------ verify

/** Floor for verify: the same walk (5000-row keyset batches, hashEvent per row) through plain pg. */
async function directVerify(direct: pg.Client): Promise<{ checked: number; ok: boolean }> {
  let after = "0";
  let expectedPrev: string | null = null;
  let checked = 0;
  let ok = true;
  for (;;) {
    const batch = await direct.query<Record<string, unknown> & { seq: string; at: Date; prevHash: string; hash: string }>(
      `SELECT ${SELECT_COLUMNS} FROM audit_event WHERE seq > $1 ORDER BY seq ASC LIMIT 5000`,
      [after],
    );
    if (batch.rows.length === 0) break;
    for (const row of batch.rows) {
      if (expectedPrev !== null && row.prevHash !== expectedPrev) ok = false;
      if (hashEvent({ ...(row as unknown as HashedFields), seq: BigInt(row.seq) }) !== row.hash) ok = false;
      expectedPrev = row.hash;
      checked++;
    }
    after = batch.rows[batch.rows.length - 1]!.seq;
  }
  return { checked, ok };
}

// ------------------------------------------------------------------ report

async function main() {
  const loadBefore = os.loadavg();
  progress("starting a Berth server on a fresh Postgres database");
  const t = await startTestServer({ name: "bench_audit" });
  cleanups.push({ what: "server and database", run: () => stopServer(t) });
  const direct = new pg.Client({ connectionString: t.database.url });
  await direct.connect();
  cleanups.push({ what: "direct pg client", run: () => direct.end() });
  const existing = await t.server.db.auditEvent.count();

  const fleet = await createFleet(t.server.db);
  progress(`fleet: ${fleet.teams.length} teams, ${fleet.hosts.length} hosts, ${fleet.users.length} actors; seeding ${N.toLocaleString("en-US")} events after ${existing} existing`);
  const seed = await seedEvents(t.database.url, fleet, N);
  progress(
    `seeded in ${(seed.totalMs / 1000).toFixed(1)} s: build+hash ${(seed.buildMs / 1000).toFixed(1)} s (overlapped), insert ${(seed.insertMs / 1000).toFixed(1)} s, ` +
      `rebuild ${seed.indexes.length} indexes ${(seed.createIndexesMs / 1000).toFixed(1)} s, VACUUM ANALYZE ${(seed.vacuumAnalyzeMs / 1000).toFixed(1)} s`,
  );
  const sizes = (
    await direct.query<{ table: string; indexes: string }>(
      `SELECT pg_size_pretty(pg_table_size('audit_event')) AS table, pg_size_pretty(pg_indexes_size('audit_event')) AS indexes`,
    )
  ).rows[0]!;

  // People come after the seed, so their sign-in events continue the chain at "now".
  const admin = await createSignedInUser(t.server, { role: "admin", email: "bench-admin@example.test" });
  const reviewer = await createSignedInUser(t.server, { email: "bench-reviewer@example.test" });
  const reviewerTeams = [fleet.teams[1]!, fleet.teams[4]!, fleet.teams[9]!];
  await t.server.db.teamMember.createMany({ data: reviewerTeams.map((team) => ({ teamId: team.id, userId: reviewer.id, roleId: "role_admin" })) });
  const reviewerSession = await t.server.auth.api.getSession({ headers: new Headers({ cookie: reviewer.cookie }) });
  const reviewerScope = await auditScopeFor(t.server.db, principalFromSession(reviewerSession!));
  if (!reviewerScope || reviewerScope.teamIds.length !== 3) throw new Error(`unexpected reviewer scope ${JSON.stringify(reviewerScope)}`);
  const callers = { "trpc-admin": await callerFor(t.server, admin), "trpc-reviewer": await callerFor(t.server, reviewer) };

  const firstSeq = Number(seed.firstSeq);
  const lastSeq = Number(seed.lastSeq);
  const startAt = new Date(seed.firstAt).getTime();
  const middleSeq = () => BigInt(randInt(firstSeq + Math.floor(N / 4), firstSeq + Math.floor((3 * N) / 4)));
  const anySeq = () => BigInt(randInt(firstSeq + LIMIT, lastSeq));
  const day = () => new Date(startAt + randInt(0, SPAN_DAYS - 1) * DAY_MS);
  const words = ["containers", "timeout", "permission", "nginx", "redis", "offline", ...FIRST.slice(0, 10)];
  const prefixes = ["containers.", "containers.stop", "containers.exec", "images.", "hosts.", "hosts.revoke", "teams.", "teams.setMember", "auth.signIn", "users.", "agent.", "audit."];
  const S = null;
  const cases: Case[] = [
    { name: "first page, no filter", via: "service", make: () => ({ filter: {}, scope: S }) },
    { name: "deep page (before = a middle seq)", via: "service", make: () => ({ filter: {}, before: middleSeq(), scope: S }) },
    {
      name: "actor (id, or email prefix)",
      via: "service",
      make: () => {
        const u = pick(fleet.users);
        return { filter: { actor: rand() < 0.5 ? u.id : u.email.slice(0, randInt(5, u.email.indexOf("@"))) }, scope: S };
      },
    },
    { name: "host", via: "service", make: () => ({ filter: { hostId: pick(fleet.hosts).id }, scope: S }) },
    { name: "team", via: "service", make: () => ({ filter: { teamId: pick(fleet.teams).id }, scope: S }) },
    { name: "action prefix", via: "service", make: () => ({ filter: { action: pick(prefixes) }, scope: S }) },
    { name: "outcome DENIED (first or deep page)", via: "service", make: () => ({ filter: { outcome: "DENIED" }, before: rand() < 0.5 ? undefined : anySeq(), scope: S }) },
    {
      name: "time range, one day",
      via: "service",
      make: () => {
        const from = day();
        return { filter: { from, to: new Date(from.getTime() + DAY_MS) }, scope: S };
      },
    },
    { name: "q: a word", via: "service", make: () => ({ filter: { q: pick(words) }, scope: S }) },
    { name: "q: a container name", via: "service", make: () => ({ filter: { q: pick(pick(fleet.hosts).containers).name }, scope: S }) },
    {
      name: "host + outcome + 7 days",
      via: "service",
      make: () => {
        const from = new Date(startAt + randInt(0, SPAN_DAYS - 7) * DAY_MS);
        return { filter: { hostId: pick(fleet.hosts).id, outcome: rand() < 0.5 ? "FAILURE" : "DENIED", from, to: new Date(from.getTime() + 7 * DAY_MS) }, scope: S };
      },
    },
    { name: "reviewer scope (3 teams), first/deep page", via: "service", make: () => ({ filter: {}, before: rand() < 0.5 ? undefined : anySeq(), scope: reviewerScope }) },
    { name: "reviewer scope + action prefix", via: "service", make: () => ({ filter: { action: pick(prefixes) }, scope: reviewerScope }) },
    { name: "tRPC admin: first page", via: "trpc-admin", make: () => ({ filter: {}, scope: S }) },
    { name: "tRPC admin: q word", via: "trpc-admin", make: () => ({ filter: { q: pick(words) }, scope: S }) },
    { name: "tRPC reviewer: first/deep page", via: "trpc-reviewer", make: () => ({ filter: {}, before: rand() < 0.5 ? undefined : anySeq(), scope: reviewerScope }) },
  ];
  progress(`review queries: ${cases.length} cases x ${RUNS} runs (+${WARMUP} warm-up), Berth, direct and naive in rotating order`);
  const results = await measureCases({ t, direct, cases, callers });

  const exportFrom = new Date(startAt + Math.floor((SPAN_DAYS - EXPORT_DAYS) / 2) * DAY_MS);
  const exportFilter: TAuditFilter = { from: exportFrom, to: new Date(exportFrom.getTime() + EXPORT_DAYS * DAY_MS) };
  const exportCount = Number(
    (await direct.query<{ n: string }>(`SELECT count(*) AS n FROM audit_event WHERE at >= $1 AND at < $2`, [exportFilter.from, exportFilter.to])).rows[0]!.n,
  );
  progress(`export: NDJSON of ${EXPORT_DAYS} days (${exportCount.toLocaleString("en-US")} rows) through /api/audit/export`);
  const exported = await measureExport(t, admin, direct, exportFilter, exportCount);

  const total = await t.server.db.auditEvent.count();
  progress(`verify: verifyAuditChain over ${total.toLocaleString("en-US")} events, then the same walk through plain pg`);
  const verify = await timed(() => verifyAuditChain(t.server.db));
  if (!verify.value.ok || verify.value.checked !== total) throw new Error(`verifyAuditChain: ${JSON.stringify(verify.value)}`);
  const verifyDirect = await timed(() => directVerify(direct));
  if (!verifyDirect.value.ok || verifyDirect.value.checked !== total) throw new Error(`direct verify disagrees: ${JSON.stringify(verifyDirect.value)}`);

  // ---------------------------------------------------------------- print
  const loadAfter = os.loadavg();
  console.log(
    `\nAudit trail: ${total.toLocaleString("en-US")} events (table ${sizes.table}, indexes ${sizes.indexes}); ` +
      `Postgres ${(await direct.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v}, node ${process.version}, ${os.cpus().length} cores`,
  );
  console.log(`load average (1 min) ${loadBefore[0]!.toFixed(2)} at start, ${loadAfter[0]!.toFixed(2)} at end (${os.cpus().length} cores)`);
  console.log(
    `seed: ${N.toLocaleString("en-US")} events in ${(seed.totalMs / 1000).toFixed(1)} s (${Math.round(N / (seed.totalMs / 1000)).toLocaleString("en-US")} events/s): ` +
      `build+hash ${(seed.buildMs / 1000).toFixed(1)} s overlapped with insert ${(seed.insertMs / 1000).toFixed(1)} s, ` +
      `index rebuild ${(seed.createIndexesMs / 1000).toFixed(1)} s, VACUUM ANALYZE ${(seed.vacuumAnalyzeMs / 1000).toFixed(1)} s`,
  );
  console.log(
    `\nReview queries, limit ${LIMIT}: Berth (listAuditEvents, or audit.list through callerFor) against the same plan by hand through plain pg ` +
      `(direct, the floor; ratio = Berth / direct) and the one-statement SQL left to the planner (naive). Every run checks all three return the same rows.\n`,
  );
  console.log(
    table(
      ["query", "p50", "p95", "direct p50", "direct p95", "ratio p50", "ratio p95", "naive p50", "naive p95", "n", "rows", "note"],
      results.map((r) => [
        r.name,
        fmtMs(r.berth.median),
        fmtMs(r.berth.p95),
        fmtMs(r.direct.median),
        fmtMs(r.direct.p95),
        fmtRatio(r.berth.median / r.direct.median),
        fmtRatio(r.berth.p95 / r.direct.p95),
        fmtMs(r.naive.median),
        fmtMs(r.naive.p95),
        String(r.berth.n),
        !r.rows ? "-" : r.rows.min === r.rows.max ? String(r.rows.min) : `${r.rows.min}-${r.rows.max}`,
        r.error ? `FAILED: ${r.error.slice(0, 80)}` : "",
      ]),
    ),
  );
  const svcFirst = results.find((r) => r.name === "first page, no filter")!;
  const trpcFirst = results.find((r) => r.name === "tRPC admin: first page")!;
  console.log(`\ntRPC overhead (callerFor, no HTTP): first page ${fmtMs(trpcFirst.berth.median)} vs service ${fmtMs(svcFirst.berth.median)} (${fmtRatio(trpcFirst.berth.median / svcFirst.berth.median)})`);

  const e = exported;
  console.log(`\nThroughput\n`);
  console.log(
    table(
      ["what", "rows", "time", "rows/s", "direct rows/s", "ratio", "note"],
      [
        [
          "export: GET /api/audit/export ndjson",
          e.rows.toLocaleString("en-US"),
          fmtMs(e.ms),
          Math.round(e.rowsPerSec).toLocaleString("en-US"),
          Math.round(e.direct.rowsPerSec).toLocaleString("en-US"),
          fmtRatio(e.direct.rowsPerSec / e.rowsPerSec),
          `${fmtMb(e.bytes)}; ${EXPORT_DAYS}-day window; direct = pg pages of 1000 + JSON.stringify`,
        ],
        [
          "verify: verifyAuditChain",
          verify.value.checked.toLocaleString("en-US"),
          fmtMs(verify.ms),
          Math.round(verify.value.checked / (verify.ms / 1000)).toLocaleString("en-US"),
          Math.round(verifyDirect.value.checked / (verifyDirect.ms / 1000)).toLocaleString("en-US"),
          fmtRatio(verify.ms / verifyDirect.ms),
          "direct = pg batches of 5000 + hashEvent",
        ],
      ],
    ),
  );
  console.log(
    `\nexport memory (this process serves the export and reads it): RSS ${fmtMb(e.rssBaselineBytes)} before, peak ${fmtMb(e.rssPeakBytes)} ` +
      `(+${fmtMb(e.rssPeakBytes - e.rssBaselineBytes)}, uncollected garbage), ${fmtMb(e.rssEndBytes)} at the end; heap peak ${fmtMb(e.heapPeakBytes)}`,
  );
  console.log(
    `heap in use after a full GC, second pass, at 0/20/40/60/80/100 % of the rows: ${e.retained.map((r) => fmtMb(r.heapUsedBytes)).join(", ")} ` +
      `(spread ${fmtMb(Math.max(...e.retained.map((r) => r.heapUsedBytes)) - Math.min(...e.retained.map((r) => r.heapUsedBytes)))})`,
  );

  const file = await writeResults("audit", {
    benchmark: "audit",
    finishedAt: new Date().toISOString(),
    config: { events: N, runs: RUNS, warmup: WARMUP, batch: BATCH, limit: LIMIT, exportDays: EXPORT_DAYS, caseSeconds: CASE_SECONDS, teams: TEAMS, hosts: HOSTS, actors: USERS, actions: ACTIONS.length, spanDays: SPAN_DAYS },
    environment: { node: process.version, cores: os.cpus().length, loadavg1mStart: loadBefore[0], loadavg1mEnd: loadAfter[0], tableSize: sizes.table, indexesSize: sizes.indexes },
    seed: { ...seed, eventsPerSec: N / (seed.totalMs / 1000) },
    queries: results.map((r) => ({
      name: r.name,
      via: r.via,
      example: describeQuery(r.example),
      rows: r.rows,
      berthMs: r.berth,
      directMs: r.direct,
      naiveMs: r.naive,
      ratioP50: r.berth.median / r.direct.median,
      ratioP95: r.berth.p95 / r.direct.p95,
      error: r.error ?? null,
    })),
    export: { ...exported, ratioDirectOverBerth: exported.direct.rowsPerSec / exported.rowsPerSec },
    verify: {
      events: verify.value.checked,
      ms: verify.ms,
      eventsPerSec: verify.value.checked / (verify.ms / 1000),
      directMs: verifyDirect.ms,
      directEventsPerSec: verifyDirect.value.checked / (verifyDirect.ms / 1000),
      ratio: verify.ms / verifyDirect.ms,
    },
  });
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
  const failures = results.filter((r) => r.error);
  if (failures.length) throw new Error(`${failures.length} review queries failed: ${failures.map((r) => r.name).join(", ")}`);
}

const started = performance.now();
let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`bench/audit failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanup();
  progress(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
process.exit(failed ? 1 : 0);
