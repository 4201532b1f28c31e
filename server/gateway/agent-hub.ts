/**
 * The /agent socket.io namespace: where agents dial in.
 *
 * Handshake: on connect the server sends a fresh nonce (`hello`); the agent
 * answers `authenticate` with either a join token + new public key, or its
 * agent id, each with a signature over the nonce. Until that succeeds, every
 * other event is refused. Each frame is zod-parsed; a bad one is answered with
 * a `protocol:error` frame and dropped.
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
  ZAuthenticate,
  ZHeartbeat,
  ZInventoryChange,
  ZOperationResponse,
  ZSnapshot,
  ZStreamData,
  ZStreamEnd,
  ZStreamOpenResult,
  operations,
  streams as streamTypes,
  PROTOCOL_VERSION,
  type OperationParams,
  type OperationResult,
  type OperationType,
  type StreamParams,
  type StreamType,
  type TAuthenticateResult,
  type THello,
  type TOperationRequest,
  type TProtocolError,
  type TStreamOpen,
} from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError, isAppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import type { AgentLink, OpenStream, StreamSink } from "../services/agent-link.ts";
import { authenticateAgent, enrollAgent, newNonce, type AgentIdentity } from "../services/agents.ts";
import { markHostOffline, markHostOnline, recordHeartbeat } from "../services/hosts.ts";
import { applyChange, applySnapshot } from "../services/inventory.ts";
import { appendAuditEvent, assertAuditWritable, type AuditActor } from "../services/audit/append.ts";

const log = createLogger("agent-hub");
const AUTH_TIMEOUT_MS = 10_000;

type AgentSocketData = { nonce: string; identity?: AgentIdentity; queue: Promise<void> };

/** What the server emits to agents; agent→server frames arrive through onAny and are zod-parsed. */
interface ServerToAgentEvents {
  [AgentEvent.hello]: (hello: THello) => void;
  [AgentEvent.error]: (error: TProtocolError) => void;
  [AgentEvent.request]: (request: TOperationRequest, ack: (response: unknown) => void) => void;
  [AgentEvent.streamOpen]: (open: TStreamOpen, ack: (result: unknown) => void) => void;
  [AgentEvent.streamCancel]: (cancel: { streamId: string }) => void;
}
type AgentSocket = Socket<Record<string, never>, ServerToAgentEvents, Record<string, never>, AgentSocketData>;
type AgentNamespace = Namespace<Record<string, never>, ServerToAgentEvents, Record<string, never>, AgentSocketData>;

type ActiveStream = { socket: AgentSocket; type: StreamType; sink: StreamSink<StreamType>; seq: number };

function errorFromAgent(code: string, message: string): AppError {
  return new AppError(code === "NOT_FOUND" ? "NOT_FOUND" : code === "DOCKER_ERROR" ? "DOCKER_ERROR" : code === "INTERNAL" ? "INTERNAL" : "BAD_REQUEST", message);
}

export class AgentHub implements AgentLink {
  private readonly sockets = new Map<string, AgentSocket>();
  private readonly streams = new Map<string, ActiveStream>();
  private namespace?: AgentNamespace;
  /** Disconnect handling in flight (hosts being marked offline), awaited at shutdown. */
  private readonly disconnecting = new Set<Promise<void>>();

  constructor(private readonly deps: { db: Db; bus: EventBus; serverId: string; peers?: { forward(hostId: string, type: string, params: unknown, timeoutMs: number): Promise<unknown> } }) {}

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

  disconnect(hostId: string, reason: string): void {
    const socket = this.sockets.get(hostId);
    if (!socket) return;
    socket.emit(AgentEvent.error, { event: "session", message: reason });
    socket.disconnect(true);
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
    if (!response.success) throw new AppError("INTERNAL", `The agent sent a malformed response: ${describeZodError(response.error)}`);
    if (!response.data.ok) throw errorFromAgent(response.data.error.code, response.data.error.message);
    const result = operations[type].result.safeParse(response.data.result);
    if (!result.success) throw new AppError("INTERNAL", `The agent sent a malformed "${type}" result`);
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
   * Opens a stream on an agent connected to this server. Frames go straight
   * from the agent's socket to `sink`, in order; nothing is persisted.
   */
  async openStream<T extends StreamType>(hostId: string, type: T, params: StreamParams<T>, sink: StreamSink<T>): Promise<OpenStream> {
    const socket = this.sockets.get(hostId);
    if (!socket?.connected) {
      const host = await this.deps.db.host.findUnique({ where: { id: hostId }, select: { status: true } });
      if (host?.status === "ONLINE") {
        throw new AppError("PRECONDITION_FAILED", "This host's agent is connected to another Berth server; live streams do not cross servers yet");
      }
      throw new AppError("HOST_OFFLINE", "The host's agent is not connected");
    }
    const streamId = randomUUID();
    const stream: ActiveStream = { socket, type, sink: sink as unknown as StreamSink<StreamType>, seq: 0 };
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
    };
  }

  /** Streams currently relayed by this server (for tests and metrics). */
  get openStreamCount(): number {
    return this.streams.size;
  }

  private onStreamData(socket: AgentSocket, payload: unknown) {
    const frame = ZStreamData.safeParse(payload);
    if (!frame.success) return this.refuse(socket, AgentEvent.streamData, `Malformed ${AgentEvent.streamData}: ${describeZodError(frame.error)}`);
    const stream = this.streams.get(frame.data.streamId);
    if (!stream || stream.socket !== socket) return; // closed by the server a moment ago, or not this agent's
    const data = streamTypes[stream.type].data.safeParse(frame.data.data);
    if (!data.success || frame.data.seq !== stream.seq + 1) {
      // A stream that skipped or garbled a frame cannot be trusted to continue.
      this.streams.delete(frame.data.streamId);
      socket.emit(AgentEvent.streamCancel, { streamId: frame.data.streamId });
      stream.sink.end(new AppError("INTERNAL", data.success ? "The agent's stream lost a frame" : `The agent sent malformed stream data: ${describeZodError(data.error)}`));
      return;
    }
    stream.seq = frame.data.seq;
    stream.sink.data(data.data);
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
    socket.data = { nonce: newNonce(), queue: Promise.resolve() };
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
    });
  }

  private onFrame(socket: AgentSocket, event: string, args: unknown[]) {
      const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (r: unknown) => void) : undefined;
      const payload = args[0];
      if (event === AgentEvent.authenticate) return void this.onAuthenticate(socket, payload, ack);
      if (!socket.data.identity) return this.refuse(socket, event, "Not authenticated", ack);
      switch (event) {
        case AgentEvent.snapshot:
          return this.enqueue(socket, event, ZSnapshot, payload, (identity, snapshot) =>
            applySnapshot({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, snapshot }),
          );
        case AgentEvent.change:
          return this.enqueue(socket, event, ZInventoryChange, payload, (identity, change) =>
            applyChange({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, change }),
          );
        case AgentEvent.heartbeat:
          return this.enqueue(socket, event, ZHeartbeat, payload, (identity, heartbeat) =>
            recordHeartbeat({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, heartbeat }).then(() => undefined),
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
    if (!parsed.success) return this.refuse(socket, event, `Malformed ${event}: ${describeZodError(parsed.error)}`);
    const identity = socket.data.identity!;
    socket.data.queue = socket.data.queue.then(async () => {
      if (this.sockets.get(identity.hostId) !== socket) return; // superseded or revoked
      try {
        await apply(identity, parsed.data);
      } catch (error) {
        log.error(`failed to apply ${event}`, { hostId: identity.hostId, error: String(error) });
        socket.emit(AgentEvent.error, { event, message: "The server could not apply this frame" });
      }
    });
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
    try {
      // No join without its record: a join consumes its token, so the trail is proved writable first.
      if (auth.mode === "join") await assertAuditWritable(this.deps.db);
      const identity =
        auth.mode === "join"
          ? await enrollAgent({ db: this.deps.db, token: auth.token, publicKey: auth.publicKey, signature: auth.signature, nonce })
          : await authenticateAgent({ db: this.deps.db, agentId: auth.agentId, signature: auth.signature, nonce });
      if (!socket.connected) return;
      const previous = this.sockets.get(identity.hostId);
      if (previous && previous !== socket) {
        previous.emit(AgentEvent.error, { event: "session", message: "Replaced by a newer connection of this agent" });
        previous.disconnect(true);
      }
      socket.data.identity = identity;
      this.sockets.set(identity.hostId, socket);
      await markHostOnline({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId, agentVersion: auth.info.agentVersion });
      log.info(`agent ${auth.mode === "join" ? "joined" : "connected"}`, { host: identity.hostName, agentId: identity.agentId });
      if (auth.mode === "join") {
        await this.audit({ type: "AGENT", id: identity.agentId, label: `agent of ${identity.hostName}` }, "host.join", "SUCCESS", socket, {
          hostId: identity.hostId,
          params: { agentVersion: auth.info.agentVersion },
        });
      }
      reply({ ok: true, agentId: identity.agentId, hostId: identity.hostId, hostName: identity.hostName });
    } catch (error) {
      const message = isAppError(error) ? error.message : "Authentication failed";
      if (!isAppError(error)) log.error("agent authentication error", { error: String(error) });
      else log.warn("agent refused", { reason: message, address: socket.handshake.address });
      await this.audit({ type: "AGENT", id: auth.mode === "key" ? auth.agentId : null, label: auth.mode === "key" ? `agent ${auth.agentId}` : "unenrolled agent" },
        auth.mode === "join" ? "host.join" : "agent.authenticate", "DENIED", socket, { error: message });
      reply({ ok: false, error: message });
      socket.disconnect(true);
    }
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
          request: { ip: socket.handshake.address ?? null, userAgent: socket.handshake.headers["user-agent"] ?? null, requestId: socket.id },
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
    try {
      await markHostOffline({ db: this.deps.db, bus: this.deps.bus, hostId: identity.hostId });
      log.info("agent disconnected", { host: identity.hostName });
    } catch (error) {
      log.error("failed to mark host offline", { hostId: identity.hostId, error: String(error) });
    }
  }
}
