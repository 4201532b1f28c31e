/**
 * The audit trail: append-only, hash-chained, searchable.
 *
 * Appends are serialised by a transaction-scoped advisory lock, so `seq` is
 * gapless and each row's `prevHash` is exactly the previous row's `hash`, even
 * with several server replicas on one Postgres. The hash covers every field a
 * reviewer sees; `verify` recomputes the chain and names the first row that
 * does not match.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Db, Prisma } from "../db/client.ts";
import type { AuditActorType, AuditOutcome } from "../db/generated/enums.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";

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

/** Replaces the value of any key that looks like a secret, at any depth. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8) return "[truncated]";
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redactSecrets(v, depth + 1));
  if (value && typeof value === "object") {
    if (value instanceof Date) return value.toISOString();
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? REDACTED : redactSecrets(v, depth + 1);
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string" && value.length > 2000) return value.slice(0, 2000) + "…";
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
export async function appendAuditEventTx(tx: Tx, input: AuditInput): Promise<{ seq: bigint; hash: string }> {
  await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`);
  const last = await tx.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true, hash: true } });
  const fields: HashedFields = {
    seq: (last?.seq ?? 0n) + 1n,
    at: new Date(),
    actorType: input.actor.type,
    actorId: input.actor.id,
    actorLabel: input.actor.label.slice(0, 300),
    teamId: input.teamId ?? null,
    hostId: input.hostId ?? null,
    target: input.target?.slice(0, 300) ?? null,
    action: input.action,
    params: JSON.parse(JSON.stringify(redactSecrets(input.params ?? {}))),
    outcome: input.outcome,
    error: input.error?.slice(0, 4000) ?? null,
    ip: input.request?.ip?.slice(0, 100) ?? null,
    userAgent: input.request?.userAgent?.slice(0, 500) ?? null,
    requestId: input.request?.requestId?.slice(0, 100) ?? null,
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

/** Words → a prefix tsquery: "stop web" finds "containers.stop" on "web-1". */
function toPrefixQuery(q: string): string | null {
  const words = q
    .toLowerCase()
    .split(/[^\p{L}\p{N}_]+/u)
    .filter(Boolean)
    .slice(0, 8);
  return words.length ? words.map((w) => `${w}:*`).join(" & ") : null;
}

async function whereFor(db: Db, filter: TAuditFilter, scope: AuditScope): Promise<Prisma.AuditEventWhereInput> {
  const and: Prisma.AuditEventWhereInput[] = [];
  if (filter.from) and.push({ at: { gte: filter.from } });
  if (filter.to) and.push({ at: { lt: filter.to } });
  if (filter.actor) and.push({ OR: [{ actorId: filter.actor }, { actorLabel: { startsWith: filter.actor, mode: "insensitive" } }] });
  if (filter.teamId) and.push({ teamId: filter.teamId });
  if (filter.hostId) and.push({ hostId: filter.hostId });
  if (filter.action) and.push({ action: { startsWith: filter.action } });
  if (filter.outcome) and.push({ outcome: filter.outcome });
  if (scope) {
    and.push({
      OR: [
        ...(scope.teamIds.length ? [{ teamId: { in: scope.teamIds } }] : []),
        ...(scope.hostIds.length ? [{ hostId: { in: scope.hostIds } }] : []),
        { seq: -1n }, // matches nothing: a reviewer with no teams sees no events
      ],
    });
  }
  if (filter.q) {
    const query = toPrefixQuery(filter.q);
    if (query) {
      // Prisma has no tsvector type: resolve matching seqs with the GIN index, bounded.
      const rows = await db.$queryRawUnsafe<Array<{ seq: bigint }>>(
        `SELECT seq FROM audit_event WHERE search @@ to_tsquery('simple', $1) ORDER BY seq DESC LIMIT 100000`,
        query,
      );
      and.push({ seq: { in: rows.map((r) => r.seq) } });
    }
  }
  return and.length ? { AND: and } : {};
}

/** Keyset pagination, newest first: pass the last seen `seq` as `before`. */
export async function listAuditEvents(opts: {
  db: Db;
  filter: TAuditFilter;
  scope: AuditScope;
  before?: bigint;
  limit: number;
}): Promise<{ events: AuditEventRow[]; nextBefore: bigint | null }> {
  const where = await whereFor(opts.db, opts.filter, opts.scope);
  const events = await opts.db.auditEvent.findMany({
    where: opts.before ? { AND: [where, { seq: { lt: opts.before } }] } : where,
    orderBy: { seq: "desc" },
    take: opts.limit + 1,
    select: auditEventSelect,
  });
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
  const where = await whereFor(db, {}, scope);
  const event = await db.auditEvent.findFirst({ where: { AND: [where, { seq }] }, select: auditEventSelect });
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
