/**
 * The agent's link to the server: dial out, authenticate, send the snapshot,
 * then keep the server in step with Docker events, answer operation requests
 * and send heartbeats. Reconnects with jittered exponential backoff, forever.
 */
import type Docker from "dockerode";
import { io, type Socket } from "socket.io-client";
import { DockerEventFollower } from "./docker/events.ts";
import { takeSnapshot } from "./docker/inventory.ts";
import type { AgentEnv } from "./env.ts";
import { dispatch } from "./handlers/index.ts";
import { StreamRegistry } from "./handlers/streams.ts";
import { generateKeyPair, loadIdentity, saveIdentity, signMessage } from "./identity.ts";
import {
  AGENT_NAMESPACE,
  AgentEvent,
  authChallengeMessage,
  PROTOCOL_VERSION,
  ZAuthenticateResult,
  ZHello,
  ZProtocolError,
  type TAuthenticate,
  type TInventoryChange,
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

  const events = new DockerEventFollower(docker);
  let ready = false; // authenticated and snapshot sent on this connection
  let buffered: TInventoryChange[] | null = null; // changes seen while a snapshot is being taken
  let heartbeat: NodeJS.Timeout | null = null;
  let eventsRunning = false;

  events.on("change", (change) => {
    if (buffered) buffered.push(change);
    else if (ready) socket.emit(AgentEvent.change, change);
  });
  events.on("streamError", (error) => {
    log("warn", `Docker events: ${error.message}; resynchronising`);
    eventsRunning = false;
    if (socket.connected && ready) setTimeout(() => void synchronise(), 2_000);
  });

  async function synchronise() {
    if (!socket.connected) return;
    try {
      buffered = [];
      if (!eventsRunning) {
        await events.start();
        eventsRunning = true;
      }
      const snapshot = await takeSnapshot(docker);
      events.setBaseline(snapshot.images, snapshot.volumes, snapshot.networks);
      socket.emit(AgentEvent.snapshot, snapshot);
      const queued = buffered;
      buffered = null;
      ready = true;
      for (const change of queued) socket.emit(AgentEvent.change, change);
      log("info", `snapshot sent: ${snapshot.containers.length} containers, ${snapshot.images.length} images`);
    } catch (error) {
      buffered = null;
      log("error", `could not read Docker (${error instanceof Error ? error.message : String(error)}); retrying in 5 s`);
      setTimeout(() => void synchronise(), 5_000);
    }
  }

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
    await synchronise();
    heartbeat ??= setInterval(() => {
      if (!ready || !socket.connected) return;
      socket.emit(AgentEvent.heartbeat, {
        sentAt: new Date().toISOString(),
        containersRunning: 0,
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

  socket.on(AgentEvent.error, (payload: unknown) => {
    const frame = ZProtocolError.safeParse(payload);
    log("warn", frame.success ? `server: ${frame.data.message} (${frame.data.event})` : "server sent a malformed error frame");
  });

  socket.on("disconnect", (reason) => {
    ready = false;
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
      events.stop();
      socket.disconnect();
    },
  } satisfies AgentConnection;
}
