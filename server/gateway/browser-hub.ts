/**
 * The /browser socket.io namespace: two-way streams for signed-in pages
 * (container logs today, exec terminals next).
 *
 * - Handshake: the caller is resolved exactly as for HTTP (session cookie, or
 *   an `Authorization: Bearer` API token header; never a token in the URL),
 *   and a cross-site or missing Origin is refused with a cookie, so another site cannot ride it.
 * - Events: every client event is an entry of `browserEvents` declaring its
 *   access rule, its zod input and its audit action. One dispatcher parses,
 *   decides (the same `decideAccess` as tRPC), records refusals and answers
 *   through the ack. An event not in the table is refused.
 * - Revocation: when a user's access changes (session revoked, membership or
 *   role changed, host unshared) and every 30 s, each open socket re-checks its
 *   credential (dead → `session:ended`, disconnect) and each open stream its rule
 *   (lost → `logs:end` with the reason).
 */
import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import type { Namespace, Server, Socket } from "socket.io";
import type { z } from "zod";
import { describeZodError, STREAM_WINDOW_FRAMES, TERMINAL_TEXT_MAX_BYTES } from "../../agent/protocol.ts";
import { type AccessRule, decideAccess, decideAccessWithoutDb, recordAttempt } from "../auth/guard.ts";
import { requestMeta, resolvePrincipal, type AppDeps } from "../context.ts";
import { AppError, isAppError } from "../errors.ts";
import type { FleetEvent } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import type { Principal } from "../services/access.ts";
import type { OpenStream } from "../services/agent-link.ts";
import { assertAuditWritable, wasAudited, type AuditRequestMeta } from "../services/audit/append.ts";
import { openContainerLogStream } from "../services/logs.ts";
import { openTerminal, type TerminalHandle, type TerminalRequest } from "../services/terminals.ts";
import { startImagePull } from "../services/image-pull.ts";
import { startImagePush } from "../services/image-push.ts";
import type { TransferHandle, TransferOptions, TransferResult } from "../services/image-transfer.ts";
import { startImageBuild } from "../services/image-build.ts";
import { refreshPrincipal } from "../services/users.ts";
import { findUnstorableText, unstorableTextMessage } from "../text.ts";
import {
  BROWSER_NAMESPACE,
  ClientEvent,
  ServerEvent,
  ZLogsAckInput,
  ZLogsCloseInput,
  ZLogsOpenInput,
  ZStatsCloseInput,
  ZStatsOpenInput,
  ZTerminalAckInput,
  ZTerminalAttachInput,
  ZTerminalCloseInput,
  ZTerminalInputInput,
  ZTerminalOpenInput,
  ZTerminalResizeInput,
  ZImagePullAckInput,
  ZImagePullCancelInput,
  ZImagePullInput,
  ZImagePushAckInput,
  ZImagePushCancelInput,
  ZImagePushInput,
  type TImagePushEnd,
  type TImagePushProgressFrame,
  type TImagePushStarted,
  ZImageBuildAckInput,
  ZImageBuildCancelInput,
  ZImageBuildInput,
  type TImageBuildEnd,
  type TImageBuildOutputFrame,
  type TImageBuildStarted,
  type TImagePullEnd,
  type TImagePullProgressFrame,
  type TImagePullStarted,
  type TAck,
  type TTerminalData,
  type TTerminalEnd,
  type TTerminalOpened,
  type TLogsData,
  type TLogsEnd,
  type TStatsData,
  type TStatsEnd,
} from "./browser-protocol.ts";

const log = createLogger("browser-hub");
const RECHECK_MS = 30_000;
/** Each stream holds a Docker connection on the agent: a tab has no business with more. */
export const MAX_STREAMS_PER_SOCKET = 16;
/**
 * Packets socket.io may hold for one page before it is cut off as too slow. Flow control already
 * keeps each stream to STREAM_WINDOW_FRAMES unacknowledged frames; this bounds the rest.
 */
export const MAX_QUEUED_PACKETS = MAX_STREAMS_PER_SOCKET * (STREAM_WINDOW_FRAMES + 2) + 32;

type Subscription = {
  kind: "logs" | "stats" | "terminal" | "pull" | "push" | "build";
  rule: AccessRule;
  input: unknown;
  stream: OpenStream | null;
  /** Terminals: the session (input, resize, close with a recorded reason). */
  terminal?: TerminalHandle;
  closed: boolean;
};
type BrowserSocketData = {
  principal: Principal;
  request: AuditRequestMeta;
  subscriptions: Map<string, Subscription>;
  /** Why the server is about to drop this socket (recorded as the end of its terminals). */
  dropReason?: string;
};

interface ServerToBrowserEvents {
  [ServerEvent.logsData]: (data: TLogsData) => void;
  [ServerEvent.logsEnd]: (end: TLogsEnd) => void;
  [ServerEvent.statsData]: (data: TStatsData) => void;
  [ServerEvent.statsEnd]: (end: TStatsEnd) => void;
  [ServerEvent.terminalData]: (data: TTerminalData) => void;
  [ServerEvent.terminalEnd]: (end: TTerminalEnd) => void;
  [ServerEvent.imagePullProgress]: (frame: TImagePullProgressFrame) => void;
  [ServerEvent.imagePullEnd]: (end: TImagePullEnd) => void;
  [ServerEvent.imagePushProgress]: (frame: TImagePushProgressFrame) => void;
  [ServerEvent.imagePushEnd]: (end: TImagePushEnd) => void;
  [ServerEvent.imageBuildOutput]: (frame: TImageBuildOutputFrame) => void;
  [ServerEvent.imageBuildEnd]: (end: TImageBuildEnd) => void;
  [ServerEvent.sessionEnded]: (info: { reason: string }) => void;
}
type BrowserSocket = Socket<Record<string, never>, ServerToBrowserEvents, Record<string, never>, BrowserSocketData>;
type BrowserNamespace = Namespace<Record<string, never>, ServerToBrowserEvents, Record<string, never>, BrowserSocketData>;

type EventContext = { deps: AppDeps; socket: BrowserSocket; principal: Principal; rule: AccessRule };

type BrowserEventDef<S extends z.ZodType, R extends Record<string, unknown>> = {
  /** Who may send it: the same rules tRPC procedures declare. */
  access: AccessRule;
  /** The audit action recorded when the event is refused. */
  action: string;
  input: S;
  /** Text that is never stored as such (terminal keystrokes: Ctrl-@ is a NUL) skips the storable-text check. */
  rawText?: true;
  /**
   * A job that changes a host and audits its own end (pull, push, build): it
   * is refused while the audit trail cannot be written, and a refusal before it
   * starts (offline host, a tag it may not move, …) is recorded here, since the
   * job that would have recorded it never ran.
   */
  auditsStart?: true;
  handle(ctx: EventContext, input: z.output<S>): Promise<R>;
};

function defineEvent<S extends z.ZodType, R extends Record<string, unknown>>(def: BrowserEventDef<S, R>) {
  return def;
}

// ------------------------------------------------------------------ events

/**
 * Stops one of this socket's streams (its agent stream too). `notify` tells the
 * page why (`null` = the log simply ended); omitted when the page asked for it.
 * Returns whether there was such a stream.
 */
function endSubscription(socket: BrowserSocket, subscriptionId: string, notify?: { reason: string | null; resumable?: boolean }): boolean {
  const subscription = socket.data.subscriptions.get(subscriptionId);
  if (!subscription || subscription.closed) return false;
  subscription.closed = true;
  socket.data.subscriptions.delete(subscriptionId);
  // A terminal tells the page itself (terminal:end, from its session's end) and records why it closed.
  if (subscription.terminal) subscription.terminal.close(notify?.reason ?? socket.data.dropReason ?? "Closed by the user");
  else subscription.stream?.close();
  // A pull, push or build tells the page itself too (image:pull:end / image:push:end / image:build:end, from its stream's end).
  if (notify && !subscription.terminal && subscription.kind !== "pull" && subscription.kind !== "push" && subscription.kind !== "build") {
    socket.emit(
      subscription.kind === "stats" ? ServerEvent.statsEnd : ServerEvent.logsEnd,
      notify.resumable ? { subscriptionId, reason: notify.reason, resumable: true } : { subscriptionId, reason: notify.reason },
    );
  }
  return true;
}

/** Packets engine.io holds for this socket's connection, not yet handed to the network (its typings keep the buffer private). */
function queuedPackets(socket: BrowserSocket): number {
  return (socket.conn as unknown as { writeBuffer?: unknown[] }).writeBuffer?.length ?? 0;
}

/** Every client event, with the permission it needs. The authorization matrix test enumerates this table. */
export const browserEvents = {
  [ClientEvent.logsOpen]: defineEvent({
    access: { scope: "host", permission: "container.logs" },
    action: "containers.logs",
    input: ZLogsOpenInput,
    async handle({ deps, socket, rule }, input) {
      if (socket.data.subscriptions.size >= MAX_STREAMS_PER_SOCKET) {
        throw new AppError("BAD_REQUEST", `At most ${MAX_STREAMS_PER_SOCKET} log streams per page`);
      }
      const subscriptionId = randomUUID();
      const subscription: Subscription = { kind: "logs", rule, input, stream: null, closed: false };
      socket.data.subscriptions.set(subscriptionId, subscription);
      try {
        subscription.stream = await openContainerLogStream({
          db: deps.db,
          link: deps.link,
          quota: deps.logStreams,
          userId: socket.data.principal.userId,
          hostId: input.hostId,
          containerId: input.containerId,
          tail: input.tail,
          since: input.since,
          until: input.until,
          follow: input.follow,
          markers: input.markers,
          onLines: (lines, seq) => {
            if (subscription.closed) return;
            // socket.io queues without limit toward a page that does not read: refuse to be that queue.
            if (queuedPackets(socket) > MAX_QUEUED_PACKETS) {
              endSubscription(socket, subscriptionId, { reason: "The page is not keeping up with this log; reopen it" });
              return;
            }
            socket.emit(ServerEvent.logsData, { subscriptionId, seq, lines });
          },
          // A lost agent is not the end of the log: the page may reopen from its last line (resume).
          onEnd: (error: AppError | null) => endSubscription(socket, subscriptionId, { reason: error ? error.message : null, resumable: error?.code === "HOST_OFFLINE" }),
        });
      } catch (error) {
        socket.data.subscriptions.delete(subscriptionId);
        throw error;
      }
      // Closed while the agent was starting it (disconnect, revocation): stop it now.
      if (subscription.closed) subscription.stream.close();
      return { subscriptionId };
    },
  }),
  [ClientEvent.logsClose]: defineEvent({
    access: { scope: "authenticated" },
    action: "containers.logs.close",
    input: ZLogsCloseInput,
    async handle({ socket }, input) {
      // Only this socket's own subscriptions are reachable: ids are looked up in its own map.
      return { closed: endSubscription(socket, input.subscriptionId) };
    },
  }),
  [ClientEvent.logsAck]: defineEvent({
    access: { scope: "authenticated" },
    action: "containers.logs.ack",
    input: ZLogsAckInput,
    async handle({ socket }, input) {
      // Only this socket's own subscriptions; the hub ignores an ack beyond what it received.
      const subscription = socket.data.subscriptions.get(input.subscriptionId);
      subscription?.stream?.ack(input.seq);
      return {};
    },
  }),
  [ClientEvent.statsOpen]: defineEvent({
    access: { scope: "host", permission: "host.view" },
    action: "containers.stats",
    input: ZStatsOpenInput,
    async handle({ deps, socket, rule }, input) {
      if (socket.data.subscriptions.size >= MAX_STREAMS_PER_SOCKET) {
        throw new AppError("BAD_REQUEST", `At most ${MAX_STREAMS_PER_SOCKET} live streams per page`);
      }
      const subscriptionId = randomUUID();
      const subscription: Subscription = { kind: "stats", rule, input, stream: null, closed: false };
      socket.data.subscriptions.set(subscriptionId, subscription);
      try {
        const leave = await deps.stats.subscribe({
          userId: socket.data.principal.userId,
          hostId: input.hostId,
          containerId: input.containerId,
          viewer: {
            samples: (samples) => {
              if (subscription.closed) return;
              // Samples are worth nothing late: a page whose socket is backed up skips this one.
              if (queuedPackets(socket) > MAX_QUEUED_PACKETS) return;
              socket.emit(ServerEvent.statsData, { subscriptionId, samples });
            },
            end: (error) => endSubscription(socket, subscriptionId, { reason: error ? error.message : null }),
          },
        });
        subscription.stream = { close: leave, ack: () => undefined, send: () => undefined };
      } catch (error) {
        socket.data.subscriptions.delete(subscriptionId);
        throw error;
      }
      if (subscription.closed) subscription.stream.close();
      return { subscriptionId };
    },
  }),
  [ClientEvent.statsClose]: defineEvent({
    access: { scope: "authenticated" },
    action: "containers.stats.close",
    input: ZStatsCloseInput,
    async handle({ socket }, input) {
      const subscription = socket.data.subscriptions.get(input.subscriptionId);
      if (subscription?.kind !== "stats") return { closed: false };
      return { closed: endSubscription(socket, input.subscriptionId) };
    },
  }),
  [ClientEvent.terminalOpen]: defineEvent({
    access: { scope: "host", permission: "container.exec" },
    action: "containers.exec",
    input: ZTerminalOpenInput,
    handle: (ctx, input) => startTerminal(ctx, { mode: "exec", ...input }),
  }),
  [ClientEvent.terminalAttach]: defineEvent({
    // Watching the main process needs only what reading its logs needs; typing into it needs container.exec.
    access: { scope: "host", permission: "container.logs" },
    action: "containers.attach",
    input: ZTerminalAttachInput,
    async handle(ctx, input) {
      const writable = (await decideAccess(ctx.deps.db, ctx.principal, EXEC_RULE, input)).ok;
      return startTerminal({ ...ctx, rule: writable ? EXEC_RULE : ctx.rule }, { mode: "attach", ...input, writable });
    },
  }),
  [ClientEvent.terminalInput]: defineEvent({
    access: { scope: "authenticated" },
    action: "containers.exec.input",
    input: ZTerminalInputInput,
    rawText: true,
    async handle({ socket }, input) {
      // Only this socket's own terminals; a read-only one drops it in the session.
      socket.data.subscriptions.get(input.terminalId)?.terminal?.write(input.data);
      return {};
    },
  }),
  [ClientEvent.terminalResize]: defineEvent({
    access: { scope: "authenticated" },
    action: "containers.exec.resize",
    input: ZTerminalResizeInput,
    async handle({ socket }, input) {
      socket.data.subscriptions.get(input.terminalId)?.terminal?.resize(input.cols, input.rows);
      return {};
    },
  }),
  [ClientEvent.terminalAck]: defineEvent({
    access: { scope: "authenticated" },
    action: "containers.exec.ack",
    input: ZTerminalAckInput,
    async handle({ socket }, input) {
      socket.data.subscriptions.get(input.terminalId)?.terminal?.ack(input.seq);
      return {};
    },
  }),
  [ClientEvent.terminalClose]: defineEvent({
    access: { scope: "authenticated" },
    action: "containers.exec.close",
    input: ZTerminalCloseInput,
    async handle({ socket }, input) {
      const subscription = socket.data.subscriptions.get(input.terminalId);
      if (subscription?.kind !== "terminal") return { closed: false };
      return { closed: endSubscription(socket, input.terminalId) };
    },
  }),
  [ClientEvent.imagePull]: defineEvent({
    access: { scope: "host", permission: "image.pull" },
    action: "images.pull",
    auditsStart: true,
    input: ZImagePullInput,
    async handle(ctx, input): Promise<TImagePullStarted> {
      const { id, reference } = await startTransferFor(ctx, "pull", input, (opts) => startImagePull({ ...opts, reference: input.reference }), {
        progress: (pullId, seq, progress) => ctx.socket.emit(ServerEvent.imagePullProgress, { pullId, seq, progress }),
        end: (pullId, result) => ctx.socket.emit(ServerEvent.imagePullEnd, { pullId, ...result }),
      });
      return { pullId: id, reference };
    },
  }),
  [ClientEvent.imagePush]: defineEvent({
    access: { scope: "host", permission: "image.push" },
    action: "images.push",
    auditsStart: true,
    input: ZImagePushInput,
    async handle(ctx, input): Promise<TImagePushStarted> {
      const { id, reference } = await startTransferFor(ctx, "push", input, (opts) => startImagePush({ ...opts, imageId: input.imageId, reference: input.reference }), {
        progress: (pushId, seq, progress) => ctx.socket.emit(ServerEvent.imagePushProgress, { pushId, seq, progress }),
        end: (pushId, result) => ctx.socket.emit(ServerEvent.imagePushEnd, { pushId, ...result }),
      });
      return { pushId: id, reference };
    },
  }),
  [ClientEvent.imageBuild]: defineEvent({
    access: { scope: "host", permission: "image.build" },
    action: "images.build",
    auditsStart: true,
    input: ZImageBuildInput,
    async handle(ctx, input): Promise<TImageBuildStarted> {
      const { deps, socket, principal } = ctx;
      const { id, job } = await startJobFor(ctx, "build", input, (buildId, subscription) =>
        startImageBuild({
          db: deps.db,
          bus: deps.bus,
          link: deps.link,
          secrets: deps.secrets,
          contexts: deps.buildContexts,
          principal,
          request: { ...socket.data.request, requestId: randomUUID() },
          build: input,
          // Output frames are paced by the page's acks like logs; a page that stops reading is cut off.
          onOutput: (output, seq) => {
            if (!subscription.live()) return;
            if (queuedPackets(socket) > MAX_QUEUED_PACKETS) return void endSubscription(socket, buildId);
            socket.emit(ServerEvent.imageBuildOutput, { buildId, seq, output });
          },
          onEnd: (result) => {
            if (subscription.ended()) socket.emit(ServerEvent.imageBuildEnd, { buildId, ...result });
          },
        }),
      );
      return { buildId: id, tags: job.tags, contextBytes: job.contextBytes, uploadContextId: job.uploadContextId };
    },
  }),
  [ClientEvent.imagePullAck]: jobAckEvent("pull", "images.pull.ack", ZImagePullAckInput, (input) => input.pullId),
  [ClientEvent.imagePullCancel]: jobCancelEvent("pull", "images.pull.cancel", ZImagePullCancelInput, (input) => input.pullId),
  [ClientEvent.imagePushAck]: jobAckEvent("push", "images.push.ack", ZImagePushAckInput, (input) => input.pushId),
  [ClientEvent.imagePushCancel]: jobCancelEvent("push", "images.push.cancel", ZImagePushCancelInput, (input) => input.pushId),
  [ClientEvent.imageBuildAck]: jobAckEvent("build", "images.build.ack", ZImageBuildAckInput, (input) => input.buildId),
  [ClientEvent.imageBuildCancel]: jobCancelEvent("build", "images.build.cancel", ZImageBuildCancelInput, (input) => input.buildId),
} satisfies Record<string, BrowserEventDef<z.ZodType, Record<string, unknown>>>;

const EXEC_RULE: AccessRule = { scope: "host", permission: "container.exec" };

type JobKind = "pull" | "push" | "build";
/** What a job's callbacks see of its subscription: whether the page still wants frames, and its end. */
type JobSubscription = { live(): boolean; ended(): boolean };

/**
 * Starts a pull, push or build for this socket as one of its subscriptions:
 * acks and cancels reach it through `stream`, closing the socket cancels it,
 * and `ended()` (called from the job's end) drops it, answering whether the
 * page is still there to be told.
 */
async function startJobFor<J extends { cancel(): void; ack(seq: number): void }>(
  { socket, rule }: EventContext,
  kind: JobKind,
  input: unknown,
  start: (id: string, subscription: JobSubscription) => Promise<J>,
): Promise<{ id: string; job: J }> {
  if (socket.data.subscriptions.size >= MAX_STREAMS_PER_SOCKET) {
    throw new AppError("BAD_REQUEST", `At most ${MAX_STREAMS_PER_SOCKET} live streams, terminals, transfers and builds per page`);
  }
  const id = randomUUID();
  const subscription: Subscription = { kind, rule, input, stream: null, closed: false };
  socket.data.subscriptions.set(id, subscription);
  try {
    const job = await start(id, {
      live: () => !subscription.closed,
      ended: () => {
        subscription.closed = true;
        socket.data.subscriptions.delete(id);
        return socket.connected;
      },
    });
    subscription.stream = { close: job.cancel, ack: job.ack, send: () => undefined };
    if (subscription.closed) job.cancel();
    return { id, job };
  } catch (error) {
    socket.data.subscriptions.delete(id);
    throw error;
  }
}

/** A pull or push for this socket: its progress paced by the page's acks, its end told to the page. */
async function startTransferFor(
  ctx: EventContext,
  kind: "pull" | "push",
  input: { hostId: string },
  start: (opts: TransferOptions) => Promise<TransferHandle>,
  emit: { progress(id: string, seq: number, progress: TImagePushProgressFrame["progress"]): void; end(id: string, result: TransferResult): void },
): Promise<{ id: string; reference: string }> {
  const { deps, socket, principal } = ctx;
  const { id, job } = await startJobFor(ctx, kind, input, (id, subscription) =>
    start({
      db: deps.db,
      bus: deps.bus,
      link: deps.link,
      secrets: deps.secrets,
      principal,
      request: { ...socket.data.request, requestId: randomUUID() },
      hostId: input.hostId,
      onProgress: (progress, seq) => {
        if (subscription.live()) emit.progress(id, seq, progress);
      },
      onEnd: (result) => {
        if (subscription.ended()) emit.end(id, result);
      },
    }),
  );
  return { id, reference: job.reference };
}

/** `<kind>:ack`: the page took a job's frames up to `seq` (flow control, as logs:ack). */
function jobAckEvent<S extends z.ZodType<{ seq: number }>>(kind: JobKind, action: string, input: S, idOf: (input: z.infer<S>) => string) {
  return defineEvent({
    access: { scope: "authenticated" },
    action,
    input,
    async handle({ socket }, parsed: z.infer<S>) {
      const subscription = socket.data.subscriptions.get(idOf(parsed));
      if (subscription?.kind === kind) subscription.stream?.ack(parsed.seq);
      return {};
    },
  });
}

/** `<kind>:cancel`: stops a job this page started; its end (reason "Cancelled") tells the page and drops the subscription. */
function jobCancelEvent<S extends z.ZodType>(kind: JobKind, action: string, input: S, idOf: (input: z.infer<S>) => string) {
  return defineEvent({
    access: { scope: "authenticated" },
    action,
    input,
    async handle({ socket }, parsed: z.infer<S>) {
      const subscription = socket.data.subscriptions.get(idOf(parsed));
      if (subscription?.kind !== kind) return { cancelled: false };
      subscription.stream?.close();
      return { cancelled: true };
    },
  });
}

/** Opens an exec or attach session for this socket; its output flows as `terminal:data` frames, paced by the page's acks. */
async function startTerminal({ deps, socket, principal, rule }: EventContext, terminal: TerminalRequest): Promise<TTerminalOpened> {
  if (socket.data.subscriptions.size >= MAX_STREAMS_PER_SOCKET) {
    throw new AppError("BAD_REQUEST", `At most ${MAX_STREAMS_PER_SOCKET} live streams and terminals per page`);
  }
  const terminalId = randomUUID();
  const subscription: Subscription = { kind: "terminal", rule, input: terminal, stream: null, closed: false };
  socket.data.subscriptions.set(terminalId, subscription);
  try {
    subscription.terminal = await openTerminal({
      db: deps.db,
      bus: deps.bus,
      link: deps.link,
      limits: deps.terminals,
      principal,
      request: { ...socket.data.request, requestId: randomUUID() },
      terminal,
      sink: {
        output: (bytes, seq) => {
          if (subscription.closed) return;
          if (queuedPackets(socket) > MAX_QUEUED_PACKETS) {
            endSubscription(socket, terminalId, { reason: "The page is not keeping up with this terminal; reconnect" });
            return;
          }
          // Small valid UTF-8 (an echo, a prompt) goes as text: one WebSocket message instead of two.
          if (bytes.byteLength <= TERMINAL_TEXT_MAX_BYTES && isUtf8(bytes)) {
            socket.emit(ServerEvent.terminalData, { terminalId, seq, text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8") });
          } else socket.emit(ServerEvent.terminalData, { terminalId, seq, bytes });
        },
        end: ({ reason, exitCode }) => {
          subscription.closed = true;
          socket.data.subscriptions.delete(terminalId);
          if (socket.connected) socket.emit(ServerEvent.terminalEnd, { terminalId, reason, exitCode });
        },
      },
    });
  } catch (error) {
    socket.data.subscriptions.delete(terminalId);
    throw error;
  }
  // Closed while the agent was starting it (disconnect, revocation): end the session now.
  if (subscription.closed) subscription.terminal.close(socket.data.dropReason ?? "The browser disconnected");
  return { terminalId, sessionId: subscription.terminal.sessionId, readOnly: subscription.terminal.readOnly };
}

export type BrowserEventName = keyof typeof browserEvents;

const ACK_CODE = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "BAD_REQUEST",
  PRECONDITION_FAILED: "UNAVAILABLE",
  HOST_OFFLINE: "UNAVAILABLE",
  DOCKER_ERROR: "BAD_REQUEST",
  TIMEOUT: "UNAVAILABLE",
  AGENT_ERROR: "UNAVAILABLE",
  INTERNAL: "INTERNAL",
} as const satisfies Record<AppError["code"], Extract<TAck, { ok: false }>["code"]>;

// ------------------------------------------------------------------ hub

/**
 * A page may open sockets only from Berth's own origin (the host it was
 * served from, or the public URL). A socket that authenticates by cookie must
 * say where it comes from: the cookie is what another site would ride on, and
 * a missing Origin proves nothing. A script with a token header (or a
 * caller with no credentials at all, refused next) has no cookie to ride on
 * and need not send one.
 */
function sameOrigin(origin: string | undefined, host: string | undefined, publicUrl: string, byCookie: boolean): boolean {
  if (!origin) return !byCookie;
  try {
    const parsed = new URL(origin);
    return parsed.host === host || parsed.origin === new URL(publicUrl).origin;
  } catch {
    return false;
  }
}

export class BrowserHub {
  private namespace?: BrowserNamespace;
  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: AppDeps) {}

  attach(io: Server): void {
    const namespace = io.of(BROWSER_NAMESPACE) as unknown as BrowserNamespace;
    this.namespace = namespace;
    namespace.use((socket, next) => {
      const req = socket.request;
      // resolvePrincipal takes a Bearer header first; otherwise any cookie is what authenticates.
      const byCookie = !req.headers.authorization?.startsWith("Bearer ") && Boolean(req.headers.cookie);
      if (!sameOrigin(req.headers.origin, req.headers.host, this.deps.env.publicUrl, byCookie)) {
        return next(new Error(req.headers.origin ? "Cross-site connection refused" : "Connection refused: a cookie needs a matching Origin"));
      }
      resolvePrincipal(this.deps, req)
        .then((principal) => {
          if (!principal) return next(new Error("Sign in first"));
          socket.data = { principal, request: requestMeta(req, this.deps.env), subscriptions: new Map() };
          next();
        })
        .catch((error: unknown) => {
          log.error("socket handshake failed", { error: String(error) });
          next(new Error("Could not check your session"));
        });
    });
    namespace.on("connection", (socket) => this.onConnection(socket));
    this.unsubscribe = this.deps.bus.subscribe((event) => this.onFleetEvent(event));
    this.timer = setInterval(() => void this.recheck(() => true), RECHECK_MS);
  }

  detach(): void {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
  }

  /** Open log streams across all sockets of this server (for tests and metrics). */
  get openSubscriptionCount(): number {
    let count = 0;
    for (const socket of this.namespace?.sockets.values() ?? []) count += socket.data.subscriptions.size;
    return count;
  }

  private onConnection(socket: BrowserSocket) {
    socket.on("disconnect", () => {
      socket.data.dropReason ??= "The browser disconnected";
      for (const subscriptionId of [...socket.data.subscriptions.keys()]) endSubscription(socket, subscriptionId);
    });
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (answer: TAck<Record<string, unknown>>) => void) : undefined;
      this.dispatch(socket, String(event).slice(0, 64), args[0])
        .then((answer) => ack?.(answer))
        .catch((error: unknown) => {
          // Never let one frame take the server down.
          log.error("unexpected error handling a browser event", { event: String(event).slice(0, 64), error: String(error) });
          ack?.({ ok: false, code: "INTERNAL", message: "Something went wrong on the server" });
        });
    });
  }

  private async dispatch(socket: BrowserSocket, event: string, payload: unknown): Promise<TAck<Record<string, unknown>>> {
    if (!Object.hasOwn(browserEvents, event)) return { ok: false, code: "BAD_REQUEST", message: `Unknown event "${event}"` };
    const def = browserEvents[event as BrowserEventName] as BrowserEventDef<z.ZodType, Record<string, unknown>>;
    const { principal, request } = socket.data;
    const unstorable = def.rawText ? null : findUnstorableText(payload);
    if (unstorable) return { ok: false, code: "BAD_REQUEST", message: unstorableTextMessage(unstorable) };
    const input = def.input.safeParse(payload);
    if (!input.success) return { ok: false, code: "BAD_REQUEST", message: `Invalid ${event}: ${describeZodError(input.error)}` };
    const attempt = () => ({ ...this.deps, principal, request: { ...request, requestId: randomUUID() } });
    // Most events are settled by who is asking: a keystroke or an ack reaches its handler in this same
    // turn of the event loop, not after the microtasks of whatever arrived with it.
    const decision = decideAccessWithoutDb(principal, def.access) ?? (await decideAccess(this.deps.db, principal, def.access, input.data));
    if (!decision.ok) {
      if (decision.code !== "BAD_REQUEST") await recordAttempt(attempt(), def.action, input.data, "DENIED", decision.message, "could not record a denied socket event");
      return { ok: false, code: decision.code, message: decision.message };
    }
    try {
      if (def.auditsStart) await assertAuditWritable(this.deps.db);
      return { ok: true, ...(await def.handle({ deps: this.deps, socket, principal, rule: def.access }, input.data)) };
    } catch (error) {
      if (!isAppError(error)) throw error;
      if (def.auditsStart && !wasAudited(error)) {
        const outcome = error.code === "FORBIDDEN" ? "DENIED" : "FAILURE";
        await recordAttempt(attempt(), def.action, input.data, outcome, error.message, "could not record a refused socket job");
      }
      return { ok: false, code: ACK_CODE[error.code], message: error.message };
    }
  }

  private onFleetEvent(event: FleetEvent) {
    if (event.type === "access.changed") void this.recheck((principal) => event.userId === null || event.userId === principal.userId);
    // A host unshared from a team or removed changes who may read its containers.
    else if (event.type === "host.changed" || event.type === "host.removed") void this.recheck((_, socket) => socket.data.subscriptions.size > 0);
  }

  /** Re-checks the credential of each matching socket and the rule of each of its streams. */
  private async recheck(matches: (principal: Principal, socket: BrowserSocket) => boolean) {
    const sockets = [...(this.namespace?.sockets.values() ?? [])].filter((socket) => matches(socket.data.principal, socket));
    await Promise.all(
      sockets.map(async (socket) => {
        try {
          const principal = await refreshPrincipal(this.deps.db, socket.data.principal);
          if (!principal) {
            socket.data.dropReason = "The user's session or token ended";
            socket.emit(ServerEvent.sessionEnded, { reason: "Your session ended" });
            socket.disconnect(true);
            return;
          }
          socket.data.principal = principal;
          for (const [subscriptionId, subscription] of socket.data.subscriptions) {
            const decision = await decideAccess(this.deps.db, socket.data.principal, subscription.rule, subscription.input);
            if (!decision.ok) endSubscription(socket, subscriptionId, { reason: "Your access to this host was removed" });
          }
        } catch (error) {
          log.warn("could not re-check a browser socket", { error: String(error) });
        }
      }),
    );
  }
}
