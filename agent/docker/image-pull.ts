/**
 * `docker pull` with Docker's per-layer progress, as a stream.
 *
 * Docker writes one JSON line per progress tick per layer (hundreds a second
 * on a fast link). The agent keeps the latest state of each layer and sends
 * the changed ones every PROGRESS_INTERVAL_MS, so the page sees fresh
 * progress four to ten times a second whatever the link, and a slow page
 * only ever costs the latest state (nothing queues). Cancelling (the
 * server closes the stream) aborts the HTTP request: Docker stops the pull.
 *
 * Credentials come with each request from the server (the registry's, if the
 * caller may use it) and go only into Docker's X-Registry-Auth header: the
 * agent neither stores nor logs them.
 */
import type { IncomingMessage } from "node:http";
import type Docker from "dockerode";
import type { TImagePullParams, TImagePullProgress } from "../protocol.ts";

export const PROGRESS_INTERVAL_MS = 100;
/** With nothing new from Docker, an empty frame goes out this often (the page shows the pull is alive). */
const KEEPALIVE_MS = 200;

type DockerProgressLine = {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
};

export type PullSink = {
  /** Answers false when the window is full: hold until `resume()` (the states keep being merged meanwhile). */
  progress(frame: TImagePullProgress): boolean;
  end(error: Error | null): void;
};

export async function openImagePull(docker: Docker, params: TImagePullParams, sink: PullSink): Promise<{ stop(): void; resume(): void; heldItems(): number }> {
  const options: Record<string, unknown> = {};
  if (params.auth) options.authconfig = { username: params.auth.username, password: params.auth.password, serveraddress: params.auth.serveraddress };
  const response = (await docker.pull(params.reference, options)) as IncomingMessage;
  const layers = new Map<string, TImagePullProgress["layers"][number]>();
  const changed = new Set<string>();
  const messages: string[] = [];
  let digest: string | null = null;
  let failure: string | null = null;
  let stopped = false;
  let buffered = "";

  const take = (line: DockerProgressLine) => {
    if (line.error || line.errorDetail?.message) {
      failure = String(line.errorDetail?.message ?? line.error).slice(0, 2000);
      return;
    }
    const status = String(line.status ?? "").slice(0, 200);
    const found = /^Digest: (sha256:[0-9a-f]{64})$/.exec(status);
    if (found) digest = found[1]!;
    // Lines without an id are about the whole pull ("Pulling from …", "Status: Downloaded newer image …").
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
    // Docker can be silent for a while (verifying, extracting a big layer): an empty frame still
    // tells the page the pull is alive, so it never goes KEEPALIVE_MS without news.
    if (!changed.size && !messages.length && Date.now() - lastSent < KEEPALIVE_MS) return;
    const frame: TImagePullProgress = { layers: [...changed].map((id) => layers.get(id)!), messages: messages.splice(0) };
    changed.clear();
    lastSent = Date.now();
    if (!sink.progress(frame)) held = true;
  };
  const timer = setInterval(flush, PROGRESS_INTERVAL_MS);

  response.setEncoding("utf8");
  response.on("data", (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const text = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (text) {
        try {
          take(JSON.parse(text) as DockerProgressLine);
        } catch {
          // Not Docker's JSON: ignore the line, keep the pull.
        }
      }
      newline = buffered.indexOf("\n");
    }
    // One line that never ends must not grow without bound.
    if (buffered.length > 1_000_000) buffered = "";
  });
  const finish = async (error: Error | null) => {
    clearInterval(timer);
    if (stopped) return;
    stopped = true;
    held = false; // the last states go out with the end (the server allows an ending stream a little slack)
    flush();
    if (error || failure) return sink.end(error ?? new Error(failure!));
    let imageId: string | null = null;
    try {
      imageId = (await docker.getImage(params.reference).inspect()).Id;
    } catch {
      // Pulled but gone again (removed at once): the pull itself succeeded.
    }
    sink.progress({ layers: [], messages: [], done: { imageId, digest } });
    sink.end(null);
  };
  response.on("end", () => void finish(null));
  response.on("error", (error) => void finish(error));
  response.on("close", () => void finish(null));

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
