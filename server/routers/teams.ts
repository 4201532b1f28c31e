import { z } from "zod";
import {
  createRole,
  createTeam,
  getTeam,
  listRoles,
  listTeams,
  removeMember,
  removeRole,
  removeTeam,
  setMember,
  updateRole,
  ZRoleInput,
  ZTeamName,
} from "../services/teams.ts";
import { adminProcedure, authedProcedure, router, teamProcedure } from "../trpc.ts";

const ZTeamIdInput = z.object({ teamId: z.string().min(1).max(64) });
const ZMemberInput = ZTeamIdInput.extend({ userId: z.string().min(1).max(64) });
const ZRoleIdInput = z.object({ roleId: z.string().min(1).max(64) });

export const teamsRouter = router({
  /** Teams the caller belongs to (every team for admins). */
  list: authedProcedure.query(({ ctx }) => listTeams(ctx.db, ctx.principal)),

  byId: teamProcedure("team.manage").input(ZTeamIdInput).query(({ ctx, input }) => getTeam(ctx.db, input.teamId)),

  create: adminProcedure.input(z.object({ name: ZTeamName })).mutation(({ ctx, input }) => createTeam({ db: ctx.db, name: input.name })),

  remove: adminProcedure.input(ZTeamIdInput).mutation(({ ctx, input }) => removeTeam({ db: ctx.db, bus: ctx.bus, teamId: input.teamId })),

  setMember: teamProcedure("team.manage")
    .input(ZMemberInput.extend({ roleId: z.string().min(1).max(64) }))
    .mutation(({ ctx, input }) => setMember({ db: ctx.db, bus: ctx.bus, actor: ctx.principal, ...input })),

  removeMember: teamProcedure("team.manage")
    .input(ZMemberInput)
    .mutation(({ ctx, input }) => removeMember({ db: ctx.db, bus: ctx.bus, actor: ctx.principal, ...input })),
});

export const rolesRouter = router({
  list: authedProcedure.query(({ ctx }) => listRoles(ctx.db)),

  create: adminProcedure.input(ZRoleInput).mutation(({ ctx, input }) => createRole({ db: ctx.db, input })),

  update: adminProcedure
    .input(ZRoleIdInput.extend({ role: ZRoleInput }))
    .mutation(({ ctx, input }) => updateRole({ db: ctx.db, bus: ctx.bus, roleId: input.roleId, input: input.role })),

  remove: adminProcedure.input(ZRoleIdInput).mutation(({ ctx, input }) => removeRole({ db: ctx.db, roleId: input.roleId })),
});
