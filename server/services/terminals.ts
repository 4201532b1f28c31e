/**
 * Interactive terminals: `docker exec -it` and `docker attach`, relayed from
 * the host's agent, recorded, audited and bounded.
 *
 * - One session row per terminal, written with its audit event in one
 *   transaction once the agent started the process (a refusal is audited as a
 *   FAILURE and leaves no session).
 * - Limits: BERTH_TERMINALS_PER_USER open sessions per user, counted in
 *   Postgres so it holds across replicas; a session not touched for a while
 *   (its replica died) no longer counts. BERTH_TERMINAL_IDLE_MINUTES without
 *   input or output closes a session.
 * - Attach without `container.exec` is read-only: the agent attaches without
 *   stdin, and input is not even forwarded.
 */
import { randomUUID } from "node:crypto";
import type { TContainerExecParams, TTerminalOutput } from "../../agent/protocol.ts";
import { auditActor } from "../auth/guard.ts";
import type { Db } from "../db/client.ts";
import { AppError, isAppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import type { Principal } from "./access.ts";
import type { AgentLink, OpenStream } from "./agent-link.ts";
import { appendAuditEvent, appendAuditEventTx, type AuditRequestMeta } from "./audit/append.ts";
import { getAuditEvent, type AuditScope } from "./audit/query.ts";
import { TerminalRecorder } from "./terminal-recording.ts";

const log = createLogger("terminals");
/** A session whose replica has not touched it for this long is taken as dead (it no longer counts toward the limit). */
const STALE_AFTER_MS = 3 * 60_000;
const TOUCH_MS = 60_000;
const RECORD_INPUT_KEY = "terminal.recordInput";
/** Sessions still writing their last recording chunk and end: shutdown waits for them. */
const closing = new Set<Promise<void>>();

/** Resolves once every ended session of this process has written its recording and its end. */
export async function settleTerminalSessions(): Promise<void> {
  await Promise.all([...closing]);
}

export type TerminalLimits = { idleMs: number; perUser: number; recordingMaxBytes: number };

export type TerminalRequest =
  | { mode: "exec"; hostId: string; containerId: string; cmd: string[]; user: string; workingDir: string; env: string[]; cols: number; rows: number }
  | { mode: "attach"; hostId: string; containerId: string; cols: number; rows: number; writable: boolean };

export type TerminalHandle = {
  sessionId: string;
  readOnly: boolean;
  /** Acknowledge output frames up to `seq` (the page wrote them): the agent may send more. */
  ack(seq: number): void;
  write(data: string): void;
  resize(cols: number, rows: number): void;
  /** Ends the session (the page closed it, or its access went away); `reason` is recorded. */
  close(reason: string | null): void;
};

export type TerminalSink = {
  output(bytes: Uint8Array, seq: number): void;
  /** The session ended: the process exited (`exitCode`), or `reason` says why it was cut. */
  end(info: { reason: string | null; exitCode: number | null }): void;
};

/** Whether keystrokes are recorded (an admin's choice, off by default: they carry passwords). */
export async function recordsTerminalInput(db: Db): Promise<boolean> {
  const row = await db.appSetting.findUnique({ where: { key: RECORD_INPUT_KEY }, select: { value: true } });
  return row?.value === true;
}

export async function setRecordTerminalInput(db: Db, enabled: boolean): Promise<{ recordInput: boolean }> {
  await db.appSetting.upsert({ where: { key: RECORD_INPUT_KEY }, create: { key: RECORD_INPUT_KEY, value: enabled }, update: { value: enabled }, select: { key: true } });
  return { recordInput: enabled };
}

/** A session's facts, if its audit event is within the reviewer's scope (the same 404 otherwise). */
export async function getTerminalSession(db: Db, sessionId: string, scope: AuditScope) {
  const session = await db.terminalSession.findUnique({
    where: { id: sessionId },
    select: {
      id: true, kind: true, hostName: true, containerName: true, userLabel: true, command: true, readOnly: true, inputRecorded: true,
      width: true, height: true, startedAt: true, lastSeenAt: true, endedAt: true, endReason: true, exitCode: true, bytes: true, truncated: true, auditSeq: true,
    },
  });
  if (!session?.auditSeq) throw new AppError("NOT_FOUND", "Recording not found");
  await getAuditEvent(db, session.auditSeq, scope).catch(() => {
    throw new AppError("NOT_FOUND", "Recording not found");
  });
  const { auditSeq, ...facts } = session;
  return { ...facts, auditSeq: auditSeq.toString() };
}

/** What reviewers see as the command: the argv joined as a shell would show it. */
export function describeCommand(cmd: string[]): string {
  return cmd.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(" ");
}

export async function openTerminal(opts: {
  db: Db;
  bus: EventBus;
  link: AgentLink;
  limits: TerminalLimits;
  principal: Principal;
  request: AuditRequestMeta;
  terminal: TerminalRequest;
  sink: TerminalSink;
}): Promise<TerminalHandle> {
  const { db, bus, link, limits, principal, terminal, sink } = opts;
  const action = terminal.mode === "exec" ? "containers.exec" : "containers.attach";
  const readOnly = terminal.mode === "attach" && !terminal.writable;
  const command = terminal.mode === "exec" ? describeCommand(terminal.cmd) : "(attach to the main process)";
  const auditParams = {
    hostId: terminal.hostId,
    containerId: terminal.containerId,
    ...(terminal.mode === "exec" ? { cmd: terminal.cmd, user: terminal.user, workingDir: terminal.workingDir, env: terminal.env } : { readOnly }),
  };

  const [host, container] = await Promise.all([
    db.host.findUnique({ where: { id: terminal.hostId }, select: { name: true } }),
    db.container.findUnique({ where: { hostId_dockerId: { hostId: terminal.hostId, dockerId: terminal.containerId } }, select: { name: true, state: true } }),
  ]);
  if (!host || !container) throw new AppError("NOT_FOUND", "Container not found on this host");
  const audit = (outcome: "SUCCESS" | "FAILURE", error: string | null, params: Record<string, unknown>) => ({
    actor: auditActor(principal),
    action,
    outcome,
    hostId: terminal.hostId,
    hostName: host.name,
    target: `containerId:${terminal.containerId}`,
    targetName: container.name,
    params,
    error,
    request: opts.request,
  });
  const refuse = async (error: AppError): Promise<never> => {
    await appendAuditEvent({ db, bus, event: audit("FAILURE", error.message, auditParams) }).catch((e: unknown) =>
      log.error("could not record a refused terminal", { error: String(e) }),
    );
    throw error;
  };
  if (container.state !== "running") await refuse(new AppError("CONFLICT", `The container is ${container.state}: terminals need a running container`));
  const sessionId = randomUUID();
  const recordInput = !readOnly && (await recordsTerminalInput(db));
  // The session row takes its slot under a per-user lock, so two tabs opening at once cannot both
  // pass the count. Until its audit event exists (auditSeq) nobody can replay it.
  const slot = await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`berth-terminals:${principal.userId}`}))`;
    const open = await tx.terminalSession.count({ where: { userId: principal.userId, endedAt: null, lastSeenAt: { gt: new Date(Date.now() - STALE_AFTER_MS) } } });
    if (open >= limits.perUser) return false;
    await tx.terminalSession.create({
      data: {
        id: sessionId,
        kind: terminal.mode,
        hostId: terminal.hostId,
        hostName: host.name,
        containerId: terminal.containerId,
        containerName: container.name,
        userId: principal.userId,
        userLabel: auditActor(principal).label,
        command,
        readOnly,
        inputRecorded: recordInput,
        width: terminal.cols,
        height: terminal.rows,
      },
      select: { id: true },
    });
    return true;
  });
  if (!slot) await refuse(new AppError("CONFLICT", `You already have ${limits.perUser} terminals open; close one first`));
  const releaseSlot = () => db.terminalSession.delete({ where: { id: sessionId }, select: { id: true } }).catch(() => undefined);
  const recorder = new TerminalRecorder(db, sessionId, {
    header: { width: terminal.cols, height: terminal.rows, startedAt: new Date(), command, title: `${container.name} on ${host.name}` },
    maxBytes: Math.round(limits.recordingMaxBytes),
    recordInput,
  });

  let ended = false;
  let exitCode: number | null = null;
  let stream: OpenStream | null = null;
  let idleTimer: NodeJS.Timeout | null = null;
  let touchTimer: NodeJS.Timeout | null = null;
  let sessionWritten: Promise<void> | null = null;
  // Output and keystrokes only stamp the time (they are the hot path); one timer checks the stamp when it is due.
  let lastActivity = Date.now();
  const activity = () => {
    lastActivity = Date.now();
  };
  const watchIdle = () => {
    const idleFor = Date.now() - lastActivity;
    if (idleFor >= limits.idleMs) return finish(`Closed after ${describeDuration(limits.idleMs)} without activity`, true);
    idleTimer = setTimeout(watchIdle, limits.idleMs - idleFor);
    idleTimer.unref();
  };
  /** Ends the session once: the page is told, the recording flushed, the row closed. */
  const finish = (reason: string | null, closeStream: boolean) => {
    if (ended) return;
    ended = true;
    if (idleTimer) clearTimeout(idleTimer);
    if (touchTimer) clearInterval(touchTimer);
    if (closeStream) stream?.close();
    sink.end({ reason, exitCode });
    const done = (async () => {
      await sessionWritten?.catch(() => undefined);
      await recorder.finish();
      if (!sessionWritten) return;
      await db.terminalSession
        .update({ where: { id: sessionId }, data: { endedAt: new Date(), endReason: reason, exitCode, truncated: recorder.truncated }, select: { id: true } })
        .catch((error: unknown) => log.warn("could not close a terminal session row", { sessionId, error: String(error) }));
    })();
    closing.add(done);
    void done.finally(() => closing.delete(done));
  };

  const params = { containerId: terminal.containerId, cols: terminal.cols, rows: terminal.rows };
  const onData = (frame: TTerminalOutput, seq: number) => {
    if (ended) return;
    if ("exitCode" in frame) {
      exitCode = frame.exitCode;
      stream?.ack(seq); // the last frame: nothing to pace
      return;
    }
    activity();
    recorder.output(frame.bytes);
    sink.output(frame.bytes, seq);
  };
  const onEnd = (error: AppError | null) => finish(error ? error.message : null, false);
  try {
    stream =
      terminal.mode === "exec"
        ? await link.openStream(
            terminal.hostId,
            "container.exec",
            { ...params, cmd: terminal.cmd, user: terminal.user, workingDir: terminal.workingDir, env: terminal.env } satisfies TContainerExecParams,
            { data: onData, end: onEnd },
          )
        : await link.openStream(terminal.hostId, "container.attach", { ...params, stdin: !readOnly }, { data: onData, end: onEnd });
  } catch (error) {
    ended = true;
    await recorder.finish();
    await releaseSlot();
    return refuse(isAppError(error) ? error : new AppError("INTERNAL", String(error)));
  }

  // The process runs: write the session and its audit event together, so neither exists without the other.
  sessionWritten = (async () => {
    const seq = await db.$transaction(
      async (tx) => {
        const event = await appendAuditEventTx(tx, audit("SUCCESS", null, { ...auditParams, sessionId }));
        await tx.terminalSession.update({ where: { id: sessionId }, data: { auditSeq: event.seq, startedAt: new Date() }, select: { id: true } });
        return event.seq;
      },
      { maxWait: 10_000, timeout: 15_000 },
    );
    bus.publish({ type: "audit.appended", seq: seq.toString() });
    recorder.startPersisting();
  })();
  try {
    await sessionWritten;
  } catch (error) {
    // No record, no terminal: a session nobody can review must not run.
    sessionWritten = null;
    await releaseSlot();
    finish("The session could not be recorded", true);
    log.error("could not record a terminal session", { error: String(error) });
    throw new AppError("INTERNAL", "The terminal could not be recorded, so it was not opened");
  }
  activity();
  watchIdle();
  touchTimer = setInterval(() => {
    void db.terminalSession.update({ where: { id: sessionId }, data: { lastSeenAt: new Date() }, select: { id: true } }).catch(() => undefined);
  }, TOUCH_MS);
  touchTimer.unref();

  return {
    sessionId,
    readOnly,
    ack: (seq) => stream?.ack(seq),
    write(data) {
      if (ended || readOnly) return;
      activity();
      recorder.input(data);
      stream?.send({ kind: "stdin", data });
    },
    resize(cols, rows) {
      if (ended) return;
      recorder.resize(cols, rows);
      stream?.send({ kind: "resize", cols, rows });
    },
    close: (reason) => finish(reason, true),
  };
}

function describeDuration(ms: number): string {
  const minutes = ms / 60_000;
  if (minutes >= 1 && Number.isInteger(minutes)) return `${minutes} minute${minutes === 1 ? "" : "s"}`;
  return `${Math.round(ms / 1000)} seconds`;
}
