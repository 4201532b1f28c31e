/** Retention: the one way audit events leave the database, itself recorded. */
import type { Db } from "../../db/client.ts";
import type { EventBus } from "../../events/bus.ts";
import { AUDIT_LOCK_KEY, appendAuditEventTx, type AuditActor, type AuditRequestMeta } from "./append.ts";

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
        // Through the owner's function: the server's own role may not DELETE audit rows (see the migration).
        const [row] = await tx.$queryRawUnsafe<Array<{ deleted: bigint }>>(`SELECT berth_audit_prune($1::bigint) AS deleted`, lastOld.seq);
        deleted = Number(row?.deleted ?? 0);
        // Terminal recordings live exactly as long as the audit event that links to them.
        await tx.terminalSession.deleteMany({ where: { auditSeq: { lte: lastOld.seq } } });
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
