/**
 * Who may do what. Every permission decision in Berth goes through here.
 */
import { ALL_PERMISSIONS, PERMISSIONS, type Permission } from "../auth/permissions.ts";
import type { Db } from "../db/client.ts";

/** The authenticated caller of a request: a signed-in user or an API token acting for one. */
export type Principal = {
  kind: "user" | "api_token";
  userId: string;
  email: string;
  name: string;
  /** Acts as a global admin: see `actsAsGlobalAdmin` (false for every narrowed token). */
  isGlobalAdmin: boolean;
  sessionId: string | null;
  tokenId: string | null;
  /** An API token narrowed to these permissions; null = all of its user's. */
  tokenPermissions: ReadonlySet<Permission> | null;
};

/**
 * Whether a caller acts as a global admin: an admin's browser session, or an
 * admin's token created with "all of my permissions". A token narrowed to
 * some permissions is never a global admin — it holds its permissions only
 * where its user's team memberships give them — so no admin-only path
 * (admin procedures, every host, every team, global audit events) is open to it.
 */
export function actsAsGlobalAdmin(userRole: string | null | undefined, tokenPermissions: ReadonlySet<Permission> | null): boolean {
  return userRole === "admin" && tokenPermissions === null;
}

function narrow(principal: Principal, permissions: Iterable<Permission>): Set<Permission> {
  const result = new Set<Permission>();
  for (const permission of permissions) {
    if (!principal.tokenPermissions || principal.tokenPermissions.has(permission)) result.add(permission);
  }
  return result;
}

function toPermissions(values: string[]): Permission[] {
  return values.filter((v): v is Permission => ALL_PERMISSIONS.has(v as Permission));
}

/** Permissions on one host: the union over every team the host belongs to. */
export async function permissionsOnHost(db: Db, principal: Principal, hostId: string): Promise<Set<Permission>> {
  if (principal.isGlobalAdmin) return narrow(principal, PERMISSIONS);
  const memberships = await db.teamMember.findMany({
    where: { userId: principal.userId, team: { hosts: { some: { hostId } } } },
    select: { role: { select: { permissions: true } } },
  });
  return narrow(principal, memberships.flatMap((m) => toPermissions(m.role.permissions)));
}

/** Permissions on one image registry: the union over every team it is shared with. */
export async function permissionsOnRegistry(db: Db, principal: Principal, registryId: string): Promise<Set<Permission>> {
  if (principal.isGlobalAdmin) return narrow(principal, PERMISSIONS);
  const memberships = await db.teamMember.findMany({
    where: { userId: principal.userId, team: { registries: { some: { registryId } } } },
    select: { role: { select: { permissions: true } } },
  });
  return narrow(principal, memberships.flatMap((m) => toPermissions(m.role.permissions)));
}

/** In one team (also usable inside a transaction: it only reads memberships). */
export async function permissionsInTeam(db: Pick<Db, "teamMember">, principal: Principal, teamId: string): Promise<Set<Permission>> {
  if (principal.isGlobalAdmin) return narrow(principal, PERMISSIONS);
  const membership = await db.teamMember.findUnique({
    where: { teamId_userId: { teamId, userId: principal.userId } },
    select: { role: { select: { permissions: true } } },
  });
  return narrow(principal, toPermissions(membership?.role.permissions ?? []));
}

/** Team ids where the principal holds `permission`; null means "every team" (global admin). */
export async function teamsWithPermission(db: Db, principal: Principal, permission: Permission): Promise<string[] | null> {
  if (principal.tokenPermissions && !principal.tokenPermissions.has(permission)) return [];
  if (principal.isGlobalAdmin) return null;
  const memberships = await db.teamMember.findMany({
    where: { userId: principal.userId, role: { permissions: { has: permission } } },
    select: { teamId: true },
  });
  return memberships.map((m) => m.teamId);
}

/** Host ids visible with `permission`; null means all hosts. */
export async function hostsWithPermission(db: Db, principal: Principal, permission: Permission): Promise<string[] | null> {
  const teamIds = await teamsWithPermission(db, principal, permission);
  if (teamIds === null) return null;
  if (teamIds.length === 0) return [];
  const rows = await db.hostTeam.findMany({ where: { teamId: { in: teamIds } }, select: { hostId: true }, distinct: ["hostId"] });
  return rows.map((r) => r.hostId);
}

/** What the UI needs to hide what a user may not do. */
export async function effectivePermissions(db: Db, principal: Principal) {
  const memberships = principal.isGlobalAdmin
    ? []
    : await db.teamMember.findMany({
        where: { userId: principal.userId },
        select: { teamId: true, team: { select: { name: true, hosts: { select: { hostId: true } } } }, role: { select: { name: true, permissions: true } } },
      });
  const byHost: Record<string, Set<Permission>> = {};
  for (const m of memberships) {
    for (const { hostId } of m.team.hosts) {
      byHost[hostId] ??= new Set();
      for (const p of narrow(principal, toPermissions(m.role.permissions))) byHost[hostId].add(p);
    }
  }
  return {
    isGlobalAdmin: principal.isGlobalAdmin,
    global: principal.isGlobalAdmin ? [...narrow(principal, PERMISSIONS)] : [],
    teams: memberships.map((m) => ({
      teamId: m.teamId,
      teamName: m.team.name,
      roleName: m.role.name,
      permissions: [...narrow(principal, toPermissions(m.role.permissions))],
    })),
    hosts: Object.fromEntries(Object.entries(byHost).map(([hostId, set]) => [hostId, [...set]])),
  };
}
