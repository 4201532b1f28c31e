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
import { ClientEvent, ServerEvent, type TLogsData, type TLogsEnd } from "../../server/gateway/browser-protocol";
import { browserSocket, request } from "./browser-socket";

export const LOG_BUFFER_LINES = 10_000;
/** Wait before reopening a dropped log; doubled per failed try, up to the max. */
const RESUME_DELAY_MS = 1_000;
const RESUME_DELAY_MAX_MS = 10_000;

export type LogStreamStatus = "connecting" | "live" | "reconnecting" | "ended" | "error";

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

/** Docker's timestamps are fixed-width RFC 3339 in UTC: they order as strings. Others fall back to Date. */
export function compareTs(a: string, b: string): number {
  if (a.length === b.length && a.endsWith("Z") && b.endsWith("Z")) return a < b ? -1 : a > b ? 1 : 0;
  const diff = Date.parse(a) - Date.parse(b);
  return Number.isNaN(diff) ? 0 : Math.sign(diff);
}

/**
 * Remembers the newest timestamp seen and the lines seen at it, and tells
 * which lines of a read reopened at that timestamp were already shown.
 */
export class ResumePoint {
  private ts = "";
  private atTs = new Map<string, number>();
  /** Lines at `ts` a reopened read may still repeat (counted down as they arrive). */
  private repeat = new Map<string, number>();
  private resuming = false;

  get since(): string | null {
    return this.ts || null;
  }

  /** The log is being reopened from `since`: what comes next may repeat what was seen. */
  reopen(): void {
    this.resuming = this.ts !== "";
    this.repeat = new Map(this.atTs);
  }

  /** Whether to keep the line (false: the reopened read repeats it); records it. */
  accept(line: TLogLine): boolean {
    if (!line.ts) return true;
    if (this.resuming) {
      const order = compareTs(line.ts, this.ts);
      if (order < 0) return false;
      if (order === 0) {
        const left = this.repeat.get(line.text) ?? 0;
        if (left > 0) {
          this.repeat.set(line.text, left - 1);
          return false;
        }
      } else this.resuming = false; // past the resume point: everything from here is new
    }
    if (line.ts !== this.ts) {
      if (compareTs(line.ts, this.ts) < 0 && this.ts) return true; // an older marker inserted late: keep, do not move back
      this.ts = line.ts;
      this.atTs = new Map();
    }
    this.atTs.set(line.text, (this.atTs.get(line.text) ?? 0) + 1);
    return true;
  }
}

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
    const socket = browserSocket();
    let subscriptionId: string | null = null;
    let opening = false;
    let cancelled = false;
    let finished = false; // ended for good (end of log, refusal, cap): no resume
    let frame: number | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let delay = RESUME_DELAY_MS;
    // Data can race the open's answer: keep what arrives for ids not known yet.
    const early = new Map<string, TLogsData[]>();
    let endedEarly: TLogsEnd | null = null;
    const pending: TLogLine[][] = [];
    let pendingCount = 0;
    let receivedSeq = 0; // last frame received
    let ackedSeq = 0; // last frame acknowledged to the server
    let total = 0; // lines accepted (for maxLines)
    const resumePoint = new ResumePoint();

    buffer.current = [];
    dropped.current = 0;
    setView({ lines: [], dropped: 0 });
    setStatus("connecting");
    setReason(null);
    setHeld(0);
    setCapped(false);

    const close = () => {
      if (subscriptionId) socket.emit(ClientEvent.logsClose, { subscriptionId });
      subscriptionId = null;
    };

    const flush = () => {
      frame = null;
      if (paused.current) return; // held: neither applied nor acknowledged
      if (subscriptionId && receivedSeq > ackedSeq) {
        ackedSeq = receivedSeq;
        socket.emit(ClientEvent.logsAck, { subscriptionId, seq: ackedSeq });
      }
      if (pending.length === 0) return;
      let next = buffer.current.concat(...pending.splice(0));
      pendingCount = 0;
      setHeld(0);
      if (next.length > LOG_BUFFER_LINES) {
        dropped.current += next.length - LOG_BUFFER_LINES;
        next = next.slice(next.length - LOG_BUFFER_LINES);
      }
      buffer.current = next;
      setView({ lines: next, dropped: dropped.current });
    };
    unpause.current = () => {
      frame ??= requestAnimationFrame(flush);
    };
    const accept = (data: TLogsData) => {
      receivedSeq = Math.max(receivedSeq, data.seq);
      if (finished) return;
      let lines = data.lines.filter((line) => resumePoint.accept(line));
      if (maxLines !== null && total + lines.length >= maxLines) {
        lines = lines.slice(0, maxLines - total);
        finished = true;
        close();
        setCapped(true);
        setStatus("ended");
      }
      total += lines.length;
      if (lines.length > 0) pending.push(lines);
      pendingCount += lines.length;
      if (paused.current) setHeld(pendingCount);
      else frame ??= requestAnimationFrame(flush);
    };
    const end = (message: TLogsEnd) => {
      subscriptionId = null;
      if (frame !== null) cancelAnimationFrame(frame);
      flush();
      if (message.resumable && !finished) return scheduleResume(message.reason);
      finished = true;
      setStatus(message.reason ? "error" : "ended");
      setReason(message.reason);
    };

    const scheduleResume = (why: string | null) => {
      setStatus("reconnecting");
      setReason(why);
      if (retry || cancelled) return;
      retry = setTimeout(() => {
        retry = null;
        if (socket.connected) open();
      }, delay);
      delay = Math.min(delay * 2, RESUME_DELAY_MAX_MS);
    };

    const onData = (data: TLogsData) => {
      if (data.subscriptionId === subscriptionId) accept(data);
      else if (subscriptionId === null && opening) early.set(data.subscriptionId, [...(early.get(data.subscriptionId) ?? []), data]);
    };
    const onEnd = (message: TLogsEnd) => {
      if (message.subscriptionId === subscriptionId) end(message);
      else if (subscriptionId === null && opening) endedEarly = message;
    };
    // The socket dropped (network, server restart): the server has ended this stream; reopen once it is back.
    const onDisconnect = () => {
      if (finished || cancelled) return;
      subscriptionId = null;
      setStatus("reconnecting");
      setReason("Connection to Berth lost");
    };
    const onConnect = () => {
      if (!finished && !cancelled && subscriptionId === null && !opening) open();
    };
    socket.on(ServerEvent.logsData, onData);
    socket.on(ServerEvent.logsEnd, onEnd);
    socket.on("disconnect", onDisconnect);
    socket.on("connect", onConnect);

    /** Opens (or, after a drop, reopens from the last line's timestamp). */
    function open() {
      if (opening || cancelled || finished) return;
      opening = true;
      const resuming = resumePoint.since !== null;
      if (resuming) resumePoint.reopen();
      receivedSeq = 0;
      ackedSeq = 0;
      const input = resuming
        ? { hostId, containerId, tail: null, since: resumePoint.since, until, follow, markers }
        : { hostId, containerId, tail: since ? null : tail, since, until, follow, markers };
      void request<{ subscriptionId: string }>(ClientEvent.logsOpen, input).then((ack) => {
        opening = false;
        if (cancelled) {
          if (ack.ok) socket.emit(ClientEvent.logsClose, { subscriptionId: ack.subscriptionId });
          return;
        }
        if (!ack.ok) {
          // The agent is not back yet: try again; anything else is final.
          if (resuming && ack.code === "UNAVAILABLE") return scheduleResume(ack.message);
          finished = true;
          setStatus("error");
          setReason(ack.message);
          return;
        }
        subscriptionId = ack.subscriptionId;
        delay = RESUME_DELAY_MS;
        setStatus("live");
        setReason(null);
        for (const data of early.get(subscriptionId) ?? []) accept(data);
        early.clear();
        if (endedEarly?.subscriptionId === subscriptionId) end(endedEarly);
        endedEarly = null;
      });
    }
    open();

    return () => {
      cancelled = true;
      if (frame !== null) cancelAnimationFrame(frame);
      if (retry) clearTimeout(retry);
      unpause.current = () => undefined;
      socket.off(ServerEvent.logsData, onData);
      socket.off(ServerEvent.logsEnd, onEnd);
      socket.off("disconnect", onDisconnect);
      socket.off("connect", onConnect);
      close();
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
