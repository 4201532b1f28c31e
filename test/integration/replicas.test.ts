/**
 * Two Berth server replicas on one Postgres. The agent is connected to the
 * first; a browser talking to the second still acts on its containers and
 * still sees live changes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
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

const LABEL = "berth.test=replicas";
const suffix = Math.random().toString(36).slice(2, 8);
let first: TestServer;
let second: TestServer;
let agent: TestAgent;
let admin: TestUser;
let hostId: string;
let containerId: string;

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  containerId = await runTestContainer({ name: `replica-${suffix}`, labels: { "berth.test": "replicas" } });
  first = await startTestServer({ name: "replicas" });
  second = await startTestServer({ database: first.database, env: { BERTH_SECRET: "shared-secret-for-both-replicas-0123456789" } });
  const join = await createHost({ db: first.server.db, bus: first.server.deps.bus, name: "shared", ttlMinutes: 5, serverUrl: first.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: first.url, joinToken: join.token });
  await waitForSnapshot(first.server, hostId);
  admin = await createSignedInUser(second.server, { role: "admin" });
});

afterAll(async () => {
  await agent?.kill();
  await second?.stop();
  await first?.stop();
  await removeContainersByLabel(LABEL);
});

describe("replicas sharing one Postgres", () => {
  it("forwards an action to the replica holding the agent", async () => {
    expect(second.server.hub.isConnected(hostId)).toBe(false);
    const caller = await callerFor(second.server, admin);
    await caller.containers.stop({ hostId, containerId });
    expect(await dockerCli(["inspect", "-f", "{{.State.Status}}", containerId])).toBe("exited");
    await expect(caller.containers.start({ hostId, containerId: "e".repeat(64) })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await caller.containers.start({ hostId, containerId });
    expect(await dockerCli(["inspect", "-f", "{{.State.Status}}", containerId])).toBe("running");
  });

  it("delivers live events from the agent's replica to subscribers on the other", async () => {
    const abort = new AbortController();
    const caller = await callerFor(second.server, admin, { signal: abort.signal });
    const stream = (await caller.hosts.onChange()) as AsyncIterable<{ type: string; hostId: string }>;
    const iterator = stream[Symbol.asyncIterator]();
    const seen: string[] = [];
    const reading = (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        // Each item is a tracked envelope: [id, event, marker].
        const [, event] = next.value as unknown as [string, { type: string; hostId: string }];
        seen.push(`${event.type}:${event.hostId}`);
      }
    })();
    await dockerCli(["stop", "-t", "1", containerId]);
    await waitFor(() => seen.includes(`inventory.changed:${hostId}`), { timeoutMs: 5000, what: "event on the second replica" });
    abort.abort(); // what a closing browser tab does
    await reading.catch(() => undefined);
  });

  it("reports an offline host at once instead of waiting for a timeout", async () => {
    await agent.kill("SIGKILL");
    await waitFor(async () => (await second.server.db.host.findUniqueOrThrow({ where: { id: hostId } })).status === "OFFLINE", { timeoutMs: 15_000 });
    const caller = await callerFor(second.server, admin);
    await expect(caller.containers.start({ hostId, containerId })).rejects.toThrow(/not connected/);
  });
});
