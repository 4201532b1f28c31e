/**
 * Checkpoints anchor the audit chain outside the database.
 *
 * The hash chain proves that nobody edited an event without re-hashing every
 * later one; a database superuser can do exactly that (triggers off, rewrite,
 * re-hash) and plain verification passes. A checkpoint is the server's
 * signature over {seq, headHash, at}, written where the database cannot
 * reach: an append-only file in the data dir, the log, and optionally a
 * webhook. `audit:verify --checkpoint FILE` then checks that the event at
 * each checkpoint's seq still has the hash that was signed.
 *
 * Signed with the server key derived from BERTH_SECRET (server/crypto/server-key.ts):
 * the same on every replica, never stored in Postgres.
 */
import { appendFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { signWithServerKey, verifyServerSignature, type ServerKey } from "../../crypto/server-key.ts";
import type { Db } from "../../db/client.ts";
import { createLogger } from "../../logger.ts";

const log = createLogger("audit-checkpoint");

export const CHECKPOINT_FILE = "audit-checkpoints.ndjson";

export const ZCheckpoint = z.object({
  v: z.literal(1),
  seq: z.string().regex(/^\d+$/),
  headHash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.string().datetime(),
  /** SHA256 fingerprint of the signing key (informational: verify with a key you trust, not this). */
  keyFingerprint: z.string(),
  signature: z.string().min(1),
});
export type TCheckpoint = z.infer<typeof ZCheckpoint>;

/** The exact bytes signed: a fixed label, then the fields, one a line. */
export function checkpointMessage(c: Pick<TCheckpoint, "seq" | "headHash" | "at">): string {
  return `berth-audit-checkpoint-v1\n${c.seq}\n${c.headHash}\n${c.at}`;
}

/** The current head, signed; null when the trail is empty. */
export async function signCheckpoint(db: Db, key: ServerKey): Promise<TCheckpoint | null> {
  const head = await db.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true, hash: true } });
  if (!head) return null;
  const fields = { seq: head.seq.toString(), headHash: head.hash, at: new Date().toISOString() };
  return { v: 1, ...fields, keyFingerprint: key.fingerprint, signature: signWithServerKey(key, checkpointMessage(fields)) };
}

export function checkpointSignatureValid(checkpoint: TCheckpoint, publicKey: ServerKey["publicKey"] | string): boolean {
  return verifyServerSignature(publicKey, checkpointMessage(checkpoint), checkpoint.signature);
}

export type CheckpointCheck =
  | { ok: true; checked: number; skipped: number }
  | { ok: false; seq: string; reason: string };

/**
 * Compares checkpoints with the database: each must be signed by `publicKey`,
 * and the event at its seq must carry the signed hash. A checkpoint older
 * than the oldest event left after retention cannot be compared and is
 * skipped (counted); one beyond the newest event means events were removed.
 */
export async function checkCheckpoints(db: Db, checkpoints: TCheckpoint[], publicKey: ServerKey["publicKey"] | string): Promise<CheckpointCheck> {
  let checked = 0;
  let skipped = 0;
  const oldest = await db.auditEvent.findFirst({ orderBy: { seq: "asc" }, select: { seq: true } });
  for (const checkpoint of checkpoints) {
    if (!checkpointSignatureValid(checkpoint, publicKey)) {
      return { ok: false, seq: checkpoint.seq, reason: "its signature does not verify with the server key (forged or altered checkpoint)" };
    }
    const seq = BigInt(checkpoint.seq);
    const row = await db.auditEvent.findUnique({ where: { seq }, select: { hash: true } });
    if (!row) {
      if (oldest && seq < oldest.seq) {
        skipped++;
        continue;
      }
      return { ok: false, seq: checkpoint.seq, reason: "the event it signed is missing from the database (history removed)" };
    }
    if (row.hash !== checkpoint.headHash) {
      return { ok: false, seq: checkpoint.seq, reason: "the event's hash differs from the signed one (history rewritten after the checkpoint)" };
    }
    checked++;
  }
  return { ok: true, checked, skipped };
}

/** Parses an NDJSON checkpoint file; a malformed line is an error naming its line number. */
export function parseCheckpoints(text: string): TCheckpoint[] {
  const out: TCheckpoint[] = [];
  text.split("\n").forEach((line, index) => {
    if (!line.trim()) return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new Error(`checkpoint file line ${index + 1} is not JSON`);
    }
    const parsed = ZCheckpoint.safeParse(json);
    if (!parsed.success) throw new Error(`checkpoint file line ${index + 1} is not a checkpoint`);
    out.push(parsed.data);
  });
  return out;
}

export type CheckpointerOptions = {
  db: Db;
  key: ServerKey;
  dataDir: string;
  intervalMinutes: number;
  webhookUrl?: string;
};

/**
 * Writes a checkpoint every `intervalMinutes` when the chain has grown, and a
 * last one on stop. Failures are logged, never fatal: the chain itself is
 * still intact and verifiable without them.
 */
export class AuditCheckpointer {
  private timer: NodeJS.Timeout | null = null;
  private lastSeq: string | null = null;
  private writing: Promise<TCheckpoint | null> = Promise.resolve(null);

  constructor(private readonly opts: CheckpointerOptions) {}

  get file(): string {
    return path.join(this.opts.dataDir, CHECKPOINT_FILE);
  }

  start(): void {
    this.timer = setInterval(() => void this.write({ onlyIfChanged: true }), this.opts.intervalMinutes * 60_000);
    this.timer.unref();
  }

  /** Signs the current head and writes it to the file, the log and the webhook. */
  write(opts: { onlyIfChanged?: boolean } = {}): Promise<TCheckpoint | null> {
    this.writing = this.writing.then(() => this.writeNow(opts.onlyIfChanged ?? false)).catch((error: unknown) => {
      log.error("could not write an audit checkpoint", { error: String(error) });
      return null;
    });
    return this.writing;
  }

  private async writeNow(onlyIfChanged: boolean): Promise<TCheckpoint | null> {
    const checkpoint = await signCheckpoint(this.opts.db, this.opts.key);
    if (!checkpoint || (onlyIfChanged && checkpoint.seq === this.lastSeq)) return null;
    await mkdir(this.opts.dataDir, { recursive: true });
    await appendFile(this.file, JSON.stringify(checkpoint) + "\n", { mode: 0o644 });
    this.lastSeq = checkpoint.seq;
    log.info("audit checkpoint", checkpoint);
    if (this.opts.webhookUrl) await this.post(checkpoint);
    return checkpoint;
  }

  private async post(checkpoint: TCheckpoint) {
    try {
      const response = await fetch(this.opts.webhookUrl!, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(checkpoint),
        signal: AbortSignal.timeout(5_000),
      });
      if (!response.ok) log.warn("audit checkpoint webhook refused", { status: response.status });
    } catch (error) {
      log.warn("audit checkpoint webhook failed", { error: String(error) });
    }
  }

  /** The final checkpoint; bounded by the caller's shutdown timeout. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.write({ onlyIfChanged: true });
  }
}
