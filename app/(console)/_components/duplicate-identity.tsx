"use client";

import { Copy } from "lucide-react";
import { RelativeTime } from "../../_components/status";
import { formatDateTime } from "../../_lib/format";
import type { Host } from "../../_lib/trpc";

function addresses(host: Pick<Host, "duplicateAddresses">): string {
  return host.duplicateAddresses.length > 0 ? host.duplicateAddresses.join(", ") : "unknown addresses";
}

/** The host page's banner: what happened, when, from where, and what to do. */
export function DuplicateIdentityBanner({ host }: { host: Pick<Host, "duplicateSeenAt" | "duplicateAddresses"> }) {
  if (!host.duplicateSeenAt) return null;
  return (
    <div
      role="alert"
      data-testid="host-duplicate-identity"
      className="flex items-start gap-2.5 border-t border-amber-500/30 bg-amber-500/10 px-5 py-2.5 text-xs leading-relaxed text-amber-100"
    >
      <Copy className="mt-0.5 size-3.5 shrink-0 text-amber-400" aria-hidden />
      <p>
        <span className="font-semibold text-amber-200">Two agents use this identity.</span> A second agent presented this host&apos;s key{" "}
        <RelativeTime date={host.duplicateSeenAt} className="font-medium text-amber-200" /> ({formatDateTime(host.duplicateSeenAt)}) from{" "}
        <span className="font-mono" data-testid="host-duplicate-addresses">
          {addresses(host)}
        </span>{" "}
        and was refused while the first stayed connected. A copied <span className="font-mono">identity.json</span> is the usual cause: give the
        second machine its own join token, and revoke this key if you did not copy it yourself.
      </p>
    </div>
  );
}

/** The fleet row's marker. */
export function DuplicateIdentityMarker({ host, testId }: { host: Pick<Host, "duplicateSeenAt" | "duplicateAddresses">; testId?: string }) {
  if (!host.duplicateSeenAt) return null;
  return (
    <span
      data-testid={testId}
      title={`Two agents use this identity: seen ${formatDateTime(host.duplicateSeenAt)} from ${addresses(host)}`}
      className="inline-flex items-center gap-1 rounded border border-amber-500/30 bg-amber-500/10 px-1.5 py-px text-[11px] text-amber-200"
    >
      <Copy className="size-3" aria-hidden />
      two agents use this identity
    </span>
  );
}
