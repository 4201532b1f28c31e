/**
 * The one access decision and the one "record this attempt" helper, shared by
 * the two doors into Berth: tRPC procedures (`checkAccess` in server/trpc.ts)
 * and browser socket events (server/gateway/browser-hub.ts). Both declare an
 * `AccessRule` per entry point; neither has a check of its own.
 */
import { z } from "zod";
import type { Db } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import { permissionsInTeam, permissionsOnHost, permissionsOnRegistry, type Principal } from "../services/access.ts";
import { appendAuditEvent, type AuditActor, type AuditRequestMeta } from "../services/audit/append.ts";
import { auditNamesFor, type AuditNames } from "../services/audit/names.ts";
import type { RefusalRecorder } from "../services/audit/refusals.ts";
import type { Permission } from "./permissions.ts";

const log = createLogger("guard");

export type AccessRule =
  | { scope: "public" }
  | { scope: "authenticated" }
  /** Signed in through a browser session: account management (tokens, sessions) is never open to API tokens. */
  | { scope: "session" }
  | { scope: "host"; permission: Permission }
  | { scope: "team"; permission: Permission }
  /** Input has `registryId`; the permission in any team the registry is shared with (like a host's teams). */
  | { scope: "registry"; permission: Permission }
  /**
   * Signed in; the input carries a list of items each naming its own host
   * (bulk actions across hosts). The service checks every item with a `host`
   * rule through `decideAccess` before acting on it (see services/container-bulk.ts).
   */
  | { scope: "hostItems" }
  /** Global admins; `session: true` also refuses API tokens, even an admin's all-permission one. */
  | { scope: "admin"; session?: true };

const SESSION_ONLY = "This needs a signed-in browser session: API tokens cannot manage accounts, tokens or sessions";

export type AccessDecision =
  | { ok: true }
  | { ok: false; code: "UNAUTHORIZED" | "FORBIDDEN" | "BAD_REQUEST"; message: string };

const ZScopeInput = z.object({
  hostId: z.string().min(1).max(64).optional(),
  teamId: z.string().min(1).max(64).optional(),
  registryId: z.string().min(1).max(64).optional(),
});
const TARGET_KEYS = ["containerId", "imageId", "userId", "roleId", "tokenId", "sessionId", "registryId", "teamId", "hostId", "name", "email"] as const;

export function scopeOf(input: unknown): { hostId?: string; teamId?: string; registryId?: string } {
  const parsed = ZScopeInput.safeParse(input);
  return parsed.success ? parsed.data : {};
}

function targetOf(input: unknown): string | null {
  if (!input || typeof input !== "object") return null;
  for (const key of TARGET_KEYS) {
    const value = (input as Record<string, unknown>)[key];
    if (typeof value === "string" && value) return `${key}:${value}`;
  }
  return null;
}

export function auditActor(principal: Principal | null): AuditActor {
  if (!principal) return { type: "ANONYMOUS", id: null, label: "anonymous" };
  if (principal.kind === "api_token") return { type: "API_TOKEN", id: principal.userId, label: `${principal.email} (token ${principal.tokenId})` };
  return { type: "USER", id: principal.userId, label: principal.email };
}

/**
 * The decision for a rule the principal alone settles (public, signed in,
 * session, admin), or null when it depends on the input's host, team or
 * registry and so on the database. Synchronous on purpose: a socket's hot
 * events (keystrokes, acks) pass it without yielding to the event loop.
 */
export function decideAccessWithoutDb(principal: Principal | null, rule: AccessRule): AccessDecision | null {
  if (rule.scope === "public") return { ok: true };
  if (!principal) return { ok: false, code: "UNAUTHORIZED", message: "Sign in first" };
  if (rule.scope === "authenticated" || rule.scope === "hostItems") return { ok: true };
  const viaSession = principal.kind === "user" && principal.sessionId !== null;
  if (rule.scope === "session") return viaSession ? { ok: true } : { ok: false, code: "FORBIDDEN", message: SESSION_ONLY };
  if (rule.scope === "admin") {
    if (rule.session && !viaSession) return { ok: false, code: "FORBIDDEN", message: SESSION_ONLY };
    // A narrowed token never carries isGlobalAdmin (see actsAsGlobalAdmin); checked twice on purpose.
    return principal.isGlobalAdmin && !principal.tokenPermissions ? { ok: true } : { ok: false, code: "FORBIDDEN", message: "Only an administrator can do this" };
  }
  return null;
}

/** Whether `principal` may pass `rule` for a call whose input names its host or team. */
export async function decideAccess(db: Db, principal: Principal | null, rule: AccessRule, input: unknown): Promise<AccessDecision> {
  const settled = decideAccessWithoutDb(principal, rule);
  if (settled || !principal) return settled ?? { ok: false, code: "UNAUTHORIZED", message: "Sign in first" };
  // Deny by default: a scope neither settled above nor scoped to an entity here.
  if (rule.scope !== "host" && rule.scope !== "team" && rule.scope !== "registry") return { ok: false, code: "FORBIDDEN", message: "This call is not allowed" };
  const scope = scopeOf(input);
  const id = rule.scope === "host" ? scope.hostId : rule.scope === "team" ? scope.teamId : scope.registryId;
  if (!id) return { ok: false, code: "BAD_REQUEST", message: `${rule.scope}Id is required` };
  const granted =
    rule.scope === "host"
      ? await permissionsOnHost(db, principal, id)
      : rule.scope === "team"
        ? await permissionsInTeam(db, principal, id)
        : await permissionsOnRegistry(db, principal, id);
  return granted.has(rule.permission) ? { ok: true } : { ok: false, code: "FORBIDDEN", message: `You need the "${rule.permission}" permission for this` };
}

export type AttemptContext = {
  db: Db;
  bus: EventBus;
  principal: Principal | null;
  request: AuditRequestMeta;
  /** Where refusals go (counted per source for anonymous callers); without it each is a row. */
  refusals?: RefusalRecorder;
};

/** The names an attempt's row will carry; call before acting (see auditNamesFor). */
export function namesForAttempt(ctx: Pick<AttemptContext, "db">, input: unknown): Promise<AuditNames> {
  return auditNamesFor(ctx.db, scopeOf(input), input);
}

/**
 * One audit row for one attempt at `action`. Never throws: `failureNote` is
 * logged loudly when the row cannot be written (callers that must not act
 * without a record probe the trail before acting). Refusals go through
 * `ctx.refusals`: an anonymous caller's are counted per source and minute
 * instead of a row each. `names` are looked up here unless the caller read
 * them before acting.
 */
export async function recordAttempt(
  ctx: AttemptContext,
  action: string,
  input: unknown,
  outcome: "SUCCESS" | "FAILURE" | "DENIED",
  error: string | null,
  failureNote: string,
  names?: AuditNames,
): Promise<void> {
  const scope = scopeOf(input);
  const actor = auditActor(ctx.principal);
  try {
    // Anonymous refusals cost no database work at all: they are counted, not looked up.
    const resolved = names ?? (actor.type === "ANONYMOUS" ? { hostName: null, targetName: null } : await namesForAttempt(ctx, input));
    const event = {
      actor,
      action,
      outcome,
      hostId: scope.hostId ?? null,
      hostName: resolved.hostName,
      teamId: scope.teamId ?? null,
      target: targetOf(input),
      targetName: resolved.targetName,
      params: input,
      error,
      request: ctx.request,
    };
    if (outcome === "DENIED" && ctx.refusals) return await ctx.refusals.record({ ...event, outcome });
    await appendAuditEvent({ db: ctx.db, bus: ctx.bus, event });
  } catch (auditError) {
    log.error(failureNote, { action, error: String(auditError) });
  }
}
