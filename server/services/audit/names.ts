/**
 * Names beside ids in audit rows. Read before the action runs (a removal
 * would take the name with it) from Berth's own mirror of the fleet.
 */
import type { Db } from "../../db/client.ts";

export type AuditNames = { hostName: string | null; targetName: string | null };

export async function auditNamesFor(db: Db, scope: { hostId?: string }, input: unknown): Promise<AuditNames> {
  const containerId = input && typeof input === "object" ? (input as Record<string, unknown>).containerId : undefined;
  const hostId = scope.hostId;
  const registryId = input && typeof input === "object" ? (input as Record<string, unknown>).registryId : undefined;
  if (!hostId && typeof registryId === "string" && registryId.length <= 64) {
    const registry = await db.registry.findUnique({ where: { id: registryId }, select: { name: true } }).catch(() => null);
    return { hostName: null, targetName: registry?.name ?? null };
  }
  if (!hostId) return { hostName: null, targetName: null };
  try {
    const [host, container] = await Promise.all([
      db.host.findUnique({ where: { id: hostId }, select: { name: true } }),
      typeof containerId === "string" && containerId.length <= 128
        ? db.container.findUnique({ where: { hostId_dockerId: { hostId, dockerId: containerId } }, select: { name: true } })
        : null,
    ]);
    return { hostName: host?.name ?? null, targetName: container?.name ?? null };
  } catch {
    // A name is a convenience for reviewers; the ids are recorded regardless.
    return { hostName: null, targetName: null };
  }
}
