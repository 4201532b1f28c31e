"use client";

/**
 * One container's log, live, over the page's browser socket. The buffer is
 * bounded (oldest lines dropped past `LOG_BUFFER_LINES`) and lines arriving in
 * a burst are applied once per animation frame, so a chatty container cannot
 * freeze the tab.
 *
 * Flow control: each applied frame is acknowledged (`logs:ack`) from that
 * animation frame. The server sends only a few frames beyond the last ack, so
 * a tab that stops painting (hidden, busy) pauses the log at its source
 * instead of piling frames up in its own memory or the server's. Pausing the
 * view uses the same mechanism: frames that arrive are held, neither applied
 * nor acknowledged, so the source stops after a window of frames.
 *
 * Resume: when the agent's or the server's connection drops, the log is
 * reopened from the timestamp of the last line received (Docker's `since`),
 * and the lines the reopened read repeats are dropped: every line older than
 * that timestamp, and at that very timestamp the ones already seen (by text,
 * as many times as they were seen). Nothing is shown twice and nothing after
 * the last line is missed.
 */
import { useEffect, useRef, useState } from "react";
import type { TLogLine } from "../../agent/protocol";
import { browserSocket } from "./browser-socket";
import { LogSubscription, type LogStreamStatus } from "./log-subscription";

export { compareTs } from "./log-order";
export { LogSubscription, type LogStreamStatus } from "./log-subscription";

export const LOG_BUFFER_LINES = 10_000;

export type LogStreamOptions = {
  hostId: string;
  containerId: string;
  tail: number | null;
  follow: boolean;
  /** Bump to reopen with the same options (after an error or an end). */
  generation: number;
  /** Insert "container started" / "container exited" marker lines. */
  markers?: boolean;
  /** Only lines at or after this time (RFC 3339). */
  since?: string | null;
  /** Only lines before this time (RFC 3339). */
  until?: string | null;
  /** Stop after this many lines (a jump to a search match loads a window around it, not the rest of the log). */
  maxLines?: number | null;
  /** Hold new lines (not applied, not acknowledged: the source pauses); resuming applies them. */
  paused?: boolean;
};

export type LogStream = {
  lines: TLogLine[];
  /** Lines dropped from the front of the buffer since it was opened. */
  dropped: number;
  /** Lines received while paused, waiting to be shown. */
  held: number;
  status: LogStreamStatus;
  /** Why it ended or failed; null when it simply reached the end of the log. */
  reason: string | null;
  /** The view stopped at `maxLines`. */
  capped: boolean;
  clear(): void;
};

export function useLogStream(options: LogStreamOptions, enabled: boolean): LogStream {
  const { hostId, containerId, tail, follow, generation } = options;
  const markers = options.markers ?? false;
  const since = options.since ?? null;
  const until = options.until ?? null;
  const maxLines = options.maxLines ?? null;
  const buffer = useRef<TLogLine[]>([]);
  const [view, setView] = useState<{ lines: TLogLine[]; dropped: number }>({ lines: [], dropped: 0 });
  const [status, setStatus] = useState<LogStreamStatus>("connecting");
  const [reason, setReason] = useState<string | null>(null);
  const [held, setHeld] = useState(0);
  const [capped, setCapped] = useState(false);
  const dropped = useRef(0);
  const paused = useRef(options.paused ?? false);
  const unpause = useRef<() => void>(() => undefined);

  useEffect(() => {
    paused.current = options.paused ?? false;
    if (!paused.current) unpause.current();
  }, [options.paused]);

  useEffect(() => {
    if (!enabled) return;
    let frame: number | null = null;
    buffer.current = [];
    dropped.current = 0;
    setView({ lines: [], dropped: 0 });
    setHeld(0);
    setCapped(false);

    const flush = () => {
      frame = null;
      if (paused.current) return setHeld(subscription.held); // held: neither applied nor acknowledged
      const lines = subscription.drain();
      setHeld(0);
      if (lines.length === 0) return;
      let next = buffer.current.concat(lines);
      if (next.length > LOG_BUFFER_LINES) {
        dropped.current += next.length - LOG_BUFFER_LINES;
        next = next.slice(next.length - LOG_BUFFER_LINES);
      }
      buffer.current = next;
      setView({ lines: next, dropped: dropped.current });
    };
    const schedule = () => {
      frame ??= requestAnimationFrame(flush);
    };
    const subscription = new LogSubscription(
      browserSocket(),
      { hostId, containerId, tail, follow, markers, since, until, maxLines },
      {
        ready: schedule,
        status: (next, why) => {
          if (next !== "live" && next !== "connecting") flush(); // show what arrived before the end
          setStatus(next);
          setReason(why);
        },
        capped: () => setCapped(true),
      },
    );
    unpause.current = schedule;

    return () => {
      if (frame !== null) cancelAnimationFrame(frame);
      unpause.current = () => undefined;
      subscription.close();
    };
  }, [enabled, hostId, containerId, tail, follow, generation, markers, since, until, maxLines]);

  return {
    lines: view.lines,
    dropped: view.dropped,
    held,
    status,
    reason,
    capped,
    clear() {
      buffer.current = [];
      setView({ lines: [], dropped: dropped.current });
    },
  };
}
