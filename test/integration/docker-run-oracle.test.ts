/**
 * The Docker CLI is the oracle for Berth's `docker run` parser and create path:
 * each real-world line below runs once through the real `docker` CLI (in bash,
 * so quoting is the shell's) and once through Berth (parseDockerRun → tRPC
 * containers.create → agent → dockerd). `docker inspect` of the two containers
 * must agree on every field that matters. The expected answer is what Docker
 * made of the line, never what Berth's code thinks.
 */
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDockerRun } from "../../app/_lib/docker-run/parse.ts";
import { createHost } from "../../server/services/hosts.ts";
import { callerFor, createSignedInUser, startTestAgent, startTestServer, waitForSnapshot, type TestAgent, type TestServer } from "../infra/berth.ts";
import { dockerCli, removeContainersByLabel, TEST_IMAGE, LAYERED_TEST_IMAGE } from "../infra/docker.ts";

const run = promisify(execFile);
const suffix = Math.random().toString(36).slice(2, 8);
const LABEL = "berth.test.oracle";
const NET = `berth-oracle-net-${suffix}`;
const BIND_DIR = `/tmp/berth-oracle-${suffix}`;
const VOL = `berth-oracle-vol-${suffix}`;
const I = TEST_IMAGE;
const L = LAYERED_TEST_IMAGE;

/**
 * Real-world lines. `docker run` ones carry -d (the CLI would attach otherwise);
 * those that publish fixed host ports use `docker create`, so the CLI's and
 * Berth's containers do not compete for the port.
 */
const LINES: string[] = [
  `docker create ${I}`,
  `docker run -d ${I} sleep 3600`,
  `docker run -itd ${I}`,
  `docker run -dit ${I} sh`,
  `docker create -it ${I} sh -c 'echo "hello world" && sleep 100'`,
  `docker run -d --rm ${I} sleep 3600`,
  `docker create -e FOO=bar -e "GREETING=hello world" -e EMPTY= ${I} env`,
  `docker create --env A=1 --env=B=2 -eC=3 ${I}`,
  `docker create -e 'QUOTED="inner quotes"' -e "DOLLAR=a\\$b" ${I}`,
  `docker create -p 8080:80 ${I} httpd -f -p 80`,
  `docker create -p 127.0.0.1:8081:80 ${I}`,
  `docker create -p 127.0.0.1::80 ${I}`,
  `docker create -p 80 ${I}`,
  `docker create -p 8082:80/udp -p 8082:80/tcp ${I}`,
  `docker create -p 9000-9002:7000-7002 ${I}`,
  `docker create -p 9100-9110:80 ${I}`,
  `docker create -p 5353:53/udp -p8083:8080 --expose 9999 --expose 7000-7001/udp ${I}`,
  `docker create -P ${L}`,
  `docker create -p "[::1]:8084:80" ${I}`,
  `docker create -v /data ${I}`,
  `docker create -v ${VOL}:/data -v ${VOL}:/ro-data:ro ${I}`,
  `docker create -v ${BIND_DIR}:/host:ro ${I}`,
  `docker create --volume=${BIND_DIR}:/host-rw:rw ${I}`,
  `docker create --mount type=bind,source=${BIND_DIR},target=/m,readonly ${I}`,
  `docker create --mount type=volume,source=${VOL},target=/v --mount type=tmpfs,target=/scratch,tmpfs-size=64m ${I}`,
  `docker create --mount "type=volume,src=${VOL},dst=/nocopy,volume-nocopy" ${I}`,
  `docker create --mount type=bind,src=${BIND_DIR},dst=/prop,bind-propagation=rslave ${I}`,
  `docker create -u 1000:1000 -w /tmp ${I} pwd`,
  `docker create --user nobody --workdir=/var ${I}`,
  `docker run -d --restart unless-stopped ${I} sleep 3600`,
  `docker create --restart on-failure:3 ${I}`,
  `docker create --restart=always -m 64m --cpus 0.5 ${I}`,
  `docker create --memory 1g --memory-reservation 512m --cpu-shares 512 ${I}`,
  `docker create -m 100000000 --cpus=1.25 -c 256 ${I}`,
  `docker create -l app=web -l "com.example.description=a web app" --label tier=front ${I}`,
  `docker create --network ${NET} --network-alias web --network-alias www ${I}`,
  `docker create --net ${NET} -h myhost --domainname example.test ${I}`,
  `docker create --hostname box --dns 1.1.1.1 --dns 8.8.8.8 --dns-search example.test --dns-option ndots:2 ${I}`,
  `docker create --add-host db:10.0.0.5 --add-host cache:10.0.0.6 ${I}`,
  `docker run -d --init ${I} sleep 3600`,
  `docker create --stop-signal SIGINT --stop-timeout 5 ${I}`,
  `docker create --health-cmd "wget -q -O- http://localhost/ || exit 1" --health-interval 30s --health-timeout 5s --health-retries 3 --health-start-period 1m ${L}`,
  `docker create --no-healthcheck ${I}`,
  `docker create --health-interval 10s ${I}`,
  `docker create --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 ${I}`,
  `docker create --log-driver none ${I}`,
  `docker create --log-driver=local ${I}`,
  `docker create --entrypoint /bin/sh ${I} -c "sleep 100"`,
  `docker create --entrypoint "" ${I} echo hi`,
  `docker create --privileged ${I}`,
  `docker create --cap-add NET_ADMIN --cap-add SYS_TIME --cap-drop MKNOD ${I}`,
  `docker create --device /dev/null:/dev/mynull ${I}`,
  `docker create --read-only --tmpfs /run --tmpfs /tmp:rw,size=64m ${I}`,
  `docker create --ipc host ${I}`,
  `docker create --pid=host ${I}`,
  `docker create --network host ${I}`,
  `docker run -d \\
    --restart=always \\
    -e TZ=Europe/Paris \\
    -p 127.0.0.1::8080 \\
    -v ${VOL}:/config \\
    --label com.example.stack=media \\
    ${I} sh -c 'while true; do sleep 5; done'`,
];

/** The fields of `docker inspect` that a create decides, normalised where Docker fills in per-container values. */
function fieldsOf(inspect: Record<string, any>) {
  const id: string = inspect.Id;
  const c = inspect.Config;
  const h = inspect.HostConfig;
  const networks = Object.fromEntries(
    Object.entries(inspect.NetworkSettings?.Networks ?? {}).map(([name, n]: [string, any]) => [name, (n.Aliases ?? []).filter((a: string) => !id.startsWith(a))]),
  );
  const labels = { ...c.Labels };
  delete labels[LABEL];
  return {
    Cmd: c.Cmd,
    Entrypoint: c.Entrypoint,
    // A set to Docker (one value per name); the CLI's own order varies between runs of the same line.
    Env: [...(c.Env ?? [])].sort(),
    User: c.User,
    WorkingDir: c.WorkingDir,
    Tty: c.Tty,
    OpenStdin: c.OpenStdin,
    Labels: labels,
    Hostname: c.Hostname === id.slice(0, 12) ? "<short id>" : c.Hostname,
    Domainname: c.Domainname,
    ExposedPorts: c.ExposedPorts,
    Volumes: c.Volumes,
    Healthcheck: c.Healthcheck,
    StopSignal: c.StopSignal,
    StopTimeout: c.StopTimeout,
    PortBindings: h.PortBindings,
    PublishAllPorts: h.PublishAllPorts,
    // The CLI collects -v binds in a Go map: their order differs from run to run and means nothing.
    Binds: h.Binds ? [...h.Binds].sort() : h.Binds,
    Mounts: h.Mounts,
    RestartPolicy: h.RestartPolicy,
    Memory: h.Memory,
    MemoryReservation: h.MemoryReservation,
    NanoCpus: h.NanoCpus,
    CpuShares: h.CpuShares,
    Dns: h.Dns,
    DnsSearch: h.DnsSearch,
    DnsOptions: h.DnsOptions,
    ExtraHosts: h.ExtraHosts,
    Init: h.Init,
    LogConfig: h.LogConfig,
    AutoRemove: h.AutoRemove,
    Privileged: h.Privileged,
    CapAdd: h.CapAdd,
    CapDrop: h.CapDrop,
    Devices: h.Devices,
    ReadonlyRootfs: h.ReadonlyRootfs,
    Tmpfs: h.Tmpfs,
    NetworkMode: h.NetworkMode,
    PidMode: h.PidMode,
    IpcMode: h.IpcMode,
    Networks: networks,
    Running: inspect.State.Running,
  };
}

/** Both containers in one `docker inspect` (one CLI process instead of two per line). */
async function inspectBoth(first: string, second: string) {
  const [a, b] = JSON.parse(await dockerCli(["inspect", first, second])) as Array<Record<string, any>>;
  if (!a || !b || !first.startsWith(a.Id.slice(0, 12)) || !second.startsWith(b.Id.slice(0, 12))) throw new Error(`docker inspect ${first} ${second} answered for other containers`);
  return [a, b] as const;
}

/**
 * Removes this file's containers: the ~100 never started in one `docker rm` (they hold no network
 * endpoint, so none of the libnetwork teardown that makes removeContainersByLabel go one at a time),
 * then the few that ran, one at a time as that helper does. Was ~25 s of one-by-one removals.
 */
async function removeOracleContainers() {
  const byState = async (status: string) =>
    (await dockerCli(["ps", "--all", "--quiet", "--filter", `label=${LABEL}=${suffix}`, "--filter", `status=${status}`])).split("\n").filter(Boolean);
  const created = await byState("created");
  if (created.length > 0) await dockerCli(["rm", "--volumes", ...created]);
  await removeContainersByLabel(`${LABEL}=${suffix}`);
}

/** Puts `--name … --label …` right after `docker run` / `docker create`. */
function withName(line: string, name: string): string {
  return line.replace(/^docker (run|create)/, `docker $1 --name ${name} --label ${LABEL}=${suffix}`);
}

let t: TestServer;
let agent: TestAgent;
let hostId = "";
let admin: Awaited<ReturnType<typeof callerFor>>;

beforeAll(async () => {
  await mkdir(BIND_DIR, { recursive: true });
  await dockerCli(["network", "create", NET]);
  t = await startTestServer({ name: "oracle" });
  const user = await createSignedInUser(t.server, { role: "admin" });
  admin = await callerFor(t.server, user);
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: "oracle", teamIds: [], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
  await admin.hosts.setBindPaths({ hostId, paths: [BIND_DIR] });
}, 120_000);

afterAll(async () => {
  await agent?.kill();
  await t?.stop();
  await removeOracleContainers();
  await dockerCli(["network", "rm", NET]).catch(() => undefined);
  await dockerCli(["volume", "rm", VOL]).catch(() => undefined);
});

describe("docker run lines: Berth creates what the Docker CLI creates", () => {
  it("has at least 40 real-world lines", () => {
    expect(LINES.length).toBeGreaterThanOrEqual(40);
  });

  // Lines are independent (their own names): a few at a time, as dockerd takes them fine and the file is among the suite's longest.
  it.concurrent.for(LINES.map((line, i) => [i, line] as const))("line %i: %s", { timeout: 120_000 }, async ([i, line], { expect }) => {
    const cliName = `oracle-cli-${i}-${suffix}`;
    const berthName = `oracle-berth-${i}-${suffix}`;
    const { stdout } = await run("bash", ["-c", withName(line, cliName)]);
    const cliId = stdout.trim().split("\n").pop()!;
    const spec = parseDockerRun(withName(line, berthName));
    const { id } = await admin.containers.create({ hostId, spec });
    const [expected, actual] = await inspectBoth(cliId, id);
    expect(actual.Name).toBe(`/${berthName}`);
    expect(fieldsOf(actual)).toEqual(fieldsOf(expected));
  });
});
