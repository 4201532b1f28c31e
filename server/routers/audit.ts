import { z } from "zod";
import { streamEvents, ZResumeInput } from "../events/stream.ts";
import { hostsWithPermission, teamsWithPermission, type Principal } from "../services/access.ts";
import { getAuditEvent, listAuditEvents, ZAuditFilter, type AuditScope } from "../services/audit/query.ts";
import { pruneAuditEvents } from "../services/audit/retention.ts";
import { verifyAuditChain } from "../services/audit/verify.ts";
import type { Db } from "../db/client.ts";
import { auditActor } from "../auth/guard.ts";
import { adminProcedure, authedProcedure, router } from "../trpc.ts";

/** Reviewers see the events of the teams (and those teams' hosts) where they hold audit.view. */
export async function auditScopeFor(db: Db, principal: Principal): Promise<AuditScope> {
  const teamIds = await teamsWithPermission(db, principal, "audit.view");
  if (teamIds === null) return null;
  const hostIds = (await hostsWithPermission(db, principal, "audit.view")) ?? [];
  return { teamIds, hostIds };
}

export const auditRouter = router({
  list: authedProcedure
    .input(z.object({ filter: ZAuditFilter.default({}), before: z.bigint().positive().optional(), limit: z.number().int().min(1).max(200).default(50) }))
    .query(async ({ ctx, input }) =>
      listAuditEvents({ db: ctx.db, filter: input.filter, scope: await auditScopeFor(ctx.db, ctx.principal), before: input.before, limit: input.limit }),
    ),

  byId: authedProcedure
    .input(z.object({ seq: z.bigint().positive() }))
    .query(async ({ ctx, input }) => getAuditEvent(ctx.db, input.seq, await auditScopeFor(ctx.db, ctx.principal))),

  verify: adminProcedure.mutation(({ ctx }) => verifyAuditChain(ctx.db)),

  /** Retention: audits itself inside its own transaction (the deleting and the record are one). */
  prune: adminProcedure
    .meta({ audit: false })
    .input(z.object({ before: z.coerce.date().refine((d) => d.getTime() < Date.now(), "Must be in the past") }))
    .mutation(({ ctx, input }) =>
      pruneAuditEvents({ db: ctx.db, bus: ctx.bus, before: input.before, actor: auditActor(ctx.principal), request: ctx.request }),
    ),

  /** Live tail: new events the caller may see, as they are written. */
  onEvent: authedProcedure.input(ZResumeInput).subscription(({ ctx, input, signal }) =>
    streamEvents({
      db: ctx.db,
      bus: ctx.bus,
      principal: ctx.principal,
      signal,
      lastEventId: input?.lastEventId,
      select: async (principal) => {
        const scope = await auditScopeFor(ctx.db, principal);
        return async (event) => {
          if (event.type !== "audit.appended") return undefined;
          return getAuditEvent(ctx.db, BigInt(event.seq), scope).catch(() => undefined);
        };
      },
    }),
  ),
});
