"use client";

/**
 * Live stats of one container (or, with `containerId` null, a host's totals)
 * over the page's browser socket. The server shares one agent stream among
 * every viewer and sends the last minute at once on open, then one sample a
 * second. The page keeps a bounded window of samples (`STATS_WINDOW`).
 */
import { useEffect, useState } from "react";
import { ClientEvent, ServerEvent, type TStatsData, type TStatsEnd, type TStatsPoint } from "../../server/gateway/browser-protocol";
import { browserSocket, request } from "./browser-socket";

/** Samples shown: two minutes at one a second. */
export const STATS_WINDOW = 120;

export type StatsStreamStatus = "connecting" | "live" | "ended" | "error";
export type StatsStream = { samples: TStatsPoint[]; status: StatsStreamStatus; reason: string | null };

export function useStatsStream(opts: { hostId: string; containerId: string | null; generation?: number }, enabled: boolean): StatsStream {
  const { hostId, containerId, generation = 0 } = opts;
  const [samples, setSamples] = useState<TStatsPoint[]>([]);
  const [status, setStatus] = useState<StatsStreamStatus>("connecting");
  const [reason, setReason] = useState<string | null>(null);

  useEffect(() => {
    if (!enabled) return;
    const socket = browserSocket();
    let subscriptionId: string | null = null;
    let cancelled = false;
    const early = new Map<string, TStatsPoint[]>();
    let endedEarly: TStatsEnd | null = null;
    setSamples([]);
    setStatus("connecting");
    setReason(null);

    const accept = (points: TStatsPoint[]) =>
      setSamples((current) => {
        const next = current.concat(points);
        return next.length > STATS_WINDOW ? next.slice(next.length - STATS_WINDOW) : next;
      });
    const end = (message: TStatsEnd) => {
      setStatus(message.reason ? "error" : "ended");
      setReason(message.reason);
    };
    const onData = (data: TStatsData) => {
      if (data.subscriptionId === subscriptionId) accept(data.samples);
      else if (subscriptionId === null) early.set(data.subscriptionId, [...(early.get(data.subscriptionId) ?? []), ...data.samples]);
    };
    const onEnd = (message: TStatsEnd) => {
      if (message.subscriptionId === subscriptionId) end(message);
      else if (subscriptionId === null) endedEarly = message;
    };
    const onDisconnect = () => {
      if (subscriptionId) end({ subscriptionId, reason: "Connection to Berth lost" });
    };
    socket.on(ServerEvent.statsData, onData);
    socket.on(ServerEvent.statsEnd, onEnd);
    socket.on("disconnect", onDisconnect);

    void request<{ subscriptionId: string }>(ClientEvent.statsOpen, { hostId, containerId }).then((ack) => {
      if (cancelled) {
        if (ack.ok) socket.emit(ClientEvent.statsClose, { subscriptionId: ack.subscriptionId });
        return;
      }
      if (!ack.ok) {
        setStatus("error");
        setReason(ack.message);
        return;
      }
      subscriptionId = ack.subscriptionId;
      setStatus("live");
      accept(early.get(subscriptionId) ?? []);
      early.clear();
      if (endedEarly?.subscriptionId === subscriptionId) end(endedEarly);
    });

    return () => {
      cancelled = true;
      socket.off(ServerEvent.statsData, onData);
      socket.off(ServerEvent.statsEnd, onEnd);
      socket.off("disconnect", onDisconnect);
      if (subscriptionId) socket.emit(ClientEvent.statsClose, { subscriptionId });
    };
  }, [enabled, hostId, containerId, generation]);

  return { samples, status, reason };
}

/** Per-second rates from Docker's running totals (a counter that went backwards — a restart — reads 0). */
export function rates(samples: TStatsPoint[], pick: (s: TStatsPoint) => number): Array<number | null> {
  return samples.map((s, i) => {
    if (i === 0) return null;
    const prev = samples[i - 1]!;
    const seconds = (new Date(s.at).getTime() - new Date(prev.at).getTime()) / 1000;
    if (seconds <= 0) return null;
    return Math.max(0, pick(s) - pick(prev)) / seconds;
  });
}
