import { z } from "zod";
import { streamEvents, ZResumeInput } from "../events/stream.ts";
import { hostsWithPermission } from "../services/access.ts";
import {
  createJoinToken,
  getHost,
  joinTarget,
  listHosts,
  registerHost,
  removeHost,
  revokeHostAgent,
  ZHostName,
} from "../services/hosts.ts";
import { hostDiskUsage } from "../services/disk-usage.ts";
import { setAllowedBindPaths, ZAllowedBindPaths } from "../services/container-create.ts";
import { shareHost, unshareHost } from "../services/teams.ts";
import { adminProcedure, authedProcedure, hostProcedure, router } from "../trpc.ts";

export const ZHostIdInput = z.object({ hostId: z.string().min(1).max(64) });
const ZHostTeamInput = ZHostIdInput.extend({ teamId: z.string().min(1).max(64) });

export const hostsRouter = router({
  /** Hosts the caller may see (host.view through any of their teams; all for admins). */
  list: authedProcedure.query(async ({ ctx }) => listHosts(ctx.db, await hostsWithPermission(ctx.db, ctx.principal, "host.view"))),

  byId: hostProcedure("host.view").input(ZHostIdInput).query(({ ctx, input }) => getHost(ctx.db, input.hostId)),

  /** `docker system df`: images, containers' writable layers, volumes and build cache, with what a prune could free. */
  diskUsage: hostProcedure("host.view").input(ZHostIdInput).query(({ ctx, input }) => hostDiskUsage({ db: ctx.db, link: ctx.link, hostId: input.hostId })),

  /** Adds the host only; its join token is a separate, explicit step (`createJoinToken`). */
  create: adminProcedure
    .input(z.object({ name: ZHostName, teamIds: z.array(z.string().min(1).max(64)).max(20).default([]) }))
    .mutation(({ ctx, input }) => registerHost({ db: ctx.db, bus: ctx.bus, name: input.name, teamIds: input.teamIds })),

  /** Where this host's agent will be told to connect (the public URL), so the UI can warn before a token exists. */
  joinTarget: hostProcedure("host.manage")
    .input(ZHostIdInput)
    .query(({ ctx }) => joinTarget(ctx.env.publicUrl)),

  createJoinToken: hostProcedure("host.manage")
    .input(ZHostIdInput)
    .mutation(({ ctx, input }) =>
      createJoinToken({
        db: ctx.db,
        hostId: input.hostId,
        ttlMinutes: ctx.env.BERTH_JOIN_TOKEN_TTL_MINUTES,
        createdById: ctx.principal.userId,
        serverUrl: ctx.env.publicUrl,
        serverFingerprint: ctx.serverFingerprint,
      }),
    ),

  revoke: hostProcedure("host.manage")
    .input(ZHostIdInput)
    .mutation(({ ctx, input }) => revokeHostAgent({ db: ctx.db, bus: ctx.bus, link: ctx.link, hostId: input.hostId })),

  /** Host paths containers on this host may bind-mount (none by default). */
  setBindPaths: hostProcedure("host.manage")
    .input(ZHostIdInput.extend({ paths: ZAllowedBindPaths }))
    .mutation(({ ctx, input }) => setAllowedBindPaths({ db: ctx.db, bus: ctx.bus, ...input })),

  remove: adminProcedure
    .input(ZHostIdInput)
    .mutation(({ ctx, input }) => removeHost({ db: ctx.db, bus: ctx.bus, link: ctx.link, hostId: input.hostId })),

  share: adminProcedure.input(ZHostTeamInput).mutation(({ ctx, input }) => shareHost({ db: ctx.db, bus: ctx.bus, ...input })),

  unshare: adminProcedure.input(ZHostTeamInput).mutation(({ ctx, input }) => unshareHost({ db: ctx.db, bus: ctx.bus, ...input })),

  /**
   * Live fleet changes for the hosts the caller may see. Browsers refetch the
   * affected queries on each event; the database stays the source of truth.
   * A change of the caller's own rights (role, membership, admin flag) is sent
   * too, so open pages re-read what they may offer at once.
   */
  onChange: authedProcedure.input(ZResumeInput).subscription(({ ctx, input, signal }) =>
    streamEvents({
      db: ctx.db,
      bus: ctx.bus,
      principal: ctx.principal,
      signal,
      lastEventId: input?.lastEventId,
      select: async (principal) => {
        const visible = await hostsWithPermission(ctx.db, principal, "host.view");
        const allowed = visible === null ? null : new Set(visible);
        return (event) => {
          // Only access changes that concern this caller reach here (streamEvents filters the rest).
          if (event.type === "access.changed") return event;
          if (event.type !== "host.changed" && event.type !== "host.removed" && event.type !== "inventory.changed") return undefined;
          return allowed === null || allowed.has(event.hostId) ? event : undefined;
        };
      },
    }),
  ),
});
