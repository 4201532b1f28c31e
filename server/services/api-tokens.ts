/**
 * API tokens for automation: `Authorization: Bearer bat_…` (never in a URL).
 * A token acts as its user, optionally narrowed to fewer permissions, and is
 * stored only as a SHA-256 hash (the token is 256 random bits, so a fast hash
 * is the right tool: nothing to brute-force).
 *
 * Hand-rolled rather than better-auth's api-key plugin: that plugin's current
 * release pins older better-auth internals than the core we use (npm ERESOLVE),
 * and what we need here is thirty lines.
 */
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { ZPermission, type Permission } from "../auth/permissions.ts";
import type { Db, Prisma } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { Principal } from "./access.ts";

export const API_TOKEN_PREFIX = "bat_";

export const ZCreateApiTokenInput = z.object({
  name: z.string().trim().min(1).max(100),
  permissions: z.array(ZPermission).max(20).default([]),
  expiresInDays: z.number().int().min(1).max(3650).nullable().default(90),
});
export type TCreateApiTokenInput = z.infer<typeof ZCreateApiTokenInput>;

const tokenSelect = {
  id: true,
  name: true,
  prefix: true,
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
      permissions: opts.input.permissions,
      expiresAt: opts.input.expiresInDays ? new Date(Date.now() + opts.input.expiresInDays * 86_400_000) : null,
    },
    select: tokenSelect,
  });
  return { ...row, token };
}

export function listApiTokens(db: Db, userId: string) {
  return db.apiToken.findMany({ where: { userId }, select: tokenSelect, orderBy: { createdAt: "desc" } });
}

export async function revokeApiToken(opts: { db: Db; userId: string; tokenId: string; asAdmin: boolean }) {
  const revoked = await opts.db.apiToken.updateMany({
    where: { id: opts.tokenId, revokedAt: null, ...(opts.asAdmin ? {} : { userId: opts.userId }) },
    data: { revokedAt: new Date() },
  });
  if (revoked.count === 0) throw new AppError("NOT_FOUND", "No such active token");
}

/** Resolves a bearer token to the principal it acts as, or null when unusable. */
export async function resolveApiToken(db: Db, token: string): Promise<Principal | null> {
  if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 200) return null;
  const row = await db.apiToken.findUnique({
    where: { tokenHash: hashToken(token) },
    select: {
      id: true,
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
  return {
    kind: "api_token",
    userId: row.user.id,
    email: row.user.email,
    name: row.user.name,
    isGlobalAdmin: row.user.role === "admin",
    sessionId: null,
    tokenId: row.id,
    tokenPermissions: row.permissions.length ? new Set(row.permissions as Permission[]) : null,
  };
}
