/**
 * `container.logs.search`: grep over a container's whole log (or a since/until
 * window) on the agent, so a search covers the log Docker keeps and not only
 * the lines a browser holds.
 *
 * - Streaming: Docker's log is read once, decoded line by line and matched as
 *   it arrives; only the context lines around a match are kept (a ring of
 *   `context` lines before, the `context` lines after), never the log.
 * - Bounded: at most `maxMatches` matches, about LOG_SEARCH_MAX_ANSWER_CHARS
 *   characters of answer, and `timeBudgetMs` of time. The answer says which
 *   bound stopped it.
 * - Safe with any pattern: JavaScript's RegExp backtracks, so a pathological
 *   pattern (`(a+)+$` on a long line) can run for hours inside ONE `exec` that
 *   no timer can interrupt. The matcher therefore runs in a worker thread that
 *   the agent terminates when the time budget is spent; matches found so far
 *   were already posted and are answered. The agent's own event loop (its
 *   heartbeat, other operations, log streams) never runs user patterns.
 */
import { Worker } from "node:worker_threads";
import type Docker from "dockerode";
import { LOG_SEARCH_LINE_CHARS, LOG_SEARCH_MAX_ANSWER_CHARS, type TLogLine, type TLogSearchLine, type TLogSearchParams, type TLogSearchResult } from "../protocol.ts";

/** What the worker is given. */
export type SearchJob = { socketPath: string; params: TLogSearchParams; tty: boolean };

/** What the worker posts: matches as they complete, then the end. */
export type SearchMessage =
  | { kind: "match"; match: TLogSearchResult["matches"][number] }
  | { kind: "progress"; scannedLines: number }
  | { kind: "done"; scannedLines: number; truncated: TLogSearchResult["truncated"]; error: string | null };

/** The pattern as a RegExp: a plain query is matched literally. Throws a readable error for a bad pattern. */
export function compileQuery(params: Pick<TLogSearchParams, "query" | "regex" | "caseSensitive">): RegExp {
  const source = params.regex ? params.query : params.query.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  try {
    return new RegExp(source, params.caseSensitive ? "" : "i");
  } catch (error) {
    throw new SearchError(`Invalid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: /, "")}`);
  }
}

export class SearchError extends Error {}

/** A line as a search answer carries it (long lines cut). */
export function searchLine(line: TLogLine): TLogSearchLine {
  return line.text.length > LOG_SEARCH_LINE_CHARS
    ? { stream: line.stream, ts: line.ts, text: line.text.slice(0, LOG_SEARCH_LINE_CHARS), cut: true }
    : { stream: line.stream, ts: line.ts, text: line.text };
}

/** Rough size of a line in the answer's JSON (text plus the fields around it). */
export function lineCost(line: TLogSearchLine): number {
  return line.text.length + 64;
}

export { LOG_SEARCH_MAX_ANSWER_CHARS };

const WORKER_FILE = new URL("./log-search-worker.ts", import.meta.url).href;

/**
 * The agent runs as TypeScript through tsx; on Node 20 a loader registered with
 * `--import` does not reach worker threads, so the worker registers tsx itself
 * before importing its module (a compiled agent would point at the .js file).
 */
function startWorker(job: SearchJob): Worker {
  const bootstrap = `import { register } from ${JSON.stringify(import.meta.resolve("tsx/esm/api"))}; register(); await import(${JSON.stringify(WORKER_FILE)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), {
    workerData: job,
    // The worker holds a chunk of the log and the context lines; a runaway must not take the agent's memory.
    resourceLimits: { maxOldGenerationSizeMb: 128 },
  });
}

/**
 * Runs one search. Rejects with SearchError for a bad pattern, with Docker's
 * error for an unknown container; otherwise answers (possibly truncated).
 */
export async function searchContainerLogs(docker: Docker, params: TLogSearchParams): Promise<TLogSearchResult> {
  compileQuery(params); // a bad pattern is refused before anything starts
  const info = await docker.getContainer(params.containerId).inspect();
  const socketPath = (docker.modem as unknown as { socketPath?: string }).socketPath ?? "/var/run/docker.sock";
  const job: SearchJob = { socketPath, params, tty: Boolean(info.Config?.Tty) };
  const worker = startWorker(job);
  const matches: TLogSearchResult["matches"] = [];
  let scannedLines = 0;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (truncated: TLogSearchResult["truncated"], error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (error) reject(new Error(error));
      else resolve({ matches, scannedLines, truncated });
    };
    // Out of time: stop the worker wherever it is (even inside one RegExp call) and answer what was found.
    const timer = setTimeout(() => settle("time", null), params.timeBudgetMs);
    worker.on("message", (message: SearchMessage) => {
      if (message.kind === "match") matches.push(message.match);
      else if (message.kind === "progress") scannedLines = message.scannedLines;
      else {
        scannedLines = message.scannedLines;
        settle(message.truncated, message.error);
      }
    });
    worker.on("error", (error) => settle(null, `The search failed: ${error.message}`));
    worker.on("exit", () => settle(null, settled ? null : "The search stopped unexpectedly"));
  });
}
