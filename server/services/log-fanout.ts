/**
 * One agent log stream per (host, container, parameters), shared by every
 * viewer that follows the same log on this server: the agent reads Docker once
 * and sends each frame once, however many pages watch (reference-counted: the
 * first viewer opens it, the last one to leave closes it).
 *
 * What is shared: a followed log opened with a tail (the live view), without
 * `since`. A late viewer first gets the last `tail` lines the stream delivered
 * (kept here, bounded by SHARE_MAX_TAIL), which is what Docker's own tail
 * would have given it at that moment, then the live lines. Anything else
 * (whole log, since, not followed, downloads) gets its own stream.
 *
 * Flow control (the policy, and why): the source goes at the pace of the
 * FASTEST viewer, and each viewer has its own bounded queue.
 *  - The agent is acknowledged up to the frames the fastest viewer's page has
 *    applied. With one viewer this is exactly the end-to-end flow control of
 *    an unshared stream: a hidden or slow tab pauses the log at Docker.
 *  - Every viewer has its own window toward its page (STREAM_WINDOW_FRAMES
 *    unacknowledged frames, like any stream) and a queue behind it. A viewer
 *    whose queue passes VIEWER_QUEUE_MAX_FRAMES (a paused or slow tab while
 *    others read on) is detached with a resumable end: its page reopens from
 *    its last line's timestamp on a stream of its own (`since` is not shared),
 *    which then pauses at the source for it alone.
 *  A slowest-viewer policy would let one paused tab stop the log for everyone;
 *  an unbounded queue would let it grow the server's memory. Here the server
 *  holds at most VIEWER_QUEUE_MAX_FRAMES frames per viewer.
 */
import { STREAM_WINDOW_FRAMES, type TLogLine } from "../../agent/protocol.ts";
import { AppError } from "../errors.ts";
import type { AgentLink, OpenStream } from "./agent-link.ts";

/** A late viewer's catch-up is the last lines the stream delivered: shared only for tails up to this size. */
export const SHARE_MAX_TAIL = 5_000;
/** Frames held for one viewer beyond its page's window before it is detached (≤ 64 KiB of text each). */
export const VIEWER_QUEUE_MAX_FRAMES = 32;
/** Catch-up frames for a late viewer carry at most this many lines. */
const CATCH_UP_FRAME_LINES = 500;

export type SharedLogParams = { containerId: string; tail: number; until: string | null; markers: boolean };

type Viewer = {
  onLines: (lines: TLogLine[], seq: number) => void;
  onEnd: (error: AppError | null) => void;
  /** Frames not yet sent to the page (its window is full). */
  queue: TLogLine[][];
  /** Frames sent to this viewer, and acknowledged by its page. */
  sent: number;
  acked: number;
  /** The agent frame seq the viewer's frame seq ends; for acking the agent on the fastest viewer's behalf. */
  agentSeqOf: Map<number, number>;
  closed: boolean;
};

type Shared = {
  key: string;
  viewers: Set<Viewer>;
  /** The last lines delivered (at most `tail` lines besides markers), for late viewers. */
  recent: TLogLine[];
  recentLines: number;
  tail: number;
  stream: OpenStream | null;
  opening: Promise<void>;
  agentAcked: number;
  ended: boolean;
};

/** Only the live view's kind of log stream is shared (see the module comment). */
export function shareable(params: { tail: number | null; since: string | null; follow: boolean }): params is { tail: number; since: null; follow: true } {
  return params.follow && params.since === null && params.tail !== null && params.tail <= SHARE_MAX_TAIL;
}

export class SharedLogStreams {
  private readonly streams = new Map<string, Shared>();

  constructor(private readonly link: AgentLink) {}

  /** Shared agent streams open now (for tests and metrics). */
  get size(): number {
    return this.streams.size;
  }

  /** Viewers of all shared streams (for tests and metrics). */
  get viewers(): number {
    let count = 0;
    for (const shared of this.streams.values()) count += shared.viewers.size;
    return count;
  }

  /** Joins (or opens) the shared stream; resolves once the agent accepted it. The viewer's seqs are its own. */
  async join(hostId: string, params: SharedLogParams, viewer: { onLines: Viewer["onLines"]; onEnd: Viewer["onEnd"] }): Promise<OpenStream> {
    const key = JSON.stringify([hostId, params.containerId, params.tail, params.until, params.markers]);
    let shared = this.streams.get(key);
    const entry: Viewer = { ...viewer, queue: [], sent: 0, acked: 0, agentSeqOf: new Map(), closed: false };
    if (!shared || shared.ended) {
      shared = this.open(key, hostId, params);
    }
    shared.viewers.add(entry);
    // A late viewer catches up with what the stream already delivered (its tail), then reads live.
    for (let at = 0; at < shared.recent.length; at += CATCH_UP_FRAME_LINES) this.deliver(shared, entry, shared.recent.slice(at, at + CATCH_UP_FRAME_LINES), shared.agentAcked);
    const current = shared;
    try {
      await current.opening;
    } catch (error) {
      current.viewers.delete(entry);
      throw error;
    }
    return {
      close: () => this.leave(current, entry),
      ack: (seq) => this.ack(current, entry, seq),
      send: () => undefined,
    };
  }

  private open(key: string, hostId: string, params: SharedLogParams): Shared {
    const shared: Shared = { key, viewers: new Set(), recent: [], recentLines: 0, tail: params.tail, stream: null, opening: Promise.resolve(), agentAcked: 0, ended: false };
    this.streams.set(key, shared);
    shared.opening = this.link
      .openStream(
        hostId,
        "container.logs",
        { containerId: params.containerId, tail: params.tail, since: null, until: params.until, follow: true, markers: params.markers },
        {
          data: (data, seq) => this.onFrame(shared, data.lines, seq),
          end: (error) => this.onEnd(shared, error),
        },
      )
      .then(
        (stream) => {
          shared.stream = stream;
          // Pages may have acknowledged frames before the agent's answer arrived.
          if (shared.agentAcked > 0) stream.ack(shared.agentAcked);
          // Everyone left while the agent was starting it.
          if (shared.viewers.size === 0 || shared.ended) stream.close();
        },
        (error: unknown) => {
          shared.ended = true;
          if (this.streams.get(key) === shared) this.streams.delete(key);
          throw error;
        },
      );
    return shared;
  }

  private onFrame(shared: Shared, lines: TLogLine[], agentSeq: number) {
    for (const line of lines) {
      shared.recent.push(line);
      if (!line.marker) shared.recentLines++;
    }
    while (shared.recentLines > shared.tail && shared.recent.length > 0) {
      if (!shared.recent.shift()!.marker) shared.recentLines--;
    }
    for (const viewer of [...shared.viewers]) this.deliver(shared, viewer, lines, agentSeq);
  }

  /** Sends a frame to a viewer within its page window, queues it otherwise, detaches a viewer too far behind. */
  private deliver(shared: Shared, viewer: Viewer, lines: TLogLine[], agentSeq: number) {
    if (viewer.closed) return;
    if (viewer.queue.length >= VIEWER_QUEUE_MAX_FRAMES) {
      this.leave(shared, viewer);
      // Ended like a lost source (resumable): the page reopens from its last line on a stream of its own.
      viewer.onEnd(new AppError("HOST_OFFLINE", "This view fell behind the shared log; it carries on from its last line"));
      return;
    }
    viewer.queue.push(lines);
    const seq = viewer.sent + viewer.queue.length;
    viewer.agentSeqOf.set(seq, agentSeq);
    this.pump(viewer);
  }

  private pump(viewer: Viewer) {
    while (!viewer.closed && viewer.queue.length > 0 && viewer.sent - viewer.acked < STREAM_WINDOW_FRAMES) {
      const lines = viewer.queue.shift()!;
      viewer.onLines(lines, ++viewer.sent);
    }
  }

  private ack(shared: Shared, viewer: Viewer, seq: number) {
    if (viewer.closed || seq <= viewer.acked || seq > viewer.sent) return;
    viewer.acked = seq;
    const agentSeq = viewer.agentSeqOf.get(seq) ?? 0;
    for (const key of viewer.agentSeqOf.keys()) if (key <= seq) viewer.agentSeqOf.delete(key);
    this.pump(viewer);
    // The fastest viewer drives the source.
    if (agentSeq > shared.agentAcked) {
      shared.agentAcked = agentSeq;
      shared.stream?.ack(agentSeq);
    }
  }

  private leave(shared: Shared, viewer: Viewer) {
    if (viewer.closed) return;
    viewer.closed = true;
    viewer.queue = [];
    shared.viewers.delete(viewer);
    if (shared.viewers.size > 0 || shared.ended) return;
    // The last viewer left: nobody needs the agent's stream any more.
    shared.ended = true;
    if (this.streams.get(shared.key) === shared) this.streams.delete(shared.key);
    shared.stream?.close();
  }

  private onEnd(shared: Shared, error: AppError | null) {
    shared.ended = true;
    if (this.streams.get(shared.key) === shared) this.streams.delete(shared.key);
    for (const viewer of [...shared.viewers]) {
      // What is queued still goes out first (bounded); then the end.
      viewer.closed = true;
      for (const lines of viewer.queue.splice(0)) viewer.onLines(lines, ++viewer.sent);
      viewer.onEnd(error);
    }
    shared.viewers.clear();
  }
}

const registries = new WeakMap<AgentLink, SharedLogStreams>();

/** The shared streams of one server (one per agent link, so each test server has its own). */
export function sharedLogStreams(link: AgentLink): SharedLogStreams {
  let registry = registries.get(link);
  if (!registry) {
    registry = new SharedLogStreams(link);
    registries.set(link, registry);
  }
  return registry;
}
