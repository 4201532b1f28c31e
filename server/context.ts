/**
 * tRPC context. `createContextInner` is what tests call with a real database
 * and a principal of their choosing; `createContextFactory` builds the HTTP
 * variant, which resolves the caller from an API token header or the session
 * cookie, plus the request facts the audit trail records.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Auth, AuthSession } from "./auth/auth.ts";
import type { Db } from "./db/client.ts";
import type { ServerEnv } from "./env.ts";
import type { EventBus } from "./events/bus.ts";
import type { Principal } from "./services/access.ts";
import type { AgentLink } from "./services/agent-link.ts";
import { resolveApiToken } from "./services/api-tokens.ts";
import type { AuditRequestMeta } from "./services/audit/append.ts";

export type AppDeps = {
  db: Db;
  bus: EventBus;
  link: AgentLink;
  auth: Auth;
  env: Pick<ServerEnv, "publicUrl" | "BERTH_JOIN_TOKEN_TTL_MINUTES" | "BERTH_TRUST_PROXY">;
};

export type Context = AppDeps & { principal: Principal | null; request: AuditRequestMeta };

export function principalFromSession(session: AuthSession): Principal {
  const user = session.user as AuthSession["user"] & { role?: string | null };
  return {
    kind: "user",
    userId: user.id,
    email: user.email,
    name: user.name,
    isGlobalAdmin: user.role === "admin",
    sessionId: session.session.id,
    tokenId: null,
    tokenPermissions: null,
  };
}

export function createContextInner(opts: { deps: AppDeps; principal: Principal | null; request?: Partial<AuditRequestMeta> }): Context {
  return {
    ...opts.deps,
    principal: opts.principal,
    request: { ip: opts.request?.ip ?? null, userAgent: opts.request?.userAgent ?? null, requestId: opts.request?.requestId ?? randomUUID() },
  };
}

export function toHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else if (value !== undefined) headers.set(key, value);
  }
  return headers;
}

/** The client's address: the socket peer, or the proxy's X-Forwarded-For when BERTH_TRUST_PROXY says to. */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = req.headers["x-forwarded-for"];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? null;
}

export function requestMeta(req: IncomingMessage, trustProxy: boolean): AuditRequestMeta {
  const header = req.headers["x-request-id"];
  const requestId = typeof header === "string" && /^[\w.-]{1,100}$/.test(header) ? header : randomUUID();
  const userAgent = req.headers["user-agent"];
  return { ip: clientIp(req, trustProxy), userAgent: typeof userAgent === "string" ? userAgent : null, requestId };
}

/** Resolves the caller of an HTTP request (or socket handshake): API token first, then session cookie. */
export async function resolvePrincipal(deps: AppDeps, req: IncomingMessage): Promise<Principal | null> {
  const authorization = req.headers.authorization;
  if (authorization?.startsWith("Bearer ")) return resolveApiToken(deps.db, authorization.slice(7).trim());
  const session = await deps.auth.api.getSession({ headers: toHeaders(req) });
  return session ? principalFromSession(session) : null;
}

export function createContextFactory(deps: AppDeps) {
  return async ({ req }: { req: IncomingMessage }): Promise<Context> => {
    return createContextInner({
      deps,
      principal: await resolvePrincipal(deps, req),
      request: requestMeta(req, deps.env.BERTH_TRUST_PROXY),
    });
  };
}
