/**
 * The one translation between Berth's create spec (agent/protocol.ts
 * `ZContainerCreateSpec`) and Docker's API, both ways. Pure: no I/O, so it is
 * unit-testable and the same wherever it runs.
 *
 * spec → Docker: fields are filled the way the Docker CLI fills them for the
 * same flags (absent stays absent), so `docker inspect` of a container made
 * by Berth reads like one made by `docker create` — the CLI-oracle test holds
 * us to that.
 *
 * Docker → spec: what would create another container like this one (duplicate,
 * recreate, "edit & recreate"). What the image supplies (its CMD, ENV, labels,
 * exposed ports, …) is left out, so the spec says what the user chose.
 */
import type { TContainerCreateSpec, TMountSpec, TPortSpec, TVolumeSpec } from "../protocol.ts";

type Json = Record<string, unknown>;
const MS = 1_000_000; // Docker durations are nanoseconds

/** "80" / "8000-8010" → [80] / [8000..8010]. */
function expandRange(value: string): number[] {
  const [a, b] = value.split("-").map(Number) as [number, number | undefined];
  const out: number[] = [];
  for (let p = a; p <= (b ?? a); p++) out.push(p);
  return out;
}

/**
 * Docker's ExposedPorts and PortBindings for `-p` entries, as the CLI's
 * nat.ParsePortSpec builds them: a container range maps port by port onto an
 * equally long host range; one container port with a host range keeps the range.
 */
export function portBindingsOf(ports: readonly TPortSpec[]): { exposed: Record<string, object>; bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> } {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const port of ports) {
    const containerPorts = expandRange(port.containerPort);
    const hostPorts = port.hostPort ? expandRange(port.hostPort) : [];
    if (hostPorts.length > 1 && containerPorts.length > 1 && hostPorts.length !== containerPorts.length) {
      throw new Error(`Invalid ranges specified for container and host Ports: ${port.containerPort} and ${port.hostPort}`);
    }
    containerPorts.forEach((cp, i) => {
      const key = `${cp}/${port.protocol}`;
      let hostPort = "";
      if (port.hostPort) hostPort = containerPorts.length === 1 ? port.hostPort : String(hostPorts[i]);
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: port.ip, HostPort: hostPort });
    });
  }
  return { exposed, bindings };
}

/** `net_admin` → `CAP_NET_ADMIN` (what the CLI sends); ALL stays ALL. */
export function normalizeCapabilities(caps: readonly string[]): string[] {
  const out = caps.map((c) => c.toUpperCase()).map((c) => (c === "ALL" || c.startsWith("CAP_") ? c : `CAP_${c}`));
  return [...new Set(out)];
}

/** An empty list is sent as nothing at all, as the CLI does (inspect then shows null, not []). */
const listOrNull = <T>(list: readonly T[]): T[] | null => (list.length ? [...list] : null);

function bindString(v: TVolumeSpec): string {
  const mode = [...(v.readOnly ? ["ro"] : []), ...v.mode.filter((m) => m !== "ro" && !(v.readOnly && m === "rw"))];
  return `${v.source}:${v.target}${mode.length ? `:${mode.join(",")}` : ""}`;
}

function mountOf(m: TMountSpec): Json {
  const out: Json = { Type: m.type, Target: m.target };
  if (m.source) out.Source = m.source;
  if (m.readOnly) out.ReadOnly = true;
  if (m.type === "bind" && m.bindPropagation) out.BindOptions = { Propagation: m.bindPropagation };
  if (m.type === "volume" && (m.volumeNoCopy !== undefined || m.volumeLabels || m.volumeDriver || m.volumeOptions)) {
    // The CLI creates DriverConfig along with any volume option, empty fields left out.
    const driver: Json = {};
    if (m.volumeDriver) driver.Name = m.volumeDriver;
    if (m.volumeOptions && Object.keys(m.volumeOptions).length) driver.Options = m.volumeOptions;
    const vo: Json = { DriverConfig: driver };
    if (m.volumeNoCopy !== undefined) vo.NoCopy = m.volumeNoCopy;
    if (m.volumeLabels && Object.keys(m.volumeLabels).length) vo.Labels = m.volumeLabels;
    out.VolumeOptions = vo;
  }
  if (m.type === "tmpfs" && (m.tmpfsSizeBytes !== undefined || m.tmpfsMode !== undefined)) {
    const to: Json = {};
    if (m.tmpfsSizeBytes !== undefined) to.SizeBytes = m.tmpfsSizeBytes;
    if (m.tmpfsMode !== undefined) to.Mode = m.tmpfsMode;
    out.TmpfsOptions = to;
  }
  return out;
}

/**
 * Docker's create body (POST /containers/create) for a spec. The networks
 * after the first are not in it: Docker 20.10 (API 1.41) takes one endpoint at
 * create, so the caller connects the others afterwards.
 */
export function createBodyOf(spec: TContainerCreateSpec): Json {
  const { exposed, bindings } = portBindingsOf(spec.ports);
  for (const e of spec.expose) {
    const [range, proto = "tcp"] = e.split("/") as [string, string | undefined];
    for (const p of expandRange(range)) exposed[`${p}/${proto}`] = {};
  }
  const anonymous: Record<string, object> = {};
  for (const v of spec.volumes) if (!v.source) anonymous[v.target] = {};

  const config: Json = {
    Image: spec.image,
    Env: spec.env,
    Tty: spec.tty,
    OpenStdin: spec.interactive,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Labels: spec.labels,
  };
  if (spec.name) config.name = spec.name;
  if (spec.cmd && spec.cmd.length) config.Cmd = spec.cmd;
  if (spec.entrypoint) config.Entrypoint = spec.entrypoint;
  if (Object.keys(exposed).length) config.ExposedPorts = exposed;
  if (Object.keys(anonymous).length) config.Volumes = anonymous;
  if (spec.user !== undefined) config.User = spec.user;
  if (spec.workdir !== undefined) config.WorkingDir = spec.workdir;
  if (spec.hostname !== undefined) config.Hostname = spec.hostname;
  if (spec.domainname !== undefined) config.Domainname = spec.domainname;
  if (spec.stopSignal !== undefined) config.StopSignal = spec.stopSignal;
  if (spec.stopTimeoutSeconds !== undefined) config.StopTimeout = spec.stopTimeoutSeconds;
  if (spec.healthcheck) {
    const h = spec.healthcheck;
    const hc: Json = {};
    if (h.test.length) hc.Test = h.test;
    if (h.intervalMs !== undefined) hc.Interval = h.intervalMs * MS;
    if (h.timeoutMs !== undefined) hc.Timeout = h.timeoutMs * MS;
    if (h.startPeriodMs !== undefined) hc.StartPeriod = h.startPeriodMs * MS;
    if (h.retries !== undefined) hc.Retries = h.retries;
    config.Healthcheck = hc;
  }

  const hostConfig: Json = {
    Binds: listOrNull(spec.volumes.filter((v) => v.source).map(bindString)),
    PortBindings: bindings,
    PublishAllPorts: spec.publishAll,
    AutoRemove: spec.autoRemove,
    Privileged: spec.privileged,
    ReadonlyRootfs: spec.readOnly,
    Dns: spec.dns,
    DnsSearch: spec.dnsSearch,
    DnsOptions: spec.dnsOptions,
    ExtraHosts: listOrNull(spec.extraHosts),
    CapAdd: listOrNull(normalizeCapabilities(spec.capAdd)),
    CapDrop: listOrNull(normalizeCapabilities(spec.capDrop)),
    RestartPolicy: spec.restart ? { Name: spec.restart.name, MaximumRetryCount: spec.restart.maximumRetryCount } : { Name: "no", MaximumRetryCount: 0 },
    LogConfig: { Type: spec.logDriver ?? "", Config: spec.logOptions },
    Devices: spec.devices.map((d) => ({ PathOnHost: d.pathOnHost, PathInContainer: d.pathInContainer, CgroupPermissions: d.permissions })),
    Mounts: spec.mounts.map(mountOf),
    NetworkMode: spec.networks[0]?.name ?? "default",
  };
  if (Object.keys(spec.tmpfs).length) hostConfig.Tmpfs = spec.tmpfs;
  if (spec.init !== undefined) hostConfig.Init = spec.init;
  if (spec.memoryBytes !== undefined) hostConfig.Memory = spec.memoryBytes;
  if (spec.memorySwapBytes !== undefined) hostConfig.MemorySwap = spec.memorySwapBytes;
  if (spec.memoryReservationBytes !== undefined) hostConfig.MemoryReservation = spec.memoryReservationBytes;
  if (spec.cpus !== undefined) hostConfig.NanoCpus = Math.round(spec.cpus * 1e9);
  if (spec.cpuShares !== undefined) hostConfig.CpuShares = spec.cpuShares;
  if (spec.pidMode) hostConfig.PidMode = spec.pidMode;
  if (spec.ipcMode) hostConfig.IpcMode = spec.ipcMode;

  const first = spec.networks[0];
  const body: Json = { ...config, HostConfig: hostConfig };
  if (first && first.aliases.length) body.NetworkingConfig = { EndpointsConfig: { [first.name]: { Aliases: first.aliases } } };
  return body;
}

// ------------------------------------------------------------------ Docker → spec

const isObject = (v: unknown): v is Json => Boolean(v) && typeof v === "object" && !Array.isArray(v);
const obj = (v: unknown): Json => (isObject(v) ? v : {});
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && v !== 0 ? v : undefined);

const DEFAULT_NETWORK_MODES = new Set(["default", "bridge", ""]);

/** `src:dst[:mode]` (what `-v` stored) → a volume spec. */
function volumeOfBind(bind: string): TVolumeSpec | null {
  const parts = bind.split(":");
  if (parts.length < 2) return null;
  const [source, target, mode = ""] = parts as [string, string, string | undefined];
  const words = mode ? mode.split(",") : [];
  return { source, target, readOnly: words.includes("ro"), mode: words.filter((w) => w !== "ro" && /^[a-zA-Z]+$/.test(w)) };
}

function mountSpecOf(m: Json): TMountSpec | null {
  const type = m.Type;
  if (type !== "bind" && type !== "volume" && type !== "tmpfs") return null;
  const out: TMountSpec = { type, target: String(m.Target ?? ""), readOnly: m.ReadOnly === true };
  if (str(m.Source)) out.source = String(m.Source);
  const bo = obj(m.BindOptions);
  if (str(bo.Propagation)) out.bindPropagation = bo.Propagation as TMountSpec["bindPropagation"];
  const vo = obj(m.VolumeOptions);
  if (typeof vo.NoCopy === "boolean") out.volumeNoCopy = vo.NoCopy;
  if (isObject(vo.Labels)) out.volumeLabels = vo.Labels as Record<string, string>;
  const dc = obj(vo.DriverConfig);
  if (str(dc.Name)) out.volumeDriver = String(dc.Name);
  if (isObject(dc.Options) && Object.keys(dc.Options).length) out.volumeOptions = dc.Options as Record<string, string>;
  const to = obj(m.TmpfsOptions);
  if (typeof to.SizeBytes === "number") out.tmpfsSizeBytes = to.SizeBytes;
  if (typeof to.Mode === "number") out.tmpfsMode = to.Mode;
  return out;
}

/**
 * The spec that creates another container like `inspect` (Docker's container
 * inspect), leaving out what the image (`image`, Docker's image inspect, when
 * known) already supplies. Values are unmasked: callers that show it to a
 * person mask it first.
 */
export function specOfInspect(inspect: Json, image: Json | null): TContainerCreateSpec {
  const c = obj(inspect.Config);
  const h = obj(inspect.HostConfig);
  const ic = obj(image?.Config);
  const id = String(inspect.Id ?? "");
  const imageEnv = new Set(strs(ic.Env));
  const imageLabels = obj(ic.Labels);
  const imageExposed = obj(ic.ExposedPorts);
  const imageVolumes = obj(ic.Volumes);

  const ports: TPortSpec[] = [];
  for (const [key, list] of Object.entries(obj(h.PortBindings))) {
    const [containerPort, protocol = "tcp"] = key.split("/") as [string, string | undefined];
    for (const b of Array.isArray(list) ? list : []) {
      const binding = obj(b);
      ports.push({ ip: String(binding.HostIp ?? ""), hostPort: String(binding.HostPort ?? ""), containerPort, protocol: protocol as TPortSpec["protocol"] });
    }
  }
  const bound = new Set(Object.keys(obj(h.PortBindings)));
  const expose = Object.keys(obj(c.ExposedPorts)).filter((k) => !bound.has(k) && !(k in imageExposed));

  const volumes = strs(h.Binds).map(volumeOfBind).filter((v): v is TVolumeSpec => v !== null);
  const mounts = (Array.isArray(h.Mounts) ? h.Mounts : []).map((m) => mountSpecOf(obj(m))).filter((m): m is TMountSpec => m !== null);
  const taken = new Set([...volumes.map((v) => v.target), ...mounts.map((m) => m.target)]);
  for (const target of Object.keys(obj(c.Volumes))) {
    if (!taken.has(target) && !(target in imageVolumes)) volumes.push({ target, readOnly: false, mode: [] });
  }

  const networkMode = String(h.NetworkMode ?? "default");
  const attached = obj(obj(inspect.NetworkSettings).Networks);
  const aliasesOf = (name: string) => strs(obj(attached[name]).Aliases).filter((a) => !id.startsWith(a));
  const networks: TContainerCreateSpec["networks"] = [];
  if (!DEFAULT_NETWORK_MODES.has(networkMode)) networks.push({ name: networkMode, aliases: aliasesOf(networkMode) });
  for (const name of Object.keys(attached)) {
    if (name !== networkMode && !DEFAULT_NETWORK_MODES.has(name)) networks.push({ name, aliases: aliasesOf(name) });
  }

  const entrypointChanged = !same(c.Entrypoint, ic.Entrypoint);
  const cmdChanged = !same(c.Cmd, ic.Cmd);
  const restart = obj(h.RestartPolicy);
  const restartName = String(restart.Name ?? "");
  const log = obj(h.LogConfig);
  const logType = String(log.Type ?? "");
  const logOptions = obj(log.Config) as Record<string, string>;
  const hc = obj(c.Healthcheck);
  const memory = num(h.Memory);
  const swap = num(h.MemorySwap);

  const spec: TContainerCreateSpec = {
    image: String(c.Image ?? ""),
    env: strs(c.Env).filter((e) => !imageEnv.has(e)),
    ports,
    expose,
    publishAll: h.PublishAllPorts === true,
    volumes,
    mounts,
    interactive: c.OpenStdin === true,
    tty: c.Tty === true,
    labels: Object.fromEntries(Object.entries(obj(c.Labels)).filter(([k, v]) => imageLabels[k] !== v)) as Record<string, string>,
    networks,
    dns: strs(h.Dns),
    dnsSearch: strs(h.DnsSearch),
    dnsOptions: strs(h.DnsOptions),
    extraHosts: strs(h.ExtraHosts),
    logOptions,
    readOnly: h.ReadonlyRootfs === true,
    tmpfs: obj(h.Tmpfs) as Record<string, string>,
    privileged: h.Privileged === true,
    capAdd: strs(h.CapAdd),
    capDrop: strs(h.CapDrop),
    devices: (Array.isArray(h.Devices) ? h.Devices : []).map((d) => {
      const dev = obj(d);
      return { pathOnHost: String(dev.PathOnHost ?? ""), pathInContainer: String(dev.PathInContainer ?? ""), permissions: String(dev.CgroupPermissions || "rwm") };
    }),
    start: obj(inspect.State).Running === true,
    autoRemove: h.AutoRemove === true,
  };
  const name = str(inspect.Name)?.replace(/^\//, "");
  if (name) spec.name = name;
  if (entrypointChanged || cmdChanged) spec.cmd = strs(c.Cmd);
  if (entrypointChanged) spec.entrypoint = strs(c.Entrypoint);
  if (str(c.User) && c.User !== ic.User) spec.user = String(c.User);
  if (str(c.WorkingDir) && c.WorkingDir !== ic.WorkingDir) spec.workdir = String(c.WorkingDir);
  if (restartName && restartName !== "no") spec.restart = { name: restartName as NonNullable<TContainerCreateSpec["restart"]>["name"], maximumRetryCount: Number(restart.MaximumRetryCount ?? 0) };
  if (memory) spec.memoryBytes = memory;
  if (swap && swap !== (memory ?? 0) * 2) spec.memorySwapBytes = swap;
  if (num(h.MemoryReservation)) spec.memoryReservationBytes = Number(h.MemoryReservation);
  if (num(h.NanoCpus)) spec.cpus = Number(h.NanoCpus) / 1e9;
  if (num(h.CpuShares)) spec.cpuShares = Number(h.CpuShares);
  // Docker names a container's host after its short id unless told otherwise; host networking uses the machine's.
  if (str(c.Hostname) && !id.startsWith(String(c.Hostname)) && networkMode !== "host") spec.hostname = String(c.Hostname);
  if (str(c.Domainname)) spec.domainname = String(c.Domainname);
  if (typeof h.Init === "boolean") spec.init = h.Init;
  if (str(c.StopSignal) && c.StopSignal !== ic.StopSignal) spec.stopSignal = String(c.StopSignal);
  if (typeof c.StopTimeout === "number") spec.stopTimeoutSeconds = c.StopTimeout;
  if (Object.keys(hc).length && !same(hc, ic.Healthcheck)) {
    spec.healthcheck = { test: strs(hc.Test) };
    if (typeof hc.Interval === "number" && hc.Interval) spec.healthcheck.intervalMs = Math.round(hc.Interval / MS);
    if (typeof hc.Timeout === "number" && hc.Timeout) spec.healthcheck.timeoutMs = Math.round(hc.Timeout / MS);
    if (typeof hc.StartPeriod === "number" && hc.StartPeriod) spec.healthcheck.startPeriodMs = Math.round(hc.StartPeriod / MS);
    if (typeof hc.Retries === "number" && hc.Retries) spec.healthcheck.retries = hc.Retries;
  }
  if (logType && (logType !== "json-file" || Object.keys(logOptions).length)) spec.logDriver = logType;
  if (h.PidMode === "host") spec.pidMode = "host";
  if (h.IpcMode === "host") spec.ipcMode = "host";
  return spec;
}

/** What in a spec is root-equivalent on the host (needs `container.privileged`), in words for the refusal. */
export function privilegedOptionsOf(spec: TContainerCreateSpec): string[] {
  const out: string[] = [];
  if (spec.privileged) out.push("--privileged");
  if (spec.capAdd.length) out.push(`--cap-add ${spec.capAdd.join(",")}`);
  if (spec.devices.length) out.push(`--device ${spec.devices.map((d) => d.pathOnHost).join(",")}`);
  if (spec.networks.some((n) => n.name === "host")) out.push("--network host");
  if (spec.pidMode === "host") out.push("--pid host");
  if (spec.ipcMode === "host") out.push("--ipc host");
  const binds = hostPathsOf(spec);
  if (binds.length) out.push(`bind mounts of host paths (${binds.join(", ")})`);
  return out;
}

/** Host paths a spec bind-mounts (`-v /path:…` and `--mount type=bind`). Named volumes are not host paths. */
export function hostPathsOf(spec: TContainerCreateSpec): string[] {
  return [
    ...spec.volumes.filter((v) => v.source?.startsWith("/")).map((v) => v.source!),
    ...spec.mounts.filter((m) => m.type === "bind").map((m) => m.source ?? ""),
  ];
}
