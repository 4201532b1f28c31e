"use client";

/**
 * Terminal settings: the one an admin changes here (recording keystrokes,
 * off by default because they carry passwords) and the limits set by env.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Checkbox, PageHeader, Section, Spinner } from "../../../_components/ui";
import { useToasts } from "../../../_components/toasts";
import { formatBytes } from "../../../_lib/format";
import { errorMessage, useTRPC } from "../../../_lib/trpc";
import { useDocumentTitle } from "../../../_lib/use-document-title";

export default function TerminalSettingsPage() {
  useDocumentTitle("Terminal settings");
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const toast = useToasts();
  const settings = useQuery(trpc.terminals.settings.queryOptions());
  // The box follows the click at once; the stored value replaces it when the change is saved (or refused).
  const [pending, setPending] = useState<boolean | null>(null);
  const setRecordInput = useMutation(
    trpc.terminals.setRecordInput.mutationOptions({
      onSuccess: (result) => {
        void queryClient.invalidateQueries(trpc.terminals.settings.queryFilter());
        toast.success(result.recordInput ? "Keystrokes are recorded in new terminals" : "Keystrokes are no longer recorded");
      },
      onError: (error) => toast.error(errorMessage(error)),
      onSettled: () => setPending(null),
    }),
  );

  return (
    <div className="flex flex-col gap-5">
      <PageHeader title="Terminals" description="Every exec and attach session is recorded for the audit log (output and window sizes)." />
      {settings.isPending ? (
        <Spinner />
      ) : settings.isError ? (
        <p className="text-sm text-red-300">{errorMessage(settings.error)}</p>
      ) : (
        <>
          <Section title="Recording">
            <Checkbox
              data-testid="record-terminal-input"
              checked={pending ?? settings.data.recordInput}
              disabled={setRecordInput.isPending}
              onChange={(e) => {
                setPending(e.target.checked);
                setRecordInput.mutate({ enabled: e.target.checked });
              }}
              label="Also record keystrokes"
              description="Keystrokes include whatever people type at password prompts. Off by default; the change applies to terminals opened from now on and is itself audited."
            />
          </Section>
          <Section title="Limits (set by environment variables)">
            <dl className="grid grid-cols-[16rem_1fr] gap-y-2 text-sm">
              <dt className="text-zinc-500">Idle timeout</dt>
              <dd className="text-zinc-200">{settings.data.idleMinutes} minutes · BERTH_TERMINAL_IDLE_MINUTES</dd>
              <dt className="text-zinc-500">Open terminals per user</dt>
              <dd className="text-zinc-200">{settings.data.perUser} · BERTH_TERMINALS_PER_USER</dd>
              <dt className="text-zinc-500">Recording size limit per session</dt>
              <dd className="text-zinc-200">{formatBytes(settings.data.recordingMaxBytes)} · BERTH_TERMINAL_RECORDING_MAX_MB</dd>
            </dl>
          </Section>
        </>
      )}
    </div>
  );
}
