/**
 * Building an image on a host: the uploaded context (with the editor's
 * Dockerfile, if any) is streamed to the host's agent in chunks, and Docker's
 * output comes back step by step. A plain tar may also be announced with the
 * build (`upload`) and uploaded after it started: its bytes go on to the agent
 * as they arrive (build-context-upload.ts).
 *
 * Tags are checked by Docker's reference rules before any agent is asked.
 * Context chunks go out only a few beyond what the agent confirmed (its
 * `context` frames), so neither side holds more than a couple of MiB of it.
 * Credentials of the registries the caller may pull from go with this build
 * only (X-Registry-Config), for base images. The build is audited when it
 * ends (`images.build`: tags, host, outcome, image id or Docker's error and
 * the failing step); build args whose names look secret are masked.
 */
import { parseImageReference } from "../../agent/image-reference.ts";
import {
  BUILD_CONTEXT_CHUNK_MAX_BYTES,
  BUILD_CONTEXT_WINDOW_CHUNKS,
  ZImageBuildParams,
  describeZodError,
  type TBuildStep,
  type TImageBuildOutput,
} from "../../agent/protocol.ts";
import { maskSecretMap } from "../../agent/redaction.ts";
import { auditActor } from "../auth/guard.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import { permissionsOnHost, type Principal } from "./access.ts";
import type { AgentLink, OpenStream } from "./agent-link.ts";
import { appendAuditEvent, markAudited, type AuditRequestMeta } from "./audit/append.ts";
import type { BuildContextStore } from "./build-contexts.ts";
import { registryConfigFor } from "./registries.ts";

const log = createLogger("image-build");

export type ImageBuildRequest = {
  hostId: string;
  /** An upload from POST /api/build-context, or null for a Dockerfile alone (or a context still to be uploaded: `upload`). */
  contextId: string | null;
  /** A plain tar the page uploads once the build started, forwarded to the agent as it arrives. */
  upload: { format: "tar"; bytes: number } | null;
  tags: string[];
  dockerfile: string;
  /** The editor's Dockerfile: replaces (or adds) `dockerfile` in the context. */
  dockerfileText: string | null;
  buildArgs: Record<string, string>;
  target: string;
  noCache: boolean;
  pull: boolean;
};

export type ImageBuildResult = { imageId: string | null; error: string | null; step: TBuildStep | null };
/** `uploadContextId`: where the page POSTs an announced context (`upload`), null otherwise. */
export type BuildHandle = { tags: string[]; contextBytes: number; uploadContextId: string | null; cancel(): void; ack(seq: number): void };

export async function startImageBuild(opts: {
  db: Db;
  bus: EventBus;
  link: AgentLink;
  secrets: SecretBox;
  contexts: BuildContextStore;
  principal: Principal;
  request: AuditRequestMeta;
  build: ImageBuildRequest;
  /** Docker's output (and how much of the context the agent took), in order; acknowledge with `ack(seq)`. */
  onOutput: (output: TImageBuildOutput, seq: number) => void;
  onEnd: (result: ImageBuildResult) => void;
}): Promise<BuildHandle> {
  const { build } = opts;
  const tags: string[] = [];
  for (const tag of build.tags) {
    const parsed = parseImageReference(tag.trim());
    if (!parsed.ok) throw new AppError("BAD_REQUEST", parsed.error.message);
    if (parsed.reference.digest) throw new AppError("BAD_REQUEST", `"${tag}": a build is tagged with a name and tag, not a digest`);
    tags.push(parsed.reference.familiar);
  }
  if (!tags.length) throw new AppError("BAD_REQUEST", "Give the image at least one tag");
  const host = await opts.db.host.findUnique({ where: { id: build.hostId }, select: { name: true } });
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  // A build takes its tags from whatever image has them: like `docker tag` and a push, moving another image's tag needs image.remove.
  const taken = await opts.db.image.findFirst({ where: { hostId: build.hostId, repoTags: { hasSome: tags } }, select: { repoTags: true } });
  if (taken && !(await permissionsOnHost(opts.db, opts.principal, build.hostId)).has("image.remove")) {
    const tag = tags.find((t) => taken.repoTags.includes(t)) ?? tags[0]!;
    throw new AppError("FORBIDDEN", `${tag} is another image's tag on this host; building under it moves it, which needs the "image.remove" permission`);
  }
  if (!opts.link.isConnected(build.hostId)) {
    // Checked before the upload is taken: the user may try again once the agent is back.
    const online = await opts.db.host.findUnique({ where: { id: build.hostId }, select: { status: true } });
    if (online?.status !== "ONLINE") throw new AppError("HOST_OFFLINE", "The host's agent is not connected");
  }

  const registryConfig = await registryConfigFor({ db: opts.db, secrets: opts.secrets, principal: opts.principal, hostId: build.hostId });
  if (build.upload && build.contextId) throw new AppError("BAD_REQUEST", "A build takes an uploaded context or one to upload, not both");
  const where = { userId: opts.principal.userId, hostId: build.hostId, dockerfile: build.dockerfile, dockerfileText: build.dockerfileText };
  const announced = build.upload ? await opts.contexts.announce({ ...where, uploadBytes: build.upload.bytes }) : null;
  const context = announced ?? (await opts.contexts.prepare({ ...where, contextId: build.contextId }));
  const uploadContextId = announced?.contextId ?? null;
  let disposed = false;
  const dispose = (reason: string | null) => {
    if (disposed) return;
    disposed = true;
    void context.dispose(reason).catch((error: unknown) => log.warn("could not delete a build context", { error: String(error) }));
  };

  const parsedParams = ZImageBuildParams.safeParse({
    tags,
    dockerfile: build.dockerfile,
    buildArgs: build.buildArgs,
    target: build.target,
    noCache: build.noCache,
    pull: build.pull,
    labels: {},
    contextBytes: context.bytes,
    registryConfig: null,
  });
  if (!parsedParams.success) {
    dispose("Invalid build");
    throw new AppError("BAD_REQUEST", `Invalid build: ${describeZodError(parsedParams.error)}`);
  }
  const params = { ...parsedParams.data, registryConfig };

  let result: ImageBuildResult | null = null;
  let cancelled = false;
  let ended = false;
  let sendFailure: string | null = null;
  const record = (outcome: ImageBuildResult) =>
    appendAuditEvent({
      db: opts.db,
      bus: opts.bus,
      event: {
        actor: auditActor(opts.principal),
        action: "images.build",
        outcome: outcome.error ? "FAILURE" : "SUCCESS",
        hostId: build.hostId,
        hostName: host.name,
        target: outcome.imageId ? `imageId:${outcome.imageId}` : `reference:${tags[0]}`,
        targetName: tags[0]!,
        params: {
          hostId: build.hostId,
          tags,
          dockerfile: params.dockerfile,
          dockerfileFromEditor: build.dockerfileText !== null,
          // Values of secret-looking names (NPM_TOKEN, DB_PASSWORD…) are never recorded.
          buildArgs: maskSecretMap(params.buildArgs),
          target: params.target || null,
          noCache: params.noCache,
          pull: params.pull,
          context: { format: context.format, bytes: context.bytes, uploadedDuringBuild: uploadContextId !== null },
          registries: params.registryConfig ? Object.keys(params.registryConfig) : [],
          imageId: outcome.imageId,
          failedStep: outcome.step ? `Step ${outcome.step.number}/${outcome.step.total} : ${outcome.step.instruction}`.slice(0, 1000) : null,
        },
        error: outcome.error,
        request: opts.request,
      },
    }).catch((e: unknown) => log.error("could not record a build", { error: String(e) }));

  // Context flow control: bytes the agent confirmed, and who waits for more room.
  let confirmed = 0;
  let wake: (() => void) | null = null;
  let stream: OpenStream | null = null;
  const finish = (outcome: ImageBuildResult) => {
    if (ended) return;
    ended = true;
    dispose(outcome.error);
    wake?.();
    // The page hears of the end once its audit row exists (as pulls and pushes do): what it shows is in the trail.
    void record(outcome).then(() => opts.onEnd(outcome));
  };
  try {
    stream = await opts.link.openStream(build.hostId, "image.build", params, {
      data: (output, seq) => {
        if (output.kind === "context") {
          confirmed = output.received;
          // Taken at once: the upload is paced by these, not by the page.
          stream?.ack(seq);
          wake?.();
        } else if (output.kind === "done") {
          result = { imageId: output.imageId, error: output.error?.message ?? null, step: output.error?.step ?? null };
        }
        opts.onOutput(output, seq);
      },
      end: (error) => {
        finish(
          // The upload's own failure first: a page cancels a build whose upload it saw fail.
          sendFailure
            ? { imageId: null, error: sendFailure, step: null }
            : cancelled
              ? { imageId: null, error: "Cancelled", step: null }
              : error
              ? { imageId: null, error: error.message, step: null }
              : (result ?? { imageId: null, error: "The build ended without a result", step: null }),
        );
      },
    });
  } catch (error) {
    dispose(error instanceof Error ? error.message : String(error));
    await record({ imageId: null, error: error instanceof Error ? error.message : String(error), step: null });
    throw markAudited(error);
  }

  const opened = stream;
  const sendContext = async () => {
    let sent = 0;
    for await (const bytes of context.chunks(BUILD_CONTEXT_CHUNK_MAX_BYTES)) {
      while (!ended && sent - confirmed >= BUILD_CONTEXT_WINDOW_CHUNKS * BUILD_CONTEXT_CHUNK_MAX_BYTES) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      if (ended) return;
      opened.send({ kind: "context", bytes });
      sent += bytes.length;
    }
    if (!ended) opened.send({ kind: "end" });
  };
  sendContext().catch((error: unknown) => {
    if (ended) return; // the build ended first (cancelled, failed): its upload was stopped on purpose
    // An upload's own failure (not a tar, cut short, larger than announced) is the build's, in its words.
    if (error instanceof AppError) sendFailure = error.message;
    else {
      log.warn("could not send a build context", { error: String(error) });
      sendFailure = `The build context could not be sent: ${error instanceof Error ? error.message : String(error)}`;
    }
    opened.close();
  });

  return {
    tags,
    contextBytes: context.bytes,
    uploadContextId,
    cancel() {
      if (ended) return;
      cancelled = true;
      opened.close();
    },
    ack: (seq) => opened.ack(seq),
  };
}
