/**
 * The spine, for real: a Berth server on a real Postgres, an agent process on
 * the real local dockerd, joined with a real join token.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { io, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_NAMESPACE, AgentEvent, authChallengeMessage, PROTOCOL_VERSION } from "../../agent/protocol.ts";
import { createHost, createJoinToken } from "../../server/services/hosts.ts";
import { hashJoinToken } from "../../server/services/agents.ts";
import {
  callerFor,
  createSignedInUser,
  startTestAgent,
  startTestServer,
  waitFor,
  waitForSnapshot,
  type TestAgent,
  type TestServer,
  type TestUser,
} from "../infra/berth.ts";
import { dockerCli, removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL = "berth.test=agent-link";
const suffix = Math.random().toString(36).slice(2, 8);
const name = (base: string) => `al-${base}-${suffix}`;

let t: TestServer;
let agent: TestAgent;
let hostId: string;
let admin: TestUser;

async function containerRow(dockerName: string) {
  return t.server.db.container.findFirst({ where: { hostId, name: dockerName }, select: { dockerId: true, state: true, exitCode: true, health: true } });
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  await runTestContainer({ name: name("pre"), labels: { "berth.test": "agent-link" } });
  t = await startTestServer({ name: "agent_link" });
  admin = await createSignedInUser(t.server, { role: "admin" });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: "local", ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
});

afterAll(async () => {
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(LABEL);
});

describe("joining", () => {
  it("stores the agent's public key, never a secret, and marks the host online", async () => {
    const host = await t.server.db.host.findUniqueOrThrow({
      where: { id: hostId },
      select: { status: true, dockerVersion: true, cpus: true, memoryBytes: true, agent: { select: { publicKey: true, fingerprint: true } } },
    });
    expect(host.status).toBe("ONLINE");
    expect(host.dockerVersion).toBe(await dockerCli(["version", "--format", "{{.Server.Version}}"]));
    expect(host.cpus).toBeGreaterThan(0);
    expect(host.memoryBytes).toBeGreaterThan(0n);
    expect(host.agent?.publicKey).toContain("BEGIN PUBLIC KEY");
    expect(host.agent?.fingerprint).toMatch(/^SHA256:[0-9a-f]{64}$/);
    const joined = await t.server.db.auditEvent.findMany({ where: { action: "host.join", hostId }, select: { outcome: true, actorType: true } });
    expect(joined).toEqual([{ outcome: "SUCCESS", actorType: "AGENT" }]);
  });

  it("lands the snapshot in Postgres: containers, images, networks", async () => {
    const pre = await containerRow(name("pre"));
    expect(pre?.state).toBe("running");
    const dockerIds = (await dockerCli(["ps", "-aq", "--no-trunc"])).split("\n").filter(Boolean).sort();
    const rows = await t.server.db.container.findMany({ where: { hostId }, select: { dockerId: true } });
    expect(rows.map((r) => r.dockerId).sort()).toEqual(dockerIds);
    const images = await t.server.db.image.count({ where: { hostId, repoTags: { has: "berth-test/busybox:latest" } } });
    expect(images).toBe(1);
    const bridge = await t.server.db.network.findFirst({ where: { hostId, name: "bridge" }, select: { driver: true } });
    expect(bridge?.driver).toBe("bridge");
  });

  it("refuses a reused token with a clear message", async () => {
    const used = await t.server.db.joinToken.findFirstOrThrow({ where: { hostId }, select: { usedAt: true } });
    expect(used.usedAt).not.toBeNull();
    // The plaintext token is not in the database; re-issue one, use it, then reuse it.
    const again = await createJoinToken({ db: t.server.db, hostId, ttlMinutes: 5, serverUrl: t.url });
    const first = await startTestAgent({ serverUrl: t.url, joinToken: again.token });
    await first.waitForOutput(/joined Berth/);
    await first.kill();
    const second = await startTestAgent({ serverUrl: t.url, joinToken: again.token });
    expect(await second.exited).toBe(2);
    expect(second.output()).toMatch(/already used/);
    expect(await t.server.db.auditEvent.count({ where: { action: "host.join", outcome: "DENIED", error: { contains: "already used" } } })).toBe(1);
    // Re-enrolling replaced the key: the original agent is now refused too. Restore it for the other tests.
    await agent.kill();
    const restore = await createJoinToken({ db: t.server.db, hostId, ttlMinutes: 5, serverUrl: t.url });
    agent = await startTestAgent({ serverUrl: t.url, joinToken: restore.token });
    await agent.waitForOutput(/snapshot sent/);
  });

  it("refuses an expired token", async () => {
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: name("expired"), ttlMinutes: 5, serverUrl: t.url });
    await t.server.db.joinToken.update({ where: { tokenHash: hashJoinToken(join.token) }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const late = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
    expect(await late.exited).toBe(2);
    expect(late.output()).toMatch(/expired/);
  });

  it("refuses a forged token", async () => {
    const forged = await startTestAgent({ serverUrl: t.url, joinToken: "bjt_" + "A".repeat(43) });
    expect(await forged.exited).toBe(2);
    expect(forged.output()).toMatch(/unknown join token/);
  });

  it("refuses a key it does not know and a signature made with the wrong key", async () => {
    const socket = io(t.url + AGENT_NAMESPACE, { transports: ["websocket"], reconnection: false });
    try {
      const nonce = await new Promise<string>((resolve) => socket.once(AgentEvent.hello, (h: { nonce: string }) => resolve(h.nonce)));
      const agentRow = await t.server.db.agent.findUniqueOrThrow({ where: { hostId }, select: { id: true } });
      const { privateKey } = generateKeyPairSync("ed25519"); // not the registered key
      const signature = sign(null, Buffer.from(authChallengeMessage(nonce, agentRow.id)), privateKey).toString("base64");
      const info = { agentVersion: "test", protocolVersion: PROTOCOL_VERSION };
      const result = await socket.timeout(5000).emitWithAck(AgentEvent.authenticate, { mode: "key", agentId: agentRow.id, signature, info });
      expect(result).toEqual({ ok: false, error: expect.stringMatching(/signature does not match/) });
    } finally {
      socket.disconnect();
    }
  });
});

describe("keeping Postgres in step with Docker", () => {
  it("shows containers created, stopped and removed with the docker CLI within 2 s", async () => {
    const started = Date.now();
    const id = await runTestContainer({ name: name("cli"), labels: { "berth.test": "agent-link" } });
    await waitFor(async () => (await containerRow(name("cli")))?.state === "running", { timeoutMs: 2000, what: "created container" });
    await dockerCli(["stop", "-t", "1", id]);
    await waitFor(async () => (await containerRow(name("cli")))?.state === "exited", { timeoutMs: 2000, what: "stopped container" });
    await dockerCli(["rm", id]);
    await waitFor(async () => (await containerRow(name("cli"))) === null, { timeoutMs: 2000, what: "removed container" });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("follows image and volume changes", async () => {
    const tag = `berth-test/tagged-${suffix}:v1`;
    await dockerCli(["tag", "berth-test/busybox:latest", tag]);
    await waitFor(() => t.server.db.image.count({ where: { hostId, repoTags: { has: tag } } }), { timeoutMs: 2000, what: "new tag" });
    await dockerCli(["rmi", tag]);
    await waitFor(async () => (await t.server.db.image.count({ where: { hostId, repoTags: { has: tag } } })) === 0, { timeoutMs: 2000, what: "untag" });
    const volume = name("vol");
    await dockerCli(["volume", "create", volume]);
    await waitFor(() => t.server.db.volume.findFirst({ where: { hostId, name: volume } }), { timeoutMs: 2000, what: "volume" });
    await dockerCli(["volume", "rm", volume]);
    await waitFor(async () => !(await t.server.db.volume.findFirst({ where: { hostId, name: volume } })), { timeoutMs: 2000, what: "volume removed" });
  });
});

describe("container actions through tRPC", () => {
  it("stop, start and restart change the real container", async () => {
    const caller = await callerFor(t.server, admin);
    const id = await runTestContainer({ name: name("act"), labels: { "berth.test": "agent-link" } });
    await waitFor(async () => (await containerRow(name("act")))?.state === "running", { what: "container in mirror" });

    await caller.containers.stop({ hostId, containerId: id });
    expect(await dockerCli(["inspect", "-f", "{{.State.Status}}", id])).toBe("exited");
    await waitFor(async () => (await containerRow(name("act")))?.state === "exited", { what: "mirror shows exited" });

    await caller.containers.start({ hostId, containerId: id });
    expect(await dockerCli(["inspect", "-f", "{{.State.Status}}", id])).toBe("running");

    const before = await dockerCli(["inspect", "-f", "{{.State.StartedAt}}", id]);
    await caller.containers.restart({ hostId, containerId: id });
    const after = await dockerCli(["inspect", "-f", "{{.State.StartedAt}}", id]);
    expect(after).not.toBe(before);
  });

  it("passes Docker's own error text through when Docker refuses", async () => {
    const caller = await callerFor(t.server, admin);
    const id = await dockerCli(["create", "--name", name("bad"), "--label", LABEL, "berth-test/busybox:latest", "/no/such/binary"]);
    await waitFor(() => containerRow(name("bad")), { what: "created container in mirror" });
    await expect(caller.containers.start({ hostId, containerId: id })).rejects.toThrow(/no such file or directory/);
    await expect(caller.containers.start({ hostId, containerId: "f".repeat(64) })).rejects.toThrow(/not found/i);
  });

  it("refuses actions from an anonymous caller", async () => {
    const anonymous = await callerFor(t.server, null);
    await expect(anonymous.containers.list({ hostId })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });
});

describe("malformed frames", () => {
  it("answers a malformed request with an error and the agent keeps working", async () => {
    await expect(t.server.hub.request(hostId, "container.explode" as never, {} as never)).rejects.toThrow(/Unknown operation/);
    await expect(t.server.hub.request(hostId, "container.start", { containerId: 42 } as never)).rejects.toThrow(/Invalid params/);
    const pong = await t.server.hub.request(hostId, "host.ping", {});
    expect(pong.dockerVersion).toBeTruthy();
    expect(agent.process.exitCode).toBeNull();
  });

  it("answers a malformed agent frame with an error frame and keeps the connection", async () => {
    // A second, throwaway host with a hand-driven agent connection.
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: name("raw"), ttlMinutes: 5, serverUrl: t.url });
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const socket: Socket = io(t.url + AGENT_NAMESPACE, { transports: ["websocket"], reconnection: false });
    try {
      const nonce = await new Promise<string>((resolve) => socket.once(AgentEvent.hello, (h: { nonce: string }) => resolve(h.nonce)));
      const joined = await socket.timeout(5000).emitWithAck(AgentEvent.authenticate, {
        mode: "join",
        token: join.token,
        publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
        signature: sign(null, Buffer.from(authChallengeMessage(nonce, "join")), privateKey).toString("base64"),
        info: { agentVersion: "test", protocolVersion: PROTOCOL_VERSION },
      });
      expect(joined).toMatchObject({ ok: true, hostId: join.hostId });

      const errors: Array<{ event: string; message: string }> = [];
      socket.on(AgentEvent.error, (frame: { event: string; message: string }) => errors.push(frame));
      socket.emit(AgentEvent.snapshotBegin, { containers: "not a list" });
      socket.emit(AgentEvent.change, { kind: "container", op: "upsert", record: { id: 1 } });
      socket.emit("inventory:delete-everything", {});
      await waitFor(() => errors.length >= 3, { what: "three error frames" });
      expect(errors.map((e) => e.event)).toEqual([AgentEvent.snapshotBegin, AgentEvent.change, "inventory:delete-everything"]);
      expect(errors[0]!.message).toMatch(/Malformed inventory:snapshot:begin/);

      // Still connected and still applied: a valid heartbeat lands.
      await t.server.db.host.update({ where: { id: join.hostId }, data: { lastSeenAt: new Date(0) } });
      socket.emit(AgentEvent.heartbeat, { sentAt: new Date().toISOString(), containersRunning: 0, rssBytes: 1 });
      await waitFor(async () => {
        const host = await t.server.db.host.findUniqueOrThrow({ where: { id: join.hostId }, select: { lastSeenAt: true } });
        return (host.lastSeenAt?.getTime() ?? 0) > 0;
      }, { what: "heartbeat applied" });
      expect(socket.connected).toBe(true);
    } finally {
      socket.disconnect();
    }
  });
});

describe("presence", () => {
  it("marks the host offline when the agent dies and resyncs when it returns", async () => {
    await agent.kill("SIGKILL");
    const died = Date.now();
    await waitFor(async () => (await t.server.db.host.findUniqueOrThrow({ where: { id: hostId }, select: { status: true } })).status === "OFFLINE", {
      timeoutMs: 15_000,
      what: "host offline",
    });
    expect(Date.now() - died).toBeLessThan(15_000);

    // Changes while the agent is away are picked up by the snapshot on return.
    const id = await runTestContainer({ name: name("away"), labels: { "berth.test": "agent-link" } });
    await dockerCli(["rm", "-f", id]);
    const away = await runTestContainer({ name: name("away2"), labels: { "berth.test": "agent-link" } });
    expect(await containerRow(name("away2"))).toBeNull();

    agent = await startTestAgent({ serverUrl: t.url, stateDir: agent.stateDir });
    await agent.waitForOutput(/snapshot sent/);
    // "sent" is the agent's side; the server applies the snapshot right after.
    await waitFor(() => containerRow(name("away2")), { what: "resynced container" });
    const host = await t.server.db.host.findUniqueOrThrow({ where: { id: hostId }, select: { status: true, lastSeenAt: true } });
    expect(host.status).toBe("ONLINE");
    expect((await containerRow(name("away2")))?.dockerId).toBe(away);
    expect(await containerRow(name("away"))).toBeNull();
  });

  it("refuses a revoked agent and takes it offline", async () => {
    const caller = await callerFor(t.server, admin);
    await caller.hosts.revoke({ hostId });
    await agent.waitForOutput(/revoked/);
    const host = await t.server.db.host.findUniqueOrThrow({ where: { id: hostId }, select: { status: true } });
    expect(host.status).toBe("REVOKED");
    expect(t.server.hub.isConnected(hostId)).toBe(false);
  });
});
