/**
 * A container's lifecycle history: Docker's events (create, start, die with
 * its exit code, oom, kill with its signal, health changes, destroy…) as the
 * host's agent reported them. Rows are keyed by host and Docker id, not tied
 * to the container row, so the history outlives `docker rm`; each container
 * keeps its newest CONTAINER_HISTORY_KEEP events.
 */
import type { TContainerEvent } from "../../agent/protocol.ts";
import type { Db, Prisma } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";

export const CONTAINER_HISTORY_KEEP = 500;

export async function recordContainerEvents(opts: { db: Db; bus: EventBus; hostId: string; events: TContainerEvent[] }): Promise<void> {
  const { db, hostId, events } = opts;
  if (events.length === 0) return;
  await db.containerEvent.createMany({
    data: events.map((e) => ({
      hostId,
      containerId: e.containerId,
      action: e.action,
      at: new Date(e.at),
      name: e.name,
      image: e.image,
      exitCode: e.exitCode,
      signal: e.signal,
      health: e.health,
      oldName: e.oldName,
    })),
  });
  // Retention per container touched by this batch: everything older than its newest N goes.
  const ids = [...new Set(events.map((e) => e.containerId))];
  await db.$executeRawUnsafe(
    `DELETE FROM container_event e
     USING (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY "containerId" ORDER BY at DESC, id DESC) AS n
                            FROM container_event WHERE "hostId" = $1 AND "containerId" = ANY($2::text[])) ranked
            WHERE n > $3) old
     WHERE e.id = old.id`,
    hostId,
    ids,
    CONTAINER_HISTORY_KEEP,
  );
  // Pages showing this host's containers re-read (the timeline among them).
  opts.bus.publish({ type: "inventory.changed", hostId, kinds: ["container"] });
}

const historySelect = {
  id: true,
  action: true,
  at: true,
  name: true,
  image: true,
  exitCode: true,
  signal: true,
  health: true,
  oldName: true,
} satisfies Prisma.ContainerEventSelect;

export type ContainerHistoryEntry = Omit<Prisma.ContainerEventGetPayload<{ select: typeof historySelect }>, "id"> & { id: string };

/** Newest first; works for a container that no longer exists (its history is all that is left of it). */
export async function listContainerHistory(opts: { db: Db; hostId: string; containerId: string; limit?: number }): Promise<ContainerHistoryEntry[]> {
  const rows = await opts.db.containerEvent.findMany({
    where: { hostId: opts.hostId, containerId: opts.containerId },
    select: historySelect,
    orderBy: [{ at: "desc" }, { id: "desc" }],
    take: Math.min(opts.limit ?? CONTAINER_HISTORY_KEEP, CONTAINER_HISTORY_KEEP),
  });
  return rows.map((row) => ({ ...row, id: row.id.toString() }));
}

export type RemovedContainer = { containerId: string; name: string; image: string; lastEventAt: Date };

/**
 * Containers of the host that are gone but whose history Berth kept, newest
 * first: how a removed container's timeline stays reachable from the host page.
 */
export async function listRemovedContainers(opts: { db: Db; hostId: string; limit?: number }): Promise<RemovedContainer[]> {
  const rows = await opts.db.$queryRawUnsafe<Array<{ containerId: string; name: string; image: string; at: Date }>>(
    `SELECT * FROM (
       SELECT DISTINCT ON (e."containerId") e."containerId", e.name, e.image, e.at
       FROM container_event e
       WHERE e."hostId" = $1
         AND NOT EXISTS (SELECT 1 FROM container c WHERE c."hostId" = e."hostId" AND c."dockerId" = e."containerId")
       ORDER BY e."containerId", e.at DESC, e.id DESC
     ) latest
     ORDER BY at DESC
     LIMIT $2`,
    opts.hostId,
    Math.min(opts.limit ?? 50, 200),
  );
  return rows.map((r) => ({ containerId: r.containerId, name: r.name, image: r.image, lastEventAt: new Date(r.at) }));
}
