"use client";

/**
 * An image as the stack of read-only layers it is, drawn base at the bottom:
 * each block is one layer (the instruction that made it, its size), and a
 * layer other local images also use is highlighted with their names. A
 * container adds one thin writable layer on top of such a stack; a layer
 * shared by ten images is stored once.
 */
import { useQuery } from "@tanstack/react-query";
import { Drawer } from "../../../_components/drawer";
import { Spinner, cx } from "../../../_components/ui";
import { formatBytes, shortId } from "../../../_lib/format";
import { errorMessage, useTRPC } from "../../../_lib/trpc";

/** "RUN apk add …" rather than Docker's "/bin/sh -c #(nop)  ENV …" or "/bin/sh -c apk add …". */
export function describeInstruction(createdBy: string | null): string {
  if (!createdBy) return "(unknown step)";
  const nop = /^\/bin\/sh -c #\(nop\)\s+(.*)$/s.exec(createdBy);
  if (nop) return nop[1]!.trim();
  const run = /^\/bin\/sh -c (.*)$/s.exec(createdBy);
  if (run) return `RUN ${run[1]!.trim()}`;
  return createdBy.replace(/\s*# buildkit$/, "").trim();
}

export function ImageLayers({ hostId, imageId, title, onClose }: { hostId: string; imageId: string | null; title: string; onClose: () => void }) {
  const trpc = useTRPC();
  const layers = useQuery({ ...trpc.images.layers.queryOptions({ hostId, imageId: imageId ?? "" }), enabled: imageId !== null });
  const view = layers.data;
  const largest = Math.max(1, ...(view?.layers ?? []).map((l) => l.sizeBytes ?? 0));

  return (
    <Drawer open={imageId !== null} onClose={onClose} wide testId="image-layers" title={<span className="font-mono">{title}</span>} subtitle={imageId ? shortId(imageId) : undefined}>
      {layers.isPending ? (
        <div className="flex justify-center py-10 text-zinc-500">
          <Spinner />
        </div>
      ) : layers.isError ? (
        <p role="alert" className="text-sm text-red-300">
          {errorMessage(layers.error)}
        </p>
      ) : view ? (
        <div className="flex flex-col gap-5">
          <div className="grid grid-cols-3 gap-3 text-xs" data-testid="image-layers-summary">
            <Fact label="Layers" value={String(view.layers.length)} />
            <Fact label="Shared with other images" value={formatBytes(view.sharedBytes)} tone="shared" testId="image-layers-shared-bytes" />
            <Fact label="Only this image" value={formatBytes(view.uniqueBytes)} tone="unique" testId="image-layers-unique-bytes" />
          </div>

          <section>
            <h3 className="mb-2 text-[11px] font-medium tracking-wide text-zinc-500 uppercase">Layer stack (newest on top)</h3>
            <ol className="flex flex-col-reverse gap-1" data-testid="image-layer-stack">
              {view.layers.map((layer, index) => {
                const shared = layer.sharedWith.length > 0;
                const names = layer.sharedWith.map((other) => other.tags[0] ?? shortId(other.id));
                return (
                  <li
                    key={layer.digest}
                    data-testid="image-layer"
                    data-shared={shared || undefined}
                    className={cx(
                      "relative overflow-hidden rounded-md border px-3 py-2",
                      shared ? "border-sky-500/40 bg-sky-500/10" : "border-amber-500/30 bg-amber-500/5",
                    )}
                  >
                    {/* The bar behind shows the layer's size against the largest one. */}
                    <div
                      aria-hidden
                      className={cx("absolute inset-y-0 left-0", shared ? "bg-sky-500/15" : "bg-amber-500/10")}
                      style={{ width: `${Math.max(2, Math.round(((layer.sizeBytes ?? 0) / largest) * 100))}%` }}
                    />
                    <div className="relative flex items-baseline justify-between gap-3">
                      <span className="min-w-0 truncate font-mono text-xs text-zinc-100" title={layer.createdBy ?? undefined}>
                        <span className="mr-2 text-zinc-500">{index === 0 ? "base" : `#${index + 1}`}</span>
                        {describeInstruction(layer.createdBy)}
                      </span>
                      <span className="shrink-0 text-xs text-zinc-300 tabular-nums">{layer.sizeBytes === null ? "—" : formatBytes(layer.sizeBytes)}</span>
                    </div>
                    <div className="relative mt-0.5 flex items-center justify-between gap-3 text-[11px]">
                      <span className="font-mono text-zinc-500">{layer.digest.replace(/^sha256:/, "").slice(0, 12)}</span>
                      <span className={shared ? "text-sky-300" : "text-amber-300/80"} data-testid="image-layer-sharing" title={shared ? `Shared with:\n${names.join("\n")}` : undefined}>
                        {shared ? `shared with ${names.slice(0, 3).join(", ")}${names.length > 3 ? ` and ${names.length - 3} more` : ""}` : "only this image"}
                      </span>
                    </div>
                  </li>
                );
              })}
            </ol>
            <p className="mt-2 text-[11px] text-zinc-500">
              Layers are read-only and stored once, however many images use them. A container adds one thin writable layer on top.
            </p>
          </section>

          <section>
            <h3 className="mb-2 text-[11px] font-medium tracking-wide text-zinc-500 uppercase">Build history (oldest first)</h3>
            <table className="w-full text-xs" data-testid="image-history">
              <tbody className="divide-y divide-zinc-800/70">
                {view.history.map((step, i) => (
                  <tr key={i} className={step.makesLayer ? "" : "text-zinc-500"}>
                    <td className="py-1 pr-3 font-mono break-all">{describeInstruction(step.createdBy)}</td>
                    <td className="py-1 pr-3 text-right whitespace-nowrap tabular-nums">{step.makesLayer ? formatBytes(step.sizeBytes) : "no layer"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </div>
      ) : null}
    </Drawer>
  );
}

function Fact({ label, value, tone, testId }: { label: string; value: string; tone?: "shared" | "unique"; testId?: string }) {
  return (
    <div className="rounded-md border border-zinc-800 px-3 py-2">
      <div className="text-zinc-500">{label}</div>
      <div data-testid={testId} className={cx("mt-0.5 text-sm font-medium tabular-nums", tone === "shared" ? "text-sky-300" : tone === "unique" ? "text-amber-300" : "text-zinc-100")}>
        {value}
      </div>
    </div>
  );
}
