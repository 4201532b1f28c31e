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
import { adminProcedure, adminSessionProcedure, router, sessionProcedure } from "../trpc.ts";

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

  /** Other users' sessions: a global admin's browser session only (never an API token). */
  sessionsOf: adminSessionProcedure.input(ZUserIdInput).query(({ ctx, input }) => listSessions(ctx.db, input.userId, ctx.principal.sessionId)),

  /** Ends one session of the named user; a session of anyone else is not found. */
  revokeSessionOf: adminSessionProcedure
    .input(ZUserIdInput.extend({ sessionId: z.string().min(1).max(128) }))
    .mutation(({ ctx, input }) => revokeSession({ db: ctx.db, bus: ctx.bus, userId: input.userId, sessionId: input.sessionId })),
});

/**
 * The caller's own account: sessions and API tokens. Browser sessions only: an
 * API token can never list, mint or revoke tokens or sessions (so it cannot
 * outgrow itself). Password change goes through /api/auth/change-password,
 * which accepts the session cookie only.
 */
export const accountRouter = router({
  sessions: sessionProcedure.query(({ ctx }) => listSessions(ctx.db, ctx.principal.userId, ctx.principal.sessionId)),

  revokeSession: sessionProcedure
    .input(z.object({ sessionId: z.string().min(1).max(128) }))
    .mutation(({ ctx, input }) => revokeSession({ db: ctx.db, bus: ctx.bus, userId: ctx.principal.userId, sessionId: input.sessionId })),

  tokens: sessionProcedure.query(({ ctx }) => listApiTokens(ctx.db, ctx.principal.userId)),

  createToken: sessionProcedure
    .input(ZCreateApiTokenInput)
    .mutation(({ ctx, input }) => createApiToken({ db: ctx.db, userId: ctx.principal.userId, input })),

  /** Own tokens; a global admin's session may revoke anyone's (the owner is notified). */
  revokeToken: sessionProcedure
    .input(z.object({ tokenId: z.string().min(1).max(64) }))
    .mutation(({ ctx, input }) =>
      revokeApiToken({ db: ctx.db, bus: ctx.bus, userId: ctx.principal.userId, tokenId: input.tokenId, asAdmin: ctx.principal.isGlobalAdmin }),
    ),
});
