"use client";

/**
 * Every image on every host the user may see, one row per image id: the same
 * image on several hosts is one row naming those hosts. Its tags and digests,
 * size, the containers using it across the fleet (links to them), and whether
 * a registry has something newer for one of its tags. Grouping and filters
 * run on the server (`images.fleet`); the page stays live through the
 * console's one subscription.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { RelativeTime } from "../../_components/status";
import { EmptyRow, FilterInput, PlainHeader, TableFrame } from "../../_components/table";
import { PageHeader, Spinner, cx } from "../../_components/ui";
import { formatBytes, plural, shortId } from "../../_lib/format";
import { errorMessage, useTRPC } from "../../_lib/trpc";
import { useDebounced } from "../../_lib/use-debounced";
import { useDocumentTitle } from "../../_lib/use-document-title";
import { Badge } from "../../_components/status";

const ONLY = { all: "All", dangling: "Dangling", unused: "Unused", updates: "Update available" } as const;
type Only = keyof typeof ONLY;
const selectClass = "h-7 rounded-md border border-zinc-700 bg-zinc-900 px-2 text-xs text-zinc-100 outline-none focus:border-sky-500";

export default function ImagesPage() {
  useDocumentTitle("Images");
  const trpc = useTRPC();
  const [text, setText] = useState("");
  const [only, setOnly] = useState<Only>("all");
  const [hostId, setHostId] = useState("");
  const needle = useDebounced(text, 250).trim();
  const hosts = useQuery(trpc.hosts.list.queryOptions());
  const query = useQuery(
    trpc.images.fleet.queryOptions(
      { text: needle || undefined, hostIds: hostId ? [hostId] : undefined, dangling: only === "dangling" || undefined, unused: only === "unused" || undefined, updates: only === "updates" || undefined },
      { placeholderData: keepPreviousData },
    ),
  );
  const images = query.data?.images ?? [];
  const columns = 6;

  return (
    <div className="flex flex-col gap-5">
      <PageHeader title="Images" description="Every image on the hosts you can see; the same image id on several hosts is one row." testId="images-page" />
      <TableFrame
        toolbar={
          <>
            <FilterInput value={text} onChange={setText} label="Filter images" placeholder="Filter by tag, digest or id" />
            <div role="group" aria-label="Show" className="flex overflow-hidden rounded-md border border-zinc-700">
              {(Object.keys(ONLY) as Only[]).map((key) => (
                <button
                  key={key}
                  type="button"
                  aria-pressed={only === key}
                  data-testid={`fleet-images-filter-${key}`}
                  onClick={() => setOnly(key)}
                  className={cx("h-7 px-2.5 text-xs transition-colors", only === key ? "bg-zinc-700 text-zinc-100" : "text-zinc-400 hover:bg-zinc-800")}
                >
                  {ONLY[key]}
                </button>
              ))}
            </div>
            <select aria-label="Host" className={selectClass} value={hostId} onChange={(e) => setHostId(e.target.value)} data-testid="fleet-images-host">
              <option value="">All hosts</option>
              {(hosts.data ?? []).map((h) => (
                <option key={h.id} value={h.id}>
                  {h.name}
                </option>
              ))}
            </select>
          </>
        }
        footer={
          query.data ? (
            <span data-testid="fleet-images-count">
              {plural(images.length, "image")} · {formatBytes(images.reduce((n, i) => n + i.sizeBytes, 0))} (each counted once)
              {query.data.truncated ? " · the fleet has more image rows than one answer reads: narrow by host" : ""}
              {query.isFetching ? <Spinner className="ml-2 inline size-3" label="Refreshing" /> : null}
            </span>
          ) : undefined
        }
      >
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <PlainHeader label="Tags and digests" className="pl-4" />
            <PlainHeader label="ID" />
            <PlainHeader label="Size" />
            <PlainHeader label="Created" />
            <PlainHeader label="Hosts" />
            <PlainHeader label="Used by" className="pr-4" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {query.isPending ? (
            <EmptyRow colSpan={columns}>
              <Spinner className="mx-auto size-4" />
            </EmptyRow>
          ) : query.error ? (
            <EmptyRow colSpan={columns}>Could not load images: {errorMessage(query.error)}</EmptyRow>
          ) : images.length === 0 ? (
            <EmptyRow colSpan={columns}>{only === "all" && !needle && !hostId ? "No images on the hosts you can see." : "No image matches the filter."}</EmptyRow>
          ) : (
            images.map((image) => (
              <tr key={image.imageId} data-testid={`fleet-image-${shortId(image.imageId)}`} className="align-top">
                <td className="py-1.5 pr-3 pl-4 font-mono text-xs">
                  {image.repoTags.length > 0 ? image.repoTags.map((tag) => <div key={tag} className="text-zinc-100">{tag}</div>) : <div className="text-zinc-500">&lt;none&gt;</div>}
                  {image.repoDigests.map((digest) => (
                    <div key={digest} className="truncate text-[11px] text-zinc-500" title={digest}>
                      {digest.replace(/(@sha256:[0-9a-f]{12})[0-9a-f]+$/, "$1…")}
                    </div>
                  ))}
                  {image.updateAvailable ? (
                    <div className="mt-0.5">
                      <Badge tone="amber" testId={`fleet-image-update-${shortId(image.imageId)}`} title="A registry has a newer image for one of its tags on the hosts marked">
                        update available
                      </Badge>
                    </div>
                  ) : null}
                </td>
                <td className="px-3 py-1.5 font-mono text-xs text-zinc-400">{shortId(image.imageId)}</td>
                <td className="px-3 py-1.5 whitespace-nowrap text-zinc-300 tabular-nums">{formatBytes(image.sizeBytes)}</td>
                <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400">
                  <RelativeTime date={image.createdAt} />
                </td>
                <td className="px-3 py-1.5 text-xs" data-testid={`fleet-image-hosts-${shortId(image.imageId)}`}>
                  {image.hosts.map((h) => (
                    <div key={h.hostId} className="whitespace-nowrap">
                      <Link href={`/hosts/${h.hostId}?tab=images`} className="text-sky-300 hover:underline">
                        {h.hostName}
                      </Link>
                      {h.update === "outdated" ? <span className="ml-1.5 text-amber-300">update available</span> : null}
                    </div>
                  ))}
                </td>
                <td className="py-1.5 pr-4 pl-3 text-xs" data-testid={`fleet-image-used-by-${shortId(image.imageId)}`}>
                  {image.containerCount === 0 ? (
                    <span className="text-zinc-600">unused</span>
                  ) : (
                    <div className="flex flex-col">
                      {image.containers.map((c) => (
                        <span key={`${c.hostId}/${c.dockerId}`} className="whitespace-nowrap">
                          <Link href={`/hosts/${c.hostId}/containers/${c.dockerId}`} className="text-sky-300 hover:underline" title={c.state}>
                            {c.name}
                          </Link>
                          <span className="text-zinc-500"> on {c.hostName}</span>
                        </span>
                      ))}
                      {image.containerCount > image.containers.length ? <span className="text-zinc-500">+{image.containerCount - image.containers.length} more</span> : null}
                    </div>
                  )}
                </td>
              </tr>
            ))
          )}
        </tbody>
      </TableFrame>
    </div>
  );
}
