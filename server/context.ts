/**
 * tRPC context. `createContextInner` is what tests call with a real database
 * and a session of their choosing; `createContextFactory` builds the HTTP
 * variant that resolves the session from the request's cookie.
 */
import type { IncomingMessage } from "node:http";
import type { Auth, AuthSession } from "./auth/auth.ts";
import type { Db } from "./db/client.ts";
import type { ServerEnv } from "./env.ts";
import type { EventBus } from "./events/bus.ts";
import type { AgentLink } from "./services/agent-link.ts";

export type AppDeps = {
  db: Db;
  bus: EventBus;
  link: AgentLink;
  auth: Auth;
  env: Pick<ServerEnv, "publicUrl" | "BERTH_JOIN_TOKEN_TTL_MINUTES">;
};

export type SessionUser = { id: string; email: string; name: string; role: string };

export type Context = AppDeps & { user: SessionUser | null; sessionId: string | null };

export function createContextInner(opts: { deps: AppDeps; session: AuthSession | null }): Context {
  const user = opts.session?.user;
  return {
    ...opts.deps,
    sessionId: opts.session?.session.id ?? null,
    user: user ? { id: user.id, email: user.email, name: user.name, role: (user as { role?: string | null }).role ?? "user" } : null,
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

export function createContextFactory(deps: AppDeps) {
  return async ({ req }: { req: IncomingMessage }): Promise<Context> => {
    const session = await deps.auth.api.getSession({ headers: toHeaders(req) });
    return createContextInner({ deps, session });
  };
}
