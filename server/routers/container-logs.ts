/**
 * Log reads that are request/response (the live log is a /browser socket
 * stream). Spread into the `containers` router (server/routers/containers.ts).
 */
import { z } from "zod";
import { ZLogSearchParams, ZLogSearchResult } from "../../agent/protocol.ts";
import { LOG_SEARCH_MAX_TIME_BUDGET_MS, LOG_SEARCH_TIME_BUDGET_MS, searchContainerLogs } from "../services/log-search.ts";
import { hostProcedure } from "../trpc.ts";
import { ZHostIdInput } from "./hosts.ts";

export const ZSearchLogsInput = ZLogSearchParams.extend(ZHostIdInput.shape).extend({
  containerId: z.string().min(12).max(128),
  timeBudgetMs: z.number().int().min(100).max(LOG_SEARCH_MAX_TIME_BUDGET_MS).default(LOG_SEARCH_TIME_BUDGET_MS),
});
export type TSearchLogsInput = z.input<typeof ZSearchLogsInput>;

export const containerLogProcedures = {
  /** grep over the container's whole log (or since/until), run on its agent: matches with context lines. */
  searchLogs: hostProcedure("container.logs")
    .input(ZSearchLogsInput)
    .output(ZLogSearchResult)
    .query(({ ctx, input }) => {
      const { hostId, containerId, ...search } = input;
      return searchContainerLogs({ db: ctx.db, link: ctx.link, hostId, containerId, search });
    }),
};
