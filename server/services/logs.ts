/**
 * Container logs: read live from the host's agent (Docker keeps the log;
 * Berth does not copy it into Postgres). A log stream is opened only for a
 * container the mirror knows on that host.
 */
import type { TLogLine } from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { AgentLink, OpenStream } from "./agent-link.ts";

export async function openContainerLogStream(opts: {
  db: Db;
  link: AgentLink;
  hostId: string;
  containerId: string;
  tail: number | null;
  since: string | null;
  follow: boolean;
  onLines: (lines: TLogLine[]) => void;
  onEnd: (error: AppError | null) => void;
}): Promise<OpenStream> {
  const { db, link, hostId, containerId } = opts;
  const known = await db.container.findUnique({
    where: { hostId_dockerId: { hostId, dockerId: containerId } },
    select: { dockerId: true },
  });
  if (!known) throw new AppError("NOT_FOUND", "Container not found on this host");
  return link.openStream(
    hostId,
    "container.logs",
    { containerId, tail: opts.tail, since: opts.since, follow: opts.follow },
    { data: (data) => opts.onLines(data.lines), end: opts.onEnd },
  );
}
