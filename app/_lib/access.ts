/**
 * What the signed-in user may do, read from `auth.me.access`, so pages hide
 * what they may not. The server checks every call anyway: this only keeps
 * buttons that would be refused off the screen.
 */
import type { Permission } from "../../server/auth/permissions.ts";
import type { SessionUser } from "./session";

export function isGlobalAdmin(user: SessionUser): boolean {
  return user.access.isGlobalAdmin;
}

/** On one host: a global admin holds everything (minus a narrowed token's cut), others what their teams' roles give. */
export function canOnHost(user: SessionUser, hostId: string, permission: Permission): boolean {
  if (user.access.isGlobalAdmin) return user.access.global.includes(permission);
  return user.access.hosts[hostId]?.includes(permission) ?? false;
}

/** In one team. */
export function canInTeam(user: SessionUser, teamId: string, permission: Permission): boolean {
  if (user.access.isGlobalAdmin) return user.access.global.includes(permission);
  return user.access.teams.some((t) => t.teamId === teamId && t.permissions.includes(permission));
}

/** Anywhere: globally or in at least one team (e.g. whether to show the Audit page at all). */
export function canAnywhere(user: SessionUser, permission: Permission): boolean {
  return user.access.global.includes(permission) || user.access.teams.some((t) => t.permissions.includes(permission));
}
