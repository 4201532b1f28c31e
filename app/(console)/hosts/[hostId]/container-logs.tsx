"use client";

import { useVirtualizer } from "@tanstack/react-virtual";
import { ArrowDown, Download, Eraser, Pause, Play, RefreshCw } from "lucide-react";
import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Drawer } from "../../../_components/drawer";
import { ContainerStateBadge } from "../../../_components/status";
import { FilterInput } from "../../../_components/table";
import { Button, Select, buttonClasses, cx } from "../../../_components/ui";
import type { Container } from "../../../_lib/trpc";
import { LOG_BUFFER_LINES, useLogStream, type LogStreamStatus } from "../../../_lib/use-log-stream";

const TAIL_CHOICES = [
  { value: "100", label: "Last 100 lines" },
  { value: "500", label: "Last 500 lines" },
  { value: "2000", label: "Last 2,000 lines" },
  { value: "all", label: "Whole log" },
] as const;

const ROW_HEIGHT = 20;

/** "10:42:07.123" in the viewer's time zone; the full timestamp is the row's tooltip. */
function clockTime(ts: string): string {
  const date = new Date(ts);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3 });
}

function highlight(text: string, needle: string): ReactNode {
  if (!needle) return text;
  const parts: ReactNode[] = [];
  const lower = text.toLowerCase();
  let from = 0;
  for (let at = lower.indexOf(needle); at !== -1; at = lower.indexOf(needle, from)) {
    parts.push(text.slice(from, at), <mark key={at} className="rounded-sm bg-amber-400/30 text-amber-100">{text.slice(at, at + needle.length)}</mark>);
    from = at + needle.length;
  }
  parts.push(text.slice(from));
  return parts;
}

const STATUS_LABEL: Record<LogStreamStatus, string> = { connecting: "Connecting…", live: "Live", ended: "End of log", error: "Stopped" };

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
  const [stickToBottom, setStickToBottom] = useState(true);
  const stream = useLogStream({ hostId, containerId: container.dockerId, tail: tail === "all" ? null : Number(tail), follow, generation, markers: true }, true);

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
  const shown = useMemo(() => (needle ? stream.lines.filter((l) => l.marker || l.text.toLowerCase().includes(needle)) : stream.lines), [stream.lines, needle]);

  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: shown.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 30 });

  useEffect(() => {
    if (stickToBottom && shown.length > 0) virtualizer.scrollToIndex(shown.length - 1, { align: "end" });
  }, [shown.length, stickToBottom, virtualizer]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT * 2;
    if (atBottom !== stickToBottom) setStickToBottom(atBottom);
  };

  return (
    <div className="-mx-5 -my-4 flex h-full min-h-0 flex-col">
      <div className="flex flex-wrap items-center gap-2 border-b border-zinc-800 px-5 py-2.5">
        <FilterInput value={search} onChange={setSearch} label="Search the log" placeholder="Search lines" />
        <Select aria-label="How much of the log" data-testid="logs-tail" value={tail} onChange={(e) => setTail(e.target.value as typeof tail)} className="h-7! w-40! text-xs!">
          {TAIL_CHOICES.map((c) => (
            <option key={c.value} value={c.value}>
              {c.label}
            </option>
          ))}
        </Select>
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
        <Button size="xs" variant="ghost" aria-pressed={timestamps} onClick={() => setTimestamps((t) => !t)}>
          {timestamps ? "Hide times" : "Show times"}
        </Button>
        <div className="ml-auto flex gap-1">
          <Button size="xs" variant="ghost" icon={<Eraser className="size-3" />} onClick={stream.clear} aria-label="Clear the view">
            Clear
          </Button>
          {/* The whole log, streamed by the server (not just the lines this view keeps). */}
          <a
            href={`/api/logs/download?${new URLSearchParams({ hostId, containerId: container.dockerId })}`}
            download
            data-testid="logs-download"
            className={buttonClasses("ghost", "xs")}
          >
            <Download className="size-3" aria-hidden />
            Download
          </a>
        </div>
      </div>

      <div className="relative min-h-0 flex-1">
        <div
          ref={scroller}
          onScroll={onScroll}
          data-testid="logs-lines"
          role="log"
          aria-live="off"
          aria-label={`Log of ${container.name}`}
          className="absolute inset-0 overflow-auto bg-zinc-950 font-mono text-[12px] leading-5"
        >
          {shown.length === 0 ? (
            <p className="px-5 py-6 text-zinc-500" data-testid="logs-empty">
              {stream.status === "connecting" ? "Opening the log…" : stream.lines.length > 0 ? "No line matches the search." : stream.status === "error" ? "" : "No log lines yet."}
            </p>
          ) : (
            <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
              {virtualizer.getVirtualItems().map((item) => {
                const line = shown[item.index]!;
                if (line.marker) {
                  return (
                    <div
                      key={item.key}
                      data-index={item.index}
                      data-testid="log-marker"
                      data-event={line.marker.event}
                      className={cx(
                        "absolute left-0 flex w-full items-center gap-3 px-5 text-[11px] whitespace-pre select-none",
                        line.marker.event === "exited" && line.marker.exitCode ? "text-red-300/80" : "text-sky-300/80",
                      )}
                      style={{ top: item.start, height: ROW_HEIGHT }}
                      title={line.ts}
                    >
                      {timestamps ? <span className="shrink-0 text-zinc-500 tabular-nums">{clockTime(line.ts)}</span> : null}
                      <span className="h-px flex-1 bg-zinc-800" aria-hidden />
                      <span>{line.text}</span>
                      <span className="h-px flex-1 bg-zinc-800" aria-hidden />
                    </div>
                  );
                }
                return (
                  <div
                    key={item.key}
                    data-index={item.index}
                    data-stream={line.stream}
                    className={cx(
                      "absolute left-0 flex w-full gap-3 px-5 whitespace-pre hover:bg-zinc-900",
                      line.stream === "stderr" ? "text-red-300/90" : "text-zinc-200",
                    )}
                    style={{ top: item.start, height: ROW_HEIGHT }}
                    title={line.ts}
                  >
                    {timestamps ? <span className="shrink-0 text-zinc-500 tabular-nums select-none">{clockTime(line.ts)}</span> : null}
                    <span data-testid="log-line">{highlight(line.text, needle)}</span>
                  </div>
                );
              })}
            </div>
          )}
        </div>
        {!stickToBottom && shown.length > 0 ? (
          <Button
            size="xs"
            variant="secondary"
            icon={<ArrowDown className="size-3" />}
            className="absolute right-5 bottom-3 shadow-lg"
            onClick={() => setStickToBottom(true)}
          >
            Jump to latest
          </Button>
        ) : null}
      </div>

      <footer className="flex items-center gap-3 border-t border-zinc-800 px-5 py-2 text-[11px] text-zinc-500">
        <span className="flex items-center gap-1.5" data-testid="logs-status" data-status={stream.status}>
          <span
            className={cx(
              "size-1.5 rounded-full",
              stream.status === "live" ? (follow ? "animate-pulse bg-emerald-400" : "bg-emerald-400") : stream.status === "error" ? "bg-red-400" : "bg-zinc-500",
            )}
          />
          {stream.status === "live" && !follow ? "Loaded" : STATUS_LABEL[stream.status]}
        </span>
        {stream.reason ? (
          <span className="text-red-300" role="alert" data-testid="logs-reason">
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
