/** `docker system df` of a host, read live from its agent (Docker computes it; Berth does not store it). */
import type { TSystemDf } from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { AgentLink } from "./agent-link.ts";

export async function hostDiskUsage(opts: { db: Db; link: AgentLink; hostId: string }): Promise<TSystemDf & { readAt: Date }> {
  const host = await opts.db.host.findUnique({ where: { id: opts.hostId }, select: { id: true } });
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  // Docker walks every layer and volume to size them: slow on a big host, hence the long timeout.
  const df = await opts.link.request(opts.hostId, "system.df", {}, { timeoutMs: 120_000 });
  return { ...df, readAt: new Date() };
}
