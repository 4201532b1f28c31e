/**
 * One identity, one agent. A copied identity.json (a cloned VM, a restored
 * backup on a second machine) makes two agents present the same key; before,
 * the newer silently replaced the older and the two kept replacing each other.
 * Now the second one is refused while the first is healthy, and the host
 * records when and from which addresses, so the fleet view can say so.
 */
import type { Db } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";

export type LiveConnection = { serverId: string; address: string | null; connectedAt: Date | null };

/**
 * The host's current connection when it is held by ANOTHER replica and looks
 * healthy (heard from within `freshSince`) and belongs to another agent process
 * than the newcomer's. A reconnect of the same process is not a duplicate.
 */
export async function liveConnectionElsewhere(opts: {
  db: Db;
  hostId: string;
  serverId: string;
  instanceId: string | null;
  freshSince: Date;
}): Promise<LiveConnection | null> {
  const host = await opts.db.host.findUnique({
    where: { id: opts.hostId },
    select: { status: true, lastSeenAt: true, connectedAt: true, presenceServerId: true, presenceInstance: true, presenceAddress: true },
  });
  if (!host || host.status !== "ONLINE" || !host.presenceServerId || host.presenceServerId === opts.serverId) return null;
  if (!host.lastSeenAt || host.lastSeenAt < opts.freshSince) return null;
  if (opts.instanceId && host.presenceInstance === opts.instanceId) return null;
  return { serverId: host.presenceServerId, address: host.presenceAddress, connectedAt: host.connectedAt };
}

/** Remembers that two agents used this host's identity at once (shown until the host joins again). */
export async function recordDuplicateIdentity(opts: { db: Db; bus: EventBus; hostId: string; addresses: Array<string | null> }) {
  const addresses = [...new Set(opts.addresses.map((a) => a ?? "unknown address"))].slice(0, 8);
  await opts.db.host.updateMany({ where: { id: opts.hostId }, data: { duplicateSeenAt: new Date(), duplicateAddresses: addresses } });
  opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
}
