"use client";

/**
 * A virtualized list of log lines, shared by a container's log view and the
 * merged view of several containers: only what is on screen is rendered,
 * rows are measured when wrapping, ANSI colours are rendered through
 * app/_lib/ansi.ts (escaped), a filter needle is highlighted, and a target
 * line (a search match) is scrolled to and marked.
 */
import { useVirtualizer } from "@tanstack/react-virtual";
import { ArrowDown } from "lucide-react";
import { memo, useEffect, useMemo, useRef, type ReactNode } from "react";
import type { TLogLine } from "../../agent/protocol";
import { ansiToSafeHtml, hasAnsi, stripAnsi } from "../_lib/ansi";
import { Button, cx } from "./ui";

export const LOG_ROW_HEIGHT = 20;

/** A line as the list shows it; `source` labels the container it came from in a merged view. */
export type ShownLogLine = TLogLine & { source?: { label: string; color: string } };

// One formatter for every row: `toLocaleTimeString` with options builds a new one per call, which a flooded view pays per row per frame.
let clockFormat: Intl.DateTimeFormat | null = null;

/** "10:42:07.123" in the viewer's time zone; the full timestamp is the row's tooltip. */
export function clockTime(ts: string): string {
  const date = new Date(ts);
  if (Number.isNaN(date.getTime())) return "";
  clockFormat ??= new Intl.DateTimeFormat([], { hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3 });
  return clockFormat.format(date);
}

/** The text with every occurrence of `needle` (lower case) marked. */
export function highlight(text: string, needle: string): ReactNode {
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

/** Whether a line matches a filter needle (lower case), ignoring escape sequences. */
export function lineMatches(line: TLogLine, needle: string): boolean {
  return (hasAnsi(line.text) ? stripAnsi(line.text) : line.text).toLowerCase().includes(needle);
}

/**
 * Converted lines, by text: a flooded view paints the same rows again as the list moves under them,
 * and ansi_up's conversion is the dearest part of a row. Bounded; dropped whole when full.
 */
const ansiCache = new Map<string, string>();
const ANSI_CACHE_MAX = 2_000;

function cachedAnsiHtml(text: string): string {
  let html = ansiCache.get(text);
  if (html === undefined) {
    if (ansiCache.size >= ANSI_CACHE_MAX) ansiCache.clear();
    html = ansiToSafeHtml(text);
    ansiCache.set(text, html);
  }
  return html;
}

function LineText({ text, needle }: { text: string; needle: string }) {
  // Coloured lines go through ansi_up, which escapes the text; plain lines stay React text (highlightable).
  if (hasAnsi(text)) return <span data-testid="log-line" data-ansi="" dangerouslySetInnerHTML={{ __html: cachedAnsiHtml(text) }} />;
  return <span data-testid="log-line">{highlight(text, needle)}</span>;
}

/**
 * One row. Memoized: a new frame of lines re-renders only the rows whose line or place changed.
 * `measure` is the virtualizer's measuring ref, passed only when rows wrap: an unwrapped row is
 * exactly LOG_ROW_HEIGHT, and measuring each mounted row (a forced layout each) is what made a
 * flooded view drop frames.
 */
const LogRow = memo(function LogRow({
  line,
  index,
  start,
  timestamps,
  wrap,
  needle,
  isTarget,
  measure,
}: {
  line: ShownLogLine;
  index: number;
  start: number;
  timestamps: boolean;
  wrap: boolean;
  needle: string;
  isTarget: boolean;
  measure: ((element: Element | null) => void) | undefined;
}) {
  const time = timestamps ? <span className="shrink-0 text-zinc-500 tabular-nums select-none">{clockTime(line.ts)}</span> : null;
  const source = line.source ? (
    <span className="w-44 shrink-0 truncate select-none" style={{ color: line.source.color }} data-testid="log-source" title={line.source.label}>
      {line.source.label}
    </span>
  ) : null;
  if (line.marker) {
    return (
      <div
        ref={measure}
        data-index={index}
        data-testid="log-marker"
        data-event={line.marker.event}
        className={cx(
          "absolute left-0 flex w-full items-center gap-3 px-5 text-[11px] whitespace-pre select-none",
          line.marker.event === "exited" && line.marker.exitCode ? "text-red-300/80" : "text-sky-300/80",
        )}
        style={{ transform: `translateY(${start}px)`, minHeight: LOG_ROW_HEIGHT, ...(wrap ? {} : { height: LOG_ROW_HEIGHT }) }}
        title={line.ts}
      >
        {time}
        {source}
        <span className="h-px flex-1 bg-zinc-800" aria-hidden />
        <span>{line.text}</span>
        <span className="h-px flex-1 bg-zinc-800" aria-hidden />
      </div>
    );
  }
  return (
    <div
      ref={measure}
      data-index={index}
      data-stream={line.stream}
      data-target={isTarget ? "" : undefined}
      className={cx(
        "absolute left-0 flex w-full gap-3 px-5 hover:bg-zinc-900",
        wrap ? "break-all whitespace-pre-wrap" : "whitespace-pre",
        line.stream === "stderr" ? "text-red-300/90" : "text-zinc-200",
        isTarget && "bg-amber-400/15 ring-1 ring-amber-400/40 ring-inset",
      )}
      style={{ transform: `translateY(${start}px)`, minHeight: LOG_ROW_HEIGHT, ...(wrap ? {} : { height: LOG_ROW_HEIGHT }) }}
      title={line.ts}
    >
      {time}
      {source}
      <LineText text={line.text} needle={needle} />
    </div>
  );
});

export function LogLines({
  lines,
  timestamps,
  wrap,
  needle,
  stickToBottom,
  onStickToBottom,
  target,
  empty,
  label,
}: {
  lines: ShownLogLine[];
  timestamps: boolean;
  wrap: boolean;
  needle: string;
  stickToBottom: boolean;
  onStickToBottom: (stick: boolean) => void;
  /** A line to scroll to and mark (a search match): the first line with this timestamp starting with this text (search answers cut long lines). */
  target?: { ts: string; text: string } | null;
  empty: ReactNode;
  label: string;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: lines.length, getScrollElement: () => scroller.current, estimateSize: () => LOG_ROW_HEIGHT, overscan: 12 });
  const targetIndex = useMemo(() => (target ? lines.findIndex((l) => l.ts === target.ts && l.text.startsWith(target.text)) : -1), [lines, target]);

  useEffect(() => {
    if (targetIndex >= 0) virtualizer.scrollToIndex(targetIndex, { align: "center" });
  }, [targetIndex, virtualizer]);

  useEffect(() => {
    if (stickToBottom && targetIndex < 0 && lines.length > 0) virtualizer.scrollToIndex(lines.length - 1, { align: "end" });
  }, [lines.length, stickToBottom, targetIndex, virtualizer]);

  // Row heights change with wrapping: measure again.
  useEffect(() => virtualizer.measure(), [wrap, virtualizer]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < LOG_ROW_HEIGHT * 2;
    if (atBottom !== stickToBottom) onStickToBottom(atBottom);
  };

  return (
    <div className="relative min-h-0 flex-1">
      <div
        ref={scroller}
        onScroll={onScroll}
        data-testid="logs-lines"
        data-wrap={wrap ? "on" : "off"}
        role="log"
        aria-live="off"
        aria-label={label}
        className="absolute inset-0 overflow-auto bg-zinc-950 font-mono text-[12px] leading-5"
      >
        {lines.length === 0 ? (
          <p className="px-5 py-6 text-zinc-500" data-testid="logs-empty">
            {empty}
          </p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {virtualizer.getVirtualItems().map((item) => (
              <LogRow
                key={item.key}
                line={lines[item.index]!}
                index={item.index}
                start={item.start}
                timestamps={timestamps}
                wrap={wrap}
                needle={needle}
                isTarget={item.index === targetIndex}
                measure={wrap ? virtualizer.measureElement : undefined}
              />
            ))}
          </div>
        )}
      </div>
      {!stickToBottom && lines.length > 0 ? (
        <Button size="xs" variant="secondary" icon={<ArrowDown className="size-3" />} className="absolute right-5 bottom-3 shadow-lg" onClick={() => onStickToBottom(true)}>
          Jump to latest
        </Button>
      ) : null}
    </div>
  );
}
