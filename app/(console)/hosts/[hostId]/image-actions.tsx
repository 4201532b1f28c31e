"use client";

/**
 * What a person can do with one image of a host (its row's menu): push it to
 * a registry with per-layer progress, tag it, untag one of its tags, remove
 * it (force); and, for the whole host, prune dangling or unused images after
 * a preview of what goes and the space it frees. Docker's refusals are shown
 * in Docker's words (with the containers that hold an image).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { MoreHorizontal, Scissors, Tag, Trash2, Upload, X } from "lucide-react";
import { useEffect, useMemo, useRef, useState } from "react";
import { parseImageReference } from "../../../../agent/image-reference";
import type { TImagePullProgress } from "../../../../agent/protocol";
import { ClientEvent, ServerEvent, type TImagePushEnd, type TImagePushProgressFrame, type TImagePushStarted } from "../../../../server/gateway/browser-protocol";
import { ConfirmDialog } from "../../../_components/confirm-dialog";
import { Dialog } from "../../../_components/dialog";
import { Menu, MenuItem, MenuLabel, MenuSeparator } from "../../../_components/menu";
import { Button, Checkbox, Field, FormError, Spinner, cx } from "../../../_components/ui";
import { canOnHost } from "../../../_lib/access";
import { browserSocket, request } from "../../../_lib/browser-socket";
import { formatBytes, plural, shortId } from "../../../_lib/format";
import { useSessionUser } from "../../../_lib/session";
import { errorMessage, useTRPC, type Image } from "../../../_lib/trpc";
import { LayerProgress } from "./layer-progress";

type Open = { kind: "push" | "tag" | "remove" } | { kind: "untag"; tag: string } | null;

export function ImageActions({ hostId, image }: { hostId: string; image: Image }) {
  const user = useSessionUser();
  const [open, setOpen] = useState<Open>(null);
  const canPush = canOnHost(user, hostId, "image.push");
  const canRemove = canOnHost(user, hostId, "image.remove");
  if (!canPush && !canRemove) return null;
  const id = shortId(image.dockerId);
  const close = () => setOpen(null);
  return (
    // The row opens the layer view on click: the menu and its dialogs must not (nor inherit the cell's alignment).
    <span className="text-left" onClick={(e) => e.stopPropagation()}>
      <Menu label={`Actions for image ${id}`} testId={`image-actions-${id}`} triggerClassName="rounded p-1 text-zinc-500 hover:bg-zinc-800 hover:text-zinc-200" trigger={<MoreHorizontal className="size-4" aria-hidden />}>
        {(closeMenu) => (
          <>
            {canPush ? (
              <MenuItem icon={<Upload />} testId="image-push" onSelect={() => (closeMenu(), setOpen({ kind: "push" }))}>
                Push to a registry…
              </MenuItem>
            ) : null}
            {canRemove ? (
              <>
                <MenuItem icon={<Tag />} testId="image-tag" onSelect={() => (closeMenu(), setOpen({ kind: "tag" }))}>
                  Tag…
                </MenuItem>
                {image.repoTags.length ? (
                  <>
                    <MenuSeparator />
                    <MenuLabel>Untag</MenuLabel>
                    {image.repoTags.map((tag) => (
                      <MenuItem key={tag} icon={<X />} testId={`image-untag-${tag}`} onSelect={() => (closeMenu(), setOpen({ kind: "untag", tag }))}>
                        <span className="font-mono text-xs">{tag}</span>
                      </MenuItem>
                    ))}
                  </>
                ) : null}
                <MenuSeparator />
                <MenuItem icon={<Trash2 />} danger testId="image-remove" onSelect={() => (closeMenu(), setOpen({ kind: "remove" }))}>
                  Remove…
                </MenuItem>
              </>
            ) : null}
          </>
        )}
      </Menu>
      {open?.kind === "push" ? <PushDialog hostId={hostId} image={image} onClose={close} /> : null}
      {open?.kind === "tag" ? <TagDialog hostId={hostId} image={image} onClose={close} /> : null}
      {open?.kind === "untag" ? <UntagDialog hostId={hostId} image={image} tag={open.tag} onClose={close} /> : null}
      {open?.kind === "remove" ? <RemoveDialog hostId={hostId} image={image} onClose={close} /> : null}
    </span>
  );
}

function useRefreshImages() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () => void queryClient.invalidateQueries(trpc.images.list.pathFilter());
}

/** A tag to create or push to, read by Docker's rules as you type. */
function useTagReference(text: string) {
  return useMemo(() => {
    const value = text.trim();
    if (!value) return null;
    const parsed = parseImageReference(value);
    if (!parsed.ok) return { ok: false as const, message: parsed.error.message };
    if (parsed.reference.digest) return { ok: false as const, message: "A digest cannot be created or pushed to: give a tag (name:tag)" };
    return { ok: true as const, reference: parsed.reference };
  }, [text]);
}

function ReferenceHint({ parsed }: { parsed: ReturnType<typeof useTagReference> }) {
  if (!parsed) return <>[registry/][namespace/]name[:tag] — latest when no tag</>;
  if (!parsed.ok) return null;
  return (
    <span data-testid="reference-normalised">
      Docker reads it as <span className="font-mono text-zinc-200">{parsed.reference.canonical}</span>
    </span>
  );
}

type PushState = { pushId: string | null; layers: Map<string, TImagePullProgress["layers"][number]>; messages: string[]; state: "starting" | "pushing" | "done" | "failed"; error: string | null; digest: string | null };

function PushDialog({ hostId, image, onClose }: { hostId: string; image: Image; onClose: () => void }) {
  const trpc = useTRPC();
  const refresh = useRefreshImages();
  const registries = useQuery(trpc.registries.list.queryOptions());
  const firstTag = image.repoTags[0] ? parseImageReference(image.repoTags[0]) : null;
  const path = firstTag?.ok ? firstTag.reference.path.replace(/^library\//, "") : "image";
  const tag = firstTag?.ok ? (firstTag.reference.tag ?? "latest") : "latest";
  const suggestions = (registries.data ?? []).map((r) => `${r.host}/${path}:${tag}`);
  const [reference, setReference] = useState(suggestions[0] ?? "");
  const parsed = useTagReference(reference);
  const [push, setPush] = useState<PushState | null>(null);
  // The image gains the pushed tag while the dialog is open: the title keeps the name it opened with.
  const [title] = useState(`Push ${image.repoTags[0] ?? shortId(image.dockerId)}`);
  const pushRef = useRef(push);
  pushRef.current = push;
  // The registries load after the dialog opens: their suggestion fills an empty field, never one the user typed in.
  // (An effect of a render before the keystroke still sees the empty field; the ref knows better.)
  const typed = useRef(false);
  useEffect(() => {
    if (!typed.current && !reference && suggestions[0]) setReference(suggestions[0]);
  }, [reference, suggestions]);

  useEffect(() => {
    const socket = browserSocket();
    const onProgress = (frame: TImagePushProgressFrame) => {
      if (pushRef.current?.pushId !== frame.pushId) return;
      setPush((p) => {
        if (!p) return p;
        const layers = new Map(p.layers);
        for (const layer of frame.progress.layers) layers.set(layer.id, layer);
        return { ...p, layers, messages: [...p.messages, ...frame.progress.messages].slice(-5) };
      });
      socket.emit(ClientEvent.imagePushAck, { pushId: frame.pushId, seq: frame.seq });
    };
    const onEnd = (end: TImagePushEnd) => {
      if (pushRef.current?.pushId !== end.pushId) return;
      setPush((p) => (p ? { ...p, state: end.error ? "failed" : "done", error: end.error, digest: end.digest } : p));
      refresh();
    };
    socket.on(ServerEvent.imagePushProgress, onProgress);
    socket.on(ServerEvent.imagePushEnd, onEnd);
    return () => {
      socket.off(ServerEvent.imagePushProgress, onProgress);
      socket.off(ServerEvent.imagePushEnd, onEnd);
    };
  }, [refresh]);

  const start = async () => {
    if (!parsed?.ok) return;
    setPush({ pushId: null, layers: new Map(), messages: [], state: "starting", error: null, digest: null });
    const answer = await request<TImagePushStarted>(ClientEvent.imagePush, { hostId, imageId: image.dockerId, reference: reference.trim() });
    setPush((p) => (!p ? p : answer.ok ? { ...p, pushId: answer.pushId, state: p.state === "starting" ? "pushing" : p.state } : { ...p, state: "failed", error: answer.message }));
  };
  const running = push?.state === "starting" || push?.state === "pushing";

  return (
    <Dialog open onClose={onClose} title={title} description="Tagged as the reference, then pushed; a registry your team uses lends its credentials." testId="push-dialog" className="max-w-2xl">
      <form
        className="flex flex-col gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <Field
          label="Push as"
          value={reference}
          onChange={(e) => {
            typed.current = true;
            setReference(e.target.value);
          }}
          placeholder="registry.example.com:5000/team/app:v2"
          list="push-suggestions"
          className="font-mono"
          data-testid="push-reference"
          autoFocus
          disabled={running}
          hint={<ReferenceHint parsed={parsed} />}
        />
        <datalist id="push-suggestions">
          {suggestions.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
        {parsed && !parsed.ok ? <FormError>{parsed.message}</FormError> : null}
        <div className="flex justify-end gap-2">
          <Button type="button" variant="ghost" onClick={onClose} data-testid="push-close">
            {push?.state === "done" ? "Done" : "Close"}
          </Button>
          <Button type="submit" variant="primary" disabled={!parsed?.ok || running} data-testid="push-submit">
            <Upload className="size-4" aria-hidden />
            Push
          </Button>
        </div>
      </form>
      {push ? (
        <section className="mt-4 rounded-md border border-zinc-800 p-3" data-testid="push-progress" data-state={push.state}>
          <div className="mb-2 flex items-center justify-between gap-2 text-xs">
            <span data-testid="push-state" className={cx("min-w-0 break-all", push.state === "done" ? "text-emerald-300" : push.state === "failed" ? "text-red-300" : "text-amber-300")}>
              {push.state === "done" ? `Pushed ${push.digest ?? ""}` : push.state === "failed" ? (push.error ?? "Failed") : push.state === "starting" ? "Starting…" : "Pushing…"}
            </span>
            {push.state === "pushing" && push.pushId ? (
              <Button size="xs" variant="ghost" onClick={() => void request(ClientEvent.imagePushCancel, { pushId: push.pushId })} data-testid="push-cancel">
                <X className="size-3" aria-hidden />
                Cancel
              </Button>
            ) : null}
          </div>
          <LayerProgress layers={[...push.layers.values()]} messages={push.messages} testId="push" />
        </section>
      ) : null}
    </Dialog>
  );
}

function TagDialog({ hostId, image, onClose }: { hostId: string; image: Image; onClose: () => void }) {
  const trpc = useTRPC();
  const refresh = useRefreshImages();
  const [reference, setReference] = useState("");
  const parsed = useTagReference(reference);
  const tag = useMutation(trpc.images.tag.mutationOptions({ onSuccess: () => (refresh(), onClose()) }));
  return (
    <Dialog open onClose={onClose} title={`Tag ${image.repoTags[0] ?? shortId(image.dockerId)}`} description="Another name for the same image (docker tag); a tag another image has moves to this one." testId="tag-dialog">
      <form
        className="flex flex-col gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          if (parsed?.ok) tag.mutate({ hostId, imageId: image.dockerId, reference: reference.trim() });
        }}
      >
        <Field label="New tag" value={reference} onChange={(e) => setReference(e.target.value)} placeholder="team/app:v2" className="font-mono" data-testid="tag-reference" autoFocus hint={<ReferenceHint parsed={parsed} />} />
        {parsed && !parsed.ok ? <FormError>{parsed.message}</FormError> : null}
        {tag.error ? <FormError>{errorMessage(tag.error)}</FormError> : null}
        <div className="flex justify-end gap-2">
          <Button type="button" variant="ghost" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" loading={tag.isPending} disabled={!parsed?.ok} data-testid="tag-submit">
            <Tag className="size-4" aria-hidden />
            Tag
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

function UntagDialog({ hostId, image, tag, onClose }: { hostId: string; image: Image; tag: string; onClose: () => void }) {
  const trpc = useTRPC();
  const refresh = useRefreshImages();
  const untag = useMutation(trpc.images.untag.mutationOptions({ onSuccess: () => (refresh(), onClose()) }));
  const last = image.repoTags.length === 1;
  return (
    <ConfirmDialog
      open
      onClose={onClose}
      title={`Untag ${tag}?`}
      confirmLabel="Untag"
      onConfirm={() => untag.mutate({ hostId, reference: tag })}
      pending={untag.isPending}
      error={untag.error}
      testId="untag-dialog"
    >
      {last
        ? "This is the image's last tag: Docker removes the image with it (unless a container uses it)."
        : `The image keeps its other ${plural(image.repoTags.length - 1, "tag")}; only this name goes.`}
    </ConfirmDialog>
  );
}

function RemoveDialog({ hostId, image, onClose }: { hostId: string; image: Image; onClose: () => void }) {
  const trpc = useTRPC();
  const refresh = useRefreshImages();
  const [force, setForce] = useState(false);
  const remove = useMutation(trpc.images.remove.mutationOptions({ onSuccess: () => (refresh(), onClose()) }));
  return (
    <ConfirmDialog
      open
      onClose={onClose}
      title={`Remove ${image.repoTags[0] ?? shortId(image.dockerId)}?`}
      confirmLabel={force ? "Force remove" : "Remove"}
      onConfirm={() => remove.mutate({ hostId, imageId: image.dockerId, force })}
      pending={remove.isPending}
      error={remove.error}
      testId="remove-image-dialog"
    >
      <p>
        Every tag of this image and the image itself ({formatBytes(image.sizeBytes)}) — docker rmi.
        {image.containers > 0 ? ` ${plural(image.containers, "container")} use${image.containers === 1 ? "s" : ""} it.` : ""}
      </p>
      <div className="mt-3">
        <Checkbox
          label="Force"
          description="Remove it even with several tags or when a stopped container uses it (docker rmi -f). A running container's image is never removed."
          checked={force}
          onChange={(e) => setForce(e.target.checked)}
          data-testid="remove-image-force"
        />
      </div>
    </ConfirmDialog>
  );
}

export function PruneImagesButton({ hostId }: { hostId: string }) {
  const user = useSessionUser();
  const [open, setOpen] = useState(false);
  if (!canOnHost(user, hostId, "image.remove")) return null;
  return (
    <>
      <Button size="sm" variant="ghost" onClick={() => setOpen(true)} data-testid="prune-images">
        <Scissors className="size-3.5" aria-hidden />
        Prune…
      </Button>
      {open ? <PruneDialog hostId={hostId} onClose={() => setOpen(false)} /> : null}
    </>
  );
}

function PruneDialog({ hostId, onClose }: { hostId: string; onClose: () => void }) {
  const trpc = useTRPC();
  const refresh = useRefreshImages();
  const [mode, setMode] = useState<"dangling" | "unused">("dangling");
  const preview = useQuery({ ...trpc.images.prunePreview.queryOptions({ hostId, mode }), staleTime: 0, gcTime: 0, retry: false });
  const prune = useMutation(trpc.images.prune.mutationOptions({ onSuccess: refresh }));
  const images = preview.data?.images ?? [];
  const result = prune.data;
  return (
    <Dialog open onClose={onClose} title="Prune images" description="See what goes and the space it frees, then confirm: exactly these images are removed (one a container starts using meanwhile is kept)." testId="prune-dialog" className="max-w-2xl">
      {result ? (
        <div className="flex flex-col gap-2 text-xs" data-testid="prune-result">
          <p className="text-emerald-300">
            Removed {plural(result.removed.length, "image")}, freed {formatBytes(result.reclaimedBytes)}.
          </p>
          {result.skipped.length ? (
            <ul className="flex flex-col gap-1 text-amber-300">
              {result.skipped.map((s) => (
                <li key={s.id}>
                  Kept <span className="font-mono">{shortId(s.id)}</span>: {s.reason}
                </li>
              ))}
            </ul>
          ) : null}
          <div className="flex justify-end">
            <Button size="sm" variant="primary" onClick={onClose} data-testid="prune-done">
              Done
            </Button>
          </div>
        </div>
      ) : (
        <div className="flex flex-col gap-3">
          <fieldset className="flex gap-4 text-xs" disabled={prune.isPending}>
            <legend className="sr-only">Which images</legend>
            {(
              [
                ["dangling", "Dangling", "images with no tag"],
                ["unused", "All unused", "every image no container uses"],
              ] as const
            ).map(([value, label, hint]) => (
              <label key={value} className="flex cursor-pointer items-center gap-1.5 text-zinc-200">
                <input type="radio" name="prune-mode" value={value} checked={mode === value} onChange={() => setMode(value)} data-testid={`prune-mode-${value}`} />
                {label} <span className="text-zinc-500">— {hint}</span>
              </label>
            ))}
          </fieldset>
          {preview.isPending ? (
            <Spinner className="mx-auto size-4" />
          ) : preview.error ? (
            <FormError>{errorMessage(preview.error)}</FormError>
          ) : images.length === 0 ? (
            <p className="text-xs text-zinc-400" data-testid="prune-empty">
              Nothing to prune.
            </p>
          ) : (
            <>
              <div className="max-h-72 overflow-auto rounded-md border border-zinc-800">
                <table className="w-full text-xs" data-testid="prune-preview">
                  <tbody className="divide-y divide-zinc-800/70">
                    {images.map((i) => (
                      <tr key={i.id} data-testid="prune-preview-row">
                        <td className="px-2 py-1 font-mono text-zinc-400">{shortId(i.id)}</td>
                        <td className="px-2 py-1 font-mono text-zinc-200">{i.tags.length ? i.tags.join(", ") : <span className="text-zinc-500">{i.intermediate ? "<build step>" : "<none>"}</span>}</td>
                        <td className="px-2 py-1 text-right text-zinc-400 tabular-nums">{formatBytes(i.sizeBytes)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <p className="text-xs text-zinc-300" data-testid="prune-total">
                {plural(images.length, "image")} · frees <span className="font-medium text-zinc-100">{formatBytes(preview.data!.reclaimableBytes)}</span>
                <span className="text-zinc-500"> (layers shared with kept images stay)</span>
              </p>
            </>
          )}
          {prune.error ? <FormError>{errorMessage(prune.error)}</FormError> : null}
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={onClose}>
              Cancel
            </Button>
            <Button
              size="sm"
              variant="danger"
              loading={prune.isPending}
              disabled={!images.length}
              onClick={() => prune.mutate({ hostId, mode, ids: images.map((i) => i.id) })}
              data-testid="prune-confirm"
            >
              Remove {plural(images.length, "image")}
            </Button>
          </div>
        </div>
      )}
    </Dialog>
  );
}
