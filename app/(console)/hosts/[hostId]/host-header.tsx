"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Ban, KeyRound, Server, Trash2, WifiOff } from "lucide-react";
import { useRouter } from "next/navigation";
import { useState, type ReactNode } from "react";
import { ConfirmDialog } from "../../../_components/confirm-dialog";
import { Dialog } from "../../../_components/dialog";
import { HostStatusBadge, RelativeTime } from "../../../_components/status";
import { useToasts } from "../../../_components/toasts";
import { Button } from "../../../_components/ui";
import { formatBytes } from "../../../_lib/format";
import { canOnHost, isGlobalAdmin } from "../../../_lib/access";
import { useSessionUser } from "../../../_lib/session";
import { useTRPC, type Host } from "../../../_lib/trpc";
import { DuplicateIdentityBanner } from "../../_components/duplicate-identity";
import { JoinPanel } from "../../_components/join-command";

export function HostHeader({ host }: { host: Host }) {
  const user = useSessionUser();
  const canManage = canOnHost(user, host.id, "host.manage");
  const canRemove = isGlobalAdmin(user);
  const teams = host.teams.map((t) => t.team.name).join(", ");

  const facts: Array<{ label: string; value: ReactNode; mono?: boolean }> = [
    { label: "Hostname", value: host.hostname },
    { label: "OS", value: host.os },
    { label: "Kernel", value: host.kernel, mono: true },
    { label: "Arch", value: host.arch, mono: true },
    { label: "Docker", value: host.dockerVersion ? `${host.dockerVersion}${host.apiVersion ? ` · API ${host.apiVersion}` : ""}` : null, mono: true },
    { label: "CPUs", value: host.cpus },
    { label: "Memory", value: host.memoryBytes === null ? null : formatBytes(host.memoryBytes) },
    { label: "Agent", value: host.agentVersion, mono: true },
    { label: "Last seen", value: host.lastSeenAt ? <RelativeTime date={host.lastSeenAt} testId="host-last-seen" /> : "never" },
    { label: "Key", value: host.agent ? host.agent.fingerprint.slice(0, 16) : null, mono: true },
    {
      label: "In step",
      value: host.reconciledAt ? (
        <span
          data-testid="host-drift"
          data-drift={host.driftCount}
          title={
            host.driftCount > 0
              ? `The agent compares Docker with Berth every few seconds. It found and corrected ${host.driftCount} record(s) that Docker's events had not updated${host.lastDriftAt ? `, last on ${host.lastDriftAt.toLocaleString()}` : ""}.`
              : "The agent compares Docker with Berth every few seconds; nothing has needed correcting."
          }
        >
          checked <RelativeTime date={host.reconciledAt} />
          {host.driftCount > 0 ? <span className="text-amber-400"> · {host.driftCount} healed</span> : null}
        </span>
      ) : null,
    },
    { label: "Teams", value: teams ? <span title={teams}>{teams}</span> : null },
  ];

  return (
    <section className="overflow-hidden rounded-lg border border-zinc-800 bg-zinc-900/40" data-testid="host-header" data-status={host.status}>
      <div className="flex flex-wrap items-center gap-3 px-5 py-4">
        <span className="flex size-9 items-center justify-center rounded-md border border-zinc-800 bg-zinc-900">
          <Server className="size-4.5 text-zinc-400" aria-hidden />
        </span>
        <div className="min-w-0">
          <div className="flex items-center gap-2.5">
            <h1 className="truncate text-lg font-semibold tracking-tight text-zinc-100" data-testid="host-name">
              {host.name}
            </h1>
            <HostStatusBadge status={host.status} testId="host-status" />
          </div>
          <p className="text-xs text-zinc-500">
            {host.counts.running} running · {host.counts.stopped} stopped · {host.counts.images} images
          </p>
        </div>
        {canManage || canRemove ? <HostActions host={host} canManage={canManage} canRemove={canRemove} /> : null}
      </div>
      <dl className="grid grid-cols-2 gap-x-6 gap-y-3 border-t border-zinc-800 px-5 py-3.5 sm:grid-cols-3 lg:grid-cols-6">
        {facts.map((f) => (
          <div key={f.label} className="min-w-0">
            <dt className="text-[11px] font-medium tracking-wide text-zinc-500 uppercase">{f.label}</dt>
            <dd className={`mt-0.5 truncate text-[13px] text-zinc-200 ${f.mono ? "font-mono text-xs leading-5" : ""}`}>
              {f.value === null || f.value === undefined || f.value === "" ? <span className="text-zinc-600">—</span> : f.value}
            </dd>
          </div>
        ))}
      </dl>
      <DuplicateIdentityBanner host={host} />
      <HostStateBanner host={host} />
    </section>
  );
}

function HostStateBanner({ host }: { host: Host }) {
  if (host.status === "ONLINE") return null;
  const text =
    host.status === "OFFLINE" ? (
      <>
        The agent is not connected (last seen {host.lastSeenAt ? <RelativeTime date={host.lastSeenAt} /> : "never"}). The lists below are what it
        last reported; container actions are disabled until it reconnects.
      </>
    ) : host.status === "PENDING" ? (
      <>No agent has joined this host yet. Run the agent command on the machine; an admin can issue a fresh join token here.</>
    ) : (
      <>This host&apos;s agent key was revoked: the agent can no longer connect. Issue a new join token to enroll it again.</>
    );
  const tone = host.status === "OFFLINE" ? "border-red-500/20 bg-red-500/5 text-red-200/90" : "border-amber-500/20 bg-amber-500/5 text-amber-100/80";
  return (
    <div role="status" data-testid="host-offline-banner" className={`flex items-start gap-2.5 border-t px-5 py-2.5 text-xs leading-relaxed ${tone}`}>
      <WifiOff className="mt-0.5 size-3.5 shrink-0" aria-hidden />
      <p>{text}</p>
    </div>
  );
}

type Pending = null | "token" | "revoke" | "remove";

/** Join token and revoke need host.manage on this host; removing a host from Berth is for global admins. */
function HostActions({ host, canManage, canRemove }: { host: Host; canManage: boolean; canRemove: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState<Pending>(null);
  const revoke = useMutation(
    trpc.hosts.revoke.mutationOptions({
      onSuccess: () => {
        setOpen(null);
        toasts.success(`Revoked the agent of ${host.name}`);
        void queryClient.invalidateQueries(trpc.hosts.pathFilter());
      },
    }),
  );
  const remove = useMutation(
    trpc.hosts.remove.mutationOptions({
      onSuccess: () => {
        toasts.success(`Removed ${host.name} from the fleet`);
        void queryClient.invalidateQueries(trpc.hosts.list.queryFilter());
        router.replace("/");
      },
    }),
  );

  const close = () => {
    setOpen(null);
    revoke.reset();
    remove.reset();
  };

  return (
    <div className="ml-auto flex items-center gap-2">
      {canManage ? (
        <>
          <Button
            size="sm"
            icon={<KeyRound className="size-3.5" />}
            onClick={() => setOpen("token")}
            data-testid="new-join-token"
          >
            Join token
          </Button>
          {host.agent && !host.agent.revoked ? (
            <Button size="sm" variant="ghost" icon={<Ban className="size-3.5" />} onClick={() => setOpen("revoke")} data-testid="revoke-agent">
              Revoke agent
            </Button>
          ) : null}
        </>
      ) : null}
      {canRemove ? (
        <Button
          size="sm"
          variant="ghost"
          icon={<Trash2 className="size-3.5" />}
          onClick={() => setOpen("remove")}
          className="hover:text-red-300"
          data-testid="remove-host"
        >
          Remove
        </Button>
      ) : null}

      <Dialog open={open === "token"} onClose={close} title={`Join token for ${host.name}`} testId="join-token-dialog">
        <JoinPanel hostId={host.id} hostName={host.name} />
      </Dialog>

      <ConfirmDialog
        open={open === "revoke"}
        onClose={close}
        title={`Revoke the agent of ${host.name}?`}
        confirmLabel="Revoke agent"
        onConfirm={() => revoke.mutate({ hostId: host.id })}
        pending={revoke.isPending}
        error={revoke.error}
      >
        The agent is disconnected now and its key stops working. The host stays in the fleet; a new join token enrolls an agent again.
      </ConfirmDialog>

      <ConfirmDialog
        open={open === "remove"}
        onClose={close}
        title={`Remove ${host.name} from Berth?`}
        confirmLabel="Remove host"
        onConfirm={() => remove.mutate({ hostId: host.id })}
        pending={remove.isPending}
        error={remove.error}
      >
        Berth forgets this host and disconnects its agent. Containers on the machine keep running; only Berth&apos;s view of them goes away.
      </ConfirmDialog>
    </div>
  );
}
