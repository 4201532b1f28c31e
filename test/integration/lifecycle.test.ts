/**
 * Every lifecycle action through Berth (tRPC → service → agent → the real
 * dockerd), checked with Docker's own CLI as the oracle (`docker inspect`),
 * and the bulk action on a selection spanning two real daemons, including an
 * item on a host the caller may not act on.
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
import { dockerCli, removeContainersByLabel, runTestContainer, startExtraDockerHost, TEST_IMAGE, type ExtraDockerHost } from "../infra/docker.ts";

const LABEL = "berth.test=lifecycle";
const labels = { "berth.test": "lifecycle" };
const suffix = Math.random().toString(36).slice(2, 8);
const n = (name: string) => `lc-${name}-${suffix}`;

let t: TestServer;
let second: ExtraDockerHost;
const agents: TestAgent[] = [];
let admin: TestUser;
let operator: TestUser;
const hostIds = { main: "", second: "" };

/** `docker inspect -f` on a daemon: the oracle for every assertion below. */
async function inspect(id: string, format: string, host?: string): Promise<string> {
  return dockerCli(["inspect", "--format", format, id], { host });
}

/** The text the Docker CLI prints for the same refusal, without its "Error response from daemon: " prefix. */
async function cliError(args: string[]): Promise<string> {
  try {
    await dockerCli(args);
  } catch (error) {
    const text = (error as Error).message;
    const at = text.indexOf("Error response from daemon: ");
    // The daemon's text is one line; the CLI may add a line of its own after it ("Error: failed to rename ...").
    if (at >= 0) return text.slice(at + "Error response from daemon: ".length).split("\n")[0]!.trim();
    return text;
  }
  throw new Error(`docker ${args.join(" ")} unexpectedly succeeded`);
}

/** Waits until Berth's mirror has the container (the agent reported it). */
async function known(hostId: string, id: string) {
  await waitFor(() => t.server.db.container.findUnique({ where: { hostId_dockerId: { hostId, dockerId: id } }, select: { name: true } }), {
    timeoutMs: 20_000,
    what: `container ${id} in the mirror`,
  });
}

async function run(name: string, cmd?: string[], host?: { key: "main" | "second"; docker?: string }) {
  const id = await runTestContainer({ name, labels, cmd, host: host?.docker });
  await known(hostIds[host?.key ?? "main"], id);
  return id;
}

beforeAll(async () => {
  second = await startExtraDockerHost("lifecycle2");
  await removeContainersByLabel(LABEL);
  t = await startTestServer({ name: "lifecycle" });
  admin = await createSignedInUser(t.server, { role: "admin" });
  operator = await createSignedInUser(t.server, { role: "user" });
  // The operator's team owns only the main host; the second belongs to another team.
  const [mine, theirs] = await Promise.all([
    t.server.db.team.create({ data: { name: `ops-${suffix}` } }),
    t.server.db.team.create({ data: { name: `other-${suffix}` } }),
  ]);
  await t.server.db.teamMember.create({ data: { teamId: mine.id, userId: operator.id, roleId: "role_operator" } });
  for (const [key, dockerHost, teamId] of [
    ["main", undefined, mine.id],
    ["second", second.dockerHost, theirs.id],
  ] as const) {
    const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: `${key}-${suffix}`, teamIds: [teamId], ttlMinutes: 5, serverUrl: t.url });
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

describe("stop with a timeout", () => {
  // The process traps SIGTERM and needs 3 s to exit with 42: a long enough timeout lets it, a short one ends in SIGKILL (137).
  const SLOW_EXIT = ["sh", "-c", "trap 'sleep 3; exit 42' TERM; while true; do sleep 1; done"];

  it("waits as long as asked before Docker kills", async () => {
    const id = await run(n("stop-long"), SLOW_EXIT);
    await (await callerFor(t.server, admin)).containers.stop({ hostId: hostIds.main, containerId: id, timeoutSeconds: 30 });
    expect(await inspect(id, "{{.State.Status}} {{.State.ExitCode}}")).toBe("exited 42");
  });

  it("kills when the timeout runs out", async () => {
    const id = await run(n("stop-short"), SLOW_EXIT);
    await (await callerFor(t.server, admin)).containers.stop({ hostId: hostIds.main, containerId: id, timeoutSeconds: 0 });
    expect(await inspect(id, "{{.State.Status}} {{.State.ExitCode}}")).toBe("exited 137");
  });
});

describe("kill with a signal", () => {
  it("sends SIGKILL by default: exit code 137", async () => {
    const id = await run(n("kill-default"));
    await (await callerFor(t.server, admin)).containers.kill({ hostId: hostIds.main, containerId: id });
    await waitFor(async () => (await inspect(id, "{{.State.Status}}")) === "exited", { what: "killed" });
    expect(await inspect(id, "{{.State.ExitCode}}")).toBe("137");
  });

  it("sends the named signal, which the container's trap sees", async () => {
    const id = await run(n("kill-usr1"), ["sh", "-c", "trap 'exit 7' USR1; while true; do sleep 1; done"]);
    await (await callerFor(t.server, admin)).containers.kill({ hostId: hostIds.main, containerId: id, signal: "USR1" });
    await waitFor(async () => (await inspect(id, "{{.State.Status}}")) === "exited", { what: "exited after USR1" });
    expect(await inspect(id, "{{.State.ExitCode}}")).toBe("7");
  });

  it("takes a signal number too", async () => {
    const id = await run(n("kill-15"), ["sh", "-c", "trap 'exit 15' TERM; while true; do sleep 1; done"]);
    await (await callerFor(t.server, admin)).containers.kill({ hostId: hostIds.main, containerId: id, signal: "15" });
    await waitFor(async () => (await inspect(id, "{{.State.Status}}")) === "exited", { what: "exited after signal 15" });
    expect(await inspect(id, "{{.State.ExitCode}}")).toBe("15");
  });

  it("refuses what is not a signal with a 400, before Docker is asked", async () => {
    const caller = await callerFor(t.server, admin);
    for (const signal of ["SIGFOO", "0", "65", "KILL; rm -rf /", ""]) {
      await expect(caller.containers.kill({ hostId: hostIds.main, containerId: "f".repeat(64), signal }), signal).rejects.toMatchObject({ code: "BAD_REQUEST" });
    }
  });
});

describe("pause and unpause", () => {
  it("freezes and thaws the container", async () => {
    const id = await run(n("pause"));
    const caller = await callerFor(t.server, admin);
    await caller.containers.pause({ hostId: hostIds.main, containerId: id });
    expect(await inspect(id, "{{.State.Status}} {{.State.Paused}}")).toBe("paused true");
    await waitFor(async () => (await caller.containers.byId({ hostId: hostIds.main, containerId: id })).state === "paused", { what: "mirror shows paused" });
    await caller.containers.unpause({ hostId: hostIds.main, containerId: id });
    expect(await inspect(id, "{{.State.Status}} {{.State.Paused}}")).toBe("running false");
  });

  it("shows Docker's own refusal verbatim", async () => {
    const id = await run(n("unpause-running"));
    const expected = await cliError(["unpause", id]);
    await expect((await callerFor(t.server, admin)).containers.unpause({ hostId: hostIds.main, containerId: id })).rejects.toMatchObject({
      code: "UNPROCESSABLE_CONTENT",
      message: expected,
    });
  });
});

describe("rename", () => {
  it("gives the container its new name", async () => {
    const id = await run(n("rename-from"));
    const caller = await callerFor(t.server, admin);
    await caller.containers.rename({ hostId: hostIds.main, containerId: id, name: n("rename-to") });
    expect(await inspect(id, "{{.Name}}")).toBe(`/${n("rename-to")}`);
    await waitFor(async () => (await caller.containers.byId({ hostId: hostIds.main, containerId: id })).name === n("rename-to"), { what: "mirror renamed" });
  });

  it("refuses names Docker would refuse, with a 400", async () => {
    const caller = await callerFor(t.server, admin);
    for (const name of ["x", "-leading-dash", "has space", "slash/inside", "ünïcode", "a".repeat(256)]) {
      await expect(caller.containers.rename({ hostId: hostIds.main, containerId: "f".repeat(64), name }), name).rejects.toMatchObject({ code: "BAD_REQUEST" });
    }
  });

  it("passes on Docker's conflict text when the name is taken", async () => {
    const taken = await run(n("taken"));
    const id = await run(n("wants-taken"));
    const expected = await cliError(["rename", id, n("taken")]);
    expect(expected).toContain("already in use");
    await expect((await callerFor(t.server, admin)).containers.rename({ hostId: hostIds.main, containerId: id, name: n("taken") })).rejects.toMatchObject({
      message: expected,
    });
    expect(await inspect(taken, "{{.Name}}")).toBe(`/${n("taken")}`);
  });
});

describe("docker update", () => {
  it("changes memory, CPU and the restart policy", async () => {
    const id = await run(n("update"));
    await (await callerFor(t.server, admin)).containers.update({
      hostId: hostIds.main,
      containerId: id,
      memory: "64m",
      memorySwap: "128m",
      cpus: 0.5,
      cpuShares: 512,
      restartPolicy: { name: "on-failure", maximumRetryCount: 3 },
    });
    expect(await inspect(id, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}")).toBe(
      `${64 * 1024 * 1024} ${128 * 1024 * 1024} 500000000 512`,
    );
    expect(await inspect(id, "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}")).toBe("on-failure 3");
  });

  it("takes the same size spellings as the Docker CLI", async () => {
    const id = await run(n("update-sizes"));
    const caller = await callerFor(t.server, admin);
    for (const size of ["100m", "104857600", "0.5g", "200MiB", "300mb"]) {
      await caller.containers.update({ hostId: hostIds.main, containerId: id, memory: size, memorySwap: "-1" });
      const ours = await inspect(id, "{{.HostConfig.Memory}}");
      await dockerCli(["update", "--memory", size, "--memory-swap", "-1", id]);
      expect(await inspect(id, "{{.HostConfig.Memory}}"), size).toBe(ours);
    }
  });

  it("refuses bad input with a 400 and shows Docker's own refusal verbatim", async () => {
    const id = await run(n("update-bad"));
    const caller = await callerFor(t.server, admin);
    for (const memory of ["lots", "12x", "-5m", ""]) {
      await expect(caller.containers.update({ hostId: hostIds.main, containerId: id, memory }), memory).rejects.toMatchObject({ code: "BAD_REQUEST" });
    }
    await expect(caller.containers.update({ hostId: hostIds.main, containerId: id })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(
      caller.containers.update({ hostId: hostIds.main, containerId: id, restartPolicy: { name: "sometimes" as "always" } }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    const expected = await cliError(["update", "--memory", "1m", id]);
    await expect(caller.containers.update({ hostId: hostIds.main, containerId: id, memory: "1m" })).rejects.toMatchObject({ message: expected });
  });
});

describe("remove", () => {
  it("refuses a running container without force, with Docker's text", async () => {
    const id = await run(n("rm-running"));
    const expected = await cliError(["rm", id]);
    await expect((await callerFor(t.server, admin)).containers.remove({ hostId: hostIds.main, containerId: id })).rejects.toMatchObject({ message: expected });
    expect(await inspect(id, "{{.State.Status}}")).toBe("running");
  });

  it("removes a running container with force, and Berth forgets it", async () => {
    const id = await run(n("rm-force"));
    const caller = await callerFor(t.server, admin);
    await caller.containers.remove({ hostId: hostIds.main, containerId: id, force: true });
    await expect(inspect(id, "{{.Id}}")).rejects.toThrow(/No such/);
    await waitFor(async () => !(await t.server.db.container.findUnique({ where: { hostId_dockerId: { hostId: hostIds.main, dockerId: id } } })), {
      what: "mirror forgot the container",
    });
  });

  it("removes anonymous volumes only when asked", async () => {
    const caller = await callerFor(t.server, admin);
    const volumeOf = async (id: string) => inspect(id, "{{range .Mounts}}{{.Name}}{{end}}");
    const create = async (name: string) => {
      const id = await dockerCli(["create", "--label", LABEL, "--name", name, "-v", "/data", TEST_IMAGE, "sleep", "3600"]);
      await known(hostIds.main, id);
      return id;
    };
    const keep = await create(n("rm-keep-vol"));
    const keptVolume = await volumeOf(keep);
    expect(keptVolume).toMatch(/^[0-9a-f]{64}$/);
    await caller.containers.remove({ hostId: hostIds.main, containerId: keep });
    expect(await dockerCli(["volume", "inspect", "--format", "{{.Name}}", keptVolume])).toBe(keptVolume);
    await dockerCli(["volume", "rm", keptVolume]);

    const drop = await create(n("rm-drop-vol"));
    const droppedVolume = await volumeOf(drop);
    await caller.containers.remove({ hostId: hostIds.main, containerId: drop, removeVolumes: true });
    await expect(dockerCli(["volume", "inspect", droppedVolume])).rejects.toThrow(/no such volume/i);
  });

  it("needs container.create: an Operator is refused and the container stays", async () => {
    const id = await run(n("rm-operator"));
    await expect((await callerFor(t.server, operator)).containers.remove({ hostId: hostIds.main, containerId: id, force: true })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    expect(await inspect(id, "{{.State.Status}}")).toBe("running");
  });
});

describe("every action is audited with Docker's outcome", () => {
  it("records success and failure rows with the container's name", async () => {
    const rows = await t.server.db.auditEvent.findMany({
      where: { action: { in: ["containers.kill", "containers.rename", "containers.unpause"] }, actorId: admin.id },
      select: { action: true, outcome: true, targetName: true, error: true },
    });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: "containers.kill", outcome: "SUCCESS", targetName: n("kill-usr1") }),
      expect.objectContaining({ action: "containers.unpause", outcome: "FAILURE", targetName: n("unpause-running") }),
    ]));
  });
});

describe("bulk actions across two hosts", () => {
  it("stops a selection on both hosts and answers item by item", async () => {
    const mainIds = [await run(n("bulk-m1")), await run(n("bulk-m2"))];
    const secondIds = [await run(n("bulk-s1"), undefined, { key: "second", docker: second.dockerHost })];
    const items = [...mainIds.map((id) => ({ hostId: hostIds.main, containerId: id })), ...secondIds.map((id) => ({ hostId: hostIds.second, containerId: id }))];
    const missing = { hostId: hostIds.second, containerId: "e".repeat(64) };
    const results = await (await callerFor(t.server, admin)).containers.bulk({ action: "stop", timeoutSeconds: 5, items: [...items, missing] });
    expect(results.map((r) => [r.containerId, r.ok])).toEqual([...items.map((i) => [i.containerId, true]), [missing.containerId, false]]);
    expect(results[3]).toMatchObject({ ok: false, code: "NOT_FOUND" });
    for (const id of mainIds) expect(await inspect(id, "{{.State.Status}}")).toBe("exited");
    for (const id of secondIds) expect(await inspect(id, "{{.State.Status}}", second.dockerHost)).toBe("exited");
  });

  it("never acts on an item on a host the caller may not operate; the others proceed", async () => {
    const mine = await run(n("bulk-op-mine"));
    const theirs = await run(n("bulk-op-theirs"), undefined, { key: "second", docker: second.dockerHost });
    const results = await (await callerFor(t.server, operator)).containers.bulk({
      action: "pause",
      items: [
        { hostId: hostIds.main, containerId: mine },
        { hostId: hostIds.second, containerId: theirs },
      ],
    });
    expect(results[0]).toMatchObject({ containerId: mine, ok: true });
    expect(results[1]).toMatchObject({ containerId: theirs, ok: false, code: "FORBIDDEN" });
    expect(await inspect(mine, "{{.State.Status}}")).toBe("paused");
    expect(await inspect(theirs, "{{.State.Status}}", second.dockerHost)).toBe("running");
    // One audit row per item: the refusal on the second host, the success on the main one.
    const rows = await t.server.db.auditEvent.findMany({
      where: { action: "containers.pause", actorId: operator.id, target: { in: [`containerId:${mine}`, `containerId:${theirs}`] } },
      select: { target: true, outcome: true, hostId: true },
    });
    expect(rows.map((r) => [r.target, r.outcome, r.hostId]).sort()).toEqual(
      [
        [`containerId:${mine}`, "SUCCESS", hostIds.main],
        [`containerId:${theirs}`, "DENIED", hostIds.second],
      ].sort(),
    );
    await dockerCli(["unpause", mine]);
  });

  it("checks the action's own permission per item: remove needs container.create", async () => {
    const mine = await run(n("bulk-op-rm"));
    const results = await (await callerFor(t.server, operator)).containers.bulk({ action: "remove", force: true, items: [{ hostId: hostIds.main, containerId: mine }] });
    expect(results[0]).toMatchObject({ ok: false, code: "FORBIDDEN" });
    expect(await inspect(mine, "{{.State.Status}}")).toBe("running");
  });

  it("refuses a malformed selection with a 400", async () => {
    const caller = await callerFor(t.server, admin);
    const item = { hostId: hostIds.main, containerId: "f".repeat(64) };
    await expect(caller.containers.bulk({ action: "stop", items: [] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.containers.bulk({ action: "stop", items: Array.from({ length: 201 }, (_, i) => ({ ...item, containerId: `${i}`.padStart(64, "a") })) })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    await expect(caller.containers.bulk({ action: "stop", items: [item, item] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.containers.bulk({ action: "rename" as "stop", items: [item] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.containers.bulk({ action: "kill", signal: "NOPE", items: [item] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });
});
