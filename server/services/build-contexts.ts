/**
 * Build contexts uploaded for image builds, kept on this server's disk until
 * the build that uses them (or 30 minutes) and always as a plain tar, the
 * format Docker's build endpoint takes.
 *
 * Accepted: a tar (or gzipped tar), a zip (converted with yauzl + tar-stream;
 * entry names are checked by yauzl, symlinks and modes kept), or a browser
 * folder as multipart form data whose file names are the relative paths
 * (busboy). Both the upload and the tar it becomes are cut at
 * BERTH_BUILD_CONTEXT_MAX_MB: a zip bomb stops at the limit like a big tar.
 *
 * Why an HTTP upload and not the browser socket: pages may send socket frames
 * of 64 KiB at most (frame-limits.ts), so hundreds of megabytes would be
 * thousands of acknowledged frames; one streamed POST is written to disk as
 * it arrives, with the browser's own upload progress.
 *
 * The context is used on the replica that received it: a page builds through
 * the server it uploaded to (its socket's), which is where it lives.
 *
 * A plain tar need not be stored at all: a build may announce it and forward
 * it to the agent while it is uploaded (`announce` / `attach`, see
 * build-context-upload.ts). Storing first is for what must be unpacked (a
 * gzipped tar, a zip, a folder), whose size as a tar is unknown until then.
 */
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";
import { mkdir, mkdtemp, open, readdir, rename, rm, stat } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import os from "node:os";
import path from "node:path";
import { Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import busboy from "busboy";
import * as tar from "tar-stream";
import yauzl from "yauzl";
import { AppError } from "../errors.ts";
import { UploadingContext } from "./build-context-upload.ts";
import { nextHeader, readTarHeader } from "./tar-headers.ts";

export const BUILD_CONTEXT_FORMATS = ["tar", "zip", "folder"] as const;
export type BuildContextFormat = (typeof BUILD_CONTEXT_FORMATS)[number];

const TTL_MS = 30 * 60_000;
const PER_USER = 4;
const MAX_FOLDER_FILES = 50_000;

/** The upload or its tar is over the limit (HTTP 413). */
export class ContextTooLarge extends AppError {
  constructor(maxBytes: number) {
    super("BAD_REQUEST", `The build context is larger than the ${formatMb(maxBytes)} limit (BERTH_BUILD_CONTEXT_MAX_MB); leave out what the build does not need`);
  }
}

/**
 * Uploads being received at once: each may hold up to twice the context limit
 * on disk while it is read and converted, so neither one user nor everyone
 * together may start more than this before earlier ones finish.
 */
const UPLOADS_IN_FLIGHT_PER_USER = 2;
const UPLOADS_IN_FLIGHT = 8;

export class TooManyUploads extends AppError {
  constructor(mine: boolean) {
    super(
      "CONFLICT",
      mine
        ? `You already have ${UPLOADS_IN_FLIGHT_PER_USER} build contexts uploading: wait for them to finish`
        : "The server is receiving as many build contexts as it takes at once: try again in a moment",
    );
  }
}

function formatMb(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return `${Number.isInteger(mb) ? mb : mb.toFixed(2)} MB`;
}

export type StoredContext = {
  contextId: string;
  userId: string;
  hostId: string;
  format: BuildContextFormat;
  /** The tar's path and size. */
  file: string;
  bytes: number;
  files: number;
  expiresAt: number;
};

/** A tar ready to send: its size, its bytes in chunks, and what to let go once the build is over. */
export type PreparedContext = {
  format: BuildContextFormat | "dockerfile";
  bytes: number;
  chunks(chunkBytes: number): AsyncIterable<Buffer>;
  /** Deletes what was kept; an upload still arriving is refused with `reason` (why the build ended). */
  dispose(reason: string | null): Promise<void>;
};

/** The first `fileBytes` of `file` (if any), then `buffer` (if any), as a prepared context. */
function fromFile(format: PreparedContext["format"], file: string | null, fileBytes: number, buffer: Buffer | null): PreparedContext {
  return {
    format,
    bytes: fileBytes + (buffer?.length ?? 0),
    async *chunks(chunkBytes) {
      if (file && fileBytes > 0) {
        for await (const chunk of createReadStream(file, { start: 0, end: fileBytes - 1, highWaterMark: chunkBytes })) yield chunk as Buffer;
      }
      if (buffer) for (let at = 0; at < buffer.length; at += chunkBytes) yield buffer.subarray(at, at + chunkBytes);
    },
    dispose: async () => {
      if (file) await rm(file, { force: true });
    },
  };
}

/** A tar holding one file (with its end-of-archive blocks). */
async function packAlone(name: string, content: Buffer): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name, type: "file", size: content.length, mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Buffering between the steps of an upload: big enough that a fast sender is seldom paused (each pause costs a scheduler turn). */
const PIPE_BUFFER = 4 * 1024 * 1024;

function limiter(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    highWaterMark: PIPE_BUFFER,
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes) callback(new ContextTooLarge(maxBytes));
      else callback(null, chunk);
    },
  });
}

/** A relative path kept inside the context: no absolute path, no `..`, no NUL. */
export function safeRelativePath(name: string): string | null {
  const parts = name.replace(/\\/g, "/").split("/").filter((part) => part !== "" && part !== ".");
  if (!parts.length || parts.some((part) => part === ".." || part.includes("\0"))) return null;
  return parts.join("/");
}

function addEntry(pack: tar.Pack, header: tar.Headers, body?: Readable | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!body || Buffer.isBuffer(body)) {
      pack.entry(header, body ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
      return;
    }
    const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    body.on("error", reject);
    body.pipe(sink as Writable);
  });
}

/**
 * Writes what `fill` packs into `file`, cut at `maxBytes`; answers the tar's size.
 * (tar-stream's streams are streamx ones: read by async iteration, not piped, so an error is never lost.)
 */
async function writeTar(file: string, maxBytes: number, fill: (pack: tar.Pack) => Promise<void>): Promise<number> {
  const pack = tar.pack();
  const out = createWriteStream(file);
  let total = 0;
  const consume = (async () => {
    try {
      for await (const chunk of pack) {
        total += chunk.length;
        if (total > maxBytes) throw new ContextTooLarge(maxBytes);
        if (!out.write(chunk)) await once(out, "drain");
      }
      await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    } catch (error) {
      pack.destroy();
      out.destroy();
      throw error;
    }
  })();
  consume.catch(() => undefined);
  try {
    await fill(pack);
    pack.finalize();
  } catch (error) {
    pack.destroy();
    // The size limit is the reason when it was hit: the entry that failed only saw the stream go.
    throw (await consume.then(() => null, (e: unknown) => e)) ?? error;
  }
  await consume;
  return total;
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * Walks a plain tar's headers without reading its contents: how many regular
 * files it holds, and where its end-of-archive blocks start (so an entry can
 * be appended there). Throws for what is not a tar.
 */
export async function scanTar(file: string): Promise<{ files: number; end: number }> {
  const handle = await open(file, "r");
  try {
    const size = (await handle.stat()).size;
    const header = Buffer.alloc(512);
    let at = 0;
    let files = 0;
    while (at + 512 <= size) {
      await handle.read(header, 0, 512, at);
      const entry = readTarHeader(header);
      if (entry.end) return { files, end: at };
      if (entry.file) files++;
      at = nextHeader(at, entry.size);
    }
    // No end-of-archive blocks (some writers stop at the last entry): appending starts at its end.
    if (at > size) throw new AppError("BAD_REQUEST", "The upload is not a tar archive (it ends inside an entry)");
    return { files, end: at };
  } finally {
    await handle.close();
  }
}

/** Every entry of a (gzipped) tar into `pack`, but `skip`; answers how many files it had. */
async function copyTar(source: string, pack: tar.Pack, maxBytes: number, skip: (name: string) => boolean = () => false): Promise<number> {
  const extract = tar.extract();
  const input = createReadStream(source);
  const feed = (await isGzip(source)) ? pipeline(input, createGunzip(), limiter(maxBytes), extract) : pipeline(input, extract);
  feed.catch(() => undefined);
  let files = 0;
  try {
    for await (const entry of extract) {
      const name = safeRelativePath(entry.header.name);
      if (!name || skip(name)) {
        entry.resume();
        continue;
      }
      if (entry.header.type === "file") files++;
      await addEntry(pack, entry.header, entry);
    }
  } catch (error) {
    input.destroy();
    throw error instanceof AppError ? error : new AppError("BAD_REQUEST", `The upload is not a readable tar archive: ${(error as Error).message}`);
  }
  await feed.catch((error: unknown) => {
    throw error instanceof AppError ? error : new AppError("BAD_REQUEST", `The upload is not a readable tar archive: ${(error as Error).message}`);
  });
  return files;
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, strictFileNames: true, validateEntrySizes: true }, (error, zip) => (error ? reject(error) : resolve(zip))),
  );
}

/** The next entry of a lazily read zip, or null at its end. */
function nextZipEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const done = () => {
      zip.off("entry", onEntry);
      zip.off("end", onEnd);
      zip.off("error", onError);
    };
    const onEntry = (entry: yauzl.Entry) => (done(), resolve(entry));
    const onEnd = () => (done(), resolve(null));
    const onError = (error: Error) => (done(), reject(error));
    zip.on("entry", onEntry);
    zip.on("end", onEnd);
    zip.on("error", onError);
    zip.readEntry();
  });
}

function zipEntryStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (error, stream) => (error ? reject(error) : resolve(stream))));
}

async function copyZip(source: string, pack: tar.Pack): Promise<number> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(source);
  } catch (error) {
    throw new AppError("BAD_REQUEST", `The upload is not a readable zip archive: ${(error as Error).message}`);
  }
  let files = 0;
  try {
    for (let entry = await nextZipEntry(zip); entry; entry = await nextZipEntry(zip)) {
      const name = safeRelativePath(entry.fileName);
      if (!name) continue;
      const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff;
      const kind = unixMode & 0o170000;
      const mtime = entry.getLastModDate();
      if (entry.fileName.endsWith("/") || kind === 0o040000) {
        await addEntry(pack, { name, type: "directory", mode: unixMode & 0o7777 || 0o755, mtime });
        continue;
      }
      if (kind === 0o120000 && entry.uncompressedSize > 4096) throw new AppError("BAD_REQUEST", `The zip's symlink "${name}" is too long`);
      const body = await zipEntryStream(zip, entry);
      if (kind === 0o120000) {
        const chunks: Buffer[] = [];
        for await (const chunk of body) chunks.push(chunk as Buffer);
        await addEntry(pack, { name, type: "symlink", linkname: Buffer.concat(chunks).toString("utf8"), mtime });
        continue;
      }
      files++;
      await addEntry(pack, { name, type: "file", size: entry.uncompressedSize, mode: unixMode & 0o7777 || 0o644, mtime }, body);
    }
  } catch (error) {
    throw error instanceof AppError ? error : new AppError("BAD_REQUEST", `The zip archive could not be read: ${(error as Error).message}`);
  } finally {
    zip.close();
  }
  return files;
}

/** A folder's files (already on disk under `root`) into `pack`, in name order. */
async function copyFolder(root: string, pack: tar.Pack): Promise<number> {
  let files = 0;
  const walk = async (dir: string, prefix: string) => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const name = prefix ? `${prefix}/${entry.name}` : entry.name;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await addEntry(pack, { name, type: "directory", mode: 0o755 });
        await walk(full, name);
      } else if (entry.isFile()) {
        files++;
        await addEntry(pack, { name, type: "file", size: (await stat(full)).size, mode: 0o644 }, createReadStream(full));
      }
    }
  };
  await walk(root, "");
  return files;
}

export class BuildContextStore {
  private readonly contexts = new Map<string, StoredContext>();
  /** Contexts announced by builds that forward them as they are uploaded. */
  private readonly uploading = new Map<string, UploadingContext>();
  /** Uploads being read now, per user. */
  private readonly receiving = new Map<string, number>();
  private dir: Promise<string> | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly maxBytes: number) {
    this.timer = setInterval(() => void this.sweep(), 60_000);
    this.timer.unref();
  }

  private workDir(): Promise<string> {
    this.dir ??= mkdtemp(path.join(os.tmpdir(), "berth-build-contexts-"));
    return this.dir;
  }

  private async sweep() {
    const now = Date.now();
    for (const context of [...this.contexts.values()]) if (context.expiresAt <= now) await this.discard(context.contextId);
  }

  private async discard(contextId: string) {
    const context = this.contexts.get(contextId);
    if (!context) return;
    this.contexts.delete(contextId);
    await rm(context.file, { force: true });
  }

  /** Stores an upload as a tar for `userId`'s next build on `hostId`. */
  async receive(opts: { userId: string; hostId: string; format: BuildContextFormat; req: IncomingMessage }): Promise<Omit<StoredContext, "file" | "userId">> {
    const mine = this.receiving.get(opts.userId) ?? 0;
    if (mine >= UPLOADS_IN_FLIGHT_PER_USER) throw new TooManyUploads(true);
    if ([...this.receiving.values()].reduce((a, b) => a + b, 0) >= UPLOADS_IN_FLIGHT) throw new TooManyUploads(false);
    this.receiving.set(opts.userId, mine + 1);
    try {
      return await this.receiveCounted(opts);
    } finally {
      const left = (this.receiving.get(opts.userId) ?? 1) - 1;
      if (left > 0) this.receiving.set(opts.userId, left);
      else this.receiving.delete(opts.userId);
    }
  }

  /** Uploads `userId` has being read now (for metrics and tests). */
  uploadsInFlight(userId: string): number {
    return this.receiving.get(userId) ?? 0;
  }

  private async receiveCounted(opts: { userId: string; hostId: string; format: BuildContextFormat; req: IncomingMessage }): Promise<Omit<StoredContext, "file" | "userId">> {
    await this.sweep();
    const declared = Number(opts.req.headers["content-length"] ?? NaN);
    // A zip or a gzipped tar may be a little larger than the tar it holds; the tar is held to the limit below.
    const uploadMax = this.maxBytes + 1024 * 1024;
    if (Number.isFinite(declared) && declared > uploadMax) throw new ContextTooLarge(this.maxBytes);
    const work = await mkdtemp(path.join(await this.workDir(), "upload-"));
    const contextId = randomUUID();
    const file = path.join(await this.workDir(), `${contextId}.tar`);
    try {
      let files: number;
      if (opts.format === "folder") {
        const root = path.join(work, "files");
        await mkdir(root);
        await receiveFolder(opts.req, root, uploadMax, this.maxBytes);
        files = 0;
        const bytes = await writeTar(file, this.maxBytes, async (pack) => void (files = await copyFolder(root, pack)));
        return this.keep({ contextId, userId: opts.userId, hostId: opts.hostId, format: opts.format, file, bytes, files });
      }
      const raw = path.join(work, "upload");
      await pipeline(opts.req, limiter(uploadMax), createWriteStream(raw, { highWaterMark: PIPE_BUFFER })).catch((error: unknown) => {
        throw error instanceof AppError ? error : new AppError("BAD_REQUEST", `The upload did not complete: ${(error as Error).message}`);
      });
      const uploadedBytes = (await stat(raw)).size;
      if (uploadedBytes === 0) throw new AppError("BAD_REQUEST", "The upload is empty: send a tar or zip archive of the build context");
      if (opts.format === "tar" && !(await isGzip(raw))) {
        // A plain tar is kept as it came (Docker reads it as is): only its headers are checked.
        if (uploadedBytes > this.maxBytes) throw new ContextTooLarge(this.maxBytes);
        const scanned = await scanTar(raw);
        await rename(raw, file);
        return this.keep({ contextId, userId: opts.userId, hostId: opts.hostId, format: opts.format, file, bytes: uploadedBytes, files: scanned.files });
      }
      files = 0;
      const bytes = await writeTar(file, this.maxBytes, async (pack) => {
        files = opts.format === "zip" ? await copyZip(raw, pack) : await copyTar(raw, pack, this.maxBytes);
      });
      return this.keep({ contextId, userId: opts.userId, hostId: opts.hostId, format: opts.format, file, bytes, files });
    } catch (error) {
      await rm(file, { force: true });
      throw error;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private keep(context: Omit<StoredContext, "expiresAt">) {
    const stored: StoredContext = { ...context, expiresAt: Date.now() + TTL_MS };
    // A user keeps a few uploads at most: the oldest goes first.
    const mine = [...this.contexts.values()].filter((c) => c.userId === context.userId).sort((a, b) => a.expiresAt - b.expiresAt);
    for (const old of mine.slice(0, Math.max(0, mine.length - PER_USER + 1))) void this.discard(old.contextId);
    this.contexts.set(stored.contextId, stored);
    const { file: _file, userId: _user, ...summary } = stored;
    return summary;
  }

  /**
   * The tar a build sends: the upload (taken: usable once), with `dockerfileText`
   * as its `dockerfile` entry when given (replacing the upload's), or that
   * Dockerfile alone without an upload.
   */
  async prepare(opts: { contextId: string | null; userId: string; hostId: string; dockerfile: string; dockerfileText: string | null }): Promise<PreparedContext> {
    let stored: StoredContext | null = null;
    if (opts.contextId) {
      stored = this.contexts.get(opts.contextId) ?? null;
      if (!stored || stored.userId !== opts.userId || stored.hostId !== opts.hostId || stored.expiresAt <= Date.now()) {
        throw new AppError("NOT_FOUND", "The uploaded build context is gone (it is used once, and kept 30 minutes): upload it again");
      }
      this.contexts.delete(stored.contextId);
    }
    const dockerfile = safeRelativePath(opts.dockerfile);
    if (!dockerfile) throw new AppError("BAD_REQUEST", "The Dockerfile's path must be a relative path inside the context");
    if (opts.dockerfileText === null) {
      if (!stored) throw new AppError("BAD_REQUEST", "Upload a build context or write a Dockerfile");
      return fromFile(stored.format, stored.file, stored.bytes, null);
    }
    const text = Buffer.from(opts.dockerfileText, "utf8");
    if (!stored) return fromFile("dockerfile", null, 0, await packAlone(dockerfile, text));
    // Every stored context is a plain tar: the editor's Dockerfile is appended after its last entry.
    // Docker unpacks entries in order, so it replaces one of the same name.
    const source = stored.file;
    try {
      const { end } = await scanTar(source);
      return fromFile(stored.format, source, end, await packAlone(dockerfile, text));
    } catch (error) {
      await rm(source, { force: true });
      throw error;
    }
  }

  /**
   * A context its build forwards while it is uploaded (see
   * build-context-upload.ts): a plain tar of `uploadBytes`, POSTed by
   * `userId` with the answer's `contextId`, for this build on `hostId` only.
   */
  async announce(opts: { userId: string; hostId: string; uploadBytes: number; dockerfile: string; dockerfileText: string | null }): Promise<PreparedContext & { contextId: string }> {
    if (opts.uploadBytes > this.maxBytes) throw new ContextTooLarge(this.maxBytes);
    const dockerfile = safeRelativePath(opts.dockerfile);
    if (!dockerfile) throw new AppError("BAD_REQUEST", "The Dockerfile's path must be a relative path inside the context");
    const appended = opts.dockerfileText === null ? null : await packAlone(dockerfile, Buffer.from(opts.dockerfileText, "utf8"));
    const upload = new UploadingContext(randomUUID(), opts.userId, opts.hostId, opts.uploadBytes, appended);
    this.uploading.set(upload.contextId, upload);
    return {
      contextId: upload.contextId,
      format: "tar",
      bytes: upload.bytes,
      chunks: (chunkBytes) => upload.chunks(chunkBytes),
      dispose: async (reason) => {
        this.uploading.delete(upload.contextId);
        upload.abort(new AppError("CONFLICT", `The build ended before its context was uploaded${reason ? `: ${reason}` : ""}`));
      },
    };
  }

  /**
   * The upload of an announced context: resolves once its build took all of it
   * (see UploadingContext.attach). Only its announcer, for that host, once.
   */
  attach(opts: { contextId: string; userId: string; hostId: string; req: IncomingMessage }): Promise<{ bytes: number; files: number }> {
    const upload = this.uploading.get(opts.contextId);
    if (!upload || upload.userId !== opts.userId || upload.hostId !== opts.hostId) {
      return Promise.reject(new AppError("NOT_FOUND", "No build waits for this context (a context is uploaded once, by whoever started its build, to that host)"));
    }
    this.uploading.delete(upload.contextId);
    return upload.attach(opts.req);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const upload of this.uploading.values()) upload.abort(new AppError("CONFLICT", "The server is stopping"));
    this.uploading.clear();
    if (this.dir) await rm(await this.dir, { recursive: true, force: true });
  }
}

/** A folder sent as multipart form data (file name = relative path), written under `root`. */
function receiveFolder(req: IncomingMessage, root: string, uploadMax: number, maxBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, preservePath: true, limits: { files: MAX_FOLDER_FILES, fileSize: maxBytes, fields: 16, fieldSize: 1024 } });
    } catch (error) {
      return reject(new AppError("BAD_REQUEST", `A folder is sent as multipart form data: ${(error as Error).message}`));
    }
    const writes: Promise<void>[] = [];
    let failed: Error | null = null;
    const fail = (error: Error) => {
      if (failed) return;
      failed = error;
      req.unpipe(parser);
      req.resume();
      reject(error);
    };
    parser.on("file", (_field, stream, info) => {
      const name = safeRelativePath(info.filename ?? "");
      if (!name || failed) {
        stream.resume();
        if (!failed && !name) fail(new AppError("BAD_REQUEST", `"${String(info.filename).slice(0, 200)}" is not a path inside the folder`));
        return;
      }
      stream.on("limit", () => fail(new ContextTooLarge(maxBytes)));
      const target = path.join(root, name);
      writes.push(
        mkdir(path.dirname(target), { recursive: true })
          .then(() => pipeline(stream, createWriteStream(target)))
          .catch((error: Error) => fail(error instanceof AppError ? error : new AppError("BAD_REQUEST", `The folder upload failed: ${error.message}`))),
      );
    });
    parser.on("filesLimit", () => fail(new AppError("BAD_REQUEST", `A folder context holds at most ${MAX_FOLDER_FILES} files`)));
    parser.on("error", (error: Error) => fail(new AppError("BAD_REQUEST", `The folder upload could not be read: ${error.message}`)));
    parser.on("close", () => {
      Promise.all(writes).then(() => {
        if (!failed) resolve();
      }, fail);
    });
    const counter = limiter(uploadMax);
    counter.on("error", (error) => fail(error));
    req.pipe(counter).pipe(parser);
  });
}
