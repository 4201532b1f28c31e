"use client";

/**
 * The logs of several containers, across hosts, as one time-ordered stream:
 * `/logs?c=<hostId>:<containerId>,…` (the Containers page opens it for the
 * selected rows). Each container has its colour and can be hidden; lines are
 * merged by Docker's own timestamps. Every stream is opened with the same
 * access rule as a single log (`logs:open`, container.logs on its host).
 */
import { useQueries, useQuery } from "@tanstack/react-query";
import { Eye, EyeOff, RefreshCw, WrapText } from "lucide-react";
import { useSearchParams } from "next/navigation";
import { Suspense, useMemo, useState } from "react";
import { lineMatches, LogLines, type ShownLogLine } from "../../_components/log-lines";
import { FilterInput } from "../../_components/table";
import { Button, PageHeader, Select, Spinner, cx } from "../../_components/ui";
import { useTRPC } from "../../_lib/trpc";
import { useDocumentTitle } from "../../_lib/use-document-title";
import { LOG_BUFFER_LINES } from "../../_lib/use-log-stream";
import { parseSources, useMergedLogs } from "../../_lib/use-merged-logs";
import { localInputToIso, STATUS_LABEL, TimeRange } from "../hosts/[hostId]/container-logs";

/** Mid-tones, readable on the log's light and dark backgrounds, in the order sources are listed. */
const COLOURS = ["#0ea5e9", "#ef4444", "#22c55e", "#f59e0b", "#8b5cf6", "#ec4899", "#14b8a6", "#f97316"];

const TAIL_CHOICES = [
  { value: "100", label: "Last 100 lines each" },
  { value: "500", label: "Last 500 lines each" },
  { value: "all", label: "Whole logs" },
] as const;

export default function MergedLogsPage() {
  useDocumentTitle("Logs");
  // useSearchParams needs a Suspense boundary for the static build.
  return (
    <Suspense
      fallback={
        <div className="flex justify-center py-20 text-zinc-500">
          <Spinner />
        </div>
      }
    >
      <MergedLogs />
    </Suspense>
  );
}

function MergedLogs() {
  const trpc = useTRPC();
  const params = useSearchParams();
  const sources = useMemo(() => parseSources(params.get("c")), [params]);
  const hosts = useQuery(trpc.hosts.list.queryOptions());
  const containers = useQueries({ queries: sources.map((s) => trpc.containers.byId.queryOptions(s, { staleTime: 60_000 })) });
  const [tail, setTail] = useState<(typeof TAIL_CHOICES)[number]["value"]>("100");
  const [follow, setFollow] = useState(true);
  const [paused, setPaused] = useState(false);
  const [wrap, setWrap] = useState(false);
  const [timestamps, setTimestamps] = useState(true);
  const [filter, setFilter] = useState("");
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const [sinceInput, setSinceInput] = useState("");
  const [untilInput, setUntilInput] = useState("");
  const [generation, setGeneration] = useState(0);
  const [stickToBottom, setStickToBottom] = useState(true);
  const since = localInputToIso(sinceInput);
  const until = localInputToIso(untilInput);
  const merged = useMergedLogs(sources, { tail: tail === "all" || since ? null : Number(tail), follow, since, until, paused, generation });

  const labels = sources.map((s, i) => {
    const name = containers[i]?.data?.name ?? s.containerId.slice(0, 12);
    const host = hosts.data?.find((h) => h.id === s.hostId)?.name ?? s.hostId;
    return { name, host, label: `${name}`, color: COLOURS[i % COLOURS.length]! };
  });
  const needle = filter.trim().toLowerCase();
  const shown: ShownLogLine[] = useMemo(
    () =>
      merged.lines
        .filter((l) => !hidden.has(l.sourceIndex) && (!needle || l.marker || lineMatches(l, needle)))
        .map((l) => ({ ...l, source: { label: labels[l.sourceIndex]?.label ?? "?", color: labels[l.sourceIndex]?.color ?? "#a1a1aa" } })),
    // labels change only with names and hosts
    [merged.lines, hidden, needle, labels.map((l) => l.label).join("|")],
  );

  if (sources.length === 0) {
    return (
      <div className="space-y-4">
        <PageHeader title="Logs together" description="Select containers on the Containers page and choose “View logs together”." />
      </div>
    );
  }

  return (
    <div className="flex h-[calc(100vh-7rem)] min-h-[28rem] flex-col gap-3">
      <PageHeader title="Logs together" description={`${sources.length} containers, one stream ordered by Docker's timestamps`} />
      <div className="flex flex-wrap gap-2" data-testid="merged-sources">
        {sources.map((s, i) => {
          const state = merged.states[i];
          const off = hidden.has(i);
          return (
            <button
              key={`${s.hostId}:${s.containerId}`}
              type="button"
              aria-pressed={!off}
              data-testid="merged-source"
              data-status={state?.status ?? "connecting"}
              onClick={() => setHidden((prev) => {
                const next = new Set(prev);
                if (next.has(i)) next.delete(i);
                else next.add(i);
                return next;
              })}
              className={cx("flex items-center gap-2 rounded-md border px-2 py-1 text-xs", off ? "border-zinc-800 text-zinc-500" : "border-zinc-700 bg-zinc-900 text-zinc-100")}
              title={state?.reason ?? (state ? STATUS_LABEL[state.status] : "")}
            >
              <span className="size-2 rounded-full" style={{ background: labels[i]!.color, opacity: off ? 0.3 : 1 }} aria-hidden />
              <span className="font-medium">{labels[i]!.name}</span>
              <span className="text-zinc-500">on {labels[i]!.host}</span>
              <span className={cx("text-[10px]", state?.status === "error" ? "text-red-300" : state?.status === "reconnecting" ? "text-amber-300" : "text-zinc-500")}>
                {state ? (state.status === "error" ? state.reason : STATUS_LABEL[state.status]) : ""}
              </span>
              {off ? <EyeOff className="size-3" aria-hidden /> : <Eye className="size-3" aria-hidden />}
            </button>
          );
        })}
      </div>
      <div className="flex min-h-0 flex-1 flex-col overflow-hidden rounded-lg border border-zinc-800">
        <div className="flex flex-wrap items-center gap-2 border-b border-zinc-800 bg-zinc-900/60 px-5 py-2.5">
          <FilterInput value={filter} onChange={setFilter} label="Filter the merged log" placeholder="Filter lines in view" />
          <Select aria-label="How much of each log" value={tail} onChange={(e) => setTail(e.target.value as typeof tail)} disabled={Boolean(since)} className="h-7! w-44! text-xs!">
            {TAIL_CHOICES.map((c) => (
              <option key={c.value} value={c.value}>
                {c.label}
              </option>
            ))}
          </Select>
          <TimeRange since={sinceInput} until={untilInput} onSince={setSinceInput} onUntil={setUntilInput} />
          <Button size="xs" variant={follow ? "secondary" : "ghost"} aria-pressed={follow} onClick={() => setFollow((f) => !f)}>
            {follow ? "Following" : "Follow"}
          </Button>
          <Button size="xs" variant={paused ? "secondary" : "ghost"} aria-pressed={paused} data-testid="logs-pause" onClick={() => setPaused((p) => !p)}>
            {paused ? (merged.held > 0 ? `Resume · ${merged.held.toLocaleString()} new lines` : "Resume") : "Pause"}
          </Button>
          <Button size="xs" variant={wrap ? "secondary" : "ghost"} aria-pressed={wrap} icon={<WrapText className="size-3" />} onClick={() => setWrap((w) => !w)}>
            Wrap
          </Button>
          <Button size="xs" variant="ghost" aria-pressed={timestamps} onClick={() => setTimestamps((t) => !t)}>
            {timestamps ? "Hide times" : "Show times"}
          </Button>
          <Button size="xs" variant="ghost" icon={<RefreshCw className="size-3" />} onClick={() => setGeneration((g) => g + 1)}>
            Reopen
          </Button>
        </div>
        <LogLines
          lines={shown}
          timestamps={timestamps}
          wrap={wrap}
          needle={needle}
          stickToBottom={stickToBottom}
          onStickToBottom={setStickToBottom}
          label="Merged log"
          empty={merged.states.some((s) => s.status === "connecting") ? "Opening the logs…" : merged.lines.length > 0 ? "No line matches." : "No log lines yet."}
        />
        <footer className="flex items-center gap-3 border-t border-zinc-800 px-5 py-2 text-[11px] text-zinc-500">
          <span data-testid="merged-count" className="ml-auto tabular-nums">
            {shown.length.toLocaleString()} of {merged.lines.length.toLocaleString()} lines
            {merged.dropped > 0 ? ` · ${merged.dropped.toLocaleString()} older lines let go (the view keeps ${LOG_BUFFER_LINES.toLocaleString()})` : ""}
          </span>
        </footer>
      </div>
    </div>
  );
}
