/**
 * First-run setup: who becomes the first admin.
 *
 * With no user yet, the server prints a one-time setup code in its log; only
 * someone who can read the server's log can claim admin. Claiming is a single
 * conditional UPDATE, so two racing browsers cannot both succeed.
 * BERTH_ADMIN_EMAIL + BERTH_ADMIN_PASSWORD skip the code (unattended installs).
 */
import { createHash, randomBytes, randomInt } from "node:crypto";
import { z } from "zod";
import type { Auth } from "../auth/auth.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { createLogger } from "../logger.ts";

const log = createLogger("setup");

export const ZSetupInput = z.object({
  code: z.string().trim().min(6).max(64),
  name: z.string().trim().min(1).max(100),
  email: z.string().trim().toLowerCase().email().max(254),
  password: z.string().min(12).max(256),
});
export type TSetupInput = z.infer<typeof ZSetupInput>;

function hashCode(code: string): string {
  return createHash("sha256").update(code.replace(/[\s-]/g, "").toUpperCase()).digest("hex");
}

/** Human-friendly: 12 characters from an alphabet without look-alikes, shown as XXXX-XXXX-XXXX. */
function newSetupCode(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const chars = Array.from({ length: 12 }, () => alphabet[randomInt(alphabet.length)]);
  return `${chars.slice(0, 4).join("")}-${chars.slice(4, 8).join("")}-${chars.slice(8).join("")}`;
}

/** Whether no user exists yet. One row looked up, not counted: the same answer, and no aggregate to misread. */
export async function needsSetup(db: Db): Promise<boolean> {
  return (await db.user.findFirst({ select: { id: true } })) === null;
}

export async function createUserWithPassword(
  auth: Auth,
  input: { name: string; email: string; password: string; role: "admin" | "user" },
) {
  const ctx = await auth.$context;
  const existing = await ctx.internalAdapter.findUserByEmail(input.email);
  if (existing) throw new AppError("CONFLICT", "A user with this email already exists");
  const user = await ctx.internalAdapter
    .createUser({ name: input.name, email: input.email, emailVerified: true, role: input.role }, { method: "admin" })
    .catch(async (error: unknown) => {
      // Two invitations of one address at once: both passed the check above, the unique index refused one.
      if (await ctx.internalAdapter.findUserByEmail(input.email)) throw new AppError("CONFLICT", "A user with this email already exists");
      throw error;
    });
  await ctx.internalAdapter.linkAccount({
    userId: user.id,
    providerId: "credential",
    accountId: user.id,
    password: await ctx.password.hash(input.password),
  });
  return user;
}

/**
 * Called at server start. Returns the setup code when one was issued so the
 * caller can print it prominently; null when setup is not needed.
 */
export async function prepareSetup(opts: {
  db: Db;
  auth: Auth;
  adminEmail?: string;
  adminPassword?: string;
}): Promise<string | null> {
  if (!(await needsSetup(opts.db))) return null;
  if (opts.adminEmail && opts.adminPassword) {
    await createUserWithPassword(opts.auth, {
      name: "Admin",
      email: opts.adminEmail.toLowerCase(),
      password: opts.adminPassword,
      role: "admin",
    });
    await opts.db.setupState.upsert({
      where: { id: 1 },
      create: { id: 1, codeHash: hashCode(randomBytes(16).toString("hex")), completedAt: new Date() },
      update: { completedAt: new Date() },
    });
    log.info(`first admin ${opts.adminEmail} created from BERTH_ADMIN_EMAIL/BERTH_ADMIN_PASSWORD`);
    return null;
  }
  const code = newSetupCode();
  await opts.db.setupState.upsert({
    where: { id: 1 },
    create: { id: 1, codeHash: hashCode(code) },
    update: { codeHash: hashCode(code), completedAt: null },
  });
  return code;
}

export async function completeSetup(opts: { db: Db; auth: Auth; input: TSetupInput }) {
  const { db, auth, input } = opts;
  // Once set up, the answer is a clear 409 before anything else is tried.
  const state = await db.setupState.findUnique({ where: { id: 1 }, select: { completedAt: true } });
  if (state?.completedAt || !(await needsSetup(db))) throw new AppError("CONFLICT", "Berth is already set up. Sign in instead.");
  const claimed = await db.setupState.updateMany({
    where: { id: 1, completedAt: null, codeHash: hashCode(input.code) },
    data: { completedAt: new Date() },
  });
  if (claimed.count !== 1) {
    if (!(await needsSetup(db))) throw new AppError("CONFLICT", "Berth is already set up. Sign in instead.");
    throw new AppError("FORBIDDEN", "That setup code is not valid. Use the code printed in the server log.");
  }
  try {
    const user = await createUserWithPassword(auth, { ...input, role: "admin" });
    log.info(`first admin ${input.email} created through the setup page`);
    return { userId: user.id };
  } catch (error) {
    // Give the code back so setup can be retried after e.g. a bad password.
    await db.setupState.update({ where: { id: 1 }, data: { completedAt: null } });
    throw error;
  }
}
