"use client";

import { ChevronDown, ChevronRight } from "lucide-react";
import { useState } from "react";
import { StatsCharts } from "../../_components/stats-charts";
import { formatBytes } from "../../../_lib/format";
import { rates, useStatsStream } from "../../../_lib/use-stats-stream";

/**
 * The host's live totals: the sum of its running containers' stats (the agent
 * follows up to 50 of them and sums their latest samples once a second).
 * A one-line summary; the charts open on demand.
 */
export function HostStats({ hostId }: { hostId: string }) {
  const [open, setOpen] = useState(false);
  const stream = useStatsStream({ hostId, containerId: null }, true);
  const last = stream.samples.at(-1);
  const net = rates(stream.samples.slice(-2), (s) => s.netRx + s.netTx).at(-1) ?? null;
  return (
    <section className="rounded-lg border border-zinc-800 bg-zinc-900/40" data-testid="host-stats" data-status={stream.status}>
      <button type="button" onClick={() => setOpen((o) => !o)} className="flex w-full flex-wrap items-center gap-x-5 gap-y-1 px-4 py-2 text-left text-xs text-zinc-400" aria-expanded={open}>
        {open ? <ChevronDown className="size-3.5" /> : <ChevronRight className="size-3.5" />}
        <span className="font-medium text-zinc-200">Live totals</span>
        {last ? (
          <>
            <span>
              CPU <span className="font-mono text-zinc-100" data-testid="host-stats-cpu">{(last.cpuPercent ?? 0).toFixed(1)} %</span>
            </span>
            <span>
              Memory <span className="font-mono text-zinc-100">{formatBytes(last.memUsage)}</span>
              {last.memLimit ? <span className="text-zinc-500"> of {formatBytes(last.memLimit)}</span> : null}
            </span>
            <span>
              Network <span className="font-mono text-zinc-100">{formatBytes(net ?? 0)}/s</span>
            </span>
            <span>
              Processes <span className="font-mono text-zinc-100">{last.pids}</span>
            </span>
            <span className="text-zinc-500">over {last.containers ?? 0} running container{last.containers === 1 ? "" : "s"}</span>
          </>
        ) : (
          <span className="text-zinc-500">{stream.status === "error" ? (stream.reason ?? "unavailable") : "waiting for the first sample…"}</span>
        )}
      </button>
      {open ? (
        <div className="border-t border-zinc-800 p-3">
          <StatsCharts samples={stream.samples} testIdPrefix="host-stats" />
        </div>
      ) : null}
    </section>
  );
}
