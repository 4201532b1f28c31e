/**
 * What looks like a secret, and how it is masked: ONE pure module shared by
 * the agent (inspect data leaves the host masked) and the server (audit
 * parameters are masked before they are hashed into the trail). No imports,
 * no I/O: it runs the same on both sides and is unit-tested on its own.
 *
 * Masked:
 * - every environment value (`NAME=[redacted]`): which variable holds a
 *   secret cannot be told reliably, and names are what a reviewer needs;
 * - values under keys that look secret (`password`, `*_TOKEN`, `apiKey`,
 *   `splunk-token`, …) in labels, log driver options and audit parameters;
 * - command arguments: `--password=…`, `--token …`, `-p …` is NOT assumed
 *   (too common for ports), `*_SECRET=…` assignments, and the same inside
 *   one shell string (`sh -c "curl --token abc …"`);
 * - credentials in URLs anywhere (`scheme://user:password@host` keeps the user).
 */

export const MASK = "[redacted]";

/** Words that make a key secret wherever they stand in it. */
const SECRET_WORDS = new Set([
  "password", "passwd", "pwd", "pass", "passphrase", "secret", "secrets", "token", "tokens", "apikey",
  "credential", "credentials", "auth", "authorization", "cookie", "cookies", "privatekey", "accesskey",
  "secretkey", "signature", "sig", "code", "otp", "totp", "pin", "dsn", "key", "keys", "salt", "bearer",
]);

/**
 * Longest name judged. The word-splitting patterns backtrack, so their cost
 * grows with the square of the length: unbounded, one megabyte-long key in a
 * request would hold the server's event loop for an hour (found by fuzzing).
 */
const MAX_NAME_CHARS = 256;

/** Splits `AWS_SECRET_ACCESS_KEY`, `apiKey`, `splunk-token`, `db.password` into lower-case words. */
function words(name: string): string[] {
  return name
    .slice(0, MAX_NAME_CHARS)
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/** Whether a key, label, option or flag name looks like it holds a secret. */
export function looksSecretKey(name: string): boolean {
  const parts = words(name);
  if (parts.some((w) => SECRET_WORDS.has(w))) return true;
  // Run-together names: "apikey", "accesstoken", "dbpassword", "clientsecret".
  const joined = parts.join("");
  return /(password|passwd|secret|token|apikey|privatekey|accesskey|credential|basicauth|htpasswd)/.test(joined);
}

/** `scheme://user:password@host` → `scheme://user:[redacted]@host`, anywhere in a string. */
export function maskUrlCredentials(value: string): string {
  // Bounded repetitions keep this linear in the length of `value` (unbounded, a long word made it quadratic).
  if (!value.includes("://")) return value;
  return value.replace(/([a-z][a-z0-9+.-]{0,31}:\/\/[^\s/:@]{0,256}):([^\s/@]{1,1024})@/gi, (_m, head: string) => `${head}:${MASK}@`);
}

const FLAG_WITH_VALUE = /^(-{1,2})([A-Za-z0-9][\w.-]{0,255})=(.*)$/s;
const FLAG_ALONE = /^-{1,2}([A-Za-z0-9][\w.-]{0,255})$/;
const ASSIGNMENT = /^([A-Za-z_][\w.-]{0,255})=(.*)$/s;

/**
 * Masks the secret-looking parts of an argument vector: `--token=abc`,
 * `--password abc` (the next argument), `API_TOKEN=abc`, URLs with
 * credentials, and the same inside an argument that is a whole shell line.
 */
export function maskSecretArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  let maskNext = false;
  for (const arg of args) {
    if (typeof arg !== "string") {
      out.push(arg);
      continue;
    }
    if (maskNext && !arg.startsWith("-")) {
      out.push(MASK);
      maskNext = false;
      continue;
    }
    maskNext = false;
    out.push(maskArg(arg));
    const alone = FLAG_ALONE.exec(arg);
    if (alone && looksSecretKey(alone[1]!)) maskNext = true;
  }
  return out;
}

function maskArg(arg: string): string {
  if (/\s/.test(arg.trim())) return maskSecretsInCommandLine(arg);
  const flag = FLAG_WITH_VALUE.exec(arg);
  if (flag) return looksSecretKey(flag[2]!) ? `${flag[1]}${flag[2]}=${MASK}` : `${flag[1]}${flag[2]}=${maskUrlCredentials(flag[3]!)}`;
  const assignment = ASSIGNMENT.exec(arg);
  if (assignment && looksSecretKey(assignment[1]!)) return `${assignment[1]}=${MASK}`;
  return maskUrlCredentials(arg);
}

const MAX_LINE_CHARS = 64 * 1024;

/** The same rules over one command line (`sh -c "…"`, Docker's summary `Command`), keeping its spacing and quotes. */
export function maskSecretsInCommandLine(line: string): string {
  // Masking costs a few microseconds a word: a longer line is cut (marked) rather than stall the process.
  if (line.length > MAX_LINE_CHARS) return maskSecretsInCommandLine(line.slice(0, MAX_LINE_CHARS)) + "…[cut]";
  const tokens = line.split(/(\s+)/);
  let maskNext = false;
  return tokens
    .map((token) => {
      if (!token || /^\s+$/.test(token)) return token;
      const quote = /^(['"]?)(.*?)(['"]?)$/s.exec(token)!;
      const [open, body, close] = [quote[1]!, quote[2]!, quote[3]!];
      if (maskNext && !body.startsWith("-")) {
        maskNext = false;
        return `${open}${MASK}${close}`;
      }
      maskNext = false;
      const alone = FLAG_ALONE.exec(body);
      if (alone && looksSecretKey(alone[1]!)) maskNext = true;
      const flag = FLAG_WITH_VALUE.exec(body);
      if (flag) return `${open}${looksSecretKey(flag[2]!) ? `${flag[1]}${flag[2]}=${MASK}` : `${flag[1]}${flag[2]}=${maskUrlCredentials(flag[3]!)}`}${close}`;
      const assignment = ASSIGNMENT.exec(body);
      if (assignment && looksSecretKey(assignment[1]!)) return `${open}${assignment[1]}=${MASK}${close}`;
      return `${open}${maskUrlCredentials(body)}${close}`;
    })
    .join("");
}

/** `NAME=value` → `NAME=[redacted]` for every entry (names stay: they are what a reviewer needs). */
export function maskEnv(env: readonly string[]): string[] {
  return env.map((entry) => (typeof entry === "string" ? `${entry.split("=", 1)[0]}=${MASK}` : entry));
}

/** A string map (labels, log options): secret-looking keys masked, URL credentials masked in the rest. */
export function maskSecretMap(map: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(map)) {
    out[key] = looksSecretKey(key) ? MASK : typeof value === "string" ? maskUrlCredentials(value) : value;
  }
  return out;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => Boolean(v) && typeof v === "object" && !Array.isArray(v);

function maskCommand(value: unknown): unknown {
  if (Array.isArray(value)) return maskSecretArgs(value as string[]);
  if (typeof value === "string") return maskSecretsInCommandLine(value);
  return value;
}

/**
 * A container's inspect document with its secrets masked: Config.Env (all
 * values), Config.Labels, Config.Cmd / Entrypoint / Healthcheck.Test, the
 * top-level Args, and HostConfig.LogConfig.Config. Returns a copy; the input
 * is not changed.
 */
export function maskSecretsInInspect<T>(inspect: T): T {
  if (!isObject(inspect)) return inspect;
  const out: Json = { ...inspect };
  if (Array.isArray(out.Args)) out.Args = maskSecretArgs(out.Args as string[]);
  if (isObject(out.Config)) {
    const config: Json = { ...out.Config };
    if (Array.isArray(config.Env)) config.Env = maskEnv(config.Env as string[]);
    if (isObject(config.Labels)) config.Labels = maskSecretMap(config.Labels);
    if (config.Cmd !== undefined) config.Cmd = maskCommand(config.Cmd);
    if (config.Entrypoint !== undefined) config.Entrypoint = maskCommand(config.Entrypoint);
    if (isObject(config.Healthcheck) && config.Healthcheck.Test !== undefined) {
      config.Healthcheck = { ...config.Healthcheck, Test: maskCommand(config.Healthcheck.Test) };
    }
    out.Config = config;
  }
  if (isObject(out.HostConfig)) {
    const host: Json = { ...out.HostConfig };
    if (isObject(host.LogConfig) && isObject(host.LogConfig.Config)) {
      host.LogConfig = { ...host.LogConfig, Config: maskSecretMap(host.LogConfig.Config) };
    }
    out.HostConfig = host;
  }
  return out as T;
}

/**
 * Dockerfile instructions (`docker commit --change`): ENV values are masked
 * like every environment value (`ENV A=1 B=2` → `ENV A=[redacted] B=[redacted]`,
 * legacy `ENV A 1` → `ENV A [redacted]`); other instructions as command lines.
 */
export function maskDockerfileChanges(lines: readonly string[]): string[] {
  return lines.map((line) => {
    if (typeof line !== "string") return line;
    const env = /^(\s*ENV\s+)(.*)$/is.exec(line);
    if (!env) return maskSecretsInCommandLine(line);
    const rest = env[2]!;
    if (/^[A-Za-z_][\w.-]*=/.test(rest)) return env[1] + rest.replace(/([A-Za-z_][\w.-]*)=("[^"]*"|'[^']*'|\S+)/g, `$1=${MASK}`);
    const name = /^(\S+)/.exec(rest)?.[1] ?? "";
    return `${env[1]}${name} ${MASK}`;
  });
}

/**
 * One step of an image's history (`docker history`'s CREATED BY), which
 * anyone who sees the host may read: ENV values masked like every environment
 * value (`/bin/sh -c #(nop)  ENV A=1` from the classic builder, `ENV A=1` from
 * BuildKit), and the rest as a command line — which also masks the build args
 * Docker records in front of a RUN (`|1 NPM_TOKEN=… /bin/sh -c …`) when their
 * names look secret, as the audit trail masks them.
 */
export function maskHistoryStep(createdBy: string): string {
  const nop = /^(\/bin\/sh -c #\(nop\)\s+)(ENV\s.*)$/is.exec(createdBy);
  if (nop) return nop[1]! + maskDockerfileChanges([nop[2]!])[0]!;
  return maskDockerfileChanges([createdBy])[0]!;
}

/**
 * Any JSON-like value (audit parameters): values under secret-looking keys
 * masked at any depth, `env` lists masked whole, argument lists and strings
 * masked as commands, URL credentials everywhere. Depth and size are bounded.
 */
export function maskSecretsDeep(value: unknown, depth = 0): unknown {
  if (depth > 8) return "[truncated]";
  if (Array.isArray(value)) {
    const items = value.slice(0, 100);
    if (items.length && items.every((v) => typeof v === "string")) return maskSecretArgs(items as string[]);
    return items.map((v) => maskSecretsDeep(v, depth + 1));
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const masked = looksSecretKey(key)
        ? MASK
        : /^env$/i.test(key) && Array.isArray(v)
          ? maskEnv(v.slice(0, 100) as string[])
          : /^changes$/i.test(key) && Array.isArray(v) && v.every((line) => typeof line === "string")
            ? maskDockerfileChanges(v.slice(0, 100) as string[])
            : maskSecretsDeep(v, depth + 1);
      // defineProperty, not assignment: a key named "__proto__" stays a plain key.
      Object.defineProperty(out, key, { value: masked, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") {
    // Cut first, then mask: what is kept is all that needs masking.
    return value.length > 2000 ? maskSecretsInCommandLine(value.slice(0, 2000)) + "…" : maskSecretsInCommandLine(value);
  }
  return value ?? null;
}
