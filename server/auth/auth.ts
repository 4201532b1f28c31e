/**
 * Authentication through better-auth: email + password, httpOnly session
 * cookies, sessions stored in Postgres via Prisma. Chosen over hand-rolled
 * crypto because it gives audited password hashing (scrypt), session
 * rotation and revocation, rate limiting, and — for later — organizations,
 * API keys and OIDC on the same tables.
 *
 * Public sign-up is disabled: the first admin comes from the setup step,
 * everyone else is added by an admin.
 */
import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { admin } from "better-auth/plugins";
import type { Db } from "../db/client.ts";

export type AuthOptions = {
  db: Db;
  secret: string;
  baseURL: string;
  /** True when served over plain http on a developer machine. */
  insecureCookies?: boolean;
};

export function createAuth(options: AuthOptions) {
  return betterAuth({
    appName: "Berth",
    baseURL: options.baseURL,
    basePath: "/api/auth",
    secret: options.secret,
    database: prismaAdapter(options.db, { provider: "postgresql" }),
    emailAndPassword: { enabled: true, disableSignUp: true, minPasswordLength: 12 },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    plugins: [admin()],
    telemetry: { enabled: false },
    rateLimit: { enabled: true, window: 60, max: 100, customRules: { "/sign-in/email": { window: 60, max: 10 } } },
    advanced: {
      useSecureCookies: !options.insecureCookies,
      cookiePrefix: "berth",
    },
    trustedOrigins: [options.baseURL],
  });
}

export type Auth = ReturnType<typeof createAuth>;
export type AuthSession = NonNullable<Awaited<ReturnType<Auth["api"]["getSession"]>>>;
