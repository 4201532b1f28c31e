/** Verifying the audit chain: recomputes every hash and names the first event that does not match. */
import type { Db } from "../../db/client.ts";
import { GENESIS_HASH, hashEvent } from "./append.ts";
import { auditEventSelect } from "./query.ts";

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
