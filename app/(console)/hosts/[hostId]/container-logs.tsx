"use client";

import { Download, Eraser, Pause, Play, RefreshCw, Search, WrapText, X } from "lucide-react";
import { useEffect, useMemo, useState } from "react";
import { Drawer } from "../../../_components/drawer";
import { lineMatches, LogLines } from "../../../_components/log-lines";
import { ContainerStateBadge } from "../../../_components/status";
import { FilterInput } from "../../../_components/table";
import { Button, Select, buttonClasses, cx } from "../../../_components/ui";
import type { Container } from "../../../_lib/trpc";
import { LOG_BUFFER_LINES, useLogStream, type LogStreamStatus } from "../../../_lib/use-log-stream";
import { LogSearchPanel, type SearchJump } from "./log-search";

const TAIL_CHOICES = [
  { value: "100", label: "Last 100 lines" },
  { value: "500", label: "Last 500 lines" },
  { value: "2000", label: "Last 2,000 lines" },
  { value: "all", label: "Whole log" },
] as const;

/** Lines loaded from a search match onwards (a window around it, not the rest of the log). */
const JUMP_LINES = 2_000;

export const STATUS_LABEL: Record<LogStreamStatus, string> = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", ended: "End of log", error: "Stopped" };

/** `<input type="datetime-local">` value (the viewer's local time) ⇄ RFC 3339 in UTC. */
export function localInputToIso(value: string): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** A since/until picker pair in the viewer's time zone, to the second. */
export function TimeRange({ since, until, onSince, onUntil }: { since: string; until: string; onSince: (v: string) => void; onUntil: (v: string) => void }) {
  const input = "h-7 rounded-md border border-zinc-700 bg-zinc-900 px-1.5 text-xs text-zinc-100 outline-none focus:border-sky-500 [color-scheme:dark]";
  return (
    <span className="flex items-center gap-1 text-[11px] text-zinc-400">
      <label className="flex items-center gap-1">
        Since
        <input type="datetime-local" step="1" aria-label="Since" data-testid="logs-since" value={since} onChange={(e) => onSince(e.target.value)} className={input} />
      </label>
      <label className="flex items-center gap-1">
        until
        <input type="datetime-local" step="1" aria-label="Until" data-testid="logs-until" value={until} onChange={(e) => onUntil(e.target.value)} className={input} />
      </label>
    </span>
  );
}

type LastMarker = { event: "started" | "exited"; exitCode: number | null; at: number };

/**
 * The state the badge shows: the row's (kept live by the fleet's updates), unless the log's own
 * start/exit markers saw a later change (they come straight from Docker's events for this container).
 */
function currentState(container: Container, marker: LastMarker | null): { state: string; exitCode: number | null } {
  const rowChanged = Math.max(container.startedAt ? new Date(container.startedAt).getTime() : 0, container.finishedAt ? new Date(container.finishedAt).getTime() : 0);
  if (!marker || marker.at <= rowChanged) return { state: container.state, exitCode: container.exitCode };
  return marker.event === "started" ? { state: "running", exitCode: null } : { state: "exited", exitCode: marker.exitCode };
}

/** A container's log in a wide drawer: live follow, tail, search, timestamps, download; virtualized and bounded. */
export function ContainerLogsDrawer({ hostId, container, onClose }: { hostId: string; container: Container | null; onClose: () => void }) {
  const [marker, setMarker] = useState<LastMarker | null>(null);
  const shownState = container ? currentState(container, marker) : null;
  return (
    <Drawer
      open={container !== null}
      onClose={onClose}
      wide
      testId="logs-drawer"
      title={container ? `Logs · ${container.name}` : "Logs"}
      subtitle={
        container ? (
          <span className="flex items-center gap-2">
            <ContainerStateBadge state={shownState!.state} exitCode={shownState!.exitCode} testId="logs-container-state" />
            <span className="font-mono">{container.image}</span>
          </span>
        ) : null
      }
    >
      {container ? <LogViewer key={container.dockerId} hostId={hostId} container={container} onMarker={setMarker} /> : null}
    </Drawer>
  );
}

export function LogViewer({ hostId, container, onMarker }: { hostId: string; container: Container; onMarker: (marker: LastMarker | null) => void }) {
  const [tail, setTail] = useState<(typeof TAIL_CHOICES)[number]["value"]>("500");
  const [follow, setFollow] = useState(true);
  const [generation, setGeneration] = useState(0);
  const [search, setSearch] = useState("");
  const [timestamps, setTimestamps] = useState(true);
  const [wrap, setWrap] = useState(false);
  const [paused, setPaused] = useState(false);
  const [sinceInput, setSinceInput] = useState("");
  const [untilInput, setUntilInput] = useState("");
  const [showSearch, setShowSearch] = useState(false);
  const [jump, setJump] = useState<SearchJump | null>(null);
  const [stickToBottom, setStickToBottom] = useState(true);
  const since = localInputToIso(sinceInput);
  const until = localInputToIso(untilInput);
  const stream = useLogStream(
    jump
      ? { hostId, containerId: container.dockerId, tail: null, follow: false, generation, markers: true, since: jump.since, until: null, maxLines: JUMP_LINES, paused }
      : { hostId, containerId: container.dockerId, tail: tail === "all" || since ? null : Number(tail), follow, generation, markers: true, since, until, paused },
    true,
  );

  // The latest start/exit the log saw tells the drawer's badge about a change the row may not show yet.
  const latestMarker = useMemo(() => {
    for (let i = stream.lines.length - 1; i >= 0; i--) {
      const line = stream.lines[i]!;
      if (line.marker) return { event: line.marker.event, exitCode: line.marker.exitCode, at: new Date(line.ts).getTime() } satisfies LastMarker;
    }
    return null;
  }, [stream.lines]);
  useEffect(() => onMarker(latestMarker), [latestMarker, onMarker]);

  const needle = search.trim().toLowerCase();
  // Start/exit markers stay in a search: they show which run a matching line belongs to.
  const shown = useMemo(() => (needle ? stream.lines.filter((l) => l.marker || lineMatches(l, needle)) : stream.lines), [stream.lines, needle]);

  const onJump = (target: SearchJump) => {
    setJump(target);
    setPaused(false);
    setStickToBottom(false);
  };

  return (
    <div className="-mx-5 -my-4 flex h-full min-h-0 flex-col">
      <div className="flex flex-wrap items-center gap-2 border-b border-zinc-800 px-5 py-2.5">
        <FilterInput value={search} onChange={setSearch} label="Search the log" placeholder="Filter lines in view" />
        <Button
          size="xs"
          variant={showSearch ? "secondary" : "ghost"}
          aria-pressed={showSearch}
          data-testid="logs-search-toggle"
          icon={<Search className="size-3" />}
          onClick={() => setShowSearch((v) => !v)}
        >
          Search whole log
        </Button>
        {jump ? (
          <Button size="xs" variant="secondary" data-testid="logs-back-to-live" icon={<X className="size-3" />} onClick={() => setJump(null)}>
            Back to the live log
          </Button>
        ) : (
          <>
            <Select aria-label="How much of the log" data-testid="logs-tail" value={tail} onChange={(e) => setTail(e.target.value as typeof tail)} disabled={Boolean(since)} className="h-7! w-40! text-xs!">
              {TAIL_CHOICES.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </Select>
            <TimeRange since={sinceInput} until={untilInput} onSince={setSinceInput} onUntil={setUntilInput} />
            <Button
              size="xs"
              variant={follow ? "secondary" : "ghost"}
              aria-pressed={follow}
              data-testid="logs-follow"
              icon={follow ? <Pause className="size-3" /> : <Play className="size-3" />}
              onClick={() => setFollow((f) => !f)}
            >
              {follow ? "Following" : "Follow"}
            </Button>
          </>
        )}
        <Button size="xs" variant={paused ? "secondary" : "ghost"} aria-pressed={paused} data-testid="logs-pause" onClick={() => setPaused((p) => !p)}>
          {paused ? (stream.held > 0 ? `Resume · ${stream.held.toLocaleString()} new lines` : "Resume") : "Pause"}
        </Button>
        <Button size="xs" variant={wrap ? "secondary" : "ghost"} aria-pressed={wrap} data-testid="logs-wrap" icon={<WrapText className="size-3" />} onClick={() => setWrap((w) => !w)}>
          Wrap
        </Button>
        <Button size="xs" variant="ghost" aria-pressed={timestamps} onClick={() => setTimestamps((t) => !t)}>
          {timestamps ? "Hide times" : "Show times"}
        </Button>
        <div className="ml-auto flex gap-1">
          <Button size="xs" variant="ghost" icon={<Eraser className="size-3" />} onClick={stream.clear} aria-label="Clear the view">
            Clear
          </Button>
          {/* The whole log (or the chosen range), streamed by the server (not just the lines this view keeps). */}
          <a
            href={`/api/logs/download?${new URLSearchParams({ hostId, containerId: container.dockerId, ...(since ? { since } : {}), ...(until ? { until } : {}) })}`}
            download
            data-testid="logs-download"
            className={buttonClasses("ghost", "xs")}
          >
            <Download className="size-3" aria-hidden />
            Download
          </a>
        </div>
      </div>

      {showSearch ? <LogSearchPanel hostId={hostId} containerId={container.dockerId} since={since} until={until} onJump={onJump} /> : null}

      <LogLines
        lines={shown}
        timestamps={timestamps}
        wrap={wrap}
        needle={needle}
        stickToBottom={stickToBottom}
        onStickToBottom={setStickToBottom}
        target={jump}
        label={`Log of ${container.name}`}
        empty={stream.status === "connecting" ? "Opening the log…" : stream.lines.length > 0 ? "No line matches the search." : stream.status === "error" ? "" : "No log lines yet."}
      />

      <footer className="flex items-center gap-3 border-t border-zinc-800 px-5 py-2 text-[11px] text-zinc-500">
        <span className="flex items-center gap-1.5" data-testid="logs-status" data-status={paused ? "paused" : stream.status}>
          <span
            className={cx(
              "size-1.5 rounded-full",
              paused ? "bg-amber-400" : stream.status === "live" ? (follow && !jump ? "animate-pulse bg-emerald-400" : "bg-emerald-400") : stream.status === "error" ? "bg-red-400" : stream.status === "reconnecting" ? "animate-pulse bg-amber-400" : "bg-zinc-500",
            )}
          />
          {paused ? "Paused" : stream.status === "live" && (!follow || jump) ? "Loaded" : STATUS_LABEL[stream.status]}
        </span>
        {jump ? <span data-testid="logs-jump">From the search match at {new Date(jump.ts).toLocaleString()}{stream.capped ? ` · the first ${JUMP_LINES.toLocaleString()} lines` : ""}</span> : null}
        {stream.reason ? (
          <span className={stream.status === "reconnecting" ? "text-amber-300" : "text-red-300"} role="alert" data-testid="logs-reason">
            {stream.reason}
          </span>
        ) : null}
        {stream.status === "error" || stream.status === "ended" ? (
          <button type="button" className="inline-flex items-center gap-1 text-sky-300 hover:underline" onClick={() => setGeneration((g) => g + 1)}>
            <RefreshCw className="size-3" /> Reopen
          </button>
        ) : null}
        <span className="ml-auto tabular-nums">
          {needle ? `${shown.length.toLocaleString()} of ` : ""}
          {stream.lines.length.toLocaleString()} lines
          {stream.dropped > 0 ? ` · ${stream.dropped.toLocaleString()} older lines let go (the view keeps ${LOG_BUFFER_LINES.toLocaleString()})` : ""}
        </span>
      </footer>
    </div>
  );
}
