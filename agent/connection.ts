/**
 * The agent's link to the server: dial out, authenticate, send the snapshot,
 * then keep the server in step with Docker events, answer operation requests
 * and send heartbeats. Reconnects with jittered exponential backoff, forever,
 * through one path (agent/reconnect.ts).
 *
 * Nothing happens for a server that has not proven, on this connection, that it
 * holds the key pinned at join (agent/server-trust.ts): no join token or
 * signature is sent, no operation runs, no stream opens, no inventory leaves.
 */
import { randomUUID } from "node:crypto";
import type Docker from "dockerode";
import { io, type Socket } from "socket.io-client";
import type { AgentEnv } from "./env.ts";
import { dispatch } from "./handlers/index.ts";
import { StreamRegistry } from "./handlers/streams.ts";
import { generateKeyPair, loadIdentity, saveIdentity, signMessage } from "./identity.ts";
import { InventorySync } from "./sync/inventory-sync.ts";
import { snapshotFrames } from "./sync/snapshot-frames.ts";
import { Reconnector } from "./reconnect.ts";
import { expectedServerFingerprint, newAgentNonce, verifyServerProof } from "./server-trust.ts";
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
  const trust = expectedServerFingerprint({
    pinned: identity?.serverFingerprint,
    configured: env.BERTH_SERVER_FINGERPRINT,
    insecureTrustFirst: env.BERTH_INSECURE_TRUST_FIRST_SERVER,
    joined: identity !== null,
  });
  if ("error" in trust) throw new Error(trust.error);
  let expectedFingerprint = trust.expected;
  if (expectedFingerprint === null) log("warn", "BERTH_INSECURE_TRUST_FIRST_SERVER: pinning whichever server answers first, without checking it");

  const instanceId = randomUUID(); // this process: tells the server a reconnect from a second copy of the identity
  let agentNonce = "";
  let trusted = false; // the server proved its key on THIS connection and accepted ours

  const socket = io(env.BERTH_SERVER_URL + AGENT_NAMESPACE, {
    transports: ["websocket"],
    reconnection: false, // one reconnect path: see `reconnect` below
    // Called on every attempt: a fresh challenge for the server each time.
    auth: (cb) => {
      agentNonce = newAgentNonce();
      cb({ agentNonce, agentId: identity?.agentId, instanceId });
    },
  });
  const reconnect = new Reconnector({ connect: () => socket.connect(), log: (message) => log("warn", message) });
  let stopping = false;

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
      containerEvents: (events) => {
        if (socket.connected) socket.emit(AgentEvent.containerEvents, { events });
      },
    },
    log,
    { reconcileIntervalMs: env.BERTH_RECONCILE_SECONDS * 1000 },
  );

  /** Refuse this server: no retry storm, one clear line, and nothing more sent on this connection. */
  function dropServer(reason: string) {
    trusted = false;
    log("error", `refusing the server at ${env.BERTH_SERVER_URL}: ${reason}; disconnecting`);
    reconnect.noteRefused();
    socket.disconnect();
    if (!stopping) reconnect.schedule("server not trusted");
  }

  socket.on(AgentEvent.hello, async (payload: unknown) => {
    trusted = false;
    const hello = ZHello.safeParse(payload);
    if (!hello.success) return dropServer("it sent a malformed hello");
    if (hello.data.protocolVersion !== PROTOCOL_VERSION) {
      log("warn", `server speaks protocol ${hello.data.protocolVersion}, this agent ${PROTOCOL_VERSION}`);
    }
    const verdict = verifyServerProof({
      proof: hello.data.server,
      serverNonce: hello.data.nonce,
      agentNonce,
      subject: identity ? identity.agentId : "join",
      expected: expectedFingerprint,
    });
    if (!verdict.ok) {
      // Joining: the token was never sent, and a wrong fingerprint will not fix itself.
      if (!identity) {
        log("error", `refusing to join through ${env.BERTH_SERVER_URL}: ${verdict.reason}`);
        socket.disconnect();
        return opts.onFatal(`the server's identity could not be verified (${verdict.reason})`);
      }
      return dropServer(verdict.reason);
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
    if (!result.success) return dropServer("it sent a malformed authentication answer");
    if (!result.data.ok) {
      log("error", `the server refused this agent: ${result.data.error}`);
      if (!identity) return opts.onFatal(result.data.error); // a refused token will not become valid
      // A revoked key stays refused; back off (to minutes) in case an admin re-enrolls this host.
      reconnect.noteRefused();
      socket.disconnect();
      if (!stopping) reconnect.schedule("refused");
      return;
    }
    if (!identity) {
      await saveIdentity(env.stateDir, {
        agentId: result.data.agentId,
        hostId: result.data.hostId,
        serverUrl: env.BERTH_SERVER_URL,
        privateKeyPem: pendingKey!.privateKeyPem,
        serverFingerprint: verdict.fingerprint,
      });
      identity = await loadIdentity(env.stateDir);
      log("info", `joined Berth as host "${result.data.hostName}"; key saved and server ${verdict.fingerprint} pinned in ${env.stateDir}`);
    } else {
      if (!identity.serverFingerprint) {
        // An identity from before pinning: pin the key just verified against the configured fingerprint.
        const { privateKey: _key, ...file } = identity;
        await saveIdentity(env.stateDir, { ...file, serverFingerprint: verdict.fingerprint });
        identity = { ...identity, serverFingerprint: verdict.fingerprint };
        log("info", `pinned server ${verdict.fingerprint} in ${env.stateDir}`);
      }
      log("info", `connected to Berth as host "${result.data.hostName}"`);
    }
    expectedFingerprint = verdict.fingerprint;
    if (!socket.connected) return;
    trusted = true;
    reconnect.noteConnected();
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
    if (!trusted) {
      log("warn", "refused an operation from a server that has not been verified on this connection");
      const requestId = String((frame as { requestId?: unknown } | null)?.requestId ?? "").slice(0, 64);
      if (typeof ack === "function") ack({ requestId, ok: false, error: { code: "BAD_REQUEST", message: "The agent has not verified this server" } });
      return;
    }
    const response = await dispatch(docker, frame, { imagesChanged: () => sync.refreshImages() });
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
    const result = ready && trusted ? await streams.start(frame) : { ok: false, error: { code: "BAD_REQUEST", message: "The agent is not ready yet" } };
    if (typeof ack === "function") ack(result);
  });

  socket.on(AgentEvent.streamCancel, (frame: unknown) => streams.cancel(frame));
  socket.on(AgentEvent.streamAck, (frame: unknown) => streams.ack(frame));
  socket.on(AgentEvent.streamInput, (frame: unknown) => streams.input(frame));

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
    trusted = false;
    streams.cancelAll();
    if (stopping) return;
    log("warn", `disconnected from server (${reason})`);
    reconnect.schedule("connection lost");
  });

  socket.on("connect_error", (error) => {
    if (!stopping) reconnect.schedule(`cannot reach ${env.BERTH_SERVER_URL}: ${error.message}`);
  });

  return {
    socket,
    async stop() {
      stopping = true;
      reconnect.stop();
      if (heartbeat) clearInterval(heartbeat);
      streams.cancelAll();
      sync.stop();
      socket.disconnect();
    },
  } satisfies AgentConnection;
}
