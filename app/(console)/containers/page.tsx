"use client";

/**
 * Every container on every host the user may see, in one table: filtered and
 * sorted by the server, one keyset page at a time ("Load more"), selectable
 * across hosts for bulk actions. Stays live through the console's one
 * subscription (an inventory change anywhere refetches the loaded pages).
 */
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useMemo, useState } from "react";
import { ContainerStateBadge, RelativeTime } from "../../_components/status";
import { EmptyRow, PlainHeader, SortHeader, TableFrame, type SortState } from "../../_components/table";
import { Button, PageHeader, Spinner, cx } from "../../_components/ui";
import { containerStatus, formatPorts, parsePorts, plural, shortId } from "../../_lib/format";
import { errorMessage, useTRPC, type FleetContainer } from "../../_lib/trpc";
import { useDebounced } from "../../_lib/use-debounced";
import { useDocumentTitle } from "../../_lib/use-document-title";
import { useNow } from "../../_lib/use-now";
import { ContainerActions } from "../_components/container-actions";
import { BulkBar, type Selected } from "./bulk-bar";
import { FleetFilterBar, toServerFilter, type FilterDraft, EMPTY_FILTER } from "./filter-bar";

type SortKey = "name" | "host" | "image" | "state" | "created";
const PAGE = 100;

const keyOf = (c: { hostId: string; dockerId: string }) => `${c.hostId}/${c.dockerId}`;

export default function ContainersPage() {
  useDocumentTitle("Containers");
  const trpc = useTRPC();
  const now = useNow();
  const [draft, setDraft] = useState<FilterDraft>(EMPTY_FILTER);
  // Typing does not fire a query per keystroke: the list follows the filter once it settles.
  const deferred = useDebounced(draft, 250);
  const filter = useMemo(() => toServerFilter(deferred), [deferred]);
  const [sort, setSort] = useState<SortState<SortKey>>({ key: "name", dir: "asc" });
  const [selected, setSelected] = useState<Map<string, Selected>>(new Map());

  const hosts = useQuery(trpc.hosts.list.queryOptions());
  const query = useInfiniteQuery(
    trpc.containers.fleet.infiniteQueryOptions(
      { filter: filter.value, sort: sort.key, dir: sort.dir, limit: PAGE },
      { enabled: filter.error === null, getNextPageParam: (page) => page.nextCursor ?? undefined, placeholderData: keepPreviousData },
    ),
  );
  const rows = useMemo(() => query.data?.pages.flatMap((p) => p.containers) ?? [], [query.data]);
  const total = query.data?.pages[0]?.total ?? null;
  const totalLabel = total === null ? "" : `${total.toLocaleString("en-US")}${query.data?.pages[0]?.totalCapped ? "+" : ""}`;
  const onlineHosts = useMemo(() => new Map((hosts.data ?? []).map((h) => [h.id, h.status === "ONLINE"])), [hosts.data]);

  const toggleSort = (key: SortKey) => setSort((s) => (s.key === key ? { key, dir: s.dir === "asc" ? "desc" : "asc" } : { key, dir: "asc" }));
  const head = { sort, onSort: toggleSort };
  const toggle = (c: FleetContainer) =>
    setSelected((current) => {
      const next = new Map(current);
      if (next.has(keyOf(c))) next.delete(keyOf(c));
      else next.set(keyOf(c), { hostId: c.hostId, containerId: c.dockerId, name: c.name, hostName: c.hostName });
      return next;
    });
  const allShown = rows.length > 0 && rows.every((c) => selected.has(keyOf(c)));
  const toggleAll = () =>
    setSelected((current) => {
      const next = new Map(current);
      for (const c of rows) {
        if (allShown) next.delete(keyOf(c));
        else next.set(keyOf(c), { hostId: c.hostId, containerId: c.dockerId, name: c.name, hostName: c.hostName });
      }
      return next;
    });
  const columns = 9;

  return (
    <div className="flex flex-col gap-5">
      <PageHeader title="Containers" description="Every container on every host you can see. Filters and sorting run on the server." testId="containers-page" />
      <BulkBar selected={[...selected.values()]} onClear={() => setSelected(new Map())} />
      <TableFrame
        toolbar={<FleetFilterBar draft={draft} onChange={setDraft} hosts={hosts.data ?? []} error={filter.error} />}
        footer={
          <div className="flex items-center justify-between gap-3">
            <span data-testid="fleet-count">
              {total === null ? "" : `${plural(rows.length, "container")} shown of ${totalLabel}`}
              {query.isFetching && !query.isFetchingNextPage ? <Spinner className="ml-2 inline size-3" label="Refreshing" /> : null}
            </span>
            {query.hasNextPage ? (
              <Button size="xs" variant="secondary" loading={query.isFetchingNextPage} onClick={() => void query.fetchNextPage()} data-testid="load-more">
                Load {PAGE} more
              </Button>
            ) : null}
          </div>
        }
      >
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <th scope="col" className="w-8 py-2 pl-4">
              <input type="checkbox" aria-label="Select every container shown" checked={allShown} onChange={toggleAll} className="size-3.5 accent-sky-500" data-testid="select-all" />
            </th>
            <SortHeader label="Name" column="name" {...head} />
            <SortHeader label="Host" column="host" {...head} />
            <SortHeader label="Image" column="image" {...head} />
            <SortHeader label="State" column="state" {...head} />
            <PlainHeader label="Status" />
            <PlainHeader label="Ports" />
            <SortHeader label="Created" column="created" {...head} />
            <PlainHeader label="" className="pr-4" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {filter.error ? (
            <EmptyRow colSpan={columns}>{filter.error}</EmptyRow>
          ) : query.isPending ? (
            <EmptyRow colSpan={columns}>
              <Spinner className="mx-auto size-4" />
            </EmptyRow>
          ) : query.error ? (
            <EmptyRow colSpan={columns}>Could not load containers: {errorMessage(query.error)}</EmptyRow>
          ) : rows.length === 0 ? (
            <EmptyRow colSpan={columns}>{total === 0 && filter.empty ? "No containers on the hosts you can see." : "No container matches the filter."}</EmptyRow>
          ) : (
            rows.map((c) => {
              const ports = formatPorts(parsePorts(c.ports));
              const isSelected = selected.has(keyOf(c));
              return (
                <tr
                  key={keyOf(c)}
                  data-testid={`fleet-row-${c.name}`}
                  data-state={c.state}
                  aria-selected={isSelected}
                  className={cx("transition-colors hover:bg-zinc-800/30", isSelected && "bg-sky-500/[0.06]")}
                >
                  <td className="py-1.5 pl-4">
                    <input type="checkbox" aria-label={`Select ${c.name} on ${c.hostName}`} checked={isSelected} onChange={() => toggle(c)} className="size-3.5 accent-sky-500" data-testid={`select-${c.name}`} />
                  </td>
                  <td className="px-3 py-1.5">
                    <div className="font-medium text-zinc-100">{c.name}</div>
                    <div className="font-mono text-[11px] text-zinc-500">{shortId(c.dockerId)}</div>
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap">
                    <Link href={`/hosts/${c.hostId}`} className="text-sky-300 hover:underline">
                      {c.hostName}
                    </Link>
                  </td>
                  <td className="max-w-64 truncate px-3 py-1.5 font-mono text-xs text-zinc-300" title={c.image}>
                    {c.image}
                  </td>
                  <td className="px-3 py-1.5">
                    <ContainerStateBadge state={c.state} exitCode={c.exitCode} testId={`fleet-state-${c.name}`} />
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400">{containerStatus(c, now)}</td>
                  <td className="px-3 py-1.5 font-mono text-xs text-zinc-300">
                    {ports.length === 0 ? <span className="text-zinc-600">—</span> : ports.map((p) => <div key={p}>{p}</div>)}
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400">
                    <RelativeTime date={c.createdAt} />
                  </td>
                  <td className="py-1.5 pr-4 pl-3 text-right">
                    <ContainerActions
                      hostId={c.hostId}
                      containerId={c.dockerId}
                      name={c.name}
                      state={c.state}
                      disabledReason={onlineHosts.get(c.hostId) === false ? `${c.hostName} is not connected: actions need its agent.` : null}
                    />
                  </td>
                </tr>
              );
            })
          )}
        </tbody>
      </TableFrame>
    </div>
  );
}
