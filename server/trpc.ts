/**
 * tRPC is initialised once, here. Every procedure is built from one of the
 * bases below, and each base declares its access rule in the procedure's
 * meta, which ONE middleware (`checkAccess`) enforces:
 *
 *   publicProcedure              — anyone (setup status, setup)
 *   authedProcedure              — any signed-in caller, session or API token (their own profile, scoped lists)
 *   sessionProcedure             — a signed-in browser session, never an API token (own sessions, tokens)
 *   hostProcedure(permission)    — input has `hostId`; needs the permission on that host
 *   teamProcedure(permission)    — input has `teamId`; needs the permission in that team
 *   registryProcedure(permission) — input has `registryId`; needs the permission in a team the registry is shared with
 *   hostItemsProcedure           — input lists items on several hosts; each is authorized by the service
 *   adminProcedure               — global admins (a session, or their API token made with all permissions)
 *   adminSessionProcedure        — global admins through a browser session (other users' sessions)
 *
 * Deny by default: a procedure whose meta carries no access rule is refused
 * at run time, and test/integration/authorization.test.ts fails for it — as it
 * does for a procedure missing from the policy table (test/policy/policy.ts)
 * or whose rule here is looser than the table's.
 * Every mutation is recorded in the audit trail by `recordAudit` (success or
 * failure with the error text), and every refusal by `checkAccess` (denied).
 */
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import { describeZodError } from "../agent/protocol.ts";
import { type AccessRule, decideAccess, namesForAttempt, recordAttempt } from "./auth/guard.ts";
import type { Permission } from "./auth/permissions.ts";
import type { Context } from "./context.ts";
import { type AppErrorCode, isAppError } from "./errors.ts";
import { createLogger } from "./logger.ts";
import { assertAuditWritable } from "./services/audit/append.ts";
import { findUnstorableText, unstorableTextMessage } from "./text.ts";

const log = createLogger("trpc");

export type { AccessRule };

export type ProcedureMeta = {
  access?: AccessRule;
  /**
   * Mutations are audited unless a procedure opts out (false: e.g. it audits itself inside its
   * transaction); a query is audited when it sets true (e.g. it reaches a registry with stored credentials).
   */
  audit?: boolean;
};

const TRPC_CODE: Record<AppErrorCode, TRPCError["code"]> = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  PRECONDITION_FAILED: "PRECONDITION_FAILED",
  HOST_OFFLINE: "PRECONDITION_FAILED",
  DOCKER_ERROR: "UNPROCESSABLE_CONTENT",
  TIMEOUT: "TIMEOUT",
  AGENT_ERROR: "BAD_GATEWAY",
  INTERNAL: "INTERNAL_SERVER_ERROR",
};

const t = initTRPC
  .context<Context>()
  .meta<ProcedureMeta>()
  .create({
    transformer: superjson,
    // Live streams send a ping while idle: proxies keep them open and a client knows a silent one is alive.
    sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 40_000 } },
    errorFormatter({ shape, error }) {
      const appError = isAppError(error.cause) ? error.cause : null;
      // Input the transformer could not revive (e.g. a garbled superjson meta) fails with a raw
      // TypeError ("Cannot read properties of undefined"): say what was wrong instead.
      const unreadable = error.code === "BAD_REQUEST" && error.cause instanceof TypeError;
      // Zod's own message is its issues as a JSON dump: people read "name: Too small" better.
      const invalid = error.cause instanceof ZodError ? error.cause : null;
      const message = unreadable
        ? "The request input could not be read: malformed JSON or superjson metadata"
        : invalid
          ? `Invalid input: ${describeZodError(invalid)}`
          : shape.message;
      const issues = invalid?.issues.slice(0, 20).map((issue) => ({ path: issue.path.map(String), message: issue.message })) ?? null;
      return { ...shape, message, data: { ...shape.data, appCode: appError?.code ?? null, issues, stack: undefined } };
    },
  });

/** Turns AppError into TRPCError with the same message; hides everything else. */
const mapAppErrors = t.middleware(async ({ next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (isAppError(cause)) {
      result.error = new TRPCError({ code: TRPC_CODE[cause.code], message: cause.message, cause });
    } else if (result.error.code === "INTERNAL_SERVER_ERROR") {
      log.error(`procedure ${path} failed`, { error: String(cause ?? result.error) });
      result.error = new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "Something went wrong on the server" });
    }
  }
  return result;
});

/** Text the database cannot store would fail deep in a query as an internal error: refuse it up front. */
const rejectUnstorableText = t.middleware(async ({ getRawInput, next }) => {
  const where = findUnstorableText(await getRawInput());
  if (where) throw new TRPCError({ code: "BAD_REQUEST", message: unstorableTextMessage(where) });
  return next();
});

async function refuse(ctx: Context, path: string, input: unknown, code: "UNAUTHORIZED" | "FORBIDDEN", message: string, record: boolean): Promise<never> {
  if (record) await recordAttempt(ctx, path, input, "DENIED", message, "could not record a denied attempt");
  throw new TRPCError({ code, message });
}

/** The one place procedure access rules are enforced (the decision itself is shared with sockets). */
const checkAccess = t.middleware(async ({ ctx, meta, path, type, getRawInput, next }) => {
  const rule = meta?.access;
  if (!rule) {
    log.error(`procedure ${path} declares no access rule; refusing`);
    throw new TRPCError({ code: "FORBIDDEN", message: "This operation is not available" });
  }
  if (rule.scope === "public") return next();
  const input = await getRawInput();
  const decision = await decideAccess(ctx.db, ctx.principal, rule, input);
  if (decision.ok) return next({ ctx: { ...ctx, principal: ctx.principal } });
  if (decision.code === "BAD_REQUEST") throw new TRPCError({ code: "BAD_REQUEST", message: decision.message });
  // Anonymous reads are not worth a row each; anonymous attempts to change things are.
  return refuse(ctx, path, input, decision.code, decision.message, decision.code === "FORBIDDEN" || type === "mutation");
});

/**
 * Records every mutation's outcome. Before the mutation runs, proves the
 * audit trail is writable: if it is not, the action is refused.
 */
const recordAudit = t.middleware(async ({ ctx, meta, path, type, getRawInput, next }) => {
  if (meta?.audit === false || (type !== "mutation" && meta?.audit !== true)) return next();
  const input = await getRawInput();
  await assertAuditWritable(ctx.db).catch((error: unknown) => {
    log.error("audit trail not writable; refusing", { path, error: String(error) });
    throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "The audit trail cannot be written right now, so this action was refused." });
  });
  // Read before acting: a removal takes the container's name with it.
  const names = ctx.principal ? await namesForAttempt(ctx, input) : undefined;
  const result = await next();
  const error = result.ok ? null : isAppError(result.error.cause) ? result.error.cause.message : result.error.message;
  // The probe above passed moments ago; losing this row is logged loudly.
  await recordAttempt(ctx, path, input, result.ok ? "SUCCESS" : "FAILURE", error, "AUDIT WRITE FAILED after the action ran", names);
  return result;
});

/** Types the principal as present for the bases whose rule (already enforced above) requires one. */
const withPrincipal = t.middleware(({ ctx, next }) => {
  if (!ctx.principal) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in first" });
  return next({ ctx: { ...ctx, principal: ctx.principal } });
});

const base = t.procedure.use(mapAppErrors).use(rejectUnstorableText).use(checkAccess).use(recordAudit);
const signedIn = base.use(withPrincipal);

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = base.meta({ access: { scope: "public" } });
export const authedProcedure = signedIn.meta({ access: { scope: "authenticated" } });
export const sessionProcedure = signedIn.meta({ access: { scope: "session" } });
export const adminProcedure = signedIn.meta({ access: { scope: "admin" } });
export const adminSessionProcedure = signedIn.meta({ access: { scope: "admin", session: true } });
export const hostProcedure = (permission: Permission) => signedIn.meta({ access: { scope: "host", permission } });
export const teamProcedure = (permission: Permission) => signedIn.meta({ access: { scope: "team", permission } });
/** Input has `registryId`; needs the permission in a team the registry is shared with. */
export const registryProcedure = (permission: Permission) => signedIn.meta({ access: { scope: "registry", permission } });
/** Input lists `{ hostId, ... }` items; the service authorizes each item on its own host (bulk actions). */
export const hostItemsProcedure = signedIn.meta({ access: { scope: "hostItems" } });
