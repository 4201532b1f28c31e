/**
 * Reviewing the audit trail: filters, free-text search and keyset pages,
 * newest first, planned so that a million events stay fast (bench/audit.ts).
 */
import { z } from "zod";
import { Prisma, type Db } from "../../db/client.ts";
import { AppError } from "../../errors.ts";

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
  hostName: true,
  target: true,
  targetName: true,
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
