/**
 * Creating containers through Berth against the real dockerd: every option
 * read back with `docker inspect`, root-equivalent options behind
 * container.privileged, bind mounts only under the host's allowed paths,
 * Docker's own errors passed through, duplicate, and recreate that rolls back.
 */
import { mkdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TContainerCreateSpecInput } from "../../agent/protocol.ts";
import { createHost } from "../../server/services/hosts.ts";
import { callerFor, createSignedInUser, freePort as freePortOnHost, startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { dockerCli, removeContainersByLabel, TEST_IMAGE } from "../infra/docker.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const LABEL = "berth.test.create";
const NET_A = `berth-create-a-${suffix}`;
const NET_B = `berth-create-b-${suffix}`;
const VOL = `berth-create-vol-${suffix}`;
const ALLOWED = `/tmp/berth-create-allowed-${suffix}`;
const labels = { [LABEL]: suffix };

let t: TestServer;
let agent: TestAgent;
let hostId = "";
type Caller = Awaited<ReturnType<typeof callerFor>>;
let admin: Caller; // team Admin (built-in role): holds container.privileged
let creator: Caller; // custom role: host.view + container.create, no container.privileged
let operator: Caller; // built-in Operator

async function inspect(idOrName: string) {
  return JSON.parse(await dockerCli(["inspect", idOrName]))[0] as Record<string, any>;
}

function spec(name: string, extra: Partial<TContainerCreateSpecInput> = {}): TContainerCreateSpecInput {
  return { image: TEST_IMAGE, name: `${name}-${suffix}`, cmd: ["sleep", "3600"], init: true, labels, ...extra };
}

beforeAll(async () => {
  await mkdir(`${ALLOWED}/data`, { recursive: true });
  await dockerCli(["network", "create", NET_A]);
  await dockerCli(["network", "create", NET_B]);
  t = await startTestServer({ name: "create" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "builders" } });
  const role = await db.role.create({ data: { name: "Creator", permissions: ["host.view", "container.create"] } });
  const join = await createHost({ db, bus: t.server.deps.bus, name: "create", teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  const members = [
    ["admin", "role_admin"],
    ["creator", role.id],
    ["operator", "role_operator"],
  ] as const;
  const callers: Record<string, Caller> = {};
  for (const [who, roleId] of members) {
    const user = await createSignedInUser(t.server, { email: `${who}-${suffix}@example.test` });
    await db.teamMember.create({ data: { teamId: team.id, userId: user.id, roleId } });
    callers[who] = await callerFor(t.server, user);
  }
  ({ admin, creator, operator } = callers as Record<"admin" | "creator" | "operator", Caller>);
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
}, 120_000);

afterAll(async () => {
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(`${LABEL}=${suffix}`);
  for (const net of [NET_A, NET_B]) await dockerCli(["network", "rm", net]).catch(() => undefined);
  await dockerCli(["volume", "rm", VOL]).catch(() => undefined);
});

/** Waits until the server's mirror knows the container (actions on it look it up there). */
async function known(id: string) {
  await waitFor(async () => (await admin.containers.list({ hostId })).some((c) => c.dockerId === id), { what: `container ${id} in the mirror`, timeoutMs: 15_000 });
}

describe("create: every option, read back with docker inspect", () => {
  it("creates and starts a container with every option as asked", async () => {
    await admin.hosts.setBindPaths({ hostId, paths: [ALLOWED] });
    const port = await freePortOnHost();
    const { id } = await admin.containers.create({
      hostId,
      spec: spec("every", {
        env: ["GREETING=hello world", "EMPTY="],
        ports: [{ hostPort: String(port), containerPort: "80" }, { ip: "127.0.0.1", containerPort: "53", protocol: "udp" }],
        expose: ["9999"],
        volumes: [{ source: VOL, target: "/data" }, { target: "/anon" }, { source: `${ALLOWED}/data`, target: "/host", readOnly: true }],
        mounts: [{ type: "tmpfs", target: "/scratch", tmpfsSizeBytes: 1048576 }],
        user: "nobody",
        workdir: "/tmp",
        interactive: true,
        tty: true,
        restart: { name: "on-failure", maximumRetryCount: 2 },
        memoryBytes: 64 * 1024 * 1024,
        cpus: 0.5,
        cpuShares: 512,
        labels: { ...labels, tier: "web" },
        networks: [{ name: NET_A, aliases: ["web", "www"] }, { name: NET_B, aliases: ["api"] }],
        hostname: "box",
        dns: ["1.1.1.1"],
        dnsSearch: ["example.test"],
        extraHosts: ["db:10.0.0.5"],
        stopSignal: "SIGINT",
        stopTimeoutSeconds: 7,
        healthcheck: { test: ["CMD-SHELL", "true"], intervalMs: 5000, timeoutMs: 2000, retries: 2, startPeriodMs: 1000 },
        logDriver: "json-file",
        logOptions: { "max-size": "1m" },
        capAdd: ["NET_ADMIN"],
      }),
    });
    const c = await inspect(id);
    // Expected values are written out here, as Docker reports them.
    expect(c.Name).toBe(`/every-${suffix}`);
    expect(c.State.Running).toBe(true);
    expect(c.Config.Image).toBe(TEST_IMAGE);
    expect(c.Config.Cmd).toEqual(["sleep", "3600"]);
    expect(c.Config.Env).toEqual(expect.arrayContaining(["GREETING=hello world", "EMPTY="]));
    expect(c.Config.User).toBe("nobody");
    expect(c.Config.WorkingDir).toBe("/tmp");
    expect([c.Config.Tty, c.Config.OpenStdin]).toEqual([true, true]);
    expect(c.Config.Labels).toEqual({ [LABEL]: suffix, tier: "web" });
    expect(c.Config.Hostname).toBe("box");
    expect(c.Config.ExposedPorts).toEqual({ "80/tcp": {}, "53/udp": {}, "9999/tcp": {} });
    expect(c.Config.Volumes).toEqual({ "/anon": {} });
    expect(c.Config.StopSignal).toBe("SIGINT");
    expect(c.Config.StopTimeout).toBe(7);
    expect(c.Config.Healthcheck).toEqual({ Test: ["CMD-SHELL", "true"], Interval: 5e9, Timeout: 2e9, StartPeriod: 1e9, Retries: 2 });
    expect(c.HostConfig.PortBindings).toEqual({ "80/tcp": [{ HostIp: "", HostPort: String(port) }], "53/udp": [{ HostIp: "127.0.0.1", HostPort: "" }] });
    expect([...c.HostConfig.Binds].sort()).toEqual([`${ALLOWED}/data:/host:ro`, `${VOL}:/data`]);
    expect(c.HostConfig.Mounts).toEqual([{ Type: "tmpfs", Target: "/scratch", TmpfsOptions: { SizeBytes: 1048576 } }]);
    expect(c.HostConfig.RestartPolicy).toEqual({ Name: "on-failure", MaximumRetryCount: 2 });
    expect(c.HostConfig.Memory).toBe(67108864);
    expect(c.HostConfig.NanoCpus).toBe(500000000);
    expect(c.HostConfig.CpuShares).toBe(512);
    expect(c.HostConfig.Dns).toEqual(["1.1.1.1"]);
    expect(c.HostConfig.DnsSearch).toEqual(["example.test"]);
    expect(c.HostConfig.ExtraHosts).toEqual(["db:10.0.0.5"]);
    expect(c.HostConfig.Init).toBe(true);
    expect(c.HostConfig.LogConfig).toEqual({ Type: "json-file", Config: { "max-size": "1m" } });
    expect(c.HostConfig.CapAdd).toEqual(["CAP_NET_ADMIN"]);
    expect(c.HostConfig.NetworkMode).toBe(NET_A);
    const nets = c.NetworkSettings.Networks as Record<string, { Aliases: string[] }>;
    expect(Object.keys(nets).sort()).toEqual([NET_A, NET_B].sort());
    expect(nets[NET_A]!.Aliases).toEqual(expect.arrayContaining(["web", "www"]));
    expect(nets[NET_B]!.Aliases).toEqual(expect.arrayContaining(["api"]));
    // The published port really answers to Docker's port mapping.
    expect(c.NetworkSettings.Ports["80/tcp"][0].HostPort).toBe(String(port));
  });

  it("--rm, privileged, devices, host namespaces and no start", async () => {
    const { id } = await admin.containers.create({
      hostId,
      spec: spec("root", { privileged: true, devices: [{ pathOnHost: "/dev/null", pathInContainer: "/dev/mynull" }], pidMode: "host", ipcMode: "host", autoRemove: true, start: false }),
    });
    const c = await inspect(id);
    expect(c.State.Status).toBe("created");
    expect([c.HostConfig.Privileged, c.HostConfig.AutoRemove, c.HostConfig.PidMode, c.HostConfig.IpcMode]).toEqual([true, true, "host", "host"]);
    expect(c.HostConfig.Devices).toEqual([{ PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rwm" }]);
  });
});

describe("root-equivalent options need container.privileged", () => {
  const cases: Array<[string, Partial<TContainerCreateSpecInput>]> = [
    ["privileged", { privileged: true }],
    ["cap-add", { capAdd: ["SYS_ADMIN"] }],
    ["device", { devices: [{ pathOnHost: "/dev/null", pathInContainer: "/dev/x" }] }],
    ["host network", { networks: [{ name: "host" }] }],
    ["host pid", { pidMode: "host" }],
    ["host ipc", { ipcMode: "host" }],
    ["host bind mount", { volumes: [{ source: "/etc", target: "/x" }] }],
  ];
  it.each(cases)("%s is refused without it (custom role with container.create)", async (what, extra) => {
    const name = `priv-${what.replace(/\s/g, "-")}`;
    await expect(creator.containers.create({ hostId, spec: spec(name, extra) })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining('"container.privileged"'),
    });
    await expect(dockerCli(["inspect", `${name}-${suffix}`])).rejects.toThrow();
  });

  it("an Operator cannot create at all, and the Admin role holds container.privileged", async () => {
    await expect(operator.containers.create({ hostId, spec: spec("op", {}) })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const { id } = await admin.containers.create({ hostId, spec: spec("cap", { capAdd: ["NET_ADMIN"], start: false }) });
    expect((await inspect(id)).HostConfig.CapAdd).toEqual(["CAP_NET_ADMIN"]);
  });

  it("plain options and named volumes need no extra permission", async () => {
    const { id } = await creator.containers.create({ hostId, spec: spec("plain", { volumes: [{ source: VOL, target: "/data" }], env: ["A=1"] }) });
    expect((await inspect(id)).State.Running).toBe(true);
  });
});

describe("bind mounts only under the host's allowed paths", () => {
  it("refuses any bind mount by default, even for an Admin", async () => {
    await admin.hosts.setBindPaths({ hostId, paths: [] });
    await expect(admin.containers.create({ hostId, spec: spec("bind0", { volumes: [{ source: `${ALLOWED}/data`, target: "/d" }] }) })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("this host allows no bind mounts"),
    });
  });

  it("allows paths under an allowed one, refuses outside it (also via --mount and ..)", async () => {
    await admin.hosts.setBindPaths({ hostId, paths: [`${ALLOWED}/`] });
    expect((await admin.hosts.byId({ hostId })).allowedBindPaths).toEqual([ALLOWED]);
    const { id } = await admin.containers.create({ hostId, spec: spec("bind1", { mounts: [{ type: "bind", source: `${ALLOWED}/data`, target: "/d", readOnly: true }] }) });
    expect((await inspect(id)).HostConfig.Mounts).toEqual([{ Type: "bind", Source: `${ALLOWED}/data`, Target: "/d", ReadOnly: true }]);
    for (const source of ["/etc", `${ALLOWED}-other`, `${ALLOWED}/../etc`]) {
      await expect(admin.containers.create({ hostId, spec: spec("bind2", { mounts: [{ type: "bind", source, target: "/d" }] }) })).rejects.toMatchObject({
        code: "FORBIDDEN",
        message: expect.stringContaining(`only under ${ALLOWED}`),
      });
    }
  });

  it("only host.manage holders set the allowed paths", async () => {
    await expect(creator.hosts.setBindPaths({ hostId, paths: ["/"] })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(admin.hosts.setBindPaths({ hostId, paths: ["relative/path"] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });
});

describe("Docker's errors, verbatim", () => {
  it("name taken, port allocated, unknown image, bad memory", async () => {
    await admin.containers.create({ hostId, spec: spec("taken", {}) });
    await expect(admin.containers.create({ hostId, spec: spec("taken", {}) })).rejects.toMatchObject({
      message: expect.stringMatching(/^Conflict\. The container name "\/taken-\w+" is already in use/),
    });
    const port = await freePortOnHost();
    await admin.containers.create({ hostId, spec: spec("port-a", { ports: [{ hostPort: String(port), containerPort: "80" }] }) });
    await expect(admin.containers.create({ hostId, spec: spec("port-b", { ports: [{ hostPort: String(port), containerPort: "80" }] }) })).rejects.toMatchObject({
      message: expect.stringContaining("port is already allocated"),
    });
    // The failed container is removed, so the same form can be sent again.
    await expect(dockerCli(["inspect", `port-b-${suffix}`])).rejects.toThrow();
    await expect(admin.containers.create({ hostId, spec: spec("img", { image: "berth-test/not-here:1.0" }) })).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: "Image berth-test/not-here:1.0 is not on this host; pull it first",
    });
    await expect(admin.containers.create({ hostId, spec: spec("mem", { memoryBytes: 1024 }) })).rejects.toMatchObject({
      message: expect.stringContaining("Minimum memory limit allowed is 6MB"),
    });
  });
});

describe("bad input is a clear 400 for each field", () => {
  const bad: Array<[string, Partial<TContainerCreateSpecInput>]> = [
    ["image", { image: "has space" }],
    ["name", { name: "-bad" }],
    ["env", { env: ["=nope"] }],
    ["ports.containerPort", { ports: [{ containerPort: "70000" }] }],
    ["ports.hostPort", { ports: [{ hostPort: "abc", containerPort: "80" }] }],
    ["ports.ip", { ports: [{ ip: "not-an-ip", containerPort: "80" }] }],
    ["ports.protocol", { ports: [{ containerPort: "80", protocol: "http" as "tcp" }] }],
    ["volumes.target", { volumes: [{ source: VOL, target: "relative" }] }],
    ["volumes.source", { volumes: [{ source: "./rel", target: "/x" }] }],
    ["mounts.type", { mounts: [{ type: "nfs" as "bind", target: "/x" }] }],
    ["workdir", { workdir: "tmp" }],
    ["restart", { restart: { name: "always", maximumRetryCount: 3 } }],
    ["memoryBytes", { memoryBytes: -1 }],
    ["cpus", { cpus: 0 }],
    ["cpuShares", { cpuShares: -5 }],
    ["hostname", { hostname: "bad host" }],
    ["dns", { dns: ["not-an-ip"] }],
    ["extraHosts", { extraHosts: ["nocolon"] }],
    ["stopSignal", { stopSignal: "sig term" }],
    ["stopTimeoutSeconds", { stopTimeoutSeconds: 1.5 }],
    ["healthcheck.retries", { healthcheck: { test: ["CMD", "true"], retries: -1 } }],
    ["logDriver", { logDriver: "Bad Driver" }],
    ["capAdd", { capAdd: ["NET ADMIN"] }],
    ["devices", { devices: [{ pathOnHost: "/dev/null", pathInContainer: "/x", permissions: "rx" }] }],
    ["pidMode", { pidMode: "container:x" as "host" }],
  ];
  it.each(bad)("%s", async (field, extra) => {
    const error = await admin.containers.create({ hostId, spec: spec("bad", extra) }).then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(error?.code).toBe("BAD_REQUEST");
    expect(error?.message).toContain(`"${field.split(".")[0]}"`);
  });
});

describe("duplicate and recreate", () => {
  it("duplicates a container under a new name, with a random host port", async () => {
    const port = await freePortOnHost();
    const { id } = await admin.containers.create({ hostId, spec: spec("orig", { env: ["SECRET_TOKEN=s3cr3t"], ports: [{ hostPort: String(port), containerPort: "80" }], memoryBytes: 32 * 1024 * 1024 }) });
    await known(id);
    const copy = await admin.containers.duplicate({ hostId, containerId: id, name: `copy-${suffix}` });
    const [a, b] = [await inspect(id), await inspect(copy.id)];
    expect(b.Name).toBe(`/copy-${suffix}`);
    expect(b.State.Running).toBe(true);
    expect(b.Config.Env).toEqual(a.Config.Env);
    expect(b.Config.Cmd).toEqual(["sleep", "3600"]);
    expect(b.Config.Labels).toEqual(a.Config.Labels);
    expect(b.HostConfig.Memory).toBe(32 * 1024 * 1024);
    expect(b.HostConfig.Init).toBe(true);
    expect(b.HostConfig.PortBindings).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "" }] });
  });

  it("shows the spec for editing with secrets masked, and keeps masked values on recreate", async () => {
    const { id } = await admin.containers.create({ hostId, spec: spec("edit", { env: ["API_TOKEN=abc123", "MODE=old"] }) });
    await known(id);
    const current = await admin.containers.spec({ hostId, containerId: id });
    expect(current.name).toBe(`edit-${suffix}`);
    expect(current.spec.env).toEqual(["API_TOKEN=[redacted]", "MODE=[redacted]"]);
    const edited = { ...current.spec, env: ["API_TOKEN=[redacted]", "MODE=new"] };
    const { id: newId } = await admin.containers.recreate({ hostId, containerId: id, spec: edited, watchMs: 500 });
    expect(newId).not.toBe(id);
    const c = await inspect(`edit-${suffix}`);
    expect(c.Id).toBe(newId);
    expect(c.State.Running).toBe(true);
    expect(c.Config.Env).toEqual(expect.arrayContaining(["API_TOKEN=abc123", "MODE=new"]));
    await expect(dockerCli(["inspect", id])).rejects.toThrow(); // the old one is gone
  });

  const failing: Array<[string, Partial<TContainerCreateSpecInput>, RegExp]> = [
    // Without --init, Docker itself fails to start it (with init, tini starts and the command exits 127).
    ["a command the image does not have", { cmd: ["no-such-command-berth"], init: false }, /executable file not found|no such file/],
    ["a command that exits at once", { cmd: ["sh", "-c", "exit 3"] }, /exited with code 3/],
  ];
  it.each(failing)("rolls back when the new one cannot run: %s", async (_what, change, reason) => {
    const name = `rb-${Math.random().toString(36).slice(2, 6)}`;
    const { id } = await admin.containers.create({ hostId, spec: spec(name, { env: ["V=1"] }) });
    await known(id);
    const current = await admin.containers.spec({ hostId, containerId: id });
    await expect(admin.containers.recreate({ hostId, containerId: id, spec: { ...current.spec, ...change }, watchMs: 1500 })).rejects.toMatchObject({
      message: expect.stringMatching(reason),
    });
    const c = await inspect(`${name}-${suffix}`);
    expect(c.Id).toBe(id);
    expect(c.State.Running).toBe(true);
    expect(c.Config.Env).toContain("V=1");
    const leftovers = (await dockerCli(["ps", "-a", "--filter", `label=${LABEL}=${suffix}`, "--format", "{{.Names}}"])).split("\n").filter((n) => n.startsWith(`${name}-`));
    expect(leftovers).toEqual([`${name}-${suffix}`]);
  });

  it("rolls back when the new one's port is already allocated", async () => {
    const port = await freePortOnHost();
    await admin.containers.create({ hostId, spec: spec("holder", { ports: [{ hostPort: String(port), containerPort: "80" }] }) });
    const { id } = await admin.containers.create({ hostId, spec: spec("mover", {}) });
    await known(id);
    const current = await admin.containers.spec({ hostId, containerId: id });
    await expect(
      admin.containers.recreate({ hostId, containerId: id, spec: { ...current.spec, ports: [{ ip: "", hostPort: String(port), containerPort: "80", protocol: "tcp" }] }, watchMs: 500 }),
    ).rejects.toMatchObject({ message: expect.stringContaining("port is already allocated") });
    const c = await inspect(`mover-${suffix}`);
    expect([c.Id, c.State.Running]).toEqual([id, true]);
  });

  it("a recreate that adds a privileged option needs the permission", async () => {
    const { id } = await creator.containers.create({ hostId, spec: spec("plain2", {}) });
    await known(id);
    const current = await creator.containers.spec({ hostId, containerId: id });
    await expect(creator.containers.recreate({ hostId, containerId: id, spec: { ...current.spec, privileged: true } })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await inspect(id)).State.Running).toBe(true);
  });
});

describe("audit", () => {
  it("records creates with environment values masked", async () => {
    await admin.containers.create({ hostId, spec: spec("audited", { env: ["DB_PASSWORD=hunter2", "PLAIN=visible"] }) });
    const event = await waitFor(async () => {
      const events = await t.server.db.auditEvent.findMany({ where: { action: "containers.create", outcome: "SUCCESS" }, select: { params: true } });
      return events.find((e) => JSON.stringify(e.params).includes(`audited-${suffix}`));
    });
    const text = JSON.stringify(event.params);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("visible");
    expect(text).toContain("DB_PASSWORD=[redacted]");
  });
});
