import { z } from "zod";
import { completeSetup, needsSetup, ZSetupInput } from "../services/setup.ts";
import { protectedProcedure, publicProcedure, router } from "../trpc.ts";

export const authRouter = router({
  /** Whether the first admin still has to be created. Public: the login page needs it. */
  setupStatus: publicProcedure
    .output(z.object({ needsSetup: z.boolean() }))
    .query(async ({ ctx }) => ({ needsSetup: await needsSetup(ctx.db) })),

  setup: publicProcedure
    .input(ZSetupInput)
    .mutation(({ ctx, input }) => completeSetup({ db: ctx.db, auth: ctx.auth, input })),

  me: protectedProcedure.query(({ ctx }) => ctx.user),
});
