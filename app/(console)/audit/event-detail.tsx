"use client";

import { useQuery } from "@tanstack/react-query";
import { CircleAlert } from "lucide-react";
import type { ReactNode } from "react";
import { CopyButton } from "../../_components/copy-button";
import { Drawer } from "../../_components/drawer";
import { RelativeTime } from "../../_components/status";
import { Spinner, cx } from "../../_components/ui";
import { describeUserAgent, formatDateTime } from "../../_lib/format";
import { errorMessage, useTRPCClient, type AuditEvent } from "../../_lib/trpc";
import { ActorIcon, OutcomeBadge, type NameOf } from "./audit-table";
import { SessionReplay } from "./session-replay";

/** The terminal session an exec/attach event recorded, if any. */
function sessionOf(event: AuditEvent): string | null {
  if (event.outcome !== "SUCCESS" || (event.action !== "containers.exec" && event.action !== "containers.attach")) return null;
  const id = (event.params as { sessionId?: unknown } | null)?.sessionId;
  return typeof id === "string" ? id : null;
}

/**
 * Everything recorded about one event. Opens from a row (already loaded) or
 * from a link with ?event=<seq> (fetched on its own).
 */
export function EventDetail({
  seq,
  loaded,
  names,
  onClose,
  onFilter,
}: {
  seq: bigint | null;
  loaded: AuditEvent | undefined;
  names: NameOf;
  onClose: () => void;
  onFilter: (patch: { actor?: string; action?: string }) => void;
}) {
  const client = useTRPCClient();
  // Not trpc.audit.byId.queryOptions: its key would hold a BigInt, which query keys cannot hash.
  const fetched = useQuery({
    queryKey: ["audit-event", seq?.toString() ?? ""],
    queryFn: ({ signal }) => client.audit.byId.query({ seq: seq! }, { signal }),
    enabled: seq !== null && !loaded,
  });
  const event = loaded ?? fetched.data;

  return (
    <Drawer
      open={seq !== null}
      onClose={onClose}
      testId="audit-detail"
      title={event ? <span className="font-mono">{event.action}</span> : `Event #${seq?.toString() ?? ""}`}
      subtitle={
        event ? (
          <span className="flex items-center gap-2">
            <OutcomeBadge outcome={event.outcome} />
            <span>
              #{event.seq.toString()} · {formatDateTime(event.at)} · <RelativeTime date={event.at} />
            </span>
          </span>
        ) : undefined
      }
    >
      {event ? (
        <EventFields event={event} names={names} onFilter={onFilter} />
      ) : fetched.isError ? (
        <p role="alert" className="text-sm text-red-200">
          {errorMessage(fetched.error)}
        </p>
      ) : (
        <div className="flex justify-center py-10 text-zinc-500">
          <Spinner />
        </div>
      )}
    </Drawer>
  );
}

function Row({ label, children, mono, testId }: { label: string; children: ReactNode; mono?: boolean; testId?: string }) {
  return (
    <div className="grid grid-cols-[8rem_1fr] gap-3 py-1.5">
      <dt className="text-xs font-medium text-zinc-500">{label}</dt>
      <dd data-testid={testId} className={cx("min-w-0 text-[13px] break-words text-zinc-200", mono && "font-mono text-xs leading-5")}>
        {children === null || children === undefined || children === "" ? <span className="text-zinc-600">—</span> : children}
      </dd>
    </div>
  );
}

function Group({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="border-b border-zinc-800 py-3 first:pt-0 last:border-b-0">
      <h3 className="mb-1 text-[11px] font-medium tracking-wide text-zinc-500 uppercase">{title}</h3>
      <dl className="divide-y divide-zinc-800/50">{children}</dl>
    </section>
  );
}

function IdName({ id, name }: { id: string | null; name: string | null }) {
  if (!id) return null;
  return (
    <span>
      {name ? <span className="text-zinc-100">{name}</span> : null}
      <span className={cx("font-mono text-[11px] text-zinc-500", name && "ml-2")}>{id}</span>
    </span>
  );
}

function EventFields({ event, names, onFilter }: { event: AuditEvent; names: NameOf; onFilter: (patch: { actor?: string; action?: string }) => void }) {
  const params = JSON.stringify(event.params ?? null, null, 2);
  return (
    <div className="flex flex-col" data-testid="audit-detail-body" data-seq={event.seq.toString()}>
      {event.error ? (
        <div role="alert" data-testid="audit-detail-error" className="mb-4 flex items-start gap-2.5 rounded-md border border-red-500/30 bg-red-500/10 px-3 py-2.5 text-xs leading-relaxed text-red-200">
          <CircleAlert className="mt-0.5 size-3.5 shrink-0 text-red-400" aria-hidden />
          <p className="font-mono break-words">{event.error}</p>
        </div>
      ) : null}

      <Group title="What">
        <Row label="Action" mono testId="audit-detail-action">
          <span className="flex items-center justify-between gap-2">
            {event.action}
            <FilterLink onClick={() => onFilter({ action: event.action })}>Only this action</FilterLink>
          </span>
        </Row>
        <Row label="Outcome" testId="audit-detail-outcome">
          <OutcomeBadge outcome={event.outcome} />
        </Row>
        <Row label="Target" mono>
          {event.targetName ? <span className="mr-2 font-sans text-zinc-100">{event.targetName}</span> : null}
          {event.target}
        </Row>
        <Row label="Host">
          <IdName id={event.hostId} name={names.host(event.hostId) ?? event.hostName} />
        </Row>
        <Row label="Team">
          <IdName id={event.teamId} name={names.team(event.teamId)} />
        </Row>
      </Group>

      <Group title="Who">
        <Row label="Actor" testId="audit-detail-actor">
          <span className="flex items-center justify-between gap-2">
            <span className="flex min-w-0 items-center gap-1.5">
              <ActorIcon type={event.actorType} />
              <span className="truncate">{event.actorLabel}</span>
            </span>
            <FilterLink onClick={() => onFilter({ actor: event.actorId ?? event.actorLabel })}>Only this actor</FilterLink>
          </span>
        </Row>
        <Row label="Actor type" mono>
          {event.actorType}
        </Row>
        <Row label="Actor id" mono>
          {event.actorId}
        </Row>
        <Row label="IP address" mono>
          {event.ip}
        </Row>
        <Row label="User agent">
          {event.userAgent ? (
            <span className="flex flex-col gap-0.5">
              <span>{describeUserAgent(event.userAgent)}</span>
              <span className="font-mono text-[11px] text-zinc-500">{event.userAgent}</span>
            </span>
          ) : null}
        </Row>
        <Row label="Request id" mono>
          {event.requestId}
        </Row>
      </Group>

      {sessionOf(event) ? (
        <section className="border-b border-zinc-800 py-3">
          <h3 className="mb-1.5 text-[11px] font-medium tracking-wide text-zinc-500 uppercase">Session recording</h3>
          <SessionReplay sessionId={sessionOf(event)!} />
        </section>
      ) : null}

      <section className="border-b border-zinc-800 py-3">
        <div className="mb-1.5 flex items-center justify-between">
          <h3 className="text-[11px] font-medium tracking-wide text-zinc-500 uppercase">Parameters</h3>
          <CopyButton text={params} />
        </div>
        <pre data-testid="audit-detail-params" className="max-h-80 overflow-auto rounded-md border border-zinc-800 bg-zinc-950 px-3 py-2.5 font-mono text-[11px] leading-relaxed text-zinc-200">
          {params}
        </pre>
        <p className="mt-1 text-[11px] text-zinc-600">Values of keys that look like secrets are replaced by [redacted] before they are recorded.</p>
      </section>

      <Group title="Integrity">
        <Row label="Sequence" mono testId="audit-detail-seq">
          {event.seq.toString()}
        </Row>
        <Row label="Time" mono>
          {event.at.toISOString()}
        </Row>
        <Row label="Previous hash" mono>
          <span className="break-all text-zinc-400">{event.prevHash}</span>
        </Row>
        <Row label="Hash" mono>
          <span className="break-all">{event.hash}</span>
        </Row>
      </Group>
    </div>
  );
}

function FilterLink({ onClick, children }: { onClick: () => void; children: ReactNode }) {
  return (
    <button type="button" onClick={onClick} className="shrink-0 font-sans text-[11px] text-sky-300/80 hover:text-sky-300 hover:underline">
      {children}
    </button>
  );
}
