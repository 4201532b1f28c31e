"use client";

import { useMemo, useState } from "react";
import { RelativeTime } from "../../../_components/status";
import { EmptyRow, FilterInput, SortHeader, TableFrame, useSortedRows } from "../../../_components/table";
import { Spinner } from "../../../_components/ui";
import { formatBytes, imageReferences, plural, shortId } from "../../../_lib/format";
import { errorMessage, type Image } from "../../../_lib/trpc";
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

export function ImagesTable({ hostId, query }: { hostId: string; query: Loadable<Image[]> }) {
  const [text, setText] = useState("");
  const [open, setOpen] = useState<{ id: string; title: string } | null>(null);
  const all = query.data;
  const filtered = useMemo(() => {
    const needle = text.trim().toLowerCase();
    if (!needle) return all ?? [];
    return (all ?? []).filter((i) => imageReferences(i).some((r) => r.toLowerCase().includes(needle)) || shortId(i.dockerId).includes(needle));
  }, [all, text]);
  const { sorted, sort, toggle } = useSortedRows(filtered, IMAGE_SORT, { key: "reference", dir: "asc" });
  const head = { sort, onSort: toggle };
  const totalSize = (all ?? []).reduce((n, i) => n + Number(i.sizeBytes), 0);

  return (
    <>
    <TableFrame
      toolbar={
        <>
          <FilterInput value={text} onChange={setText} label="Filter images" placeholder="Filter by repository, tag or id" />
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
          <SortHeader label="Containers" column="containers" {...head} align="right" className="pr-4" />
          <th className="w-8 pr-3" aria-label="Actions" />
        </tr>
      </thead>
      <tbody className="divide-y divide-zinc-800/70">
        {query.isPending ? (
          <EmptyRow colSpan={6}>
            <Spinner className="mx-auto size-4" />
          </EmptyRow>
        ) : query.error ? (
          <EmptyRow colSpan={6}>Could not load images: {errorMessage(query.error)}</EmptyRow>
        ) : sorted.length === 0 ? (
          <EmptyRow colSpan={6}>{(all ?? []).length === 0 ? "No images on this host." : "No image matches the filter."}</EmptyRow>
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
              </td>
              <td className="px-3 py-1.5 font-mono text-xs text-zinc-400">{shortId(image.dockerId)}</td>
              <td className="px-3 py-1.5 text-right whitespace-nowrap text-zinc-300 tabular-nums">{formatBytes(image.sizeBytes)}</td>
              <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400">
                <RelativeTime date={image.createdAt} />
              </td>
              <td className="py-1.5 pr-4 pl-3 text-right tabular-nums">
                {image.containers > 0 ? <span className="text-zinc-200">{image.containers}</span> : <span className="text-zinc-600">0</span>}
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
