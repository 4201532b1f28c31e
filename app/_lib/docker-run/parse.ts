/**
 * `docker run …` line → Berth's create spec. Pure (no I/O), shared by the
 * browser ("Paste a docker run line" fills the form) and the tests, which hold
 * it to Docker's own CLI: the same line through `docker create` and through
 * this parser + Berth must give the same `docker inspect`.
 *
 * Flags follow the Docker CLI (spf13/pflag): `--flag value`, `--flag=value`,
 * combined short flags (`-itd`, `-dp 80:80`, `-p8080:80`), repeatable flags.
 * The line is split like a POSIX shell would (quotes, backslashes, line
 * continuations); what a shell would expand or redirect ($VAR, `…`, |, ;, >)
 * is refused rather than guessed.
 */
import { ZContainerCreateSpec, type TContainerCreateSpec, type TMountSpec, type TPortSpec, type TVolumeSpec } from "../../../agent/protocol";

export class DockerRunParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DockerRunParseError";
  }
}

const fail = (message: string): never => {
  throw new DockerRunParseError(message);
};

/** Splits a command line into words the way sh does for literal text. */
export function shellSplit(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  const n = line.length;
  while (i < n) {
    const ch = line[i]!;
    if (ch === "\\") {
      const next = line[i + 1];
      if (next === "\n") {
        i += 2;
        continue;
      }
      if (next === "\r" && line[i + 2] === "\n") {
        i += 3;
        continue;
      }
      if (next === undefined) fail("The line ends with a lone backslash");
      word += next;
      inWord = true;
      i += 2;
      continue;
    }
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) fail("A single quote (') is not closed");
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (ch === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= n) fail('A double quote (") is not closed');
        const c = line[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === "\\" && i + 1 < n && '"\\$`\n'.includes(line[i + 1]!)) {
          if (line[i + 1] !== "\n") word += line[i + 1];
          i += 2;
          continue;
        }
        if (c === "$" || c === "`") fail(`Berth does not expand shell variables or commands ("${line.slice(i, i + 12)}…"): write the value itself`);
        word += c;
        i++;
      }
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
      continue;
    }
    if (ch === "#" && !inWord) break;
    if (ch === "$" || ch === "`") fail(`Berth does not expand shell variables or commands ("${line.slice(i, i + 12)}…"): write the value itself`);
    if ("|;&<>()".includes(ch)) fail(`Paste one docker run command only ("${ch}" would be the shell's, not Docker's)`);
    word += ch;
    inWord = true;
    i++;
  }
  if (inWord) words.push(word);
  return words;
}

// ------------------------------------------------------------------ value parsers (Docker's own rules)

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's RAMInBytes: "64m", "1.5g", "512k", "1024" (binary multiples). */
export function parseBytes(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtpb]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) return fail(`${flag}: invalid size "${value}" (use a number with an optional unit b, k, m, g: e.g. 64m)`);
  return Math.trunc(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("30s", "1m30s", "500ms") in milliseconds. */
export function parseDuration(value: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  if (value === "0") return 0;
  while ((m = re.exec(value))) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (!value || matched !== value.length) fail(`${flag}: invalid duration "${value}" (e.g. 30s, 1m30s, 500ms)`);
  return Math.round(total);
}

function parseInt10(value: string, flag: string): number {
  if (!/^-?\d+$/.test(value)) fail(`${flag}: "${value}" is not a whole number`);
  return Number(value);
}

function parseBool(value: string, flag: string): boolean {
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  return fail(`${flag}: "${value}" is not true or false`);
}

/** `-p [ip:][hostPort:]containerPort[/proto]`, IPv6 addresses in brackets. */
export function parsePort(value: string): TPortSpec {
  let rest = value;
  let protocol = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    protocol = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
  }
  if (!["tcp", "udp", "sctp"].includes(protocol)) fail(`-p ${value}: unknown protocol "${protocol}" (tcp, udp or sctp)`);
  let ip = "";
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) fail(`-p ${value}: an IPv6 address needs its closing ]`);
    ip = rest.slice(1, close);
    rest = rest.slice(close + 1);
    if (!rest.startsWith(":")) fail(`-p ${value}: expected ip:hostPort:containerPort`);
    rest = rest.slice(1);
    const parts = rest.split(":");
    if (parts.length !== 2) fail(`-p ${value}: expected [ip]:hostPort:containerPort`);
    return { ip, hostPort: parts[0]!, containerPort: parts[1]!, protocol: protocol as TPortSpec["protocol"] };
  }
  const parts = rest.split(":");
  if (parts.length === 1) return { ip: "", hostPort: "", containerPort: parts[0]!, protocol: protocol as TPortSpec["protocol"] };
  if (parts.length === 2) return { ip: "", hostPort: parts[0]!, containerPort: parts[1]!, protocol: protocol as TPortSpec["protocol"] };
  if (parts.length === 3) return { ip: parts[0]!, hostPort: parts[1]!, containerPort: parts[2]!, protocol: protocol as TPortSpec["protocol"] };
  return fail(`-p ${value}: too many colons (use [ip:]hostPort:containerPort, IPv6 addresses in brackets)`);
}

const VOLUME_MODES = new Set(["ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave", "rslave", "consistent", "cached", "delegated"]);

/** `-v [source:]target[:mode,…]`. */
export function parseVolume(value: string): TVolumeSpec {
  const parts = value.split(":");
  if (parts.length === 1) {
    if (!value.startsWith("/")) fail(`-v ${value}: a volume without a source needs an absolute path in the container`);
    return { target: value, readOnly: false, mode: [] };
  }
  if (parts.length > 3) fail(`-v ${value}: expected source:target[:mode]`);
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (!source) fail(`-v ${value}: the source is empty`);
  if (!target.startsWith("/")) fail(`-v ${value}: the target must be an absolute path in the container`);
  const words = mode === undefined ? [] : mode.split(",");
  for (const w of words) if (!VOLUME_MODES.has(w)) fail(`-v ${value}: unknown mode "${w}"`);
  // "rw" stays: the CLI passes the mode on as written.
  return { source, target, readOnly: words.includes("ro"), mode: words.filter((w) => w !== "ro") };
}

/** `--mount type=bind,source=…,target=…,readonly` (csv of key[=value]). */
export function parseMount(value: string): TMountSpec {
  const mount: Partial<TMountSpec> & { type: TMountSpec["type"] } = { type: "volume", readOnly: false };
  for (const field of value.split(",")) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => val ?? fail(`--mount ${value}: ${key} needs a value`);
    switch (key) {
      case "type": {
        const t = need();
        if (t !== "bind" && t !== "volume" && t !== "tmpfs") fail(`--mount ${value}: type must be bind, volume or tmpfs`);
        mount.type = t as TMountSpec["type"];
        break;
      }
      case "source":
      case "src":
        mount.source = need();
        break;
      case "target":
      case "destination":
      case "dst":
        mount.target = need();
        break;
      case "readonly":
      case "ro":
        mount.readOnly = val === undefined ? true : parseBool(val, `--mount ${key}`);
        break;
      case "bind-propagation":
        mount.bindPropagation = need() as TMountSpec["bindPropagation"];
        break;
      case "volume-nocopy":
        mount.volumeNoCopy = val === undefined ? true : parseBool(val, "--mount volume-nocopy");
        break;
      case "volume-label": {
        const [k, ...v] = need().split("=");
        mount.volumeLabels = { ...mount.volumeLabels, [k!]: v.join("=") };
        break;
      }
      case "volume-driver":
        mount.volumeDriver = need();
        break;
      case "volume-opt": {
        const [k, ...v] = need().split("=");
        mount.volumeOptions = { ...mount.volumeOptions, [k!]: v.join("=") };
        break;
      }
      case "tmpfs-size":
        mount.tmpfsSizeBytes = parseBytes(need(), "--mount tmpfs-size");
        break;
      case "tmpfs-mode":
        mount.tmpfsMode = parseInt(need(), 8);
        break;
      case "consistency":
        break;
      default:
        fail(`--mount ${value}: unknown field "${key}"`);
    }
  }
  if (!mount.target) fail(`--mount ${value}: target is required`);
  return mount as TMountSpec;
}

function parseRestart(value: string): NonNullable<TContainerCreateSpec["restart"]> {
  const [name, count] = value.split(":") as [string, string | undefined];
  if (!["no", "always", "unless-stopped", "on-failure"].includes(name)) fail(`--restart ${value}: use no, always, unless-stopped or on-failure[:max-retries]`);
  if (count !== undefined && name !== "on-failure") fail(`--restart ${value}: only on-failure takes a retry count`);
  return { name: name as NonNullable<TContainerCreateSpec["restart"]>["name"], maximumRetryCount: count === undefined ? 0 : parseInt10(count, "--restart") };
}

function parseDevice(value: string): TContainerCreateSpec["devices"][number] {
  const parts = value.split(":");
  const [src, second, third] = parts as [string, string | undefined, string | undefined];
  if (parts.length > 3) fail(`--device ${value}: expected host-path[:container-path][:permissions]`);
  if (second !== undefined && third === undefined && /^[rwm]{1,3}$/.test(second)) return { pathOnHost: src, pathInContainer: src, permissions: second };
  return { pathOnHost: src, pathInContainer: second || src, permissions: third ?? "rwm" };
}

// ------------------------------------------------------------------ flags

type Builder = {
  spec: Partial<TContainerCreateSpec> & Pick<TContainerCreateSpec, "env" | "ports" | "expose" | "volumes" | "mounts" | "labels" | "networks" | "dns" | "dnsSearch" | "dnsOptions" | "extraHosts" | "logOptions" | "tmpfs" | "capAdd" | "capDrop" | "devices">;
  aliases: string[];
  health: { cmd?: string; intervalMs?: number; timeoutMs?: number; startPeriodMs?: number; retries?: number; none?: boolean };
};

type Flag = { long: string; short?: string; bool?: true; apply: (b: Builder, value: string, flag: string) => void };

const REFUSED: Record<string, string> = {
  "env-file": "--env-file reads a file on your machine: paste the variables into Environment instead",
  "label-file": "--label-file reads a file on your machine: paste the labels into Labels instead",
  "cidfile": "--cidfile writes a file on your machine: leave it out",
  "volumes-from": "--volumes-from is not supported yet",
  "link": "--link is legacy: put the containers on one network instead",
};

const FLAGS: Flag[] = [
  { long: "name", apply: (b, v) => void (b.spec.name = v.replace(/^\//, "")) },
  { long: "env", short: "e", apply: (b, v) => void b.spec.env.push(v) },
  { long: "publish", short: "p", apply: (b, v) => void b.spec.ports.push(parsePort(v)) },
  { long: "publish-all", short: "P", bool: true, apply: (b, v, f) => void (b.spec.publishAll = parseBool(v, f)) },
  { long: "expose", apply: (b, v) => void b.spec.expose.push(v) },
  { long: "volume", short: "v", apply: (b, v) => void b.spec.volumes.push(parseVolume(v)) },
  { long: "mount", apply: (b, v) => void b.spec.mounts.push(parseMount(v)) },
  { long: "user", short: "u", apply: (b, v) => void (b.spec.user = v) },
  { long: "workdir", short: "w", apply: (b, v) => void (b.spec.workdir = v) },
  { long: "interactive", short: "i", bool: true, apply: (b, v, f) => void (b.spec.interactive = parseBool(v, f)) },
  { long: "tty", short: "t", bool: true, apply: (b, v, f) => void (b.spec.tty = parseBool(v, f)) },
  { long: "detach", short: "d", bool: true, apply: () => undefined },
  { long: "rm", bool: true, apply: (b, v, f) => void (b.spec.autoRemove = parseBool(v, f)) },
  { long: "restart", apply: (b, v) => void (b.spec.restart = parseRestart(v)) },
  { long: "memory", short: "m", apply: (b, v, f) => void (b.spec.memoryBytes = parseBytes(v, f)) },
  { long: "memory-swap", apply: (b, v, f) => void (b.spec.memorySwapBytes = v === "-1" ? -1 : parseBytes(v, f)) },
  { long: "memory-reservation", apply: (b, v, f) => void (b.spec.memoryReservationBytes = parseBytes(v, f)) },
  {
    long: "cpus",
    apply: (b, v, f) => {
      if (!/^\d*\.?\d+$/.test(v)) fail(`${f}: "${v}" is not a number of CPUs`);
      b.spec.cpus = Number(v);
    },
  },
  { long: "cpu-shares", short: "c", apply: (b, v, f) => void (b.spec.cpuShares = parseInt10(v, f)) },
  {
    long: "label",
    short: "l",
    apply: (b, v) => {
      const eq = v.indexOf("=");
      b.spec.labels[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? "" : v.slice(eq + 1);
    },
  },
  {
    long: "network",
    apply: (b, v) => {
      // Docker's advanced form: name=foo,alias=bar,alias=baz
      if (/^name=/.test(v)) {
        const fields = v.split(",").map((f) => f.split("=") as [string, string]);
        const name = fields.find(([k]) => k === "name")![1];
        b.spec.networks.push({ name, aliases: fields.filter(([k]) => k === "alias").map(([, a]) => a) });
      } else b.spec.networks.push({ name: v, aliases: [] });
    },
  },
  { long: "net", apply: (b, v) => void b.spec.networks.push({ name: v, aliases: [] }) },
  { long: "network-alias", apply: (b, v) => void b.aliases.push(v) },
  { long: "net-alias", apply: (b, v) => void b.aliases.push(v) },
  { long: "hostname", short: "h", apply: (b, v) => void (b.spec.hostname = v) },
  { long: "domainname", apply: (b, v) => void (b.spec.domainname = v) },
  { long: "dns", apply: (b, v) => void b.spec.dns.push(v) },
  { long: "dns-search", apply: (b, v) => void b.spec.dnsSearch.push(v) },
  { long: "dns-option", apply: (b, v) => void b.spec.dnsOptions.push(v) },
  { long: "dns-opt", apply: (b, v) => void b.spec.dnsOptions.push(v) },
  { long: "add-host", apply: (b, v) => void b.spec.extraHosts.push(v.replace("=", ":")) },
  { long: "init", bool: true, apply: (b, v, f) => void (b.spec.init = parseBool(v, f)) },
  { long: "stop-signal", apply: (b, v) => void (b.spec.stopSignal = v) },
  { long: "stop-timeout", apply: (b, v, f) => void (b.spec.stopTimeoutSeconds = parseInt10(v, f)) },
  { long: "health-cmd", apply: (b, v) => void (b.health.cmd = v) },
  { long: "health-interval", apply: (b, v, f) => void (b.health.intervalMs = parseDuration(v, f)) },
  { long: "health-timeout", apply: (b, v, f) => void (b.health.timeoutMs = parseDuration(v, f)) },
  { long: "health-start-period", apply: (b, v, f) => void (b.health.startPeriodMs = parseDuration(v, f)) },
  { long: "health-retries", apply: (b, v, f) => void (b.health.retries = parseInt10(v, f)) },
  { long: "no-healthcheck", bool: true, apply: (b, v, f) => void (b.health.none = parseBool(v, f)) },
  { long: "log-driver", apply: (b, v) => void (b.spec.logDriver = v) },
  {
    long: "log-opt",
    apply: (b, v, f) => {
      const eq = v.indexOf("=");
      if (eq < 1) fail(`${f} ${v}: expected key=value`);
      b.spec.logOptions[v.slice(0, eq)] = v.slice(eq + 1);
    },
  },
  { long: "read-only", bool: true, apply: (b, v, f) => void (b.spec.readOnly = parseBool(v, f)) },
  {
    long: "tmpfs",
    apply: (b, v) => {
      const colon = v.indexOf(":");
      b.spec.tmpfs[colon < 0 ? v : v.slice(0, colon)] = colon < 0 ? "" : v.slice(colon + 1);
    },
  },
  { long: "privileged", bool: true, apply: (b, v, f) => void (b.spec.privileged = parseBool(v, f)) },
  { long: "cap-add", apply: (b, v) => void b.spec.capAdd.push(v) },
  { long: "cap-drop", apply: (b, v) => void b.spec.capDrop.push(v) },
  { long: "device", apply: (b, v) => void b.spec.devices.push(parseDevice(v)) },
  {
    long: "pid",
    apply: (b, v, f) => {
      if (v !== "host") fail(`${f} ${v}: Berth supports --pid host only`);
      b.spec.pidMode = "host";
    },
  },
  {
    long: "ipc",
    apply: (b, v, f) => {
      if (!["host", "private", "shareable", "none"].includes(v)) fail(`${f} ${v}: use host, private, shareable or none`);
      b.spec.ipcMode = v as TContainerCreateSpec["ipcMode"];
    },
  },
  { long: "entrypoint", apply: (b, v) => void (b.spec.entrypoint = [v]) },
];

const BY_LONG = new Map(FLAGS.map((f) => [f.long, f]));
const BY_SHORT = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));

const PREFIXES = [
  ["docker", "container", "run"],
  ["docker", "container", "create"],
  ["docker", "run"],
  ["docker", "create"],
  ["run"],
  ["create"],
];

/**
 * Parses a `docker run` (or `docker create`) line into a create spec, checked
 * by the same zod schema the server and agent use. Throws DockerRunParseError
 * with a message naming the flag at fault.
 */
export function parseDockerRun(line: string): TContainerCreateSpec {
  let args = shellSplit(line);
  let start = true;
  for (const prefix of PREFIXES) {
    if (prefix.every((word, i) => args[i] === word)) {
      start = prefix[prefix.length - 1] === "run";
      args = args.slice(prefix.length);
      break;
    }
  }
  const b: Builder = {
    spec: {
      env: [], ports: [], expose: [], volumes: [], mounts: [], labels: {}, networks: [], dns: [], dnsSearch: [], dnsOptions: [],
      extraHosts: [], logOptions: {}, tmpfs: {}, capAdd: [], capDrop: [], devices: [],
    },
    aliases: [],
    health: {},
  };
  let image: string | undefined;
  let i = 0;
  const valueFor = (flag: Flag, name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    if (flag.bool) return "true";
    const next = args[++i];
    if (next === undefined) fail(`${name} needs a value`);
    return next!;
  };
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (REFUSED[name]) fail(REFUSED[name]);
      const flag = BY_LONG.get(name);
      if (!flag) fail(`--${name} is not an option Berth understands (or not one of docker run's)`);
      flag!.apply(b, valueFor(flag!, `--${name}`, eq < 0 ? undefined : arg.slice(eq + 1)), `--${name}`);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      // Combined short flags: bool ones in a row; one that takes a value takes the rest or the next word.
      for (let k = 1; k < arg.length; k++) {
        const ch = arg[k]!;
        const flag = BY_SHORT.get(ch);
        if (!flag) fail(`-${ch} is not an option Berth understands (or not one of docker run's)`);
        if (flag!.bool) {
          flag!.apply(b, "true", `-${ch}`);
          continue;
        }
        const rest = arg.slice(k + 1);
        flag!.apply(b, valueFor(flag!, `-${ch}`, rest === "" ? undefined : rest.replace(/^=/, "")), `-${ch}`);
        break;
      }
      continue;
    }
    image = arg;
    i++;
    break;
  }
  if (!image) fail("No image: a docker run line ends with the image and, optionally, the command");
  const cmd = args.slice(i);
  const spec: Record<string, unknown> = { ...b.spec, image, start };
  if (cmd.length) spec.cmd = cmd;
  if (b.aliases.length) {
    const first = b.spec.networks[0];
    if (!first) fail("--network-alias needs a user-defined --network");
    first!.aliases.push(...b.aliases);
  }
  const h = b.health;
  const timings = h.intervalMs !== undefined || h.timeoutMs !== undefined || h.startPeriodMs !== undefined || h.retries !== undefined;
  if (h.none && (h.cmd !== undefined || timings)) fail("--no-healthcheck conflicts with --health-* options");
  if (h.none) spec.healthcheck = { test: ["NONE"] };
  else if (h.cmd !== undefined || timings) {
    spec.healthcheck = {
      test: h.cmd !== undefined ? ["CMD-SHELL", h.cmd] : [],
      ...(h.intervalMs !== undefined && { intervalMs: h.intervalMs }),
      ...(h.timeoutMs !== undefined && { timeoutMs: h.timeoutMs }),
      ...(h.startPeriodMs !== undefined && { startPeriodMs: h.startPeriodMs }),
      ...(h.retries !== undefined && { retries: h.retries }),
    };
  }
  const parsed = ZContainerCreateSpec.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(`${issue.path.join(".") || "line"}: ${issue.message}`);
  }
  return parsed.data!;
}
