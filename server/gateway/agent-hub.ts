/**
 * The /agent socket.io namespace: where agents dial in.
 *
 * Handshake (mutual): the agent's socket.io handshake carries its own fresh
 * challenge; on connect the server sends a fresh nonce (`hello`) together with
 * its public key and a signature over both nonces and the claimed agent id, so
 * the agent can check the key against the fingerprint it pinned before it
 * sends anything. The agent then answers `authenticate` with either a join
 * token + new public key, or its agent id, each with a signature over the
 * server's nonce. Until that succeeds, every other event is refused. Each frame
 * is zod-parsed; a bad one is answered with a `protocol:error` frame and dropped.
 *
 * One identity, one connection: a second agent presenting a key that is
 * already connected and healthy (here or on another replica) is refused and
 * recorded on the host, instead of the two replacing each other forever.
 *
 * Frames from one agent are applied strictly in order (a per-connection
 * queue), so an event can never be overtaken by the snapshot it follows.
 */
import { randomUUID } from "node:crypto";
import type { Namespace, Server, Socket } from "socket.io";
import type { z } from "zod";
import {
  AGENT_NAMESPACE,
  AgentEvent,
  describeZodError,
  ZAgentHandshake,
  ZAuthenticate,
  ZContainerEvents,
  ZHeartbeat,
  ZInventoryChange,
  ZOperationResponse,
  ZReconciled,
  ZSnapshotBegin,
  ZSnapshotEnd,
  ZSnapshotPart,
  SNAPSHOT_LIMITS,
  ZStreamData,
  ZStreamEnd,
  ZStreamOpenResult,
  STREAM_WINDOW_FRAMES,
  operations,
  streams as streamTypes,
  streamInputSchema,
  PROTOCOL_VERSION,
  serverProofMessage,
  type OperationParams,
  type OperationResult,
  type OperationType,
  type StreamParams,
  type StreamType,
  type TAuthenticateResult,
  type TAgentHandshake,
  type THello,
  type TOperationRequest,
  type TProtocolError,
  type TSnapshot,
  type TSnapshotBegin,
  type TStreamInput,
  type TStreamOpen,
} from "../../agent/protocol.ts";
import { signWithServerKey, type ServerKey } from "../crypto/server-key.ts";
import type { Db } from "../db/client.ts";
import { AppError, isAppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import type { AgentLink, OpenStream, StreamSink } from "../services/agent-link.ts";
import { liveConnectionElsewhere, recordDuplicateIdentity } from "../services/agent-presence.ts";
import { RefusalAuditThrottle, type RefusalRow } from "../services/agent-refusals.ts";
import { authenticateAgent, enrollAgent, newNonce, type AgentIdentity } from "../services/agents.ts";
import { markHostOffline, markHostOnline, recordHeartbeat } from "../services/hosts.ts";
import { applyChange, applyReconciliation, applySnapshot } from "../services/inventory.ts";
import { recordContainerEvents } from "../services/container-history.ts";
import { appendAuditEvent, assertAuditWritable, type AuditActor } from "../services/audit/append.ts";
import type { TPeerControl } from "./replica-link.ts";
import type { StreamRelay } from "./stream-relay.ts";

const log = createLogger("agent-hub");
const AUTH_TIMEOUT_MS = 10_000;
/**
 * Frames waiting to be applied for one agent. Far above what a healthy agent
 * has in flight (it sends a change per Docker event); an agent past it is
 * flooding the server and is disconnected (it resyncs when it comes back).
 */
const MAX_QUEUED_FRAMES = 5_000;

/** A snapshot whose parts are still arriving: held in memory, bounded by the counts it announced. */
type SnapshotInProgress = { begin: TSnapshotBegin; snapshot: TSnapshot; parts: number };

/** How long a connected agent has to answer before a newcomer with its identity may replace it. */
const LIVENESS_PROBE_MS = 3_000;

type AgentSocketData = {
  nonce: string;
  /** The agent's handshake (its challenge, claimed id, process id); null if it sent none (an old agent). */
  handshake: TAgentHandshake | null;
  identity?: AgentIdentity;
  /** The presence generation this connection holds once the host is marked online. */
  generation?: number;
  queue: Promise<void>;
  queued: number;
  snapshot?: SnapshotInProgress;
  /** Bytes of messages this agent sent on this connection, and of those its stream frames (the stats benchmark reads them). */
  rxBytes: number;
  rxStreamBytes: number;
  /** The same bytes by event name (what else shares the link with the streams). */
  rxByEvent: Map<string, number>;
};

type Peers = {
  forward(hostId: string, type: string, params: unknown, timeoutMs: number): Promise<unknown>;
  control(message: TPeerControl): Promise<void>;
};

/** What the server emits to agents; agent→server frames arrive through onAny and are zod-parsed. */
interface ServerToAgentEvents {
  [AgentEvent.hello]: (hello: THello) => void;
  [AgentEvent.error]: (error: TProtocolError) => void;
  [AgentEvent.request]: (request: TOperationRequest, ack: (response: unknown) => void) => void;
  [AgentEvent.streamOpen]: (open: TStreamOpen, ack: (result: unknown) => void) => void;
  [AgentEvent.streamCancel]: (cancel: { streamId: string }) => void;
  [AgentEvent.resync]: (resync: { reason: string }) => void;
  [AgentEvent.streamAck]: (ack: { streamId: string; seq: number }) => void;
  [AgentEvent.streamInput]: (input: TStreamInput) => void;
}
type AgentSocket = Socket<Record<string, never>, ServerToAgentEvents, Record<string, never>, AgentSocketData>;
type AgentNamespace = Namespace<Record<string, never>, ServerToAgentEvents, Record<string, never>, AgentSocketData>;

/** `seq`: last frame received; `acked`: last frame the reader passed on (the agent is told at the end of the turn, see `ack`). */
type ActiveStream = {
  socket: AgentSocket;
  type: StreamType;
  sink: StreamSink<StreamType>;
  seq: number;
  acked: number;
  /** An ack to the agent is due at the end of this turn of the event loop (see `ack`). */
  ackDue: boolean;
};

/**
 * An agent past its window by more than this is not following the protocol:
 * its stream is cut (a little slack: a reader ending sends its last held lines at once).
 */
const WINDOW_OVERRUN_LIMIT = STREAM_WINDOW_FRAMES * 2;

function errorFromAgent(code: string, message: string): AppError {
  return new AppError(code === "NOT_FOUND" ? "NOT_FOUND" : code === "DOCKER_ERROR" ? "DOCKER_ERROR" : code === "INTERNAL" ? "INTERNAL" : "BAD_REQUEST", message);
}

export class AgentHub implements AgentLink {
  private readonly sockets = new Map<string, AgentSocket>();
  private readonly streams = new Map<string, ActiveStream>();
  private namespace?: AgentNamespace;
  private readonly refusals: RefusalAuditThrottle;
  /** Disconnect handling in flight (hosts being marked offline), awaited at shutdown. */
  private readonly disconnecting = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      db: Db;
      bus: EventBus;
      serverId: string;
      serverKey: ServerKey;
      peers?: Peers;
      /** Relays streams of agents held by other replicas (absent with the embedded database: one process). */
      relay?: Pick<StreamRelay, "open">;
      /** A connection heard from within this many seconds counts as healthy (duplicate detection). */
      offlineAfterSeconds?: number;
      refusalAuditWindowMs?: number;
    },
  ) {
    this.refusals = new RefusalAuditThrottle((row) => this.writeRefusal(row), deps.refusalAuditWindowMs);
  }

  attach(io: Server): void {
    this.namespace = io.of(AGENT_NAMESPACE) as unknown as AgentNamespace;
    this.namespace.on("connection", (socket) => this.onConnection(socket));
  }

  /** Resolves once every disconnect seen so far has been handled (shutdown closes the database after). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.disconnecting]);
  }

  isConnected(hostId: string): boolean {
    return this.sockets.get(hostId)?.connected ?? false;
  }

  connectedHostIds(): string[] {
    return [...this.sockets.keys()];
  }

  /** Streams open on agents of this server, of one type (tests, the stats benchmark). */
  openStreamsOfType(type: StreamType): number {
    let n = 0;
    for (const stream of this.streams.values()) if (stream.type === type) n++;
    return n;
  }

  /** Message bytes received from the host's current agent connection (all, and stream frames), or null when it is not connected here. */
  bytesReceivedFrom(hostId: string): { all: number; streams: number; byEvent: Record<string, number> } | null {
    const socket = this.sockets.get(hostId);
    return socket ? { all: socket.data.rxBytes, streams: socket.data.rxStreamBytes, byEvent: Object.fromEntries(socket.data.rxByEvent) } : null;
  }

  /** Drops the host's agent wherever it is connected: here, and on every other replica. */
  async disconnect(hostId: string, reason: string): Promise<void> {
    this.disconnectLocal(hostId, reason);
    await this.deps.peers?.control({ kind: "disconnect", hostId, message: reason }).catch((error: unknown) => {
      // The sweep's enforceRevocations catches what this message would have.
      log.warn("could not tell the other replicas to drop an agent", { hostId, error: String(error) });
    });
  }

  private disconnectLocal(hostId: string, reason: string) {
    const socket = this.sockets.get(hostId);
    if (!socket) return;
    socket.emit(AgentEvent.error, { event: "session", message: reason });
    socket.disconnect(true);
  }

  /** A control message from another replica (see replica-link.ts). */
  onPeerControl(message: TPeerControl): void {
    if (message.kind === "disconnect") return this.disconnectLocal(message.hostId, message.message);
    const socket = this.sockets.get(message.hostId);
    if (socket?.connected) socket.emit(AgentEvent.error, { event: "session", message: message.message });
  }

  /**
   * Drops local agents whose key was revoked or replaced since they connected.
   * Revocation already reaches every replica by message; this covers a message
   * lost while a replica's listener was reconnecting.
   */
  async enforceRevocations(): Promise<void> {
    const connected = [...this.sockets.values()].map((socket) => socket.data.identity).filter((i): i is AgentIdentity => Boolean(i));
    if (connected.length === 0) return;
    const valid = await this.deps.db.agent.findMany({
      where: { id: { in: connected.map((i) => i.agentId) }, revoked: false },
      select: { id: true },
    });
    const ok = new Set(valid.map((a) => a.id));
    for (const identity of connected) {
      if (!ok.has(identity.agentId)) this.disconnectLocal(identity.hostId, "This agent's key was revoked.");
    }
  }

  /** Writes the counts of refusal windows that have closed (all of them at shutdown). */
  async flushRefusalAudit(opts: { all?: boolean; now?: number } = {}): Promise<void> {
    await this.refusals.flush(opts);
  }

  async request<T extends OperationType>(
    hostId: string,
    type: T,
    params: OperationParams<T>,
    options: { timeoutMs?: number } = {},
  ): Promise<OperationResult<T>> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    let raw = await this.requestLocal(hostId, type, params, timeoutMs);
    if (raw === undefined) {
      // Not connected here: another replica may hold it, if the host is online at all.
      const host = await this.deps.db.host.findUnique({ where: { id: hostId }, select: { status: true } });
      if (!this.deps.peers || host?.status !== "ONLINE") throw new AppError("HOST_OFFLINE", "The host's agent is not connected");
      raw = await this.deps.peers.forward(hostId, type, params, timeoutMs);
    }
    const response = ZOperationResponse.safeParse(raw);
    if (!response.success) throw new AppError("AGENT_ERROR", `The agent sent a malformed response: ${describeZodError(response.error)}`);
    if (!response.data.ok) throw errorFromAgent(response.data.error.code, response.data.error.message);
    const result = operations[type].result.safeParse(response.data.result);
    // The agent is to blame (502), as for a malformed envelope above, not the caller or the server.
    if (!result.success) throw new AppError("AGENT_ERROR", `The agent sent a malformed "${type}" result`);
    return result.data as OperationResult<T>;
  }

  /**
   * Sends a request to an agent connected to THIS server and returns its raw
   * answer, or undefined when the agent is not connected here.
   */
  readonly requestLocal = async (hostId: string, type: string, params: unknown, timeoutMs: number): Promise<unknown> => {
    const socket = this.sockets.get(hostId);
    if (!socket?.connected) return undefined;
    try {
      return await socket.timeout(timeoutMs).emitWithAck(AgentEvent.request, { requestId: randomUUID(), type, params });
    } catch {
      throw new AppError("TIMEOUT", `The agent did not answer "${type}" in time`);
    }
  };

  /**
   * Opens a stream on the host's agent. Frames go straight from the agent's
   * socket to `sink`, in order; nothing is persisted. When the agent is
   * connected to another replica, that replica opens it and relays its frames
   * here (stream-relay.ts), with the same flow control and the same contract.
   */
  async openStream<T extends StreamType>(hostId: string, type: T, params: StreamParams<T>, sink: StreamSink<T>): Promise<OpenStream> {
    const local = await this.openLocalStream(hostId, type, params, sink);
    if (local) return local;
    const host = await this.deps.db.host.findUnique({ where: { id: hostId }, select: { status: true, presenceServerId: true } });
    if (host?.status !== "ONLINE") throw new AppError("HOST_OFFLINE", "The host's agent is not connected");
    if (!this.deps.relay) {
      throw new AppError("PRECONDITION_FAILED", "This host's agent is connected to another Berth server, and this one relays no live streams");
    }
    // ONLINE with this server as holder but no socket here: it just dropped (the row catches up in a moment).
    if (!host.presenceServerId || host.presenceServerId === this.deps.serverId) throw new AppError("HOST_OFFLINE", "The host's agent is not connected");
    // The row names the holder. An agent moving between replicas at this moment gets HOST_OFFLINE from the old one; the reader reopens.
    return await this.deps.relay.open(hostId, host.presenceServerId, type, params, sink);
  }

  /**
   * Opens a stream on an agent connected to THIS server, or resolves
   * undefined when it is not connected here (the relay asks only this).
   */
  readonly openLocalStream = async <T extends StreamType>(hostId: string, type: T, params: StreamParams<T>, sink: StreamSink<T>): Promise<OpenStream | undefined> => {
    const socket = this.sockets.get(hostId);
    if (!socket?.connected) return undefined;
    const streamId = randomUUID();
    const stream: ActiveStream = { socket, type, sink: sink as unknown as StreamSink<StreamType>, seq: 0, acked: 0, ackDue: false };
    // Registered before asking, so frames that follow the agent's "started" are never dropped.
    this.streams.set(streamId, stream);
    let raw: unknown;
    try {
      raw = await socket.timeout(15_000).emitWithAck(AgentEvent.streamOpen, { streamId, type, params });
    } catch {
      this.streams.delete(streamId);
      throw new AppError("TIMEOUT", `The agent did not start "${type}" in time`);
    }
    const result = ZStreamOpenResult.safeParse(raw);
    if (!result.success) {
      this.streams.delete(streamId);
      throw new AppError("INTERNAL", "The agent sent a malformed stream answer");
    }
    if (!result.data.ok) {
      this.streams.delete(streamId);
      throw errorFromAgent(result.data.error.code, result.data.error.message);
    }
    return {
      close: () => {
        if (!this.streams.delete(streamId)) return;
        if (socket.connected) socket.emit(AgentEvent.streamCancel, { streamId });
        stream.sink.end(null);
      },
      ack: (seq: number) => {
        if (this.streams.get(streamId) !== stream || !Number.isInteger(seq) || seq <= stream.acked || seq > stream.seq) return;
        stream.acked = seq;
        // Passed on at the end of this turn of the event loop: a keystroke that came in with the page's
        // ack reaches the agent first (someone is waiting for its echo), and a run of acks costs one frame.
        if (stream.ackDue) return;
        stream.ackDue = true;
        setImmediate(() => {
          stream.ackDue = false;
          if (this.streams.get(streamId) === stream && socket.connected) socket.emit(AgentEvent.streamAck, { streamId, seq: stream.acked });
        });
      },
      send: (input: unknown) => {
        const schema = streamInputSchema(type);
        if (!schema || this.streams.get(streamId) !== stream || !schema.safeParse(input).success) return;
        if (socket.connected) socket.emit(AgentEvent.streamInput, { streamId, data: input });
      },
    };
  };

  /** Whether an engine.io connection carries an authenticated agent (it may send large frames). */
  carriesAuthenticatedAgent(conn: unknown): boolean {
    for (const socket of this.sockets.values()) if (socket.conn === conn && socket.data.identity) return true;
    return false;
  }

  /** Streams currently relayed by this server (for tests and metrics). */
  get openStreamCount(): number {
    return this.streams.size;
  }

  /** Frames received from agents and not yet passed on by their readers, per stream (for tests and metrics). */
  get streamBacklog(): number[] {
    return [...this.streams.values()].map((stream) => stream.seq - stream.acked);
  }

  private onStreamData(socket: AgentSocket, payload: unknown) {
    const frame = ZStreamData.safeParse(payload);
    if (!frame.success) return this.refuse(socket, AgentEvent.streamData, `Malformed ${AgentEvent.streamData}: ${describeZodError(frame.error)}`);
    const stream = this.streams.get(frame.data.streamId);
    if (!stream || stream.socket !== socket) return; // closed by the server a moment ago, or not this agent's
    const data = streamTypes[stream.type].data.safeParse(frame.data.data);
    const overrun = frame.data.seq - stream.acked > WINDOW_OVERRUN_LIMIT;
    if (!data.success || frame.data.seq !== stream.seq + 1 || overrun) {
      // A stream that skipped or garbled a frame, or ignores flow control, cannot be trusted to continue.
      this.streams.delete(frame.data.streamId);
      socket.emit(AgentEvent.streamCancel, { streamId: frame.data.streamId });
      const reason = !data.success
        ? `The agent sent malformed stream data: ${describeZodError(data.error)}`
        : overrun
          ? "The agent sent more than its flow-control window"
          : "The agent's stream lost a frame";
      stream.sink.end(new AppError("INTERNAL", reason));
      return;
    }
    stream.seq = frame.data.seq;
    stream.sink.data(data.data, frame.data.seq);
  }

  private onStreamEnd(socket: AgentSocket, payload: unknown) {
    const frame = ZStreamEnd.safeParse(payload);
    if (!frame.success) return this.refuse(socket, AgentEvent.streamEnd, `Malformed ${AgentEvent.streamEnd}: ${describeZodError(frame.error)}`);
    const stream = this.streams.get(frame.data.streamId);
    if (!stream || stream.socket !== socket) return;
    this.streams.delete(frame.data.streamId);
    stream.sink.end(frame.data.error ? errorFromAgent(frame.data.error.code, frame.data.error.message) : null);
  }

  private endStreamsOf(socket: AgentSocket, reason: string) {
    for (const [streamId, stream] of this.streams) {
      if (stream.socket !== socket) continue;
      this.streams.delete(streamId);
      stream.sink.end(new AppError("HOST_OFFLINE", reason));
    }
  }

  // ---------------------------------------------------------------- connection

  private onConnection(socket: AgentSocket) {
    const handshake = ZAgentHandshake.safeParse(socket.handshake.auth);
    socket.data = { nonce: newNonce(), handshake: handshake.success ? handshake.data : null, queue: Promise.resolve(), queued: 0, rxBytes: 0, rxStreamBytes: 0, rxByEvent: new Map() };
    // engine.io's "data": every message as it came off the wire (before socket.io decodes it).
    socket.conn.on("data", (data: unknown) => {
      const bytes = typeof data === "string" ? Buffer.byteLength(data) : Buffer.isBuffer(data) ? data.length : 0;
      socket.data.rxBytes += bytes;
      // socket.io's packet starts `42/agent,["stream:data",…`: the event name is in its first bytes.
      const event = typeof data === "string" ? (/^\d+(?:\/agent,)?\d*\["([^"]{1,64})"/.exec(data.slice(0, 96))?.[1] ?? "(other)") : "(binary)";
      if (event === AgentEvent.streamData) socket.data.rxStreamBytes += bytes;
      // Bounded: only the contract's event names (and two buckets) are ever keys.
      const bucket = (Object.values(AgentEvent) as string[]).includes(event) || event.startsWith("(") ? event : "(unknown)";
      socket.data.rxByEvent.set(bucket, (socket.data.rxByEvent.get(bucket) ?? 0) + bytes);
    });
    const authTimer = setTimeout(() => {
      if (!socket.data.identity) {
        socket.emit(AgentEvent.error, { event: AgentEvent.authenticate, message: "Authentication timed out" });
        socket.disconnect(true);
      }
    }, AUTH_TIMEOUT_MS);

    socket.on("disconnect", () => {
      clearTimeout(authTimer);
      const done = this.onDisconnect(socket).finally(() => this.disconnecting.delete(done));
      this.disconnecting.add(done);
    });

    socket.onAny((event: string, ...args: unknown[]) => {
      try {
        this.onFrame(socket, event, args);
      } catch (error) {
        // A frame must never take the server down, whatever it contains.
        log.error("unexpected error handling an agent frame", { event: String(event).slice(0, 64), error: String(error) });
        this.refuse(socket, event, "The server could not process this frame");
      }
    });

    socket.emit(AgentEvent.hello, {
      nonce: socket.data.nonce,
      protocolVersion: PROTOCOL_VERSION,
      serverId: this.deps.serverId,
      ...(socket.data.handshake ? { server: this.serverProof(socket.data.nonce, socket.data.handshake) } : {}),
    });
  }

  /** Answers the agent's challenge: this server's key, and its signature over both nonces and the claimed agent id. */
  private serverProof(serverNonce: string, handshake: TAgentHandshake) {
    const message = serverProofMessage(serverNonce, handshake.agentNonce, handshake.agentId ?? "join");
    return { publicKey: this.deps.serverKey.publicKeyPem, signature: signWithServerKey(this.deps.serverKey, message) };
  }

  private onFrame(socket: AgentSocket, event: string, args: unknown[]) {
      const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (r: unknown) => void) : undefined;
      const payload = args[0];
      if (event === AgentEvent.authenticate) return void this.onAuthenticate(socket, payload, ack);
      if (!socket.data.identity) return this.refuse(socket, event, "Not authenticated", ack);
      switch (event) {
        case AgentEvent.snapshotBegin:
          return this.onSnapshotBegin(socket, payload);
        case AgentEvent.snapshotPart:
          return this.onSnapshotPart(socket, payload);
        case AgentEvent.snapshotEnd:
          return this.onSnapshotEnd(socket, payload);
        case AgentEvent.change:
          return this.enqueue(socket, event, ZInventoryChange, payload, (identity, change) =>
            applyChange({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, change }),
          );
        case AgentEvent.reconciled:
          return this.enqueue(socket, event, ZReconciled, payload, async (identity, report) => {
            const { inStep } = await applyReconciliation({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, report });
            if (report.corrected > 0) log.warn("agent corrected inventory drift", { host: identity.hostName, corrected: report.corrected });
            if (!inStep) this.askResync(socket, "the server's rows differ from the agent's digest");
          });
        case AgentEvent.heartbeat:
          return this.enqueue(socket, event, ZHeartbeat, payload, (identity, heartbeat) =>
            recordHeartbeat({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, heartbeat, generation: socket.data.generation }).then(() => undefined),
          );
        case AgentEvent.containerEvents:
          return this.enqueue(socket, event, ZContainerEvents, payload, (identity, frame) =>
            recordContainerEvents({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, events: frame.events }),
          );
        case AgentEvent.streamData:
          return this.onStreamData(socket, payload);
        case AgentEvent.streamEnd:
          return this.onStreamEnd(socket, payload);
        case AgentEvent.error:
          log.warn("agent reported a protocol error", { hostId: socket.data.identity.hostId, payload: String(JSON.stringify(payload)).slice(0, 500) });
          return;
        default:
          return this.refuse(socket, event, `Unknown event "${String(event).slice(0, 64)}"`, ack);
      }
  }

  private refuse(socket: AgentSocket, event: string, message: string, ack?: (r: unknown) => void) {
    const frame = { event: String(event).slice(0, 64), message };
    if (ack) ack({ ok: false, error: message });
    socket.emit(AgentEvent.error, frame);
  }

  private enqueue<S extends z.ZodType>(
    socket: AgentSocket,
    event: string,
    schema: S,
    payload: unknown,
    apply: (identity: AgentIdentity, data: z.infer<S>) => Promise<void>,
  ) {
    const parsed = schema.safeParse(payload);
    if (!parsed.success) {
      // A change the mirror cannot take leaves it behind Docker.
      if (event === AgentEvent.change) this.askResync(socket, "a change frame was malformed");
      return this.refuse(socket, event, `Malformed ${event}: ${describeZodError(parsed.error)}`);
    }
    this.enqueueApply(socket, event, (identity) => apply(identity, parsed.data));
  }

  /**
   * Applies frames of one agent strictly in order. A frame that fails to apply
   * leaves the mirror behind Docker: the agent is asked for a fresh snapshot.
   */
  private enqueueApply(socket: AgentSocket, event: string, apply: (identity: AgentIdentity) => Promise<void>) {
    const identity = socket.data.identity!;
    if (socket.data.queued >= MAX_QUEUED_FRAMES) {
      log.warn("agent is sending faster than its frames can be applied; disconnecting it", { host: identity.hostName });
      socket.emit(AgentEvent.error, { event, message: "Too many frames waiting to be applied; reconnect and resync" });
      socket.disconnect(true);
      return;
    }
    socket.data.queued++;
    socket.data.queue = socket.data.queue.then(async () => {
      socket.data.queued--;
      if (this.sockets.get(identity.hostId) !== socket) return; // superseded or revoked
      try {
        await apply(identity);
      } catch (error) {
        log.error(`failed to apply ${event}`, { hostId: identity.hostId, error: String(error) });
        socket.emit(AgentEvent.error, { event, message: "The server could not apply this frame" });
        this.askResync(socket, `the server could not apply ${event}`);
      }
    });
  }

  private askResync(socket: AgentSocket, reason: string) {
    if (socket.connected) socket.emit(AgentEvent.resync, { reason });
  }

  // ---------------------------------------------------------------- snapshots in parts

  private onSnapshotBegin(socket: AgentSocket, payload: unknown) {
    const begin = ZSnapshotBegin.safeParse(payload);
    if (!begin.success) return this.refuse(socket, AgentEvent.snapshotBegin, `Malformed ${AgentEvent.snapshotBegin}: ${describeZodError(begin.error)}`);
    // A new snapshot replaces one still arriving (the agent restarted its resync).
    socket.data.snapshot = {
      begin: begin.data,
      parts: 0,
      snapshot: { host: begin.data.host, takenAt: begin.data.takenAt, containers: [], images: [], volumes: [], networks: [] },
    };
  }

  private onSnapshotPart(socket: AgentSocket, payload: unknown) {
    const part = ZSnapshotPart.safeParse(payload);
    if (!part.success) {
      socket.data.snapshot = undefined;
      this.askResync(socket, "a snapshot part was malformed");
      return this.refuse(socket, AgentEvent.snapshotPart, `Malformed ${AgentEvent.snapshotPart}: ${describeZodError(part.error)}`);
    }
    const pending = socket.data.snapshot;
    if (!pending || pending.begin.snapshotId !== part.data.snapshotId) {
      return this.refuse(socket, AgentEvent.snapshotPart, "Snapshot part without a matching begin");
    }
    const { snapshot, begin } = pending;
    const overflow =
      ++pending.parts > SNAPSHOT_LIMITS.parts ||
      snapshot.containers.length + part.data.containers.length > begin.counts.containers ||
      snapshot.images.length + part.data.images.length > begin.counts.images ||
      snapshot.volumes.length + part.data.volumes.length > begin.counts.volumes ||
      snapshot.networks.length + part.data.networks.length > begin.counts.networks;
    if (overflow) {
      socket.data.snapshot = undefined;
      this.askResync(socket, "a snapshot sent more records than it announced");
      return this.refuse(socket, AgentEvent.snapshotPart, "Snapshot parts exceed the counts announced at its begin");
    }
    snapshot.containers.push(...part.data.containers);
    snapshot.images.push(...part.data.images);
    snapshot.volumes.push(...part.data.volumes);
    snapshot.networks.push(...part.data.networks);
  }

  private onSnapshotEnd(socket: AgentSocket, payload: unknown) {
    const end = ZSnapshotEnd.safeParse(payload);
    if (!end.success) return this.refuse(socket, AgentEvent.snapshotEnd, `Malformed ${AgentEvent.snapshotEnd}: ${describeZodError(end.error)}`);
    const pending = socket.data.snapshot;
    if (!pending || pending.begin.snapshotId !== end.data.snapshotId) {
      return this.refuse(socket, AgentEvent.snapshotEnd, "Snapshot end without a matching begin");
    }
    socket.data.snapshot = undefined;
    const { snapshot, begin } = pending;
    const complete =
      snapshot.containers.length === begin.counts.containers &&
      snapshot.images.length === begin.counts.images &&
      snapshot.volumes.length === begin.counts.volumes &&
      snapshot.networks.length === begin.counts.networks;
    if (!complete) {
      this.askResync(socket, "a snapshot arrived incomplete");
      return this.refuse(socket, AgentEvent.snapshotEnd, "Snapshot ended with fewer records than announced");
    }
    this.enqueueApply(socket, AgentEvent.snapshotEnd, (identity) =>
      applySnapshot({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, snapshot }),
    );
  }

  private async onAuthenticate(socket: AgentSocket, payload: unknown, ack?: (r: TAuthenticateResult) => void) {
    const reply = (result: TAuthenticateResult) => (ack ? ack(result) : socket.emit(AgentEvent.error, { event: AgentEvent.authenticate, message: result.ok ? "ok" : result.error }));
    if (socket.data.identity) return reply({ ok: false, error: "Already authenticated" });
    const parsed = ZAuthenticate.safeParse(payload);
    if (!parsed.success) {
      reply({ ok: false, error: `Malformed authenticate: ${describeZodError(parsed.error)}` });
      return void socket.disconnect(true);
    }
    const auth = parsed.data;
    if (auth.info.protocolVersion !== PROTOCOL_VERSION) {
      reply({ ok: false, error: `Protocol version ${auth.info.protocolVersion} is not supported; this server speaks ${PROTOCOL_VERSION}. Upgrade the agent.` });
      return void socket.disconnect(true);
    }
    const nonce = socket.data.nonce;
    socket.data.nonce = newNonce(); // one attempt per nonce
    const refusalActor: AuditActor =
      auth.mode === "key" ? { type: "AGENT", id: auth.agentId, label: `agent ${auth.agentId}` } : { type: "AGENT", id: null, label: "unenrolled agent" };
    const refusalKey = auth.mode === "key" ? `agent:${auth.agentId}` : `join:${socket.handshake.address ?? "unknown"}`;
    const refuse = async (message: string, action: string, hostId: string | null) => {
      await this.refusals
        .refused(refusalKey, { actor: refusalActor, action, hostId, error: message, request: this.requestMeta(socket) })
        .catch((error: unknown) => log.error("could not audit an agent refusal", { action, error: String(error) }));
      reply({ ok: false, error: message });
      socket.disconnect(true);
    };
    let identity: AgentIdentity;
    try {
      // No join without its record: a join consumes its token, so the trail is proved writable first.
      if (auth.mode === "join") await assertAuditWritable(this.deps.db);
      identity =
        auth.mode === "join"
          ? await enrollAgent({ db: this.deps.db, token: auth.token, publicKey: auth.publicKey, signature: auth.signature, nonce })
          : await authenticateAgent({ db: this.deps.db, agentId: auth.agentId, signature: auth.signature, nonce });
    } catch (error) {
      const message = isAppError(error) ? error.message : "Authentication failed";
      if (!isAppError(error)) log.error("agent authentication error", { error: String(error) });
      else log.warn("agent refused", { reason: message, address: socket.handshake.address });
      return refuse(message, auth.mode === "join" ? "host.join" : "agent.authenticate", null);
    }
    try {
      if (!socket.connected) return;
      // A join brings a new key (the old one is deleted): only a key already in use can be used twice.
      const duplicate = auth.mode === "key" ? await this.concurrentConnection(socket, identity) : null;
      if (duplicate) {
        const message =
          `Connection refused: another agent with this identity is already connected (from ${duplicate.address ?? "an unknown address"}` +
          `${duplicate.since ? ` since ${duplicate.since.toISOString()}` : ""}). Two machines share one identity.json: ` +
          "give the second its own join token instead of a copy of the first one's state.";
        log.warn("two agents present the same identity; refusing the newcomer", {
          host: identity.hostName,
          agentId: identity.agentId,
          connected: duplicate.address,
          newcomer: socket.handshake.address,
        });
        await recordDuplicateIdentity({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, addresses: [duplicate.address, socket.handshake.address] });
        await duplicate.warn(
          `Another agent with this agent's identity tried to connect from ${socket.handshake.address ?? "an unknown address"} and was refused. ` +
            "Two machines share one identity.json.",
        );
        return await refuse(message, "agent.duplicate", identity.hostId);
      }
      const previous = this.sockets.get(identity.hostId);
      if (previous && previous !== socket) {
        previous.emit(AgentEvent.error, { event: "session", message: "Replaced by a newer connection of this agent" });
        previous.disconnect(true);
      }
      socket.data.identity = identity;
      this.sockets.set(identity.hostId, socket);
      // Queued, so this connection's offline can never overtake its online.
      const claimed = new Promise<boolean>((resolve) => {
        socket.data.queue = socket.data.queue.then(async () => {
          try {
            const claim = await markHostOnline({
              db: this.deps.db,
              bus: this.deps.bus,
              hostId: identity.hostId,
              agentId: identity.agentId,
              agentVersion: auth.info.agentVersion,
              serverId: this.deps.serverId,
              instanceId: socket.data.handshake?.instanceId ?? null,
              address: socket.handshake.address ?? null,
            });
            if (claim) socket.data.generation = claim.generation;
            resolve(claim !== null);
          } catch (error) {
            log.error("failed to mark host online", { hostId: identity.hostId, error: String(error) });
            resolve(false);
          }
        });
      });
      if (!(await claimed)) {
        if (this.sockets.get(identity.hostId) === socket) this.sockets.delete(identity.hostId);
        socket.data.identity = undefined;
        return await refuse("Connection refused: this agent's key was revoked. Enroll it again with a new join token.", "agent.authenticate", identity.hostId);
      }
      log.info(`agent ${auth.mode === "join" ? "joined" : "connected"}`, { host: identity.hostName, agentId: identity.agentId });
      if (auth.mode === "join") {
        await this.audit({ type: "AGENT", id: identity.agentId, label: `agent of ${identity.hostName}` }, "host.join", "SUCCESS", socket, {
          hostId: identity.hostId,
          params: { agentVersion: auth.info.agentVersion },
        });
      }
      reply({ ok: true, agentId: identity.agentId, hostId: identity.hostId, hostName: identity.hostName });
    } catch (error) {
      log.error("agent authentication error", { error: String(error) });
      reply({ ok: false, error: "Authentication failed" });
      socket.disconnect(true);
    }
  }

  /**
   * Another, healthy connection of the same identity, or null. On this replica
   * the connected agent is asked to answer within a few seconds (a half-dead
   * socket of an agent that reconnected must not block it); on another replica
   * the host row says who holds it and when it was last heard from. A
   * reconnect of the same agent process (same instance id) is never a duplicate.
   */
  private async concurrentConnection(
    socket: AgentSocket,
    identity: AgentIdentity,
  ): Promise<{ address: string | null; since: Date | null; warn(message: string): Promise<void> } | null> {
    const instanceId = socket.data.handshake?.instanceId ?? null;
    const local = this.sockets.get(identity.hostId);
    if (local && local !== socket) {
      if (!local.connected || local.data.identity?.agentId !== identity.agentId) return null;
      if (instanceId && local.data.handshake?.instanceId === instanceId) return null;
      const alive = await local
        .timeout(LIVENESS_PROBE_MS)
        .emitWithAck(AgentEvent.request, { requestId: randomUUID(), type: "host.ping", params: {} })
        .then(() => true, () => false);
      if (!alive || !local.connected) return null;
      return {
        address: local.handshake.address ?? null,
        since: new Date(local.handshake.issued),
        warn: async (message) => void local.emit(AgentEvent.error, { event: "session", message }),
      };
    }
    const freshSince = new Date(Date.now() - (this.deps.offlineAfterSeconds ?? 15) * 1000);
    const elsewhere = await liveConnectionElsewhere({ db: this.deps.db, hostId: identity.hostId, serverId: this.deps.serverId, instanceId, freshSince });
    if (!elsewhere) return null;
    return {
      address: elsewhere.address,
      since: elsewhere.connectedAt,
      warn: async (message) => {
        await this.deps.peers?.control({ kind: "warn", hostId: identity.hostId, message }).catch(() => undefined);
      },
    };
  }

  private requestMeta(socket: AgentSocket) {
    return { ip: socket.handshake.address ?? null, userAgent: socket.handshake.headers["user-agent"] ?? null, requestId: socket.id };
  }

  private async writeRefusal(row: RefusalRow) {
    await appendAuditEvent({
      db: this.deps.db,
      bus: this.deps.bus,
      event: {
        actor: row.actor,
        action: row.action,
        outcome: "DENIED",
        hostId: row.hostId,
        params: { count: row.count, firstAt: row.firstAt.toISOString(), lastAt: row.lastAt.toISOString() },
        error: row.count > 1 ? `${row.error} (${row.count} refusals)` : row.error,
        request: row.request,
      },
    });
  }

  private async audit(
    actor: AuditActor,
    action: string,
    outcome: "SUCCESS" | "DENIED",
    socket: AgentSocket,
    extra: { hostId?: string; params?: unknown; error?: string },
  ) {
    try {
      await appendAuditEvent({
        db: this.deps.db,
        bus: this.deps.bus,
        event: {
          actor,
          action,
          outcome,
          hostId: extra.hostId ?? null,
          params: extra.params,
          error: extra.error ?? null,
          request: this.requestMeta(socket),
        },
      });
    } catch (error) {
      log.error("could not audit an agent event", { action, error: String(error) });
    }
  }

  private async onDisconnect(socket: AgentSocket) {
    this.endStreamsOf(socket, "The host's agent disconnected");
    const identity = socket.data.identity;
    if (!identity || this.sockets.get(identity.hostId) !== socket) return;
    this.sockets.delete(identity.hostId);
    await socket.data.queue; // let in-flight frames land before the host goes offline
    if (socket.data.generation === undefined) return; // never marked online (refused, or revoked meanwhile)
    try {
      await markHostOffline({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, generation: socket.data.generation });
      log.info("agent disconnected", { host: identity.hostName });
    } catch (error) {
      log.error("failed to mark host offline", { hostId: identity.hostId, error: String(error) });
    }
  }
}
