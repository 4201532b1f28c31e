/**
 * Hosts: adding one (with its join token), listing the fleet, revoking an
 * agent, and presence (online/offline, last seen).
 */
import { z } from "zod";
import type { THeartbeat, THostInfo } from "../../agent/protocol.ts";
import { Prisma, type Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { AgentLink } from "./agent-link.ts";
import { hashJoinToken, newJoinToken } from "./agents.ts";

export const ZHostName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "Use letters, digits, dot, dash or underscore");

const hostSelect = {
  id: true,
  name: true,
  status: true,
  lastSeenAt: true,
  connectedAt: true,
  hostname: true,
  os: true,
  kernel: true,
  arch: true,
  dockerVersion: true,
  apiVersion: true,
  cpus: true,
  memoryBytes: true,
  agentVersion: true,
  driftCount: true,
  lastDriftAt: true,
  reconciledAt: true,
  duplicateSeenAt: true,
  duplicateAddresses: true,
  allowedBindPaths: true,
  createdAt: true,
  agent: { select: { id: true, fingerprint: true, joinedAt: true, revoked: true } },
  teams: { select: { team: { select: { id: true, name: true } } } },
} satisfies Prisma.HostSelect;

export type HostSummary = Prisma.HostGetPayload<{ select: typeof hostSelect }> & {
  counts: { running: number; stopped: number; containers: number; images: number };
};

async function withCounts(db: Db, hosts: Prisma.HostGetPayload<{ select: typeof hostSelect }>[]): Promise<HostSummary[]> {
  const ids = hosts.map((h) => h.id);
  const [byState, images] = await Promise.all([
    db.container.groupBy({ by: ["hostId", "state"], where: { hostId: { in: ids } }, _count: { _all: true } }),
    db.image.groupBy({ by: ["hostId"], where: { hostId: { in: ids } }, _count: { _all: true } }),
  ]);
  return hosts.map((host) => {
    const states = byState.filter((row) => row.hostId === host.id);
    const total = states.reduce((sum, row) => sum + row._count._all, 0);
    const running = states.filter((row) => row.state === "running").reduce((sum, row) => sum + row._count._all, 0);
    return {
      ...host,
      counts: {
        containers: total,
        running,
        stopped: total - running,
        images: images.find((row) => row.hostId === host.id)?._count._all ?? 0,
      },
    };
  });
}

/** `visibleHostIds` null = every host (global admin). */
export async function listHosts(db: Db, visibleHostIds: string[] | null): Promise<HostSummary[]> {
  const hosts = await db.host.findMany({
    where: visibleHostIds === null ? {} : { id: { in: visibleHostIds } },
    select: hostSelect,
    orderBy: { name: "asc" },
  });
  return withCounts(db, hosts);
}

export async function getHost(db: Db, hostId: string): Promise<HostSummary> {
  const host = await db.host.findUnique({ where: { id: hostId }, select: hostSelect });
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  const [summary] = await withCounts(db, [host]);
  return summary!;
}

/** One environment variable of the agent's join command. */
export type AgentEnvVar = { name: string; value: string };

export type JoinInstructions = {
  hostId: string;
  hostName: string;
  token: string;
  expiresAt: Date;
  /** What the agent needs to join, as pairs (from {@link agentJoinEnv}), and the command built from them. */
  env: AgentEnvVar[];
  command: string;
  serverFingerprint: string | null;
};

/**
 * The agent's environment for joining this server: the ONE place its
 * variables are chosen, so the command the UI shows and the quickstart's local
 * agent cannot drift apart. The server URL is the configured public URL
 * (BERTH_PUBLIC_URL), never whatever address an admin happens to browse from.
 */
export function agentJoinEnv(opts: { serverUrl: string; token: string; serverFingerprint?: string | null }): AgentEnvVar[] {
  return [
    { name: "BERTH_SERVER_URL", value: opts.serverUrl },
    { name: "BERTH_JOIN_TOKEN", value: opts.token },
    // The server key the agent pins at join: it will refuse any other server on that URL.
    ...(opts.serverFingerprint ? [{ name: "BERTH_SERVER_FINGERPRINT", value: opts.serverFingerprint }] : []),
  ];
}

/** The exact command an operator pastes on the new host. */
export function agentCommand(env: AgentEnvVar[]): string {
  return [
    "docker run -d --name berth-agent --restart unless-stopped",
    "-v /var/run/docker.sock:/var/run/docker.sock",
    "-v berth-agent:/var/lib/berth-agent",
    ...env.map((v) => `-e ${v.name}=${v.value}`),
    "berth/agent:latest",
  ].join(" \\\n  ");
}

/**
 * Whether `url` names this machine only (localhost, 127.0.0.0/8, ::1,
 * 0.0.0.0): an agent on another machine could not reach the server there.
 */
export function isLoopbackUrl(url: string): boolean {
  let hostname: string;
  try {
    hostname = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  const bare = hostname.replace(/^\[|\]$/g, "");
  return (
    bare === "localhost" ||
    bare.endsWith(".localhost") ||
    /^127(\.\d{1,3}){3}$/.test(bare) ||
    bare === "0.0.0.0" ||
    bare === "::1" ||
    bare === "::" ||
    /^::ffff:(127\.|7f)/.test(bare)
  );
}

/** Where agents will be told to connect, for the UI to show (and warn about) before any token exists. */
export function joinTarget(serverUrl: string): { serverUrl: string; loopback: boolean } {
  return { serverUrl, loopback: isLoopbackUrl(serverUrl) };
}

type JoinTarget = { serverUrl: string; /** The server key's fingerprint the agent pins; routers always pass it. */ serverFingerprint?: string };

async function issueJoinToken(opts: { db: Db; hostId: string; hostName: string; ttlMinutes: number; createdById?: string } & JoinTarget): Promise<JoinInstructions> {
  const token = newJoinToken();
  const expiresAt = new Date(Date.now() + opts.ttlMinutes * 60_000);
  await opts.db.joinToken.create({
    data: { hostId: opts.hostId, tokenHash: hashJoinToken(token), expiresAt, createdById: opts.createdById ?? null },
  });
  const serverFingerprint = opts.serverFingerprint ?? null;
  const env = agentJoinEnv({ serverUrl: opts.serverUrl, token, serverFingerprint });
  return { hostId: opts.hostId, hostName: opts.hostName, token, expiresAt, env, command: agentCommand(env), serverFingerprint };
}

/**
 * Adds a host to the fleet, without a join token: the admin asks for one
 * when they are ready to run the agent (a token lying unused is a credential).
 */
export async function registerHost(opts: { db: Db; bus: EventBus; name: string; teamIds?: string[] }): Promise<{ hostId: string; hostName: string }> {
  const existing = await opts.db.host.findUnique({ where: { name: opts.name }, select: { id: true } });
  if (existing) throw new AppError("CONFLICT", `A host named "${opts.name}" already exists`);
  const teamIds = [...new Set(opts.teamIds ?? [])];
  if (teamIds.length) {
    const found = await opts.db.team.count({ where: { id: { in: teamIds } } });
    if (found !== teamIds.length) throw new AppError("NOT_FOUND", "One of the teams was not found");
  }
  const host = await opts.db.host
    .create({ data: { name: opts.name, teams: { create: teamIds.map((teamId) => ({ teamId })) } }, select: { id: true, name: true } })
    .catch((error: unknown) => {
      // The checks above race a concurrent create or a team's removal: say which, not "internal error".
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") throw new AppError("CONFLICT", `A host named "${opts.name}" already exists`);
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2003") throw new AppError("NOT_FOUND", "One of the teams was removed meanwhile");
      throw error;
    });
  opts.bus.publish({ type: "host.changed", hostId: host.id });
  return { hostId: host.id, hostName: host.name };
}

/** A host and its first join token at once (the quickstart's local agent, tests, benches). */
export async function createHost(opts: {
  db: Db;
  bus: EventBus;
  name: string;
  teamIds?: string[];
  ttlMinutes: number;
  createdById?: string;
} & JoinTarget): Promise<JoinInstructions> {
  const host = await registerHost(opts);
  return issueJoinToken({ ...opts, ...host });
}

/** A fresh token for an existing host (its agent lost its key, or moved machines). */
export async function createJoinToken(opts: {
  db: Db;
  hostId: string;
  ttlMinutes: number;
  createdById?: string;
} & JoinTarget): Promise<JoinInstructions> {
  const host = await opts.db.host.findUnique({ where: { id: opts.hostId }, select: { id: true, name: true } });
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  return issueJoinToken({ ...opts, hostName: host.name });
}

export async function revokeHostAgent(opts: { db: Db; bus: EventBus; link: AgentLink; hostId: string }) {
  const host = await opts.db.host.findUnique({ where: { id: opts.hostId }, select: { agent: { select: { id: true } } } });
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  await opts.db.$transaction([
    opts.db.agent.updateMany({ where: { hostId: opts.hostId }, data: { revoked: true, revokedAt: new Date() } }),
    opts.db.joinToken.updateMany({ where: { hostId: opts.hostId, usedAt: null }, data: { expiresAt: new Date() } }),
    opts.db.host.update({ where: { id: opts.hostId }, data: { status: "REVOKED", connectedAt: null } }),
  ]);
  // The link closes the agent's socket on whichever replica holds it.
  await opts.link.disconnect(opts.hostId, "This agent's key was revoked.");
  opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
}

export async function removeHost(opts: { db: Db; bus: EventBus; link: AgentLink; hostId: string }) {
  const deleted = await opts.db.host.deleteMany({ where: { id: opts.hostId } });
  if (deleted.count === 0) throw new AppError("NOT_FOUND", "Host not found");
  await opts.link.disconnect(opts.hostId, "This host was removed from Berth.");
  opts.bus.publish({ type: "host.removed", hostId: opts.hostId });
}

// ------------------------------------------------------------------ presence
//
// Every accepted connection takes a new presence generation (in the same
// statement that marks the host ONLINE); offline and heartbeat updates name the
// generation they belong to. So an update from an older connection that lands
// late, on this replica or another, changes nothing.

export type PresenceClaim = { generation: number };

/**
 * Marks the host ONLINE for a freshly authenticated connection, unless the host
 * was revoked (or its agent replaced) meanwhile: returns null then, and the
 * caller must drop the connection. A late call can never un-revoke a host.
 */
export async function markHostOnline(opts: {
  db: Db;
  bus: EventBus;
  hostId: string;
  agentId: string;
  agentVersion: string;
  serverId?: string;
  instanceId?: string | null;
  address?: string | null;
}): Promise<PresenceClaim | null> {
  const now = new Date();
  const claim = await opts.db.$transaction(async (tx) => {
    const updated = await tx.host.updateMany({
      where: { id: opts.hostId, status: { not: "REVOKED" }, agent: { is: { id: opts.agentId, revoked: false } } },
      data: {
        status: "ONLINE",
        connectedAt: now,
        lastSeenAt: now,
        agentVersion: opts.agentVersion,
        presenceGeneration: { increment: 1 },
        presenceServerId: opts.serverId ?? null,
        presenceInstance: opts.instanceId ?? null,
        presenceAddress: opts.address ?? null,
      },
    });
    if (updated.count !== 1) return null;
    const row = await tx.host.findUniqueOrThrow({ where: { id: opts.hostId }, select: { presenceGeneration: true } });
    return { generation: row.presenceGeneration };
  });
  if (claim) opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
  return claim;
}

/**
 * A heartbeat from the connection holding `generation`. Only ONLINE or OFFLINE
 * hosts are touched (a heartbeat racing a revoke must not resurrect it); a host
 * that comes back from OFFLINE is published so every open page sees it.
 */
export async function recordHeartbeat(opts: { db: Db; bus: EventBus; hostId: string; heartbeat: THeartbeat; generation?: number }) {
  const now = new Date();
  const mine = opts.generation === undefined ? {} : { presenceGeneration: opts.generation };
  const touched = await opts.db.host.updateMany({ where: { id: opts.hostId, status: "ONLINE", ...mine }, data: { lastSeenAt: now } });
  if (touched.count === 1) return true;
  const back = await opts.db.host.updateMany({ where: { id: opts.hostId, status: "OFFLINE", ...mine }, data: { lastSeenAt: now, status: "ONLINE" } });
  if (back.count === 1) opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
  return back.count === 1;
}

/** `generation` given: only if that connection is still the current one. */
export async function markHostOffline(opts: { db: Db; bus: EventBus; hostId: string; generation?: number; silentSince?: Date }) {
  const updated = await opts.db.host.updateMany({
    where: {
      id: opts.hostId,
      status: "ONLINE",
      ...(opts.generation === undefined ? {} : { presenceGeneration: opts.generation }),
      ...(opts.silentSince ? { OR: [{ lastSeenAt: { lt: opts.silentSince } }, { lastSeenAt: null }] } : {}),
    },
    data: { status: "OFFLINE", connectedAt: null },
  });
  if (updated.count) opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
}

/**
 * Marks ONLINE hosts whose agent has been silent too long as OFFLINE. Covers
 * what a socket close cannot: a server replica that died holding the socket,
 * or a network that silently drops packets.
 */
export async function sweepSilentHosts(opts: { db: Db; bus: EventBus; silentForSeconds: number }) {
  const cutoff = new Date(Date.now() - opts.silentForSeconds * 1000);
  const stale = await opts.db.host.findMany({
    where: { status: "ONLINE", OR: [{ lastSeenAt: { lt: cutoff } }, { lastSeenAt: null }] },
    select: { id: true },
  });
  // Re-checked in the update itself: a heartbeat that landed since the read keeps the host online.
  for (const host of stale) await markHostOffline({ ...opts, hostId: host.id, silentSince: cutoff });
  return stale.length;
}

export type { THostInfo };
