/**
 * The agent's open streams (today: container logs). Like operations,
 * a stream type must be in the contract's `streams` table; its params are
 * validated before Docker is touched, and every answer is a frame, never a
 * throw. Streams end when the server cancels them or the connection drops.
 *
 * Flow control: each stream may have STREAM_WINDOW_FRAMES frames sent and not
 * acknowledged by the server (`stream:ack`, sent once its reader took them).
 * When the window is full the opener is told to hold (the log reader pauses
 * Docker's stream) until an ack opens it again.
 */
import type Docker from "dockerode";
import { dockerErrorMessage, dockerStatusCode } from "../docker/client.ts";
import { openContainerLogs } from "../docker/logs.ts";
import { openContainerStats, openHostStats } from "../docker/stats.ts";
import { openImagePull } from "../docker/image-pull.ts";
import { openImagePush } from "../docker/image-push.ts";
import { openImageBuild } from "../docker/image-build.ts";
import { openAttach, openExec } from "../docker/terminal.ts";
import {
  describeZodError,
  STREAM_WINDOW_FRAMES,
  streams,
  ZStreamAck,
  streamInputSchema,
  ZStreamCancel,
  ZStreamInput,
  ZStreamOpen,
  type StreamParams,
  type StreamWireData,
  type StreamType,
  type TStreamEnd,
  type TStreamOpenResult,
} from "../protocol.ts";

/** A generous cap: each open stream holds one Docker connection. */
export const MAX_OPEN_STREAMS = 64;

export type StreamEmitter = {
  data(streamId: string, seq: number, data: unknown): void;
  end(frame: TStreamEnd): void;
};

/** What an opener returns: stop it, let it send again after it was told to hold, and (two-way streams) give it input. */
type OpenedStream = { stop(): void; resume(): void; heldItems(): number; input?(data: unknown): void };

type Opener<T extends StreamType> = (
  docker: Docker,
  params: StreamParams<T>,
  /** `data` answers false when the window is full: hold until `resume()`; `idle` tells whether every frame sent was acknowledged. */
  sink: { data(data: StreamWireData<T>): boolean; idle(): boolean; end(error: Error | null): void },
) => Promise<OpenedStream>;

const openers: { [T in StreamType]: Opener<T> } = {
  "container.logs": async (docker, params, sink) => {
    const reader = await openContainerLogs(docker, params, { lines: (lines) => sink.data({ lines }), end: sink.end });
    return { stop: reader.stop, resume: reader.resume, heldItems: reader.heldLines };
  },
  // Samples are dropped, not held, while the window is full: a late sample is worth nothing.
  "container.stats": async (docker, params, sink) => {
    const reader = await openContainerStats(docker, params.containerId, { sample: (sample) => void sink.data(sample), end: sink.end });
    return { stop: reader.stop, resume: () => undefined, heldItems: () => 0 };
  },
  "host.stats": async (docker, _params, sink) => {
    const reader = await openHostStats(docker, { sample: (sample) => void sink.data(sample), end: sink.end });
    return { stop: reader.stop, resume: () => undefined, heldItems: () => 0 };
  },
  // Progress is a latest-state summary: a frame refused while the window is full is made up by the next.
  "image.pull": async (docker, params, sink) => openImagePull(docker, params, { progress: sink.data, end: sink.end }),
  "image.push": async (docker, params, sink) => openImagePush(docker, params, { progress: sink.data, end: sink.end }),
  "image.build": async (docker, params, sink) => {
    const build = openImageBuild(docker, params, { data: sink.data, end: sink.end });
    return { ...build, input: (data) => build.input(data as Parameters<typeof build.input>[0]) };
  },
  "container.exec": async (docker, params, sink) => {
    const terminal = await openExec(docker, params, { output: sink.data, idle: sink.idle, end: sink.end });
    return { ...terminal, input: (data) => terminal.input(data as Parameters<typeof terminal.input>[0]) };
  },
  "container.attach": async (docker, params, sink) => {
    const terminal = await openAttach(docker, params, { output: sink.data, idle: sink.idle, end: sink.end });
    return { ...terminal, input: (data) => terminal.input(data as Parameters<typeof terminal.input>[0]) };
  },
};

/** Streams of samples: a frame that cannot go now is dropped (the next second brings a fresh one). */
const LOSSY_STREAMS: ReadonlySet<StreamType> = new Set(["container.stats", "host.stats"]);

type OpenEntry = { type: StreamType; stream: OpenedStream | null; sent: number; acked: number };

function isStreamType(type: string): type is StreamType {
  return Object.hasOwn(streams, type);
}

function failure(code: "BAD_REQUEST" | "UNKNOWN_OPERATION" | "DOCKER_ERROR" | "NOT_FOUND" | "INTERNAL", message: string): TStreamOpenResult {
  return { ok: false, error: { code, message: message.slice(0, 8192) } };
}

export class StreamRegistry {
  private readonly open = new Map<string, OpenEntry>();
  /** Set while stopping streams the server no longer wants: their last frames would go nowhere useful. */
  private muted = false;

  constructor(
    private readonly docker: Docker,
    private readonly emit: StreamEmitter,
  ) {}

  get size(): number {
    return this.open.size;
  }

  async start(frame: unknown): Promise<TStreamOpenResult> {
    const parsed = ZStreamOpen.safeParse(frame);
    if (!parsed.success) return failure("BAD_REQUEST", `Malformed stream request: ${describeZodError(parsed.error)}`);
    const { streamId, type } = parsed.data;
    if (!isStreamType(type)) return failure("UNKNOWN_OPERATION", `Unknown stream "${type}"`);
    if (this.open.has(streamId)) return failure("BAD_REQUEST", "This stream id is already open");
    if (this.open.size >= MAX_OPEN_STREAMS) return failure("BAD_REQUEST", `This agent already serves ${MAX_OPEN_STREAMS} streams`);
    const params = streams[type].params.safeParse(parsed.data.params);
    if (!params.success) return failure("BAD_REQUEST", `Invalid params for ${type}: ${describeZodError(params.error)}`);

    let ended = false;
    const entry: OpenEntry = { type, stream: null, sent: 0, acked: 0 };
    this.open.set(streamId, entry); // reserve the id while Docker answers
    try {
      const opened = await (openers[type] as Opener<StreamType>)(this.docker, params.data, {
        data: (data) => {
          if (ended || this.muted) return false;
          // Samples (stats) are dropped while the window is full; logs are held by their reader instead.
          if (LOSSY_STREAMS.has(type) && entry.sent - entry.acked >= STREAM_WINDOW_FRAMES) return false;
          this.emit.data(streamId, ++entry.sent, data);
          return entry.sent - entry.acked < STREAM_WINDOW_FRAMES;
        },
        idle: () => entry.sent === entry.acked,
        end: (error) => {
          if (ended) return;
          ended = true;
          this.open.delete(streamId);
          if (!this.muted) this.emit.end({ streamId, error: error ? { code: "DOCKER_ERROR", message: dockerErrorMessage(error).slice(0, 8192) } : null });
        },
      });
      if (ended) return { ok: true };
      if (this.open.get(streamId) !== entry) {
        opened.stop(); // cancelled while Docker was answering
        return { ok: true };
      }
      entry.stream = opened;
      // Acks that arrived while Docker was answering may already have opened the window.
      if (entry.sent - entry.acked < STREAM_WINDOW_FRAMES) opened.resume();
      return { ok: true };
    } catch (error) {
      this.open.delete(streamId);
      const status = dockerStatusCode(error);
      return failure(status === 404 ? "NOT_FOUND" : status ? "DOCKER_ERROR" : "INTERNAL", dockerErrorMessage(error));
    }
  }

  /**
   * The server's reader took every frame up to `seq`: open the window again.
   * An ack beyond what was sent, or going backwards, is ignored.
   */
  ack(frame: unknown): void {
    const parsed = ZStreamAck.safeParse(frame);
    if (!parsed.success) return;
    const entry = this.open.get(parsed.data.streamId);
    if (!entry || parsed.data.seq <= entry.acked || parsed.data.seq > entry.sent) return;
    entry.acked = parsed.data.seq;
    if (entry.sent - entry.acked < STREAM_WINDOW_FRAMES) entry.stream?.resume();
  }

  /**
   * Input for a two-way stream (a terminal's keystrokes or size). Checked
   * against the stream type's input schema; input for a one-way stream, an
   * unknown id or a malformed frame is dropped.
   */
  input(frame: unknown): void {
    const parsed = ZStreamInput.safeParse(frame);
    if (!parsed.success) return;
    const entry = this.open.get(parsed.data.streamId);
    const schema = entry ? streamInputSchema(entry.type) : null;
    if (!entry?.stream?.input || !schema) return;
    const data = schema.safeParse(parsed.data.data);
    if (data.success) entry.stream.input(data.data);
  }

  /** Frames sent and not yet acknowledged, and items held back, over all streams (for tests and metrics). */
  get backlog(): { unackedFrames: number; heldItems: number } {
    let unackedFrames = 0;
    let heldItems = 0;
    for (const entry of this.open.values()) {
      unackedFrames += entry.sent - entry.acked;
      heldItems += entry.stream?.heldItems() ?? 0;
    }
    return { unackedFrames, heldItems };
  }

  /** Stops a stream at the server's request; unknown ids are ignored (it may have just ended). */
  cancel(frame: unknown): void {
    const parsed = ZStreamCancel.safeParse(frame);
    if (!parsed.success) return;
    const entry = this.open.get(parsed.data.streamId);
    this.open.delete(parsed.data.streamId);
    this.stopMuted([entry]);
  }

  /** The connection dropped: nobody is listening any more. */
  cancelAll(): void {
    const entries = [...this.open.values()];
    this.open.clear();
    this.stopMuted(entries);
  }

  private stopMuted(entries: Array<OpenEntry | undefined>) {
    this.muted = true;
    try {
      for (const entry of entries) entry?.stream?.stop();
    } finally {
      this.muted = false;
    }
  }
}
