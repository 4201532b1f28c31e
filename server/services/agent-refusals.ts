/**
 * Refused agents are audited once per interval, not once per retry.
 *
 * A revoked agent, a copied identity or a stale join token keeps knocking;
 * each knock is one socket and, before this, one audit row (hash-chained and
 * serialised behind one lock, so a noisy agent could drown the trail and slow
 * every real write). Now the first refusal for a key (the agent id, or the
 * source address for a join) writes its row at once; further refusals within
 * the window are only counted, and the count is written as one row when the
 * window closes (`flush`, called by the server's sweep and at shutdown).
 *
 * Counting happens per server replica, in memory and bounded: with N replicas
 * one noisy agent writes at most N rows per window.
 */
import type { AuditActor, AuditRequestMeta } from "./audit/append.ts";

export const REFUSAL_AUDIT_WINDOW_MS = 10 * 60_000;
const MAX_TRACKED_KEYS = 10_000;

export type RefusalRecord = {
  actor: AuditActor;
  action: string;
  hostId: string | null;
  error: string;
  request: AuditRequestMeta;
};

/** What gets written: the refusal, how many it stands for, and the time span they cover. */
export type RefusalRow = RefusalRecord & { count: number; firstAt: Date; lastAt: Date };

type Window = { openedAt: number; suppressed: number; firstSuppressedAt: number; lastAt: number; last: RefusalRecord };

export class RefusalAuditThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly write: (row: RefusalRow) => Promise<void>,
    private readonly windowMs = REFUSAL_AUDIT_WINDOW_MS,
  ) {}

  /** Records one refusal; writes a row only for the first one of a window. */
  async refused(key: string, record: RefusalRecord, now = Date.now()): Promise<void> {
    const open = this.windows.get(key);
    if (open && now - open.openedAt < this.windowMs) {
      if (open.suppressed === 0) open.firstSuppressedAt = now;
      open.suppressed += 1;
      open.lastAt = now;
      open.last = record;
      return;
    }
    if (open) await this.close(key, open);
    if (this.windows.size >= MAX_TRACKED_KEYS) await this.flush({ all: true });
    this.windows.set(key, { openedAt: now, suppressed: 0, firstSuppressedAt: now, lastAt: now, last: record });
    await this.write({ ...record, count: 1, firstAt: new Date(now), lastAt: new Date(now) });
  }

  /** Writes the counts of closed windows (all windows with `all`: shutdown). */
  async flush(opts: { all?: boolean; now?: number } = {}): Promise<void> {
    const now = opts.now ?? Date.now();
    for (const [key, window] of [...this.windows]) {
      if (opts.all || now - window.openedAt >= this.windowMs) await this.close(key, window);
    }
  }

  private async close(key: string, window: Window) {
    this.windows.delete(key);
    if (window.suppressed === 0) return;
    await this.write({ ...window.last, count: window.suppressed, firstAt: new Date(window.firstSuppressedAt), lastAt: new Date(window.lastAt) });
  }

  /** Keys with an open window (tests). */
  get trackedKeys(): number {
    return this.windows.size;
  }
}
