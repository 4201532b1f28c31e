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
 * instead of piling frames up in its own memory or the server's.
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
  /** Insert "container started" / "container exited" marker lines. */
  markers?: boolean;
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
  const markers = options.markers ?? false;
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
    const early = new Map<string, TLogsData[]>();
    let endedEarly: TLogsEnd | null = null;
    const pending: TLogLine[][] = [];
    let receivedSeq = 0; // last frame received
    let ackedSeq = 0; // last frame acknowledged to the server

    buffer.current = [];
    dropped.current = 0;
    setView({ lines: [], dropped: 0 });
    setStatus("connecting");
    setReason(null);

    const flush = () => {
      frame = null;
      if (subscriptionId && receivedSeq > ackedSeq) {
        ackedSeq = receivedSeq;
        socket.emit(ClientEvent.logsAck, { subscriptionId, seq: ackedSeq });
      }
      if (pending.length === 0) return;
      let next = buffer.current.concat(...pending.splice(0));
      if (next.length > LOG_BUFFER_LINES) {
        dropped.current += next.length - LOG_BUFFER_LINES;
        next = next.slice(next.length - LOG_BUFFER_LINES);
      }
      buffer.current = next;
      setView({ lines: next, dropped: dropped.current });
    };
    const accept = (data: TLogsData) => {
      pending.push(data.lines);
      receivedSeq = Math.max(receivedSeq, data.seq);
      frame ??= requestAnimationFrame(flush);
    };
    const end = (message: TLogsEnd) => {
      if (frame !== null) cancelAnimationFrame(frame);
      flush();
      setStatus(message.reason ? "error" : "ended");
      setReason(message.reason);
    };

    const onData = (data: TLogsData) => {
      if (data.subscriptionId === subscriptionId) accept(data);
      else if (subscriptionId === null) early.set(data.subscriptionId, [...(early.get(data.subscriptionId) ?? []), data]);
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

    void request<{ subscriptionId: string }>(ClientEvent.logsOpen, { hostId, containerId, tail, follow, markers }).then((ack) => {
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
      for (const data of early.get(subscriptionId) ?? []) accept(data);
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
  }, [enabled, hostId, containerId, tail, follow, generation, markers]);

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
