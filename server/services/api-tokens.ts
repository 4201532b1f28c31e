/**
 * API tokens for automation: `Authorization: Bearer bat_…` (never in a URL).
 * A token acts as its user — with all of their permissions, or narrowed to a
 * list, chosen explicitly at creation — never manages accounts (tokens,
 * sessions, passwords: see `sessionProcedure`), and is
 * stored only as a SHA-256 hash (the token is 256 random bits, so a fast hash
 * is the right tool: nothing to brute-force).
 *
 * Hand-rolled rather than better-auth's api-key plugin: that plugin's current
 * release pins older better-auth internals than the core we use (npm ERESOLVE),
 * and what we need here is thirty lines.
 */
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { ALL_PERMISSIONS, ZPermission, type Permission } from "../auth/permissions.ts";
import type { Db, Prisma } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { actsAsGlobalAdmin, type Principal } from "./access.ts";

export const API_TOKEN_PREFIX = "bat_";

/**
 * What a token holds is an explicit choice: everything its user holds
 * (`{ all: true }`), or a non-empty list of permissions (held only where the
 * user holds them). There is no default and no "empty list means all".
 */
export const ZApiTokenScope = z.union([
  z.object({ all: z.literal(true) }).strict(),
  z.object({ permissions: z.array(ZPermission).min(1, "Pick at least one permission, or choose all of yours").max(20) }).strict(),
]);
export type TApiTokenScope = z.infer<typeof ZApiTokenScope>;

export const ZCreateApiTokenInput = z.object({
  name: z.string().trim().min(1).max(100),
  scope: ZApiTokenScope,
  expiresInDays: z.number().int().min(1).max(3650).nullable().default(90),
});
export type TCreateApiTokenInput = z.infer<typeof ZCreateApiTokenInput>;

const tokenSelect = {
  id: true,
  name: true,
  prefix: true,
  allPermissions: true,
  permissions: true,
  expiresAt: true,
  lastUsedAt: true,
  revokedAt: true,
  createdAt: true,
} satisfies Prisma.ApiTokenSelect;

function hashToken(token: string) {
  return createHash("sha256").update(token).digest("hex");
}

export async function createApiToken(opts: { db: Db; userId: string; input: TCreateApiTokenInput }) {
  const token = API_TOKEN_PREFIX + randomBytes(32).toString("base64url");
  const row = await opts.db.apiToken.create({
    data: {
      userId: opts.userId,
      name: opts.input.name,
      prefix: token.slice(0, 10),
      tokenHash: hashToken(token),
      allPermissions: "all" in opts.input.scope,
      permissions: "permissions" in opts.input.scope ? [...new Set(opts.input.scope.permissions)] : [],
      expiresAt: opts.input.expiresInDays ? new Date(Date.now() + opts.input.expiresInDays * 86_400_000) : null,
    },
    select: tokenSelect,
  });
  return { ...row, token };
}

export function listApiTokens(db: Db, userId: string) {
  return db.apiToken.findMany({ where: { userId }, select: tokenSelect, orderBy: { createdAt: "desc" } });
}

/**
 * Revokes an active token: the caller's own, or anyone's for a global admin
 * (`asAdmin`, which the router grants only to a global admin's browser
 * session). The token's OWNER is told (their open streams re-check at once),
 * whoever revoked it.
 */
export async function revokeApiToken(opts: { db: Db; bus: EventBus; userId: string; tokenId: string; asAdmin: boolean }) {
  const where = { id: opts.tokenId, revokedAt: null, ...(opts.asAdmin ? {} : { userId: opts.userId }) };
  const token = await opts.db.apiToken.findFirst({ where, select: { id: true, userId: true } });
  if (!token) throw new AppError("NOT_FOUND", "No such active token");
  const revoked = await opts.db.apiToken.updateMany({ where: { ...where, userId: token.userId }, data: { revokedAt: new Date() } });
  if (revoked.count === 0) throw new AppError("NOT_FOUND", "No such active token");
  opts.bus.publish({ type: "access.changed", userId: token.userId });
}

/** Resolves a bearer token to the principal it acts as, or null when unusable. */
export async function resolveApiToken(db: Db, token: string): Promise<Principal | null> {
  if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 200) return null;
  const row = await db.apiToken.findUnique({
    where: { tokenHash: hashToken(token) },
    select: {
      id: true,
      allPermissions: true,
      permissions: true,
      expiresAt: true,
      revokedAt: true,
      lastUsedAt: true,
      user: { select: { id: true, email: true, name: true, role: true, banned: true } },
    },
  });
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= new Date()) || row.user.banned) return null;
  // Last-used is informative; refresh it at most once a minute per token.
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() }, select: { id: true } });
  }
  // Deny by default: a token without the explicit "all" flag holds its list and nothing else (an empty list holds nothing).
  const tokenPermissions = row.allPermissions ? null : new Set(row.permissions.filter((p): p is Permission => ALL_PERMISSIONS.has(p as Permission)));
  return {
    kind: "api_token",
    userId: row.user.id,
    email: row.user.email,
    name: row.user.name,
    isGlobalAdmin: actsAsGlobalAdmin(row.user.role, tokenPermissions),
    sessionId: null,
    tokenId: row.id,
    tokenPermissions,
  };
}
