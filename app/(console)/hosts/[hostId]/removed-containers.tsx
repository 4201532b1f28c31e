"use client";

import { useQuery } from "@tanstack/react-query";
import { ChevronDown, ChevronRight } from "lucide-react";
import Link from "next/link";
import { useState } from "react";
import { RelativeTime } from "../../../_components/status";
import { shortId } from "../../../_lib/format";
import { useTRPC } from "../../../_lib/trpc";

/** Containers removed from the host whose lifecycle history Berth kept: their pages stay reachable. */
export function RemovedContainers({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const [open, setOpen] = useState(false);
  const removed = useQuery(trpc.containers.removed.queryOptions({ hostId }));
  if (!removed.data || removed.data.length === 0) return null;
  return (
    <section className="mt-3 rounded-lg border border-zinc-800 bg-zinc-900/40" data-testid="removed-containers">
      <button type="button" onClick={() => setOpen((o) => !o)} aria-expanded={open} className="flex w-full items-center gap-2 px-4 py-2 text-left text-xs text-zinc-400">
        {open ? <ChevronDown className="size-3.5" /> : <ChevronRight className="size-3.5" />}
        Removed containers with a history <span className="rounded-full bg-zinc-800 px-1.5 text-[11px] tabular-nums">{removed.data.length}</span>
      </button>
      {open ? (
        <ul className="divide-y divide-zinc-800/70 border-t border-zinc-800">
          {removed.data.map((r) => (
            <li key={r.containerId} className="flex items-center gap-3 px-4 py-1.5 text-xs">
              <Link href={`/hosts/${hostId}/containers/${r.containerId}`} className="font-medium text-zinc-200 hover:text-sky-300 hover:underline">
                {r.name || shortId(r.containerId)}
              </Link>
              <span className="font-mono text-zinc-500">{shortId(r.containerId)}</span>
              <span className="font-mono text-zinc-400">{r.image}</span>
              <span className="ml-auto text-zinc-500">
                last seen <RelativeTime date={r.lastEventAt} />
              </span>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
