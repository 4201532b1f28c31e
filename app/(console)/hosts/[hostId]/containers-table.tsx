"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { Play, RotateCw, ScrollText, Square } from "lucide-react";
import { useMemo, useState, type ReactNode } from "react";
import { ContainerStateBadge, RelativeTime } from "../../../_components/status";
import { EmptyRow, FilterInput, PlainHeader, SortHeader, TableFrame, useSortedRows } from "../../../_components/table";
import { useToasts } from "../../../_components/toasts";
import { Button, Spinner, Tooltip, cx } from "../../../_components/ui";
import { containerStatus, formatPorts, parsePorts, plural, shortId } from "../../../_lib/format";
import { useNow } from "../../../_lib/use-now";
import { errorMessage, useTRPC, type Container, type Host } from "../../../_lib/trpc";
import { ContainerActions } from "../../_components/container-actions";
import { ContainerCreateActions } from "./container-create/actions";
import { ContainerLogsDrawer } from "./container-logs";

export type Loadable<T> = { data: T | undefined; isPending: boolean; error: unknown };

type StateFilter = "all" | "running" | "stopped";
type Action = "start" | "stop" | "restart";

const CONTAINER_SORT = {
  name: (c: Container) => c.name,
  image: (c: Container) => c.image,
  state: (c: Container) => c.state,
  // Docker's own order for `docker ps`: the most recent change first within a state.
  status: (c: Container) => `${c.state}:${-(c.state === "running" || c.state === "paused" ? (c.startedAt?.getTime() ?? 0) : (c.finishedAt?.getTime() ?? 0))}`,
  ports: (c: Container) => formatPorts(parsePorts(c.ports)).join(" ") || null,
  created: (c: Container) => -c.createdAt.getTime(),
};

/** Which actions make sense in each Docker state (Docker would refuse the others anyway). */
function allowed(state: string): Record<Action, boolean> {
  return {
    start: state === "exited" || state === "created",
    stop: state === "running" || state === "restarting" || state === "paused",
    restart: state !== "removing" && state !== "dead",
  };
}

function matchesState(c: Container, filter: StateFilter): boolean {
  if (filter === "all") return true;
  return filter === "running" ? c.state === "running" : c.state !== "running";
}

/**
 * `canOperate` / `canReadLogs`: whether the user holds container.operate / container.logs on this host;
 * the buttons they may not use are not shown (and without either, no actions column).
 */
export function ContainersTable({
  host,
  query,
  canOperate,
  canReadLogs,
  canCreate = false,
}: {
  host: Host;
  query: Loadable<Container[]>;
  canOperate: boolean;
  canReadLogs: boolean;
  /** container.create: Duplicate and Edit & recreate on each row. */
  canCreate?: boolean;
}) {
  const [text, setText] = useState("");
  const [logsOf, setLogsOf] = useState<string | null>(null);
  const [stateFilter, setStateFilter] = useState<StateFilter>("all");
  const all = query.data;

  const filtered = useMemo(() => {
    const needle = text.trim().toLowerCase();
    return (all ?? []).filter(
      (c) =>
        matchesState(c, stateFilter) &&
        (needle === "" || c.name.toLowerCase().includes(needle) || c.image.toLowerCase().includes(needle) || c.state.toLowerCase().includes(needle)),
    );
  }, [all, text, stateFilter]);

  const { sorted, sort, toggle } = useSortedRows(filtered, CONTAINER_SORT, { key: "name", dir: "asc" });
  const head = { sort, onSort: toggle };
  const counts = {
    all: all?.length ?? 0,
    running: all?.filter((c) => c.state === "running").length ?? 0,
    stopped: all?.filter((c) => c.state !== "running").length ?? 0,
  };
  const hasActions = canOperate || canReadLogs || canCreate;
  const columns = hasActions ? 7 : 6;
  // Looked up live so the drawer's header follows the container's state.
  const logsContainer = logsOf ? (all?.find((c) => c.dockerId === logsOf) ?? null) : null;
  const offlineReason = host.status === "ONLINE" ? null : `${host.name} is ${host.status.toLowerCase()}: actions need a connected agent.`;

  return (
    <>
      <TableFrame
        toolbar={
          <>
            <FilterInput value={text} onChange={setText} label="Filter containers" placeholder="Filter by name, image or state" />
            <div role="group" aria-label="State" className="flex rounded-md border border-zinc-700 p-0.5">
              {(["all", "running", "stopped"] as const).map((f) => (
                <button
                  key={f}
                  type="button"
                  aria-pressed={stateFilter === f}
                  data-testid={`state-filter-${f}`}
                  onClick={() => setStateFilter(f)}
                  className={cx(
                    "rounded px-2 py-0.5 text-xs capitalize transition-colors",
                    stateFilter === f ? "bg-zinc-700 text-zinc-100" : "text-zinc-400 hover:text-zinc-200",
                  )}
                >
                  {f} <span className="text-zinc-500 tabular-nums">{counts[f]}</span>
                </button>
              ))}
            </div>
          </>
        }
        footer={all ? `${plural(sorted.length, "container")}${sorted.length !== all.length ? ` of ${all.length}` : ""}` : undefined}
      >
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <SortHeader label="Name" column="name" {...head} className="pl-4" />
            <SortHeader label="Image" column="image" {...head} />
            <SortHeader label="State" column="state" {...head} />
            <SortHeader label="Status" column="status" {...head} />
            <SortHeader label="Ports" column="ports" {...head} />
            <SortHeader label="Created" column="created" {...head} className={hasActions ? undefined : "pr-4"} />
            {hasActions ? <PlainHeader label="Actions" className="pr-4 text-right" /> : null}
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {query.isPending ? (
            <EmptyRow colSpan={columns}>
              <Spinner className="mx-auto size-4" />
            </EmptyRow>
          ) : query.error ? (
            <EmptyRow colSpan={columns}>Could not load containers: {errorMessage(query.error)}</EmptyRow>
          ) : sorted.length === 0 ? (
            <EmptyRow colSpan={columns}>{counts.all === 0 ? "No containers on this host." : "No container matches the filter."}</EmptyRow>
          ) : (
            sorted.map((c) => (
              <ContainerRow
                key={c.dockerId}
                container={c}
                hostId={host.id}
                disabledReason={offlineReason}
                canOperate={canOperate}
                canCreate={canCreate}
                onLogs={canReadLogs ? () => setLogsOf(c.dockerId) : null}
              />
            ))
          )}
        </tbody>
      </TableFrame>
      <ContainerLogsDrawer hostId={host.id} container={logsContainer} onClose={() => setLogsOf(null)} />
    </>
  );
}

function ContainerRow({
  container: c,
  hostId,
  disabledReason,
  canOperate,
  canCreate,
  onLogs,
}: {
  container: Container;
  hostId: string;
  disabledReason: string | null;
  canOperate: boolean;
  canCreate: boolean;
  /** Opens the log drawer; null when the user may not read logs. */
  onLogs: (() => void) | null;
}) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const ports = formatPorts(parsePorts(c.ports));
  const now = useNow();

  const options = (action: Action) => ({
    onError: (error: unknown) => toasts.error(`Could not ${action} ${c.name}`, errorMessage(error)),
    // The live event normally refreshes the row; this covers a dropped stream.
    onSettled: () => queryClient.invalidateQueries(trpc.containers.list.queryFilter({ hostId })),
  });
  const start = useMutation(trpc.containers.start.mutationOptions(options("start")));
  const stop = useMutation(trpc.containers.stop.mutationOptions(options("stop")));
  const restart = useMutation(trpc.containers.restart.mutationOptions(options("restart")));
  const mutations = { start, stop, restart };
  const pending = (Object.keys(mutations) as Action[]).find((a) => mutations[a].isPending) ?? null;
  const can = allowed(c.state);
  const input = { hostId, containerId: c.dockerId };

  const actionButton = (action: Action, label: string, icon: ReactNode) => {
    const disabled = disabledReason !== null || pending !== null || !can[action];
    const button = (
      <Button
        size="xs"
        variant="ghost"
        disabled={disabled && pending !== action}
        loading={pending === action}
        icon={icon}
        aria-label={`${label} ${c.name}`}
        data-testid={`action-${action}-${c.name}`}
        onClick={() => mutations[action].mutate(input)}
        className={cx(
          "border-zinc-800",
          action === "stop" && "hover:text-red-300",
          action === "start" && "hover:text-emerald-300",
          pending !== null && pending !== action && "opacity-40",
        )}
      >
        {label}
      </Button>
    );
    return disabledReason ? (
      <Tooltip key={action} content={disabledReason}>
        {button}
      </Tooltip>
    ) : (
      <span key={action}>{button}</span>
    );
  };

  return (
    <tr
      data-testid={`container-row-${c.name}`}
      data-state={c.state}
      aria-busy={pending !== null}
      className={cx("transition-colors hover:bg-zinc-800/30", pending !== null && "bg-sky-500/[0.04]")}
    >
      <td className="py-1.5 pr-3 pl-4">
        <Link href={`/hosts/${hostId}/containers/${c.dockerId}`} className="font-medium text-zinc-100 hover:text-sky-300 hover:underline" data-testid={`container-link-${c.name}`}>
          {c.name}
        </Link>
        <div className="font-mono text-[11px] text-zinc-500">{shortId(c.dockerId)}</div>
      </td>
      <td className="max-w-64 truncate px-3 py-1.5 font-mono text-xs text-zinc-300" title={c.image}>
        {c.image}
      </td>
      <td className="px-3 py-1.5">
        <div className="flex items-center gap-2">
          <ContainerStateBadge state={c.state} exitCode={c.exitCode} testId={`container-state-${c.name}`} />
          {pending ? <Spinner className="size-3.5 text-sky-400" label={`${pending} in progress`} /> : null}
        </div>
      </td>
      <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400" data-testid={`container-status-${c.name}`}>
        {containerStatus(c, now)}
        {c.oomKilled && c.state !== "running" ? <span className="ml-1.5 text-red-400" title="The kernel killed it for exceeding its memory limit">OOM</span> : null}
        {c.restartCount > 0 ? <span className="ml-1.5 text-zinc-500" title="Restarts by its restart policy">↻{c.restartCount}</span> : null}
      </td>
      <td className="px-3 py-1.5 font-mono text-xs text-zinc-300" data-testid={`container-ports-${c.name}`}>
        {ports.length === 0 ? <span className="text-zinc-600">—</span> : ports.map((p) => <div key={p}>{p}</div>)}
      </td>
      <td className={cx("py-1.5 pl-3 whitespace-nowrap text-zinc-400", canOperate || onLogs || canCreate ? "pr-3" : "pr-4")}>
        <RelativeTime date={c.createdAt} />
      </td>
      {canOperate || onLogs || canCreate ? (
        <td className="py-1.5 pr-4 pl-3">
          <div className="flex justify-end gap-1">
            {onLogs ? (
              <Button
                size="xs"
                variant="ghost"
                icon={<ScrollText className="size-3" />}
                aria-label={`Logs of ${c.name}`}
                data-testid={`action-logs-${c.name}`}
                onClick={onLogs}
                className="border-zinc-800"
              >
                Logs
              </Button>
            ) : null}
            {canOperate ? (
              <>
                {actionButton("start", "Start", <Play className="size-3" />)}
                {actionButton("stop", "Stop", <Square className="size-3" />)}
                {actionButton("restart", "Restart", <RotateCw className="size-3" />)}
              </>
            ) : null}
            <ContainerActions hostId={hostId} containerId={c.dockerId} name={c.name} state={c.state} disabledReason={disabledReason} />
            {canCreate ? <ContainerCreateActions hostId={hostId} containerId={c.dockerId} name={c.name} disabled={disabledReason !== null} /> : null}
          </div>
        </td>
      ) : null}
    </tr>
  );
}
