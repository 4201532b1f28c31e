/**
 * Turns the event bus into a tRPC subscription stream for one caller. The
 * stream ends by itself when the caller's session or token stops being valid
 * (revoked, expired) — checked whenever their access changes and every 30 s —
 * so revoking a session cuts its open live views, and a demoted admin stops
 * seeing what only an admin may.
 *
 * Event ids (`tracked`) continue from the `lastEventId` a reconnecting client
 * sends, so a resumed stream never hands out an id the client already saw.
 * Nothing is replayed: the client refetches what it shows when it reconnects.
 */
import { tracked } from "@trpc/server";
import { z } from "zod";
import type { Db } from "../db/client.ts";
import type { Principal } from "../services/access.ts";
import { refreshPrincipal } from "../services/users.ts";
import type { EventBus, FleetEvent } from "./bus.ts";

const RECHECK_MS = 30_000;

/** The periodic credential check: not an access change, so callers are not told about it. */
const RECHECK = Symbol("recheck");

/** Where a resumed stream's ids continue: after the client's last id (a decimal counter), else from 0. */
export function resumeSeq(lastEventId: string | null | undefined): number {
  if (!lastEventId || !/^\d{1,15}$/.test(lastEventId)) return 0;
  return Number(lastEventId);
}

/** The optional input of a tracked subscription: tRPC adds `lastEventId` when a client resumes. */
export const ZResumeInput = z.object({ lastEventId: z.string().max(64).nullish() }).optional();

export async function* streamEvents<T>(opts: {
  db: Db;
  bus: EventBus;
  principal: Principal;
  signal: AbortSignal | undefined;
  /** The id of the last event the client saw, when it resumes a stream. */
  lastEventId?: string | null;
  /**
   * Maps an event to what this caller may see of it (undefined = drop). Called
   * again, with the caller re-read, after their access changes; the
   * `access.changed` event that caused it is then offered too, so a stream can
   * tell its page to re-read what the caller may do.
   */
  select: (principal: Principal) => Promise<(event: FleetEvent) => T | undefined | Promise<T | undefined>>;
}) {
  let principal = opts.principal;
  let pick = await opts.select(principal);
  const queue: Array<FleetEvent | typeof RECHECK> = [];
  let wake: (() => void) | null = null;
  const unsubscribe = opts.bus.subscribe((event) => {
    queue.push(event);
    wake?.();
  });
  const timer = setInterval(() => {
    queue.push(RECHECK);
    wake?.();
  }, RECHECK_MS);
  // One abort listener for the stream's life (one per wait would leak).
  const onAbort = () => wake?.();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let seq = resumeSeq(opts.lastEventId);
  try {
    while (!opts.signal?.aborted) {
      const event = queue.shift();
      if (!event) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      const concernsCaller = event === RECHECK || (event.type === "access.changed" && (event.userId === null || event.userId === principal.userId));
      if (concernsCaller) {
        const current = await refreshPrincipal(opts.db, principal);
        if (!current) return;
        principal = current;
        pick = await opts.select(principal);
        if (event === RECHECK) continue;
      } else if (event.type === "access.changed") {
        continue; // someone else's
      }
      const visible = await pick(event);
      if (visible !== undefined) yield tracked(String(++seq), visible);
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    clearInterval(timer);
    unsubscribe();
  }
}
