/**
 * Search over a container's whole log, run on its host's agent
 * (`container.logs.search`): the agent streams Docker's log through the
 * matcher, so nothing of the log crosses the network but the matches.
 */
import type { TLogSearchParams, TLogSearchResult } from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { AgentLink } from "./agent-link.ts";

/** How long the agent may search by default (and at most); the operation waits a little longer for its answer. */
export const LOG_SEARCH_TIME_BUDGET_MS = 30_000;
export const LOG_SEARCH_MAX_TIME_BUDGET_MS = 120_000;

export async function searchContainerLogs(opts: {
  db: Db;
  link: AgentLink;
  hostId: string;
  containerId: string;
  search: Omit<TLogSearchParams, "containerId">;
}): Promise<TLogSearchResult> {
  const known = await opts.db.container.findUnique({
    where: { hostId_dockerId: { hostId: opts.hostId, dockerId: opts.containerId } },
    select: { dockerId: true },
  });
  if (!known) throw new AppError("NOT_FOUND", "Container not found on this host");
  if (opts.search.regex) {
    // Refuse a malformed pattern here with the engine's own words, before the agent is asked.
    try {
      new RegExp(opts.search.query, opts.search.caseSensitive ? "" : "i");
    } catch (error) {
      throw new AppError("BAD_REQUEST", (error as Error).message);
    }
  }
  return opts.link.request(
    opts.hostId,
    "container.logs.search",
    { containerId: opts.containerId, ...opts.search },
    { timeoutMs: opts.search.timeBudgetMs + 15_000 },
  );
}
