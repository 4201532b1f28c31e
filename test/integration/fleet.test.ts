/**
 * Two real Docker hosts: the machine's dockerd and a second dockerd in its own
 * network namespace, each with its own agent. The fleet must show both, each
 * with exactly its own containers.
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
import { removeContainersByLabel, runTestContainer, startExtraDockerHost, type ExtraDockerHost } from "../infra/docker.ts";

const LABEL = "berth.test=fleet";
const suffix = Math.random().toString(36).slice(2, 8);

let t: TestServer;
let second: ExtraDockerHost;
const agents: TestAgent[] = [];
let user: TestUser;
const hostIds: Record<"main" | "second", string> = { main: "", second: "" };

beforeAll(async () => {
  second = await startExtraDockerHost("fleet2");
  await removeContainersByLabel(LABEL);
  await Promise.all([
    runTestContainer({ name: `fleet-main-${suffix}`, labels: { "berth.test": "fleet" } }),
    runTestContainer({ name: `fleet-second-a-${suffix}`, labels: { "berth.test": "fleet" }, host: second.dockerHost }),
    runTestContainer({ name: `fleet-second-b-${suffix}`, labels: { "berth.test": "fleet" }, host: second.dockerHost }),
  ]);
  t = await startTestServer({ name: "fleet" });
  // A plain user sees the fleet through a team that owns both hosts, as a Viewer.
  user = await createSignedInUser(t.server, { role: "user" });
  const team = await t.server.db.team.create({ data: { name: "ops" } });
  await t.server.db.teamMember.create({ data: { teamId: team.id, userId: user.id, roleId: "role_viewer" } });
  for (const [key, dockerHost] of [["main", undefined], ["second", second.dockerHost]] as const) {
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: key, teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
    hostIds[key] = join.hostId;
    agents.push(await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost }));
  }
  await Promise.all(Object.values(hostIds).map((id) => waitForSnapshot(t.server, id)));
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.kill()));
  await t?.stop();
  await removeContainersByLabel(LABEL);
  await second?.stop();
});

describe("a fleet of two hosts", () => {
  it("lists both hosts online with their own counts", async () => {
    const caller = await callerFor(t.server, user);
    const hosts = await caller.hosts.list();
    expect(hosts.map((h) => [h.name, h.status])).toEqual([
      ["main", "ONLINE"],
      ["second", "ONLINE"],
    ]);
    const secondHost = hosts.find((h) => h.name === "second")!;
    // The second daemon holds only what this test started there.
    expect(secondHost.counts).toMatchObject({ containers: 2, running: 2, stopped: 0 });
    expect(secondHost.counts.images).toBeGreaterThanOrEqual(1);
    expect(secondHost.hostname).toBeTruthy();
  });

  it("keeps each host's containers on that host", async () => {
    const caller = await callerFor(t.server, user);
    const main = (await caller.containers.list({ hostId: hostIds.main })).map((c) => c.name);
    const other = (await caller.containers.list({ hostId: hostIds.second })).map((c) => c.name).sort();
    expect(main).toContain(`fleet-main-${suffix}`);
    expect(main).not.toContain(`fleet-second-a-${suffix}`);
    expect(other).toEqual([`fleet-second-a-${suffix}`, `fleet-second-b-${suffix}`]);
  });

  it("routes an action to the right host's Docker", async () => {
    const admin = await callerFor(t.server, await createSignedInUser(t.server, { role: "admin" }));
    const target = (await admin.containers.list({ hostId: hostIds.second })).find((c) => c.name === `fleet-second-a-${suffix}`)!;
    await admin.containers.stop({ hostId: hostIds.second, containerId: target.dockerId });
    await waitFor(
      async () => (await admin.containers.byId({ hostId: hostIds.second, containerId: target.dockerId })).state === "exited",
      { what: "stopped on the second host" },
    );
    const hosts = await admin.hosts.list();
    expect(hosts.find((h) => h.name === "second")!.counts).toMatchObject({ running: 1, stopped: 1 });
    expect(hosts.find((h) => h.name === "main")!.counts.running).toBeGreaterThanOrEqual(1);
  });

  it("takes only the dead host offline", async () => {
    await agents[1]!.kill("SIGKILL");
    await waitFor(async () => (await t.server.db.host.findUniqueOrThrow({ where: { id: hostIds.second } })).status === "OFFLINE", {
      timeoutMs: 15_000,
      what: "second host offline",
    });
    expect((await t.server.db.host.findUniqueOrThrow({ where: { id: hostIds.main } })).status).toBe("ONLINE");
  });
});
