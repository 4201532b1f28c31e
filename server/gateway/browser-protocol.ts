/**
 * The browser ⇄ server socket contract, shared by server/gateway/browser-hub.ts
 * and the pages (app/_lib/browser-socket.ts). Two-way, per-tab traffic lives
 * here (log streams today, exec terminals next); one-way fleet updates stay
 * tRPC subscriptions. Every client payload is parsed with these schemas, and
 * every client event is listed in `browserEvents` with the permission it needs.
 */
import { z } from "zod";
import { BUILD_ARGS_MAX, TERMINAL_INPUT_MAX_CHARS, ZBuildStep, ZContainerExecParams, ZImageBuildOutput, ZImagePullProgress, ZLogLine, ZStatsSample } from "../../agent/protocol.ts";

export const BROWSER_NAMESPACE = "/browser";

/** Events the browser sends; each answers through a socket.io ack with a `TAck`. */
export const ClientEvent = {
  logsOpen: "logs:open",
  logsClose: "logs:close",
  /** The page applied every frame up to `seq` of a subscription: the server may send more (flow control). */
  logsAck: "logs:ack",
  /** Live stats of a container (or, without containerId, the host's totals); shared with every other viewer. */
  statsOpen: "stats:open",
  statsClose: "stats:close",
  /** `docker exec -it`: a new process with a TTY (needs container.exec). */
  terminalOpen: "terminal:open",
  /** `docker attach` to the main process: read-only without container.exec. */
  terminalAttach: "terminal:attach",
  terminalInput: "terminal:input",
  terminalResize: "terminal:resize",
  /** The page wrote every output frame up to `seq` into the terminal (flow control, as logs:ack). */
  terminalAck: "terminal:ack",
  terminalClose: "terminal:close",
  /** `docker pull` on a host, with live per-layer progress (needs image.pull). */
  imagePull: "image:pull",
  /** The page took every progress frame up to `seq` (flow control, as logs:ack). */
  imagePullAck: "image:pull:ack",
  /** Stop a pull this page started: Docker aborts it. */
  imagePullCancel: "image:pull:cancel",
  /** `docker tag` + `docker push` of a host's image to a registry, with live per-layer progress (needs image.push). */
  imagePush: "image:push",
  imagePushAck: "image:push:ack",
  imagePushCancel: "image:push:cancel",
  /** `docker build` on a host from an uploaded context and/or the editor's Dockerfile (needs image.build). */
  imageBuild: "image:build",
  /** The page took every output frame up to `seq` (flow control, as logs:ack). */
  imageBuildAck: "image:build:ack",
  /** Stop a build this page started: Docker aborts it. */
  imageBuildCancel: "image:build:cancel",
} as const;

/** Events the server sends. */
export const ServerEvent = {
  logsData: "logs:data",
  logsEnd: "logs:end",
  statsData: "stats:data",
  statsEnd: "stats:end",
  terminalData: "terminal:data",
  terminalEnd: "terminal:end",
  imagePullProgress: "image:pull:progress",
  imagePullEnd: "image:pull:end",
  imagePushProgress: "image:push:progress",
  imagePushEnd: "image:push:end",
  imageBuildOutput: "image:build:output",
  imageBuildEnd: "image:build:end",
  /** The session or token behind this socket ended: the server disconnects right after. */
  sessionEnded: "session:ended",
} as const;

const ZId = z.string().min(1).max(128);

export const ZLogsOpenInput = z.object({
  hostId: ZId,
  containerId: ZId,
  /** Lines from the end to start with; null = the whole log. */
  tail: z.number().int().min(0).max(100_000).nullable().default(500),
  since: z.string().datetime({ offset: true }).nullable().default(null),
  /** Only lines before this time; a follow ends there. */
  until: z.string().datetime({ offset: true }).nullable().default(null),
  follow: z.boolean().default(true),
  /** Insert "container started" / "container exited (code N)" lines where they happened. */
  markers: z.boolean().default(false),
});
export type TLogsOpenInput = z.input<typeof ZLogsOpenInput>;

export const ZLogsCloseInput = z.object({ subscriptionId: ZId });
export const ZLogsAckInput = z.object({ subscriptionId: ZId, seq: z.number().int().positive() });

export type TAck<T = Record<string, never>> =
  | ({ ok: true } & T)
  | { ok: false; code: "BAD_REQUEST" | "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" | "UNAVAILABLE" | "INTERNAL"; message: string };

/**
 * One frame of a subscription. `seq` counts frames from 1; the page answers `logs:ack` with it once it
 * has applied them. Only a few frames are sent beyond the last ack, so a page that stops reading
 * (hidden tab, slow machine) pauses the log at its source instead of filling buffers on the way.
 */
export const ZLogsData = z.object({ subscriptionId: z.string(), seq: z.number().int().positive(), lines: z.array(ZLogLine) });
export type TLogsData = z.infer<typeof ZLogsData>;

/** Why a log stream ended: `null` reason = the log simply ended (not following, or the container stopped). */
export const ZLogsEnd = z.object({
  subscriptionId: z.string(),
  reason: z.string().nullable(),
  /** The log did not end: its source went away (the agent disconnected). Reopening from the last line's time carries on. */
  resumable: z.boolean().optional(),
});
export type TLogsEnd = z.infer<typeof ZLogsEnd>;

export const ZStatsOpenInput = z.object({
  hostId: ZId,
  /** Omitted or null: the host's totals over its running containers. */
  containerId: ZId.nullable().default(null),
});
export type TStatsOpenInput = z.input<typeof ZStatsOpenInput>;
export const ZStatsCloseInput = z.object({ subscriptionId: ZId });

/** A stats sample as pages get it: the agent's, plus (host totals) how many containers were summed. */
export const ZStatsPoint = ZStatsSample.extend({ containers: z.number().int().nonnegative().optional() });
export type TStatsPoint = z.infer<typeof ZStatsPoint>;

/**
 * Samples of a stats subscription: one a second, or the last minute at once
 * right after opening. Stats are not flow-controlled like logs: a page that
 * does not keep up misses samples (the server skips it while its socket is backed up).
 */
export const ZStatsData = z.object({ subscriptionId: z.string(), samples: z.array(ZStatsPoint) });
export type TStatsData = z.infer<typeof ZStatsData>;
export const ZStatsEnd = z.object({ subscriptionId: z.string(), reason: z.string().nullable() });
export type TStatsEnd = z.infer<typeof ZStatsEnd>;

const ZCols = z.number().int().min(2).max(1000);
const ZRows = z.number().int().min(1).max(500);

export const ZTerminalOpenInput = z.object({
  hostId: ZId,
  containerId: ZId,
  cmd: ZContainerExecParams.shape.cmd,
  user: ZContainerExecParams.shape.user,
  workingDir: ZContainerExecParams.shape.workingDir,
  env: ZContainerExecParams.shape.env,
  cols: ZCols.default(80),
  rows: ZRows.default(24),
});
export type TTerminalOpenInput = z.input<typeof ZTerminalOpenInput>;
export const ZTerminalAttachInput = z.object({ hostId: ZId, containerId: ZId, cols: ZCols.default(80), rows: ZRows.default(24) });
export type TTerminalAttachInput = z.input<typeof ZTerminalAttachInput>;
/** What `terminal:open` / `terminal:attach` answer. */
export type TTerminalOpened = { terminalId: string; sessionId: string; readOnly: boolean };

export const ZTerminalInputInput = z.object({ terminalId: ZId, data: z.string().min(1).max(TERMINAL_INPUT_MAX_CHARS) });
export const ZTerminalResizeInput = z.object({ terminalId: ZId, cols: ZCols, rows: ZRows });
export const ZTerminalAckInput = z.object({ terminalId: ZId, seq: z.number().int().positive() });
export const ZTerminalCloseInput = z.object({ terminalId: ZId });

/**
 * Output as the process wrote it (binary: xterm.js decodes UTF-8 across frames); acknowledged with `terminal:ack`.
 * A small frame of whole, valid UTF-8 comes as `text` instead (one WebSocket message, not two: see
 * TERMINAL_TEXT_MAX_BYTES); its UTF-8 encoding is exactly the bytes the process wrote.
 */
export type TTerminalData = { terminalId: string; seq: number } & ({ bytes: Uint8Array | ArrayBuffer } | { text: string });
export const ZTerminalData = z.union([
  z.object({ terminalId: z.string(), seq: z.number().int().positive(), bytes: z.union([z.instanceof(Uint8Array), z.instanceof(ArrayBuffer)]) }),
  z.object({ terminalId: z.string(), seq: z.number().int().positive(), text: z.string() }),
]);

/** The bytes of a `terminal:data` frame, whichever way it came. */
export function terminalDataBytes(frame: TTerminalData): Uint8Array {
  if ("text" in frame) return new TextEncoder().encode(frame.text);
  return frame.bytes instanceof Uint8Array ? frame.bytes : new Uint8Array(frame.bytes);
}
/** The session ended: the process exited (`exitCode`), or `reason` says why it was cut (idle, access removed, agent gone). */
export const ZTerminalEnd = z.object({ terminalId: z.string(), reason: z.string().nullable(), exitCode: z.number().int().nullable() });
export type TTerminalEnd = z.infer<typeof ZTerminalEnd>;

export const ZImagePullInput = z.object({ hostId: ZId, reference: z.string().min(1).max(512) });
export type TImagePullInput = z.input<typeof ZImagePullInput>;
export const ZImagePullAckInput = z.object({ pullId: ZId, seq: z.number().int().positive() });
export const ZImagePullCancelInput = z.object({ pullId: ZId });
/** What `image:pull` answers: the pull's id and the reference as Docker is asked for it (normalised). */
export type TImagePullStarted = { pullId: string; reference: string };
export const ZImagePullProgressFrame = z.object({ pullId: z.string(), seq: z.number().int().positive(), progress: ZImagePullProgress });
export type TImagePullProgressFrame = z.infer<typeof ZImagePullProgressFrame>;
/** The pull ended: `error` null = the image is on the host (`imageId`). */
export const ZImagePullEnd = z.object({ pullId: z.string(), error: z.string().nullable(), imageId: z.string().nullable(), digest: z.string().nullable() });
export type TImagePullEnd = z.infer<typeof ZImagePullEnd>;

/** A push: the host's image (its id) under `reference`, a tag in a registry (tagged first). */
export const ZImagePushInput = z.object({ hostId: ZId, imageId: ZId, reference: z.string().min(1).max(512) });
export const ZImagePushAckInput = z.object({ pushId: ZId, seq: z.number().int().positive() });
export const ZImagePushCancelInput = z.object({ pushId: ZId });
export type TImagePushStarted = { pushId: string; reference: string };
/** Progress as pulls have it, in Docker's push wording ("Preparing", "Pushing", "Pushed", "Layer already exists"). */
export const ZImagePushProgressFrame = z.object({ pushId: z.string(), seq: z.number().int().positive(), progress: ZImagePullProgress });
export type TImagePushProgressFrame = z.infer<typeof ZImagePushProgressFrame>;
/** The push ended: `error` null = the registry has it (`digest`, what `docker push` printed). */
export const ZImagePushEnd = z.object({ pushId: z.string(), error: z.string().nullable(), imageId: z.string().nullable(), digest: z.string().nullable() });
export type TImagePushEnd = z.infer<typeof ZImagePushEnd>;
/** The largest Dockerfile the editor may send: even in 3-byte characters it fits a page's 64 KiB socket frame. */
export const DOCKERFILE_MAX_CHARS = 16 * 1024;
export const ZImageBuildInput = z.object({
  hostId: ZId,
  /** From POST /api/build-context; null = the editor's Dockerfile alone (or a context to upload: `upload`). */
  contextId: z.string().uuid().nullable().default(null),
  /**
   * A plain tar of `bytes` the page uploads once the build started (POST
   * /api/build-context?contextId=<the answer's uploadContextId>): forwarded to
   * the host as it arrives, instead of stored first.
   */
  upload: z.object({ format: z.literal("tar"), bytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) }).nullable().default(null),
  tags: z.array(z.string().trim().min(1).max(512)).min(1).max(16),
  dockerfile: z.string().trim().min(1).max(1024).default("Dockerfile"),
  dockerfileText: z.string().max(DOCKERFILE_MAX_CHARS).nullable().default(null),
  buildArgs: z.record(z.string().min(1).max(256), z.string().max(4096)).refine((args) => Object.keys(args).length <= BUILD_ARGS_MAX, `at most ${BUILD_ARGS_MAX} build args`).default({}),
  target: z.string().trim().max(128).default(""),
  noCache: z.boolean().default(false),
  pull: z.boolean().default(false),
});
export type TImageBuildInput = z.input<typeof ZImageBuildInput>;
export const ZImageBuildAckInput = z.object({ buildId: ZId, seq: z.number().int().positive() });
export const ZImageBuildCancelInput = z.object({ buildId: ZId });
/** What `image:build` answers: the build's id, the tags as Docker gets them, the context's size, and where to upload an announced context. */
export type TImageBuildStarted = { buildId: string; tags: string[]; contextBytes: number; uploadContextId: string | null };
export const ZImageBuildOutputFrame = z.object({ buildId: z.string(), seq: z.number().int().positive(), output: ZImageBuildOutput });
export type TImageBuildOutputFrame = z.infer<typeof ZImageBuildOutputFrame>;
/** The build ended: `error` null = `imageId` was built; otherwise Docker's error and the step that failed. */
export const ZImageBuildEnd = z.object({ buildId: z.string(), imageId: z.string().nullable(), error: z.string().nullable(), step: ZBuildStep.nullable() });
export type TImageBuildEnd = z.infer<typeof ZImageBuildEnd>;
