/**
 * Docker's JSON progress stream (pull, push) reduced to what a page draws.
 *
 * Docker writes one JSON line per progress tick per layer (hundreds a second
 * on a fast link). This keeps the latest state of each layer and sends the
 * changed ones every PROGRESS_INTERVAL_MS, so the page sees fresh progress
 * four to ten times a second whatever the link, and a slow page only ever
 * costs the latest state (nothing queues). With nothing new, an empty frame
 * goes out every KEEPALIVE_MS (the page shows the transfer is alive).
 * Stopping (the server closes the stream) aborts the HTTP request: Docker
 * stops the pull or push.
 */
import type { IncomingMessage } from "node:http";
import type { TImagePullProgress } from "../protocol.ts";
import { jsonLines } from "./json-lines.ts";

export const PROGRESS_INTERVAL_MS = 100;
const KEEPALIVE_MS = 200;

export type DockerProgressLine = {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  /** Push: `{ Tag, Digest, Size }` once the manifest is up. */
  aux?: { Digest?: string };
  error?: string;
  errorDetail?: { message?: string };
};

export type ProgressSink = {
  /** Answers false when the window is full: hold until `resume()` (the states keep being merged meanwhile). */
  progress(frame: TImagePullProgress): boolean;
  end(error: Error | null): void;
};

export type ProgressHandle = { stop(): void; resume(): void; heldItems(): number };

/**
 * Follows Docker's progress `response`; when it ends without an error,
 * `finish(digest)` says what Docker now has (the last frame's `done`).
 */
export function followProgress(
  response: IncomingMessage,
  sink: ProgressSink,
  finish: (digest: string | null) => Promise<{ imageId: string | null; digest: string | null }>,
): ProgressHandle {
  const layers = new Map<string, TImagePullProgress["layers"][number]>();
  const changed = new Set<string>();
  const messages: string[] = [];
  let digest: string | null = null;
  let failure: string | null = null;
  let stopped = false;

  const take = (line: DockerProgressLine) => {
    if (line.error || line.errorDetail?.message) {
      failure = String(line.errorDetail?.message ?? line.error).slice(0, 2000);
      return;
    }
    const auxDigest = line.aux?.Digest;
    if (typeof auxDigest === "string" && /^sha256:[0-9a-f]{64}$/.test(auxDigest)) digest = auxDigest;
    const status = String(line.status ?? "").slice(0, 200);
    // Pull: "Digest: sha256:…"; push: "<tag>: digest: sha256:… size: N".
    const found = /(?:^|: )[Dd]igest: (sha256:[0-9a-f]{64})/.exec(status);
    if (found) digest = found[1]!;
    // Lines without an id are about the whole transfer ("Pulling from …", "The push refers to repository […]").
    if (!line.id || !/^[0-9a-f]{12,64}$/.test(line.id)) {
      if (status && messages.length < 20) messages.push(status);
      return;
    }
    const current = line.progressDetail?.current;
    const total = line.progressDetail?.total;
    layers.set(line.id, {
      id: line.id,
      status,
      current: typeof current === "number" && current >= 0 ? Math.round(current) : null,
      total: typeof total === "number" && total > 0 ? Math.round(total) : null,
    });
    changed.add(line.id);
  };

  // While the window is full, ticks send nothing: the changes pile up as latest states (one per layer).
  let held = false;
  let lastSent = Date.now();
  const flush = () => {
    if (held) return;
    if (!changed.size && !messages.length && Date.now() - lastSent < KEEPALIVE_MS) return;
    const frame: TImagePullProgress = { layers: [...changed].map((id) => layers.get(id)!), messages: messages.splice(0) };
    changed.clear();
    lastSent = Date.now();
    if (!sink.progress(frame)) held = true;
  };
  const timer = setInterval(flush, PROGRESS_INTERVAL_MS);

  response.setEncoding("utf8");
  response.on("data", jsonLines<DockerProgressLine>(take));
  const end = async (error: Error | null) => {
    clearInterval(timer);
    if (stopped) return;
    stopped = true;
    held = false; // the last states go out with the end (the server allows an ending stream a little slack)
    flush();
    if (error || failure) return sink.end(error ?? new Error(failure!));
    let done: { imageId: string | null; digest: string | null };
    try {
      done = await finish(digest);
    } catch {
      done = { imageId: null, digest }; // transferred, but gone again (removed at once)
    }
    sink.progress({ layers: [], messages: [], done });
    sink.end(null);
  };
  response.on("end", () => void end(null));
  response.on("error", (error) => void end(error));
  response.on("close", () => void end(null));

  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      response.destroy();
    },
    resume() {
      held = false;
    },
    heldItems: () => changed.size,
  };
}

/** Docker's auth config for one operation (`X-Registry-Auth`), from the request's credentials. */
export function authConfigOf(auth: { username: string; password: string; serveraddress: string } | null): Record<string, unknown> {
  return auth ? { authconfig: { username: auth.username, password: auth.password, serveraddress: auth.serveraddress } } : {};
}
