"use client";

import { Bot, KeySquare, Server, UserRound, UserX } from "lucide-react";
import type { ReactNode } from "react";
import { Badge, type Tone } from "../../_components/status";
import { EmptyRow, PlainHeader } from "../../_components/table";
import { Spinner, cx } from "../../_components/ui";
import { formatDateTime } from "../../_lib/format";
import { errorMessage, type AuditEvent } from "../../_lib/trpc";

export const OUTCOME_TONE: Record<AuditEvent["outcome"], { tone: Tone; label: string }> = {
  SUCCESS: { tone: "green", label: "success" },
  FAILURE: { tone: "amber", label: "failure" },
  DENIED: { tone: "red", label: "denied" },
};

export function OutcomeBadge({ outcome }: { outcome: AuditEvent["outcome"] }) {
  const o = OUTCOME_TONE[outcome];
  return (
    <Badge tone={o.tone} testId="audit-outcome">
      {o.label}
    </Badge>
  );
}

const ACTOR_ICON: Record<AuditEvent["actorType"], ReactNode> = {
  USER: <UserRound className="size-3.5" aria-label="user" />,
  API_TOKEN: <KeySquare className="size-3.5" aria-label="API token" />,
  AGENT: <Server className="size-3.5" aria-label="agent" />,
  SYSTEM: <Bot className="size-3.5" aria-label="system" />,
  ANONYMOUS: <UserX className="size-3.5" aria-label="anonymous" />,
};

export function ActorIcon({ type }: { type: AuditEvent["actorType"] }) {
  return <span className="shrink-0 text-zinc-500">{ACTOR_ICON[type] ?? null}</span>;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** "2026-11-23 14:05:09" in the browser's time zone: sortable, unambiguous, the same width on every row. */
export function formatAuditTime(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export type NameOf = { host: (id: string | null) => string | null; team: (id: string | null) => string | null };

/** Newest first. Rows are buttons for the detail panel; new live rows flash once. */
export function AuditTable({
  rows,
  isPending,
  error,
  names,
  selectedSeq,
  onSelect,
  flashFrom,
}: {
  rows: AuditEvent[];
  isPending: boolean;
  error: unknown;
  names: NameOf;
  selectedSeq: bigint | null;
  onSelect: (event: AuditEvent) => void;
  /** Rows with a seq above this arrived live after the first render. */
  flashFrom: bigint | null;
}) {
  return (
    <>
      <thead className="sticky top-0 z-10 border-b border-zinc-800 bg-zinc-900">
        <tr>
          <PlainHeader label="Time" className="pl-4" />
          <PlainHeader label="Outcome" />
          <PlainHeader label="Action" />
          <PlainHeader label="Actor" />
          <PlainHeader label="Target" />
          <PlainHeader label="Host" />
          <PlainHeader label="Team" />
          <PlainHeader label="IP" className="pr-4" />
        </tr>
      </thead>
      <tbody className="divide-y divide-zinc-800/70" data-testid="audit-rows">
        {isPending ? (
          <EmptyRow colSpan={8}>
            <Spinner className="mx-auto size-4" />
          </EmptyRow>
        ) : error ? (
          <EmptyRow colSpan={8}>Could not load the audit trail: {errorMessage(error)}</EmptyRow>
        ) : rows.length === 0 ? (
          <EmptyRow colSpan={8}>No event matches the filter.</EmptyRow>
        ) : (
          rows.map((e) => {
            // The current name, else the one recorded with the event (the host may be gone).
            const host = names.host(e.hostId) ?? e.hostName;
            const team = names.team(e.teamId);
            const selected = selectedSeq === e.seq;
            return (
              <tr
                key={e.seq.toString()}
                data-testid="audit-row"
                data-seq={e.seq.toString()}
                data-action={e.action}
                data-outcome={e.outcome}
                aria-selected={selected}
                tabIndex={0}
                onClick={() => onSelect(e)}
                onKeyDown={(k) => {
                  if (k.key === "Enter" || k.key === " ") {
                    k.preventDefault();
                    onSelect(e);
                  }
                }}
                className={cx(
                  "cursor-pointer transition-colors outline-none hover:bg-zinc-800/40 focus-visible:bg-zinc-800/40",
                  selected && "bg-sky-500/[0.07] hover:bg-sky-500/10",
                  flashFrom !== null && e.seq > flashFrom && "animate-row-in",
                )}
              >
                <td className="py-1.5 pr-3 pl-4 font-mono text-xs whitespace-nowrap text-zinc-400 tabular-nums" title={formatDateTime(e.at)}>
                  {formatAuditTime(e.at)}
                </td>
                <td className="px-3 py-1.5">
                  <OutcomeBadge outcome={e.outcome} />
                </td>
                <td className="px-3 py-1.5 font-mono text-xs whitespace-nowrap text-zinc-100" data-testid="audit-action-cell">
                  {e.action}
                </td>
                <td className="max-w-64 px-3 py-1.5">
                  <div className="flex min-w-0 items-center gap-1.5">
                    <ActorIcon type={e.actorType} />
                    <span className="truncate text-zinc-200" title={e.actorLabel} data-testid="audit-actor-cell">
                      {e.actorLabel}
                    </span>
                  </div>
                </td>
                <td className="max-w-56 truncate px-3 py-1.5 text-zinc-300" title={e.target ?? undefined} data-testid="audit-target-cell">
                  {e.targetName ? (
                    <>
                      {e.targetName} <span className="font-mono text-[11px] text-zinc-500">({shortTarget(e.target)})</span>
                    </>
                  ) : (
                    <span className="font-mono text-[11px] text-zinc-400">{e.target ?? <span className="text-zinc-600">—</span>}</span>
                  )}
                </td>
                <td className="max-w-40 truncate px-3 py-1.5 text-zinc-300" title={e.hostId ?? undefined}>
                  {e.hostId ? (host ?? <span className="font-mono text-[11px] text-zinc-500">{e.hostId.slice(0, 10)}…</span>) : <span className="text-zinc-600">—</span>}
                </td>
                <td className="max-w-40 truncate px-3 py-1.5 text-zinc-300" title={e.teamId ?? undefined}>
                  {e.teamId ? (team ?? <span className="font-mono text-[11px] text-zinc-500">{e.teamId.slice(0, 10)}…</span>) : <span className="text-zinc-600">—</span>}
                </td>
                <td className="py-1.5 pr-4 pl-3 font-mono text-[11px] whitespace-nowrap text-zinc-400">{e.ip ?? <span className="text-zinc-600">—</span>}</td>
              </tr>
            );
          })
        )}
      </tbody>
    </>
  );
}

/** "containerId:3f2a…64 hex" → "3f2a9c1b7e00": the short id shown beside a name. */
export function shortTarget(target: string | null): string {
  if (!target) return "";
  const id = target.includes(":") ? target.slice(target.indexOf(":") + 1) : target;
  return /^[0-9a-f]{13,}$/.test(id) ? id.slice(0, 12) : id;
}
