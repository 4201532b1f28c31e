/**
 * Teams, their members, the hosts they own, and roles (named permission sets).
 */
import { z } from "zod";
import { ZPermission, type Permission } from "../auth/permissions.ts";
import { Prisma, type Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { permissionsInTeam, type Principal } from "./access.ts";

export const ZTeamName = z.string().trim().min(1).max(64);
export const ZRoleInput = z.object({
  name: z.string().trim().min(1).max(64),
  description: z.string().trim().max(300).default(""),
  permissions: z.array(ZPermission).min(1).max(20),
});
export type TRoleInput = z.infer<typeof ZRoleInput>;

const roleSelect = { id: true, name: true, description: true, permissions: true, builtIn: true, createdAt: true } satisfies Prisma.RoleSelect;
const teamSelect = {
  id: true,
  name: true,
  createdAt: true,
  _count: { select: { members: true, hosts: true } },
} satisfies Prisma.TeamSelect;

// ------------------------------------------------------------------ roles

export function listRoles(db: Db) {
  return db.role.findMany({ select: roleSelect, orderBy: [{ builtIn: "desc" }, { name: "asc" }] });
}

export async function createRole(opts: { db: Db; input: TRoleInput }) {
  if (await opts.db.role.findUnique({ where: { name: opts.input.name }, select: { id: true } })) {
    throw new AppError("CONFLICT", `A role named "${opts.input.name}" already exists`);
  }
  return opts.db.role.create({ data: { ...opts.input, permissions: [...new Set(opts.input.permissions)] }, select: roleSelect });
}

export async function updateRole(opts: { db: Db; bus: EventBus; roleId: string; input: TRoleInput }) {
  const role = await opts.db.role.findUnique({ where: { id: opts.roleId }, select: { builtIn: true } });
  if (!role) throw new AppError("NOT_FOUND", "Role not found");
  if (role.builtIn) throw new AppError("PRECONDITION_FAILED", "Built-in roles cannot be changed; create a custom role instead");
  const updated = await opts.db.role.update({
    where: { id: opts.roleId },
    data: { ...opts.input, permissions: [...new Set(opts.input.permissions)] },
    select: roleSelect,
  });
  opts.bus.publish({ type: "access.changed", userId: null });
  return updated;
}

export async function removeRole(opts: { db: Db; roleId: string }) {
  const role = await opts.db.role.findUnique({ where: { id: opts.roleId }, select: { builtIn: true, _count: { select: { members: true } } } });
  if (!role) throw new AppError("NOT_FOUND", "Role not found");
  if (role.builtIn) throw new AppError("PRECONDITION_FAILED", "Built-in roles cannot be removed");
  if (role._count.members > 0) throw new AppError("PRECONDITION_FAILED", "This role is still given to team members");
  await opts.db.role.delete({ where: { id: opts.roleId } });
}

// ------------------------------------------------------------------ teams

export async function listTeams(db: Db, principal: Principal) {
  return db.team.findMany({
    where: principal.isGlobalAdmin ? {} : { members: { some: { userId: principal.userId } } },
    select: teamSelect,
    orderBy: { name: "asc" },
  });
}

export async function createTeam(opts: { db: Db; name: string }) {
  if (await opts.db.team.findUnique({ where: { name: opts.name }, select: { id: true } })) {
    throw new AppError("CONFLICT", `A team named "${opts.name}" already exists`);
  }
  return opts.db.team.create({ data: { name: opts.name }, select: teamSelect });
}

export async function removeTeam(opts: { db: Db; bus: EventBus; teamId: string }) {
  const deleted = await opts.db.team.deleteMany({ where: { id: opts.teamId } });
  if (!deleted.count) throw new AppError("NOT_FOUND", "Team not found");
  opts.bus.publish({ type: "access.changed", userId: null });
}

export async function getTeam(db: Db, teamId: string) {
  const team = await db.team.findUnique({
    where: { id: teamId },
    select: {
      ...teamSelect,
      members: {
        select: { createdAt: true, user: { select: { id: true, name: true, email: true } }, role: { select: { id: true, name: true } } },
        orderBy: { createdAt: "asc" },
      },
      hosts: { select: { host: { select: { id: true, name: true, status: true } } } },
    },
  });
  if (!team) throw new AppError("NOT_FOUND", "Team not found");
  return team;
}

/**
 * The existence checks above a link insert race a concurrent removal: the
 * foreign key then refuses the insert, which is "not found", not a server error.
 */
function goneMeanwhile(message: string) {
  return (error: unknown): never => {
    if (error instanceof Prisma.PrismaClientKnownRequestError && (error.code === "P2003" || error.code === "P2025")) throw new AppError("NOT_FOUND", message);
    throw error;
  };
}

/**
 * The rules every membership change follows (issue 8, "role ceiling"):
 * - nobody changes or ends their own membership, except a global admin;
 * - nobody gives a role holding a permission they do not hold in this team
 *   themselves (a narrowed token's ceiling is the token's);
 * - nobody changes the membership of someone whose current role holds a
 *   permission they lack (a manager cannot demote or remove the team's Admin);
 * - the last member able to manage the team (team.manage) cannot remove or
 *   demote themselves out of it.
 * The team's row is locked for the change, so two changes to one team are
 * decided one after the other (the "last manager" count cannot race).
 */
async function checkMembershipChange(
  tx: Prisma.TransactionClient,
  opts: { actor: Principal; teamId: string; userId: string; current: { name: string; permissions: string[] } | null; next: { name: string; permissions: string[] } | null },
) {
  const self = opts.userId === opts.actor.userId;
  if (self && !opts.actor.isGlobalAdmin) {
    throw new AppError("FORBIDDEN", "You cannot change your own membership or role in a team; ask another team manager or an administrator");
  }
  const ceiling = await permissionsInTeam(tx, opts.actor, opts.teamId);
  const above = (role: { permissions: string[] }) => role.permissions.filter((p) => !ceiling.has(p as Permission));
  if (opts.next && above(opts.next).length) {
    throw new AppError(
      "FORBIDDEN",
      `You cannot give the role "${opts.next.name}": it holds ${above(opts.next).join(", ")}, which you do not hold in this team`,
    );
  }
  if (opts.current && !self && above(opts.current).length) {
    throw new AppError(
      "FORBIDDEN",
      `You cannot change this member: their role "${opts.current.name}" holds ${above(opts.current).join(", ")}, which you do not hold in this team`,
    );
  }
  const losesManage = opts.current?.permissions.includes("team.manage") && !opts.next?.permissions.includes("team.manage");
  if (self && losesManage) {
    const otherManagers = await tx.teamMember.count({
      where: { teamId: opts.teamId, userId: { not: opts.userId }, role: { permissions: { has: "team.manage" } } },
    });
    if (otherManagers === 0) {
      throw new AppError(
        "PRECONDITION_FAILED",
        "You are the last member who can manage this team: give another member a role with team.manage first",
      );
    }
  }
}

const memberRoleSelect = { name: true, permissions: true } satisfies Prisma.RoleSelect;

/** Locks the team's row for the rest of the transaction; NOT_FOUND when there is no such team. */
async function lockTeam(tx: Prisma.TransactionClient, teamId: string) {
  const rows = await tx.$queryRaw<Array<{ id: string }>>`SELECT "id" FROM "team" WHERE "id" = ${teamId} FOR UPDATE`;
  if (rows.length === 0) throw new AppError("NOT_FOUND", "Team not found");
}

export async function setMember(opts: { db: Db; bus: EventBus; actor: Principal; teamId: string; userId: string; roleId: string }) {
  await opts.db.$transaction(async (tx) => {
    await lockTeam(tx, opts.teamId);
    const [user, role, membership] = await Promise.all([
      tx.user.findUnique({ where: { id: opts.userId }, select: { id: true } }),
      tx.role.findUnique({ where: { id: opts.roleId }, select: memberRoleSelect }),
      tx.teamMember.findUnique({ where: { teamId_userId: { teamId: opts.teamId, userId: opts.userId } }, select: { role: { select: memberRoleSelect } } }),
    ]);
    if (!user) throw new AppError("NOT_FOUND", "User not found");
    if (!role) throw new AppError("NOT_FOUND", "Role not found");
    await checkMembershipChange(tx, { actor: opts.actor, teamId: opts.teamId, userId: opts.userId, current: membership?.role ?? null, next: role });
    await tx.teamMember.upsert({
      where: { teamId_userId: { teamId: opts.teamId, userId: opts.userId } },
      create: { teamId: opts.teamId, userId: opts.userId, roleId: opts.roleId },
      update: { roleId: opts.roleId },
    });
  }).catch(goneMeanwhile("The team, user or role was removed meanwhile"));
  opts.bus.publish({ type: "access.changed", userId: opts.userId });
}

export async function removeMember(opts: { db: Db; bus: EventBus; actor: Principal; teamId: string; userId: string }) {
  await opts.db.$transaction(async (tx) => {
    await lockTeam(tx, opts.teamId);
    const membership = await tx.teamMember.findUnique({
      where: { teamId_userId: { teamId: opts.teamId, userId: opts.userId } },
      select: { role: { select: memberRoleSelect } },
    });
    if (!membership) throw new AppError("NOT_FOUND", "That user is not a member of this team");
    await checkMembershipChange(tx, { actor: opts.actor, teamId: opts.teamId, userId: opts.userId, current: membership.role, next: null });
    await tx.teamMember.delete({ where: { teamId_userId: { teamId: opts.teamId, userId: opts.userId } } });
  });
  opts.bus.publish({ type: "access.changed", userId: opts.userId });
}

export async function shareHost(opts: { db: Db; bus: EventBus; hostId: string; teamId: string }) {
  const [host, team] = await Promise.all([
    opts.db.host.findUnique({ where: { id: opts.hostId }, select: { id: true } }),
    opts.db.team.findUnique({ where: { id: opts.teamId }, select: { id: true } }),
  ]);
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  if (!team) throw new AppError("NOT_FOUND", "Team not found");
  await opts.db.hostTeam
    .upsert({
      where: { hostId_teamId: { hostId: opts.hostId, teamId: opts.teamId } },
      create: { hostId: opts.hostId, teamId: opts.teamId },
      update: {},
    })
    .catch(goneMeanwhile("The host or team was removed meanwhile"));
  opts.bus.publish({ type: "access.changed", userId: null });
  opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
}

export async function unshareHost(opts: { db: Db; bus: EventBus; hostId: string; teamId: string }) {
  const deleted = await opts.db.hostTeam.deleteMany({ where: { hostId: opts.hostId, teamId: opts.teamId } });
  if (!deleted.count) throw new AppError("NOT_FOUND", "The host is not shared with that team");
  opts.bus.publish({ type: "access.changed", userId: null });
  opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
}
