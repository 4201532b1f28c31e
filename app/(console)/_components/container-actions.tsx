"use client";

/**
 * The lifecycle menu of one container (start … remove, `docker update`),
 * used wherever a container is shown: the host page's table, the fleet-wide
 * list and the container page. It offers only what the signed-in user may do
 * on that host and what makes sense in the container's state; the server
 * checks every call anyway. Docker's refusals are shown in its own words.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Ban, Edit3, EllipsisVertical, Gauge, Pause, Play, RotateCw, Skull, Square, Timer, Trash2 } from "lucide-react";
import { useState, type ReactNode } from "react";
import { CONTAINER_NAME_PATTERN, RESTART_POLICIES, SIGNAL_NAMES, ZSignal } from "../../../agent/protocol";
import { parseByteSize } from "../../../agent/units";
import { ConfirmDialog } from "../../_components/confirm-dialog";
import { Dialog } from "../../_components/dialog";
import { Menu, MenuItem, MenuSeparator } from "../../_components/menu";
import { useToasts } from "../../_components/toasts";
import { Button, Checkbox, Field, FormError, SelectField, Spinner, cx } from "../../_components/ui";
import { canOnHost } from "../../_lib/access";
import { useSessionUser } from "../../_lib/session";
import { errorMessage, useTRPC } from "../../_lib/trpc";

export type ContainerActionsProps = {
  hostId: string;
  containerId: string;
  name: string;
  /** Docker's State.Status (running, exited, paused, ...). */
  state: string;
  /** Set when actions cannot run now (e.g. the host is offline): the menu shows why instead. */
  disabledReason?: string | null;
  /** Called after the container was removed (e.g. a container page navigates away). */
  onRemoved?: () => void;
};

type Dialogs = "kill" | "stop" | "rename" | "update" | "remove" | null;

/** Which actions Docker accepts in each state (it would refuse the others anyway). */
export function actionsForState(state: string) {
  const alive = state === "running" || state === "restarting" || state === "paused";
  return {
    start: state === "exited" || state === "created" || state === "dead",
    stop: alive,
    restart: state !== "removing" && state !== "dead",
    kill: state === "running" || state === "restarting",
    pause: state === "running",
    unpause: state === "paused",
  };
}

export function ContainerActions({ hostId, containerId, name, state, disabledReason = null, onRemoved }: ContainerActionsProps) {
  const user = useSessionUser();
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [dialog, setDialog] = useState<Dialogs>(null);
  const canOperate = canOnHost(user, hostId, "container.operate");
  const canCreate = canOnHost(user, hostId, "container.create");

  const settle = {
    // The live event normally refreshes every list; this covers a dropped stream.
    onSettled: () => queryClient.invalidateQueries(trpc.containers.pathFilter()),
  };
  const failed = (what: string) => (error: unknown) => toasts.error(`Could not ${what} ${name}`, errorMessage(error));
  const start = useMutation(trpc.containers.start.mutationOptions({ ...settle, onError: failed("start") }));
  const stop = useMutation(trpc.containers.stop.mutationOptions({ ...settle, onError: failed("stop") }));
  const restart = useMutation(trpc.containers.restart.mutationOptions({ ...settle, onError: failed("restart") }));
  const pause = useMutation(trpc.containers.pause.mutationOptions({ ...settle, onError: failed("pause") }));
  const unpause = useMutation(trpc.containers.unpause.mutationOptions({ ...settle, onError: failed("unpause") }));
  const running = [start, stop, restart, pause, unpause].some((m) => m.isPending);

  if (!canOperate && !canCreate) return null;
  const can = actionsForState(state);
  const ref = { hostId, containerId };
  const off = disabledReason !== null || running;
  const slug = name.replace(/[^a-zA-Z0-9_.-]/g, "_");

  return (
    <>
      <Menu
        label={`Actions for ${name}`}
        testId={`actions-${slug}`}
        triggerClassName="h-6 rounded border border-zinc-800 px-1.5 text-zinc-400 hover:bg-zinc-800 hover:text-zinc-100"
        trigger={running ? <Spinner className="size-3.5 text-sky-400" label="Action in progress" /> : <EllipsisVertical className="size-3.5" aria-hidden />}
      >
        {(close) => {
          const item = (key: string, label: string, icon: ReactNode, enabled: boolean, run: () => void, danger = false) => (
            <MenuItem
              key={key}
              testId={`menu-${key}-${slug}`}
              icon={icon}
              danger={danger}
              disabled={off || !enabled}
              onSelect={() => {
                close();
                run();
              }}
            >
              {label}
            </MenuItem>
          );
          return (
            <>
              {disabledReason ? <div className="max-w-64 px-3 py-1.5 text-xs text-amber-300">{disabledReason}</div> : null}
              {canOperate ? (
                <>
                  {item("start", "Start", <Play />, can.start, () => start.mutate(ref))}
                  {item("stop", "Stop", <Square />, can.stop, () => stop.mutate(ref))}
                  {item("stop-timeout", "Stop with timeout…", <Timer />, can.stop, () => setDialog("stop"))}
                  {item("restart", "Restart", <RotateCw />, can.restart, () => restart.mutate(ref))}
                  {item("pause", "Pause", <Pause />, can.pause, () => pause.mutate(ref))}
                  {item("unpause", "Unpause", <Play />, can.unpause, () => unpause.mutate(ref))}
                  {item("kill", "Kill…", <Skull />, can.kill, () => setDialog("kill"))}
                  {item("rename", "Rename…", <Edit3 />, true, () => setDialog("rename"))}
                </>
              ) : null}
              {canCreate ? (
                <>
                  <MenuSeparator />
                  {item("update", "Limits & restart policy…", <Gauge />, state !== "removing" && state !== "dead", () => setDialog("update"))}
                  {item("remove", "Remove…", <Trash2 />, state !== "removing", () => setDialog("remove"), true)}
                </>
              ) : null}
            </>
          );
        }}
      </Menu>
      {dialog === "kill" ? <KillDialog {...ref} name={name} onClose={() => setDialog(null)} /> : null}
      {dialog === "stop" ? <StopDialog {...ref} name={name} onClose={() => setDialog(null)} /> : null}
      {dialog === "rename" ? <RenameDialog {...ref} name={name} onClose={() => setDialog(null)} /> : null}
      {dialog === "update" ? <UpdateDialog {...ref} name={name} onClose={() => setDialog(null)} /> : null}
      {dialog === "remove" ? (
        <RemoveDialog
          {...ref}
          name={name}
          running={state === "running" || state === "paused" || state === "restarting"}
          onClose={() => setDialog(null)}
          onRemoved={onRemoved}
        />
      ) : null}
    </>
  );
}

type DialogProps = { hostId: string; containerId: string; name: string; onClose: () => void };

/** Every dialog's mutation refreshes the container lists when it settles and closes on success. */
function useSettled(onClose: () => void) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return {
    onSuccess: () => onClose(),
    onSettled: () => queryClient.invalidateQueries(trpc.containers.pathFilter()),
  };
}

function DialogActions({ onClose, pending, label, testId, disabled, danger }: { onClose: () => void; pending: boolean; label: string; testId: string; disabled?: boolean; danger?: boolean }) {
  return (
    <div className="mt-4 flex justify-end gap-2">
      <Button size="sm" variant="ghost" onClick={onClose}>
        Cancel
      </Button>
      <Button size="sm" type="submit" variant={danger ? "danger" : "primary"} loading={pending} disabled={disabled} data-testid={testId}>
        {label}
      </Button>
    </div>
  );
}

const COMMON_SIGNALS = ["SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

function KillDialog({ hostId, containerId, name, onClose }: DialogProps) {
  const trpc = useTRPC();
  const [signal, setSignal] = useState("SIGKILL");
  const [custom, setCustom] = useState("");
  const kill = useMutation(trpc.containers.kill.mutationOptions(useSettled(onClose)));
  const chosen = signal === "other" ? custom.trim().toUpperCase() : signal;
  const valid = ZSignal.safeParse(chosen).success;
  return (
    <Dialog open onClose={onClose} title={`Kill ${name}`} description="Sends a signal to the container's main process (docker kill -s)." testId="kill-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) kill.mutate({ hostId, containerId, signal: chosen });
        }}
        className="flex flex-col gap-3"
      >
        <SelectField label="Signal" value={signal} onChange={(e) => setSignal(e.target.value)} data-testid="kill-signal">
          {COMMON_SIGNALS.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
          <option value="other">Other…</option>
        </SelectField>
        {signal === "other" ? (
          <Field
            label="Signal name or number"
            value={custom}
            onChange={(e) => setCustom(e.target.value)}
            placeholder={`e.g. SIGWINCH or 28 (${SIGNAL_NAMES.length} names, 1-64)`}
            error={custom && !valid ? "not a signal" : null}
            hint={custom && !valid ? "Not a signal: a name such as SIGTERM or TERM, or a number from 1 to 64." : undefined}
          />
        ) : null}
        {kill.error ? <FormError>{errorMessage(kill.error)}</FormError> : null}
        <DialogActions onClose={onClose} pending={kill.isPending} label={`Send ${valid ? chosen : "signal"}`} testId="kill-dialog-confirm" disabled={!valid} danger />
      </form>
    </Dialog>
  );
}

function StopDialog({ hostId, containerId, name, onClose }: DialogProps) {
  const trpc = useTRPC();
  const [seconds, setSeconds] = useState("10");
  const stop = useMutation(trpc.containers.stop.mutationOptions(useSettled(onClose)));
  const value = Number(seconds);
  const valid = seconds.trim() !== "" && Number.isInteger(value) && value >= 0 && value <= 600;
  return (
    <Dialog open onClose={onClose} title={`Stop ${name}`} description="Docker sends the stop signal, waits this long, then kills the container." testId="stop-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) stop.mutate({ hostId, containerId, timeoutSeconds: value });
        }}
      >
        <Field
          label="Timeout (seconds)"
          inputMode="numeric"
          value={seconds}
          onChange={(e) => setSeconds(e.target.value)}
          error={valid ? null : "0 to 600"}
          hint={valid ? undefined : "A whole number of seconds from 0 to 600."}
          data-testid="stop-timeout"
        />
        {stop.error ? (
          <div className="mt-3">
            <FormError>{errorMessage(stop.error)}</FormError>
          </div>
        ) : null}
        <DialogActions onClose={onClose} pending={stop.isPending} label="Stop" testId="stop-dialog-confirm" disabled={!valid} />
      </form>
    </Dialog>
  );
}

function RenameDialog({ hostId, containerId, name, onClose }: DialogProps) {
  const trpc = useTRPC();
  const [next, setNext] = useState(name);
  const rename = useMutation(trpc.containers.rename.mutationOptions(useSettled(onClose)));
  const trimmed = next.trim();
  const valid = CONTAINER_NAME_PATTERN.test(trimmed) && trimmed.length <= 255;
  return (
    <Dialog open onClose={onClose} title={`Rename ${name}`} testId="rename-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (valid && trimmed !== name) rename.mutate({ hostId, containerId, name: trimmed });
        }}
      >
        <Field
          label="New name"
          value={next}
          autoFocus
          onChange={(e) => setNext(e.target.value)}
          error={valid ? null : "invalid"}
          hint={valid ? undefined : "At least 2 characters: letters, digits, '_', '.' or '-', starting with a letter or digit."}
          data-testid="rename-input"
        />
        {rename.error ? (
          <div className="mt-3">
            <FormError>{errorMessage(rename.error)}</FormError>
          </div>
        ) : null}
        <DialogActions onClose={onClose} pending={rename.isPending} label="Rename" testId="rename-dialog-confirm" disabled={!valid || trimmed === name} />
      </form>
    </Dialog>
  );
}

function UpdateDialog({ hostId, containerId, name, onClose }: DialogProps) {
  const trpc = useTRPC();
  const [memory, setMemory] = useState("");
  const [swap, setSwap] = useState("");
  const [cpus, setCpus] = useState("");
  const [shares, setShares] = useState("");
  const [policy, setPolicy] = useState<"" | (typeof RESTART_POLICIES)[number]>("");
  const [retries, setRetries] = useState("");
  const update = useMutation(trpc.containers.update.mutationOptions(useSettled(onClose)));

  const sizeError = (text: string, allowUnlimited: boolean) => {
    if (!text.trim()) return null;
    const bytes = parseByteSize(text);
    if (bytes === null || (bytes < 0 && !allowUnlimited)) return "Use bytes or a number with b, k, m or g (e.g. 512m)";
    return null;
  };
  const numberError = (text: string, integer: boolean) => {
    if (!text.trim()) return null;
    const n = Number(text);
    return Number.isFinite(n) && n >= 0 && (!integer || Number.isInteger(n)) ? null : integer ? "A whole number" : "A number, e.g. 1.5";
  };
  const errors = {
    memory: sizeError(memory, false),
    swap: sizeError(swap, true),
    cpus: numberError(cpus, false),
    shares: numberError(shares, true),
    retries: numberError(retries, true),
  };
  const anything = [memory, swap, cpus, shares].some((v) => v.trim()) || policy !== "";
  const valid = anything && Object.values(errors).every((e) => e === null);

  return (
    <Dialog open onClose={onClose} title={`Limits and restart policy of ${name}`} description="docker update: only the fields you fill in change." testId="update-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!valid) return;
          update.mutate({
            hostId,
            containerId,
            memory: memory.trim() || undefined,
            memorySwap: swap.trim() || undefined,
            cpus: cpus.trim() ? Number(cpus) : undefined,
            cpuShares: shares.trim() ? Number(shares) : undefined,
            restartPolicy: policy ? { name: policy, maximumRetryCount: policy === "on-failure" && retries.trim() ? Number(retries) : undefined } : undefined,
          });
        }}
        className="grid grid-cols-2 gap-3"
      >
        <Field label="Memory" placeholder="e.g. 512m" value={memory} onChange={(e) => setMemory(e.target.value)} error={errors.memory} hint={errors.memory ?? undefined} data-testid="update-memory" />
        <Field label="Memory + swap" placeholder="e.g. 1g, -1 = unlimited" value={swap} onChange={(e) => setSwap(e.target.value)} error={errors.swap} hint={errors.swap ?? undefined} />
        <Field label="CPUs" placeholder="e.g. 1.5" inputMode="decimal" value={cpus} onChange={(e) => setCpus(e.target.value)} error={errors.cpus} hint={errors.cpus ?? undefined} />
        <Field label="CPU shares" placeholder="e.g. 512" inputMode="numeric" value={shares} onChange={(e) => setShares(e.target.value)} error={errors.shares} hint={errors.shares ?? undefined} />
        <SelectField label="Restart policy" value={policy} onChange={(e) => setPolicy(e.target.value as typeof policy)} data-testid="update-restart-policy">
          <option value="">(unchanged)</option>
          {RESTART_POLICIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </SelectField>
        <Field
          label="Max retries (on-failure)"
          inputMode="numeric"
          disabled={policy !== "on-failure"}
          value={retries}
          onChange={(e) => setRetries(e.target.value)}
          error={errors.retries}
          hint={errors.retries ?? undefined}
        />
        {update.error ? (
          <div className="col-span-2">
            <FormError>{errorMessage(update.error)}</FormError>
          </div>
        ) : null}
        <div className="col-span-2">
          <DialogActions onClose={onClose} pending={update.isPending} label="Apply" testId="update-dialog-confirm" disabled={!valid} />
        </div>
      </form>
    </Dialog>
  );
}

function RemoveDialog({ hostId, containerId, name, running, onClose, onRemoved }: DialogProps & { running: boolean; onRemoved?: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [force, setForce] = useState(running);
  const [volumes, setVolumes] = useState(false);
  const remove = useMutation(
    trpc.containers.remove.mutationOptions({
      onSuccess: () => {
        onClose();
        onRemoved?.();
      },
      onSettled: () => queryClient.invalidateQueries(trpc.containers.pathFilter()),
    }),
  );
  return (
    <ConfirmDialog
      open
      onClose={onClose}
      title={`Remove ${name}?`}
      confirmLabel="Remove"
      onConfirm={() => remove.mutate({ hostId, containerId, force, removeVolumes: volumes })}
      pending={remove.isPending}
      error={remove.error}
      testId="remove-dialog"
    >
      <p>The container and its writable layer are deleted. This cannot be undone.</p>
      <div className="mt-3 flex flex-col gap-2">
        <Checkbox
          label="Force"
          description={running ? "It is running: Docker kills it first." : "Kill it first if it is running."}
          checked={force}
          onChange={(e) => setForce(e.target.checked)}
          data-testid="remove-force"
        />
        <Checkbox
          label="Also remove its anonymous volumes"
          description="Named volumes are kept, as with docker rm -v."
          checked={volumes}
          onChange={(e) => setVolumes(e.target.checked)}
          data-testid="remove-volumes"
        />
      </div>
      {running && !force ? (
        <p className={cx("mt-3 flex items-center gap-1.5 text-amber-300")}>
          <Ban className="size-3.5" aria-hidden /> Docker refuses to remove a running container without Force.
        </p>
      ) : null}
    </ConfirmDialog>
  );
}
