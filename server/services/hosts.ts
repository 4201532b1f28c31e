/**
 * Hosts: adding one (with its join token), listing the fleet, revoking an
 * agent, and presence (online/offline, last seen).
 */
import { z } from "zod";
import type { THeartbeat, THostInfo } from "../../agent/protocol.ts";
import type { Db, Prisma } from "../db/client.ts";
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

export type JoinInstructions = { hostId: string; hostName: string; token: string; expiresAt: Date; command: string };

/** The exact command an operator pastes on the new host. */
export function agentCommand(serverUrl: string, token: string): string {
  return [
    "docker run -d --name berth-agent --restart unless-stopped",
    "-v /var/run/docker.sock:/var/run/docker.sock",
    "-v berth-agent:/var/lib/berth-agent",
    `-e BERTH_SERVER_URL=${serverUrl}`,
    `-e BERTH_JOIN_TOKEN=${token}`,
    "berth/agent:latest",
  ].join(" \\\n  ");
}

async function issueJoinToken(opts: { db: Db; hostId: string; hostName: string; ttlMinutes: number; createdById?: string; serverUrl: string }): Promise<JoinInstructions> {
  const token = newJoinToken();
  const expiresAt = new Date(Date.now() + opts.ttlMinutes * 60_000);
  await opts.db.joinToken.create({
    data: { hostId: opts.hostId, tokenHash: hashJoinToken(token), expiresAt, createdById: opts.createdById ?? null },
  });
  return { hostId: opts.hostId, hostName: opts.hostName, token, expiresAt, command: agentCommand(opts.serverUrl, token) };
}

export async function createHost(opts: {
  db: Db;
  bus: EventBus;
  name: string;
  teamIds?: string[];
  ttlMinutes: number;
  createdById?: string;
  serverUrl: string;
}): Promise<JoinInstructions> {
  const existing = await opts.db.host.findUnique({ where: { name: opts.name }, select: { id: true } });
  if (existing) throw new AppError("CONFLICT", `A host named "${opts.name}" already exists`);
  const host = await opts.db.host.create({
    data: { name: opts.name, teams: { create: (opts.teamIds ?? []).map((teamId) => ({ teamId })) } },
    select: { id: true, name: true },
  });
  opts.bus.publish({ type: "host.changed", hostId: host.id });
  return issueJoinToken({ ...opts, hostId: host.id, hostName: host.name });
}

/** A fresh token for an existing host (its agent lost its key, or moved machines). */
export async function createJoinToken(opts: {
  db: Db;
  hostId: string;
  ttlMinutes: number;
  createdById?: string;
  serverUrl: string;
}): Promise<JoinInstructions> {
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
  opts.link.disconnect(opts.hostId, "This agent's key was revoked.");
  opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
}

export async function removeHost(opts: { db: Db; bus: EventBus; link: AgentLink; hostId: string }) {
  const deleted = await opts.db.host.deleteMany({ where: { id: opts.hostId } });
  if (deleted.count === 0) throw new AppError("NOT_FOUND", "Host not found");
  opts.link.disconnect(opts.hostId, "This host was removed from Berth.");
  opts.bus.publish({ type: "host.removed", hostId: opts.hostId });
}

// ------------------------------------------------------------------ presence

export async function markHostOnline(opts: { db: Db; bus: EventBus; hostId: string; agentVersion: string }) {
  const now = new Date();
  await opts.db.host.update({
    where: { id: opts.hostId },
    data: { status: "ONLINE", connectedAt: now, lastSeenAt: now, agentVersion: opts.agentVersion },
  });
  opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
}

export async function recordHeartbeat(opts: { db: Db; bus: EventBus; hostId: string; heartbeat: THeartbeat }) {
  // Only an ONLINE host is touched: a heartbeat racing a revoke must not resurrect it.
  const updated = await opts.db.host.updateMany({
    where: { id: opts.hostId, status: { in: ["ONLINE", "OFFLINE"] } },
    data: { lastSeenAt: new Date(), status: "ONLINE" },
  });
  return updated.count === 1;
}

export async function markHostOffline(opts: { db: Db; bus: EventBus; hostId: string }) {
  const updated = await opts.db.host.updateMany({
    where: { id: opts.hostId, status: "ONLINE" },
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
  for (const host of stale) await markHostOffline({ ...opts, hostId: host.id });
  return stale.length;
}

export type { THostInfo };
