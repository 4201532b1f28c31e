import { tracked } from "@trpc/server";
import { z } from "zod";
import {
  createHost,
  createJoinToken,
  getHost,
  listHosts,
  removeHost,
  revokeHostAgent,
  ZHostName,
} from "../services/hosts.ts";
import type { FleetEvent } from "../events/bus.ts";
import { adminProcedure, protectedProcedure, router } from "../trpc.ts";

export const ZHostIdInput = z.object({ hostId: z.string().min(1).max(64) });

export const hostsRouter = router({
  list: protectedProcedure.query(({ ctx }) => listHosts(ctx.db)),

  byId: protectedProcedure.input(ZHostIdInput).query(({ ctx, input }) => getHost(ctx.db, input.hostId)),

  create: adminProcedure.input(z.object({ name: ZHostName })).mutation(({ ctx, input }) =>
    createHost({
      db: ctx.db,
      bus: ctx.bus,
      name: input.name,
      ttlMinutes: ctx.env.BERTH_JOIN_TOKEN_TTL_MINUTES,
      createdById: ctx.user.id,
      serverUrl: ctx.env.publicUrl,
    }),
  ),

  createJoinToken: adminProcedure.input(ZHostIdInput).mutation(({ ctx, input }) =>
    createJoinToken({
      db: ctx.db,
      hostId: input.hostId,
      ttlMinutes: ctx.env.BERTH_JOIN_TOKEN_TTL_MINUTES,
      createdById: ctx.user.id,
      serverUrl: ctx.env.publicUrl,
    }),
  ),

  revoke: adminProcedure
    .input(ZHostIdInput)
    .mutation(({ ctx, input }) => revokeHostAgent({ db: ctx.db, bus: ctx.bus, link: ctx.link, hostId: input.hostId })),

  remove: adminProcedure
    .input(ZHostIdInput)
    .mutation(({ ctx, input }) => removeHost({ db: ctx.db, bus: ctx.bus, link: ctx.link, hostId: input.hostId })),

  /**
   * Live fleet changes. Browsers use each event to refetch the affected
   * queries, so the database stays the single source of what they see.
   */
  onChange: protectedProcedure.subscription(async function* ({ ctx, signal }) {
    const queue: FleetEvent[] = [];
    let wake: (() => void) | null = null;
    const unsubscribe = ctx.bus.subscribe((event) => {
      queue.push(event);
      wake?.();
    });
    // One abort listener for the stream's life (not one per wait: that leaks).
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort, { once: true });
    let seq = 0;
    try {
      while (!signal?.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          continue;
        }
        yield tracked(String(++seq), queue.shift()!);
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      unsubscribe();
    }
  }),
});
