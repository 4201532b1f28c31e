/**
 * One log subscription over a /browser socket, with flow control and resume
 * (used by the log views through use-log-stream.ts and use-merged-logs.ts;
 * free of React so tests drive it over a real socket).
 */
import type { Socket } from "socket.io-client";
import type { TLogLine } from "../../agent/protocol";
import { ClientEvent, ServerEvent, type TAck, type TLogsData, type TLogsEnd } from "../../server/gateway/browser-protocol";
import { ResumePoint } from "./log-order";

/** Wait before reopening a dropped log; doubled per failed try, up to the max. */
const RESUME_DELAY_MS = 1_000;
const RESUME_DELAY_MAX_MS = 10_000;

export type LogStreamStatus = "connecting" | "live" | "reconnecting" | "ended" | "error";

async function request<T extends Record<string, unknown>>(socket: Socket, event: string, payload: unknown): Promise<TAck<T>> {
  try {
    return (await socket.timeout(20_000).emitWithAck(event, payload)) as TAck<T>;
  } catch {
    return { ok: false, code: "UNAVAILABLE", message: "The server did not answer in time" };
  }
}

/** What one subscription reads: a container and Docker's log parameters. */
export type LogSource = {
  hostId: string;
  containerId: string;
  tail: number | null;
  follow: boolean;
  markers: boolean;
  since: string | null;
  until: string | null;
  maxLines: number | null;
};

/**
 * One log subscription over the page's socket, with flow control and resume.
 * Lines are held until the owner `drain()`s them (once per animation frame),
 * which also acknowledges the frames they came in: a paused or busy owner
 * simply does not drain, and the source pauses after a window of frames.
 */
export class LogSubscription {
  private subscriptionId: string | null = null;
  private opening = false;
  private cancelled = false;
  private finished = false; // ended for good (end of log, refusal, cap): no resume
  private retry: ReturnType<typeof setTimeout> | null = null;
  private delay = RESUME_DELAY_MS;
  // Data can race the open's answer: keep what arrives for ids not known yet.
  private readonly early = new Map<string, TLogsData[]>();
  private endedEarly: TLogsEnd | null = null;
  private pending: TLogLine[] = [];
  private receivedSeq = 0;
  private ackedSeq = 0;
  private total = 0;
  private readonly resumePoint = new ResumePoint();

  constructor(
    private readonly socket: Socket,
    private readonly source: LogSource,
    private readonly events: {
      /** Lines are waiting: drain them when convenient (next animation frame). */
      ready(): void;
      status(status: LogStreamStatus, reason: string | null): void;
      /** Stopped at `maxLines`. */
      capped(): void;
    },
  ) {
    socket.on(ServerEvent.logsData, this.onData);
    socket.on(ServerEvent.logsEnd, this.onEnd);
    socket.on("disconnect", this.onDisconnect);
    socket.on("connect", this.onConnect);
    this.events.status("connecting", null);
    this.open();
  }

  /** Lines received and not yet taken; taking them acknowledges their frames (the source may send more). */
  drain(): TLogLine[] {
    if (this.subscriptionId && this.receivedSeq > this.ackedSeq) {
      this.ackedSeq = this.receivedSeq;
      this.socket.emit(ClientEvent.logsAck, { subscriptionId: this.subscriptionId, seq: this.ackedSeq });
    }
    const lines = this.pending;
    this.pending = [];
    return lines;
  }

  get held(): number {
    return this.pending.length;
  }

  close(): void {
    this.cancelled = true;
    if (this.retry) clearTimeout(this.retry);
    this.socket.off(ServerEvent.logsData, this.onData);
    this.socket.off(ServerEvent.logsEnd, this.onEnd);
    this.socket.off("disconnect", this.onDisconnect);
    this.socket.off("connect", this.onConnect);
    this.unsubscribe();
  }

  private unsubscribe() {
    if (this.subscriptionId) this.socket.emit(ClientEvent.logsClose, { subscriptionId: this.subscriptionId });
    this.subscriptionId = null;
  }

  private accept(data: TLogsData) {
    this.receivedSeq = Math.max(this.receivedSeq, data.seq);
    if (this.finished) return;
    let lines = data.lines.filter((line) => this.resumePoint.accept(line));
    const { maxLines } = this.source;
    if (maxLines !== null && this.total + lines.length >= maxLines) {
      lines = lines.slice(0, maxLines - this.total);
      this.finished = true;
      this.unsubscribe();
      this.events.capped();
      this.events.status("ended", null);
    }
    this.total += lines.length;
    for (const line of lines) this.pending.push(line);
    if (lines.length > 0) this.events.ready();
  }

  private end(message: TLogsEnd) {
    this.subscriptionId = null;
    if (message.resumable && !this.finished) return this.scheduleResume(message.reason);
    this.finished = true;
    this.events.status(message.reason ? "error" : "ended", message.reason);
  }

  private scheduleResume(why: string | null) {
    this.events.status("reconnecting", why);
    if (this.retry || this.cancelled) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.socket.connected) this.open();
    }, this.delay);
    this.delay = Math.min(this.delay * 2, RESUME_DELAY_MAX_MS);
  }

  private readonly onData = (data: TLogsData) => {
    if (data.subscriptionId === this.subscriptionId) this.accept(data);
    else if (this.subscriptionId === null && this.opening) this.early.set(data.subscriptionId, [...(this.early.get(data.subscriptionId) ?? []), data]);
  };

  private readonly onEnd = (message: TLogsEnd) => {
    if (message.subscriptionId === this.subscriptionId) this.end(message);
    else if (this.subscriptionId === null && this.opening) this.endedEarly = message;
  };

  // The socket dropped (network, server restart): the server has ended this stream; reopen once it is back.
  private readonly onDisconnect = () => {
    if (this.finished || this.cancelled) return;
    this.subscriptionId = null;
    this.events.status("reconnecting", "Connection to Berth lost");
  };

  private readonly onConnect = () => {
    if (!this.finished && !this.cancelled && this.subscriptionId === null && !this.opening) this.open();
  };

  /** Opens (or, after a drop, reopens from the last line's timestamp). */
  private open() {
    if (this.opening || this.cancelled || this.finished) return;
    this.opening = true;
    const resuming = this.resumePoint.since !== null;
    if (resuming) this.resumePoint.reopen();
    this.receivedSeq = 0;
    this.ackedSeq = 0;
    const { hostId, containerId, tail, since, until, follow, markers } = this.source;
    const input = resuming
      ? { hostId, containerId, tail: null, since: this.resumePoint.since, until, follow, markers }
      : { hostId, containerId, tail: since ? null : tail, since, until, follow, markers };
    void request<{ subscriptionId: string }>(this.socket, ClientEvent.logsOpen, input).then((ack) => {
      this.opening = false;
      if (this.cancelled) {
        if (ack.ok) this.socket.emit(ClientEvent.logsClose, { subscriptionId: ack.subscriptionId });
        return;
      }
      if (!ack.ok) {
        // The agent is not back yet: try again; anything else is final.
        if (resuming && ack.code === "UNAVAILABLE") return this.scheduleResume(ack.message);
        this.finished = true;
        this.events.status("error", ack.message);
        return;
      }
      const id = ack.subscriptionId;
      this.subscriptionId = id;
      this.delay = RESUME_DELAY_MS;
      this.events.status("live", null);
      for (const data of this.early.get(id) ?? []) this.accept(data);
      this.early.clear();
      const ended = this.endedEarly as TLogsEnd | null;
      this.endedEarly = null;
      if (ended?.subscriptionId === id) this.end(ended);
    });
  }
}

