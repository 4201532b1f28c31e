/**
 * The container page's data, end to end on real parts (real dockerd, the real
 * agent as a child process, the server on a real Postgres), with Docker's own
 * CLI as the oracle wherever there is one:
 * - processes (`docker top`), the writable layer (`docker diff`, `docker
 *   inspect --size`), commit (`docker image inspect` of the new image);
 * - live stats over the /browser socket: samples arrive and move, and N
 *   viewers of one container share ONE agent stream that closes when the last leaves;
 * - lifecycle history: start, die with its exit code, kill with its signal,
 *   oom, kept after `docker rm`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientEvent, ServerEvent, type TStatsData, type TStatsEnd, type TStatsPoint } from "../../server/gateway/browser-protocol.ts";
import { createHost } from "../../server/services/hosts.ts";
import {
  callerFor,
  connectBrowserSocket,
  createSignedInUser,
  emitWithAck,
  startTestAgent,
  startTestServer,
  waitFor,
  waitForSnapshot,
  type BrowserTestSocket,
  type TestAgent,
  type TestServer,
  type TestUser,
} from "../infra/berth.ts";
import { dockerCli, removeContainersByLabel, runTestContainer, TEST_IMAGE } from "../infra/docker.ts";

const LABEL = "berth.test=container-page";
const suffix = Math.random().toString(36).slice(2, 8);
const COMMIT_REPO = `berth-test/committed-${suffix}`;

let t: TestServer;
let agent: TestAgent;
let hostId = "";
const users = {} as Record<"operator" | "viewer", TestUser>;
const sockets: BrowserTestSocket[] = [];
const c = { busy: "", writer: "" };

async function socketFor(user: TestUser) {
  const socket = await connectBrowserSocket(t.url, { cookie: user.cookie });
  sockets.push(socket);
  return socket;
}

function collectStats(socket: BrowserTestSocket) {
  const samples = new Map<string, TStatsPoint[]>();
  const ends = new Map<string, string | null>();
  socket.on(ServerEvent.statsData, (data: TStatsData) => samples.set(data.subscriptionId, [...(samples.get(data.subscriptionId) ?? []), ...data.samples]));
  socket.on(ServerEvent.statsEnd, (end: TStatsEnd) => ends.set(end.subscriptionId, end.reason));
  return { of: (id: string) => samples.get(id) ?? [], ends };
}

async function openStats(socket: BrowserTestSocket, containerId: string | null) {
  const ack = await emitWithAck<{ subscriptionId: string }>(socket, ClientEvent.statsOpen, { hostId, containerId });
  if (!ack.ok) throw new Error(`stats:open refused: ${ack.code} ${ack.message}`);
  return ack.subscriptionId;
}

const label = { "berth.test": "container-page" };

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  // A busy loop (CPU moves) and a container that wrote files into its writable layer.
  c.busy = await runTestContainer({ name: `page-busy-${suffix}`, labels: label, cmd: ["sh", "-c", "while true; do :; done"] });
  c.writer = await runTestContainer({
    name: `page-writer-${suffix}`,
    labels: label,
    cmd: ["sh", "-c", "mkdir -p /data/nested && echo hello > /data/nested/hello.txt && rm /bin/true 2>/dev/null; echo ready; sleep 3600"],
  });
  t = await startTestServer({ name: "container-page" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "page-team" } });
  users.operator = await createSignedInUser(t.server, { email: "operator@page.test" });
  users.viewer = await createSignedInUser(t.server, { email: "viewer@page.test" });
  await db.teamMember.createMany({
    data: [
      { teamId: team.id, userId: users.operator.id, roleId: "role_operator" },
      { teamId: team.id, userId: users.viewer.id, roleId: "role_viewer" },
    ],
  });
  const join = await createHost({ db, bus: t.server.deps.bus, name: "page-host", teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
  await waitFor(() => db.container.findFirst({ where: { hostId, dockerId: c.writer } }), { what: "the writer container in the mirror" });
}, 120_000);

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(LABEL);
  await dockerCli(["image", "rm", "--force", `${COMMIT_REPO}:v1`]).catch(() => undefined);
});

describe("processes", () => {
  it("lists the container's processes as `docker top` does", async () => {
    const cli = (await dockerCli(["top", c.writer])).split("\n").filter(Boolean);
    const pidColumn = cli[0]!.trim().split(/\s+/).indexOf("PID");
    const expectedPids = cli.slice(1).map((line) => line.trim().split(/\s+/)[pidColumn]).sort();
    expect(expectedPids.length).toBeGreaterThan(0);
    const top = await (await callerFor(t.server, users.viewer)).containers.top({ hostId, containerId: c.writer });
    const pid = top.titles.indexOf("PID");
    expect(pid).toBeGreaterThanOrEqual(0);
    expect(top.processes.map((p) => p[pid]).sort()).toEqual(expectedPids);
    const cmd = top.titles.indexOf("CMD");
    expect(top.processes.some((p) => p[cmd]?.includes("sleep 3600"))).toBe(true);
  });
});

describe("the writable layer", () => {
  it("diff shows what the container wrote, exactly as `docker diff`", async () => {
    const cli = (await dockerCli(["diff", c.writer]))
      .split("\n")
      .filter(Boolean)
      .map((line) => ({ kind: { A: "added", C: "changed", D: "deleted" }[line[0]!]!, path: line.slice(2) }))
      .sort((a, b) => (a.path < b.path ? -1 : 1));
    expect(cli).toContainEqual({ kind: "added", path: "/data/nested/hello.txt" });
    const diff = await (await callerFor(t.server, users.viewer)).containers.changes({ hostId, containerId: c.writer });
    expect(diff.changes).toEqual(cli);
    expect(diff.truncated).toBe(false);
  });

  it("reports the writable layer's size against the image, as `docker inspect --size`", async () => {
    const [sizeRw, sizeRootFs] = (await dockerCli(["inspect", "--size", "--format", "{{.SizeRw}} {{.SizeRootFs}}", c.writer])).split(" ").map(Number);
    const size = await (await callerFor(t.server, users.viewer)).containers.layerSize({ hostId, containerId: c.writer });
    expect(size.sizeRw).toBe(sizeRw);
    expect(size.sizeRootFs).toBe(sizeRootFs);
    expect(size.sizeRw).toBeGreaterThan(0);
    expect(size.imageSize).toBe(sizeRootFs! - sizeRw!);
  });

  it("commits to a new image with CMD and ENV changes, visible to Docker and in Berth's images at once", async () => {
    const operator = await callerFor(t.server, users.operator);
    const result = await operator.containers.commit({
      hostId,
      containerId: c.writer,
      repository: COMMIT_REPO,
      tag: "v1",
      comment: "committed by the test",
      author: "Berth test <test@berth.test>",
      changes: ['CMD ["sh", "-c", "cat /data/nested/hello.txt"]', "ENV MODE=committed"],
    });
    const inspect = JSON.parse(await dockerCli(["image", "inspect", `${COMMIT_REPO}:v1`]))[0];
    expect(inspect.Id).toBe(result.imageId);
    expect(inspect.Config.Cmd).toEqual(["sh", "-c", "cat /data/nested/hello.txt"]);
    expect(inspect.Config.Env).toContain("MODE=committed");
    expect(inspect.Comment).toBe("committed by the test");
    expect(inspect.Author).toBe("Berth test <test@berth.test>");
    // The image holds the file the container wrote.
    expect(await dockerCli(["run", "--rm", "--label", LABEL, `${COMMIT_REPO}:v1`])).toBe("hello");
    // In Berth's images right when the call returned (no waiting on a reconciliation).
    const images = await operator.images.list({ hostId });
    expect(images.find((i) => i.dockerId === result.imageId)?.repoTags).toContain(`${COMMIT_REPO}:v1`);
    // Audited.
    const audit = await t.server.db.auditEvent.findFirst({ where: { action: "containers.commit", hostId }, select: { outcome: true } });
    expect(audit?.outcome).toBe("SUCCESS");
  });

  it("refuses a commit to a viewer, and bad Dockerfile changes before Docker is asked", async () => {
    const viewer = await callerFor(t.server, users.viewer);
    await expect(viewer.containers.commit({ hostId, containerId: c.writer, repository: "x/y" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const operator = await callerFor(t.server, users.operator);
    await expect(operator.containers.commit({ hostId, containerId: c.writer, repository: "x/y", changes: ["RUN rm -rf /"] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(operator.containers.commit({ hostId, containerId: c.writer, repository: "Upper/Case" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });
});

describe("live stats", () => {
  it("streams samples that move for a busy container", async () => {
    const socket = await socketFor(users.viewer);
    const seen = collectStats(socket);
    const id = await openStats(socket, c.busy);
    const samples = await waitFor(() => (seen.of(id).filter((s) => s.cpuPercent !== null).length >= 3 ? seen.of(id) : null), {
      timeoutMs: 20_000,
      what: "three stats samples",
    });
    const withCpu = samples.filter((s) => s.cpuPercent !== null);
    // A busy loop keeps (most of) one core busy.
    expect(Math.max(...withCpu.map((s) => s.cpuPercent!))).toBeGreaterThan(20);
    expect(new Set(samples.map((s) => s.at)).size).toBe(samples.length);
    expect(samples.every((s) => s.memUsage > 0 && s.memLimit > 0 && s.pids >= 1)).toBe(true);
    await emitWithAck(socket, ClientEvent.statsClose, { subscriptionId: id });
  });

  it("serves N viewers from ONE agent stream, closed when the last one leaves", async () => {
    const hub = t.server.hub;
    await waitFor(() => hub.openStreamsOfType("container.stats") === 0, { what: "no stats stream open" });
    const viewers = await Promise.all([users.viewer, users.viewer, users.operator, users.operator, users.viewer].map(socketFor));
    const collected = viewers.map(collectStats);
    const ids: string[] = [];
    for (const socket of viewers) ids.push(await openStats(socket, c.busy));
    expect(t.server.deps.stats.viewers(hostId, c.busy)).toBe(5);
    expect(hub.openStreamsOfType("container.stats")).toBe(1);
    await waitFor(() => collected.every((seen, i) => seen.of(ids[i]!).length >= 2), { timeoutMs: 20_000, what: "samples at every viewer" });
    // Everyone sees the same samples (one stream fanned out).
    const last = collected[0]!.of(ids[0]!).at(-1)!.at;
    await waitFor(() => collected.every((seen, i) => seen.of(ids[i]!).some((s) => s.at === last)), { what: "the same sample at every viewer" });
    for (const [i, socket] of viewers.slice(0, 4).entries()) await emitWithAck(socket, ClientEvent.statsClose, { subscriptionId: ids[i] });
    expect(hub.openStreamsOfType("container.stats")).toBe(1);
    // The last viewer leaves by closing its tab.
    viewers[4]!.disconnect();
    await waitFor(() => hub.openStreamsOfType("container.stats") === 0, { what: "the agent stream closed" });
    expect(t.server.deps.stats.viewers(hostId, c.busy)).toBe(0);
  });

  it("streams the host's totals over its running containers", async () => {
    const socket = await socketFor(users.viewer);
    const seen = collectStats(socket);
    const id = await openStats(socket, null);
    const samples = await waitFor(() => (seen.of(id).some((s) => (s.containers ?? 0) >= 2 && (s.cpuPercent ?? 0) > 20) ? seen.of(id) : null), {
      timeoutMs: 30_000,
      what: "a host total covering the busy container",
    });
    // No upper bound against `docker ps`: other test files share this dockerd and start and remove containers meanwhile.
    expect(samples.every((s) => Number.isInteger(s.containers) && s.memUsage > 0)).toBe(true);
    await emitWithAck(socket, ClientEvent.statsClose, { subscriptionId: id });
  });

  it("refuses stats of another host's container to a caller without access, and unknown containers", async () => {
    const socket = await socketFor(users.viewer);
    const ack = await emitWithAck(socket, ClientEvent.statsOpen, { hostId, containerId: "0".repeat(64) });
    expect(ack).toMatchObject({ ok: false, code: "NOT_FOUND" });
  });
});

describe("lifecycle history", () => {
  it("keeps start, die with exit code, kill with signal and oom, after the container is removed", async () => {
    const exits = await runTestContainer({ name: `page-exit-${suffix}`, labels: label, cmd: ["sh", "-c", "exit 3"], detach: false }).catch(() => "");
    const exitId = exits || (await dockerCli(["ps", "-aq", "--no-trunc", "--filter", `name=page-exit-${suffix}`]));
    const killed = await runTestContainer({ name: `page-killed-${suffix}`, labels: label });
    await dockerCli(["kill", "--signal", "KILL", killed]);
    const oomId = await dockerCli([
      "run", "-d", "--label", LABEL, "--name", `page-oom-${suffix}`, "--memory", "16m", "--memory-swap", "16m",
      TEST_IMAGE, "sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    ]);
    await waitFor(async () => (await dockerCli(["inspect", "--format", "{{.State.Status}}", oomId])) === "exited", { timeoutMs: 20_000, what: "the OOM kill" });
    // Oracle: Docker's own event log for these containers.
    const dockerActions = async (id: string) =>
      (await dockerCli(["events", "--since", "5m", "--until", "0s", "--filter", `container=${id}`, "--format", "{{.Action}}"])).split("\n").filter(Boolean);
    const oomActions = await waitFor(async () => {
      const actions = await dockerActions(oomId);
      return actions.includes("die") ? actions : null;
    }, { what: "Docker's die event of the OOM container" });
    expect(oomActions).toContain("oom");

    const viewer = await callerFor(t.server, users.viewer);
    const history = (id: string) => viewer.containers.history({ hostId, containerId: id });
    const exitHistory = await waitFor(async () => {
      const h = await history(exitId);
      return h.some((e) => e.action === "die") ? h : null;
    }, { what: "the exit's history" });
    expect(exitHistory.map((e) => e.action)).toEqual(expect.arrayContaining(["create", "start", "die"]));
    expect(exitHistory.find((e) => e.action === "die")?.exitCode).toBe(3);
    expect(exitHistory.find((e) => e.action === "start")?.name).toBe(`page-exit-${suffix}`);

    const killHistory = await waitFor(async () => {
      const h = await history(killed);
      return h.some((e) => e.action === "die") ? h : null;
    }, { what: "the kill's history" });
    expect(killHistory.find((e) => e.action === "kill")?.signal).toBe("9");
    expect(killHistory.find((e) => e.action === "die")?.exitCode).toBe(137);

    const oomHistory = await waitFor(async () => {
      const h = await history(oomId);
      return h.some((e) => e.action === "die") ? h : null;
    }, { what: "the OOM's history" });
    expect(oomHistory.map((e) => e.action)).toContain("oom");
    // Newest first.
    const times = oomHistory.map((e) => e.at.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));

    // Removed: the container row goes, its history stays (with its destroy).
    await dockerCli(["rm", "--force", exitId]);
    await waitFor(async () => !(await t.server.db.container.findFirst({ where: { hostId, dockerId: exitId } })), { what: "the removal in the mirror" });
    const after = await waitFor(async () => {
      const h = await history(exitId);
      return h.some((e) => e.action === "destroy") ? h : null;
    }, { what: "the destroy event" });
    expect(after.find((e) => e.action === "die")?.exitCode).toBe(3);
    // And the host lists it among its removed containers, so its page stays reachable.
    const removed = await viewer.containers.removed({ hostId });
    expect(removed.find((r) => r.containerId === exitId)?.name).toBe(`page-exit-${suffix}`);
    expect(removed.map((r) => r.containerId)).not.toContain(killed);
    await expect(viewer.containers.byId({ hostId, containerId: exitId })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
