import { z } from "zod";
import { createApiToken, listApiTokens, revokeApiToken, ZCreateApiTokenInput } from "../services/api-tokens.ts";
import {
  inviteUser,
  listSessions,
  listUsers,
  removeUser,
  revokeSession,
  setGlobalAdmin,
  ZInviteUserInput,
} from "../services/users.ts";
import { adminProcedure, authedProcedure, router } from "../trpc.ts";

const ZUserIdInput = z.object({ userId: z.string().min(1).max(64) });

export const usersRouter = router({
  list: adminProcedure.query(({ ctx }) => listUsers(ctx.db)),

  invite: adminProcedure.input(ZInviteUserInput).mutation(({ ctx, input }) => inviteUser({ db: ctx.db, auth: ctx.auth, input })),

  setGlobalAdmin: adminProcedure
    .input(ZUserIdInput.extend({ globalAdmin: z.boolean() }))
    .mutation(({ ctx, input }) => setGlobalAdmin({ db: ctx.db, bus: ctx.bus, actorId: ctx.principal.userId, ...input })),

  remove: adminProcedure
    .input(ZUserIdInput)
    .mutation(({ ctx, input }) => removeUser({ db: ctx.db, bus: ctx.bus, actorId: ctx.principal.userId, userId: input.userId })),

  sessionsOf: adminProcedure.input(ZUserIdInput).query(({ ctx, input }) => listSessions(ctx.db, input.userId, ctx.principal.sessionId)),

  revokeSessionOf: adminProcedure
    .input(ZUserIdInput.extend({ sessionId: z.string().min(1).max(128) }))
    .mutation(({ ctx, input }) => revokeSession({ db: ctx.db, bus: ctx.bus, userId: input.userId, sessionId: input.sessionId, asAdmin: true })),
});

/** The caller's own account: sessions and API tokens. Password change goes through /api/auth/change-password. */
export const accountRouter = router({
  sessions: authedProcedure.query(({ ctx }) => listSessions(ctx.db, ctx.principal.userId, ctx.principal.sessionId)),

  revokeSession: authedProcedure
    .input(z.object({ sessionId: z.string().min(1).max(128) }))
    .mutation(({ ctx, input }) => revokeSession({ db: ctx.db, bus: ctx.bus, userId: ctx.principal.userId, sessionId: input.sessionId })),

  tokens: authedProcedure.query(({ ctx }) => listApiTokens(ctx.db, ctx.principal.userId)),

  createToken: authedProcedure
    .input(ZCreateApiTokenInput)
    .mutation(({ ctx, input }) => createApiToken({ db: ctx.db, userId: ctx.principal.userId, input })),

  revokeToken: authedProcedure
    .input(z.object({ tokenId: z.string().min(1).max(64) }))
    .mutation(({ ctx, input }) =>
      revokeApiToken({ db: ctx.db, userId: ctx.principal.userId, tokenId: input.tokenId, asAdmin: ctx.principal.isGlobalAdmin }),
    ),
});
