"use client";

import { useQuery } from "@tanstack/react-query";
import { Plus, Server } from "lucide-react";
import Link from "next/link";
import { useState } from "react";
import { HostStatusBadge, RelativeTime } from "../_components/status";
import { EmptyRow, SortHeader, TableFrame, useSortedRows } from "../_components/table";
import { Button, Spinner, cx } from "../_components/ui";
import { formatBytes, plural } from "../_lib/format";
import { isGlobalAdmin } from "../_lib/access";
import { useSessionUser } from "../_lib/session";
import { useDocumentTitle } from "../_lib/use-document-title";
import { errorMessage, useTRPC, type Host, type HostStatus } from "../_lib/trpc";
import { AddHostDialog } from "./_components/add-host-dialog";
import { DuplicateIdentityMarker } from "./_components/duplicate-identity";

const STATUS_ORDER: Record<HostStatus, number> = { ONLINE: 0, PENDING: 1, OFFLINE: 2, REVOKED: 3 };

const HOST_SORT = {
  name: (h: Host) => h.name,
  teams: (h: Host) => h.teams.map((t) => t.team.name).join(", ") || null,
  status: (h: Host) => STATUS_ORDER[h.status],
  lastSeen: (h: Host) => -(h.lastSeenAt?.getTime() ?? -Infinity),
  docker: (h: Host) => h.dockerVersion,
  os: (h: Host) => h.os,
  cpus: (h: Host) => h.cpus,
  memory: (h: Host) => (h.memoryBytes === null ? null : Number(h.memoryBytes)),
  containers: (h: Host) => h.counts.running,
  images: (h: Host) => h.counts.images,
};

export default function FleetPage() {
  const trpc = useTRPC();
  const user = useSessionUser();
  const hosts = useQuery(trpc.hosts.list.queryOptions());
  const [adding, setAdding] = useState(false);
  useDocumentTitle("Fleet");
  const isAdmin = isGlobalAdmin(user);
  const list = hosts.data ?? [];

  return (
    <div className="flex flex-col gap-5">
      <div className="flex items-end justify-between gap-4">
        <div>
          <h1 className="text-xl font-semibold tracking-tight text-zinc-100">Fleet</h1>
          <p className="mt-0.5 text-xs text-zinc-500">Every Docker host Berth manages, updated live.</p>
        </div>
        {isAdmin ? (
          <Button variant="primary" size="sm" icon={<Plus className="size-3.5" />} onClick={() => setAdding(true)} data-testid="add-host-button">
            Add host
          </Button>
        ) : null}
      </div>

      {hosts.isPending ? (
        <div className="flex justify-center py-20 text-zinc-500">
          <Spinner />
        </div>
      ) : hosts.isError ? (
        <div role="alert" className="rounded-lg border border-red-500/30 bg-red-500/5 px-4 py-3 text-sm text-red-200">
          Could not load the fleet: {errorMessage(hosts.error)}
        </div>
      ) : list.length === 0 ? (
        <EmptyFleet isAdmin={isAdmin} onAdd={() => setAdding(true)} />
      ) : (
        <>
          <FleetSummary hosts={list} />
          <HostsTable hosts={list} />
        </>
      )}

      {isAdmin ? <AddHostDialog open={adding} onClose={() => setAdding(false)} /> : null}
    </div>
  );
}

function FleetSummary({ hosts }: { hosts: Host[] }) {
  const online = hosts.filter((h) => h.status === "ONLINE").length;
  const offline = hosts.filter((h) => h.status === "OFFLINE").length;
  const running = hosts.reduce((n, h) => n + h.counts.running, 0);
  const stopped = hosts.reduce((n, h) => n + h.counts.stopped, 0);
  const images = hosts.reduce((n, h) => n + h.counts.images, 0);
  const tiles = [
    { label: "Hosts online", value: `${online}`, sub: `of ${hosts.length}`, accent: offline > 0 ? `${offline} offline` : null },
    { label: "Containers running", value: `${running}`, sub: `of ${running + stopped}`, accent: null },
    { label: "Containers stopped", value: `${stopped}`, sub: null, accent: null },
    { label: "Images", value: `${images}`, sub: null, accent: null },
  ];
  return (
    <div className="grid grid-cols-2 gap-3 lg:grid-cols-4" data-testid="fleet-summary">
      {tiles.map((t) => (
        <div key={t.label} className="rounded-lg border border-zinc-800 bg-zinc-900/40 px-4 py-3">
          <p className="text-[11px] font-medium tracking-wide text-zinc-500 uppercase">{t.label}</p>
          <p className="mt-1 flex items-baseline gap-1.5">
            <span className="text-2xl font-semibold text-zinc-100 tabular-nums">{t.value}</span>
            {t.sub ? <span className="text-xs text-zinc-500">{t.sub}</span> : null}
            {t.accent ? <span className="ml-auto text-xs text-red-300">{t.accent}</span> : null}
          </p>
        </div>
      ))}
    </div>
  );
}

function HostsTable({ hosts }: { hosts: Host[] }) {
  const { sorted, sort, toggle } = useSortedRows(hosts, HOST_SORT, { key: "name", dir: "asc" });
  const head = { sort, onSort: toggle };
  return (
    <TableFrame footer={plural(hosts.length, "host")}>
      <thead className="border-b border-zinc-800 bg-zinc-900/60">
        <tr>
          <SortHeader label="Host" column="name" {...head} className="pl-4" />
          <SortHeader label="Teams" column="teams" {...head} />
          <SortHeader label="Status" column="status" {...head} />
          <SortHeader label="Last seen" column="lastSeen" {...head} />
          <SortHeader label="Docker" column="docker" {...head} />
          <SortHeader label="OS" column="os" {...head} />
          <SortHeader label="CPUs" column="cpus" {...head} align="right" />
          <SortHeader label="Memory" column="memory" {...head} align="right" />
          <SortHeader label="Containers" column="containers" {...head} align="right" />
          <SortHeader label="Images" column="images" {...head} align="right" className="pr-4" />
        </tr>
      </thead>
      <tbody className="divide-y divide-zinc-800/70">
        {sorted.length === 0 ? <EmptyRow colSpan={10}>No hosts.</EmptyRow> : null}
        {sorted.map((host) => (
          <HostRow key={host.id} host={host} />
        ))}
      </tbody>
    </TableFrame>
  );
}

function HostRow({ host }: { host: Host }) {
  const dim = host.status === "REVOKED";
  const known = host.dockerVersion !== null;
  return (
    <tr data-testid={`host-row-${host.name}`} data-status={host.status} className={cx("transition-colors hover:bg-zinc-800/30", dim && "opacity-60")}>
      <td className="py-2.5 pr-3 pl-4">
        <div className="flex items-center gap-2.5">
          <Server className="size-4 shrink-0 text-zinc-500" aria-hidden />
          <div className="min-w-0">
            <Link href={`/hosts/${host.id}`} data-testid={`host-link-${host.name}`} className="font-medium text-zinc-100 hover:text-sky-300 hover:underline">
              {host.name}
            </Link>
            <p className="truncate text-xs text-zinc-500">{host.hostname ? `${host.hostname}${host.arch ? ` · ${host.arch}` : ""}` : host.status === "PENDING" ? "waiting for agent" : "—"}</p>
          </div>
        </div>
      </td>
      <td className="max-w-48 px-3 py-2.5" data-testid={`host-teams-${host.name}`}>
        {host.teams.length === 0 ? (
          <span className="text-zinc-600" title="No team: only global admins see this host">—</span>
        ) : (
          <div className="flex flex-wrap gap-1">
            {host.teams.map(({ team }) => (
              <span key={team.id} className="rounded border border-zinc-700/80 bg-zinc-800/50 px-1.5 py-px text-[11px] text-zinc-300">
                {team.name}
              </span>
            ))}
          </div>
        )}
      </td>
      <td className="px-3 py-2.5">
        <div className="flex flex-wrap items-center gap-1.5">
          <HostStatusBadge status={host.status} testId={`host-status-${host.name}`} />
          <DuplicateIdentityMarker host={host} testId={`host-duplicate-${host.name}`} />
        </div>
      </td>
      <td className="px-3 py-2.5 text-zinc-400">
        <RelativeTime date={host.lastSeenAt} testId={`host-last-seen-${host.name}`} />
      </td>
      <td className="px-3 py-2.5 font-mono text-xs text-zinc-300">{host.dockerVersion ?? "—"}</td>
      <td className="max-w-56 truncate px-3 py-2.5 text-zinc-300" title={host.kernel ? `kernel ${host.kernel}` : undefined}>
        {host.os ?? "—"}
      </td>
      <td className="px-3 py-2.5 text-right text-zinc-300 tabular-nums">{host.cpus ?? "—"}</td>
      <td className="px-3 py-2.5 text-right whitespace-nowrap text-zinc-300 tabular-nums">{formatBytes(host.memoryBytes)}</td>
      <td className="px-3 py-2.5 text-right whitespace-nowrap tabular-nums" data-testid={`host-containers-${host.name}`}>
        {known || host.counts.containers > 0 ? (
          <span title={`${host.counts.running} running, ${host.counts.stopped} stopped`}>
            <span className="text-emerald-300">{host.counts.running}</span>
            <span className="text-zinc-600"> running · </span>
            <span className="text-zinc-400">{host.counts.stopped}</span>
            <span className="text-zinc-600"> stopped</span>
          </span>
        ) : (
          <span className="text-zinc-600">—</span>
        )}
      </td>
      <td className="py-2.5 pr-4 pl-3 text-right text-zinc-300 tabular-nums">
        {known || host.counts.images > 0 ? host.counts.images : <span className="text-zinc-600">—</span>}
      </td>
    </tr>
  );
}

function EmptyFleet({ isAdmin, onAdd }: { isAdmin: boolean; onAdd: () => void }) {
  return (
    <div data-testid="fleet-empty" className="flex flex-col items-center rounded-lg border border-dashed border-zinc-800 bg-zinc-900/30 px-6 py-16 text-center">
      <span className="flex size-11 items-center justify-center rounded-full border border-zinc-800 bg-zinc-900">
        <Server className="size-5 text-zinc-400" aria-hidden />
      </span>
      <h2 className="mt-4 text-base font-semibold text-zinc-100">No hosts yet</h2>
      <p className="mt-1.5 max-w-md text-xs leading-relaxed text-zinc-400">
        Berth manages each Docker host through a small agent that connects out to this server. Add a host to get a one-time command, run it on the
        machine, and the host shows up here — online, with its containers and images — within seconds.
      </p>
      {isAdmin ? (
        <Button variant="primary" size="sm" className="mt-5" icon={<Plus className="size-3.5" />} onClick={onAdd}>
          Add your first host
        </Button>
      ) : (
        <p className="mt-4 text-xs text-zinc-500">Ask an admin to add one.</p>
      )}
    </div>
  );
}
