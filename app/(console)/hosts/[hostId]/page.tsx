"use client";

import { useQuery } from "@tanstack/react-query";
import { ArrowLeft, Box, Layers } from "lucide-react";
import Link from "next/link";
import { useParams } from "next/navigation";
import { useEffect, useState } from "react";
import { Spinner, cx } from "../../../_components/ui";
import { canOnHost } from "../../../_lib/access";
import { useSessionUser } from "../../../_lib/session";
import { errorMessage, trpcErrorCode, useTRPC } from "../../../_lib/trpc";
import { useDocumentTitle } from "../../../_lib/use-document-title";
import { BindPathsEditor } from "./container-create/bind-paths";
import { NewContainerButton } from "./container-create/actions";
import { ContainersTable } from "./containers-table";
import { DiskUsagePanel } from "./disk-usage";
import { HostHeader } from "./host-header";
import { HostStats } from "./host-stats";
import { ImagesTable } from "./images-table";
import { PullImageButton } from "./pull-image";
import { BuildImageButton } from "./build-image";
import { RemovedContainers } from "./removed-containers";

type Tab = "containers" | "images";

export default function HostPage() {
  const { hostId } = useParams<{ hostId: string }>();
  const trpc = useTRPC();
  const user = useSessionUser();
  const host = useQuery(trpc.hosts.byId.queryOptions({ hostId }));
  const containers = useQuery(trpc.containers.list.queryOptions({ hostId }));
  const images = useQuery(trpc.images.list.queryOptions({ hostId }));
  const [tab, setTab] = useState<Tab>("containers");
  // `?tab=images` (e.g. from a commit's "see the host's images") opens that tab.
  useEffect(() => {
    if (new URLSearchParams(window.location.search).get("tab") === "images") setTab("images");
  }, []);
  useDocumentTitle(host.data?.name ?? null);

  if (host.isPending) {
    return (
      <div className="flex justify-center py-20 text-zinc-500">
        <Spinner />
      </div>
    );
  }

  if (host.isError) {
    const gone = trpcErrorCode(host.error) === "NOT_FOUND";
    return (
      <div className="flex flex-col items-center gap-3 py-20 text-center" role="alert" data-testid="host-missing">
        <p className="text-base font-semibold text-zinc-100">{gone ? "This host is not in the fleet" : "Could not load this host"}</p>
        <p className="text-xs text-zinc-400">{gone ? "It may have been removed by an admin." : errorMessage(host.error)}</p>
        <Link href="/" className="mt-2 text-xs text-sky-300 hover:underline">
          Back to the fleet
        </Link>
      </div>
    );
  }

  const tabs: Array<{ id: Tab; label: string; icon: typeof Box; count: number | undefined }> = [
    { id: "containers", label: "Containers", icon: Box, count: containers.data?.length },
    { id: "images", label: "Images", icon: Layers, count: images.data?.length },
  ];

  return (
    <div className="flex flex-col gap-5">
      <Link href="/" className="inline-flex w-fit items-center gap-1.5 text-xs text-zinc-500 transition-colors hover:text-zinc-300">
        <ArrowLeft className="size-3.5" aria-hidden />
        Fleet
      </Link>

      <HostHeader host={host.data} />
      {canOnHost(user, hostId, "host.manage") ? <BindPathsEditor host={host.data} /> : null}

      {host.data.status === "ONLINE" ? <HostStats hostId={hostId} /> : null}
      {host.data.status === "ONLINE" ? <DiskUsagePanel hostId={hostId} /> : null}

      <div>
        <div className="mb-3 flex flex-wrap items-end justify-between gap-x-2 border-b border-zinc-800">
          <div role="tablist" aria-label="Host resources" className="flex gap-1">
            {tabs.map((t) => (
              <button
                key={t.id}
                type="button"
                role="tab"
                id={`tab-${t.id}`}
                aria-selected={tab === t.id}
                aria-controls={`panel-${t.id}`}
                data-testid={`tab-${t.id}`}
                onClick={() => setTab(t.id)}
                className={cx(
                  "-mb-px flex items-center gap-2 border-b-2 px-3 py-2 text-[13px] font-medium transition-colors",
                  tab === t.id ? "border-sky-500 text-zinc-100" : "border-transparent text-zinc-500 hover:text-zinc-300",
                )}
              >
                <t.icon className="size-3.5" aria-hidden />
                {t.label}
                {t.count !== undefined ? (
                  <span className="rounded-full bg-zinc-800 px-1.5 py-px text-[11px] text-zinc-400 tabular-nums">{t.count}</span>
                ) : null}
              </button>
            ))}
          </div>
          <div className="mb-1.5 flex gap-2">
            {tab === "images" && canOnHost(user, hostId, "image.pull") && host.data.status === "ONLINE" ? <PullImageButton hostId={hostId} /> : null}
            {tab === "images" && canOnHost(user, hostId, "image.build") && host.data.status === "ONLINE" ? <BuildImageButton hostId={hostId} /> : null}
            {canOnHost(user, hostId, "container.create") ? <NewContainerButton hostId={hostId} /> : null}
          </div>
        </div>
        <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
          {tab === "containers" ? (
            <>
              <ContainersTable
                host={host.data}
                query={containers}
                canOperate={canOnHost(user, hostId, "container.operate")}
                canReadLogs={canOnHost(user, hostId, "container.logs")}
                canCreate={canOnHost(user, hostId, "container.create")}
              />
              <RemovedContainers hostId={hostId} />
            </>
          ) : (
            <ImagesTable hostId={hostId} query={images} />
          )}
        </div>
      </div>
    </div>
  );
}
