"use client";

/**
 * Live fleet updates: one `hosts.onChange` subscription for the whole signed-in
 * shell. Each event only says WHAT changed; the affected queries are
 * invalidated and refetched, so Postgres stays the single source of what the
 * page shows. Bursts (a snapshot, `docker compose up`) are coalesced to at most
 * one refetch per query per window.
 */
import { useQueryClient, type QueryClient, type QueryFilters } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useMemo, useRef } from "react";
import type { FleetEvent } from "../../server/events/bus.ts";
import { trpcErrorCode, useTRPC } from "./trpc";

export const COALESCE_WINDOW_MS = 250;

export type LiveStatus = "idle" | "connecting" | "live" | "error";

type Coalescer = {
  /** Runs `task` now if `key` is quiet, else once at the end of its window (leading + trailing edge). */
  run(key: string, task: () => void): void;
  cancel(): void;
};

export function createCoalescer(windowMs: number): Coalescer {
  const slots = new Map<string, { timer: ReturnType<typeof setTimeout>; next: (() => void) | null }>();
  const close = (key: string) => {
    const slot = slots.get(key);
    if (!slot) return;
    if (slot.next) {
      const task = slot.next;
      slot.next = null;
      task();
      slot.timer = setTimeout(() => close(key), windowMs);
    } else {
      slots.delete(key);
    }
  };
  return {
    run(key, task) {
      const slot = slots.get(key);
      if (slot) {
        slot.next = task;
        return;
      }
      task();
      slots.set(key, { timer: setTimeout(() => close(key), windowMs), next: null });
    },
    cancel() {
      for (const slot of slots.values()) clearTimeout(slot.timer);
      slots.clear();
    },
  };
}

type Trpc = ReturnType<typeof useTRPC>;

/**
 * The queries one event makes stale. Host counts depend on containers and
 * images too. Events this page does not show (audit...) change nothing here.
 */
function filtersFor(trpc: Trpc, event: FleetEvent): QueryFilters[] {
  switch (event.type) {
    case "access.changed":
      // The caller's own rights changed (role, membership, admin flag): what every page offers and lists
      // may differ now, so re-read who they are and everything on screen (only active queries refetch).
      return [{}];
    case "host.changed":
      // A host shared with or taken from a team changes what the user may do on it: re-read their rights too.
      // The fleet-wide list shows only hosts the user may see.
      return [trpc.hosts.list.queryFilter(), trpc.hosts.byId.queryFilter({ hostId: event.hostId }), trpc.auth.me.queryFilter(), trpc.containers.fleet.pathFilter(), trpc.images.fleet.pathFilter()];
    case "host.removed": {
      const { hostId } = event;
      return [
        trpc.hosts.list.queryFilter(),
        trpc.hosts.byId.queryFilter({ hostId }),
        trpc.containers.list.queryFilter({ hostId }),
        trpc.containers.fleet.pathFilter(),
        trpc.images.list.queryFilter({ hostId }),
        trpc.images.fleet.pathFilter(),
      ];
    }
    case "inventory.changed": {
      const { hostId, kinds } = event;
      const filters: QueryFilters[] = [];
      if (kinds.includes("container")) {
        // An image's "used by" count follows its containers.
        // The fleet-wide list spans hosts: any host's container change may move its rows.
        filters.push(
          trpc.containers.list.queryFilter({ hostId }),
          trpc.containers.byId.queryFilter({ hostId }),
          trpc.containers.fleet.pathFilter(),
          trpc.containers.history.queryFilter({ hostId }),
          trpc.containers.removed.queryFilter({ hostId }),
          trpc.images.list.queryFilter({ hostId }),
          trpc.images.fleet.pathFilter(),
        );
      } else if (kinds.includes("image")) {
        filters.push(trpc.images.list.queryFilter({ hostId }), trpc.images.fleet.pathFilter());
      }
      if (kinds.includes("container") || kinds.includes("image")) {
        filters.push(trpc.hosts.list.queryFilter(), trpc.hosts.byId.queryFilter({ hostId }));
      }
      return filters;
    }
    default:
      return [];
  }
}

function invalidateFleet(queryClient: QueryClient, trpc: Trpc) {
  for (const filter of [trpc.hosts.pathFilter(), trpc.containers.pathFilter(), trpc.images.pathFilter()]) {
    void queryClient.invalidateQueries(filter);
  }
}

export function useFleetLiveUpdates(enabled: boolean): LiveStatus {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const coalescer = useMemo(() => createCoalescer(COALESCE_WINDOW_MS), []);
  useEffect(() => () => coalescer.cancel(), [coalescer]);
  const starts = useRef(0);

  const subscription = useSubscription(
    trpc.hosts.onChange.subscriptionOptions(undefined, {
      enabled,
      onStarted() {
        // After a reconnect, events may have been missed while the stream was down.
        if (starts.current++ > 0) invalidateFleet(queryClient, trpc);
      },
      onError(error) {
        // A stream refused for want of a session: let the shell re-check and send the person to sign in.
        if (trpcErrorCode(error) === "UNAUTHORIZED") void queryClient.invalidateQueries(trpc.auth.me.queryFilter());
      },
      onData(tracked) {
        for (const filter of filtersFor(trpc, tracked.data)) {
          coalescer.run(JSON.stringify(filter.queryKey ?? "everything"), () => void queryClient.invalidateQueries(filter));
        }
      },
    }),
  );

  if (!enabled) return "idle";
  switch (subscription.status) {
    case "pending":
      return "live";
    case "error":
      return "error";
    default:
      return "connecting";
  }
}
