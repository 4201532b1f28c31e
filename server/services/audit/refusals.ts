/**
 * Refused attempts, recorded without letting anyone flood the trail.
 *
 * Every audit row is an append behind one advisory lock, so one row per
 * refused anonymous call let a single batched request (100 calls) write 100
 * rows and starve real writes queued behind the lock. Refusals of callers
 * nobody can name are therefore counted per source address and window (a
 * minute) in memory and written as ONE row when the window closes (or at
 * shutdown): `access.refused` with the count and the actions tried.
 *
 * A signed-in caller's refusals stay one row each (they are the interesting
 * ones: someone with an account probing what they may not do), up to a cap
 * per actor and window; beyond it they are counted the same way.
 *
 * Memory is bounded: at most MAX_BUCKETS sources are tracked per window;
 * further sources share one bucket (source unknown), so a spray of addresses
 * still yields one row.
 */
import type { Db } from "../../db/client.ts";
import type { EventBus } from "../../events/bus.ts";
import { createLogger } from "../../logger.ts";
import { appendAuditEvent, type AuditActor, type AuditInput, type AuditRequestMeta } from "./append.ts";

const log = createLogger("audit-refusals");

const MAX_BUCKETS = 10_000;
const MAX_ACTIONS_PER_BUCKET = 50;
const OTHER_ACTIONS = "(other)";

export type RefusalRecorderOptions = {
  db: Db;
  bus?: EventBus;
  /** Length of an aggregation window. */
  windowMs?: number;
  /** Rows of its own a signed-in actor gets per window before its refusals are counted instead. */
  perActorRows?: number;
};

type Bucket = {
  window: number;
  actor: AuditActor;
  ip: string | null;
  userAgent: string | null;
  count: number;
  actions: Map<string, number>;
  firstError: string | null;
  firstAt: Date;
  lastAt: Date;
};

export class RefusalRecorder {
  private readonly windowMs: number;
  private readonly perActorRows: number;
  private readonly buckets = new Map<string, Bucket>();
  /** Rows written per signed-in actor in the current window. */
  private readonly actorRows = new Map<string, { window: number; rows: number }>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RefusalRecorderOptions) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.perActorRows = opts.perActorRows ?? 300;
    this.timer = setInterval(() => void this.flush({ closedOnly: true }), Math.min(5_000, this.windowMs));
    this.timer.unref();
  }

  /**
   * Records one refused attempt. Anonymous (and over-cap) refusals are
   * counted and resolve at once; others are appended and never throw
   * (a failure is logged).
   */
  async record(event: AuditInput & { outcome: "DENIED" }): Promise<void> {
    const window = Math.floor(Date.now() / this.windowMs);
    const actor = event.actor;
    if (actor.type !== "ANONYMOUS" && actor.id) {
      const key = `${actor.type}:${actor.id}`;
      const seen = this.actorRows.get(key);
      const rows = seen && seen.window === window ? seen.rows : 0;
      if (rows < this.perActorRows) {
        this.actorRows.set(key, { window, rows: rows + 1 });
        if (this.actorRows.size > MAX_BUCKETS) this.pruneActorRows(window);
        try {
          await appendAuditEvent({ db: this.opts.db, bus: this.opts.bus, event });
        } catch (error) {
          log.error("could not record a refused attempt", { action: event.action, error: String(error) });
        }
        return;
      }
    }
    this.count(window, actor, event.action, event.request ?? null, event.error ?? null);
  }

  private count(window: number, actor: AuditActor, action: string, request: AuditRequestMeta | null, error: string | null) {
    const ip = request?.ip ?? null;
    let key = `${window}|${actor.type}|${actor.id ?? ""}|${ip ?? ""}`;
    if (!this.buckets.has(key) && this.buckets.size >= MAX_BUCKETS) key = `${window}|overflow`;
    let bucket = this.buckets.get(key);
    const now = new Date();
    if (!bucket) {
      const overflow = key.endsWith("|overflow");
      bucket = {
        window,
        actor: overflow ? { type: "ANONYMOUS", id: null, label: "anonymous (many sources)" } : actor,
        ip: overflow ? null : ip,
        userAgent: overflow ? null : (request?.userAgent ?? null),
        count: 0,
        actions: new Map(),
        firstError: error,
        firstAt: now,
        lastAt: now,
      };
      this.buckets.set(key, bucket);
    }
    bucket.count++;
    bucket.lastAt = now;
    const name = bucket.actions.has(action) || bucket.actions.size < MAX_ACTIONS_PER_BUCKET ? action : OTHER_ACTIONS;
    bucket.actions.set(name, (bucket.actions.get(name) ?? 0) + 1);
  }

  private pruneActorRows(window: number) {
    for (const [key, value] of this.actorRows) if (value.window !== window) this.actorRows.delete(key);
  }

  /** Writes the counted refusals: those of closed windows only, or all (tests, shutdown). */
  flush(opts: { closedOnly?: boolean } = {}): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeBuckets(opts.closedOnly ?? false));
    return this.flushing;
  }

  private async writeBuckets(closedOnly: boolean) {
    const current = Math.floor(Date.now() / this.windowMs);
    for (const [key, bucket] of [...this.buckets]) {
      if (closedOnly && bucket.window >= current) continue;
      this.buckets.delete(key);
      try {
        await appendAuditEvent({
          db: this.opts.db,
          bus: this.opts.bus,
          event: {
            actor: bucket.actor,
            action: "access.refused",
            outcome: "DENIED",
            error: bucket.firstError,
            params: {
              count: bucket.count,
              actions: Object.fromEntries(bucket.actions),
              from: bucket.firstAt.toISOString(),
              to: bucket.lastAt.toISOString(),
            },
            request: { ip: bucket.ip, userAgent: bucket.userAgent, requestId: null },
          },
        });
      } catch (error) {
        log.error("could not record counted refusals", { count: bucket.count, ip: bucket.ip, error: String(error) });
      }
    }
    if (closedOnly) this.pruneActorRows(current);
  }

  /** Stops the timer and writes everything still counted. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
