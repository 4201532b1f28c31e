/**
 * Live agent streams (logs, stats, terminals) across server replicas.
 *
 * An agent is connected to one replica (the holder); a browser may sit on any
 * other (the asker). The asker's `AgentLink.openStream` then asks the holder
 * to open the stream on its agent; the holder relays the agent's data and end
 * frames to the asker, the asker relays close, ack and input back. Seq numbers
 * pass through unchanged, so flow control is end to end: the holder never
 * acknowledges on its own, only when the asker's reader did, and the agent
 * sends at most STREAM_WINDOW_FRAMES beyond that. Neither replica buffers a
 * stream beyond one window.
 *
 * Transport: a direct socket.io connection from the asker to the holder's
 * `/replica` namespace on the same port as everything else, at the URL the
 * holder advertises in `server_replica` (BERTH_INTERNAL_URL). Chosen over
 * Postgres NOTIFY, which the replicas already use for events and forwarded
 * operations, because a stream is bulk and two-way:
 *  - NOTIFY caps a payload at 8,000 bytes: a log frame (up to 64 KiB of text)
 *    or a terminal frame (64 KiB of binary, +33 % as base64) would need ~10
 *    chunks and reassembly; socket.io carries binary as is;
 *  - every NOTIFY goes through Postgres's single notification queue and is
 *    delivered to EVERY listening replica (each would parse and drop the
 *    others' chunks), and a slow listener fills the queue for all (the queue
 *    is 8 GB; when full, NOTIFY fails for everyone): log throughput would load
 *    the database that holds the fleet's state;
 *  - a TCP connection gives ordering, its own backpressure, and a heartbeat
 *    (socket.io ping, 5 s + 5 s here), so a dead peer is noticed on both sides.
 * The cost: replicas must reach each other on their internal URL.
 *
 * Authentication: replicas share BERTH_SECRET (sessions and the agents' pinned
 * server key already require it). The asker proves it holds it with an
 * HMAC-SHA256, under a key derived from the secret for this purpose only,
 * over its id, the holder's id, the time and a random nonce; the holder
 * refuses a wrong MAC, another target, a clock off by more than 30 s, or a
 * nonce it has seen (a captured handshake cannot be replayed, not even to
 * another replica). A connection without that proof never gets past the
 * namespace middleware, so it can send no frame at all. Nothing is stored in
 * Postgres that would let whoever reads the database open a terminal.
 * Every frame is still zod-parsed on receipt on both sides, and stream data
 * re-validated with the stream type's schema from agent/protocol.ts: a
 * malformed frame ends that stream with a reason, never the process.
 */
import { createHmac, hkdfSync, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import os from "node:os";
import type { Namespace, Server, Socket } from "socket.io";
import { io as connectTo, type Socket as ClientSocket } from "socket.io-client";
import { z } from "zod";
import {
  describeZodError,
  STREAM_WINDOW_FRAMES,
  streamInputSchema,
  streams as streamTypes,
  type StreamType,
} from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError, isAppError, type AppErrorCode } from "../errors.ts";
import { createLogger } from "../logger.ts";
import type { OpenStream, StreamSink } from "../services/agent-link.ts";

const log = createLogger("stream-relay");

export const REPLICA_NAMESPACE = "/replica";

export const RelayEvent = {
  /** asker → holder (with ack): open this stream on the host's agent you hold. */
  open: "relay:open",
  /** holder → asker: one data frame, the agent's seq unchanged. */
  data: "relay:data",
  /** holder → asker: the stream ended (naturally, with an error, or the holder is going away). */
  end: "relay:end",
  /** asker → holder: the reader passed on every frame up to seq. */
  ack: "relay:ack",
  /** asker → holder: input for a two-way stream (a terminal's keystrokes or size). */
  input: "relay:input",
  /** asker → holder: the reader is gone; close the agent stream. */
  close: "relay:close",
} as const;

/** A handshake older or newer than this is refused (replicas' clocks are assumed NTP-close). */
const AUTH_MAX_SKEW_MS = 30_000;
/** How long the holder waits for the asker's socket to connect, and the asker for the holder's answer to open. */
const CONNECT_TIMEOUT_MS = 5_000;
const OPEN_TIMEOUT_MS = 20_000;
/** Streams one peer may have relayed by this replica at once (the agent caps its own streams at 64). */
const MAX_RELAYED_PER_PEER = 512;
/** Same slack as the agent hub: a holder past its window by more than this is cut. */
const WINDOW_OVERRUN_LIMIT = STREAM_WINDOW_FRAMES * 2;
/** A replica row not refreshed for this long belongs to a replica that died without saying so. */
const REPLICA_ROW_TTL_MS = 60 * 60_000;

const ZId = z.string().min(1).max(64);
const ZReplicaAuth = z.object({
  serverId: ZId,
  target: ZId,
  issuedAt: z.number().int().nonnegative(),
  nonce: z.string().regex(/^[0-9a-f]{32}$/),
  mac: z.string().regex(/^[0-9a-f]{64}$/),
});
export type TReplicaAuth = z.infer<typeof ZReplicaAuth>;
const ZRelayOpen = z.object({ relayId: ZId, hostId: ZId, type: z.string().min(1).max(64), params: z.unknown() });
const ZRelayData = z.object({ relayId: ZId, seq: z.number().int().positive(), data: z.unknown() });
const ZRelayEnd = z.object({
  relayId: ZId,
  error: z.object({ code: z.string().max(64), message: z.string().max(8192) }).nullable(),
});
/** The holder's answer to open: like the agent's, but the code is any of the app's (HOST_OFFLINE, CONFLICT…). */
const ZRelayOpenResult = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string().max(64), message: z.string().max(8192) }) }),
]);
const ZRelayAck = z.object({ relayId: ZId, seq: z.number().int().nonnegative() });
const ZRelayInput = z.object({ relayId: ZId, data: z.unknown() });
const ZRelayClose = z.object({ relayId: ZId });

const APP_ERROR_CODES = new Set<AppErrorCode>([
  "BAD_REQUEST",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "PRECONDITION_FAILED",
  "HOST_OFFLINE",
  "DOCKER_ERROR",
  "TIMEOUT",
  "AGENT_ERROR",
  "INTERNAL",
]);
function appErrorFrom(error: { code: string; message: string }): AppError {
  return new AppError(APP_ERROR_CODES.has(error.code as AppErrorCode) ? (error.code as AppErrorCode) : "INTERNAL", error.message);
}
function wireError(error: unknown): { code: string; message: string } {
  return isAppError(error) ? { code: error.code, message: error.message } : { code: "INTERNAL", message: "The stream failed on the server holding the agent" };
}

/** The HMAC key for replica handshakes: derived from BERTH_SECRET with its own label, never the secret itself. */
export function deriveReplicaKey(secret: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, "berth", "berth-replica-relay-v1", 32));
}

function handshakeMac(key: Buffer, a: Omit<TReplicaAuth, "mac">): string {
  return createHmac("sha256", key).update(`berth-replica-v1\n${a.serverId}\n${a.target}\n${a.issuedAt}\n${a.nonce}`).digest("hex");
}

/** A fresh handshake proving to `target` that `serverId` holds the shared secret. */
export function replicaHandshake(key: Buffer, serverId: string, target: string, now = Date.now()): TReplicaAuth {
  const auth = { serverId, target, issuedAt: now, nonce: randomBytes(16).toString("hex") };
  return { ...auth, mac: handshakeMac(key, auth) };
}

/** Where the other replicas reach this one when BERTH_INTERNAL_URL is not set. */
export function defaultInternalUrl(host: string, port: number): string {
  const wildcard = host === "0.0.0.0" || host === "::" || host === "";
  const name = wildcard ? os.hostname() : host.includes(":") ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

/** Opens a stream on an agent connected to THIS replica; undefined when it is not connected here. */
export type LocalStreamOpener = (hostId: string, type: StreamType, params: unknown, sink: StreamSink<StreamType>) => Promise<OpenStream | undefined>;

/**
 * Holder side: one stream relayed to a peer. `stream` is set once the agent
 * accepted; `closed`: nothing more is sent to the asker (it ended, or the
 * asker let go); `cancelled`: the asker let go (closed, vanished), so a
 * stream still starting is closed as soon as it has started.
 */
type Relayed = { stream?: OpenStream; closed: boolean; cancelled: boolean };
type PeerSocketData = { peerId?: string; relayed: Map<string, Relayed> };
type PeerSocket = Socket & { data: PeerSocketData };

/** Asker side: a stream whose frames come from a peer. */
type Relaying = { peer: Peer; type: StreamType; sink: StreamSink<StreamType>; seq: number; acked: number };
type Peer = { serverId: string; url: string; socket: ClientSocket; ready: Promise<void>; streams: Map<string, Relaying> };

export class StreamRelay {
  private namespace?: Namespace;
  private readonly key: Buffer;
  /** Handshake nonces seen in the last AUTH_MAX_SKEW_MS × 2, with when they expire. */
  private readonly seenNonces = new Map<string, number>();
  private readonly peers = new Map<string, Peer>();
  private stopping = false;

  constructor(
    private readonly deps: {
      db: Db;
      serverId: string;
      secret: string;
      /** Read when advertising (the port is known only once the server listens). */
      internalUrl: () => string;
      openLocal: LocalStreamOpener;
    },
  ) {
    this.key = deriveReplicaKey(deps.secret);
  }

  // ---------------------------------------------------------------- presence

  /** Writes (or refreshes) this replica's row: the others find it there. Called at start and by the sweeper. */
  async advertise(): Promise<void> {
    const now = new Date();
    await this.deps.db.serverReplica.upsert({
      where: { id: this.deps.serverId },
      create: { id: this.deps.serverId, internalUrl: this.deps.internalUrl(), lastSeenAt: now },
      update: { internalUrl: this.deps.internalUrl(), lastSeenAt: now },
      select: { id: true },
    });
    await this.deps.db.serverReplica.deleteMany({ where: { lastSeenAt: { lt: new Date(now.getTime() - REPLICA_ROW_TTL_MS) } } });
  }

  // ---------------------------------------------------------------- holder side

  attach(io: Server): void {
    const namespace = io.of(REPLICA_NAMESPACE);
    this.namespace = namespace;
    namespace.use((socket, next) => {
      const peerId = this.verifyHandshake(socket.handshake.auth);
      if (!peerId) {
        log.warn("refused a replica connection without a valid proof", { address: socket.handshake.address });
        return next(new Error("Not a Berth replica of this deployment"));
      }
      (socket.data as PeerSocketData) = { peerId, relayed: new Map() };
      next();
    });
    namespace.on("connection", (socket) => this.onPeerConnection(socket as unknown as PeerSocket));
  }

  /** Whether an engine.io connection carries an authenticated replica (it may send large frames: a pasted input). */
  carriesAuthenticatedPeer(conn: unknown): boolean {
    if (!this.namespace) return false;
    for (const socket of this.namespace.sockets.values()) if (socket.conn === conn) return true;
    return false;
  }

  /** The peer's id when the handshake proves the shared secret, is for us, fresh and not replayed; else null. */
  private verifyHandshake(raw: unknown): string | null {
    const auth = ZReplicaAuth.safeParse(raw);
    if (!auth.success) return null;
    const { mac, ...signed } = auth.data;
    const expected = Buffer.from(handshakeMac(this.key, signed), "hex");
    if (!timingSafeEqual(expected, Buffer.from(mac, "hex"))) return null;
    const now = Date.now();
    if (signed.target !== this.deps.serverId || Math.abs(now - signed.issuedAt) > AUTH_MAX_SKEW_MS) return null;
    for (const [nonce, expires] of this.seenNonces) if (expires < now) this.seenNonces.delete(nonce);
    if (this.seenNonces.has(signed.nonce)) return null;
    this.seenNonces.set(signed.nonce, now + AUTH_MAX_SKEW_MS * 2);
    return signed.serverId;
  }

  private onPeerConnection(socket: PeerSocket) {
    socket.on("disconnect", () => {
      // The asker is gone (stopped, crashed, or silent past socket.io's ping timeout): its streams close at the agent.
      const entries = [...socket.data.relayed.values()];
      socket.data.relayed.clear();
      for (const entry of entries) {
        entry.closed = true;
        entry.cancelled = true;
        try {
          entry.stream?.close();
        } catch (error) {
          log.error("could not close a relayed stream", { error: String(error) });
        }
      }
    });
    socket.onAny((event: string, ...args: unknown[]) => {
      const reply = typeof args[args.length - 1] === "function" ? (args.pop() as (r: unknown) => void) : undefined;
      try {
        this.onPeerFrame(socket, event, args[0], reply);
      } catch (error) {
        log.error("unexpected error handling a replica frame", { event: String(event).slice(0, 64), error: String(error) });
        reply?.({ ok: false, error: { code: "INTERNAL", message: "The server could not process this frame" } });
      }
    });
  }

  private onPeerFrame(socket: PeerSocket, event: string, payload: unknown, reply?: (r: unknown) => void) {
    const relayed = socket.data.relayed;
    switch (event) {
      case RelayEvent.open:
        return void this.onRelayOpen(socket, payload, reply).catch((error: unknown) => {
          log.error("could not open a relayed stream", { error: String(error) });
          reply?.({ ok: false, error: { code: "INTERNAL", message: "The server could not open this stream" } });
        });
      case RelayEvent.ack: {
        const frame = ZRelayAck.safeParse(payload);
        if (frame.success) relayed.get(frame.data.relayId)?.stream?.ack(frame.data.seq);
        return;
      }
      case RelayEvent.input: {
        // The agent hub checks `data` against the stream type's input schema (and the agent does again).
        const frame = ZRelayInput.safeParse(payload);
        if (frame.success) relayed.get(frame.data.relayId)?.stream?.send(frame.data.data);
        return;
      }
      case RelayEvent.close: {
        const frame = ZRelayClose.safeParse(payload);
        if (!frame.success) return;
        const entry = relayed.get(frame.data.relayId);
        if (!entry) return;
        relayed.delete(frame.data.relayId);
        entry.closed = true;
        entry.cancelled = true;
        entry.stream?.close();
        return;
      }
      default:
        reply?.({ ok: false, error: { code: "BAD_REQUEST", message: `Unknown event "${String(event).slice(0, 64)}"` } });
    }
  }

  private async onRelayOpen(socket: PeerSocket, payload: unknown, reply?: (r: unknown) => void) {
    const answer = (result: unknown) => reply?.(result);
    const refuse = (code: string, message: string) => answer({ ok: false, error: { code, message } });
    const frame = ZRelayOpen.safeParse(payload);
    if (!frame.success) return refuse("BAD_REQUEST", `Malformed ${RelayEvent.open}: ${describeZodError(frame.error)}`);
    const { relayId, hostId, type } = frame.data;
    if (!Object.hasOwn(streamTypes, type)) return refuse("BAD_REQUEST", `Unknown stream "${type.slice(0, 64)}"`);
    const params = streamTypes[type as StreamType].params.safeParse(frame.data.params);
    if (!params.success) return refuse("BAD_REQUEST", `Malformed "${type}" params: ${describeZodError(params.error)}`);
    const relayed = socket.data.relayed;
    if (relayed.has(relayId)) return refuse("BAD_REQUEST", "This relay id is in use");
    if (relayed.size >= MAX_RELAYED_PER_PEER) return refuse("CONFLICT", "Too many streams relayed to that server");
    if (this.stopping) return refuse("HOST_OFFLINE", "The Berth server holding this host's agent is shutting down");
    const entry: Relayed = { closed: false, cancelled: false };
    relayed.set(relayId, entry);
    const sink: StreamSink<StreamType> = {
      // Straight on, seq unchanged: the agent waits for the asker's ack, so at most a window is in flight.
      data: (data, seq) => {
        if (!entry.closed && socket.connected) socket.emit(RelayEvent.data, { relayId, seq, data });
      },
      end: (error) => {
        if (relayed.get(relayId) === entry) relayed.delete(relayId);
        if (entry.closed) return; // the asker closed it: it expects nothing more
        entry.closed = true;
        if (socket.connected) socket.emit(RelayEvent.end, { relayId, error: error ? wireError(error) : null });
      },
    };
    let stream: OpenStream | undefined;
    try {
      stream = await this.deps.openLocal(hostId, type as StreamType, params.data, sink);
    } catch (error) {
      if (relayed.get(relayId) === entry) relayed.delete(relayId);
      entry.closed = true;
      const wire = wireError(error);
      return refuse(wire.code, wire.message);
    }
    if (!stream) {
      if (relayed.get(relayId) === entry) relayed.delete(relayId);
      entry.closed = true;
      return refuse("HOST_OFFLINE", "The host's agent is no longer connected to the server that held it");
    }
    entry.stream = stream;
    // Let go of while the agent was starting it (the asker gave up, or went away).
    if (entry.cancelled || !socket.connected) {
      entry.closed = entry.cancelled = true;
      if (relayed.get(relayId) === entry) relayed.delete(relayId);
      stream.close();
      return;
    }
    // Answered even when the stream already ended (a short log can end before the agent's "started" is
    // processed): its frames and end went out first, on the same connection, so the asker has them in order.
    answer({ ok: true });
  }

  // ---------------------------------------------------------------- asker side

  /**
   * Opens a stream on the host's agent held by another replica (`holderId`)
   * and relays it here. Rejects like a local open: the agent's refusal, or
   * HOST_OFFLINE / PRECONDITION_FAILED when the holder cannot be reached.
   */
  async open<T extends StreamType>(hostId: string, holderId: string, type: T, params: unknown, sink: StreamSink<T>): Promise<OpenStream> {
    if (this.stopping) throw new AppError("HOST_OFFLINE", "This server is shutting down");
    const peer = await this.peer(holderId);
    const relayId = randomUUID();
    const state: Relaying = { peer, type, sink: sink as unknown as StreamSink<StreamType>, seq: 0, acked: 0 };
    // Registered before asking: data may follow the holder's answer in the same read.
    peer.streams.set(relayId, state);
    let raw: unknown;
    try {
      raw = await peer.socket.timeout(OPEN_TIMEOUT_MS).emitWithAck(RelayEvent.open, { relayId, hostId, type, params });
    } catch {
      peer.streams.delete(relayId);
      if (peer.socket.connected) peer.socket.emit(RelayEvent.close, { relayId });
      throw new AppError("TIMEOUT", `The server holding this host's agent did not start "${type}" in time`);
    }
    const answer = ZRelayOpenResult.safeParse(raw).data;
    if (!answer) {
      peer.streams.delete(relayId);
      if (peer.socket.connected) peer.socket.emit(RelayEvent.close, { relayId });
      throw new AppError("INTERNAL", "The server holding this host's agent sent a malformed stream answer");
    }
    if (!answer.ok) {
      peer.streams.delete(relayId);
      throw appErrorFrom(answer.error);
    }
    return {
      close: () => {
        if (peer.streams.get(relayId) !== state) return;
        peer.streams.delete(relayId);
        if (peer.socket.connected) peer.socket.emit(RelayEvent.close, { relayId });
        state.sink.end(null);
      },
      ack: (seq: number) => {
        if (peer.streams.get(relayId) !== state || !Number.isInteger(seq) || seq <= state.acked || seq > state.seq) return;
        state.acked = seq;
        if (peer.socket.connected) peer.socket.emit(RelayEvent.ack, { relayId, seq });
      },
      send: (input: unknown) => {
        const schema = streamInputSchema(type);
        if (!schema || peer.streams.get(relayId) !== state || !schema.safeParse(input).success) return;
        if (peer.socket.connected) peer.socket.emit(RelayEvent.input, { relayId, data: input });
      },
    };
  }

  /** Frames received from holders and not yet passed on by their readers, per relayed stream (tests, metrics). */
  get relayBacklog(): number[] {
    const backlog: number[] = [];
    for (const peer of this.peers.values()) for (const s of peer.streams.values()) backlog.push(s.seq - s.acked);
    return backlog;
  }

  /** Streams this replica relays for others (holder side) and receives from others (asker side). */
  counts(): { relayedOut: number; relayedIn: number } {
    let relayedOut = 0;
    for (const socket of this.namespace?.sockets.values() ?? []) relayedOut += (socket.data as PeerSocketData).relayed.size;
    let relayedIn = 0;
    for (const peer of this.peers.values()) relayedIn += peer.streams.size;
    return { relayedOut, relayedIn };
  }

  /** Drops the connections to holders, as a crash of this replica would (tests). */
  dropPeerConnections(): void {
    for (const peer of [...this.peers.values()]) peer.socket.disconnect();
  }

  /** The connection to a holder: one per peer, shared by every stream, opened on first use. */
  private async peer(holderId: string): Promise<Peer> {
    const existing = this.peers.get(holderId);
    if (existing) {
      await existing.ready;
      return existing;
    }
    const row = await this.deps.db.serverReplica.findUnique({ where: { id: holderId }, select: { internalUrl: true } });
    if (!row) {
      throw new AppError(
        "PRECONDITION_FAILED",
        "The Berth server holding this host's agent does not relay live streams (an older version, or it is gone); retry when the agent reconnects",
      );
    }
    const again = this.peers.get(holderId); // another open raced us through the query
    if (again) {
      await again.ready;
      return again;
    }
    const socket = connectTo(`${row.internalUrl}${REPLICA_NAMESPACE}`, {
      transports: ["websocket"],
      // A lost connection ends its streams; the next open dials again with a fresh handshake.
      reconnection: false,
      timeout: CONNECT_TIMEOUT_MS,
      auth: (cb) => cb(replicaHandshake(this.key, this.deps.serverId, holderId)),
    });
    const peer: Peer = {
      serverId: holderId,
      url: row.internalUrl,
      socket,
      streams: new Map(),
      ready: new Promise<void>((resolve, reject) => {
        socket.once("connect", () => resolve());
        socket.once("connect_error", (error) => {
          if (this.peers.get(holderId) === peer) this.peers.delete(holderId);
          socket.close();
          reject(new AppError("HOST_OFFLINE", `Could not reach the Berth server holding this host's agent (${error.message})`));
        });
      }),
    };
    this.peers.set(holderId, peer);
    // A frame must never take this server down, whatever the peer sent or the reader does with it.
    const guarded = (event: string, handle: (peer: Peer, payload: unknown) => void) => (payload: unknown) => {
      try {
        handle(peer, payload);
      } catch (error) {
        log.error("unexpected error handling a relayed frame", { event, error: String(error) });
      }
    };
    socket.on(RelayEvent.data, guarded(RelayEvent.data, (p, payload) => this.onRelayData(p, payload)));
    socket.on(RelayEvent.end, guarded(RelayEvent.end, (p, payload) => this.onRelayEnd(p, payload)));
    socket.on("disconnect", (reason) => {
      if (this.peers.get(holderId) === peer) this.peers.delete(holderId);
      const message = this.stopping
        ? "This Berth server is shutting down"
        : `The Berth server holding this host's agent went away (${reason}); reopen to continue`;
      for (const [relayId, state] of peer.streams) {
        peer.streams.delete(relayId);
        try {
          state.sink.end(new AppError("HOST_OFFLINE", message));
        } catch (error) {
          log.error("a relayed stream's reader failed at its end", { error: String(error) });
        }
      }
    });
    await peer.ready;
    return peer;
  }

  private onRelayData(peer: Peer, payload: unknown) {
    const frame = ZRelayData.safeParse(payload);
    if (!frame.success) return log.warn("dropped a malformed relayed frame", { from: peer.serverId, error: describeZodError(frame.error) });
    const state = peer.streams.get(frame.data.relayId);
    if (!state) return; // closed here a moment ago
    const data = streamTypes[state.type].data.safeParse(frame.data.data);
    const overrun = frame.data.seq - state.acked > WINDOW_OVERRUN_LIMIT;
    if (!data.success || frame.data.seq !== state.seq + 1 || overrun) {
      // Same rule as for an agent: a stream that garbles, skips or ignores flow control cannot go on.
      peer.streams.delete(frame.data.relayId);
      if (peer.socket.connected) peer.socket.emit(RelayEvent.close, { relayId: frame.data.relayId });
      const reason = !data.success
        ? `The server holding this host's agent relayed malformed stream data: ${describeZodError(data.error)}`
        : overrun
          ? "The server holding this host's agent relayed more than the flow-control window"
          : "A relayed stream lost a frame";
      state.sink.end(new AppError("INTERNAL", reason));
      return;
    }
    state.seq = frame.data.seq;
    state.sink.data(data.data, frame.data.seq);
  }

  private onRelayEnd(peer: Peer, payload: unknown) {
    const frame = ZRelayEnd.safeParse(payload);
    if (!frame.success) return log.warn("dropped a malformed relayed end", { from: peer.serverId, error: describeZodError(frame.error) });
    const state = peer.streams.get(frame.data.relayId);
    if (!state) return;
    peer.streams.delete(frame.data.relayId);
    state.sink.end(frame.data.error ? appErrorFrom(frame.data.error) : null);
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Before the sockets close: ends what this replica relays for others with a
   * reason (instead of a bare disconnect), closes its agent streams, drops the
   * connections to holders, and removes this replica's row.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const socket of this.namespace?.sockets.values() ?? []) {
      const relayed = (socket.data as PeerSocketData).relayed;
      for (const [relayId, entry] of relayed) {
        relayed.delete(relayId);
        entry.cancelled = true;
        if (entry.closed) continue;
        entry.closed = true;
        socket.emit(RelayEvent.end, { relayId, error: { code: "HOST_OFFLINE", message: "The Berth server holding this host's agent is shutting down; reopen to continue" } });
        entry.stream?.close();
      }
    }
    for (const peer of [...this.peers.values()]) peer.socket.disconnect();
    await this.deps.db.serverReplica.deleteMany({ where: { id: this.deps.serverId } }).catch((error: unknown) => {
      log.warn("could not remove this replica's row", { error: String(error) });
    });
  }
}
