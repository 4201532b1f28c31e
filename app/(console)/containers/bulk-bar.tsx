"use client";

/**
 * One action on every selected container, across hosts (`containers.bulk`).
 * The server authorizes each item on its own host and answers item by item;
 * the results stay on screen (Docker's text for each failure) until dismissed.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { CircleAlert, CircleCheck, Pause, Play, RotateCw, ScrollText, Skull, Square, Trash2, X } from "lucide-react";
import Link from "next/link";
import { useState } from "react";
import { ConfirmDialog } from "../../_components/confirm-dialog";
import { Button, Checkbox, buttonClasses, cx } from "../../_components/ui";
import { plural } from "../../_lib/format";
import { useTRPC, type BulkResult } from "../../_lib/trpc";
import { MERGED_MAX_SOURCES, mergedLogsHref } from "../../_lib/use-merged-logs";

export type Selected = { hostId: string; containerId: string; name: string; hostName: string };
type Action = "start" | "stop" | "restart" | "pause" | "unpause" | "kill" | "remove";

const ACTIONS: Array<{ action: Action; label: string; icon: typeof Play }> = [
  { action: "start", label: "Start", icon: Play },
  { action: "stop", label: "Stop", icon: Square },
  { action: "restart", label: "Restart", icon: RotateCw },
  { action: "pause", label: "Pause", icon: Pause },
  { action: "unpause", label: "Unpause", icon: Play },
  { action: "kill", label: "Kill", icon: Skull },
];

export function BulkBar({ selected, onClear }: { selected: Selected[]; onClear: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [outcome, setOutcome] = useState<{ action: Action; results: Array<BulkResult & { name: string; hostName: string }> } | null>(null);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [force, setForce] = useState(false);
  const [volumes, setVolumes] = useState(false);
  const bulk = useMutation(trpc.containers.bulk.mutationOptions({ onSettled: () => queryClient.invalidateQueries(trpc.containers.pathFilter()) }));
  const hosts = new Set(selected.map((s) => s.hostId)).size;

  const run = (action: Action, extra: { force?: boolean; removeVolumes?: boolean } = {}) => {
    const items = selected.slice(0, 200);
    const names = new Map(items.map((s) => [`${s.hostId}/${s.containerId}`, s]));
    bulk.mutate(
      { action, items: items.map(({ hostId, containerId }) => ({ hostId, containerId })), ...extra },
      {
        onSuccess: (results) => {
          setConfirmRemove(false);
          setOutcome({
            action,
            results: results.map((r) => {
              const s = names.get(`${r.hostId}/${r.containerId}`);
              return { ...r, name: s?.name ?? r.containerId.slice(0, 12), hostName: s?.hostName ?? r.hostId };
            }),
          });
        },
      },
    );
  };

  if (selected.length === 0 && !outcome) return null;
  const failed = outcome?.results.filter((r) => !r.ok).length ?? 0;

  return (
    <div className="flex flex-col gap-2" data-testid="bulk-bar">
      {selected.length > 0 ? (
        <div className="flex flex-wrap items-center gap-2 rounded-lg border border-sky-500/30 bg-sky-500/[0.06] px-3 py-2">
          <span className="text-xs text-zinc-200" data-testid="bulk-count">
            {plural(selected.length, "container")} selected on {plural(hosts, "host")}
            {selected.length > 200 ? " (the first 200 are acted on)" : ""}
          </span>
          <div className="ml-auto flex flex-wrap gap-1">
            {/* Reading logs is not an action on the containers: the merged view checks container.logs per host. */}
            <Link
              href={mergedLogsHref(selected)}
              data-testid="bulk-logs"
              className={buttonClasses("secondary", "xs")}
              title={selected.length > MERGED_MAX_SOURCES ? `The first ${MERGED_MAX_SOURCES} selected` : "One stream, ordered by time"}
            >
              <ScrollText className="size-3" aria-hidden />
              View logs together
            </Link>
            {ACTIONS.map(({ action, label, icon: Icon }) => (
              <Button
                key={action}
                size="xs"
                variant="secondary"
                icon={<Icon className="size-3" />}
                loading={bulk.isPending && bulk.variables?.action === action}
                disabled={bulk.isPending}
                onClick={() => run(action)}
                data-testid={`bulk-${action}`}
              >
                {label}
              </Button>
            ))}
            <Button size="xs" variant="danger" icon={<Trash2 className="size-3" />} disabled={bulk.isPending} onClick={() => setConfirmRemove(true)} data-testid="bulk-remove">
              Remove…
            </Button>
            <Button size="xs" variant="ghost" icon={<X className="size-3" />} onClick={onClear} data-testid="bulk-clear">
              Clear selection
            </Button>
          </div>
        </div>
      ) : null}
      {bulk.error ? (
        <div role="alert" className="rounded-md border border-red-500/30 bg-red-500/10 px-3 py-2 text-xs text-red-200">
          {bulk.error.message}
        </div>
      ) : null}
      {outcome ? (
        <div className="rounded-lg border border-zinc-800 bg-zinc-900/40" data-testid="bulk-results">
          <div className="flex items-center justify-between border-b border-zinc-800 px-3 py-1.5 text-xs">
            <span className={failed ? "text-amber-300" : "text-emerald-300"}>
              {outcome.action}: {outcome.results.length - failed} done{failed ? `, ${failed} failed` : ""}
            </span>
            <Button size="xs" variant="ghost" icon={<X className="size-3" />} onClick={() => setOutcome(null)} aria-label="Dismiss results">
              Dismiss
            </Button>
          </div>
          <ul className="max-h-56 divide-y divide-zinc-800/70 overflow-y-auto text-xs">
            {outcome.results.map((r) => (
              <li key={`${r.hostId}/${r.containerId}`} className="flex items-start gap-2 px-3 py-1.5" data-testid={`bulk-result-${r.name}`} data-ok={r.ok}>
                {r.ok ? <CircleCheck className="mt-px size-3.5 shrink-0 text-emerald-400" aria-label="done" /> : <CircleAlert className="mt-px size-3.5 shrink-0 text-red-400" aria-label="failed" />}
                <span className="font-medium text-zinc-200">{r.name}</span>
                <span className="text-zinc-500">on {r.hostName}</span>
                {!r.ok ? <span className={cx("ml-auto text-right", r.code === "FORBIDDEN" ? "text-amber-300" : "text-red-300")}>{r.message}</span> : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <ConfirmDialog
        open={confirmRemove}
        onClose={() => setConfirmRemove(false)}
        title={`Remove ${plural(selected.length, "container")}?`}
        confirmLabel="Remove"
        onConfirm={() => run("remove", { force, removeVolumes: volumes })}
        pending={bulk.isPending}
        error={null}
        testId="bulk-remove-dialog"
      >
        <p>The containers and their writable layers are deleted on {plural(hosts, "host")}. This cannot be undone.</p>
        <div className="mt-3 flex flex-col gap-2">
          <Checkbox label="Force" description="Kill running containers first." checked={force} onChange={(e) => setForce(e.target.checked)} />
          <Checkbox label="Also remove their anonymous volumes" checked={volumes} onChange={(e) => setVolumes(e.target.checked)} />
        </div>
      </ConfirmDialog>
    </div>
  );
}
