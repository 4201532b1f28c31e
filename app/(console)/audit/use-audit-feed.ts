"use client";

/**
 * The audit list for one filter: pages newest first with keyset `before`
 * ("Load more"), and — while live — new events put on top as they are
 * written. The list never holds more than MAX_ROWS: live events push the
 * oldest rows out, and the cursor moves up so "Load more" resumes exactly
 * below the last row kept.
 */
import { useInfiniteQuery, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useCallback, useEffect, useMemo, useRef } from "react";
import { trpcErrorCode, useTRPC, useTRPCClient, type AuditEvent, type RouterOutputs } from "../../_lib/trpc";
import { matchesLocally, type ServerFilter } from "./filter";

export const PAGE_SIZE = 100;
export const MAX_ROWS = 1_000;
/** With free-text search, live events are checked by asking the server, at most this often. */
const HEAD_REFRESH_MS = 500;

type Page = RouterOutputs["audit"]["list"];
type Feed = InfiniteData<Page, bigint | null>;

/** Puts `fresh` (any order, possibly already present) on top and trims the list to MAX_ROWS. */
function prepend(feed: Feed, fresh: AuditEvent[]): Feed {
  const top = feed.pages[0]?.events[0]?.seq ?? 0n;
  const newer = fresh.filter((e) => e.seq > top).sort((a, b) => (a.seq > b.seq ? -1 : a.seq < b.seq ? 1 : 0));
  if (newer.length === 0) return feed;
  const unique = newer.filter((e, i) => i === 0 || e.seq !== newer[i - 1]!.seq);
  const pages: Page[] = [];
  const pageParams: Array<bigint | null> = [];
  let budget = MAX_ROWS;
  feed.pages.forEach((page, i) => {
    if (budget <= 0) return;
    const events = i === 0 ? [...unique, ...page.events] : page.events;
    if (events.length <= budget) {
      pages.push(i === 0 ? { ...page, events } : page);
      pageParams.push(feed.pageParams[i] ?? null);
      budget -= events.length;
      return;
    }
    const kept = events.slice(0, budget);
    pages.push({ events: kept, nextBefore: kept[kept.length - 1]!.seq });
    pageParams.push(feed.pageParams[i] ?? null);
    budget = 0;
  });
  return { pages, pageParams };
}

export function useAuditFeed({ filter, live }: { filter: ServerFilter; live: boolean }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const filterKey = useMemo(() => JSON.stringify(filter), [filter]);
  const queryKey = useMemo(() => ["audit-feed", filterKey] as const, [filterKey]);

  const query = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam, signal }) => client.audit.list.query({ filter, before: pageParam ?? undefined, limit: PAGE_SIZE }, { signal }),
    initialPageParam: null as bigint | null,
    getNextPageParam: (last) => last.nextBefore,
    // Only ever the pages the reviewer asked for: re-fetching all of them on remount would be wasteful.
    staleTime: Infinity,
    gcTime: 60_000,
  });

  const rows = useMemo(() => query.data?.pages.flatMap((p) => p.events) ?? [], [query.data]);

  const addFresh = useCallback(
    (fresh: AuditEvent[]) => queryClient.setQueryData<Feed>(queryKey, (feed) => (feed ? prepend(feed, fresh) : feed)),
    [queryClient, queryKey],
  );

  // Free-text search: the server decides what matches. Coalesce bursts into one first-page fetch.
  const headTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (headTimer.current) clearTimeout(headTimer.current);
      headTimer.current = null;
    },
    [filterKey],
  );
  const refreshHead = useCallback(() => {
    if (headTimer.current) return;
    headTimer.current = setTimeout(() => {
      headTimer.current = null;
      void client.audit.list
        .query({ filter, limit: PAGE_SIZE })
        .then((page) => addFresh(page.events))
        .catch(() => undefined);
    }, HEAD_REFRESH_MS);
  }, [client, filter, addFresh]);

  const subscription = useSubscription(
    trpc.audit.onEvent.subscriptionOptions(undefined, {
      enabled: live,
      // On every (re)start, pick up what was written since the list was loaded or the stream dropped.
      onStarted: () => refreshHead(),
      onData(tracked) {
        const event = tracked.data;
        if (filter.q) refreshHead();
        else if (matchesLocally(event, filter)) addFresh([event]);
      },
      onError(error) {
        if (trpcErrorCode(error) === "UNAUTHORIZED") void queryClient.invalidateQueries(trpc.auth.me.queryFilter());
      },
    }),
  );

  /** Starts over from the newest events (after retention, or on demand). */
  const reload = useCallback(() => queryClient.resetQueries({ queryKey }), [queryClient, queryKey]);

  const full = rows.length >= MAX_ROWS;
  return {
    rows,
    isPending: query.isPending,
    error: query.error,
    hasMore: query.hasNextPage && !full,
    full,
    loadMore: () => void query.fetchNextPage(),
    loadingMore: query.isFetchingNextPage,
    reload,
    liveStatus: !live ? ("off" as const) : subscription.status === "pending" ? ("live" as const) : subscription.status === "error" ? ("error" as const) : ("connecting" as const),
  };
}
