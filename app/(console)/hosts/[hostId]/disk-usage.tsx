"use client";

import { useQuery } from "@tanstack/react-query";
import { HardDrive, RefreshCw } from "lucide-react";
import { Button, Spinner } from "../../../_components/ui";
import { formatBytes } from "../../../_lib/format";
import { errorMessage, useTRPC, type RouterOutputs } from "../../../_lib/trpc";

type DiskUsage = RouterOutputs["hosts"]["diskUsage"];
const ROWS: Array<{ key: "images" | "containers" | "volumes" | "buildCache"; label: string; hint: string }> = [
  { key: "images", label: "Images", hint: "Layers on disk, each counted once; reclaimable: not needed by any container" },
  { key: "containers", label: "Containers", hint: "Writable layers; reclaimable: those of containers not running" },
  { key: "volumes", label: "Local volumes", hint: "Reclaimable: volumes no container uses" },
  { key: "buildCache", label: "Build cache", hint: "Reclaimable: cache records not in use" },
];

/**
 * `docker system df` as bars: each row's length is its share of the host's
 * Docker disk use, the striped part what a prune could free. Read on demand
 * (Docker sizes every layer and volume to answer), not live.
 */
export function DiskUsagePanel({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const df = useQuery(trpc.hosts.diskUsage.queryOptions({ hostId }, { staleTime: 60_000, refetchOnWindowFocus: false }));
  const total = df.data ? ROWS.reduce((n, r) => n + df.data[r.key].sizeBytes, 0) : 0;
  return (
    <section className="rounded-lg border border-zinc-800 bg-zinc-900/40 px-4 py-3" data-testid="disk-usage" aria-label="Disk usage">
      <div className="mb-2 flex items-center gap-2 text-xs">
        <HardDrive className="size-3.5 text-zinc-500" aria-hidden />
        <span className="font-medium text-zinc-200">Disk usage</span>
        {df.data ? (
          <span className="text-zinc-500" data-testid="disk-usage-total">
            {formatBytes(total)} used by Docker · {formatBytes(ROWS.reduce((n, r) => n + df.data[r.key].reclaimableBytes, 0))} reclaimable
          </span>
        ) : null}
        <Button size="xs" variant="ghost" className="ml-auto" loading={df.isFetching} icon={<RefreshCw className="size-3" />} onClick={() => void df.refetch()} aria-label="Refresh disk usage">
          Refresh
        </Button>
      </div>
      {df.isPending ? (
        <Spinner className="mx-auto size-4" />
      ) : df.error ? (
        <p className="text-xs text-red-300">Could not read disk usage: {errorMessage(df.error)}</p>
      ) : (
        <DiskUsageBars data={df.data} total={total} />
      )}
    </section>
  );
}

function DiskUsageBars({ data, total }: { data: DiskUsage; total: number }) {
  return (
    <div className="grid grid-cols-[auto_1fr_auto] items-center gap-x-3 gap-y-1.5 text-xs">
      {ROWS.map(({ key, label, hint }) => {
        const row = data[key];
        const width = total > 0 ? (row.sizeBytes / total) * 100 : 0;
        const reclaim = row.sizeBytes > 0 ? (row.reclaimableBytes / row.sizeBytes) * 100 : 0;
        return (
          <div key={key} className="contents" data-testid={`disk-usage-${key}`} data-size={row.sizeBytes} data-reclaimable={row.reclaimableBytes} data-count={row.count}>
            <span className="text-zinc-300" title={hint}>
              {label} <span className="text-zinc-500">{row.active}/{row.count} in use</span>
            </span>
            <div className="h-2.5 overflow-hidden rounded-full bg-zinc-800" role="img" aria-label={`${label}: ${formatBytes(row.sizeBytes)}, ${formatBytes(row.reclaimableBytes)} reclaimable`}>
              <div className="flex h-full" style={{ width: `${Math.max(width, row.sizeBytes > 0 ? 1 : 0)}%` }}>
                <div className="h-full bg-sky-500" style={{ width: `${100 - reclaim}%` }} />
                <div className="h-full bg-amber-500/80" style={{ width: `${reclaim}%` }} />
              </div>
            </div>
            <span className="text-right whitespace-nowrap text-zinc-400 tabular-nums">
              <span className="text-zinc-100">{formatBytes(row.sizeBytes)}</span> · {formatBytes(row.reclaimableBytes)} reclaimable ({Math.round(reclaim)}%)
            </span>
          </div>
        );
      })}
    </div>
  );
}
