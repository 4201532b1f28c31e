/**
 * tRPC context. `createContextInner` is what tests call with a real database
 * and a principal of their choosing; `createContextFactory` builds the HTTP
 * variant, which resolves the caller from an API token header or the session
 * cookie, plus the request facts the audit trail records.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";
import type { Auth, AuthSession } from "./auth/auth.ts";
import type { SecretBox } from "./crypto/secret-box.ts";
import type { Db } from "./db/client.ts";
import type { ServerEnv } from "./env.ts";
import type { EventBus } from "./events/bus.ts";
import { actsAsGlobalAdmin, type Principal } from "./services/access.ts";
import type { AgentLink } from "./services/agent-link.ts";
import { resolveApiToken } from "./services/api-tokens.ts";
import type { AuditRequestMeta } from "./services/audit/append.ts";
import type { RefusalRecorder } from "./services/audit/refusals.ts";
import type { LogStreamQuota } from "./services/logs.ts";
import type { TerminalLimits } from "./services/terminals.ts";
import type { StatsFanout } from "./services/stats.ts";
import type { BuildContextStore } from "./services/build-contexts.ts";

export type AppDeps = {
  db: Db;
  bus: EventBus;
  link: AgentLink;
  auth: Auth;
  /** Log streams open per user and per host (see LogStreamQuota). */
  logStreams: LogStreamQuota;
  /** Live stats: one agent stream per container shared by every viewer (see StatsFanout). */
  stats: StatsFanout;
  /** Terminal limits: idle timeout, sessions per user, recording size (from BERTH_TERMINAL_*). */
  terminals: TerminalLimits;
  /** Seals and opens stored secrets (registry passwords); its key is never in the database. */
  secrets: SecretBox;
  /** Uploaded build contexts waiting for their build (see services/build-contexts.ts). */
  buildContexts: BuildContextStore;
  /** `SHA256:…` of the server key agents pin; part of every join command. */
  serverFingerprint: string;
  /** Refused attempts: anonymous ones counted per source and minute (see services/audit/refusals.ts). */
  refusals: RefusalRecorder;
  env: Pick<ServerEnv, "publicUrl" | "BERTH_JOIN_TOKEN_TTL_MINUTES"> & ProxyTrust;
};

export type Context = AppDeps & { principal: Principal | null; request: AuditRequestMeta };

export function principalFromSession(session: AuthSession): Principal {
  const user = session.user as AuthSession["user"] & { role?: string | null };
  return {
    kind: "user",
    userId: user.id,
    email: user.email,
    name: user.name,
    isGlobalAdmin: actsAsGlobalAdmin(user.role, null),
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

/** Whether and which proxies may tell the client's address (server/env.ts). */
export type ProxyTrust = Pick<ServerEnv, "BERTH_TRUST_PROXY" | "BERTH_TRUSTED_PROXIES">;

const trustedLists = new WeakMap<string[], BlockList>();

function trustedList(entries: string[]): BlockList {
  let list = trustedLists.get(entries);
  if (!list) {
    list = new BlockList();
    for (const entry of entries) {
      const [address, bits] = entry.split("/") as [string, string | undefined];
      const type = isIP(address) === 6 ? "ipv6" : "ipv4";
      if (bits === undefined) list.addAddress(address, type);
      else list.addSubnet(address, Number(bits), type);
    }
    trustedLists.set(entries, list);
  }
  return list;
}

/** An address as written in a header or by the socket, or null when it is not one (IPv4-mapped IPv6 unwrapped). */
function normalizeAddress(value: string | undefined): string | null {
  let address = value?.trim().replace(/^\[|\]$/g, "") ?? "";
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address)) address = address.slice(7);
  return isIP(address) ? address : null;
}

function isTrusted(list: BlockList, address: string): boolean {
  return list.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");
}

/**
 * The client's address: the socket peer, or, behind a trusted proxy, the
 * rightmost address of X-Forwarded-For that is not a trusted hop. Each proxy
 * appends the peer it saw, so everything left of the last untrusted hop was
 * written by the client itself and is never believed.
 */
export function clientIp(req: IncomingMessage, trust: ProxyTrust): string | null {
  const peer = normalizeAddress(req.socket.remoteAddress) ?? req.socket.remoteAddress ?? null;
  if (!trust.BERTH_TRUST_PROXY || !peer) return peer;
  const list = trustedList(trust.BERTH_TRUSTED_PROXIES);
  if (!isIP(peer) || !isTrusted(list, peer)) return peer;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",");
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]);
    if (!hop) break; // garbage: the hop to its right (trusted) is the best we know
    client = hop;
    if (!isTrusted(list, hop)) break;
  }
  return client;
}

export function requestMeta(req: IncomingMessage, trust: ProxyTrust): AuditRequestMeta {
  const header = req.headers["x-request-id"];
  const requestId = typeof header === "string" && /^[\w.-]{1,100}$/.test(header) ? header : randomUUID();
  const userAgent = req.headers["user-agent"];
  return { ip: clientIp(req, trust), userAgent: typeof userAgent === "string" ? userAgent : null, requestId };
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
      request: requestMeta(req, deps.env),
    });
  };
}
