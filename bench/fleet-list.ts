/**
 * Fleet container list benchmark: `containers.fleet` over 20,000 containers
 * on simulated hosts, against the same query hand-written over plain `pg`.
 *
 *   node --import tsx bench/fleet-list.ts [--hosts 40] [--per-host 500] [--runs 40]
 *
 * On the real Postgres it starts a Berth server on a fresh migrated database
 * (dropped at the end, even on failure), puts 40 hosts × 500 containers in
 * Postgres directly (8 teams of 5 hosts), then VACUUM ANALYZE. It measures,
 * p50/p95 over RUNS calls after a warm-up, in the same run:
 *   - the first page (50 rows) and a deep page (a keyset cursor ~10,000 rows
 *     in for the admin, ~2,500 for the member), each with a filter
 *     (state running; and a name part "web" with a label key=value);
 *   - through the service (`listFleetContainers`: visibility lookup, SQL,
 *     first-page count), as a global admin and as a member of 2 teams (10 of
 *     the 40 hosts);
 *   - vs one hand-written statement over `pg` giving the same rows (visibility
 *     joined in; the count beside it on the first page).
 * Both paths must return the same rows on every case. Goal: service p95 < 100 ms.
 * Results: printed, and written to bench/results/fleet-list-<timestamp>.json.
 */
import pg from "pg";
import type { Principal } from "../server/services/access.ts";
import { FLEET_COUNT_CAP, listFleetContainers, type TFleetQuery } from "../server/services/fleet-containers.ts";
import { createSignedInUser, startTestServer, type TestServer } from "../test/infra/berth.ts";
import { fmtMs, fmtRatio, intArg, summarize, table, timed, writeResults, type Summary } from "./lib/stats.ts";

const HOSTS = intArg("hosts", 40);
const PER_HOST = intArg("per-host", 500);
const RUNS = intArg("runs", 40);
const WARMUP = 5;
const LIMIT = 50;
const TEAMS = 8;

function progress(message: string) {
  console.log(`[bench:fleet-list] ${message}`);
}

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
const rand = mulberry32(20261126);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const hex = (chars: number) => {
  let out = "";
  while (out.length < chars) out += Math.floor(rand() * 2 ** 32).toString(16).padStart(8, "0");
  return out.slice(0, chars);
};

const SERVICES = ["nginx", "web-frontend", "payments-api", "auth-service", "billing-worker", "redis", "postgres", "grafana", "prometheus", "webhook-relay", "loki", "traefik", "rabbitmq", "search-indexer", "mailer", "scheduler", "minio", "kafka", "api-gateway", "backup"];
const IMAGES = ["nginx:1.27", "redis:7.4", "postgres:16", "grafana/grafana:11.2.0", "registry.acme.io/payments-api:2.14.1", "registry.acme.io/web-frontend:5.3.0", "traefik:3.1", "rabbitmq:3.13-management"];
const STATES = ["running", "running", "running", "running", "exited", "exited", "paused", "created", "restarting", "dead"];

type Setup = { hostIds: string[]; memberHostIds: string[]; adminId: string; memberId: string };

async function seed(t: TestServer, client: pg.Client): Promise<Setup> {
  const db = t.server.db;
  const teams = await Promise.all(Array.from({ length: TEAMS }, (_, i) => db.team.create({ data: { name: `team-${i}` }, select: { id: true } })));
  const hostIds: string[] = [];
  for (let h = 0; h < HOSTS; h++) {
    const host = await db.host.create({ data: { name: `node-${String(h).padStart(3, "0")}`, status: "ONLINE", teams: { create: { teamId: teams[h % TEAMS]!.id } } }, select: { id: true } });
    hostIds.push(host.id);
  }
  const admin = await createSignedInUser(t.server, { role: "admin" });
  const member = await createSignedInUser(t.server, { role: "user" });
  for (const team of teams.slice(0, 2)) await db.teamMember.create({ data: { teamId: team.id, userId: member.id, roleId: "role_viewer" } });
  const memberHostIds = hostIds.filter((_, h) => h % TEAMS < 2);

  const base = Date.UTC(2026, 0, 1);
  for (const hostId of hostIds) {
    const rows = Array.from({ length: PER_HOST }, (_, i) => {
      const service = pick(SERVICES);
      const published = rand() < 0.3;
      return {
        hostId,
        dockerId: hex(64),
        name: `${service}-${i}`,
        image: pick(IMAGES),
        state: pick(STATES),
        health: pick([null, null, "healthy", "unhealthy", "starting"]),
        createdAt: new Date(base + Math.floor(rand() * 90 * 86_400_000)),
        ports: JSON.stringify(published ? [{ ip: "0.0.0.0", privatePort: 80, publicPort: 8000 + i, type: "tcp" }] : [{ privatePort: 80, type: "tcp" }]),
        labels: JSON.stringify({ "com.docker.compose.project": pick(["shop", "blog", "ops", "data"]), tier: pick(["front", "back", "batch"]) }),
      };
    });
    await client.query(
      `INSERT INTO container ("hostId", "dockerId", name, image, "imageId", command, state, health, "createdAt", ports, labels)
       SELECT h, d, n, i, 'sha256:bench', '', s, he, c, p::jsonb, l::jsonb
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamp[], $8::text[], $9::text[]) AS x(h, d, n, i, s, he, c, p, l)`,
      [
        rows.map((r) => r.hostId),
        rows.map((r) => r.dockerId),
        rows.map((r) => r.name),
        rows.map((r) => r.image),
        rows.map((r) => r.state),
        rows.map((r) => r.health),
        rows.map((r) => r.createdAt.toISOString().replace("Z", "")),
        rows.map((r) => r.ports),
        rows.map((r) => r.labels),
      ],
    );
  }
  await client.query("VACUUM ANALYZE container");
  return { hostIds, memberHostIds, adminId: admin.id, memberId: member.id };
}

function principal(userId: string, admin: boolean): Principal {
  return { kind: "user", userId, email: `${userId}@bench`, name: "bench", isGlobalAdmin: admin, sessionId: "bench", tokenId: null, tokenPermissions: null };
}

type Case = { label: string; who: "admin" | "member"; filter: TFleetQuery["filter"]; deep: boolean };

/**
 * The hand-written equivalent of the service's query (name order, byte
 * collation, visibility joined in). `after` is the last row of the previous
 * page: the same keyset the service's cursor carries.
 */
function handQuery(c: Case, userId: string, after: { name: string; hostId: string; dockerId: string } | null) {
  const params: unknown[] = [];
  const where: string[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (c.who === "member") {
    where.push(`c."hostId" IN (SELECT ht."hostId" FROM host_team ht JOIN team_member tm ON tm."teamId" = ht."teamId" JOIN role r ON r.id = tm."roleId"
                 WHERE tm."userId" = ${p(userId)} AND 'host.view' = ANY(r.permissions))`);
  }
  if (c.filter.states) where.push(`c.state = ANY(${p(c.filter.states)}::text[])`);
  if (c.filter.name) where.push(`c.name ILIKE ${p(`%${c.filter.name}%`)}`);
  if (c.filter.label) {
    const [key, value] = c.filter.label.split("=");
    where.push(`c.labels @> ${p(JSON.stringify({ [key!]: value }))}::jsonb`);
  }
  const filtered = where.length ? where.join(" AND ") : "TRUE";
  const keyset = after ? `(c.name COLLATE "C", c."hostId" COLLATE "C", c."dockerId" COLLATE "C") > (${p(after.name)}, ${p(after.hostId)}, ${p(after.dockerId)})` : "TRUE";
  const rows = `SELECT c."hostId", h.name AS "hostName", c."dockerId", c.name, c.image, c.state, c.health, c."exitCode", c."oomKilled", c."restartCount",
                       c."startedAt", c."finishedAt", c."createdAt", c.ports
                FROM container c JOIN host h ON h.id = c."hostId"
                WHERE ${filtered} AND ${keyset}
                ORDER BY c.name COLLATE "C", c."hostId" COLLATE "C", c."dockerId" COLLATE "C"
                LIMIT ${LIMIT + 1}`;
  const count = after ? null : `SELECT count(*) FROM (SELECT 1 FROM container c WHERE ${filtered} LIMIT ${FLEET_COUNT_CAP + 1}) capped`;
  return { rows, count, params };
}

async function main() {
  const t = await startTestServer({ name: "benchfleet" });
  const client = new pg.Client({ connectionString: t.database.url });
  await client.connect();
  try {
    progress(`seeding ${HOSTS} hosts × ${PER_HOST} containers`);
    const setup = await seed(t, client);
    const db = t.server.db;
    const total = Number((await client.query("SELECT count(*) AS n FROM container")).rows[0].n);
    progress(`${total} containers; member sees ${setup.memberHostIds.length} hosts`);

    const cases: Case[] = [];
    for (const who of ["admin", "member"] as const) {
      const filters: Array<[string, TFleetQuery["filter"]]> = [
        ["state=running", { states: ["running"] }],
        ["name~web + label", { name: "web", label: "tier=front" }],
      ];
      for (const [label, filter] of filters) {
        cases.push({ label: `${label}, first page`, who, filter, deep: false });
        cases.push({ label: `${label}, deep page`, who, filter, deep: true });
      }
    }

    const results: Array<Record<string, unknown>> = [];
    const rowsOut: string[][] = [];
    for (const c of cases) {
      const userId = c.who === "admin" ? setup.adminId : setup.memberId;
      const who = principal(userId, c.who === "admin");
      // A deep cursor: walk the service's pages (untimed) to ~half of what this caller and filter match.
      let cursor: string | null = null;
      let after: { name: string; hostId: string; dockerId: string } | null = null;
      if (c.deep) {
        const list = (next: string | null) => listFleetContainers({ db, principal: who, query: { filter: c.filter, sort: "name", dir: "asc", limit: LIMIT, cursor: next } });
        let page = await list(null);
        const matching = Number((await client.query(`SELECT count(*) FROM (${handQuery(c, userId, null).rows.replace(/LIMIT \d+$/, "")}) everything`, handQuery(c, userId, null).params)).rows[0].count);
        const target = Math.floor(matching / 2);
        let walked = page.containers.length;
        while (walked < target && page.nextCursor) {
          page = await list(page.nextCursor);
          walked += page.containers.length;
        }
        // The next page starts right after the last row walked: the service's cursor and pg's keyset both name it.
        const last = page.containers.at(-1)!;
        cursor = page.nextCursor;
        after = { name: last.name, hostId: last.hostId, dockerId: last.dockerId };
        c.label += ` (after row ${walked})`;
      }
      const query: TFleetQuery = { filter: c.filter, sort: "name", dir: "asc", limit: LIMIT, cursor };
      const hand = handQuery(c, userId, after);
      const viaService = () => listFleetContainers({ db, principal: who, query });
      const viaPg = async () => {
        const [rows, count] = await Promise.all([client.query(hand.rows, hand.params), hand.count ? client.query(hand.count, hand.params) : null]);
        return { rows: rows.rows.slice(0, LIMIT) as Array<{ dockerId: string }>, total: count ? Math.min(Number(count.rows[0].count), FLEET_COUNT_CAP) : null };
      };

      // Same rows both ways, or the comparison means nothing.
      const [a, b] = [await viaService(), await viaPg()];
      const same = a.containers.map((r) => r.dockerId).join() === b.rows.map((r) => r.dockerId).join() && a.total === b.total;
      if (!same || a.containers.length === 0) throw new Error(`${c.who} ${c.label}: the service and pg disagree (or the page is empty)`);

      const measure = async (work: () => Promise<unknown>): Promise<Summary> => {
        for (let i = 0; i < WARMUP; i++) await work();
        const samples: number[] = [];
        for (let i = 0; i < RUNS; i++) samples.push((await timed(work)).ms);
        return summarize(samples);
      };
      const service = await measure(viaService);
      const direct = await measure(viaPg);
      results.push({ case: c.label, who: c.who, service, pg: direct, ratioP50: service.median / direct.median, ratioP95: service.p95 / direct.p95 });
      rowsOut.push([
        `${c.who}: ${c.label}`,
        fmtMs(service.median),
        fmtMs(service.p95),
        fmtMs(direct.median),
        fmtMs(direct.p95),
        fmtRatio(service.median / direct.median),
        fmtRatio(service.p95 / direct.p95),
        service.p95 < 100 ? "yes" : "NO",
      ]);
    }

    console.log(`\nFleet container list, ${total} containers on ${HOSTS} hosts, pages of ${LIMIT}, ${RUNS} runs each (member: ${setup.memberHostIds.length} hosts)\n`);
    console.log(table(["case", "service p50", "service p95", "pg p50", "pg p95", "ratio p50", "ratio p95", "p95<100ms"], rowsOut));
    const file = await writeResults("fleet-list", { hosts: HOSTS, perHost: PER_HOST, runs: RUNS, limit: LIMIT, results });
    console.log(`\nresults: ${file}`);
  } finally {
    await client.end().catch(() => undefined);
    await t.stop();
  }
}

await main();
