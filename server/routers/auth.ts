import { z } from "zod";
import { effectivePermissions } from "../services/access.ts";
import { completeSetup, needsSetup, ZSetupInput } from "../services/setup.ts";
import { publicProcedure, router } from "../trpc.ts";

export const authRouter = router({
  /**
   * Whether the first admin still has to be created, and the origin Berth is
   * configured for (BERTH_PUBLIC_URL). Public: the login and setup pages need
   * both; sign-in is refused from any other origin, and the page says so
   * before anyone types a password (the address is no secret: it is in the bar).
   */
  setupStatus: publicProcedure
    .output(z.object({ needsSetup: z.boolean(), publicOrigin: z.string() }))
    .query(async ({ ctx }) => ({ needsSetup: await needsSetup(ctx.db), publicOrigin: new URL(ctx.env.publicUrl).origin })),

  setup: publicProcedure.input(ZSetupInput).mutation(({ ctx, input }) => completeSetup({ db: ctx.db, auth: ctx.auth, input })),

  /**
   * The caller and what they may do, so the UI can hide what they may not;
   * null when nobody is signed in. Public so that a signed-out page can ask
   * "who am I?" without an error (a 401 here was a console error on every
   * signed-out page); it reveals nothing about anyone but the caller.
   */
  me: publicProcedure.query(async ({ ctx }) => {
    if (!ctx.principal) return null;
    return {
      id: ctx.principal.userId,
      email: ctx.principal.email,
      name: ctx.principal.name,
      role: ctx.principal.isGlobalAdmin ? ("admin" as const) : ("user" as const),
      via: ctx.principal.kind,
      access: await effectivePermissions(ctx.db, ctx.principal),
    };
  }),
});
