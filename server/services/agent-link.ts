/**
 * What services need from the live agent connections. The socket gateway
 * implements it; services depend only on this interface, so requests flow one
 * way: service → agent link → agent.
 */
import type { OperationParams, OperationResult, OperationType, StreamData, StreamParams, StreamType } from "../../agent/protocol.ts";
import type { AppError } from "../errors.ts";

/**
 * Where a stream's frames go. `end` is called exactly once: naturally, on error, or after `close()`.
 * `seq` counts frames from 1; the reader acknowledges them with `OpenStream.ack` once it has passed
 * them on (flow control: the agent sends only STREAM_WINDOW_FRAMES beyond the last ack).
 */
export type StreamSink<T extends StreamType> = {
  data(data: StreamData<T>, seq: number): void;
  end(error: AppError | null): void;
};

export type OpenStream = {
  close(): void;
  /** Every frame up to `seq` was passed on: the agent may send more. Acks beyond what arrived are ignored. */
  ack(seq: number): void;
  /**
   * Input for a two-way stream (a terminal's keystrokes or new size). Checked
   * against the stream type's input schema here and again on the agent;
   * ignored for one-way streams and after the stream ended.
   */
  send(input: unknown): void;
};

export interface AgentLink {
  request<T extends OperationType>(
    hostId: string,
    type: T,
    params: OperationParams<T>,
    options?: { timeoutMs?: number },
  ): Promise<OperationResult<T>>;
  /** Opens a stream on the host's agent; rejects if the agent refuses (e.g. no such container). */
  openStream<T extends StreamType>(hostId: string, type: T, params: StreamParams<T>, sink: StreamSink<T>): Promise<OpenStream>;
  isConnected(hostId: string): boolean;
  /** Drops the host's agent on whichever server replica holds it. */
  disconnect(hostId: string, reason: string): Promise<void>;
}
