"use client";

/**
 * "Pull image": a reference, parsed as Docker will read it (shown normalised
 * as you type), pulled on this host and on any other host you pick, each
 * with Docker's per-layer progress as bars, live, and a Cancel.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Download, X } from "lucide-react";
import { useEffect, useMemo, useRef, useState } from "react";
import { parseImageReference } from "../../../../agent/image-reference";
import type { TImagePullProgress } from "../../../../agent/protocol";
import { ClientEvent, ServerEvent, type TImagePullEnd, type TImagePullProgressFrame, type TImagePullStarted } from "../../../../server/gateway/browser-protocol";
import { Dialog } from "../../../_components/dialog";
import { Button, Checkbox, Field, FormError, cx } from "../../../_components/ui";
import { canOnHost } from "../../../_lib/access";
import { browserSocket, request } from "../../../_lib/browser-socket";
import { useSessionUser } from "../../../_lib/session";
import { useTRPC } from "../../../_lib/trpc";
import { LayerProgress } from "./layer-progress";

type Layer = TImagePullProgress["layers"][number];
type HostPull = {
  hostId: string;
  hostName: string;
  pullId: string | null;
  layers: Map<string, Layer>;
  messages: string[];
  state: "starting" | "pulling" | "done" | "failed";
  error: string | null;
};

export function PullImageButton({ hostId }: { hostId: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button size="sm" onClick={() => setOpen(true)} data-testid="pull-image">
        <Download className="size-3.5" aria-hidden />
        Pull image
      </Button>
      {open ? <PullImageDialog hostId={hostId} onClose={() => setOpen(false)} /> : null}
    </>
  );
}

function PullImageDialog({ hostId, onClose }: { hostId: string; onClose: () => void }) {
  const trpc = useTRPC();
  const user = useSessionUser();
  const queryClient = useQueryClient();
  const hosts = useQuery(trpc.hosts.list.queryOptions());
  const [reference, setReference] = useState("");
  const [targets, setTargets] = useState<Set<string>>(new Set([hostId]));
  const [pulls, setPulls] = useState<HostPull[]>([]);
  const pullsRef = useRef(pulls);
  pullsRef.current = pulls;
  const parsed = useMemo(() => (reference.trim() ? parseImageReference(reference.trim()) : null), [reference]);
  const eligible = (hosts.data ?? []).filter((h) => h.status === "ONLINE" && canOnHost(user, h.id, "image.pull"));

  // Progress and ends for this dialog's pulls, by pull id.
  useEffect(() => {
    const socket = browserSocket();
    const onProgress = (frame: TImagePullProgressFrame) => {
      if (!pullsRef.current.some((p) => p.pullId === frame.pullId)) return;
      setPulls((list) =>
        list.map((p) => {
          if (p.pullId !== frame.pullId) return p;
          const layers = new Map(p.layers);
          for (const layer of frame.progress.layers) layers.set(layer.id, layer);
          return { ...p, layers, messages: [...p.messages, ...frame.progress.messages].slice(-5) };
        }),
      );
      // Applied: the agent may send the next state.
      socket.emit(ClientEvent.imagePullAck, { pullId: frame.pullId, seq: frame.seq });
    };
    const onEnd = (end: TImagePullEnd) => {
      if (!pullsRef.current.some((p) => p.pullId === end.pullId)) return;
      setPulls((list) => list.map((p) => (p.pullId === end.pullId ? { ...p, state: end.error ? "failed" : "done", error: end.error } : p)));
      if (!end.error) void queryClient.invalidateQueries(trpc.images.list.pathFilter());
    };
    socket.on(ServerEvent.imagePullProgress, onProgress);
    socket.on(ServerEvent.imagePullEnd, onEnd);
    return () => {
      socket.off(ServerEvent.imagePullProgress, onProgress);
      socket.off(ServerEvent.imagePullEnd, onEnd);
    };
  }, [queryClient, trpc]);

  const start = async () => {
    if (!parsed?.ok) return;
    const chosen = eligible.filter((h) => targets.has(h.id));
    setPulls(chosen.map((h) => ({ hostId: h.id, hostName: h.name, pullId: null, layers: new Map(), messages: [], state: "starting", error: null })));
    await Promise.all(
      chosen.map(async (h) => {
        const answer = await request<TImagePullStarted>(ClientEvent.imagePull, { hostId: h.id, reference: reference.trim() });
        setPulls((list) =>
          list.map((p) => (p.hostId !== h.id ? p : answer.ok ? (p.state === "starting" ? { ...p, pullId: answer.pullId, state: "pulling" } : { ...p, pullId: answer.pullId }) : { ...p, state: "failed", error: answer.message })),
        );
      }),
    );
  };

  const running = pulls.some((p) => p.state === "starting" || p.state === "pulling");
  return (
    <Dialog open onClose={onClose} title="Pull an image" description="From Docker Hub or a registry your team uses; its credentials are used automatically." testId="pull-dialog" className="max-w-2xl">
      <form
        className="flex flex-col gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <Field
          label="Image reference"
          value={reference}
          onChange={(e) => setReference(e.target.value)}
          placeholder="nginx, nginx:1.27, registry.example.com:5000/team/app:v2, …@sha256:…"
          data-testid="pull-reference"
          className="font-mono"
          autoFocus
          disabled={running}
          hint={
            parsed === null ? (
              "[registry/][namespace/]name[:tag|@digest] — latest when no tag"
            ) : parsed.ok ? (
              <span data-testid="pull-normalised">
                Docker reads it as <span className="font-mono text-zinc-200">{parsed.reference.canonical}</span>
              </span>
            ) : undefined
          }
        />
        {parsed && !parsed.ok ? <FormError>{parsed.error.message}</FormError> : null}
        {eligible.length > 1 ? (
          <fieldset className="flex flex-wrap gap-x-4 gap-y-1.5">
            <legend className="mb-1 text-xs text-zinc-400">Pull on</legend>
            {eligible.map((h) => (
              <Checkbox
                key={h.id}
                label={h.name}
                checked={targets.has(h.id)}
                disabled={running}
                data-testid={`pull-target-${h.name}`}
                onChange={(e) =>
                  setTargets((set) => {
                    const next = new Set(set);
                    if (e.target.checked) next.add(h.id);
                    else next.delete(h.id);
                    return next;
                  })
                }
              />
            ))}
          </fieldset>
        ) : null}
        <div className="flex justify-end gap-2">
          <Button type="button" variant="ghost" onClick={onClose} data-testid="pull-done">
            Done
          </Button>
          <Button type="submit" variant="primary" disabled={!parsed?.ok || running || targets.size === 0} data-testid="pull-submit">
            <Download className="size-4" aria-hidden />
            Pull
          </Button>
        </div>
      </form>

      {pulls.length > 0 ? (
        <div className="mt-4 flex flex-col gap-3" data-testid="pull-progress">
          {pulls.map((p) => (
            <HostProgress key={p.hostId} pull={p} onCancel={() => p.pullId && void request(ClientEvent.imagePullCancel, { pullId: p.pullId })} />
          ))}
        </div>
      ) : null}
    </Dialog>
  );
}

function HostProgress({ pull, onCancel }: { pull: HostPull; onCancel: () => void }) {
  const layers = [...pull.layers.values()];
  return (
    <section className="rounded-md border border-zinc-800 p-3" data-testid={`pull-host-${pull.hostName}`} data-state={pull.state}>
      <div className="mb-2 flex items-center justify-between gap-2 text-xs">
        <span className="font-medium text-zinc-200">{pull.hostName}</span>
        <span className="flex items-center gap-2">
          <span data-testid="pull-state" className={cx(pull.state === "done" ? "text-emerald-300" : pull.state === "failed" ? "text-red-300" : "text-amber-300")}>
            {pull.state === "done" ? "Pulled" : pull.state === "failed" ? (pull.error ?? "Failed") : pull.state === "starting" ? "Starting…" : "Pulling…"}
          </span>
          {pull.state === "pulling" ? (
            <Button size="xs" variant="ghost" onClick={onCancel} data-testid="pull-cancel">
              <X className="size-3" aria-hidden />
              Cancel
            </Button>
          ) : null}
        </span>
      </div>
      <LayerProgress layers={layers} messages={pull.messages} testId="pull" />
    </section>
  );
}
