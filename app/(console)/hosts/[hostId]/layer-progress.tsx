"use client";

/**
 * Docker's per-layer progress of a pull or push as bars: one row per layer
 * with its stage in Docker's words and bytes, plus the last whole-transfer
 * message. Shared by "Pull image" and "Push".
 */
import type { TImagePullProgress } from "../../../../agent/protocol";
import { cx } from "../../../_components/ui";
import { formatBytes } from "../../../_lib/format";

type Layer = TImagePullProgress["layers"][number];
/** Where a layer's transfer is finished (the bar is full and green). */
const FINISHED = new Set(["Pull complete", "Already exists", "Pushed", "Layer already exists"]);
/** Stages after the bytes moved (the bar turns violet): unpacking a pulled layer. */
const AFTER_TRANSFER = new Set(["Extracting"]);

export function LayerProgress({ layers, messages, testId }: { layers: Layer[]; messages: string[]; testId: string }) {
  return (
    <>
      <ul className="flex flex-col gap-1.5">
        {layers.map((layer) => {
          const finished = FINISHED.has(layer.status);
          const fraction = finished ? 1 : layer.total ? Math.min(1, (layer.current ?? 0) / layer.total) : 0;
          return (
            <li key={layer.id} className="grid grid-cols-[7rem_1fr_9rem] items-center gap-2 text-[11px]" data-testid={`${testId}-layer`} data-status={layer.status}>
              <span className="font-mono text-zinc-400">{layer.id}</span>
              <span className="h-1.5 overflow-hidden rounded-full bg-zinc-800" role="progressbar" aria-valuenow={Math.round(fraction * 100)} aria-valuemin={0} aria-valuemax={100}>
                <span
                  className={cx("block h-full rounded-full transition-[width]", AFTER_TRANSFER.has(layer.status) ? "bg-violet-400" : fraction >= 1 ? "bg-emerald-400" : "bg-sky-400")}
                  style={{ width: `${Math.round(fraction * 100)}%` }}
                />
              </span>
              <span className="truncate text-zinc-400">
                {layer.status}
                {layer.total && !finished ? ` ${formatBytes(layer.current ?? 0)} / ${formatBytes(layer.total)}` : ""}
              </span>
            </li>
          );
        })}
      </ul>
      {messages.length ? <p className="mt-2 truncate text-[11px] text-zinc-500">{messages[messages.length - 1]}</p> : null}
    </>
  );
}
