import { z } from "zod";
import { getTerminalSession, recordsTerminalInput, setRecordTerminalInput } from "../services/terminals.ts";
import { adminProcedure, adminSessionProcedure, authedProcedure, router } from "../trpc.ts";
import { auditScopeFor } from "./audit.ts";

/** Terminals themselves are socket events (server/gateway/browser-hub.ts); here: their recordings' facts and the admin's settings. */
export const terminalsRouter = router({
  /** A session's facts for the audit page's player; visible to whoever may see its audit event. */
  session: authedProcedure
    .input(z.object({ sessionId: z.string().uuid() }))
    .query(async ({ ctx, input }) => getTerminalSession(ctx.db, input.sessionId, await auditScopeFor(ctx.db, ctx.principal))),

  settings: adminProcedure.query(async ({ ctx }) => ({
    recordInput: await recordsTerminalInput(ctx.db),
    idleMinutes: ctx.terminals.idleMs / 60_000,
    perUser: ctx.terminals.perUser,
    recordingMaxBytes: ctx.terminals.recordingMaxBytes,
  })),

  /** Keystrokes carry passwords: recording them is an admin's audited choice, off by default. */
  setRecordInput: adminSessionProcedure
    .input(z.object({ enabled: z.boolean() }))
    .mutation(({ ctx, input }) => setRecordTerminalInput(ctx.db, input.enabled)),
});
