"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import { Check, Copy, KeyRound, TriangleAlert } from "lucide-react";
import { useRef, useState } from "react";
import { HostStatusBadge, RelativeTime } from "../../_components/status";
import { Button, FormError, Spinner } from "../../_components/ui";
import { copyText } from "../../_lib/clipboard";
import { formatDateTime } from "../../_lib/format";
import { errorMessage, useTRPC, type JoinInstructions } from "../../_lib/trpc";

/**
 * Enrolling an agent for one host: where it will connect (the server's
 * configured public URL, with a warning when only this machine can reach it),
 * then — only when the admin asks — a single-use join token and the command
 * built by the server around it. Opening this panel mints nothing: an unused
 * token lying around is a credential.
 */
export function JoinPanel({ hostId, hostName }: { hostId: string; hostName: string }) {
  const trpc = useTRPC();
  const target = useQuery(trpc.hosts.joinTarget.queryOptions({ hostId }));
  const token = useMutation(trpc.hosts.createJoinToken.mutationOptions());

  return (
    <div className="flex flex-col gap-3" data-testid="join-panel">
      <p className="text-xs leading-relaxed text-zinc-400">
        The agent runs on <span className="font-medium text-zinc-200">{hostName}</span> (any machine with Docker) and connects out to Berth at{" "}
        {target.data ? (
          <code data-testid="join-server-url" className="font-mono text-[12px] break-all text-zinc-200">
            {target.data.serverUrl}
          </code>
        ) : (
          <span className="text-zinc-500">…</span>
        )}
        ; no port needs to be opened on the host.
      </p>
      {target.data?.loopback ? (
        <div
          role="alert"
          data-testid="public-url-warning"
          className="flex items-start gap-2.5 rounded-md border border-amber-500/30 bg-amber-500/10 px-3 py-2.5 text-xs leading-relaxed text-amber-200"
        >
          <TriangleAlert className="mt-0.5 size-3.5 shrink-0 text-amber-400" aria-hidden />
          <p>
            This address only reaches Berth from the machine Berth runs on. An agent on another machine cannot connect to it: set{" "}
            <code className="font-mono">BERTH_PUBLIC_URL</code> to an address that machine can reach (e.g. <code className="font-mono">https://berth.example.com</code>)
            and restart Berth.
          </p>
        </div>
      ) : null}
      {target.error ? <FormError>{errorMessage(target.error)}</FormError> : null}
      {token.data ? (
        <JoinCommand join={token.data} />
      ) : (
        <div className="flex flex-wrap items-center gap-3">
          <Button
            size="sm"
            variant="primary"
            icon={<KeyRound className="size-3.5" />}
            loading={token.isPending}
            onClick={() => token.mutate({ hostId })}
            data-testid="create-join-token"
          >
            Create join token
          </Button>
          <span className="text-xs text-zinc-500">Single use; the command to run appears here.</span>
        </div>
      )}
      {token.error ? <FormError>{errorMessage(token.error)}</FormError> : null}
    </div>
  );
}

/**
 * The agent command for one join token, with copy, expiry and the host's live
 * status, so the admin sees the moment the agent joins.
 */
function JoinCommand({ join }: { join: JoinInstructions }) {
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
