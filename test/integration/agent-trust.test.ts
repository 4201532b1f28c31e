/**
 * The agent trusts only its server, and the server keeps one agent per
 * identity: real servers on one real Postgres, real agent processes on the
 * real dockerd, and (for the impostor cases) a second Berth with another
 * secret, then a bare socket.io server, on the URL the agent joined.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Server as SocketServer } from "socket.io";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_NAMESPACE, AgentEvent, authChallengeMessage, PROTOCOL_VERSION, serverProofMessage } from "../../agent/protocol.ts";
import { publicKeyFingerprint } from "../../server/crypto/server-key.ts";
import type { FleetEvent } from "../../server/events/bus.ts";
import { hashJoinToken } from "../../server/services/agents.ts";
import { createHost, markHostOffline, markHostOnline, recordHeartbeat } from "../../server/services/hosts.ts";
import {
  callerFor,
  createMigratedDatabase,
  createSignedInUser,
  startTestAgent,
  startTestServer,
  waitFor,
  waitForSnapshot,
  type TestAgent,
  type TestServer,
  type TestUser,
} from "../infra/berth.ts";
import type { TestDatabase } from "../infra/postgres.ts";
import { dockerCli, removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL = "berth.test=agent-trust";
const SECRET = `shared-replica-secret-${randomBytes(16).toString("hex")}`;
const suffix = Math.random().toString(36).slice(2, 8);
const name = (base: string) => `at-${base}-${suffix}`;
const ZEROS = "SHA256:" + "0".repeat(64);

let database: TestDatabase;
let a: TestServer; // replica A
let b: TestServer; // replica B, same database and secret
let admin: TestUser;
let victim: string; // a running container no impostor may touch
const agents: TestAgent[] = [];

async function agent(opts: Parameters<typeof startTestAgent>[0]) {
  const started = await startTestAgent(opts);
  agents.push(started);
  return started;
}

function count(text: string, pattern: RegExp): number {
  return (text.match(new RegExp(pattern.source, "g")) ?? []).length;
}

async function identityOf(stateDir: string) {
  return JSON.parse(await readFile(path.join(stateDir, "identity.json"), "utf8")) as { agentId: string; privateKeyPem: string; serverFingerprint?: string };
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  victim = await runTestContainer({ name: name("victim"), labels: { "berth.test": "agent-trust" } });
  database = await createMigratedDatabase("agent_trust");
  a = await startTestServer({ database, env: { BERTH_SECRET: SECRET } });
  b = await startTestServer({ database, env: { BERTH_SECRET: SECRET } });
  admin = await createSignedInUser(a.server, { role: "admin" });
});

afterAll(async () => {
  await Promise.all(agents.map((x) => x.kill("SIGKILL")));
  await b?.stop();
  await a?.stop();
  await database?.drop();
  await removeContainersByLabel(LABEL);
});

describe("joining", () => {
  it("puts the server key's fingerprint in the join command, the same on every replica", async () => {
    const caller = await callerFor(a.server, admin);
    const host = await caller.hosts.create({ name: name("cmd") });
    const join = await caller.hosts.createJoinToken({ hostId: host.hostId });
    expect(join.command).toContain(`BERTH_SERVER_FINGERPRINT=${publicKeyFingerprint(a.server.serverKey.publicKeyPem)}`);
    expect(b.server.serverKey.fingerprint).toBe(a.server.serverKey.fingerprint);
  });

  it("refuses to join a server whose key does not match the given fingerprint, and never sends it the token", async () => {
    const join = await createHost({ db: a.server.db, bus: a.server.deps.bus, name: name("wrongfp"), ttlMinutes: 5, serverUrl: a.url });
    const wrong = await agent({ serverUrl: a.url, joinToken: join.token, serverFingerprint: ZEROS });
    expect(await wrong.exited).toBe(2);
    expect(wrong.output()).toMatch(/refusing to join .* does not match the pinned fingerprint SHA256:0{64}/);
    const token = await a.server.db.joinToken.findUniqueOrThrow({ where: { tokenHash: hashJoinToken(join.token) }, select: { usedAt: true } });
    expect(token.usedAt).toBeNull();
    expect((await a.server.db.host.findUniqueOrThrow({ where: { id: join.hostId }, select: { status: true } })).status).toBe("PENDING");
  });

  it("refuses to join without a fingerprint unless told to trust the first server, and then pins it", async () => {
    const join = await createHost({ db: a.server.db, bus: a.server.deps.bus, name: name("nofp"), ttlMinutes: 5, serverUrl: a.url });
    const blind = await agent({ serverUrl: a.url, joinToken: join.token, serverFingerprint: null });
    expect(await blind.exited).toBe(1);
    expect(blind.output()).toMatch(/BERTH_SERVER_FINGERPRINT is required to join/);

    const tofu = await agent({ serverUrl: a.url, joinToken: join.token, serverFingerprint: null, env: { BERTH_INSECURE_TRUST_FIRST_SERVER: "true" } });
    await tofu.waitForOutput(/joined Berth/);
    expect((await identityOf(tofu.stateDir)).serverFingerprint).toBe(a.server.serverKey.fingerprint);
    await tofu.kill();
  });

  it("an identity from before pinning needs the fingerprint once, then pins it; a conflicting one is refused", async () => {
    const join = await createHost({ db: a.server.db, bus: a.server.deps.bus, name: name("legacy"), ttlMinutes: 5, serverUrl: a.url });
    const joined = await agent({ serverUrl: a.url, joinToken: join.token });
    await joined.waitForOutput(/snapshot sent/);
    await joined.kill();
    const file = path.join(joined.stateDir, "identity.json");
    const { serverFingerprint: _pinned, ...legacy } = await identityOf(joined.stateDir);
    await writeFile(file, JSON.stringify(legacy), { mode: 0o600 });

    const unpinned = await agent({ serverUrl: a.url, stateDir: joined.stateDir });
    expect(await unpinned.exited).toBe(1);
    expect(unpinned.output()).toMatch(/identity.json has no pinned server key/);

    const pinning = await agent({ serverUrl: a.url, stateDir: joined.stateDir, serverFingerprint: a.server.serverKey.fingerprint });
    await pinning.waitForOutput(/pinned server SHA256:[0-9a-f]{64}/);
    await pinning.waitForOutput(/snapshot sent/);
    await pinning.kill();
    const pinned = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    expect(pinned.serverFingerprint).toBe(a.server.serverKey.fingerprint);
    expect(Object.keys(pinned).sort()).toEqual(["agentId", "hostId", "privateKeyPem", "serverFingerprint", "serverUrl"]);

    const conflicting = await agent({ serverUrl: a.url, stateDir: joined.stateDir, serverFingerprint: ZEROS });
    expect(await conflicting.exited).toBe(1);
    expect(conflicting.output()).toMatch(/differs from the server key pinned in identity.json/);
  });

  it("refuses a plain http:// server URL that is not this machine unless explicitly allowed", async () => {
    const remote = await agent({ serverUrl: "http://berth.example.test:3000", joinToken: "bjt_" + "A".repeat(43), serverFingerprint: ZEROS });
    expect(await remote.exited).toBe(1);
    expect(remote.output()).toMatch(/BERTH_SERVER_URL: http:\/\/berth\.example\.test:3000 is plain http:\/\/ .*BERTH_ALLOW_INSECURE_HTTP=true/);
  });
});

describe("an impostor on the server's URL", () => {
  it("gets no inventory and runs no operation, whether it is another Berth or a bare socket", async () => {
    // The agent joins a server of its own, which then goes away...
    const own = await startTestServer({ database, env: { BERTH_SECRET: SECRET } });
    const port = Number(new URL(own.url).port);
    const join = await createHost({ db: own.server.db, bus: own.server.deps.bus, name: name("pinned"), ttlMinutes: 5, serverUrl: own.url });
    const pinned = await agent({ serverUrl: own.url, joinToken: join.token });
    await waitForSnapshot(own.server, join.hostId);
    const { agentId } = await identityOf(pinned.stateDir);
    await own.stop();

    // ...and a Berth with another secret answers on its URL. It knows the agent's key (same database) and would accept it.
    const since = new Date();
    const impostor = await startTestServer({ database, port, env: { BERTH_SECRET: `another-secret-${randomBytes(16).toString("hex")}` } });
    try {
      await pinned.waitForOutput(/refusing the server at .*: the server's key SHA256:[0-9a-f]{64} does not match the pinned fingerprint/, 60_000);
      expect(impostor.server.hub.isConnected(join.hostId)).toBe(false);
      expect(await a.server.db.auditEvent.count({ where: { actorId: agentId, at: { gte: since } } })).toBe(0); // it never even authenticated
      expect(await a.server.db.network.count({ where: { hostId: join.hostId, syncedAt: { gte: since } } })).toBe(0);
      expect(count(pinned.output(), /snapshot sent/)).toBe(1); // the one to its own server
    } finally {
      await impostor.stop();
    }

    // A bare socket.io server with a key of its own: asks for an operation and a stream before and after its (valid, wrong-key) proof.
    const refusalsBefore = count(pinned.output(), /refusing the server/);
    const httpServer = http.createServer();
    const rogue = new SocketServer(httpServer);
    const received: string[] = [];
    const answers: unknown[] = [];
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    rogue.of(AGENT_NAMESPACE).on("connection", (socket) => {
      socket.onAny((event: string) => received.push(event));
      const ask = () => {
        socket.emit(AgentEvent.request, { requestId: "r1", type: "container.stop", params: { containerId: victim } }, (r: unknown) => answers.push(r));
        socket.emit(AgentEvent.streamOpen, { streamId: "s1", type: "container.logs", params: { containerId: victim } }, (r: unknown) => answers.push(r));
      };
      ask();
      const nonce = randomBytes(32).toString("base64url");
      const agentNonce = String((socket.handshake.auth as { agentNonce?: string }).agentNonce);
      const signature = sign(null, Buffer.from(serverProofMessage(nonce, agentNonce, agentId)), privateKey).toString("base64");
      socket.emit(AgentEvent.hello, {
        nonce,
        protocolVersion: PROTOCOL_VERSION,
        serverId: "rogue",
        server: { publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(), signature },
      });
      ask();
    });
    await new Promise<void>((resolve) => httpServer.listen(port, "127.0.0.1", () => resolve()));
    try {
      await waitFor(() => count(pinned.output(), /refusing the server/) > refusalsBefore && answers.length >= 2, { timeoutMs: 90_000, what: "the agent to meet the rogue" });
      expect(answers.length).toBeGreaterThanOrEqual(2);
      for (const answer of answers) expect(answer).toMatchObject({ ok: false });
      expect(JSON.stringify(answers)).toMatch(/not verified|not ready/);
      expect(received).toEqual([]); // no authenticate, no snapshot, no heartbeat
      expect(await dockerCli(["inspect", "-f", "{{.State.Status}}", victim])).toBe("running");
    } finally {
      rogue.close();
      httpServer.close();
    }
  });
});

describe("revocation and presence across replicas", () => {
  let hostId: string;
  let agentId: string;
  let onB: TestAgent;

  it("revoking on replica A disconnects the agent connected to replica B at once", async () => {
    const join = await createHost({ db: b.server.db, bus: b.server.deps.bus, name: name("revocation"), ttlMinutes: 5, serverUrl: b.url });
    hostId = join.hostId;
    onB = await agent({ serverUrl: b.url, joinToken: join.token });
    await waitForSnapshot(b.server, hostId);
    agentId = (await identityOf(onB.stateDir)).agentId;
    expect(a.server.hub.isConnected(hostId)).toBe(false);
    expect(b.server.hub.isConnected(hostId)).toBe(true);

    await (await callerFor(a.server, admin)).hosts.revoke({ hostId });
    await onB.waitForOutput(/This agent.s key was revoked/);
    expect(b.server.hub.isConnected(hostId)).toBe(false);
    expect((await a.server.db.host.findUniqueOrThrow({ where: { id: hostId }, select: { status: true } })).status).toBe("REVOKED");
  });

  it("a late markHostOnline cannot flip a revoked host back online", async () => {
    const claim = await markHostOnline({ db: a.server.db, bus: a.server.deps.bus, hostId, agentId, agentVersion: "late" });
    expect(claim).toBeNull();
    const host = await a.server.db.host.findUniqueOrThrow({ where: { id: hostId }, select: { status: true, agentVersion: true } });
    expect(host).toEqual({ status: "REVOKED", agentVersion: expect.not.stringMatching(/^late$/) });
  });

  it("writes one audit row per interval for an agent that keeps being refused, with the count", async () => {
    await onB.kill();
    const agentRefusals = count(onB.output(), /the server refused this agent/);
    const { privateKeyPem } = await identityOf(onB.stateDir);
    const key = createPrivateKey(privateKeyPem);
    const attempts = 4;
    for (let i = 0; i < attempts; i++) {
      const socket = io(b.url + AGENT_NAMESPACE, {
        transports: ["websocket"],
        reconnection: false,
        auth: { agentNonce: randomBytes(32).toString("base64url"), agentId },
      });
      try {
        const nonce = await new Promise<string>((resolve) => socket.once(AgentEvent.hello, (h: { nonce: string }) => resolve(h.nonce)));
        const signature = sign(null, Buffer.from(authChallengeMessage(nonce, agentId)), key).toString("base64");
        const result = await socket.timeout(10_000).emitWithAck(AgentEvent.authenticate, {
          mode: "key",
          agentId,
          signature,
          info: { agentVersion: "test", protocolVersion: PROTOCOL_VERSION },
        });
        expect(result).toEqual({ ok: false, error: expect.stringMatching(/revoked/) });
      } finally {
        socket.disconnect();
      }
    }
    const rows = () =>
      a.server.db.auditEvent.findMany({ where: { action: "agent.authenticate", actorId: agentId }, select: { error: true, params: true }, orderBy: { seq: "asc" } });
    expect(await rows()).toHaveLength(1);

    await b.server.hub.flushRefusalAudit({ all: true });
    const after = await rows();
    expect(after).toHaveLength(2);
    const total = agentRefusals + attempts;
    expect(after[1]!.params).toMatchObject({ count: total - 1 });
    expect(after[1]!.error).toContain(`(${total - 1} refusals)`);
  });

  it("online/offline updates of an older connection cannot undo a newer one; a host back from offline is published", async () => {
    const join = await createHost({ db: a.server.db, bus: a.server.deps.bus, name: name("order"), ttlMinutes: 5, serverUrl: a.url });
    const { publicKey } = generateKeyPairSync("ed25519");
    const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const row = await a.server.db.agent.create({ data: { hostId: join.hostId, publicKey: pem, fingerprint: publicKeyFingerprint(pem) }, select: { id: true } });
    const deps = { db: a.server.db, bus: a.server.deps.bus, hostId: join.hostId };
    const status = async () => (await a.server.db.host.findUniqueOrThrow({ where: { id: join.hostId }, select: { status: true } })).status;

    const older = await markHostOnline({ ...deps, agentId: row.id, agentVersion: "1" });
    const newer = await markHostOnline({ ...deps, agentId: row.id, agentVersion: "1" });
    expect(older && newer && newer.generation > older.generation).toBe(true);
    await markHostOffline({ ...deps, generation: older!.generation }); // the old connection's close, landing late
    expect(await status()).toBe("ONLINE");
    await markHostOffline({ ...deps, generation: newer!.generation });
    expect(await status()).toBe("OFFLINE");
    const heartbeat = { sentAt: new Date().toISOString(), containersRunning: 0, rssBytes: 1 };
    expect(await recordHeartbeat({ ...deps, heartbeat, generation: older!.generation })).toBe(false);
    expect(await status()).toBe("OFFLINE");

    const seen: FleetEvent[] = [];
    const unsubscribe = a.server.deps.bus.subscribe((event) => seen.push(event));
    try {
      expect(await recordHeartbeat({ ...deps, heartbeat, generation: newer!.generation })).toBe(true);
      expect(await status()).toBe("ONLINE");
      expect(seen).toContainEqual({ type: "host.changed", hostId: join.hostId });
    } finally {
      unsubscribe();
    }
  });
});

describe("two agents with one identity", () => {
  it("refuses the copy while the first is healthy, on the same replica and on another, and shows it on the host", async () => {
    const join = await createHost({ db: a.server.db, bus: a.server.deps.bus, name: name("twin"), ttlMinutes: 5, serverUrl: a.url });
    const first = await agent({ serverUrl: a.url, joinToken: join.token });
    await waitForSnapshot(a.server, join.hostId);
    const copied = await mkdtemp(path.join(os.tmpdir(), "berth-test-agent-copy-"));
    await cp(first.stateDir, copied, { recursive: true });

    const copy = await agent({ serverUrl: a.url, stateDir: copied });
    await copy.waitForOutput(/another agent with this identity is already connected/, 30_000);
    await first.waitForOutput(/Another agent with this agent's identity tried to connect from/);
    await copy.kill();
    expect(a.server.hub.isConnected(join.hostId)).toBe(true);
    expect(first.output()).not.toMatch(/Replaced by a newer connection/);

    const host = await (await callerFor(a.server, admin)).hosts.byId({ hostId: join.hostId });
    expect(host.duplicateSeenAt).toBeInstanceOf(Date);
    expect(host.duplicateAddresses.length).toBeGreaterThan(0);
    expect(host.duplicateAddresses.every((address) => /127\.0\.0\.1/.test(address))).toBe(true);
    expect(await a.server.db.auditEvent.count({ where: { action: "agent.duplicate", hostId: join.hostId, outcome: "DENIED" } })).toBe(1);

    // The copy on the other replica is refused the same way, and the first is warned through the replica link.
    const warnings = count(first.output(), /tried to connect from/);
    const elsewhere = await agent({ serverUrl: b.url, stateDir: copied });
    await elsewhere.waitForOutput(/another agent with this identity is already connected/, 30_000);
    await waitFor(() => count(first.output(), /tried to connect from/) > warnings, { what: "the first agent warned across replicas" });
    await elsewhere.kill();
    expect(a.server.hub.isConnected(join.hostId)).toBe(true);
    expect(b.server.hub.isConnected(join.hostId)).toBe(false);
  });
});
