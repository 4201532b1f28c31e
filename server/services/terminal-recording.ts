/**
 * Terminal recordings, as asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/):
 * a JSON header line, then one `[seconds, code, data]` line per event: "o"
 * output, "i" input (only when an admin turned input recording on: keystrokes
 * carry passwords), "r" resize ("COLSxROWS"), "m" marker.
 *
 * Stored in Postgres in chunks (`terminal_recording_chunk`) so every replica
 * can read a recording, including one still being written. Events are
 * buffered and written once a second (or at 256 KiB), and the whole recording
 * is capped: past the cap a marker says so and nothing more is stored, while
 * the session itself goes on.
 */
import type { Db } from "../db/client.ts";
import { createLogger } from "../logger.ts";

const log = createLogger("terminal-recording");
const FLUSH_MS = 1_000;
/**
 * A flood (`cat` of a big file) fills this in a few frames: each write is a transaction, so larger
 * pieces cost the server far less while it relays the flood (a reader takes 32 pieces at a time: 8 MiB).
 */
const FLUSH_BYTES = 256 * 1024;

export type RecordingHeader = { width: number; height: number; startedAt: Date; command: string; title: string };

export function asciicastHeader(header: RecordingHeader): string {
  return `${JSON.stringify({
    version: 2,
    width: header.width,
    height: header.height,
    timestamp: Math.floor(header.startedAt.getTime() / 1000),
    command: header.command,
    title: header.title,
    env: { TERM: "xterm-256color" },
  })}\n`;
}

/** The line a cut recording ends with, shown in the replay where the recording stops. */
export function cutNotice(maxBytes: number): string {
  return `\r\n\x1b[7m[Berth: the recording stops here: it reached its ${formatMiB(maxBytes)} limit; the session went on]\x1b[0m\r\n`;
}

function formatMiB(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1 ? `${Math.round(mib * 10) / 10} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

export class TerminalRecorder {
  private readonly decoder = new TextDecoder(); // stream mode: a character may straddle two frames
  private readonly started = performance.now();
  private pending: string[] = [];
  private pendingBytes = 0;
  private stored = 0;
  private nextSeq = 0;
  private cut = false;
  private persisting = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    readonly sessionId: string,
    private readonly opts: { header: RecordingHeader; maxBytes: number; recordInput: boolean },
  ) {
    this.push(asciicastHeader(opts.header));
  }

  get bytes(): number {
    return this.stored + this.pendingBytes;
  }

  get truncated(): boolean {
    return this.cut;
  }

  output(bytes: Uint8Array): void {
    if (this.cut) return; // past the cap nothing is stored: skip the decoding too
    const text = this.decoder.decode(bytes, { stream: true });
    if (text) this.event("o", text);
  }

  input(text: string): void {
    if (this.opts.recordInput) this.event("i", text);
  }

  resize(cols: number, rows: number): void {
    this.event("r", `${cols}x${rows}`);
  }

  /**
   * The session row exists now: from here on, buffered events are written.
   * Before that (the agent was still starting the process) they only wait.
   */
  startPersisting(): void {
    this.persisting = true;
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    void this.flush();
  }

  /** Writes what is left; resolves when every chunk is stored. */
  async finish(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const tail = this.decoder.decode();
    if (tail) this.event("o", tail);
    if (this.persisting) await this.flush();
    else this.pending = []; // never persisted: the session row was not written
  }

  private event(code: "o" | "i" | "r" | "m", data: string) {
    if (this.cut) return;
    const line = `${JSON.stringify([Math.round(performance.now() - this.started) / 1000, code, data])}\n`;
    const size = Buffer.byteLength(line);
    if (this.bytes + size > this.opts.maxBytes) {
      this.cut = true;
      const at = Math.round(performance.now() - this.started) / 1000;
      this.push(`${JSON.stringify([at, "o", cutNotice(this.opts.maxBytes)])}\n`);
      this.push(`${JSON.stringify([at, "m", "recording cut"])}\n`);
      return;
    }
    this.push(line, size);
    if (this.persisting && this.pendingBytes >= FLUSH_BYTES) void this.flush();
  }

  private push(line: string, size = Buffer.byteLength(line)) {
    this.pending.push(line);
    this.pendingBytes += size;
  }

  /** Chunks are written one after another, in order: `seq` is the order a reader concatenates them in. */
  private flush(): Promise<void> {
    if (!this.pending.length) return this.writing;
    const data = this.pending.join("");
    const size = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const seq = this.nextSeq++;
    this.writing = this.writing.then(async () => {
      try {
        await this.db.$transaction([
          this.db.terminalRecordingChunk.create({ data: { sessionId: this.sessionId, seq, data } }),
          this.db.terminalSession.update({
            where: { id: this.sessionId },
            data: { bytes: { increment: size }, truncated: this.cut, lastSeenAt: new Date() },
            select: { id: true },
          }),
        ]);
        this.stored += size;
      } catch (error) {
        log.warn("could not store a piece of a terminal recording", { sessionId: this.sessionId, error: String(error) });
      }
    });
    return this.writing;
  }
}

/** The whole recording as asciicast text, chunk by chunk (a reader may stream it). */
export async function* readRecording(db: Db, sessionId: string): AsyncGenerator<string> {
  let after = -1;
  for (;;) {
    const chunks = await db.terminalRecordingChunk.findMany({
      where: { sessionId, seq: { gt: after } },
      orderBy: { seq: "asc" },
      take: 32,
      select: { seq: true, data: true },
    });
    if (!chunks.length) return;
    for (const chunk of chunks) yield chunk.data;
    after = chunks[chunks.length - 1]!.seq;
  }
}
