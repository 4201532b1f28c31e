/**
 * A build context that arrives while its build runs. The page starts the build
 * announcing a plain tar of `uploadBytes`, gets this context's id back, and
 * POSTs the tar to /api/build-context with it; the build forwards the bytes to
 * the agent as they come instead of storing the whole upload first. So
 * sending a context costs one pass, not an upload and then a second send.
 *
 * The request is read only as fast as the agent takes the context (the build's
 * window of confirmed chunks): while the window is full the request is not
 * read and TCP holds the browser back. The server holds a frame being filled
 * and the window, whatever the context's size.
 *
 * The tar is checked on the way (its headers, its exact size) and, with the
 * editor's Dockerfile, cut where its end-of-archive blocks start: the
 * Dockerfile's entry follows there, then zeros up to the size announced to the
 * agent (Docker stops reading a tar at its end blocks, so zeros after them are
 * never read). A gzipped tar, a zip or a folder is stored first instead
 * (BuildContextStore.receive): its size as a tar is not known before it is
 * unpacked.
 */
import type { IncomingMessage } from "node:http";
import { AppError } from "../errors.ts";
import { TarWalker } from "./tar-headers.ts";

/** How long a build waits for its upload to begin. */
export const UPLOAD_START_MS = 60_000;

type Settled = { bytes: number; files: number };

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class UploadingContext {
  /** What the agent is told: the upload, or with the editor's Dockerfile, the upload plus its entry. */
  readonly bytes: number;
  private readonly arrived = deferred<IncomingMessage>();
  private readonly outcome = deferred<Settled>();
  private settled = false;
  private attached = false;
  private readonly startTimer: NodeJS.Timeout;

  constructor(
    readonly contextId: string,
    readonly userId: string,
    readonly hostId: string,
    readonly uploadBytes: number,
    /** The editor's Dockerfile as a tar entry (with end blocks), or null. */
    private readonly appended: Buffer | null,
  ) {
    this.bytes = uploadBytes + (appended?.length ?? 0);
    this.startTimer = setTimeout(() => this.abort(new AppError("TIMEOUT", "The build context's upload did not begin within a minute")), UPLOAD_START_MS);
    this.startTimer.unref();
  }

  /**
   * The upload's request: resolves once the build read all of it, rejects with
   * why it stopped (the tar is bad, the build ended first…). Its size must be
   * the one announced; once attached, the context cannot be attached again.
   */
  attach(req: IncomingMessage): Promise<Settled> {
    if (this.attached || this.settled) return Promise.reject(new AppError("NOT_FOUND", "This build context was already uploaded"));
    this.attached = true;
    clearTimeout(this.startTimer);
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (Number.isFinite(declared) && declared !== this.uploadBytes) {
      this.abort(new AppError("BAD_REQUEST", `The upload is ${declared} bytes; its build announced ${this.uploadBytes}`));
    } else this.arrived.resolve(req);
    return this.outcome.promise;
  }

  /** Stops the upload with `reason` (the build ended, or it never began): its request is answered with it. */
  abort(reason: AppError): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.startTimer);
    this.arrived.reject(reason);
    this.outcome.reject(reason);
  }

  /** The context for the agent, in chunks of at most `chunkBytes`, as the upload arrives. */
  async *chunks(chunkBytes: number): AsyncGenerator<Buffer> {
    try {
      const req = await this.arrived.promise;
      const cut = this.appended !== null;
      const walker = new TarWalker();
      let received = 0;
      // The frame being filled holds upload bytes from `frameStart` on.
      let frame = Buffer.allocUnsafe(chunkBytes);
      let fill = 0;
      let frameStart = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        if (this.settled) return;
        const chunkStart = received;
        received += chunk.length;
        if (received > this.uploadBytes) throw new AppError("BAD_REQUEST", `The upload is larger than the ${this.uploadBytes} bytes its build announced`);
        walker.push(chunk);
        // With the editor's Dockerfile, nothing from the tar's end blocks on is kept.
        const usable = cut && walker.end !== null ? Math.max(0, Math.min(chunk.length, walker.end - chunkStart)) : chunk.length;
        for (let offset = 0; offset < usable; ) {
          const n = Math.min(usable - offset, chunkBytes - fill);
          chunk.copy(frame, fill, offset, offset + n);
          fill += n;
          offset += n;
          if (fill < chunkBytes) continue;
          // A header not yet whole waits for its end: it may be where the Dockerfile's entry goes.
          const ready = cut ? Math.min(fill, walker.settled - frameStart) : fill;
          const rest = Buffer.allocUnsafe(chunkBytes);
          frame.copy(rest, 0, ready, fill);
          yield frame.subarray(0, ready);
          frame = rest;
          fill -= ready;
          frameStart += ready;
        }
      }
      if (this.settled) return;
      if (received < this.uploadBytes) throw new AppError("BAD_REQUEST", `The upload ended after ${received} of ${this.uploadBytes} bytes`);
      const { files, end } = walker.finish();
      this.settled = true;
      this.outcome.resolve({ bytes: received, files });
      yield* rechunk([frame.subarray(0, cut ? end - frameStart : fill), this.appended ?? Buffer.alloc(0)], chunkBytes);
      // The zeros in place of what the Dockerfile's entry cut off: one shared block, never the whole run in memory.
      if (this.appended) {
        const zeros = Buffer.alloc(Math.min(chunkBytes, this.uploadBytes - end));
        for (let left = this.uploadBytes - end; left > 0; left -= zeros.length) yield zeros.subarray(0, Math.min(left, zeros.length));
      }
    } catch (error) {
      const reason = error instanceof AppError ? error : new AppError("BAD_REQUEST", `The upload did not complete: ${error instanceof Error ? error.message : String(error)}`);
      this.abort(reason);
      throw reason;
    }
  }
}

/** Buffers as chunks of at most `chunkBytes` (empty ones left out). */
function* rechunk(buffers: Buffer[], chunkBytes: number): Generator<Buffer> {
  for (const buffer of buffers) for (let at = 0; at < buffer.length; at += chunkBytes) yield buffer.subarray(at, at + chunkBytes);
}
