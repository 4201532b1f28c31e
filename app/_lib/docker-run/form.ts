/**
 * The create form's text fields ↔ the create spec. Each list is one entry per
 * line in the `docker run` flag's own syntax (`-p`, `-v`, `--mount`, `-e`), so
 * what a user knows from the CLI works in the form, and a pasted line, an
 * existing container ("edit & recreate") and the form are one model.
 */
import { ZContainerCreateSpec, type TContainerCreateSpec, type TMountSpec, type TPortSpec, type TVolumeSpec } from "../../../agent/protocol";
import { DockerRunParseError, parseBytes, parseDuration, parseMount, parsePort, parseVolume, shellSplit } from "./parse";

export type CreateForm = {
  image: string;
  name: string;
  command: string;
  entrypoint: string;
  env: string;
  ports: string;
  publishAll: boolean;
  volumes: string;
  mounts: string;
  user: string;
  workdir: string;
  interactive: boolean;
  tty: boolean;
  restart: "no" | "always" | "unless-stopped" | "on-failure";
  restartRetries: string;
  memory: string;
  cpus: string;
  labels: string;
  networks: string;
  hostname: string;
  dns: string;
  extraHosts: string;
  init: boolean;
  stopSignal: string;
  stopTimeout: string;
  healthCmd: string;
  healthInterval: string;
  healthTimeout: string;
  healthRetries: string;
  logDriver: string;
  logOptions: string;
  privileged: boolean;
  capAdd: string;
  devices: string;
  hostNetwork: boolean;
  hostPid: boolean;
  hostIpc: boolean;
  start: boolean;
  autoRemove: boolean;
};

export const EMPTY_FORM: CreateForm = {
  image: "", name: "", command: "", entrypoint: "", env: "", ports: "", publishAll: false, volumes: "", mounts: "", user: "", workdir: "",
  interactive: false, tty: false, restart: "no", restartRetries: "", memory: "", cpus: "", labels: "", networks: "", hostname: "", dns: "",
  extraHosts: "", init: false, stopSignal: "", stopTimeout: "", healthCmd: "", healthInterval: "", healthTimeout: "", healthRetries: "",
  logDriver: "", logOptions: "", privileged: false, capAdd: "", devices: "", hostNetwork: false, hostPid: false, hostIpc: false, start: true,
  autoRemove: false,
};

const lines = (text: string) => text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
const list = (text: string) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

/** Shell words back into one line (quoted where needed), for command fields. */
function joinWords(words: readonly string[]): string {
  return words.map((w) => (w === "" ? '""' : /[\s'"\\$`|;&<>()#]/.test(w) ? `'${w.replace(/'/g, `'\\''`)}'` : w)).join(" ");
}

function bytesText(n: number | undefined): string {
  if (n === undefined) return "";
  for (const [unit, size] of [["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]] as const) if (n % size === 0) return `${n / size}${unit}`;
  return String(n);
}
const msText = (ms: number | undefined) => (ms === undefined ? "" : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

function portText(p: TPortSpec): string {
  const ip = p.ip ? (p.ip.includes(":") ? `[${p.ip}]` : p.ip) : "";
  const head = ip ? `${ip}:${p.hostPort}:` : p.hostPort ? `${p.hostPort}:` : "";
  return `${head}${p.containerPort}${p.protocol === "tcp" ? "" : `/${p.protocol}`}`;
}
function volumeText(v: TVolumeSpec): string {
  const mode = [...(v.readOnly ? ["ro"] : []), ...v.mode];
  return v.source ? `${v.source}:${v.target}${mode.length ? `:${mode.join(",")}` : ""}` : v.target;
}
function mountText(m: TMountSpec): string {
  const f = [`type=${m.type}`];
  if (m.source) f.push(`source=${m.source}`);
  f.push(`target=${m.target}`);
  if (m.readOnly) f.push("readonly");
  if (m.bindPropagation) f.push(`bind-propagation=${m.bindPropagation}`);
  if (m.volumeNoCopy) f.push("volume-nocopy");
  if (m.volumeDriver) f.push(`volume-driver=${m.volumeDriver}`);
  for (const [k, v] of Object.entries(m.volumeLabels ?? {})) f.push(`volume-label=${k}=${v}`);
  for (const [k, v] of Object.entries(m.volumeOptions ?? {})) f.push(`volume-opt=${k}=${v}`);
  if (m.tmpfsSizeBytes !== undefined) f.push(`tmpfs-size=${m.tmpfsSizeBytes}`);
  if (m.tmpfsMode !== undefined) f.push(`tmpfs-mode=${m.tmpfsMode.toString(8)}`);
  return f.join(",");
}

/** What the form shows for a spec (a pasted line, or an existing container's). */
export function formFromSpec(spec: TContainerCreateSpec): CreateForm {
  const hostNetwork = spec.networks.some((n) => n.name === "host");
  const hc = spec.healthcheck;
  return {
    image: spec.image,
    name: spec.name ?? "",
    command: spec.cmd ? joinWords(spec.cmd) : "",
    entrypoint: spec.entrypoint ? joinWords(spec.entrypoint) : "",
    env: spec.env.join("\n"),
    ports: spec.ports.map(portText).join("\n"),
    publishAll: spec.publishAll,
    volumes: spec.volumes.map(volumeText).join("\n"),
    mounts: spec.mounts.map(mountText).join("\n"),
    user: spec.user ?? "",
    workdir: spec.workdir ?? "",
    interactive: spec.interactive,
    tty: spec.tty,
    restart: spec.restart?.name ?? "no",
    restartRetries: spec.restart?.maximumRetryCount ? String(spec.restart.maximumRetryCount) : "",
    memory: bytesText(spec.memoryBytes),
    cpus: spec.cpus === undefined ? "" : String(spec.cpus),
    labels: Object.entries(spec.labels).map(([k, v]) => `${k}=${v}`).join("\n"),
    networks: spec.networks.filter((n) => n.name !== "host").map((n) => [n.name, ...n.aliases].join(" ")).join("\n"),
    hostname: spec.hostname ?? "",
    dns: spec.dns.join(", "),
    extraHosts: spec.extraHosts.join("\n"),
    init: spec.init ?? false,
    stopSignal: spec.stopSignal ?? "",
    stopTimeout: spec.stopTimeoutSeconds === undefined ? "" : String(spec.stopTimeoutSeconds),
    healthCmd: hc?.test[0] === "CMD-SHELL" ? (hc.test[1] ?? "") : hc?.test[0] === "CMD" ? joinWords(hc.test.slice(1)) : "",
    healthInterval: msText(hc?.intervalMs),
    healthTimeout: msText(hc?.timeoutMs),
    healthRetries: hc?.retries === undefined ? "" : String(hc.retries),
    logDriver: spec.logDriver ?? "",
    logOptions: Object.entries(spec.logOptions).map(([k, v]) => `${k}=${v}`).join("\n"),
    privileged: spec.privileged,
    capAdd: spec.capAdd.join(", "),
    devices: spec.devices.map((d) => `${d.pathOnHost}:${d.pathInContainer}${d.permissions === "rwm" ? "" : `:${d.permissions}`}`).join("\n"),
    hostNetwork,
    hostPid: spec.pidMode === "host",
    hostIpc: spec.ipcMode === "host",
    start: spec.start,
    autoRemove: spec.autoRemove,
  };
}

/** A `.env` file or KEY=VALUE lines: comments and `export ` dropped, quotes around values removed. */
export function envFromText(text: string): string[] {
  return lines(text).map((l) => {
    const entry = l.replace(/^export\s+/, "");
    const eq = entry.indexOf("=");
    if (eq < 0) return entry;
    const value = entry.slice(eq + 1);
    const unquoted = /^(['"])(.*)\1$/s.exec(value);
    return `${entry.slice(0, eq)}=${unquoted ? unquoted[2] : value}`;
  });
}

function keyValues(text: string): Record<string, string> {
  return Object.fromEntries(
    lines(text).map((l) => {
      const eq = l.indexOf("=");
      return eq < 0 ? [l, ""] : [l.slice(0, eq), l.slice(eq + 1)];
    }),
  );
}

export type FormResult = { ok: true; spec: TContainerCreateSpec } | { ok: false; errors: string[] };

/** The spec a form describes, or every problem found (shown before anything is sent). */
export function specFromForm(form: CreateForm, extra: Partial<TContainerCreateSpec> = {}): FormResult {
  const errors: string[] = [];
  const attempt = <T>(field: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (error) {
      errors.push(error instanceof DockerRunParseError ? `${field}: ${error.message}` : `${field}: ${String(error)}`);
      return undefined;
    }
  };
  const healthTimings = {
    ...(form.healthInterval.trim() && { intervalMs: attempt("Health interval", () => parseDuration(form.healthInterval.trim(), "interval")) }),
    ...(form.healthTimeout.trim() && { timeoutMs: attempt("Health timeout", () => parseDuration(form.healthTimeout.trim(), "timeout")) }),
    ...(form.healthRetries.trim() && { retries: Number(form.healthRetries) }),
  };
  const networks = lines(form.networks).map((l) => {
    const [name, ...aliases] = l.split(/[\s,]+/);
    return { name: name!, aliases };
  });
  if (form.hostNetwork) networks.unshift({ name: "host", aliases: [] });
  const raw: Record<string, unknown> = {
    image: form.image.trim(),
    ...(form.name.trim() && { name: form.name.trim() }),
    ...(form.command.trim() && { cmd: attempt("Command", () => shellSplit(form.command)) }),
    ...(form.entrypoint.trim() && { entrypoint: attempt("Entrypoint", () => shellSplit(form.entrypoint)) }),
    env: envFromText(form.env),
    ports: lines(form.ports).map((l) => attempt(`Port "${l}"`, () => parsePort(l.replace(/^-p\s*/, "")))),
    publishAll: form.publishAll,
    volumes: lines(form.volumes).map((l) => attempt(`Volume "${l}"`, () => parseVolume(l.replace(/^-v\s*/, "")))),
    mounts: lines(form.mounts).map((l) => attempt(`Mount "${l}"`, () => parseMount(l.replace(/^--mount\s*/, "")))),
    ...(form.user.trim() && { user: form.user.trim() }),
    ...(form.workdir.trim() && { workdir: form.workdir.trim() }),
    interactive: form.interactive,
    tty: form.tty,
    ...(form.restart !== "no" && { restart: { name: form.restart, maximumRetryCount: form.restart === "on-failure" && form.restartRetries ? Number(form.restartRetries) : 0 } }),
    ...(form.memory.trim() && { memoryBytes: attempt("Memory", () => parseBytes(form.memory, "memory")) }),
    ...(form.cpus.trim() && { cpus: Number(form.cpus) }),
    labels: keyValues(form.labels),
    networks,
    ...(form.hostname.trim() && { hostname: form.hostname.trim() }),
    dns: list(form.dns),
    extraHosts: lines(form.extraHosts).map((l) => l.replace("=", ":")),
    ...(form.init && { init: true }),
    ...(form.stopSignal.trim() && { stopSignal: form.stopSignal.trim() }),
    ...(form.stopTimeout.trim() && { stopTimeoutSeconds: Number(form.stopTimeout) }),
    ...((form.healthCmd.trim() || Object.keys(healthTimings).length) && { healthcheck: { test: form.healthCmd.trim() ? ["CMD-SHELL", form.healthCmd.trim()] : [], ...healthTimings } }),
    ...(form.logDriver.trim() && { logDriver: form.logDriver.trim() }),
    logOptions: keyValues(form.logOptions),
    privileged: form.privileged,
    capAdd: list(form.capAdd),
    devices: lines(form.devices).map((l) => {
      const [src, dst, perms] = l.split(":");
      return { pathOnHost: src, pathInContainer: dst || src, permissions: perms || "rwm" };
    }),
    ...(form.hostPid && { pidMode: "host" }),
    ...(form.hostIpc && { ipcMode: "host" }),
    start: form.start,
    autoRemove: form.autoRemove,
    ...extra,
  };
  const parsed = ZContainerCreateSpec.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const where = issue.path.join(".");
      // Field-level problems already reported by the flag parsers come back as undefined entries: skip their echo.
      if (errors.length && issue.message.includes("received undefined")) continue;
      errors.push(`${where || "form"}: ${issue.message}`);
    }
  }
  return errors.length || !parsed.success ? { ok: false, errors } : { ok: true, spec: parsed.data };
}
