/**
 * Appending to the audit trail: append-only, hash-chained.
 *
 * Appends are serialised by a transaction-scoped advisory lock, so `seq` is
 * gapless and each row's `prevHash` is exactly the previous row's `hash`, even
 * with several server replicas on one Postgres. `at` never goes backwards
 * along the chain (replica clocks may disagree), which makes a time range a
 * seq range (see query.ts). The hash covers every field a reviewer sees;
 * verify.ts recomputes the chain and names the first row that does not match.
 */
import { createHash } from "node:crypto";
import { maskSecretsDeep } from "../../../agent/redaction.ts";
import { Prisma, type Db } from "../../db/client.ts";
import type { AuditActorType, AuditOutcome } from "../../db/generated/enums.ts";
import { AppError } from "../../errors.ts";
import type { EventBus } from "../../events/bus.ts";
import { storableText } from "../../text.ts";

export const GENESIS_HASH = "0".repeat(64);
/** Serialises appends (and retention) across every replica. */
export const AUDIT_LOCK_KEY = 724_101;

export type AuditActor = { type: AuditActorType; id: string | null; label: string };
export type AuditRequestMeta = { ip: string | null; userAgent: string | null; requestId: string | null };

export type AuditInput = {
  actor: AuditActor;
  action: string;
  outcome: AuditOutcome;
  teamId?: string | null;
  hostId?: string | null;
  /** The host's name beside its id: reviewers know hosts by name, and ids outlive renames and removals. */
  hostName?: string | null;
  target?: string | null;
  /** The target's name beside the id in `target` (e.g. a container's name). */
  targetName?: string | null;
  params?: unknown;
  error?: string | null;
  request?: AuditRequestMeta | null;
};

export type Tx = Prisma.TransactionClient;

/**
 * Appends queue behind one lock (and, embedded, one connection): under a burst
 * they wait their turn rather than fail after Prisma's default 2 s, which
 * refused actions for want of a record that would have been written a moment later.
 */
const AUDIT_TX_OPTIONS = { maxWait: 10_000, timeout: 15_000 };

/**
 * Parameters as recorded: values under secret-looking keys, environment
 * lists, secret command arguments and URL credentials masked at any depth,
 * by the same rules the agent applies to inspect data (agent/redaction.ts).
 */
export function redactSecrets(value: unknown): unknown {
  return storableJson(maskSecretsDeep(value));
}

/**
 * Every key and string made storable (no NUL, no half of an emoji cut at a
 * length limit): an attempt's record must never fail on its input.
 */
function storableJson(value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      Object.defineProperty(out, storableText(key), { value: storableJson(v), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

function nullableText(text: string | null | undefined, max: number): string | null {
  return text == null ? null : storableText(text.slice(0, max));
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

export type HashedFields = {
  seq: bigint;
  at: Date;
  actorType: string;
  actorId: string | null;
  actorLabel: string;
  teamId: string | null;
  hostId: string | null;
  hostName?: string | null;
  target: string | null;
  targetName?: string | null;
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
    // Hashed only when present, so events written before names existed keep their hashes.
    hostName: e.hostName ?? undefined,
    target: e.target,
    targetName: e.targetName ?? undefined,
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
    hostName: nullableText(input.hostName, 300),
    target: nullableText(input.target, 300),
    targetName: nullableText(input.targetName, 300),
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
  const result = await opts.db.$transaction((tx) => appendAuditEventTx(tx, opts.event), AUDIT_TX_OPTIONS);
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
    }, AUDIT_TX_OPTIONS);
  } catch (error) {
    if (error === rollback) return;
    throw new AppError("INTERNAL", "The audit trail cannot be written right now, so this action was refused.", { cause: error });
  }
}

/**
 * Errors a service already wrote into the trail before throwing them, so the
 * layer that catches them (the browser socket's dispatcher) does not record
 * the same refusal twice.
 */
const alreadyAudited = new WeakSet<object>();

export function markAudited<E>(error: E): E {
  if (typeof error === "object" && error !== null) alreadyAudited.add(error);
  return error;
}

export function wasAudited(error: unknown): boolean {
  return typeof error === "object" && error !== null && alreadyAudited.has(error);
}
