"use client";

import { useQuery } from "@tanstack/react-query";
import { RefreshCw } from "lucide-react";
import { EmptyRow, TableFrame } from "../../../../../_components/table";
import { Button, Spinner } from "../../../../../_components/ui";
import { errorMessage, useTRPC } from "../../../../../_lib/trpc";

/** `docker top`, read when the tab opens and on demand (a process list is a snapshot, not a stream). */
export function Processes({ hostId, containerId, running }: { hostId: string; containerId: string; running: boolean }) {
  const trpc = useTRPC();
  const top = useQuery({ ...trpc.containers.top.queryOptions({ hostId, containerId }), enabled: running, refetchOnWindowFocus: false });
  if (!running) return <p className="py-6 text-center text-xs text-zinc-500">The container is not running: it has no processes.</p>;
  const titles = top.data?.titles ?? [];
  return (
    <TableFrame
      toolbar={
        <Button size="xs" variant="ghost" icon={<RefreshCw className="size-3" />} loading={top.isFetching} onClick={() => void top.refetch()} data-testid="processes-refresh">
          Refresh
        </Button>
      }
      footer={top.data ? `${top.data.processes.length} process${top.data.processes.length === 1 ? "" : "es"}${top.data.truncated ? " (list cut)" : ""}` : undefined}
    >
      <thead className="border-b border-zinc-800 bg-zinc-900/60">
        <tr>
          {titles.map((t, i) => (
            <th key={i} className="px-3 py-2 text-left text-[11px] font-medium tracking-wide text-zinc-500 uppercase first:pl-4">
              {t}
            </th>
          ))}
        </tr>
      </thead>
      <tbody className="divide-y divide-zinc-800/70" data-testid="processes-table">
        {top.isPending ? (
          <EmptyRow colSpan={Math.max(1, titles.length)}>
            <Spinner className="mx-auto size-4" />
          </EmptyRow>
        ) : top.error ? (
          <EmptyRow colSpan={Math.max(1, titles.length)}>Could not list processes: {errorMessage(top.error)}</EmptyRow>
        ) : (
          top.data.processes.map((row, r) => (
            <tr key={r} className="font-mono text-xs text-zinc-300">
              {row.map((cell, i) => (
                <td key={i} className="max-w-[40rem] truncate px-3 py-1 first:pl-4" title={cell}>
                  {cell}
                </td>
              ))}
            </tr>
          ))
        )}
      </tbody>
    </TableFrame>
  );
}
