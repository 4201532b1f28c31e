"use client";

/**
 * One container's log, live, over the page's browser socket. The buffer is
 * bounded (oldest lines dropped past `LOG_BUFFER_LINES`) and lines arriving in
 * a burst are applied once per animation frame, so a chatty container cannot
 * freeze the tab.
 */
import { useEffect, useRef, useState } from "react";
import type { TLogLine } from "../../agent/protocol";
import { ClientEvent, ServerEvent, type TLogsData, type TLogsEnd } from "../../server/gateway/browser-protocol";
import { browserSocket, request } from "./browser-socket";

export const LOG_BUFFER_LINES = 10_000;

export type LogStreamStatus = "connecting" | "live" | "ended" | "error";

export type LogStreamOptions = {
  hostId: string;
  containerId: string;
  tail: number | null;
  follow: boolean;
  /** Bump to reopen with the same options (after an error or an end). */
  generation: number;
};

export type LogStream = {
  lines: TLogLine[];
  /** Lines dropped from the front of the buffer since it was opened. */
  dropped: number;
  status: LogStreamStatus;
  /** Why it ended or failed; null when it simply reached the end of the log. */
  reason: string | null;
  clear(): void;
};

export function useLogStream(options: LogStreamOptions, enabled: boolean): LogStream {
  const { hostId, containerId, tail, follow, generation } = options;
  const buffer = useRef<TLogLine[]>([]);
  const [view, setView] = useState<{ lines: TLogLine[]; dropped: number }>({ lines: [], dropped: 0 });
  const [status, setStatus] = useState<LogStreamStatus>("connecting");
  const [reason, setReason] = useState<string | null>(null);
  const dropped = useRef(0);

  useEffect(() => {
    if (!enabled) return;
    const socket = browserSocket();
    let subscriptionId: string | null = null;
    let cancelled = false;
    let frame: number | null = null;
    // Data can race the open's answer: keep what arrives for ids not known yet.
    const early = new Map<string, TLogLine[][]>();
    let endedEarly: TLogsEnd | null = null;
    const pending: TLogLine[][] = [];

    buffer.current = [];
    dropped.current = 0;
    setView({ lines: [], dropped: 0 });
    setStatus("connecting");
    setReason(null);

    const flush = () => {
      frame = null;
      if (pending.length === 0) return;
      let next = buffer.current.concat(...pending.splice(0));
      if (next.length > LOG_BUFFER_LINES) {
        dropped.current += next.length - LOG_BUFFER_LINES;
        next = next.slice(next.length - LOG_BUFFER_LINES);
      }
      buffer.current = next;
      setView({ lines: next, dropped: dropped.current });
    };
    const accept = (lines: TLogLine[]) => {
      pending.push(lines);
      frame ??= requestAnimationFrame(flush);
    };
    const end = (message: TLogsEnd) => {
      if (frame !== null) cancelAnimationFrame(frame);
      flush();
      setStatus(message.reason ? "error" : "ended");
      setReason(message.reason);
    };

    const onData = (data: TLogsData) => {
      if (data.subscriptionId === subscriptionId) accept(data.lines);
      else if (subscriptionId === null) early.set(data.subscriptionId, [...(early.get(data.subscriptionId) ?? []), data.lines]);
    };
    const onEnd = (message: TLogsEnd) => {
      if (message.subscriptionId === subscriptionId) end(message);
      else if (subscriptionId === null) endedEarly = message;
    };
    // The socket dropped (network, server restart): the server has ended this stream.
    const onDisconnect = () => {
      if (subscriptionId) end({ subscriptionId, reason: "Connection to Berth lost" });
    };
    socket.on(ServerEvent.logsData, onData);
    socket.on(ServerEvent.logsEnd, onEnd);
    socket.on("disconnect", onDisconnect);

    void request<{ subscriptionId: string }>(ClientEvent.logsOpen, { hostId, containerId, tail, follow }).then((ack) => {
      if (cancelled) {
        if (ack.ok) socket.emit(ClientEvent.logsClose, { subscriptionId: ack.subscriptionId });
        return;
      }
      if (!ack.ok) {
        setStatus("error");
        setReason(ack.message);
        return;
      }
      subscriptionId = ack.subscriptionId;
      setStatus("live");
      for (const lines of early.get(subscriptionId) ?? []) accept(lines);
      early.clear();
      if (endedEarly?.subscriptionId === subscriptionId) end(endedEarly);
    });

    return () => {
      cancelled = true;
      if (frame !== null) cancelAnimationFrame(frame);
      socket.off(ServerEvent.logsData, onData);
      socket.off(ServerEvent.logsEnd, onEnd);
      socket.off("disconnect", onDisconnect);
      if (subscriptionId) socket.emit(ClientEvent.logsClose, { subscriptionId });
    };
  }, [enabled, hostId, containerId, tail, follow, generation]);

  return {
    lines: view.lines,
    dropped: view.dropped,
    status,
    reason,
    clear() {
      buffer.current = [];
      setView({ lines: [], dropped: dropped.current });
    },
  };
}
