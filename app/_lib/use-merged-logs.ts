"use client";

/**
 * The logs of several containers (on any hosts) as one time-ordered stream:
 * one flow-controlled, resuming subscription per container (LogSubscription),
 * drained together once per animation frame and merged by Docker's
 * timestamps (log-merge.ts). Bounded like a single view: the oldest lines go
 * past LOG_BUFFER_LINES.
 */
import { useEffect, useRef, useState } from "react";
import { browserSocket } from "./browser-socket";
import { mergeLines, type SourcedLine } from "./log-merge";
import { LOG_BUFFER_LINES, LogSubscription, type LogStreamStatus } from "./use-log-stream";

export type MergedSource = { hostId: string; containerId: string };

/** Each socket carries at most 16 streams; a merged view of more is not readable anyway. */
export const MERGED_MAX_SOURCES = 8;

/** The link to the merged view of these containers. */
export function mergedLogsHref(sources: MergedSource[]): string {
  return `/logs?${new URLSearchParams({ c: sources.slice(0, MERGED_MAX_SOURCES).map((s) => `${s.hostId}:${s.containerId}`).join(",") })}`;
}

/** `c=<hostId>:<containerId>,…` → sources (deduplicated, at most MERGED_MAX_SOURCES). */
export function parseSources(param: string | null): MergedSource[] {
  const seen = new Set<string>();
  const sources: MergedSource[] = [];
  for (const part of (param ?? "").split(",")) {
    const colon = part.indexOf(":");
    if (colon <= 0 || colon === part.length - 1 || seen.has(part)) continue;
    seen.add(part);
    sources.push({ hostId: part.slice(0, colon), containerId: part.slice(colon + 1) });
  }
  return sources.slice(0, MERGED_MAX_SOURCES);
}
export type SourceState = { status: LogStreamStatus; reason: string | null };

export function useMergedLogs(
  sources: MergedSource[],
  options: { tail: number | null; follow: boolean; since: string | null; until: string | null; paused: boolean; generation: number },
) {
  const key = sources.map((s) => `${s.hostId}:${s.containerId}`).join(",");
  const { tail, follow, since, until, generation } = options;
  const [lines, setLines] = useState<SourcedLine[]>([]);
  const [dropped, setDropped] = useState(0);
  const [held, setHeld] = useState(0);
  const [states, setStates] = useState<SourceState[]>([]);
  const paused = useRef(options.paused);
  const unpause = useRef<() => void>(() => undefined);

  useEffect(() => {
    paused.current = options.paused;
    if (!paused.current) unpause.current();
  }, [options.paused]);

  useEffect(() => {
    const list = key ? key.split(",").map((s) => ({ hostId: s.slice(0, s.indexOf(":")), containerId: s.slice(s.indexOf(":") + 1) })) : [];
    let buffer: SourcedLine[] = [];
    let droppedCount = 0;
    let frame: number | null = null;
    setLines([]);
    setDropped(0);
    setHeld(0);
    setStates(list.map(() => ({ status: "connecting", reason: null })));

    const flush = () => {
      frame = null;
      if (paused.current) return setHeld(subscriptions.reduce((n, s) => n + s.held, 0));
      let changed = false;
      subscriptions.forEach((subscription, sourceIndex) => {
        const batch = subscription.drain();
        if (batch.length === 0) return;
        buffer = mergeLines(buffer, batch.map((line) => ({ ...line, sourceIndex })));
        changed = true;
      });
      setHeld(0);
      if (!changed) return;
      if (buffer.length > LOG_BUFFER_LINES) {
        droppedCount += buffer.length - LOG_BUFFER_LINES;
        buffer = buffer.slice(buffer.length - LOG_BUFFER_LINES);
      }
      setLines(buffer);
      setDropped(droppedCount);
    };
    const schedule = () => {
      frame ??= requestAnimationFrame(flush);
    };
    const socket = browserSocket();
    const subscriptions: LogSubscription[] = list.map(
      (source, index) =>
        new LogSubscription(
          socket,
          { ...source, tail, follow, markers: true, since, until, maxLines: null },
          {
            ready: schedule,
            status: (status, reason) => setStates((prev) => prev.map((s, i) => (i === index ? { status, reason } : s))),
            capped: () => undefined,
          },
        ),
    );
    unpause.current = schedule;
    return () => {
      if (frame !== null) cancelAnimationFrame(frame);
      unpause.current = () => undefined;
      for (const subscription of subscriptions) subscription.close();
    };
  }, [key, tail, follow, since, until, generation]);

  return { lines, dropped, held, states };
}
