/**
 * A container's logs as lines: Docker's byte stream (multiplexed stdout/stderr
 * frames, or raw bytes for a TTY container) decoded into `{ stream, ts, text }`
 * lines and handed over in batches, so a chatty container costs one frame per
 * batch rather than one per line.
 */
import type Docker from "dockerode";
import { LOG_BATCH_MAX_LINES, LOG_LINE_MAX_CHARS, type TContainerLogsParams, type TLogLine } from "../protocol.ts";

/** Docker prefixes each line with an RFC 3339 timestamp (nanoseconds) when asked for timestamps. */
const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

type StreamName = TLogLine["stream"];

/**
 * Decodes Docker's log bytes into lines. Pure and incremental: chunks may cut
 * a frame header, a UTF-8 character or a line anywhere.
 * The multiplexed format is 8-byte headers `[stream, 0, 0, 0, size (u32 BE)]`
 * each followed by `size` payload bytes; a TTY container has no headers.
 */
export class LogDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private readonly partial: Record<StreamName, string> = { stdout: "", stderr: "" };
  private readonly decoders: Record<StreamName, TextDecoder> = { stdout: new TextDecoder(), stderr: new TextDecoder() };

  constructor(
    private readonly tty: boolean,
    private readonly onLine: (line: TLogLine) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.tty) return this.text("stdout", chunk);
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const kind = this.pending[0];
      const payload = this.pending.subarray(8, 8 + size);
      this.pending = this.pending.subarray(8 + size);
      // 0 would be stdin (never in logs); anything else is not Docker's framing: skip it.
      if (kind === 1 || kind === 2) this.text(kind === 2 ? "stderr" : "stdout", payload);
    }
  }

  /** Emits what is left of unterminated lines (a log need not end with a newline). */
  end(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.partial[stream] + this.decoders[stream].decode();
      this.partial[stream] = "";
      if (rest) this.emit(stream, rest);
    }
  }

  private text(stream: StreamName, bytes: Buffer) {
    const parts = (this.partial[stream] + this.decoders[stream].decode(bytes, { stream: true })).split("\n");
    let rest = parts.pop() ?? "";
    for (const part of parts) this.emit(stream, part);
    // A line that never ends must not grow without bound: pass it on in pieces.
    if (rest.length > LOG_LINE_MAX_CHARS) {
      this.emit(stream, rest);
      rest = "";
    }
    this.partial[stream] = rest;
  }

  private emit(stream: StreamName, raw: string) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const match = TIMESTAMP.exec(line);
    const ts = match ? match[1]! : "";
    const text = match ? line.slice(match[0].length) : line;
    // A runaway line is passed on in pieces (same stream and time): nothing is lost, no frame is huge.
    for (let start = 0; start === 0 || start < text.length; start += LOG_LINE_MAX_CHARS) {
      this.onLine({ stream, ts, text: text.slice(start, start + LOG_LINE_MAX_CHARS) });
    }
  }
}

/** Docker's `since` takes seconds with an optional fraction. */
function dockerSince(iso: string | null): string | number {
  if (!iso) return 0;
  const ms = Date.parse(iso);
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, "0")}000000`;
}

export type LogSink = {
  lines(batch: TLogLine[]): void;
  end(error: Error | null): void;
};

/**
 * At most one frame per this many ms per stream (about one per browser frame),
 * sent at once when the stream was quiet: a lone line is not held back, a
 * burst is batched (up to LOG_BATCH_MAX_LINES per frame).
 */
const FLUSH_MS = 16;

/**
 * Starts reading a container's logs. Resolves once Docker accepted the
 * request (rejects with Docker's error, e.g. no such container); returns the
 * function that stops it. `sink.end` is called exactly once.
 */
export async function openContainerLogs(docker: Docker, params: TContainerLogsParams, sink: LogSink): Promise<() => void> {
  const container = docker.getContainer(params.containerId);
  const info = await container.inspect();
  let batch: TLogLine[] = [];
  let timer: NodeJS.Timeout | null = null;
  let ended = false;
  let lastFlush = 0;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    lastFlush = Date.now();
    if (batch.length === 0) return;
    const out = batch;
    batch = [];
    sink.lines(out);
  };
  const decoder = new LogDecoder(Boolean(info.Config?.Tty), (line) => {
    batch.push(line);
    if (batch.length >= LOG_BATCH_MAX_LINES) flush();
    // A zero delay still gathers every line of the chunk being decoded.
    else timer ??= setTimeout(flush, Math.max(0, FLUSH_MS - (Date.now() - lastFlush)));
  });
  const finish = (error: Error | null) => {
    if (ended) return;
    ended = true;
    decoder.end();
    flush();
    sink.end(error);
  };
  const options = {
    stdout: true,
    stderr: true,
    timestamps: true,
    tail: params.tail ?? ("all" as unknown as number),
    since: dockerSince(params.since) as number,
  };

  if (!params.follow) {
    const bytes = await container.logs({ ...options, follow: false });
    // Answer "started" first, like the follow path does, then deliver.
    setImmediate(() => {
      if (ended) return;
      decoder.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
      finish(null);
    });
    return () => finish(null);
  }

  const stream = (await container.logs({ ...options, follow: true })) as NodeJS.ReadableStream & { destroy(): void };
  stream.on("data", (chunk: Buffer) => decoder.push(chunk));
  stream.on("end", () => finish(null));
  stream.on("error", (error: Error) => finish(error));
  return () => {
    if (ended) return;
    finish(null);
    stream.destroy();
  };
}
