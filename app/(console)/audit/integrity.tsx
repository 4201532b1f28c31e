"use client";

import { useMutation } from "@tanstack/react-query";
import { Eraser, ShieldAlert, ShieldCheck, X } from "lucide-react";
import { useState } from "react";
import { Dialog } from "../../_components/dialog";
import { useToasts } from "../../_components/toasts";
import { Button, Checkbox, Field, FormError } from "../../_components/ui";
import { errorMessage, useTRPC, type VerifyResult } from "../../_lib/trpc";

/** "Verify chain": re-computes every hash on the server and names the first event that does not match. */
export function useVerifyChain() {
  const trpc = useTRPC();
  return useMutation(trpc.audit.verify.mutationOptions());
}

export function VerifyResultBanner({
  result,
  error,
  onOpenEvent,
  onDismiss,
}: {
  result: VerifyResult | undefined;
  error: unknown;
  onOpenEvent: (seq: bigint) => void;
  onDismiss: () => void;
}) {
  if (!result && !error) return null;
  const ok = result?.ok === true;
  return (
    <div
      role={ok ? "status" : "alert"}
      data-testid="verify-result"
      data-ok={ok}
      className={
        ok
          ? "flex items-start gap-2.5 rounded-lg border border-emerald-500/30 bg-emerald-500/5 px-4 py-3 text-sm text-emerald-100/90"
          : "flex items-start gap-2.5 rounded-lg border border-red-500/40 bg-red-500/10 px-4 py-3 text-sm text-red-200"
      }
    >
      {ok ? <ShieldCheck className="mt-0.5 size-4 shrink-0 text-emerald-400" aria-hidden /> : <ShieldAlert className="mt-0.5 size-4 shrink-0 text-red-400" aria-hidden />}
      <div className="min-w-0 flex-1">
        {result?.ok === true ? (
          <p>
            <span className="font-semibold text-emerald-200">The chain is intact.</span> {result.checked.toLocaleString()} event
            {result.checked === 1 ? "" : "s"} verified
            {result.firstSeq ? (
              <span className="text-emerald-100/70">
                {" "}
                (#{result.firstSeq} to #{result.lastSeq})
              </span>
            ) : null}
            : every hash matches its content and the event before it.
          </p>
        ) : result?.ok === false ? (
          <>
            <p>
              <span className="font-semibold text-red-100">The chain is broken at event #{result.brokenSeq}.</span> {result.reason}.
            </p>
            <p className="mt-1 text-xs text-red-200/80">
              {result.checked.toLocaleString()} event{result.checked === 1 ? "" : "s"} before it verified. Someone changed or removed audit rows outside Berth.{" "}
              <button type="button" className="font-medium text-red-100 underline" onClick={() => onOpenEvent(BigInt(result.brokenSeq))}>
                Open event #{result.brokenSeq}
              </button>
            </p>
          </>
        ) : (
          <p>Could not verify the chain: {errorMessage(error)}</p>
        )}
      </div>
      <button type="button" aria-label="Dismiss" onClick={onDismiss} className="-m-1 rounded p-1 opacity-70 transition-opacity hover:opacity-100">
        <X className="size-3.5" />
      </button>
    </div>
  );
}

const pad = (n: number) => String(n).padStart(2, "0");
function dateInputValue(date: Date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Retention: delete events older than a date. Irreversible, and itself recorded (with the new chain anchor). */
export function RetentionDialog({ open, onClose, onDone }: { open: boolean; onClose: () => void; onDone: () => void }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const [before, setBefore] = useState(() => {
    const d = new Date();
    d.setFullYear(d.getFullYear() - 1);
    return dateInputValue(d);
  });
  const [understood, setUnderstood] = useState(false);
  const prune = useMutation(
    trpc.audit.prune.mutationOptions({
      onSuccess: (result) => {
        toasts.success(
          result.deleted === 0 ? "Nothing to delete" : `Deleted ${result.deleted.toLocaleString()} audit event${result.deleted === 1 ? "" : "s"}`,
          `Recorded as event #${result.seq.toString()}.`,
        );
        close();
        onDone();
      },
    }),
  );
  const cutoff = before ? new Date(`${before}T00:00`) : null;
  const valid = cutoff !== null && !Number.isNaN(cutoff.getTime()) && cutoff.getTime() < Date.now();

  function close() {
    onClose();
    setUnderstood(false);
    prune.reset();
  }

  return (
    <Dialog open={open} onClose={close} title="Delete old audit events" testId="retention-dialog" description="Keep the audit trail to the period your policy requires.">
      <div className="flex flex-col gap-4">
        <Field
          label="Delete events before"
          name="retentionBefore"
          type="date"
          required
          max={dateInputValue(new Date())}
          value={before}
          onChange={(e) => setBefore(e.target.value)}
          className="[&_input]:[color-scheme:dark]"
          hint={cutoff && valid ? `Everything recorded before ${cutoff.toLocaleString()} (your time zone).` : "Pick a day in the past."}
        />
        <div className="rounded-md border border-red-500/30 bg-red-500/5 px-3 py-2.5 text-xs leading-relaxed text-red-100/90">
          <p>
            This <span className="font-semibold text-red-200">cannot be undone</span>: the events are deleted from the database, not hidden. Export them
            first if you must keep a copy.
          </p>
          <p className="mt-1.5 text-red-100/70">
            The deletion is itself recorded in the audit trail — who, when, how many — together with the hash of the last deleted event, so the chain
            still verifies from there.
          </p>
        </div>
        <Checkbox label="I understand the deleted events are gone for good" checked={understood} onChange={(e) => setUnderstood(e.target.checked)} data-testid="retention-understood" />
        {prune.error ? <FormError>{errorMessage(prune.error)}</FormError> : null}
        <div className="flex justify-end gap-2">
          <Button size="sm" variant="ghost" onClick={close}>
            Cancel
          </Button>
          <Button
            size="sm"
            variant="danger"
            icon={<Eraser className="size-3.5" />}
            loading={prune.isPending}
            disabled={!understood || !valid}
            onClick={() => cutoff && prune.mutate({ before: cutoff })}
            data-testid="retention-confirm"
          >
            Delete events
          </Button>
        </div>
      </div>
    </Dialog>
  );
}
