/**
 * Turns the event bus into a tRPC subscription stream for one caller. The
 * stream ends by itself when the caller's session or token stops being valid
 * (revoked, expired) — checked whenever their access changes and every 30 s —
 * so revoking a session cuts its open live views, and a demoted admin stops
 * seeing what only an admin may.
 */
import { tracked } from "@trpc/server";
import type { Db } from "../db/client.ts";
import type { Principal } from "../services/access.ts";
import { refreshPrincipal } from "../services/users.ts";
import type { EventBus, FleetEvent } from "./bus.ts";

const RECHECK_MS = 30_000;

export async function* streamEvents<T>(opts: {
  db: Db;
  bus: EventBus;
  principal: Principal;
  signal: AbortSignal | undefined;
  /**
   * Maps an event to what this caller may see of it (undefined = drop). Called
   * again, with the caller re-read, after their access changes.
   */
  select: (principal: Principal) => Promise<(event: FleetEvent) => T | undefined | Promise<T | undefined>>;
}) {
  let principal = opts.principal;
  let pick = await opts.select(principal);
  const queue: FleetEvent[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = opts.bus.subscribe((event) => {
    queue.push(event);
    wake?.();
  });
  const timer = setInterval(() => {
    queue.push({ type: "access.changed", userId: opts.principal.userId });
    wake?.();
  }, RECHECK_MS);
  // One abort listener for the stream's life (one per wait would leak).
  const onAbort = () => wake?.();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let seq = 0;
  try {
    while (!opts.signal?.aborted) {
      const event = queue.shift();
      if (!event) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      if (event.type === "access.changed" && (event.userId === null || event.userId === principal.userId)) {
        const current = await refreshPrincipal(opts.db, principal);
        if (!current) return;
        principal = current;
        pick = await opts.select(principal);
        continue;
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
