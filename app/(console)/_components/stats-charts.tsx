"use client";

/**
 * Live stats charts (uPlot: canvas, small, fast enough to redraw every second).
 * One chart per metric: CPU, memory, network and block I/O rates. The chart is
 * created once per mount and fed with `setData`, never rebuilt per sample.
 */
import "uplot/dist/uPlot.min.css";
import { useEffect, useMemo, useRef } from "react";
import type uPlot from "uplot";
import type { TStatsPoint } from "../../../server/gateway/browser-protocol";
import { formatBytes } from "../../_lib/format";
import { rates } from "../../_lib/use-stats-stream";

type Series = { label: string; color: string; values: Array<number | null> };

export function StatsChart({
  title,
  current,
  times,
  series,
  format,
  testId,
  min = 0,
  max,
}: {
  title: string;
  current: string;
  /** Unix seconds. */
  times: number[];
  series: Series[];
  format: (v: number) => string;
  testId: string;
  min?: number;
  max?: number;
}) {
  const holder = useRef<HTMLDivElement | null>(null);
  const plot = useRef<uPlot | null>(null);
  const data = useMemo(() => [times, ...series.map((s) => s.values)] as uPlot.AlignedData, [times, series]);
  const dataRef = useRef(data);
  dataRef.current = data;
  const seriesKey = series.map((s) => `${s.label}:${s.color}`).join("|");

  useEffect(() => {
    let disposed = false;
    let observer: ResizeObserver | null = null;
    void import("uplot").then(({ default: UPlot }) => {
      if (disposed || !holder.current) return;
      const el = holder.current;
      const opts: uPlot.Options = {
        width: Math.max(200, el.clientWidth),
        height: 140,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, lo, hi) => [Math.min(min, lo), max !== undefined ? Math.max(max, hi) : Math.max(hi * 1.1, min + 1)] } },
        axes: [
          // Neutral and translucent: readable on the dark and the light theme alike.
          { stroke: "#71717a", grid: { stroke: "rgba(113,113,122,0.18)", width: 1 }, ticks: { stroke: "rgba(113,113,122,0.3)", size: 4 }, font: "10px sans-serif" },
          {
            stroke: "#71717a",
            grid: { stroke: "rgba(113,113,122,0.18)", width: 1 },
            ticks: { stroke: "rgba(113,113,122,0.3)", size: 4 },
            font: "10px sans-serif",
            size: 64,
            values: (_u, vals) => vals.map((v) => format(v)),
          },
        ],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, fill: `${s.color}22`, points: { show: false } }))],
      };
      plot.current = new UPlot(opts, dataRef.current, el);
      observer = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: 140 }));
      observer.observe(el);
    });
    return () => {
      disposed = true;
      observer?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; data flows through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [seriesKey]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <div className="rounded-lg border border-zinc-800 bg-zinc-900/40 p-3" data-testid={testId} data-points={times.length}>
      <div className="mb-1 flex items-baseline justify-between gap-2">
        <h3 className="text-xs font-semibold text-zinc-300">{title}</h3>
        <span className="font-mono text-xs text-zinc-100 tabular-nums" data-testid={`${testId}-current`}>
          {current}
        </span>
      </div>
      <div className="flex gap-3 text-[11px] text-zinc-500">
        {series.map((s) => (
          <span key={s.label} className="flex items-center gap-1">
            <span className="inline-block size-2 rounded-full" style={{ background: s.color }} />
            {s.label}
          </span>
        ))}
      </div>
      <div ref={holder} className="mt-1 w-full" />
    </div>
  );
}

const perSecond = (v: number) => `${formatBytes(v)}/s`;

/** The four charts of a container (or a host's totals) from a window of samples. */
export function StatsCharts({ samples, testIdPrefix = "stats" }: { samples: TStatsPoint[]; testIdPrefix?: string }) {
  const view = useMemo(() => {
    const times = samples.map((s) => new Date(s.at).getTime() / 1000);
    return {
      times,
      cpu: [{ label: "CPU %", color: "#38bdf8", values: samples.map((s) => s.cpuPercent) }],
      mem: [{ label: "Used", color: "#a78bfa", values: samples.map((s) => s.memUsage) }],
      net: [
        { label: "Received", color: "#34d399", values: rates(samples, (s) => s.netRx) },
        { label: "Sent", color: "#fbbf24", values: rates(samples, (s) => s.netTx) },
      ],
      blk: [
        { label: "Read", color: "#60a5fa", values: rates(samples, (s) => s.blkRead) },
        { label: "Written", color: "#f87171", values: rates(samples, (s) => s.blkWrite) },
      ],
    };
  }, [samples]);
  const last = samples.at(-1);
  const lastRate = (series: Series) => series.values.at(-1) ?? null;
  return (
    <div className="grid gap-3 md:grid-cols-2" data-testid={`${testIdPrefix}-charts`} data-samples={samples.length}>
      <StatsChart
        title="CPU"
        testId={`${testIdPrefix}-cpu`}
        current={last?.cpuPercent != null ? `${last.cpuPercent.toFixed(1)} %` : "—"}
        times={view.times}
        series={view.cpu}
        format={(v) => `${Math.round(v)}%`}
      />
      <StatsChart
        title="Memory"
        testId={`${testIdPrefix}-memory`}
        current={last ? `${formatBytes(last.memUsage)} / ${formatBytes(last.memLimit)}` : "—"}
        times={view.times}
        series={view.mem}
        format={(v) => formatBytes(v)}
      />
      <StatsChart
        title="Network"
        testId={`${testIdPrefix}-network`}
        current={last ? `↓ ${perSecond(lastRate(view.net[0]!) ?? 0)} ↑ ${perSecond(lastRate(view.net[1]!) ?? 0)}` : "—"}
        times={view.times}
        series={view.net}
        format={perSecond}
      />
      <StatsChart
        title="Block I/O"
        testId={`${testIdPrefix}-block`}
        current={last ? `R ${perSecond(lastRate(view.blk[0]!) ?? 0)} W ${perSecond(lastRate(view.blk[1]!) ?? 0)}` : "—"}
        times={view.times}
        series={view.blk}
        format={perSecond}
      />
    </div>
  );
}
