/**
 * The agent's link to the server: dial out, authenticate, send the snapshot,
 * then keep the server in step with Docker events, answer operation requests
 * and send heartbeats. Reconnects with jittered exponential backoff, forever.
 */
import type Docker from "dockerode";
import { io, type Socket } from "socket.io-client";
import type { AgentEnv } from "./env.ts";
import { dispatch } from "./handlers/index.ts";
import { StreamRegistry } from "./handlers/streams.ts";
import { generateKeyPair, loadIdentity, saveIdentity, signMessage } from "./identity.ts";
import { InventorySync } from "./sync/inventory-sync.ts";
import { snapshotFrames } from "./sync/snapshot-frames.ts";
import {
  AGENT_NAMESPACE,
  AgentEvent,
  authChallengeMessage,
  PROTOCOL_VERSION,
  ZAuthenticateResult,
  ZHello,
  ZProtocolError,
  ZResync,
  type TAuthenticate,
} from "./protocol.ts";

export const AGENT_VERSION = "0.1.0";

type Log = (level: "info" | "warn" | "error", message: string) => void;

export type AgentConnection = { stop(): Promise<void>; socket: Socket };

export async function connectAgent(opts: { env: AgentEnv; docker: Docker; log: Log; onFatal: (message: string) => void }) {
  const { env, docker, log } = opts;
  let identity = await loadIdentity(env.stateDir);
  if (!identity && !env.BERTH_JOIN_TOKEN) {
    throw new Error("This agent has not joined yet: set BERTH_JOIN_TOKEN to a join token from Berth's \"Add host\" dialog.");
  }
  const pendingKey = identity ? null : generateKeyPair();

  const socket = io(env.BERTH_SERVER_URL + AGENT_NAMESPACE, {
    transports: ["websocket"],
    reconnection: true,
    reconnectionAttempts: Infinity,
    reconnectionDelay: 1_000,
    reconnectionDelayMax: 30_000,
    randomizationFactor: 0.5,
  });

  let ready = false; // authenticated on this connection
  let heartbeat: NodeJS.Timeout | null = null;

  // Inventory frames are only worth sending on a live connection: a later one starts with a fresh snapshot.
  const sync = new InventorySync(
    docker,
    {
      snapshot: (snapshot) => {
        for (const [event, frame] of snapshotFrames(snapshot)) if (socket.connected) socket.emit(event, frame);
      },
      change: (change) => {
        if (socket.connected) socket.emit(AgentEvent.change, change);
      },
      reconciled: (report) => {
        if (socket.connected) socket.emit(AgentEvent.reconciled, report);
      },
    },
    log,
    { reconcileIntervalMs: env.BERTH_RECONCILE_SECONDS * 1000 },
  );

  socket.on(AgentEvent.hello, async (payload: unknown) => {
    const hello = ZHello.safeParse(payload);
    if (!hello.success) return log("error", "server sent a malformed hello");
    if (hello.data.protocolVersion !== PROTOCOL_VERSION) {
      log("warn", `server speaks protocol ${hello.data.protocolVersion}, this agent ${PROTOCOL_VERSION}`);
    }
    const info = { agentVersion: AGENT_VERSION, protocolVersion: PROTOCOL_VERSION };
    const auth: TAuthenticate = identity
      ? { mode: "key", agentId: identity.agentId, signature: signMessage(identity.privateKey, authChallengeMessage(hello.data.nonce, identity.agentId)), info }
      : {
          mode: "join",
          token: env.BERTH_JOIN_TOKEN!,
          publicKey: pendingKey!.publicKeyPem,
          signature: signMessage(pendingKey!.privateKey, authChallengeMessage(hello.data.nonce, "join")),
          info,
        };
    let raw: unknown;
    try {
      raw = await socket.timeout(15_000).emitWithAck(AgentEvent.authenticate, auth);
    } catch {
      return log("warn", "the server did not answer authentication; will retry");
    }
    const result = ZAuthenticateResult.safeParse(raw);
    if (!result.success) return log("error", "malformed authentication answer from server");
    if (!result.data.ok) {
      log("error", result.data.error);
      if (!identity) return opts.onFatal(result.data.error); // a refused token will not become valid
      // A revoked key stays refused; try again rarely in case an admin re-enrolls this host.
      setTimeout(() => socket.connect(), 60_000);
      return;
    }
    if (!identity) {
      await saveIdentity(env.stateDir, {
        agentId: result.data.agentId,
        hostId: result.data.hostId,
        serverUrl: env.BERTH_SERVER_URL,
        privateKeyPem: pendingKey!.privateKeyPem,
      });
      identity = await loadIdentity(env.stateDir);
      log("info", `joined Berth as host "${result.data.hostName}"; key saved in ${env.stateDir}`);
    } else {
      log("info", `connected to Berth as host "${result.data.hostName}"`);
    }
    ready = true;
    sync.start();
    heartbeat ??= setInterval(() => {
      if (!ready || !socket.connected) return;
      socket.emit(AgentEvent.heartbeat, {
        sentAt: new Date().toISOString(),
        containersRunning: sync.runningContainers,
        rssBytes: process.memoryUsage().rss,
      });
    }, env.BERTH_HEARTBEAT_SECONDS * 1000);
  });

  socket.on(AgentEvent.request, async (frame: unknown, ack?: (response: unknown) => void) => {
    const response = await dispatch(docker, frame);
    if (typeof ack === "function") ack(response);
  });

  // Stream frames are only worth sending on the connection that asked for them: never buffered for a later one.
  const streams = new StreamRegistry(docker, {
    data: (streamId, seq, data) => {
      if (socket.connected) socket.emit(AgentEvent.streamData, { streamId, seq, data });
    },
    end: (frame) => {
      if (socket.connected) socket.emit(AgentEvent.streamEnd, frame);
    },
  });

  socket.on(AgentEvent.streamOpen, async (frame: unknown, ack?: (result: unknown) => void) => {
    const result = ready ? await streams.start(frame) : { ok: false, error: { code: "BAD_REQUEST", message: "The agent is not ready yet" } };
    if (typeof ack === "function") ack(result);
  });

  socket.on(AgentEvent.streamCancel, (frame: unknown) => streams.cancel(frame));
  socket.on(AgentEvent.streamAck, (frame: unknown) => streams.ack(frame));

  socket.on(AgentEvent.resync, (payload: unknown) => {
    const frame = ZResync.safeParse(payload);
    if (!ready) return;
    log("warn", `server asked for a resync${frame.success ? ` (${frame.data.reason})` : ""}`);
    sync.requestResync("asked by the server");
  });

  socket.on(AgentEvent.error, (payload: unknown) => {
    const frame = ZProtocolError.safeParse(payload);
    log("warn", frame.success ? `server: ${frame.data.message} (${frame.data.event})` : "server sent a malformed error frame");
  });

  socket.on("disconnect", (reason) => {
    ready = false;
    sync.stop();
    streams.cancelAll();
    log("warn", `disconnected from server (${reason})`);
    // A server-side disconnect does not auto-reconnect in socket.io: do it ourselves.
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 2_000 + Math.random() * 3_000);
  });

  socket.on("connect_error", (error) => log("warn", `cannot reach ${env.BERTH_SERVER_URL}: ${error.message}`));

  return {
    socket,
    async stop() {
      if (heartbeat) clearInterval(heartbeat);
      streams.cancelAll();
      sync.stop();
      socket.disconnect();
    },
  } satisfies AgentConnection;
}
