/**
 * The agent's open streams (today: followed container logs). Like operations,
 * a stream type must be in the contract's `streams` table; its params are
 * validated before Docker is touched, and every answer is a frame, never a
 * throw. Streams end when the server cancels them or the connection drops.
 */
import type Docker from "dockerode";
import { dockerErrorMessage, dockerStatusCode } from "../docker/client.ts";
import { openContainerLogs } from "../docker/logs.ts";
import {
  describeZodError,
  streams,
  ZStreamCancel,
  ZStreamOpen,
  type StreamData,
  type StreamParams,
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

type Opener<T extends StreamType> = (
  docker: Docker,
  params: StreamParams<T>,
  sink: { data(data: StreamData<T>): void; end(error: Error | null): void },
) => Promise<() => void>;

const openers: { [T in StreamType]: Opener<T> } = {
  "container.logs": (docker, params, sink) =>
    openContainerLogs(docker, params, { lines: (lines) => sink.data({ lines }), end: sink.end }),
};

function isStreamType(type: string): type is StreamType {
  return Object.hasOwn(streams, type);
}

function failure(code: "BAD_REQUEST" | "UNKNOWN_OPERATION" | "DOCKER_ERROR" | "NOT_FOUND" | "INTERNAL", message: string): TStreamOpenResult {
  return { ok: false, error: { code, message: message.slice(0, 8192) } };
}

export class StreamRegistry {
  private readonly open = new Map<string, () => void>();
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

    let seq = 0;
    let ended = false;
    this.open.set(streamId, () => undefined); // reserve the id while Docker answers
    try {
      const stop = await (openers[type] as Opener<StreamType>)(this.docker, params.data, {
        data: (data) => {
          if (!ended && !this.muted) this.emit.data(streamId, ++seq, data);
        },
        end: (error) => {
          if (ended) return;
          ended = true;
          this.open.delete(streamId);
          if (!this.muted) this.emit.end({ streamId, error: error ? { code: "DOCKER_ERROR", message: dockerErrorMessage(error).slice(0, 8192) } : null });
        },
      });
      if (ended) return { ok: true };
      if (!this.open.has(streamId)) {
        stop(); // cancelled while Docker was answering
        return { ok: true };
      }
      this.open.set(streamId, stop);
      return { ok: true };
    } catch (error) {
      this.open.delete(streamId);
      const status = dockerStatusCode(error);
      return failure(status === 404 ? "NOT_FOUND" : status ? "DOCKER_ERROR" : "INTERNAL", dockerErrorMessage(error));
    }
  }

  /** Stops a stream at the server's request; unknown ids are ignored (it may have just ended). */
  cancel(frame: unknown): void {
    const parsed = ZStreamCancel.safeParse(frame);
    if (!parsed.success) return;
    const stop = this.open.get(parsed.data.streamId);
    this.open.delete(parsed.data.streamId);
    this.stopMuted([stop]);
  }

  /** The connection dropped: nobody is listening any more. */
  cancelAll(): void {
    const stops = [...this.open.values()];
    this.open.clear();
    this.stopMuted(stops);
  }

  private stopMuted(stops: Array<(() => void) | undefined>) {
    this.muted = true;
    try {
      for (const stop of stops) stop?.();
    } finally {
      this.muted = false;
    }
  }
}
