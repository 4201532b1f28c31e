"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useMemo, useState } from "react";
import { RelativeTime } from "../../../_components/status";
import { EmptyRow, FilterInput, PlainHeader, SortHeader, TableFrame, useSortedRows } from "../../../_components/table";
import { useToasts } from "../../../_components/toasts";
import { Button, Spinner, cx } from "../../../_components/ui";
import { formatBytes, imageReferences, plural, shortId } from "../../../_lib/format";
import { errorMessage, useTRPC, type Image } from "../../../_lib/trpc";
import { UpdateBadge } from "../../_components/image-update";
import type { Loadable } from "./containers-table";
import { ImageActions, PruneImagesButton } from "./image-actions";
import { ImageLayers } from "./image-layers";

const IMAGE_SORT = {
  reference: (i: Image) => (i.repoTags[0] ?? `~${i.dockerId}`),
  id: (i: Image) => shortId(i.dockerId),
  size: (i: Image) => Number(i.sizeBytes),
  created: (i: Image) => -i.createdAt.getTime(),
  containers: (i: Image) => i.containers,
};

/** Docker's words: dangling = no tag; unused = no container (any state) made from it. */
const IMAGE_FILTERS = {
  all: { label: "All", keep: () => true },
  dangling: { label: "Dangling", keep: (i: Image) => i.repoTags.length === 0 },
  unused: { label: "Unused", keep: (i: Image) => i.containers === 0 },
  updates: { label: "Update available", keep: (i: Image) => i.updates.some((u) => u.status === "outdated") },
} as const;
type ImageFilter = keyof typeof IMAGE_FILTERS;

export function ImagesTable({ hostId, query }: { hostId: string; query: Loadable<Image[]> }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [text, setText] = useState("");
  const [only, setOnly] = useState<ImageFilter>("all");
  const [open, setOpen] = useState<{ id: string; title: string } | null>(null);
  const check = useMutation(
    trpc.images.checkUpdates.mutationOptions({
      onSuccess: (r) => toasts.success("Update check done", `${plural(r.checked, "tag")} checked, ${r.outdated} with an update`),
      onError: (error) => toasts.error("Could not check for updates", errorMessage(error)),
      // The live event normally refreshes the list; this covers a dropped stream.
      onSettled: () => queryClient.invalidateQueries(trpc.images.list.queryFilter({ hostId })),
    }),
  );
  const all = query.data;
  const filtered = useMemo(() => {
    const needle = text.trim().toLowerCase();
    return (all ?? []).filter(
      (i) =>
        IMAGE_FILTERS[only].keep(i) &&
        (!needle || imageReferences(i).some((r) => r.toLowerCase().includes(needle)) || shortId(i.dockerId).includes(needle) || i.repoDigests.some((d) => d.toLowerCase().includes(needle))),
    );
  }, [all, text, only]);
  const { sorted, sort, toggle } = useSortedRows(filtered, IMAGE_SORT, { key: "reference", dir: "asc" });
  const head = { sort, onSort: toggle };
  const totalSize = (all ?? []).reduce((n, i) => n + Number(i.sizeBytes), 0);

  return (
    <>
    <TableFrame
      toolbar={
        <>
          <FilterInput value={text} onChange={setText} label="Filter images" placeholder="Filter by repository, tag, digest or id" />
          <div role="group" aria-label="Show" className="flex overflow-hidden rounded-md border border-zinc-700">
            {(Object.keys(IMAGE_FILTERS) as ImageFilter[]).map((key) => (
              <button
                key={key}
                type="button"
                aria-pressed={only === key}
                data-testid={`images-filter-${key}`}
                onClick={() => setOnly(key)}
                className={cx("h-7 px-2.5 text-xs transition-colors", only === key ? "bg-zinc-700 text-zinc-100" : "text-zinc-400 hover:bg-zinc-800")}
              >
                {IMAGE_FILTERS[key].label}
              </button>
            ))}
          </div>
          <Button size="xs" className="ml-auto" loading={check.isPending} onClick={() => check.mutate({ hostId })} data-testid="images-check-updates" title="Ask the registries whether the tags pulled here still name the same image">
            Check for updates
          </Button>
          <PruneImagesButton hostId={hostId} />
        </>
      }
      footer={all ? `${plural(sorted.length, "image")}${sorted.length !== all.length ? ` of ${all.length}` : ""} · ${formatBytes(totalSize)} in total` : undefined}
    >
      <thead className="border-b border-zinc-800 bg-zinc-900/60">
        <tr>
          <SortHeader label="Reference" column="reference" {...head} className="pl-4" />
          <SortHeader label="ID" column="id" {...head} />
          <SortHeader label="Size" column="size" {...head} align="right" />
          <SortHeader label="Created" column="created" {...head} />
          <SortHeader label="Used by" column="containers" {...head} className="pr-4" />
          <PlainHeader label="Updates" className="pr-4" />
          <th className="w-8 pr-3" aria-label="Actions" />
        </tr>
      </thead>
      <tbody className="divide-y divide-zinc-800/70">
        {query.isPending ? (
          <EmptyRow colSpan={8}>
            <Spinner className="mx-auto size-4" />
          </EmptyRow>
        ) : query.error ? (
          <EmptyRow colSpan={8}>Could not load images: {errorMessage(query.error)}</EmptyRow>
        ) : sorted.length === 0 ? (
          <EmptyRow colSpan={8}>{(all ?? []).length === 0 ? "No images on this host." : "No image matches the filter."}</EmptyRow>
        ) : (
          sorted.map((image) => (
            <tr
              key={image.dockerId}
              data-testid={`image-row-${shortId(image.dockerId)}`}
              className="cursor-pointer transition-colors hover:bg-zinc-800/30"
              title="Show its layers"
              onClick={() => setOpen({ id: image.dockerId, title: image.repoTags[0] ?? shortId(image.dockerId) })}
            >
              <td className="py-1.5 pr-3 pl-4 font-mono text-xs">
                {image.repoTags.length > 0 ? (
                  image.repoTags.map((tag) => (
                    <div key={tag} className="text-zinc-100">
                      {tag}
                    </div>
                  ))
                ) : (
                  <div className="text-zinc-500">&lt;none&gt;</div>
                )}
                {image.repoDigests.map((digest) => (
                  <div key={digest} className="truncate text-[11px] text-zinc-500" title={digest}>
                    {digest.replace(/(@sha256:[0-9a-f]{12})[0-9a-f]+$/, "$1…")}
                  </div>
                ))}
              </td>
              <td className="px-3 py-1.5 font-mono text-xs text-zinc-400">{shortId(image.dockerId)}</td>
              <td className="px-3 py-1.5 text-right whitespace-nowrap text-zinc-300 tabular-nums">{formatBytes(image.sizeBytes)}</td>
              <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400">
                <RelativeTime date={image.createdAt} />
              </td>
              <td className="py-1.5 pr-4 pl-3 text-xs" data-testid={`image-used-by-${shortId(image.dockerId)}`}>
                {image.usedBy.length === 0 ? (
                  <span className="text-zinc-600">unused</span>
                ) : (
                  <div className="flex flex-wrap gap-x-2">
                    {image.usedBy.slice(0, 3).map((c) => (
                      <Link key={c.dockerId} href={`/hosts/${hostId}/containers/${c.dockerId}`} onClick={(e) => e.stopPropagation()} className="text-sky-300 hover:underline" title={c.state}>
                        {c.name}
                      </Link>
                    ))}
                    {image.usedBy.length > 3 ? <span className="text-zinc-500">+{image.usedBy.length - 3} more</span> : null}
                  </div>
                )}
              </td>
              <td className="py-1.5 pr-4 pl-3">
                <div className="flex flex-col items-start gap-0.5">
                  {image.updates.map((u) => (
                    <UpdateBadge key={u.reference} check={u} testId={`image-update-${shortId(image.dockerId)}`} />
                  ))}
                </div>
              </td>
              <td className="py-1.5 pr-3 text-right">
                <ImageActions hostId={hostId} image={image} />
              </td>
            </tr>
          ))
        )}
      </tbody>
    </TableFrame>
    <ImageLayers hostId={hostId} imageId={open?.id ?? null} title={open?.title ?? ""} onClose={() => setOpen(null)} />
    </>
  );
}
