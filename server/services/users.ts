/**
 * Users and their sessions. Accounts are created by an admin (there is no
 * public sign-up): with an initial password the admin chooses, or one Berth
 * generates and shows once.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Auth } from "../auth/auth.ts";
import { Prisma, type Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { Permission } from "../auth/permissions.ts";
import { actsAsGlobalAdmin } from "./access.ts";
import { createUserWithPassword } from "./setup.ts";

export const ZInviteUserInput = z.object({
  name: z.string().trim().min(1).max(100),
  email: z.string().trim().toLowerCase().email().max(254),
  /** Omit to have Berth generate one (shown once). */
  password: z.string().min(12).max(256).optional(),
  globalAdmin: z.boolean().default(false),
  teamId: z.string().max(64).optional(),
  roleId: z.string().max(64).optional(),
});
export type TInviteUserInput = z.infer<typeof ZInviteUserInput>;

const userSelect = {
  id: true,
  name: true,
  email: true,
  role: true,
  banned: true,
  createdAt: true,
  memberships: { select: { team: { select: { id: true, name: true } }, role: { select: { id: true, name: true } } } },
} satisfies Prisma.UserSelect;

export function listUsers(db: Db) {
  return db.user.findMany({ select: userSelect, orderBy: { createdAt: "asc" } });
}

export async function inviteUser(opts: { db: Db; auth: Auth; input: TInviteUserInput }) {
  const { input } = opts;
  if ((input.teamId && !input.roleId) || (!input.teamId && input.roleId)) {
    throw new AppError("BAD_REQUEST", "Give both a team and a role, or neither");
  }
  if (input.teamId && input.roleId) {
    // Checked before the user exists: a refused invitation must not leave a user behind.
    const [team, role] = await Promise.all([
      opts.db.team.findUnique({ where: { id: input.teamId }, select: { id: true } }),
      opts.db.role.findUnique({ where: { id: input.roleId }, select: { id: true } }),
    ]);
    if (!team) throw new AppError("NOT_FOUND", "Team not found");
    if (!role) throw new AppError("NOT_FOUND", "Role not found");
  }
  const password = input.password ?? randomBytes(12).toString("base64url");
  const user = await createUserWithPassword(opts.auth, {
    name: input.name,
    email: input.email,
    password,
    role: input.globalAdmin ? "admin" : "user",
  });
  if (input.teamId && input.roleId) {
    await opts.db.teamMember.create({ data: { teamId: input.teamId, userId: user.id, roleId: input.roleId } }).catch(async (error: unknown) => {
      // The team or role was removed meanwhile: undo the user rather than leave one half-invited.
      await opts.db.user.deleteMany({ where: { id: user.id } });
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2003") throw new AppError("NOT_FOUND", "The team or role was removed meanwhile");
      throw error;
    });
  }
  return { userId: user.id, email: input.email, initialPassword: input.password ? null : password };
}

export async function setGlobalAdmin(opts: { db: Db; bus: EventBus; userId: string; actorId: string; globalAdmin: boolean }) {
  if (opts.userId === opts.actorId && !opts.globalAdmin) {
    throw new AppError("PRECONDITION_FAILED", "You cannot remove your own administrator rights");
  }
  const updated = await opts.db.user.updateMany({ where: { id: opts.userId }, data: { role: opts.globalAdmin ? "admin" : "user" } });
  if (!updated.count) throw new AppError("NOT_FOUND", "User not found");
  opts.bus.publish({ type: "access.changed", userId: opts.userId });
}

export async function removeUser(opts: { db: Db; bus: EventBus; userId: string; actorId: string }) {
  if (opts.userId === opts.actorId) throw new AppError("PRECONDITION_FAILED", "You cannot remove yourself");
  const deleted = await opts.db.user.deleteMany({ where: { id: opts.userId } });
  if (!deleted.count) throw new AppError("NOT_FOUND", "User not found");
  opts.bus.publish({ type: "access.changed", userId: opts.userId });
}

// ------------------------------------------------------------------ sessions

export async function listSessions(db: Db, userId: string, currentSessionId: string | null) {
  const sessions = await db.session.findMany({
    where: { userId, expiresAt: { gt: new Date() } },
    select: { id: true, createdAt: true, updatedAt: true, expiresAt: true, ipAddress: true, userAgent: true },
    orderBy: { updatedAt: "desc" },
  });
  return sessions.map((s) => ({ ...s, current: s.id === currentSessionId }));
}

/**
 * Ends one session of `userId` (the caller's own, or — for an admin — the
 * user named in the request). The session must belong to that user: a session
 * id of someone else is "not found", never deleted, so the user whose open
 * streams are re-checked is always the session's owner.
 * Deleting the row ends the session at once: every request re-reads it (no cookie cache).
 */
export async function revokeSession(opts: { db: Db; bus: EventBus; userId: string; sessionId: string }) {
  const deleted = await opts.db.session.deleteMany({ where: { id: opts.sessionId, userId: opts.userId } });
  if (!deleted.count) throw new AppError("NOT_FOUND", "This user has no such session");
  opts.bus.publish({ type: "access.changed", userId: opts.userId });
}

/** Whether a stream opened by this caller may go on: the session or token is still valid. */
export async function isCredentialAlive(db: Db, principal: { sessionId: string | null; tokenId: string | null }): Promise<boolean> {
  if (principal.sessionId) {
    const session = await db.session.findUnique({ where: { id: principal.sessionId }, select: { expiresAt: true } });
    return Boolean(session && session.expiresAt > new Date());
  }
  if (principal.tokenId) {
    const token = await db.apiToken.findUnique({ where: { id: principal.tokenId }, select: { revokedAt: true, expiresAt: true } });
    return Boolean(token && !token.revokedAt && (!token.expiresAt || token.expiresAt > new Date()));
  }
  return false;
}

/**
 * The caller of a long-lived stream, re-read: null when their session or token
 * ended (or the user is gone), else the principal with their current global
 * admin flag (an admin demoted mid-stream must not keep admin reach; a
 * narrowed token never gains it).
 */
export async function refreshPrincipal<
  P extends { userId: string; sessionId: string | null; tokenId: string | null; isGlobalAdmin: boolean; tokenPermissions: ReadonlySet<Permission> | null },
>(db: Db, principal: P): Promise<P | null> {
  if (!(await isCredentialAlive(db, principal))) return null;
  const user = await db.user.findUnique({ where: { id: principal.userId }, select: { role: true } });
  return user ? { ...principal, isGlobalAdmin: actsAsGlobalAdmin(user.role, principal.tokenPermissions) } : null;
}
