/**
 * Live stats, shared: ONE agent stream per container (or per host, for its
 * totals) however many pages watch it. The first viewer opens the agent's
 * stream; later viewers join it (and get the last minute of samples at once,
 * so their charts do not start empty); the last one to leave closes it. So
 * ten viewers cost the agent, Docker and the agent→server link what one does.
 *
 * Viewers are counted per user (StreamQuota, like log streams): a page cannot
 * hold an unbounded number of subscriptions, even though they share streams.
 */
import type { StreamData } from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { AgentLink, OpenStream } from "./agent-link.ts";
import type { LogStreamQuota } from "./logs.ts";

export type StatsSample = StreamData<"container.stats"> & { containers?: number };

/** Samples kept per stream for viewers who join later: one minute at one a second. */
export const STATS_RECENT_SAMPLES = 60;

export type StatsViewer = {
  /** New samples (a joining viewer first gets the recent ones in one call). */
  samples(samples: StatsSample[]): void;
  /** The stream ended: `null` = naturally (the container stopped), else why. Called at most once. */
  end(error: AppError | null): void;
};

type Shared = {
  hostId: string;
  containerId: string | null;
  viewers: Set<StatsViewer>;
  stream: OpenStream | null;
  opening: Promise<OpenStream> | null;
  recent: StatsSample[];
  /** Last frame received (acknowledged at once: samples are fanned out, never held). */
  seq: number;
  ended: boolean;
};

export class StatsFanout {
  private readonly shared = new Map<string, Shared>();

  constructor(
    private readonly deps: { db: Db; link: AgentLink; quota: LogStreamQuota },
  ) {}

  /** Agent streams this server holds open for stats (for tests and the benchmark). */
  get agentStreams(): number {
    let n = 0;
    for (const entry of this.shared.values()) if (entry.stream) n++;
    return n;
  }

  /** Viewers of one container's (or, with `containerId` null, one host's) stats. */
  viewers(hostId: string, containerId: string | null): number {
    return this.shared.get(keyOf(hostId, containerId))?.viewers.size ?? 0;
  }

  /**
   * Adds a viewer; resolves once samples are flowing (or rejects: no such
   * container, host offline, agent refused). Returns the function that removes
   * it; when it was the last, the agent stream closes.
   */
  async subscribe(opts: { userId: string; hostId: string; containerId: string | null; viewer: StatsViewer }): Promise<() => void> {
    const { db, link, quota } = this.deps;
    const { hostId, containerId, viewer } = opts;
    if (containerId !== null) {
      const known = await db.container.findUnique({ where: { hostId_dockerId: { hostId, dockerId: containerId } }, select: { state: true } });
      if (!known) throw new AppError("NOT_FOUND", "Container not found on this host");
    }
    const release = quota.acquire(opts.userId, hostId);
    const key = keyOf(hostId, containerId);
    let entry = this.shared.get(key);
    if (!entry || entry.ended) {
      entry = { hostId, containerId, viewers: new Set(), stream: null, opening: null, recent: [], seq: 0, ended: false };
      this.shared.set(key, entry);
    }
    const shared = entry;
    let left = false;
    // A viewer that joins while the agent stream opens gets the first samples live and then again
    // with the backlog below: each viewer is sent a sample once, in time order.
    let lastAt = "";
    const wrapped: StatsViewer = {
      samples: (samples) => {
        const fresh = samples.filter((sample) => sample.at > lastAt);
        if (fresh.length === 0) return;
        lastAt = fresh[fresh.length - 1]!.at;
        viewer.samples(fresh);
      },
      end: (error) => {
        if (left) return;
        left = true;
        release();
        viewer.end(error);
      },
    };
    shared.viewers.add(wrapped);
    const leave = () => {
      if (left) return;
      left = true;
      release();
      shared.viewers.delete(wrapped);
      if (shared.viewers.size === 0) this.closeShared(key, shared);
    };
    try {
      if (!shared.stream) {
        shared.opening ??= this.open(key, shared);
        await shared.opening;
      }
    } catch (error) {
      leave();
      throw error;
    }
    if (shared.recent.length > 0) wrapped.samples([...shared.recent]);
    return leave;
  }

  private async open(key: string, shared: Shared): Promise<OpenStream> {
    const sink = {
      data: (sample: StatsSample, seq: number) => {
        if (shared.ended) return;
        shared.seq = seq;
        shared.stream?.ack(seq);
        shared.recent.push(sample);
        if (shared.recent.length > STATS_RECENT_SAMPLES) shared.recent.shift();
        for (const viewer of shared.viewers) viewer.samples([sample]);
      },
      end: (error: AppError | null) => {
        if (shared.ended) return;
        shared.ended = true;
        if (this.shared.get(key) === shared) this.shared.delete(key);
        for (const viewer of [...shared.viewers]) viewer.end(error);
        shared.viewers.clear();
      },
    };
    try {
      const stream =
        shared.containerId === null
          ? await this.deps.link.openStream(shared.hostId, "host.stats", {}, sink)
          : await this.deps.link.openStream(shared.hostId, "container.stats", { containerId: shared.containerId }, sink);
      shared.stream = stream;
      if (shared.seq > 0) stream.ack(shared.seq); // frames that came before the agent's "started"
      // Everyone left while the agent was starting it.
      if (shared.viewers.size === 0) this.closeShared(key, shared);
      return stream;
    } catch (error) {
      shared.ended = true;
      if (this.shared.get(key) === shared) this.shared.delete(key);
      throw error;
    } finally {
      shared.opening = null;
    }
  }

  private closeShared(key: string, shared: Shared) {
    if (!shared.stream) return; // still opening: `open` closes it when the agent answers
    if (this.shared.get(key) === shared) this.shared.delete(key);
    shared.ended = true;
    shared.stream.close();
  }
}

function keyOf(hostId: string, containerId: string | null) {
  return `${hostId}/${containerId ?? "*"}`;
}
