/**
 * Authentication through better-auth: email + password, httpOnly session
 * cookies, sessions stored in Postgres via Prisma. Chosen over hand-rolled
 * crypto because it gives vetted password hashing (scrypt), session
 * rotation and revocation, rate limiting, and — for later — OIDC on the same
 * tables.
 *
 * Public sign-up is disabled: the first admin comes from the setup step,
 * everyone else is invited by an admin. Sign-in (success and failure),
 * sign-out and password changes are written to the audit trail here, in the
 * auth library's own hooks, because those requests never pass through tRPC.
 * Like every action, signing in or out is refused when its record cannot be
 * written: the trail is probed before a sign-in, a sign-out is recorded
 * before it happens, and a session whose sign-in could not be recorded after
 * all is deleted before the answer leaves.
 */
import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { APIError, createAuthMiddleware, isAPIError } from "better-auth/api";
import { admin } from "better-auth/plugins";
import type { Db } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import { appendAuditEvent, assertAuditWritable, type AuditActor, type AuditRequestMeta } from "../services/audit/append.ts";

const log = createLogger("auth");

export type AuthOptions = {
  db: Db;
  bus?: EventBus;
  secret: string;
  baseURL: string;
  /** True when served over plain http on a developer machine. */
  insecureCookies?: boolean;
};

function requestOf(headers: Headers | undefined): AuditRequestMeta {
  return {
    // The server sets x-forwarded-for to the real peer (or the trusted proxy's value) before auth sees the request.
    ip: headers?.get("x-forwarded-for")?.split(",")[0]?.trim() ?? null,
    userAgent: headers?.get("user-agent") ?? null,
    requestId: headers?.get("x-request-id") ?? null,
  };
}

const TRAIL_DOWN = "The audit trail cannot be written right now, so this action was refused.";

export function createAuth(options: AuthOptions) {
  /** Appends, or throws a 503 for better-auth to answer with. */
  const auditOrRefuse = async (actor: AuditActor, action: string, outcome: "SUCCESS" | "FAILURE", headers: Headers | undefined) => {
    try {
      await appendAuditEvent({ db: options.db, bus: options.bus, event: { actor, action, outcome, request: requestOf(headers) } });
    } catch (error) {
      log.error("could not audit an auth event; refusing it", { action, error: String(error) });
      throw new APIError("SERVICE_UNAVAILABLE", { message: TRAIL_DOWN });
    }
  };
  const audit = async (actor: AuditActor, action: string, outcome: "SUCCESS" | "FAILURE", headers: Headers | undefined, extra: { params?: unknown; error?: string | null } = {}) => {
    try {
      await appendAuditEvent({ db: options.db, bus: options.bus, event: { actor, action, outcome, request: requestOf(headers), ...extra } });
    } catch (error) {
      log.error("could not audit an auth event", { action, error: String(error) });
    }
  };

  const publicOrigin = new URL(options.baseURL).origin;
  /** The email a sign-in names, as recorded in the audit trail. */
  const signInEmail = (body: { email?: unknown } | undefined) => (typeof body?.email === "string" ? body.email.toLowerCase().slice(0, 254) : "unknown");
  const auth = betterAuth({
    appName: "Berth",
    baseURL: options.baseURL,
    basePath: "/api/auth",
    secret: options.secret,
    database: prismaAdapter(options.db, { provider: "postgresql" }),
    emailAndPassword: { enabled: true, disableSignUp: true, minPasswordLength: 12 },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    plugins: [admin()],
    telemetry: { enabled: false },
    // Keyed on x-forwarded-for, which the server always overwrites with the real client address.
    rateLimit: {
      enabled: true,
      storage: "database",
      window: 60,
      max: 100,
      customRules: { "/sign-in/email": { window: 60, max: 10 }, "/change-password": { window: 60, max: 10 } },
    },
    advanced: {
      useSecureCookies: !options.insecureCookies,
      cookiePrefix: "berth",
      ipAddress: { ipAddressHeaders: ["x-forwarded-for"] },
    },
    trustedOrigins: [options.baseURL],
    hooks: {
      before: createAuthMiddleware(async (ctx) => {
        if (ctx.path === "/sign-in/email") {
          // A browser always names the page that sends this. From any other address than Berth's own, better-auth
          // would let a first sign-in through (no cookie there yet) and then refuse that session's sign-out as
          // "Invalid origin": refuse it now, in words that say where Berth is. Scripts send no Origin.
          const origin = ctx.headers?.get("origin");
          if (origin && origin !== publicOrigin) {
            const email = signInEmail(ctx.body);
            const message = `Sign-in is only accepted at ${publicOrigin}, the address Berth is set up for (BERTH_PUBLIC_URL). Open Berth there, or set BERTH_PUBLIC_URL to the address you use.`;
            await audit({ type: "ANONYMOUS", id: null, label: email }, "auth.signIn", "FAILURE", ctx.headers, { params: { email }, error: `from ${origin.slice(0, 200)}: ${message}` });
            throw new APIError("FORBIDDEN", { message });
          }
          await assertAuditWritable(options.db).catch((error: unknown) => {
            log.error("audit trail not writable; refusing a sign-in", { error: String(error) });
            throw new APIError("SERVICE_UNAVAILABLE", { message: TRAIL_DOWN });
          });
          return;
        }
        if (ctx.path !== "/sign-out" || !ctx.headers) return;
        const session = await auth.api.getSession({ headers: ctx.headers }).catch(() => null);
        // Recorded before it happens: if the record cannot be written, the session stays.
        if (session) await auditOrRefuse({ type: "USER", id: session.user.id, label: session.user.email }, "auth.signOut", "SUCCESS", ctx.headers);
      }),
      after: createAuthMiddleware(async (ctx) => {
        const returned = ctx.context.returned;
        const failed = isAPIError(returned) || returned instanceof Error;
        const errorText = failed ? (returned as Error).message || "refused" : null;
        if (ctx.path === "/sign-in/email") {
          const email = signInEmail(ctx.body);
          const session = ctx.context.newSession;
          if (session && !failed) {
            try {
              await auditOrRefuse({ type: "USER", id: session.user.id, label: session.user.email }, "auth.signIn", "SUCCESS", ctx.headers);
            } catch (refusal) {
              // The probe passed moments ago, but the record still failed: the session must not outlive it.
              await options.db.session.deleteMany({ where: { token: session.session.token } }).catch((error: unknown) =>
                log.error("could not delete an unrecorded session", { error: String(error) }),
              );
              throw refusal;
            }
          } else {
            await audit({ type: "ANONYMOUS", id: null, label: email }, "auth.signIn", "FAILURE", ctx.headers, { params: { email }, error: errorText });
          }
        } else if (ctx.path === "/change-password") {
          const session = ctx.context.session;
          const actor: AuditActor = session ? { type: "USER", id: session.user.id, label: session.user.email } : { type: "ANONYMOUS", id: null, label: "anonymous" };
          await audit(actor, "auth.changePassword", failed ? "FAILURE" : "SUCCESS", ctx.headers, { error: errorText });
          if (session && !failed) options.bus?.publish({ type: "access.changed", userId: session.user.id });
        }
      }),
    },
  });
  return auth;
}

export type Auth = ReturnType<typeof createAuth>;
export type AuthSession = NonNullable<Awaited<ReturnType<Auth["api"]["getSession"]>>>;
