/**
 * Docker helpers for Berth's tests.
 *
 * Tests talk to real Docker Engines: the machine's main daemon and, for fleet
 * tests, extra daemons started here in their own network namespaces. No image
 * registry is reachable, so the test images are built locally from the host's
 * static busybox binary.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** A busybox-only image (every applet under /bin), built FROM scratch. */
export const TEST_IMAGE = "berth-test/busybox:latest";

/**
 * An image built FROM {@link TEST_IMAGE} with a few extra layers, a label,
 * an exposed port and an httpd default command, for the image/layer views.
 */
export const LAYERED_TEST_IMAGE = "berth-test/layered:latest";

/** Busybox applets the tests rely on; the build fails loudly if one is missing. */
const REQUIRED_APPLETS = [
  "sh", "ls", "cat", "echo", "sleep", "httpd", "top", "env", "printf", "seq", "yes", "head",
  "tail", "wc", "date", "hostname", "id", "mkdir", "rm", "touch", "true", "false", "kill", "ps",
  "grep", "sed", "vi", "ping",
];

const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"];

interface CommandOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command to completion; resolves stdout, rejects with stderr in the message. */
function runCommand(file: string, args: string[], opts: CommandOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${file} ${args.join(" ")}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const out = Buffer.concat(stdout).toString("utf8").trim();
      const err = Buffer.concat(stderr).toString("utf8").trim();
      if (code === 0) {
        resolve(out);
        return;
      }
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal}`;
      reject(new Error(`${file} ${args.join(" ")} ${why}${err ? `: ${err}` : ""}`));
    });
    child.stdin.on("error", () => {
      // The command may exit before reading its input; its exit status reports the failure.
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Options for {@link dockerCli}. */
export interface DockerCliOptions {
  /** Daemon address, e.g. `unix:///tmp/berth-h2/docker.sock`; the default daemon when omitted. */
  host?: string;
  /** Text written to the command's stdin. */
  input?: string;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
}

/**
 * Runs the `docker` CLI found on PATH and resolves its trimmed stdout.
 *
 * Tests use the CLI (not the app's dockerode code) to arrange and check Docker
 * state, so a bug in Berth's own Docker layer cannot hide itself. The legacy
 * builder is forced because the CLI may lack buildx and no registry answers.
 */
export function dockerCli(args: string[], opts: DockerCliOptions = {}): Promise<string> {
  const hostArgs = opts.host ? ["-H", opts.host] : [];
  return runCommand("docker", [...hostArgs, ...args], {
    input: opts.input,
    timeoutMs: opts.timeoutMs,
    env: { ...process.env, DOCKER_BUILDKIT: "0" },
  });
}

async function imageExists(image: string, host?: string): Promise<boolean> {
  try {
    await dockerCli(["image", "inspect", "--format", "{{.Id}}", image], { host });
    return true;
  } catch {
    return false;
  }
}

function findBusybox(): string {
  const found = BUSYBOX_CANDIDATES.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(
      `busybox not found at ${BUSYBOX_CANDIDATES.join(" or ")}: apt-get install -y busybox-static (or run .ci/run)`,
    );
  }
  return found;
}

/** Writes the FROM-scratch build context: busybox, one symlink per applet, a minimal /etc. */
async function writeBusyboxContext(dir: string): Promise<void> {
  const busybox = findBusybox();
  const applets = (await runCommand(busybox, ["--list"]))
    .split("\n")
    .map((name) => name.trim())
    .filter((name) => name !== "" && name !== "busybox");
  const missing = REQUIRED_APPLETS.filter((name) => !applets.includes(name));
  if (missing.length > 0) {
    throw new Error(`${busybox} lacks applets the tests need: ${missing.join(", ")}`);
  }
  const rootfs = path.join(dir, "rootfs");
  await mkdir(path.join(rootfs, "bin"), { recursive: true });
  await mkdir(path.join(rootfs, "etc"), { recursive: true });
  await mkdir(path.join(rootfs, "root"), { recursive: true });
  await mkdir(path.join(rootfs, "tmp"), { recursive: true, mode: 0o1777 });
  await copyFile(busybox, path.join(rootfs, "bin", "busybox"));
  await Promise.all(applets.map((name) => symlink("busybox", path.join(rootfs, "bin", name))));
  await writeFile(path.join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
  await writeFile(path.join(rootfs, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
  await writeFile(path.join(dir, "Dockerfile"), 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n');
}

async function writeLayeredContext(dir: string): Promise<void> {
  await writeFile(path.join(dir, "berth-layer-2"), "layer 2 (COPY)\n");
  await writeFile(
    path.join(dir, "Dockerfile"),
    [
      `FROM ${TEST_IMAGE}`,
      'LABEL org.opencontainers.image.title="berth layered test image" berth.test.image="layered"',
      'RUN echo "layer 1 (RUN)" > /etc/berth-layer-1',
      "COPY berth-layer-2 /etc/berth-layer-2",
      "RUN mkdir -p /var/www && echo '<h1>berth</h1>' > /var/www/index.html",
      "ENV BERTH_LAYERED=1",
      "EXPOSE 80",
      'CMD ["httpd", "-f", "-p", "80", "-h", "/var/www"]',
      "",
    ].join("\n"),
  );
}

/** What {@link buildTestImages} did for one image. */
export interface TestImageResult {
  image: string;
  action: "built" | "present";
  ms: number;
}

/**
 * Builds {@link TEST_IMAGE} and {@link LAYERED_TEST_IMAGE} on a daemon.
 *
 * Both images come from the host's busybox-static binary because no registry is
 * reachable. An image that already exists is kept (building is idempotent and
 * CI builds them once up front) unless `force` is set.
 */
export async function buildTestImages(
  host?: string,
  options: { force?: boolean } = {},
): Promise<TestImageResult[]> {
  const steps: { image: string; writeContext: (dir: string) => Promise<void> }[] = [
    { image: TEST_IMAGE, writeContext: writeBusyboxContext },
    { image: LAYERED_TEST_IMAGE, writeContext: writeLayeredContext },
  ];
  const results: TestImageResult[] = [];
  for (const step of steps) {
    const started = Date.now();
    if (!options.force && (await imageExists(step.image, host))) {
      results.push({ image: step.image, action: "present", ms: Date.now() - started });
      continue;
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), "berth-image-"));
    try {
      await step.writeContext(dir);
      await dockerCli(["build", "--quiet", "--tag", step.image, dir], { host });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    results.push({ image: step.image, action: "built", ms: Date.now() - started });
  }
  return results;
}

/** Options for {@link runTestContainer}. */
export interface TestContainerOptions {
  /** Container name (Docker requires at least two characters). */
  name: string;
  /** Daemon address; the default daemon when omitted. */
  host?: string;
  /** Image to run (default {@link TEST_IMAGE}). */
  image?: string;
  /** Command (default `["sleep", "3600"]`). */
  cmd?: string[];
  /** Labels, e.g. `{ "berth.test": "my-suite" }` so {@link removeContainersByLabel} can clean up. */
  labels?: Record<string, string>;
  /** Return once started (default); when false, wait until the container exits. */
  detach?: boolean;
}

/**
 * Creates and starts a container from the test image and resolves its id.
 *
 * Containers run with `--init` so they honour SIGTERM: busybox as PID 1
 * ignores it, which would make every `docker stop` in a test wait 10 s.
 */
export async function runTestContainer(opts: TestContainerOptions): Promise<string> {
  const labelArgs = Object.entries(opts.labels ?? {}).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
  const id = await dockerCli(
    ["create", "--init", "--name", opts.name, ...labelArgs, opts.image ?? TEST_IMAGE, ...(opts.cmd ?? ["sleep", "3600"])],
    { host: opts.host },
  );
  await dockerCli(opts.detach === false ? ["start", "--attach", id] : ["start", id], { host: opts.host });
  return id;
}

/**
 * Force-removes (with volumes) every container carrying `label`
 * (`key` or `key=value`), so each suite can clean up only what it made.
 */
export async function removeContainersByLabel(label: string, host?: string): Promise<void> {
  const ids = (await dockerCli(["ps", "--all", "--quiet", "--filter", `label=${label}`], { host }))
    .split("\n")
    .filter((id) => id !== "");
  if (ids.length > 0) {
    // One at a time: dockerd 20.10 can deadlock in libnetwork when many
    // endpoint deletions race container starts (seen with `rm -f` of 20 ids).
    for (const id of ids) await dockerCli(["rm", "--force", "--volumes", id], { host });
  }
}

/**
 * Copies images from one daemon to another (`docker save | docker load`),
 * keeping their ids, so the same image looks identical across a test fleet.
 */
export function copyImages(images: string[], toHost: string, fromHost?: string): Promise<void> {
  const fromArgs = fromHost ? ["-H", fromHost] : [];
  return new Promise((resolve, reject) => {
    const save = spawn("docker", [...fromArgs, "save", ...images], { stdio: ["ignore", "pipe", "pipe"] });
    const load = spawn("docker", ["-H", toHost, "load", "--quiet"], { stdio: ["pipe", "ignore", "pipe"] });
    const errors: string[] = [];
    let pending = 2;
    const finish = (what: string, stderr: Buffer[]) => (code: number | null) => {
      if (code !== 0) {
        errors.push(`docker ${what} exited with ${code}: ${Buffer.concat(stderr).toString("utf8").trim()}`);
      }
      pending -= 1;
      if (pending === 0) {
        if (errors.length > 0) reject(new Error(`copying ${images.join(", ")} to ${toHost}: ${errors.join("; ")}`));
        else resolve();
      }
    };
    const saveErr: Buffer[] = [];
    const loadErr: Buffer[] = [];
    save.stderr.on("data", (chunk: Buffer) => saveErr.push(chunk));
    load.stderr.on("data", (chunk: Buffer) => loadErr.push(chunk));
    save.on("error", reject);
    load.on("error", reject);
    load.stdin.on("error", () => {
      // load failed early; its exit status carries the reason.
    });
    save.stdout.pipe(load.stdin);
    save.on("close", finish("save", saveErr));
    load.on("close", finish("load", loadErr));
  });
}

/** An extra Docker daemon started by {@link startExtraDockerHost}. */
export interface ExtraDockerHost {
  name: string;
  /** Path of the daemon's API socket. */
  socketPath: string;
  /** Address for `docker -H` and dockerode: `unix://<socketPath>`. */
  dockerHost: string;
  /**
   * Stops the daemon the way an operator's `systemctl restart docker` does
   * (SIGTERM: containers stopped, restart policies applied at start) and starts
   * it again on the same data; resolves when it answers again.
   */
  restart(): Promise<void>;
  /** Stops the daemon and removes every trace of it (processes, mounts, files, namespace). */
  stop(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True while `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Decodes the octal escapes (`\040` for a space...) that /proc/mounts uses in paths. */
function decodeMountPath(raw: string): string {
  return raw.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Lazily unmounts everything mounted at or below `dir`, deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile("/proc/mounts", "utf8"))
    .split("\n")
    .map((line) => line.split(" ")[1])
    .filter((field): field is string => field !== undefined)
    .map(decodeMountPath)
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) {
    await runCommand("umount", ["-l", mountPoint]).catch(() => {
      // Already gone: unmounting a parent lazily also detaches its children.
    });
  }
}

/** Pids of processes whose command line mentions `dir` (the daemon, its containerd and shims). */
async function pidsReferencing(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0").join(" ");
      if (cmdline.includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

/** Pids of processes in the network namespace `netns` (empty if it does not exist). */
async function pidsInNetns(netns: string): Promise<number[]> {
  const out = await runCommand("ip", ["netns", "pids", netns]).catch(() => "");
  return out.split("\n").filter((line) => /^\d+$/.test(line)).map(Number);
}

/** `roots` plus every process below them (a killed shim would orphan its container's processes). */
async function withDescendants(roots: number[]): Promise<Set<number>> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process exited while we looked.
    }
  }
  const found = new Set<number>();
  const queue = [...roots];
  for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
    if (found.has(pid) || pid === process.pid) continue;
    found.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Force-removes every container on `host`, ignoring a daemon that no longer answers. */
async function removeAllContainers(host: string): Promise<void> {
  try {
    const ids = (await dockerCli(["ps", "--all", "--quiet"], { host, timeoutMs: 10_000 }))
      .split("\n")
      .filter((id) => id !== "");
    if (ids.length > 0) await dockerCli(["rm", "--force", "--volumes", ...ids], { host, timeoutMs: 30_000 });
  } catch {
    // The daemon is already unresponsive; teardown kills whatever is left.
  }
}

/**
 * Removes whatever an extra host named like this left behind: containers,
 * processes, mounts, files, namespace. Used by `stop()` and, before starting,
 * to clear what a crashed earlier run left.
 */
async function teardownExtraHost(
  dir: string,
  netns: string,
  dockerHost: string,
  daemonPid: number | undefined,
): Promise<void> {
  if (daemonPid !== undefined && isAlive(daemonPid)) {
    // Killing containers first: dockerd would otherwise give each one 10 s to honour SIGTERM.
    await removeAllContainers(dockerHost);
    killQuietly(daemonPid, "SIGTERM");
    if (!(await waitForExit(daemonPid, 10_000))) {
      killQuietly(daemonPid, "SIGKILL");
      await waitForExit(daemonPid, 5_000);
    }
  }
  // containerd, the shims and their containers outlive a killed dockerd; they are ours
  // because they name our folder, live in our namespace, or descend from such a process.
  const leftovers = await withDescendants([...(await pidsReferencing(dir)), ...(await pidsInNetns(netns))]);
  for (const pid of leftovers) killQuietly(pid, "SIGKILL");
  for (const pid of leftovers) await waitForExit(pid, 5_000);
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true });
  if (existsSync(`/run/netns/${netns}`)) {
    await runCommand("ip", ["netns", "delete", netns]);
  }
}

/** The pid a crashed run's dockerd left in its pidfile, if that process is still that dockerd. */
async function readStaleDaemonPid(dir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(`${dir}/pid`, "utf8")).trim());
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(`${dir}/`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts one more Docker daemon on this machine, for fleet tests that need
 * several hosts. Both test images are loaded into it (same ids as on the main
 * daemon, which builds them first if needed).
 *
 * The daemon runs in its own network namespace `berth-<name>`: in the host's
 * namespace a second dockerd would tear down the main daemon's docker0 bridge.
 * Inside the namespace it keeps a private default bridge, so containers get
 * normal networking (`--iptables=false` keeps it off the host's firewall).
 * `nsenter` is used because `ip netns exec` needs a devices cgroup this machine
 * lacks. Root only. `name` must be unique among test files running at the same
 * time (it names the namespace and /tmp/berth-<name>); leftovers of a crashed
 * earlier run with the same name are cleaned up first.
 */
export async function startExtraDockerHost(name: string): Promise<ExtraDockerHost> {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) {
    throw new Error(`extra Docker host name must be lowercase letters, digits and dashes: ${JSON.stringify(name)}`);
  }
  const netns = `berth-${name}`;
  const dir = `/tmp/berth-${name}`;
  const socketPath = `${dir}/docker.sock`;
  const dockerHost = `unix://${socketPath}`;
  const pidFile = `${dir}/pid`;
  const logFile = `${dir}/dockerd.log`;

  await teardownExtraHost(dir, netns, dockerHost, await readStaleDaemonPid(dir));
  await mkdir(dir, { recursive: true });
  await runCommand("ip", ["netns", "add", netns]);
  await runCommand("nsenter", [`--net=/run/netns/${netns}`, "ip", "link", "set", "lo", "up"]);

  const spawnDaemon = () => {
    const logFd = openSync(logFile, "a");
    const child = spawn(
      "nsenter",
      [
        `--net=/run/netns/${netns}`,
        "dockerd",
        "--host", dockerHost,
        "--data-root", `${dir}/root`,
        "--exec-root", `${dir}/exec`,
        "--pidfile", pidFile,
        "--iptables=false",
        // Containers get 2 s to stop when the daemon stops (restart tests), not 15.
        "--shutdown-timeout", "2",
        // A system containerd, if one runs, would otherwise be shared under the namespace "moby".
        "--containerd-namespace", netns,
        "--containerd-plugins-namespace", `${netns}-plugins`,
      ],
      { detached: true, stdio: ["ignore", logFd, logFd] },
    );
    closeSync(logFd);
    child.unref();
    const state = { pid: child.pid, exited: false };
    child.on("exit", () => {
      state.exited = true;
    });
    return state;
  };
  const waitUntilAnswering = async (daemon: { exited: boolean }) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await dockerCli(["info", "--format", "{{.ID}}"], { host: dockerHost, timeoutMs: 5_000 });
        return;
      } catch (error) {
        if (daemon.exited || Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
  };

  let daemon = spawnDaemon();
  const stop = (): Promise<void> => teardownExtraHost(dir, netns, dockerHost, daemon.pid);
  const restart = async (): Promise<void> => {
    const pid = daemon.pid;
    if (pid !== undefined) {
      killQuietly(pid, "SIGTERM");
      if (!(await waitForExit(pid, 30_000))) throw new Error(`dockerd ${name} did not stop within 30 s`);
    }
    daemon = spawnDaemon();
    await waitUntilAnswering(daemon);
  };

  try {
    if (daemon.pid === undefined) throw new Error("could not spawn nsenter/dockerd");
    await waitUntilAnswering(daemon);
    await buildTestImages();
    await copyImages([TEST_IMAGE, LAYERED_TEST_IMAGE], dockerHost);
  } catch (error) {
    const log = await readFile(logFile, "utf8").catch(() => "");
    await teardownExtraHost(dir, netns, dockerHost, daemon.pid);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`extra Docker host ${name} did not start: ${reason}\n--- dockerd.log (tail) ---\n${log.slice(-4000)}`);
  }
  return { name, socketPath, dockerHost, restart, stop };
}
