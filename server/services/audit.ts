/**
 * The audit trail: append-only, hash-chained, searchable.
 *
 * Appends are serialised by a transaction-scoped advisory lock, so `seq` is
 * gapless and each row's `prevHash` is exactly the previous row's `hash`, even
 * with several server replicas on one Postgres. `at` never goes backwards
 * along the chain (replica clocks may disagree), which makes a time range a
 * seq range. The hash covers every field a reviewer sees; `verify` recomputes
 * the chain and names the first row that does not match.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { Prisma, type Db } from "../db/client.ts";
import type { AuditActorType, AuditOutcome } from "../db/generated/enums.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { storableText } from "../text.ts";

export const GENESIS_HASH = "0".repeat(64);
const AUDIT_LOCK_KEY = 724_101;
const REDACTED = "[redacted]";
const SECRET_KEY = /pass(word)?|secret|token|code|key|authorization|cookie/i;

export type AuditActor = { type: AuditActorType; id: string | null; label: string };
export type AuditRequestMeta = { ip: string | null; userAgent: string | null; requestId: string | null };

export type AuditInput = {
  actor: AuditActor;
  action: string;
  outcome: AuditOutcome;
  teamId?: string | null;
  hostId?: string | null;
  target?: string | null;
  params?: unknown;
  error?: string | null;
  request?: AuditRequestMeta | null;
};

type Tx = Prisma.TransactionClient;

/**
 * Replaces the value of any key that looks like a secret, at any depth. Text
 * comes out storable (no NUL, no half of an emoji cut at 2000 characters) and
 * an invalid Date as null: an attempt's record must never fail on its input.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8) return "[truncated]";
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redactSecrets(v, depth + 1));
  if (value && typeof value === "object") {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      Object.defineProperty(out, storableText(key), { value: SECRET_KEY.test(key) ? REDACTED : redactSecrets(v, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return storableText(value.length > 2000 ? value.slice(0, 2000) + "…" : value);
  return value ?? null;
}

/** JSON with sorted keys: the same content always hashes the same, whatever jsonb did to key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

type HashedFields = {
  seq: bigint;
  at: Date;
  actorType: string;
  actorId: string | null;
  actorLabel: string;
  teamId: string | null;
  hostId: string | null;
  target: string | null;
  action: string;
  params: unknown;
  outcome: string;
  error: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  prevHash: string;
};

export function hashEvent(e: HashedFields): string {
  const content = canonicalJson({
    seq: e.seq.toString(),
    at: e.at.toISOString(),
    actorType: e.actorType,
    actorId: e.actorId,
    actorLabel: e.actorLabel,
    teamId: e.teamId,
    hostId: e.hostId,
    target: e.target,
    action: e.action,
    params: e.params,
    outcome: e.outcome,
    error: e.error,
    ip: e.ip,
    userAgent: e.userAgent,
    requestId: e.requestId,
  });
  return createHash("sha256").update(e.prevHash).update("\n").update(content).digest("hex");
}

/** Appends one event inside `tx` (the caller's transaction, so it commits or rolls back with the action). */
function nullableText(text: string | null | undefined, max: number): string | null {
  return text == null ? null : storableText(text.slice(0, max));
}

export async function appendAuditEventTx(tx: Tx, input: AuditInput): Promise<{ seq: bigint; hash: string }> {
  await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`);
  const last = await tx.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true, hash: true, at: true } });
  const now = new Date();
  const fields: HashedFields = {
    seq: (last?.seq ?? 0n) + 1n,
    // Never earlier than the previous event (another replica's clock may be ahead): review
    // queries turn time ranges into seq ranges, and retention deletes a seq prefix by time.
    at: last && last.at > now ? last.at : now,
    actorType: input.actor.type,
    actorId: nullableText(input.actor.id, 200),
    actorLabel: storableText(input.actor.label.slice(0, 300)),
    teamId: nullableText(input.teamId, 200),
    hostId: nullableText(input.hostId, 200),
    target: nullableText(input.target, 300),
    action: input.action,
    params: JSON.parse(JSON.stringify(redactSecrets(input.params ?? {}))),
    outcome: input.outcome,
    error: nullableText(input.error, 4000),
    ip: nullableText(input.request?.ip, 100),
    userAgent: nullableText(input.request?.userAgent, 500),
    requestId: nullableText(input.request?.requestId, 100),
    prevHash: last?.hash ?? GENESIS_HASH,
  };
  const hash = hashEvent(fields);
  await tx.auditEvent.create({
    data: {
      ...fields,
      actorType: input.actor.type,
      outcome: input.outcome,
      params: fields.params as Prisma.InputJsonValue,
      hash,
    },
    select: { seq: true },
  });
  return { seq: fields.seq, hash };
}

export async function appendAuditEvent(opts: { db: Db; bus?: EventBus; event: AuditInput }) {
  const result = await opts.db.$transaction((tx) => appendAuditEventTx(tx, opts.event));
  opts.bus?.publish({ type: "audit.appended", seq: result.seq.toString() });
  return result;
}

/**
 * Proves, before an action with outside effects (a Docker call) runs, that its
 * audit record can be written: the same insert path, rolled back. If this
 * fails the action is refused, so no action happens without its record.
 */
export async function assertAuditWritable(db: Db): Promise<void> {
  const rollback = new Error("audit probe rollback");
  try {
    await db.$transaction(async (tx) => {
      await appendAuditEventTx(tx, {
        actor: { type: "SYSTEM", id: null, label: "audit-probe" },
        action: "audit.probe",
        outcome: "SUCCESS",
      });
      throw rollback;
    });
  } catch (error) {
    if (error === rollback) return;
    throw new AppError("INTERNAL", "The audit trail cannot be written right now, so this action was refused.", { cause: error });
  }
}

// ------------------------------------------------------------------ review

export const ZAuditFilter = z.object({
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  actor: z.string().trim().max(200).optional(),
  teamId: z.string().max(64).optional(),
  hostId: z.string().max(64).optional(),
  action: z.string().trim().max(100).optional(),
  outcome: z.enum(["SUCCESS", "FAILURE", "DENIED"]).optional(),
  q: z.string().trim().max(200).optional(),
});
export type TAuditFilter = z.infer<typeof ZAuditFilter>;

/** Which events a reviewer may see: null = all (global admin), else events of these teams/hosts. */
export type AuditScope = { teamIds: string[]; hostIds: string[] } | null;

export const auditEventSelect = {
  seq: true,
  at: true,
  actorType: true,
  actorId: true,
  actorLabel: true,
  teamId: true,
  hostId: true,
  target: true,
  action: true,
  params: true,
  outcome: true,
  error: true,
  ip: true,
  userAgent: true,
  requestId: true,
  prevHash: true,
  hash: true,
} satisfies Prisma.AuditEventSelect;

export type AuditEventRow = Prisma.AuditEventGetPayload<{ select: typeof auditEventSelect }>;

/**
 * The search text as a tsquery: every typed word must start the event's
 * lexemes, with each word handed to Postgres' parser whole (quoted), so it is
 * split exactly as the indexed text was. Splitting on punctuation here did
 * not match that: "grafana-2" is indexed as 'grafana' then '-2', and
 * 'grafana':* & '2':* found grafana events with any word starting with 2 (a
 * container id), while now 'grafana':* <-> '-2':* finds grafana-2. "contain"
 * still finds containers.stop, "10.0.3" an address in 10.0.3.x.
 */
function toSearchQuery(q: string): string | null {
  const words = q
    .split(/\s+/)
    .filter((word) => /[\p{L}\p{N}]/u.test(word))
    .slice(0, 8);
  return words.length ? words.map((word) => `'${word.replace(/\\/g, "\\\\").replace(/'/g, "''")}':*`).join(" & ") : null;
}

/** A LIKE pattern matching values that start with `prefix` literally. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const AUDIT_COLUMNS = Prisma.raw(
  Object.keys(auditEventSelect)
    .map((column) => `"${column}"`)
    .join(", "),
);

type ReviewQuery = {
  /** Conditions on audit_event, ANDed; the free-text match is kept apart (see selectEvents). */
  conditions: Prisma.Sql[];
  tsquery: string | null;
  /** The seq range the time filter allows: below is exclusive, lowest inclusive. */
  below: bigint | null;
  lowest: bigint;
  /** No condition has an index that yields seq order (host, team and outcome do): see selectEvents. */
  unordered: boolean;
};

/**
 * A time range as a seq range: `at` never decreases along the chain (see
 * appendAuditEventTx), so two probes of the `at` index bound it. Filtering
 * `at` while walking seq newest-first instead reads every newer event first:
 * one day, six weeks back, was a half-million-row scan.
 */
async function seqRangeFor(db: Db, from: Date | undefined, to: Date | undefined): Promise<{ min: bigint | null; max: bigint | null } | null> {
  const [first, last] = await Promise.all([
    from ? db.$queryRaw<Array<{ seq: bigint }>>`SELECT seq FROM audit_event WHERE at >= ${from} ORDER BY at, seq LIMIT 1` : null,
    to ? db.$queryRaw<Array<{ seq: bigint }>>`SELECT seq FROM audit_event WHERE at < ${to} ORDER BY at DESC, seq DESC LIMIT 1` : null,
  ]);
  if ((first && !first[0]) || (last && !last[0])) return null;
  return { min: first?.[0]?.seq ?? null, max: last?.[0]?.seq ?? null };
}

/** The SQL for a filter and a scope; null when nothing can match. Prisma cannot express tsvector matches. */
async function reviewQueryFor(db: Db, filter: TAuditFilter, scope: AuditScope): Promise<ReviewQuery | null> {
  const and: Prisma.Sql[] = [];
  let below: bigint | null = null;
  let lowest = 1n;
  if (scope) {
    // A reviewer with no teams sees no events.
    if (!scope.teamIds.length && !scope.hostIds.length) return null;
    and.push(Prisma.sql`("teamId" = ANY(${scope.teamIds}::text[]) OR "hostId" = ANY(${scope.hostIds}::text[]))`);
  }
  if (filter.from || filter.to) {
    const range = await seqRangeFor(db, filter.from, filter.to);
    if (!range) return null;
    if (range.min !== null) {
      and.push(Prisma.sql`seq >= ${range.min}`);
      lowest = range.min;
    }
    if (range.max !== null) {
      and.push(Prisma.sql`seq <= ${range.max}`);
      below = range.max + 1n;
    }
    // Redundant given the seq range; kept so the result is right even if a row broke the order.
    if (filter.from) and.push(Prisma.sql`at >= ${filter.from}`);
    if (filter.to) and.push(Prisma.sql`at < ${filter.to}`);
  }
  if (filter.actor) {
    // lower() LIKE, not ILIKE: it uses the prefix index on lower("actorLabel").
    and.push(Prisma.sql`("actorId" = ${filter.actor} OR lower("actorLabel") LIKE ${likePrefix(filter.actor.toLowerCase())})`);
  }
  if (filter.teamId) and.push(Prisma.sql`"teamId" = ${filter.teamId}`);
  if (filter.hostId) and.push(Prisma.sql`"hostId" = ${filter.hostId}`);
  if (filter.action) and.push(Prisma.sql`action LIKE ${likePrefix(filter.action)}`);
  if (filter.outcome) and.push(Prisma.sql`outcome = ${filter.outcome}::"AuditOutcome"`);
  const tsquery = filter.q ? toSearchQuery(filter.q) : null;
  const ordered = Boolean(filter.hostId || filter.teamId || filter.outcome);
  const unordered = !ordered && Boolean(tsquery || scope || filter.action || filter.actor);
  return { conditions: and, tsquery, below, lowest, unordered };
}

function selectPage(db: Db, conditions: Prisma.Sql[], take: number): Promise<AuditEventRow[]> {
  const where = conditions.length ? Prisma.join(conditions, " AND ") : Prisma.sql`TRUE`;
  return db.$queryRaw<AuditEventRow[]>`SELECT ${AUDIT_COLUMNS} FROM audit_event WHERE ${where} ORDER BY seq DESC LIMIT ${take}`;
}

/** The newest `take` of sparse matches: the planner picks the indexes for all of them, then they are sorted. */
function selectSparse(db: Db, conditions: Prisma.Sql[], take: number): Promise<AuditEventRow[]> {
  return db.$queryRaw<AuditEventRow[]>`
    WITH matches AS MATERIALIZED (SELECT seq FROM audit_event WHERE ${Prisma.join(conditions, " AND ")})
    SELECT ${AUDIT_COLUMNS} FROM audit_event WHERE seq IN (SELECT seq FROM matches ORDER BY seq DESC LIMIT ${take})
    ORDER BY seq DESC`;
}

/** Newest rows read per walking step, at least (a page of 50 needs a 2 % match rate to fill in one). */
const WALK_ROWS = 5_000;
/** Rows walked at most before the indexes take over. */
const WALK_MAX_ROWS = 100_000;
/** How much dearer a match fetched through an index (a random heap read) is than a row walked in seq order. */
const RANDOM_READ_FACTOR = 10;

/**
 * Up to `take` matching events below `before`, newest first.
 *
 * With a host, team or outcome, an index on (key, seq) hands rows over in
 * order and Postgres plans well. The other conditions (scope, action prefix,
 * actor, free text) have no such index, and Postgres' choice between walking
 * seq newest-first and filtering (fast when matches are dense) or collecting
 * every match through the indexes and sorting (fast when they are few) rests
 * on row estimates that are wrong exactly when conditions correlate: "users."
 * inside a team's scope matches nothing, but was estimated at 1,500 rows and
 * walked the whole table; the words of a container name, which occur
 * together, were estimated at 600 matches for 11,000, all fetched and sorted.
 *
 * So the walk is bounded and the density it sees decides: walk WALK_ROWS
 * newest rows; while the page should fill sooner than fetching the remaining
 * matches by index would take, walk on; then let the indexes collect the rest.
 * Each step is exact over its seq slice, so the result never depends on the
 * guess. Free text is matched row by row while walking (ts_match_vq: @@ in a
 * form the planner cannot give to the GIN index) and through the index after.
 */
async function selectEvents(db: Db, query: ReviewQuery, before: bigint | undefined, take: number): Promise<AuditEventRow[]> {
  const below = before !== undefined && (query.below === null || before < query.below) ? before : query.below;
  const rowByRow = query.tsquery ? [Prisma.sql`ts_match_vq(search, to_tsquery('simple', ${query.tsquery}))`] : [];
  const indexed = query.tsquery ? [Prisma.sql`search @@ to_tsquery('simple', ${query.tsquery})`] : [];
  if (!query.unordered) {
    return selectPage(db, [...query.conditions, ...(below === null ? [] : [Prisma.sql`seq < ${below}`]), ...indexed], take);
  }

  const top = below ?? (await db.$queryRaw<Array<{ top: bigint | null }>>`SELECT max(seq) + 1 AS top FROM audit_event`)[0]?.top ?? null;
  if (top === null) return [];
  const rows: AuditEventRow[] = [];
  let upper = top;
  let step = BigInt(Math.max(WALK_ROWS, 20 * take));
  for (;;) {
    const floor = upper - step;
    rows.push(...(await selectPage(db, [...query.conditions, Prisma.sql`seq < ${upper}`, Prisma.sql`seq >= ${floor}`, ...rowByRow], take - rows.length)));
    upper = floor;
    if (rows.length >= take || upper <= query.lowest) return rows;
    const walked = Number(top - upper);
    const density = rows.length / walked;
    const rowsToFill = (take - rows.length) / density; // Infinity when nothing matched yet
    const matchesLeft = density * Number(upper - query.lowest);
    if (walked + rowsToFill > WALK_MAX_ROWS || rowsToFill > RANDOM_READ_FACTOR * matchesLeft) break;
    step = BigInt(Math.ceil(Math.min(Math.max(2 * rowsToFill, 1_000), WALK_MAX_ROWS - walked)));
  }
  rows.push(...(await selectSparse(db, [...query.conditions, Prisma.sql`seq < ${upper}`, ...indexed], take - rows.length)));
  return rows;
}

/** Keyset pagination, newest first: pass the last seen `seq` as `before`. */
export async function listAuditEvents(opts: {
  db: Db;
  filter: TAuditFilter;
  scope: AuditScope;
  before?: bigint;
  limit: number;
}): Promise<{ events: AuditEventRow[]; nextBefore: bigint | null }> {
  const query = await reviewQueryFor(opts.db, opts.filter, opts.scope);
  const events = query ? await selectEvents(opts.db, query, opts.before, opts.limit + 1) : [];
  const more = events.length > opts.limit;
  const page = more ? events.slice(0, opts.limit) : events;
  return { events: page, nextBefore: more ? page[page.length - 1]!.seq : null };
}

/** Streams every matching event in batches (for exports): memory stays flat at any size. */
export async function* iterateAuditEvents(opts: { db: Db; filter: TAuditFilter; scope: AuditScope; batchSize?: number }) {
  let before: bigint | undefined;
  for (;;) {
    const page = await listAuditEvents({ ...opts, before, limit: opts.batchSize ?? 1000 });
    for (const event of page.events) yield event;
    if (page.nextBefore === null) return;
    before = page.nextBefore;
  }
}

export async function getAuditEvent(db: Db, seq: bigint, scope: AuditScope) {
  const query = await reviewQueryFor(db, {}, scope);
  const [event] = query ? await selectPage(db, [...query.conditions, Prisma.sql`seq = ${seq}`], 1) : [];
  if (!event) throw new AppError("NOT_FOUND", "Audit event not found");
  return event;
}

// ------------------------------------------------------------------ integrity

export type VerifyResult =
  | { ok: true; checked: number; firstSeq: string | null; lastSeq: string | null }
  | { ok: false; checked: number; brokenSeq: string; reason: string };

/**
 * Walks the whole chain in seq order. The first row's prevHash must be the
 * genesis hash, or — after retention pruned the oldest rows — the anchor the
 * retention event recorded.
 */
export async function verifyAuditChain(db: Db): Promise<VerifyResult> {
  let expectedPrev: string | null = null;
  let expectedSeq: bigint | null = null;
  let checked = 0;
  let firstSeq: bigint | null = null;
  let lastSeq: bigint | null = null;
  let lastAt: Date | null = null;
  let after = 0n;
  for (;;) {
    const batch = await db.auditEvent.findMany({ where: { seq: { gt: after } }, orderBy: { seq: "asc" }, take: 5000, select: auditEventSelect });
    if (batch.length === 0) break;
    for (const row of batch) {
      if (expectedPrev === null) {
        firstSeq = row.seq;
        expectedPrev = row.seq === 1n ? GENESIS_HASH : await retentionAnchor(db, row.seq);
        expectedSeq = row.seq;
        if (expectedPrev === null) return { ok: false, checked, brokenSeq: row.seq.toString(), reason: "Events before this one are missing and no retention action accounts for them" };
      }
      if (row.seq !== expectedSeq) {
        return { ok: false, checked, brokenSeq: (expectedSeq ?? row.seq).toString(), reason: `Event ${expectedSeq} is missing (next present is ${row.seq})` };
      }
      if (row.prevHash !== expectedPrev) {
        return { ok: false, checked, brokenSeq: row.seq.toString(), reason: "Its previous-hash does not match the event before it" };
      }
      if (hashEvent(row) !== row.hash) {
        return { ok: false, checked, brokenSeq: row.seq.toString(), reason: "Its content does not match its hash (edited)" };
      }
      // Review queries rely on this order (time ranges are searched as seq ranges).
      if (lastAt && row.at < lastAt) {
        return { ok: false, checked, brokenSeq: row.seq.toString(), reason: "Its time is earlier than the event before it" };
      }
      lastAt = row.at;
      expectedPrev = row.hash;
      expectedSeq = row.seq + 1n;
      lastSeq = row.seq;
      checked++;
    }
    after = batch[batch.length - 1]!.seq;
  }
  return { ok: true, checked, firstSeq: firstSeq?.toString() ?? null, lastSeq: lastSeq?.toString() ?? null };
}

async function retentionAnchor(db: Db, firstSeq: bigint): Promise<string | null> {
  const retention = await db.auditEvent.findFirst({
    where: { action: "audit.retention", outcome: "SUCCESS", params: { path: ["deletedThroughSeq"], equals: (firstSeq - 1n).toString() } },
    orderBy: { seq: "desc" },
    select: { params: true },
  });
  const anchor = (retention?.params as { anchorHash?: unknown } | null)?.anchorHash;
  return typeof anchor === "string" ? anchor : null;
}

/**
 * Retention: deletes events older than `before` (always a prefix of the
 * chain) and records that it did, with the hash of the last deleted event as
 * the new anchor, in the same transaction.
 */
export async function pruneAuditEvents(opts: { db: Db; bus?: EventBus; before: Date; actor: AuditActor; request: AuditRequestMeta | null }) {
  const result = await opts.db.$transaction(
    async (tx) => {
      await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`);
      // The newest event always stays, so the chain (and seq numbering) continues from it.
      const newest = await tx.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true } });
      const lastOld = await tx.auditEvent.findFirst({
        where: { at: { lt: opts.before }, seq: { lt: newest?.seq ?? 0n } },
        orderBy: { seq: "desc" },
        select: { seq: true, hash: true },
      });
      let deleted = 0;
      if (lastOld) {
        await tx.$executeRawUnsafe(`SET LOCAL berth.audit_retention = 'on'`);
        deleted = await tx.$executeRawUnsafe(`DELETE FROM audit_event WHERE seq <= $1`, lastOld.seq);
        await tx.$executeRawUnsafe(`SET LOCAL berth.audit_retention = 'off'`);
      }
      const event = await appendAuditEventTx(tx, {
        actor: opts.actor,
        action: "audit.retention",
        outcome: "SUCCESS",
        params: {
          before: opts.before.toISOString(),
          deleted,
          deletedThroughSeq: lastOld ? lastOld.seq.toString() : null,
          anchorHash: lastOld?.hash ?? null,
        },
        request: opts.request,
      });
      return { deleted, seq: event.seq };
    },
    { timeout: 120_000 },
  );
  opts.bus?.publish({ type: "audit.appended", seq: result.seq.toString() });
  return result;
}
