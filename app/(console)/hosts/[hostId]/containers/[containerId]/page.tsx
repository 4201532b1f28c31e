"use client";

import { useQuery } from "@tanstack/react-query";
import { Activity, ArrowLeft, Cpu, FileCode, History as HistoryIcon, Layers, LayoutDashboard, ScrollText, SquareTerminal } from "lucide-react";
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useState } from "react";
import { ContainerActions } from "../../../../_components/container-actions";
import { StatsCharts } from "../../../../_components/stats-charts";
import { ContainerStateBadge } from "../../../../../_components/status";
import { Spinner, cx } from "../../../../../_components/ui";
import { canOnHost } from "../../../../../_lib/access";
import { shortId } from "../../../../../_lib/format";
import { useSessionUser } from "../../../../../_lib/session";
import { errorMessage, trpcErrorCode, useTRPC } from "../../../../../_lib/trpc";
import { useDocumentTitle } from "../../../../../_lib/use-document-title";
import { useStatsStream } from "../../../../../_lib/use-stats-stream";
import { ContainerCreateActions } from "../../container-create/actions";
import { LogViewer } from "../../container-logs";
import { History } from "./history";
import { Inspect } from "./inspect";
import { WritableLayer } from "./layer";
import { Overview } from "./overview";
import { Processes } from "./processes";
import { Terminals } from "./terminals";

type Tab = "overview" | "stats" | "processes" | "logs" | "terminal" | "changes" | "history" | "inspect";

function StatsTab({ hostId, containerId, running }: { hostId: string; containerId: string; running: boolean }) {
  const stream = useStatsStream({ hostId, containerId }, running);
  if (!running) return <p className="py-6 text-center text-xs text-zinc-500">The container is not running: Docker has no live stats for it.</p>;
  return (
    <div className="flex flex-col gap-2">
      <div className="flex items-center gap-2 text-xs text-zinc-500" data-testid="stats-status" data-status={stream.status}>
        {stream.status === "live" ? <span className="inline-block size-1.5 animate-pulse rounded-full bg-emerald-400" /> : null}
        {stream.status === "connecting" ? "Connecting…" : stream.status === "live" ? "Live · one sample a second" : (stream.reason ?? "The stats stream ended")}
      </div>
      <StatsCharts samples={stream.samples} />
    </div>
  );
}

export default function ContainerPage() {
  const { hostId, containerId } = useParams<{ hostId: string; containerId: string }>();
  const trpc = useTRPC();
  const router = useRouter();
  const user = useSessionUser();
  const host = useQuery(trpc.hosts.byId.queryOptions({ hostId }));
  const container = useQuery({ ...trpc.containers.byId.queryOptions({ hostId, containerId }), retry: (count, error) => trpcErrorCode(error) !== "NOT_FOUND" && count < 2 });
  const [tab, setTab] = useState<Tab>("overview");
  const removed = container.isError && trpcErrorCode(container.error) === "NOT_FOUND";
  useDocumentTitle(container.data?.name ?? (removed ? "Removed container" : null));

  if (host.isPending || container.isPending) {
    return (
      <div className="flex justify-center py-20 text-zinc-500">
        <Spinner />
      </div>
    );
  }
  if (host.isError) {
    return (
      <div className="flex flex-col items-center gap-3 py-20 text-center" role="alert">
        <p className="text-base font-semibold text-zinc-100">Could not load this host</p>
        <p className="text-xs text-zinc-400">{errorMessage(host.error)}</p>
        <Link href="/" className="text-xs text-sky-300 hover:underline">
          Back to the fleet
        </Link>
      </div>
    );
  }

  const back = (
    <Link href={`/hosts/${hostId}`} className="inline-flex w-fit items-center gap-1.5 text-xs text-zinc-500 transition-colors hover:text-zinc-300">
      <ArrowLeft className="size-3.5" aria-hidden />
      {host.data.name}
    </Link>
  );

  // A removed container: its history is all that is left (it survives `docker rm`).
  if (!container.data) {
    return (
      <div className="flex flex-col gap-5">
        {back}
        <div data-testid="container-removed">
          <h1 className="text-xl font-semibold tracking-tight text-zinc-100">{removed ? "Removed container" : "Could not load this container"}</h1>
          <p className="mt-0.5 font-mono text-xs text-zinc-500">{shortId(containerId)}</p>
          {!removed ? <p className="mt-2 text-xs text-red-300">{errorMessage(container.error)}</p> : null}
        </div>
        <History hostId={hostId} containerId={containerId} />
      </div>
    );
  }

  const c = container.data;
  const running = c.state === "running";
  const online = host.data.status === "ONLINE";
  const canLogs = canOnHost(user, hostId, "container.logs");
  const canCommit = canOnHost(user, hostId, "container.commit");
  const canExec = canOnHost(user, hostId, "container.exec");
  const tabs: Array<{ id: Tab; label: string; icon: typeof Cpu; show: boolean }> = [
    { id: "overview", label: "Overview", icon: LayoutDashboard, show: true },
    { id: "stats", label: "Stats", icon: Activity, show: true },
    { id: "processes", label: "Processes", icon: Cpu, show: true },
    { id: "logs", label: "Logs", icon: ScrollText, show: canLogs },
    { id: "terminal", label: "Terminal", icon: SquareTerminal, show: canExec || canLogs },
    { id: "changes", label: "Changes", icon: Layers, show: true },
    { id: "history", label: "History", icon: HistoryIcon, show: true },
    { id: "inspect", label: "Inspect", icon: FileCode, show: true },
  ];

  return (
    <div className="flex flex-col gap-5">
      {back}
      <div className="flex flex-wrap items-start justify-between gap-4" data-testid="container-header">
        <div className="min-w-0">
          <div className="flex items-center gap-3">
            <h1 className="truncate text-xl font-semibold tracking-tight text-zinc-100" data-testid="container-name">
              {c.name}
            </h1>
            <ContainerStateBadge state={c.state} exitCode={c.exitCode} testId="container-state" />
            {c.health ? <span className="text-xs text-zinc-400">({c.health})</span> : null}
          </div>
          <p className="mt-0.5 text-xs text-zinc-500">
            <span className="font-mono">{shortId(c.dockerId)}</span> · <span className="font-mono">{c.image}</span> · on {host.data.name}
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2" data-testid="container-actions">
          {canOnHost(user, hostId, "container.create") ? (
            <ContainerCreateActions hostId={hostId} containerId={c.dockerId} name={c.name} disabled={!online} />
          ) : null}
          <ContainerActions
            hostId={hostId}
            containerId={c.dockerId}
            name={c.name}
            state={c.state}
            disabledReason={online ? null : "The host is offline"}
            onRemoved={() => router.push(`/hosts/${hostId}`)}
          />
        </div>
      </div>

      <div>
        <div role="tablist" aria-label="Container" className="mb-3 flex gap-1 overflow-x-auto border-b border-zinc-800">
          {tabs
            .filter((t) => t.show)
            .map((t) => (
              <button
                key={t.id}
                type="button"
                role="tab"
                aria-selected={tab === t.id}
                data-testid={`container-tab-${t.id}`}
                onClick={() => setTab(t.id)}
                className={cx(
                  "-mb-px flex items-center gap-2 border-b-2 px-3 py-2 text-[13px] font-medium whitespace-nowrap transition-colors",
                  tab === t.id ? "border-sky-500 text-zinc-100" : "border-transparent text-zinc-500 hover:text-zinc-300",
                )}
              >
                <t.icon className="size-3.5" aria-hidden />
                {t.label}
              </button>
            ))}
        </div>
        <div role="tabpanel" data-testid={`container-panel-${tab}`}>
          {tab === "overview" ? <Overview container={c} host={host.data} /> : null}
          {tab === "stats" ? <StatsTab hostId={hostId} containerId={containerId} running={running && online} /> : null}
          {tab === "processes" ? <Processes hostId={hostId} containerId={containerId} running={running && online} /> : null}
          {tab === "logs" && canLogs ? (
            <div className="h-[70vh] overflow-hidden rounded-lg border border-zinc-800">
              <LogViewer hostId={hostId} container={c} onMarker={() => undefined} />
            </div>
          ) : null}
          {/* Kept mounted: open terminals survive a look at another tab. */}
          {canExec || canLogs ? (
            <div hidden={tab !== "terminal"}>
              <Terminals hostId={hostId} containerId={containerId} canExec={canExec} canAttach={canLogs} running={running && online} visible={tab === "terminal"} />
            </div>
          ) : null}
          {tab === "changes" ? <WritableLayer hostId={hostId} containerId={containerId} containerName={c.name} canCommit={canCommit} online={online} /> : null}
          {tab === "history" ? <History hostId={hostId} containerId={containerId} /> : null}
          {tab === "inspect" ? <Inspect inspect={c.inspect} /> : null}
        </div>
      </div>
    </div>
  );
}
