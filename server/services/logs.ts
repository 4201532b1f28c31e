/**
 * Container logs: read live from the host's agent (Docker keeps the log;
 * Berth does not copy it into Postgres). A log stream is opened only for a
 * container the mirror knows on that host, and only within the log-stream
 * quota (per user and per host), since each stream holds a Docker connection
 * on the agent.
 */
import type { TLogLine } from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { AgentLink, OpenStream } from "./agent-link.ts";
import { shareable, sharedLogStreams } from "./log-fanout.ts";

/**
 * Counts the log streams this server relays, per user and per host, and
 * refuses one past the limits (BERTH_LOG_STREAMS_PER_USER / _PER_HOST).
 * Counted where the browser is: a stream relayed from the agent's replica
 * counts on the browser's replica (which opened it), not on the agent's; the
 * agent's own cap (64) bounds a host across all replicas.
 */
export class LogStreamQuota {
  private readonly byUser = new Map<string, number>();
  private readonly byHost = new Map<string, number>();

  /** `noun` names what is counted in the refusal ("log streams", "stats views"). */
  constructor(
    readonly limits: { perUser: number; perHost: number },
    private readonly noun = "log streams",
  ) {}

  /** Takes one slot for `userId` on `hostId`, or throws; the returned function gives it back (once). */
  acquire(userId: string, hostId: string): () => void {
    if ((this.byUser.get(userId) ?? 0) >= this.limits.perUser) {
      throw new AppError("CONFLICT", `You already have ${this.limits.perUser} ${this.noun} open; close one (another tab or download) first`);
    }
    if ((this.byHost.get(hostId) ?? 0) >= this.limits.perHost) {
      throw new AppError("CONFLICT", `This host already serves ${this.limits.perHost} ${this.noun}; try again when one closes`);
    }
    bump(this.byUser, userId, 1);
    bump(this.byHost, hostId, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      bump(this.byUser, userId, -1);
      bump(this.byHost, hostId, -1);
    };
  }

  /** Streams open for a user and on a host (for tests and metrics). */
  count(key: { userId?: string; hostId?: string }): number {
    return key.userId ? (this.byUser.get(key.userId) ?? 0) : key.hostId ? (this.byHost.get(key.hostId) ?? 0) : 0;
  }
}

function bump(map: Map<string, number>, key: string, by: number) {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}

export async function openContainerLogStream(opts: {
  db: Db;
  link: AgentLink;
  quota: LogStreamQuota;
  userId: string;
  hostId: string;
  containerId: string;
  tail: number | null;
  since: string | null;
  /** Only lines before this time (Docker's `until`). */
  until?: string | null;
  follow: boolean;
  /** Insert start/exit marker lines (the live view); off for downloads. */
  markers?: boolean;
  /** One frame of lines; pass `seq` to `OpenStream.ack` once they are on their way to the reader. */
  onLines: (lines: TLogLine[], seq: number) => void;
  onEnd: (error: AppError | null) => void;
}): Promise<OpenStream> {
  const { db, link, hostId, containerId } = opts;
  const known = await db.container.findUnique({
    where: { hostId_dockerId: { hostId, dockerId: containerId } },
    select: { dockerId: true },
  });
  if (!known) throw new AppError("NOT_FOUND", "Container not found on this host");
  const release = opts.quota.acquire(opts.userId, hostId);
  const params = { tail: opts.tail, since: opts.since, follow: opts.follow };
  if (shareable(params)) {
    // The live view: one agent stream per container and parameters, shared by every viewer (log-fanout.ts).
    try {
      const viewer = await sharedLogStreams(link).join(
        hostId,
        { containerId, tail: params.tail, until: opts.until ?? null, markers: opts.markers ?? false },
        {
          onLines: opts.onLines,
          onEnd: (error) => {
            release();
            opts.onEnd(error);
          },
        },
      );
      return {
        ...viewer,
        close: () => {
          release();
          viewer.close();
        },
      };
    } catch (error) {
      release();
      throw error;
    }
  }
  try {
    return await link.openStream(
      hostId,
      "container.logs",
      { containerId, tail: opts.tail, since: opts.since, until: opts.until ?? null, follow: opts.follow, markers: opts.markers ?? false },
      {
        data: (data, seq) => opts.onLines(data.lines, seq),
        end: (error) => {
          release();
          opts.onEnd(error);
        },
      },
    );
  } catch (error) {
    release();
    throw error;
  }
}
