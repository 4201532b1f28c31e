"use client";

import { useQuery } from "@tanstack/react-query";
import { Check, Copy, KeyRound } from "lucide-react";
import { useRef, useState } from "react";
import { HostStatusBadge, RelativeTime } from "../../_components/status";
import { Button, Spinner } from "../../_components/ui";
import { copyText } from "../../_lib/clipboard";
import { formatDateTime } from "../../_lib/format";
import { useTRPC, type JoinInstructions } from "../../_lib/trpc";

/**
 * The agent command for one join token, with copy, expiry and the host's live
 * status, so the admin sees the moment the agent joins.
 */
export function JoinCommand({ join }: { join: JoinInstructions }) {
  const trpc = useTRPC();
  const host = useQuery(trpc.hosts.byId.queryOptions({ hostId: join.hostId }));
  const [copied, setCopied] = useState(false);

  async function onCopy() {
    if (await copyText(join.command)) {
      setCopied(true);
      setTimeout(() => setCopied(false), 1_500);
    }
  }

  // A re-issued token is for a host that may already have had an agent: "joined"
  // means a different enrollment than the one in place when the token was shown.
  const enrollment = (h: typeof host.data) => (h?.agent ? `${h.agent.id}:${h.agent.fingerprint}:${h.agent.joinedAt.getTime()}` : null);
  const initial = useRef<string | null | undefined>(undefined);
  if (host.data && initial.current === undefined) initial.current = enrollment(host.data);
  const joined = host.data !== undefined && enrollment(host.data) !== null && enrollment(host.data) !== initial.current;

  return (
    <div className="flex flex-col gap-3">
      <p className="text-xs leading-relaxed text-zinc-400">
        Run this on <span className="font-medium text-zinc-200">{join.hostName}</span> (any machine with Docker). The agent connects out to Berth; no
        port needs to be opened on the host.
      </p>
      <div className="relative rounded-lg border border-zinc-800 bg-zinc-950">
        <pre
          data-testid="agent-command"
          className="overflow-x-auto px-3.5 py-3 pr-24 font-mono text-[12px] leading-relaxed whitespace-pre text-zinc-200"
        >
          {join.command}
        </pre>
        <Button
          size="xs"
          variant="secondary"
          onClick={() => void onCopy()}
          className="absolute top-2 right-2"
          data-testid="copy-command"
          icon={copied ? <Check className="size-3 text-emerald-400" /> : <Copy className="size-3" />}
        >
          {copied ? "Copied" : "Copy"}
        </Button>
      </div>
      <div className="flex items-start gap-2.5 rounded-md border border-amber-500/20 bg-amber-500/5 px-3 py-2.5 text-xs leading-relaxed text-amber-100/80">
        <KeyRound className="mt-0.5 size-3.5 shrink-0 text-amber-400" aria-hidden />
        <p>
          The token works <span className="font-semibold text-amber-200">once</span>: the agent trades it for its own key when it joins. It expires{" "}
          <RelativeTime date={join.expiresAt} testId="token-expiry" className="font-medium text-amber-200" /> ({formatDateTime(join.expiresAt)}); after
          that, issue a new one from the host&apos;s page.
        </p>
      </div>
      <div className="flex items-center gap-2 text-xs text-zinc-400" data-testid="join-status">
        {joined ? (
          <>
            <HostStatusBadge status={host.data!.status} />
            <span>The agent joined.</span>
          </>
        ) : (
          <>
            <Spinner className="size-3.5 text-zinc-500" />
            <span>Waiting for the agent to connect…</span>
          </>
        )}
      </div>
    </div>
  );
}
