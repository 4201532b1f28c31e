/**
 * The worker thread of `container.logs.search` (see log-search.ts for why a
 * worker): reads the container's log from Docker once, streamed, and posts
 * each match with its context as soon as its context is complete.
 */
import { parentPort, workerData } from "node:worker_threads";
import Docker from "dockerode";
import type { TLogLine, TLogSearchResult } from "../protocol.ts";
import { compileQuery, lineCost, LOG_SEARCH_MAX_ANSWER_CHARS, searchLine, type SearchJob, type SearchMessage } from "./log-search.ts";
import { dockerSince, LogDecoder, timestampNs } from "./logs.ts";

type Match = TLogSearchResult["matches"][number];
type DockerStream = NodeJS.ReadableStream & { destroy(): void };

const PROGRESS_EVERY = 1 << 16;

function post(message: SearchMessage) {
  parentPort!.postMessage(message);
}

async function run(job: SearchJob) {
  const { params } = job;
  const pattern = compileQuery(params);
  const docker = new Docker({ socketPath: job.socketPath });
  const since = params.since ? timestampNs(params.since) : null;
  const until = params.until ? timestampNs(params.until) : null;
  const stream = await new Promise<DockerStream>((resolve, reject) =>
    docker.modem.dial(
      {
        path: `/containers/${encodeURIComponent(params.containerId)}/logs?`,
        method: "GET",
        isStream: true, // streamed: the log is never held whole
        statusCodes: { 200: true, 404: "no such container", 500: "server error" },
        options: { stdout: true, stderr: true, timestamps: true, follow: false, tail: "all", since: dockerSince(since), ...(until !== null ? { until: dockerSince(until) } : {}) },
      },
      (error: unknown, data: unknown) => (error ? reject(error) : resolve(data as DockerStream)),
    ),
  );

  const context = params.context;
  const before: TLogLine[] = []; // the last `context` lines (a small ring)
  const waiting: Array<{ match: Match; cost: number }> = []; // matches still collecting lines after them
  let found = 0;
  let answerChars = 0;
  let scanned = 0;
  let truncated: TLogSearchResult["truncated"] = null;
  let stopping = false; // no new matches; finish the context of those waiting, then stop
  let done = false;

  const finish = (error: string | null) => {
    if (done) return;
    done = true;
    stream.destroy();
    for (const { match } of waiting.splice(0)) post({ kind: "match", match });
    post({ kind: "done", scannedLines: scanned, truncated, error });
  };

  const onLine = (line: TLogLine) => {
    if (done) return;
    scanned++;
    if ((scanned & (PROGRESS_EVERY - 1)) === 0) post({ kind: "progress", scannedLines: scanned });
    // Lines after earlier matches.
    for (let i = 0; i < waiting.length; ) {
      const entry = waiting[i]!;
      const after = searchLine(line);
      entry.match.after.push(after);
      answerChars += lineCost(after);
      if (entry.match.after.length >= context) {
        post({ kind: "match", match: entry.match });
        waiting.splice(i, 1);
      } else i++;
    }
    if (!stopping && pattern.test(line.text)) {
      if (found >= params.maxMatches) {
        truncated = "matches";
        stopping = true;
      } else {
        const match: Match = { line: searchLine(line), before: before.map(searchLine), after: [] };
        const cost = lineCost(match.line) + match.before.reduce((sum, l) => sum + lineCost(l), 0) + context * 200;
        if (answerChars + cost > LOG_SEARCH_MAX_ANSWER_CHARS) {
          truncated = "size";
          stopping = true;
        } else {
          found++;
          answerChars += cost - context * 200; // after-lines are counted as they come
          if (context === 0) post({ kind: "match", match });
          else waiting.push({ match, cost });
        }
      }
    }
    if (stopping && waiting.length === 0) return finish(null);
    if (context > 0) {
      before.push(line);
      if (before.length > context) before.shift();
    }
  };

  const decoder = new LogDecoder(job.tty, onLine);
  stream.on("data", (chunk: Buffer) => {
    if (!done) decoder.push(chunk);
  });
  stream.on("end", () => {
    decoder.end();
    finish(null);
  });
  stream.on("error", (error: Error) => finish(`Reading the log failed: ${error.message}`));
}

run(workerData as SearchJob).catch((error: unknown) => {
  const json = (error as { json?: { message?: unknown } } | null)?.json;
  post({ kind: "done", scannedLines: 0, truncated: null, error: typeof json?.message === "string" ? json.message : String((error as Error)?.message ?? error) });
});
