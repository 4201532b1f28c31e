"use client";

/**
 * "Build image": a Dockerfile editor (CodeMirror, Dockerfile highlighting),
 * a build context (a tar or zip file, or a folder), tags, build args, target
 * stage and no-cache; then Docker's output live, step by step, with Cancel.
 * A failing step is shown with Docker's error; a built image links to its
 * layers (and appears in the host's images through the live inventory).
 *
 * A plain tar is announced with the build and uploaded once it started (POST
 * /api/build-context with the build's uploadContextId, with upload progress):
 * the server forwards it to the host as it arrives, so the upload and the
 * transfer to Docker overlap. A zip, a gzipped tar or a folder must be
 * unpacked on the server first: it goes up first, then the build starts on the
 * socket with the stored context's id.
 */
import { StreamLanguage } from "@codemirror/language";
import { dockerFile } from "@codemirror/legacy-modes/mode/dockerfile";
import { useQueryClient } from "@tanstack/react-query";
import CodeMirror from "@uiw/react-codemirror";
import { Hammer, Layers, Plus, Trash2, X } from "lucide-react";
import { useEffect, useMemo, useRef, useState } from "react";
import type { TBuildLine, TBuildStep } from "../../../../agent/protocol";
import { ClientEvent, DOCKERFILE_MAX_CHARS, ServerEvent, type TImageBuildEnd, type TImageBuildOutputFrame, type TImageBuildStarted } from "../../../../server/gateway/browser-protocol";
import { Dialog } from "../../../_components/dialog";
import { Button, Checkbox, Field, FormError, Input, cx } from "../../../_components/ui";
import { browserSocket, request } from "../../../_lib/browser-socket";
import { formatBytes, shortId } from "../../../_lib/format";
import { useTheme } from "../../../_lib/theme";
import { useTRPC } from "../../../_lib/trpc";
import { ImageLayers } from "./image-layers";

const dockerfileLanguage = StreamLanguage.define(dockerFile);
/** The output view keeps this many lines (the newest); a chatty RUN cannot grow the tab without bound. */
const MAX_LINES = 5_000;
const STARTER = "FROM busybox:latest\nWORKDIR /app\nCOPY . .\nCMD [\"sh\"]\n";

type Context = { kind: "file"; file: File; format: "tar" | "zip" } | { kind: "folder"; files: Array<{ file: File; path: string }>; name: string };
type Phase = "editing" | "uploading" | "building" | "done" | "failed";

export function BuildImageButton({ hostId }: { hostId: string }) {
  const [open, setOpen] = useState(false);
  const [layersOf, setLayersOf] = useState<{ id: string; title: string } | null>(null);
  return (
    <>
      <Button size="sm" onClick={() => setOpen(true)} data-testid="build-image">
        <Hammer className="size-3.5" aria-hidden />
        Build image
      </Button>
      {open ? (
        <BuildImageDialog
          hostId={hostId}
          onClose={() => setOpen(false)}
          onShowLayers={(id, title) => {
            setOpen(false);
            setLayersOf({ id, title });
          }}
        />
      ) : null}
      <ImageLayers hostId={hostId} imageId={layersOf?.id ?? null} title={layersOf?.title ?? ""} onClose={() => setLayersOf(null)} />
    </>
  );
}

function useEditorTheme(): "light" | "dark" {
  const { preference } = useTheme();
  const [system, setSystem] = useState<"light" | "dark">("dark");
  useEffect(() => {
    const media = window.matchMedia("(prefers-color-scheme: light)");
    const update = () => setSystem(media.matches ? "light" : "dark");
    update();
    media.addEventListener("change", update);
    return () => media.removeEventListener("change", update);
  }, []);
  return preference === "system" ? system : preference;
}

/** Whether a file starts as gzip does (1f 8b): such a tar is unpacked on the server, not forwarded as it comes. */
async function isGzip(file: File): Promise<boolean> {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  return head[0] === 0x1f && head[1] === 0x8b;
}

/**
 * Uploads the context with the browser's progress events; resolves the
 * server's answer. With `buildContextId`, the plain tar a started build waits
 * for (it answers once the build took all of it).
 */
function uploadContext(
  hostId: string,
  context: Context,
  onProgress: (fraction: number) => void,
  signal: AbortSignal,
  buildContextId: string | null = null,
): Promise<{ contextId: string; bytes: number; files: number }> {
  return new Promise((resolve, reject) => {
    const format = context.kind === "folder" ? "folder" : context.format;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/build-context?${new URLSearchParams({ hostId, format, ...(buildContextId ? { contextId: buildContextId } : {}) })}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status === 200) resolve(JSON.parse(xhr.responseText) as { contextId: string; bytes: number; files: number });
      else reject(new Error(xhr.responseText || `The upload failed (HTTP ${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error("The upload failed: the connection was lost (or the context is over the server's limit)"));
    signal.addEventListener("abort", () => xhr.abort());
    xhr.onabort = () => reject(new Error("Cancelled"));
    if (context.kind === "file") {
      xhr.setRequestHeader("content-type", "application/octet-stream");
      xhr.send(context.file);
    } else {
      const form = new FormData();
      for (const { file, path } of context.files) form.append("file", file, path);
      xhr.send(form);
    }
  });
}

function BuildImageDialog({ hostId, onClose, onShowLayers }: { hostId: string; onClose: () => void; onShowLayers: (imageId: string, title: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const theme = useEditorTheme();
  const [useEditor, setUseEditor] = useState(true);
  const [dockerfileText, setDockerfileText] = useState(STARTER);
  const [dockerfilePath, setDockerfilePath] = useState("Dockerfile");
  const [context, setContext] = useState<Context | null>(null);
  const [tags, setTags] = useState("");
  const [target, setTarget] = useState("");
  const [noCache, setNoCache] = useState(false);
  const [pull, setPull] = useState(false);
  const [args, setArgs] = useState<Array<{ key: string; value: string }>>([]);
  const [phase, setPhase] = useState<Phase>("editing");
  const [uploaded, setUploaded] = useState(0);
  const [sent, setSent] = useState<{ received: number; total: number } | null>(null);
  const [lines, setLines] = useState<TBuildLine[]>([]);
  const [dropped, setDropped] = useState(0);
  const [result, setResult] = useState<{ imageId: string | null; error: string | null; step: TBuildStep | null; tags: string[] } | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const buildId = useRef<string | null>(null);
  const startedTags = useRef<string[]>([]);
  const abortUpload = useRef<AbortController | null>(null);
  // Cancel pressed while the build's start was on its way; and why an upload during the build failed.
  const cancelRequested = useRef(false);
  const uploadFailure = useRef<string | null>(null);
  const pending = useRef<TBuildLine[]>([]);
  // Frames that arrive while the build's id is not known yet (its start answer is on the way).
  const early = useRef<{ frames: TImageBuildOutputFrame[]; ends: TImageBuildEnd[] }>({ frames: [], ends: [] });
  const handlers = useRef<{ apply(frame: TImageBuildOutputFrame): void; finish(end: TImageBuildEnd): void } | null>(null);
  const outputRef = useRef<HTMLDivElement>(null);

  const tagList = useMemo(() => tags.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean), [tags]);
  const running = phase === "uploading" || phase === "building";

  // Output frames are applied once per animation frame, and only the newest MAX_LINES kept.
  useEffect(() => {
    const socket = browserSocket();
    let raf = 0;
    const paint = () => {
      raf = 0;
      const batch = pending.current.splice(0);
      if (!batch.length) return;
      setLines((current) => {
        const next = current.concat(batch);
        if (next.length <= MAX_LINES) return next;
        setDropped((n) => n + next.length - MAX_LINES);
        return next.slice(-MAX_LINES);
      });
    };
    const apply = (frame: TImageBuildOutputFrame) => {
      if (frame.output.kind === "output") pending.current.push(...frame.output.lines);
      else if (frame.output.kind === "context") {
        const received = frame.output.received;
        setSent((s) => (s ? { ...s, received } : s));
      }
      if (!raf) raf = requestAnimationFrame(paint);
      socket.emit(ClientEvent.imageBuildAck, { buildId: frame.buildId, seq: frame.seq });
    };
    const finish = (end: TImageBuildEnd) => {
      paint();
      // A build the page cancelled because its upload failed ended for the upload's reason.
      const error = end.error === "Cancelled" && uploadFailure.current ? uploadFailure.current : end.error;
      setResult({ imageId: end.imageId, error, step: end.step, tags: startedTags.current });
      setPhase(error ? "failed" : "done");
      buildId.current = null;
      if (!end.error) void queryClient.invalidateQueries(trpc.images.list.pathFilter());
    };
    const onOutput = (frame: TImageBuildOutputFrame) => {
      if (buildId.current === "starting") early.current.frames.push(frame);
      else if (frame.buildId === buildId.current) apply(frame);
    };
    const onEnd = (end: TImageBuildEnd) => {
      if (buildId.current === "starting") early.current.ends.push(end);
      else if (end.buildId === buildId.current) finish(end);
    };
    socket.on(ServerEvent.imageBuildOutput, onOutput);
    socket.on(ServerEvent.imageBuildEnd, onEnd);
    handlers.current = { apply, finish };
    return () => {
      socket.off(ServerEvent.imageBuildOutput, onOutput);
      socket.off(ServerEvent.imageBuildEnd, onEnd);
      if (raf) cancelAnimationFrame(raf);
    };
  }, [queryClient, trpc]);

  // Follow the output as it grows.
  useEffect(() => {
    const box = outputRef.current;
    if (box) box.scrollTop = box.scrollHeight;
  }, [lines]);

  const chooseFile = (file: File | undefined) => {
    if (!file) return setContext(null);
    setContext({ kind: "file", file, format: /\.zip$/i.test(file.name) ? "zip" : "tar" });
  };
  const chooseFolder = async (list: FileList | null) => {
    const files = [...(list ?? [])];
    if (!files.length) return setContext(null);
    // webkitRelativePath starts with the chosen folder's name: the context is what is inside it.
    const name = files[0]!.webkitRelativePath.split("/")[0] ?? "folder";
    const entries = files.map((file) => ({ file, path: file.webkitRelativePath.split("/").slice(1).join("/") || file.name }));
    setContext({ kind: "folder", files: entries, name });
    const dockerfile = entries.find((e) => e.path === dockerfilePath);
    if (dockerfile && dockerfile.file.size <= DOCKERFILE_MAX_CHARS) setDockerfileText(await dockerfile.file.text());
  };

  const start = async () => {
    setFormError(null);
    if (!tagList.length) return setFormError("Give the image at least one tag, e.g. myapp:1.0");
    if (!useEditor && !context) return setFormError("Upload a build context, or use the editor's Dockerfile");
    if (useEditor && dockerfileText.length > DOCKERFILE_MAX_CHARS) return setFormError(`The Dockerfile is longer than ${DOCKERFILE_MAX_CHARS} characters`);
    const buildArgs: Record<string, string> = {};
    for (const { key, value } of args) if (key.trim()) buildArgs[key.trim()] = value;
    setLines([]);
    setDropped(0);
    setResult(null);
    setSent(null);
    cancelRequested.current = false;
    uploadFailure.current = null;
    const params = { hostId, tags: tagList, dockerfile: dockerfilePath.trim() || "Dockerfile", dockerfileText: useEditor ? dockerfileText : null, buildArgs, target: target.trim(), noCache, pull };
    const begin = async (fields: { contextId: string | null; upload: { format: "tar"; bytes: number } | null }) => {
      buildId.current = "starting";
      early.current.frames = [];
      early.current.ends = [];
      const answer = await request<TImageBuildStarted>(ClientEvent.imageBuild, { ...params, ...fields }, 120_000);
      if (!answer.ok) {
        buildId.current = null;
        setPhase("editing");
        setFormError(answer.message);
        return null;
      }
      buildId.current = answer.buildId;
      startedTags.current = answer.tags;
      setSent({ received: 0, total: answer.contextBytes });
      for (const frame of early.current.frames) if (frame.buildId === answer.buildId) handlers.current?.apply(frame);
      for (const end of early.current.ends) if (end.buildId === answer.buildId) handlers.current?.finish(end);
      if (cancelRequested.current && buildId.current === answer.buildId) void request(ClientEvent.imageBuildCancel, { buildId: answer.buildId });
      return answer;
    };

    // A plain tar: the build starts first and takes the upload as it arrives.
    if (context?.kind === "file" && context.format === "tar" && context.file.size > 0 && !(await isGzip(context.file))) {
      setPhase("uploading");
      setUploaded(0);
      const answer = await begin({ contextId: null, upload: { format: "tar", bytes: context.file.size } });
      if (!answer?.uploadContextId || cancelRequested.current) return;
      const abort = new AbortController();
      abortUpload.current = abort;
      try {
        await uploadContext(hostId, context, setUploaded, abort.signal, answer.uploadContextId);
        setPhase((current) => (current === "uploading" ? "building" : current));
      } catch (error) {
        // The server ends the build itself when it refuses the upload; otherwise (the connection dropped) it is stopped here.
        if (!abort.signal.aborted && buildId.current === answer.buildId) {
          uploadFailure.current = (error as Error).message;
          void request(ClientEvent.imageBuildCancel, { buildId: answer.buildId });
        }
      } finally {
        abortUpload.current = null;
      }
      return;
    }

    let contextId: string | null = null;
    if (context) {
      setPhase("uploading");
      setUploaded(0);
      const abort = new AbortController();
      abortUpload.current = abort;
      try {
        contextId = (await uploadContext(hostId, context, setUploaded, abort.signal)).contextId;
      } catch (error) {
        setPhase("editing");
        return setFormError((error as Error).message);
      } finally {
        abortUpload.current = null;
      }
    }
    setPhase("building");
    await begin({ contextId, upload: null });
  };

  // During an upload both stop: the upload here, the build (which may already be taking it) on the server.
  const cancel = () => {
    cancelRequested.current = true;
    abortUpload.current?.abort();
    if (buildId.current && buildId.current !== "starting") void request(ClientEvent.imageBuildCancel, { buildId: buildId.current });
  };

  const failedStep = result?.error ? result.step : null;
  return (
    <Dialog open onClose={onClose} title="Build an image" description="Docker's classic builder on this host: its output step by step, live." testId="build-dialog" className="w-[72rem]!">
      <div className="grid gap-4 lg:grid-cols-2">
        <form
          className="flex min-w-0 flex-col gap-3"
          onSubmit={(e) => {
            e.preventDefault();
            void start();
          }}
        >
          <div className="flex flex-col gap-1.5">
            <div className="flex items-center justify-between gap-2">
              <Checkbox label="Dockerfile from this editor (replaces the context's)" checked={useEditor} onChange={(e) => setUseEditor(e.target.checked)} disabled={running} data-testid="build-use-editor" />
            </div>
            <div className={cx("overflow-hidden rounded-md border border-zinc-700 text-[13px]", !useEditor && "opacity-50")} data-testid="build-dockerfile">
              <CodeMirror
                value={dockerfileText}
                onChange={setDockerfileText}
                extensions={[dockerfileLanguage]}
                theme={theme}
                height="240px"
                editable={useEditor && !running}
                basicSetup={{ foldGutter: false, closeBrackets: false, autocompletion: false, highlightActiveLine: false }}
                aria-label="Dockerfile"
              />
            </div>
          </div>

          <fieldset className="flex flex-col gap-1.5">
            <legend className="mb-1 text-xs text-zinc-400">Build context (optional: without one, the Dockerfile alone)</legend>
            <div className="flex flex-wrap items-center gap-2 text-xs">
              <label className="cursor-pointer rounded-md border border-zinc-700 bg-zinc-800/80 px-2.5 py-1 text-zinc-100 hover:bg-zinc-700/80">
                Archive (.tar, .tar.gz, .zip)
                <input type="file" accept=".tar,.tgz,.gz,.zip,application/x-tar,application/zip,application/gzip" className="sr-only" disabled={running} data-testid="build-context-file" onChange={(e) => chooseFile(e.target.files?.[0])} />
              </label>
              <label className="cursor-pointer rounded-md border border-zinc-700 bg-zinc-800/80 px-2.5 py-1 text-zinc-100 hover:bg-zinc-700/80">
                Folder
                <input
                  type="file"
                  className="sr-only"
                  disabled={running}
                  data-testid="build-context-folder"
                  ref={(input) => input?.setAttribute("webkitdirectory", "")}
                  multiple
                  onChange={(e) => void chooseFolder(e.target.files)}
                />
              </label>
              {context ? (
                <span className="flex items-center gap-1.5 text-zinc-300" data-testid="build-context-chosen">
                  {context.kind === "file" ? `${context.file.name} · ${formatBytes(context.file.size)}` : `${context.name}/ · ${context.files.length} files · ${formatBytes(context.files.reduce((n, f) => n + f.file.size, 0))}`}
                  <button type="button" className="text-zinc-500 hover:text-zinc-200" onClick={() => setContext(null)} aria-label="Remove the context" disabled={running}>
                    <X className="size-3.5" aria-hidden />
                  </button>
                </span>
              ) : (
                <span className="text-zinc-500">none chosen</span>
              )}
            </div>
          </fieldset>

          <div className="grid gap-3 sm:grid-cols-2">
            <Field label="Tags" value={tags} onChange={(e) => setTags(e.target.value)} placeholder="myapp:1.0 myapp:latest" className="font-mono" disabled={running} data-testid="build-tags" />
            <Field label="Target stage" value={target} onChange={(e) => setTarget(e.target.value)} placeholder="(the last stage)" className="font-mono" disabled={running} data-testid="build-target" />
            <Field label="Dockerfile path in the context" value={dockerfilePath} onChange={(e) => setDockerfilePath(e.target.value)} className="font-mono" disabled={running} data-testid="build-dockerfile-path" />
            <div className="flex flex-col justify-end gap-1.5 pb-1">
              <Checkbox label="No cache (--no-cache)" checked={noCache} onChange={(e) => setNoCache(e.target.checked)} disabled={running} data-testid="build-no-cache" />
              <Checkbox label="Pull newer base images (--pull)" checked={pull} onChange={(e) => setPull(e.target.checked)} disabled={running} />
            </div>
          </div>

          <fieldset className="flex flex-col gap-1.5">
            <legend className="mb-1 text-xs text-zinc-400">Build args</legend>
            {args.map((arg, i) => (
              <div key={i} className="flex gap-2" data-testid="build-arg">
                <Input aria-label="Build arg name" placeholder="NAME" value={arg.key} className="font-mono" disabled={running} onChange={(e) => setArgs((list) => list.map((a, j) => (j === i ? { ...a, key: e.target.value } : a)))} />
                <Input aria-label="Build arg value" placeholder="value" value={arg.value} className="font-mono" disabled={running} onChange={(e) => setArgs((list) => list.map((a, j) => (j === i ? { ...a, value: e.target.value } : a)))} />
                <Button size="sm" variant="ghost" aria-label="Remove this build arg" disabled={running} onClick={() => setArgs((list) => list.filter((_, j) => j !== i))}>
                  <Trash2 className="size-3.5" aria-hidden />
                </Button>
              </div>
            ))}
            <Button size="xs" variant="ghost" className="w-fit" disabled={running} onClick={() => setArgs((list) => [...list, { key: "", value: "" }])} data-testid="build-add-arg">
              <Plus className="size-3" aria-hidden />
              Add a build arg
            </Button>
          </fieldset>

          {formError ? <FormError>{formError}</FormError> : null}
          <div className="flex justify-end gap-2">
            <Button variant="ghost" onClick={onClose} data-testid="build-close">
              Close
            </Button>
            {running ? (
              <Button variant="danger" onClick={cancel} data-testid="build-cancel">
                <X className="size-4" aria-hidden />
                Cancel
              </Button>
            ) : null}
            <Button type="submit" variant="primary" loading={running} disabled={running} data-testid="build-submit">
              <Hammer className="size-4" aria-hidden />
              Build
            </Button>
          </div>
        </form>

        <section className="flex min-w-0 flex-col gap-2" aria-label="Build output" data-testid="build-output-panel" data-phase={phase}>
          <div className="flex items-center justify-between text-xs text-zinc-400">
            <span data-testid="build-phase">
              {phase === "uploading"
                ? `Uploading the context… ${Math.round(uploaded * 100)}%`
                : phase === "building"
                  ? sent && sent.received < sent.total
                    ? `Sending the context to the host… ${formatBytes(sent.received)} / ${formatBytes(sent.total)}`
                    : "Building…"
                  : phase === "done"
                    ? "Built"
                    : phase === "failed"
                      ? "Failed"
                      : "Output appears here"}
            </span>
            {dropped ? <span>{dropped} earlier lines not shown</span> : null}
          </div>
          {result?.error ? (
            <div className="rounded-md border border-red-500/40 bg-red-500/10 px-3 py-2 text-xs text-red-200" role="alert" data-testid="build-error">
              {result.step ? (
                <p className="font-mono font-medium" data-testid="build-error-step">
                  Step {result.step.number}/{result.step.total} : {result.step.instruction}
                </p>
              ) : null}
              <p className="mt-0.5 font-mono whitespace-pre-wrap">{result.error}</p>
            </div>
          ) : null}
          {result && !result.error && result.imageId ? (
            <div className="flex items-center justify-between gap-2 rounded-md border border-emerald-500/40 bg-emerald-500/10 px-3 py-2 text-xs text-emerald-200" data-testid="build-success">
              <span>
                Built <span className="font-mono">{shortId(result.imageId)}</span> as <span className="font-mono">{result.tags.join(", ")}</span>
              </span>
              <Button size="xs" variant="ghost" onClick={() => onShowLayers(result.imageId!, result.tags[0] ?? shortId(result.imageId!))} data-testid="build-show-layers">
                <Layers className="size-3" aria-hidden />
                Show its layers
              </Button>
            </div>
          ) : null}
          <div ref={outputRef} className="h-[30rem] overflow-auto rounded-md border border-zinc-800 bg-zinc-950 p-2 font-mono text-[11.5px] leading-5" data-testid="build-output">
            {lines.map((line, i) => (
              <div
                key={i}
                data-testid={line.kind === "step" ? "build-step" : undefined}
                data-kind={line.kind}
                data-failed={failedStep && line.kind === "step" && line.step === failedStep.number ? "true" : undefined}
                className={cx(
                  "whitespace-pre-wrap break-all",
                  line.kind === "step" ? "mt-1 font-semibold text-sky-300" : line.kind === "error" ? "text-red-300" : "text-zinc-300",
                  failedStep && line.kind === "step" && line.step === failedStep.number && "rounded bg-red-500/20 text-red-200",
                )}
              >
                {line.text || "\u00a0"}
              </div>
            ))}
          </div>
        </section>
      </div>
    </Dialog>
  );
}
