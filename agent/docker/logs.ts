/**
 * A container's logs as lines: Docker's byte stream (multiplexed stdout/stderr
 * frames, or raw bytes for a TTY container) decoded into `{ stream, ts, text }`
 * lines and handed over in batches, so a chatty container costs one frame per
 * batch rather than one per line.
 *
 * Flow control: the reader's `lines()` answers false when its window is full;
 * Docker's stream is then paused (nothing more is read from dockerd) until
 * `resume()`. Whatever the log's size, the agent holds at most the lines of
 * the chunk it was decoding. The whole log (not followed) is streamed the
 * same way; it is never read into memory.
 *
 * Followed logs keep following across restarts (Docker ends its follow when a
 * container stops; the reader re-opens it on the next start, without repeating
 * lines), and with `markers` the container's starts and exits are inserted as
 * marker lines at the time they happened.
 */
import type Docker from "dockerode";
import { LOG_BATCH_MAX_CHARS, LOG_BATCH_MAX_LINES, LOG_LINE_MAX_CHARS, type TContainerLogsParams, type TLogLine } from "../protocol.ts";

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

/** Nanoseconds since the epoch of Docker's RFC 3339 timestamp, or null. Exact to the nanosecond (bigint). */
export function timestampNs(ts: string): bigint | null {
  const match = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!match) return null;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1_000_000n + BigInt((match[2] ?? "").padEnd(9, "0").slice(0, 9));
}

/** Docker's fixed-width RFC 3339 with nanoseconds (UTC), as it stamps log lines. */
export function nsToTimestamp(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString(); // ms precision
  return `${iso.slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, "0")}Z`;
}

/** Docker's `since` (and `until`) take seconds with a fraction (nanoseconds). */
export function dockerSince(ns: bigint | null): string | number {
  if (ns === null) return 0;
  return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`;
}

export type LogSink = {
  /** One batch of lines. Answers false when the reader wants no more for now: call `resume()` later. */
  lines(batch: TLogLine[]): boolean;
  end(error: Error | null): void;
};

export type LogReader = {
  /** Stops reading; `sink.end(null)` is called if it had not ended yet. */
  stop(): void;
  /** The reader has room again: send what is held, then read on. */
  resume(): void;
  /** Lines decoded but not yet handed to the sink (bounded by one chunk of Docker's stream). */
  heldLines(): number;
};

/**
 * At most one frame per this many ms per stream (about one per browser frame),
 * sent at once when the stream was quiet: a lone line is not held back, a
 * burst is batched (up to LOG_BATCH_MAX_LINES / LOG_BATCH_MAX_CHARS per frame).
 */
const FLUSH_MS = 16;
/**
 * A live marker waits this long for log lines written before it that Docker
 * has not delivered yet (its log and event pipes are separate), so it lands
 * between the right lines.
 */
const MARKER_GRACE_MS = 250;
/** How much later than its first lines Docker may stamp a container's start. */
const START_SLACK_NS = 1_000_000_000n;

type Marker = { ns: bigint; line: TLogLine; live: boolean; seenAt: number };
type DockerStream = NodeJS.ReadableStream & { destroy(): void; pause(): unknown; resume(): unknown };

function markerLine(event: "started" | "exited", ns: bigint, exitCode: number | null): TLogLine {
  const text = event === "started" ? "container started" : `container exited${exitCode === null ? "" : ` (code ${exitCode})`}`;
  return { stream: "stdout", ts: nsToTimestamp(ns), text, marker: { event, exitCode } };
}

/** Docker's event time: `timeNano` (ns) when present, else `time` (s). */
function eventNs(event: { time?: number; timeNano?: number | string }): bigint | null {
  if (event.timeNano !== undefined) return BigInt(event.timeNano);
  return typeof event.time === "number" ? BigInt(event.time) * 1_000_000_000n : null;
}

/** Reads newline-delimited JSON events from Docker's event stream. */
function onJsonLines(stream: NodeJS.ReadableStream, onEvent: (event: Record<string, unknown>) => void) {
  let buffer = "";
  stream.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    if (buffer.length > 1 << 20) buffer = ""; // not Docker's format: do not grow
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!line) continue;
      try {
        onEvent(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line that is not JSON is not an event
      }
    }
  });
}

/** The container's own state changes, as markers: Docker's event memory, then inspect as a fallback. */
async function pastMarkers(docker: Docker, id: string, info: Docker.ContainerInspectInfo): Promise<Marker[]> {
  const markers: Marker[] = [];
  const now = Date.now();
  try {
    // Docker remembers its last events (a few hundred, since its start); asking with `until` returns them and ends.
    const stream = (await docker.getEvents({
      since: 0,
      until: Math.ceil(now / 1000) + 1,
      filters: { type: ["container"], container: [id], event: ["start", "die"] },
    } as Docker.GetEventsOptions)) as NodeJS.ReadableStream;
    await new Promise<void>((resolve) => {
      onJsonLines(stream, (event) => {
        const ns = eventNs(event as { time?: number; timeNano?: number });
        if (ns === null) return;
        if (event.Action === "start") markers.push({ ns, line: markerLine("started", ns, null), live: false, seenAt: now });
        if (event.Action === "die") {
          const code = Number((event.Actor as { Attributes?: Record<string, string> } | undefined)?.Attributes?.exitCode);
          markers.push({ ns, line: markerLine("exited", ns, Number.isInteger(code) ? code : null), live: false, seenAt: now });
        }
      });
      stream.on("end", resolve);
      stream.on("error", () => resolve());
      stream.on("close", resolve);
    });
  } catch {
    // Events are a nicety here; inspect below still gives the last start and exit.
  }
  // Inspect always knows the current run's start and, if it ended, its exit.
  const near = (event: "started" | "exited", ns: bigint) =>
    markers.some((m) => m.line.marker?.event === event && (m.ns > ns ? m.ns - ns : ns - m.ns) < 1_000_000_000n);
  const started = info.State?.StartedAt ? timestampNs(info.State.StartedAt) : null;
  const finished = info.State?.FinishedAt ? timestampNs(info.State.FinishedAt) : null;
  if (started !== null && started > 0n && !near("started", started)) markers.push({ ns: started, line: markerLine("started", started, null), live: false, seenAt: now });
  if (finished !== null && finished > 0n && started !== null && !near("exited", finished)) {
    // Stopped: the run that just ended. Running again: the previous run's end (Docker has reset its exit code).
    if (!info.State?.Running && finished >= started) markers.push({ ns: finished, line: markerLine("exited", finished, info.State?.ExitCode ?? null), live: false, seenAt: now });
    if (info.State?.Running && finished < started) markers.push({ ns: finished, line: markerLine("exited", finished, null), live: false, seenAt: now });
  }
  return markers.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
}

/**
 * Starts reading a container's logs. Resolves once Docker accepted the
 * request (rejects with Docker's error, e.g. no such container). `sink.end`
 * is called exactly once.
 */
export async function openContainerLogs(docker: Docker, params: TContainerLogsParams, sink: LogSink): Promise<LogReader> {
  const container = docker.getContainer(params.containerId);
  const info = await container.inspect();
  const tty = Boolean(info.Config?.Tty);
  const openedAt = Date.now();
  const openedNs = BigInt(openedAt) * 1_000_000n;

  let batch: TLogLine[] = [];
  let batchChars = 0;
  let timer: NodeJS.Timeout | null = null;
  let markerTimer: NodeJS.Timeout | null = null;
  let lastFlush = 0;
  let ended = false;
  let blocked = false; // the sink's window is full
  let stream: DockerStream | null = null;
  let events: DockerStream | null = null;
  let firstLineNs: bigint | null = null;
  let lastLineNs: bigint | null = null;
  /**
   * The last line's timestamp as Docker wrote it, when newer than `lastLineNs`: parsing each line's
   * timestamp (a regex, Date.parse and bigint arithmetic) cost more than decoding the line, so it
   * is parsed only when needed: the first line, while markers wait, after a restart, and when
   * the log is read again from the last line.
   */
  let lastTs: string | null = null;
  const lastNs = (): bigint | null => {
    if (lastTs !== null) {
      const ns = timestampNs(lastTs);
      if (ns !== null) lastLineNs = ns;
      lastTs = null;
    }
    return lastLineNs;
  };
  let reading = false; // a Docker log read is open
  let reopened = false; // reading again after a restart: skip lines already sent
  let checking = false; // an inspect for "running again?" is in flight
  let recheck = false; // a start arrived during that inspect: ask again
  let decoder: LogDecoder | null = null;
  const markers: Marker[] = params.markers ? await pastMarkers(docker, params.containerId, info) : [];
  const untilNs = params.until ? timestampNs(params.until) : null;

  const push = (line: TLogLine) => {
    batch.push(line);
    batchChars += line.text.length;
  };

  /** Hands whole frames to the sink while it has room; pauses Docker when it has none. */
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    lastFlush = Date.now();
    while (batch.length > 0 && !blocked) {
      let count = 0;
      let chars = 0;
      while (count < batch.length && count < LOG_BATCH_MAX_LINES && (count === 0 || chars + batch[count]!.text.length <= LOG_BATCH_MAX_CHARS)) {
        chars += batch[count]!.text.length;
        count++;
      }
      const frame = batch.slice(0, count);
      batch = batch.slice(count);
      batchChars -= chars;
      if (!sink.lines(frame)) blocked = true;
    }
    if (blocked) stream?.pause();
  };

  const schedule = () => {
    if (batch.length >= LOG_BATCH_MAX_LINES || batchChars >= LOG_BATCH_MAX_CHARS) flush();
    // A zero delay still gathers every line of the chunk being decoded.
    else timer ??= setTimeout(flush, Math.max(0, FLUSH_MS - (Date.now() - lastFlush)));
  };

  /** A marker from before the first line shown belongs to history the reader did not ask for (a tail). */
  const outOfWindow = (marker: Marker) => !marker.live && params.tail !== null && (firstLineNs === null || marker.ns < firstLineNs);

  /**
   * Moves markers that happened before `ns` (or that are due) into the batch, in time order.
   * Docker stamps a start once the process already runs, so its first lines can be older than
   * the start: a start up to START_SLACK_NS after a line still goes before it, at that line's time.
   */
  const releaseMarkers = (before: bigint | null, due: (marker: Marker) => boolean = () => false) => {
    while (markers.length > 0) {
      const marker = markers[0]!;
      const early = before !== null && marker.line.marker?.event === "started" && marker.ns >= before && marker.ns - before < START_SLACK_NS;
      if (!((before !== null && marker.ns < before) || early || due(marker))) break;
      markers.shift();
      if (early) {
        marker.ns = before!;
        marker.line = { ...marker.line, ts: nsToTimestamp(before!) };
      }
      if (!outOfWindow(marker)) push(marker.line);
    }
  };

  const armMarkerTimer = () => {
    if (markerTimer || markers.length === 0 || ended) return;
    markerTimer = setTimeout(() => {
      markerTimer = null;
      const now = Date.now();
      // Past markers wait for the first lines (they decide the window), live ones for late lines.
      releaseMarkers(null, (m) => (m.live ? now - m.seenAt >= MARKER_GRACE_MS : now - openedAt >= 2 * MARKER_GRACE_MS && !reading));
      if (batch.length > 0) schedule();
      armMarkerTimer();
    }, MARKER_GRACE_MS);
  };

  const onLine = (line: TLogLine) => {
    if (line.ts && (reopened || firstLineNs === null || markers.length > 0)) {
      const ns = timestampNs(line.ts);
      // After a restart the log is re-read from the last line shown: skip what was already sent.
      if (ns !== null && reopened && ns <= (lastNs() ?? -1n)) return;
      if (ns !== null) {
        if (firstLineNs === null) firstLineNs = ns;
        releaseMarkers(ns);
        lastLineNs = ns;
        lastTs = null;
      }
    } else if (line.ts) lastTs = line.ts;
    push(line);
    schedule();
  };

  const finish = (error: Error | null) => {
    if (ended) return;
    ended = true;
    decoder?.end();
    releaseMarkers(null, () => true);
    blocked = false; // the last lines go out regardless: they are already in memory and bounded
    flush();
    if (markerTimer) clearTimeout(markerTimer);
    events?.destroy();
    stream?.destroy();
    sink.end(error);
  };

  /** One read of Docker's log: the first honours `tail`; a re-read after a restart starts at the last line shown. */
  const read = async (since: bigint | null, tail: number | null): Promise<void> => {
    const raw = await new Promise<DockerStream>((resolve, reject) =>
      docker.modem.dial(
        {
          path: `/containers/${encodeURIComponent(params.containerId)}/logs?`,
          method: "GET",
          isStream: true, // also for the whole log: streamed, never buffered whole
          statusCodes: { 200: true, 404: "no such container", 500: "server error" },
          options: {
            stdout: true,
            stderr: true,
            timestamps: true,
            follow: params.follow,
            tail: tail ?? "all",
            since: dockerSince(since),
            ...(untilNs !== null ? { until: dockerSince(untilNs) } : {}),
          },
        },
        (error: unknown, data: unknown) => (error ? reject(error) : resolve(data as DockerStream)),
      ),
    );
    if (ended) return void raw.destroy();
    stream = raw;
    reading = true;
    const own = new LogDecoder(tty, onLine);
    decoder = own;
    raw.on("data", (chunk: Buffer) => own.push(chunk));
    raw.on("error", (error: Error) => {
      if (stream === raw) finish(error);
    });
    raw.on("end", () => {
      if (stream !== raw) return;
      own.end();
      reading = false;
      stream = null;
      if (!params.follow) return finish(null);
      // Docker ends a follow when the container stops: carry on at its next start.
      void resumeIfRunning();
    });
    if (blocked) raw.pause();
  };

  const resumeIfRunning = async (): Promise<void> => {
    if (ended || reading) return;
    if (checking) return void (recheck = true);
    checking = true;
    try {
      const state = await container.inspect();
      const pastUntil = untilNs !== null && BigInt(Date.now()) * 1_000_000n >= untilNs;
      if (!ended && !reading && pastUntil) return finish(null);
      if (!ended && !reading && state.State?.Running) {
        reopened = true;
        await read(lastNs() ?? openedNs, null);
      }
    } catch (error) {
      if (!ended) finish(error as Error);
    } finally {
      checking = false;
    }
    if (recheck) {
      recheck = false;
      return resumeIfRunning();
    }
  };

  if (params.follow) {
    // The container's own events while following: markers, restarts, removal.
    events = (await docker.getEvents({
      filters: { type: ["container"], container: [params.containerId], event: ["start", "die", "destroy"] },
    } as Docker.GetEventsOptions)) as DockerStream;
    onJsonLines(events, (event) => {
      const ns = eventNs(event as { time?: number; timeNano?: number }) ?? BigInt(Date.now()) * 1_000_000n;
      if (event.Action === "destroy") return finish(null);
      if (event.Action === "start") {
        if (params.markers) markers.push({ ns, line: markerLine("started", ns, null), live: true, seenAt: Date.now() });
        void resumeIfRunning();
      }
      if (event.Action === "die" && params.markers) {
        const code = Number((event.Actor as { Attributes?: Record<string, string> } | undefined)?.Attributes?.exitCode);
        markers.push({ ns, line: markerLine("exited", ns, Number.isInteger(code) ? code : null), live: true, seenAt: Date.now() });
      }
      armMarkerTimer();
    });
    events.on("error", () => undefined); // a lost event stream only loses markers; the log goes on
  }

  try {
    await read(params.since ? timestampNs(params.since) : null, params.tail);
  } catch (error) {
    events?.destroy();
    throw error;
  }
  armMarkerTimer();

  return {
    stop: () => finish(null),
    resume: () => {
      if (ended || !blocked) return;
      blocked = false;
      flush();
      if (!blocked) stream?.resume();
    },
    heldLines: () => batch.length,
  };
}
